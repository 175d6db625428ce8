"""The SQL data path (DuckDB, Spark): the same design and per-group sums as the in-memory path on
every reference dataset, globs and directories of Parquet parts, the sampled large-data path,
and bad input about parts and engines."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REFERENCE, REFERENCE_CONFIGS, write_config

from hlm_analysis.cli import main
from hlm_analysis.data import aggregate, engines, synth
from hlm_analysis.data.aggregate import prepare_in_engine
from hlm_analysis.data.engines import open_engine
from hlm_analysis.data.prepare import columns_used, prepare_in_memory
from hlm_analysis.data.route import prepare
from hlm_analysis.data.source import open_source
from hlm_analysis.errors import InputError, ToolError
from hlm_analysis.model.analysis import run_analysis
from hlm_analysis.spec import load_spec

ROOT = REFERENCE.parent.parent
SHIPPED = ["hsb2", "schools", "graduation"]  # graduation: a yes/no text outcome


def _spec(tmp_path, name):
    if name in SHIPPED:
        return load_spec(ROOT / "report" / "configs" / f"{name}.yml")
    config = write_config(tmp_path, name, data=REFERENCE / f"{name}.csv", **REFERENCE_CONFIGS[name])
    return load_spec(config)


def _in_engine(spec, engine):
    return prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)


def _same(a, b, rel=1e-12):
    assert a.sums.names == b.sums.names
    assert a.group_labels == b.group_labels
    assert a.design == b.design
    assert a.dropped == b.dropped and a.n_rows_read == b.n_rows_read
    np.testing.assert_array_equal(a.sums.counts, b.sums.counts)
    scale = np.abs(a.sums.cross).max()
    assert np.abs(a.sums.cross - b.sums.cross).max() <= rel * scale
    if b.rows is not None:
        np.testing.assert_allclose(a.sums.group_low, b.sums.group_low, rtol=rel, atol=rel * scale)
        np.testing.assert_allclose(a.sums.group_high, b.sums.group_high, rtol=rel, atol=rel * scale)
        return
    # beyond memory a column varying within groups may carry its overall range as each group's
    # bounds (aggregate._bounds): what is read of them must be the same
    for i, name in enumerate(a.sums.names):
        np.testing.assert_allclose(a.sums.range(name), b.sums.range(name), rtol=rel, atol=0)
        constant = a.sums.constant_within_groups(name)
        assert b.sums.constant_within_groups(name) == constant, name
        if constant:
            np.testing.assert_allclose(a.sums.group_low[:, i], b.sums.group_low[:, i], rtol=rel)
            np.testing.assert_allclose(a.sums.group_high[:, i], b.sums.group_high[:, i], rtol=rel)


@pytest.fixture(scope="module")
def duckdb_engine():
    engine = open_engine("duckdb")
    yield engine
    engine.close()


@pytest.mark.parametrize("name", [*REFERENCE_CONFIGS, *SHIPPED])
def test_duckdb_gives_the_in_memory_design_and_sums(tmp_path, duckdb_engine, name):
    spec = _spec(tmp_path, name)
    memory = prepare_in_memory(spec, spec.data)
    sql = _in_engine(spec, duckdb_engine)
    _same(memory, sql)
    assert sql.rows is not None  # small data: every row comes back (CR2 as in memory)
    assert len(sql.rows) == memory.n_obs


def _variant_frame() -> pd.DataFrame:
    """exam with what the reference data lack: missing cells (blank and tokens), 0/1 columns,
    one almost 0/1 (a tiny value: not binary), a number stored as text, a whole group missing."""
    frame = pd.read_csv(REFERENCE / "exam.csv")
    rng = np.random.default_rng(3)
    n = len(frame)
    frame["girl"] = (rng.random(n) < 0.4).astype(float)
    frame["almost"] = (rng.random(n) < 0.5).astype(float)
    frame.loc[5, "almost"] = 1e-20
    frame["lrt_text"] = frame["standLRT"].round(6).astype(str)
    frame["big"] = frame["standLRT"] * 1e6 + 3e7  # far from zero: centring matters
    frame = frame.astype({"normexam": object, "standLRT": object, "lrt_text": object})
    frame.loc[rng.choice(n, 40, replace=False), "normexam"] = "NA"
    frame.loc[rng.choice(n, 30, replace=False), "standLRT"] = None
    frame.loc[rng.choice(n, 20, replace=False), "lrt_text"] = "."
    frame.loc[frame["school"] == 7, "normexam"] = None  # a group with no complete row
    return frame


VARIANTS = {
    "group_centred": {
        "predictors": ["standLRT", "sex", "schavg", "girl", "almost"],
        "centering": {"standLRT": "group", "schavg": "grand"},
        "contextual": ["standLRT"],
        "random_slopes": ["standLRT"],
        "interactions": ["standLRT:sex"],
    },
    "grand_centred": {
        "predictors": ["big", "girl", "almost", "vr"],
        "centering": {"big": "grand"},
        "random_slopes": ["girl"],
        "interactions": ["big:girl"],
    },
    "contextual_only": {
        "predictors": ["lrt_text", "girl", "type"],
        "contextual": ["big"],
        "interactions": ["girl:type"],
    },
    "plain": {"predictors": ["lrt_text", "girl", "almost", "sex"], "random_slopes": ["girl"]},
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_duckdb_gives_the_in_memory_sums_with_missing_values_and_centring(
    tmp_path, duckdb_engine, variant, form
):
    frame = _variant_frame()
    if form == "parquet":  # typed columns: numbers as doubles (missing as NaN or null), text
        frame = frame.replace({"NA": None, ".": None}).astype(
            {"normexam": float, "standLRT": float}
        )
        data = tmp_path / "variant.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data)
    else:
        data = tmp_path / "variant.csv"
        frame.to_csv(data, index=False)
    keys = {"outcome": "normexam", "group": "school", **VARIANTS[variant]}
    spec = load_spec(write_config(tmp_path, variant, data=data, **keys))
    memory = prepare_in_memory(spec, spec.data)
    assert memory.dropped  # the variant has missing values
    _same(memory, _in_engine(spec, duckdb_engine))


class _Spy:
    """An engine that notes the queries it runs."""

    def __init__(self, engine):
        self.engine, self.queries = engine, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def frame(self, sql):
        self.queries.append(sql)
        return self.engine.frame(sql)

    def keep(self, name, sql):
        self.queries.append(sql)
        return self.engine.keep(name, sql)


def _complete_parquet(tmp_path, frame: pd.DataFrame, name: str = "complete.parquet"):
    frame = frame.replace({"NA": None, ".": None}).dropna()
    frame = frame.astype({"normexam": float, "standLRT": float})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("variant", VARIANTS)
def test_parquet_without_nulls_gives_the_in_memory_sums_without_the_counting_pass(
    tmp_path, duckdb_engine, variant
):
    # The footers say no column has a null: the design sums count the rows and give the
    # magnitudes, and no counting pass runs (grand means aside).
    data = _complete_parquet(tmp_path, _variant_frame())
    keys = {"outcome": "normexam", "group": "school", **VARIANTS[variant]}
    spec = load_spec(write_config(tmp_path, variant, data=data, **keys))
    memory = prepare_in_memory(spec, spec.data)
    spy = _Spy(duckdb_engine)
    _same(memory, _in_engine(spec, spy))
    counting = [q for q in spy.queries if "AS n_read" in q]
    assert len(counting) == (1 if "grand" in VARIANTS[variant].get("centering", {}).values() else 0)


def test_parquet_without_nulls_but_with_nan_or_0_1_columns(tmp_path, duckdb_engine):
    frame = _complete_parquet(tmp_path, _variant_frame(), "x.parquet")
    frame = pd.read_parquet(frame)
    frame["half"] = np.where(frame["almost"] > 0.5, 0.5, 0.0)  # in [0, 1], not 0/1
    frame["group_0_1"] = (frame["school"] % 2).astype(float)  # 0/1 and constant in groups
    frame["girl_int"] = (frame["almost"] > 0.5).astype("int64")  # another 0/1, as integers
    keys = {"outcome": "normexam", "group": "school", "random_slopes": ["girl"]}
    cases = {  # predictors, and the columns beyond memory whose per-group ranges need a scan
        "only_0_1": (["girl", "group_0_1", "standLRT"], 0),  # 0/1: ranges from the sums
        "half": (["girl", "half", "standLRT"], 0),  # 0 and 0.5 vary within schools
        "almost": (["girl", "almost", "standLRT"], 0),  # 1e-20 among ones: not 0/1
        "school_level": (["girl", "schavg", "standLRT"], 1),  # constant in each school
        "stored_as_int": (["girl", "girl_int", "standLRT"], 0),  # 0/1 as integers
    }
    for name, (predictors, ranged) in cases.items():
        data = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data)
        spec = load_spec(write_config(tmp_path, name, data=data, predictors=predictors, **keys))
        memory = prepare_in_memory(spec, spec.data)
        spy = _Spy(duckdb_engine)
        _same(memory, _in_engine(spec, spy))
        assert not any("AS n_read" in q for q in spy.queries)
        # every row comes back for the figures (small data): they settle the 0/1 columns
        assert not any("AS off_" in q for q in spy.queries)
        # beyond memory a plain pass before the design sums says which columns are 0/1 (those
        # whose footers' range lies in [0, 1]: a column is, or is not, 0/1 in all rows);
        # the design sums then ask no per-group minimum or maximum, but for a column that may
        # be constant within groups, in a GROUP BY of its own
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(aggregate, "IN_MEMORY_ROWS", 1000)
            patch.setattr(aggregate, "SAMPLE_ROWS", 300)
            spy = _Spy(duckdb_engine)
            _same(memory, _in_engine(spec, spy))
            in_0_1 = [v for v in predictors if frame[v].min() >= 0 and frame[v].max() <= 1]
            assert sum(q.count("AS off_") for q in spy.queries) == len(in_0_1)
            sums, *rest = [q for q in spy.queries if "GROUP BY gv" in q and "SUM(" in q]
            assert "MIN(" not in sums and "MAX(" not in sums and not rest
            grouped = [q for q in spy.queries if "GROUP BY gv" in q and "MIN(" in q]
            assert sum(q.count("MIN(") for q in grouped) == ranged
        for v in ("girl_int", "half"):  # the design says which are 0/1, as in memory
            if v in predictors:
                assert memory.design.variable(v).binary == (v == "girl_int")
    # a NaN is no null in the footers: the design sums count fewer rows, and pass 2 runs
    nan = frame.assign(normexam=lambda d: d["normexam"].where(d.index % 50 != 3, np.nan))
    data = tmp_path / "nan.parquet"
    table = pa.table({c: pa.array(nan[c].to_numpy()) for c in nan})  # NaN kept, not a null
    assert table["normexam"].null_count == 0
    pq.write_table(table, data)
    for predictors in (["girl"], ["girl", "standLRT"]):
        keys["contextual"] = predictors[1:]  # with group means and without
        spec = load_spec(write_config(tmp_path, "nan", data=data, predictors=predictors, **keys))
        memory = prepare_in_memory(spec, spec.data)
        assert memory.dropped == {"normexam": int((nan.index % 50 == 3).sum())}
        assert memory.design.variable("girl").binary
        spy = _Spy(duckdb_engine)
        _same(memory, _in_engine(spec, spy))
        assert sum("AS n_read" in q for q in spy.queries) == 1
        # beyond memory the lean pass reads the columns as stored, NaN and all: the design
        # sums' count brings pass 2, whose complete rows are the sample's, as a full scan draws
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(aggregate, "IN_MEMORY_ROWS", 1000)
            patch.setattr(aggregate, "SAMPLE_ROWS", 300)
            kept = _in_engine(spec, duckdb_engine)
            _same(memory, kept)
            drawn = _in_engine(spec, _ScanSpy(duckdb_engine, keep_no_rows=True))
        assert len(kept.sample) == 300 and not np.isnan(kept.sample.y).any()
        np.testing.assert_array_equal(kept.sample.y, drawn.sample.y)


def _joined_passes(queries: list[str]) -> int:
    """Aggregations that join the group means onto every row (the figures' rows aside)."""
    return sum("JOIN hlm_groups" in q and "GROUP BY" in q for q in queries)


GROUP_MEAN_CASES = {  # config, and whether the design sums follow by algebra (no join)
    # a cross-level interaction with the centred column: the classic contextual model
    "cross_level": (
        {
            "predictors": ["standLRT", "schgend", "girl"],
            "centering": {"standLRT": "group"},
            "contextual": ["standLRT"],
            "interactions": ["standLRT:schgend", "standLRT:girl"],
            "random_slopes": ["standLRT"],
        },
        False,  # standLRT:girl: two level-1 columns vary together in a group (ranges need rows)
    ),
    "cross_level_only": (
        {
            "predictors": ["standLRT", "schgend", "score"],
            "centering": {"standLRT": "group", "score": "group"},
            "contextual": ["standLRT", "score"],
            "interactions": ["standLRT:schgend"],
            "random_slopes": ["standLRT"],
        },
        True,
    ),
    # two schools where the column is constant, far from the shift: the centred column is 0
    # there (by the join), and the algebra's rounding there would dwarf the other schools' spread
    "constant_far": (
        {"predictors": ["far"], "centering": {"far": "group"}, "contextual": ["far"]},
        False,
    ),
    # group means 1e6 apart and spreads of 1e-3 inside groups: sum(x^2) - n m^2 would keep
    # too few digits, whatever the shift
    "cancelling": (
        {"predictors": ["spread"], "centering": {"spread": "group"}, "contextual": ["spread"]},
        False,
    ),
}


@pytest.mark.parametrize("form", ["csv", "parquet"])
@pytest.mark.parametrize("case", GROUP_MEAN_CASES)
def test_group_means_by_algebra_or_by_join_give_the_in_memory_sums(
    tmp_path, duckdb_engine, case, form
):
    frame = pd.read_parquet(_complete_parquet(tmp_path, _variant_frame()))
    frame["spread"] = frame["school"] * 1e6 + frame["standLRT"] * 1e-3
    frame["score"] = 500 + 100 * np.random.default_rng(5).normal(size=len(frame))  # far from 0
    frame["far"] = frame["standLRT"].where(~frame["school"].isin([1, 2]), 0.0)
    frame.loc[frame["school"] == 1, "far"] = 1e9 + 0.1
    frame.loc[frame["school"] == 2, "far"] = -1e9 - 0.1
    if form == "parquet":  # no nulls: no counting pass, the footers' midpoint is the shift
        data = tmp_path / f"{case}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data)
    else:  # the counting pass runs and gives the grand mean
        data = tmp_path / f"{case}.csv"
        frame.to_csv(data, index=False)
    config, by_algebra = GROUP_MEAN_CASES[case]
    keys = {"outcome": "normexam", "group": "school", **config}
    spec = load_spec(write_config(tmp_path, case, data=data, **keys))
    memory = prepare_in_memory(spec, spec.data)
    spy = _Spy(duckdb_engine)
    engine = _in_engine(spec, spy)
    _same(memory, engine)
    # and column by column, on each column's own scale (a small column next to a large
    # contextual mean would hide in the scale of the whole)
    for i in range(len(memory.sums.names)):
        own = memory.sums.cross[:, i, i]
        assert np.abs(engine.sums.cross[:, i, i] - own).max() <= 1e-10 * own.sum()
    assert _joined_passes(spy.queries) == (0 if by_algebra else 1)
    assert not any("AS n_read" in q for q in spy.queries) or form == "csv"


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_the_engine_refuses_too_large_values_as_in_memory(tmp_path, duckdb_engine, form):
    frame = pd.read_parquet(_complete_parquet(tmp_path, _variant_frame()))
    frame.loc[[4, 9], "big"] = [1e200, -np.inf]
    keys = {"outcome": "normexam", "group": "school"}
    for name, extra in (
        ("predictor", {"predictors": ["big", "girl"]}),
        ("contextual", {"predictors": ["girl"], "contextual": ["big"]}),
        ("centred", {"predictors": ["big"], "centering": {"big": "group"}}),
    ):
        data = tmp_path / f"{name}.{form}"
        if form == "csv":
            frame.to_csv(data, index=False)
        else:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data)
        spec = load_spec(write_config(tmp_path, name, data=data, **keys, **extra))
        with pytest.raises(InputError) as memory:
            prepare_in_memory(spec, spec.data)
        with pytest.raises(InputError) as engine:
            _in_engine(spec, duckdb_engine)
        assert str(engine.value) == str(memory.value)
        assert "'big': 2 rows with infinite or too-large values" in str(memory.value)


def _parts(frame: pd.DataFrame, directory, n: int = 3):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    which = rng.integers(0, n, len(frame))  # a group's rows spread over every part
    for part in range(n):
        pq.write_table(
            pa.Table.from_pandas(frame[which == part], preserve_index=False),
            directory / f"part-{part}.parquet",
        )
    return directory


def test_a_glob_and_a_directory_of_parts_fit_as_the_single_file(tmp_path):
    frame = pd.read_csv(REFERENCE / "exam.csv")
    lake = _parts(frame, tmp_path / "lake")
    keys = REFERENCE_CONFIGS["exam"]
    single = run_analysis(
        load_spec(write_config(tmp_path, "one", data=REFERENCE / "exam.csv", **keys)),
        tmp_path / "one",
    )
    for name, data in (("glob", f"{lake}/part-*.parquet"), ("directory", lake)):
        spec = load_spec(write_config(tmp_path, name, data=data, **keys))
        assert prepare(spec).rows is not None  # routed to DuckDB, small enough to keep rows
        parts = run_analysis(spec, tmp_path / name)
        for model in ("random_intercept", "random_slope"):
            a, b = single.model(model), parts.model(model)
            assert b.loglik == pytest.approx(a.loglik, rel=1e-10)
            for fa, fb in zip(a.fixed_effects, b.fixed_effects, strict=True):
                assert fb.estimate == pytest.approx(fa.estimate, rel=1e-8, abs=1e-10)
                assert fb.std_error == pytest.approx(fa.std_error, rel=1e-8)


@pytest.mark.parametrize(
    ("stored", "event"),
    [("text", "yes"), ("bool", None), ("number", None), ("number", "0")],
)
def test_a_binary_outcome_in_parts_fits_as_the_single_file(tmp_path, stored, event):
    """The outcome is coded 0/1 in SQL as in memory, whether stored as text, booleans or 0/1."""
    frame = pd.read_csv(ROOT / "data" / "graduation.csv")
    yes = frame["Graduated"] == "yes"
    frame["Graduated"] = {"text": frame["Graduated"], "bool": yes, "number": yes.astype(int)}[
        stored
    ]
    single = tmp_path / "one.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), single)
    lake = _parts(frame, tmp_path / "lake")
    keys = {
        "outcome": "Graduated", "predictors": ["Mentoring", "FreeLunch", "Absences"],
        "group": "School", "family": "binomial", "event": event,
    }  # fmt: skip
    one = run_analysis(
        load_spec(write_config(tmp_path, "one", data=single, **keys)), tmp_path / "a"
    )
    spec = load_spec(write_config(tmp_path, "parts", data=lake, **keys))
    parts = run_analysis(spec, tmp_path / "b")
    assert (
        parts.design.event
        == one.design.event
        == (event or ("yes" if stored == "text" else "true" if stored == "bool" else "1"))
    )
    a, b = one.model("random_intercept"), parts.model("random_intercept")
    assert b.loglik == pytest.approx(a.loglik, rel=1e-10)
    assert [f.estimate for f in b.fixed_effects] == pytest.approx(
        [f.estimate for f in a.fixed_effects], rel=1e-7
    )


def test_binary_data_too_large_for_memory_are_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(aggregate, "IN_MEMORY_ROWS", 1000)
    lake = _parts(pd.read_csv(ROOT / "data" / "graduation.csv"), tmp_path / "lake")
    config = write_config(
        tmp_path, "big", data=lake, outcome="Graduated", predictors=["Absences"],
        group="School", family="binomial",
    )  # fmt: skip
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "2,774 rows: logistic mixed models are fitted from every row" in err[0]
    assert not (tmp_path / "out").exists()


class _ScanSpy(_Spy):
    """Also notes the scans of the data the engine made, and can keep no row for the sample
    in a plain scan (then the sample's own scan draws it)."""

    def __init__(self, engine, keep_no_rows=False):
        super().__init__(engine)
        self.keep_no_rows, self.first_scan = keep_no_rows, len(engine.scans)

    def collect_rows(self, columns, condition):
        return self.engine.collect_rows(columns, "1 = 0" if self.keep_no_rows else condition)

    @property
    def labels(self):
        return [label for label, _ in self.engine.scans[self.first_scan :]]


LAKE_SCANS = {  # config, and the scans of a lake beyond memory
    # no nulls: the 0/1 checks and ranges with the sample's rows, then the design sums
    "plain": (
        {"predictors": ["girl", "standLRT"], "random_slopes": ["girl"]},
        ["checks and the sample's rows", "design sums"],
    ),
    # group means by algebra
    "contextual": (
        {
            "predictors": ["standLRT", "score"],
            "centering": {"standLRT": "group"},
            "contextual": ["standLRT"],
            "random_slopes": ["standLRT"],
        },
        ["checks and the sample's rows", "design sums (group means by algebra)"],
    ),
    # a school's average may be constant within groups (it is): its per-group ranges
    "perhaps_constant": (
        {"predictors": ["girl", "schavg", "standLRT"], "random_slopes": ["girl"]},
        ["checks and the sample's rows", "design sums", "group ranges"],
    ),
}


@pytest.mark.parametrize("case", [*LAKE_SCANS, "nulls", "csv", "no_statistics"])
def test_a_lake_is_read_in_two_scans_and_the_sample_is_the_full_scans(
    tmp_path, duckdb_engine, monkeypatch, case
):
    # Parquet parts beyond memory: the design sums' GROUP BY and one plain scan, which keeps the
    # rows below a hash threshold; the sample drawn from those is the one a scan of every row
    # draws (the smallest hashes), and the sums are the in-memory ones.
    monkeypatch.setattr(aggregate, "IN_MEMORY_ROWS", 1000)
    monkeypatch.setattr(aggregate, "SAMPLE_ROWS", 300)
    frame = pd.read_parquet(_complete_parquet(tmp_path, _variant_frame()))
    frame["score"] = 500 + 100 * np.random.default_rng(5).normal(size=len(frame))
    if case == "nulls":  # pass 2 counts first; the footers' row count sets its threshold
        frame.loc[frame.index % 40 == 1, "standLRT"] = None
        config = LAKE_SCANS["plain"][0]
        expected = ["counts and checks and the sample's rows", "design sums"]
    elif case == "csv":  # text first; no row count: estimated from the bytes, sample as above
        config = LAKE_SCANS["plain"][0]
        expected = ["text columns as numbers", "counts and checks and the sample's rows"]
        expected.append("design sums")
    elif case == "no_statistics":  # footers that say nothing: pass 2 counts first
        config = LAKE_SCANS["plain"][0]
        expected = ["counts and checks and the sample's rows", "design sums"]
    else:
        config, expected = LAKE_SCANS[case]
    lake = _parts(frame, tmp_path / "lake")
    if case == "no_statistics":
        for part in sorted(lake.glob("*.parquet")):
            pq.write_table(pq.read_table(part), part, write_statistics=False)
    if case == "csv":
        for part in sorted(lake.glob("*.parquet")):
            pd.read_parquet(part).to_csv(part.with_suffix(".csv"), index=False)
            part.unlink()
    keys = {"outcome": "normexam", "group": "school", **config}
    spec = load_spec(write_config(tmp_path, case, data=lake, **keys))
    spy = _ScanSpy(duckdb_engine)
    kept = _in_engine(spec, spy)
    assert spy.labels == expected
    assert kept.rows is None and len(kept.sample) == 300
    single = tmp_path / "single.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), single)
    _same(prepare_in_memory(spec.model_copy(update={"data": single}), single), kept)
    every = _ScanSpy(duckdb_engine, keep_no_rows=True)
    drawn = _in_engine(spec, every)
    assert every.labels[-1] == "the sample's rows"
    np.testing.assert_array_equal(kept.sample.y, drawn.sample.y)
    np.testing.assert_array_equal(kept.sample.group_codes, drawn.sample.group_codes)
    for name, column in kept.sample.columns.items():  # group means: summed in any order
        np.testing.assert_allclose(column, drawn.sample.columns[name], rtol=1e-12, atol=1e-12)


def test_large_data_keep_only_group_sums_and_a_reproducible_sample(tmp_path, monkeypatch):
    # Beyond IN_MEMORY_ROWS no row comes back but the sample: every estimate is still exact,
    # the robust SEs say they are CR1 from group sums, and the same rows are drawn every time.
    monkeypatch.setattr(aggregate, "IN_MEMORY_ROWS", 1000)
    monkeypatch.setattr(aggregate, "SAMPLE_ROWS", 300)
    frame = pd.read_csv(REFERENCE / "exam.csv")
    lake = _parts(frame, tmp_path / "lake")
    keys = REFERENCE_CONFIGS["exam"]
    spec = load_spec(write_config(tmp_path, "big", data=lake, **keys))
    first, second = prepare(spec), prepare(spec)
    assert first.rows is None and len(first.sample) == 300
    np.testing.assert_array_equal(first.sample.y, second.sample.y)
    np.testing.assert_array_equal(first.sample.group_codes, second.sample.group_codes)
    # the sample is a sample of the data: each drawn row is a row of the file
    pairs = set(zip(frame["school"].astype(str), frame["normexam"].round(10), strict=True))
    labels = [first.group_labels[code] for code in first.sample.group_codes]
    drawn = zip(labels, first.sample.y.round(10), strict=True)
    assert all(pair in pairs for pair in drawn)
    memory = prepare_in_memory(
        load_spec(write_config(tmp_path, "one", data=REFERENCE / "exam.csv", **keys)),
        REFERENCE / "exam.csv",
    )
    _same(memory, first, rel=1e-12)
    big = run_analysis(spec, tmp_path / "out")
    assert big.sample.n_rows == 300 and big.sample.n_obs == len(frame)
    # with group means joined to the rows (and missing values), the sample's columns too
    variant = _variant_frame().replace({"NA": None, ".": None})
    variant = variant.astype({"normexam": float, "standLRT": float})
    keys = {"outcome": "normexam", "group": "school", **VARIANTS["group_centred"]}
    spec = load_spec(
        write_config(tmp_path, "centred", data=_parts(variant, tmp_path / "v"), **keys)
    )
    sampled = prepare(spec)
    assert sampled.rows is None and len(sampled.sample) == 300
    one = tmp_path / "variant.parquet"
    pq.write_table(pa.Table.from_pandas(variant, preserve_index=False), one)
    memory = prepare_in_memory(spec.model_copy(update={"data": one}), one)
    _same(memory, sampled)
    # every drawn row is one of the rows in memory, centred alike
    rows = zip(memory.rows.y.round(10), memory.rows.columns["standLRT"].round(10), strict=True)
    drawn = zip(
        sampled.sample.y.round(10), sampled.sample.columns["standLRT"].round(10), strict=True
    )
    assert set(drawn) <= set(rows)
    final = big.final
    assert any("group sums by the data engine" in note for note in final.notes)
    assert all(fe.robust_df == big.data.n_groups - 1 for fe in final.fixed_effects)


def test_spark_gives_the_duckdb_sums(tmp_path, duckdb_engine):
    # Spark in local mode (Java from .ci/setup-system, pyspark from the dev extra).
    spark = open_engine("spark")
    for name in ("exam", "schools", "graduation"):
        spec = _spec(tmp_path, name)
        _same(_in_engine(spec, duckdb_engine), _in_engine(spec, spark), rel=1e-10)
    # missing values, group means and 0/1 columns (CSV: every pass), and Parquet without nulls
    # (the design sums say what the counting pass would)
    frame = _variant_frame()
    frame.to_csv(tmp_path / "variant.csv", index=False)
    complete = _complete_parquet(tmp_path, frame)
    nan = pd.read_parquet(complete)
    nan["normexam"] = nan["normexam"].where(nan.index % 50 != 3, np.nan)
    pq.write_table(
        pa.table({c: pa.array(nan[c].to_numpy()) for c in nan}), tmp_path / "nan.parquet"
    )
    keys = {"outcome": "normexam", "group": "school"}
    for name, data in (
        ("group_centred", tmp_path / "variant.csv"),
        ("contextual_only", complete),
        ("plain", tmp_path / "nan.parquet"),  # NaN, no null
    ):
        spec = load_spec(write_config(tmp_path, name, data=data, **keys, **VARIANTS[name]))
        _same(_in_engine(spec, duckdb_engine), _in_engine(spec, spark), rel=1e-10)
    # beyond memory: a plain scan keeps the sample's rows (Spark: a checkpoint of one job), and
    # Spark draws the same sample as DuckDB would from Spark's row hash
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aggregate, "IN_MEMORY_ROWS", 1000)
        patch.setattr(aggregate, "SAMPLE_ROWS", 300)
        spec = load_spec(
            write_config(tmp_path, "lake", data=_parts(nan.dropna(), tmp_path / "lake"), **keys,
                         **LAKE_SCANS["plain"][0])
        )  # fmt: skip
        first = len(spark.scans)
        kept = _in_engine(spec, spark)
        assert [label for label, _ in spark.scans[first:]] == LAKE_SCANS["plain"][1]
        _same(_in_engine(spec, duckdb_engine), kept, rel=1e-10)
        drawn = _in_engine(spec, _ScanSpy(spark, keep_no_rows=True))
        np.testing.assert_array_equal(kept.sample.y, drawn.sample.y)
        assert len(kept.sample) == 300


def test_a_spark_run_prints_only_its_own_line_on_stderr(tmp_path):
    # the JVM's log4j lines and its incubator-module notice, and pyspark's FutureWarning about
    # pandas, came before the one error line; a process of its own: a session started anew
    lake = tmp_path / "ids"
    lake.mkdir()
    (lake / "a.csv").write_text("school,y,x\n7,1.0,2\n7,2.0,3\n8,1.5,1\n8,2.5,2\n")
    (lake / "b.csv").write_text("school,y,x\n7.0,1.0,2\n8,2.0,3\n")  # ids 7 and 7.0
    config = write_config(tmp_path, "ids", data=lake, outcome="y", predictors=["x"], group="school")
    run = subprocess.run(
        [sys.executable, "-m", "hlm_analysis.cli", "fit", str(config), "--out",
         str(tmp_path / "out"), "--engine", "spark"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("hlm-report: error: column 'school'") and "'7.0'" in lines[0]


def test_a_jvm_that_does_not_start_is_quoted_in_the_one_line(tmp_path):
    # its output goes to a file of its own, so the reason is read back from there (exit 3)
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'Error: no room for the heap (a test JVM)' >&2\nexit 1\n")
    java.chmod(0o755)
    config = write_config(
        tmp_path, "exam", data=REFERENCE / "exam.csv", **REFERENCE_CONFIGS["exam"]
    )
    command = [sys.executable, "-m", "hlm_analysis.cli", "fit", str(config), "--out",
               str(tmp_path / "out"), "--engine", "spark"]  # fmt: skip
    env = {**os.environ, "JAVA_HOME": str(java.parent.parent)}
    for log in (None, tmp_path / "jvm.log"):  # HLM_SPARK_LOG names a file: it is written there
        if log is not None:
            env["HLM_SPARK_LOG"] = str(log)
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 3, run.stderr
        lines = run.stderr.splitlines()
        assert len(lines) == 1, run.stderr
        assert lines[0].startswith("hlm-report: tool failed: Spark did not start")
        assert lines[0].endswith("(Java: Error: no room for the heap (a test JVM))"), lines[0]
    assert "no room for the heap" in log.read_text()
    env["HLM_SPARK_LOG"] = str(tmp_path / "no such folder" / "jvm.log")  # the user's setting
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert "HLM_SPARK_LOG=" in run.stderr and "cannot be written" in run.stderr


def _refused(tmp_path, capsys, *expected, **keys):
    keys = {**REFERENCE_CONFIGS["exam"], **keys}
    config = write_config(tmp_path, "bad", **keys)
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("hlm-report: error: "), err
    for piece in expected:
        assert piece in err[0], err[0]
    assert not (tmp_path / "out").exists()


def test_parts_that_do_not_fit_together_are_refused(tmp_path, capsys):
    frame = pd.read_csv(REFERENCE / "exam.csv")
    _refused(tmp_path, capsys, "no file matches", data=f"{tmp_path}/nothing/part-*.parquet")
    (tmp_path / "empty").mkdir()
    _refused(tmp_path, capsys, "holds no .parquet or .csv files", data=tmp_path / "empty")
    lake = _parts(frame, tmp_path / "missing")
    pq.write_table(
        pa.Table.from_pandas(frame.drop(columns=["standLRT"]).head(50), preserve_index=False),
        lake / "part-9.parquet",
    )
    _refused(tmp_path, capsys, "'standLRT'", "missing from part-9.parquet", data=lake)
    lake = _parts(frame, tmp_path / "first")  # the first part (in sorted order) lacks it
    pq.write_table(
        pa.Table.from_pandas(frame.drop(columns=["standLRT"]).head(50), preserve_index=False),
        lake / "part-0.parquet",
    )
    _refused(tmp_path, capsys, "'standLRT'", "missing from part-0.parquet", data=lake)
    lake = _parts(frame, tmp_path / "types")
    odd = frame.head(50).assign(normexam=lambda d: d["normexam"].astype(str))
    pq.write_table(pa.Table.from_pandas(odd, preserve_index=False), lake / "part-9.parquet")
    for engine in ("duckdb", "spark"):  # refused before either engine starts, naming both
        _refused(
            tmp_path, capsys, "'normexam'", "number in part-0.parquet but text in part-9",
            data=lake, engine=engine,
        )  # fmt: skip
    lake = _parts(frame, tmp_path / "mixed")
    frame.head(50).to_csv(lake / "extra.csv", index=False)
    _refused(tmp_path, capsys, "mixes Parquet and CSV", data=lake)


def test_an_unknown_or_unavailable_engine_is_refused(tmp_path, capsys, monkeypatch):
    _refused(tmp_path, capsys, "engine", data=REFERENCE / "exam.csv", engine="oracle")
    import builtins

    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    _refused(
        tmp_path, capsys, "needs the pyspark package", data=REFERENCE / "exam.csv", engine="spark"
    )
    monkeypatch.setattr(builtins, "__import__", real_import)
    monkeypatch.setattr(engines.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    _refused(tmp_path, capsys, "needs a Java runtime", data=REFERENCE / "exam.csv", engine="spark")


def test_group_centring_a_group_level_column_is_refused(tmp_path, duckdb_engine):
    # schavg is the school's average: constant in each school, so its centred values are zeros
    frame = _variant_frame()
    frame.to_csv(tmp_path / "v.csv", index=False)
    keys = {"outcome": "normexam", "group": "school", "predictors": ["standLRT", "schavg"]}
    spec = load_spec(
        write_config(tmp_path, data=tmp_path / "v.csv", centering={"schavg": "group"}, **keys)
    )
    for prepare_data in (
        lambda: prepare_in_memory(spec, spec.data),
        lambda: _in_engine(spec, duckdb_engine),
    ):
        with pytest.raises(InputError, match="constant within every group"):
            prepare_data()


def test_footers_give_each_numeric_column_the_midpoint_of_its_range(tmp_path):
    # two parts, several row groups, a column null in a whole row group, a text column
    first = pa.table({"x": [1.0, 5.0, None], "n": [3, 9, 4], "t": ["a", "b", "c"]})
    second = pa.table({"x": pa.array([None, None], pa.float64()), "n": [-7, 2], "t": ["d", "e"]})
    pq.write_table(first, tmp_path / "part-0.parquet", row_group_size=2)
    pq.write_table(second, tmp_path / "part-1.parquet")
    source = open_source(tmp_path / "part-*.parquet", ["x", "n", "t"])
    assert source.footers.centre == {"x": 3.0, "n": 1.0}  # (1 + 5) / 2, (-7 + 9) / 2
    assert source.footers.null_free == frozenset({"n", "t"})


def test_a_lake_fits_under_an_address_space_limit(tmp_path):
    # Limits on address space (ulimit -v, prlimit --as) count what allocators reserve. Arrow's
    # own pools and a glibc arena per thread reserved 2.3 GB for this fit (0.33 GB resident);
    # with the package's allocator settings it reserves about 0.7 GB.
    lake = tmp_path / "lake"
    synth.write_parquet_parts(lake, 200_000, 2_000, parts=4)
    config = write_config(
        tmp_path,
        data=f"{lake}/part-*.parquet",
        outcome="math",
        predictors=["ses", "female", "minority", "sector"],
        group="school",
        centering={"ses": "group"},
        contextual=["ses"],
        interactions=["ses:sector"],
        random_slopes=["ses"],
    )
    limit = 1536 * 2**20

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "hlm_analysis", "fit", str(config), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        preexec_fn=limited,
    )
    assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1]
    assert (tmp_path / "o" / "results.json").exists()


def test_running_out_of_memory_is_the_machine_not_the_data():
    import duckdb

    error = engines._read_error(duckdb.OutOfMemoryException("Out of Memory Error: no block"))
    assert isinstance(error, ToolError)
    assert "HLM_DUCKDB_MEMORY" in str(error) and "ulimit -v" in str(error)
    assert isinstance(engines._read_error(duckdb.ParserException("syntax")), InputError)


@pytest.mark.parametrize("case", ["plain", "contextual", "perhaps_constant"])
def test_a_lake_beyond_memory_fits_the_in_memory_models(tmp_path, duckdb_engine, monkeypatch, case):
    # The design sums beyond memory (no per-group minimum or maximum asked of a column that
    # varies within groups, a 0/1 column's square from its sum) give the in-memory ladder:
    # log-likelihoods within 1e-12, the same estimates and standardized estimates (a 0/1
    # predictor's differs: divided by the outcome's SD only).
    from hlm_analysis.model.ladder import fit_ladder

    monkeypatch.setattr(aggregate, "IN_MEMORY_ROWS", 1000)
    monkeypatch.setattr(aggregate, "SAMPLE_ROWS", 300)
    frame = pd.read_parquet(_complete_parquet(tmp_path, _variant_frame()))
    frame["score"] = 500 + 100 * np.random.default_rng(5).normal(size=len(frame))
    lake = _parts(frame, tmp_path / "lake")
    keys = {"outcome": "normexam", "group": "school", **LAKE_SCANS[case][0]}
    spec = load_spec(write_config(tmp_path, case, data=lake, **keys))
    single = tmp_path / "single.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), single)
    memory = fit_ladder(prepare_in_memory(spec.model_copy(update={"data": single}), single))
    engine = fit_ladder(_in_engine(spec, duckdb_engine))
    assert memory.models.keys() == engine.models.keys()
    for name, model in memory.models.items():
        other = engine.models[name]
        assert other.loglik == pytest.approx(model.loglik, rel=1e-12, abs=0)
        for a, b in zip(model.fixed_effects, other.fixed_effects, strict=True):
            assert a.term == b.term
            assert b.estimate == pytest.approx(a.estimate, rel=1e-9, abs=1e-12)
            if a.std_estimate is not None:
                assert b.std_estimate == pytest.approx(a.std_estimate, rel=1e-9, abs=1e-12)
