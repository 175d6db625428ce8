"""glmm.py against R 4.2.2, lme4 1.1-31: glmer(family = binomial) and glm (tests/reference/
glmer_reference.json, made by make_glmer_reference.R; optimizer bobyqa). R is never needed here.

Tolerances (from the brief): fixed effects within 1% of glmer's standard error; standard errors
within 2%; log-likelihood never more than 1e-3 below glmer's, and not more than 1e-2 above (more
would mean a different criterion); variance components within 2%; latent ICC within 1e-3.

Why the Laplace log-likelihoods sit slightly *above* glmer's (by up to 5e-3, VerbAgg): glmer stops
its inner PIRLS iterations when the penalised deviance changes by less than tolPwrss = 1e-7
(relative), so the Laplace criterion it reports is evaluated at slightly inexact conditional
modes (the log-determinant moves to first order with them). With
glmerControl(tolPwrss = 1e-13) glmer reports what glmm.py computes (see the *_tight_glmer tests,
whose numbers come from that R call); adaptive Gauss-Hermite, insensitive to the mode's exact
position, agrees with the reference to 1e-8 either way.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hlm_analysis.model import glmm, numderiv, optimize, stats

REFERENCE = Path(__file__).parents[1] / "reference"
GLMER = json.loads((REFERENCE / "glmer_reference.json").read_text())

# make_glmer_reference.R wrote the factors as text; their level order (R's treatment contrasts
# take the first level as the reference) is the data sets' own, not alphabetical:
# MASS::bacteria's trt is placebo, drug, drug+ (terms trtdrug, trtdrug+); lme4::VerbAgg's mode
# is want, do (term modedo), Gender F, M and btype curse, scold, shout.
LEVELS = {
    "trt": ["placebo", "drug", "drug+"],
    "Gender": ["F", "M"],
    "btype": ["curse", "scold", "shout"],
    "mode": ["want", "do"],
}

FITS = [
    ("bacteria", "null"),
    ("bacteria", "random_intercept"),
    ("bacteria", "random_intercept_agq10"),
    ("bacteria", "random_slope"),
    ("verbagg", "null"),
    ("verbagg", "random_intercept"),
    ("verbagg", "random_intercept_agq10"),
]

# VerbAgg's random-intercept fit: glmer's btypeshout is 1.03% of its SE from the exact Laplace
# optimum because of tolPwrss (above); against glmer with tolPwrss = 1e-13 it is within 1e-5 SE
# (test_verbagg_random_intercept_matches_tight_glmer).
FIXEF_TOLERANCE = {("verbagg", "random_intercept"): 0.015}


def _dummies(frame: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    levels = LEVELS[column]
    assert set(frame[column].unique()) == set(levels), column
    return {f"{column}{level}": (frame[column] == level).to_numpy(float) for level in levels[1:]}


def _columns(dataset: str) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, pd.DataFrame]:
    frame = pd.read_csv(REFERENCE / f"{dataset}.csv")
    spec = GLMER[dataset]["spec"]
    y = (frame[spec["outcome"]] == spec["event"]).to_numpy(float)
    columns = {"(Intercept)": np.ones(len(frame))}
    for name in spec["predictors"]:
        if name in LEVELS:
            columns.update(_dummies(frame, name))
        else:
            columns[name] = frame[name].to_numpy(float)
    groups = pd.factorize(frame[spec["group"]], sort=True)[0]
    return y, columns, groups, frame


def design(dataset: str, name: str):
    """(y, X, Z, groups, nagq, fixed terms, random terms) of one reference fit."""
    y, columns, groups, frame = _columns(dataset)
    ref = GLMER[dataset][name]
    terms = ["(Intercept)"] if name == "null" else list(ref["fixef"])
    assert set(terms) <= set(columns), terms  # the JSON's term names are ours
    X = np.column_stack([columns[t] for t in terms])
    random_terms = ["(Intercept)"]
    if name == "random_slope":
        random_terms.append(GLMER[dataset]["spec"]["random_slope"])
    Z = np.column_stack([columns[t] for t in random_terms])
    return y, X, Z, groups, ref["nAGQ"], terms, random_terms


_CACHE: dict = {}


def fitted(dataset: str, name: str) -> glmm.GlmmFit:
    if (dataset, name) not in _CACHE:
        y, X, Z, groups, nagq, _, _ = design(dataset, name)
        _CACHE[dataset, name] = glmm.fit_glmm(y, X, Z, groups, nagq=nagq)
    return _CACHE[dataset, name]


def _by_term(values, terms):
    return np.array([values[t] for t in terms]) if isinstance(values, dict) else np.array(values)


@pytest.mark.parametrize(("dataset", "name"), FITS)
def test_fixed_effects_within_one_percent_of_se(dataset, name):
    # R: fixef(glmer(formula, family = binomial, nAGQ = k)); sqrt(diag(vcov(m)))
    ref = GLMER[dataset][name]
    _, _, _, _, _, terms, _ = design(dataset, name)
    fit = fitted(dataset, name)
    fixef, se = _by_term(ref["fixef"], terms), _by_term(ref["se"], terms)
    tolerance = FIXEF_TOLERANCE.get((dataset, name), 0.01)
    assert np.all(np.abs(fit.beta - fixef) <= tolerance * se), (fit.beta - fixef) / se


@pytest.mark.parametrize(("dataset", "name"), FITS)
def test_standard_errors_within_two_percent(dataset, name):
    # R: sqrt(diag(vcov(m))) (use.hessian = TRUE: Hessian over theta and beta jointly)
    ref = GLMER[dataset][name]
    _, _, _, _, _, terms, _ = design(dataset, name)
    fit = fitted(dataset, name)
    assert fit.cov_method == "hessian"
    np.testing.assert_allclose(fit.std_errors, _by_term(ref["se"], terms), rtol=0.02)


@pytest.mark.parametrize(("dataset", "name"), FITS)
def test_loglik_reaches_glmer(dataset, name):
    # R: logLik(m) (Laplace, or adaptive Gauss-Hermite for nAGQ = 10)
    ref = GLMER[dataset][name]["loglik"]
    fit = fitted(dataset, name)
    assert fit.verified
    assert fit.loglik >= ref - 1e-3
    assert fit.loglik <= ref + 1e-2  # more above glmer would mean a different criterion
    assert fit.deviance == pytest.approx(-2 * fit.loglik)
    assert fit.nagq == GLMER[dataset][name]["nAGQ"]


@pytest.mark.parametrize(("dataset", "name"), FITS)
def test_variance_components_within_two_percent(dataset, name):
    # R: as.data.frame(VarCorr(m)) (vcov: variances and covariances; sdcor: SDs and correlations)
    _, _, _, _, _, _, random_terms = design(dataset, name)
    fit = fitted(dataset, name)
    sd = np.sqrt(np.diag(fit.re_cov))
    for row in GLMER[dataset][name]["varcomp"]:
        a = random_terms.index(row["var1"])
        b = a if row["var2"] is None else random_terms.index(row["var2"])
        assert fit.re_cov[a, b] == pytest.approx(row["vcov"], rel=0.02, abs=1e-4), row
        sdcor = sd[a] if a == b else fit.re_cov[a, b] / (sd[a] * sd[b])
        assert sdcor == pytest.approx(row["sdcor"], rel=0.02, abs=1e-4), row


@pytest.mark.parametrize("dataset", ["bacteria", "verbagg"])
def test_latent_icc_of_null_model(dataset):
    # R: tau00 / (tau00 + pi^2 / 3), tau00 = as.data.frame(VarCorr(glmer(y ~ 1 + (1 | g))))$vcov
    fit = fitted(dataset, "null")
    assert fit.latent_icc == pytest.approx(GLMER[dataset]["null"]["icc_latent"], abs=1e-3)
    assert glmm.latent_icc(fit.re_cov) == fit.latent_icc


@pytest.mark.parametrize(("dataset", "name"), FITS)
def test_singular_as_glmer(dataset, name):
    # R: isSingular(m); bacteria's random slope ends on the boundary (correlation 1)
    fit = fitted(dataset, name)
    assert fit.singular == GLMER[dataset][name]["singular"]
    if fit.singular:
        assert fit.singular_terms == (1,)
        assert fit.theta[-1] == 0.0  # put exactly on the boundary, as glmer's bounded optimizer
        assert fit.verified


@pytest.mark.parametrize("dataset", ["bacteria", "verbagg"])
def test_logistic_matches_glm(dataset):
    # R: glm(y ~ predictors, family = binomial): coef(g), summary(g)$coefficients[, 2], logLik(g)
    ref = GLMER[dataset]["logistic"]
    y, columns, _, _ = _columns(dataset)
    terms = list(ref["coef"])
    X = np.column_stack([columns[t] for t in terms])
    fit = glmm.logistic(y, X)
    se = _by_term(ref["se"], terms)
    assert fit.converged and fit.separated == ()
    assert np.all(np.abs(fit.beta - _by_term(ref["coef"], terms)) <= 1e-6 * se)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), se, rtol=1e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-8)


def test_verbagg_random_intercept_matches_tight_glmer():
    # R: m <- glmer(r2 ~ Anger + Gender + btype + mode + (1 | id), VerbAgg, binomial,
    #   control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13)); logLik(m); fixef(m);
    #   sqrt(diag(vcov(m))); getME(m, "theta")
    fit = fitted("verbagg", "random_intercept")
    fixef = [
        0.03150987552,
        0.05323759279,
        0.29927331133,
        -1.00029038246,
        -1.93615363035,
        -0.6370710648,
    ]
    se = [0.32723125891, 0.0156052334, 0.17788445765, 0.06728696888, 0.0722270514, 0.05552326894]
    assert fit.loglik == pytest.approx(-4277.78450384, abs=1e-5)
    assert np.all(np.abs(fit.beta - fixef) <= 1e-3 * np.array(se))
    np.testing.assert_allclose(fit.std_errors, se, rtol=1e-3)
    assert fit.theta[0] == pytest.approx(1.234634244, abs=1e-5)


def test_criterion_equals_tight_glmer_devfun_at_glmer_estimates():
    # R: df <- glmer(r2 ~ Anger + Gender + btype + mode + (1 | id), VerbAgg, binomial,
    #   control = glmerControl(tolPwrss = 1e-13), devFunOnly = TRUE);
    #   -df(c(getME(m, "theta"), fixef(m))) / 2 at the reference fit m: -4277.7845670542
    # (with the default tolPwrss = 1e-7 the same call gives logLik(m), -4277.7896966054)
    ref = GLMER["verbagg"]["random_intercept"]
    y, X, Z, groups, _, terms, _ = design("verbagg", "random_intercept")
    theta = [ref["varcomp"][0]["sdcor"]]
    value = glmm.deviance(theta, _by_term(ref["fixef"], terms), y, X, Z, groups)
    assert -value / 2 == pytest.approx(-4277.7845670542, abs=1e-6)


def test_bacteria_random_slope_matches_tight_glmer():
    # R: glmer(y ~ trt + week + (week | ID), bacteria, binomial, control =
    #   glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13)): logLik, fixef, sqrt(diag(vcov))
    fit = fitted("bacteria", "random_slope")
    se = np.array([0.63621373551, 0.66509625093, 0.70363643285, 0.09182756653])
    fixef = [2.84882789324, -1.30217949546, -0.65418812816, -0.08200155147]
    assert fit.loglik == pytest.approx(-98.3074067552, abs=1e-6)
    assert np.all(np.abs(fit.beta - fixef) <= 1e-3 * se)
    np.testing.assert_allclose(fit.std_errors, se, rtol=1e-3)
    np.testing.assert_allclose(fit.theta, [0.6355235625, 0.1374280256, 0.0], atol=1e-5)


def test_conditional_modes_as_ranef():
    # R: ranef(glmer(y ~ trt + week + (1 | ID), bacteria, binomial), condVar = TRUE)$ID[1:3, ]
    #   and attr(..., "postVar")[1, 1, 1:3] (conditional variances)
    fit = fitted("bacteria", "random_intercept")
    np.testing.assert_allclose(fit.modes[:3, 0], [0.3317558, -0.2222587, 0.8520969], atol=1e-3)
    np.testing.assert_allclose(
        fit.cond_se[:3, 0] ** 2, [1.0091636, 0.7254811, 0.7671721], atol=1e-3
    )


@pytest.mark.parametrize(
    ("dataset", "low", "high"),
    # R: ci <- confint(glmer(y ~ 1 + (1 | g), ...), parm = "theta_", method = "profile");
    #    ci^2 / (ci^2 + pi^2 / 3)
    [("bacteria", 0.05563938196, 0.5382596349), ("verbagg", 0.2260077467, 0.3055566684)],
)
def test_latent_icc_profile_interval(dataset, low, high):
    y, X, Z, groups, _, _, _ = design(dataset, "null")
    fit = fitted(dataset, "null")
    problem = glmm.Problem(y, X, Z, groups)
    assert problem.profiled_deviance(fit.theta) == pytest.approx(fit.deviance, abs=1e-6)
    assert glmm.profiled_deviance(fit.theta, y, X, Z, groups) == pytest.approx(
        fit.deviance, abs=1e-6
    )
    ci = stats.icc_interval(*glmm.latent_icc_profile(problem, fit.theta[0]))
    assert ci[0] == pytest.approx(low, abs=1e-3)
    assert ci[1] == pytest.approx(high, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "theta"),
    [
        ("random_intercept", [1.3]),
        ("random_intercept_agq10", [0.7]),
        ("random_slope", [0.5, 0.2, 0.1]),
    ],
)
def test_gradient_matches_finite_differences(name, theta):
    y, X, Z, groups, nagq, _, _ = design("bacteria", name)
    problem = glmm.Problem(y, X, Z, groups, nagq)
    phi = np.concatenate([theta, [2.5, -1.0, -0.5, -0.1]])
    nt = len(theta)

    def fun(x):
        return problem.deviance(x[:nt], x[nt:])

    value, grad = problem.value_and_gradient(phi[:nt], phi[nt:])
    assert value == pytest.approx(fun(phi), abs=1e-9)
    numeric = numderiv._richardson(lambda h: numderiv.gradient(fun, phi, h), phi, 1e-2, 4)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6 * np.max(np.abs(grad)))


def test_agq_needs_a_single_random_intercept():
    y, X, Z, groups, _, _, _ = design("bacteria", "random_slope")
    with pytest.raises(ValueError, match="nagq > 1"):
        glmm.fit_glmm(y, X, Z, groups, nagq=10)
    with pytest.raises(ValueError, match="nagq > 1"):
        glmm.deviance([1.0, 0.0, 1.0], np.zeros(4), y, X, Z, groups, nagq=5)


def test_separation_is_detected():
    rng = np.random.default_rng(3)
    x = np.repeat([0.0, 1.0], 60)
    y = np.where(x == 1, 1.0, rng.integers(0, 2, 120))  # every x = 1 has y = 1: quasi-separation
    X = np.column_stack([np.ones(120), x, rng.normal(size=120)])
    assert glmm.separation(y, X) == [1]
    fit = glmm.logistic(y, X)  # returns, as glm does, with the coefficient running away
    assert fit.separated == (1,)
    assert not fit.converged
    assert fit.beta[1] > 10
    ok = np.column_stack([np.ones(120), rng.normal(size=120)])
    assert glmm.separation(rng.integers(0, 2, 120), ok) == []
    # the GLMM's likelihood then has no maximum either: fitted, flagged, never verified
    mixed = glmm.fit_glmm(y, X, np.ones((120, 1)), np.arange(120) % 12)
    assert mixed.separated == (1,) and not mixed.verified
    assert "separation" in mixed.attempts[-1].note


def test_cluster_cr1_is_statas_logit_vce_cluster():
    # Stata's logit, vce(cluster g): bread (X'WX)^-1, cluster score sums, factor G / (G - 1);
    # statsmodels' cluster covariance adds (N - 1) / (N - K) on top of that.
    sm = pytest.importorskip("statsmodels.api")
    y, X, _, groups, _, _, _ = design("bacteria", "random_intercept")
    fit = glmm.logistic(y, X)
    ours = glmm.cluster_cr1(y, X, groups, fit.beta)
    res = sm.Logit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    n, k = X.shape
    np.testing.assert_allclose(ours, res.cov_params() * (n - k) / (n - 1), rtol=1e-6)


def test_escalation_when_the_primary_run_stops_short(monkeypatch):
    y, X, Z, groups, nagq, _, _ = design("bacteria", "random_intercept")
    normal = fitted("bacteria", "random_intercept")
    real_run, real_polish = glmm._run, glmm._newton_polish
    calls = {"run": 0, "polish": 0}

    def short_run(method, start, crit, scale):
        calls["run"] += 1
        if calls["run"] == 1:  # the primary run gives up at its start
            return np.asarray(start, float).copy(), None
        return real_run(method, start, crit, scale)

    def stalled_polish(crit, phi, value, steps=25, derivatives=None):
        calls["polish"] += 1
        if calls["polish"] == 1:  # and the first polish cannot move it
            return np.asarray(phi, float), value, None
        return real_polish(crit, phi, value, steps, derivatives)

    monkeypatch.setattr(glmm, "_run", short_run)
    monkeypatch.setattr(glmm, "_newton_polish", stalled_polish)
    fit = glmm.fit_glmm(y, X, Z, groups, nagq=nagq)
    notes = [a.note for a in fit.attempts]
    assert notes.count("not verified") == 1 and notes[-1] == "verified"
    assert fit.attempts[-1].optimizer == "polish and verification (after escalation)"
    methods = [a.optimizer for a in fit.attempts]
    assert {"Newton", "L-BFGS-B", "Nelder-Mead", "Powell"} <= set(methods)
    assert all(isinstance(a.evaluations, int) and a.evaluations > 0 for a in fit.attempts)
    assert fit.verified
    assert fit.loglik == pytest.approx(normal.loglik, abs=1e-8)
    assert fit.evaluations > normal.evaluations


def _simulate(n: int, groups: int, seed: int):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, rng.binomial(1, 0.4, n), rng.normal(size=groups)[g]])
    cov = np.array([[0.8, 0.1], [0.1, 0.15]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
    beta = np.array([-0.5, 0.6, -0.4, 0.3])
    eta = X @ beta + b[g, 0] + b[g, 1] * x
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return y, X, np.column_stack([np.ones(n), x]), g, beta, cov


def test_large_random_slope_fits_verified_in_seconds():
    y, X, Z, g, beta, cov = _simulate(200_000, 4_000, seed=20240501)
    start = time.perf_counter()
    fit = glmm.fit_glmm(y, X, Z, g)
    elapsed = time.perf_counter() - start
    print(
        f"\n200,000 rows / 4,000 groups, random slope: {elapsed:.2f} s, {fit.evaluations} evaluations"
    )
    assert fit.verified and not fit.singular and fit.cov_method == "hessian"
    assert elapsed < 20
    assert np.all(np.abs(fit.beta - beta) < 4 * fit.std_errors)
    np.testing.assert_allclose(fit.re_cov, cov, atol=0.1)
    assert fit.modes.shape == (4_000, 2) and fit.cond_se.shape == (4_000, 2)


def test_interface():
    fit = fitted("bacteria", "random_slope")
    assert fit.theta.shape == (3,) and fit.re_cov.shape == (2, 2)
    lam = glmm.lambda_of(fit.theta, 2)
    np.testing.assert_allclose(fit.re_cov, lam @ lam.T)
    assert fit.modes.shape == (50, 2) and fit.cond_se.shape == (50, 2)
    assert fit.evaluations == sum(a.evaluations for a in fit.attempts) + 1
    assert fit.decrement < optimize.DECREMENT_TOLERANCE
    assert fit.best_neighbour_gain < optimize.NEIGHBOUR_TOLERANCE
    assert math.isfinite(fit.max_gradient)
    y, X, Z, groups, _, _, _ = design("bacteria", "random_slope")
    probs = glmm.predict_probability(fit, X, Z, groups)
    assert probs.shape == y.shape and np.all((probs > 0) & (probs < 1))
