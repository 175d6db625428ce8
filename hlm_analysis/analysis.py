"""From a spec to frozen Results: prepare the data, fit the ladder, compare, judge model health."""

from __future__ import annotations

import platform
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np

from . import rules, stats
from .data import Prepared, check_full_rank, contextual_name, prepare
from .describe import describe
from .fit import Progress, fit_ladder, ladder
from .results import Comparison, ModelResult, Results, write_json
from .spec import Spec

DIAGNOSTIC_SAMPLE = 5000  # points kept for residual plots: enough to see shape, small JSON


def _comparisons(models: dict[str, ModelResult]) -> list[Comparison]:
    out = []

    def ml_test(a: str, b: str) -> None:
        ma, mb = models[a], models[b]
        df = mb.n_parameters - ma.n_parameters
        stat, p = stats.lrt(ma.loglik_ml, mb.loglik_ml, df)
        out.append(
            Comparison(a, b, stat, df, p, "chi-square (ML refit)", True, None, ma.aic, mb.aic)
        )

    def variance_test(a: str, b: str, refit: bool) -> None:
        ma, mb = models[a], models[b]
        df = mb.n_parameters - ma.n_parameters
        la, lb = (ma.loglik_ml, mb.loglik_ml) if refit else (ma.loglik, mb.loglik)
        stat, naive = stats.lrt(la, lb, df)
        out.append(
            Comparison(
                a,
                b,
                stat,
                df,
                stats.chibar_p(stat, df),
                "chi-bar-square 50:50 mixture (boundary-corrected)",
                refit,
                naive,
                ma.aic,
                mb.aic,
            )
        )

    variance_test("ols", "random_intercept", refit=True)
    ml_test("null", "random_intercept")
    if "random_slope" in models:
        variance_test("random_intercept", "random_slope", refit=False)
    if "interaction" in models:
        base = "random_slope" if "random_slope" in models else "random_intercept"
        ml_test(base, "interaction")
    return out


def _selection(models: dict[str, ModelResult]) -> list[dict]:
    candidates = {n: m for n, m in models.items() if n != "ols_cluster" and m.aic is not None}
    weights = stats.akaike_weights({n: m.aic for n, m in candidates.items()})
    best = min(m.aic for m in candidates.values())
    return [
        {
            "model": n,
            "aic": m.aic,
            "bic": m.bic,
            "delta_aic": m.aic - best,
            "akaike_weight": weights[n],
        }
        for n, m in candidates.items()
    ]


def _health(models: dict[str, ModelResult], data: dict) -> list[dict]:
    out = []
    n_groups = data["n_groups"]
    for m in models.values():
        if not m.is_mixed:
            continue
        out.append(
            {
                "model": m.name,
                "check": "optimum",
                "status": "ok" if m.converged else "problem",
                "value": m.newton_decrement,
            }
        )
        if m.singular:
            out.append(
                {
                    "model": m.name,
                    "check": "singular",
                    "status": "warning",
                    "value": ", ".join(m.singular_terms),
                }
            )
    band = rules.groups_band(n_groups)
    status = {"too few": "problem", "few": "warning", "enough": "ok"}[band]
    out.append(
        {"model": "all", "check": "groups", "status": status, "value": n_groups, "band": band}
    )
    if data["n_tiny_groups"]:
        out.append(
            {
                "model": "all",
                "check": "tiny_groups",
                "status": "warning",
                "value": data["n_tiny_groups"],
            }
        )
    icc = models["null"].icc["estimate"]
    if icc < rules.ICC_NEGLIGIBLE.value:
        out.append({"model": "null", "check": "icc_near_zero", "status": "warning", "value": icc})
    return out


def _with_variance_explained(
    models: dict[str, ModelResult], extras: dict
) -> dict[str, ModelResult]:
    null = models["null"]
    tau_null, sigma_null = null.variance("(Intercept)"), null.residual_variance
    out = {}
    for name, m in models.items():
        if m.is_mixed:
            tau, sigma = m.variance("(Intercept)"), m.residual_variance
            level2 = (tau_null - tau) / tau_null if tau_null and tau_null > 0 else None
            m = replace(
                m,
                variance_explained_level1=(sigma_null - sigma) / sigma_null,
                variance_explained_level2=level2,
                icc_adjusted=extras[name]["icc_adjusted"],
                reliability_mean=_mean_reliability(m),
            )
        out[name] = m
    return out


def _mean_reliability(model: ModelResult) -> float | None:
    reliability = model.group_effects.reliability if model.group_effects else ()
    return float(np.mean(reliability)) if len(reliability) else None


def _contextual(spec: Spec, model: ModelResult) -> list[dict]:
    """Within, between and contextual effects (Raudenbush & Bryk 2002, table 5.11) with SEs.

    With x group-mean centred and its group mean in the model, b_x is the within effect and
    b_mean the between effect; otherwise b_mean is already the contextual effect.
    """
    terms = [fe.term for fe in model.fixed_effects]
    estimates = np.array([fe.estimate for fe in model.fixed_effects])
    cov = np.array(model.fixed_cov)
    out = []
    for var in spec.contextual:
        i, j = terms.index(var), terms.index(contextual_name(var))
        group_centred = spec.centering.get(var) == "group"
        # each effect as a contrast over (b_x, b_mean)
        contrasts = {
            "within": (1.0, 0.0),
            "between": (0.0, 1.0) if group_centred else (1.0, 1.0),
            "contextual": (-1.0, 1.0) if group_centred else (0.0, 1.0),
        }
        row = {"variable": var, "model": model.name}
        for name, (a, b) in contrasts.items():
            c = np.zeros(len(terms))
            c[i], c[j] = a, b
            row[name] = {"estimate": float(c @ estimates), "std_error": float(np.sqrt(c @ cov @ c))}
        out.append(row)
    return out


def _diagnostics(prepared, final: ModelResult, fitted: np.ndarray) -> dict:
    rng = np.random.default_rng(20240605)
    n = prepared.n_obs
    keep = (
        np.sort(rng.choice(n, DIAGNOSTIC_SAMPLE, replace=False))
        if n > DIAGNOSTIC_SAMPLE
        else np.arange(n)
    )
    return {
        "model": final.name,
        "n_shown": int(len(keep)),
        "observed": prepared.y[keep].tolist(),
        "fitted": fitted[keep].tolist(),
        "residual": (prepared.y - fitted)[keep].tolist(),
    }


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
    # The largest fixed part contains every other; if it has full rank, so do they.
    largest = max((mdef.fixed for mdef in ladder(prepared)), key=len)
    check_full_rank(prepared, largest)
    return prepared


def write_results(
    spec: Spec,
    out_dir: Path,
    progress: Progress = lambda message: None,
    prepared: Prepared | None = None,
) -> Path:
    """Fit the ladder and write out_dir/results.json (atomically: all of it or nothing)."""
    results = run_analysis(spec, progress, prepared)
    path = out_dir / "results.json"
    write_json(results, path)
    return path


def run_analysis(
    spec: Spec, progress: Progress = lambda message: None, prepared: Prepared | None = None
) -> Results:
    started = time.perf_counter()
    prepared = prepared or validated(spec)
    data = describe(prepared)
    models, extras = fit_ladder(prepared, progress)
    progress(
        f"  rows dropped for missing values: {data['rows_dropped']:,}; "
        f"total {time.perf_counter() - started:.2f} s"
    )
    models = _with_variance_explained(models, extras)
    results = Results(
        spec=spec.to_json(),
        data=data,
        models=models,
        comparisons=tuple(_comparisons(models)),
        health=tuple(_health(models, data)),
        selection=tuple(_selection(models)),
        software=_software(),
    )
    final = results.main_model
    return replace(
        results,
        diagnostics=_diagnostics(prepared, final, extras[final.name]["fitted"]),
        contextual_effects=tuple(_contextual(spec, final)),
    )


__all__ = ["run_analysis"]
