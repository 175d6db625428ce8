"""Binary outcomes with two CROSSED grouping factors (Laplace, glmer's nAGQ = 1 criterion over the
crossed block system, levels/crossed.py): the criterion against a dense brute-force Laplace
approximation; the verified fits against glmer (tests/reference/levels_binary,
make_levels_binary_crossed.R, lme4 1.1-31) on ScotsSec with attain dichotomised at its median
(attain > 5) and on a synthetic file (120 x 30 crossed groups, a random slope on the smaller
factor): log-likelihood 1e-5 (1e-7 against the Laplace deviance at glmer's optimum with converged
modes), fixed effects 1e-4 relative, SEs 5e-5 against the Hessian of that deviance
(make_levels_binary_se.R; summary(m)'s SEs are 6.7e-4 off it), conditional modes and SDs 1e-3;
profile intervals of every SD and correlation 1e-3 relative, each factor's latent share 2e-3; and
`hlm-report fit` end to end (no longer refused)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import write_config
from model.test_levels_binary import dense_laplace

from hlm_analysis.cli import main
from hlm_analysis.model import levels_profile, profile
from hlm_analysis.model.levels.binary import BinaryLevels, fit_binary_levels
from hlm_analysis.results import INTERCEPT, ModelName, read_json

REFERENCE = Path(__file__).parent.parent / "reference" / "levels_binary"
REF = json.loads((REFERENCE / "levels_binary_crossed.json").read_text())
LOGLIK_ATOL = 1e-5  # logLik(m), glmer with tolPwrss 1e-13 and bobyqa to convergence
ESTIMATE_RTOL = 1e-4  # fixef(m) (floor 1e-4 of an SE)
# the SEs of summary(m): a step-1e-4 difference quotient of lme4's devfun, which returns the
# deviance at the iterate before PIRLS's last step (ScotsSec null, theta and beta + 0.1: 1.06e-5
# high), 6.7e-4 from ours at worst (null models; ours equal a Richardson-extrapolated Hessian of
# our criterion to 1e-7); `hlm-report fit` is held to them
VCOV_RTOL = 1e-3
# the Richardson Hessian of that devfun after one more PIRLS pass (the Laplace deviance itself,
# levels_binary_se.json): its own precision 9e-6 on these models, ours within 1.4e-5 (ScotsSec
# null); see test_levels_binary_intervals
TIGHT = json.loads((REFERENCE / "levels_binary_se.json").read_text())["cases"]
TIGHT_SE_RTOL = 5e-5
TIGHT_LOGLIK_ATOL = 1e-7  # ours within 2e-8 of that deviance at glmer's optimum
MODE_RTOL = 1e-3  # ranef(m, condVar = TRUE): modes (of their SD) and conditional SDs
PROFILE_RTOL = 1e-3  # profile limits: exact profile from lme4's devfun, confint(method="profile")
# a latent share's limits: R's profile rests on the 1e-7 devfun too; the one limit beyond 1e-3
# (the synthetic b share's upper, 0.108687 for our 0.108801, 1.05e-3) is R's: at its value our
# profile (Nelder-Mead restarts, modes to 1e-10) is still 0.0033 inside 1.96 on the root scale
SHARE_RTOL = 2e-3


def _case(name: str):
    """(y, fixed columns by lme4 name, Z columns by term, level codes, n_groups, labels)."""
    case = REF["cases"][name]
    if name == "scotssec":
        d = pd.read_csv(REFERENCE / case["data"])
        y = (d["attain"] > 5).to_numpy(float)
        columns = {"(Intercept)": np.ones(len(d)), "verbal": d["verbal"].to_numpy(float),
                   "sexM": (d["sex"] == "M").to_numpy(float)}  # fmt: skip
    else:
        d = pd.read_csv(REFERENCE / case["data"])
        y = d["y"].to_numpy(float)
        columns = {"(Intercept)": np.ones(len(d)), "x": d["x"].to_numpy(float),
                   "w": d["w"].to_numpy(float)}  # fmt: skip
    codes, n_groups, labels = [], [], []
    for level in case["levels"]:
        ids, code = np.unique(d[level].astype(str).to_numpy(), return_inverse=True)
        codes.append(code)
        n_groups.append(len(ids))
        labels.append(list(ids))
    return y, columns, codes, n_groups, labels


def _random(ref_model: dict, level: str) -> list[str]:
    terms = [(r["var1"], r["var2"]) for r in ref_model["varcorr"] if r["level"] == level]
    return [v1 for v1, v2 in terms if v2 is None]


_FITS: dict = {}


def fitted(case: str, model: str):
    if (case, model) not in _FITS:
        y, columns, codes, n_groups, labels = _case(case)
        ref = REF["cases"][case]["models"][model]
        X = np.column_stack([columns[t] for t in ref["coefficients"]])
        levels = REF["cases"][case]["levels"]
        Z = [np.column_stack([columns[t] for t in _random(ref, lv)]) for lv in levels]
        fit = fit_binary_levels(y, X, Z, codes, n_groups, levels, crossed=True)
        _FITS[(case, model)] = (fit, labels)
    return _FITS[(case, model)]


MODELS = [(c, m) for c, case in REF["cases"].items() for m in case["models"]]


def test_crossed_laplace_equals_dense():
    """The crossed block elimination against the full system (dense Z Lambda, Newton)."""
    y, columns, codes, n_groups, _ = _case("synthetic")
    X = np.column_stack([columns[t] for t in ("(Intercept)", "x", "w")])
    one = np.ones((len(y), 1))
    slope = np.column_stack([one, columns["x"]])
    for Z, thetas in (
        ([one, one], ([0.7, 0.4], [1.3, 0.0], [0.0, 0.6])),
        ([one, slope], ([0.7, 0.5, 0.2, 0.3], [0.4, 0.0, -0.3, 0.8])),
    ):
        model = BinaryLevels(y, X, Z, codes, n_groups, ["a", "b"], crossed=True)
        beta = np.array([-0.3, 0.6, 0.4])
        for theta in thetas:
            lams = model.lambdas(np.array(theta))
            expected = dense_laplace(y, X, Z, codes, n_groups, lams, beta)
            assert model.deviance(np.r_[theta, beta]) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize(("case", "model"), MODELS)
def test_fit_against_glmer(case, model):
    ref = REF["cases"][case]["models"][model]
    fit, _ = fitted(case, model)
    assert fit.verified
    assert fit.loglik == pytest.approx(ref["loglik"], abs=LOGLIK_ATOL)  # logLik(m)
    tight = TIGHT[case][model]
    assert fit.loglik == pytest.approx(tight["loglik"], abs=TIGHT_LOGLIK_ATOL)
    assert tight["se_spread"] < TIGHT_SE_RTOL / 2  # the reference is that precise
    for i, (term, row) in enumerate(ref["coefficients"].items()):
        floor = 1e-4 * row["se"]
        assert fit.beta[i] == pytest.approx(row["estimate"], rel=ESTIMATE_RTOL, abs=floor), term
        assert fit.se()[i] == pytest.approx(tight["se"][term], rel=TIGHT_SE_RTOL), term
    for row in ref["varcorr"]:  # as.data.frame(VarCorr(m))
        terms = _random(ref, row["level"])
        i = terms.index(row["var1"])
        j = i if row["var2"] is None else terms.index(row["var2"])
        cov = fit.re_cov[row["level"]]
        scale = np.sqrt(cov[i, i] * cov[j, j])
        assert cov[i, j] == pytest.approx(row["vcov"], rel=ESTIMATE_RTOL, abs=1e-4 * scale)


@pytest.mark.parametrize(("case", "model"), MODELS)
def test_conditional_modes_against_glmer(case, model):
    ref = REF["cases"][case]["models"][model]
    fit, labels = fitted(case, model)
    modes, covs = fit.conditional()
    for k, level in enumerate(REF["cases"][case]["levels"]):
        blups = ref["blups"][level]
        terms = [blups["terms"]] if isinstance(blups["terms"], str) else blups["terms"]
        index = {label: g for g, label in enumerate(labels[k])}
        spread = np.std(modes[level], axis=0, ddof=1)
        assert spread == pytest.approx([blups["mode_sd"][t] for t in terms], rel=MODE_RTOL)
        for row in blups["first"]:
            g = index[row["id"]]
            sd = np.sqrt(np.diag(covs[level][g]))
            for t, term in enumerate(terms):
                tolerance = MODE_RTOL * blups["mode_sd"][term]
                assert modes[level][g, t] == pytest.approx(row["mode"][term], abs=tolerance)
                assert sd[t] == pytest.approx(row["cond_sd"][term], rel=MODE_RTOL)


def _key(row: dict):
    return (
        row["level"],
        row["kind"],
        frozenset([row["var1"]] + ([row["var2"]] if row["var2"] else [])),
    )


@pytest.mark.parametrize(("case", "model"), MODELS)
def test_profile_intervals_against_lme4(case, model):
    ref = REF["cases"][case]["models"][model]
    fit, _ = fitted(case, model)
    ours = {}
    for level, rows in levels_profile.binary_levels_intervals(fit, len(fit.model.y)).items():
        terms = _random(ref, level)
        q = len(terms)
        keys = [("sd", frozenset([t])) for t in terms]
        keys += [("cor", frozenset([terms[i], terms[j]]))
                 for i, j in zip(*np.tril_indices(q, -1), strict=True)]  # fmt: skip
        for (kind, pair), row in zip(keys, rows, strict=True):
            ours[(level, kind, pair)] = row
    assert len(ours) == len(ref["exact"])
    for source in ("exact", "confint"):
        for row in ref[source] or []:  # confint: null where lme4 refuses a model's profile
            mine = ours[_key(row)]
            assert mine.method == profile.PROFILE, row["name"]
            assert mine.low == pytest.approx(row["low"], rel=PROFILE_RTOL, abs=1e-3), row["name"]
            assert mine.high == pytest.approx(row["high"], rel=PROFILE_RTOL), row["name"]


@pytest.mark.parametrize("case", list(REF["cases"]))
def test_latent_shares_against_their_profile(case):
    """Each factor's own latent share (its ICC when crossed), by the profile of that share."""
    ref = REF["cases"][case]["models"]["null"]["shares"]
    fit, _ = fitted(case, "null")
    levels = REF["cases"][case]["levels"]
    got = levels_profile.binary_share_intervals(fit, [[0], [1]], len(fit.model.y))
    for level, (low, high, note) in zip(levels, got, strict=True):
        assert note is None
        assert low == pytest.approx(ref[level]["low"], rel=SHARE_RTOL), level
        assert high == pytest.approx(ref[level]["high"], rel=SHARE_RTOL), level


def test_the_ladder_fits_crossed_binary(tmp_path):
    """`hlm-report fit` of a crossed binary config (refused before): every mixed rung against
    glmer, each factor's ICC (own share) and MOR with profile intervals, the logistic rung
    clustered on the first factor."""
    case = REF["cases"]["synthetic"]
    config = write_config(
        tmp_path, "crossed", data=REFERENCE / case["data"], outcome="y", family="binomial",
        predictors=["x", "w"], group=["a", "b"], crossed=True, random_slopes={"b": ["x"]},
    )  # fmt: skip
    out = tmp_path / "out"
    assert main(["fit", str(config), "--out", str(out)]) == 0
    results = read_json(out / "results.json")
    assert results.final_model == ModelName.RANDOM_SLOPE
    for rung in ("null", "random_intercept", "random_slope"):
        model, ref = results.model(rung), case["models"][rung]
        assert model.converged
        assert model.loglik == pytest.approx(ref["loglik"], abs=LOGLIK_ATOL)
        assert model.formula.endswith("(1 | a) + (1 | b)" if rung != "random_slope"
                                      else "(1 | a) + (1 + x | b)")  # fmt: skip
        for fe in model.fixed_effects:
            r = ref["coefficients"][fe.term]
            assert fe.estimate == pytest.approx(
                r["estimate"], rel=ESTIMATE_RTOL, abs=1e-4 * r["se"]
            )
            assert fe.std_error == pytest.approx(r["se"], rel=VCOV_RTOL), fe.term
            tight = TIGHT["synthetic"][rung]["se"][fe.term]
            assert fe.std_error == pytest.approx(tight, rel=TIGHT_SE_RTOL), fe.term
    null = results.model(ModelName.NULL)
    taus = {
        lv.level: vc.estimate for lv, vc in zip(null.levels, null.variance_components, strict=True)
    }
    total = sum(taus.values()) + np.pi**2 / 3
    for lv in null.levels:
        r = case["models"]["null"]["shares"][lv.level]
        assert lv.icc.estimate == pytest.approx(taus[lv.level] / total)  # own share: crossed
        assert lv.icc.ci_low == pytest.approx(r["low"], rel=SHARE_RTOL)
        assert lv.icc.ci_high == pytest.approx(r["high"], rel=SHARE_RTOL)
        assert lv.median_odds_ratio.ci_low < lv.median_odds_ratio.estimate
        assert lv.parents == ()
    final = results.final
    assert all(vc.ci_method == profile.PROFILE for vc in final.variance_components)
    assert [lv.terms for lv in final.levels] == [(INTERCEPT,), (INTERCEPT, "x")]
    cluster = results.model(ModelName.LOGISTIC_CLUSTER)
    assert cluster.n_groups == 120  # the first factor's groups
    assert {(t.level, t.term) for t in results.component_tests} == {
        ("a", INTERCEPT), ("b", "x"), ("b", INTERCEPT),
    }  # fmt: skip
