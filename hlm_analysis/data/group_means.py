"""Group means without a join: the design sums of group-mean centring and contextual effects from
the per-group sums of the columns as read.

A group-centred column x - m_g, a contextual mean m_g and their products with other columns are
polynomials in row-level expressions ("monomials": x, s, x*s, a dummy) whose coefficients are
constant within each group (numbers and the group means). The per-group sums of products of two
such columns are therefore fixed combinations of the per-group sums of products of monomials,
which one GROUP BY over the data as read gives, means included (m_g = sum of x / n_g). So the
engine neither joins the means back onto every row (at 50 million rows that join cost about as
much as the aggregation itself) nor runs a pass for the means first.

Two things can make this inexact; then `derive` returns None and the caller takes the join:
- Cancellation. sum((x - m)^2) = sum(x^2) - n m^2 loses the digits of m^2 / within-group
  variance. Each averaged column is shifted in SQL by a number near its centre (the grand mean,
  or the midpoint of the Parquet footers' range) and the loss is measured group by group, the
  summation's own error included, and for groups where the column is constant against a
  typical group: beyond MAX_AMPLIFICATION (six of sixteen digits) the join's exact sums are used.
- Ranges. A group's minimum and maximum of a product with a centred factor follow from its
  factors' only when at most one factor varies in the group (a cross-level interaction such as
  sector x centred SES); a product of two varying level-1 columns needs the join.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Largest tolerated ratio of sum(r^2) sqrt(n) to the within-group sum of squares of a shifted
# column r (n the group's rows: summation error grows about like sqrt(n)): the sums then keep at
# least ten significant digits, below the engine's other rounding.
MAX_AMPLIFICATION = 1e6

# A coefficient: {sorted names of the means multiplied: number}; () is a plain number.
Coefficient = dict[tuple[str, ...], float]


@dataclass(frozen=True)
class Poly:
    """A design column as {monomial: coefficient}. A monomial is a sorted tuple of row-level SQL
    expressions multiplied together (() is the constant 1). `factors` are the columns a product
    was made of, for its range."""

    terms: dict[tuple[str, ...], Coefficient]
    factors: tuple[Poly, ...] = ()

    @property
    def monomials(self) -> list[tuple[str, ...]]:
        return [m for m in self.terms if m]


def constant(coefficient: Coefficient) -> Poly:
    return Poly({(): coefficient})


def row_level(sql: str, offset: Coefficient | None = None) -> Poly:
    """The row-level expression `sql` plus a coefficient constant within groups."""
    return Poly({(sql,): {(): 1.0}} | ({(): offset} if offset else {}))


def _times(a: Coefficient, b: Coefficient) -> Coefficient:
    out: Coefficient = {}
    for sa, va in a.items():
        for sb, vb in b.items():
            key = tuple(sorted(sa + sb))
            out[key] = out.get(key, 0.0) + va * vb
    return out


def _plus(a: Coefficient, b: Coefficient) -> Coefficient:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0.0) + value
    return out


def product(values: list[Poly]) -> Poly:
    terms: dict[tuple[str, ...], Coefficient] = {(): {(): 1.0}}
    for value in values:
        grown: dict[tuple[str, ...], Coefficient] = {}
        for ma, ca in terms.items():
            for mb, cb in value.terms.items():
                key = tuple(sorted(ma + mb))
                grown[key] = _plus(grown.get(key, {}), _times(ca, cb))
        terms = grown
    return Poly(terms, factors=tuple(values))


@dataclass(frozen=True)
class MonomialSums:
    """One GROUP BY's answer, per group: rows, and for each monomial its sum, sums of products
    with every other, minimum and maximum. Index 0 is the constant 1."""

    monomials: list[tuple[str, ...]]  # without the constant
    counts: np.ndarray  # (G,)
    sums: np.ndarray  # (G, K)
    cross: np.ndarray  # (G, K, K)
    low: np.ndarray  # (G, K); NaN for a monomial whose range no column reads
    high: np.ndarray  # (G, K)

    def full(self) -> np.ndarray:
        """(G, K + 1, K + 1) sums of products with the constant 1 first."""
        G, K = self.sums.shape
        out = np.empty((G, K + 1, K + 1))
        out[:, 0, 0] = self.counts
        out[:, 0, 1:] = self.sums
        out[:, 1:, 0] = self.sums
        out[:, 1:, 1:] = self.cross
        return out


def _value(coefficient: Coefficient, means: dict[str, np.ndarray], G: int) -> np.ndarray:
    total = np.zeros(G)
    for names, number in coefficient.items():
        term = np.full(G, number)
        for name in names:
            term = term * means[name]
        total += term
    return total


def _amplified(sums: MonomialSums, shifted: dict[str, tuple[str, ...]]) -> bool:
    """Whether a centred column's within-group sums of squares would keep fewer digits than
    MAX_AMPLIFICATION allows. sum((x - m)^2) = sum(r^2) - n m'^2 carries an error of about
    eps sum(r^2), grown like sqrt(n) by the engine's own summation; it is measured against the
    group's within sum of squares, and in a group where the column is constant (exactly 0
    there by the join) against what a group of that size holds on average, so that a constant
    group far from the shift cannot bring a large error into a small column."""
    index = {m: i for i, m in enumerate(sums.monomials)}
    n = sums.counts.astype(float)
    for monomial in shifted.values():
        i = index[monomial]
        square, total = sums.cross[:, i, i], sums.sums[:, i]
        varies = sums.high[:, i] > sums.low[:, i]
        within = np.where(varies, np.maximum(square - total**2 / n, 0.0), 0.0)
        typical = n * within.sum() / n.sum()  # a group's share of the pooled within sum
        scale = np.where(varies, within, typical)
        if np.any(square * np.sqrt(n) > MAX_AMPLIFICATION * scale):
            return True
    return False


def _from_one_monomial(poly: Poly) -> bool:
    """Whether a column's range is its one monomial's, scaled and shifted (else its factors')."""
    monomials = poly.monomials
    plain = len(monomials) == 1 and poly.terms[monomials[0]] == {(): 1.0}
    return not poly.factors or plain


def ranged_monomials(columns: list[Poly]) -> set[tuple[str, ...]]:
    """The monomials whose minimum and maximum the columns' ranges read (a MIN and a MAX per
    group are among the dearest aggregates: only these are asked for)."""
    out: set[tuple[str, ...]] = set()
    for poly in columns:
        if _from_one_monomial(poly):
            out.update(poly.monomials)
        else:
            out |= ranged_monomials(list(poly.factors))
    return out


def _range(poly: Poly, sums: MonomialSums, index, means, G) -> tuple[np.ndarray, np.ndarray] | None:
    """The per-group minimum and maximum of a column, or None when they do not follow."""
    monomials = poly.monomials
    offset = _value(poly.terms.get((), {}), means, G)
    if _from_one_monomial(poly):
        if not monomials:
            return offset, offset
        if len(monomials) > 1:
            return None
        i = index[monomials[0]]
        scale = _value(poly.terms[monomials[0]], means, G)
        a, b = scale * sums.low[:, i], scale * sums.high[:, i]
        return np.minimum(a, b) + offset, np.maximum(a, b) + offset
    ranges = [_range(f, sums, index, means, G) for f in poly.factors]
    if any(r is None for r in ranges):
        return None
    varying = sum((high > low).astype(int) for low, high in ranges)
    if np.any(varying > 1):
        return None  # two level-1 factors vary together in some group: only the rows tell
    low, high = np.ones(G), np.ones(G)
    for f_low, f_high in ranges:  # at most one interval is wider than a point: exact corners
        corners = np.stack([low * f_low, low * f_high, high * f_low, high * f_high])
        low, high = corners.min(axis=0), corners.max(axis=0)
    return low, high


def means(sums: MonomialSums, shifted: dict[str, tuple[str, ...]]) -> dict[str, np.ndarray]:
    """Each averaged column's group means, of the column as shifted."""
    index = {m: i for i, m in enumerate(sums.monomials)}
    return {name: sums.sums[:, index[m]] / sums.counts for name, m in shifted.items()}


def derive(
    columns: list[Poly], sums: MonomialSums, shifted: dict[str, tuple[str, ...]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(cross, low, high) of the design columns from the monomial sums, or None when the join
    must give them (see the module docstring). `shifted` maps each averaged column's name (its
    mean's symbol in the coefficients) to its shifted monomial."""
    if not (np.isfinite(sums.sums).all() and np.isfinite(sums.cross).all()):
        return None  # infinite or overflowing values: the join's pass names the column
    if _amplified(sums, shifted):
        return None
    G = len(sums.counts)
    index = {m: i for i, m in enumerate(sums.monomials)}
    group_mean = means(sums, shifted)
    coefficients = np.zeros((G, len(columns), len(sums.monomials) + 1))
    for x, poly in enumerate(columns):
        for monomial, coefficient in poly.terms.items():
            at = 0 if not monomial else index[monomial] + 1
            coefficients[:, x, at] = _value(coefficient, group_mean, G)
    cross = np.einsum("gik,gkl,gjl->gij", coefficients, sums.full(), coefficients, optimize=True)
    cross = (cross + cross.transpose(0, 2, 1)) / 2  # symmetric to the last digit, as summed
    lows, highs = [], []
    for poly in columns:
        bounds = _range(poly, sums, index, group_mean, G)
        if bounds is None:
            return None
        lows.append(bounds[0])
        highs.append(bounds[1])
    return cross, np.column_stack(lows), np.column_stack(highs)
