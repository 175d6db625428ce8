"""Verify round 32: CSV rows and values that one reader took quietly and another refused."""

from __future__ import annotations

import re

import pytest

from hlm_analysis.data.load import read_table
from hlm_analysis.errors import InputError


def test_a_row_cut_short_is_refused_not_read_as_missing_cells(tmp_path):
    # pandas fills the absent cells of a short row with missing values, so the row was dropped
    # as "missing y" (exit 0) where DuckDB and Spark's readers refuse the file.
    path = tmp_path / "d.csv"
    path.write_text('g,x,y\nA,1,2.5\nB,"2\n3",1.5\nC,3\nD,4,0.5\n')
    with pytest.raises(InputError, match=r"d\.csv, line 5: 2 cells where the header has 3"):
        read_table(path)
    path.write_text("g,x,y\nA,1,2.5\n,,\nC,3,\n")  # empty cells, every row whole: read
    assert read_table(path)["y"].isna().tolist() == [False, True, True]


def test_a_line_break_inside_a_quoted_header_is_one_header_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b'\xef\xbb\xbfg,"x\nnew",y\r\nA,"1",2.5\r\nB,2,\r\n')
    assert read_table(path).columns.tolist() == ["g", "x\nnew", "y"]


def _many_levels(tmp_path, levels: int, n: int = 1200):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "school": [f"S{i}" for i in rng.integers(0, 30, n)],
            "cat": [f"L{i:03d}" for i in np.arange(n) % levels],
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
        }
    )
    frame.to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "lake").mkdir()
    for i in range(2):
        frame.iloc[i::2].to_csv(tmp_path / "lake" / f"p{i}.csv", index=False)


def test_a_design_of_many_columns_is_summed_in_parts_on_the_engine_path(tmp_path, monkeypatch):
    # A text predictor of 200 levels is about 20,000 sums per group in one GROUP BY, past what
    # DuckDB 2.0 holds per group (aggregate states beyond a 256 KiB block): the process died of
    # SIGFPE, no message (exit 136). The sums are now asked for in parts (here parts of 7, so a
    # small design shows it), and equal memory's.
    import numpy as np
    from helpers import write_config

    from hlm_analysis.data import aggregate, route
    from hlm_analysis.spec import load_spec

    monkeypatch.setattr(aggregate, "AGGREGATES_PER_QUERY", 7)
    _many_levels(tmp_path, 6, n=240)
    keys = dict(outcome="y", predictors=["cat", "x"], group="school")
    lake = route.prepare(load_spec(write_config(tmp_path, name="lake", data="lake", **keys)))
    one = route.prepare(load_spec(write_config(tmp_path, name="one", data="one.csv", **keys)))
    assert lake.sums.names == one.sums.names and len(lake.sums.names) == 8
    assert np.allclose(lake.sums.cross, one.sums.cross, rtol=1e-12, atol=1e-9)
    assert (lake.sums.counts == one.sums.counts).all()
    # group means by algebra (a group-centred x) ask for their monomials' sums in parts too
    keys["centering"] = {"x": "group"}
    lake = route.prepare(load_spec(write_config(tmp_path, name="lake", data="lake", **keys)))
    one = route.prepare(load_spec(write_config(tmp_path, name="one", data="one.csv", **keys)))
    assert np.allclose(lake.sums.cross, one.sums.cross, rtol=1e-10, atol=1e-9)


def test_a_part_written_with_decimal_commas_is_refused_not_read_as_text():
    # One part of three exported by a European Excel ("0,83"): a third of the cells were not
    # numbers, so the column was text, a factor of one level per value (a misleading "more
    # parameters than rows" refusal, or with few distinct values a fit with exit 0).
    import pandas as pd

    from hlm_analysis.data.load import numeric_columns

    values = [f"{i / 10}" for i in range(20)] + [f"{i // 10},{i % 10}" for i in range(10)]
    with pytest.raises(InputError, match=r"'x': .*'0,0'.*decimal mark"):
        numeric_columns(pd.DataFrame({"x": values}), ["x"])
    # genuinely text stays text
    text = pd.DataFrame({"x": ["a", "b", "1,2"] * 5})
    assert numeric_columns(text, ["x"])["x"].tolist() == text["x"].tolist()


@pytest.mark.parametrize(
    ("text", "said"),
    [("g;y\n1;2\n", "separated by ';'"), ("g\ty\n1\t2\n", "separated by '\\t'")],
)
def test_a_part_with_another_separator_is_named_as_such(tmp_path, text, said):
    # was "column 'y' is missing from b.csv (present in a.csv)"
    from hlm_analysis.data.source import open_source

    (tmp_path / "a.csv").write_text("g,y\n1,2\n")
    (tmp_path / "b.csv").write_text(text)
    with pytest.raises(InputError, match=rf"b\.csv: the file looks {re.escape(said)}"):
        open_source(tmp_path, ["g", "y"])
