"""The two readers of a file in memory: pyarrow for clean files (data/read_arrow.py, the fit path
without pandas) and pandas for the rest (data/load.py). On a clean file both must hand the coder
the same columns, so the analysis sample (labels, codes, sums, sample, medians, missing counts)
is the same; on anything else the pyarrow reader must step aside (None), so the pandas reader's
rules and messages stay the only ones.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_config

from hlm_analysis.data.columns import columns_used
from hlm_analysis.data.load import read_columns
from hlm_analysis.data.prepare import Prepared, code_columns
from hlm_analysis.data.read_arrow import arrow_columns
from hlm_analysis.spec import load_spec


def _frame(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = rng.integers(0, 25, n) * 7 - 30  # numeric ids, negative ones, unsorted rows
    return pd.DataFrame(
        {
            "school": school,
            "name": np.array([f"S{s:+d}é" for s in school]),  # text ids, not ASCII
            "score": np.round(50 + rng.normal(0, 8, n) + school / 10, 3),
            "hours": np.round(rng.uniform(0, 10, n), 2),
            "count": rng.integers(0, 9, n),  # an integer predictor
            "flag": rng.integers(0, 2, n),  # 0/1
            "track": rng.choice(["voc", "acad", "gen", "Zeta", "alpha"], n),
            "unused": ["?"] * n,  # not used: never judged
        }
    )


def _with_missing(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"hours": object, "track": object, "count": object})
    frame.loc[[3, 50], "hours"] = "NA"
    frame.loc[[7], "track"] = ""
    frame.loc[[50, 90], "count"] = "."
    return frame


VARIANTS = {
    "numbers": dict(predictors=["hours", "count", "flag"], random_slopes=["hours"]),
    "text predictor and interaction": dict(
        predictors=["hours", "track"], interactions=["hours:track"]
    ),
    "centred and contextual": dict(
        predictors=["hours", "count"],
        centering={"hours": "group", "count": "grand"},
        contextual=["hours"],
    ),
    "chosen reference": dict(predictors=["track"], reference={"track": "voc"}),
}


def _both(tmp_path, frame: pd.DataFrame, suffix: str, **keys):
    path = tmp_path / f"data{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    keys.setdefault("outcome", "score")
    keys.setdefault("group", "school")
    spec = load_spec(write_config(tmp_path, data=path, **keys))
    used = columns_used(spec)
    arrow = arrow_columns(spec, path, used)
    assert arrow is not None, "a clean file must not need pandas"
    pandas, _ = read_columns(spec, path, used)
    return code_columns(spec, arrow), code_columns(spec, pandas)


def _same(a: Prepared, b: Prepared) -> None:
    assert a.group_labels == b.group_labels
    assert a.dropped == b.dropped and a.n_rows_read == b.n_rows_read
    assert a.design == b.design and a.categorical == b.categorical
    assert a.sums.names == b.sums.names
    np.testing.assert_array_equal(a.sums.counts, b.sums.counts)
    np.testing.assert_array_equal(a.sums.cross, b.sums.cross)
    np.testing.assert_array_equal(a.rows.group_codes, b.rows.group_codes)
    assert a.sample.measured.keys() == b.sample.measured.keys()
    for name in a.sample.measured:
        np.testing.assert_array_equal(a.sample.measured[name], b.sample.measured[name])
    assert a.medians == b.medians


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_clean_files_give_the_same_sample_from_either_reader(tmp_path, suffix, variant):
    arrow, pandas = _both(tmp_path, _frame(), suffix, **VARIANTS[variant])
    _same(arrow, pandas)
    assert arrow.group_labels[:2] == ["-30", "-23"]  # numeric ids sort as numbers


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_cells_and_text_ids_give_the_same_sample(tmp_path, suffix):
    frame = _with_missing(_frame())
    if suffix == ".parquet":  # typed columns with nulls, text cells spelled like a token
        frame = frame.replace({"NA": None, ".": None}).astype({"hours": float, "count": float})
    arrow, pandas = _both(
        tmp_path, frame, suffix, group="name", predictors=["hours", "count", "track"]
    )
    _same(arrow, pandas)
    assert arrow.dropped == {"hours": 2, "count": 2, "track": 1}
    assert arrow.n_obs == 400 - 4
    assert arrow.group_labels == sorted(arrow.group_labels)  # text ids sort as text


def test_numeric_group_ids_with_missing_cells_read_alike(tmp_path):
    frame = _frame().astype({"school": object})
    frame.loc[[0, 9], "school"] = "NA"  # pandas reads the column as decimals then
    arrow, pandas = _both(tmp_path, frame, ".csv", predictors=["hours"])
    _same(arrow, pandas)
    assert arrow.dropped == {"school": 2}


def test_rows_parquet_holds_the_group_labels_and_numbers(tmp_path):
    from hlm_analysis.model.analysis import run_analysis

    frame = _frame()
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    config = write_config(
        tmp_path, data=path, outcome="score", group="name", predictors=["hours", "track"]
    )
    results = run_analysis(load_spec(config), tmp_path / "out")
    rows = pd.read_parquet(tmp_path / "out" / results.sample.file)
    assert rows["name"].tolist() == frame["name"].tolist()  # every row, in file order
    np.testing.assert_array_equal(rows["hours"].to_numpy(), frame["hours"].to_numpy())
    assert str(rows["name"].dtype) in ("object", "str", "string")


# Each of these is a file (or config) the pyarrow reader must leave to pandas.
NOT_CLEAN = {
    "a stray token among numbers": ("hours", ["n/a"], {}),
    "a decimal comma": ("hours", ["4,5"], {}),
    "a number among text levels": ("track", ["7"], {}),
    "true and false": ("track", ["True"], {"all": True}),
    "a date": ("track", ["2024-01-05"], {"all": True}),
    "nan written out": ("hours", ["nan"], {}),
    "infinity": ("hours", ["inf"], {}),
    "an empty used column": ("hours", [""], {"all": True}),
}


@pytest.mark.parametrize("case", list(NOT_CLEAN))
def test_files_that_are_not_clean_go_to_pandas(tmp_path, case):
    column, cells, how = NOT_CLEAN[case]
    frame = _frame(60).astype({column: object})
    rows = list(range(len(frame))) if how.get("all") else [5]
    frame.loc[rows, column] = (cells * len(rows))[: len(rows)]
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    spec = load_spec(
        write_config(
            tmp_path, data=path, outcome="score", group="school", predictors=["hours", "track"]
        )
    )
    assert arrow_columns(spec, path, columns_used(spec)) is None


@pytest.mark.parametrize(
    "keys",
    [
        {"missing_values": ["-99", "NA"]},  # pandas also drops -99.0; the tokens are its rule
        {"family": "binomial", "outcome": "flag"},
    ],
    ids=["a numeric missing-value token", "a binary outcome"],
)
def test_configs_the_pyarrow_reader_leaves_to_pandas(tmp_path, keys):
    path = tmp_path / "data.csv"
    _frame(60).to_csv(path, index=False)
    keys = {"outcome": "score", "group": "school", "predictors": ["hours"], **keys}
    spec = load_spec(write_config(tmp_path, data=path, **keys))
    assert arrow_columns(spec, path, columns_used(spec)) is None


@pytest.mark.parametrize(
    "text",
    [
        "school,score,score\n1,2,3\n",  # a header used twice
        "school,score\n1,2\n1,2,3\n",  # a ragged row
        "school,score\n1,\xff\n",  # not UTF-8
    ],
    ids=["duplicate header", "ragged row", "not utf-8"],
)
def test_broken_files_go_to_pandas(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode("latin-1"))
    spec = load_spec(write_config(tmp_path, data=path, outcome="score", group="school"))
    assert arrow_columns(spec, path, columns_used(spec)) is None


def test_fitting_a_clean_file_does_not_import_pandas(tmp_path):
    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    config = write_config(
        tmp_path,
        data=path,
        outcome="score",
        group="name",
        predictors=["hours", "track"],
        random_slopes=["hours"],
    )
    # (scipy may load: profile intervals of the variances use its root finder at few groups)
    script = (
        "import sys; from hlm_analysis.cli import main; code = main(sys.argv[1:]); "
        "print(sorted(m for m in ('pandas', 'statsmodels', 'matplotlib', 'jinja2') "
        "if m in sys.modules)); sys.exit(code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, "fit", str(config), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# Found by probing the two readers against each other: files where pyarrow read something other
# than pandas did. Each must now read alike, or step aside to pandas.
ODD_CSV = {
    "hex integers": "g,y,x\n1,1.0,1\n1,2.0,0x10\n2,3.0,3\n2,4.5,4\n3,1.5,5\n3,2.5,7\n",
    "hex group ids": "g,y,x\n0xa,1.0,1\n0xa,2.0,2\n0xb,3.0,3\n0xb,4.5,4\n0xc,1.5,5\n0xc,2.5,7\n",
    "plus-signed group ids": "g,y,x\n+1,1.0,1\n+1,2.0,2\n2,3.0,3\n2,4.5,4\n3,1.5,5\n3,2.5,7\n",
    "group ids past int64": (
        "g,y,x\n1,1.0,1\n1,2.0,2\n9223372036854775808,3.0,3\n9223372036854775808,4.5,4\n"
        "3,1.5,5\n3,2.5,7\nNA,2.0,8\n"
    ),
}


def _outcome(spec, path):
    """What each reader makes of a file: the coded sample's labels and sums, or the error."""
    used = columns_used(spec)
    from hlm_analysis.errors import InputError

    def coded(read):
        try:
            p = code_columns(spec, read())
        except InputError as error:
            return str(error)
        return p.group_labels, p.dropped, p.sums.cross.tolist()

    arrow = arrow_columns(spec, path, used)
    pandas = coded(lambda: read_columns(spec, path, used)[0])
    return (None if arrow is None else coded(lambda: arrow)), pandas


@pytest.mark.parametrize("case", list(ODD_CSV))
def test_odd_numbers_read_as_pandas_reads_them(tmp_path, case):
    path = tmp_path / "data.csv"
    path.write_text(ODD_CSV[case])
    spec = load_spec(write_config(tmp_path, data=path, outcome="y", group="g", predictors=["x"]))
    arrow, pandas = _outcome(spec, path)
    assert arrow is None or arrow == pandas


def test_a_newline_inside_quotes_at_a_block_boundary(tmp_path):
    # Arrow cuts a large file into 1 MiB blocks at the last newline of each; when that newline
    # is inside a quoted cell and what follows looks like a row, the cell silently became two
    # rows unless Arrow is told newlines may sit in values
    head = "g,y,t\n" + "".join(f"{i % 7},{i % 5}.5,a\n" for i in range(60_000))
    filler = 1_048_576 - len(head.encode()) - len('1,2.5,"a') - 3
    text = head + '1,2.5,"a' + "x" * filler + '\n3,4.5,b"\n'
    text += "".join(f"{i % 7},{i % 3}.5,b\n" for i in range(100))
    path = tmp_path / "data.csv"
    path.write_text(text)
    spec = load_spec(write_config(tmp_path, data=path, outcome="y", group="g", predictors=["t"]))
    arrow, pandas = _outcome(spec, path)
    assert arrow == pandas


@pytest.mark.parametrize(
    "column",
    [
        pa.array([2**63, 2**63, 2**63 + 1, 2**63 + 1, 5, 5], pa.uint64()),
        pa.array([0.1, 0.1, 0.2, 0.2, 0.3, 0.3], pa.float32()),
        pa.array([0.1, 0.1, 0.2, 0.2, 0.3, 0.3], pa.float16()),
    ],
    ids=["uint64 past 2**63", "float32", "float16"],
)
def test_parquet_group_ids_read_as_pandas_reads_them(tmp_path, column):
    table = pa.table({"g": column, "y": [1.0, 2.0, 3.0, 4.5, 1.5, 2.5], "x": [1.0, 2, 3, 4, 5, 7]})
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    spec = load_spec(write_config(tmp_path, data=path, outcome="y", group="g", predictors=["x"]))
    arrow, pandas = _outcome(spec, path)
    assert not isinstance(pandas, str), pandas  # pandas codes them (float16 crashed it)
    assert arrow is None or arrow == pandas


@pytest.mark.parametrize("role", ["x", "g", "y"])
def test_an_all_missing_parquet_text_column(tmp_path, role):
    columns = {"g": pa.array([1, 1, 2, 2, 3, 3]), "y": pa.array([1.0, 2, 3, 4.5, 1.5, 2.5])}
    columns["x"] = pa.array([1.0, 2, 3, 4, 5, 7])
    columns[role] = pa.array([None] * 6, pa.string())
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table(columns), path)
    spec = load_spec(write_config(tmp_path, data=path, outcome="y", group="g", predictors=["x"]))
    arrow, pandas = _outcome(spec, path)
    assert isinstance(pandas, str)  # "every row has a missing value", or "text, not a number"
    assert arrow is None or arrow == pandas
