"""Binary outcomes (family: binomial) at the edge: how the outcome is coded to 0/1, which value is
the event, and every way a config or a column can be wrong, each exit 2 with one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import write_config
from test_bad_input import PREFIX, fit, refused

from hlm_analysis.data.outcome import code_binary
from hlm_analysis.spec import Spec


def frame(outcome, n_groups: int = 12, per: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_groups * per
    return pd.DataFrame(
        {
            "g": np.repeat([f"s{i}" for i in range(n_groups)], per),
            "x": rng.normal(size=n),
            "y": outcome(rng, n),
        }
    )


def config(tmp_path, data: pd.DataFrame, **keys):
    path = tmp_path / "binary.csv"
    data.to_csv(path, index=False)
    base = {"outcome": "y", "predictors": ["x"], "group": "g", "family": "binomial"}
    return write_config(tmp_path, data=path, **{**base, **keys})


def spec(**keys) -> Spec:
    return Spec.model_validate(
        {"title": "t", "data": "d.csv", "outcome": "y", "group": "g", "family": "binomial", **keys}
    )


@pytest.mark.parametrize(
    ("values", "event", "expected_event"),
    [
        ([0, 1, 1, 0], None, "1"),
        ([0.0, 1.0, np.nan, 1.0], None, "1"),
        ([False, True, True, False], None, "true"),
        (["no", "yes", "yes", "no"], None, "yes"),
        (["N", "Y", "Y", "N"], None, "Y"),  # the second level in sorted order
        (["pass", "fail", "pass", "fail"], None, "pass"),
        (["pass", "fail", "pass", "fail"], "fail", "fail"),
        ([1, 2, 2, 1], None, "2"),
        ([1, 2, 2, 1], "1", "1"),
        ([0, 1, 1, 0], "0", "0"),
        ([False, True, True, False], "TRUE", "true"),
    ],
)
def test_outcome_coding(values, event, expected_event):
    series = pd.Series(values)
    coded, coding = code_binary(spec(event=event), series)
    assert coding.event == expected_event
    present = series.notna()
    written = series[present].map(
        lambda v: "true" if v is True else "false" if v is False else str(v).removesuffix(".0")
    )
    assert coded[present].tolist() == (written == expected_event).astype(float).tolist()
    assert coded[~present].isna().all()


def test_a_text_outcome_with_an_event_fits(tmp_path, capsys):
    data = frame(lambda rng, n: np.where(rng.random(n) < 0.4, "proficient", "not yet"))
    code, err, out = fit(tmp_path, capsys, config(tmp_path, data, event="proficient"))
    assert code == 0, err
    raw = json.loads((out / "results.json").read_text())
    assert raw["design"]["event"] == "proficient" and raw["design"]["non_event"] == "not yet"
    assert set(raw["models"]) == {"logistic", "logistic_cluster", "null", "random_intercept"}
    for name, model in raw["models"].items():
        assert model["family"] == "binomial"
        assert model["nagq"] == (1 if name in ("null", "random_intercept") else None)
        for fe in model["fixed_effects"]:
            assert fe["odds_ratio"] == pytest.approx(math.exp(fe["estimate"]))
            assert fe["odds_ratio_ci_low"] < fe["odds_ratio"] < fe["odds_ratio_ci_high"]
            assert fe["df"] is None or name == "logistic_cluster"  # z tests
        assert not any(vc["group"] == "Residual" for vc in model.get("variance_components", []))
    assert "icc" in raw["models"]["null"] and raw["models"]["null"]["median_odds_ratio"]


@pytest.mark.parametrize(
    ("outcome", "keys", "expected"),
    [
        (
            lambda rng, n: rng.integers(0, 3, n),
            {},
            ["outcome 'y' has 3 different values", "exactly two"],
        ),
        (lambda rng, n: rng.normal(size=n), {}, ["outcome 'y' has 120 different values"]),
        (lambda rng, n: np.full(n, "yes"), {}, ["outcome 'y' has one value only ('yes')"]),
        (
            lambda rng, n: np.where(rng.random(n) < 0.5, "yes", "no"),
            {"event": "Yes"},
            ["event: 'Yes' does not occur in outcome 'y'", "'no', 'yes'"],
        ),
        (
            lambda rng, n: rng.integers(0, 2, n),
            {"random_slopes": ["x"], "nagq": 10},
            ["nagq: 10 quadrature points need a random intercept alone"],
        ),
        (lambda rng, n: rng.integers(0, 2, n), {"family": "poisson"}, ["key 'family'", "binomial"]),
        (lambda rng, n: rng.integers(0, 2, n), {"nagq": 0}, ["key 'nagq'"]),
        (
            lambda rng, n: rng.integers(0, 2, n),
            {"family": "gaussian", "event": "1"},
            ["event: is for binary outcomes"],
        ),
    ],
)
def test_bad_binary_input_is_one_line(tmp_path, capsys, outcome, keys, expected):
    refused(tmp_path, capsys, config(tmp_path, frame(outcome), **keys), *expected)


def test_refusals_start_with_the_prefix(tmp_path, capsys):
    data = frame(lambda rng, n: rng.integers(0, 3, n))
    code, err, _ = fit(tmp_path, capsys, config(tmp_path, data))
    assert code == 2 and err[0].startswith(PREFIX)
