"""Group means by algebra (hlm_analysis/data/group_means.py), without an engine: the design sums of
centred columns, contextual means and their products, derived from the per-group sums of the
monomials, against the same sums computed row by row; and the two cases that must refuse."""

from __future__ import annotations

import numpy as np

from hlm_analysis.data import group_means as gm


def _monomial_sums(rows: dict[str, np.ndarray], monomials, codes, G) -> gm.MonomialSums:
    values = np.column_stack([np.prod([rows[f] for f in m], axis=0) for m in monomials])
    counts = np.bincount(codes, minlength=G)
    sums = np.zeros((G, len(monomials)))
    cross = np.zeros((G, len(monomials), len(monomials)))
    low, high = np.full((G, len(monomials)), np.inf), np.full((G, len(monomials)), -np.inf)
    for g in range(G):
        block = values[codes == g]
        sums[g], cross[g] = block.sum(axis=0), block.T @ block
        low[g], high[g] = block.min(axis=0), block.max(axis=0)
    return gm.MonomialSums(list(monomials), counts, sums, cross, low, high)


def _data(G=30, spread=1.0, offset=500.0, seed=4):
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(G), rng.integers(2, 40, G))
    n = len(codes)
    level2 = rng.random(G) < 0.5
    rows = {
        "x": offset + 10 * rng.normal(size=G)[codes] + spread * rng.normal(size=n),
        "s": level2[codes].astype(float),  # constant within each group
        "z": rng.normal(size=n),  # varies within groups
        "y": rng.normal(size=n),
    }
    return rows, codes, G


def _direct(rows, codes, G, shift):
    """The design columns row by row: y, 1, x - mean_g(x), mean_g(x), (x - mean_g(x)) * s."""
    counts = np.bincount(codes, minlength=G)
    mean = np.bincount(codes, weights=rows["x"], minlength=G) / counts
    centred = rows["x"] - mean[codes]
    columns = [rows["y"], np.ones(len(codes)), centred, mean[codes], centred * rows["s"]]
    X = np.column_stack(columns)
    cross = np.stack([X[codes == g].T @ X[codes == g] for g in range(G)])
    low = np.stack([X[codes == g].min(axis=0) for g in range(G)])
    high = np.stack([X[codes == g].max(axis=0) for g in range(G)])
    return cross, low, high


def _polynomials(shift: float, second: str = "s"):
    r = "r"  # the shifted x as a row-level expression
    centred = gm.row_level(r, {("x",): -1.0})
    mean = gm.constant({("x",): 1.0, (): shift})
    other = gm.row_level(second)
    return [
        gm.row_level("y"),
        gm.constant({(): 1.0}),
        centred,
        mean,
        gm.product([centred, other]),
    ]


def test_centred_contextual_and_cross_level_sums_follow_from_the_monomials():
    rows, codes, G = _data()
    shift = float(np.mean(rows["x"]))
    rows["r"] = rows["x"] - shift
    columns = _polynomials(shift)
    monomials = list(dict.fromkeys([m for p in columns for m in p.monomials] + [("r",)]))
    assert sorted(monomials) == sorted([("y",), ("r",), ("r", "s"), ("s",)])
    sums = _monomial_sums(rows, monomials, codes, G)
    derived = gm.derive(columns, sums, {"x": ("r",)})
    assert derived is not None
    cross, low, high = derived
    want_cross, want_low, want_high = _direct(rows, codes, G, shift)
    scale = np.abs(want_cross).max()
    assert np.abs(cross - want_cross).max() <= 1e-12 * scale
    np.testing.assert_allclose(low, want_low, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(high, want_high, rtol=1e-12, atol=1e-12 * scale)
    means = gm.means(sums, {"x": ("r",)})["x"] + shift
    np.testing.assert_allclose(means, want_low[:, 3], rtol=1e-14)


def test_two_varying_level_1_factors_need_the_rows():
    rows, codes, G = _data()
    shift = float(np.mean(rows["x"]))
    rows["r"] = rows["x"] - shift
    columns = _polynomials(shift, second="z")  # (x - mean) * z: both vary within groups
    monomials = list(dict.fromkeys([m for p in columns for m in p.monomials] + [("r",)]))
    assert gm.derive(columns, _monomial_sums(rows, monomials, codes, G), {"x": ("r",)}) is None


def test_cancellation_beyond_six_digits_needs_the_rows():
    # group means spread over 1e4 around the shift, spreads of 1e-3 inside groups: sum(r^2) is
    # ~1e14 times the within-group sum of squares
    rows, codes, G = _data(spread=1e-3, offset=0.0)
    rows["x"] = rows["x"] * 1e3
    shift = float(np.mean(rows["x"]))
    rows["r"] = rows["x"] - shift
    columns = _polynomials(shift)
    monomials = list(dict.fromkeys([m for p in columns for m in p.monomials] + [("r",)]))
    assert gm.derive(columns, _monomial_sums(rows, monomials, codes, G), {"x": ("r",)}) is None


def test_products_multiply_coefficients_of_means():
    a = gm.row_level("x", {("m",): -1.0})
    b = gm.row_level("z", {(): 2.0})
    p = gm.product([a, b])
    # (x - m)(z + 2) = xz + 2x - m z - 2m
    assert p.terms == {
        ("x", "z"): {(): 1.0},
        ("x",): {(): 2.0},
        ("z",): {("m",): -1.0},
        (): {("m",): -2.0},
    }
    assert gm.ranged_monomials([p]) == {("x",), ("z",)}
