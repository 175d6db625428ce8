"""Verify round 32: CSV rows and values that one reader took quietly and another refused."""

from __future__ import annotations

import pytest

from hlm_analysis.data.load import read_table
from hlm_analysis.errors import InputError


def test_a_row_cut_short_is_refused_not_read_as_missing_cells(tmp_path):
    # pandas fills the absent cells of a short row with missing values, so the row was dropped
    # as "missing y" (exit 0) where DuckDB and Spark's readers refuse the file.
    path = tmp_path / "d.csv"
    path.write_text('g,x,y\nA,1,2.5\nB,"2\n3",1.5\nC,3\nD,4,0.5\n')
    with pytest.raises(InputError, match=r"d\.csv: a row holds 2 of the header's 3 columns"):
        read_table(path)
    path.write_text("g,x,y\nA,1,2.5\n,,\nC,3,\n")  # empty cells, every row whole: read
    assert read_table(path)["y"].isna().tolist() == [False, True, True]


def test_a_line_break_inside_a_quoted_header_is_one_header_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b'\xef\xbb\xbfg,"x\nnew",y\r\nA,"1",2.5\r\nB,2,\r\n')
    assert read_table(path).columns.tolist() == ["g", "x\nnew", "y"]
