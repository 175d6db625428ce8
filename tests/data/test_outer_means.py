"""Contextual means above the innermost level (issue 22): `contextual: {school: [x], klass: [x]}`
adds each level's mean of x as a design column derived from the cell sums, so memory, DuckDB
and Spark give the same cells sums; and those sums are the ones of the mean column computed
directly from the rows (group means joined back onto every row)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hlm_analysis.data.engines import open_engine
from hlm_analysis.data.prepare import prepare_in_memory
from hlm_analysis.errors import InputError

# the cells comparison and frames of the levels data tests (a sibling file, not a package)
_spec = importlib.util.spec_from_file_location(
    "levels_data_helpers", Path(__file__).with_name("test_levels_data.py")
)
_levels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_levels)
assert_same_cells, in_engine, nested_frame = (
    _levels.assert_same_cells, _levels.in_engine, _levels.nested_frame)  # fmt: skip
parts_spec, spec_for = _levels.parts_spec, _levels.spec_for


def assert_same(a, b, centred=False):
    """The levels tests' comparison, except that a group mean's per-cell value (made by each
    engine's own sums and division; a centred x's sums are shifted in SQL) may differ in its
    last bits, as may every column's when x is centred in SQL: those agree to 1e-13 and are then
    compared as one."""
    for k, name in enumerate(a.sums.names):
        if name.endswith("_mean") or centred:
            for side in ("group_low", "group_high"):
                np.testing.assert_allclose(
                    getattr(a.sums, side)[:, k], getattr(b.sums, side)[:, k], rtol=1e-13, atol=1e-15
                )
            b = _with_low(b, a, k)
    assert_same_cells(a, b)


def _with_low(b, a, k):
    from dataclasses import replace

    low, high = b.sums.group_low.copy(), b.sums.group_high.copy()
    low[:, k], high[:, k] = a.sums.group_low[:, k], a.sums.group_high[:, k]
    return replace(b, sums=replace(b.sums, group_low=low, group_high=high))


CONTEXT = {
    "outcome": "y",
    "predictors": ["x", "size"],
    "group": ["school", "klass"],
    "contextual": {"school": ["x"], "klass": ["x"]},
}


@pytest.fixture(scope="module")
def duck():
    engine = open_engine("duckdb")
    yield engine
    engine.close()


def test_outer_mean_sums_are_the_joined_columns(tmp_path):
    frame = nested_frame()
    prepared = prepare_in_memory(spec := spec_for(tmp_path, frame, "c", **CONTEXT), spec.data)
    assert "x_school_mean" in prepared.predictors and "x_group_mean" in prepared.predictors
    variable = prepared.design.variable("x_school_mean")
    assert variable.mean_of == "x" and variable.level == "school"
    assert prepared.design.variable("x_group_mean").level == "klass"
    # the mean joined onto every row, the rows in the prepared (cell) order
    rows = prepared.rows
    school = prepared.levels.level("school")
    direct = np.zeros(len(rows))
    for g in range(school.n_groups):
        mask = school.codes[rows.group_codes] == g
        direct[mask] = rows.columns["x"][mask].mean()
    np.testing.assert_allclose(rows.columns["x_school_mean"], direct, rtol=1e-13)
    names = list(prepared.sums.names)
    k = names.index("x_school_mean")
    others = {n: (rows.y if i == 0 else rows.columns[n]) for i, n in enumerate(names)}
    for j, name in enumerate(names):
        want = np.bincount(rows.group_codes, weights=direct * others[name],
                           minlength=len(prepared.group_labels))  # fmt: skip
        np.testing.assert_allclose(prepared.sums.cross[:, k, j], want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(prepared.sums.cross[:, j, k], want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(prepared.sums.group_low[:, k], prepared.sums.group_high[:, k])


def test_outer_means_alike_in_memory_and_duckdb(tmp_path, duck):
    frame = nested_frame()
    memory = prepare_in_memory(spec := spec_for(tmp_path, frame, "m", **CONTEXT), spec.data)
    engine = in_engine(parts_spec(tmp_path, frame, "m", **CONTEXT), duck)
    assert_same(memory, engine)
    assert memory.predictors == engine.predictors


def test_outer_means_alike_in_spark(tmp_path):
    frame = nested_frame()
    memory = prepare_in_memory(spec := spec_for(tmp_path, frame, "m", **CONTEXT), spec.data)
    engine = in_engine(parts_spec(tmp_path, frame, "m", **CONTEXT), open_engine("spark"))
    assert_same(memory, engine)


def test_outer_mean_of_group_centred_x_is_of_x_as_measured(tmp_path, duck):
    keys = {**CONTEXT, "centering": {"x": "group"}, "contextual": {"school": ["x"]}}
    frame = nested_frame()
    memory = prepare_in_memory(spec := spec_for(tmp_path, frame, "g", **keys), spec.data)
    means = frame.groupby("school")["x"].mean()
    school = memory.levels.level("school")
    cells = {school.labels[c]: m for c, m in zip(school.codes, memory.sums.group_low[
        :, list(memory.sums.names).index("x_school_mean")], strict=True)}  # fmt: skip
    for label, mean in cells.items():
        assert mean == pytest.approx(means[label], rel=1e-13)
    assert_same(memory, in_engine(parts_spec(tmp_path, frame, "g", **keys), duck), True)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"contextual": {"district": ["x"]}}, "contextual: 'district' is not a level of group"),
        ({"contextual": {"school": ["z"]}}, "'z' is not a predictor"),
    ],
)
def test_bad_contextual_levels(tmp_path, keys, message):
    with pytest.raises(InputError, match=message):
        spec_for(tmp_path, nested_frame(), "bad", **{**CONTEXT, **keys})


def test_text_variable_has_no_outer_mean(tmp_path):
    frame = nested_frame()
    frame["kind"] = np.where(frame["x"] > 0, "a", "b")
    keys = {**CONTEXT, "predictors": ["x", "kind"], "contextual": {"school": ["kind"]}}
    spec = spec_for(tmp_path, frame, "text", **keys)
    with pytest.raises(InputError, match="'kind' is not a numeric predictor"):
        prepare_in_memory(spec, spec.data)


def test_mapping_of_the_innermost_level_is_the_list_form(tmp_path):
    """{klass: [x]} with levels [school, klass] and {school: [x]} with one level both mean the
    list form [x]: no outer means, the config's JSON unchanged."""
    frame = nested_frame()
    nested = spec_for(tmp_path, frame, "inner", **{**CONTEXT, "contextual": {"klass": ["x"]}})
    assert nested.contextual == ["x"] and nested.contextual_outer == {}
    assert nested.to_json()["contextual"] == ["x"]
    one = spec_for(
        tmp_path, frame, "one", outcome="y", predictors=["x"], group="school",
        contextual={"school": ["x"]},
    )  # fmt: skip
    assert one.contextual == ["x"] and one.contextual_outer == {}
