"""Per-group cross products of the whole design: the one thing the model stage reads.

Every model of the ladder is a choice of columns from one design (the outcome, the intercept and
every term of the largest model), and everything it needs from the data (OLS, the exact mixed
model criterion, CR1, R2, standardized estimates, group means for the figures' lines) is a
per-group sum of products of two of those columns. So the data stage reduces the rows once to
`DesignSums` (groups x k x k numbers), whether the rows are in memory (numpy) or in files an SQL
engine streams (DuckDB, Spark): memory then depends on groups and terms, not on rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# A column whose values in every group lie within this fraction of its largest magnitude (or of
# 1) is constant within groups: a group-level variable.
CONSTANT_SPREAD = 1e-12


@dataclass(frozen=True)
class DesignSums:
    names: tuple[str, ...]  # the outcome first, then every design term (the intercept included)
    counts: np.ndarray  # (G,) rows per group
    cross: np.ndarray  # (G, k, k): sum over the group's rows of column a times column b
    # (G, k) smallest and largest value of each column in each group. Beyond memory, for a
    # column the per-group sums show to vary within some group (so not constant within groups),
    # they may instead be its smallest and largest value over all groups (aggregate._bounds):
    # what constant_within_groups and range read of them is the same either way.
    group_low: np.ndarray
    group_high: np.ndarray

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @property
    def outcome(self) -> str:
        return self.names[0]

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def index(self, names: list[str] | tuple[str, ...]) -> list[int]:
        return [self._index[name] for name in names]

    def block(self, rows: list[str], cols: list[str]) -> np.ndarray:
        """Per-group sums of products of `rows` x `cols` columns, (G, len(rows), len(cols))."""
        return self.cross[:, self.index(rows)][:, :, self.index(cols)]

    @cached_property
    def total(self) -> np.ndarray:
        return self.cross.sum(axis=0)

    def total_block(self, rows: list[str], cols: list[str]) -> np.ndarray:
        return self.total[np.ix_(self.index(rows), self.index(cols))]

    def group_totals(self, name: str) -> np.ndarray:
        """Per-group sums of one column: its product with the intercept column (all ones)."""
        return self.cross[:, self._index[name], self._index[self.names[1]]]

    def range(self, name: str) -> tuple[float, float]:
        i = self._index[name]
        return float(self.group_low[:, i].min()), float(self.group_high[:, i].max())

    def constant_within_groups(self, name: str) -> bool:
        """Whether a column takes one value in every group (a group-level variable)."""
        i = self._index[name]
        spread = float(np.max(self.group_high[:, i] - self.group_low[:, i]))
        scale = float(
            max(np.max(np.abs(self.group_low[:, i])), np.max(np.abs(self.group_high[:, i])))
        )
        return spread <= CONSTANT_SPREAD * max(scale, 1.0)

    def correlation(self, names: list[str]) -> np.ndarray:
        idx = self.index(names)
        totals = self.total[idx, 1]
        cov = self.total[np.ix_(idx, idx)] - np.outer(totals, totals) / self.n
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(sd, sd)
        np.fill_diagonal(corr, 1.0)
        return np.clip(corr, -1.0, 1.0)

    def mean(self, name: str) -> float:
        i = self._index[name]
        return float(self.total[i, 1] / self.n)

    def sd(self, name: str) -> float:
        """Sample SD (n - 1), from the sum and the sum of squares."""
        i = self._index[name]
        n = self.n
        centred = self.total[i, i] - self.total[i, 1] ** 2 / n
        return float(np.sqrt(max(centred, 0.0) / (n - 1)))

    def collapse(self, codes: np.ndarray, n_groups: int) -> DesignSums:
        """The sums of groups made of these groups: `codes[g]` is group g's new group (cells
        into the groups of one level, issue 22). Cross products and counts add; the low and
        high values are the smallest and largest over the parts. A new group without parts has
        zero counts and sums and NaN bounds."""
        codes = np.asarray(codes, dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        parts = np.bincount(codes, minlength=n_groups)
        present = parts > 0
        starts = np.concatenate([[0], np.cumsum(parts)[:-1]])[present]
        k = len(self.names)
        counts = np.zeros(n_groups, dtype=self.counts.dtype)
        cross = np.zeros((n_groups, k, k))
        low = np.full((n_groups, k), np.nan)
        high = np.full((n_groups, k), np.nan)
        if len(order):
            counts[present] = np.add.reduceat(self.counts[order], starts)
            cross[present] = np.add.reduceat(self.cross[order], starts, axis=0)
            low[present] = np.minimum.reduceat(self.group_low[order], starts, axis=0)
            high[present] = np.maximum.reduceat(self.group_high[order], starts, axis=0)
        return DesignSums(
            names=self.names, counts=counts, cross=cross, group_low=low, group_high=high
        )

    def quadratic_variance(self, names: list[str], weights: np.ndarray) -> float:
        """Sample variance (n - 1) of the linear combination sum_t w_t x_t over all rows."""
        idx = self.index(names)
        totals = self.total[idx, 1]
        second = float(weights @ self.total[np.ix_(idx, idx)] @ weights)
        first = float(weights @ totals)
        return max(second - first**2 / self.n, 0.0) / (self.n - 1)


def from_rows(
    outcome: str,
    y: np.ndarray,
    columns: dict[str, np.ndarray],
    codes: np.ndarray,
    n_groups: int,
    terms: list[str],
) -> DesignSums:
    """DesignSums of rows in memory; `terms` starts with the intercept column (all ones)."""
    # Rows sorted by group, each column contiguous: reduceat runs down one column at a time.
    # Data often arrive sorted by group already; then there is nothing to reorder.
    order = None if np.all(codes[1:] >= codes[:-1]) else np.argsort(codes, kind="stable")
    values = [
        np.ascontiguousarray(column if order is None else column[order], dtype=float)
        for column in (y, *(columns[t] for t in terms))
    ]
    k = len(values)
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cross = np.empty((n_groups, k, k))
    # One pair of columns at a time, through one reused row buffer: memory stays at n extra
    # numbers, and no fresh n x k temporaries are faulted in for each slab (4x faster at 500k).
    product = np.empty(len(codes))
    for a in range(k):
        for b in range(a, k):
            np.multiply(values[a], values[b], out=product)
            cross[:, a, b] = cross[:, b, a] = np.add.reduceat(product, starts)
    return DesignSums(
        names=(outcome, *terms),
        counts=counts,
        cross=cross,
        group_low=np.column_stack([np.minimum.reduceat(v, starts) for v in values]),
        group_high=np.column_stack([np.maximum.reduceat(v, starts) for v in values]),
    )
