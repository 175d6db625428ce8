"""Review 32 (/work/notes/review-32.md): the summary's sentence on the share of the variation
between groups once the predictors are in, when that share grew (it said '26% remains between
districts' beside 15% before any predictor)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from helpers import fixture_results

from hlm_analysis.present import narrative
from hlm_analysis.present.facts import facts


def _with_share_after(results, share: float | None, adjusted: float | None = None):
    final = results.final
    models = {
        **results.models,
        final.name: replace(final, icc_residual=share, icc_adjusted=adjusted),
    }
    return replace(results, models=models)


def _summary(results) -> str:
    return " ".join(narrative.executive_summary(copy.deepcopy(facts(results))).split())


@pytest.fixture(scope="module")
def schools():
    return fixture_results("schools")  # the null model's ICC is 0.151 (15%)


def test_a_share_between_groups_that_grew_is_said_to_grow_not_to_remain(schools):
    text = _summary(_with_share_after(schools, 0.26))
    assert "15% of the variation in" in text
    assert (
        "Once the model's predictors are taken into account, the share between schools grows to "
        "26%: the predictors account for more of the differences between students in the same "
        "school than of those between schools."
    ) in text
    assert "remains between" not in text


def test_a_share_that_fell_remains_and_one_that_held_is_still_there(schools):
    fell = _summary(_with_share_after(schools, 0.06))
    assert "Once the model's predictors are taken into account, 6% remains between schools." in fell
    held = _summary(_with_share_after(schools, 0.1512))  # 15% as printed, as before
    assert "the share between schools is still 15%." in held
    assert "remains between" not in held and "grows to" not in held
