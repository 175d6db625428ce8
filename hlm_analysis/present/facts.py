"""Results to finished facts: every number formatted, every user string escaped, every decision
taken (by rules.py) and handed over as a flag. Computed once per report; templates only place
these strings and branch on these flags.

Every fact about the fitted model comes from the final model (results.final_model), the one the
report stands on; the null model gives only the unconditional ICC.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .. import distributions, rules
from ..results import INTERCEPT, ModelName, Results, TermKind, VariableKind
from . import equation, fmt, levels, lexicon
from . import level_facts as level_facts_module
from .labels import TermLabels, labels_for, slope_point
from .level_facts import level_facts

Escape = Callable[[object], str]


def _rule(rule: rules.Rule) -> dict:
    value = str(int(rule.value)) if float(rule.value).is_integer() else f"{rule.value:g}"
    return {"name": rule.name, "value": value, "source": rule.source}


def _ci(low: float | None, high: float | None, digits=fmt.sig) -> str:
    return f"{digits(low, 3)} to {digits(high, 3)}"


def _condition(results: Results, term: str, labels: TermLabels, lex: lexicon.Lexicon) -> str:
    """Where a main effect holds when its variable is in an interaction: at 0 (or the reference
    level) of each variable it interacts with."""
    design = results.design
    variable = design.term(term).variable
    parts = []
    for interaction in results.spec.interactions:
        names = interaction.split(":")
        if variable not in names:
            continue
        for other in names:
            if other == variable:
                continue
            v = design.variable(other)
            if v.kind == VariableKind.CATEGORICAL:
                parts.append(f"for {labels.raw(other)} = {v.reference}")
            elif v.centering == "group":  # at its level's mean (several levels), else the group's
                noun = labels.centred_at.get(other) or lex.group.one
                parts.append(f"for {lex.unit.a} at the {noun} mean of {labels.raw(other)}")
            elif v.centering == "grand":
                parts.append(f"at the overall mean of {labels.raw(other)}")
            elif outside_zero(results, other):
                low, high = (f"{x:.4g}" for x in outside_zero(results, other))
                parts.append(
                    f"at {labels.raw(other)} = 0, outside the observed range {low} to {high}"
                )
            else:
                parts.append(f"at {labels.raw(other)} = 0")
    return "; ".join(dict.fromkeys(parts))


def outside_zero(results: Results, variable: str) -> tuple[float, float] | None:
    """(min, max) of a numeric variable as measured when 0 lies outside it (a moderator coded
    1/2, a year 2019 to 2024): a main effect held at its 0 is then read where there are no
    data, and says so. None otherwise."""
    summary = results.data.numeric.get(variable)
    if summary is None or summary.min <= 0 <= summary.max:
        return None
    return summary.min, summary.max


def held_outside_data(results: Results, term: str) -> bool:
    """Whether a main effect in an uncentred numeric interaction holds only at a 0 of the other
    variable that the data do not reach."""
    variable = results.design.term(term).variable
    for interaction in results.spec.interactions:
        names = interaction.split(":")
        if variable not in names:
            continue
        for other in names:
            v = results.design.variable(other)
            if other != variable and v.kind == VariableKind.NUMERIC and not v.centering:
                if outside_zero(results, other):
                    return True
    return False


def _one_unit(results: Results, labels: TermLabels, variable) -> str:
    """How one unit of a numeric predictor reads (a group mean: of the variable it averages)."""
    if variable is None:
        return "one unit"
    column = variable.mean_of or variable.name
    summaries = {**results.data.numeric, **(getattr(results.data, "group_level", None) or {})}
    largest = summaries[column].max if column in summaries else None
    return labels.one_unit(column, largest)


def effect_fact(
    fe,
    results: Results,
    labels: TermLabels,
    outcome: str,
    escape: Escape,
    lex: lexicon.Lexicon | None = None,
) -> dict:
    design = results.design
    lex = lex or lexicon.build(results.spec, design, labels.variable)
    term = design.term(fe.term)
    dummy = labels.dummy_parts(fe.term)
    variable = design.variable(term.variable) if term.variable else None
    binary = variable is not None and variable.binary
    # growth data: time's slope is growth per unit of time; a size per SD of time means nothing
    is_time = term.variable is not None and term.variable == levels.time_column(results)
    size = (
        None
        if is_time
        else rules.effect_size(
            fe.std_estimate,
            difference=dummy is not None or binary,
            scheme=getattr(results.spec, "effect_sizes", "cohen"),
        )
    )
    # the rows at the level and at the reference, as the lexicon words them
    if dummy is not None:
        level_phrase = lex.level(term.variable, term.level)
        reference_phrase = lex.level(term.variable, variable.reference)
    elif binary:
        level_phrase, reference_phrase = (
            lex.level(term.variable, "1"),
            lex.level(term.variable, "0"),
        )
    else:
        level_phrase = reference_phrase = ""
    lever = term.variable in results.spec.levers if term.variable else False
    # who can act on it: the groups of the level it is constant at (several levels), else the
    # innermost groups, as for two levels
    at = levels.variable_column(results, term.variable) if term.variable else None
    actor = lex.tier(at) if at and levels.multilevel(results) else lex.tiers[-1]
    if levels.crossed(results) and not at:  # a row's own variable: neither factor acts on it
        actor = replace(actor, named=False)
    acts = levels.multilevel(results) and at is not None
    return {
        "term": fe.term,
        "variable_name": term.variable,  # the column (None for interactions): not for display
        "group_level": variable is not None and variable.group_level,
        "binary": variable is not None and variable.binary,
        "label": escape(labels.term(fe.term)),
        # a category in the config's words when level_labels give both ("Sex: boys (vs girls)")
        "words": escape(f"{dummy[0]}: {level_phrase} (vs {reference_phrase})")
        if dummy is not None
        and level_phrase
        and reference_phrase
        and term.variable in (getattr(results.spec, "level_labels", None) or {})
        else escape(labels.term(fe.term)),
        "variable": escape(dummy[0]) if dummy else escape(labels.term(fe.term)),
        "is_dummy": dummy is not None,
        "is_interaction": term.kind == TermKind.INTERACTION,
        # how a one-unit difference reads: among schoolmates, between groups, or plainly
        "within_group": variable is not None and variable.centering == "group",
        "group_mean": variable is not None and variable.mean_of is not None,
        # a composition variable (a group mean) by what it measures: "the school's average SES"
        "mean_of": escape(labels.raw(variable.mean_of))
        if variable is not None and variable.mean_of
        else "",
        # "one percentage point" for a percentage, else "one unit" (labels.one_unit)
        "one_unit": _one_unit(results, labels, variable),
        "unit_step": _one_unit(results, labels, variable).replace(" ", "-"),  # "one-unit increase"
        "level_phrase": escape(level_phrase),
        "reference_phrase": escape(reference_phrase),
        "level": escape(dummy[1]) if dummy else "",
        "reference": escape(dummy[2]) if dummy else "",
        "direction": "higher" if fe.estimate > 0 else "lower",
        "positive": fe.estimate > 0,
        "size": fmt.sig(abs(fe.estimate), 3),
        "estimate": fmt.sig(fe.estimate, 3),
        "ci": _ci(fe.ci_low, fe.ci_high),
        "p": fmt.pvalue(fe.p_value),
        "t": fmt.num(fe.statistic, 2),
        "df": fmt.df(fe.df),
        "significant": rules.significant(fe.p_value),
        "std": fmt.num(fe.std_estimate, 2) if fe.std_estimate is not None and not is_time else None,
        # how findings are ranked: the standardized size, or for a logistic model (which has
        # none comparable across predictors) the strength of evidence, |z|
        "abs_std": abs(fe.std_estimate)
        if fe.std_estimate is not None
        else abs(fe.statistic)
        if fe.odds_ratio is not None
        else 0.0,
        "size_label": str(size) if size is not None else None,
        "robust_se": fmt.sig(fe.robust_se, 2) if fe.robust_se is not None else None,
        "robust_p": fmt.pvalue(fe.robust_p) if fe.robust_p is not None else None,
        "robust_significant": rules.significant(fe.robust_p),
        "lever": lever,
        "actor_many": escape(actor.noun.many),
        "actor_named": actor.named,
        "changeable": escape(actor.changeable),
        # several levels: the level it acts at ("at the class level"), "" for a row's own
        "acts_at": escape(actor.at) if acts else "",
        "acts_a": escape(actor.noun.a) if acts else "",
        "acts_many": escape(actor.noun.many) if acts else "",
        # whom its differences lie between: the groups of the level it is constant at (growth's
        # lowinc: schools, not children), "" for a row's own variable (the people)
        "between": escape(actor.noun.many)
        if acts or (variable is not None and variable.group_level and not levels.crossed(results))
        else "",
        "outcome": outcome,
        # a main effect of a variable in an interaction holds only where the other is 0
        "condition": escape(_condition(results, fe.term, labels, lex))
        if term.kind != TermKind.INTERACTION and term.variable
        else "",
        # held at a 0 of its moderator that no row has: no verdict on it in the summary
        "outside": term.kind != TermKind.INTERACTION
        and bool(term.variable)
        and held_outside_data(results, fe.term),
        **_odds_facts(fe),
    }


def _points(share: float) -> str:
    """A difference of probabilities in percentage points."""
    return fmt.num(100 * share, 1)


def _odds_facts(fe) -> dict:
    """A logistic model's effect as a board reads it: the average marginal effect in percentage
    points (more or less likely) and the odds ratio; empty for a Gaussian model."""
    if fe.odds_ratio is None:
        return {"odds_ratio": None, "ame": None}
    out = {
        "odds_ratio": fmt.sig(fe.odds_ratio, 3),
        "or_ci": _ci(fe.odds_ratio_ci_low, fe.odds_ratio_ci_high),
        "ame": None,
        "z": fmt.num(fe.statistic, 2),
    }
    if fe.marginal_effect is not None:
        half = 1.96 * fe.marginal_effect_se
        out |= {
            "ame": _points(abs(fe.marginal_effect)),
            "ame_signed": _points(fe.marginal_effect),
            "ame_ci": f"{_points(fe.marginal_effect - half)} to {_points(fe.marginal_effect + half)}",
            "likelier": "more" if fe.marginal_effect > 0 else "less",
            # its 95% interval excludes zero: averaged over the data, a reliable difference
            "ame_significant": fe.marginal_effect - half > 0 or fe.marginal_effect + half < 0,
            "ame_positive": fe.marginal_effect > 0,
        }
    return out


_CI_METHODS = {"profile": "profile", "wald": "Wald"}


def _between(results: Results, lex: lexicon.Lexicon, name: str) -> str:
    """Whom a variable's differences lie between: the groups of the level it is constant at
    (hsb82's sector: schools), "" for a row's own variable (the people), as the effects' "between"."""
    at = levels.variable_column(results, name)
    if at and levels.multilevel(results):
        return lex.tier(at).noun.many
    variable = results.design.variable(name)
    if variable.group_level and not levels.crossed(results):
        return lex.tiers[-1].noun.many
    return ""


def _slope(
    results: Results, labels: TermLabels, escape: Escape, lex: lexicon.Lexicon | None = None
) -> dict | None:
    """The random slope(s) of the final model: their size, the final model's test of them, and
    how reliably each group's own slope is estimated. With several levels, one entry per slope
    and level, in the nouns of that level."""
    final = results.final
    lex = lex or lexicon.build(results.spec, results.design, labels.raw)
    multilevel = levels.multilevel(results)
    per_level = levels.random_terms(final, results)
    by_level = levels.level_results(final)
    pairs = [(column, t) for column, terms in per_level.items() for t in terms if t != INTERCEPT]
    if not pairs:
        return None
    tests = {(getattr(t, "level", None), t.term): t for t in results.component_tests}
    rows = {(vc.group, vc.term1, vc.term2): vc for vc in final.variance_components}
    items = []
    for column, term in pairs:
        vc = rows[(column, term, None)]
        test = tests.get((column, term)) or tests.get((None, term))
        if multilevel and column in by_level:
            reliability = by_level[column].reliability.get(term)
        else:
            reliability = final.reliability.get(term)
        words = lex.tier(column)
        items.append(
            {
                "label": escape(labels.term(term, with_reference=False)),
                "is_time": term == levels.time_column(results),
                # what a group is compared on: growth data's slope of time is growth per unit of
                # time ("their growth per year"; was "Compare schools on Year")
                "own": escape(_own_slope(results, term, labels)),
                "one": escape(words.noun.one),
                "many": escape(words.noun.many),
                # the SD's and the ranking's noun: the level's ("school"), "group" when unnamed
                "group_word": escape(words.noun.one),
                "groups_word": escape(words.noun.many),
                "sd": fmt.sig(vc.sdcor, 3),
                "sd_ci": _ci(vc.ci_low, vc.ci_high) if vc.ci_low is not None else None,
                # the label names the method the interval actually used
                "sd_ci_method": _CI_METHODS.get(
                    getattr(vc, "ci_method", None) or "profile", "profile"
                ),
                "average": fmt.sig(final.effect(term).estimate, 3),
                "p": fmt.pvalue(test.p_value) if test else "p = n/a",
                "statistic": fmt.num(test.statistic, 2) if test else "n/a",
                "df": test.df if test else "n/a",
                "varies": rules.slopes_vary(test.p_value if test else None),
                "reliability": fmt.num(reliability, 2),
                "reliable": rules.reliability_high(reliability),
                "sd_high": fmt.sig(vc.ci_high, 3) if vc.ci_high is not None else None,
                "average_by": _average_by(results, term, labels, escape),
                **_explained(results, term, labels, escape),
                # a logistic slope as odds ratios: the average, and the range that holds for
                # the middle 95% of groups (average +- 1.96 SD on the log-odds scale)
                "or_average": fmt.sig(math.exp(final.effect(term).estimate), 3),
                "or_low": fmt.sig(math.exp(final.effect(term).estimate - 1.96 * vc.sdcor), 3),
                "or_high": fmt.sig(math.exp(final.effect(term).estimate + 1.96 * vc.sdcor), 3),
            }
        )
    return {
        "entries": items,
        "any_varies": any(i["varies"] for i in items),
        "compare_groups": any(i["varies"] and i["reliable"] for i in items),
    }


def _own_slope(results: Results, term: str, labels: TermLabels) -> str:
    label = labels.term(term, with_reference=False)
    if term != levels.time_column(results):
        return f"effect of {label}"
    word = lexicon.derived_group_noun(label)
    return f"growth per {word}" if word else f"growth per unit of {label}"


def _explained(results: Results, term: str, labels: TermLabels, escape: Escape) -> dict:
    """How much of the slope's variance its cross-level interactions explain (tau11 reduction),
    and the test of the slope in the model without them: slopes may vary there and the
    moderators explain most of it, while the final model's remaining variance is not
    distinguishable from zero."""
    row = next(
        (
            r
            for r in getattr(results, "slope_variance_explained", ())
            if r.term == term and r.proportion is not None
        ),
        None,
    )
    if row is None:
        return {"explained": None}
    before = next((c for c in results.comparisons if c.model_b == row.model_without), None)
    return {
        "explained": fmt.pct(max(row.proportion, 0.0)),
        "explained_grew": row.proportion < 0,
        "moderators": escape(_listed_names([labels.variable(m) for m in row.moderators])),
        "moderators_many": len(row.moderators) > 1,
        "tau_without": fmt.sig(row.tau_without, 3),
        "tau_with": fmt.sig(row.tau_with, 3),
        "varied_before": before is not None and rules.slopes_vary(before.p_value),
        "p_before": fmt.pvalue(before.p_value) if before is not None else None,
    }


def _singular_words(
    results: Results, model, labels: TermLabels, lex: lexicon.Lexicon
) -> tuple[str, int]:
    """A singular fit's terms as a reader names them, each at its level: "the variance between
    districts", "the variance of the effect of Wave between children" (was "the Random intercept
    model's variance for Intercept")."""
    per_level = levels.level_results(model)
    if per_level:
        pairs = [(c, t) for c, lv in per_level.items() for t in (lv.singular_terms or ())]
    else:
        pairs = [(lex.tiers[-1].column, t) for t in model.singular_terms]
    said = []
    for column, term in pairs:
        many = lex.tier(column).noun.many
        if results.design.term(term).kind == TermKind.INTERCEPT:
            said.append(f"the variance between {many}")
        else:
            said.append(f"the variance of the effect of {labels.term(term, False)} between {many}")
    return (_listed_names(said) if said else "a variance", len(said))


def _growth_tested(results: Results, lex, labels: TermLabels, escape: Escape, slope: dict | None):
    """The growth facts, each level's spread of growth with the final model's test of it: an SD
    alone was said as "the growth differs between children" at p = .38."""
    growth = level_facts_module._growth(results, lex, labels, escape)
    if growth is None:
        return None
    entries = [e for e in (slope or {}).get("entries", []) if e["is_time"]]
    for v in growth["varies"]:
        e = next((e for e in entries if e["many"] == v["many"]), None)
        v["varies"] = e["varies"] if e else True
        v["p"] = e["p"] if e else None
    return growth


def _changeable(lex: lexicon.Lexicon) -> str:
    """What the analyst could list as a lever, with every named level as a possible actor."""
    if len(lex.tiers) < 2:
        return lex.changeable
    if not all(t.named for t in lex.tiers):
        return "something that can be changed"
    many = [t.noun.many for t in lex.tiers]
    return f"something {', '.join(many[:-1])} or {many[-1]} can change"


def _dropped_slopes(results: Results, labels: TermLabels, lex: lexicon.Lexicon, escape: Escape):
    """The configured random slopes the final model does not hold, each with the groups it was
    to vary between: "Wave" between "children" (the summary asked "between groups?")."""
    random = levels.random_terms(results.final, results)
    out = []
    for t in lex.tiers:
        held = {results.design.term(term).variable for term in random.get(t.column, [])}
        at = (
            results.spec.slopes_at(t.column)
            if hasattr(results.spec, "slopes_at") and getattr(results.spec, "levels", None)
            else list(results.spec.random_slopes)
        )
        for v in at:
            if v not in held:
                out.append(
                    {
                        "label": escape(labels.variable(v)),
                        "many": escape(t.noun.many),
                        "one": escape(t.noun.one),
                    }
                )
    return out


def _listed_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _joint(results: Results, labels: TermLabels, escape: Escape) -> list[dict]:
    """Joint tests of multi-level factors (and interactions with them) in the final model."""
    out = []
    for j in getattr(results, "joint_tests", ()):
        name = j.predictor
        label = (
            " \u00d7 ".join(labels.variable(v) for v in name.split(":"))
            if ":" in name
            else labels.variable(name)
        )
        stat = (
            f"F({j.df_num}, {fmt.df(j.df_den)}) = {fmt.num(j.statistic, 2)}"
            if j.df_den is not None
            else f"χ²({j.df_num}) = {fmt.num(j.statistic, 2)}"
        )
        out.append(
            {
                "predictor": name,  # the column or interaction: not for display
                "label": escape(label),
                "test": stat,
                "method": j.method,
                "p": fmt.pvalue(j.p_value),
                "significant": rules.significant(j.p_value),
            }
        )
    return out


def _slope_at(s, labels: TermLabels, escape: Escape, results: Results) -> str:
    """Where a simple slope of a numeric moderator is read: "mean − 1 SD (0.921)", "mean over
    students (0.000)" (labels.slope_point), or, for a moderator with two values (1/2),
    "Sector = 1" rather than a bare "1 (1)"."""
    if s.moderator_number is not None and s.moderator_value == f"{s.moderator_number:g}":
        return escape(f"{labels.variable(s.moderator)} = {s.moderator_value}")
    where, number = slope_point(results, s)
    return escape(where) + f" ({number})"


def _average_by(results: Results, term: str, labels: TermLabels, escape: Escape) -> str:
    """The average slope at each moderator value, when the slope variable is in an interaction:
    its own coefficient alone is the slope at the reference level only."""
    slopes = [s for s in results.simple_slopes if s.focal == term]
    return "; ".join(
        f"{fmt.sig(s.estimate, 3)} for {escape(labels.raw(s.moderator))} = {escape(s.moderator_value)}"
        for s in slopes
    )


def _moderator_at(
    s, categorical: bool, labels: TermLabels, lex: lexicon.Lexicon | None, results=None
) -> str:
    """Where a simple slope is read, named with its moderator: "for patients in hospitals with
    Teaching hospital = no" (a bare "for no" named nothing), "Motivation = −1.02, the mean − 1 SD"."""
    name = labels.variable(s.moderator)
    if categorical:
        phrase = lex.level(s.moderator, s.moderator_value) if lex else ""
        return phrase or f"{name} = {s.moderator_value}"
    if s.moderator_number is not None and s.moderator_value == f"{s.moderator_number:g}":
        return f"{name} = {s.moderator_value}"
    where, number = (
        slope_point(results, s)
        if results is not None
        else (s.moderator_value, fmt.sig(s.moderator_number, 3))
    )
    number = number if s.moderator_number is not None else ""
    return f"{name} = {number}, the {where}" if number else f"{name} {where}"


def _reverses(
    slopes, categorical: bool, labels: TermLabels, lex, escape: Escape, results=None
) -> str | None:
    """A link that changes direction across the moderator: reliably negative at one value and
    reliably positive at another ("stronger" and "weaker" would misread it). The two ends as a
    phrase, else None."""
    neg = [s for s in slopes if rules.significant(s.p_value) and s.estimate < 0]
    pos = [s for s in slopes if rules.significant(s.p_value) and s.estimate > 0]
    if not neg or not pos:
        return None
    word = "for" if categorical else "at"

    def at(s) -> str:
        where = escape(_moderator_at(s, categorical, labels, lex, results))
        return f"{word} {where} (slope {fmt.sig(s.estimate, 3)})"

    return f"negative {at(neg[0])}, but positive {at(pos[-1])}"


def _research_questions(
    results: Results, labels: TermLabels, escape: Escape, lex: lexicon.Lexicon | None = None
) -> list[dict]:
    """Each configured interaction answered from the final model: the focal slope at each
    moderator value (simple slopes) and the test of the interaction term(s)."""
    final = results.final
    out = []
    for interaction in results.spec.interactions:
        slopes = [s for s in results.simple_slopes if s.interaction == interaction]
        if not slopes:
            continue
        products = [
            fe
            for fe in final.fixed_effects
            if results.design.term(fe.term).kind == TermKind.INTERACTION
            and set(_variables(results, fe.term)) == set(interaction.split(":"))
        ]
        moderator = results.design.variable(slopes[0].moderator)
        categorical = moderator.kind == VariableKind.CATEGORICAL
        region = next((j for j in results.johnson_neyman if j.interaction == interaction), None)
        focal_terms = list(dict.fromkeys(s.focal for s in slopes))
        liberal = interaction in getattr(results, "liberal_cross_level_tests", ())
        out.append(
            {
                "interaction": interaction,
                "variables": interaction.split(":"),
                "focal": escape(labels.term(slopes[0].focal, with_reference=False))
                if len(focal_terms) == 1
                else escape(labels.variable(results.design.term(slopes[0].focal).variable)),
                "focal_dummy": results.design.term(slopes[0].focal).kind == TermKind.DUMMY,
                "moderator": escape(labels.variable(slopes[0].moderator)),
                "categorical": categorical,
                "slopes": [
                    {
                        "focal": escape(labels.term(s.focal, with_reference=False))
                        if len(focal_terms) > 1
                        else "",
                        "at": _slope_at(s, labels, escape, results)
                        if not categorical
                        else escape(_moderator_at(s, True, labels, lex)),
                        "estimate": fmt.sig(s.estimate, 3),
                        "odds_ratio": fmt.sig(math.exp(s.estimate), 3),
                        "ci": _ci(s.ci_low, s.ci_high),
                        "p": fmt.pvalue(s.p_value),
                        "significant": rules.significant(s.p_value),
                    }
                    for s in slopes
                ],
                "terms": [
                    {
                        "label": escape(labels.term(fe.term)),
                        "estimate": fmt.sig(fe.estimate, 3),
                        "ci": _ci(fe.ci_low, fe.ci_high),
                        "odds_ratio": fmt.sig(fe.odds_ratio, 3) if fe.odds_ratio else None,
                        "or_ci": _ci(fe.odds_ratio_ci_low, fe.odds_ratio_ci_high)
                        if fe.odds_ratio
                        else None,
                        "p": fmt.pvalue(fe.p_value),
                        "significant": rules.significant(fe.p_value),
                        "robust_p": fmt.pvalue(fe.robust_p) if fe.robust_p is not None else None,
                    }
                    for fe in products
                ],  # fmt: skip
                # the random slope could not stay: the model-based test is too liberal and the
                # cluster-robust (CR2) test of the product term(s) leads
                "liberal": liberal,
                "differs": any(
                    rules.significant(fe.robust_p if liberal else fe.p_value) for fe in products
                ),
                "region": _region(region, labels, escape) if region else None,
                # one focal term: its link reliably changes sign across the moderator
                "reverses": _reverses(slopes, categorical, labels, lex, escape, results)
                if len(focal_terms) == 1
                else None,
            }
        )
    return out


def _focus(
    results: Results, effects: list[dict], questions: list[dict], labels: TermLabels, escape
) -> dict | None:
    """The config's `question:` answered: a predictor's effect(s) or an interaction's test, each
    with its estimate and 95% CI, whatever the p-value."""
    question = getattr(results.spec, "question", None)
    if question is None:
        return None
    parts = question.split(":")
    if len(parts) > 1:
        q = next((q for q in questions if set(q["variables"]) == set(parts)), None)
        if q is None:
            return None
        return {**q, "is_interaction": True}
    rows = [e for e in effects if e["variable_name"] == question and not e["is_interaction"]]
    if not rows:
        return None
    return {
        "is_interaction": False,
        "interaction": None,
        "variables": [question],
        "variable": escape(labels.variable(question)),
        "effects": rows,
    }


def _references(results: Results, labels: TermLabels, escape) -> list[dict]:
    """The reference level of each text predictor and whether the config chose it."""
    out = []
    for v in results.design.variables:
        if v.kind != VariableKind.CATEGORICAL:
            continue
        configured = v.name in results.spec.reference
        out.append(
            {
                "variable": escape(labels.raw(v.name)),
                "level": escape(v.reference),
                "configured": configured,
                # a configured reference may happen to be the first level anyway
                "first_sorted": v.reference == sorted(v.levels)[0],
            }
        )
    return out


def _variables(results: Results, term: str) -> list[str]:
    t = results.design.term(term)
    parts = t.parts if t.kind == TermKind.INTERACTION else (term,)
    return [results.design.term(p).variable for p in parts]


def _region(region, labels: TermLabels, escape: Escape) -> dict:
    bounds = [fmt.sig(b, 3) for b in region.bounds]
    return {
        "moderator": escape(labels.variable(region.moderator)),
        "bounds": bounds,
        "inside": region.significant_inside,
        "observed": f"{fmt.sig(region.observed_min, 3)} to {fmt.sig(region.observed_max, 3)}",
    }


def _moderated_mean(results: Results, variable: str, moderator: str) -> bool:
    """Whether the model lets the group mean of `variable` interact with `moderator`: only then
    can its contextual effect differ by the moderator as a finding. Without that term, the
    contextual effects at each moderator value differ only because the within-group slope does
    (a consequence of the model's form, not of the data)."""
    means = {v.name for v in results.design.variables if v.mean_of == variable}
    return any(
        moderator in names and means & set(names)
        for names in (term.split(":") for term in results.spec.interactions)
    )


def _contextual(
    results: Results, labels: TermLabels, escape: Escape, lex: lexicon.Lexicon
) -> list[dict]:
    out = []
    for row in results.contextual_effects:
        # several levels: each row is at one level (its mean over that level's groups), named
        # by that level's noun; one level: the group noun as always
        noun = lex.tier(row.level).noun if row.level and lex.tiers else lex.group
        z = row.contextual.estimate / row.contextual.std_error if row.contextual.std_error else 0.0
        p = float(2 * distributions.norm_sf(abs(z)))  # Wald, as the contrast's SE is asymptotic
        out.append(
            {
                "at": escape(f"{labels.raw(row.moderator)} = {row.moderator_value}")
                if row.moderator
                else "",
                "variable": escape(labels.raw(row.variable)),
                "group": escape(noun.one),
                "groups": escape(noun.many),
                "group_a": escape(noun.a),
                # the level's noun when there are several levels (the sentences name it)
                "level": escape(noun.one) if row.level else "",
                "moderator": escape(labels.raw(row.moderator)) if row.moderator else "",
                # the by-moderator rows follow from the model's form unless the group mean
                # itself interacts with the moderator
                "constrained": bool(row.moderator)
                and not _moderated_mean(results, row.variable, row.moderator),
                "p": fmt.pvalue(p),
                "significant": rules.significant(p),
                "within": fmt.sig(row.within.estimate, 3),
                "between": fmt.sig(row.between.estimate, 3),
                "contextual": fmt.sig(row.contextual.estimate, 3),
                "contextual_abs": fmt.sig(abs(row.contextual.estimate), 3),
                "contextual_positive": row.contextual.estimate > 0,
                "contextual_se": fmt.sig(row.contextual.std_error, 2),
                "contextual_or": fmt.sig(math.exp(row.contextual.estimate), 3),
            }
        )
    return out


def _legend(results: Results, lex: lexicon.Lexicon, escape: Escape, labels) -> str:
    """What the equations' subscripts stand for: "i: student, j: School group", or one index
    per level ("i: pupil, j: class, k: school")."""
    if not levels.multilevel(results):
        if lex.group_named:  # the config's group_noun ("school")
            return f"i: {escape(lex.unit.one)}, j: {escape(lex.group.one)}"
        return (
            f"i: {escape(lex.unit.one)}, j: {escape(labels.variable(results.design.group))} group"
        )
    nouns = [escape(t.noun.one) for t in lex.tiers]
    if levels.crossed(results):
        return f"i: {escape(lex.unit.one)}, j: {nouns[0]}, k: {nouns[1]}, crossed"
    indices = "jklm"
    return ", ".join(
        [f"i: {escape(lex.unit.one)}"] + [f"{indices[k]}: {n}" for k, n in enumerate(nouns[::-1])]
    )


def _icc_method(method: str) -> str:
    """The ICC interval's method as a clause: "Wald intervals on the logit scale (delta
    method, REML curvature)" from the model stage's "Wald on the logit scale (...), 95%"."""
    text = method.removesuffix(", 95%")
    return text.replace("Wald on", "Wald intervals on", 1) if text.startswith("Wald on") else text


def _icc(estimate: float, n_groups: int) -> dict:
    return {
        "value": fmt.num(estimate, 3),
        "pct": fmt.pct(estimate),
        "band": str(rules.icc_band(estimate)),
        "classifiable": rules.icc_classifiable(n_groups),
        "between_groups_matter": rules.between_groups_matter(estimate),
        "within_groups_dominate": rules.within_groups_dominate(estimate),
    }


def _icc_after(after: float, before: float, n_groups: int) -> dict:
    """The ICC after the predictors, and whether the share between groups grew or shrank from
    the null model's as the report prints them: a share that grew is not what 'remains' (the
    predictors explained more of the variation within groups than between them)."""
    same = fmt.pct(after) == fmt.pct(before)
    return {
        **_icc(after, n_groups),
        "rose": not same and after > before,
        "fell": not same and after < before,
    }


def facts(results: Results, escape: Escape = fmt.md_escape) -> dict[str, Any]:
    """Finished strings and flags for the templates. `escape` makes user text literal in the
    target format: markdown escaping for the report, identity for plain-text email and for the
    autoescaped HTML templates."""
    spec = results.spec
    labels = labels_for(results)
    lex = lexicon.build(spec, results.design, labels.raw)
    data = results.data
    null = results.models[ModelName.NULL]
    final = results.final
    outcome = escape(labels.variable(spec.outcome))
    n_groups = data.n_groups
    effects = [
        effect_fact(fe, results, labels, outcome, escape, lex)
        for fe in final.fixed_effects
        if fe.term != INTERCEPT
    ]
    main_effects = [e for e in effects if not e["is_interaction"]]
    # A variable in an interaction has no single effect (its main effect is conditional on the
    # other variable): the research-question finding speaks for it, not "the largest association".
    in_interactions = {v for term in spec.interactions for v in term.split(":")}
    # growth data: time's slope is the growth (its own finding), never a context or lever
    in_interactions.add(levels.time_column(results))
    unconditional = [e for e in main_effects if e["variable_name"] not in in_interactions]
    significant = sorted(
        [e for e in unconditional if e["significant"]], key=lambda e: -e["abs_std"]
    )
    # the variables of the configured interactions that are reliably tied to the outcome (their
    # own term or a product term with p < .05): "none is reliable" must not be said of them
    reliable_in_interactions = {
        v
        for e in effects
        # a yes/no outcome's main effect is also reliable when its average marginal effect over
        # the data is, though its log-odds hold at the moderator's 0 (there not distinguishable)
        if e["significant"] or (e.get("ame_significant") and not e["is_interaction"])
        for v in (_variables(results, e["term"]) if e["is_interaction"] else [e["variable_name"]])
        if v in {w for term in spec.interactions for w in term.split(":")}
        and v != levels.time_column(results)  # growth: time's slope is its own finding
    }
    conditional = [
        {
            "variable": escape(labels.variable(v)),
            "lever": v in spec.levers,
            "between": escape(_between(results, lex, v)),
        }
        for v in dict.fromkeys(w for term in spec.interactions for w in term.split(":"))
        if v in reliable_in_interactions
    ]
    people = lex.tiers[-1].noun if levels.time_column(results) and lex.tiers else lex.unit
    # the band of the level with the fewest groups (several levels); two levels: the groups
    fewest = min(levels.sizes(results), key=lambda size: size.n_groups)
    fewest_words = lex.tier(fewest.column)
    band = rules.groups_band(fewest.n_groups if levels.multilevel(results) else n_groups)
    questions = _research_questions(results, labels, escape, lex)
    slope = _slope(results, labels, escape, lex)
    icc = {
        **_icc(null.icc.estimate, n_groups),
        "ci": f"{fmt.num(null.icc.ci_low, 3)} to {fmt.num(null.icc.ci_high, 3)}",
    }
    group_level = [v for v in results.design.variables if v.group_level]
    binary = spec.family == "binomial"
    after = final.icc_after
    reliability = final.reliability.get(INTERCEPT, final.reliability_mean)
    reliability_at = ""
    level2 = final.variance_explained_level2
    if not levels.multilevel(results) and final.group_effects is not None:
        # a random slope's variable far from 0: the intercepts' reliability where the data are
        # (at age 0 the between-group variance is an extrapolation and lambda near 1 regardless)
        column = levels.columns(results)[0]
        moved, where = level_facts_module.intercept_reliability_in_data(results, final, column)
        if moved is not None:
            reliability, reliability_at = moved, escape(where)
            # and the intercept variance's reduction against the null model at that point (at
            # age 0 it 'fell by -13,871%': a variance far outside the data set beside the null's)
            level2 = level_facts_module.intercept_reduction_in_data(results, final, column)
    return {
        "binary": binary,
        # binary outcomes: the event in words ("passed = yes"), its share in the data, and the
        # median odds ratio of the null model (Merlo et al. 2006)
        "event": escape(f"{labels.variable(spec.outcome)} = {results.design.event}")
        if binary
        else "",
        # the event as words: a predicate of one row ("uses contraception"; by default "has
        # Graduated = yes"), and with its subject ("a woman uses contraception")
        "event_predicate": escape(lex.event),
        "event_clause": escape(lex.event_clause),
        # the event named where the text names it: the configured words (`event_label:`)
        # over the outcome's code ("the event that a woman uses contraception", not "Uses
        # contraception = Y"); the code stays where none is configured
        "event_named": binary and lex.event_named,
        "event_noun": escape(f"the event that {lex.event_clause}")
        if binary and lex.event_named
        else (
            escape(f"{labels.variable(spec.outcome)} = {results.design.event}") if binary else ""
        ),
        # groups whose members all share one outcome: "every woman or no woman uses
        # contraception", else "all Passed = yes or none"
        "event_all_or_none": escape(f"every {lex.unit.one} or no {lex.unit.one} {lex.event}")
        if binary and lex.event_named
        else (
            escape(f"all {labels.variable(spec.outcome)} = {results.design.event} or none")
            if binary
            else ""
        ),
        # what the report is about, as a phrase: "Exam score", "the chance that a woman uses
        # contraception"
        "outcome_phrase": f"the chance that {escape(lex.event_clause)}" if binary else outcome,
        "event_share": fmt.pct(data.numeric[spec.outcome].mean) if binary else "",
        "mor": {
            "value": fmt.num(null.median_odds_ratio.estimate, 2),
            "ci": _ci(
                null.median_odds_ratio.ci_low,
                null.median_odds_ratio.ci_high,
                lambda value, digits: fmt.num(value, 2),
            ),
        }
        if null.median_odds_ratio is not None
        else None,
        "title": escape(spec.title),
        "outcome": outcome,
        "group": escape(labels.variable(levels.columns(results)[-1])),
        # several levels (three-level, growth, crossed): per-level facts; None for two levels
        "multilevel": levels.multilevel(results),
        # the clusters of cluster-robust SEs: the outermost level
        "cluster": escape(labels.variable(levels.columns(results)[0])),
        "icc_method": escape(_icc_method(null.icc.method)),
        "levels": level_facts(results, lex, labels, escape),
        # every noun phrase comes from the lexicon (present/lexicon.py)
        "groups": escape(lex.groups_counted),  # "schools", or "groups (SchoolID)" in counts
        "group_many": escape(lex.group.many),  # "schools", or "groups"
        "Group_many": escape(lex.group.Many),
        "group_one": escape(lex.group.one),  # "school", or "group"
        # the groups of every level: "schools and classes" (two levels: "schools")
        "between_many": escape(_listed_names([t.noun.many for t in lex.tiers])),
        "group_a": escape(lex.group.a),  # "a school", "an agency"
        "unit": escape(lex.unit.one),  # what one row is: "student"
        "unit_a": escape(lex.unit.a),
        "units": escape(lex.unit.many),
        "Units": escape(lex.unit.Many),
        # "students'", "women's": the apostrophe is the report's, not user text to escape
        "units_possessive": lexicon.possessive(escape(lex.unit.many)),
        # crossed factors and growth data: neither level's groups are the actor of everything;
        # nested levels: any of them may be ("something schools or classes can change", not the
        # innermost alone)
        "changeable": escape(_changeable(lex))
        if not (levels.crossed(results) or levels.time_column(results))
        else "something that can be changed",
        # the people the report is about: the rows, or in growth data the individuals whose
        # measurements the rows are ("children", not "test scores")
        "people": escape(people.many),
        "person": escape(people.one),
        "people_possessive": lexicon.possessive(
            escape(people.many)
        ),  # "something schools can change"
        "group_named": lex.group_named,
        "has_interactions": bool(spec.interactions),
        "n_obs": fmt.integer(data.n_obs),
        "n_groups": fmt.integer(n_groups),
        "group_size": level_facts_module.sizes_facts(
            results, None, data.group_size.min, data.group_size.mean, data.group_size.max
        ),
        "rows_dropped": fmt.integer(data.rows_dropped),
        "dropped_any": data.rows_dropped > 0,
        "dropped_by_column": [
            {"column": escape(labels.variable(c)), "n": fmt.integer(n)}
            for c, n in data.dropped_by_column.items()
        ],
        "icc": icc,
        "icc_after": _icc_after(after, null.icc.estimate, n_groups) if after is not None else None,
        # the group-level predictors took a real share of the differences between groups: the
        # ICC shrank by a quarter or more, and by a percentage point at least (linear models
        # only: a logistic model's latent scale changes with its predictors, so its two ICCs
        # cannot be compared)
        "groups_explained": spec.family != "binomial"
        and after is not None
        and after <= 0.75 * null.icc.estimate
        and null.icc.estimate - after >= 0.01,
        # averaged over the rows only when random slopes make the share depend on them (several
        # levels' random intercepts alone sum to one share, no averaging)
        "icc_after_averaged": len(final.random_terms) > 1 and final.icc_adjusted is not None,
        "after_scale": "of the latent variation" if binary else "of the remaining variation",
        "design_effect": fmt.num(null.design_effect, 2),
        "design_effect_large": rules.design_effect_large(null.design_effect),
        "too_few_groups": band == rules.GroupsBand.TOO_FEW,
        # the groups a "few groups" caution is about: "20 schools", or the level with fewest
        "fewest_count": f"{fmt.integer(fewest.n_groups)} {escape(fewest_words.counted)}"
        if levels.multilevel(results)
        else f"{fmt.integer(n_groups)} {escape(lex.groups_counted)}",
        "fewest_label": escape(labels.variable(fewest.column)),
        "fewest_many": escape(fewest_words.noun.many),  # "secondary schools", or "groups"
        # the median odds ratio's groups: the outermost level's (the null model's tau00)
        "mor_many": escape(lex.tiers[0].noun.many),
        "mor_one": escape(lex.tiers[0].noun.one),
        # the rows' groups in a count: "20 schools", "600 classes in 100 schools"
        "counts": f"{fmt.integer(n_groups)} {escape(lex.groups_counted)}"
        if not levels.multilevel(results)
        else level_facts(results, lex, labels, escape)["counts"],
        "fewest_trigger": f"{fmt.integer(fewest.n_groups)} {escape(fewest_words.counted)}"
        if levels.multilevel(results)
        else f"{fmt.integer(n_groups)} {escape(lex.groups_counted)}",
        "few_groups": band == rules.GroupsBand.FEW,
        "enough_groups": band == rules.GroupsBand.ENOUGH,
        "final": {
            "label": final.label.lower(),
            "name": final.name,
            "converged": final.converged,
            "reason": results.final_model_reason,
            "is_full": "simplified" not in results.final_model_reason,
        },
        "equation": equation.describe(results, labels, escape),
        "equation_legend": _legend(results, lex, escape, labels),
        "effects": effects,
        "significant": significant,
        "strongest": significant[0] if significant else None,
        "not_significant": [e for e in unconditional if not e["significant"]],
        "levers": [e for e in significant if e["lever"]],
        "context": [e for e in significant if not e["lever"]],
        "conditional": conditional,
        "lever_names": [escape(labels.variable(v)) for v in spec.levers],
        "has_group_level_predictors": bool(group_level),
        "r2_marginal": fmt.pct(final.r2_marginal),
        "r2_conditional": fmt.pct(final.r2_conditional),
        "r2_group_gain_small": rules.group_gain_small(final.r2_marginal, final.r2_conditional),
        "unexplained": fmt.pct(1 - final.r2_conditional)
        if final.r2_conditional is not None
        else "n/a",
        "level1_explained": fmt.pct(final.variance_explained_level1),
        # the size of each change and which way it went: "increases ... by 2%", never
        # "reduces ... by −2%"
        # and a change that rounds to 0% is "changes ... by less than 1%", not "by 0%"
        "level1_size": fmt.change_size(final.variance_explained_level1),
        "level1_change": fmt.change_verb(final.variance_explained_level1),
        "level1_grew": final.variance_explained_level1 is not None
        and final.variance_explained_level1 < 0
        and not fmt.tiny_change(final.variance_explained_level1),
        "level2_size": fmt.change_size(level2) if level2 is not None else None,
        "level2_change": fmt.change_verb(level2),
        "level2_grew": level2 is not None and level2 < 0 and not fmt.tiny_change(level2),
        "variance_grew": any(
            v is not None and v < 0 and not fmt.tiny_change(v)
            for v in (final.variance_explained_level1, level2)
        ),
        "group_level_names": [escape(labels.raw(v.name)) for v in group_level],
        "level2_explained": fmt.pct(level2) if level2 is not None else None,
        "level2_at": reliability_at,
        "reliability": fmt.num(reliability, 2),
        "reliability_high": rules.reliability_high(reliability),
        # the variance between groups at zero: every group's effect is 0, none to compare
        "reliability_zero": reliability is not None and round(reliability, 2) == 0,
        "reliability_at": reliability_at,
        "slope": slope,
        "slopes_configured": bool(spec.random_slopes),
        "dropped_slopes": _dropped_slopes(results, labels, lex, escape),
        # growth data (`time:`), at one grouping level or several: growth per unit of time
        "growth": _growth_tested(results, lex, labels, escape, slope),
        "questions": questions,
        "question": _focus(results, effects, questions, labels, escape),
        "main_effects": main_effects,
        "joint": _joint(results, labels, escape),
        "references": _references(results, labels, escape),
        "effect_sizes": getattr(spec, "effect_sizes", "cohen"),
        "contextual": _contextual(results, labels, escape, lex),
        "robust_available": any(e["robust_se"] is not None for e in effects),
        "robust_disagrees": [
            e
            for e in effects
            if e["robust_se"] is not None and e["significant"] != e["robust_significant"]
        ],  # fmt: skip
        "unverified": [m.label for m in results.mixed_models if not m.converged],
        "singular": [
            {
                "model": m.label,
                "terms": ", ".join(escape(labels.term(t, False)) for t in m.singular_terms),
                "what": escape(_singular_words(results, m, labels, lex)[0]),
                "several": _singular_words(results, m, labels, lex)[1] > 1,
            }
            for m in results.mixed_models
            if m.singular and m.name == results.final_model
        ],
        "rules": {name: _rule(r) for name, r in rules.RULES.items()},
    }
