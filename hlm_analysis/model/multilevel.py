"""The model ladder for several grouping levels (issue 22): three-level, growth and crossed data.

The rungs are the two-level ladder's (ladder.py): OLS, OLS clustered on the outermost level, the
null model (an intercept at every level), the random intercepts, random slopes at the levels the
config names, and the interaction models. Every mixed model is fitted by the levels engine
(model/levels: exact REML and ML from the cell sums, verified optima, lmerTest's Satterthwaite
df); this module turns the fits into results per level and applies the final-model rule per level:
a singular slope at one level is first made uncorrelated at that level and only then dropped
there, and the reason names the level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from .. import rules
from ..data import Prepared
from ..data.sums import DesignSums
from ..results import (
    INTERCEPT,
    MODEL_ORDER,
    SINGLE_LEVEL,
    ComponentTest,
    GroupEffects,
    Icc,
    LevelResult,
    Method,
    ModelName,
    ModelResult,
    Reference,
    VarianceComponent,
)
from . import final, levels_profile, lmm, optimize, profile, robust, stats
from .ladder import (
    Ladder,
    ModelDef,
    Progress,
    _finite,
    _fixed_effects,
    fit_ols,
    fit_rungs,
    formula,
)
from .ladder import variance_components as level_components

# Everything issue 22 asks for is computed (contextual effects at every level since the
# mapping form of `contextual:`); kept for what a later gap would say
NOT_COMPUTED_NOTES: tuple[str, ...] = ()
ICC_INTERVAL = "Wald on the logit scale (delta method, REML curvature), 95%"


def block_diag(blocks) -> np.ndarray:
    """The square blocks (one per level) on the diagonal of one matrix, zeros elsewhere: the
    random-effect covariance and mean Z'Z over all levels for Nakagawa's R²."""
    size = sum(len(b) for b in blocks)
    out, at = np.zeros((size, size)), 0
    for b in blocks:
        out[at : at + len(b), at : at + len(b)] = b
        at += len(b)
    return out


def _levels(prepared: Prepared):
    return prepared.levels.levels


def outer_clusters(prepared: Prepared):
    """(groups, DesignSums of the outermost level's groups, cell codes -> outer codes) for the
    cluster-robust OLS: clusters are the outermost level's groups (a crossed design's first)."""
    outer = _levels(prepared)[0]
    n_outer = len(outer.labels)
    return n_outer, prepared.sums.collapse(outer.codes, n_outer), lambda cells: outer.codes[cells]


def ladder(prepared: Prepared) -> list[ModelDef]:
    spec = prepared.spec
    names = spec.levels
    main = [INTERCEPT, *prepared.expand(prepared.predictors)]
    slopes = {level: (INTERCEPT, *prepared.expand(spec.slopes_at(level))) for level in names}
    intercepts = tuple((level, (INTERCEPT,)) for level in names)
    with_slopes = tuple((level, slopes[level]) for level in names)
    has_slopes = any(len(terms) > 1 for terms in slopes.values())

    def mdef(name: ModelName, fixed: list[str], levels) -> ModelDef:
        random = list(dict.fromkeys(t for _, terms in levels for t in terms))
        return ModelDef(name, fixed, random, levels=levels)

    single, clustered = SINGLE_LEVEL[spec.family]
    models = [
        ModelDef(single, main, []),
        ModelDef(clustered, main, []),
        mdef(ModelName.NULL, [INTERCEPT], intercepts),
        mdef(ModelName.RANDOM_INTERCEPT, main, intercepts),
    ]
    if has_slopes:
        models.append(mdef(ModelName.RANDOM_SLOPE, main, with_slopes))
    if spec.interactions:
        extra = [v for t in spec.interactions for v in t.split(":") if v not in prepared.predictors]
        fixed = list(
            dict.fromkeys([*main, *prepared.expand(extra), *prepared.expand(spec.interactions)])
        )
        if has_slopes:
            models.append(mdef(ModelName.INTERACTION_INTERCEPT, fixed, intercepts))
        models.append(mdef(ModelName.INTERACTION, fixed, with_slopes if has_slopes else intercepts))
    return models


def _with_levels(mdef: ModelDef, levels, diagonal: frozenset[str]) -> ModelDef:
    random = list(dict.fromkeys(t for _, terms in levels for t in terms))
    # an intercept alone has no correlation to leave out
    diagonal = frozenset(lv for lv, terms in levels if lv in diagonal and len(terms) > 1)
    return replace(mdef, random=random, levels=tuple(levels), diagonal_levels=diagonal)


# ---------------------------------------------------------------------------------------------
# Fitting


def _engine(prepared: Prepared, mdef: ModelDef, reml: bool, start=None):
    from .levels import fit_levels

    levels = _levels(prepared)
    keep = [lv for lv in levels if mdef.random_at(lv.name)]
    return fit_levels(
        prepared.sums,
        [lv.codes for lv in keep],
        [len(lv.labels) for lv in keep],
        [lv.name for lv in keep],
        crossed=prepared.levels.crossed and len(keep) == 2,
        fixed=list(mdef.fixed),
        random={lv.name: [t for t in mdef.random_at(lv.name) if t != INTERCEPT] for lv in keep},
        reml=reml,
        diagonal=set(mdef.diagonal_levels & {lv.name for lv in keep}) or False,
        start=start,
    )


@dataclass(frozen=True)
class LevelsMixed:
    """A mixed model's verified REML fit and its ML refit (AIC, BIC, LRTs)."""

    mdef: ModelDef
    reml: object  # levels.LevelsFit
    ml: object
    notes: tuple[str, ...] = ()

    def singular_at(self, level: str) -> tuple[str, ...]:
        terms = self.mdef.random_at(level)
        return tuple(terms[i] for i in self.reml.singular.get(level, ()))


def fit_mixed(prepared: Prepared, mdef: ModelDef) -> LevelsMixed:
    reml = _engine(prepared, mdef, True)
    # the ML refit starts at the REML optimum, which is close
    ml = _engine(prepared, mdef, False, start=reml.theta)
    return LevelsMixed(mdef, reml, ml)


def _deviance_without(prepared: Prepared, mdef: ModelDef, levels) -> float | None:
    """The REML deviance of `mdef` with the random part `levels` (some terms or levels left
    out); None when that fit cannot be verified. One level left: the two-level engine on the
    cell sums collapsed to that level's groups (the same criterion, lme4's)."""
    levels = [(name, terms) for name, terms in levels if terms]
    if not levels:
        return None
    if len(levels) == 1:
        name, terms = levels[0]
        level = next(lv for lv in _levels(prepared) if lv.name == name)
        collapsed = prepared.sums.collapse(level.codes, len(level.labels))
        # a slope far from zero (calendar years) goes to the levels engine, which fits it
        # centred: here, on raw sums, the two-level engine's deviance was noise of ~2e-5 and
        # once (DuckDB's summation order) a verified optimum 1e-3 short, so one component test
        # differed between two runs of the same lake (112.1034 and 112.1024; lme4 112.1024)
        if not lmm.far_from_zero(collapsed, list(terms)):
            sums = lmm.model_sums(collapsed, mdef.fixed, list(terms))
            found = optimize.find_optimum(sums, True, diagonal=name in mdef.diagonal_levels)
            if found.verified:
                return found.deviance
    fit = _engine(prepared, _with_levels(mdef, levels, mdef.diagonal_levels), True)
    return fit.deviance if fit.verified else None


def _n_variance(mdef: ModelDef) -> int:
    """Variance parameters of the random part (covariances included) and the residual."""
    return 1 + sum(
        len(stats.variance_parameters(len(terms), name in mdef.diagonal_levels)) - 1
        for name, terms in mdef.levels
    )


# ---------------------------------------------------------------------------------------------
# Results


def _noun(prepared: Prepared, level: str) -> str:
    return prepared.spec.noun_at(level) or prepared.spec.label(level)


def _icc_interval(fit, shares_of) -> list[tuple[float, float]]:
    """Each level's ICC with a Wald interval on the logit scale: the null model's ICCs depend
    on theta alone (sigma cancels), so the curvature of the profiled REML deviance in theta
    gives their covariance (2 H^-1) and the delta method their SEs. A variance at zero has no
    interval (NaN)."""
    from . import numderiv

    theta = np.asarray(fit.theta, float)
    estimates = shares_of(theta)
    out = [(float("nan"), float("nan"))] * len(estimates)
    if np.any(np.abs(theta) < 1e-4):
        return out
    try:
        H = numderiv.hessian_richardson(lambda t: fit.model.deviance(t, True), theta)
        cov = 2.0 * np.linalg.inv(H)
        if np.any(np.linalg.eigvalsh(cov) <= 0):
            return out
    except (np.linalg.LinAlgError, ValueError):
        return out

    def logit(x):
        return np.log(x / (1 - x))

    jac = numderiv.jacobian(lambda t: logit(shares_of(t)), theta)
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, cov, jac), 0, None))
    z = 1.959963984540054
    for i, icc in enumerate(estimates):
        if 0 < icc < 1 and np.isfinite(se[i]):
            centre = logit(icc)
            out[i] = (float(1 / (1 + np.exp(-(centre - z * se[i])))),
                      float(1 / (1 + np.exp(-(centre + z * se[i])))))  # fmt: skip
    return out


def _null_level_stats(prepared: Prepared, fit: LevelsMixed, tau: dict, sigma2: float):
    """Variance shares, ICCs (with intervals), the design effect and each level's LRT."""
    names = [name for name, _ in fit.mdef.levels]
    crossed = prepared.levels.crossed
    total = sum(tau.values()) + sigma2
    shares = [tau[name] / total for name in names]
    iccs = shares if crossed else list(np.cumsum(shares))

    def iccs_of(theta):  # null model: theta_l = sqrt(tau_l) / sigma, one per level
        t2 = np.asarray(theta, float) ** 2
        s = t2 / (t2.sum() + 1)
        return s if crossed else np.cumsum(s)

    intervals = _icc_interval(fit.reml, iccs_of)
    design = None
    if not crossed:  # Kish's design effect of a multistage sample with the mean group sizes
        sizes = [prepared.n_obs / len(lv.labels) for lv in _levels(prepared)] + [1.0]
        design = 1.0 + sum((sizes[i] - sizes[i + 1]) * iccs[i] for i in range(len(names)))
    tests = []
    for name in names:
        kept = [(n, t) for n, t in fit.mdef.levels if n != name]
        reduced = _deviance_without(prepared, fit.mdef, kept)
        if reduced is None:
            tests.append(None)
            continue
        stat = max(reduced - fit.reml.deviance, 0.0)
        tests.append(
            ComponentTest(
                INTERCEPT,
                float(stat),
                1,
                stats.chibar_p(stat, 1),
                f"the null model without differences between {_noun(prepared, name)} groups",
                level=name,
            )
        )
    method = ICC_INTERVAL
    iccs_out = [
        Icc(float(e), lo, hi, method if np.isfinite(lo) else "no interval (a variance at zero)")
        for e, (lo, hi) in zip(iccs, intervals, strict=True)
    ]
    return shares, iccs_out, design, tests, sigma2 / total


def levels_result(
    prepared: Prepared, fit: LevelsMixed, null: ModelResult | None, extras: FinalExtras | None
) -> ModelResult:
    """The ModelResult of a mixed model with several levels; the model-wide fields keep their
    two-level meaning for the outermost level (LEVELS.md, "Model stage")."""
    mdef, reml, ml = fit.mdef, fit.reml, fit.ml
    levels = [lv for lv in _levels(prepared) if mdef.random_at(lv.name)]
    sigma2 = float(reml.sigma2)
    cov_beta = np.asarray(reml.cov_beta)
    se = np.sqrt(np.diag(cov_beta))
    df = np.asarray(reml.df(), float)
    modes, cond = reml.modes(), reml.cond_var()
    components: list[VarianceComponent] = []
    tau: dict[str, float] = {}
    sums = prepared.sums
    re_var, mean_zz = [], []
    per_level = []
    for lv in levels:
        terms = mdef.random_at(lv.name)
        cov = np.asarray(reml.re_cov[lv.name])
        components += level_components(
            lv.name,
            terms,
            cov,
            None,
            None if extras is None or extras.intervals is None else extras.intervals[lv.name],
            lv.name in mdef.diagonal_levels,
        )
        tau[lv.name] = float(cov[0, 0])
        re_var.append(cov)
        mean_zz.append(sums.total_block(terms, terms) / sums.n)
        variances = np.clip(np.diag(cov), 0, None)
        cvar = np.diagonal(np.asarray(cond[lv.name]), axis1=1, axis2=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            # clipped as the binary levels' are: at a near-zero variance 1 - cvar / var is
            # rounding around 0 (results.json's reliabilities lie in [0, 1])
            lam = np.where(variances > 0, np.clip(1 - cvar / variances, 0, 1), 0.0)
        reliability = {t: float(r) for t, r in zip(terms, lam.mean(axis=0), strict=True)}
        per_level.append((lv, terms, modes[lv.name], np.sqrt(np.clip(cvar, 0, None)), lam,
                          reliability, np.asarray(cond[lv.name])))  # fmt: skip
    residual = (
        extras.intervals["Residual"][0]
        if extras is not None and extras.intervals is not None
        else None
    )
    components.append(
        VarianceComponent(
            "Residual", None, None, sigma2, float(np.sqrt(sigma2)),
            *((_finite(residual.low), _finite(residual.high), residual.method, residual.note)
              if residual is not None else ()),
        )
    )  # fmt: skip

    var_fixed = sums.quadratic_variance(mdef.fixed, reml.beta)
    r2 = stats.nakagawa_r2(var_fixed, block_diag(re_var), block_diag(mean_zz), sigma2)
    k = len(mdef.fixed) + _n_variance(mdef)
    notes = list(fit.notes)
    if not reml.verified:
        notes.append(
            "The REML optimum could not be verified; treat these estimates as provisional."
        )
    if not ml.verified:
        notes.append(
            "The ML refit used for AIC, BIC and likelihood-ratio tests could not be verified."
        )

    is_null = mdef.name == ModelName.NULL
    null_stats = _null_level_stats(prepared, fit, tau, sigma2) if is_null else None
    null_tau = tau if null is None else {lv.level: lv_tau for lv, lv_tau in _null_taus(null)}
    sigma_null = sigma2 if null is None else null.residual_variance
    results = []
    order = {lv.name: k for k, lv in enumerate(_levels(prepared))}
    for i, (lv, terms, m, cse, lam, reliability, ccov) in enumerate(per_level):
        before = null_tau.get(lv.name)
        results.append(
            LevelResult(
                level=lv.name,
                n_groups=len(lv.labels),
                terms=tuple(terms),
                variance_share=float(null_stats[0][i]) if null_stats else None,
                icc=null_stats[1][i] if null_stats else None,
                variance_explained=variance_explained(before, tau[lv.name]),
                reliability=reliability,
                reliability_mean=reliability.get(INTERCEPT),
                singular_terms=fit.singular_at(lv.name),
                group_effects=GroupEffects(
                    terms=tuple(terms),
                    groups=tuple(lv.labels),
                    estimate=tuple(map(tuple, np.asarray(m).tolist())),
                    std_error=tuple(map(tuple, cse.tolist())),
                    # the whole blocks: a difference at a slope variable's mean needs u0-u1 covariance
                    covariance=tuple(tuple(map(tuple, c)) for c in ccov.tolist()),
                    reliability=tuple(float(r) for r in lam[:, 0]),
                    lines=level_lines(prepared, mdef, reml.beta, modes, order[lv.name])
                    if extras is not None
                    else (),
                ),
                parents=()
                if lv.parents is None or prepared.levels.crossed
                else tuple(int(p) for p in lv.parents),
                lrt=null_stats[3][i] if null_stats else None,
            )
        )
    outer = results[0]
    total_tau = sum(tau.values())
    singular_terms = tuple(dict.fromkeys(t for r in results for t in r.singular_terms))
    return ModelResult(
        name=mdef.name,
        formula=formula(prepared, mdef),
        method=Method.REML,
        converged=bool(reml.verified),
        optimizer=reml.optimizer,
        loglik=float(reml.loglik),
        n_obs=prepared.n_obs,
        n_groups=outer.n_groups,
        fixed_effects=_fixed_effects(mdef.fixed, reml.beta, se, df, extras),
        df_method="Satterthwaite",
        variance_components=tuple(components),
        attempts=tuple(reml.attempts),
        singular=bool(singular_terms),
        singular_terms=singular_terms,
        max_gradient=_finite(reml.max_gradient),
        newton_decrement=_finite(getattr(reml, "decrement", None)),
        ml_verified=bool(ml.verified),
        **stats.likelihood_fields(float(ml.loglik), k, prepared.n_obs),
        r2_marginal=r2["r2_marginal"],
        r2_conditional=r2["r2_conditional"],
        icc=null_stats[1][0] if null_stats else None,
        icc_adjusted=r2["icc_adjusted"],
        variance_explained_level1=(sigma_null - sigma2) / sigma_null,
        variance_explained_level2=outer.variance_explained,
        reliability_mean=outer.reliability_mean,
        reliability=dict(outer.reliability),
        icc_residual=float(tau[outer.level] / (total_tau + sigma2)),
        design_effect=null_stats[2] if null_stats else None,
        fixed_cov=tuple(map(tuple, cov_beta)),
        random_terms=tuple(mdef.random),
        group_effects=outer.group_effects,
        notes=tuple(notes) + (extras.notes if extras is not None else ()),
        uncorrelated=bool(mdef.diagonal_levels),
        levels=tuple(results),
        residual_share=null_stats[4] if null_stats else None,
    )


def level_lines(prepared: Prepared, mdef: ModelDef, beta, modes: dict, index: int) -> tuple:
    """Each group's own line at level `index` for that level's first random slope (final.
    group_lines per level): the fixed part at the group's values, averaged over its cells by
    rows, plus its random effects and (nested) those of the groups it is in. Levels below are
    left out (their effects average zero within the group). () without a slope there."""
    levels = _levels(prepared)
    level = levels[index]
    terms = mdef.random_at(level.name)
    if len(terms) < 2:
        return ()
    slope = terms[1]
    chain = [level] if prepared.levels.crossed else levels[: index + 1]
    cell_modes = np.zeros((len(prepared.group_labels), 2))
    for lv in chain:
        own = mdef.random_at(lv.name)
        values = np.asarray(modes[lv.name])[lv.codes]
        for j, term in enumerate((INTERCEPT, slope)):
            if term in own:
                cell_modes[:, j] += values[:, own.index(term)]
    lines = np.array(
        final.group_lines(prepared, list(mdef.fixed), np.asarray(beta), [INTERCEPT, slope],
                          cell_modes)
    )  # fmt: skip
    weights = prepared.sums.counts.astype(float)
    G = len(level.labels)
    total = np.zeros((G, 2))
    np.add.at(total, level.codes, lines * weights[:, None])
    rows = np.bincount(level.codes, weights, G)
    return tuple((float(a), float(b)) for a, b in total / rows[:, None])


def _null_taus(null: ModelResult):
    for lv in null.levels:
        yield (
            lv,
            next(
                vc.estimate
                for vc in null.variance_components
                if vc.group == lv.level and vc.term1 == INTERCEPT and vc.term2 is None
            ),
        )


# ---------------------------------------------------------------------------------------------
# The final model's extras: Satterthwaite df, cluster-robust SEs on the outermost level


@dataclass(frozen=True)
class FinalExtras:
    std_estimate: list[float | None]
    robust: robust.Robust | None
    notes: tuple[str, ...]
    # per level (SDs, correlations), then the residual SD: profile.Interval each
    intervals: dict[str, list] | None = None


def wald_intervals(fit: LevelsMixed) -> dict[str, list]:
    """Wald intervals of every SD (log scale) and correlation (atanh scale) and of the residual
    SD, from the curvature of the ML deviance with sigma free at the ML optimum (lme4 profiles
    the ML deviance too; levels_profile profiles it and these stand in where it cannot). Keys:
    each level, and "Residual". An SD at zero or a correlation at +-1 gets none (its scale is
    infinite)."""
    from . import numderiv

    ml, mdef = fit.ml, fit.mdef
    model = ml.model
    sigma = float(np.sqrt(ml.sigma2))
    parts, is_cor, free = [], [], []
    for name, terms in mdef.levels:
        q = len(terms)
        phi = profile.parameters(lmm.theta_of(lmm.psd_factor(ml.re_cov[name] / ml.sigma2)),
                                 sigma, q)[:-1]  # fmt: skip
        parts.append(phi)
        is_cor += [False] * q + [True] * (len(phi) - q)
        free += [True] * q + [name not in mdef.diagonal_levels] * (len(phi) - q)
    best = np.concatenate([*parts, [sigma]])
    is_cor, free = np.array(is_cor + [False]), np.array(free + [True])
    usable = free & np.where(is_cor, np.abs(best) < 1 - 1e-6, best > 1e-6 * sigma)

    def theta_of(values: np.ndarray) -> np.ndarray | None:
        out, at = [], 0
        for (_, terms), phi in zip(mdef.levels, parts, strict=True):
            th = profile._theta(np.append(values[at : at + len(phi)], values[-1]), len(terms))
            if th is None:
                return None
            out.append(th)
            at += len(phi)
        return np.concatenate(out)

    z_best = profile._to_free(best, is_cor)

    def deviance(z_free: np.ndarray) -> float:
        z = z_best.copy()
        z[usable] = z_free
        values = profile._from_free(z, is_cor)
        theta = theta_of(values)
        return np.inf if theta is None else model.full_deviance(theta, values[-1], False)

    bounds = np.full((len(best), 2), np.nan)
    note = "Wald on the log-SD / atanh scale (ML curvature)"
    # a slope far from zero (calendar years) is fitted centred by the engine (fit.centred);
    # the curvature in x's own terms, with the intercept at x = 0 correlating -0.999999 with
    # the slope, is rounding noise (a slope SD's interval 0.2326-0.2331 around 0.243)
    far = getattr(ml, "slopes_centred", False)
    try:
        if far:
            raise ValueError("not in these coordinates")
        H = numderiv.hessian(deviance, z_best[usable], rel_step=1e-3)
        cov = 2.0 * np.linalg.inv(H)
        se = np.sqrt(np.diag(cov))
        if np.all(np.isfinite(se)) and np.all(np.linalg.eigvalsh(cov) > 0):
            z = z_best[usable]
            for k, (lo, hi) in zip(np.flatnonzero(usable), zip(z - 1.959963984540054 * se,
                                   z + 1.959963984540054 * se, strict=True), strict=True):  # fmt: skip
                bounds[k] = profile._from_free(np.array([lo, hi]), np.array([is_cor[k]] * 2))
    except (np.linalg.LinAlgError, ValueError):
        pass

    def interval(k: int):
        if not free[k]:
            return profile.Interval(None, None, None, profile.NOT_A_PARAMETER)
        if np.all(np.isfinite(bounds[k])):
            return profile.Interval(float(bounds[k, 0]), float(bounds[k, 1]), profile.WALD, note)
        why = "no Wald interval: the estimate is at the edge of its range or the curvature is flat"
        if far:
            why = (
                "no Wald interval: a random slope's variable is far from zero (e.g. calendar "
                "years), where the curvature cannot be measured; centre it for intervals"
            )
        return profile.Interval(None, None, None, why)

    out, at = {}, 0
    for (name, _), phi in zip(mdef.levels, parts, strict=True):
        out[name] = [interval(at + i) for i in range(len(phi))]
        at += len(phi)
    out["Residual"] = [interval(len(best) - 1)]
    return out


def cr1_levels(prepared: Prepared, fit: LevelsMixed) -> robust.Robust:
    """CR1 on the outermost level from the cell sums: with W = (V / sigma2)^-1 the working
    weights, W e = e - Z b (b: every level's conditional modes), so each cluster's score
    X_j'W_j e_j is a sum over its cells of X'y - X'X beta - sum_l X'Z_l b_l, and the bread
    (X'WX)^-1 is cov(beta) / sigma2. No row is needed; nested levels only (a crossed factor's
    random effects span clusters)."""
    mdef, reml = fit.mdef, fit.reml
    design: DesignSums = prepared.sums
    fixed = list(mdef.fixed)
    beta = np.asarray(reml.beta)
    scores = design.block(fixed, [design.outcome])[:, :, 0] - design.block(fixed, fixed) @ beta
    modes = reml.modes()
    for lv in _levels(prepared):
        terms = mdef.random_at(lv.name)
        if terms:
            b = np.asarray(modes[lv.name])[lv.codes]  # (cells, q)
            scores -= np.einsum("cpq,cq->cp", design.block(fixed, terms), b)
    outer = _levels(prepared)[0]
    G = len(outer.labels)
    per_cluster = np.zeros((G, len(fixed)))
    np.add.at(per_cluster, outer.codes, scores)
    bread = np.asarray(reml.cov_beta) / float(reml.sigma2)
    cov = bread @ (per_cluster.T @ per_cluster) @ bread * G / (G - 1)
    return robust._tested(beta, cov, np.full(len(beta), float(G - 1)))


# CR2 forms n x r matrices, r the columns of every random effect in one outer cluster; beyond
# this many numbers (n r) CR1 stands in (the correction matters with few, small clusters).
CR2_MAX_CELLS = 10_000_000


def wide_factor(prepared: Prepared, fit: LevelsMixed) -> np.ndarray:
    """Z Lambda row by row, laid out per outer cluster for CR2 (robust.cr2's `factor`): the
    outermost level's q_1 columns, then for each inner level K_l blocks of q_l columns (K_l the
    most groups of that level in one outer cluster), a row filling the block of its own group's
    rank within its cluster. Within a cluster Z Lambda Lambda' Z' is then V / sigma2 - I."""
    rows, levels, mdef = prepared.rows, _levels(prepared), fit.mdef
    cells = rows.group_codes
    outer = levels[0].codes
    n = len(cells)
    blocks = []
    for i, lv in enumerate(levels):
        terms = mdef.random_at(lv.name)
        if not terms:
            continue
        lam = lmm.psd_factor(np.asarray(fit.reml.re_cov[lv.name]) / float(fit.reml.sigma2))
        zl = rows.matrix(terms) @ lam
        if i == 0:
            blocks.append(zl)
            continue
        G = len(lv.labels)
        parent = np.zeros(G, dtype=np.int64)
        parent[lv.codes] = outer
        order = np.lexsort((np.arange(G), parent))
        first = np.searchsorted(parent[order], parent[order])
        local = np.empty(G, dtype=np.int64)
        local[order] = np.arange(G) - first
        q, width = len(terms), (int(local.max()) + 1) * len(terms)
        wide = np.zeros((n, width))
        columns = local[lv.codes[cells]][:, None] * q + np.arange(q)[None, :]
        wide[np.arange(n)[:, None], columns] = zl
        blocks.append(wide)
    factor = np.hstack(blocks)
    assert factor.shape[1] == _factor_width(prepared, mdef)
    return factor


def _factor_width(prepared: Prepared, mdef: ModelDef) -> int:
    """wide_factor's number of columns, without building it: q_1 plus, per inner level, q_l
    times the most groups of that level in one outer cluster."""
    levels = _levels(prepared)
    outer = levels[0]
    width = len(mdef.random_at(outer.name))
    for lv in levels[1:]:
        parent = np.zeros(len(lv.labels), dtype=np.int64)
        parent[lv.codes] = outer.codes
        most = int(np.bincount(parent, minlength=len(outer.labels)).max())
        width += most * len(mdef.random_at(lv.name))
    return width


def final_extras(prepared: Prepared, fit: LevelsMixed) -> FinalExtras:
    notes = list(NOT_COMPUTED_NOTES)
    outer = _levels(prepared)[0]
    noun = _noun(prepared, outer.name)
    G = len(outer.labels)
    cr = None
    if prepared.levels.crossed:
        notes.append(
            "Cluster-robust standard errors of the final model were not computed: with crossed "
            "groups no level holds the other's groups, so there are no independent clusters."
        )
    elif G < rules.GROUPS_STRONG_WARNING.value:
        notes.append(
            f"Cluster-robust standard errors of the final model were not computed: {G} {noun} "
            "groups are too few for any cluster-robust variance to be trusted."
        )
    else:
        rows = prepared.rows
        width = _factor_width(prepared, fit.mdef)
        if rows is not None and G <= robust.CR2_MAX_GROUPS and len(rows) * width <= CR2_MAX_CELLS:
            factor = wide_factor(prepared, fit)
            X = rows.matrix(list(fit.mdef.fixed))
            codes = _levels(prepared)[0].codes[rows.group_codes]
            cr = robust.cr2(
                rows.y, X, np.empty((len(X), 0)), codes, np.empty(0), fit.reml.beta, factor
            )
            notes.append(
                f"The cluster-robust standard errors are CR2 clustered on the outermost level "
                f"({noun}), with the model's own covariance as the working model and "
                "clubSandwich's Satterthwaite degrees of freedom."
            )
        else:
            cr = cr1_levels(prepared, fit)
            why = (
                "the data were reduced to cell sums by the data engine, and CR2 needs every row"
                if rows is None
                else f"with {G:,} {noun} clusters of this size the CR2 correction is immaterial"
            )
            notes.append(
                f"The cluster-robust standard errors are CR1 clustered on the outermost level "
                f"({noun}) with G - 1 degrees of freedom, from the cell sums: {why}."
            )
    std = final.std_estimates(prepared, fit.mdef.fixed, fit.reml.beta)
    intervals = None
    if fit.ml.verified:
        # lme4's confint(method = "profile"); Wald rows stand in where a bound cannot be profiled
        intervals = levels_profile.levels_intervals(
            fit, wald_intervals(fit), len(prepared.sums.counts)
        )
        wald_notes = [
            i.note for rows in intervals.values() for i in rows if i.method == profile.WALD
        ]
        if wald_notes:
            every = len(wald_notes) == sum(len(rows) for rows in intervals.values())
            notes.append(
                f"{'The' if every else 'Some'} intervals for the variance components are Wald "
                "intervals on the log-SD / atanh scale, not profile-likelihood intervals: "
                f"{wald_notes[0].split(': ', 1)[-1]}."
            )
    if intervals is None:
        notes.append(
            "Intervals for the variance components were not computed: the ML refit they rest "
            "on could not be verified."
        )
    return FinalExtras(std, cr, tuple(notes), intervals)


# ---------------------------------------------------------------------------------------------
# The final-model rule, per level


def _phrase(prepared: Prepared, levels) -> str:
    def one(level: str) -> str:
        noun = _noun(prepared, level)
        return f"the {noun} level" + ("" if noun == level else f" ({level})")

    names = [one(lv) for lv in levels]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _slope_singular_levels(fit: LevelsMixed) -> list[str]:
    return [
        name
        for name, terms in fit.mdef.levels
        if len(terms) > 1 and any(t != INTERCEPT for t in fit.singular_at(name))
    ]


def _what(prepared: Prepared, name: ModelName, mdef: ModelDef, full_form: bool) -> str:
    """The final model in words: which fixed part, and at which levels it has random slopes."""
    interactions = name in (ModelName.INTERACTION, ModelName.INTERACTION_INTERCEPT)
    fixed = "all predictors and interactions" if interactions else "all predictors"
    sloped = [lv for lv, terms in mdef.levels if len(terms) > 1]
    which = "the full configured model" if full_form else "the configured model"
    if not sloped:
        return f"{which} ({fixed}, random intercepts at every level)"
    return f"{which} ({fixed}, with random slopes at {_phrase(prepared, sloped)})"


def choose(
    prepared: Prepared, fits: dict[ModelName, LevelsMixed], progress: Progress, fitter=None
) -> tuple[dict[ModelName, LevelsMixed], ModelName, str, bool]:
    """The final model and the reason (final.py's rule per level); returns the fits with any
    rung refitted in the form the final model takes, and whether a slope was dropped."""
    fitter = fitter or fit_mixed  # a binary outcome's: multilevel_binary.fit_binary
    full = final.full_model(set(fits))
    slope_rungs = [n for n, f in fits.items() if any(len(t) > 1 for _, t in f.mdef.levels)]
    singular = _slope_singular_levels(fits[full])
    why = ""
    dropped = False
    if singular:
        where = _phrase(prepared, singular)
        diagonal = fits[full].mdef.diagonal_levels | set(singular)

        def refit(mdef: ModelDef, levels, note: str) -> LevelsMixed:
            started = time.perf_counter()
            out = replace(fitter(prepared, _with_levels(mdef, levels, diagonal)), notes=(note,))
            progress(
                f"  {mdef.name.label + ', refitted':<28} {time.perf_counter() - started:6.2f} s"
            )
            return out

        note = (
            f"Fitted with uncorrelated random effects (1 + x || g) at {where}: the correlated "
            "form was singular there."
        )
        trial = {n: refit(fits[n].mdef, fits[n].mdef.levels, note) for n in slope_rungs}
        still = [lv for lv in _slope_singular_levels(trial[full]) if lv in singular]
        if trial[full].reml.verified and not still:
            fits = {**fits, **trial}
            why = (
                f" The random slopes at {where} are uncorrelated with the intercept (lme4's "
                "1 + x || g): with the correlation estimated the fit was singular there; without "
                "it every part could be estimated, so the slopes stay in."
            )
        else:
            drop = still or singular
            kept_form = {n: f.mdef for n, f in trial.items()}
            note = (
                f"The random slopes at {_phrase(prepared, drop)} were left out: their variance "
                "is at zero even uncorrelated."
            )
            new = {}
            for n in slope_rungs:
                levels = [
                    (lv, terms if lv not in drop else (INTERCEPT,))
                    for lv, terms in kept_form[n].levels
                ]
                if any(len(t) > 1 for _, t in levels):
                    new[n] = refit(kept_form[n], levels, note)
            dropped = True
            why = (
                f": the random slopes at {_phrase(prepared, drop)} could not be estimated (their "
                "variance is at zero or their correlation at +-1, with and without the "
                "correlation), so they are left out there. The fixed part is kept whole."
            )
            if new:
                fits = {**fits, **new}
            else:  # no slope left anywhere: the same fixed part with random intercepts
                reduced = final.reduced_model(full)
                full = reduced if reduced in fits else full
    state = fits[full]
    reason = f"The report rests on {_what(prepared, full, state.mdef, not dropped)}"
    reason += why if why.startswith(":") else "." + why
    if not state.reml.verified:
        reason += " Its optimum could not be verified: its numbers are provisional."
    zero = [lv for lv, _ in state.mdef.levels if INTERCEPT in state.singular_at(lv)]
    if zero:
        reason += final.zero_variance_words(prepared, zero)
    elif not why and state.reml.verified:
        reason += " Every part of it could be estimated."
    return fits, full, reason, dropped


# ---------------------------------------------------------------------------------------------
# The ladder


def random_part_reductions(mdef: ModelDef):
    """The smaller random parts the final model's component tests compare it with, in report
    order: at each level, each slope dropped (with its covariances), then the level's whole
    term. Yields (level, term tested, the levels kept, df of the test, the reduced model's
    description)."""
    for level, terms in mdef.levels:
        diagonal = level in mdef.diagonal_levels
        for term in terms[1:]:
            kept = [
                (lv, tuple(t for t in ts if not (lv == level and t == term)))
                for lv, ts in mdef.levels
            ]
            df = len(stats.variance_parameters(len(terms), diagonal)) - len(
                stats.variance_parameters(len(terms) - 1, diagonal)
            )
            yield level, term, kept, df, "the same model without this random slope at this level"
        kept = [(lv, ts) for lv, ts in mdef.levels if lv != level]
        df = len(stats.variance_parameters(len(terms), diagonal)) - 1
        yield level, INTERCEPT, kept, df, "the same model without this level's random effects"


def variance_explained(before: float | None, after: float) -> float | None:
    """A level's proportional reduction in variance from the null model's (None without a
    positive null variance to measure against)."""
    return (before - after) / before if before is not None and before > 0 else None


def component_test(stat: float, df: int, level: str, reduced: str, term: str) -> ComponentTest:
    """One test of the final model's random part. A slope (with its covariances) or a level
    holding only an intercept puts one variance on its boundary: the 50:50 chi2(df - 1):chi2(df)
    mixture (Self & Liang 1987; Stram & Lee 1994). A level's whole term with slopes puts
    several variances on their boundary at once, whose null distribution is a mixture with
    weights that depend on the information matrix (Shapiro 1985), no simple 50:50; the naive
    chi2(df) p is an upper bound of it (conservative), as the ladder's steps use."""
    stat = max(float(stat), 0.0)
    if term == INTERCEPT and df > 1:
        p, reference = stats.chi_square_p(stat, df), Reference.CHI_SQUARE_CONSERVATIVE
    else:
        p, reference = stats.chibar_p(stat, df), Reference.CHI_BAR
    return ComponentTest(term, stat, df, p, reduced, level=level, p_value_method=reference)


def component_tests(prepared: Prepared, fit: LevelsMixed) -> list[ComponentTest]:
    """REML LRTs of the final model's random part, per level: each slope (with its covariances)
    and each level's whole random term (component_test says which reference each uses)."""
    mdef, deviance = fit.mdef, fit.reml.deviance
    out = []
    for level, term, kept, df, reduced_model in random_part_reductions(mdef):
        reduced = _deviance_without(prepared, mdef, kept)
        if reduced is not None:
            out.append(component_test(reduced - deviance, df, level, reduced_model, term))
    return out


def fit_levels_ladder(prepared: Prepared, progress: Progress = lambda message: None) -> Ladder:
    definitions = ladder(prepared)
    sizes = ", ".join(f"{len(lv.labels):,} {lv.name}" for lv in _levels(prepared))
    progress(
        f"hlm-report: fitting {len(definitions)} models of {prepared.spec.name} "
        f"({prepared.n_obs:,} rows; {sizes})"
    )
    fits, models = fit_rungs(
        definitions,
        lambda mdef: fit_mixed(prepared, mdef),
        lambda mdef: fit_ols(prepared, mdef),
        progress,
    )
    fits, name, reason, dropped = choose(prepared, fits, progress)
    chosen = fits[name]
    started = time.perf_counter()
    extras = final_extras(prepared, chosen)
    tests = component_tests(prepared, chosen)
    progress(f"  {'final-model statistics':<24} {time.perf_counter() - started:6.2f} s")
    models[ModelName.NULL] = levels_result(prepared, fits[ModelName.NULL], None, None)
    for model_name, fit in fits.items():
        if model_name != ModelName.NULL:
            models[model_name] = levels_result(
                prepared, fit, models[ModelName.NULL], extras if model_name == name else None
            )
    if name == ModelName.NULL:
        models[name] = levels_result(prepared, fits[name], None, extras)
    cov = np.array(models[name].fixed_cov)
    beta = np.asarray(chosen.reml.beta)
    df_of = chosen.reml.df
    slopes, regions = final.simple_slopes(
        prepared, chosen.mdef.fixed, beta, cov, df_of, list(prepared.spec.interactions)
    )
    joint = final.joint_tests(
        prepared, chosen.mdef.fixed, beta, cov, lambda L: stats.f_from_df(beta, cov, L, df_of)
    )
    ordered = {n: models[n] for n in MODEL_ORDER if n in models}
    return Ladder(
        ordered,
        name,
        reason,
        tuple(tests),
        tuple(slopes),
        tuple(regions),
        final.liberal_tests(prepared.spec, dropped),
        tuple(joint),
        None,
        df_of=df_of,
    )


def fitted_values(model: ModelResult, prepared: Prepared, rows) -> np.ndarray:
    """Fitted values of a mixed model with several levels at `rows`: the fixed part plus each
    level's conditional modes of the row's group at that level."""
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    out = rows.matrix([fe.term for fe in model.fixed_effects]) @ beta
    codes = {lv.name: lv.codes for lv in _levels(prepared)}
    for level in model.levels:
        effects = level.group_effects
        modes = np.array(effects.estimate)[codes[level.level][rows.group_codes]]
        out = out + np.einsum("nq,nq->n", rows.matrix(list(effects.terms)), modes)
    return out
