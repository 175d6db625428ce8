"""Centring at a level (`centering: {prior: school}`) against lme4/lmerTest fitted on the column
centred in R (ave() over that level's rows): three levels (data/pupils.csv), growth (egsingle:
year at the child, female at the school) and crossed factors (ScotsSec: verbal at the secondary
school); memory, DuckDB and Spark give the same fit.
R: tests/reference/levels/make_levels_centring_reference.R -> levels_centring_reference.json.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, write_config

from hlm_analysis.model.analysis import run_analysis
from hlm_analysis.spec import load_spec

LEVELS = (REFERENCE / "levels").resolve()
R = json.loads((LEVELS / "levels_centring_reference.json").read_text())
# which rung of hlm-report's ladder is the R model
RUNG = {
    "school_centred": "random_intercept",
    "school_slope": "random_slope",
    "school_context": "interaction",
    "class_centred": "random_intercept",
    "growth": "random_slope",
    "crossed": "random_intercept",
}
# lmerTest's names of dummies -> the design's
NAMES = {
    "fsmyes": "fsm[T.yes]",
    "sectormaintained": "sector[T.maintained]",
    "prior:sectormaintained": "prior:sector[T.maintained]",
    "sexM": "sex[T.M]",
}
# lmerTest summary(): estimates within 1e-6 of an SE, SEs 1e-5 relative, Satterthwaite df 1e-4
# relative; logLik (REML, and ML of the refit) 1e-8 relative. Between data paths: 1e-10.
ESTIMATE, SE, DF, LOGLIK, PATHS = 1e-6, 1e-5, 1e-4, 1e-8, 1e-10


def _keys(case: str, data) -> dict:
    ref = R[case]
    keys = {**ref["config"], "group": ref["group"], "data": data}
    keys["outcome"] = ref["formula"].split(" ~")[0]
    if ref["crossed"]:
        keys["crossed"] = True
    if ref["time"]:
        keys["time"] = ref["time"]
    return keys


def _fit(tmp, case: str, data=None, **extra):
    keys = _keys(case, data or LEVELS / R[case]["data"]) | extra
    config = write_config(tmp, case, **keys)
    return run_analysis(load_spec(config), tmp / f"out_{case}")


@pytest.fixture(scope="module")
def fitted_in(tmp_path_factory):
    return tmp_path_factory.mktemp("centring")


@pytest.fixture(scope="module")
def fitted(fitted_in):
    return {case: _fit(fitted_in, case) for case in RUNG}


@pytest.mark.parametrize("case", list(RUNG))
def test_fit_matches_lmer_on_the_data_centred_in_r(fitted, case):
    ref = R[case]
    assert ref["reml"]["messages"] == [] and ref["ml"]["messages"] == []
    model = fitted[case].models[RUNG[case]]
    assert model.converged and model.ml_verified
    assert model.loglik == pytest.approx(ref["reml"]["loglik"], rel=LOGLIK)
    assert model.loglik_ml == pytest.approx(ref["ml"]["loglik"], rel=LOGLIK)
    ours = {fe.term: fe for fe in model.fixed_effects}
    assert set(ours) == {NAMES.get(t, t) for t in ref["reml"]["coefficients"]}
    for term, want in ref["reml"]["coefficients"].items():
        got = ours[NAMES.get(term, term)]
        assert abs(got.estimate - want["estimate"]) <= ESTIMATE * want["se"], term
        assert got.std_error == pytest.approx(want["se"], rel=SE), term
        assert got.df == pytest.approx(want["df"], rel=DF), term


def test_results_say_the_level_and_keep_the_config_form(fitted):
    results = fitted["school_context"]
    assert results.spec.centering_level("prior") == "school"
    assert results.spec.to_json()["centering"] == {"prior": "school"}
    assert results.design.variable("prior").centering == "group"
    growth = fitted["growth"].spec
    assert growth.centering_level("year") == "childid"
    assert growth.centering_level("female") == "schoolid"
    assert growth.to_json()["centering"] == {"year": "childid", "female": "schoolid"}
    # the school-centred and class-centred fits differ: the level is not ignored
    a = fitted["school_centred"].models["random_intercept"].loglik
    b = fitted["class_centred"].models["random_intercept"].loglik
    assert abs(a - b) > 1


def _parts(tmp, case: str):
    """The case's CSV as three shuffled parts: a folder goes through the SQL engine."""
    frame = pd.read_csv(LEVELS / R[case]["data"], dtype=str, keep_default_na=False)
    folder = tmp / f"{case}_parts"
    folder.mkdir()
    shuffled = frame.sample(frac=1.0, random_state=3)
    for i, part in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        shuffled.iloc[part].to_csv(folder / f"part-{i}.csv", index=False)
    return folder


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
@pytest.mark.parametrize("case", ["school_context", "growth", "crossed"])
def test_memory_duckdb_and_spark_agree(fitted, tmp_path, case, engine):
    data = _parts(tmp_path, case)
    other = _fit(tmp_path, case, data=data, engine=engine)
    for rung in ("null", RUNG[case]):
        mine = fitted[case].models[rung]
        theirs = other.models[rung]
        assert theirs.loglik == pytest.approx(mine.loglik, rel=PATHS)
        assert theirs.loglik_ml == pytest.approx(mine.loglik_ml, rel=PATHS)
    ours = {fe.term: fe for fe in fitted[case].models[RUNG[case]].fixed_effects}
    for fe in other.models[RUNG[case]].fixed_effects:
        assert fe.estimate == pytest.approx(ours[fe.term].estimate, abs=1e-8 * fe.std_error)


@pytest.mark.parametrize(
    ("keys", "piece"),
    [
        # a level not in group
        ({"centering": {"prior": "district"}},
         "key 'centering.prior': 'district' is not 'group', 'grand' or a level of group"),
        # sector is the school's: centred at the school it is all zeros
        ({"centering": {"sector_code": "school"}},
         "centering: 'sector_code' is constant within every group of 'school'"),
        # a class mean of a school-centred variable has no within/between reading
        ({"centering": {"prior": "school"}, "contextual": {"class": ["prior"]}},
         "contextual: 'class': 'prior' is centred at 'school', an outer level"),
        # crossed factors: `group` (the cells') stays refused; a factor by name is fine
        ({"group": ["school", "class"], "crossed": True, "centering": {"prior": "group"}},
         "centering: 'prior': group means are not supported with crossed levels"),
    ],
)  # fmt: skip
def test_bad_level_centring_exits_2_with_one_line(tmp_path, capsys, keys, piece):
    from hlm_analysis.cli import main

    frame = pd.read_csv(LEVELS / "three_level.csv", dtype={"school": str, "class": str})
    frame["sector_code"] = (frame["sector"] == "academy").astype(float)
    data = tmp_path / "pupils.csv"
    frame.to_csv(data, index=False)
    base = {"data": data, "outcome": "score", "predictors": ["prior", "fsm", "sector_code"],
            "group": ["school", "class"]}  # fmt: skip
    config = write_config(tmp_path, "bad", **(base | keys))
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert piece in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "out").exists()


def test_report_says_the_level_each_variable_is_centred_at(fitted, fitted_in):
    from hlm_analysis.present import equation
    from hlm_analysis.present.document import ReportDocument
    from hlm_analysis.present.labels import labels_for

    doc = ReportDocument(fitted_in / "out_school_context" / "results.json")
    methods = doc.methods()
    assert "Predictors centred before fitting: prior on the mean of its school." in methods
    results = doc.results
    eq = equation.describe_levels(results, labels_for(results), str)
    # the lme4 formula refits the same model: the mean over the school's rows
    assert "I(prior - ave(prior, school))" in eq["mixed"]
    assert "ave(prior, school, class)" not in eq["mixed"]
    level1 = eq["rows"][0]["equation"]
    assert "(prior relative to the school mean)" in level1
    assert any("(prior (school mean))" in r["equation"] for r in eq["rows"][1:])
    # growth: the innermost level by name is the cells' means; the outer one its own
    growth = ReportDocument(fitted_in / "out_growth" / "results.json")
    text = growth.methods()
    assert "year on the mean of its" in text and "female on the mean of its" in text
    mixed = equation.describe_levels(growth.results, labels_for(growth.results), str)["mixed"]
    assert "I(female - ave(female, schoolid))" in mixed
    assert "I(year - ave(year, schoolid, childid))" in mixed


def test_results_json_with_a_level_form_meets_the_published_schema(fitted, fitted_in):
    import jsonschema

    from hlm_analysis.schema import results_schema

    raw = json.loads((fitted_in / "out_growth" / "results.json").read_text())
    assert raw["spec"]["centering"] == {"year": "childid", "female": "schoolid"}
    jsonschema.Draft202012Validator(results_schema()).validate(raw)
    bad = json.loads(json.dumps(raw))
    bad["spec"]["centering"] = {"year": 3}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(results_schema()).validate(bad)
