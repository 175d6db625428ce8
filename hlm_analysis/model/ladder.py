"""The model ladder. The only module that touches statsmodels model classes.

OLS and cluster-robust OLS are least squares by QR (as lm and statsmodels compute them). Each
mixed model is fitted by the exact profiled criterion of lmm.py (and, on small data, statsmodels
MixedLM's lbfgs and powell as further candidates); optimize.py picks, polishes and verifies the
best. All reported numbers are computed at the verified optimum with the exact criterion.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import rules
from ..data import Prepared
from ..data.prepare import Rows
from ..data.sums import DesignSums
from ..results import (
    INTERCEPT,
    MODEL_ORDER,
    SINGLE_LEVEL,
    Attempt,
    ComponentTest,
    FixedEffect,
    GroupEffects,
    Icc,
    InterceptVarianceExplained,
    JohnsonNeyman,
    JointTest,
    Method,
    ModelName,
    ModelResult,
    RobustSE,
    SimpleSlope,
    VarianceComponent,
)
from . import final, lmm, optimize, profile, robust, stats

# statsmodels is slow on large data (about 90 s per fit at 500,000 rows); beyond this size the
# exact optimizer's own starts and methods are the candidates.
STATSMODELS_MAX_ROWS = 20_000
STATSMODELS_METHODS = ("lbfgs", "powell")
# CR2's small-sample correction matters only when clusters are few (its cost, O(n (p + q)^2),
# no longer limits it: every row held in memory is affordable).
CR2_MAX_GROUPS = 50

Progress = Callable[[str], None]
UNCORRELATED_NOTE = (
    "Fitted with uncorrelated random effects (1 + x || g): the correlated form was singular "
    "(a correlation of +-1 or a zero slope variance)."
)


@dataclass(frozen=True)
class ModelDef:
    name: ModelName
    fixed: list[str]
    random: list[str]  # empty for OLS
    # the uncorrelated form (1 + x || g): random effects independent, no covariances estimated
    diagonal: bool = False
    # several grouping levels: (level column, its random terms, the intercept first) per level,
    # outermost first; `random` is then every level's terms once. Empty for one level.
    levels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # several levels: the levels whose random effects are uncorrelated (1 + x || g)
    diagonal_levels: frozenset[str] = frozenset()

    def random_at(self, level: str) -> list[str]:
        return next((list(terms) for name, terms in self.levels if name == level), [])


def ladder(prepared: Prepared) -> list[ModelDef]:
    spec = prepared.spec
    if spec.multilevel:
        from .multilevel import ladder as levels_ladder

        return levels_ladder(prepared)
    main = [INTERCEPT, *prepared.expand(prepared.predictors)]
    slopes = [INTERCEPT, *prepared.expand(spec.random_slopes)]
    single, clustered = SINGLE_LEVEL[spec.family]
    models = [
        ModelDef(single, main, []),
        ModelDef(clustered, main, []),
        ModelDef(ModelName.NULL, [INTERCEPT], [INTERCEPT]),
        ModelDef(ModelName.RANDOM_INTERCEPT, main, [INTERCEPT]),
    ]
    if spec.random_slopes:
        models.append(ModelDef(ModelName.RANDOM_SLOPE, main, slopes))
    if spec.interactions:
        extra = [v for t in spec.interactions for v in t.split(":") if v not in prepared.predictors]
        fixed = list(
            dict.fromkeys([*main, *prepared.expand(extra), *prepared.expand(spec.interactions)])
        )
        if spec.random_slopes:  # the reference for testing the slope in the interaction model
            models.append(ModelDef(ModelName.INTERACTION_INTERCEPT, fixed, [INTERCEPT]))
        random = slopes if spec.random_slopes else [INTERCEPT]
        models.append(ModelDef(ModelName.INTERACTION, fixed, random))
    return models


def _display(term: str) -> str:
    return "1" if term == INTERCEPT else term


def formula(prepared: Prepared, mdef: ModelDef) -> str:
    spec = prepared.spec
    fixed = " + ".join(_display(t) for t in mdef.fixed)
    text = f"{spec.outcome} ~ {fixed}"
    if mdef.levels:
        # lme4's syntax: an inner nested level is named by its chain (school:class)
        for i, (level, terms) in enumerate(mdef.levels):
            bar = "||" if level in mdef.diagonal_levels else "|"
            factor = level if spec.crossed else ":".join(spec.levels[: i + 1])
            text += f" + ({' + '.join(_display(t) for t in terms)} {bar} {factor})"
    elif mdef.random:
        bar = "||" if mdef.diagonal else "|"
        text += f" + ({' + '.join(_display(t) for t in mdef.random)} {bar} {spec.group})"
    return text


def _finite(value) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _fixed_effects(terms, estimate, std_error, df, extras=None) -> tuple[FixedEffect, ...]:
    statistic, p_value, low, high = stats.t_table(estimate, std_error, df)
    none = [None] * len(terms)
    standardized = extras.std_estimate if extras is not None else none
    cr2 = extras.robust if extras is not None else None
    robust_se, robust_df, robust_p = (
        (cr2.std_error, cr2.df, cr2.p_value) if cr2 is not None else (none, none, none)
    )
    return tuple(
        FixedEffect(
            t,
            float(e),
            float(s),
            float(z),
            _finite(d),
            float(p),
            float(lo),
            float(hi),
            std_estimate=b,
            robust_se=_finite(rs),
            robust_df=_finite(rd),
            robust_p=_finite(rp),
        )
        for t, e, s, z, d, p, lo, hi, b, rs, rd, rp in zip(
            terms,
            estimate,
            std_error,
            statistic,
            df,
            p_value,
            low,
            high,
            standardized,
            robust_se,
            robust_df,
            robust_p,
            strict=True,
        )
    )


@dataclass(frozen=True)
class LeastSquares:
    beta: np.ndarray
    cov: np.ndarray
    df_resid: int
    loglik: float
    r2: float


def _far_centred(design: DesignSums, fixed: list[str]):
    """(design, fixed, A) with the columns far from zero centred as the mixed fits centre them
    (lmm.far_fixed: calendar years, year + 1e5), beta = A beta_c; the inputs and the identity
    when none is. With year from its raw sums, y'y - X'y beta cancelled to a residual sum of
    squares 2e-6 of the log-likelihood off the fit on centred year (egsingle, 7,230 rows)."""
    shifts = lmm.far_fixed(design, fixed, [])
    if not shifts:
        return design, fixed, np.eye(len(fixed))
    fixed_c, to_centred = lmm.centred_fixed(design, fixed, shifts)
    return lmm.with_centred_columns(design, shifts), fixed_c, to_centred


def least_squares(design: DesignSums, fixed: list[str]) -> LeastSquares:
    """OLS from the design's cross products (the normal equations, solved by Cholesky): X'X,
    X'y and y'y are all it needs, however many rows there are. Solved with far columns centred
    (exact: beta = A beta_c, cov = A cov_c A'; the residuals, and so the SEs of the slopes, the
    same) and reported on their own scale."""
    design, fixed, to_centred = _far_centred(design, fixed)
    y = [design.outcome]
    XtX, Xty = design.total_block(fixed, fixed), design.total_block(fixed, y)[:, 0]
    yty, n, k = float(design.total[0, 0]), design.n, len(fixed)
    chol = np.linalg.cholesky(XtX)
    beta = np.linalg.solve(chol.T, np.linalg.solve(chol, Xty))
    rss = max(yty - float(Xty @ beta), 0.0)
    cov = rss / (n - k) * np.linalg.inv(XtX)
    loglik = -0.5 * n * (np.log(2 * np.pi) + np.log(rss / n) + 1)
    tss = (n - 1) * design.sd(design.outcome) ** 2
    beta, cov = to_centred @ beta, to_centred @ cov @ to_centred.T
    return LeastSquares(beta, cov, n - k, float(loglik), 1 - rss / tss)


def cluster_cr1(design: DesignSums, fixed: list[str], beta: np.ndarray) -> np.ndarray:
    """Stata's CR1 (statsmodels' cov_type="cluster"): the sandwich with G/(G-1) (n-1)/(n-k).
    Each group's score X_j'e_j = X_j'y_j - X_j'X_j beta comes from its cross products, far
    columns centred as in least_squares (X_c = X A, so cov = A cov_c A')."""
    design, fixed, to_centred = _far_centred(design, fixed)
    beta = np.linalg.solve(to_centred, beta)
    n, k, G = design.n, len(fixed), len(design.counts)
    scores = design.block(fixed, [design.outcome])[:, :, 0] - design.block(fixed, fixed) @ beta
    bread = np.linalg.inv(design.total_block(fixed, fixed))
    scale = G / (G - 1) * (n - 1) / (n - k)
    return scale * to_centred @ bread @ (scores.T @ scores) @ bread @ to_centred.T


def fit_ols(prepared: Prepared, mdef: ModelDef) -> ModelResult:
    res = least_squares(prepared.sums, mdef.fixed)
    robust_se = None
    cov = res.cov
    n_groups, clusters, row_codes = prepared.n_groups, prepared.sums, None
    if prepared.spec.multilevel:  # clustered on the outermost level (a crossed design's first)
        from .multilevel import outer_clusters

        n_groups, clusters, row_codes = outer_clusters(prepared)
    if mdef.name == ModelName.OLS_CLUSTER:
        cov_cr1 = cluster_cr1(clusters, mdef.fixed, res.beta)
        cr1 = np.sqrt(np.diag(cov_cr1))
        rows = prepared.rows
        if rows is not None and n_groups <= CR2_MAX_GROUPS:
            X = rows.matrix(mdef.fixed)
            codes = rows.group_codes if row_codes is None else row_codes(rows.group_codes)
            cr2 = robust.cr2(
                rows.y, X, np.empty((len(X), 0)), codes, np.empty(0), res.beta
            )  # no random effects: CR2 for OLS, df as Bell & McCaffrey
            cov, bse, df = cr2.cov, cr2.std_error, cr2.df
            df_method = "Bell-McCaffrey (CR2)"
            notes = (
                "CR2 cluster-robust standard errors with Bell-McCaffrey degrees of freedom, "
                "the small-sample correction for few clusters; CR1 (Stata's) beside them.",
            )
        else:
            cov, bse, df = cov_cr1, cr1, np.full(len(mdef.fixed), n_groups - 1.0)
            df_method = "cluster (G - 1)"
            notes = (
                "CR1 cluster-robust standard errors with G - 1 degrees of freedom "
                f"(CR2 is computed for up to {CR2_MAX_GROUPS} groups with their rows held in "
                "memory; with more groups, CR1 is accurate).",
            )
        robust_se = RobustSE(
            reported="CR2" if df_method.endswith("(CR2)") else "CR1",
            cr1_std_error=dict(zip(mdef.fixed, map(float, cr1), strict=True)),
        )
    else:
        df = np.full(len(mdef.fixed), float(res.df_resid))
        df_method = "residual"
        notes = ()
        bse = np.sqrt(np.diag(res.cov))
    k = len(mdef.fixed) + 1
    return ModelResult(
        name=mdef.name,
        formula=formula(prepared, mdef),
        method=Method.OLS,
        converged=True,
        optimizer="least squares (normal equations)",
        loglik=res.loglik,
        n_obs=prepared.n_obs,
        n_groups=n_groups,
        fixed_effects=_fixed_effects(mdef.fixed, res.beta, bse, df),
        df_method=df_method,
        **stats.likelihood_fields(res.loglik, k, prepared.n_obs),
        r2=float(res.r2),
        fixed_cov=tuple(map(tuple, cov)),
        robust=robust_se,
        notes=notes,
    )


def _statsmodels_candidates(prepared: Prepared, mdef: ModelDef, reml: bool):
    """statsmodels MixedLM fits as candidate optima, with what statsmodels claimed about them."""
    out: list[tuple[Attempt, np.ndarray | None]] = []
    if prepared.rows is None or prepared.n_obs > STATSMODELS_MAX_ROWS:
        note = f"skipped: more than {STATSMODELS_MAX_ROWS:,} rows"
        return [(Attempt("statsmodels", "default", None, note=note), None)]
    # Imported here: only small data use statsmodels at all, and its import is slow.
    from statsmodels.regression.mixed_linear_model import MixedLM

    rows = prepared.rows
    X, Z = rows.matrix(mdef.fixed), rows.matrix(mdef.random)
    q = Z.shape[1]
    for method in STATSMODELS_METHODS:
        label = f"statsmodels {method}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = MixedLM(rows.y, X, groups=rows.group_codes, exog_re=Z)
                res = model.fit(reml=reml, method=[method])
            cov = np.asarray(res.cov_re, float).reshape(q, q) / float(res.scale)
            if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) < -1e-10):
                raise ValueError("infeasible variance parameters")
            theta = lmm.theta_of(lmm.psd_factor((cov + cov.T) / 2))
            reported = float(res.llf) if np.isfinite(res.llf) else None
            attempt = Attempt(label, "statsmodels default", None, reported, bool(res.converged))
            out.append((attempt, theta))
        except Exception as exc:  # noqa: BLE001 - any failure is one discarded candidate
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            out.append(
                (Attempt(label, "statsmodels default", None, note=f"failed: {reason}"), None)
            )
    return out


def variance_components(
    group: str,
    terms: list[str],
    cov: np.ndarray,
    sigma2: float | None,
    intervals=None,
    diagonal: bool = False,
) -> tuple[VarianceComponent, ...]:
    """lme4's as.data.frame(VarCorr(m)) rows; `intervals` (profile.Interval of the SDs,
    correlations and residual SD, in that order) fill ci_low / ci_high / ci_method / ci_note
    when given. `sigma2` None (a logistic model, whose level-1 variance is fixed): no residual
    row, as glmer's. `diagonal` (the uncorrelated model, 1 + x || g): no correlation rows, as
    lme4 has none."""
    q = len(terms)
    m = q + q * (q - 1) // 2 + (sigma2 is not None)
    ci = intervals if intervals is not None else [profile.Interval(None, None, None)] * m

    def interval(k: int, edge: float = np.inf) -> tuple:
        low, high = (_on_scale(_finite(v), edge) for v in (ci[k].low, ci[k].high))
        return low, high, ci[k].method, ci[k].note

    rows = []
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    for i, term in enumerate(terms):
        rows.append(
            VarianceComponent(group, term, None, float(cov[i, i]), float(sd[i]), *interval(i))
        )
    pairs = list(zip(*np.tril_indices(q, -1), strict=True))  # the profile's order of correlations
    for k, (j, i) in enumerate(pairs if not diagonal else []):
        corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else float("nan")
        rows.append(
            VarianceComponent(
                group, terms[i], terms[j], float(cov[i, j]), _on_scale(corr, 1.0),
                *interval(q + k, 1.0),
            )
        )  # fmt: skip
    if sigma2 is not None:
        rows.append(
            VarianceComponent(
                "Residual", None, None, float(sigma2), float(np.sqrt(sigma2)), *interval(m - 1)
            )
        )
    return tuple(rows)


def _on_scale(value: float | None, edge: float) -> float | None:
    """An SD's (edge inf) or a correlation's (edge 1) value on its scale: a singular fit's
    correlation came out -1.0000000000000002 (rounding of cov / (sd sd)), which results.json's
    schema refuses; NaN and None pass."""
    if value is None or not np.isfinite(value):
        return value if value is None else float(value)
    return float(min(max(value, 0.0 if edge == np.inf else -edge), edge))


@dataclass(frozen=True)
class MixedFit:
    """A mixed model's verified optima and what they imply, before it becomes a ModelResult."""

    mdef: ModelDef
    sums: lmm.GroupSums
    reml: optimize.Optimum
    ml: optimize.Optimum
    sol: lmm.Solution
    notes: tuple[str, ...] = ()  # said in the model's notes (why it has this form)
    # A slope far from zero (lmm.recentred): the fit of the centred model, whose optimum `reml`,
    # `ml` and `sol` carry in x's own terms; beta = to_centred @ centred beta. Fixed effects,
    # their covariance and df come from the centred fit, where they keep their digits.
    centred: MixedFit | None = field(default=None, repr=False)
    to_centred: np.ndarray | None = field(default=None, repr=False)
    # whether a slope's origin moved (the intercept's variance then differs in the two fits),
    # not only a fixed-only column's (lmm.FIXED_CENTRE_FROM_SDS: theta the same in both)
    slopes_centred: bool = False

    @property
    def estimability(self) -> final.Estimability:
        singular = tuple(self.mdef.random[i] for i in self.reml.singular_terms)
        return final.Estimability(self.reml.verified, singular, tuple(self.mdef.random))

    @property
    def beta(self) -> np.ndarray:
        if self.centred is not None:
            return self.to_centred @ self.centred.beta
        return self.sol.beta

    @property
    def cov_beta(self) -> np.ndarray:
        if self.centred is not None:
            return self.to_centred @ self.centred.cov_beta @ self.to_centred.T
        return self.sol.sigma2 * np.linalg.inv(self.sol.A)

    def df_of(self, contrasts: np.ndarray | None = None) -> np.ndarray:
        """Satterthwaite df of each coefficient, or of each row of `contrasts` (L beta)."""
        if self.centred is not None:
            L = np.eye(len(self.mdef.fixed)) if contrasts is None else np.atleast_2d(contrasts)
            return self.centred.df_of(np.asarray(L, float) @ self.to_centred)
        sol = self.sol
        return stats.satterthwaite_df(sol.theta, sol.sigma2, self.sums, contrasts,
                                      self.mdef.diagonal)  # fmt: skip


def optimize_mixed(prepared: Prepared, mdef: ModelDef) -> MixedFit:
    """Fit one mixed model by REML (and by ML for likelihood comparisons); verify both optima."""
    sums = lmm.model_sums(prepared.sums, mdef.fixed, mdef.random)
    # (a diagonal covariance is not the same model once the slope's origin moves; a fixed-only
    # column's may move under any)
    far = lmm.recentred(prepared.sums, mdef.fixed, mdef.random, slopes=not mdef.diagonal)
    if far is None:
        return _optimized(sums, mdef, lambda: _statsmodels_candidates(prepared, mdef, True))
    back = np.linalg.inv(far.move)  # statsmodels' candidates are in x's terms

    def candidates():
        return [(attempt, None if theta is None else lmm.moved_theta(theta, back))
                for attempt, theta in _statsmodels_candidates(prepared, mdef, True)]  # fmt: skip

    centred = _optimized(far.sums, mdef, candidates)
    reml = replace(centred.reml, theta=lmm.moved_theta(centred.reml.theta, far.move),
                   optimizer=f"{centred.reml.optimizer} "
                             f"({'slopes' if far.slopes else 'predictors'} centred)")  # fmt: skip
    ml = replace(centred.ml, theta=lmm.moved_theta(centred.ml.theta, far.move))
    # modes and conditional variances in x's terms at the mapped optimum; beta and sigma2 as
    # fitted (the centred fit's, mapped)
    sol = replace(lmm.solve(reml.theta, sums, reml=True), sigma2=centred.sol.sigma2,
                  beta=far.to_centred @ centred.sol.beta)  # fmt: skip
    return MixedFit(mdef, sums, reml, ml, sol, centred=centred, to_centred=far.to_centred,
                    slopes_centred=far.slopes)  # fmt: skip


def _optimized(sums: lmm.GroupSums, mdef: ModelDef, escalation) -> MixedFit:
    reml = optimize.find_optimum(sums, True, escalation=escalation, diagonal=mdef.diagonal)
    # The ML refit (for AIC, BIC and LRTs) starts at the REML optimum, which is close: Newton
    # steps from there suffice, and the result is verified just the same.
    ml = optimize.find_optimum(
        sums,
        False,
        external=[(Attempt("REML optimum", "REML theta", None), reml.theta)],
        plan=[],
        diagonal=mdef.diagonal,
    )
    return MixedFit(mdef, sums, reml, ml, lmm.solve(reml.theta, sums, reml=True))


@dataclass(frozen=True)
class FinalExtras:
    """What only the final model carries (DESIGN.md: results.json contract)."""

    std_estimate: list[float | None]
    df_of: Callable[[np.ndarray], np.ndarray]  # Satterthwaite df of contrasts of beta
    robust: robust.Robust | None  # CR2 (None: clusters too large to afford it)
    intervals: list[profile.Interval]  # of (SDs, correlations, sigma), each naming its method
    notes: tuple[str, ...]


def final_extras(prepared: Prepared, fit: MixedFit) -> FinalExtras:
    sol, sums, mdef = fit.sol, fit.sums, fit.mdef
    notes = []

    df_of = fit.df_of

    cr2 = None
    if prepared.n_groups < rules.GROUPS_STRONG_WARNING.value:
        notes.append(
            f"Cluster-robust (CR2) standard errors were not computed: {prepared.n_groups} groups "
            "are too few for any cluster-robust variance to be trusted."
        )
    elif prepared.rows is not None and robust.feasible(sums.counts):
        rows = prepared.rows
        X, Z = rows.matrix(mdef.fixed), rows.matrix(mdef.random)
        cr2 = robust.cr2(rows.y, X, Z, rows.group_codes, sol.theta, sol.beta)
    else:
        cr2 = robust.cr1(prepared.sums, mdef.fixed, mdef.random, sol.theta, sol.beta, sums)
        why = (
            f"with {prepared.n_groups:,} groups the CR2 small-sample correction is immaterial"
            if prepared.rows is not None
            else "the data were reduced to group sums by the data engine, and CR2 needs every "
            "row of each group in memory"
        )
        notes.append(
            "The cluster-robust standard errors of this model are CR1 with G - 1 degrees of "
            f"freedom: {why}."
        )
    m = sums.q + sums.q * (sums.q - 1) // 2 + 1
    if fit.ml.verified and fit.slopes_centred:
        intervals = _centred_intervals(fit.centred)
    elif fit.ml.verified:
        # a fixed-only column centred: the same theta and sigma, profiled where X'V^-1 X keeps
        # its digits
        on = sums if fit.centred is None else fit.centred.sums
        ml = lmm.solve(fit.ml.theta, on, reml=False)
        sigma = float(np.sqrt(ml.sigma2))
        intervals = profile.linear_intervals(ml.theta, sigma, on, fit.mdef.diagonal)
    else:
        why = "the ML refit the profile rests on could not be verified"
        intervals = [profile.Interval(None, None, None, why)] * m
        notes.append(f"Intervals for the variance components were not computed: {why}.")
    std = final.std_estimates(prepared, mdef.fixed, sol.beta)
    return FinalExtras(std, df_of, cr2, intervals, tuple(notes))


# the intercept's variance at x = 0 when a slope is fitted centred (lmm.recentred)
FAR_INTERCEPT_NOTE = (
    "not computed: the intercept's variance is that of the groups at a slope variable of 0, far "
    "outside the data; the model was fitted with that variable centred"
)


def _centred_intervals(centred: MixedFit) -> list[profile.Interval]:
    """Profile intervals of a model whose far slopes were fitted centred. The slopes' SDs, the
    correlations among slopes and sigma are the same in the centred model (moving the origin
    changes only the intercept), so they are profiled there; the intercept's SD and its
    correlations describe the groups at x = 0 and get none (as levels/fit.py's fits)."""
    sums, q = centred.sums, centred.sums.q
    ml = lmm.solve(centred.ml.theta, sums, reml=False)
    found = profile.linear_intervals(ml.theta, float(np.sqrt(ml.sigma2)), sums)
    none = profile.Interval(None, None, None, FAR_INTERCEPT_NOTE)
    rows, cols = np.tril_indices(q, -1)
    with_intercept = [0, *(q + i for i, c in enumerate(cols) if c == 0)]
    return [none if i in with_intercept else interval for i, interval in enumerate(found)]


def mixed_result(
    prepared: Prepared, fit: MixedFit, null: ModelResult | None, extras: FinalExtras | None
) -> ModelResult:
    """The ModelResult of a fitted mixed model, every field set here once. `null` is the null
    model's result (None when this is it): variance explained is measured against it."""
    mdef, sums, reml, ml, sol = fit.mdef, fit.sums, fit.reml, fit.ml, fit.sol
    q = len(mdef.random)
    lam = lmm.lambda_of(sol.theta, q)
    re_cov = sol.sigma2 * lam @ lam.T
    cov_beta = fit.cov_beta
    se = np.sqrt(np.diag(cov_beta))
    df = fit.df_of()
    modes, cond_cov = lmm.random_effects(sol, sums)
    cond_se = np.sqrt(np.clip(np.diagonal(cond_cov, axis1=1, axis2=2), 0, None))
    tau00 = re_cov[0, 0]
    # one definition: each group's lambda (the intercept's is `reliability` per group) and
    # their averages (the intercept's is reliability_mean), as HLM 8 reports them
    per_group = stats.group_reliability(re_cov, sol.sigma2, sums.ZtZ)
    reliability = per_group[:, 0]
    term_reliability = stats.coefficient_reliability(per_group)
    mean_zz = sums.ZtZ.sum(axis=0) / sums.n
    var_fixed = prepared.sums.quadratic_variance(mdef.fixed, sol.beta)
    r2 = stats.nakagawa_r2(var_fixed, re_cov, mean_zz, sol.sigma2)

    k = len(mdef.fixed) + len(stats.variance_parameters(q, mdef.diagonal))
    loglik_ml = -ml.deviance / 2
    notes = []
    if not reml.verified:
        notes.append(
            f"The REML optimum could not be verified (a Newton step could gain {reml.decrement:.2g}, "
            f"a nearby point better by {reml.best_neighbour_gain:.2g}); treat these estimates as provisional."
        )
    if not ml.verified:
        notes.append(
            "The ML refit used for AIC, BIC and likelihood-ratio tests could not be verified."
        )

    icc = design = None
    if mdef.name == ModelName.NULL:
        theta0 = float(sol.theta[0])
        low, high = stats.icc_interval(theta0, lambda t: lmm.deviance(np.array([t]), sums, True))
        estimate = tau00 / (tau00 + sol.sigma2)
        icc = Icc(float(estimate), float(low), float(high), "REML profile likelihood, 95%")
        design = stats.design_effect(estimate, float(np.mean(sums.counts)))
    # Raudenbush & Bryk's proportional reduction of each variance against the null model.
    tau_null, sigma_null = (tau00, sol.sigma2) if null is None else _null_variances(null)
    level2 = (tau_null - tau00) / tau_null if tau_null > 0 else None

    return ModelResult(
        name=mdef.name,
        formula=formula(prepared, mdef),
        method=Method.REML,
        converged=reml.verified,
        optimizer=reml.optimizer,
        loglik=float(-reml.deviance / 2),
        n_obs=prepared.n_obs,
        n_groups=prepared.n_groups,
        fixed_effects=_fixed_effects(mdef.fixed, sol.beta, se, df, extras),
        df_method="Satterthwaite",
        variance_components=variance_components(
            prepared.spec.group,
            mdef.random,
            re_cov,
            sol.sigma2,
            None if extras is None else extras.intervals,
            mdef.diagonal,
        ),
        attempts=reml.attempts,
        singular=reml.singular,
        singular_terms=tuple(mdef.random[i] for i in reml.singular_terms),
        max_gradient=reml.max_gradient,
        newton_decrement=reml.decrement,
        ml_verified=ml.verified,
        **stats.likelihood_fields(loglik_ml, k, sums.n),
        r2_marginal=r2["r2_marginal"],
        r2_conditional=r2["r2_conditional"],
        icc=icc,
        icc_adjusted=r2["icc_adjusted"],
        variance_explained_level1=(sigma_null - sol.sigma2) / sigma_null,
        variance_explained_level2=level2,
        reliability_mean=float(term_reliability[0]) if np.isfinite(term_reliability[0]) else None,
        reliability={
            t: float(r)
            for t, r in zip(mdef.random, term_reliability, strict=True)
            if np.isfinite(r)
        },
        icc_residual=float(tau00 / (tau00 + sol.sigma2)),
        design_effect=design,
        fixed_cov=tuple(map(tuple, cov_beta)),
        random_terms=tuple(mdef.random),
        group_effects=GroupEffects(
            terms=tuple(mdef.random),
            groups=tuple(prepared.group_labels),
            # lists of Python floats: numpy scalars take results.json's slow path
            estimate=tuple(map(tuple, modes.tolist())),
            std_error=tuple(map(tuple, cond_se.tolist())),
            covariance=tuple(tuple(map(tuple, c)) for c in cond_cov.tolist()),
            reliability=tuple(float(r) for r in reliability),
            lines=final.group_lines(prepared, mdef.fixed, sol.beta, mdef.random, modes)
            if extras is not None
            else (),
        ),
        notes=fit.notes + tuple(notes) + (extras.notes if extras is not None else ()),
        uncorrelated=mdef.diagonal,
    )


def _null_variances(null: ModelResult) -> tuple[float, float]:
    return null.variance(INTERCEPT), null.residual_variance


def fitted_values(model: ModelResult, rows: Rows) -> np.ndarray:
    """Fitted values (fixed part plus the group's conditional modes) of a mixed model at `rows`."""
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    X = rows.matrix([fe.term for fe in model.fixed_effects])
    Z = rows.matrix(list(model.random_terms))
    modes = np.array(model.group_effects.estimate)[rows.group_codes]
    return X @ beta + np.einsum("nq,nq->n", Z, modes)


@dataclass(frozen=True)
class Ladder:
    """Every fitted model, the final one named with its reason, and the final-model statistics."""

    models: dict[ModelName, ModelResult]
    final: ModelName
    reason: str
    component_tests: tuple[ComponentTest, ...]
    simple_slopes: tuple[SimpleSlope, ...]
    johnson_neyman: tuple[JohnsonNeyman, ...]
    liberal_cross_level_tests: tuple[str, ...] = ()
    joint_tests: tuple[JointTest, ...] = ()
    intercept_variance_explained: InterceptVarianceExplained | None = None
    # Satterthwaite df of contrasts of the final model's beta (several levels; for the
    # contextual effects' df), None where the ladder gives none
    df_of: Callable[[np.ndarray], np.ndarray] | None = None


def fit_rungs(
    definitions: list[ModelDef],
    fit_mixed: Callable[[ModelDef], Any],
    fit_single: Callable[[ModelDef], ModelResult],
    progress: Progress,
) -> tuple[dict[ModelName, Any], dict[ModelName, ModelResult]]:
    """Fit every rung in order, one timed progress line each: the mixed models by `fit_mixed`
    (flagged when their REML optimum is not verified), the single-level ones by `fit_single`
    (flagged when they did not converge). Returns (mixed fits, single-level results) by name."""
    fits: dict[ModelName, Any] = {}
    models: dict[ModelName, ModelResult] = {}
    for mdef in definitions:
        started = time.perf_counter()
        if mdef.random:
            fits[mdef.name] = fit_mixed(mdef)
            verified = fits[mdef.name].reml.verified
        else:
            models[mdef.name] = fit_single(mdef)
            verified = models[mdef.name].converged
        status = "" if verified else " (optimum NOT verified)"
        progress(f"  {mdef.name.label:<28} {time.perf_counter() - started:6.2f} s{status}")
    return fits, models


def fit_ladder(prepared: Prepared, progress: Progress = lambda message: None) -> Ladder:
    """Fit every model, choose the final one by the rule in final.py, then build each result
    (the null model first: the others are measured against it)."""
    if prepared.spec.multilevel:
        from .multilevel import fit_levels_ladder

        return fit_levels_ladder(prepared, progress)
    definitions = ladder(prepared)
    progress(
        f"hlm-report: fitting {len(definitions)} models of {prepared.spec.name} "
        f"({prepared.n_obs:,} rows in {prepared.n_groups:,} groups)"
    )
    fits, models = fit_rungs(
        definitions,
        lambda mdef: optimize_mixed(prepared, mdef),
        lambda mdef: fit_ols(prepared, mdef),
        progress,
    )

    estimability = {n: f.estimability for n, f in fits.items()}
    uncorrelated: dict[ModelName, MixedFit] = {}
    if final.needs_uncorrelated(estimability):
        # every rung with random slopes in the uncorrelated form, so that the ladder's rungs
        # (and their likelihood-ratio tests) share one random part if it is chosen
        for model_name, fit in fits.items():
            if len(fit.mdef.random) > 1:
                started = time.perf_counter()
                uncorrelated[model_name] = optimize_mixed(
                    prepared, replace(fit.mdef, diagonal=True)
                )
                progress(
                    f"  {model_name.label + ', uncorrelated':<28} "
                    f"{time.perf_counter() - started:6.2f} s"
                )
    full = final.full_model(set(fits))
    choice = final.choose_path(
        estimability, uncorrelated[full].estimability if full in uncorrelated else None
    )
    if choice.uncorrelated:
        for model_name, fit in uncorrelated.items():
            fits[model_name] = replace(fit, notes=(UNCORRELATED_NOTE,))
    name, reason = choice.model, choice.reason
    chosen = fits[name]
    sol, sums = chosen.sol, chosen.sums
    started = time.perf_counter()
    extras = final_extras(prepared, chosen)
    progress(f"  {'final-model statistics':<24} {time.perf_counter() - started:6.2f} s")
    for model_name, fit in fits.items():
        models[model_name] = mixed_result(
            prepared, fit, models.get(ModelName.NULL), extras if model_name == name else None
        )
    cov = np.array(models[name].fixed_cov)
    slopes, regions = final.simple_slopes(
        prepared, chosen.mdef.fixed, sol.beta, cov, extras.df_of, list(prepared.spec.interactions)
    )
    same_fixed = {
        tuple(f.mdef.random): f.reml.deviance
        for f in fits.values()
        if f.mdef.fixed == chosen.mdef.fixed
        and f.reml.verified
        and (f.mdef.diagonal == chosen.mdef.diagonal or len(f.mdef.random) == 1)
    }
    tests = final.component_tests(
        prepared,
        chosen.mdef.fixed,
        chosen.mdef.random,
        sums,
        chosen.reml.deviance,
        same_fixed,
        chosen.mdef.diagonal,
    )
    joint = final.joint_tests(
        prepared,
        chosen.mdef.fixed,
        sol.beta,
        cov,
        lambda L: stats.f_from_df(sol.beta, cov, L, chosen.df_of),
    )
    ordered = {n: models[n] for n in MODEL_ORDER if n in models}

    def tau00(fixed: list[str]) -> float:  # a random-intercept fit on the group sums: cheap
        if fixed == [INTERCEPT]:
            return models[ModelName.NULL].variance(INTERCEPT)
        reduced = lmm.model_sums(prepared.sums, fixed, [INTERCEPT])
        sol = lmm.solve(optimize.find_optimum(reduced, True).theta, reduced, reml=True)
        return float(sol.sigma2 * sol.theta[0] ** 2)

    explained = final.intercept_variance_explained(
        prepared, models[ModelName.RANDOM_INTERCEPT].variance(INTERCEPT), tau00
    )
    return Ladder(
        ordered,
        name,
        reason,
        tuple(tests),
        tuple(slopes),
        tuple(regions),
        final.liberal_tests(prepared.spec, choice.slope_dropped),
        tuple(joint),
        explained,
    )
