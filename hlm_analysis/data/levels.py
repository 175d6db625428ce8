"""Several grouping levels (issue 22): cells, and each level's groups over them.

Every data path (in memory, DuckDB, Spark) reduces rows to per-group sums keyed by one label. With
several levels that label is the cell's: the level ids as written, outermost first, joined by
CELL_SEP (a control character refused in ids), so the per-group machinery (sums, codes, checks,
the row sample) runs on cells unchanged. A cell is one combination of all the group columns:
nested, an innermost group (class "1" of school A is not class "1" of school B); crossed, an
observed (first, second) pair. `arrange_cells` then splits the labels into `Levels`, orders the
cells by their groups (outermost first) and checks what only levels can say (a level with one
group, a level whose groups each hold one group of the next, a slope constant within a level's
groups). Labels alone decide it, so every path arrives at the same cells, codes and labels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..results import DataLevel, Design, Variable
from ..spec import Spec, quoted
from .columns import Factor, id_order
from .sums import DesignSums

if TYPE_CHECKING:
    from .prepare import Rows

# The unit separator: no id a reader accepts holds it (refused in arrange_cells), so the joined
# label splits back into exactly one id per level.
CELL_SEP = "\x1f"


@dataclass(frozen=True)
class Level:
    name: str  # the config's column
    labels: list[str]  # this level's group ids as written (nested inner levels: may repeat)
    codes: np.ndarray  # (C,) int: each cell's group at this level, into labels
    # (G_l,) int: each group's group at the level before (nested); None for the outermost level
    # and for crossed factors
    parents: np.ndarray | None

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def full_labels(self, outer: list[Level]) -> list[str]:
        """Each group's id with its parents' ids before it ('A / 1'), to tell a nested group
        apart in text; the plain labels for the outermost level and crossed factors."""
        if self.parents is None:
            return list(self.labels)
        above = outer[-1].full_labels(outer[:-1])
        return [f"{above[p]} / {own}" for p, own in zip(self.parents, self.labels, strict=True)]


@dataclass(frozen=True)
class Levels:
    levels: tuple[Level, ...]  # outermost first
    crossed: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels)

    def level(self, name: str) -> Level:
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)

    def sums_at(self, sums: DesignSums, name: str) -> DesignSums:
        """The cells' sums added up to the groups of one level (DesignSums.collapse)."""
        level = self.level(name)
        return sums.collapse(level.codes, level.n_groups)

    def sizes(self, counts: np.ndarray, name: str) -> np.ndarray:
        """Rows per group of one level, from the rows per cell."""
        level = self.level(name)
        return np.bincount(level.codes, weights=counts, minlength=level.n_groups).astype(np.int64)


def cell_factor(factors: list[Factor]) -> Factor:
    """Rows' cells from each level column's factor (outermost first): a row missing any id is
    missing. Labels are the ids as the factors name them, joined by CELL_SEP."""
    n = len(factors[0].codes)
    codes = np.stack([f.codes for f in factors], axis=1) if n else np.empty((0, len(factors)))
    missing = (codes < 0).any(axis=1)
    present = codes[~missing].astype(np.int64)
    sizes = [max(len(f.levels), 1) for f in factors]
    if float(np.prod(sizes, dtype=float)) < 2.0**62:  # one integer per combination
        key = np.zeros(len(present), dtype=np.int64)
        for j, size in enumerate(sizes):
            key = key * size + present[:, j]
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        combos = present[first]
    else:
        combos, inverse = np.unique(present, axis=0, return_inverse=True)
    labels = [
        CELL_SEP.join(str(f.levels[c]) for f, c in zip(factors, row, strict=True))
        for row in combos.tolist()
    ]
    out = np.full(n, -1, dtype=np.int64)
    out[~missing] = inverse.reshape(-1)
    return Factor(out, tuple(labels))


def key_sql(parts: list[tuple[str, bool]], text_type: str) -> str:
    """The cell's label in SQL (DuckDB and Spark alike) from each level's expression and
    whether it is a number id (cast to text, as the in-memory path names it). `||` rather than
    concat_ws: as fast to group by as the columns themselves (concat_ws costs DuckDB ~20%); a
    row missing an id has no label, and is not complete anyway."""
    return " || chr(31) || ".join(
        f"CAST({sql} AS {text_type})" if number else f"({sql})" for sql, number in parts
    )


def split_cells(spec: Spec, labels: list[str]) -> list[list[str]]:
    """Each cell's ids, outermost first; an id holding CELL_SEP is refused."""
    depth = len(spec.levels)
    parts = [label.split(CELL_SEP) for label in labels]
    for found in parts:
        if len(found) != depth:
            raise InputError(
                f"group: an id of {', '.join(map(quoted, spec.levels))} holds the control "
                "character U+001F (unit separator); remove it from the ids"
            )
    return parts


def _codes_of(values: list[str]) -> tuple[list[str], np.ndarray]:
    labels = id_order(set(values))
    index = {v: i for i, v in enumerate(labels)}
    return labels, np.array([index[v] for v in values], dtype=np.int64)


def build_levels(spec: Spec, labels: list[str]) -> Levels:
    """Levels of cells labelled as CELL_SEP-joined ids (cells in any order): each level's
    groups in the order every path gives them (ids as numbers when all read as numbers, else
    as text; a nested level's groups by parent, then id)."""
    parts = split_cells(spec, labels)
    out: list[Level] = []
    for depth, name in enumerate(spec.levels):
        own = [p[depth] for p in parts]
        if depth == 0 or spec.crossed:
            names, codes = _codes_of(own)
            out.append(Level(name, names, codes, None))
            continue
        parent_codes = out[-1].codes
        _, rank = _codes_of(own)  # ids in id order, across parents
        # a nested group: its parent group and its own id
        key = parent_codes * (int(rank.max()) + 1) + rank
        distinct, first, codes = np.unique(key, return_index=True, return_inverse=True)
        out.append(
            Level(
                name,
                [own[i] for i in first],
                codes.reshape(-1).astype(np.int64),
                parent_codes[first].astype(np.int64),
            )
        )
        del distinct
    return Levels(tuple(out), spec.crossed)


def _remap(rows: Rows, new_code: np.ndarray) -> Rows:
    return replace(rows, group_codes=new_code[rows.group_codes])


def arrange_cells(
    spec: Spec, labels: list[str], sums: DesignSums, rows: Rows
) -> tuple[Levels, list[str], DesignSums, Rows]:
    """The levels of the cells, with the cells ordered by their groups (outermost level first):
    their labels, sums and the rows' cell codes in that order."""
    levels = build_levels(spec, labels)
    order = np.lexsort([level.codes for level in reversed(levels.levels)])
    new_code = np.empty(len(order), dtype=np.int64)
    new_code[order] = np.arange(len(order))
    levels = Levels(
        tuple(replace(level, codes=level.codes[order]) for level in levels.levels),
        levels.crossed,
    )
    sums = DesignSums(
        names=sums.names,
        counts=sums.counts[order],
        cross=sums.cross[order],
        group_low=sums.group_low[order],
        group_high=sums.group_high[order],
    )
    _check_levels(spec, levels, sums.counts)
    return levels, [labels[i] for i in order], sums, _remap(rows, new_code)


def _check_levels(spec: Spec, levels: Levels, counts: np.ndarray) -> None:
    """What the cells' own checks (prepare.check_groups) cannot say: every level needs two
    groups; a crossed factor, groups that share rows; a nested level, a group above it that
    holds two of its groups (else the two levels' variances are one)."""
    for i, level in enumerate(levels.levels):
        if level.n_groups < 2:
            raise InputError(
                f"grouping variable {quoted(level.name)} has a single group "
                f"({quoted(level.labels[0])}); a multilevel model needs at least two"
            )
        if levels.crossed:
            shared = int((levels.sizes(counts, level.name) >= 2).sum())
            if shared < 2:
                raise InputError(
                    f"every group of {quoted(level.name)}{' but one' if shared else ''} has a "
                    "single row: a random effect cannot be told apart from the residual"
                )
        elif level.parents is not None:
            per_parent = np.bincount(level.parents, minlength=levels.levels[i - 1].n_groups)
            if per_parent.max() < 2:
                outer = levels.levels[i - 1].name
                raise InputError(
                    f"every group of {quoted(outer)} holds a single group of "
                    f"{quoted(level.name)}: the two levels' variances cannot be told apart; "
                    f"remove {quoted(level.name)} or {quoted(outer)} from group"
                )


def refuse_slopes_constant_within(
    spec: Spec, levels: Levels, sums: DesignSums, terms_of: dict[str, list[str]]
) -> None:
    """A random slope at a level of a variable constant within that level's groups cannot vary
    between them (prepare's one-level check, per level)."""
    for name in levels.names:
        slopes = spec.slopes_at(name)
        if not slopes:
            continue
        at = levels.sums_at(sums, name)
        for variable in slopes:
            terms = terms_of.get(variable, [])
            if terms and any(at.constant_within_groups(t) for t in terms):
                raise InputError(
                    f"random_slopes: {quoted(variable)} is constant within every group of "
                    f"{quoted(name)}, so its effect cannot vary between them; keep it in "
                    "predictors only, or give it a random slope at a lower level"
                )


def refuse_group_level_parameters(
    spec: Spec, levels: Levels, sums: DesignSums, fixed: list[str], intercept: str
) -> None:
    """Per level: the intercept and the terms constant within its groups are estimated from its
    groups alone, so they need more groups than themselves (prepare's check, per level)."""
    for level in levels.levels:
        at = levels.sums_at(sums, level.name)
        constant = [t for t in fixed if t != intercept and at.constant_within_groups(t)]
        q = 1 + len(constant)
        if constant and q >= level.n_groups:
            raise InputError(
                f"the largest model has {q} fixed-effect parameters at the level of "
                f"{quoted(level.name)} (the intercept and {len(constant)} terms constant within "
                f"its groups, e.g. {quoted(constant[0])}) but only {level.n_groups} groups of "
                f"{quoted(level.name)}; it needs more groups than parameters at that level"
            )


def single_group(spec: Spec, label: str) -> InputError:
    """A single cell: every level has one group; named by the outermost level (the one-level
    message, unchanged, for one level)."""
    name, found = spec.levels[0], label.split(CELL_SEP)[0] if spec.multilevel else label
    return InputError(
        f"grouping variable {quoted(name)} has a single group ({quoted(found)}); a multilevel "
        "model needs at least two"
    )


def with_variable_levels(design: Design, levels: Levels, sums: DesignSums) -> Design:
    """Each variable's level: the outermost level within whose groups all its columns are
    constant (None: it varies within the innermost groups); `group_level` keeps meaning
    constant within the innermost level's groups."""
    at = {name: levels.sums_at(sums, name) for name in levels.names}

    def constant(v: Variable, name: str) -> bool:
        return bool(v.terms) and all(at[name].constant_within_groups(t) for t in v.terms)

    def level_of(v: Variable) -> str | None:
        return next((name for name in levels.names if constant(v, name)), None)

    return replace(
        design,
        variables=tuple(
            replace(v, group_level=constant(v, levels.names[-1]), level=level_of(v))
            for v in design.variables
        ),
    )


def level_summaries(levels: Levels, counts: np.ndarray) -> tuple[DataLevel, ...]:
    """results.json's `data.levels`: per level, groups and rows per group; nested levels above
    the innermost also the groups of the next level per group."""
    out = []
    for i, level in enumerate(levels.levels):
        sizes = levels.sizes(counts, level.name)
        inner = levels.levels[i + 1] if i + 1 < len(levels.levels) else None
        per = (
            np.bincount(inner.parents, minlength=level.n_groups)
            if inner is not None and inner.parents is not None
            else None
        )
        out.append(
            DataLevel(
                name=level.name,
                n_groups=level.n_groups,
                size_min=int(sizes.min()),
                size_mean=float(sizes.mean()),
                size_max=int(sizes.max()),
                groups_min=None if per is None else int(per.min()),
                groups_mean=None if per is None else float(per.mean()),
                groups_max=None if per is None else int(per.max()),
            )
        )
    return tuple(out)


def cell_names(levels: Levels) -> list[str]:
    """Each cell's ids for people to read, outermost first ('A / 1'): results.json's group
    labels (the joined labels hold a control character)."""
    parts = [[level.labels[c] for c in level.codes] for level in levels.levels]
    return [" / ".join(ids) for ids in zip(*parts, strict=True)]
