"""Issue 21, model side, against R (tests/reference/issue21_reference.json, made by
make_issue21_reference.R: lme4 1.1-31, lmerTest 3.1-3, mlmRev 1.0-8).

- Variance-component intervals by profile likelihood at any number of groups, with exact
  boundaries (lme4's confint(method = "profile")), for linear and binary models; every row names
  the method it used, and no fit fails in the profile (the singular six-group factor slope).
- The uncorrelated random slope (1 + x || g) between a singular correlated slope and dropping it.
- The share of slope variance the cross-level interactions explain (tau11 reduction).
- Joint tests of factors: lmerTest's anova(type = 3) Satterthwaite F, a Wald chi-square for glmer.

Tolerances: profile bounds within 1e-3 relative or 2e-3 absolute (lme4 interpolates its profile
with splines, we solve for the bound); boundaries exactly; fixed effects within 1% of their SE,
SEs 1e-3, Satterthwaite df 1%, variance components 2% (as test_reference_lme4.py); F and its
denominator df 1e-3 (a small F moves 1e-4 with the last digits of the optimum where lme4 stops).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, fit, write_config

from hlm_analysis import distributions
from hlm_analysis.data import prepare
from hlm_analysis.model import final, lmm, optimize, profile, stats
from hlm_analysis.results import INTERCEPT, ModelName
from hlm_analysis.spec import load_spec

R = json.loads((REFERENCE / "issue21_reference.json").read_text())
PROFILE_TOLERANCE = {"rel": 1e-3, "abs": 2e-3}


def _rows(model):
    return {(vc.term1, vc.term2): vc for vc in model.variance_components}


def _check_profile(model, expected: dict) -> None:
    rows = _rows(model)
    for key, name in expected.items():
        ref = _ref(name)
        vc = rows[key]
        assert vc.ci_method == profile.PROFILE, (key, vc.ci_note)
        assert vc.ci_low == pytest.approx(ref["low"], **PROFILE_TOLERANCE), key
        assert vc.ci_high == pytest.approx(ref["high"], **PROFILE_TOLERANCE), key
        assert vc.ci_low <= vc.sdcor <= vc.ci_high


def _ref(path: str) -> dict:
    """R's values at a path "a/b/c" (the keys hold no slash)."""
    node = R
    for part in path.split("/"):
        node = node[part]
    return node


@pytest.fixture(scope="module")
def hsb82(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hsb82")
    config = write_config(
        tmp,
        data=REFERENCE / "hsb82.csv",
        outcome="mAch",
        predictors=["cses", "sector", "meanses"],
        group="school",
        random_slopes=["cses"],
        interactions=["cses:sector", "cses:meanses"],
        reference={"sector": "Catholic"},
    )
    return fit(config, tmp / "out")


def _simulated(tmp_path_factory, name: str):
    tmp = tmp_path_factory.mktemp(name)
    config = write_config(
        tmp,
        data=REFERENCE / f"{name}.csv",
        outcome="y",
        predictors=["x", "w"],
        group="g",
        random_slopes=["x"],
        interactions=["x:w"],
    )
    return fit(config, tmp / "out")


@pytest.fixture(scope="module")
def singular_slope(tmp_path_factory):
    return _simulated(tmp_path_factory, "singular_slope")


@pytest.fixture(scope="module")
def singular_both(tmp_path_factory):
    return _simulated(tmp_path_factory, "singular_both")


# -- 1. profile intervals at any size, boundaries exact -------------------------------------------


def test_profile_intervals_beyond_80_groups_reach_the_boundary_as_lme4(hsb82):
    # R: confint(lmer(mAch ~ cses + sector + meanses + cses:sector + cses:meanses +
    #    (1 + cses | school), Hsb82), parm = "theta_", method = "profile", oldNames = FALSE)
    model = hsb82.final
    assert hsb82.final_model == ModelName.INTERACTION and model.n_groups == 160
    _check_profile(
        model,
        {
            (INTERCEPT, None): "hsb82/profile_ci/sd_(Intercept)|school",
            ("cses", None): "hsb82/profile_ci/sd_cses|school",
            (INTERCEPT, "cses"): "hsb82/profile_ci/cor_cses.(Intercept)|school",
            (None, None): "hsb82/profile_ci/sigma",
        },
    )
    rows = _rows(model)
    # the boundary exactly: the profile at an SD of zero (and at a correlation of +-1) is still
    # inside the 95% region, so those ARE the bounds, and the rows say why
    assert rows[("cses", None)].ci_low == 0.0
    assert "zero" in rows[("cses", None)].ci_note
    assert (rows[(INTERCEPT, "cses")].ci_low, rows[(INTERCEPT, "cses")].ci_high) == (-1.0, 1.0)
    assert rows[(INTERCEPT, None)].ci_note is None  # an interior interval needs no note


def test_every_interval_names_its_method(hsb82, singular_slope, singular_both):
    for results in (hsb82, singular_slope, singular_both):
        for model in results.mixed_models:
            for vc in model.variance_components:
                if model.name != results.final_model:
                    assert vc.ci_method is None and vc.ci_low is None
                    continue
                assert vc.ci_method in (profile.PROFILE, profile.WALD), vc
                assert vc.ci_low is not None and vc.ci_high is not None


def test_binary_random_intercept_profile_matches_glmer():
    # R: confint(glmer(y ~ trt + week + (1 | ID), bacteria, binomial), parm = "theta_",
    #    method = "profile")
    results = _bacteria(random_slopes=[])
    (row,) = results.final.variance_components
    ref = R["binary"]["random_intercept"]["profile_ci"]["sd_(Intercept)|ID"]
    assert row.ci_method == profile.PROFILE
    assert row.ci_low == pytest.approx(ref["low"], **PROFILE_TOLERANCE)
    assert row.ci_high == pytest.approx(ref["high"], **PROFILE_TOLERANCE)


def test_binary_random_slope_profile_matches_glmer(tmp_path):
    # R: confint(glmer(y ~ x + (1 + x | g), binary_slope.csv, binomial), parm = "theta_",
    #    method = "profile"): each point re-fits beta and the other two variance parameters
    config = write_config(
        tmp_path,
        data=REFERENCE / "binary_slope.csv",
        outcome="y",
        family="binomial",
        predictors=["x"],
        group="g",
        random_slopes=["x"],
    )
    results = fit(config, tmp_path / "out")
    assert results.final_model == ModelName.RANDOM_SLOPE
    _check_profile(
        results.final,
        {
            (INTERCEPT, None): "binary/simulated_slope/profile_ci/sd_(Intercept)|g",
            ("x", None): "binary/simulated_slope/profile_ci/sd_x|g",
            (INTERCEPT, "x"): "binary/simulated_slope/profile_ci/cor_x.(Intercept)|g",
        },
    )


def test_binary_profiles_beyond_the_row_bound_are_absent_and_say_why(monkeypatch):
    monkeypatch.setattr(profile, "MAX_BINARY_ROWS", 100)
    (row,) = _bacteria(random_slopes=[], title="bounded").final.variance_components
    assert row.ci_method is None and row.ci_low is None
    assert "220 rows" in row.ci_note and "not run" in row.ci_note


_BACTERIA: dict = {}


def _bacteria(**keys):
    """bacteria fitted once per set of config keys (module-level cache: two tests share it)."""
    key = json.dumps(keys, sort_keys=True)
    if key not in _BACTERIA:
        tmp = Path(tempfile.mkdtemp())
        config = write_config(
            tmp,
            data=REFERENCE / "bacteria.csv",
            outcome="y",
            family="binomial",
            predictors=["trt", "week"],
            group="ID",
            reference={"trt": "placebo"},
            **keys,
        )
        _BACTERIA[key] = fit(config, tmp / "out")
    return _BACTERIA[key]


def _six_groups(seed: int) -> pd.DataFrame:
    """Six groups, a three-level factor with a random slope and no slope variance: the fits are
    singular (zero variances, correlations of +-1) in ways that vary with the seed."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(6), 30)
    f = rng.choice(["a", "b", "c"], len(g))
    y = rng.normal(size=6)[g] + 0.5 * (f == "b") + rng.normal(size=len(g))
    return pd.DataFrame({"y": y.round(4), "f": f, "g": g})


@pytest.mark.parametrize("seed", range(6))
def test_singular_factor_slope_profiles_never_fail(tmp_path, seed):
    # The class of issue 21's crash (root not bracketed in the profile of a six-group random
    # slope of a three-level factor): any singular fit, correlated or not, gets intervals or
    # none with a reason, never an exception; bounds hold the estimate; an SD at zero has 0 as
    # its lower bound.
    data = tmp_path / "six.csv"
    _six_groups(seed).to_csv(data, index=False)
    config = write_config(
        tmp_path, data=data, outcome="y", predictors=["f"], group="g", random_slopes=["f"]
    )
    prepared = prepare(load_spec(config))
    fixed = [INTERCEPT, "f[T.b]", "f[T.c]"]
    sums = lmm.model_sums(prepared.sums, fixed, fixed)
    for diagonal in (False, True):
        ml = optimize.find_optimum(sums, False, diagonal=diagonal)
        sol = lmm.solve(ml.theta, sums, reml=False)
        sigma = float(np.sqrt(sol.sigma2))
        best = profile.parameters(sol.theta, sigma, 3)
        intervals = profile.linear_intervals(sol.theta, sigma, sums, diagonal)
        assert len(intervals) == len(best) == 7
        for k, (interval, estimate) in enumerate(zip(intervals, best, strict=True)):
            if diagonal and 3 <= k < 6:
                assert interval.method is None and interval.note  # not a parameter
                continue
            if interval.method is None:
                assert interval.note, k
                continue
            assert interval.low <= estimate + 1e-6 and estimate - 1e-6 <= interval.high, k
            if k < 3 and estimate < 1e-6 and interval.method == profile.PROFILE:
                assert interval.low == 0.0
    results = fit(config, tmp_path / "out")  # and the whole run finishes
    assert results.final.variance_components


def test_many_groups_beyond_the_work_bound_get_wald_and_say_so(hsb82, monkeypatch):
    prepared = prepare(hsb82.spec)
    model = hsb82.final
    fixed = [fe.term for fe in model.fixed_effects]
    sums = lmm.model_sums(prepared.sums, fixed, list(model.random_terms))
    ml = lmm.solve(optimize.find_optimum(sums, reml=False).theta, sums, reml=False)
    monkeypatch.setattr(profile, "MAX_PROFILE_WORK", 100)
    intervals = profile.linear_intervals(ml.theta, float(np.sqrt(ml.sigma2)), sums)
    # the slope SD near the boundary has no Wald interval on the log scale; the others do
    for interval in intervals:
        assert interval.method in (profile.WALD, None)
        assert "160 groups" in interval.note


# -- 2. the uncorrelated random slope before dropping it ------------------------------------------


def test_singular_correlated_slope_becomes_uncorrelated_and_matches_lme4(singular_slope):
    # R: isSingular(lmer(y ~ x * w + (1 + x | g))) TRUE; lmer(y ~ x * w + (1 + x || g)) not
    ref = R["singular_slope"]
    assert ref["correlated"]["singular"] and not ref["uncorrelated"]["singular"]
    results = singular_slope
    model = results.final
    assert results.final_model == ModelName.INTERACTION
    assert model.uncorrelated and "||" in model.formula and not model.singular
    assert "uncorrelated form" in results.final_model_reason
    assert "singular" in results.final_model_reason
    # the random-slope rung shares the form, so the ladder's tests compare like with like
    assert results.model("random_slope").uncorrelated
    assert not any(vc.term2 for vc in model.variance_components)  # no covariance, as lme4
    assert results.liberal_cross_level_tests == ()
    unc = ref["uncorrelated"]
    assert model.loglik >= unc["loglik_reml"] - 1e-4
    names = {"(Intercept)": INTERCEPT, "x": "x", "wyes": "w[T.yes]", "x:wyes": "x:w[T.yes]"}
    for r_name, values in unc["coefficients"].items():
        fe = model.effect(names[r_name])
        # R: summary(lmerTest::lmer(y ~ x * w + (1 + x || g)))$coefficients
        assert abs(fe.estimate - values["estimate"]) <= 0.01 * values["se"], r_name
        assert fe.std_error == pytest.approx(values["se"], rel=1e-3), r_name
        assert fe.df == pytest.approx(values["df"], rel=0.01), r_name
        assert fe.p_value == pytest.approx(values["p"], rel=0.01), r_name
    for row in unc["varcorr"]:
        term = row["var1"] if row["grp"] != "Residual" else None
        vc = _rows(model)[(term, None)]
        assert vc.estimate == pytest.approx(row["vcov"], rel=0.02), row
    # the zero interaction is no longer 'significant' (issue 21: p = .018 without the slope)
    assert model.effect("x:w[T.yes]").p_value > 0.2
    # R: confint(lmer(y ~ x * w + (1 + x || g)), parm = "theta_", method = "profile")
    _check_profile(
        model,
        {
            (INTERCEPT, None): "singular_slope/uncorrelated/profile_ci/sd_(Intercept)|g",
            ("x", None): "singular_slope/uncorrelated/profile_ci/sd_x|g",
            (None, None): "singular_slope/uncorrelated/profile_ci/sigma",
        },
    )
    (test,) = results.component_tests
    assert test.term == "x" and test.df == 1  # one variance, no covariance, in this form


def test_slope_singular_in_both_forms_is_dropped_and_flags_the_liberal_test(singular_both):
    # R: isSingular() of both (1 + x | g) and (1 + x || g) on singular_both.csv
    ref = R["singular_both"]
    assert ref["correlated"]["singular"] and ref["uncorrelated"]["singular"]
    results = singular_both
    assert results.final_model == ModelName.INTERACTION_INTERCEPT
    assert "uncorrelated form (1 + x || g) was tried first" in results.final_model_reason
    assert results.liberal_cross_level_tests == ("x:w",)
    assert not results.final.uncorrelated
    assert results.final.effect("x:w[T.yes]").robust_p is not None  # the test that should lead
    names = {"(Intercept)": INTERCEPT, "x": "x", "wyes": "w[T.yes]", "x:wyes": "x:w[T.yes]"}
    for r_name, values in ref["random_intercept"]["coefficients"].items():
        fe = results.final.effect(names[r_name])
        assert abs(fe.estimate - values["estimate"]) <= 0.01 * values["se"], r_name
        assert fe.df == pytest.approx(values["df"], rel=0.01), r_name


def test_binary_singular_slope_becomes_uncorrelated_and_matches_glmer():
    # R: glmer(y ~ trt + week + (1 + week || ID), bacteria, binomial, control =
    #    glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13)); the correlated fit is singular
    #    (correlation 1, test_reference_glmer.py)
    results = _bacteria(random_slopes=["week"])
    ref = R["binary"]["uncorrelated_slope"]
    model = results.final
    assert results.final_model == ModelName.RANDOM_SLOPE and not ref["singular"]
    assert model.uncorrelated and "(1 + week || ID)" in model.formula
    assert "uncorrelated form" in results.final_model_reason
    assert model.loglik >= ref["loglik"] - 1e-6
    names = {"(Intercept)": INTERCEPT, "trtdrug": "trt[T.drug]", "trtdrug+": "trt[T.drug+]",
             "week": "week"}  # fmt: skip
    for r_name, value in ref["fixef"].items():
        fe = model.effect(names[r_name])
        assert abs(fe.estimate - value) <= 1e-3 * ref["se"][r_name], r_name
        assert fe.std_error == pytest.approx(ref["se"][r_name], rel=1e-3), r_name
    rows = _rows(model)
    for row in ref["varcorr"]:
        assert rows[(row["var1"], None)].sdcor == pytest.approx(row["sdcor"], rel=1e-3), row
        assert rows[(row["var1"], None)].ci_method == profile.PROFILE
    assert len(model.variance_components) == 2  # no correlation, as glmer's
    (test,) = results.component_tests
    assert test.df == 1
    assert not any("could not be computed" in note for note in model.notes)


def test_choose_path_tries_the_uncorrelated_form_before_dropping():
    slope = final.Estimability(True, ("x",), (INTERCEPT, "x"))
    fits = {
        ModelName.RANDOM_INTERCEPT: final.Estimability(True, (), (INTERCEPT,)),
        ModelName.RANDOM_SLOPE: slope,
    }
    assert final.needs_uncorrelated(fits)
    fine = final.Estimability(True, (), (INTERCEPT, "x"))
    kept = final.choose_path(fits, fine)
    assert kept.model == ModelName.RANDOM_SLOPE and kept.uncorrelated and not kept.slope_dropped
    dropped = final.choose_path(fits, slope)
    assert dropped.model == ModelName.RANDOM_INTERCEPT and dropped.slope_dropped
    unverified = final.choose_path(fits, final.Estimability(False, (), (INTERCEPT, "x")))
    assert unverified.slope_dropped and "could not be verified" in unverified.reason
    # an intercept at zero is no slope problem: nothing to try
    fits[ModelName.RANDOM_SLOPE] = final.Estimability(True, (INTERCEPT,), (INTERCEPT, "x"))
    assert not final.needs_uncorrelated(fits)


# -- 3. slope variance explained ------------------------------------------------------------------


def test_slope_variance_explained_matches_lme4(hsb82):
    # R: tau11 = VarCorr(m)$school["cses", "cses"] of the models without and with the cross-level
    # interactions; lme4 stops ~2e-3 short along the flat tau11 direction (our REML loglik is
    # higher by 4e-7), hence the tolerances
    ref = R["hsb82"]
    (row,) = hsb82.slope_variance_explained
    assert row.term == "cses"
    assert row.interactions == ("cses:sector", "cses:meanses")
    assert row.moderators == ("sector", "meanses")
    assert (row.model_without, row.model_with) == (ModelName.RANDOM_SLOPE, ModelName.INTERACTION)
    assert row.tau_without == pytest.approx(ref["tau11_without"], rel=5e-3)
    assert row.tau_with == pytest.approx(ref["tau11_with"], rel=5e-3)
    assert row.proportion == pytest.approx(ref["proportion"], abs=1e-3)
    assert row.proportion == pytest.approx(
        (row.tau_without - row.tau_with) / row.tau_without, rel=1e-12
    )


def test_intercept_variance_explained_by_level_2_predictors_matches_lme4(hsb82):
    # R: tau00 of lmer(mAch ~ cses + (1 | school)) and lmer(mAch ~ cses + sector + meanses +
    #    (1 | school)) (the ladder's random-intercept model)
    ref = R["hsb82"]
    row = hsb82.intercept_variance_explained
    assert row.predictors == ("sector", "meanses")
    assert row.tau_without == pytest.approx(ref["tau00_without"], rel=2e-3)
    assert row.tau_with == pytest.approx(ref["tau00_with"], rel=2e-3)
    assert row.tau_with == hsb82.model("random_intercept").variance(INTERCEPT)
    assert row.proportion == pytest.approx(ref["tau00_proportion"], abs=1e-3)


def test_intercept_variance_explained_only_with_level_2_predictors(tmp_path, singular_slope):
    # x varies within groups, w is constant within them: w is the level-2 predictor
    assert singular_slope.intercept_variance_explained.predictors == ("w",)
    config = write_config(
        tmp_path,
        data=REFERENCE / "exam.csv",
        outcome="normexam",
        predictors=["standLRT", "sex"],
        group="school",
    )
    assert fit(config, tmp_path / "out").intercept_variance_explained is None  # level-1 only
    assert _bacteria(random_slopes=[]).intercept_variance_explained is None  # binary: none


def test_no_slope_variance_explained_when_the_slope_was_dropped(singular_both):
    assert singular_both.slope_variance_explained == ()


# -- 4. joint tests of factors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "keys"),
    [
        ("factors", {"predictors": ["standLRT", "vr", "schgend"]}),
        (
            "interaction",
            {"predictors": ["standLRT", "schgend"], "interactions": ["standLRT:schgend"]},
        ),
    ],
)
def test_joint_f_tests_match_lmertest_anova(tmp_path, case, keys):
    # R: anova(lmerTest::lmer(formula), type = 3, ddf = "Satterthwaite")
    config = write_config(
        tmp_path,
        data=REFERENCE / "exam.csv",
        outcome="normexam",
        group="school",
        random_slopes=["standLRT"],
        **keys,
    )
    results = fit(config, tmp_path / "out")
    ref = R["joint"][case]["anova"]
    tests = {t.predictor: t for t in results.joint_tests}
    expected = [name for name in ref if ref[name]["df_num"] > 1]
    assert sorted(tests) == sorted(expected)
    for name in expected:
        test, r = tests[name], ref[name]
        assert test.method == "Satterthwaite F" and test.df_num == r["df_num"]
        assert test.statistic == pytest.approx(r["F"], rel=1e-3), name
        assert test.df_den == pytest.approx(r["df_den"], rel=1e-3), name
        assert test.p_value == pytest.approx(r["p"], rel=1e-3), name


def test_binary_joint_test_is_a_wald_chi_square_as_glmer():
    # R: b <- fixef(m)[2:3]; V <- vcov(m)[2:3, 2:3]; t(b) %*% solve(V, b) for trt in
    #    glmer(y ~ trt + week + (1 | ID), bacteria, binomial)
    (test,) = _bacteria(random_slopes=[]).joint_tests
    ref = R["binary"]["random_intercept"]["wald_trt"]
    assert test.predictor == "trt" and test.method == "Wald chi-square"
    assert test.df_num == 2 and test.df_den is None
    assert test.statistic == pytest.approx(ref["chisq"], rel=1e-3)
    assert test.p_value == pytest.approx(ref["p"], rel=1e-3)


def test_satterthwaite_f_of_one_contrast_is_the_squared_t(hsb82):
    prepared = prepare(hsb82.spec)
    model = hsb82.final
    fixed = [fe.term for fe in model.fixed_effects]
    sums = lmm.model_sums(prepared.sums, fixed, list(model.random_terms))
    reml = optimize.find_optimum(sums, True)
    sol = lmm.solve(reml.theta, sums, reml=True)
    cov = sol.sigma2 * np.linalg.inv(sol.A)
    for i, fe in enumerate(model.fixed_effects):
        F, q, ddf = stats.satterthwaite_f(
            sol.theta, sol.sigma2, sums, sol.beta, cov, np.eye(len(fixed))[[i]]
        )
        assert q == 1
        assert F == pytest.approx(fe.statistic**2, rel=1e-8)
        assert ddf == pytest.approx(fe.df, rel=1e-8)


@pytest.mark.parametrize(
    ("x", "df1", "df2", "expected"),
    [  # scipy.stats.f.sf(x, df1, df2)
        (5.01630601531588, 2, 54.7517731257382, 0.00999044941931683),
        (0.231896924981803, 2, 54.8121666112211, 0.793801915876651),
        (755.677010420174, 1, 56.5194534507592, 2.13519332582058e-34),
        (40.0, 4, 2.5, 0.012086844915843055),
        (1e-3, 3, 10, 0.9999531676572934),
    ],
)
def test_f_tail_matches_r(x, df1, df2, expected):
    # R: pf(x, df1, df2, lower.tail = FALSE) (the first three from lmerTest's anova above)
    assert distributions.f_sf(x, df1, df2) == pytest.approx(expected, rel=1e-9)


def test_numerical_trouble_in_a_profile_costs_the_bound_not_the_run(hsb82, monkeypatch):
    # any arithmetic failure inside a constrained fit: the rows fall back to Wald (or none)
    # and say why
    prepared = prepare(hsb82.spec)
    model = hsb82.final
    fixed = [fe.term for fe in model.fixed_effects]
    sums = lmm.model_sums(prepared.sums, fixed, list(model.random_terms))
    ml = lmm.solve(optimize.find_optimum(sums, reml=False).theta, sums, reml=False)

    def broken(*args, **kwargs):
        raise FloatingPointError("overflow")

    monkeypatch.setattr(profile, "_minimise", broken)
    intervals = profile.linear_intervals(ml.theta, float(np.sqrt(ml.sigma2)), sums)
    for interval in intervals:
        assert interval.method in (profile.WALD, None)
        assert "could not be evaluated (FloatingPointError)" in interval.note
