"""The report's view of the grouping levels: which columns group the rows (outermost first), at
which level each variable lives, which random terms each level carries, and the null model's
share of the variance at each level.

The one place that reads the multilevel parts of results.json, so that tables, figures,
equations and the narrative share one reading of them. A two-level model is one level here.
Levels are numbered as Raudenbush and Bryk number them: 1 is the row (a pupil, a measurement),
2 the innermost grouping (a class), 3 the next (a school), and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..results import INTERCEPT, Design, ModelResult, Results, TermKind

RESIDUAL = "Residual"


def columns(results: Results) -> tuple[str, ...]:
    """The grouping columns, outermost first."""
    levels = getattr(results.spec, "levels", None)
    return tuple(levels) if levels else (results.design.group,)


def multilevel(results: Results) -> bool:
    """More than one grouping column (three levels or more, or crossed factors)."""
    return len(columns(results)) > 1


def crossed(results: Results) -> bool:
    return bool(getattr(results.spec, "crossed", False))


def time_column(results: Results) -> str | None:
    return getattr(results.spec, "time", None) or None


def number(results: Results, column: str) -> int:
    """The level number of a grouping column: the innermost is 2, the outermost the highest.
    Crossed factors are both level 2."""
    cols = columns(results)
    if crossed(results):
        return 2
    return len(cols) + 1 - cols.index(column)


def variable_level(results: Results, name: str) -> int:
    """The level a variable lives at: 1 when it varies within the innermost groups, else the
    number of the outermost level within whose groups it is constant (results' `level`; a
    group-level variable of unknown level is put at level 2)."""
    design = results.design
    try:
        v = design.variable(name)
    except KeyError:
        return 1
    at = getattr(v, "level", None)
    if at:
        return number(results, at)
    if v.mean_of is not None:  # a group mean: at the level of the groups it averages over
        return 2
    return 2 if v.group_level else 1


def variable_column(results: Results, name: str) -> str | None:
    """The grouping column a group-level variable is constant within (None: level 1)."""
    level = variable_level(results, name)
    if level == 1:
        return None
    v = results.design.variable(name)
    at = getattr(v, "level", None)
    if at:
        return at
    return columns(results)[-1]


def term_level(results: Results, design: Design, term: str) -> int:
    """The level of a design term: its variable's, an interaction's lowest part's."""
    t = design.term(term)
    if t.kind == TermKind.INTERCEPT:
        return 1
    if t.kind == TermKind.INTERACTION:
        return min(term_level(results, design, p) for p in t.parts)
    return variable_level(results, t.variable)


def random_terms(model: ModelResult, results: Results) -> dict[str, list[str]]:
    """The random terms of each grouping column, outermost first, read from the variance
    components (a variance row per term); a two-level model's are its `random_terms`."""
    cols = columns(results)
    if len(cols) == 1:
        return {cols[0]: list(model.random_terms)}
    out: dict[str, list[str]] = {c: [] for c in cols}
    for vc in model.variance_components:
        if vc.group in out and vc.term2 is None and vc.term1 is not None:
            if vc.term1 not in out[vc.group]:
                out[vc.group].append(vc.term1)
    return out


@dataclass(frozen=True)
class Share:
    """One level's share of the null model's variance, and the ICC of rows that share that
    level's group (and, nested, every group above it)."""

    column: str  # a grouping column, or RESIDUAL for the rows within the innermost groups
    variance: float
    share: float
    icc: float | None  # None for the residual
    icc_ci_low: float | None = None
    icc_ci_high: float | None = None


def shares(results: Results) -> list[Share]:
    """The null model's variance at each level, outermost first, the residual last. Read from
    the null model's intercept variances; the ICC of "same X" sums the shares of X and the
    levels above it (nested) or is X's own share (crossed); intervals when results hold them."""
    null = results.models.get("null")
    if null is None:
        return []
    cols = columns(results)
    variances = {
        vc.group: vc.estimate
        for vc in null.variance_components
        if vc.term2 is None and (vc.term1 == INTERCEPT or vc.group == RESIDUAL)
    }
    if any(c not in variances for c in cols) or RESIDUAL not in variances:
        return []
    total = sum(variances[c] for c in cols) + variances[RESIDUAL]
    given = {s["level"]: s for s in _given_shares(null)}
    out, above = [], 0.0
    for c in cols:
        share = variances[c] / total if total > 0 else 0.0
        above = share if crossed(results) else above + share
        g = given.get(c, {})
        out.append(
            Share(
                c,
                variances[c],
                share,
                g.get("icc", above),
                g.get("icc_ci_low"),
                g.get("icc_ci_high"),
            )
        )
    resid = variances[RESIDUAL]
    out.append(Share(RESIDUAL, resid, resid / total if total > 0 else 0.0, None))
    return out


def _given_shares(null: ModelResult) -> list[dict]:
    """Per-level ICCs the model stage wrote (with intervals), when it wrote them."""
    rows = getattr(null, "variance_shares", None) or getattr(null, "level_icc", None) or ()
    out = []
    for r in rows:
        get = r.get if isinstance(r, dict) else lambda k, r=r: getattr(r, k, None)
        level = get("level") or get("group")
        if level is None:
            continue
        out.append(
            {
                k: v
                for k, v in {
                    "level": level,
                    "icc": get("icc"),
                    "icc_ci_low": get("icc_ci_low") or get("ci_low"),
                    "icc_ci_high": get("icc_ci_high") or get("ci_high"),
                }.items()
                if v is not None
            }
        )
    return out
