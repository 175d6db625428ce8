"""A random slope on a variable far from zero with ONE grouping level (the two-level engine,
ladder.optimize_mixed): calendar years, an id-like number near 100,000, and the verifier's growth
file (four calendar years, 188 children). lme4 itself stops 8-44 log-likelihood units short on
every uncentred fit (`converged_uncentred` false in the reference), so the values are lmerTest's
on the same model fitted with x centred and scaled (contest1D maps them to x's coefficients; the
REML log-likelihood is corrected by -log sd(x), see the script).
R: tests/reference/levels/make_far_slope_reference.R -> far_slope_reference.json.
"""

from __future__ import annotations

import json

import pytest
from helpers import REFERENCE, fit, write_config

LEVELS = REFERENCE / "levels"
R = json.loads((LEVELS / "far_slope_reference.json").read_text())

# lmerTest on the centred refit (summary / contest1D): estimates within 1e-6 of an SE, SEs 1e-5
# relative, Satterthwaite df 1e-4 relative, REML log-likelihood 1e-8 relative
ESTIMATE, SE, DF, LOGLIK = 1e-6, 1e-5, 1e-4, 1e-8


def _slope_model(tmp_path, case: str):
    ref = R[case]
    predictors = [t for t in ref["centred"]["coefficients"] if t != "(Intercept)"]
    config = write_config(
        tmp_path, case, data=LEVELS / ref["data"], outcome="y", predictors=predictors,
        group="grp", random_slopes=["x"],
    )  # fmt: skip
    return fit(config, tmp_path / case).models["random_slope"]


@pytest.mark.parametrize("case", ["years", "ids", "calendar"])
def test_far_slope_matches_lmertest_on_the_centred_refit(tmp_path, case):
    ref = R[case]
    assert not ref["converged_uncentred"]  # why the centred refit is the reference
    assert ref["centred"]["messages"] == []
    model = _slope_model(tmp_path, case)
    assert model.converged and model.ml_verified
    assert model.optimizer.endswith("(slopes centred)")
    assert model.loglik == pytest.approx(ref["centred"]["loglik"], rel=LOGLIK)
    for fe in model.fixed_effects:
        want = ref["centred"]["coefficients"][fe.term]
        assert abs(fe.estimate - want["estimate"]) <= ESTIMATE * want["se"], fe.term
        assert fe.std_error == pytest.approx(want["se"], rel=SE), fe.term
        assert fe.df == pytest.approx(want["df"], rel=DF), fe.term
    slope = next(v for v in model.variance_components if v.term1 == "x" and v.term2 is None)
    assert slope.estimate == pytest.approx(ref["centred"]["slope_var"], rel=1e-5)
    residual = next(v for v in model.variance_components if v.group == "Residual")
    assert residual.estimate == pytest.approx(ref["centred"]["sigma"] ** 2, rel=1e-6)


def test_calendar_df_was_the_verifiers_case(tmp_path):
    # Before the centred fit the engine stopped 5.3e-4 log-likelihood short and called it
    # verified: df 177.0 for lmerTest's 176.25 (the centred refit's), the ML refit unverified.
    model = _slope_model(tmp_path, "calendar")
    year = next(fe for fe in model.fixed_effects if fe.term == "x")
    assert year.df == pytest.approx(176.248, abs=0.01)
    assert model.loglik > R["calendar"]["uncentred"]["loglik"] + 40  # lme4's uncentred stop


def test_intervals_of_the_intercept_at_zero_are_not_computed(tmp_path):
    # the slope's SD and sigma are profiled in the centred model (invariant under the shift);
    # the intercept's SD and its correlation describe groups at year 0 and get a note instead
    model = _slope_model(tmp_path, "calendar")
    rows = {(v.group, v.term1, v.term2): v for v in model.variance_components}
    for key in (("grp", "(Intercept)", None), ("grp", "(Intercept)", "x")):
        assert rows[key].ci_low is None and "far outside the data" in rows[key].ci_note
    for key in (("grp", "x", None), ("Residual", None, None)):
        assert rows[key].ci_method == "profile"
        assert rows[key].ci_low < rows[key].sdcor < rows[key].ci_high


def test_a_variable_a_million_sds_from_zero_is_refused_with_the_fix_that_works(tmp_path):
    # mean 1e6, SD 1: the per-group sums of x^2 (~1e12 each) keep only ~4 digits of x's
    # within-group variation, so no fit from them can match lmerTest's (which works on the
    # rows): exit 2 naming the cause and the fix (it read "perfectly collinear" before)
    from hlm_analysis.errors import InputError

    with pytest.raises(InputError, match=r"'x' varies too little for its size \(mean 1e\+06, "
                       r"SD 1.03\).*centering: \{x: grand\}"):  # fmt: skip
        _slope_model(tmp_path, "million")
    # the fix it names: x centred on its mean by the data stage, row by row, keeps the digits;
    # slope and z then match lmerTest's (the intercept is then the one at the mean of x)
    ref = R["million"]["centred"]
    config = write_config(
        tmp_path, "grand", data=LEVELS / R["million"]["data"], outcome="y", predictors=["x", "z"],
        group="grp", random_slopes=["x"], centering={"x": "grand"},
    )  # fmt: skip
    model = fit(config, tmp_path / "grand").models["random_slope"]
    assert model.loglik == pytest.approx(ref["loglik"], rel=LOGLIK)
    for fe in model.fixed_effects:
        if fe.term == "(Intercept)":
            continue
        want = ref["coefficients"][fe.term]
        assert abs(fe.estimate - want["estimate"]) <= ESTIMATE * want["se"], fe.term
        assert fe.std_error == pytest.approx(want["se"], rel=SE), fe.term
        assert fe.df == pytest.approx(want["df"], rel=DF), fe.term
