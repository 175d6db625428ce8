"""The ladder for a yes/no outcome with several grouping levels, nested or crossed (issue 22).

The rungs and the final-model rule are multilevel.py's; the mixed models are fitted by the levels
engine's Laplace criterion (model/levels/binary.py, glmer's nAGQ = 1) from every row held in
memory, inference by z as glmer's summary, estimates on the logit scale with odds ratios and
average marginal effects as for one level (binomial.py). Two crossed factors are fitted by the
same criterion over the crossed block system (the logistic rungs cluster on the first factor,
as the linear ladder's cluster-robust OLS).

binomial.py's row-wise helpers (marginal effects, average predictions, fitted probabilities) take
one group code per row; here a row's code is its cell (one group at every level), and a cell's
effects are the sum of its groups' effects at every level, which is exactly each row's own part
of the linear predictor.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..data import Prepared
from ..results import (
    INTERCEPT,
    MODEL_ORDER,
    SINGLE_LEVEL,
    ComponentTest,
    GroupEffects,
    Icc,
    LevelResult,
    MedianOddsRatio,
    Method,
    ModelName,
    ModelResult,
)
from . import binomial, final, glmm, levels_profile, profile, stats
from .ladder import Ladder, ModelDef, Progress, _fixed_effects, fit_rungs, formula
from .ladder import variance_components as level_components
from .levels.binary import HESSIAN_THETA_FIXED
from .multilevel import (
    NOT_COMPUTED_NOTES,
    LevelsMixed,
    _levels,
    _n_variance,
    _noun,
    _with_levels,
    block_diag,
    choose,
    component_test,
    ladder,
    level_lines,
    random_part_reductions,
    variance_explained,
)

LATENT = binomial.LATENT_VARIANCE
ICC_PROFILE = "latent scale, profile likelihood, 95%"
ICC_WALD = "latent scale, Wald on the logit scale, 95%"
MOR_METHOD = "Merlo et al. (2006), from the intercept SD's {} interval"


def _outer_view(prepared: Prepared) -> Prepared:
    """The data seen as grouped by the outermost level alone, for the single-level rungs'
    cluster-robust SEs."""
    outer = _levels(prepared)[0]
    rows = replace(prepared.rows, group_codes=outer.codes[prepared.rows.group_codes])
    return replace(prepared, rows=rows, group_labels=list(outer.labels))


def fit_binary(prepared: Prepared, mdef: ModelDef) -> LevelsMixed:
    from .levels.binary import fit_binary_levels

    rows = prepared.rows
    levels = [lv for lv in _levels(prepared) if mdef.random_at(lv.name)]
    fit = fit_binary_levels(
        rows.y,
        rows.matrix(list(mdef.fixed)),
        [rows.matrix(mdef.random_at(lv.name)) for lv in levels],
        [lv.codes[rows.group_codes] for lv in levels],
        [len(lv.labels) for lv in levels],
        [lv.name for lv in levels],
        diagonal=set(mdef.diagonal_levels & {lv.name for lv in levels}) or False,
        crossed=prepared.levels.crossed and len(levels) == 2,
    )
    return LevelsMixed(mdef, fit, fit)  # one criterion: ML (Laplace)


def _loglik_without(prepared: Prepared, mdef: ModelDef, levels) -> float | None:
    """The Laplace log-likelihood of `mdef` with the random part `levels`; one level left: the
    two-level logistic engine (Laplace, as the levels engine; the same criterion)."""
    levels = [(name, terms) for name, terms in levels if terms]
    if not levels:
        return None
    rows = prepared.rows
    if len(levels) == 1:
        name, terms = levels[0]
        level = next(lv for lv in _levels(prepared) if lv.name == name)
        fit = glmm.fit_glmm(
            rows.y,
            rows.matrix(list(mdef.fixed)),
            rows.matrix(list(terms)),
            level.codes[rows.group_codes],
            nagq=1,
            diagonal=name in mdef.diagonal_levels,
        )
        return float(fit.loglik) if fit.verified else None
    fit = fit_binary(prepared, _with_levels(mdef, levels, mdef.diagonal_levels)).reml
    return float(fit.loglik) if fit.verified else None


def _cell_modes(prepared: Prepared, mdef: ModelDef, modes: dict) -> tuple[list[str], np.ndarray]:
    """Every random term once and each cell's summed effects of them over its levels."""
    random = list(mdef.random)
    out = np.zeros((len(prepared.group_labels), len(random)))
    for lv in _levels(prepared):
        terms = mdef.random_at(lv.name)
        if terms:
            values = np.asarray(modes[lv.name])[lv.codes]
            for j, term in enumerate(terms):
                out[:, random.index(term)] += values[:, j]
    return random, out


def _lrt(stat: float, df: int, level: str, reduced: str, term: str = INTERCEPT) -> ComponentTest:
    return component_test(stat, df, level, reduced, term)


def binary_result(prepared: Prepared, fit: LevelsMixed, null: ModelResult | None, is_final: bool):
    mdef, bfit = fit.mdef, fit.reml
    rows = prepared.rows
    levels = [lv for lv in _levels(prepared) if mdef.random_at(lv.name)]
    order = {lv.name: k for k, lv in enumerate(_levels(prepared))}
    is_null = mdef.name == ModelName.NULL
    # glmer's profile intervals of the SDs and correlations: the final model's variance
    # components, and the null model's (each level's median odds ratio, with its ICCs)
    intervals = (
        levels_profile.binary_levels_intervals(bfit, prepared.n_obs)
        if is_final or is_null
        else None
    )
    cov_beta = np.asarray(bfit.cov_beta)
    beta = np.asarray(bfit.beta)
    se = np.sqrt(np.diag(cov_beta))
    df = np.full(len(mdef.fixed), binomial.NORMAL)
    modes, cond = bfit.conditional()
    random, cell_modes = _cell_modes(prepared, mdef, modes)
    marginal = binomial.marginal_effects(
        prepared, rows, list(mdef.fixed), beta, cov_beta, random, cell_modes
    )
    re_cov = bfit.re_cov
    tau = {lv.name: float(re_cov[lv.name][0, 0]) for lv in levels}
    total = sum(tau.values()) + LATENT
    components, blocks, zz = [], [], []
    for lv in levels:
        terms = mdef.random_at(lv.name)
        components += level_components(
            lv.name, terms, np.asarray(re_cov[lv.name]), None,
            None if intervals is None else intervals[lv.name], lv.name in mdef.diagonal_levels,
        )  # fmt: skip
        blocks.append(np.asarray(re_cov[lv.name]))
        Z = rows.matrix(terms)
        zz.append(Z.T @ Z / len(Z))

    var_fixed = prepared.sums.quadratic_variance(list(mdef.fixed), beta)
    r2 = stats.nakagawa_r2(var_fixed, block_diag(blocks), block_diag(zz), LATENT)
    null_tau = (
        tau
        if null is None
        else {
            vc.group: vc.estimate
            for vc in null.variance_components
            if vc.term1 == INTERCEPT and vc.term2 is None
        }
    )
    shares = [tau[lv.name] / total for lv in levels]
    crossed = prepared.levels.crossed
    iccs = shares if crossed else list(np.cumsum(shares))
    icc_rows = _null_iccs(bfit, iccs, crossed, prepared.n_obs) if is_null else None
    results = []
    for i, lv in enumerate(levels):
        terms = mdef.random_at(lv.name)
        variances = np.clip(np.diag(np.asarray(re_cov[lv.name])), 0, None)
        cvar = np.diagonal(np.asarray(cond[lv.name]), axis1=1, axis2=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.where(variances > 0, np.clip(1 - cvar / variances, 0, 1), 0.0)
        reliability = {t: float(r) for t, r in zip(terms, lam.mean(axis=0), strict=True)}
        lrt = None
        if is_null:
            kept = [(n, t) for n, t in mdef.levels if n != lv.name]
            reduced = _loglik_without(prepared, mdef, kept)
            if reduced is not None:
                lrt = _lrt(2 * (bfit.loglik - reduced), 1, lv.name,
                           f"the null model without differences between "
                           f"{_noun(prepared, lv.name)} groups")  # fmt: skip
        before = null_tau.get(lv.name)
        results.append(
            LevelResult(
                level=lv.name,
                n_groups=len(lv.labels),
                terms=tuple(terms),
                variance_share=float(shares[i]) if is_null else None,
                icc=icc_rows[i] if icc_rows is not None else None,
                variance_explained=variance_explained(before, tau[lv.name]),
                reliability=reliability,
                reliability_mean=reliability.get(INTERCEPT),
                singular_terms=fit.singular_at(lv.name),
                group_effects=GroupEffects(
                    terms=tuple(terms),
                    groups=tuple(lv.labels),
                    estimate=tuple(map(tuple, np.asarray(modes[lv.name]).tolist())),
                    std_error=tuple(map(tuple, np.sqrt(np.clip(cvar, 0, None)).tolist())),
                    # the whole blocks: a difference at a slope variable's mean needs u0-u1 covariance
                    covariance=tuple(
                        tuple(map(tuple, c)) for c in np.asarray(cond[lv.name]).tolist()
                    ),
                    reliability=tuple(float(r) for r in lam[:, 0]),
                    lines=level_lines(prepared, mdef, beta, modes, order[lv.name])
                    if is_final
                    else (),
                ),
                parents=() if lv.parents is None else tuple(int(p) for p in lv.parents),
                lrt=lrt,
                median_odds_ratio=_median_odds_ratio(
                    tau[lv.name], None if intervals is None else intervals[lv.name][0]
                ),
            )
        )
    outer = results[0]
    notes = []
    if not bfit.verified:
        notes.append(
            "The maximum-likelihood optimum could not be verified; treat these estimates as "
            "provisional."
        )
    if bfit.cov_method == HESSIAN_THETA_FIXED:
        notes.append(
            "Standard errors hold the variance parameters fixed: the Hessian over all parameters "
            "was not positive definite (a boundary fit)."
        )
    averages = ()
    if is_final:
        notes += list(NOT_COMPUTED_NOTES)
        notes += _interval_notes(intervals)
        averages = binomial.average_predictions(
            prepared, rows, list(mdef.fixed), beta, cov_beta, random, cell_modes
        )
    singular_terms = tuple(dict.fromkeys(t for r in results for t in r.singular_terms))
    k = len(mdef.fixed) + _n_variance(mdef) - 1  # no residual variance
    return ModelResult(
        name=mdef.name,
        formula=formula(prepared, mdef),
        method=Method.ML_LOGIT,
        converged=bool(bfit.verified),
        optimizer=f"{bfit.optimizer} (Laplace)",
        loglik=float(bfit.loglik),
        n_obs=prepared.n_obs,
        n_groups=outer.n_groups,
        fixed_effects=binomial._with_odds_ratios(
            _fixed_effects(list(mdef.fixed), beta, se, df), marginal
        ),
        df_method="z (Wald)",
        variance_components=tuple(components),
        attempts=tuple(bfit.attempts),
        singular=bool(singular_terms),
        singular_terms=singular_terms,
        max_gradient=float(bfit.max_gradient),
        newton_decrement=float(bfit.decrement),
        ml_verified=bool(bfit.verified),
        **stats.likelihood_fields(float(bfit.loglik), k, prepared.n_obs),
        r2_marginal=r2["r2_marginal"],
        r2_conditional=r2["r2_conditional"],
        icc=outer.icc,
        icc_adjusted=r2["icc_adjusted"],
        icc_residual=float(tau[outer.level] / total),
        variance_explained_level2=outer.variance_explained,
        reliability=dict(outer.reliability),
        reliability_mean=outer.reliability_mean,
        fixed_cov=tuple(map(tuple, cov_beta)),
        random_terms=tuple(mdef.random),
        group_effects=outer.group_effects,
        notes=fit.notes + tuple(notes),
        family="binomial",
        nagq=1,
        median_odds_ratio=outer.median_odds_ratio,
        uncorrelated=bool(mdef.diagonal_levels),
        average_predictions=averages,
        levels=tuple(results),
        residual_share=float(LATENT / total) if is_null else None,
    )


def _null_iccs(bfit, iccs: list[float], crossed: bool, n_rows: int) -> list[Icc]:
    """Each level's latent ICC (nested: the level and every level outside it; crossed: its own
    share) with the profile-likelihood interval of that share, as the one-level ICC's."""
    k = len(iccs)
    sets = [[i] for i in range(k)] if crossed else [list(range(i + 1)) for i in range(k)]
    out = []
    for estimate, (low, high, note) in zip(
        iccs, levels_profile.binary_share_intervals(bfit, sets, n_rows), strict=True
    ):
        if np.isfinite(low) and np.isfinite(high):
            method = ICC_WALD if note and note.startswith("Wald") else ICC_PROFILE
        else:
            method = f"latent scale; {note}"
        out.append(Icc(float(estimate), float(low), float(high), method))
    return out


def _median_odds_ratio(tau00: float, interval: profile.Interval | None) -> MedianOddsRatio:
    """Merlo et al.'s MOR of a level, exp(sqrt(2 tau00) z_0.75), monotone in the intercept SD,
    so its limits are those of the SD's interval carried over."""
    mor = binomial.median_odds_ratio(tau00)
    if interval is None or interval.method is None:
        return MedianOddsRatio(mor, float("nan"), float("nan"), "Merlo et al. (2006)")
    return MedianOddsRatio(
        mor,
        binomial.median_odds_ratio(interval.low**2),
        binomial.median_odds_ratio(interval.high**2),
        MOR_METHOD.format("profile-likelihood" if interval.method == profile.PROFILE else "Wald"),
    )


def _interval_notes(intervals: dict | None) -> list[str]:
    """What the final model's notes say about its variance-component intervals, as for linear
    models with several levels (Wald stand-ins) and for one level (rows without one)."""
    if intervals is None:
        return []
    rows = [i for level in intervals.values() for i in level]
    notes = []
    wald = [i.note for i in rows if i.method == profile.WALD]
    if wald:
        every = len(wald) == sum(i.note != profile.NOT_A_PARAMETER for i in rows)
        notes.append(
            f"{'The' if every else 'Some'} intervals for the variance components are Wald "
            "intervals on the log-SD / atanh scale, not profile-likelihood intervals: "
            f"{wald[0].split(': ', 1)[-1]}."
        )
    missing = [i.note for i in rows if i.method is None and i.note != profile.NOT_A_PARAMETER]
    if missing:
        notes.append(
            "Some intervals for the variance components could not be computed: "
            + "; ".join(dict.fromkeys(n.removeprefix("no interval: ") for n in missing))
            + "."
        )
    return notes


def _component_tests(prepared: Prepared, fit: LevelsMixed) -> list[ComponentTest]:
    """Likelihood-ratio tests (Laplace ML) of the final model's random part per level: each
    slope and each level's whole term, with multilevel.component_test's references."""
    mdef, loglik = fit.mdef, fit.reml.loglik
    out = []
    for level, term, kept, df, reduced_model in random_part_reductions(mdef):
        reduced = _loglik_without(prepared, mdef, kept)
        if reduced is not None:
            out.append(_lrt(2 * (loglik - reduced), df, level, reduced_model, term))
    return out


def fit_binary_levels_ladder(prepared: Prepared, progress: Progress = lambda m: None) -> Ladder:
    definitions = ladder(prepared)
    sizes = ", ".join(f"{len(lv.labels):,} {lv.name}" for lv in _levels(prepared))
    progress(
        f"hlm-report: fitting {len(definitions)} logistic models of {prepared.spec.name} "
        f"({prepared.n_obs:,} rows; {sizes})"
    )
    single = _outer_view(prepared)
    fits, models = fit_rungs(
        definitions,
        lambda mdef: fit_binary(prepared, mdef),
        lambda mdef: binomial.fit_logistic(single, mdef),
        progress,
    )
    fits, name, reason, dropped = choose(prepared, fits, progress, fitter=fit_binary)
    chosen = fits[name]
    models[ModelName.NULL] = binary_result(prepared, fits[ModelName.NULL], None, False)
    for model_name, fit in fits.items():
        if model_name != ModelName.NULL:
            models[model_name] = binary_result(
                prepared, fit, models[ModelName.NULL], model_name == name
            )
    cov = np.array(models[name].fixed_cov)
    beta = np.asarray(chosen.reml.beta)
    slopes, regions = final.simple_slopes(
        prepared, list(chosen.mdef.fixed), beta, cov,
        lambda contrasts: np.full(len(np.atleast_2d(contrasts)), binomial.NORMAL),
        list(prepared.spec.interactions),
    )  # fmt: skip
    joint = final.joint_tests(prepared, list(chosen.mdef.fixed), beta, cov, None)
    ordered = {n: models[n] for n in MODEL_ORDER if n in models}
    assert SINGLE_LEVEL["binomial"][0] in ordered
    return Ladder(
        ordered,
        name,
        reason,
        tuple(_component_tests(prepared, chosen)),
        tuple(slopes),
        tuple(regions),
        final.liberal_tests(prepared.spec, dropped),
        tuple(joint),
        None,
    )
