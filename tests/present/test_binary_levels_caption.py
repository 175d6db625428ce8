"""The variance-components table of a yes/no outcome with several levels names the Laplace
likelihood its tests use (glmer's criterion) and the log-odds scale; a linear one says REML."""

from __future__ import annotations

from helpers import fixture_results

from hlm_analysis.present import tables


def test_a_yes_no_outcomes_variance_table_names_its_likelihood_and_scale():
    binary = fixture_results("levels_binary")
    caption = tables.variance_components(binary, binary.final, "tbl-variance").splitlines()[-1]
    assert "Laplace likelihood ratio" in caption and "REML" not in caption
    assert "on the log-odds scale" in caption
    linear = fixture_results("levels_pupils")
    caption = tables.variance_components(linear, linear.final, "tbl-variance").splitlines()[-1]
    assert "REML likelihood ratio" in caption and "log-odds" not in caption
