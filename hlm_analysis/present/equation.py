"""The final model written out: Raudenbush & Bryk's level-1 / level-2 equations and the mixed
formula, so centring and the role of each variable are visible to the reader.

Subscripts use pandoc's `~sub~` markup (HTML, PDF and Word alike); user text is escaped first, so
a label cannot open or close a subscript.
"""

from __future__ import annotations

from collections.abc import Callable

from ..results import INTERCEPT, Results, TermKind
from ..spec import reads_as_number
from .labels import TermLabels


def _sub(symbol: str, index: str) -> str:
    return f"{symbol}~{index}~"


def describe(results: Results, labels: TermLabels, escape: Callable[[object], str]) -> dict:
    design = results.design
    final = results.final
    terms = [fe.term for fe in final.fixed_effects if fe.term != INTERCEPT]

    def level2(term: str) -> bool:
        t = design.term(term)
        if t.kind == TermKind.INTERACTION:
            return all(level2(p) for p in t.parts)
        v = design.variable(t.variable)
        return v.group_level or v.mean_of is not None

    level1_terms = [
        t for t in terms if design.term(t).kind != TermKind.INTERACTION and not level2(t)
    ]
    # a cross-level interaction moderates a level-1 slope; level-1 x level-1 stays at level 1
    cross: dict[str, list[str]] = {t: [] for t in level1_terms}
    for t in terms:
        term = design.term(t)
        if term.kind != TermKind.INTERACTION or level2(t):
            continue
        inner = [p for p in term.parts if not level2(p)]
        outer = [p for p in term.parts if level2(p)]
        if len(inner) == 1 and outer and inner[0] in cross:
            cross[inner[0]].append(t)
        else:
            level1_terms.append(t)
            cross[t] = []
    random = set(final.random_terms)
    intercept_terms = [t for t in terms if level2(t)]

    def name(term: str) -> str:
        return escape(labels.term(term, with_reference=True))

    y = escape(labels.variable(design.outcome))
    pieces = [_sub("β", "0j")]
    for k, t in enumerate(level1_terms, start=1):
        pieces.append(f"{_sub('β', f'{k}j')} · ({name(t)})~ij~")
    if final.is_binomial:  # glmer's family = binomial: the log-odds, no level-1 residual
        event = escape(str(design.event))
        level1 = f"logit P(({y})~ij~ = {event}) = " + " + ".join(pieces)
    else:
        level1 = f"({y})~ij~ = " + " + ".join(pieces) + " + " + _sub("r", "ij")

    def gammas(k: int, moderators: list[str], own: str) -> str:
        parts = [_sub("γ", f"{k}0")]
        for m, t in enumerate(moderators, start=1):
            shown = t
            if design.term(t).kind == TermKind.INTERACTION:  # the level-2 part of a cross term
                shown = next(p for p in design.term(t).parts if level2(p))
            parts.append(f"{_sub('γ', f'{k}{m}')} · ({name(shown)})~j~")
        if own in random:
            parts.append(_sub("u", f"{k}j"))
        return " + ".join(parts)

    lines = [f"{_sub('β', '0j')} = " + gammas(0, intercept_terms, INTERCEPT)]
    for k, t in enumerate(level1_terms, start=1):
        lines.append(f"{_sub('β', f'{k}j')} = " + gammas(k, cross.get(t, []), t))

    def as_formula(name: str) -> str:
        """Centring and group means spelled out, so the formula refits the same model in R."""
        v = design.variable(name)
        if v.mean_of is not None:
            return f"ave({v.mean_of}, {design.group})"
        if v.centering == "group":
            return f"I({name} - ave({name}, {design.group}))"
        if v.centering == "grand":
            return f"I({name} - mean({name}))"
        return name

    variables = [as_formula(v) for v in results.design.predictors]
    products = [":".join(as_formula(v) for v in i.split(":")) for i in results.spec.interactions]
    fixed = " + ".join(["1", *variables, *products])
    slopes = (
        " + ".join(["1", *map(as_formula, results.spec.random_slopes)])
        if len(final.random_terms) > 1
        else "1"
    )
    mixed = f"{design.outcome} ~ {fixed} + ({slopes} | {design.group})"
    if final.is_binomial:  # the event as R counts it: y == "yes" unless y is already 0/1
        event = design.event
        if event != "1":
            literal = event if reads_as_number(event) else '"' + event.replace('"', '\\"') + '"'
            mixed = mixed.replace(f"{design.outcome} ~", f"{design.outcome} == {literal} ~", 1)
        mixed = f"glmer({mixed}, family = binomial)"
    return {"level1": level1, "level2": lines, "mixed": escape(mixed)}
