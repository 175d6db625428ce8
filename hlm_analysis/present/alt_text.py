"""Alt text of the report's figures: what each shows, with its key numbers, for a reader who
cannot see it (a screen reader, an image that did not load). From results alone, in the
lexicon's words; the static `fig-alt` of the .qmd stays the fallback (Quarto's path, and any
figure without a sentence here).

The text travels with the figure: `Described` shows the figure as PNG and puts the sentence in
the PNG output's metadata (`alt`), which the built-in engine writes as the image's alt.
"""

from __future__ import annotations

import io
import math

import numpy as np

from ..results import INTERCEPT, ModelResult, Results
from . import fmt, levels, lexicon
from .figures import LABELLED_GROUPS, _level_effects
from .labels import labels_for
from .tables import min_cell, small_groups

# The PNG's resolution, as the notebook's inline backend draws figures (render/execute.py).
DPI = 144


class Described:
    """A matplotlib Figure displayed as PNG with its alt text and its caption (markdown, from
    present/captions.py) in the output's metadata: the engines write them in place of the
    .qmd's static fig-alt and fig-cap."""

    def __init__(self, figure, alt: str | None, caption: str | None = None):
        self.figure = figure
        self.alt = alt
        self.caption = caption

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        data = buffer.getvalue()
        meta = {
            key: value for key, value in (("alt", self.alt), ("caption", self.caption)) if value
        }
        return (data, meta) if meta else data


def _range(values, digits: int = 1) -> str:
    return f"{fmt.num(min(values), digits)} to {fmt.num(max(values), digits)}"


def _words(results: Results):
    labels = labels_for(results)
    lex = lexicon.build(results.spec, results.design, labels.raw)
    return labels, lex


def describe(name: str, results: Results, model: ModelResult | None, rows=None) -> str | None:
    """The alt text of figure `name` (document.figure's names), or None to keep the static one."""
    builder = _BUILDERS.get(name)
    if builder is None:
        return None
    labels, lex = _words(results)
    text = builder(results, model, rows, labels, lex)
    return " ".join(text.split()) if text else None


def _distributions(results, model, rows, labels, lex) -> str:
    outcome = results.spec.outcome
    numeric = results.data.numeric
    parts = []
    for column, s in numeric.items():
        parts.append(
            f"{labels.raw(column)}: mean {fmt.sig(s.mean)}, SD {fmt.sig(s.sd)}, "
            f"from {fmt.sig(s.min)} to {fmt.sig(s.max)}"
        )
    head = f"Histograms of {len(numeric)} numeric variable{'s' if len(numeric) != 1 else ''}"
    first = f" ({labels.raw(outcome)} first)" if outcome in numeric else ""
    return f"{head}{first}. " + "; ".join(parts[:6]) + ("; ..." if len(parts) > 6 else "") + "."


def _correlations(results, model, rows, labels, lex) -> str | None:
    c = results.data.correlations
    if c is None or len(c.variables) < 2:
        return None
    k = len(c.variables)
    pairs = [
        (abs(c.matrix[i][j]), c.matrix[i][j], c.variables[i], c.variables[j])
        for i in range(k)
        for j in range(i)
        if c.matrix[i][j] is not None and not math.isnan(c.matrix[i][j])
    ]
    if not pairs:
        return None
    _, r, a, b = max(pairs)
    if len(pairs) == 1:
        return (
            f"Heatmap of the Pearson correlation between {labels.raw(a)} and {labels.raw(b)}: "
            f"r = {fmt.num(r)}."
        )
    _, r_low, a_low, b_low = min(pairs)
    return (
        f"Heatmap of the Pearson correlations between {k} numeric variables. The strongest is "
        f"r = {fmt.num(r)} between {labels.raw(a)} and {labels.raw(b)}; the weakest "
        f"r = {fmt.num(r_low)} between {labels.raw(a_low)} and {labels.raw(b_low)}."
    )


def _shown(n, values, cut: int) -> list:
    """The values of the groups a figure draws: those with at least min_cell rows (a group
    of one student's mean is that student's score; the figures leave such groups out, and so
    must the sentence that reads them out)."""
    return [v for k, v in zip(n, values, strict=True) if k >= cut]


def _group_boxes(results, model, rows, labels, lex) -> str | None:
    # several levels: the boxes are the outermost level's groups (figures.plot_group_boxes)
    column = levels.columns(results)[0]
    g = levels.group_summary(results, column)
    noun = lex.tier(column).noun
    shown = _shown(g.n, g.mean, min_cell(results))
    means = [m for m in shown if m is not None and not math.isnan(m)]
    if not means:
        return None
    return (
        f"Box plots of {labels.raw(results.spec.outcome)} in each of {fmt.integer(len(shown))} "
        f"{noun.many}, ordered by their mean; the {noun.one} means range from "
        f"{_range(means)}."
    )


def _group_means(results, model, rows, labels, lex) -> str | None:
    if levels.multilevel(results):  # one panel per level
        parts = []
        for column in levels.columns(results):
            g = levels.group_summary(results, column)
            shown = _shown(g.n, g.mean, min_cell(results))
            means = [m for m in shown if m is not None and not math.isnan(m)]
            if means:
                parts.append(
                    f"{fmt.integer(len(shown))} {lex.tier(column).noun.many}, means from "
                    f"{_range(means)}"
                )
        return (
            f"Mean {labels.raw(results.spec.outcome)} per group, one panel per level: "
            + "; ".join(parts)
            + "."
        )
    g = results.data.groups
    cut = min_cell(results)
    n = _shown(g.n, g.n, cut)
    means = [m for m in _shown(g.n, g.outcome_mean, cut) if m is not None and not math.isnan(m)]
    if not means:
        return None
    sizes = (
        f"{fmt.integer(min(n))} {lex.unit.many} each"
        if min(n) == max(n)
        else f"{fmt.integer(min(n))} to {fmt.integer(max(n))} {lex.unit.many}"
    )
    return (
        f"Scatter of each {lex.group.one}'s mean {labels.raw(results.spec.outcome)} against its "
        f"size: {fmt.integer(len(n))} {lex.group.many} of {sizes}, with means from "
        f"{_range(means)}."
    )


def _random_sd(model: ModelResult, term: str = INTERCEPT) -> float | None:
    for vc in model.variance_components:
        if vc.group != "Residual" and vc.term1 == term and vc.term2 is None:
            return vc.sdcor
    return None


def _caterpillar(results, model, rows, labels, lex) -> str | None:
    effects = getattr(model, "group_effects", None) if model is not None else None
    if effects is None or not effects.groups:
        return None
    scale = " on the log-odds scale" if results.spec.family == "binomial" else ""
    if levels.multilevel(results):  # one row of panels per level: each level's range
        parts = []
        cut = min_cell(results)
        # the figure's own groups per level (named "S001 / 1"), so the sentence reads what is
        # drawn: up to 40 a level's groups are named, and those below min_cell left out
        for column, e, names in _level_effects(results, model):
            if e is None or not e.groups:
                continue
            j = list(e.terms).index(INTERCEPT) if INTERCEPT in e.terms else 0
            values = [row[j] for row in e.estimate]
            if len(names) <= LABELLED_GROUPS:
                g = levels.group_summary(results, column)
                sizes = dict(zip(g.labels, g.n, strict=True))
                values = [
                    v for v, name in zip(values, names, strict=True) if sizes.get(name, cut) >= cut
                ]
            if not values:
                continue
            parts.append(
                f"{fmt.integer(len(values))} {lex.tier(column).noun.many}, intercepts from "
                f"{_range(values, 2)}"
            )
        return (
            f"Estimated effects{scale}, sorted, each with a 95% interval, one row of panels per "
            + ("crossed factor: " if levels.crossed(results) else "level: ")
            + "; ".join(parts)
            + "."
        )
    column = list(effects.terms).index(INTERCEPT) if INTERCEPT in effects.terms else 0
    values = [row[column] for row in effects.estimate]
    if len(values) <= LABELLED_GROUPS:  # the figure names each group and leaves out the small
        small = small_groups(results)
        values = [v for v, name in zip(values, effects.groups, strict=True) if name not in small]
        if not values:
            return None
    sd = _random_sd(model)
    # several levels: the model's group effects are the outermost level's
    noun = lex.tier(levels.columns(results)[0]).noun
    one, many = noun.one, noun.many
    spread = f" (standard deviation of the {one} effects {fmt.num(sd)})" if sd else ""
    return (
        f"Estimated effects of the {fmt.integer(len(values))} {many}{scale}, sorted, "
        f"each with a 95% interval: from {_range(values, 2)}{spread}."
    )


def _actual_vs_predicted(results, model, rows, labels, lex) -> str | None:
    return (
        f"Scatter of observed against predicted {labels.raw(results.spec.outcome)} for the "
        f"{fmt.integer(results.data.n_obs)} {lex.unit.many}, with the identity line"
        + (f"; the model's conditional R² is {fmt.num(model.r2_conditional)}." if model and
           model.r2_conditional is not None else ".")
    )  # fmt: skip


def _diagnostics(results, model, rows, labels, lex) -> str | None:
    if model is None:
        return None
    residual = next((vc.sdcor for vc in model.variance_components if vc.group == "Residual"), None)
    sd = _random_sd(model)
    parts = ["Three panels: residuals against fitted values, a normal QQ plot of the residuals"]
    if residual is not None:
        parts[0] += f" (residual SD {fmt.num(residual)})"
    column = levels.columns(results)[0]  # several levels: the outermost level's intercepts
    n = len(model.group_effects.groups) if model.group_effects is not None else 0
    parts.append(
        f"and a normal QQ plot of the {fmt.integer(n)} {lex.tier(column).noun.one} "
        "intercepts" + (f" (SD {fmt.num(sd)})" if sd else "")
    )
    return ", ".join(parts) + "."


def _interaction(results, model, rows, labels, lex) -> str | None:
    slopes = results.simple_slopes
    if not slopes:
        return None
    first = slopes[0].interaction
    chosen = [s for s in slopes if s.interaction == first][:5]
    focal, moderator = labels.raw(chosen[0].focal), labels.raw(chosen[0].moderator)
    listed = "; ".join(
        f"{fmt.sig(s.estimate)} at {moderator} = "
        + (
            fmt.sig(s.moderator_value)
            if isinstance(s.moderator_value, int | float)
            else str(s.moderator_value)
        )
        for s in chosen
    )
    return (
        f"Predicted {labels.raw(results.spec.outcome)} against {focal}, one line per value of "
        f"{moderator}, with 95% bands. Slopes of {focal}: {listed}."
    )


def _group_slopes(results, model, rows, labels, lex) -> str | None:
    if model is None:
        return None
    terms = [
        vc
        for vc in model.variance_components
        if vc.group != "Residual" and vc.term1 != INTERCEPT and vc.term2 is None
    ]
    if not terms:
        return None
    # the lines are the model's group effects: several levels, the outermost level's
    column = levels.columns(results)[0]
    terms = [vc for vc in terms if vc.group in (column, results.spec.group)] or terms
    vc = terms[0]
    noun = lex.tier(column).noun
    fixed = next((fe for fe in model.fixed_effects if fe.term == vc.term1), None)
    average = f" around an average slope of {fmt.sig(fixed.estimate)}" if fixed else ""
    return (
        f"One line per {noun.one} for {labels.term(vc.term1)}{average}; the slopes "
        f"vary between {noun.many} with a standard deviation of {fmt.num(vc.sdcor)}."
    )


def _probabilities(results, model, rows, labels, lex) -> str | None:
    effects = getattr(model, "group_effects", None) if model is not None else None
    probs = getattr(effects, "average_probability", None) if effects is not None else None
    if not probs:
        return None
    values = np.asarray([p for p in probs if p is not None], dtype=float)
    return (
        f"Predicted probabilities from the final model: the {fmt.integer(len(values))} "
        f"{lex.group.many} ranked, each with every row placed in it, from "
        f"{fmt.pct(values.min(), 1)} to {fmt.pct(values.max(), 1)}; then the average "
        "probability at each value of up to three predictors."
    )


_BUILDERS = {
    "distributions": _distributions,
    "correlations": _correlations,
    "group_boxes": _group_boxes,
    "group_means": _group_means,
    "caterpillar": _caterpillar,
    "actual_vs_predicted": _actual_vs_predicted,
    "diagnostics": _diagnostics,
    "interaction": _interaction,
    "group_slopes": _group_slopes,
    "probabilities": _probabilities,
}
