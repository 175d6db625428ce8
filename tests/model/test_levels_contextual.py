"""Contextual effects at every level (issue 22) against lme4/lmerTest: the three-level example
data with the class means and the school means of prior attainment (and prior centred within
classes beside its school means); fixed effects within 1% of an SE, SEs 2%, Satterthwaite df 1%,
and each level's within / between / contextual contrast as lmerTest's contest()
(tests/reference/levels_contextual/make_levels_contextual_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_config

from hlm_analysis.model.analysis import run_analysis
from hlm_analysis.results import read_json
from hlm_analysis.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads(
    (ROOT / "tests/reference/levels_contextual/levels_contextual_reference.json").read_text()
)
BASE = {
    "data": ROOT / "data/pupils.csv",
    "outcome": "score",
    "predictors": ["prior", "fsm", "sector"],
    "group": ["school", "class"],
    "random_slopes": {"class": ["prior"]},
}
CASES = {
    "both_means": (
        {"contextual": {"school": ["prior"], "class": ["prior"]}},
        {"prior_cm": "prior_group_mean", "prior_sm": "prior_school_mean", "prior": "prior"},
    ),
    "centred_school_mean": (
        {"centering": {"prior": "group"}, "contextual": {"school": ["prior"]}},
        {"prior_sm": "prior_school_mean", "prior_cwc": "prior"},
    ),
}
SAME = {
    "(Intercept)": "(Intercept)",
    "fsmyes": "fsm[T.yes]",
    "sectormaintained": "sector[T.maintained]",
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    name = request.param
    keys, _ = CASES[name]
    tmp = tmp_path_factory.mktemp(name)
    results = run_analysis(load_spec(write_config(tmp, name, **BASE, **keys)), tmp / "out")
    return name, results, tmp / "out"


def test_fixed_effects_as_lmer(case):
    name, results, _ = case
    reference = REFERENCE[name]["coefficients"]
    names = SAME | CASES[name][1]
    model = results.models[results.final_model]
    assert results.final_model == "random_slope"
    ours = {fe.term: fe for fe in model.fixed_effects}
    assert set(ours) == {names[r] for r in reference}
    for r_name, want in reference.items():
        got = ours[names[r_name]]
        assert got.estimate == pytest.approx(want["estimate"], abs=0.01 * want["se"])
        assert got.std_error == pytest.approx(want["se"], rel=0.02)
        assert got.df == pytest.approx(want["df"], rel=0.01)


def test_contextual_effects_as_contest(case):
    name, results, _ = case
    rows = REFERENCE[name]["contrasts"]
    got = {c.level: c for c in results.contextual_effects}
    assert sorted(got) == sorted({r["level"] for r in rows})
    for row in rows:
        effect = getattr(got[row["level"]], row["effect"])
        assert effect.estimate == pytest.approx(row["estimate"], abs=0.01 * row["se"])
        assert effect.std_error == pytest.approx(row["se"], rel=0.02)
        assert effect.df == pytest.approx(row["df"], rel=0.01)
    for c in results.contextual_effects:
        assert c.variable == "prior" and c.model == results.final_model
    # the final model no longer says contextual effects above the innermost level are missing
    notes = " ".join(results.models[results.final_model].notes)
    assert "contextual" not in notes


def test_outer_mean_is_at_its_level(case):
    _, results, _ = case
    variable = results.design.variable("prior_school_mean")
    assert variable.mean_of == "prior" and variable.level == "school"


def test_results_json_keeps_the_mapping(case):
    """results.json echoes `contextual:` as the mapping, so the config read back from it has the
    outer levels' means too (and the level and df of every contextual effect)."""
    name, results, out = case
    back = read_json(out / "results.json")
    assert back.spec.contextual_outer == results.spec.contextual_outer == {"school": ["prior"]}
    assert back.spec.contextual == results.spec.contextual
    assert [(c.level, c.contextual.df) for c in back.contextual_effects] == [
        (c.level, c.contextual.df) for c in results.contextual_effects
    ]
