"""Alt text of the report's figures (issue 24): what each figure shows, with its key numbers,
taken from results.json, in the lexicon's words; the built-in engine writes it as the image's
alt, the .qmd's static fig-alt only where no sentence is made."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from helpers import FIXTURES

from hlm_analysis.present import alt_text, fmt
from hlm_analysis.render.markdown import cell_markdown
from hlm_analysis.render.qmd import Cell
from hlm_analysis.results import read_json


@pytest.fixture(scope="module")
def schools():
    results = read_json(FIXTURES / "schools" / "results.json")
    return results, results.models[results.final_model]


def test_group_boxes_name_the_groups_and_the_range_of_their_means(schools):
    results, final = schools
    means = results.data.groups.outcome_mean
    text = alt_text.describe("group_boxes", results, final)
    assert text == (
        "Box plots of Exam score in each of 20 schools, ordered by their mean; the school means "
        f"range from {fmt.num(min(means), 1)} to {fmt.num(max(means), 1)}."
    )
    assert "49.0 to 69.9" in text  # the data file's school means (pandas: 49.03, 69.90)


def test_caterpillar_gives_the_range_of_group_effects_and_their_sd(schools):
    results, final = schools
    effects = np.asarray(final.group_effects.estimate)[:, 0]
    sd = next(vc.sdcor for vc in final.variance_components if vc.term1 == "(Intercept)")
    text = alt_text.describe("caterpillar", results, final)
    assert f"from {fmt.num(effects.min())} to {fmt.num(effects.max())}" in text
    assert f"standard deviation of the school effects {fmt.num(sd)}" in text
    assert text.startswith("Estimated effects of the 20 schools, sorted")


def test_correlations_name_the_strongest_pair(schools):
    results, final = schools
    c = results.data.correlations
    text = alt_text.describe("correlations", results, final)
    r = c.matrix[c.variables.index("SchoolQuality")][c.variables.index("ExamScore")]
    assert f"The strongest is r = {fmt.num(r)} between School quality rating and Exam score" in text


def test_distributions_give_each_variables_mean_and_range(schools):
    results, final = schools
    s = results.data.numeric["ExamScore"]
    text = alt_text.describe("distributions", results, final)
    assert text.startswith("Histograms of 3 numeric variables (Exam score first).")
    assert f"Exam score: mean {fmt.sig(s.mean)}, SD {fmt.sig(s.sd)}" in text


@pytest.mark.parametrize("name", ["hsb2", "schools", "graduation"])
def test_every_figure_of_every_example_says_a_number(name):
    results = read_json(FIXTURES / name / "results.json")
    final = results.models[results.final_model]
    made = [alt_text.describe(f, results, final) for f in alt_text._BUILDERS]
    texts = [t for t in made if t]
    assert len(texts) >= 6
    assert all(any(ch.isdigit() for ch in t) and t.endswith(".") for t in texts), texts


def test_the_engine_writes_the_figures_own_alt_over_the_cells(tmp_path):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    cell = Cell(
        source="doc.figure('x')",
        options={"label": "fig-x", "fig-cap": "Cap", "fig-alt": "Static."},
    )
    own = {"output_type": "display_data", "data": {"image/png": png}}
    described = {**own, "metadata": {"image/png": {"alt": 'Means from 1.0 to "2.0".'}}}
    assert 'alt="Static."' in cell_markdown(cell, [own], tmp_path, False)
    text = cell_markdown(cell, [described], tmp_path, False)
    assert "alt=\"Means from 1.0 to '2.0'.\"" in text and "Static." not in text


def test_alt_text_of_several_levels_names_each_level_the_figure_shows():
    from helpers import fixture_results

    growth = fixture_results("levels_growth")
    cat = alt_text.describe("caterpillar", growth, growth.final)
    assert "one row of panels per level: 60 schools" in cat and "1,721 children" in cat
    # the lines and QQ intercepts are the model's effects of the outermost level: schools
    assert alt_text.describe("group_slopes", growth, growth.final).startswith("One line per school")
    assert "of the 60 school intercepts" in alt_text.describe("diagnostics", growth, growth.final)
    crossed = fixture_results("levels_scotssec")
    text = alt_text.describe("caterpillar", crossed, crossed.final)
    assert "per crossed factor: 148 primary schools" in text and "19 secondary schools" in text
    assert "group" not in alt_text.describe("group_boxes", crossed, crossed.final)
