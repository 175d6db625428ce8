"""The words of the report: which findings, recommendations and implications to state, and the
Jinja templates (templates/) that state them.

Facts come finished from facts.py (numbers formatted, text escaped, rules applied); the pickers
here choose what to say and in which order, each item carrying the statistic that triggered it and
the rule (with its source) that fired. Templates branch on the enums below, passed to them as
globals, never on string literals of their own.
"""

from __future__ import annotations

from enum import StrEnum

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .. import resources
from ..results import Check, Results, Status
from ..rules import GroupsBand
from . import fmt
from .facts import facts
from .labels import labels_for


class Finding(StrEnum):
    ICC = "icc"
    EFFECT = "effect"
    MORE_EFFECTS = "more_effects"
    NULL_EFFECTS = "null_effects"
    R2 = "r2"
    TOO_FEW_GROUPS = "too_few_groups"
    SLOPE = "slope"
    INTERACTION = "interaction"


class Advice(StrEnum):
    UNVERIFIED = "unverified"
    TOO_FEW_GROUPS = "too_few_groups"
    FEW_GROUPS = "few_groups"
    BETWEEN_GROUPS = "between_groups"
    WITHIN_GROUPS = "within_groups"
    LEAD_PREDICTOR = "lead_predictor"
    SLOPE_VARIES = "slope_varies"
    SLOPE_CONSTANT = "slope_constant"
    INTERACTION = "interaction"
    NO_INTERACTION = "no_interaction"
    SINGULAR = "singular"


class Implication(StrEnum):
    PRACTICE = "practice"
    POLICY = "policy"
    RESEARCH = "research"


_GLOBALS = {
    "Finding": Finding,
    "Advice": Advice,
    "Implication": Implication,
    "Check": Check,
    "Status": Status,
    "GroupsBand": GroupsBand,
}


def environment() -> Environment:
    # Markdown templates receive pre-escaped strings; HTML templates (email, site) are autoescaped.
    env = Environment(
        loader=FileSystemLoader(str(resources.templates_dir())),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        ),
        keep_trailing_newline=True,
    )
    env.globals.update(_GLOBALS)
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context).strip() + "\n"


def findings(f: dict) -> list[dict]:
    """Three to five headline findings for the executive summary, most important first."""
    out = [{"kind": Finding.ICC}]
    if f["significant"]:
        out.append({"kind": Finding.EFFECT, "effect": f["significant"][0]})
    if len(f["significant"]) > 1:
        out.append({"kind": Finding.MORE_EFFECTS, "effects": f["significant"][1:3]})
    elif f["not_significant"]:
        out.append({"kind": Finding.NULL_EFFECTS, "effects": f["not_significant"][:3]})
    out.append({"kind": Finding.R2})
    if f["too_few_groups"]:
        out.append({"kind": Finding.TOO_FEW_GROUPS})
    elif f["slope"] is not None:
        out.append({"kind": Finding.SLOPE})
    elif f["interactions"]:
        out.append({"kind": Finding.INTERACTION, "effect": f["interactions"][0]})
    return out[:5]


def recommendations(f: dict) -> list[dict]:
    rules = f["rules"]
    out = []
    if f["unverified"]:
        out.append({"kind": Advice.UNVERIFIED, "trigger": ", ".join(f["unverified"])})
    groups = f"{f['n_groups']} groups"
    if f["too_few_groups"]:
        out.append(
            {"kind": Advice.TOO_FEW_GROUPS, "trigger": groups, "rule": rules["groups_strong"]}
        )
    elif f["few_groups"]:
        out.append({"kind": Advice.FEW_GROUPS, "trigger": groups, "rule": rules["groups"]})
    icc = f"ICC = {f['icc']['value']}"
    if not f["too_few_groups"]:
        if f["icc"]["between_groups_matter"]:
            out.append({"kind": Advice.BETWEEN_GROUPS, "trigger": icc, "rule": rules["icc_medium"]})
        elif f["icc"]["within_groups_dominate"]:
            out.append({"kind": Advice.WITHIN_GROUPS, "trigger": icc, "rule": rules["icc_small"]})
    if f["significant"]:
        e = f["significant"][0]
        out.append(
            {
                "kind": Advice.LEAD_PREDICTOR,
                "effect": e,
                "trigger": f"t = {e['t']}, {e['p']}",
                "rule": rules["alpha"],
            }
        )
    if f["slope"] is not None and not f["too_few_groups"]:
        s = f["slope"]
        out.append(
            {
                "kind": Advice.SLOPE_VARIES if s["varies"] else Advice.SLOPE_CONSTANT,
                "trigger": f"χ²({s['df']}) = {s['statistic']}, {s['p']}",
                "rule": rules["alpha"],
            }
        )
    for e in f["interactions"]:
        out.append(
            {
                "kind": Advice.INTERACTION if e["significant"] else Advice.NO_INTERACTION,
                "effect": e,
                "trigger": e["p"],
                "rule": rules["alpha"],
            }
        )
    for s in f["singular"]:
        out.append(
            {"kind": Advice.SINGULAR, "singular": s, "trigger": f"variance of {s['terms']} = 0"}
        )
    return out


def implications(f: dict) -> list[dict]:
    return [{"kind": kind} for kind in Implication]


def key_findings(plain: dict) -> list[str]:
    """Three one-line findings in plain text (email body, website cards); `plain` are facts with
    user text left literal."""
    text = render("email_findings.txt.j2", f=plain)
    return [line.strip() for line in text.splitlines() if line.strip()]


def plain_facts(results: Results) -> dict:
    """Facts with user text left literal: for plain-text email and the autoescaped HTML
    templates (email, website index)."""
    return facts(results, escape=str)


def executive_summary(f: dict) -> str:
    return render("executive_summary.md.j2", f=f, findings=findings(f))


def interpretation(f: dict) -> str:
    return render("interpretation.md.j2", f=f)


def recommendations_section(f: dict) -> str:
    return render("recommendations.md.j2", f=f, items=recommendations(f))


def implications_section(f: dict) -> str:
    return render("implications.md.j2", f=f, items=implications(f))


def health_section(results: Results, f: dict) -> str:
    checks = health_checks(results)
    statuses = {c["status"] for c in checks}
    if Status.PROBLEM in statuses:
        callout, heading = "important", "problems found"
    elif Status.WARNING in statuses:
        callout, heading = "warning", "warnings"
    else:
        callout, heading = "tip", "all checks passed"
    return render("health.md.j2", f=f, checks=checks, callout=callout, heading=heading)


def health_checks(results: Results) -> list[dict]:
    """Each model-health check with its statistic formatted for the health box."""
    labels = labels_for(results)
    out = []
    for h in results.health:
        item = {"check": h.check, "status": h.status, "band": h.band}
        item["model_label"] = (
            results.models[h.model].label if h.model in results.models else "All models"
        )
        if h.check == Check.SINGULAR:
            item["value"] = fmt.md_escape(", ".join(labels.term(t, False) for t in h.terms))
        elif h.check == Check.OPTIMUM:
            item["value"] = f"{h.value:.1e}" if h.value is not None else "n/a"
        elif h.check == Check.ICC_NEAR_ZERO:
            item["value"] = fmt.num(h.value, 3)
        else:
            item["value"] = fmt.integer(h.value)
            item["one"] = h.value == 1
        out.append(item)
    return out
