"""Verify round 32: values one part writes another way, through the whole `fit` (memory and
DuckDB paths)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import write_config

from hlm_analysis.cli import main


def _frame(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 10)
    flag = rng.integers(0, 2, g.size)
    y = rng.normal(0, 1, 12)[g] + 0.5 * flag + rng.normal(0, 1, g.size)
    return pd.DataFrame({"school": [f"S{i}" for i in g], "flag": flag, "y": y})


def _fit(tmp_path, capsys, frame, path):
    if path == "lake":
        (tmp_path / "lake").mkdir()
        for i in range(3):
            frame.iloc[i::3].to_csv(tmp_path / "lake" / f"part-{i}.csv", index=False)
    elif path == "memory":
        frame.to_csv(tmp_path / "lake.csv", index=False)
    data = "lake.csv" if path == "memory" else "lake"  # "reuse": the lake as the test left it
    config = write_config(tmp_path, data=data, outcome="y", predictors=["flag"], group="school")
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("path", ["memory", "lake"])
@pytest.mark.parametrize("spellings", [("TRUE", "FALSE"), ("yes", "no")])
def test_a_yes_no_column_spelled_two_ways_is_refused_not_four_levels(
    tmp_path, capsys, path, spellings
):
    # One export writes TRUE/FALSE (or yes/no) where another wrote 1/0: the column became a
    # factor of four levels (1, FALSE, TRUE beside 0), four coefficients, exit 0.
    frame = _frame()
    rows = frame.index[frame.index % 3 == 1]
    frame["flag"] = frame["flag"].astype(object)
    frame.loc[rows, "flag"] = [
        spellings[0] if v == 1 else spellings[1] for v in frame.loc[rows, "flag"]
    ]
    code, err = _fit(tmp_path, capsys, frame, path)
    assert code == 2 and len(err) == 1, err
    assert "'flag'" in err[0] and f"'{spellings[0]}'" in err[0] and "'1'" in err[0], err
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_yes_no_column_spelled_one_way_is_read(tmp_path, capsys):
    frame = _frame()
    frame["flag"] = np.where(frame["flag"] == 1, "yes", "no")
    code, err = _fit(tmp_path, capsys, frame, "lake")
    assert code == 0, err


def test_a_copied_part_is_refused_not_read_twice(tmp_path, capsys):
    # 'part-1 (copy).csv' (a file manager's copy, a hard link) doubled its rows: every standard
    # error shrank with exit 0.
    frame = _frame()
    code, err = _fit(tmp_path, capsys, frame, "lake")
    assert code == 0, err
    lake = tmp_path / "lake"
    (lake / "part-1 (copy).csv").write_bytes((lake / "part-1.csv").read_bytes())
    code, err = _fit(tmp_path, capsys, frame, "reuse")
    assert code == 2 and len(err) == 1, err
    assert "part-1 (copy).csv" in err[0] and "part-1.csv" in err[0] and "same" in err[0], err


def test_empty_parts_alike_are_not_copies(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = _frame()
    (tmp_path / "lake").mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "lake/p0.parquet")
    empty = pa.Table.from_pandas(frame.iloc[:0], preserve_index=False)
    pq.write_table(empty, tmp_path / "lake/p1.parquet")
    pq.write_table(empty, tmp_path / "lake/p2.parquet")  # Spark writes empty partitions alike
    code, err = _fit(tmp_path, capsys, frame, "reuse")
    assert code == 0, err
    (tmp_path / "lake/p0 copy.parquet").hardlink_to(tmp_path / "lake/p0.parquet")
    code, err = _fit(tmp_path, capsys, frame, "reuse")
    assert code == 2 and "p0 copy.parquet" in err[0], err
