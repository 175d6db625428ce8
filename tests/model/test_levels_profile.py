"""Profile-likelihood intervals of the variance components with several grouping levels
(model/levels_profile.py) against lme4's confint(m, method = "profile", oldNames = FALSE) on the
ML fits of the three-level pupils data, the growth data (year slopes at both levels) and the
crossed primary x secondary design, and a three-level file whose school SD is estimated at zero
(tests/reference/levels_profile: make_levels_profile_reference.R
wrote levels_profile_reference.json). Limits within 2%, or 1e-3 absolute near zero."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import write_config

from hlm_analysis.data.route import prepare
from hlm_analysis.model import levels_profile, multilevel, profile
from hlm_analysis.results import INTERCEPT, ModelName
from hlm_analysis.spec import load_spec

DATA = Path(__file__).resolve().parents[2] / "data"
REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "levels_profile"
LME4 = json.loads((REFERENCE / "levels_profile_reference.json").read_text())["cases"]

CONFIGS = {
    "three_level": {
        "data": DATA / "pupils.csv",
        "outcome": "score",
        "predictors": ["prior", "fsm"],
        "group": ["school", "class"],
        "random_slopes": {"class": ["prior"]},
    },
    "growth": {
        "data": DATA / "egsingle.csv",
        "outcome": "math",
        "time": "year",
        "predictors": ["female", "black", "hispanic", "lowinc"],
        "group": ["schoolid", "childid"],
        "random_slopes": {"schoolid": ["year"], "childid": ["year"]},
    },
    # (1 + prior || class:school): the final-model rule's uncorrelated form, no correlation
    "three_level_uncorrelated": {
        "data": DATA / "pupils.csv",
        "outcome": "score",
        "predictors": ["prior", "fsm"],
        "group": ["school", "class"],
        "random_slopes": {"class": ["prior"]},
    },
    # the school variance is estimated at zero (lme4: singular); its lower limit is 0
    "three_level_singular": {
        "data": REFERENCE.parent / "levels" / "three_level_singular.csv",
        "outcome": "score",
        "predictors": ["prior", "fsm"],
        "group": ["school", "class"],
    },
    "crossed": {
        "data": DATA / "scotssec.csv",
        "outcome": "attain",
        "predictors": ["verbal", "sex"],
        "reference": {"sex": "M"},
        "group": ["primary", "second"],
        "crossed": True,
    },
}
RUNG = {
    "three_level": ModelName.RANDOM_SLOPE,
    "growth": ModelName.RANDOM_SLOPE,
    "three_level_uncorrelated": ModelName.RANDOM_SLOPE,
    "three_level_singular": ModelName.RANDOM_INTERCEPT,
    "crossed": ModelName.RANDOM_INTERCEPT,
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cache = {}

    def get(case: str):
        if case not in cache:
            config = write_config(tmp_path_factory.mktemp(case), case, **CONFIGS[case])
            prepared = prepare(load_spec(config))
            mdef = next(m for m in multilevel.ladder(prepared) if m.name == RUNG[case])
            if case == "three_level_uncorrelated":
                mdef = replace(mdef, diagonal_levels=frozenset({"class"}))
            cache[case] = (prepared, multilevel.fit_mixed(prepared, mdef))
        return cache[case]

    return get


def _row(intervals: dict, fit, ref: dict) -> profile.Interval:
    """Our interval of lme4's row: per level the SDs in the term order, then the correlation."""
    if ref["level"] == "Residual":
        return intervals["Residual"][0]
    terms = list(dict(fit.mdef.levels)[ref["level"]])
    if ref["kind"] == "sd":
        return intervals[ref["level"]][terms.index(ref["var1"])]
    assert len(terms) == 2 and {ref["var1"], ref["var2"]} == {INTERCEPT, terms[1]}
    return intervals[ref["level"]][2]


@pytest.mark.parametrize("case", list(CONFIGS))
def test_profile_intervals_match_lme4_confint(fitted, case):
    prepared, fit = fitted(case)
    ref = LME4[case]
    # the ML optimum the profile starts from is lme4's (or better)
    assert fit.ml.loglik >= ref["loglik"] - 1e-4
    intervals = multilevel.final_extras(prepared, fit).intervals
    ours = [i for rows in intervals.values() for i in rows]
    assert len(ref["rows"]) == len([i for i in ours if i.note != profile.NOT_A_PARAMETER])
    for r in ref["rows"]:
        ours = _row(intervals, fit, r)
        assert ours.method == profile.PROFILE, (r["parm"], ours)
        for got, want in ((ours.low, r["low"]), (ours.high, r["high"])):
            assert abs(got - want) <= max(0.02 * abs(want), 1e-3), (r["parm"], got, want)
        assert ours.low <= r["estimate"] <= ours.high
    if case == "three_level_singular":
        # held at zero it still moves while the class SD is profiled (lme4's class lower
        # limit 2.263 needs the school SD to grow; held at 0 it was 2.304)
        school = intervals["school"][0]
        assert school.low == 0.0 and "estimated at zero" in school.note


def test_an_sd_whose_profile_stays_inside_at_zero_gets_zero_and_says_so(fitted):
    """ScotsSec's secondary-school SD (0.10): lme4's lower limit is 0, and so is ours, with the
    two-level code's note; its Wald interval (log scale) would have been 0.015-0.76."""
    _, fit = fitted("crossed")
    ours = levels_profile.levels_intervals(fit, multilevel.wald_intervals(fit), 303)
    second = ours["second"][0]
    assert second.low == 0.0 and second.method == profile.PROFILE
    assert "up to zero" in second.note
    assert second.high == pytest.approx(0.288794, rel=1e-3)


def test_beyond_the_cell_limit_wald_stands_in_and_says_why(fitted, monkeypatch):
    prepared, fit = fitted("crossed")
    monkeypatch.setattr(levels_profile, "MAX_PROFILE_CELLS", 100)
    extras = multilevel.final_extras(prepared, fit)
    rows = [i for r in extras.intervals.values() for i in r]
    wald = multilevel.wald_intervals(fit)
    assert [(i.low, i.high) for i in rows] == [(w.low, w.high) for r in wald.values() for w in r]
    assert all("303 cells" in i.note for i in rows)
    assert all(i.method == profile.WALD for i in rows if i.low is not None)
    # the final model's notes say the variance intervals are Wald (the methods sentence then
    # does not claim profile intervals)
    assert any("The intervals for the variance components are Wald" in n for n in extras.notes)


def test_a_slope_far_from_zero_profiles_what_does_not_depend_on_its_origin(fitted, tmp_path):
    """Growth on calendar years (year + 2015): the engine fits it centred; the slope SDs, the
    residual SD and their profiles do not depend on where the slope's zero lies, so they equal
    lme4's on the original years; the intercepts' SDs and correlations (the groups at year 0,
    two thousand years before the data) get none, saying why."""
    import pandas as pd

    data = pd.read_csv(DATA / "egsingle.csv", dtype={"schoolid": str, "childid": str})
    data["year"] = data["year"] + 2015
    data.to_csv(tmp_path / "calendar.csv", index=False)
    config = write_config(tmp_path, "calendar", **(CONFIGS["growth"] | {"data": tmp_path /
                                                                        "calendar.csv"}))  # fmt: skip
    prepared = prepare(load_spec(config))
    mdef = next(m for m in multilevel.ladder(prepared) if m.name == ModelName.RANDOM_SLOPE)
    fit = multilevel.fit_mixed(prepared, mdef)
    assert fit.ml.centred is not None
    intervals = multilevel.final_extras(prepared, fit).intervals
    for r in LME4["growth"]["rows"]:
        ours = _row(intervals, fit, r)
        if INTERCEPT in (r["var1"], r["var2"]) and r["level"] != "Residual":
            assert ours.low is None and ours.method is None and "far from zero" in ours.note
            continue
        assert ours.method == profile.PROFILE, (r["parm"], ours)
        for got, want in ((ours.low, r["low"]), (ours.high, r["high"])):
            assert abs(got - want) <= max(0.02 * abs(want), 1e-3), (r["parm"], got, want)
