"""Figure and table captions say what this report's picture shows (review-levels #13): no
yes/no wording in a report on a continuous outcome, no "outermost" for crossed factors, the
configured noun instead of a bare "group", and the level a panel shows.

Captions are built for every figure name the .qmd uses, from the committed fixtures: a linear
one-level report (schools), a binary one (graduation), three levels (pupils in classes in
schools), growth and crossed factors (ScotsSec)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from helpers import fixture_results

from hlm_analysis.present import captions, document, tables

FIGURES = [
    "distributions",
    "correlations",
    "group_boxes",
    "group_means",
    "trajectories",
    "interaction",
    "group_slopes",
    "caterpillar",
    "probabilities",
    "actual_vs_predicted",
    "diagnostics",
    "calibration",
    "binned_residuals",
]
# the tables every report shows (descriptives of several levels read the row sample: left out)
TABLES = ["groups", "levels", "ladder", "comparisons", "selection", "variance", "coefficients"]
YES_NO = re.compile(r"yes/no|log-odds|probabilit|share of the event|the event", re.I)
BARE_GROUP = re.compile(r"\bgroups?\b", re.I)


def _figure_captions(name: str) -> dict[str, str]:
    results = fixture_results(name)
    out = {}
    for figure in FIGURES:
        text = captions.caption(figure, results, results.final)
        if text:
            out[figure] = text
    return out


def _table_captions(name: str) -> dict[str, str]:
    results = fixture_results(name)
    out = {}
    for table in TABLES:
        label = f"tbl-{table}"
        if table == "variance":
            text = tables.variance_components(results, results.final, label)
        elif table == "coefficients":
            text = tables.coefficients(results, results.final, label)
        else:
            text = document._TABLES[table](results, label)
        found = re.search(r"^: (.*) \{#tbl-", text, re.M)
        if found:
            out[table] = found.group(1)
    return out


@pytest.mark.parametrize("name", ["schools", "hsb2", "levels_pupils", "levels_growth"])
def test_a_continuous_outcome_gets_no_yes_no_wording(name):
    for figure, text in _figure_captions(name).items():
        assert not YES_NO.search(text), (figure, text)
    assert "calibration" not in _figure_captions(name)


def test_a_yes_no_outcome_says_log_odds_and_probabilities():
    found = _figure_captions("graduation")
    assert "log-odds" in found["caterpillar"]
    assert "predicted probabilities that a student graduated on time" in found["group_slopes"]
    assert "share of students" in found["group_means"]  # the mean of a 0/1 outcome is a share
    assert {"calibration", "binned_residuals", "probabilities"} <= set(found)
    assert "actual_vs_predicted" not in found and "diagnostics" not in found


def test_crossed_factors_are_never_outermost_or_nested():
    found = {**_figure_captions("levels_scotssec"), **_table_captions("levels_scotssec")}
    assert found
    for name, text in found.items():
        assert "outermost" not in text.lower() and "innermost" not in text.lower(), (name, text)
    assert "one row of panels per crossed factor" in found["caterpillar"]
    assert "148 primary schools and 19 secondary schools" in found["caterpillar"]
    assert "one panel per crossed factor" in found["group_means"]


def test_three_levels_name_each_level_in_order():
    found = _figure_captions("levels_pupils")
    assert (
        "one row of panels per level, outermost first: 100 schools and 600 classes"
        in (found["caterpillar"])
    )
    # every school and class has 72 and 12 pupils: the panels show the spread of the means
    assert "the 100 schools (72 pupils each)" in found["group_means"]
    assert "small" not in found["group_means"]
    assert "school intercepts" in found["diagnostics"]  # the model's effects: the outermost level


def test_growth_names_the_level_and_how_many_lines_are_drawn():
    found = _figure_captions("levels_growth")
    slopes = found["group_slopes"]
    assert slopes.startswith("Each school's own line for Year")
    assert "30 of the 60 schools, every 2nd" in slopes
    assert "the children have lines of their own, not drawn" in slopes
    assert "random sample of children" in found["trajectories"]
    assert "five schools" in found["trajectories"]


@pytest.mark.parametrize(
    "name", ["schools", "graduation", "levels_pupils", "levels_growth", "levels_scotssec"]
)
def test_no_bare_group_where_a_noun_is_configured(name):
    found = _figure_captions(name)
    if name in ("schools", "graduation"):  # one level: the tables' captions too
        found |= _table_captions(name)
    for caption_of, text in found.items():
        assert not BARE_GROUP.search(text), (caption_of, text)


def test_without_a_noun_the_report_says_group():
    # hsb2 groups by "ses" (label "Socioeconomic status"): no noun, so "groups" is right
    found = _figure_captions("hsb2")
    assert "groups" in found["caterpillar"]


def test_the_caterpillar_caption_counts_the_groups_left_out_for_privacy():
    results = fixture_results("schools")
    g = results.data.groups
    shrunk = dataclasses.replace(g, n=tuple(2 if i in (0, 3, 7) else k for i, k in enumerate(g.n)))
    results = dataclasses.replace(results, data=dataclasses.replace(results.data, groups=shrunk))
    text = captions.caption("caterpillar", results, results.final)
    assert text.startswith("The 20 schools\\' effects")
    assert "(3 schools with fewer than 5 students not shown)" in text
