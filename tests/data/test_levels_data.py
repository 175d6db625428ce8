"""Several grouping levels (issue 22) in the data stage: every path (memory, DuckDB, Spark)
reduces rows to the same cells (one combination of all group columns), with the same sums,
level codes, labels and parents; inner ids are scoped by the outer ones (class "1" of school A
is not class "1" of school B), crossed factors pair as observed, ids stay text as written
("0100" is not "100"), and `DesignSums.collapse` adds cells up to any level exactly as a direct
one-level reduction by that level would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_config

from hlm_analysis.data.aggregate import prepare_in_engine
from hlm_analysis.data.columns import columns_used
from hlm_analysis.data.engines import open_engine
from hlm_analysis.data.levels import CELL_SEP
from hlm_analysis.data.prepare import prepare_in_memory
from hlm_analysis.data.source import open_source
from hlm_analysis.spec import load_spec


@pytest.fixture(scope="module")
def duck():
    engine = open_engine("duckdb")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def spark():
    return open_engine("spark")  # local[*]; Java from .ci/setup-system


def nested_frame(seed: int = 7) -> pd.DataFrame:
    """Pupils in classes in schools: class ids repeat across schools ("1" in each), one school
    id has a leading zero beside the same number ("0100" and "100" are two schools), sizes
    differ, and a time-like level-1 column and a class-level column."""
    rng = np.random.default_rng(seed)
    rows = []
    schools = ["100", "0100", "7", "12"]
    for s, school in enumerate(schools):
        for c, klass in enumerate(["1", "2", "10"][: 2 + s % 2]):
            size = 3 + (s + 2 * c) % 4
            class_effect = rng.normal()
            for i in range(size):
                x = round(float(rng.normal()), 3)
                rows.append(
                    {
                        "school": school,
                        "klass": klass,
                        "x": x,
                        "year": float(i % 3),
                        "size": float(10 + 5 * c + s),  # constant within classes
                        "y": round(float(2 * x + class_effect + s + rng.normal()), 3),
                    }
                )
    return pd.DataFrame(rows)


def crossed_frame(seed: int = 3) -> pd.DataFrame:
    """Pupils with one primary and one secondary school each: the factors cross (a primary
    sends pupils to several secondaries and back), some pairs hold one pupil."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(120):
        primary = f"P{i % 9}"
        second = f"S{(i * 7 + i // 9) % 5:02d}"
        x = round(float(rng.normal()), 3)
        rows.append({"primary": primary, "second": second, "x": x, "y": float(x + rng.normal())})
    return pd.DataFrame(rows)


def spec_for(tmp_path, frame: pd.DataFrame, name: str, **keys):
    data = tmp_path / f"{name}.csv"
    frame.to_csv(data, index=False)
    return load_spec(write_config(tmp_path, name, data=data, title="t", **keys))


def parts_spec(tmp_path, frame: pd.DataFrame, name: str, reorder: bool = True, **keys):
    """The same rows as three CSV parts, the later parts with their columns in another order
    and the rows shuffled (engines read parts in any order)."""
    folder = tmp_path / f"{name}_parts"
    folder.mkdir()
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    for i, part in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        piece = shuffled.iloc[part]
        if reorder and i:
            piece = piece[list(reversed(piece.columns))]
        piece.to_csv(folder / f"part-{i}.csv", index=False)
    return load_spec(write_config(tmp_path, name + "_parts", data=folder, title="t", **keys))


def in_engine(spec, engine):
    return prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)


NESTED = {
    "outcome": "y",
    "predictors": ["x", "size"],
    "group": ["school", "klass"],
    "random_slopes": {"klass": ["x"]},
}
CROSSED = {"outcome": "y", "predictors": ["x"], "group": ["primary", "second"], "crossed": True}


def assert_same_cells(a, b):
    assert a.group_labels == b.group_labels
    assert a.sums.names == b.sums.names
    np.testing.assert_array_equal(a.sums.counts, b.sums.counts)
    np.testing.assert_allclose(a.sums.cross, b.sums.cross, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(a.sums.group_low, b.sums.group_low)
    np.testing.assert_array_equal(a.sums.group_high, b.sums.group_high)
    assert a.levels.crossed == b.levels.crossed
    for one, two in zip(a.levels.levels, b.levels.levels, strict=True):
        assert one.name == two.name and one.labels == two.labels
        np.testing.assert_array_equal(one.codes, two.codes)
        if one.parents is None:
            assert two.parents is None
        else:
            np.testing.assert_array_equal(one.parents, two.parents)

    # the sample's rows name the same cells (the engine orders its rows otherwise)
    def cells(p):
        return sorted(zip(p.sample.group_codes.tolist(), p.sample.y.tolist(), strict=True))

    assert cells(a) == cells(b)


def test_nested_ids_are_scoped_and_ordered(tmp_path):
    frame = nested_frame()
    prepared = prepare_in_memory(spec := spec_for(tmp_path, frame, "n", **NESTED), spec.data)
    levels = prepared.levels
    school, klass = levels.levels
    # schools in id order: numbers as numbers, "0100" before "100" (ties by text)
    assert school.labels == ["7", "12", "0100", "100"]
    assert school.parents is None
    # each school's classes, by parent then id: "1" of each school is its own class
    expected = [
        (s, k)
        for s in school.labels
        for k in ["1", "2", "10"][: 2 + ["100", "0100", "7", "12"].index(s) % 2]
    ]
    got = [(school.labels[p], k) for p, k in zip(klass.parents, klass.labels, strict=True)]
    assert got == expected
    assert klass.n_groups == len(expected) == len(prepared.group_labels)
    assert klass.labels.count("1") == 4
    # cells are the classes, ordered by school then class; labels the ids joined
    assert prepared.group_labels == [f"{s}{CELL_SEP}{k}" for s, k in expected]
    np.testing.assert_array_equal(klass.codes, np.arange(klass.n_groups))
    np.testing.assert_array_equal(school.codes, klass.parents)
    # rows per cell as in the data
    sizes = frame.groupby(["school", "klass"]).size()
    assert prepared.sums.counts.tolist() == [sizes[(s, k)] for s, k in expected]
    assert prepared.design.group == "klass"


def test_one_level_list_is_the_plain_name(tmp_path):
    frame = nested_frame()
    plain = prepare_in_memory(
        spec := spec_for(tmp_path, frame, "a", outcome="y", predictors=["x"], group="school"),
        spec.data,
    )
    listed = prepare_in_memory(
        spec := spec_for(tmp_path, frame, "b", outcome="y", predictors=["x"], group=["school"]),
        spec.data,
    )
    assert listed.levels is None and plain.levels is None
    assert listed.spec.group == "school"
    assert listed.group_labels == plain.group_labels
    np.testing.assert_array_equal(listed.sums.cross, plain.sums.cross)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_nested_cells_alike_in_memory_and_duckdb(tmp_path, duck, fmt):
    frame = nested_frame()
    if fmt == "csv":
        memory_spec = spec_for(tmp_path, frame, "m", **NESTED)
        engine_spec = parts_spec(tmp_path, frame, "m", **NESTED)
    else:
        path = tmp_path / "m.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        memory_spec = load_spec(write_config(tmp_path, "m", data=path, title="t", **NESTED))
        engine_spec = memory_spec
    memory = prepare_in_memory(memory_spec, memory_spec.data)
    engine = in_engine(engine_spec, duck)
    assert_same_cells(memory, engine)


def test_nested_cells_alike_in_spark(tmp_path, spark):
    frame = nested_frame()
    memory = prepare_in_memory(spec := spec_for(tmp_path, frame, "m", **NESTED), spec.data)
    assert_same_cells(memory, in_engine(parts_spec(tmp_path, frame, "m", **NESTED), spark))


def test_integer_ids_in_parquet(tmp_path, duck):
    """Number-typed ids (Parquet integers) name their groups as the digits, on every path."""
    frame = nested_frame()
    frame = frame.assign(school=frame["school"].astype(int) + 1000 * (frame["school"] == "0100"))
    frame["klass"] = frame["klass"].astype(int)
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    spec = load_spec(write_config(tmp_path, "ints", data=path, title="t", **NESTED))
    memory = prepare_in_memory(spec, spec.data)
    assert memory.levels.levels[0].labels == ["7", "12", "100", "1100"]
    assert_same_cells(memory, in_engine(spec, duck))


def test_crossed_cells_are_observed_pairs(tmp_path, duck, spark):
    frame = crossed_frame()
    memory = prepare_in_memory(spec := spec_for(tmp_path, frame, "c", **CROSSED), spec.data)
    first, second = memory.levels.levels
    assert memory.levels.crossed
    assert first.parents is None and second.parents is None
    assert first.labels == [f"P{i}" for i in range(9)]
    assert second.labels == [f"S{i:02d}" for i in range(5)]
    pairs = frame.groupby(["primary", "second"]).size()
    assert len(memory.group_labels) == len(pairs)
    got = {
        (first.labels[f], second.labels[s]): int(n)
        for f, s, n in zip(first.codes, second.codes, memory.sums.counts, strict=True)
    }
    assert got == {k: int(v) for k, v in pairs.items()}
    # cells by first factor, then second
    keys = list(zip(first.codes.tolist(), second.codes.tolist(), strict=True))
    assert keys == sorted(keys)
    parts = parts_spec(tmp_path, frame, "c", **CROSSED)
    assert_same_cells(memory, in_engine(parts, duck))
    assert_same_cells(memory, in_engine(parts, spark))


def direct_sums(tmp_path, frame, name, level, **keys):
    """A one-level reduction by that level: the design sums of its groups."""
    spec = spec_for(tmp_path, frame, name, **{**keys, "group": level, "random_slopes": []})
    return prepare_in_memory(spec, spec.data)


@pytest.mark.parametrize("integers", [True, False])
def test_collapse_equals_a_direct_reduction_by_that_level(tmp_path, integers):
    frame = nested_frame()
    if integers:  # sums of integers are exact in any order: equal, not close
        frame = frame.assign(x=(frame["x"] * 1000).round(), y=(frame["y"] * 1000).round())
    keys = {**NESTED, "random_slopes": []}
    cells = prepare_in_memory(spec := spec_for(tmp_path, frame, "cells", **keys), spec.data)
    school = cells.levels.level("school")
    collapsed = cells.levels.sums_at(cells.sums, "school")
    direct = direct_sums(tmp_path, frame, "direct", "school", **keys)
    assert direct.group_labels == school.labels  # the same groups in the same order
    assert collapsed.names == direct.sums.names
    np.testing.assert_array_equal(collapsed.counts, direct.sums.counts)
    np.testing.assert_array_equal(collapsed.group_low, direct.sums.group_low)
    np.testing.assert_array_equal(collapsed.group_high, direct.sums.group_high)
    if integers:
        np.testing.assert_array_equal(collapsed.cross, direct.sums.cross)
    else:
        np.testing.assert_allclose(collapsed.cross, direct.sums.cross, rtol=1e-13, atol=1e-12)
    # the cells' own collapse onto themselves changes nothing
    klass = cells.levels.level("klass")
    same = cells.sums.collapse(klass.codes, klass.n_groups)
    np.testing.assert_array_equal(same.cross, cells.sums.cross)
    # and the crossed second factor, whose cells are not in its order
    crossed = crossed_frame()
    cells = prepare_in_memory(spec := spec_for(tmp_path, crossed, "cc", **CROSSED), spec.data)
    collapsed = cells.levels.sums_at(cells.sums, "second")
    direct = direct_sums(tmp_path, crossed, "cd", "second", outcome="y", predictors=["x"])
    assert direct.group_labels == cells.levels.level("second").labels
    np.testing.assert_array_equal(collapsed.counts, direct.sums.counts)
    np.testing.assert_allclose(collapsed.cross, direct.sums.cross, rtol=1e-13, atol=1e-12)
    np.testing.assert_array_equal(collapsed.group_low, direct.sums.group_low)


def test_rows_name_their_cells(tmp_path):
    """Every row's cell code points at the cell of its own ids (after the cells are ordered)."""
    frame = nested_frame()
    prepared = prepare_in_memory(spec := spec_for(tmp_path, frame, "r", **NESTED), spec.data)
    labels = [prepared.group_labels[c] for c in prepared.rows.group_codes]
    assert labels == [
        f"{s}{CELL_SEP}{k}" for s, k in zip(frame["school"], frame["klass"], strict=True)
    ]
    # per-cell sums of y agree with the rows
    y_sum = np.bincount(prepared.rows.group_codes, weights=prepared.rows.y)
    np.testing.assert_allclose(y_sum, prepared.sums.group_totals("y"), rtol=1e-13)


def test_three_levels_and_time(tmp_path, duck):
    """Growth-like data: years in children in schools in districts; `time:` is a predictor."""
    rng = np.random.default_rng(5)
    rows = [
        {
            "district": d,
            "school": str(s),
            "child": str(c),
            "year": float(t),
            "y": float(rng.normal() + t),
        }
        for d in ["north", "south"]
        for s in range(3)
        for c in range(2 + s)
        for t in range(3)
    ]
    frame = pd.DataFrame(rows)
    keys = {
        "outcome": "y",
        "group": ["district", "school", "child"],
        "time": "year",
        "random_slopes": {"child": ["year"], "school": ["year"]},
    }
    spec = spec_for(tmp_path, frame, "g", **keys)
    assert spec.predictors == ["year"]
    memory = prepare_in_memory(spec, spec.data)
    district, school, child = memory.levels.levels
    assert district.labels == ["north", "south"]
    assert school.n_groups == 6 and school.labels == ["0", "1", "2"] * 2
    assert child.n_groups == 2 * (2 + 3 + 4)
    np.testing.assert_array_equal(np.bincount(child.parents), [2, 3, 4] * 2)
    assert memory.sums.counts.tolist() == [3] * child.n_groups
    assert_same_cells(memory, in_engine(parts_spec(tmp_path, frame, "g", **keys), duck))


def test_data_levels_and_variable_levels(tmp_path):
    """results.json's data.levels (per level: groups, rows per group, and for a nested level
    above the innermost the groups of the next level per group), and each variable's level."""
    from hlm_analysis.data.describe import describe

    frame = nested_frame()
    prepared = prepare_in_memory(spec := spec_for(tmp_path, frame, "d", **NESTED), spec.data)
    summary = describe(prepared)
    school, klass = summary.levels
    per_school = frame.groupby("school").size()
    per_class = frame.groupby(["school", "klass"]).size()
    assert (school.name, school.n_groups) == ("school", 4)
    assert (school.size_min, school.size_max) == (per_school.min(), per_school.max())
    assert school.size_mean == pytest.approx(per_school.mean())
    classes = frame.groupby("school")["klass"].nunique()
    assert (school.groups_min, school.groups_max) == (classes.min(), classes.max())
    assert school.groups_mean == pytest.approx(classes.mean())
    assert (klass.n_groups, klass.size_min, klass.size_max) == (
        len(per_class),
        per_class.min(),
        per_class.max(),
    )
    assert klass.groups_min is None
    assert summary.crossed is False
    assert summary.n_groups == len(per_class)
    assert summary.groups.labels[:2] == ("7 / 1", "7 / 2")
    # size is constant within classes (not schools); x varies within classes
    assert prepared.design.variable("size").level == "klass"
    assert prepared.design.variable("size").group_level
    assert prepared.design.variable("x").level is None
    # a one-level config writes neither key
    one = prepare_in_memory(
        spec := spec_for(tmp_path, frame, "one", outcome="y", predictors=["x"], group="school"),
        spec.data,
    )
    assert describe(one).levels == () and one.design.variable("x").level is None


def test_crossed_group_level_variables_are_described_per_group_of_their_factor(tmp_path):
    from hlm_analysis.data.describe import describe

    frame = crossed_frame()
    frame["intake"] = frame["second"].str[1:].astype(float) * 10.0  # constant within seconds
    frame["fee"] = frame["primary"].str[1:].astype(float)  # constant within primaries
    keys = {**CROSSED, "predictors": ["x", "intake", "fee"]}
    prepared = prepare_in_memory(spec := spec_for(tmp_path, frame, "cg", **keys), spec.data)
    design = prepared.design
    assert design.variable("intake").level == "second" and design.variable("intake").group_level
    assert design.variable("fee").level == "primary" and not design.variable("fee").group_level
    assert design.variable("x").level is None
    summary = describe(prepared)
    assert summary.crossed and [lv.name for lv in summary.levels] == ["primary", "second"]
    assert summary.levels[0].groups_min is None  # crossed: no groups within groups
    intake = summary.group_level["intake"]  # one value per secondary school, not per pair
    assert intake.n == 5
    assert intake.mean == pytest.approx(np.mean([0.0, 10.0, 20.0, 30.0, 40.0]))
