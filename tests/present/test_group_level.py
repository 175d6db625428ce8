"""Variables of the groups described at the group level (issue 21, item 7): one value per
group in the descriptives, the categorical counts and the histograms, checked against pandas
on the data files."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import FIXTURES, TESTS

from hlm_analysis.present import figures, tables
from hlm_analysis.present.fmt import md_escape


def _per_group(data: str, group: str, column: str) -> pd.Series:
    frame = pd.read_csv(TESTS.parent / "data" / data)
    values = frame.groupby(group)[column]
    assert (values.nunique() == 1).all()  # constant within every group
    return values.first()


def test_a_numeric_group_level_variable_is_described_over_the_groups(schools):
    level2 = _per_group("schools.csv", "SchoolID", "SchoolQuality")
    s = schools.data.group_level["SchoolQuality"]
    assert s.n == len(level2) == schools.data.n_groups
    assert s.mean == pytest.approx(level2.mean(), rel=1e-12)
    assert s.sd == pytest.approx(level2.std(ddof=1), rel=1e-12)
    assert (s.min, s.median, s.max) == pytest.approx(
        (level2.min(), level2.median(), level2.max()), rel=1e-12
    )
    assert set(schools.data.group_level) == {
        v.name for v in schools.design.variables if v.group_level and v.kind == "numeric"
    }
    table = tables.descriptives(schools, "tbl-desc")
    row = next(line for line in table.splitlines() if "one value per school" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    label = schools.spec.labels.get("SchoolQuality", "SchoolQuality")
    assert cells[0] == md_escape(f"{label} (one value per school)")
    assert cells[1] == str(schools.data.n_groups)  # groups, not rows
    assert "described over the schools" in table
    # a row-level variable keeps its per-row N
    assert f"| {schools.data.n_obs:,} |" in table


def test_a_categorical_group_level_variable_counts_groups(graduation):
    level2 = _per_group("graduation.csv", "School", "Mentoring")
    counts = {c.level: c.n for c in graduation.data.group_level_counts["Mentoring"]}
    assert counts == level2.value_counts().to_dict()
    assert sum(counts.values()) == graduation.data.n_groups
    table = tables.categorical(graduation, "tbl-cat")
    assert "one value per school" in table
    for level, n in counts.items():
        assert f"| {md_escape(level)} | {n} |" in table
    assert "FreeLunch" not in graduation.data.group_level_counts  # varies within schools


def test_the_histogram_of_a_group_level_variable_counts_each_group_once(schools):
    rows = pd.read_parquet(FIXTURES / "schools" / "rows.parquet")
    fig = figures.plot_distributions(schools, rows)
    name = schools.spec.labels.get("SchoolQuality", "SchoolQuality")
    (ax,) = [a for a in fig.axes if a.get_title().replace("\n", " ").startswith(name)]
    assert "one value per school" in ax.get_title().replace("\n", " ")
    assert sum(p.get_height() for p in ax.patches) == schools.data.n_groups
