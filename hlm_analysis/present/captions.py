"""Figure captions from the facts of this report: the outcome's type, the nouns of the grouping
levels (the lexicon), which level a panel shows, nested or crossed, how many groups are drawn.

A caption is a claim about the picture under it. Written once in the .qmd it had to cover every
case, so a report on test scores read "log-odds for a yes/no outcome", crossed factors read
"outermost first", and a report on schools spoke of "groups". Each builder here says only what
holds for the figure it captions; the .qmd's `fig-cap` is the fallback for a figure without one.
The words are user text (labels, nouns) and go through fmt.md_escape.
"""

from __future__ import annotations

from ..results import ModelResult, Results
from . import fmt, level_facts, levels
from .labels import labels_for
from .lexicon import Lexicon, build
from .tables import fewer_than, min_cell, small_groups

# figures.py's limits: named caterpillar rows up to this many groups, lines per group up to this
LABELLED_GROUPS = 40
MAX_LINES = 40
BOX_GROUPS = 30


def _words(results: Results) -> tuple:
    labels = labels_for(results)
    return labels, build(results.spec, results.design, labels.raw)


def _e(text: str) -> str:
    return fmt.md_escape(text)


def _effects_by_level(results: Results, model: ModelResult) -> list[tuple[str, object]]:
    """(grouping column, GroupEffects) for each level with effects, outermost first, as the
    caterpillar draws them (figures._level_effects)."""
    if not levels.multilevel(results):
        return [(levels.columns(results)[0], model.group_effects)]
    return [(lv.level, lv.group_effects) for lv in model.levels if lv.group_effects is not None]


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _scale(results: Results) -> str:
    return "on the log-odds scale" if results.spec.family == "binomial" else ""


# --------------------------------------------------------------------------------------------
# The data


def _distributions(results, model, labels, lex) -> str:
    numeric = list(results.data.numeric)[:9]
    outcome = results.spec.outcome
    binary = results.spec.family == "binomial"
    head = _e(labels.raw(outcome))
    first = " (first panel: a bar for each answer)" if binary else " (first panel)"
    others = len(numeric) - (1 if outcome in numeric else 0)
    more = len(results.data.numeric) - len(numeric)
    if others:
        what = "the numeric predictors" if not more else f"the first {others} numeric predictors"
        text = f"Distributions of {head}{first} and {what}, as measured (before any centring)"
    else:
        text = f"Distribution of {head}, as measured"
    per = []
    for var in numeric[1:]:
        if levels.multilevel(results):
            at = levels.variable_column(results, var)
            if at is not None:
                per.append(lex.tier(at).noun)
        elif var in getattr(results.data, "group_level", {}):
            per.append(lex.group)
    if per:
        nouns = list(dict.fromkeys(n.one for n in per))
        text += (
            "; a variable constant within each "
            + " or ".join(_e(n) for n in nouns)
            + " is counted once per "
            + " or ".join(_e(n) for n in nouns)
        )
    return text + "."


def _correlations(results, model, labels, lex) -> str:
    k = len(results.data.correlations.variables)
    return f"Correlations between the {k} numeric variables (Pearson r)."


def _group_boxes(results, model, labels, lex) -> str:
    column = levels.columns(results)[0]
    tier = lex.tier(column)
    summary = levels.group_summary(results, column)
    which = ""
    if levels.multilevel(results):
        which = (
            " (the first of the crossed factors)"
            if levels.crossed(results)
            else " (the outermost level)"
        )
    return (
        f"{_e(labels.raw(results.spec.outcome))} in each of the "
        f"{fmt.integer(len(summary.labels))} {_e(tier.noun.many)}{which}: a box plot with every "
        f"{_e(lex.unit.one)} as a point, {_e(tier.noun.many)} ordered by their mean."
    )


def _group_means(results, model, labels, lex) -> str:
    outcome = _e(labels.raw(results.spec.outcome))
    unit = _e(lex.unit.many)
    if results.spec.family == "binomial":  # the mean of a yes/no outcome is a share
        outcome = f"share of {unit} with the event ({_e(lex.event_clause)})"
    if not levels.multilevel(results):
        g = results.data.groups
        return (
            f"Each {_e(lex.group.one)}'s mean {outcome} against its number of {unit} "
            f"({fmt.integer(len(g.n))} {_e(lex.group.many)}, log scale): the means of small "
            f"{_e(lex.group.many)} scatter more by chance."
        )
    parts, varied = [], []
    for column in levels.columns(results):
        tier = lex.tier(column)
        n = levels.group_summary(results, column).n
        if min(n) == max(n):
            parts.append(
                f"the spread of the means of the {fmt.integer(len(n))} {_e(tier.noun.many)} "
                f"({fmt.integer(n[0])} {unit} each)"
            )
        else:
            varied.append(_e(tier.noun.many))
            parts.append(
                f"the {fmt.integer(len(n))} {_e(tier.noun.many)}, each one's mean against its "
                f"number of {unit}"
            )
    panels = "one panel per crossed factor" if levels.crossed(results) else "one panel per level"
    tail = f". The means of small {' and '.join(varied)} scatter more by chance" if varied else ""
    return f"Mean {outcome}, {panels}: {'; '.join(parts)}{tail}."


def _trajectories(results, model, labels, lex) -> str | None:
    time = levels.time_column(results)
    if time is None:
        return None
    cols = levels.columns(results)
    inner, outer = lex.tier(cols[-1]).noun, lex.tier(cols[0]).noun
    effects = _effects_by_level(results, model)
    sample = f"a random sample of {_e(inner.many)}"
    text = (
        f"Growth in {_e(labels.raw(results.spec.outcome))} over {_e(labels.raw(time))}: on the "
        f"left, the observed trajectories of {sample} around the average curve of the final "
        "model (95% band; other predictors at their means)"
    )
    if len(cols) > 1 and effects:
        column, first = effects[0]
        grows = time in getattr(first, "terms", ())
        own = "own intercept and growth" if grows else "own intercept"
        text += (
            f"; on the right, the average curve with the {own} of five "
            f"{_e(lex.tier(column).noun.many)}, picked from the lowest to the highest "
            f"{_e(lex.tier(column).noun.one)} effect on the intercept (the level at "
            f"{_e(labels.raw(time))} = 0)"
        )
    elif outer is not inner:
        text += f"; on the right, the average curve of the {_e(outer.many)}"
    return text + "."


# --------------------------------------------------------------------------------------------
# The final model


def _interaction(results, model, labels, lex) -> str | None:
    if not results.simple_slopes:
        return None
    first = results.simple_slopes[0]
    focal = _e(labels.term(first.focal, with_reference=False))
    moderator = _e(labels.variable(first.moderator))
    what = (
        f"predicted probability that {_e(lex.event_clause)}"
        if model.is_binomial
        else f"predicted {_e(labels.raw(results.spec.outcome))}"
    )
    return (
        f"The interaction in the final model: the {what} against {focal}, one line per value of "
        f"{moderator}, with 95% confidence bands (other predictors at their means or reference "
        "levels)."
    )


def _group_slopes(results, model, labels, lex) -> str | None:
    effects = model.group_effects
    if effects is None or len(effects.terms) < 2:
        return None
    column = _effects_by_level(results, model)[0][0]
    noun = lex.tier(column).noun
    slope = effects.terms[1]
    n = len(effects.estimate)
    step = max(1, -(-n // MAX_LINES))
    shown = len(range(0, n, step))
    count = (
        f"thin lines for all {fmt.integer(n)} {_e(noun.many)}"
        if shown == n
        else f"thin lines for {fmt.integer(shown)} of the {fmt.integer(n)} {_e(noun.many)}, "
        f"every {step}{'nd' if step == 2 else 'rd' if step == 3 else 'th'} in the data's order"
    )
    dummy = labels.dummy_parts(slope) is not None
    variable = results.design.term(slope).variable
    moderated = [t for t in results.spec.interactions if variable in t.split(":")]
    average = (
        "the average at each level as a point with its 95% interval"
        if dummy
        else "the average line and its 95% confidence band"
    )
    if moderated:
        average = "one average line per value of the moderator, with 95% bands"
    text = (
        f"Each {_e(noun.one)}'s own line for {_e(labels.term(slope))} in the final model "
        f"({count}), with {average}; other predictors at their means or reference levels"
    )
    if levels.multilevel(results):
        others = [
            lex.tier(c).noun.many
            for c, e in _effects_by_level(results, model)[1:]
            if e is not None and slope in e.terms
        ]
        if others:
            text += f"; the {_e(_and(others))} have lines of their own, not drawn"
    if model.is_binomial:
        text += f". The lines are predicted probabilities that {_e(lex.event_clause)}"
    return text + "."


def _caterpillar(results, model, labels, lex) -> str | None:
    per_level = _effects_by_level(results, model)
    if not per_level:
        return None
    scale = _scale(results)
    scale = f", {scale}" if scale else ""
    if not levels.multilevel(results):
        column, effects = per_level[0]
        noun = lex.tier(column).noun
        n = len(effects.groups)
        terms = [_e(labels.term(t, with_reference=False)) for t in effects.terms]
        panels = f"; one panel per random coefficient ({_and(terms)})" if len(terms) > 1 else ""
        shape = (
            "each named with its 95% interval, sorted by intercept"
            if n <= LABELLED_GROUPS
            else "ranked, as a band of 95% intervals"
        )
        text = (
            f"The {fmt.integer(n)} {_e(noun.possessive)} effects in the final model (conditional "
            f"modes{scale}), {shape}{panels}"
        )
        where = level_facts.effects_in_data(results, effects)[1]
        if where:  # the intercept differs with the slope's variable: say where it is shown
            text += f"; the intercept is each {_e(noun.one)}'s difference at {_e(where)}"
        if n <= LABELLED_GROUPS:  # named rows: small groups are left out (privacy)
            hidden = len(small_groups(results) & {str(g) for g in effects.groups})
            text += _hidden(results, hidden, noun)
    else:
        names = []
        for c, e in per_level:
            n = len(e.groups)
            small = sum(1 for k in levels.group_summary(results, c).n if k < min_cell(results))
            hidden = _hidden(results, small if n <= LABELLED_GROUPS else 0, lex.tier(c).noun)
            names.append(f"{fmt.integer(n)} {_e(lex.tier(c).noun.many)}{hidden}")
        order = (
            "one row of panels per crossed factor"
            if levels.crossed(results)
            else "one row of panels per level, outermost first"
        )
        text = (
            f"Effects in the final model (conditional modes{scale}) with 95% intervals, {order}: "
            f"{_and(names)}; each coefficient is drawn on one scale in every row, so the rows "
            "show where the effects vary more"
        )
        points = {level_facts.effects_in_data(results, e)[1] for _, e in per_level} - {""}
        if points:  # a slope's variable far from 0: say where the intercepts are drawn
            text += f"; the intercepts are the differences at {_e(_and(sorted(points)))}"
    return (
        text + ". Intervals are not adjusted for comparing many at once: read the picture as "
        "the spread, not as a ranking."
    )


def _hidden(results: Results, count: int, noun) -> str:
    """ " (3 schools with fewer than 5 rows not shown)", or nothing."""
    if not count:
        return ""
    return f" ({_e(noun.count(fmt.integer(count)))} with {_e(fewer_than(results))} not shown)"


def _probabilities(results, model, labels, lex) -> str | None:
    if not model.is_binomial:
        return None
    noun = lex.group
    return (
        f"Predicted probabilities that {_e(lex.event_clause)}, from the final model, averaged "
        "over the rows of the data (average predictions, as R's marginaleffects): first, each "
        f"{_e(noun.one)}'s probability with every {_e(lex.unit.one)} of the data placed in it in "
        f"turn (the same mix for every {_e(noun.one)}), {_e(noun.many)} ranked, with 95% "
        "intervals, and the data's average prediction as a line; then, for up to three "
        "predictors, the average probability with that predictor set to each value for every "
        "row and the rest of each row as observed (categories and 0/1 predictors as points, "
        "numeric ones as a curve), with 95% confidence intervals of the fixed effects."
    )


# --------------------------------------------------------------------------------------------
# Diagnostics


def _levels_phrase(results: Results, lex: Lexicon) -> str:
    nouns = [lex.tier(c).noun.one for c in levels.columns(results)]
    if len(nouns) == 1:
        return f"its {_e(nouns[0])}'s effect"
    return "the effects of its " + _and([_e(n) for n in nouns])


def _actual_vs_predicted(results, model, labels, lex) -> str | None:
    if model.is_binomial:
        return None
    return (
        f"Observed against predicted {_e(labels.raw(results.spec.outcome))} for each "
        f"{_e(lex.unit.one)} in the final model (the fixed part plus "
        f"{_levels_phrase(results, lex)})."
    )


def _diagnostics(results, model, labels, lex) -> str | None:
    if model.is_binomial:
        return None
    column = _effects_by_level(results, model)[0][0]
    noun = lex.tier(column).noun
    return (
        "The final model's residuals against its fitted values, and normal QQ plots of the "
        f"residuals and of the {_e(noun.one)} intercepts."
    )


def _calibration(results, model, labels, lex) -> str | None:
    if not model.is_binomial:
        return None
    return (
        "Calibration of the final model: the observed share of the event against the mean "
        "predicted probability, in ten equal-size bins of predictions, with 95% intervals of "
        "each share. Points on the dashed line mean the predicted probabilities can be taken at "
        "face value."
    )


def _binned(results, model, labels, lex) -> str | None:
    if not model.is_binomial:
        return None
    return (
        "Binned residuals of the final model (Gelman & Hill 2007): the average of observed minus "
        "predicted in bins of the predicted probability, with ±2 standard-error bounds. About "
        "95% of bins should fall inside; a run of bins outside points to a missing curve or "
        "interaction."
    )


_BUILDERS = {
    "distributions": _distributions,
    "correlations": _correlations,
    "group_boxes": _group_boxes,
    "group_means": _group_means,
    "trajectories": _trajectories,
    "interaction": _interaction,
    "group_slopes": _group_slopes,
    "caterpillar": _caterpillar,
    "probabilities": _probabilities,
    "actual_vs_predicted": _actual_vs_predicted,
    "diagnostics": _diagnostics,
    "calibration": _calibration,
    "binned_residuals": _binned,
}


def caption(name: str, results: Results, model: ModelResult | None) -> str | None:
    """The caption of figure `name` (document.figure's names), or None to keep the .qmd's."""
    builder = _BUILDERS.get(name)
    if builder is None or model is None:
        return None
    labels, lex = _words(results)
    text = builder(results, model, labels, lex)
    return " ".join(text.split()) if text else None
