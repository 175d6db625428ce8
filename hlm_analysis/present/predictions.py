"""Model-based predictions for plots: interaction lines and group-specific lines with bands.

Predictors not on the plot are held at their sample means (numeric) or reference level (text).
"""

from __future__ import annotations

import numpy as np

from .. import distributions
from ..results import Design, ModelResult, Results, TermKind
from . import fmt
from .labels import labels_for, slope_point

_POINTS = 60


def qq_points(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal theoretical quantiles (Blom positions) against the sorted standardised values."""
    values = np.sort(np.asarray(values, float))
    n = len(values)
    theoretical = distributions.norm_ppf((np.arange(1, n + 1) - 0.375) / (n + 0.25))
    sd = values.std(ddof=1) if n > 1 else 1.0
    return theoretical, (values - values.mean()) / (sd if sd > 0 else 1.0)


def linear_prediction(rows: np.ndarray, beta: np.ndarray, cov: np.ndarray, level: float = 0.95):
    """Predicted values of the fixed part with pointwise confidence bands."""
    fit = rows @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", rows, cov, rows))
    z = distributions.norm_ppf(0.5 + level / 2)
    return fit, fit - z * se, fit + z * se


def expit(eta):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(eta, float)))


def outcome_label(results: Results, model: ModelResult) -> str:
    """What predictions are of: the outcome, or for a logistic model the event's probability."""
    labels = labels_for(results)
    if model.is_binomial:
        return f"P({labels.variable(results.spec.outcome)} = {results.design.event})"
    return labels.variable(results.spec.outcome)


def _response_scale(model: ModelResult, *values):
    """Predictions on the outcome's scale: a logistic model's log-odds become probabilities
    (bands too: the transform is monotone, so a log-odds interval maps onto one)."""
    return tuple(expit(v) if model.is_binomial else v for v in values)


def _row(design: Design, terms: list[str], values: dict[str, float]) -> np.ndarray:
    """One row of the fixed-effects design: `values` gives numeric columns and dummy terms
    (absent dummies are 0, the reference level); interactions multiply their parts."""

    def value(term: str) -> float:
        t = design.term(term)
        if t.kind == TermKind.INTERCEPT:
            return 1.0
        if t.kind == TermKind.INTERACTION:
            return float(np.prod([value(part) for part in t.parts]))
        return values.get(term, 0.0)

    return np.array([value(term) for term in terms])


def _model_scale(results: Results) -> dict:
    """Numeric summaries on the scale the model uses each variable (centred ones centred)."""
    return {**results.data.numeric, **results.data.model_scale}


def _baseline(results: Results) -> dict[str, float]:
    return {var: s.mean for var, s in _model_scale(results).items()}


def interaction_lines(results: Results, model: ModelResult, term: str) -> dict | None:
    """Lines of the outcome against one part of `term`, one line per value of the other part."""
    parts = term.split(":")
    if len(parts) != 2:
        return None
    numeric = _model_scale(results)
    x_var = next((p for p in parts if p in numeric), None)
    if x_var is None:
        return None
    moderator = parts[1] if parts[0] == x_var else parts[0]
    labels = labels_for(results)
    base = _baseline(results)
    xs = np.linspace(numeric[x_var].min, numeric[x_var].max, _POINTS)
    # a moderator with two values (coded 1/2): its lines at those values, as the simple slopes
    two = [
        s.moderator_number
        for s in results.simple_slopes
        if s.interaction == term
        and s.moderator == moderator
        and s.moderator_number is not None
        and s.moderator_value == f"{s.moderator_number:g}"
    ]
    if moderator in numeric and two:
        name = labels.variable(moderator)
        settings = [(f"{name} = {v:g}", {moderator: v}) for v in dict.fromkeys(two)]
    elif moderator in numeric:
        m, sd = numeric[moderator].mean, numeric[moderator].sd
        # the lines named as the text names the simple slopes ("mean over students (0.000)")
        points = {
            s.moderator_value: s
            for s in results.simple_slopes
            if s.interaction == term and s.moderator == moderator
        }

        def named(where: str, value: float) -> str:
            if where in points:
                return "{} ({})".format(*slope_point(results, points[where]))
            return f"{where} ({fmt.to_error(value, sd)})"

        settings = [
            (named("mean − 1 SD", m - sd), {moderator: m - sd}),
            (named("mean", m), {moderator: m}),
            (named("mean + 1 SD", m + sd), {moderator: m + sd}),
        ]
    else:
        variable = results.design.variable(moderator)
        dummies = [{}, *({term: 1.0} for term in variable.terms)]  # the reference level first
        settings = list(zip(variable.levels, dummies, strict=True))
    terms = [fe.term for fe in model.fixed_effects]
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    cov = np.array(model.fixed_cov)
    lines = []
    for name, setting in settings:
        rows = np.array([_row(results.design, terms, {**base, **setting, x_var: x}) for x in xs])
        fit, low, high = _response_scale(model, *linear_prediction(rows, beta, cov))
        lines.append({"name": name, "fit": fit, "low": low, "high": high})
    return {
        "x": xs,
        "x_label": labels.variable(x_var),
        "moderator_label": labels.variable(moderator),
        "y_label": outcome_label(results, model),
        "lines": lines,
    }


def group_slope_lines(results: Results, model: ModelResult, max_groups: int = 40) -> dict | None:
    """Each group's own line for the first random slope, beside the average line with its band."""
    effects = model.group_effects
    if effects is None or len(effects.terms) < 2:
        return None
    slope_term = effects.terms[1]
    numeric = _model_scale(results)
    base = _baseline(results)
    terms = [fe.term for fe in model.fixed_effects]
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    cov = np.array(model.fixed_cov)
    if slope_term in numeric:
        xs = np.linspace(numeric[slope_term].min, numeric[slope_term].max, _POINTS)
        setting = [{slope_term: x} for x in xs]
        x_values = xs
    else:  # a dummy: two points, reference and the level
        setting = [{slope_term: 0.0}, {slope_term: 1.0}]
        x_values = np.array([0.0, 1.0])
    rows = np.array([_row(results.design, terms, {**base, **s}) for s in setting])
    fit, low, high = linear_prediction(rows, beta, cov)
    est = np.array(effects.estimate)
    step = max(1, -(-len(est) // max_groups))  # ceiling: at most max_groups lines
    chosen = range(0, len(est), step)
    if effects.lines:  # the final model's group-specific lines (level-2 moderators included)
        group_lines = [effects.lines[g][0] + effects.lines[g][1] * x_values for g in chosen]
    else:
        group_lines = [fit + est[g, 0] + est[g, 1] * x_values for g in chosen]
    fit, low, high = _response_scale(model, fit, low, high)
    group_lines = [_response_scale(model, line)[0] for line in group_lines]
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
        "y_label": outcome_label(results, model),
        "ticks": None if dummy is None else [dummy[2], dummy[1]],
    }


# ---------------------------------------------------------------------------------------------
# Binary outcomes: calibration, binned residuals, and probabilities by group and by predictor


def _bins_of(fitted: np.ndarray, bins: int) -> np.ndarray:
    """Equal-count bins of the fitted probabilities (deciles by default), as bin indices."""
    order = np.argsort(fitted, kind="stable")
    index = np.empty(len(fitted), dtype=int)
    index[order] = np.arange(len(fitted)) * bins // len(fitted)
    return index


def calibration(observed: np.ndarray, fitted: np.ndarray, bins: int = 10) -> dict:
    """Observed share of events against the mean predicted probability, per decile of the
    prediction, with a 95% Wald interval of each observed share."""
    bins = max(1, min(bins, len(fitted) // 5))
    index = _bins_of(fitted, bins)
    n = np.bincount(index, minlength=bins).astype(float)
    predicted = np.bincount(index, fitted, bins) / n
    share = np.bincount(index, observed, bins) / n
    half = 1.96 * np.sqrt(np.clip(share * (1 - share), 1e-12, None) / n)
    return {"predicted": predicted, "observed": share, "low": share - half, "high": share + half}


def binned_residuals(observed: np.ndarray, fitted: np.ndarray) -> dict:
    """Gelman & Hill's (2007, sec. 5.6) binned residual plot: mean residual per bin of the fitted
    probability, with +-2 SE bounds (2 sqrt(p(1-p)/n)); about 95% of bins should fall inside.
    The number of bins follows Gelman & Hill's sqrt(n) for n up to 10,000, 100 beyond."""
    bins = int(min(100, max(5, np.sqrt(len(fitted)))))
    index = _bins_of(fitted, bins)
    n = np.bincount(index, minlength=bins).astype(float)
    mean_fitted = np.bincount(index, fitted, bins) / n
    mean_residual = np.bincount(index, observed - fitted, bins) / n
    bound = 2 * np.sqrt(mean_fitted * (1 - mean_fitted) / n)
    return {"fitted": mean_fitted, "residual": mean_residual, "bound": bound,
            "inside": float(np.mean(np.abs(mean_residual) <= bound))}  # fmt: skip


def group_probabilities(results: Results, model: ModelResult) -> dict:
    """Each group's predicted probability averaged over the data's rows as if every row were in
    it (the model stage's `average_probability`: the same mix of rows for every group), with
    the 95% interval of its effect, sorted; the data's average prediction (near the observed
    share) beside them. Results written before those fields: a typical member instead (numeric
    predictors at their means, text ones at the reference level)."""
    effects = model.group_effects
    if effects.average_probability and model.average_predictions:
        fit, low, high = np.array(effects.average_probability, float).T
        order = np.argsort(fit, kind="stable")
        return {
            "groups": [effects.groups[i] for i in order],
            "fit": fit[order],
            "low": low[order],
            "high": high[order],
            "average": model.average_predictions[0].estimate,
            "averaged": True,
        }
    terms = [fe.term for fe in model.fixed_effects]
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    typical = float(_row(results.design, terms, _baseline(results)) @ beta)
    effects = np.array(model.group_effects.estimate)[:, 0]
    se = np.array(model.group_effects.std_error)[:, 0]
    order = np.argsort(effects, kind="stable")
    eta = typical + effects[order]
    return {
        "groups": [model.group_effects.groups[i] for i in order],
        "fit": expit(eta),
        "low": expit(eta - 1.96 * se[order]),
        "high": expit(eta + 1.96 * se[order]),
        "average": float(expit(typical)),
        "averaged": False,
    }


def _predictor_order(results: Results, model: ModelResult) -> list[str]:
    """Predictors in the order their panels are drawn: the question's first, then the random
    slopes', then the rest as configured."""
    first = [] if results.spec.question is None else results.spec.question.split(":")
    slopes = [results.design.term(t).variable for t in model.random_terms[1:]]
    return list(dict.fromkeys([*first, *slopes, *results.design.predictors]))


def predictor_probabilities(results: Results, model: ModelResult) -> list[dict]:
    """The average predicted probability at each value of each predictor (the model stage's
    average predictions over the observed rows, marginaleffects' avg_predictions) with 95%
    intervals (estimate +- 1.96 SE, as marginaleffects, kept within 0 and 1). A categorical or
    0/1 predictor is `points`, one per level (a line between two levels would claim values
    between them); any other numeric predictor a `curve` over its range."""
    by_variable: dict[str, list] = {}
    for a in model.average_predictions[1:]:
        by_variable.setdefault(a.variable, []).append(a)
    labels = labels_for(results)
    panels = []
    for name in _predictor_order(results, model):
        rows = by_variable.get(name)
        if not rows:
            continue
        variable = results.design.variable(name)
        fit = np.array([a.estimate for a in rows])
        half = 1.96 * np.array([a.std_error for a in rows])
        panel = {"variable": name, "x_label": labels.variable(name), "fit": fit,
                 "low": np.clip(fit - half, 0, 1), "high": np.clip(fit + half, 0, 1)}  # fmt: skip
        if variable.levels:
            panel.update(kind="points", levels=[a.level for a in rows])
        elif variable.binary:
            panel.update(kind="points", levels=[f"{a.value:g}" for a in rows])
        else:
            panel.update(kind="curve", x=np.array([a.value for a in rows]))
        panels.append(panel)
    return panels


def probability_curve(results: Results, model: ModelResult) -> dict | None:
    """The predicted probability against the first numeric predictor (the random slope's, if it
    is numeric) for a typical member of an average group, with its 95% band."""
    numeric = _model_scale(results)
    terms = [fe.term for fe in model.fixed_effects]
    candidates = [*model.random_terms[1:], *terms]
    x_var = next((t for t in candidates if t in numeric and t in terms), None)
    if x_var is None:
        return None
    xs = np.linspace(numeric[x_var].min, numeric[x_var].max, _POINTS)
    base = _baseline(results)
    rows = np.array([_row(results.design, terms, {**base, x_var: x}) for x in xs])
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    fit, low, high = _response_scale(
        model, *linear_prediction(rows, beta, np.array(model.fixed_cov))
    )
    labels = labels_for(results)
    return {"x": xs, "fit": fit, "low": low, "high": high, "x_label": labels.variable(x_var),
            "y_label": outcome_label(results, model)}  # fmt: skip
