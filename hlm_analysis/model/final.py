"""The final model: which one the report stands on, and the statistics only it needs.

The rule (written out in results.json as `final_model_reason`): the full configured model (every
predictor, interaction and contextual effect, with the configured random slopes), simplified only
where a part cannot be estimated (a singular fit or an optimum that cannot be verified), and then
said so. A singular correlated random slope (a correlation of +-1, a zero slope variance) is
first refitted in its uncorrelated form, lme4's (1 + x || g), and only dropped when that is
singular too; then the model-based test of a cross-level interaction with it is too liberal and
the cluster-robust (CR2) test should lead (results.json: `liberal_cross_level_tests`). A random
slope of a variable in a cross-level interaction stays in even when its variance test is weak: dropping it makes the interaction's test too liberal (Heisig & Schaeffer 2019,
Eur. Sociol. Rev. 35). Whether slopes differ between groups is then judged from the test of the
slope in the final model, not from a model without the interaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import distributions
from ..data import Prepared
from ..results import (
    INTERCEPT,
    ComponentTest,
    Design,
    InterceptVarianceExplained,
    JohnsonNeyman,
    JointTest,
    ModelName,
    ModelResult,
    SimpleSlope,
    SlopeVarianceExplained,
    TermKind,
    VariableKind,
)
from . import lmm, optimize, stats


def full_model(names: set[ModelName]) -> ModelName:
    for name in (ModelName.INTERACTION, ModelName.RANDOM_SLOPE):
        if name in names:
            return name
    return ModelName.RANDOM_INTERCEPT


def reduced_model(full: ModelName) -> ModelName:
    """The same fixed part with a random intercept only."""
    return (
        ModelName.INTERACTION_INTERCEPT
        if full == ModelName.INTERACTION
        else ModelName.RANDOM_INTERCEPT
    )


@dataclass(frozen=True)
class Estimability:
    """What the optimizer found about one mixed model, enough to apply the rule."""

    verified: bool
    singular_terms: tuple[str, ...]
    random_terms: tuple[str, ...]


@dataclass(frozen=True)
class Choice:
    """The final model, the reason in words, and the path taken to it."""

    model: ModelName
    reason: str
    uncorrelated: bool = False  # the slope models stand in their uncorrelated form (1 + x || g)
    slope_dropped: bool = False  # the configured random slopes could not stay (random intercept)


def choose(fits: dict[ModelName, Estimability]) -> tuple[ModelName, str]:
    """The final model and the reason, in words (no user text: the report escapes nothing here)."""
    choice = choose_path(fits)
    return choice.model, choice.reason


def _slopes_singular(state: Estimability) -> bool:
    return len(state.random_terms) > 1 and any(t != INTERCEPT for t in state.singular_terms)


def needs_uncorrelated(fits: dict[ModelName, Estimability]) -> bool:
    """Whether the full model's random slope is singular (a zero slope variance or a correlation
    of +-1), so that its uncorrelated form, lme4's (1 + x || g), is to be tried before the
    slope is dropped."""
    return _slopes_singular(fits[full_model(set(fits))])


def choose_path(
    fits: dict[ModelName, Estimability], uncorrelated: Estimability | None = None
) -> Choice:
    """The rule, with the uncorrelated form of the full model (`uncorrelated`, fitted when
    `needs_uncorrelated`) between the correlated random slope and dropping it: a singular
    correlation (often at +-1 with few groups) should not cost the slope, whose absence would
    make a cross-level interaction's test too liberal."""
    full = full_model(set(fits))
    state = fits[full]
    if (
        _slopes_singular(state)
        and uncorrelated is not None
        and uncorrelated.verified
        and not uncorrelated.singular_terms
    ):
        return Choice(
            full,
            f"The report rests on {_what(full, state)} in its uncorrelated form (lme4's "
            "(1 + x || g)): with the correlation between intercept and slope estimated the fit "
            "was singular (a correlation of +-1 or a zero slope variance); without that "
            "correlation every part could be estimated, so the slope stays in.",
            uncorrelated=True,
        )
    choice = _choose(fits)
    if choice.slope_dropped and uncorrelated is not None:
        tried = (
            "its slope variance is zero there too"
            if uncorrelated.singular_terms
            else "its optimum could not be verified"
        )
        choice = Choice(
            choice.model,
            choice.reason + f" The uncorrelated form (1 + x || g) was tried first: {tried}.",
            slope_dropped=True,
        )
    return choice


def _what(full: ModelName, state: Estimability) -> str:
    return {
        ModelName.INTERACTION: "the full configured model (all predictors and interactions"
        + (", with random slopes)" if len(state.random_terms) > 1 else ")"),
        ModelName.RANDOM_SLOPE: "the full configured model (all predictors, with random slopes)",
        ModelName.RANDOM_INTERCEPT: "the full configured model (all predictors, random intercept)",
    }[full]


def _choose(fits: dict[ModelName, Estimability]) -> Choice:
    full = full_model(set(fits))
    state = fits[full]
    what = _what(full, state)
    if state.verified and not state.singular_terms:
        return Choice(full, f"The report rests on {what}: every part of it could be estimated.")
    slopes = [t for t in state.singular_terms if t != INTERCEPT]
    if len(state.random_terms) > 1 and (slopes or not state.verified):
        reduced = reduced_model(full)
        if reduced in fits and fits[reduced].verified:
            problem = (
                "its random slope variance is estimated at the boundary (zero variance or a "
                "perfect correlation)"
                if slopes
                else "its optimum could not be verified"
            )
            return Choice(
                reduced,
                f"The report rests on {what.replace('the full configured model', 'the configured model')} "
                f"simplified to a random intercept: {problem}, so the slope cannot be estimated "
                "from these data. The fixed part, with every predictor and interaction, is kept.",
                slope_dropped=True,
            )
    if not state.verified:
        return Choice(
            full,
            f"The report rests on {what}, but its optimum could not be verified and nothing "
            "simpler could stand in for it without dropping a research question: its numbers are "
            "provisional.",
        )
    return Choice(
        full,
        # no nouns here (the rule sees fits only); the presentation names the groups
        f"The report rests on {what}. The between-group variance is estimated at zero "
        "(a singular fit): once the predictors are in, these data cannot tell the groups apart "
        "(which does not show that they are all alike).",
    )


def zero_variance_words(prepared: Prepared, levels: list[str]) -> str:
    """The sentence for intercept variances estimated at zero, in the configured nouns. A
    variance at zero says the data cannot tell the groups apart, not that they are alike (its
    interval reaches above zero), so it claims no sameness."""

    def noun(level: str) -> str:
        given = prepared.spec.noun_at(level)
        if given:
            return given
        label = prepared.spec.label(level)
        # a label as a noun mid-sentence ("Hospital" -> "hospital"); an acronym stays
        return label[0].lower() + label[1:] if label[1:2].islower() else label

    nouns = [noun(lv) for lv in levels]
    where = " and ".join(f"the {n} level" for n in nouns)
    apart = ", nor ".join(f"one {n} from another" for n in nouns)
    return (
        f" The variance at {where} is estimated at zero (a singular fit): once the predictors "
        f"are in, these data cannot tell {apart} (which does not show that they are all alike)."
    )


def std_estimates(prepared: Prepared, terms: list[str], beta: np.ndarray) -> list[float | None]:
    """Each coefficient in outcome SDs: numeric columns per SD of the column as it enters the
    model (for a group-mean centred predictor that is the within-group SD), dummies and 0/1
    indicators per switch (a standardized mean difference). The outcome SD is the total SD of
    the analysis sample. Product terms get none: scaled by the SD of a product they mean nothing
    (their simple slopes are standardized instead)."""
    sums = prepared.sums
    sd_y = sums.sd(sums.outcome)
    out: list[float | None] = []
    for term, b in zip(terms, beta, strict=True):
        t = prepared.design.term(term)
        binary = t.variable is not None and prepared.design.variable(t.variable).binary
        if t.kind in (TermKind.INTERCEPT, TermKind.INTERACTION):
            out.append(None)
        elif t.kind == TermKind.DUMMY or binary:
            out.append(float(b / sd_y))
        else:
            out.append(float(b * sums.sd(term) / sd_y))
    return out


def two_values(sums, name: str) -> tuple[float, float] | None:
    """The two values of a numeric column that takes only two (low, high), else None; from the
    sums alone, so every data path agrees: with a and b its smallest and largest values, each
    row's (x - a)(x - b) is <= 0, and their sum is 0 exactly when every row is a or b."""
    a, b = sums.range(name)
    if not b > a:
        return None
    i, one = sums.index([name, sums.names[1]])
    total = sums.total
    spread = total[i, i] - (a + b) * total[i, one] + sums.n * a * b
    return (a, b) if abs(spread) <= 1e-9 * sums.n * (b - a) ** 2 else None


def moderator_settings(prepared: Prepared, moderator: str) -> list[tuple[str, float | None, dict]]:
    """(label, number, {moderator term: value}) for each moderator value the slopes are shown at."""
    variable = prepared.design.variable(moderator)
    if variable.kind == VariableKind.CATEGORICAL:
        out = [(variable.levels[0], None, {t: 0.0 for t in variable.terms})]
        for level, term in zip(variable.levels[1:], variable.terms, strict=True):
            out.append((level, None, {t: float(t == term) for t in variable.terms}))
        return out
    two = two_values(prepared.sums, moderator)
    if two is not None:  # coded 1/2 (or any two numbers): mean ± 1 SD would be values no row has
        return [(f"{v:g}", v, {moderator: v}) for v in two]
    m, sd = prepared.sums.mean(moderator), prepared.sums.sd(moderator)
    return [
        ("mean − 1 SD", m - sd, {moderator: m - sd}),
        ("mean", m, {moderator: m}),
        ("mean + 1 SD", m + sd, {moderator: m + sd}),
    ]


def _roles(design: Design, interaction: str) -> tuple[str, str] | None:
    """(focal, moderator) of a two-way interaction: the numeric variable is focal; with two of a
    kind, the first one written."""
    parts = interaction.split(":")
    if len(parts) != 2:
        return None
    kinds = [design.variable(p).kind for p in parts]
    if kinds[0] != VariableKind.NUMERIC and kinds[1] == VariableKind.NUMERIC:
        return parts[1], parts[0]
    return parts[0], parts[1]


def slope_contrast(
    design: Design, index: dict[str, int], focal_term: str, values: dict[str, float]
) -> np.ndarray:
    """The contrast over beta that gives the slope of `focal_term` where the moderator terms take
    `values`: its own coefficient plus each two-way product with a moderator term times its value."""
    c = np.zeros(len(index))
    c[index[focal_term]] = 1.0
    for term in design.terms:
        if term.kind == TermKind.INTERACTION and term.name in index and focal_term in term.parts:
            others = [p for p in term.parts if p != focal_term]
            if len(others) == 1 and others[0] in values:
                c[index[term.name]] = values[others[0]]
    return c


def moderators_of(design: Design, variable: str, interactions: list[str]) -> list[str]:
    return [
        other
        for interaction in interactions
        for other in interaction.split(":")
        if variable in interaction.split(":") and other != variable
        and len(interaction.split(":")) == 2
    ]  # fmt: skip


def simple_slopes(
    prepared: Prepared,
    terms: list[str],
    beta: np.ndarray,
    cov: np.ndarray,
    df_of,  # contrasts (m, p) -> Satterthwaite df (m,)
    interactions: list[str],
) -> tuple[list[SimpleSlope], list[JohnsonNeyman]]:
    design = prepared.design
    index = {t: i for i, t in enumerate(terms)}
    slopes: list[SimpleSlope] = []
    regions: list[JohnsonNeyman] = []
    for interaction in interactions:
        roles = _roles(design, interaction)
        if roles is None:
            continue
        focal, moderator = roles
        settings = moderator_settings(prepared, moderator)
        rows, meta = [], []
        for focal_term in design.variable(focal).terms:
            for label, number, values in settings:
                rows.append(slope_contrast(design, index, focal_term, values))
                meta.append((focal_term, label, number))
        L = np.array(rows)
        estimate = L @ beta
        se = np.sqrt(np.einsum("ip,pq,iq->i", L, cov, L))
        df = df_of(L)
        statistic, p, low, high = stats.t_table(estimate, se, df)
        for (focal_term, label, number), e, s, d, pv, lo, hi in zip(
            meta, estimate, se, df, p, low, high, strict=True
        ):
            slopes.append(
                SimpleSlope(
                    interaction,
                    focal_term,
                    moderator,
                    label,
                    float(e),
                    float(s),
                    float(d) if np.isfinite(d) else None,
                    float(lo),
                    float(hi),
                    float(pv),
                    number,
                )
            )
        if design.variable(moderator).kind == VariableKind.NUMERIC and len(rows) == 3:
            product = next(
                t.name
                for t in design.terms
                if t.kind == TermKind.INTERACTION and set(t.parts) == {focal, moderator}
            )
            df_product = df_of(np.eye(len(terms))[[index[product]]])[0]
            low, high = prepared.sums.range(moderator)
            regions.append(
                johnson_neyman(
                    interaction,
                    focal,
                    moderator,
                    beta[[index[focal], index[product]]],
                    cov[np.ix_([index[focal], index[product]], [index[focal], index[product]])],
                    df_product,
                    low,
                    high,
                )
            )
    return slopes, regions


def johnson_neyman(
    interaction, focal, moderator, b: np.ndarray, V: np.ndarray, df: float, lo: float, hi: float
) -> JohnsonNeyman:
    """Where b0 + b1 m differs from zero at 5%: (b0 + b1 m)^2 = t^2 (V00 + 2 m V01 + m^2 V11)."""
    t2 = distributions.t_ppf(0.975, df if np.isfinite(df) else 1e9) ** 2
    a = b[1] ** 2 - t2 * V[1, 1]
    bb = 2 * (b[0] * b[1] - t2 * V[0, 1])
    c = b[0] ** 2 - t2 * V[0, 0]
    disc = bb**2 - 4 * a * c
    roots = (
        ()
        if disc < 0 or a == 0
        else tuple(sorted((-bb + s * disc**0.5) / (2 * a) for s in (-1, 1)))
    )
    # a < 0: the quadratic is positive (significant) between the roots; a > 0: outside them
    return JohnsonNeyman(
        interaction, focal, moderator, tuple(map(float, roots)), bool(a < 0), lo, hi
    )


def component_tests(
    prepared: Prepared,
    fixed: list[str],
    random: list[str],
    sums: lmm.GroupSums,
    deviance: float,
    fitted: dict[tuple[str, ...], float] | None = None,
    diagonal: bool = False,
) -> list[ComponentTest]:
    """REML likelihood-ratio test of each random component of the final model against the same
    model without it (chi-bar-square 50:50 mixture for a variance at its boundary), as
    lmerTest::ranova reduces terms: a slope is dropped with its covariances; the intercept is
    tested when it is the only random term (against the model with no group effects).
    `fitted` maps random parts already fitted (verified) with the same fixed part to their
    REML deviance, so the ladder's own random-intercept fit is not fitted again."""
    fitted = fitted or {}
    out = []
    if random == [INTERCEPT]:
        zero = lmm.deviance(np.zeros(1), sums, reml=True)
        stat = max(zero - deviance, 0.0)
        out.append(
            ComponentTest(
                INTERCEPT,
                float(stat),
                1,
                stats.chibar_p(stat, 1),
                "the same fixed effects without group differences",
            )
        )
        return out
    for term in random[1:]:
        kept = [t for t in random if t != term]
        if tuple(kept) in fitted:
            reduced_deviance = fitted[tuple(kept)]
        else:
            reduced = lmm.model_sums(prepared.sums, fixed, kept)
            reduced_deviance = optimize.find_optimum(reduced, True, diagonal=diagonal).deviance
        # the uncorrelated model loses one variance per slope; the correlated one its covariances too
        df = len(stats.variance_parameters(len(random), diagonal)) - len(
            stats.variance_parameters(len(kept), diagonal)
        )
        stat = max(reduced_deviance - deviance, 0.0)
        out.append(
            ComponentTest(
                term,
                float(stat),
                df,
                stats.chibar_p(stat, df),
                "the same model without this random slope",
            )
        )
    return out


def group_lines(
    prepared: Prepared, fixed: list[str], beta: np.ndarray, random: list[str], modes: np.ndarray
) -> tuple[tuple[float, float], ...]:
    """Each group's own line for the first random slope (HLM's group-specific coefficients):
    intercept and slope from the fixed part at the group's own level-2 values (so a moderator
    such as sector moves the group's line as the model says), plus the group's random effects.
    Other level-1 predictors are held at their means, text ones at their reference level, as in
    the average lines drawn beside them."""
    if len(random) < 2:
        return ()
    design = prepared.design
    slope = random[1]
    sums = prepared.sums
    base: dict[str, np.ndarray] = {}
    for term in fixed:
        t = design.term(term)
        if t.kind in (TermKind.INTERCEPT, TermKind.INTERACTION) or term == slope:
            continue
        variable = design.variable(t.variable)
        if variable.group_level:
            base[term] = sums.group_totals(term) / sums.counts
        elif t.kind == TermKind.DUMMY:
            base[term] = np.zeros(prepared.n_groups)
        else:
            base[term] = np.full(prepared.n_groups, sums.mean(term))

    def design_rows(x: float) -> np.ndarray:
        values = {**base, slope: np.full(prepared.n_groups, x)}

        def value(term: str) -> np.ndarray:
            t = design.term(term)
            if t.kind == TermKind.INTERCEPT:
                return np.ones(prepared.n_groups)
            if t.kind == TermKind.INTERACTION:
                return np.prod([value(part) for part in t.parts], axis=0)
            return values.get(term, np.zeros(prepared.n_groups))

        return np.column_stack([value(term) for term in fixed])

    at0, at1 = design_rows(0.0) @ beta, design_rows(1.0) @ beta
    intercepts = at0 + modes[:, 0]
    slopes = at1 - at0 + modes[:, 1]
    return tuple((float(a), float(b)) for a, b in zip(intercepts, slopes, strict=True))


def liberal_tests(spec, slope_dropped: bool) -> tuple[str, ...]:
    """The cross-level interactions whose model-based test is too liberal because the random
    slope of their level-1 variable could not stay in the final model (Heisig & Schaeffer 2019)."""
    if not slope_dropped:
        return ()
    slopes = set(spec.slope_variables)
    return tuple(i for i in spec.interactions if slopes & set(i.split(":")))


def joint_tests(prepared: Prepared, terms: list[str], beta: np.ndarray, cov: np.ndarray, f_test):
    """Joint tests of every predictor (or interaction) with more than one term in the final
    model: the dummies of a factor with three or more levels, and its product terms. `f_test`
    (contrast matrix -> (F, df_num, df_den)) gives lmerTest's Satterthwaite F; None: a Wald
    chi-square (binary models), (L b)'(L V L')^-1 (L b) on rank(L) df."""
    index = {t: i for i, t in enumerate(terms)}
    sets = [
        (v.name, [t for t in v.terms if t in index])
        for v in prepared.design.variables
        if v.kind == VariableKind.CATEGORICAL
    ]
    sets += [
        (i, [t for t in prepared.terms_of[i] if t in index]) for i in prepared.spec.interactions
    ]
    out = []
    for predictor, members in sets:
        if len(members) < 2:
            continue
        L = np.eye(len(terms))[[index[t] for t in members]]
        if f_test is not None:
            statistic, df_num, df_den = f_test(L)
            p = float(distributions.f_sf(statistic, df_num, df_den))
            method = "Satterthwaite F"
        else:
            b, V = L @ beta, L @ cov @ L.T
            statistic, df_num, df_den = float(b @ np.linalg.solve(V, b)), len(members), None
            p = float(distributions.chi2_sf(statistic, df_num))
            method = "Wald chi-square"
        out.append(
            JointTest(predictor, tuple(members), float(statistic), int(df_num),
                      df_den, p, method)
        )  # fmt: skip
    return out


def slope_variance_explained(
    prepared: Prepared, models: dict[ModelName, ModelResult], final_name: ModelName
) -> list[SlopeVarianceExplained]:
    """For each random slope in a cross-level interaction: how much of its variance the
    interactions explain, from the random-slope model (without them) to the interaction model
    (with them), both as fitted in the ladder with the same random part. Only when the final
    model keeps the slopes: a slope variance at the boundary explains nothing."""
    without, with_ = models.get(ModelName.RANDOM_SLOPE), models.get(ModelName.INTERACTION)
    if final_name != ModelName.INTERACTION or without is None or with_ is None:
        return []
    if len(with_.random_terms) < 2 or with_.random_terms != without.random_terms:
        return []
    design = prepared.design
    out = []
    for term in with_.random_terms[1:]:
        variable = design.term(term).variable
        interactions = tuple(i for i in prepared.spec.interactions if variable in i.split(":"))
        if not interactions:
            continue
        moderators = tuple(
            dict.fromkeys(p for i in interactions for p in i.split(":") if p != variable)
        )
        tau_without, tau_with = without.variance(term), with_.variance(term)
        out.append(
            SlopeVarianceExplained(
                term, interactions, moderators, without.name, with_.name,
                float(tau_without), float(tau_with),
                float((tau_without - tau_with) / tau_without) if tau_without > 0 else None,
            )
        )  # fmt: skip
    return out


def intercept_variance_explained(
    prepared: Prepared, tau_with: float, fit_tau
) -> InterceptVarianceExplained | None:
    """tau00 of the random-intercept model with every predictor against the same model with the
    level-1 predictors only (`fit_tau(fixed terms)` fits that one and returns its tau00): the
    share of the between-group variance the level-2 predictors explain. None without level-2
    predictors."""
    design = prepared.design
    level2 = [v for v in prepared.predictors if design.variable(v).group_level]
    if not level2:
        return None
    level1 = [v for v in prepared.predictors if not design.variable(v).group_level]
    tau_without = float(fit_tau([INTERCEPT, *prepared.expand(level1)]))
    return InterceptVarianceExplained(
        tuple(level2),
        tau_without,
        float(tau_with),
        (tau_without - tau_with) / tau_without if tau_without > 0 else None,
    )
