"""The likelihood-ratio table names the reference distribution its p was computed from, for each
kind of step (review-levels #14): one variance at its boundary (50:50 chi2(0):chi2(1)); a slope
variance with its covariances (50:50 chi2(k-1):chi2(k), Stram & Lee's approximation);
intercepts at k levels at once (binomial mixture of chi2(0..k)); several variances at once (the
naive chi2(k) p, conservative). The comparisons are recomputed from the fixtures' fitted models
(model/analysis.py), so label and p come from the same decision."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import fixture_results

from hlm_analysis.model import stats
from hlm_analysis.model.analysis import _comparisons
from hlm_analysis.present import tables
from hlm_analysis.results import ModelName, Reference, VarianceComponent


def _step(results, a: ModelName, b: ModelName):
    return next(c for c in _comparisons(results.models) if (c.model_a, c.model_b) == (a, b))


def test_one_variance_at_its_boundary_is_the_50_50_mixture_of_chi2_0_and_1():
    results = fixture_results("schools")
    c = _step(results, ModelName.OLS, ModelName.RANDOM_INTERCEPT)
    assert c.df == 1 and c.p_value_method == Reference.CHI_BAR
    assert c.p_value == pytest.approx(0.5 * c.p_value_naive)  # chi2(0) has no tail above 0
    assert tables.reference_label(c.p_value_method, c.df) == "50:50 χ²(0) and χ²(1)"


def test_a_slope_with_its_covariance_is_stram_and_lee():
    results = fixture_results("schools")
    c = _step(results, ModelName.RANDOM_INTERCEPT, ModelName.RANDOM_SLOPE)
    assert c.df == 2 and c.p_value_method == Reference.CHI_BAR
    assert c.p_value == pytest.approx(stats.chibar_p(c.statistic, 2))
    assert c.p_value < c.p_value_naive
    assert tables.reference_label(c.p_value_method, c.df) == ("50:50 χ²(1) and χ²(2) (Stram & Lee)")


def test_intercepts_at_several_levels_are_the_binomial_mixture():
    results = fixture_results("levels_pupils")
    c = _step(results, ModelName.OLS, ModelName.RANDOM_INTERCEPT)
    assert c.df == 2 and c.p_value_method == Reference.CHI_BAR_LEVELS
    assert c.p_value == pytest.approx(stats.chibar_levels_p(c.statistic, 2))
    assert tables.reference_label(c.p_value_method, c.df) == "χ²(0) to χ²(2), binomial weights"


def test_slopes_at_two_levels_at_once_use_the_conservative_naive_p():
    # growth: year's slope variance at the school and the child level, with two covariances
    results = fixture_results("levels_growth")
    c = _step(results, ModelName.RANDOM_INTERCEPT, ModelName.RANDOM_SLOPE)
    assert c.df == 4 and c.p_value_method == Reference.CHI_SQUARE_CONSERVATIVE
    assert c.p_value == c.p_value_naive
    assert tables.reference_label(c.p_value_method, c.df) == "naive χ²(4), conservative"
    shown = tables.comparisons(dataclasses.replace(results, comparisons=(c,)), "tbl-c")
    assert "50:50" not in shown and "naive χ²(4), conservative" in shown
    assert "no simple mixture holds; the naive p is larger than the true one" in shown


def test_two_slopes_at_one_level_use_the_conservative_naive_p():
    results = fixture_results("schools")
    slope = results.models[ModelName.RANDOM_SLOPE]
    extra = VarianceComponent(
        group=results.spec.group, term1="second", term2=None, estimate=0.09, sdcor=0.3
    )
    models = {
        **results.models,
        ModelName.RANDOM_SLOPE: dataclasses.replace(
            slope, variance_components=(*slope.variance_components, extra)
        ),
    }
    c = next(
        c
        for c in _comparisons(models)
        if (c.model_a, c.model_b) == (ModelName.RANDOM_INTERCEPT, ModelName.RANDOM_SLOPE)
    )
    assert c.p_value_method == Reference.CHI_SQUARE_CONSERVATIVE and c.p_value == c.p_value_naive


def test_the_caption_explains_only_the_references_used():
    caption = tables.comparisons(fixture_results("schools"), "tbl-c")
    assert "Stram & Lee" in caption and "binomial weights" not in caption
    assert "conservative" not in caption
    # hsb2 adds one variance at a time: no slope, so no Stram & Lee
    caption = tables.comparisons(fixture_results("hsb2"), "tbl-c")
    assert "50:50 χ²(0) and χ²(1): one added variance" in caption and "Stram" not in caption


def test_the_methods_say_when_a_step_used_the_naive_chi2(tmp_path):
    from helpers import FIXTURES

    from hlm_analysis.present.document import ReportDocument
    from hlm_analysis.results import write_json

    for name, naive in (("levels_growth", True), ("levels_pupils", False)):
        results = fixture_results(name)
        # the comparisons as the fit step makes them now (the fixtures predate the naive case)
        results = dataclasses.replace(results, comparisons=tuple(_comparisons(results.models)))
        folder = tmp_path / name
        folder.mkdir()
        write_json(results, folder / "results.json")
        (folder / "rows.parquet").write_bytes((FIXTURES / name / "rows.parquet").read_bytes())
        text = ReportDocument(folder / "results.json").methods()
        assert ("several variances at once" in text) is naive, name
        assert "50:50 chi-bar-square reference" in text
