"""Average predictions of a multilevel logistic model over the observed rows (issue 21, item 6),
against R: glmer(y ~ trt + week + (1 | ID), bacteria, binomial) with the averages of plogis(X b
+ u) computed by hand (tests/reference/make_average_predictions_reference.R, values in
average_predictions_reference.json; marginaleffects' avg_predictions does the same)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import REFERENCE, fit, write_config

R = json.loads((REFERENCE / "average_predictions_reference.json").read_text())


@pytest.fixture(scope="module")
def model():
    tmp = Path(tempfile.mkdtemp())
    config = write_config(
        tmp, data=REFERENCE / "bacteria.csv", outcome="y", family="binomial",
        predictors=["trt", "week"], group="ID", reference={"trt": "placebo"},
    )  # fmt: skip
    return fit(config, tmp / "out").final


def _key(variable, level, value):
    return (variable, level, None if value is None else round(value, 9))


def test_average_predictions_match_r(model):
    ours = {_key(a.variable, a.level, a.value): a for a in model.average_predictions}
    assert len(ours) == len(R["average_predictions"]) == 1 + 3 + 25
    for row in R["average_predictions"]:
        a = ours[_key(row["variable"], row["level"], row["value"])]
        # measured: 7e-8 (estimates) and 3e-5 relative (SEs) from R
        assert a.estimate == pytest.approx(row["modes"]["estimate"], abs=1e-5), row
        assert a.std_error == pytest.approx(row["modes"]["se"], rel=1e-3), row


def test_group_average_probabilities_match_r(model):
    effects = model.group_effects
    ours = dict(zip(effects.groups, effects.average_probability, strict=True))
    assert len(ours) == len(R["groups"])
    for row in R["groups"]:
        estimate, low, high = ours[row["group"]]
        assert low < estimate < high
        for got, want in ((estimate, row["estimate"]), (low, row["low"]), (high, row["high"])):
            assert got == pytest.approx(want, abs=1e-5), row


def test_average_predictions_agree_with_the_model_s_other_numbers(model):
    """The class of the 'typical member' error: every average must sit among the rows' own
    predictions. The data as observed averages the fitted probabilities (near the observed
    share), and a level's AME is the difference of two average predictions."""
    observed, *rest = model.average_predictions
    assert observed.variable is None
    assert observed.estimate == pytest.approx(
        R["average_predictions"][0]["modes"]["estimate"], abs=1e-3
    )
    assert abs(observed.estimate - R["observed_share"]) < 0.02
    trt = {a.level: a.estimate for a in rest if a.variable == "trt"}
    for level in ("drug", "drug+"):
        ame = model.effect(f"trt[T.{level}]").marginal_effect
        assert trt[level] - trt["placebo"] == pytest.approx(ame, abs=1e-12)
    week = [a for a in rest if a.variable == "week"]
    assert [a.value for a in week] == pytest.approx(np.linspace(0, 11, 25))
    assert all(0 < a.estimate < 1 and a.std_error > 0 for a in model.average_predictions)
