"""results.json's numbers that cannot leave a range: an SD, a variance or an SE below 0, a
correlation outside [-1, 1], an ICC, a share, a reliability or a p outside [0, 1] fail the
published schema (`hlm-report schema`) and read_json, naming the field; the bounds themselves
(0 and 1 exactly, a boundary fit) pass, and so do the shipped fits."""

from __future__ import annotations

import copy
import json

import jsonschema
import numpy as np
import pytest
from helpers import FIXTURES

from hlm_analysis.results import SchemaError, from_dict
from hlm_analysis.schema import results_schema

VALIDATOR = jsonschema.Draft202012Validator(results_schema())


def _raw(name: str = "graduation") -> dict:
    return json.loads((FIXTURES / name / "results.json").read_text(encoding="utf-8"))


def _rows(raw: dict, model: str = "random_intercept"):
    return raw["models"][model]["variance_components"]


def _variance_row(raw):
    return next(r for r in _rows(raw) if r["term2"] is None and r["group"] != "Residual")


def _set(path: list, value):
    def change(raw: dict) -> str:
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return path[-1]

    return change


def _model_set(field: str, value, model: str = "random_intercept"):
    return _set(["models", model, field], value)


def _sd(value):
    def change(raw):
        _variance_row(raw)["sdcor"] = value
        return "sdcor"

    return change


def _variance(value):
    def change(raw):
        _variance_row(raw)["estimate"] = value
        return "estimate"

    return change


def _correlation(value):
    def change(raw):
        row = next(r for r in _rows(raw, "random_slope") if r["term2"] is not None)
        row["sdcor"] = value
        return "sdcor"

    return change


def _p(value):
    def change(raw):
        raw["models"]["random_intercept"]["fixed_effects"][0]["p_value"] = value
        return "p_value"

    return change


def _icc(value):
    def change(raw):
        raw["models"]["null"]["icc"]["estimate"] = value
        return "estimate"

    return change


BAD = {
    "negative SD": _sd(-0.5),
    "negative variance": _variance(-1e-9),
    "correlation above 1": _correlation(1.0000001),
    "correlation below -1": _correlation(-1.5),
    "ICC above 1": _icc(1.2),
    "negative ICC": _icc(-0.01),
    "p above 1": _p(1.5),
    "negative p": _p(-0.1),
    "negative SE": lambda raw: _set(["models", "ols", "fixed_effects", 0, "std_error"], -1)(raw),
    "reliability above 1": _model_set("reliability_mean", 1.01),
    "negative comparison p": lambda raw: _set(["comparisons", 0, "p_value"], -0.2)(raw),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_number_off_its_range_fails_the_schema_and_the_reader(case):
    raw = _raw("schools")  # a random slope: variance, covariance and correlation rows
    field = BAD[case](raw)
    errors = list(VALIDATOR.iter_errors(raw))
    assert errors, case  # minimum or maximum (anyOf where the field may be null)
    with pytest.raises(SchemaError, match=f"'results\\.[^']*{field}' is "):
        from_dict(raw)


def test_the_bounds_themselves_pass():
    raw = _raw("schools")
    for change in (_sd(0.0), _variance(0.0), _correlation(1.0), _correlation(-1.0), _icc(0.0),
                   _icc(1.0), _p(0.0), _p(1.0)):  # fmt: skip
        changed = copy.deepcopy(raw)
        change(changed)
        VALIDATOR.validate(changed)
        from_dict(changed)
    # null (a non-finite value) is no bound's concern; a covariance may be negative
    changed = copy.deepcopy(raw)
    _p(None)(changed)
    next(r for r in _rows(changed, "random_slope") if r["term2"] is not None)["estimate"] = -3.0
    VALIDATOR.validate(changed)
    from_dict(changed)


def test_the_printed_schema_shows_the_bounds():
    defs = results_schema()["$defs"]
    assert defs["FixedEffect"]["properties"]["p_value"] == {
        "type": ["number", "null"], "minimum": 0, "maximum": 1,
    }  # fmt: skip
    assert defs["FixedEffect"]["properties"]["std_error"]["minimum"] == 0
    assert defs["Icc"]["properties"]["estimate"]["maximum"] == 1
    assert defs["MedianOddsRatio"]["properties"]["estimate"]["minimum"] == 1
    rules = defs["VarianceComponent"]
    assert rules["then"]["properties"]["sdcor"] == {"minimum": 0}
    assert rules["else"]["properties"]["sdcor"] == {"maximum": 1}
    assert rules["properties"]["sdcor"]["minimum"] == -1


@pytest.mark.parametrize(
    "name", ["hsb2", "schools", "graduation", "levels_binary", "levels_growth", "levels_pupils"]
)
def test_shipped_fits_keep_within_the_bounds(name):
    raw = _raw(name)
    VALIDATOR.validate(raw)
    from_dict(raw)


def test_a_singular_fits_correlation_is_written_on_its_scale():
    # a rank-one covariance (a correlation of exactly 1): cov / (sd sd) rounds to
    # 1.0000000000000002, which real fits wrote and the schema refuses; written as 1 exactly
    from hlm_analysis.model import profile
    from hlm_analysis.model.ladder import variance_components

    cov = np.array(
        [[6511.3399678377355, 17499.353889795344], [17499.353889795344, 47029.85684557742]]
    )
    assert cov[1, 0] / (np.sqrt(cov[0, 0]) * np.sqrt(cov[1, 1])) > 1  # the rounding itself
    edge = [profile.Interval(None, None, None)] * 2 + [profile.Interval(0.2, 1 + 1e-15, "profile")]
    rows = variance_components("school", ["(Intercept)", "x"], cov, 4.0, edge + edge[:1])
    corr = next(r for r in rows if r.term2 is not None)
    assert corr.sdcor == 1.0 and corr.ci_high == 1.0 and corr.ci_low == 0.2
    assert all(r.off_scale() is None for r in rows)
