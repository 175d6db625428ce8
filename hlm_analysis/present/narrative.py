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
    QUESTION = "question"
    EFFECT = "effect"
    LEVER = "lever"  # a reliable association of a predictor the config marks as a lever
    CONTEXT = "context"
    MORE_EFFECTS = "more_effects"
    NULL_EFFECTS = "null_effects"
    R2 = "r2"
    TOO_FEW_GROUPS = "too_few_groups"
    SLOPE = "slope"
    SLOPE_DROPPED = "slope_dropped"


class Advice(StrEnum):
    UNVERIFIED = "unverified"
    TOO_FEW_GROUPS = "too_few_groups"
    FEW_GROUPS = "few_groups"
    BETWEEN_GROUPS = "between_groups"
    WITHIN_GROUPS = "within_groups"
    LEVER = "lever"
    CONTEXT = "context"
    QUESTION = "question"
    SLOPE_VARIES = "slope_varies"
    SLOPE_IMPRECISE = "slope_imprecise"
    SLOPE_CONSTANT = "slope_constant"
    SLOPE_DROPPED = "slope_dropped"
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
    env.filters["listed"] = _listed
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context).strip() + "\n"


def findings(f: dict) -> list[dict]:
    """Up to six headline findings for the executive summary, most important first: where the
    variation lies, the answer to each research question (interaction), the largest association
    by standardized size, the school context, what is explained, and whether slopes vary."""
    # With too few groups for a random effect, that caution comes first: everything about
    # differences between groups rests on it.
    out = [{"kind": Finding.TOO_FEW_GROUPS}] if f["too_few_groups"] else []
    out.append({"kind": Finding.ICC})
    out += [{"kind": Finding.QUESTION, "question": q} for q in f["questions"][:2]]
    # What the district can act on comes before background: the reliable levers first, then
    # the largest association among the rest.
    out += [{"kind": Finding.LEVER, "effect": e} for e in f["levers"][:2]]
    others = [e for e in f["significant"] if not e["lever"]]
    if others:
        out.append({"kind": Finding.EFFECT, "effect": others[0]})
        if len(others) > 1 and not f["questions"]:
            out.append({"kind": Finding.MORE_EFFECTS, "effects": others[1:3]})
    elif not f["significant"] and f["not_significant"]:
        out.append({"kind": Finding.NULL_EFFECTS, "effects": f["not_significant"][:3]})
    if f["contextual"]:
        first = f["contextual"][0]["variable"]
        rows = [c for c in f["contextual"] if c["variable"] == first]
        out.append({"kind": Finding.CONTEXT, "rows": rows})
    out.append({"kind": Finding.R2})
    if f["slope"] is not None and not f["too_few_groups"]:
        out.append({"kind": Finding.SLOPE, "slope": f["slope"]["entries"][0]})
    elif f["slopes_configured"] and f["slope"] is None and not f["too_few_groups"]:
        out.append({"kind": Finding.SLOPE_DROPPED})
    return out[:6]


def recommendations(f: dict) -> list[dict]:
    """What to do, each with its trigger and rule. Only levers get action advice; significant
    non-levers (background, demography, sector) are reported as equity questions; school-level
    advice uses the ICC after the predictors; slope advice needs the final model's test and the
    slope's reliability."""
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
    after = f["icc_after"]
    if not f["too_few_groups"] and after is not None:
        icc = f"ICC after the predictors = {after['value']}"
        if after["between_groups_matter"]:
            out.append({"kind": Advice.BETWEEN_GROUPS, "trigger": icc, "rule": rules["icc_medium"]})
        elif after["within_groups_dominate"]:
            out.append({"kind": Advice.WITHIN_GROUPS, "trigger": icc, "rule": rules["icc_small"]})
    for e in f["levers"]:
        out.append({"kind": Advice.LEVER, "effect": e, "rule": rules["alpha"]})
    if f["context"]:
        context = f["context"]
        out.append(
            {
                "kind": Advice.CONTEXT,
                "effects": context,
                "names": _listed(dict.fromkeys(e["variable"] for e in context)),
                "trigger": "; ".join(f"{e['label']} {e['p']}" for e in context),
                "rule": rules["alpha"],
            }
        )
    for q in f["questions"]:
        out.append({"kind": Advice.QUESTION, "question": q, "rule": rules["alpha"]})
    if f["slope"] is not None and not f["too_few_groups"]:
        for s in f["slope"]["entries"]:
            kind = (
                Advice.SLOPE_VARIES
                if s["varies"] and s["reliable"]
                else Advice.SLOPE_IMPRECISE
                if s["varies"]
                else Advice.SLOPE_CONSTANT
            )
            trigger = (
                f"χ²({s['df']}) = {s['statistic']}, {s['p']} (boundary-corrected); "
                f"reliability {s['reliability']}"
            )
            out.append({"kind": kind, "slope": s, "trigger": trigger, "rule": rules["alpha"]})
    elif f["slopes_configured"] and f["slope"] is None:
        out.append({"kind": Advice.SLOPE_DROPPED})
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
    return render("interpretation_binary.md.j2" if f["binary"] else "interpretation.md.j2", f=f)


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
        elif h.check == Check.RARE_EVENTS:
            item["value"] = fmt.num(h.value, 1)
        elif h.check == Check.SEPARATION:
            item["value"] = fmt.md_escape(", ".join(labels.term(t) for t in h.terms))
        else:
            item["value"] = fmt.integer(h.value)
            item["one"] = h.value == 1
        out.append(item)
    return out


def _listed(names) -> str:
    """Names as a sentence lists them: "a", "a and b", "a, b and c" (also the templates'
    `listed` filter)."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
