"""Review 32's open items (/work/notes/review-32.md, "Seen, not fixed"), tested on the committed
fixtures (no fit, no render): a simple slope read at a mean the data table does not show; the
growth intercept printed as a three-digit zero beside jargon; "one unit" of a percentage; a lost
level noun in the implications; "Rows per group" on a figure axis; a heatmap for one number."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from helpers import FIXTURES, fixture_results

from hlm_analysis.present import document, figures, fmt, narrative, tables
from hlm_analysis.present.facts import facts


def _text(results) -> str:
    f = facts(results)
    parts = [
        narrative.executive_summary(copy.deepcopy(f)),
        narrative.interpretation(copy.deepcopy(f)),
        narrative.implications_section(copy.deepcopy(f)),
    ]
    return " ".join(" ".join(parts).split())


@pytest.fixture(scope="module")
def growth():
    return fixture_results("levels_growth")


@pytest.fixture(scope="module")
def pupils3():
    # x:m, m a pupil-level motivation score: row mean 0.00441, SD 0.988
    return fixture_results("verify32_pupils3")


def test_a_value_is_printed_to_the_precision_its_error_supports():
    assert fmt.to_error(-0.0025896, 0.12675) == "0.00"  # not "−0.00259"
    assert fmt.to_error(0.000143, 0.4137, 3) == "0.000"
    assert fmt.to_error(-0.4134, 0.4137, 3) == "\u22120.413"
    assert fmt.to_error(51.234, 2.1) == "51.2"
    assert fmt.to_error(0.00259, None) == "0.00259"  # no error known: significant figures


def test_a_simple_slope_at_the_mean_is_printed_at_the_moderators_scale(pupils3):
    text = _text(pupils3)
    assert "1.07 at mean (0.00)" in text
    assert "(0.004" not in text
    table = tables.simple_slopes(pupils3, "tbl-x")
    assert "Motivation = mean \\(0\\.00\\)" in table


def test_a_mean_of_a_variable_described_per_group_says_it_is_over_the_rows(pupils3):
    # hsb82: the data table gives school mean SES per school (mean -0.006 over 160 schools); the
    # simple slope is read at its mean over the 7,185 students (0.000143): it must say which
    summary = pupils3.data.numeric["m"]
    per_group = dataclasses.replace(
        pupils3, data=dataclasses.replace(pupils3.data, group_level={"m": summary})
    )
    text = _text(per_group)
    assert "1.07 at mean over pupils (0.00)" in text
    assert "at mean (" not in text
    table = tables.simple_slopes(per_group, "tbl-x")
    assert "Motivation = mean over pupils \\(0\\.00\\)" in table
    assert "Motivation = mean − 1 SD \\(−0\\.98\\)" in table


def test_the_growth_intercept_is_zero_at_its_precision_and_says_where_it_holds(growth):
    text = _text(growth)
    assert (
        "the average Mathematics score at Year = 0 is 0.00 (95% CI −0.26 to 0.25) where "
        "Low\\-income students in the school \\(%\\) = 0."
    ) in text
    assert "−0.00259" not in text
    assert "reference values" not in text


def test_a_percentage_moves_by_percentage_points(growth):
    text = _text(growth)
    assert (
        "where Low\\-income students in the school \\(%\\) is one percentage point higher" in text
    )
    assert "one unit higher" not in text


def test_implications_name_the_level_whose_groups_differ_most():
    text = _text(fixture_results("levels_pupils"))
    assert "decisions at the school level are where differences between schools are largest" in text
    assert "between groups" not in text


def test_figure_axes_use_the_configured_nouns(growth):
    fig = figures.plot_level_sizes(growth)
    assert [ax.get_xlabel() for ax in fig.axes] == [
        "Test scores per school",
        "Test scores per child",
    ]
    binary = fixture_results("graduation")
    ax = figures.plot_probabilities(binary, binary.final).axes[0]
    assert ax.get_xlabel().startswith("Schools ranked (n = ")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "school" in legend and "group" not in " ".join(legend)
    assert "rows" not in ax.get_title() and "group" not in ax.get_title()


def test_one_correlation_is_a_sentence_not_a_heatmap():
    doc = document.ReportDocument(FIXTURES / "levels_pupils" / "results.json")
    assert figures.plot_correlations(doc.results) is None
    assert (
        "Attainment score and Prior attainment \\(points\\) correlate at r = 0.54 (Pearson)."
        in doc.data_summary()
    )
    three = fixture_results("schools")  # three numeric variables: the heatmap stays
    assert figures.plot_correlations(three) is not None
    assert (
        "correlate at r ="
        not in document.ReportDocument(FIXTURES / "schools" / "results.json").data_summary()
    )


def test_the_heatmaps_wrapped_names_stay_level(growth):
    # seaborn set them upright (90 degrees) and the wrapped names ran into each other
    ax = figures.plot_correlations(growth).axes[0]
    assert [t.get_rotation() for t in ax.get_yticklabels()] == [0.0, 0.0, 0.0]
