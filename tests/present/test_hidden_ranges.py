"""Groups below min_cell: the data table gives no minimum or maximum that is a hidden group's
own value (a school's mean SES, or the one pupil of a tiny school who scored lowest)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from helpers import fixture_results

from hlm_analysis.present import tables


def _schools(cut: int):
    """The schools fixture with min_cell `cut` and each group's range as describe.py keeps it
    when some group is below the cut: SchoolQuality (one value per school) at its extreme in the
    smallest school, ExamScore's lowest and highest rows in it too."""
    r = fixture_results("schools")
    g = r.data.groups
    n = np.asarray(g.n)  # 20 schools of 30: the first made a school of 3
    hidden = 0
    n[hidden] = 3
    quality = np.linspace(40.0, 60.0, len(n))
    quality[hidden] = 99.0  # the hidden school's own value, larger than any other
    exam = r.data.numeric["ExamScore"]
    exam_low = np.full(len(n), exam.min + 5.0)
    exam_high = np.full(len(n), exam.max - 5.0)
    exam_low[hidden], exam_high[hidden] = exam.min, exam.max
    age = r.data.numeric["StudentAge"]
    ages = (np.full(len(n), age.min), np.full(len(n), age.max))  # reached in shown schools too
    groups = replace(
        g,
        n=tuple(int(k) for k in n),
        low={
            "ExamScore": tuple(exam_low),
            "SchoolQuality": tuple(quality),
            "StudentAge": tuple(ages[0]),
        },
        high={
            "ExamScore": tuple(exam_high),
            "SchoolQuality": tuple(quality),
            "StudentAge": tuple(ages[1]),
        },
    )
    spec = r.spec.model_copy(update={"min_cell": cut})
    return replace(r, spec=spec, data=replace(r.data, groups=groups)), quality, n, exam


def _row(table: str, name: str) -> list[str]:
    line = next(x for x in table.splitlines() if x.startswith(f"| {name}"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_min_and_max_come_from_the_shown_groups_only():
    cut = 5
    results, quality, n, exam = _schools(cut)
    shown = [q for i, q in enumerate(quality) if n[i] >= cut]
    table = tables.descriptives(results, "tbl-x")
    label = next(x for x in table.splitlines() if "one value per school" in x)
    cells = [c.strip() for c in label.strip("|").split("|")]
    assert cells[1] == str(len(shown))  # N: the schools shown
    assert float(cells[6]) == max(shown) and "99" not in cells[6]
    assert abs(float(cells[2]) - float(np.mean(shown))) < 0.006
    exam_row = next(x for x in table.splitlines() if "| 0" not in x and "Exam" in x)
    exam_cells = [c.strip() for c in exam_row.strip("|").split("|")]
    assert float(exam_cells[4]) > exam.min and float(exam_cells[6]) < exam.max
    caption = table.split("\n: ")[1]
    assert f"described over the {len(shown)} schools shown" in caption
    assert f"given over the students of the {len(shown)} schools shown" in caption
    assert "1 school with fewer than 5 students is not shown" in caption
    # StudentAge's range is reached in shown schools as well: kept
    age = results.data.numeric["StudentAge"]
    age_cells = [c.strip() for c in next(x for x in table.splitlines() if "Age" in x).split("|")]
    assert abs(float(age_cells[5]) - age.min) < 0.006 and abs(float(age_cells[7]) - age.max) < 0.006


def test_nothing_hidden_nothing_changes():
    plain = fixture_results("schools")  # 20 schools of 30, none hidden
    ranges = _schools(5)[0].data.groups
    groups = replace(plain.data.groups, low=ranges.low, high=ranges.high)
    results = replace(plain, data=replace(plain.data, groups=groups))
    assert tables.descriptives(results, "tbl-x") == tables.descriptives(plain, "tbl-x")


def test_the_groups_table_names_the_configured_event():
    """event_label 'uses contraception': 'share of women who use contraception', not 'share
    with Uses contraception ... (share: Y)'; without one the outcome's code stays."""
    women = tables.groups(fixture_results("verify32_women_int"), "tbl-g").split("\n: ")[1]
    assert women.startswith("Districts: size and share of women who use contraception (25 of")
    assert "(share: Y)" not in women
    graduation = tables.groups(fixture_results("graduation"), "tbl-g").split("\n: ")[1]
    assert "share of students who graduated on time" in graduation
    plain = fixture_results("verify32_women_int")
    plain = replace(plain, spec=plain.spec.model_copy(update={"event_label": None}))
    caption = tables.groups(plain, "tbl-g").split("\n: ")[1]
    assert "size and share with Uses contraception" in caption and "(share: Y)" in caption


def test_a_clause_about_one_is_said_of_many():
    assert tables.of_many("uses contraception") == "use contraception"
    assert tables.of_many("passes the exam") == "pass the exam"
    assert tables.of_many("studies abroad") == "study abroad"
    assert tables.of_many("is employed") == "are employed"
    assert tables.of_many("has children") == "have children"
    assert tables.of_many("graduated on time") == "graduated on time"


def test_an_outer_levels_variable_leaves_out_its_hidden_groups():
    """Growth data: lowinc (one value per school) from the rows, over the schools shown."""
    import pandas as pd
    from helpers import FIXTURES

    from hlm_analysis.present import levels

    growth = fixture_results("levels_growth")
    rows = pd.read_parquet(FIXTURES / "levels_growth" / "rows.parquet")
    assert "| 60 |" in tables.descriptives(growth, "t", rows)  # no school below 5 pupils
    cut = sorted(levels.group_summary(growth, "schoolid").n)[2]  # hides the two smallest
    table = tables.descriptives(
        replace(growth, spec=growth.spec.model_copy(update={"min_cell": cut})), "t", rows
    )
    sizes = rows.groupby("schoolid").size()
    kept = rows.groupby("schoolid")["lowinc"].first()[sizes >= cut]
    assert len(kept) == 58
    cells = [c.strip() for c in next(x for x in table.splitlines() if "Low" in x).split("|")]
    assert cells[2] == "58" and abs(float(cells[3]) - kept.mean()) < 0.006
    assert f"2 schools with fewer than {cut} test scores are not shown" in table
