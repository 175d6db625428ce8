"""From a spec to Results: prepare the data, fit the ladder, compare, judge model health, and
keep the row sample the report's figures need (results.json and rows.parquet, side by side)."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from .. import atomic, provenance, rules
from ..data import Prepared, check_full_rank, describe, prepare
from ..data.columns import contextual_name
from ..data.describe import numeric_variables
from ..data.outer_means import outer_mean_name
from ..data.prepare import SAMPLE_SEED
from ..data.source import IN_MEMORY_ROWS
from ..errors import InputError
from ..results import (
    ALL_MODELS,
    RESULTS_FILE,
    SAMPLE_FILE,
    SINGLE_LEVEL,
    Check,
    Comparison,
    ContextualEffect,
    DataSummary,
    Effect,
    HealthCheck,
    ModelName,
    ModelResult,
    Reference,
    Results,
    RowSample,
    Selection,
    Status,
    write_json,
)
from ..spec import Spec
from . import final, stats
from .ladder import Progress, fit_ladder, fitted_values, ladder


def _variances(model: ModelResult) -> int:
    """How many variance parameters (not covariances, not the residual) a model has."""
    return sum(1 for vc in model.variance_components if vc.group != "Residual" and vc.term2 is None)


def _comparisons(models: dict[ModelName, ModelResult]) -> list[Comparison]:
    out = []

    def ml_test(a: ModelName, b: ModelName) -> None:
        ma, mb = models[a], models[b]
        df = mb.n_parameters - ma.n_parameters
        stat, p = stats.lrt(ma.loglik_ml, mb.loglik_ml, df)
        out.append(
            Comparison(a, b, stat, df, p, Reference.CHI_SQUARE_ML, True, None, ma.aic, mb.aic)
        )

    def variance_test(a: ModelName, b: ModelName, refit: bool) -> None:
        ma, mb = models[a], models[b]
        df = mb.n_parameters - ma.n_parameters
        la, lb = (ma.loglik_ml, mb.loglik_ml) if refit else (ma.loglik, mb.loglik)
        stat, naive = stats.lrt(la, lb, df)
        added = _variances(mb) - _variances(ma)
        if not ma.is_mixed and mb.levels:  # one random intercept per level, all at zero under H0
            p, reference = stats.chibar_levels_p(stat, df), Reference.CHI_BAR_LEVELS
        elif added <= 1:
            # one variance at its boundary (df 1: chi2(0):chi2(1)), with its df - 1 covariances
            # the 50:50 chi2(df - 1):chi2(df) mixture, Stram & Lee's usual approximation
            p, reference = stats.chibar_p(stat, df), Reference.CHI_BAR
        else:  # several variances at once: the naive p, an upper bound
            p, reference = naive, Reference.CHI_SQUARE_CONSERVATIVE
        out.append(Comparison(a, b, stat, df, p, reference, refit, naive, ma.aic, mb.aic))

    single = next(n for n in models if not models[n].is_mixed)
    variance_test(single, ModelName.RANDOM_INTERCEPT, refit=True)
    ml_test(ModelName.NULL, ModelName.RANDOM_INTERCEPT)
    if ModelName.RANDOM_SLOPE in models:
        variance_test(ModelName.RANDOM_INTERCEPT, ModelName.RANDOM_SLOPE, refit=False)
    if ModelName.INTERACTION in models:
        base = (
            ModelName.RANDOM_SLOPE
            if ModelName.RANDOM_SLOPE in models
            else ModelName.RANDOM_INTERCEPT
        )
        ml_test(base, ModelName.INTERACTION)
    return out


def _selection(models: dict[ModelName, ModelResult]) -> list[Selection]:
    twins = {clustered for _, clustered in SINGLE_LEVEL.values()}  # same fit as the single-level
    candidates = {n: m for n, m in models.items() if n not in twins and m.aic is not None}
    weights = stats.akaike_weights({n: m.aic for n, m in candidates.items()})
    best = min(m.aic for m in candidates.values())
    return [Selection(n, m.aic, m.bic, m.aic - best, weights[n]) for n, m in candidates.items()]


_GROUPS_STATUS = {
    rules.GroupsBand.TOO_FEW: Status.PROBLEM,
    rules.GroupsBand.FEW: Status.WARNING,
    rules.GroupsBand.ENOUGH: Status.OK,
}


def _expit(eta: np.ndarray) -> np.ndarray:
    from .binomial import expit  # binary outcomes only: it imports scipy

    return expit(eta)


def _fitted_probabilities(model: ModelResult, sample) -> np.ndarray:
    from .binomial import fitted_probabilities  # binary outcomes only: it imports scipy

    return fitted_probabilities(model, sample)


def _binary_health(prepared: Prepared, models: dict[ModelName, ModelResult]) -> list[HealthCheck]:
    """Rare events, separation and groups whose rows all share one outcome, said in words."""
    out = []
    from .binomial import binary_health_values  # binary outcomes only: it imports scipy

    largest = max(m.n_parameters for m in models.values())
    values = binary_health_values(prepared, largest)
    per_parameter = values["events_per_parameter"]
    rare = per_parameter < rules.EVENTS_PER_PARAMETER.value
    out.append(
        HealthCheck(
            ALL_MODELS, Check.RARE_EVENTS, Status.WARNING if rare else Status.OK,
            value=per_parameter,
        )
    )  # fmt: skip
    for m in models.values():
        if m.separation:
            out.append(HealthCheck(m.name, Check.SEPARATION, Status.PROBLEM, terms=m.separation))
    uniform = values["uniform_groups"]
    if uniform:
        share = uniform / prepared.n_groups
        status = Status.WARNING if share >= rules.UNIFORM_GROUPS_SHARE.value else Status.OK
        out.append(HealthCheck(ALL_MODELS, Check.UNIFORM_GROUPS, status, value=uniform))
    return out


def _levels_health(models: dict[ModelName, ModelResult]) -> list[HealthCheck]:
    """Several levels: the optimum per model, and per level the singular terms, the number of
    groups and a variance share near zero (null model), each naming its level."""
    out = []
    for m in models.values():
        if not m.is_mixed:
            continue
        status = Status.OK if m.converged else Status.PROBLEM
        out.append(HealthCheck(m.name, Check.OPTIMUM, status, value=m.newton_decrement))
        for lv in m.levels:
            if lv.singular_terms:
                out.append(HealthCheck(m.name, Check.SINGULAR, Status.WARNING,
                                       terms=lv.singular_terms, level=lv.level))  # fmt: skip
    for lv in models[ModelName.NULL].levels:
        band = rules.groups_band(lv.n_groups)
        out.append(HealthCheck(ALL_MODELS, Check.GROUPS, _GROUPS_STATUS[band],
                               value=lv.n_groups, band=band, level=lv.level))  # fmt: skip
        if lv.variance_share is not None and rules.icc_near_zero(lv.variance_share):
            out.append(HealthCheck(ModelName.NULL, Check.ICC_NEAR_ZERO, Status.WARNING,
                                   value=lv.variance_share, level=lv.level))  # fmt: skip
    return out


def _health(models: dict[ModelName, ModelResult], data: DataSummary) -> list[HealthCheck]:
    if models[ModelName.NULL].levels:
        out = _levels_health(models)
        if data.n_tiny_groups:
            out.append(
                HealthCheck(ALL_MODELS, Check.TINY_GROUPS, Status.WARNING, value=data.n_tiny_groups)
            )
        return out
    out = []
    for m in models.values():
        if not m.is_mixed:
            continue
        status = Status.OK if m.converged else Status.PROBLEM
        out.append(HealthCheck(m.name, Check.OPTIMUM, status, value=m.newton_decrement))
        if m.singular:
            out.append(HealthCheck(m.name, Check.SINGULAR, Status.WARNING, terms=m.singular_terms))
    band = rules.groups_band(data.n_groups)
    out.append(
        HealthCheck(ALL_MODELS, Check.GROUPS, _GROUPS_STATUS[band], value=data.n_groups, band=band)
    )
    if data.n_tiny_groups:
        out.append(
            HealthCheck(ALL_MODELS, Check.TINY_GROUPS, Status.WARNING, value=data.n_tiny_groups)
        )
    icc = models[ModelName.NULL].icc.estimate
    if rules.icc_near_zero(icc):
        out.append(HealthCheck(ModelName.NULL, Check.ICC_NEAR_ZERO, Status.WARNING, value=icc))
    return out


def _contextual(prepared: Prepared, model: ModelResult, df_of=None) -> list[ContextualEffect]:
    """Within, between and contextual effects (Raudenbush & Bryk 2002, table 5.11) with SEs.

    With x group-mean centred and its group mean in the model, b_x is the within effect and
    b_mean the between effect; otherwise b_mean is already the contextual effect. When x (or its
    mean) interacts with a moderator, its slope depends on the moderator, so every effect is
    given at each moderator value (each level, or the mean and one SD either side).

    Several levels (`contextual: {school: [x], class: [x]}`): S_k, the slope when a whole group
    of level k moves by one unit, is x's coefficient (unless x is group-centred: it does not
    move then) plus the coefficients of x's means at level k and every level inside it. At each
    level with a mean, between = S_k, within = S of the next level inside that has a mean (or
    the row's slope, x's coefficient), contextual = between - within, which is the coefficient
    of the level's own mean whenever an inner mean or an uncentred x carries the rest. One
    level reads exactly as before. `df_of` (contrasts -> Satterthwaite df) gives each its df."""
    design, spec = prepared.design, prepared.spec
    terms = [fe.term for fe in model.fixed_effects]
    index = {t: i for i, t in enumerate(terms)}
    estimates = np.array([fe.estimate for fe in model.fixed_effects])
    cov = np.array(model.fixed_cov)
    interactions = [i for i in prepared.spec.interactions if all(
        t in index for t in prepared.terms_of[i])]  # fmt: skip
    outer = spec.contextual_outer if spec.multilevel else {}
    variables = list(dict.fromkeys([*spec.contextual, *(v for vs in outer.values() for v in vs)]))
    out = []
    for var in variables:
        # x's means in the model, innermost level first: (level, mean column)
        chain = [(spec.levels[-1], contextual_name(var))] if var in spec.contextual else []
        chain += [(level, outer_mean_name(var, level)) for level in reversed(spec.levels[:-1])
                  if var in outer.get(level, [])]  # fmt: skip
        chain = [(level, mean) for level, mean in chain if mean in index]
        if not chain:
            continue
        group_centred = design.variable(var).centering == "group"
        moderators = list(
            dict.fromkeys(
                final.moderators_of(design, var, interactions)
                + final.moderators_of(design, chain[0][1], interactions)
            )
        )
        settings = (
            [(None, None, {})]
            if not moderators
            else [(moderators[0], label, values) for label, _, values in
                  final.moderator_settings(prepared, moderators[0])]
        )  # fmt: skip
        for moderator, label, values in settings:
            row = final.slope_contrast(design, index, var, values)
            whole = np.zeros_like(row) if group_centred else row.copy()
            inside = row  # the slope within the groups of the level being read
            for level, mean in chain:
                whole = whole + final.slope_contrast(design, index, mean, values)
                contrasts = {"within": inside, "between": whole, "contextual": whole - inside}
                inside = whole
                if df_of is not None:
                    df = df_of(np.array(list(contrasts.values())))
                else:
                    df = [None] * 3
                effects = {
                    name: Effect(
                        float(c @ estimates),
                        float(np.sqrt(c @ cov @ c)),
                        None if d is None else float(d),
                    )
                    for (name, c), d in zip(contrasts.items(), df, strict=True)
                }
                out.append(ContextualEffect(var, model.name, **effects, moderator=moderator,
                                            moderator_value=label,
                                            level=level if spec.multilevel else None))  # fmt: skip
    return out


def write_sample(prepared: Prepared, models: dict[ModelName, ModelResult], path: Path) -> RowSample:
    """The rows the figures draw (distributions, outcome by group, residuals), with each mixed
    model's fitted values: the data path's seeded sample when the data are large."""
    sample = prepared.sample
    spec = prepared.spec
    if spec.multilevel:
        from .multilevel import fitted_values as levels_fitted

        # one column per level, each row's group there (labels as written)
        columns = list(dict.fromkeys([spec.outcome, *spec.levels, *numeric_variables(prepared)]))
        groups = {
            lv.name: np.array(lv.labels, dtype=object)[lv.codes[sample.group_codes]]
            for lv in prepared.levels.levels
        }
        frame = {c: groups[c] if c in groups else sample.measured[c] for c in columns}
        for name, model in models.items():
            if model.is_mixed:
                eta = levels_fitted(model, prepared, sample)
                frame[RowSample.fitted_column(name)] = _expit(eta) if model.is_binomial else eta
        atomic.write_parquet(path, frame)
        return RowSample(path.name, len(sample), prepared.n_obs, SAMPLE_SEED, tuple(columns))
    columns = list(dict.fromkeys([spec.outcome, spec.group, *numeric_variables(prepared)]))
    # as measured: the figures show data before centring
    labels = np.array(prepared.group_labels, dtype=object)[sample.group_codes]
    frame = {c: labels if c == spec.group else sample.measured[c] for c in columns}
    for name, model in models.items():
        if model.is_mixed:
            frame[RowSample.fitted_column(name)] = (
                _fitted_probabilities(model, sample)
                if model.is_binomial
                else fitted_values(model, sample)
            )
    atomic.write_parquet(path, frame)
    return RowSample(path.name, len(sample), prepared.n_obs, SAMPLE_SEED, tuple(columns))


def _software() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in (
        "hlm-report",
        "numpy",
        "scipy",
        "pandas",
        "statsmodels",
        "matplotlib",
        "seaborn",
        "jinja2",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def validated(spec: Spec) -> Prepared:
    """Read and check the data and every model's design; raises InputError before any output."""
    prepared = prepare(spec)
    if spec.family == "binomial" and prepared.rows is None:
        raise InputError(
            f"{prepared.n_obs:,} rows: logistic mixed models are fitted from every row, held in "
            f"memory, up to {IN_MEMORY_ROWS:,}; fit a sample or a subset of groups"
        )
    # The largest fixed part contains every other; if it has full rank, so do they.
    largest = max((mdef.fixed for mdef in ladder(prepared)), key=len)
    check_full_rank(prepared, largest)
    return prepared


def run_analysis(
    spec: Spec,
    out_dir: Path,
    progress: Progress = lambda message: None,
    prepared: Prepared | None = None,
) -> Results:
    """Fit the ladder; write out_dir/results.json and the row sample beside it (each atomic)."""
    started = time.perf_counter()
    prepared = prepared or validated(spec)
    digest = provenance.DataDigest(spec)  # hashed while the models are fitted
    data = describe(prepared)
    binary = spec.family == "binomial"
    if binary and spec.multilevel:
        from .multilevel_binary import fit_binary_levels_ladder

        fitted = fit_binary_levels_ladder(prepared, progress)
    elif binary:
        from .binomial import fit_binomial_ladder  # its engine imports scipy.optimize (~0.3 s)

        fitted = fit_binomial_ladder(prepared, progress)
    else:
        fitted = fit_ladder(prepared, progress)
    models = fitted.models
    progress(
        f"  rows dropped for missing values: {data.rows_dropped:,}; "
        f"total {time.perf_counter() - started:.2f} s"
    )
    sample = write_sample(prepared, models, Path(out_dir) / SAMPLE_FILE)
    main = models[fitted.final]
    results = Results(
        spec=spec,
        design=prepared.design,
        data=data,
        models=models,
        comparisons=tuple(_comparisons(models)),
        health=tuple(_health(models, data) + (_binary_health(prepared, models) if binary else [])),
        selection=tuple(_selection(models)),
        contextual_effects=tuple(_contextual(prepared, main, fitted.df_of)),
        sample=sample,
        software=_software(),
        final_model=fitted.final,
        final_model_reason=fitted.reason,
        component_tests=fitted.component_tests,
        simple_slopes=fitted.simple_slopes,
        johnson_neyman=fitted.johnson_neyman,
        liberal_cross_level_tests=fitted.liberal_cross_level_tests,
        slope_variance_explained=tuple(
            final.slope_variance_explained(prepared, models, fitted.final)
            if not spec.multilevel
            else ()
        ),
        joint_tests=fitted.joint_tests,
        intercept_variance_explained=fitted.intercept_variance_explained,
        provenance=provenance.build(spec, digest),
    )
    write_json(results, Path(out_dir) / RESULTS_FILE)
    return results


__all__ = ["run_analysis", "validated"]
