"""Results to finished facts: every number formatted, every user string escaped, every decision
taken (by rules.py) and handed over as a flag. Computed once per report; templates only place
these strings and branch on these flags.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import rules
from ..results import INTERCEPT, ModelName, ModelResult, Results, TermKind
from . import fmt
from .labels import TermLabels, labels_for

Escape = Callable[[object], str]


def _rule(rule: rules.Rule) -> dict:
    value = str(int(rule.value)) if float(rule.value).is_integer() else f"{rule.value:g}"
    return {"name": rule.name, "value": value, "source": rule.source}


def effect_fact(fe, results: Results, labels: TermLabels, outcome: str, escape: Escape) -> dict:
    term = results.design.term(fe.term)
    dummy = labels.dummy_parts(fe.term)
    return {
        "term": fe.term,
        "label": escape(labels.term(fe.term)),
        "variable": escape(dummy[0]) if dummy else escape(labels.term(fe.term)),
        "is_dummy": dummy is not None,
        "is_interaction": term.kind == TermKind.INTERACTION,
        "level": escape(dummy[1]) if dummy else "",
        "reference": escape(dummy[2]) if dummy else "",
        "direction": "higher" if fe.estimate > 0 else "lower",
        "positive": fe.estimate > 0,
        "size": fmt.sig(abs(fe.estimate), 3),
        "estimate": fmt.sig(fe.estimate, 3),
        "ci": f"{fmt.sig(fe.ci_low, 3)} to {fmt.sig(fe.ci_high, 3)}",
        "p": fmt.pvalue(fe.p_value),
        "t": fmt.num(fe.statistic, 2),
        "df": fmt.df(fe.df),
        "significant": rules.significant(fe.p_value),
        "abs_t": abs(fe.statistic),
        "outcome": outcome,
    }


def _slope(results: Results, labels: TermLabels, escape: Escape) -> dict | None:
    if ModelName.RANDOM_SLOPE not in results.models:
        return None
    rs = results.models[ModelName.RANDOM_SLOPE]
    test = next(c for c in results.comparisons if c.model_b == ModelName.RANDOM_SLOPE)
    terms = rs.random_terms[1:]
    sds = [fmt.sig(max(rs.variance(t), 0.0) ** 0.5, 3) for t in terms]
    averages = [fmt.sig(rs.effect(t).estimate, 3) for t in terms]
    if len(terms) == 1:
        label, sd, average = escape(labels.term(terms[0], False)), sds[0], averages[0]
    else:  # several slope terms (a text variable's dummies, or several variables): name each
        names = [escape(labels.term(t, with_reference=False)) for t in terms]
        label = ", ".join(escape(labels.variable(v)) for v in results.spec.random_slopes)
        sd = "; ".join(f"{v} for {n}" for v, n in zip(sds, names, strict=True))
        average = "; ".join(f"{v} for {n}" for v, n in zip(averages, names, strict=True))
    return {
        "label": label,
        "sd": sd,
        "average": average,
        "p": fmt.pvalue(test.p_value),
        "statistic": fmt.num(test.statistic, 2),
        "df": test.df,
        "varies": rules.significant(test.p_value),
    }


def _interactions(results: Results, labels: TermLabels, outcome: str, escape: Escape):
    if ModelName.INTERACTION not in results.models:
        return [], None
    model = results.models[ModelName.INTERACTION]
    effects = [
        effect_fact(fe, results, labels, outcome, escape)
        for fe in model.fixed_effects
        if results.design.term(fe.term).kind == TermKind.INTERACTION
    ]
    test = next(c for c in results.comparisons if c.model_b == ModelName.INTERACTION)
    return effects, {
        "p": fmt.pvalue(test.p_value),
        "statistic": fmt.num(test.statistic, 2),
        "df": test.df,
        "significant": rules.significant(test.p_value),
    }


def _level2(model: ModelResult) -> str | None:
    value = model.variance_explained_level2
    return None if value is None else fmt.pct(value)


def facts(results: Results, escape: Escape = fmt.md_escape) -> dict[str, Any]:
    """Finished strings and flags for the templates. `escape` makes user text literal in the
    target format: markdown escaping for the report, identity for plain-text email and for the
    autoescaped HTML templates."""
    spec = results.spec
    labels = labels_for(results)
    data = results.data
    null = results.models[ModelName.NULL]
    final = results.final
    outcome = escape(labels.variable(spec.outcome))
    icc = null.icc
    n_groups = data.n_groups
    effects = [
        effect_fact(fe, results, labels, outcome, escape)
        for fe in final.fixed_effects
        if fe.term != INTERCEPT
    ]
    main_effects = [e for e in effects if not e["is_interaction"]]
    interactions, interaction_test = _interactions(results, labels, outcome, escape)
    band = rules.groups_band(n_groups)
    ri = results.models[ModelName.RANDOM_INTERCEPT]
    return {
        "title": escape(spec.title),
        "outcome": outcome,
        "group": escape(labels.variable(spec.group)),
        "n_obs": fmt.integer(data.n_obs),
        "n_groups": fmt.integer(n_groups),
        "group_size": {
            "min": fmt.integer(data.group_size.min),
            "max": fmt.integer(data.group_size.max),
            "mean": fmt.num(data.group_size.mean, 1),
            "equal": data.group_size.min == data.group_size.max,
        },
        "rows_dropped": fmt.integer(data.rows_dropped),
        "dropped_any": data.rows_dropped > 0,
        "dropped_by_column": [
            {"column": escape(labels.variable(c)), "n": fmt.integer(n)}
            for c, n in data.dropped_by_column.items()
        ],
        "icc": {
            "value": fmt.num(icc.estimate, 3),
            "pct": fmt.pct(icc.estimate),
            "ci": f"{fmt.num(icc.ci_low, 3)} to {fmt.num(icc.ci_high, 3)}",
            "band": str(rules.icc_band(icc.estimate)),
            "classifiable": rules.icc_classifiable(n_groups),
            "between_groups_matter": rules.between_groups_matter(icc.estimate),
            "within_groups_dominate": rules.within_groups_dominate(icc.estimate),
        },
        "design_effect": fmt.num(null.design_effect, 2),
        "design_effect_large": rules.design_effect_large(null.design_effect),
        "too_few_groups": band == rules.GroupsBand.TOO_FEW,
        "few_groups": band == rules.GroupsBand.FEW,
        "enough_groups": band == rules.GroupsBand.ENOUGH,
        "final": {"label": final.label.lower(), "name": final.name, "converged": final.converged},
        "effects": effects,
        "significant": sorted(
            [e for e in main_effects if e["significant"]], key=lambda e: -e["abs_t"]
        ),
        "not_significant": [e for e in main_effects if not e["significant"]],
        "r2_marginal": fmt.pct(final.r2_marginal),
        "r2_conditional": fmt.pct(final.r2_conditional),
        "r2_group_gain_small": rules.group_gain_small(final.r2_marginal, final.r2_conditional),
        "unexplained": fmt.pct(1 - final.r2_conditional)
        if final.r2_conditional is not None
        else "n/a",
        "level1_explained": fmt.pct(ri.variance_explained_level1),
        "level2_explained": _level2(ri),
        "reliability": fmt.num(final.reliability_mean, 2),
        "reliability_high": rules.reliability_high(final.reliability_mean),
        "slope": _slope(results, labels, escape),
        "interactions": interactions,
        "interaction_test": interaction_test,
        "unverified": [m.label for m in results.mixed_models if not m.converged],
        "singular": [
            {
                "model": m.label,
                "terms": ", ".join(escape(labels.term(t, False)) for t in m.singular_terms),
            }
            for m in results.mixed_models
            if m.singular
        ],
        "rules": {name: _rule(r) for name, r in rules.RULES.items()},
    }
