"""Group means by algebra (hlm_analysis/data/group_means.py), without an engine: the design sums of
centred columns, contextual means and their products, derived from the per-group sums of the
monomials, against the same sums computed row by row; and the two cases that must refuse."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hlm_analysis.data import group_means as gm
from hlm_analysis.data.engines import open_engine
from hlm_analysis.data.prepare import prepare_in_memory
from hlm_analysis.errors import InputError


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


# ---------------------------------------------------------------------------------------------
# Centring at a level (`centering: {x: school}`, data/outer_means.centre_at_levels): the design
# sums of x - m_school (and of its products) follow from the cell sums of the grand-centred x;
# they equal the sums of the column made row by row, and memory, DuckDB and Spark agree.

_levels_spec = importlib.util.spec_from_file_location(
    "levels_data_helpers", Path(__file__).with_name("test_levels_data.py")
)
_levels = importlib.util.module_from_spec(_levels_spec)
_levels_spec.loader.exec_module(_levels)

LEVEL_CENTRED = {
    "outcome": "y",
    "predictors": ["x", "size", "kind"],
    "group": ["school", "klass"],
    "centering": {"x": "school", "size": "school"},
    "interactions": ["x:kind", "x:size"],
    "random_slopes": {"klass": ["x"]},
}


def _level_frame():
    frame = _levels.nested_frame()
    frame["kind"] = np.where(frame["x"] > 0.2, "b", "a")  # a dummy beside x in a product
    return frame


def _joined(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every design column made row by row from the file (the memory path keeps the rows in
    file order), x and size minus their school means."""
    x = frame["x"] - frame.groupby("school")["x"].transform("mean")
    size = frame["size"] - frame.groupby("school")["size"].transform("mean")
    kind = (frame["kind"] == "b").astype(float)
    return {"y": frame["y"], "(Intercept)": np.ones(len(frame)), "x": x, "size": size,
            "kind[T.b]": kind, "x:kind[T.b]": x * kind, "x:size": x * size}  # fmt: skip


def test_level_centred_sums_are_the_joined_columns(tmp_path):
    frame = _level_frame()
    spec = _levels.spec_for(tmp_path, frame, "lc", **LEVEL_CENTRED)
    prepared = prepare_in_memory(spec, spec.data)
    assert prepared.design.variable("x").centering == "group"
    assert spec.centering_level("x") == "school" and spec.centering_outer == {
        "x": "school", "size": "school"}  # fmt: skip
    rows = prepared.rows
    joined = _joined(frame)
    for name, column in joined.items():
        if name != "y":
            np.testing.assert_allclose(np.sort(rows.columns[name]), np.sort(column), atol=1e-12)
    names = list(prepared.sums.names)
    cells = rows.group_codes
    for a, first in joined.items():
        for b, second in joined.items():
            want = np.bincount(cells, weights=np.asarray(first * second),
                               minlength=len(prepared.group_labels))  # fmt: skip
            got = prepared.sums.cross[:, names.index(a), names.index(b)]
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    # size is constant within classes: its school-centred column is too, and is a class variable
    assert prepared.design.variable("size").level == "klass"
    # a product's range per cell holds its values; exact where the dummy is constant in the
    # cell (one part varies), the corners of the parts' ranges where both vary
    k, kind = names.index("x:kind[T.b]"), np.asarray(joined["kind[T.b]"])
    exact = 0
    for cell in range(len(prepared.group_labels)):
        values = np.asarray(joined["x:kind[T.b]"])[cells == cell]
        low, high = prepared.sums.group_low[cell, k], prepared.sums.group_high[cell, k]
        assert low <= values.min() + 1e-12 and high >= values.max() - 1e-12
        if np.ptp(kind[cells == cell]) == 0:
            exact += 1
            assert (low, high) == pytest.approx((values.min(), values.max()), abs=1e-12)
    assert exact >= 2


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_level_centred_sums_alike_on_every_path(tmp_path, engine):
    frame = _level_frame()
    spec = _levels.spec_for(tmp_path, frame, "m", **LEVEL_CENTRED)
    memory = prepare_in_memory(spec, spec.data)
    sql = open_engine(engine)
    try:
        other = _levels.in_engine(_levels.parts_spec(tmp_path, frame, "m", **LEVEL_CENTRED), sql)
    finally:
        if engine == "duckdb":
            sql.close()
    assert memory.group_labels == other.group_labels and memory.sums.names == other.sums.names
    np.testing.assert_allclose(memory.sums.cross, other.sums.cross, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(memory.sums.group_low, other.sums.group_low, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(memory.sums.group_high, other.sums.group_high, rtol=1e-12,
                               atol=1e-12)  # fmt: skip
    assert other.design.variable("x").centering == "group"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"centering": {"x": "district"}},
         r"key 'centering.x': 'district' is not 'group', 'grand' or a level of group \('school', "
         r"'klass'\)"),
        ({"centering": {"lowinc": "school"}, "predictors": ["x", "lowinc"]},
         "centering: 'lowinc' is constant within every group of 'school', so centring it on the "
         "'school' means leaves only zeros"),
        ({"centering": {"x": "school"}, "contextual": ["x"]},
         "contextual: 'klass': 'x' is centred at 'school', an outer level"),
        ({"centering": {"x": "school"}, "interactions": ["x:size:kind"]},
         "centering: 'x' at 'school' in the interaction 'x:size:kind\\[T.b\\]' needs "
         "'size:kind\\[T.b\\]'"),
    ],
)  # fmt: skip
def test_bad_level_centring_is_one_line(tmp_path, keys, message):
    frame = _level_frame()
    frame["lowinc"] = frame["school"].map({"100": 1.0, "0100": 2.0, "7": 3.0, "12": 4.0})
    base = {k: v for k, v in LEVEL_CENTRED.items() if k not in ("centering", "interactions")}
    with pytest.raises(InputError, match=message):
        spec = _levels.spec_for(tmp_path, frame, "bad", **{**base, **keys})
        prepare_in_memory(spec, spec.data)
