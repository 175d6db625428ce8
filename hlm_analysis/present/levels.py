"""The report's view of the grouping levels: which columns group the rows (outermost first), at
which level each variable lives, which random terms each level carries, and the null model's
share of the variance at each level.

The one place that reads the multilevel parts of results.json, so that tables, figures,
equations and the narrative share one reading of them. A two-level model is one level here.
Levels are numbered as Raudenbush and Bryk number them: 1 is the row (a pupil, a measurement),
2 the innermost grouping (a class), 3 the next (a school), and so on.
"""

from __future__ import annotations

import math
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


def level_results(model: ModelResult) -> dict[str, object]:
    """The model's per-level results (`ModelResult.levels`), by column; empty for two levels."""
    return {lv.level: lv for lv in getattr(model, "levels", ())}


def random_terms(model: ModelResult, results: Results) -> dict[str, list[str]]:
    """The random terms of each grouping column, outermost first: the model's per-level terms,
    else read from the variance components (a variance row per term); a two-level model's are
    its `random_terms`."""
    cols = columns(results)
    if len(cols) == 1:
        return {cols[0]: list(model.random_terms)}
    given = level_results(model)
    if given:
        return {c: list(given[c].terms) if c in given else [] for c in cols}
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
    """The null model's variance at each level, outermost first, the residual last: the model
    stage's shares and ICCs (with intervals) where it wrote them, else from the null model's
    intercept variances (the ICC of "same X" sums the shares of X and the levels above it when
    nested, is X's own share when crossed)."""
    null = results.models.get("null")
    if null is None:
        return []
    cols = columns(results)
    variances = {
        vc.group: vc.estimate
        for vc in null.variance_components
        if vc.term2 is None and (vc.term1 == INTERCEPT or vc.group == RESIDUAL)
    }
    if RESIDUAL not in variances and null.is_binomial:
        variances[RESIDUAL] = math.pi**2 / 3  # the logistic level-1 variance, latent scale
    if any(c not in variances for c in cols) or RESIDUAL not in variances:
        return []
    total = sum(variances[c] for c in cols) + variances[RESIDUAL]
    given = level_results(null)
    out, above = [], 0.0
    for c in cols:
        share = variances[c] / total if total > 0 else 0.0
        lv = given.get(c)
        if lv is not None and lv.variance_share is not None:
            share = lv.variance_share
        above = share if crossed(results) else above + share
        icc = lv.icc if lv is not None else None
        out.append(
            Share(
                c,
                variances[c],
                share,
                icc.estimate if icc is not None else above,
                icc.ci_low if icc is not None else None,
                icc.ci_high if icc is not None else None,
            )
        )
    resid = getattr(null, "residual_share", None)
    if resid is None:
        resid = variances[RESIDUAL] / total if total > 0 else 0.0
    out.append(Share(RESIDUAL, variances[RESIDUAL], resid, None))
    return out


@dataclass(frozen=True)
class Size:
    """How many groups a level has and how many rows each holds."""

    column: str
    n_groups: int
    size_min: int | None = None
    size_mean: float | None = None
    size_max: int | None = None


def sizes(results: Results) -> list[Size]:
    """Each grouping level's groups and rows per group, outermost first (`data.levels`; the
    final model's group counts when the data summary has none)."""
    cols = columns(results)
    given = getattr(results.data, "levels", None) or ()
    by_name = {}
    for lv in given:
        get = lv.get if isinstance(lv, dict) else lambda k, lv=lv: getattr(lv, k, None)
        by_name[get("name")] = Size(
            get("name"), get("n_groups"), get("size_min"), get("size_mean"), get("size_max")
        )
    if len(cols) == 1:
        g = results.data.group_size
        return [Size(cols[0], results.data.n_groups, g.min, g.mean, g.max)]
    out = []
    for c in cols:
        if c in by_name and by_name[c].size_min is not None:
            out.append(by_name[c])
            continue
        n = group_summary(results, c).n  # summed from the cells
        out.append(Size(c, len(n), min(n), sum(n) / len(n), max(n)))
    return out


SEPARATOR = "\x1f"  # between the level ids of a cell's label (data/levels: cells)


@dataclass(frozen=True)
class GroupSummary:
    """Each group of one level: its label, rows, outcome mean and SD, summed exactly from the
    cells (a cell's sum of squares is (n - 1) sd^2 + n mean^2)."""

    labels: tuple[str, ...]
    n: tuple[int, ...]
    mean: tuple[float, ...]
    sd: tuple[float, ...]


def cell_parts(label: str, n_levels: int | None = None) -> list[str]:
    """A cell label's ids, outermost first: results.json writes them joined by " / " (data
    helpers' cell names), the data layer by SEPARATOR."""
    if SEPARATOR in label:
        return label.split(SEPARATOR)
    if n_levels is None:
        return label.split(" / ")
    return label.split(" / ", n_levels - 1)


def shown_label(label: str) -> str:
    """A cell's or inner group's label for a reader: the level ids joined by " / "."""
    return " / ".join(cell_parts(label))


def group_summary(results: Results, column: str) -> GroupSummary:
    """The groups of one level, from the data's per-cell sizes, means and SDs: nested levels
    keep the ids of every level above them (class 1 of school S001 is "S001 / 1"), a crossed
    factor its own id."""
    import math

    g = results.data.groups
    cols = columns(results)
    if len(cols) == 1:
        return GroupSummary(g.labels, g.n, g.outcome_mean, g.outcome_sd)
    k = cols.index(column)
    keep = slice(k, k + 1) if crossed(results) else slice(0, k + 1)
    sums: dict[str, list[float]] = {}
    for label, n, mean, sd in zip(g.labels, g.n, g.outcome_mean, g.outcome_sd, strict=True):
        key = " / ".join(cell_parts(label, len(cols))[keep])
        s = sums.setdefault(key, [0, 0.0, 0.0])
        sd = 0.0 if n < 2 or not math.isfinite(sd) else sd
        s[0] += n
        s[1] += n * mean
        s[2] += (n - 1) * sd * sd + n * mean * mean
    labels, ns, means, sds = [], [], [], []
    for key, (n, total, squares) in sums.items():
        mean = total / n
        var = (squares - n * mean * mean) / (n - 1) if n > 1 else float("nan")
        labels.append(key)
        ns.append(int(n))
        means.append(mean)
        sds.append(math.sqrt(max(var, 0.0)) if n > 1 else float("nan"))
    return GroupSummary(tuple(labels), tuple(ns), tuple(means), tuple(sds))
