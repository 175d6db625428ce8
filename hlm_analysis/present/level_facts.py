"""Finished facts about the grouping levels of a model with several (three levels, growth data,
crossed factors): each level's nouns, group counts and sizes, its share of the variance, the
ICC of rows sharing its groups, what the predictors explain at each level, and for growth
data the average growth and initial status. None for a two-level model, whose words stay as
they are.

Every phrase is built here from the lexicon and handed to the templates finished.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from .. import rules
from ..results import INTERCEPT, Results, VariableKind
from . import fmt, levels, lexicon, tables
from .labels import TermLabels

Escape = Callable[[object], str]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _count(words: lexicon.LevelWords, n: int) -> str:
    return f"{fmt.integer(n)} {words.noun.one if n == 1 else words.counted}"


def sizes_facts(results: Results, column: str | None, low: int, mean: float, high: int) -> dict:
    """Rows per group at a level for the data paragraph. With groups below min_cell, `hidden`
    counts them and `up_to` is the largest shown size ("" when none is shown): the smallest
    size, a hidden group's, is not given (the site's public copy raises min_cell)."""
    hidden, up_to = tables.hidden_sizes(results, column)
    return {
        "min": fmt.integer(low),
        "max": fmt.integer(high),
        "mean": fmt.num(mean, 1),
        "equal": low == high,
        "hidden": fmt.integer(hidden) if hidden else "",
        "one_hidden": hidden == 1,
        "up_to": fmt.integer(up_to) if hidden and up_to else "",
        "cut": fmt.integer(tables.min_cell(results)),
    }


def level_facts(
    results: Results, lex: lexicon.Lexicon, labels: TermLabels, escape: Escape
) -> dict | None:
    if not levels.multilevel(results):
        return None
    cols = levels.columns(results)
    crossed = levels.crossed(results)
    sizes = {s.column: s for s in levels.sizes(results)}
    shares = {s.column: s for s in levels.shares(results)}
    final_levels = levels.level_results(results.final)
    unit = lex.unit
    tiers = []
    for i, column in enumerate(cols):
        words = lex.tier(column)
        noun = words.noun
        parent = None if crossed or i == 0 else lex.tier(cols[i - 1]).noun
        size = sizes[column]
        share = shares.get(column)
        explained = getattr(final_levels.get(column), "variance_explained", None)
        child = None if crossed or i == len(cols) - 1 else lex.tier(cols[i + 1]).noun
        many, one = escape(noun.many), escape(noun.one)
        where = f"between {many}"
        same = f"in the same {one}"
        if parent is not None:
            where += f" within {escape(parent.many)}"
            same += f" (and so the same {escape(parent.one)})"
        if child is not None:
            same += f" but different {escape(child.many)}"
        reliability = getattr(final_levels.get(column), "reliability_mean", None)
        # a random slope on a variable whose 0 lies outside the data (ages 15-18): the level's
        # intercept reliability and variance reduction at the point its intercepts are shown at
        intercept_at = ""
        effects = getattr(final_levels.get(column), "group_effects", None)
        moved, point = intercept_reliability_in_data(results, results.final, column, effects)
        if moved is not None:
            reliability, intercept_at = moved, point
            explained = intercept_reduction_in_data(results, results.final, column, effects)
        tiers.append(
            {
                "column": column,
                "label": escape(labels.raw(column)),
                "one": escape(noun.one),
                "many": escape(noun.many),
                "Many": escape(noun.Many),
                "a": escape(noun.a),
                "named": words.named,
                "at": escape(words.at),
                "count": escape(_count(words, size.n_groups)),
                "sizes": None
                if size.size_min is None
                else sizes_facts(results, column, size.size_min, size.size_mean, size.size_max),
                "where": where,
                "share": fmt.pct(share.share) if share else None,
                "share_value": share.share if share else 0.0,
                "share_text": f"{fmt.pct(share.share)} {where}" if share else None,
                "same": same,
                "reliability": fmt.num(reliability, 2) if reliability is not None else None,
                "reliable": rules.reliability_high(reliability),
                # a level whose variance is at zero: every group's effect is 0, none to compare
                "reliability_zero": reliability is not None and round(reliability, 2) == 0,
                "icc": fmt.num(share.icc, 3) if share and share.icc is not None else None,
                "icc_ci": f"{fmt.num(share.icc_ci_low, 3)} to {fmt.num(share.icc_ci_high, 3)}"
                # a binary model with several levels has no interval (NaN): none, not "n/a to n/a"
                if share and _finite(share.icc_ci_low) and _finite(share.icc_ci_high)
                else None,
                # the size of the change; explained_grew says which way (a variance can grow:
                # with time in a growth model the intercept becomes the status at time 0)
                "explained": fmt.change_size(explained) if explained is not None else None,
                "explained_grew": explained is not None
                and explained < 0
                and not fmt.tiny_change(explained),
                "change": fmt.change_verb(explained),
                # "age 16.5, the average": where the two above are read ("" at 0, in the data)
                "intercept_at": escape(intercept_at) if intercept_at else "",
            }
        )
    _after(results, tiers, escape)
    innermost = lex.tiers[-1].noun
    if crossed:
        # no effect per combination in the model: the rest is the rows' own (residual) variance
        within = f"between {lex.unit.many} (the residual)"
    else:
        within = f"within {innermost.many}"
    residual = shares.get(levels.RESIDUAL)
    after_total = (
        sum(t["after_value"] for t in tiers) if all(t["after_text"] for t in tiers) else None
    )
    # "19% lies between schools", "7% between classes within schools", "74% within classes"
    shares_said = [t["share_text"] for t in tiers if t["share_text"]]
    if residual:
        shares_said.append(f"{fmt.pct(residual.share)} {escape(within)}")
    if shares_said:
        pct, rest = shares_said[0].split(" ", 1)
        shares_said[0] = f"{pct} lies {rest}"
    shared = [t for t in tiers if t["share"] is not None]
    largest = max(shared, key=lambda t: t["share_value"]) if shared else None
    between_total = sum(t["share_value"] for t in shared)
    return {
        "crossed": crossed,
        "tiers": tiers,
        "outermost": tiers[0],
        "innermost": tiers[-1],
        "within": escape(within),
        "residual_share": fmt.pct(residual.share) if residual else None,
        # "12% between schools, 8% between classes within schools and 80% within classes"
        "shares": shares_said,
        "largest": largest,
        "between_total": fmt.pct(between_total),
        "between_matter": rules.between_groups_matter(between_total),
        "between_after_matter": after_total is not None
        and rules.between_groups_matter(after_total),
        "within_dominate": rules.within_groups_dominate(between_total),
        "n_cells": fmt.integer(results.data.n_groups),
        "counts": _listed([t["count"] for t in tiers], " crossed with " if crossed else " in "),
        "growth": _growth(results, lex, labels, escape),
        "explained_any": any(t["explained"] is not None for t in tiers),
        "explained_grew_any": any(t["explained_grew"] for t in tiers),
        # after the predictors (final model without random slopes): each level's share of the
        # remaining variance, the largest, and their sum (None with random slopes, where the
        # intercept variances hold only where the slope variables are zero)
        "after": _with_verb(
            [t["after_text"] for t in tiers if t["after_text"]]
            + ([f"{fmt.pct(1 - after_total)} {escape(within)}"] if after_total is not None else [])
        )
        or None,
        "after_total": fmt.pct(sum(t["after_value"] for t in tiers))
        if all(t["after_text"] for t in tiers)
        else None,
        "after_total_value": sum(t["after_value"] for t in tiers)
        if all(t["after_text"] for t in tiers)
        else None,
        "largest_after": max(tiers, key=lambda t: t["after_value"])
        if all(t["after_text"] for t in tiers)
        else None,
        "level1_explained": fmt.pct(results.final.variance_explained_level1),
        "unit": escape(unit.one),
        "centring": _centring(results, lex, labels, escape),
    }


def _centring(results: Results, lex: lexicon.Lexicon, labels: TermLabels, escape: Escape):
    """The methods' clause per centred predictor, naming the level whose mean is taken off
    ("Prior attainment (points) on the mean of its school"); [] when none is centred."""
    spec, out = results.spec, []
    for v in results.design.variables:
        if v.mean_of is not None or v.centering not in ("group", "grand"):
            continue
        if v.centering == "grand":
            out.append(f"{escape(labels.raw(v.name))} on its overall mean")
            continue
        level = spec.centering_level(v.name) or levels.columns(results)[-1]
        noun = lex.tier(level).noun
        out.append(f"{escape(labels.raw(v.name))} on the mean of its {escape(noun.one)}")
    return out


def _after(results: Results, tiers: list[dict], escape: Escape) -> None:
    """Each level's share of the variance the final model leaves, when it has no random slope."""
    final = results.final
    per_level = levels.random_terms(final, results)
    plain = all(terms == [INTERCEPT] for terms in per_level.values())
    variances = {
        vc.group: vc.estimate
        for vc in final.variance_components
        if vc.term2 is None and (vc.term1 == INTERCEPT or vc.group == levels.RESIDUAL)
    }
    if levels.RESIDUAL not in variances and final.is_binomial:
        variances[levels.RESIDUAL] = math.pi**2 / 3  # the latent scale's level-1 variance
    known = plain and all(t["column"] in variances for t in tiers)
    total = sum(variances.values()) if known else 0.0
    for t in tiers:
        if known and total > 0:
            value = variances[t["column"]] / total
            t["after_value"] = value
            t["after_text"] = f"{fmt.pct(value)} {t['where']}"
        else:
            t["after_value"] = 0.0
            t["after_text"] = None


def _with_verb(texts: list[str] | None) -> list[str] | None:
    """'5% lies between schools', then the rest as they are."""
    if not texts:
        return texts
    pct, rest = texts[0].split(" ", 1)
    return [f"{pct} lies {rest}", *texts[1:]]


def _listed(items: list[str], joint: str) -> str:
    """Counts from the innermost level outwards: "600 classes in 30 schools"."""
    return joint.join(items[::-1]) if " in " in joint else joint.join(items)


def _time_zero(summary, label: str) -> str | None:
    """Where time 0 lies against the observed times (None when it is the first of them)."""
    if summary is None or summary.min == 0:
        return None

    def short(value: float) -> str:  # -2.5, not -2.50
        return f"{value:.4g}".replace("-", fmt.MINUS)

    observed = f"({short(summary.min)} to {short(summary.max)})"
    if summary.min < 0 < summary.max:
        where = f"lies inside the observed range {observed}"
    elif summary.max < 0:
        where = f"lies after the last observed time {observed}"
    elif summary.max == 0:
        where = f"is the last observed time {observed}"
    else:
        where = f"lies before the first observed time {observed}"
    return (
        f"{label} = 0 {where}, so the intercept is the status there, not the status at the "
        "first measurement"
    )


def _others_at_zero(results: Results, time: str, labels: TermLabels) -> str:
    """Where the intercept holds for the other predictors, named ("where Low-income students
    in the school (%) = 0"; "reference values" was jargon); past two, said in general."""
    others = [v for v in results.design.predictors if v != time]
    if len(others) > 2:
        return "with the other predictors at 0 or at their reference levels"
    said = []
    for name in others:
        variable = results.design.variable(name)
        value = variable.reference if variable.kind == VariableKind.CATEGORICAL else "0"
        said.append(f"{labels.variable(name)} = {value}")
    return "where " + " and ".join(said)


def _growth(results: Results, lex: lexicon.Lexicon, labels: TermLabels, escape: Escape):
    """Growth data (`time:`): the average growth per unit of time, the initial status (the
    intercept: the outcome at time 0), and how much growth differs at each level."""
    time = levels.time_column(results)
    if time is None:
        return None
    final = results.final
    try:
        slope = final.effect(time)
    except KeyError:
        return None
    label = labels.raw(time)
    word = lexicon.derived_group_noun(label)
    per = f"per {word}" if word else f"per unit of {label}"
    intercept = final.effect(INTERCEPT)
    varies = []
    random = levels.random_terms(final, results)
    sd = {(vc.group, vc.term1): vc.sdcor for vc in final.variance_components if vc.term2 is None}
    for t in lex.tiers:
        if time in random.get(t.column, []) and (t.column, time) in sd:
            varies.append(
                {
                    "many": escape(t.noun.many),
                    "one": escape(t.noun.one),
                    "sd": fmt.sig(sd[(t.column, time)], 3),
                }
            )
    return {
        "variable_name": time,  # the column: not for display
        "time": escape(label),
        "per": escape(per),
        "estimate": fmt.sig(slope.estimate, 3),
        "size": fmt.sig(abs(slope.estimate), 3),
        "direction": "grows" if slope.estimate > 0 else "falls",
        "ci": f"{fmt.sig(slope.ci_low, 3)} to {fmt.sig(slope.ci_high, 3)}",
        "p": fmt.pvalue(slope.p_value),
        "significant": rules.significant(slope.p_value),
        # at the precision its SE supports: -0.00259 with SE 0.127 is 0.00, not a finding
        "initial": fmt.to_error(intercept.estimate, intercept.std_error),
        # the intercept is the initial status only when time counts from the first measurement
        "initial_status": time in results.data.numeric and results.data.numeric[time].min == 0,
        "initial_ci": f"{fmt.to_error(intercept.ci_low, intercept.std_error)} to "
        f"{fmt.to_error(intercept.ci_high, intercept.std_error)}",
        "others": escape(_others_at_zero(results, time, labels)),
        # what time 0 is when it is not the first measurement: the intercept, its variances
        # and their correlations with growth all refer to that point
        "zero": _time_zero(results.data.numeric.get(time), escape(label)),
        "varies": varies,
        "alone": len(results.design.predictors) == 1,
    }


def effects_in_data(results: Results, effects):
    """A level's group effects with the intercept's column moved to a point inside the data when
    a random slope's numeric variable has its 0 outside its observed values (ages 15-18): the
    intercept effect u0 is then each group's difference at age 0, an extrapolation; at the
    variable's mean m it is u0 + u1*m, with variance from the group's conditional covariance.
    Returns (effects, where): where says the point ("age 16.5, the average"), or, for results
    without the covariances, which point the unchanged effects hold at ("age 0, outside the
    data"); "" when the intercept's 0 lies in the data (centred or near-zero variables)."""
    if effects is None or len(effects.terms) < 2:
        return effects, ""
    a, means, zeros = _point(results, effects)
    if not means:
        return effects, ""
    if len(effects.covariance) != len(effects.groups):
        return effects, f"{' and '.join(zeros)}, outside the data"
    est = np.array(effects.estimate, float)
    cov = np.array(effects.covariance, float)
    se = np.array(effects.std_error, float)
    est[:, 0] = est @ a
    se[:, 0] = np.sqrt(np.clip(np.einsum("i,gij,j->g", a, cov, a), 0, None))
    moved = dataclasses.replace(
        effects,
        estimate=tuple(map(tuple, est.tolist())),
        std_error=tuple(map(tuple, se.tolist())),
    )
    return moved, f"{' and '.join(means)}, the average"


def intercept_reliability_in_data(results: Results, model, column: str, effects=None):
    """HLM's average lambda of the intercepts at the point effects_in_data moves them to:
    mean over groups of 1 - var_j / tau(m), tau(m) = a'Ta the between-group variance there
    (at age 0 the variance is huge and lambda near 1 whatever the data); (None, "") when the
    intercepts are not moved. `effects`: the level's group effects (several levels; default the
    model's own)."""
    effects = model.group_effects if effects is None else effects
    moved, where = effects_in_data(results, effects)
    if moved is effects or not where:
        return None, ""
    between = intercept_variance_in_data(results, model, column, effects)
    if between is None:
        return None, ""
    se = np.array(moved.std_error, float)[:, 0]
    return float(np.mean(np.clip(1 - se**2 / between, 0, 1))), where


def intercept_variance_in_data(results: Results, model, column: str, effects=None) -> float | None:
    """The between-group variance of the intercepts at the point effects_in_data moves them to,
    a'Ta (None where they are not moved or it is not positive): the final model's intercept
    variance at age 0 is no quantity to set beside the null model's (Raudenbush & Bryk's
    proportional reduction compares the two at one point). `column`: the level whose variance
    rows are read; `effects`: its group effects (default the model's own)."""
    effects = model.group_effects if effects is None else effects
    if effects is None or len(effects.terms) < 2:
        return None
    a, means, _ = _point(results, effects)
    if not means:
        return None
    terms = list(effects.terms)
    tau = np.zeros((len(terms), len(terms)))
    for vc in model.variance_components:
        if vc.group != column or vc.term1 not in terms:
            continue
        i = terms.index(vc.term1)
        j = i if vc.term2 is None else terms.index(vc.term2) if vc.term2 in terms else None
        if j is not None:
            tau[i, j] = tau[j, i] = vc.estimate
    between = float(a @ tau @ a)
    return between if between > 0 else None


def intercept_reduction_in_data(results: Results, model, column: str, effects=None) -> float | None:
    """Raudenbush & Bryk's proportional reduction of a level's intercept variance against the
    null model, with the model's intercepts read at the point effects_in_data moves them to
    (None when either variance is not there)."""
    null = results.models.get("null")
    tau_null = next(
        (
            vc.estimate
            for vc in (null.variance_components if null is not None else ())
            if vc.group == column and vc.term1 == INTERCEPT and vc.term2 is None
        ),
        None,
    )
    between = intercept_variance_in_data(results, model, column, effects)
    if not tau_null or between is None:
        return None
    return (tau_null - between) / tau_null


def _point(results: Results, effects):
    """The point inside the data for each of the effects' terms (1 for the intercept, a numeric
    random slope's mean where its 0 lies outside the data, else 0), and the words for it."""
    a = np.zeros(len(effects.terms))
    a[0] = 1.0
    means, zeros = [], []
    for k, term in enumerate(effects.terms):
        if term == INTERCEPT:
            continue
        try:
            t = results.design.term(term)
            v = results.design.variable(t.variable) if t.variable is not None else None
        except (KeyError, ValueError):
            continue
        if v is None or t.level is not None:
            continue
        seen = results.data.model_scale.get(v.name) or results.data.numeric.get(v.name)
        if seen is None or seen.min <= 0 <= seen.max:
            continue
        a[k] = seen.mean
        name = results.spec.label(v.name)
        means.append(f"{name} {fmt.sig(seen.mean)}")
        zeros.append(f"{name} 0")
    return a, means, zeros
