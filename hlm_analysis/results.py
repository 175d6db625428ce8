"""The results contract: what the model stage hands to everything after it.

One frozen dataclass per fitted model, tidy tables with fixed names, a `Design` that says what
every term is, and a versioned JSON round trip. `model/` builds these objects, `present/`,
`render/` and `deliver/` read them; nothing downstream touches data files or statsmodels.

Names that Python and the templates share (models, health checks, statuses) are enums defined
here; the interpretation bands live with their thresholds in `rules.py`.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from . import atomic
from .errors import InputError
from .rules import GroupsBand
from .spec import Spec

# Bump when a field is renamed or removed; readers refuse any other version.
SCHEMA_VERSION = 2
# Field metadata of keys added for several grouping levels (issue 22): written only when the
# value differs from the field's default, so a single-level results.json stays byte for byte
# what it was (readers fill the default in; the schema lists them as optional).
OMIT_DEFAULT = "omit_default"


def extension(default: Any = None, *, factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that results.json leaves out while it holds its default."""
    if factory is not None:
        return field(default_factory=factory, metadata={OMIT_DEFAULT: True})
    return field(default=default, metadata={OMIT_DEFAULT: True})


# Bounds a number cannot leave, as pydantic constraints on the float: `hlm-report schema` shows
# them (minimum, maximum) and read_json refuses a value beyond one (null, for a non-finite value,
# passes). The model stage writes a boundary exactly (an SD of 0 at a singular fit, a p of 1).
NonNegative = Annotated[float, Field(ge=0)]  # an SD, a variance, a standard error
Probability = Annotated[float, Field(ge=0, le=1)]  # a p-value, an ICC, a share, a reliability
AtLeastOne = Annotated[float, Field(ge=1)]  # a median odds ratio

RESULTS_FILE = "results.json"
SAMPLE_FILE = "rows.parquet"  # the row sample beside results.json (figures that need rows)
INTERCEPT = "(Intercept)"  # one spelling, as lme4 prints it, in fixed and random terms alike


class ModelName(StrEnum):
    OLS = "ols"
    OLS_CLUSTER = "ols_cluster"
    NULL = "null"
    RANDOM_INTERCEPT = "random_intercept"
    RANDOM_SLOPE = "random_slope"
    INTERACTION = "interaction"
    # the interaction model with a random intercept only: the reference for testing the slope
    # variance in the final model (fitted when the config has interactions and random slopes)
    INTERACTION_INTERCEPT = "interaction_intercept"
    # a binary outcome's single-level models: ordinary logistic regression, and with
    # cluster-robust standard errors (in place of ols and ols_cluster)
    LOGISTIC = "logistic"
    LOGISTIC_CLUSTER = "logistic_cluster"

    @property
    def label(self) -> str:
        return _MODEL_LABELS[self]


_MODEL_LABELS = {
    ModelName.OLS: "OLS",
    ModelName.OLS_CLUSTER: "OLS, cluster-robust SE",
    ModelName.NULL: "Null (intercept only)",
    ModelName.RANDOM_INTERCEPT: "Random intercept",
    ModelName.RANDOM_SLOPE: "Random slopes",
    ModelName.INTERACTION: "Interactions",
    ModelName.INTERACTION_INTERCEPT: "Interactions, random intercept only",
    ModelName.LOGISTIC: "Logistic",
    ModelName.LOGISTIC_CLUSTER: "Logistic, cluster-robust SE",
}
# the single-level model and its cluster-robust twin, per family
SINGLE_LEVEL = {
    "gaussian": (ModelName.OLS, ModelName.OLS_CLUSTER),
    "binomial": (ModelName.LOGISTIC, ModelName.LOGISTIC_CLUSTER),
}
MODEL_ORDER = (
    ModelName.OLS,
    ModelName.OLS_CLUSTER,
    ModelName.LOGISTIC,
    ModelName.LOGISTIC_CLUSTER,
    ModelName.NULL,
    ModelName.RANDOM_INTERCEPT,
    ModelName.RANDOM_SLOPE,
    ModelName.INTERACTION_INTERCEPT,
    ModelName.INTERACTION,
)
ALL_MODELS = "all"  # a health check about the data rather than one model


class Method(StrEnum):
    REML = "REML"
    ML = "ML"
    OLS = "OLS"
    # binary outcomes: maximum likelihood, for mixed models the Laplace or adaptive
    # Gauss-Hermite approximation of the marginal likelihood (model `nagq` says which)
    ML_LOGIT = "ML (logit)"


class Check(StrEnum):
    OPTIMUM = "optimum"
    SINGULAR = "singular"
    GROUPS = "groups"
    TINY_GROUPS = "tiny_groups"
    ICC_NEAR_ZERO = "icc_near_zero"
    # binary outcomes
    RARE_EVENTS = "rare_events"  # fewer than 10 of the rarer outcome per parameter
    SEPARATION = "separation"  # a predictor (nearly) perfectly predicts the outcome
    UNIFORM_GROUPS = "uniform_groups"  # groups where every row has the same outcome


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


class Reference(StrEnum):
    """The reference distribution of a likelihood-ratio test."""

    CHI_BAR = "chi-bar-square 50:50 mixture (boundary-corrected)"
    CHI_SQUARE_ML = "chi-square (ML refit)"
    # several levels' intercept variances at once (OLS against the random-intercept model): the
    # binomial mixture of chi2(0..k), k independent variances on their boundary
    CHI_BAR_LEVELS = "chi-bar-square binomial mixture over levels (boundary-corrected)"
    # several variances added at once (slopes at two levels, two slopes): no simple mixture is
    # the null distribution, and the naive chi2(df) p is an upper bound (conservative)
    CHI_SQUARE_CONSERVATIVE = "chi-square (naive; conservative for variances at the boundary)"


class TermKind(StrEnum):
    INTERCEPT = "intercept"
    NUMERIC = "numeric"
    DUMMY = "dummy"
    INTERACTION = "interaction"


class VariableKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


# ---------------------------------------------------------------------------------------------
# The design: what each term of the models is, so nothing downstream parses term names back.


@dataclass(frozen=True)
class Variable:
    name: str  # the column (for a group mean: the generated column, see `mean_of`)
    kind: VariableKind
    levels: tuple[str, ...] = ()  # categorical: every level, the reference first
    centering: str | None = None  # "group" or "grand" when the config centres it
    mean_of: str | None = None  # set for the group mean of a column (contextual effects)
    terms: tuple[str, ...] = ()  # its design terms (a categorical variable: one per level)
    group_level: bool = False  # constant within every group: a level-2 variable
    binary: bool = False  # a numeric 0/1 indicator (read as "with" / "without")
    # several levels: the outermost level (config column) within whose groups it is constant;
    # None when it varies within the innermost groups (a level-1 variable)
    level: str | None = extension(None)

    @property
    def reference(self) -> str | None:
        return self.levels[0] if self.levels else None


@dataclass(frozen=True)
class Term:
    name: str  # as in fixed_effects and variance_components
    kind: TermKind
    variable: str | None = None  # numeric and dummy terms: the variable behind the column
    level: str | None = None  # dummy terms: the level coded 1
    parts: tuple[str, ...] = ()  # interaction terms: the component terms, in order


@dataclass(frozen=True)
class Design:
    outcome: str
    group: str
    predictors: tuple[str, ...]  # variables with a main effect (group means included)
    variables: tuple[Variable, ...]
    terms: tuple[Term, ...]
    # binary outcomes: the outcome value counted as 1 (the event) and the other, as written
    event: str | None = None
    non_event: str | None = None

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    def term(self, name: str) -> Term:
        for t in self.terms:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def categorical(self) -> dict[str, tuple[str, ...]]:
        return {v.name: v.levels for v in self.variables if v.kind == VariableKind.CATEGORICAL}

    def group_mean_of(self, column: str) -> str | None:
        """The generated group-mean variable of `column`, if the config asked for one."""
        return next((v.name for v in self.variables if v.mean_of == column), None)


# ---------------------------------------------------------------------------------------------
# Descriptives of the analysis sample


@dataclass(frozen=True)
class NumericSummary:
    n: int
    mean: float
    sd: NonNegative
    min: float
    median: float
    max: float

    @classmethod
    def of_values(cls, values) -> NumericSummary:
        """The summary of one value per group (a school-level variable, described over the
        schools): a single value has SD 0, not NaN."""
        import numpy as np

        values = np.asarray(values, float)
        return cls(
            n=len(values),
            mean=float(values.mean()),
            sd=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            min=float(values.min()),
            median=float(np.median(values)),
            max=float(values.max()),
        )


@dataclass(frozen=True)
class LevelCount:
    level: str
    n: int


@dataclass(frozen=True)
class GroupSize:
    min: int
    mean: float
    max: int


@dataclass(frozen=True)
class Correlations:
    variables: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class GroupTable:
    labels: tuple[str, ...]
    n: tuple[int, ...]
    outcome_mean: tuple[float, ...]
    outcome_sd: tuple[float, ...]
    # each numeric variable's (as measured) smallest and largest value in each group, written
    # only when some group is below the privacy cut: the data table then gives no minimum or
    # maximum that is a hidden group's own value (present/tables.py)
    low: dict[str, tuple[float, ...]] = extension(factory=dict)
    high: dict[str, tuple[float, ...]] = extension(factory=dict)


@dataclass(frozen=True)
class DataLevel:
    """One grouping level of the data (several levels): its groups and rows per group."""

    name: str  # the config's column
    n_groups: int
    size_min: int
    size_mean: float
    size_max: int
    # nested levels above the innermost: groups of the next level per group
    groups_min: int | None = extension(None)
    groups_mean: float | None = extension(None)
    groups_max: int | None = extension(None)


@dataclass(frozen=True)
class DataSummary:
    n_rows_read: int
    n_obs: int
    n_groups: int
    group_size: GroupSize
    n_tiny_groups: int
    rows_dropped: int
    dropped_by_column: dict[str, int]
    numeric: dict[str, NumericSummary]  # as measured (centred variables before centring)
    categorical: dict[str, tuple[LevelCount, ...]]
    correlations: Correlations
    groups: GroupTable
    # centred variables on the scale the model uses them (predictions, simple slopes)
    model_scale: dict[str, NumericSummary] = field(default_factory=dict)
    # how many data files were read (a directory or glob of parts; hidden, `_` and output
    # folders and repeats through links are not read)
    files_read: int = 1
    # variables constant within every group, described at the group level (one value per
    # group: n is the number of groups): numeric ones as measured, categorical ones as the number
    # of groups at each level. They stay in `numeric` and `categorical` per row as well.
    group_level: dict[str, NumericSummary] = field(default_factory=dict)
    group_level_counts: dict[str, tuple[LevelCount, ...]] = field(default_factory=dict)
    # several grouping levels (issue 22), outermost first; then n_groups, group_size and groups
    # are per cell (an innermost group; crossed: an observed pair of groups)
    levels: tuple[DataLevel, ...] = extension(factory=tuple)
    crossed: bool = extension(False)


@dataclass(frozen=True)
class RowSample:
    """The rows behind the figures that need rows: a seeded sample in `file` beside results.json,
    with each mixed model's fitted values (columns `fitted:<model>`)."""

    file: str
    n_rows: int  # rows in the sample
    n_obs: int  # rows in the analysis sample it was drawn from
    seed: int
    columns: tuple[str, ...]  # the data columns it holds (outcome, group, numeric variables)

    @property
    def is_sample(self) -> bool:
        return self.n_rows < self.n_obs

    @staticmethod
    def fitted_column(model: str) -> str:
        return f"fitted:{model}"


# ---------------------------------------------------------------------------------------------
# Fitted models


@dataclass(frozen=True)
class FixedEffect:
    term: str
    estimate: float
    std_error: NonNegative
    statistic: float
    df: float | None
    p_value: Probability
    ci_low: float
    ci_high: float
    # final model only: the estimate in outcome SDs per predictor SD (see model/final.py)
    std_estimate: float | None = None
    # final model only: CR2 cluster-robust SE with clubSandwich's Satterthwaite df
    robust_se: NonNegative | None = None
    robust_df: float | None = None
    robust_p: Probability | None = None
    # binary outcomes: exp(estimate) with the exponentiated CI (the odds ratio of the term), and
    # the average marginal effect on the probability scale (a share: 0.05 is 5 percentage points)
    # with its delta-method SE, averaged over the rows with each group's own effect
    odds_ratio: NonNegative | None = None
    odds_ratio_ci_low: NonNegative | None = None
    odds_ratio_ci_high: NonNegative | None = None
    marginal_effect: float | None = None
    marginal_effect_se: NonNegative | None = None


@dataclass(frozen=True)
class VarianceComponent:
    group: str
    term1: str | None
    term2: str | None
    estimate: float  # a variance when term2 is None, else a covariance (lme4's vcov column)
    sdcor: Annotated[float, Field(ge=-1)]  # standard deviation or correlation (lme4's sdcor)
    # final model only: 95% interval of sdcor, by profile likelihood (lme4's confint(method =
    # "profile"); glmer's for binary models) wherever it can be computed
    ci_low: Annotated[float, Field(ge=-1)] | None = None
    ci_high: Annotated[float, Field(ge=-1)] | None = None
    # the method the interval actually used: "profile", "wald" (log-SD / atanh scale), or None
    # (no interval); ci_note says why it is not the profile, or that a bound is the parameter's
    # edge (an SD of zero, a correlation of +-1) because the profile stays inside up to it
    ci_method: str | None = None
    ci_note: str | None = None

    # the scale of a row: a variance row's variance, SD and interval are >= 0, a covariance
    # row's correlation and interval lie in [-1, 1] (the schema's if/then; off_scale for readers)
    JSON_SCHEMA_RULES: ClassVar[dict[str, Any]] = {
        "if": {"properties": {"term2": {"type": "null"}}},
        "then": {
            "properties": {k: {"minimum": 0} for k in ("estimate", "sdcor", "ci_low", "ci_high")}
        },
        "else": {"properties": {k: {"maximum": 1} for k in ("sdcor", "ci_low", "ci_high")}},
    }

    def off_scale(self) -> str | None:
        """The first field off its row's scale (JSON_SCHEMA_RULES), None when none is."""
        low, high = (0.0, math.inf) if self.term2 is None else (-1.0, 1.0)
        names = ("estimate",) if self.term2 is None else ()
        for name in (*names, "sdcor", "ci_low", "ci_high"):
            value = getattr(self, name)
            if value is not None and not math.isnan(value) and not low <= value <= high:
                return name
        return None


@dataclass(frozen=True)
class Attempt:
    optimizer: str
    start: str
    loglik: float | None
    loglik_reported: float | None = None
    converged_reported: bool | None = None
    note: str = ""
    evaluations: int | None = None  # criterion evaluations this attempt cost


@dataclass(frozen=True)
class GroupEffects:
    """Conditional modes of the random effects with conditional standard errors, per group."""

    terms: tuple[str, ...]
    groups: tuple[str, ...]
    estimate: tuple[tuple[float, ...], ...]  # [group][term]
    std_error: tuple[tuple[float, ...], ...]
    reliability: tuple[float, ...] = ()  # HLM's lambda_j for the intercept, per group
    # final model: each group's own (intercept, slope) for the first random slope, fixed part at
    # the group's level-2 values plus its random effects (see model/final.group_lines)
    lines: tuple[tuple[float, float], ...] = ()
    # binomial final model: each group's predicted probability averaged over the data's rows, as
    # if every row were in that group (the same mix of rows in every group), with the 95%
    # interval of the group's intercept effect mapped through: (estimate, low, high) per group
    average_probability: tuple[tuple[float, float, float], ...] = ()
    # each group's conditional covariance matrix of its effects, [group][term][term] (lme4's
    # condVar): the SE of a difference at another point of a slope's variable needs it
    covariance: tuple[tuple[tuple[float, ...], ...], ...] = ()


@dataclass(frozen=True)
class AveragePrediction:
    """An average prediction, as marginaleffects' avg_predictions: the probability predicted for
    every row of the data with `variable` set to one value (a numeric `value` or a categorical
    `level`; None: every row as observed), each row otherwise as observed and in its own group
    (its group's conditional modes), averaged over the rows; delta-method SE over the fixed
    effects (the modes held fixed). Values are on the model's scale (centred variables centred)."""

    variable: str | None
    level: str | None
    value: float | None
    estimate: Probability
    std_error: NonNegative


@dataclass(frozen=True)
class Icc:
    estimate: Probability
    ci_low: Probability
    ci_high: Probability
    method: str


@dataclass(frozen=True)
class MedianOddsRatio:
    """Merlo et al.'s (2006) median odds ratio with its interval (1: the groups do not differ)."""

    estimate: AtLeastOne
    ci_low: AtLeastOne
    ci_high: AtLeastOne
    method: str


@dataclass(frozen=True)
class RobustSE:
    reported: str  # "CR2" or "CR1"
    cr1_std_error: dict[str, float]


@dataclass(frozen=True)
class ComponentTest:
    """REML likelihood-ratio test of one random component of the final model (dropping it)."""

    term: str
    statistic: float
    df: int
    p_value: Probability  # by p_value_method
    reduced: str  # what the model was compared with, in words
    # several levels: the level (config column) of the component; with term "(Intercept)" the
    # test drops that level's whole random term (every variance and covariance at the level)
    level: str | None = extension(None)
    # CHI_BAR for one variance (with its covariances) at its boundary; a level's whole term with
    # slopes drops several variances at once: the naive chi2(df), conservative
    p_value_method: Reference = extension(Reference.CHI_BAR)


@dataclass(frozen=True)
class LevelResult:
    """One grouping level of a model with several (`ModelResult.levels`, outermost first)."""

    level: str  # the config's column
    n_groups: int
    terms: tuple[str, ...]  # the random terms at this level, the intercept first
    # null model: this level's share of the total variance (tau_l / (sum of every level's tau +
    # sigma2), the VPC), and the ICC of two rows in the same group of this level: nested, in
    # the same group at this level and so at every level above it (sum of those shares; the
    # innermost level's is "same school, same class"); crossed, this factor's share
    variance_share: Probability | None = None
    icc: Icc | None = None
    # proportional reduction of this level's intercept variance against the null model
    variance_explained: float | None = None
    # mean over the level's groups of each random coefficient's reliability, 1 - conditional
    # variance / variance (for a random intercept of two levels this is HLM's lambda_j)
    reliability: dict[str, Probability] = field(default_factory=dict)
    reliability_mean: Probability | None = None  # the intercept's
    singular_terms: tuple[str, ...] = ()  # terms at the boundary at this level
    # conditional modes and SEs of this level's groups (`groups`: the labels as written: an
    # inner level's may repeat across parents, `parents` tells them apart)
    group_effects: GroupEffects | None = None
    # nested inner levels: each group's group at the level before (index into its groups)
    parents: tuple[int, ...] = ()
    # null model: REML likelihood-ratio test of this level's variance (the null model without
    # this level's random intercept), chi-bar-square 50:50
    lrt: ComponentTest | None = None
    # binary outcomes: the median odds ratio between two groups of this level (Merlo et al.
    # 2006, from its intercept SD) with the interval from that SD's profile limits
    median_odds_ratio: MedianOddsRatio | None = extension(None)


@dataclass(frozen=True)
class ModelResult:
    name: ModelName
    formula: str
    method: Method
    converged: bool
    optimizer: str
    loglik: float
    n_obs: int
    n_groups: int
    fixed_effects: tuple[FixedEffect, ...]
    df_method: str
    n_parameters: int
    loglik_ml: float | None
    aic: float | None
    bic: float | None
    fixed_cov: tuple[tuple[float, ...], ...]
    variance_components: tuple[VarianceComponent, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    singular: bool = False
    singular_terms: tuple[str, ...] = ()
    max_gradient: float | None = None
    newton_decrement: float | None = None  # deviance a Newton step could still gain at the optimum
    ml_verified: bool | None = None  # the ML refit's optimum (AIC, BIC, LRTs) verified too
    r2: float | None = None
    r2_marginal: float | None = None
    r2_conditional: float | None = None
    icc: Icc | None = None
    icc_adjusted: Probability | None = None
    variance_explained_level1: float | None = None  # proportional reduction vs the null model
    variance_explained_level2: float | None = None
    reliability_mean: Probability | None = None  # HLM 8's average lambda_j of the intercept
    # HLM 8's reliability of each random coefficient (term -> average over groups)
    reliability: dict[str, Probability] = field(default_factory=dict)
    icc_residual: Probability | None = None  # tau00 / (tau00 + sigma2): ICC after the predictors
    design_effect: float | None = None
    random_terms: tuple[str, ...] = ()
    group_effects: GroupEffects | None = None
    robust: RobustSE | None = None  # ols_cluster: CR1 beside CR2, and which one is reported
    notes: tuple[str, ...] = ()
    family: str = "gaussian"  # "binomial": a logit model of a yes/no outcome
    nagq: int | None = None  # binomial mixed models: quadrature points (1: Laplace)
    # binomial mixed models: Merlo et al.'s (2006) median odds ratio, exp(sqrt(2 tau00) z_0.75),
    # with the interval implied by the ICC's (null model)
    median_odds_ratio: MedianOddsRatio | None = None
    # binomial models: terms whose estimates diverge (complete or quasi-complete separation)
    separation: tuple[str, ...] = ()
    # the random effects are uncorrelated, lme4's (1 + x || g): fitted so because the correlated
    # form was singular (final_model_reason says so); no covariance rows in variance_components
    uncorrelated: bool = False
    # binomial final model: average predictions over the observed rows (see AveragePrediction),
    # the data as observed first, then every predictor's levels or a grid of its values
    average_predictions: tuple[AveragePrediction, ...] = ()
    # several grouping levels (issue 22): each level's statistics, outermost first. The
    # model-wide fields keep their two-level meaning for the outermost level (n_groups, icc,
    # variance_explained_level2, reliability, group_effects); variance_components name each
    # level in `group`; random_terms are every level's terms, once
    levels: tuple[LevelResult, ...] = extension(factory=tuple)
    # null model with several levels: the residual's (level 1's) share of the total variance
    residual_share: Probability | None = extension(None)

    @property
    def label(self) -> str:
        return self.name.label

    @property
    def is_mixed(self) -> bool:
        return bool(self.random_terms)

    @property
    def icc_after(self) -> float | None:
        """The share of the remaining variance between groups, once the predictors are in: with
        random slopes the intercept variance is the variance where the slope variables are
        zero, so the share averaged over the data (Nakagawa's adjusted ICC) stands in for
        tau00 / (tau00 + sigma2). With several grouping levels the adjusted ICC sums every
        level's variance (performance::icc), as the null model's ICC of the innermost level does;
        icc_residual is the outermost level's share alone."""
        several = len(self.random_terms) > 1 or len(self.levels) > 1
        if several and self.icc_adjusted is not None:
            return self.icc_adjusted
        return self.icc_residual

    @property
    def is_binomial(self) -> bool:
        return self.family == "binomial"

    def effect(self, term: str) -> FixedEffect:
        for fe in self.fixed_effects:
            if fe.term == term:
                return fe
        raise KeyError(term)

    def variance(self, term1: str | None) -> float | None:
        for vc in self.variance_components:
            if (
                vc.term1 == term1
                and vc.term2 is None
                and (term1 is not None or vc.group == "Residual")
            ):
                return vc.estimate
        return None

    @property
    def residual_variance(self) -> float | None:
        for vc in self.variance_components:
            if vc.group == "Residual":
                return vc.estimate
        return None


@dataclass(frozen=True)
class Comparison:
    model_a: ModelName
    model_b: ModelName
    statistic: float
    df: int
    p_value: Probability
    p_value_method: Reference
    refit: bool
    p_value_naive: Probability | None = None
    aic_a: float | None = None
    aic_b: float | None = None


@dataclass(frozen=True)
class SimpleSlope:
    interaction: str  # as in the config, e.g. "ses:sector"
    focal: str  # the focal design term (a numeric variable or one dummy)
    moderator: str
    moderator_value: str  # a level, or a number written with its meaning ("mean + 1 SD")
    estimate: float
    std_error: NonNegative
    df: float | None
    ci_low: float
    ci_high: float
    p_value: Probability
    moderator_number: float | None = None  # the numeric moderator value (None: a level)


@dataclass(frozen=True)
class JohnsonNeyman:
    """Moderator values where the focal slope's 95% CI excludes zero (a continuous moderator)."""

    interaction: str
    focal: str
    moderator: str
    bounds: tuple[float, ...]  # 0, 1 or 2 roots within which (or outside which) it matters
    significant_inside: bool  # True: significant between the bounds; False: outside them
    observed_min: float
    observed_max: float


@dataclass(frozen=True)
class HealthCheck:
    model: str  # a ModelName, or ALL_MODELS for checks about the data
    check: Check
    status: Status
    value: float | None = None  # the statistic behind the verdict (None: not applicable)
    terms: tuple[str, ...] = ()  # singular: the random terms at the boundary
    band: GroupsBand | None = None  # groups: the band of the number of groups
    level: str | None = extension(None)  # several levels: the level (column) it is about


@dataclass(frozen=True)
class Selection:
    model: ModelName
    aic: float
    bic: float
    delta_aic: float
    akaike_weight: Probability


@dataclass(frozen=True)
class Effect:
    estimate: float
    std_error: NonNegative
    # Satterthwaite df of the contrast (several levels: the levels engine's, lmerTest's)
    df: float | None = extension(None)


@dataclass(frozen=True)
class ContextualEffect:
    """Within, between and contextual effects of one variable (Raudenbush & Bryk, table 5.11)."""

    variable: str
    model: ModelName
    within: Effect
    between: Effect
    contextual: Effect
    moderator: str | None = None  # set when the variable's slope depends on an interaction
    moderator_value: str | None = None  # the level (or "mean + 1 SD") these effects hold at
    # several levels: the level whose group means give `between` (config column); within is
    # the slope inside its groups (issue 22: contextual effects at every level)
    level: str | None = extension(None)


@dataclass(frozen=True)
class SlopeVarianceExplained:
    """The share of a random slope's variance its cross-level interactions explain (Raudenbush &
    Bryk 2002, eq. 4.22 for tau11): (tau_without - tau_with) / tau_without, the slope variance in
    the random-slope model without the interactions against the model with them."""

    term: str  # the random slope (a design term)
    interactions: tuple[str, ...]  # the cross-level interactions with it, as in the config
    moderators: tuple[str, ...]  # the variables they pair it with
    model_without: ModelName
    model_with: ModelName
    tau_without: NonNegative
    tau_with: NonNegative
    proportion: float | None  # None when tau_without is zero; negative: the variance grew


@dataclass(frozen=True)
class InterceptVarianceExplained:
    """The share of the intercept variance the level-2 (group-level) predictors explain
    (Raudenbush & Bryk 2002, eq. 4.13 on tau00): the random-intercept model with the level-1
    predictors only against the random-intercept model with all of them (linear models)."""

    predictors: tuple[str, ...]  # the level-2 predictors, as in the config
    tau_without: NonNegative
    tau_with: NonNegative
    proportion: float | None  # None when tau_without is zero; negative: the variance grew


@dataclass(frozen=True)
class JointTest:
    """A joint test of all the terms of a categorical predictor with more than two levels (or
    of an interaction with one) in the final model: lmerTest's anova(type = 3) F with
    Satterthwaite's denominator df for linear models, a Wald chi-square for binary ones."""

    predictor: str  # the variable, or the interaction as in the config
    terms: tuple[str, ...]
    statistic: float  # F, or chi-square
    df_num: int
    df_den: float | None  # None for the chi-square
    p_value: Probability
    method: str  # "Satterthwaite F" or "Wald chi-square"


@dataclass(frozen=True)
class Provenance:
    """Where results.json came from, with no path and no address in it (report folders are
    published): when it was fitted (UTC), by which hlm-report, and the SHA-256 of the data's
    bytes (the files in sorted order), of the config as parsed (layout.inputs_hash's form) and
    how many files and bytes were read. Row counts are `data`'s; dependency versions `software`'s."""

    created: str
    package_version: str
    data_sha256: str
    data_files: int
    data_bytes: int
    config_sha256: str


@dataclass(frozen=True)
class Results:
    spec: Spec
    design: Design
    data: DataSummary
    models: dict[ModelName, ModelResult]
    comparisons: tuple[Comparison, ...]
    health: tuple[HealthCheck, ...]
    selection: tuple[Selection, ...]  # AIC, BIC, delta AIC and Akaike weight per model
    contextual_effects: tuple[ContextualEffect, ...]
    sample: RowSample
    software: dict[str, str]
    # The one model behind the summary, interpretation, figures and recommendations, and why.
    final_model: ModelName
    final_model_reason: str
    component_tests: tuple[ComponentTest, ...] = ()  # the final model's random components
    simple_slopes: tuple[SimpleSlope, ...] = ()  # of the final model, per interaction
    johnson_neyman: tuple[JohnsonNeyman, ...] = ()
    # cross-level interactions (as in the config) whose random slope could not stay in the
    # final model: their model-based test is too liberal and the CR2 test (robust_p) should lead
    liberal_cross_level_tests: tuple[str, ...] = ()
    slope_variance_explained: tuple[SlopeVarianceExplained, ...] = ()
    intercept_variance_explained: InterceptVarianceExplained | None = None
    joint_tests: tuple[JointTest, ...] = ()  # of the final model's multi-level factors
    provenance: Provenance | None = None  # None: written before provenance existed
    schema_version: int = SCHEMA_VERSION

    def model(self, name: str) -> ModelResult:
        return self.models[ModelName(name)]

    @property
    def mixed_models(self) -> list[ModelResult]:
        return [m for m in self.models.values() if m.is_mixed]

    @property
    def final(self) -> ModelResult:
        return self.models[self.final_model]


# ---------------------------------------------------------------------------------------------
# JSON: written in one pass; read back strictly (unknown or missing keys are named).


def _float_array(value: list | tuple) -> np.ndarray | None:
    """A non-empty sequence of floats, or of equally long tuples of floats, as a float array;
    None for anything else (labels, mixed types, ints, records)."""
    first = value[0] if value else None
    if isinstance(first, float):
        pass
    elif type(first) is tuple and first and isinstance(first[0], float):
        pass
    else:
        return None
    try:
        numbers = np.asarray(value)
    except ValueError:  # ragged rows
        return None
    if numbers.dtype != np.float64 or numbers.ndim != (1 if isinstance(first, float) else 2):
        return None
    return numbers


# Float arrays at least this long are formatted apart (json_arrays: per-group columns at scale).
LARGE_ARRAY = 1_000


def _small_float_rows(value: tuple | list) -> list | None:
    """A few short rows of plain floats (a group's 1 x 1 or 2 x 2 covariance) as lists, NaN and
    inf as None, without numpy: 60,000 of them at 20,000 groups cost 0.2 s through np.asarray.
    None for anything else, which _float_array then decides."""
    if not value or len(value) > 8 or type(value[0]) is not tuple:
        return None
    width = len(value[0])
    if not 0 < width <= 8 or len(value) * width >= LARGE_ARRAY:  # large ones: formatted apart
        return None
    out = []
    for row in value:
        if type(row) is not tuple or len(row) != width or not all(type(v) is float for v in row):
            return None
        out.append([v if math.isfinite(v) else None for v in row])
    return out


def _plain(value: Any, hold: Callable[[np.ndarray], str] | None = None) -> Any:
    """Dataclasses, enums, tuples and numpy scalars to JSON types in one pass; NaN and inf become
    null (JSON has neither). dataclasses.asdict deep-copies first, which is slow at 10,000 groups.
    `hold` takes large float arrays and returns what stands in for them."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Spec):
        return published_spec(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v, hold) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # per-group columns and rows (thousands of floats: random effects, their SEs, the groups'
        # lines) go through numpy in one step; labels as they are
        rows = _small_float_rows(value)
        if rows is not None:
            return rows
        numbers = _float_array(value)
        if numbers is not None:
            if hold is not None and numbers.size >= LARGE_ARRAY:
                return hold(numbers)
            finite = np.isfinite(numbers)
            return numbers.tolist() if finite.all() else np.where(finite, numbers, None).tolist()
        if value and all(type(v) is str for v in value):
            return list(value)
        return [_plain(v, hold) for v in value]
    if is_dataclass(value):
        return {
            f.name: _plain(getattr(value, f.name), hold)
            for f in fields(value)
            if not (f.metadata.get(OMIT_DEFAULT) and _is_default(f, getattr(value, f.name)))
        }
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return value


def _is_default(f, value: Any) -> bool:
    default = f.default_factory() if f.default is MISSING else f.default
    return value is default or (type(value) is type(default) and value == default)


_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def published_spec(spec: Spec) -> dict[str, Any]:
    """The config as results.json holds it. results.json is published with the report (site,
    email), so it keeps no stakeholder (their addresses), no other key whose value is an email
    address, and the data as a path from the project root (the folder holding _quarto.yml), or
    its file name when it lies outside: never the machine's absolute path."""
    from .spec import project_root

    out = spec.to_json()
    out["stakeholders"] = []
    for key in ("sender", "signature"):  # email's: an address, a name, a phone number
        out.pop(key, None)
    for key in [k for k, v in out.items() if isinstance(v, str) and _ADDRESS.fullmatch(v)]:
        del out[key]
    data = Path(spec.data)
    root = project_root(data.parent) if data.is_absolute() else None
    if data.is_absolute():
        data = data.relative_to(root) if root and data.is_relative_to(root) else Path(data.name)
    out["data"] = data.as_posix()
    return out


def to_dict(results: Results) -> dict[str, Any]:
    return _plain(results)


def dumps(results: Results) -> str:
    """results.json's text. Large float arrays are formatted apart (json_arrays, 4x faster than
    json.dumps) and put in place of a stand-in string carrying a random key, which no text of
    the config can hold by accident."""
    from . import json_arrays

    key = secrets.token_hex(12)
    held: list[np.ndarray] = []

    def hold(numbers: np.ndarray) -> str:
        held.append(numbers)
        return f"{key}:{len(held) - 1}"

    # No indentation: at 10,000 groups the file is megabytes and indenting doubles the time.
    text = json.dumps(_plain(results, hold), allow_nan=False)
    return re.sub(f'"{key}:([0-9]+)"', lambda found: json_arrays.dumps(held[int(found[1])]), text)


def write_json(results: Results, path: Path) -> None:
    atomic.write_text(path, dumps(results))


class SchemaError(InputError):
    """results.json does not match this version's contract."""


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


def _build(tp: Any, raw: Any, where: str) -> Any:
    """Rebuild a value of type `tp` from its JSON form, naming the path of anything unexpected."""
    origin = typing.get_origin(tp)
    if origin is Annotated:  # a bounded float (NonNegative, Probability, ...)
        base, *constraints = typing.get_args(tp)
        value = _build(base, raw, where)
        for bound in (b for c in constraints for b in getattr(c, "metadata", [c])):
            low, high = getattr(bound, "ge", None), getattr(bound, "le", None)
            if low is not None and value < low:
                raise SchemaError(f"results.json: '{where}' is {value!r}, below its minimum {low}")
            if high is not None and value > high:
                raise SchemaError(f"results.json: '{where}' is {value!r}, above its maximum {high}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw is None:
            return None
        return _build(options[0], raw, where) if len(options) == 1 else raw
    if raw is None:
        # JSON has no NaN: a non-finite float was written as null
        if tp is float:
            return float("nan")
        raise SchemaError(f"results.json: '{where}' is null")
    if origin is tuple:
        args = typing.get_args(tp)
        return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(raw))
    if origin is dict:
        key_type, value_type = typing.get_args(tp)
        return {
            _build(key_type, k, where): _build(value_type, v, f"{where}.{k}")
            for k, v in raw.items()
        }
    if tp is Spec:
        return Spec.model_validate(raw)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(raw)
        except ValueError:
            raise SchemaError(f"results.json: '{where}' has unknown value {raw!r}") from None
    if is_dataclass(tp):
        if not isinstance(raw, dict):
            raise SchemaError(f"results.json: '{where}' should be an object")
        known = {f.name: f for f in fields(tp)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise SchemaError(f"results.json: unknown key '{where}.{unknown[0]}'")
        hints = _hints(tp)
        values = {}
        for name, f in known.items():
            if name not in raw:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise SchemaError(f"results.json: missing key '{where}.{name}'")
                continue
            values[name] = _build(hints[name], raw[name], f"{where}.{name}")
        built = tp(**values)
        off = built.off_scale() if hasattr(built, "off_scale") else None
        if off is not None:
            scale = "a variance row's (>= 0)" if built.term2 is None else "a correlation's"
            raise SchemaError(
                f"results.json: '{where}.{off}' is {getattr(built, off)!r}, off {scale} scale"
            )
        return built
    if tp is float and isinstance(raw, int | float):
        return float(raw)
    return raw


def from_dict(raw: dict[str, Any]) -> Results:
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"results.json has schema_version {version!r}; this hlm-report reads version "
            f"{SCHEMA_VERSION} (fit again with 'hlm-report fit')"
        )
    return _build(Results, raw, "results")


def read_json(path: Path) -> Results:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"results file not found: {path}") from None
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"results file {path} is not valid JSON") from None
    return from_dict(raw)
