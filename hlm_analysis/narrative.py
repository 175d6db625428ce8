"""Rules decide what is said; Jinja templates (templates/) say it.

`facts()` turns results into finished strings (numbers formatted, user text escaped); the rule
functions pick findings, recommendations and implications, each carrying the statistic that
triggered it and the rule (with its source) that fired. Templates only place these strings.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from . import fmt, rules
from .labels import labels_for
from .results import ModelResult, Results
from .spec import REPO_ROOT

TEMPLATES = REPO_ROOT / "templates"


def environment(directory: Path = TEMPLATES) -> Environment:
    # Markdown templates receive pre-escaped strings; HTML templates (email) are autoescaped.
    return Environment(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        ),
        keep_trailing_newline=True,
    )


def _effect_fact(fe, labels, outcome_label: str, escape=fmt.md_escape) -> dict:
    dummy = labels.dummy_parts(fe.term)
    return {
        "term": fe.term,
        "label": escape(labels.term(fe.term)),
        "variable": escape(dummy[0]) if dummy else escape(labels.term(fe.term)),
        "is_dummy": dummy is not None,
        "is_interaction": ":" in fe.term,
        "level": escape(dummy[1]) if dummy else "",
        "reference": escape(dummy[2]) if dummy else "",
        "direction": "higher" if fe.estimate > 0 else "lower",
        "size": fmt.sig(abs(fe.estimate), 3),
        "estimate": fmt.sig(fe.estimate, 3),
        "ci": f"{fmt.sig(fe.ci_low, 3)} to {fmt.sig(fe.ci_high, 3)}",
        "p": fmt.pvalue(fe.p_value),
        "t": fmt.num(fe.statistic, 2),
        "df": fmt.df(fe.df),
        "significant": fe.p_value < rules.ALPHA.value,
        "abs_t": abs(fe.statistic),
        "outcome": outcome_label,
    }


def _rule(rule: rules.Rule) -> dict:
    value = str(int(rule.value)) if float(rule.value).is_integer() else f"{rule.value:g}"
    return {"name": rule.name, "value": value, "source": rule.source}


def facts(results: Results, escape=fmt.md_escape) -> dict:
    """Finished strings for the templates. `escape` makes user text literal in the target format:
    markdown escaping for the report, identity for plain-text email (HTML email autoescapes)."""
    spec = results.spec
    labels = labels_for(results)
    data = results.data
    null = results.models["null"]
    final = results.main_model
    outcome = escape(labels.variable(spec["outcome"]))
    group = escape(labels.variable(spec["group"]))
    icc = null.icc
    effects = [
        _effect_fact(fe, labels, outcome, escape)
        for fe in final.fixed_effects
        if fe.term != "Intercept"
    ]
    n_groups = data["n_groups"]
    slope_test = next((c for c in results.comparisons if c.model_b == "random_slope"), None)
    interaction_test = next((c for c in results.comparisons if c.model_b == "interaction"), None)
    slope = None
    if "random_slope" in results.models:
        rs = results.models["random_slope"]
        terms = rs.random_terms[1:]
        sds = [fmt.sig(max(rs.variance(t), 0.0) ** 0.5, 3) for t in terms]
        averages = [fmt.sig(rs.effect(_design_name(t)).estimate, 3) for t in terms]
        if len(terms) == 1:
            label, sd, average = (
                escape(labels.term(terms[0], with_reference=False)),
                sds[0],
                averages[0],
            )
        else:  # several slope terms (a text variable's dummies, or several variables): name each
            names = [escape(labels.term(t, with_reference=False)) for t in terms]
            label = ", ".join(escape(labels.variable(v)) for v in spec["random_slopes"])
            sd = "; ".join(f"{v} for {n}" for v, n in zip(sds, names, strict=True))
            average = "; ".join(f"{v} for {n}" for v, n in zip(averages, names, strict=True))
        slope = {
            "label": label,
            "sd": sd,
            "average": average,
            "p": fmt.pvalue(slope_test.p_value),
            "statistic": fmt.num(slope_test.statistic, 2),
            "df": slope_test.df,
            "varies": slope_test.p_value < rules.ALPHA.value,
        }
    interactions = []
    if "interaction" in results.models:
        im = results.models["interaction"]
        for term in spec.get("interactions", []):
            for fe in im.fixed_effects:
                if fe.term.count(":") == term.count(":") and all(
                    part.split("[")[0] in term.split(":") for part in fe.term.split(":")
                ):
                    interactions.append(_effect_fact(fe, labels, outcome, escape))
    return {
        "title": escape(spec["title"]),
        "outcome": outcome,
        "group": group,
        "n_obs": fmt.integer(data["n_obs"]),
        "n_groups": fmt.integer(n_groups),
        "n_groups_value": n_groups,
        "group_size": {
            "min": fmt.integer(data["group_size"]["min"]),
            "max": fmt.integer(data["group_size"]["max"]),
            "mean": fmt.num(data["group_size"]["mean"], 1),
        },
        "rows_dropped": fmt.integer(data["rows_dropped"]),
        "dropped_any": data["rows_dropped"] > 0,
        "dropped_by_column": [
            {"column": escape(labels.variable(c)), "n": fmt.integer(n)}
            for c, n in data["dropped_by_column"].items()
        ],
        "icc": {
            "value": fmt.num(icc["estimate"], 3),
            "pct": fmt.pct(icc["estimate"]),
            "ci": f"{fmt.num(icc['ci_low'], 3)} to {fmt.num(icc['ci_high'], 3)}",
            "band": rules.icc_band(icc["estimate"]),
            "estimate": icc["estimate"],
        },
        "design_effect": fmt.num(null.design_effect, 2),
        "design_effect_large": (null.design_effect or 0) > rules.DESIGN_EFFECT.value,
        "groups_band": rules.groups_band(n_groups),
        "final": {"label": final.label.lower(), "name": final.name, "converged": final.converged},
        "effects": effects,
        "significant": sorted(
            [e for e in effects if e["significant"] and not e["is_interaction"]],
            key=lambda e: -e["abs_t"],
        ),
        "not_significant": [e for e in effects if not e["significant"] and not e["is_interaction"]],
        "r2_marginal": fmt.pct(final.r2_marginal),
        "r2_conditional": fmt.pct(final.r2_conditional),
        "r2_group_gain_small": (final.r2_conditional or 0) - (final.r2_marginal or 0) < 0.01,
        "unexplained": fmt.pct(1 - final.r2_conditional)
        if final.r2_conditional is not None
        else "n/a",
        "level1_explained": fmt.pct(results.models["random_intercept"].variance_explained_level1),
        "level2_explained": _level2(results.models["random_intercept"]),
        "reliability": fmt.num(final.reliability_mean, 2),
        "reliability_high": (final.reliability_mean or 0) >= rules.RELIABILITY.value,
        "slope": slope,
        "interactions": interactions,
        "interaction_test": None
        if interaction_test is None
        else {
            "p": fmt.pvalue(interaction_test.p_value),
            "statistic": fmt.num(interaction_test.statistic, 2),
            "df": interaction_test.df,
            "significant": interaction_test.p_value < rules.ALPHA.value,
        },
        "unverified": [m.label for m in results.mixed_models if not m.converged],
        "singular": [
            {
                "model": m.label,
                "terms": ", ".join(escape(labels.term(t, False)) for t in m.singular_terms),
            }
            for m in results.mixed_models
            if m.singular
        ],
        "rules": {name: _rule(r) for name, r in _RULES.items()},
    }


_RULES = {
    "alpha": rules.ALPHA,
    "groups_strong": rules.GROUPS_STRONG_WARNING,
    "groups": rules.GROUPS_WARNING,
    "icc_negligible": rules.ICC_NEGLIGIBLE,
    "icc_small": rules.ICC_SMALL,
    "icc_medium": rules.ICC_MEDIUM,
    "icc_large": rules.ICC_LARGE,
    "design_effect": rules.DESIGN_EFFECT,
    "tiny_group": rules.TINY_GROUP,
    "reliability": rules.RELIABILITY,
}


def _design_name(lme4_term: str) -> str:
    return "Intercept" if lme4_term == "(Intercept)" else lme4_term


def _level2(model: ModelResult) -> str | None:
    value = model.variance_explained_level2
    return None if value is None else fmt.pct(value)


def findings(f: dict) -> list[dict]:
    """Three to five headline findings for the executive summary, most important first."""
    out = [{"kind": "icc"}]
    if f["significant"]:
        out.append({"kind": "effect", "effect": f["significant"][0]})
    if len(f["significant"]) > 1:
        out.append({"kind": "more_effects", "effects": f["significant"][1:3]})
    elif f["not_significant"]:
        out.append({"kind": "null_effects", "effects": f["not_significant"][:3]})
    out.append({"kind": "r2"})
    if f["groups_band"] == "too few":
        out.append({"kind": "too_few_groups"})
    elif f["slope"] is not None:
        out.append({"kind": "slope"})
    elif f["interactions"]:
        out.append({"kind": "interaction", "effect": f["interactions"][0]})
    return out[:5]


def recommendations(f: dict) -> list[dict]:
    out = []
    if f["unverified"]:
        out.append({"kind": "unverified", "trigger": ", ".join(f["unverified"])})
    if f["groups_band"] == "too few":
        out.append(
            {
                "kind": "too_few_groups",
                "trigger": f"{f['n_groups']} groups",
                "rule": f["rules"]["groups_strong"],
            }
        )
    elif f["groups_band"] == "few":
        out.append(
            {
                "kind": "few_groups",
                "trigger": f"{f['n_groups']} groups",
                "rule": f["rules"]["groups"],
            }
        )
    band = f["icc"]["band"]
    if f["groups_band"] != "too few":
        if band in ("medium", "large"):
            out.append(
                {
                    "kind": "between_groups",
                    "trigger": f"ICC = {f['icc']['value']}",
                    "rule": f["rules"]["icc_medium"],
                }
            )
        elif band in ("negligible", "very small"):
            out.append(
                {
                    "kind": "within_groups",
                    "trigger": f"ICC = {f['icc']['value']}",
                    "rule": f["rules"]["icc_small"],
                }
            )
    if f["significant"]:
        e = f["significant"][0]
        out.append(
            {
                "kind": "lead_predictor",
                "effect": e,
                "trigger": f"t = {e['t']}, {e['p']}",
                "rule": f["rules"]["alpha"],
            }
        )
    if f["slope"] is not None and f["groups_band"] != "too few":
        out.append(
            {
                "kind": "slope_varies" if f["slope"]["varies"] else "slope_constant",
                "trigger": f"χ²({f['slope']['df']}) = {f['slope']['statistic']}, {f['slope']['p']}",
                "rule": f["rules"]["alpha"],
            }
        )
    for e in f["interactions"]:
        out.append(
            {
                "kind": "interaction" if e["significant"] else "no_interaction",
                "effect": e,
                "trigger": f"{e['p']}",
                "rule": f["rules"]["alpha"],
            }
        )
    for s in f["singular"]:
        out.append({"kind": "singular", "singular": s, "trigger": f"variance of {s['terms']} = 0"})
    return out


def implications(f: dict) -> list[dict]:
    out = [{"kind": "practice"}]
    out.append({"kind": "policy"})
    out.append({"kind": "research"})
    return out


def plain_facts(results: Results) -> dict:
    """Facts with user text left literal: for plain-text email (the HTML template autoescapes)
    and for the website's index (autoescaped too)."""
    return facts(results, escape=str)


def key_findings(plain: dict) -> list[str]:
    """Three one-line findings in plain text (email body, website cards)."""
    text = render("email_findings.txt.j2", f=plain)
    return [line.strip() for line in text.splitlines() if line.strip()]


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context).strip() + "\n"


def executive_summary(results: Results) -> str:
    f = facts(results)
    return render("executive_summary.md.j2", f=f, findings=findings(f))


def interpretation(results: Results) -> str:
    return render("interpretation.md.j2", f=facts(results))


def recommendations_section(results: Results) -> str:
    f = facts(results)
    return render("recommendations.md.j2", f=f, items=recommendations(f))


def implications_section(results: Results) -> str:
    f = facts(results)
    return render("implications.md.j2", f=f, items=implications(f))


def health_section(results: Results) -> str:
    return render("health.md.j2", f=facts(results), checks=_health_checks(results))


def _health_checks(results: Results) -> list[dict]:
    labels = {m.name: m.label for m in results.models.values()}
    out = []
    for h in results.health:
        item = dict(h)
        item["model_label"] = labels.get(h["model"], "All models")
        if h["check"] == "singular":
            labels_obj = labels_for(results)
            item["value"] = fmt.md_escape(
                ", ".join(labels_obj.term(t.strip(), False) for t in h["value"].split(","))
            )
        elif h["check"] == "optimum":
            item["value"] = f"{h['value']:.1e}" if h["value"] is not None else "n/a"
        elif h["check"] == "icc_near_zero":
            item["value"] = fmt.num(h["value"], 3)
        else:
            item["value"] = fmt.integer(h["value"])
        out.append(item)
    return out
