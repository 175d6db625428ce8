"""Model-based predictions for plots: interaction lines and group-specific lines with bands.

Predictors not on the plot are held at their sample means (numeric) or reference level (text).
"""

from __future__ import annotations

import numpy as np

from . import stats
from .labels import labels_for
from .results import ModelResult, Results

_POINTS = 60


def _row(terms: list[str], values: dict[str, float]) -> np.ndarray:
    out = []
    for term in terms:
        product = 1.0
        for part in term.split(":"):
            product *= 1.0 if part == "Intercept" else values.get(part, 0.0)
        out.append(product)
    return np.array(out)


def _baseline(results: Results) -> dict[str, float]:
    return {var: s["mean"] for var, s in results.data["numeric"].items()}


def _levels(results: Results, var: str) -> list[str]:
    return [lv["level"] for lv in results.data["categorical"].get(var, [])]


def interaction_lines(results: Results, model: ModelResult, term: str) -> dict | None:
    """Lines of the outcome against one part of `term`, one line per value of the other part."""
    parts = term.split(":")
    if len(parts) != 2:
        return None
    numeric = results.data["numeric"]
    x_var = next((p for p in parts if p in numeric), None)
    if x_var is None:
        return None
    moderator = parts[1] if parts[0] == x_var else parts[0]
    labels = labels_for(results)
    base = _baseline(results)
    xs = np.linspace(numeric[x_var]["min"], numeric[x_var]["max"], _POINTS)
    if moderator in numeric:
        m, sd = numeric[moderator]["mean"], numeric[moderator]["sd"]
        settings = [
            (f"mean − 1 SD ({m - sd:.3g})", {moderator: m - sd}),
            (f"mean ({m:.3g})", {moderator: m}),
            (f"mean + 1 SD ({m + sd:.3g})", {moderator: m + sd}),
        ]
    else:
        levels = _levels(results, moderator)
        settings = [(lv, {f"{moderator}[T.{lv}]": 1.0}) for lv in levels]
    terms = [fe.term for fe in model.fixed_effects]
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    cov = np.array(model.fixed_cov)
    lines = []
    for name, setting in settings:
        rows = np.array([_row(terms, {**base, **setting, x_var: x}) for x in xs])
        fit, low, high = stats.linear_prediction(rows, beta, cov)
        lines.append({"name": name, "fit": fit, "low": low, "high": high})
    return {
        "x": xs,
        "x_label": labels.variable(x_var),
        "moderator_label": labels.variable(moderator),
        "y_label": labels.variable(results.spec["outcome"]),
        "lines": lines,
    }


def group_slope_lines(results: Results, model: ModelResult, max_groups: int = 40) -> dict | None:
    """Each group's own line for the first random slope, beside the average line with its band."""
    effects = model.group_effects
    if effects is None or len(effects.terms) < 2:
        return None
    slope_term = effects.terms[1]
    numeric = results.data["numeric"]
    base = _baseline(results)
    terms = [fe.term for fe in model.fixed_effects]
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    cov = np.array(model.fixed_cov)
    if slope_term in numeric:
        xs = np.linspace(numeric[slope_term]["min"], numeric[slope_term]["max"], _POINTS)
        setting = [{slope_term: x} for x in xs]
        x_values = xs
    else:  # a dummy: two points, reference and the level
        setting = [{slope_term: 0.0}, {slope_term: 1.0}]
        x_values = np.array([0.0, 1.0])
    rows = np.array([_row(terms, {**base, **s}) for s in setting])
    fit, low, high = stats.linear_prediction(rows, beta, cov)
    est = np.array(effects.estimate)
    step = max(1, len(est) // max_groups)
    chosen = range(0, len(est), step)
    group_lines = [fit + est[g, 0] + est[g, 1] * x_values for g in chosen]
    labels = labels_for(results)
    dummy = labels.dummy_parts(slope_term)
    return {
        "x": x_values,
        "x_label": labels.term(slope_term),
        "fit": fit,
        "low": low,
        "high": high,
        "groups": group_lines,
        "n_groups_shown": len(group_lines),
        "n_groups": len(est),
        "y_label": labels.variable(results.spec["outcome"]),
        "ticks": None if dummy is None else [dummy[2], dummy[1]],
    }
