"""One reader contract for every path (memory, DuckDB, Spark) and data discovery.

The same table read in memory (one file), by DuckDB and by Spark (parts) must give the same
sample: columns matched by name in every part (any order, case kept), group ids as written
(0100 is not 100), the same `missing_values:` (an empty cell is missing only when listed),
names and text in NFC (a decomposed header matches a composed config; one school spelled
both ways is one group), quoted CSV cells as RFC 4180 writes them. Discovery reads every
data file once and nothing hidden, `_`-prefixed or written by the tool.
"""

from __future__ import annotations

import importlib
import json
import os
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_config

from hlm_analysis.cli import main
from hlm_analysis.data import engines
from hlm_analysis.data.aggregate import prepare_in_engine
from hlm_analysis.data.columns import columns_used
from hlm_analysis.data.engines import open_engine
from hlm_analysis.data.load import read_table
from hlm_analysis.data.prepare import MAX_TERMS, prepare_in_memory
from hlm_analysis.data.route import prepare
from hlm_analysis.data.source import discover, open_source
from hlm_analysis.errors import InputError
from hlm_analysis.spec import load_spec

NFD = "Gro\u0308\u00dfe"  # o + combining diaeresis
NFC = unicodedata.normalize("NFC", NFD)


@pytest.fixture(scope="module")
def duck():
    engine = open_engine("duckdb")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def spark():
    return open_engine("spark")  # local[*]; Java from .ci/setup-system


def _engine_sums(spec, engine):
    return prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)


def _same(a, b, rel=1e-10):
    assert a.group_labels == b.group_labels
    assert a.sums.names == b.sums.names
    assert a.design == b.design
    assert a.dropped == b.dropped and a.n_rows_read == b.n_rows_read
    np.testing.assert_array_equal(a.sums.counts, b.sums.counts)
    scale = np.abs(a.sums.cross).max()
    assert np.abs(a.sums.cross - b.sums.cross).max() <= rel * scale


def _frame(n_groups: int = 12, per: int = 15, seed: int = 5) -> pd.DataFrame:
    """A table with what readers disagree on: ids equal as numbers but not as text, one id
    and one level in two Unicode spellings, quoted cells, empty cells, a slope far from 0."""
    rng = np.random.default_rng(seed)
    ids = ["0100", "100", "007", "7", "12", "012", "3", "30", "300", "4", "40", "400"]
    rows = []
    for g in range(n_groups):
        u = rng.normal(0, 1)
        for i in range(per):
            x = rng.normal(0, 1)
            z = rng.normal(0, 1)
            level = ["plain", 'a, "quoted"\nlevel', unicodedata.normalize("NFD", "é-level")][i % 3]
            if i % 5 == 0:
                level = "é-level"  # the NFC spelling of the same level
            rows.append(
                {
                    "school": ids[g],
                    "y": 2.75 * x - 0.5 * z + u + rng.normal(0, 0.5),
                    "x": x,
                    NFD: z,  # a header in NFD
                    "kind": level,
                }
            )
    frame = pd.DataFrame(rows)
    frame.loc[frame.index % 17 == 4, "x"] = np.nan  # empty cells: missing (default tokens)
    # one school written composed in some rows and decomposed in others
    frame.loc[frame["school"] == "40", "school"] = unicodedata.normalize("NFD", "Zürich")
    frame.loc[frame.index % 30 == 0, "school"] = "Zürich"
    return frame


def _config(tmp_path, data, name="c", **keys):
    keys = {
        "outcome": "y",
        "predictors": ["x", NFC, "kind"],  # the config writes the name composed
        "group": "school",
        **keys,
    }
    return load_spec(write_config(tmp_path, name, data=data, **keys))


def _csv_parts(frame: pd.DataFrame, folder, n: int = 4, seed: int = 1) -> None:
    """Parts whose headers list the columns in different orders."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), n)):
        order = list(rng.permutation(frame.columns)) if i else list(frame.columns)[::-1]
        frame.iloc[part][order].to_csv(folder / f"part-{i}.csv", index=False)


def _parquet_parts(frame: pd.DataFrame, folder, n: int = 4, seed: int = 2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), n)):
        order = list(rng.permutation(frame.columns))
        chunk = frame.iloc[part][order].astype({"school": str})
        pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), folder / f"p{i}.parquet")


# 1. columns by name, 3. ids as text and missing values, 4. NFC, 6. quoted cells, 7. every path


def test_every_path_gives_the_same_sample(tmp_path, duck, spark):
    frame = _frame()
    frame.to_csv(tmp_path / "one.csv", index=False)
    memory = prepare_in_memory(_config(tmp_path, tmp_path / "one.csv"), tmp_path / "one.csv")
    # ids as written: 0100 and 100 are two groups; Zürich in two spellings is one
    assert {"0100", "100", "007", "7", "Zürich"} <= set(memory.group_labels)
    assert len(memory.group_labels) == 12
    assert memory.group_labels == sorted(memory.group_labels)  # not all numbers: as text
    assert memory.categorical["kind"] == ['a, "quoted"\nlevel', "plain", "é-level"]
    assert memory.dropped == {"x": int(frame["x"].isna().sum())}
    _csv_parts(frame, tmp_path / "csv")
    _parquet_parts(frame, tmp_path / "pq")
    for folder in ("csv", "pq"):
        spec = _config(tmp_path, tmp_path / folder)
        _same(memory, _engine_sums(spec, duck))
        _same(memory, _engine_sums(spec, spark))


def test_parts_in_another_column_order_fit_as_one_file(tmp_path, capsys):
    """The class of the silent swap: every permutation of the header in every part."""
    frame = _frame().drop(columns=["kind"])
    frame.to_csv(tmp_path / "one.csv", index=False)
    _csv_parts(frame, tmp_path / "parts", n=6, seed=9)
    results = {}
    for name, data in (("one", tmp_path / "one.csv"), ("parts", tmp_path / "parts")):
        config = write_config(
            tmp_path, name, data=data, outcome="y", predictors=["x", NFC], group="school"
        )
        assert main(["fit", str(config), "--out", str(tmp_path / f"out-{name}")]) == 0
        results[name] = (tmp_path / f"out-{name}" / "results.json").read_text()
    one, parts = (json.loads(results[k]) for k in ("one", "parts"))
    assert one["models"].keys() == parts["models"].keys()
    for name, model in one["models"].items():
        assert model["loglik"] == pytest.approx(parts["models"][name]["loglik"], rel=1e-9)
    assert "data: read 6 files" in capsys.readouterr().err
    assert (one["data"]["files_read"], parts["data"]["files_read"]) == (1, 6)


def test_names_differing_in_case_stay_apart_and_are_named(tmp_path, duck, spark, capsys):
    frame = _frame().drop(columns=["kind"])
    frame["Y"] = -frame["y"]  # another column, differing from y only in case
    frame.to_csv(tmp_path / "one.csv", index=False)
    _csv_parts(frame, tmp_path / "parts")
    _parquet_parts(frame, tmp_path / "pq")
    spec = _config(tmp_path, tmp_path / "one.csv", predictors=["x"])
    memory = prepare_in_memory(spec, spec.data)
    for folder in ("parts", "pq"):
        parts = _config(tmp_path, tmp_path / folder, predictors=["x"])
        _same(memory, _engine_sums(parts, duck))
        _same(memory, _engine_sums(parts, spark))
    # a part that spells the outcome `Y` only: named, with the near name
    lake = tmp_path / "case"
    _csv_parts(frame.drop(columns=["Y"]), lake)
    frame.drop(columns=["y"]).head(20).to_csv(lake / "part-9.csv", index=False)
    config = write_config(
        tmp_path, "case", data=lake, outcome="y", predictors=["x"], group="school"
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'y' is missing from part-9.csv" in err[0], err
    assert "the file has 'Y'" in err[0]


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_two_unicode_spellings_of_one_column_name_are_refused(tmp_path, capsys, form):
    frame = pd.DataFrame({"g": [1, 1, 2, 2], "y": [1.0, 2, 3, 5], NFD: [1, 2, 3, 4]})
    frame[NFC] = frame[NFD]
    path = tmp_path / f"d.{form}"
    if form == "csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    config = write_config(tmp_path, "n", data=path, outcome="y", predictors=[NFC], group="g")
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "two Unicode spellings" in err[0], err


@pytest.mark.parametrize("tokens", [["NA"], ["", "NA"]])
def test_missing_values_mean_the_same_on_every_path(tmp_path, duck, capsys, tokens):
    """`missing_values: [NA]`: an empty cell is no missing value (the README's list is the
    only one); in a number column it is a stray token, refused by memory and engine alike."""
    frame = _frame().drop(columns=["kind"])
    frame.to_csv(tmp_path / "one.csv", index=False, na_rep="")
    _csv_parts(frame, tmp_path / "parts")
    outcomes = []
    for name, data in (("one", tmp_path / "one.csv"), ("parts", tmp_path / "parts")):
        config = write_config(
            tmp_path, name, data=data, outcome="y", predictors=["x"], group="school",
            missing_values=tokens,
        )  # fmt: skip
        code = main(["fit", str(config), "--out", str(tmp_path / f"out-{name}")])
        outcomes.append((code, capsys.readouterr().err.strip().splitlines()[-1]))
    if "" in tokens:
        assert [c for c, _ in outcomes] == [0, 0], outcomes
    else:
        assert [c for c, _ in outcomes] == [2, 2], outcomes
        for _, err in outcomes:
            assert "column 'x'" in err and "add it to missing_values" in err, err


def test_a_text_predictor_with_thousands_of_levels_is_refused_before_allocation(
    tmp_path, capsys, monkeypatch
):
    fetched = []  # the engine hands back no more levels than a design may hold
    frame_of = engines.DuckDB.frame
    monkeypatch.setattr(
        engines.DuckDB,
        "frame",
        lambda self, sql: fetched.append(frame_of(self, sql)) or fetched[-1],
    )
    rng = np.random.default_rng(1)
    n = 6000
    frame = pd.DataFrame(
        {"g": rng.integers(0, 50, n), "y": rng.normal(size=n), "id": [f"s{i}" for i in range(n)]}
    )
    frame.to_csv(tmp_path / "wide.csv", index=False)
    _csv_parts(frame, tmp_path / "parts")
    for name, data in (("one", tmp_path / "wide.csv"), ("parts", tmp_path / "parts")):
        config = write_config(tmp_path, name, data=data, outcome="y", predictors=["id"], group="g")
        assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "'id' has 6,000 distinct values" in err[0], err
        assert f"at most {MAX_TERMS:,}" in err[0]
    assert fetched and max(len(f) for f in fetched) <= MAX_TERMS + 2
    # an interaction of two text columns multiplies their dummies
    frame["a"] = [f"a{i % 40}" for i in range(n)]
    frame["b"] = [f"b{i % 30}" for i in range(n)]
    frame.to_csv(tmp_path / "inter.csv", index=False)
    config = write_config(
        tmp_path, "inter", data=tmp_path / "inter.csv", outcome="y", predictors=["a", "b"],
        interactions=["a:b"], group="g",
    )  # fmt: skip
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "design columns" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["abc", "100", "0GB", "-1GB", "1e3GB", ""])
def test_a_bad_duckdb_memory_setting_is_named(tmp_path, capsys, monkeypatch, value):
    monkeypatch.setattr(engines, "DUCKDB_MEMORY", value)
    _csv_parts(_frame(), tmp_path / "parts")
    config = write_config(
        tmp_path, "m", data=tmp_path / "parts", outcome="y", predictors=["x"], group="school"
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HLM_DUCKDB_MEMORY" in err[0], err


@pytest.mark.parametrize("value", ["1GB", "512MB", "2GiB", "50%", "1.5 gb"])
def test_good_duckdb_memory_settings_are_accepted(monkeypatch, value):
    monkeypatch.setattr(engines, "DUCKDB_MEMORY", value)
    open_engine("duckdb").close()


def test_spark_reads_rfc4180_cells_as_duckdb(tmp_path, duck, spark):
    cells = ["a, b", 'say ""hi""', "two\nlines", "", "plain", 'x,""y""\nz']
    lines = ["g,y,t"]
    for i in range(240):
        cell = cells[i % len(cells)]
        lines.append(f'{i % 13},{i * 0.37 % 5:.3f},"{cell}"')
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "a.csv").write_text("\n".join(lines[:121]) + "\n")
    (folder / "b.csv").write_text("\n".join([lines[0], *lines[121:]]) + "\n")
    spec = load_spec(
        write_config(tmp_path, "q", data=folder, outcome="y", predictors=["t"], group="g")
    )
    a, b = _engine_sums(spec, duck), _engine_sums(spec, spark)
    _same(a, b)
    assert a.categorical["t"] == sorted(
        {"a, b", 'say "hi"', "two\nlines", "plain", 'x,"y"\nz'}
    )  # the empty cell is missing by default


# 2. discovery


def test_discovery_skips_hidden_underscore_and_output_folders_at_any_depth(tmp_path):
    lake = tmp_path / "lake"
    good = [lake / "a.csv", lake / "2024" / "b.csv", lake / "2024" / "x" / "c.csv"]
    bad = [
        lake / ".ipynb_checkpoints" / "a-checkpoint.csv",
        lake / "2024" / ".ipynb_checkpoints" / "b.csv",
        lake / "2024" / "x" / "_temporary" / "0" / "part.csv",
        lake / "_temporary" / "c.csv",
        lake / "2024" / ".hidden.csv",
        lake / "2024" / "_SUCCESS.csv",
        lake / "out" / "rows.parquet",  # the tool's results folder (results.json beside)
        lake / "report" / "rows.csv",  # a folder with the tool's marker
    ]
    for f in good + bad:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("g,y\n1,2\n")
    (lake / "out" / "results.json").write_text("{}")
    (lake / "report" / ".hlm-report").write_text("{}")
    os.symlink(lake, lake / "2024" / "loop")  # a symlink loop
    os.symlink(lake / "a.csv", lake / "2024" / "again.csv")  # a file reached twice
    found = discover(lake)
    assert found.files == sorted(good)
    assert found.skipped >= 7
    for pattern in ("**/*.csv", "*/**/*.csv", "2024/**/*.csv"):
        files = discover(lake / pattern).files
        real = [os.path.realpath(f) for f in files]
        assert set(real) <= {str(f) for f in good} and len(real) == len(set(real))
        assert all(
            not any(p.startswith((".", "_")) for p in f.relative_to(lake).parts) for f in files
        )
    assert discover(lake / "**" / "*.csv").files == sorted(good)
    # a component that names a hidden folder literally is followed
    assert discover(lake / "_temporary" / "*.csv").files == [lake / "_temporary" / "c.csv"]
    assert discover(lake / "*/*/_temporary/*/*.csv").files == [bad[2]]
    with pytest.raises(InputError, match="no file matches"):
        discover(lake / "*" / "*.ipynb_checkpoints")


def test_a_symlink_loop_under_a_double_star_reads_each_part_once(tmp_path):
    frame = _frame().drop(columns=["kind"])
    lake = tmp_path / "lake"
    _csv_parts(frame, lake / "data")
    os.symlink(lake, lake / "data" / "again")
    os.symlink(lake / "data", lake / "data" / "self")
    spec = _config(tmp_path, lake / "**" / "*.csv", predictors=["x"])
    prepared = prepare(spec)
    assert prepared.files_read == 4 and prepared.n_rows_read == len(frame)


def test_the_tools_own_output_inside_the_data_folder_is_not_read(tmp_path):
    """Outputs written into the data folder (an older `fit --out`, a report folder with the
    tool's marker) are not data: their rows.parquet would duplicate rows."""
    frame = _frame().drop(columns=["kind"])
    data = tmp_path / "data"
    _parquet_parts(frame, data)
    config = write_config(tmp_path, "o", data=data, outcome="y", predictors=["x"], group="school")
    assert main(["fit", str(config), "--out", str(tmp_path / "first")]) == 0
    spec = load_spec(config)
    for out in (data / "out", data, data / "out" / "deeper"):
        out.mkdir(exist_ok=True)
        for name in ("results.json", "rows.parquet"):
            (out / name).write_bytes((tmp_path / "first" / name).read_bytes())
        assert prepare(spec).n_rows_read == len(frame), out
    report = data / "report"
    _parquet_parts(frame, report)  # a report folder (marker): nothing in it is data
    (report / ".hlm-report").write_text("{}")
    assert prepare(spec).n_rows_read == len(frame)


def test_a_literal_path_that_exists_is_not_a_glob(tmp_path):
    frame = _frame().drop(columns=["kind"])
    path = tmp_path / "scores[2024].csv"
    frame.to_csv(path, index=False)
    (tmp_path / "scores2.csv").write_text("other\n1\n")  # what the glob would match
    assert discover(path).files == [path]
    spec = _config(tmp_path, path, predictors=["x"])
    assert prepare(spec).n_rows_read == len(frame)
    with pytest.raises(InputError, match="no file matches"):
        discover(tmp_path / "scores[19]*.csv")


@pytest.mark.parametrize("where", ["memory", "engine"])
def test_a_design_over_the_memory_budget_is_refused_before_allocation(
    tmp_path, capsys, monkeypatch, where
):
    """Fewer than MAX_TERMS columns, but their per-group squares over many groups (or the
    columns over many rows) beyond the budget: refused naming the column and its levels."""
    prepare_module = importlib.import_module("hlm_analysis.data.prepare")
    monkeypatch.setattr(prepare_module, "DESIGN_BYTES", 50 * 2**20)  # 50 MiB, for a small test
    rng = np.random.default_rng(2)
    n = 6000
    frame = pd.DataFrame(
        {
            "g": rng.integers(0, 1500, n),
            "y": rng.normal(size=n),
            "c": [f"c{i % 300}" for i in range(n)],
        }
    )
    if where == "memory":
        frame.to_csv(tmp_path / "d.csv", index=False)
        data = tmp_path / "d.csv"
    else:
        _csv_parts(frame, tmp_path / "parts")
        data = tmp_path / "parts"
    config = write_config(tmp_path, "b", data=data, outcome="y", predictors=["c"], group="g")
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'c' has 300 distinct values" in err[0] and "GiB" in err[0], err


@pytest.mark.parametrize("config_form", ["NFC", "NFD"])
@pytest.mark.parametrize("file_form", ["NFC", "NFD"])
def test_names_levels_and_ids_match_in_either_unicode_form(tmp_path, duck, config_form, file_form):
    def form(text, kind):
        return unicodedata.normalize(kind, text)

    rng = np.random.default_rng(4)
    n = 240
    frame = pd.DataFrame(
        {
            form("Schüler-Schule", file_form): [
                form(f"Zürich-{i % 8}", file_form) for i in range(n)
            ],
            "y": rng.normal(size=n),
            form("Größe", file_form): rng.normal(size=n),
            "Typ": [form(["Ä", "B", "Ö"][i % 3], file_form) for i in range(n)],
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    keys = {
        "outcome": "y",
        "predictors": [form("Größe", config_form), "Typ"],
        "group": form("Schüler-Schule", config_form),
        "reference": {"Typ": form("Ö", config_form)},
        "labels": {form("Größe", config_form): "Size"},
    }
    spec = load_spec(write_config(tmp_path, "u", data=tmp_path / "d.csv", **keys))
    memory = prepare_in_memory(spec, spec.data)
    assert memory.categorical["Typ"] == ["Ö", "B", "Ä"]  # NFC, the reference first
    assert memory.group_labels == [f"Zürich-{i}" for i in range(8)]
    assert "Größe" in memory.terms_of and spec.labels == {"Größe": "Size"}
    _csv_parts(frame, tmp_path / "parts")
    parts = load_spec(write_config(tmp_path, "p", data=tmp_path / "parts", **keys))
    _same(memory, _engine_sums(parts, duck))


def test_an_unlisted_empty_cell_is_text_on_every_path(tmp_path, duck, spark):
    """With `missing_values: [NA]` an empty text cell is the level '' in memory, DuckDB and
    Spark alike (no reader drops it on its own), and NA cells are missing everywhere."""
    frame = _frame().drop(columns=["kind"])
    frame["x"] = frame["x"].fillna(0.0)
    frame["kind"] = [["", "NA", "a", "b"][i % 4] for i in range(len(frame))]
    path = tmp_path / "one.csv"
    frame.to_csv(path, index=False)
    assert ",," in path.read_text() or ",\n" in path.read_text()
    keys = {"predictors": ["x", NFC, "kind"], "missing_values": ["NA"]}
    memory = prepare_in_memory(_config(tmp_path, path, **keys), path)
    assert memory.categorical["kind"] == ["", "a", "b"]
    assert memory.dropped == {"kind": len(frame) // 4}
    _csv_parts(frame, tmp_path / "parts")
    spec = _config(tmp_path, tmp_path / "parts", name="p", **keys)
    _same(memory, _engine_sums(spec, duck))
    _same(memory, _engine_sums(spec, spark))


@pytest.mark.parametrize("where", ["memory", "parts"])
def test_a_bad_duckdb_memory_variable_is_named_whichever_path_the_data_take(
    tmp_path, capsys, monkeypatch, where
):
    monkeypatch.setenv("HLM_DUCKDB_MEMORY", "abc")
    frame = _frame().drop(columns=["kind"])
    frame.to_csv(tmp_path / "one.csv", index=False)
    _csv_parts(frame, tmp_path / "parts")
    data = tmp_path / ("one.csv" if where == "memory" else "parts")
    config = write_config(tmp_path, "e", data=data, outcome="y", predictors=["x"], group="school")
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HLM_DUCKDB_MEMORY='abc'" in err[0], err


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_a_bad_spark_partitions_variable_is_named(monkeypatch, value):
    monkeypatch.setenv("HLM_SPARK_PARTITIONS", value)
    with pytest.raises(InputError, match="HLM_SPARK_PARTITIONS"):
        open_engine("spark")


def test_a_numeric_missing_token_means_the_same_number_on_every_path(tmp_path, duck, spark):
    """`missing_values: ["-99"]` makes -99, -99.0 and -99.00 missing in a number column, as
    pandas reads it in memory (the engines compared the text only)."""
    frame = _frame().drop(columns=["kind"])
    frame["x"] = frame["x"].round(3).astype(object)
    frame.loc[frame.index % 9 == 1, "x"] = "-99"
    frame.loc[frame.index % 9 == 2, "x"] = "-99.0"
    frame.loc[frame.index % 9 == 3, "x"] = "-99.00"
    path = tmp_path / "one.csv"
    frame.to_csv(path, index=False)
    keys = {"predictors": ["x"], "missing_values": ["-99", ""]}
    memory = prepare_in_memory(_config(tmp_path, path, **keys), path)
    assert memory.dropped["x"] >= 3 * (len(frame) // 9)
    _csv_parts(frame, tmp_path / "parts")
    spec = _config(tmp_path, tmp_path / "parts", name="p", **keys)
    _same(memory, _engine_sums(spec, duck))
    _same(memory, _engine_sums(spec, spark))


ODD_CELLS = [" 3", "3 ", "+2", "1e1", ".5", "5.", "-0", "0x1", "1_0", "inf", "NaN", "nan"]
ODD_CELLS += ["TRUE", "1,5", "", "NA", " ", "\t4"]


@pytest.mark.parametrize("cell", ODD_CELLS)
def test_an_odd_cell_in_a_number_column_reads_alike_in_memory_and_in_parts(tmp_path, cell):
    """Each path either reads the cell as the same number (or missing) or refuses it with the
    same line: DuckDB read 1_0 as 10 where pandas, in memory, refuses it."""
    rng = np.random.default_rng(0)
    lines = ["g,y,x"]
    for i in range(60):
        x = cell if i == 5 else f"{rng.normal():.3f}"
        lines.append(f"{i % 6},{rng.normal():.3f},{x}" if "," not in x else f'{i % 6},0,"{x}"')
    (tmp_path / "one.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.csv").write_text("\n".join(lines[:31]) + "\n")
    (tmp_path / "parts" / "b.csv").write_text("\n".join([lines[0], *lines[31:]]) + "\n")
    outcomes = []
    for data in ("one.csv", "parts"):
        spec = _config(tmp_path, tmp_path / data, name=data, predictors=["x"], group="g")
        try:
            p = prepare(spec)
            outcomes.append((p.n_obs, p.dropped, p.sums.cross.sum().round(9)))
        except InputError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


LEVEL_SETS = [["a", "b", "1"], ["TRUE", "FALSE"], ["true", "False"], ["yes", "no", ""]]
LEVEL_SETS += [["x", "y", "NA"], ["a", "A"], ["é", unicodedata.normalize("NFD", "é"), "e"]]
LEVEL_SETS += [[" a", "a"], ["1", "01", "x"]]


@pytest.mark.parametrize("levels", LEVEL_SETS)
def test_text_predictor_levels_read_alike_in_memory_and_in_parts(tmp_path, levels):
    """The levels of a text predictor (and so its design terms) are the same on both paths;
    pandas reads TRUE/FALSE as booleans named True/False, and the engines name them so."""
    rng = np.random.default_rng(1)
    lines = ["g,y,x,t"]
    for i in range(84):
        lines.append(f"{i % 7},{rng.normal():.3f},{rng.normal():.3f},{levels[i % len(levels)]}")
    (tmp_path / "one.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.csv").write_text("\n".join(lines[:43]) + "\n")
    (tmp_path / "parts" / "b.csv").write_text("\n".join([lines[0], *lines[43:]]) + "\n")
    outcomes = []
    for data in ("one.csv", "parts"):
        spec = _config(tmp_path, tmp_path / data, name=data, predictors=["x", "t"], group="g")
        try:
            p = prepare(spec)
            outcomes.append((p.categorical, p.dropped, p.sums.names, p.sums.cross.sum().round(9)))
        except InputError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


OUTCOME_SETS = [["yes", "no"], ["TRUE", "FALSE"], ["true", "false"], ["0", "1"], ["Y", "N"]]
OUTCOME_SETS += [["1.0", "0.0"], ["1", "1.0", "0"], ["True", "False", ""]]


@pytest.mark.parametrize("values", OUTCOME_SETS)
def test_a_yes_no_outcome_is_coded_and_named_alike_in_memory_and_in_parts(tmp_path, values):
    rng = np.random.default_rng(0)
    lines = ["g,y,x"]
    for i in range(140):
        lines.append(f"{i % 7},{values[int(rng.integers(0, len(values)))]},{rng.normal():.3f}")
    (tmp_path / "one.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.csv").write_text("\n".join(lines[:71]) + "\n")
    (tmp_path / "parts" / "b.csv").write_text("\n".join([lines[0], *lines[71:]]) + "\n")
    outcomes = []
    for data in ("one.csv", "parts"):
        spec = _config(
            tmp_path, tmp_path / data, name=data, predictors=["x"], group="g", family="binomial"
        )
        p = prepare(spec)
        outcomes.append((p.design.event, p.design.non_event, p.dropped, p.sums.cross.sum()))
    assert outcomes[0][:3] == outcomes[1][:3]
    assert outcomes[0][3] == pytest.approx(outcomes[1][3], rel=1e-12)


def _typed_parts(folder, frame: pd.DataFrame, types: list[dict[str, pa.DataType]]) -> None:
    """One Parquet part per entry of `types`, each storing the named columns as that type."""
    folder.mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), len(types))):
        table = pa.Table.from_pandas(frame.iloc[part], preserve_index=False)
        for column, kind in types[i].items():
            at = table.schema.get_field_index(column)
            table = table.set_column(at, column, table[column].cast(kind))
        pq.write_table(table, folder / f"p{i}.parquet")


def test_parts_storing_a_number_column_as_different_types_read_alike(tmp_path, duck, spark):
    # decimal128 beside double (Spark failed: 'An error occurred while calling o108.getResult'
    # and a Java stack trace), int32 / int64 / float / double beside each other, integer group
    # ids int32 in one part and int64 in the others; the first part holds the widest type
    # (DuckDB reads every part as the first part's type)
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "school": rng.integers(1, 21, n),
            "x": rng.integers(-40, 40, n),
            "z": rng.integers(0, 9, n),
            "y": np.round(rng.normal(50, 10, n), 2),  # exact as decimal(10, 2) too
        }
    )
    frame["y"] += 0.5 * frame["x"]
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    types = [
        {"y": pa.float64(), "x": pa.float64()},
        {"y": pa.decimal128(10, 2), "x": pa.int32(), "school": pa.int32(), "z": pa.int8()},
        {"x": pa.int64(), "z": pa.float32()},
        {"y": pa.decimal128(12, 3), "x": pa.int16()},
    ]
    _typed_parts(tmp_path / "lake", frame, types)
    keys = {"outcome": "y", "predictors": ["x", "z"], "group": "school"}
    one = load_spec(write_config(tmp_path, "one", data=tmp_path / "one.parquet", **keys))
    lake = load_spec(write_config(tmp_path, "lake", data=tmp_path / "lake", **keys))
    memory = prepare_in_memory(one, tmp_path / "one.parquet")
    assert memory.group_labels == [str(g) for g in range(1, 21)]  # integer ids, not 1.0
    _same(memory, _engine_sums(lake, duck))
    _same(memory, _engine_sums(lake, spark))


def test_parts_whose_first_holds_the_narrowest_type_keep_every_value(tmp_path, duck, spark):
    # DuckDB reads every file of one read_parquet as the first file's type: int32 first made a
    # later part's 2.5 into 2 and 0.001 into 0, decimal(10, 2) first made 1.123456789 into 1.12,
    # float32 first rounded doubles (exit 0); each set of types is now read on its own and cast
    rng = np.random.default_rng(11)
    n = 600
    frame = pd.DataFrame(
        {
            "school": rng.integers(1, 25, n),
            "x": rng.normal(0, 3, n),
            "z": rng.normal(0, 1, n),
            "y": rng.normal(50, 10, n),
        }
    )
    first = np.array_split(np.arange(n), 3)[0]  # the first part's values fit its narrow types
    frame.loc[first, "x"] = np.round(frame.loc[first, "x"])
    frame.loc[first, "y"] = np.round(frame.loc[first, "y"], 2)
    frame.loc[first, "z"] = np.round(frame.loc[first, "z"] * 4) / 4
    frame["y"] += 0.5 * frame["x"]
    frame.loc[first, "y"] = np.round(frame.loc[first, "y"], 2)
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    narrow = {"x": pa.int32(), "y": pa.decimal128(10, 2), "z": pa.float32()}
    _typed_parts(tmp_path / "lake", frame, [narrow, {}, {"school": pa.int32()}])
    keys = {"outcome": "y", "predictors": ["x", "z"], "group": "school"}
    one = load_spec(write_config(tmp_path, "one", data=tmp_path / "one.parquet", **keys))
    lake = load_spec(write_config(tmp_path, "lake", data=tmp_path / "lake", **keys))
    memory = prepare_in_memory(one, tmp_path / "one.parquet")
    _same(memory, _engine_sums(lake, duck))
    _same(memory, _engine_sums(lake, spark))


def test_a_row_cut_short_is_refused_on_every_path(tmp_path, duck, spark):
    # Spark's CSV reader padded a short row with nulls and the row was dropped as missing, exit
    # 0, where memory and DuckDB refuse it (verify round 32)
    folder = tmp_path / "short"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "g,x,y\n" + "".join(f"{i % 5},{i},{i * 0.5}\n" for i in range(20))
    )
    (folder / "b.csv").write_text("g,x,y\n1,2,3.5\n2,3\n3,4,1.5\n4,5,2.5\n")
    spec = load_spec(
        write_config(tmp_path, "s", data=folder, outcome="y", predictors=["x"], group="g")
    )
    for engine in (duck, spark):  # named with the part and its line, as memory names it
        with pytest.raises(InputError, match=r"^data file b\.csv, line 3: 2 cells where the h"):
            _engine_sums(spec, engine)


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        (
            "cp1252",
            r"^data file b\.csv is not UTF-8 text \(line 3 holds byte 0xe9; it looks like Wind",
        ),
        ("utf-16", r"^data file b\.csv is not UTF-8 text \(it looks like UTF-16\)"),
    ],
)
def test_a_part_in_another_encoding_is_named_on_every_path(
    tmp_path, duck, spark, encoding, expected
):
    # DuckDB said 'CSV Error on Line: 2' (cp1252), source 'column y is missing from b.csv'
    # (UTF-16), neither naming the encoding (verify round 32)
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "a.csv").write_text("g,x,y\n" + "".join(f"{i % 5},{i},{i}.5\n" for i in range(9)))
    (folder / "b.csv").write_bytes("g,x,y\n1,2,3\nRené,3,4\n".encode(encoding))
    spec = load_spec(
        write_config(tmp_path, "e", data=folder, outcome="y", predictors=["x"], group="g")
    )
    for engine in (duck, spark):
        with pytest.raises(InputError, match=expected):
            _engine_sums(spec, engine)
    with pytest.raises(InputError, match=expected):  # memory reading the part alone: the same
        read_table(folder / "b.csv")


@pytest.mark.parametrize("two_levels", [False, True])
def test_ids_stored_as_integers_in_some_parts_and_floats_in_another_keep_memory_names(
    tmp_path, duck, spark, two_levels
):
    # DuckDB and Spark read the ids as doubles and named the groups '1.0' where memory (the
    # same rows in one file of integers) names them '1' (verify round 32)
    rng = np.random.default_rng(4)
    n = 240
    school = rng.integers(1, 13, n)
    frame = pd.DataFrame(
        {"district": (school + 1) // 2, "school": school, "x": rng.normal(0, 1, n)}
    )
    frame["y"] = frame["x"] + 0.3 * frame["school"] + rng.normal(0, 1, n)
    frame.to_parquet(tmp_path / "one.parquet", index=False)
    as_float = {"school": pa.float64(), "district": pa.float64()}
    _typed_parts(tmp_path / "lake", frame, [{}, as_float, {"school": pa.int32()}])
    group = ["district", "school"] if two_levels else "school"
    keys = {"outcome": "y", "predictors": ["x"], "group": group}
    one = load_spec(write_config(tmp_path, "one", data=tmp_path / "one.parquet", **keys))
    lake = load_spec(write_config(tmp_path, "lake", data=tmp_path / "lake", **keys))
    memory = prepare_in_memory(one, tmp_path / "one.parquet")
    assert "1.0" not in str(memory.group_labels)
    _same(memory, _engine_sums(lake, duck))
    _same(memory, _engine_sums(lake, spark))
