"""The final model written out: Raudenbush & Bryk's level-1 / level-2 equations and the mixed
formula, so centring and the role of each variable are visible to the reader.

Subscripts use pandoc's `~sub~` markup (HTML, PDF and Word alike); user text is escaped first, so
a label cannot open or close a subscript.
"""

from __future__ import annotations

from collections.abc import Callable

from ..results import INTERCEPT, Results, TermKind
from ..spec import reads_as_number
from . import levels
from .labels import TermLabels


def _sub(symbol: str, index: str) -> str:
    return f"{symbol}~{index}~"


def describe(results: Results, labels: TermLabels, escape: Callable[[object], str]) -> dict:
    if levels.multilevel(results):
        return describe_levels(results, labels, escape)
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
    # the uncorrelated fallback (a singular correlated slope) is lme4's `||`, not `|`
    bar = "||" if getattr(final, "uncorrelated", False) and slopes != "1" else "|"
    mixed = f"{design.outcome} ~ {fixed} + ({slopes} {bar} {design.group})"
    if final.is_binomial:  # the event as R counts it: y == "yes" unless y is already 0/1
        event = design.event
        if event != "1":
            literal = event if reads_as_number(event) else '"' + event.replace('"', '\\"') + '"'
            mixed = mixed.replace(f"{design.outcome} ~", f"{design.outcome} == {literal} ~", 1)
        mixed = f"glmer({mixed}, family = binomial)"
    return {
        "level1": level1,
        "level2": lines,
        "rows": [{"level": "1", "equation": level1}]
        + [{"level": "2", "equation": x} for x in lines],
        "mixed": escape(mixed),
    }


# Coefficient letters from the outermost level inwards, so the outermost is always gamma, as in
# Raudenbush & Bryk (HLM2: beta, gamma; HLM3: pi, beta, gamma).
_LETTERS = ("γ", "β", "π", "θ", "ρ")
# Random effects per level, level 2 upwards (HLM3: r at level 2, u at level 3).
_RANDOM = ("r", "u", "v", "w")
# Group indices, level 2 upwards (HLM3: i pupils, j classes, k schools).
_INDEX = ("j", "k", "l", "m")


def _index(numbers: tuple[int, ...]) -> str:
    """Coefficient subscripts: "01", or "1,10" when a number has two digits."""
    return ("," if any(n > 9 for n in numbers) else "").join(str(n) for n in numbers)


def _components(results: Results, term: str) -> dict[int, str]:
    """A fixed term split by level: {level: the product of its parts at that level}. A
    cross-level interaction of a level-1 and a level-2 variable is {1: x, 2: w}: the level-2
    part moderates the level-1 slope."""
    design = results.design
    t = design.term(term)
    parts = t.parts if t.kind == TermKind.INTERACTION else (term,)
    by_level: dict[int, list[str]] = {}
    for p in parts:
        by_level.setdefault(levels.term_level(results, design, p), []).append(p)
    return {level: ":".join(ps) for level, ps in by_level.items()}


def describe_levels(results: Results, labels: TermLabels, escape: Callable[[object], str]) -> dict:
    """The final model of three or more levels (or crossed factors) as equations, one level
    per row: every fixed term is a path of components, one per level (0 for none), so the
    level-1 slope of x moderated by a school variable w is the school-level coefficient of w in
    the class-level equation of x's slope."""
    design = results.design
    final = results.final
    cols = levels.columns(results)
    crossed = levels.crossed(results)
    top = 2 if crossed else len(cols) + 1  # the highest level number
    terms = [fe.term for fe in final.fixed_effects if fe.term != INTERCEPT]
    # each level's components in model order, numbered from 1 (0 is the intercept)
    numbered: dict[int, dict[str, int]] = {m: {} for m in range(1, top + 1)}
    paths: list[tuple[int, ...]] = [tuple(0 for _ in range(top))]
    for term in terms:
        comp = _components(results, term)
        path = []
        for m in range(1, top + 1):
            c = comp.get(m)
            if c is None:
                path.append(0)
            else:
                path.append(numbered[m].setdefault(c, len(numbered[m]) + 1))
        paths.append(tuple(path))
    names = {m: {n: c for c, n in numbered[m].items()} for m in numbered}

    def name(component: str) -> str:
        return escape(labels.term(component, with_reference=True))

    letters = _LETTERS[:top][::-1]  # level 1's letter first
    # subscripts of a level-m quantity: the group indices of levels m+1 .. top
    groups = {m: "".join(_INDEX[: top - 1][m - 1 :]) for m in range(1, top + 1)}
    if crossed:
        groups = {1: "jk", 2: ""}

    def coef(m: int, prefix: tuple[int, ...]) -> str:
        return _sub(letters[m - 1], _index(prefix) + groups[m])

    def datum(m: int, component: int) -> str:
        # a level-m variable carries the indices of its own groups and those above them
        index = ("i" + groups[1]) if m == 1 else groups[m - 1]
        if crossed and m == 2:  # a variable of one crossed factor carries that factor's index
            t = design.term(names[m][component])
            at = levels.variable_column(results, t.variable) if t.variable else None
            index = {cols[0]: "j", cols[1]: "k"}.get(at, "jk") if at else "jk"
        return f"({name(names[m][component])})~{index}~"

    random = levels.random_terms(final, results)

    def random_at(m: int, prefix: tuple[int, ...]) -> list[str]:
        """The random effects of the level-(m-1) coefficient `prefix` at level m: the intercept
        of the level's groups, or the slope of the component it multiplies."""
        out = []
        targets = cols[::-1] if not crossed else cols
        for k, column in enumerate(targets):
            number = 2 if crossed else k + 2
            if number != m:
                continue
            for term in random.get(column, []):
                if term == INTERCEPT:
                    wanted = tuple(0 for _ in prefix)
                else:
                    comp = _components(results, term)
                    wanted = tuple(
                        numbered[level].get(comp[level], -1) if level in comp else 0
                        for level in range(1, len(prefix) + 1)
                    )
                if wanted == prefix:
                    if crossed:
                        symbol = ("b", "c")[k]
                        out.append(_sub(symbol, _index(prefix) + ("j", "k")[k]))
                    else:
                        out.append(_sub(_RANDOM[m - 2], _index(prefix) + groups[m - 1]))
        return out

    y = escape(labels.variable(design.outcome))
    rows: list[tuple[str, str]] = []
    pieces = [coef(1, (0,))] + [f"{coef(1, (n,))} · {datum(1, n)}" for n in sorted(names[1]) if n]
    if final.is_binomial:
        event = escape(str(design.event))
        rows.append(("1", f"logit P(({y})~i{groups[1]}~ = {event}) = " + " + ".join(pieces)))
    else:
        rows.append(("1", f"({y})~i{groups[1]}~ = " + " + ".join(pieces) + f" + e~i{groups[1]}~"))
    for m in range(2, top + 1):
        prefixes = sorted({p[: m - 1] for p in paths})
        for prefix in prefixes:
            parts = [coef(m, (*prefix, 0))]
            below = sorted({p[m - 1] for p in paths if p[: m - 1] == prefix} - {0})
            parts += [f"{coef(m, (*prefix, n))} · {datum(m, n)}" for n in below]
            parts += random_at(m, prefix)
            rows.append((str(m), f"{coef(m - 1, prefix)} = " + " + ".join(parts)))
    return {
        "level1": rows[0][1],
        "level2": [r[1] for r in rows[1:]],
        "rows": [{"level": level, "equation": eq} for level, eq in rows],
        "mixed": escape(_mixed_levels(results, random)),
    }


def _mixed_levels(results: Results, random: dict[str, list[str]]) -> str:
    """The lme4 formula: nested levels scoped by the ones above (school:class), crossed ones as
    they are; centring spelled out at the level it is taken."""
    design = results.design
    spec = results.spec
    cols = levels.columns(results)
    crossed = levels.crossed(results)

    def scope(column: str) -> list[str]:
        return [column] if crossed else list(cols[: cols.index(column) + 1])

    def as_formula(name: str) -> str:
        v = design.variable(name)
        at = levels.variable_column(results, name) or cols[-1]
        if v.mean_of is not None:
            return f"ave({v.mean_of}, {', '.join(scope(at))})"
        if v.centering == "group":  # at its level (`centering: {x: school}`), else the cells'
            centred_at = spec.centering_level(name) or cols[-1]
            return f"I({name} - ave({name}, {', '.join(scope(centred_at))}))"
        if v.centering == "grand":
            return f"I({name} - mean({name}))"
        return name

    def variable_of(term: str) -> str:
        t = design.term(term)
        return t.variable if t.variable else term

    fixed = " + ".join(
        ["1", *(as_formula(v) for v in design.predictors)]
        + [":".join(as_formula(v) for v in i.split(":")) for i in spec.interactions]
    )
    bars = []
    for column in cols:
        slopes = list(
            dict.fromkeys(
                as_formula(variable_of(t)) for t in random.get(column, []) if t != INTERCEPT
            )
        )
        # a level fitted uncorrelated (its correlated slope was singular) has no covariance
        # rows: lme4 writes it `||`
        covariances = any(
            vc.group == column and vc.term2 is not None for vc in results.final.variance_components
        )
        bar = "||" if slopes and not covariances else "|"
        bars.append(f"({' + '.join(['1', *slopes])} {bar} {':'.join(scope(column))})")
    mixed = f"{design.outcome} ~ {fixed} + " + " + ".join(bars)
    if results.final.is_binomial:
        event = design.event
        if event != "1":
            literal = event if reads_as_number(event) else '"' + event.replace('"', '\\"') + '"'
            mixed = mixed.replace(f"{design.outcome} ~", f"{design.outcome} == {literal} ~", 1)
        mixed = f"glmer({mixed}, family = binomial)"
    return mixed
