"""The words of the report: which findings, recommendations and implications to state, and the
Jinja templates (templates/) that state them.

Facts come finished from facts.py (numbers formatted, text escaped, rules applied); the pickers
here choose what to say and in which order, each item carrying the statistic that triggered it and
the rule (with its source) that fired. Templates branch on the enums below, passed to them as
globals, never on string literals of their own.
"""

from __future__ import annotations

import re
from enum import StrEnum

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .. import resources, rules
from .. import rules as rules_module
from ..results import Check, Results, Status, TermKind
from ..rules import GroupsBand
from . import fmt, lexicon
from .facts import facts
from .labels import labels_for
from .lexicon import upfirst


class Finding(StrEnum):
    FOCUS = "focus"  # the answer to the config's `question:`, first whatever its p
    ICC = "icc"
    GROWTH = "growth"  # growth data: the average growth per unit of time and the initial status
    QUESTION = "question"
    EFFECT = "effect"
    LEVER = "lever"  # a reliable association of a predictor the config marks as a lever
    CONTEXT = "context"
    MORE_EFFECTS = "more_effects"  # every predictor not yet named: linked or not
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
    RANK_GROUPS = "rank_groups"


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
    env.filters["upfirst"] = upfirst
    return env


# A line that starts a block of its own in markdown: a list item, a table row, a heading, a
# caption or a fenced div. Any other line continues the line above it.
_BLOCK_START = re.compile(r"^(- |\d+\. |\||#|:)")
_NO_CONTINUATION = re.compile(r"^(\||#|:)")


def reflow(text: str) -> str:
    """Templates hold one sentence (or clause) per line so that a wording change is a one-line
    diff; this joins those lines back into the paragraph or list item they belong to (a line
    break inside a template is a space in the text). Blank lines, list items, table rows,
    headings, captions and callout fences keep their own lines."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        joins = (
            line
            and out
            and out[-1]
            and not _BLOCK_START.match(line)
            and not _NO_CONTINUATION.match(out[-1])
        )
        if joins:
            out[-1] = f"{out[-1]} {line.lstrip()}"
        else:
            out.append(line)
    return "\n".join(out)


def render(template: str, **context) -> str:
    return reflow(environment().get_template(template).render(**context)).strip() + "\n"


def findings(f: dict) -> list[dict]:
    """The headline findings for the executive summary, most important first: the answer to the
    config's question (whatever its p), where the variation lies, the research questions
    (interactions), the levers, the largest other association, the group context, what is
    explained, whether slopes vary, and last every predictor not yet named, linked or not (so
    none silently drops out of the summary)."""
    out = []
    named: set[str] = set()  # predictor columns a finding has spoken for entirely
    said: set[str] = set()  # single terms a finding has stated (one level of a factor)
    focus = f["question"]
    if focus is not None:
        out.append({"kind": Finding.FOCUS, "question": focus})
        named |= set(focus["variables"])
    # With too few groups for a random effect, that caution comes early: everything about
    # differences between groups rests on it.
    if f["too_few_groups"]:
        out.append({"kind": Finding.TOO_FEW_GROUPS})
    out.append({"kind": Finding.ICC})
    growth = f["growth"]  # growth data at one grouping level or several
    if growth is not None:
        out.append({"kind": Finding.GROWTH})
        named.add(growth["variable_name"])
    for q in f["questions"][:2]:
        if focus is not None and focus["interaction"] == q["interaction"]:
            continue
        out.append({"kind": Finding.QUESTION, "question": q})
        named |= set(q["variables"])
    # What can be acted on comes before background: the reliable levers first, then the
    # largest association among the rest.
    for e in f["levers"][:2]:
        if e["variable_name"] not in named:
            out.append({"kind": Finding.LEVER, "effect": e})
            said.add(e["term"])
    others = [e for e in f["significant"] if not e["lever"] and e["variable_name"] not in named]
    if others:
        out.append({"kind": Finding.EFFECT, "effect": others[0]})
        said.add(others[0]["term"])
    rows = _context_rows(f["contextual"])
    if rows:
        out.append({"kind": Finding.CONTEXT, "rows": rows})
    out.append({"kind": Finding.R2})
    # growth data: the growth finding speaks for the slopes of time
    slopes = [
        s for s in (f["slope"] or {}).get("entries", []) if growth is None or not s["is_time"]
    ]
    if f["slope"] is not None and not f["too_few_groups"]:
        if slopes:
            out.append({"kind": Finding.SLOPE, "slope": slopes[0]})
    elif f["slopes_configured"] and f["slope"] is None and not f["too_few_groups"]:
        out.append({"kind": Finding.SLOPE_DROPPED})
    # the other levels of a factor one of whose levels a finding stated stay in this list
    rest = [
        e for e in f["main_effects"] if e["variable_name"] not in named and e["term"] not in said
    ]
    if rest:
        out.append(
            {
                "kind": Finding.MORE_EFFECTS,
                # in model order, so the levels of a factor stay together
                "linked": [e for e in rest if e["significant"]],
                "unlinked": [e for e in rest if not e["significant"]],
                "variables": list(dict.fromkeys(e["variable_name"] for e in rest)),
            }
        )
    return out


def _context_rows(contextual: list[dict]) -> list[dict]:
    """The contextual effects the summary states: those of the first variable, and not the
    by-moderator rows that follow from the model's form (no group mean x moderator term)."""
    if not contextual:
        return []
    first = contextual[0]["variable"]
    rows = [c for c in contextual if c["variable"] == first]
    return [] if any(c["constrained"] for c in rows) else rows


def recommendations(f: dict) -> list[dict]:
    """What to do, each with its trigger and rule. Only levers get action advice; significant
    non-levers (background, demography, sector) are reported as equity questions; school-level
    advice uses the ICC after the predictors; slope advice needs the final model's test and the
    slope's reliability."""
    rules = f["rules"]
    out = []
    if f["unverified"]:
        out.append({"kind": Advice.UNVERIFIED, "trigger": ", ".join(f["unverified"])})
    groups = f["fewest_trigger"]
    if f["too_few_groups"]:
        out.append(
            {"kind": Advice.TOO_FEW_GROUPS, "trigger": groups, "rule": rules["groups_strong"]}
        )
    elif f["few_groups"]:
        out.append({"kind": Advice.FEW_GROUPS, "trigger": groups, "rule": rules["groups"]})
    after = f["icc_after"]
    lv = f.get("levels")
    if lv is not None and not f["too_few_groups"]:
        # several levels: the share of the remaining variance between groups of any level
        total = lv["after_total_value"]
        if total is not None:
            trigger = f"share between groups after the predictors = {lv['after_total']}"
            if rules_module.between_groups_matter(total):
                out.append(
                    {"kind": Advice.BETWEEN_GROUPS, "trigger": trigger, "rule": rules["icc_medium"]}
                )
            elif rules_module.within_groups_dominate(total):
                out.append(
                    {"kind": Advice.WITHIN_GROUPS, "trigger": trigger, "rule": rules["icc_small"]}
                )
    if lv is not None and not f["too_few_groups"]:
        # several levels: groups whose own intercepts are too imprecise to tell apart are not to
        # be ranked (league tables of them order noise); a level whose variance is at zero
        # (reliability 0) finds no differences at all: the singular advice speaks for it
        shaky = [
            t
            for t in lv["tiers"]
            if t["reliability"] not in (None, fmt.num(0.0, 2)) and not t["reliable"]
        ]
        if shaky:
            many = [t["many"] for t in shaky]
            names = many[0] if len(many) == 1 else ", ".join(many[:-1]) + " or " + many[-1]
            out.append(
                {
                    "kind": Advice.RANK_GROUPS,
                    "names": names,
                    "reliabilities": _listed([t["reliability"] for t in shaky]),
                    "trigger": "; ".join(
                        f"average reliability of the {t['one']} intercepts {t['reliability']}"
                        for t in shaky
                    ),
                    "rule": rules["reliability"],
                }
            )
    elif not f["too_few_groups"] and after is not None:
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
                # what the differences follow: the rows' own characteristics, the make-up of
                # their groups (group means), or neither (other group-level measures)
                "background": any(not e["group_mean"] and not e["group_level"] for e in context),
                "composition": any(e["group_mean"] for e in context),
                # the groups whose characteristics these are: each at its own level
                "holders": _listed(
                    dict.fromkeys(
                        e["actor_many"] for e in context if e["group_level"] or e["group_mean"]
                    )
                    or [f["group_many"]]
                ),
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
    items = findings(f)
    kinds = {item["kind"] for item in items}
    # the technical terms the summary uses, each explained in a plain line below it
    terms = {
        "sd": not f["binary"]
        and bool(kinds & {Finding.FOCUS, Finding.LEVER, Finding.EFFECT, Finding.SLOPE}),
        "reliability": Finding.SLOPE in kinds,
    }
    return render("executive_summary.md.j2", f=f, findings=items, terms=terms)


def interpretation(f: dict) -> str:
    return render("interpretation_binary.md.j2" if f["binary"] else "interpretation.md.j2", f=f)


def recommendations_section(f: dict) -> str:
    return render("recommendations.md.j2", f=f, items=recommendations(f))


def implications_section(f: dict) -> str:
    return render("implications.md.j2", f=f, items=implications(f))


def health_section(results: Results, f: dict) -> str:
    checks = health_checks(results)
    statuses = {c["status"] for c in checks if not c.get("note")}
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
    lex = lexicon.build(results.spec, results.design, labels.raw)
    out = []
    for h in results.health:
        if h.check == Check.TINY_GROUPS and len(lex.tiers) > 1 and results.spec.crossed:
            out.extend(_crossed_tiny_groups(results, lex, h))
            continue
        item = {"check": h.check, "status": h.status, "band": h.band, "among": None}
        # several levels: a check about one level's groups names them ("100 schools")
        level = getattr(h, "level", None)
        tier = next((t for t in lex.tiers if t.column == level), None) if level else None
        item["groups"] = fmt.md_escape(tier.counted) if tier else "groups"
        item["group_word"] = fmt.md_escape(tier.noun.one) if tier else "group"
        # small groups are cells, the innermost level's groups, when there are several levels
        inner = lex.tiers[-1] if len(lex.tiers) > 1 else None
        one, many = (inner.noun.one, inner.noun.many) if inner else (lex.group.one, lex.group.many)
        if inner and getattr(results.spec, "crossed", False):  # cells are the observed pairs
            pair = f"of {lex.tiers[0].noun.one} and {lex.tiers[1].noun.one}"
            one, many = f"combination {pair}", f"combinations {pair}"
        item["tiny_one"] = f"{fmt.md_escape(one)} has"
        item["tiny_many"] = f"{fmt.md_escape(many)} have"
        item["members"] = fmt.md_escape(lex.unit.many)
        item["model_label"] = (
            results.models[h.model].label if h.model in results.models else "All models"
        )
        # the groups a check is about: its level's, else the one grouping level's (never
        # "groups" or "members" where the config named them)
        # (a yes/no outcome's uniform groups are the cells: the innermost level's groups)
        if tier is None and (len(lex.tiers) == 1 or h.check == Check.UNIFORM_GROUPS):
            tier = lex.tiers[-1]
        holder = tier.noun if tier else None
        item["between"] = fmt.md_escape(holder.many) if holder else "groups"
        if holder and h.check in (Check.GROUPS, Check.UNIFORM_GROUPS):
            item["groups"] = fmt.md_escape(tier.counted)
            item["group_word"] = fmt.md_escape(holder.one)
        if h.check == Check.SINGULAR:
            item["value"] = fmt.md_escape(
                ", ".join(_random_term_words(t, holder, labels) for t in h.terms)
            )
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
        if h.check == Check.TINY_GROUPS:
            # a few small groups among many are a note, not a warning (rules.tiny_groups_matter)
            item["note"] = not rules.tiny_groups_matter(int(h.value), results.data.n_groups)
            column = inner.column if inner else None
            noun = lex.tiers[-1].noun.many if lex.tiers else lex.group.many
            item |= _small_group_reliability(results, column, int(h.value), noun)
            # small groups whose own effects are still reliable are shrunk little: no warning
            item["note"] = item["note"] or item["reliable"]
        out.append(item)
    return out


def _random_term_words(term: str, holder, labels) -> str:
    """A random term as the health box names it: "the district intercepts", "the effect of
    Wave between children" (the bare "Intercept" named no level)."""
    if holder is None:
        return labels.term(term, False)
    if labels.design.term(term).kind == TermKind.INTERCEPT:
        return f"the {holder.one} intercepts"
    return f"the effect of {labels.term(term, False)} between {holder.many}"


def _small_group_reliability(results: Results, column: str | None, n_small: int, many: str):
    """How reliably the small groups' own intercepts are estimated: the mean of the n_small
    lowest per-group reliabilities (HLM's lambda_j) of their level, a lower bound of the small
    groups' own mean whichever they are. Whether they are 'shrunk strongly' depends on the
    variances, not on the count alone: 875 children with 2-4 scores each have lambda_j of 0.76
    or more when children differ this much (egsingle)."""
    from . import levels

    final = results.final
    effects = (
        getattr(levels.level_results(final).get(column), "group_effects", None)
        if column
        else final.group_effects
    )
    values = sorted(getattr(effects, "reliability", ()) or ())
    if not n_small or len(values) < n_small:
        return {"reliable": False, "floor": None}
    floor = sum(values[:n_small]) / n_small
    return {
        "reliable": rules.reliability_high(floor),
        "floor": fmt.num(floor, 2),
        "overall": fmt.num(sum(values) / len(values), 2),
        "all_groups": fmt.md_escape(many),
    }


def _crossed_tiny_groups(results: Results, lex, h) -> list[dict]:
    """Crossed factors: the model has an effect per group of each factor, none per combination
    (the cells), so small groups are counted per factor, each among its own groups."""
    from . import levels

    out = []
    for tier in lex.tiers:
        sizes = levels.group_summary(results, tier.column).n
        n_tiny = sum(1 for n in sizes if n < rules.TINY_GROUP.value)
        if not n_tiny:
            continue
        small = _small_group_reliability(results, tier.column, n_tiny, tier.noun.many)
        out.append(
            small
            | {
                "check": h.check,
                "status": h.status,
                "band": h.band,
                "groups": fmt.md_escape(tier.counted),
                "group_word": fmt.md_escape(tier.noun.one),
                "tiny_one": f"{fmt.md_escape(tier.noun.one)} has",
                "tiny_many": f"{fmt.md_escape(tier.noun.many)} have",
                "members": fmt.md_escape(lex.unit.many),
                "model_label": "All models",
                "value": fmt.integer(n_tiny),
                "one": n_tiny == 1,
                "among": fmt.integer(len(sizes)),
                "note": not rules.tiny_groups_matter(n_tiny, len(sizes)) or small["reliable"],
            }
        )
    return out


def _listed(names) -> str:
    """Names as a sentence lists them: "a", "a and b", "a, b and c" (also the templates'
    `listed` filter)."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
