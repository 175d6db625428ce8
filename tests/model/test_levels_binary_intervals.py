"""Intervals for a binary outcome with nested levels (Laplace, glmer's criterion), against R
(tests/reference/levels_binary/make_levels_binary_profile.R, lme4 1.1-31, sandwich 3.0-2):

- the fits: logLik 1e-5 against glmer's and 1e-7 against the Laplace deviance at glmer's optimum
  with converged modes, fixed effects 1e-4, SEs 5e-5 (make_levels_binary_se.R: below);
- every SD and correlation: glmer's profile (lme4's devfun over the SDs, correlations and fixed
  effects), against the exact profile computed in R from lme4's own devfun (nlminb at each point,
  uniroot on the signed root) and against confint(method = "profile") where lme4 runs it (it
  refuses the random-slope model); 1e-3 relative (confint interpolates a spline);
- each level's latent ICC (and a level's own share) by the profile of that share, against the
  same R construction, 1e-3 relative; the median odds ratio's limits from the SD's, 1e-3;
- the logistic regression's CR1 SEs clustered on the outermost level against sandwich::vcovCL
  (HC0, G / (G - 1)), 1e-4 relative; the whole `hlm-report fit` writes all of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import write_config

from hlm_analysis.cli import main
from hlm_analysis.model import levels_profile, profile
from hlm_analysis.model.levels.binary import fit_binary_levels
from hlm_analysis.results import ModelName, read_json

REFERENCE = Path(__file__).parent.parent / "reference" / "levels_binary"
REF = json.loads((REFERENCE / "levels_binary_profile.json").read_text())
PROFILE_RTOL = 1e-3  # profile limits (lme4's confint interpolates a spline through its points)
SE_RTOL = 1e-4  # cluster-robust SEs
LOGLIK_ATOL = 1e-5  # our optimum against glmer's with a tight tolerance (tolPwrss 1e-13)
ESTIMATE_RTOL = 1e-4  # fixed effects (floor 1e-4 of an SE)
# SEs: summary(m)'s come from a step-1e-4 difference quotient of lme4's devfun, which returns
# the deviance at the iterate before PIRLS's last step (up to 1e-5 high away from the optimum):
# 6.7e-4 from ours at worst. levels_binary_se.json (make_levels_binary_se.R) takes the Richardson
# Hessian of that devfun with one more PIRLS pass from the converged modes, the Laplace deviance
# itself; its own precision (the SEs' change when numDeriv's first step is halved or doubled) is
# 2.2e-5, ours are within 1.4e-5 of it on every model (nested and crossed): 5e-5.
TIGHT = json.loads((REFERENCE / "levels_binary_se.json").read_text())["cases"]
TIGHT_SE_RTOL = 5e-5
# our log-likelihood against that deviance at glmer's optimum: within 2e-8, never below by 1e-10
TIGHT_LOGLIK_ATOL = 1e-7
FIXED = {"null": ["(Intercept)"], "random_intercept": ["(Intercept)", "x", "w"]}
FIXED["random_slope"] = FIXED["random_intercept"]


def _design():
    d = pd.read_csv(REFERENCE / "three_level_binary.csv", dtype={"school": str, "class": str})
    _, schools = np.unique(d["school"], return_inverse=True)
    _, classes = np.unique(d["school"] + "\x1f" + d["class"], return_inverse=True)
    return d, [schools, classes], [int(schools.max()) + 1, int(classes.max()) + 1]


_FITS: dict = {}


def fitted(name: str):
    if name not in _FITS:
        d, codes, n_groups = _design()
        X = np.column_stack([np.ones(len(d)) if t == "(Intercept)" else d[t]
                             for t in FIXED[name]])  # fmt: skip
        one = np.ones((len(d), 1))
        inner = np.column_stack([one, d["x"]]) if name == "random_slope" else one
        _FITS[name] = fit_binary_levels(
            d["y"].to_numpy(float), X, [one, inner], codes, n_groups, ["school", "class"]
        )
    return _FITS[name]


def _ours(name: str) -> dict:
    """Our intervals keyed as R's rows: (level, kind, frozenset of terms)."""
    fit = fitted(name)
    out = {}
    for level, rows in levels_profile.binary_levels_intervals(fit, len(fit.model.y)).items():
        terms = ["(Intercept)", "x"][: fit.model.q[fit.model.names.index(level)]]
        q = len(terms)
        keys = [("sd", frozenset([t])) for t in terms]
        keys += [
            ("cor", frozenset([terms[i], terms[j]]))
            for i, j in zip(*np.tril_indices(q, -1), strict=True)
        ]
        for (kind, pair), row in zip(keys, rows, strict=True):
            out[(level, kind, pair)] = row
    return out


def _key(row: dict):
    terms = [row["var1"]] + ([row["var2"]] if row.get("var2") else [])
    return (row["level"], row["kind"], frozenset(terms))


@pytest.mark.parametrize("name", list(REF["models"]))
def test_the_optimum_is_glmers(name):
    ref = REF["models"][name]
    fit = fitted(name)
    assert fit.verified and fit.cov_method == "Hessian of the Laplace deviance"
    assert fit.loglik == pytest.approx(ref["loglik"], abs=LOGLIK_ATOL)  # logLik(m)
    tight = TIGHT["nested"][name]
    assert fit.loglik == pytest.approx(tight["loglik"], abs=TIGHT_LOGLIK_ATOL)
    assert tight["se_spread"] < TIGHT_SE_RTOL / 2  # the reference is that precise
    for i, (term, row) in enumerate(ref["coefficients"].items()):  # fixef(m)
        floor = 1e-4 * row["se"]
        assert fit.beta[i] == pytest.approx(row["estimate"], rel=ESTIMATE_RTOL, abs=floor), term
        assert fit.se()[i] == pytest.approx(tight["se"][term], rel=TIGHT_SE_RTOL), term


@pytest.mark.parametrize("name", list(REF["models"]))
def test_sd_and_correlation_profiles_match_lme4s(name):
    ref = REF["models"][name]
    ours = _ours(name)
    assert len(ours) == len(ref["exact"])
    for source in ("exact", "confint"):
        for row in ref[source] or []:  # confint: null where lme4 refuses (the slope model)
            mine = ours[_key(row)]
            assert mine.method == profile.PROFILE and mine.note is None, row["name"]
            # R: the signed root of the Laplace deviance minimised over the rest = 1.96
            assert mine.low == pytest.approx(row["low"], rel=PROFILE_RTOL, abs=1e-4), row["name"]
            assert mine.high == pytest.approx(row["high"], rel=PROFILE_RTOL), row["name"]
    assert (ref["confint"] is None) == (name == "random_slope")


def test_share_profiles_match_r():
    """Latent ICC of each level (nested: 'same school', 'same school and class') and the class
    level's own share, each by its own profile (R: the devfun minimised at each held share)."""
    ref = REF["models"]["null"]["shares"]
    fit = fitted("null")
    sets = {"school": [0], "class": [0, 1], "class_share": [1]}
    got = levels_profile.binary_share_intervals(fit, list(sets.values()), len(fit.model.y))
    tau = fit.theta**2
    for (name, inside), (low, high, note) in zip(sets.items(), got, strict=True):
        estimate = tau[inside].sum() / (tau.sum() + np.pi**2 / 3)
        assert estimate == pytest.approx(ref[name]["estimate"], rel=1e-4)
        assert note is None
        assert low == pytest.approx(ref[name]["low"], rel=PROFILE_RTOL), name
        assert high == pytest.approx(ref[name]["high"], rel=PROFILE_RTOL), name


def test_wald_stands_in_beyond_the_row_limit(monkeypatch):
    """Beyond MAX_BINARY_PROFILE_ROWS: Wald on the log-SD / atanh scale from the fit's own
    curvature, saying why; close to the profile here (within 5% of the interval's width)."""
    monkeypatch.setattr(levels_profile, "MAX_BINARY_PROFILE_ROWS", 1000)
    fit = fitted("random_slope")
    rows = levels_profile.binary_levels_intervals(fit, len(fit.model.y))
    exact = {_key(r): r for r in REF["models"]["random_slope"]["exact"]}
    flat = [r for level in rows.values() for r in level]
    assert all(r.method == profile.WALD for r in flat)
    assert all("3,600 rows (more than 1,000)" in r.note for r in flat)
    school = rows["school"][0]
    ref = exact[("school", "sd", frozenset(["(Intercept)"]))]
    width = ref["high"] - ref["low"]
    assert abs(school.low - ref["low"]) < 0.05 * width
    assert abs(school.high - ref["high"]) < 0.05 * width
    # the null model's ICCs: Wald on the logit scale, from the same curvature
    null = fitted("null")
    shares = REF["models"]["null"]["shares"]
    got = levels_profile.binary_share_intervals(null, [[0], [0, 1]], len(null.model.y))
    for (low, high, note), key in zip(got, ("school", "class"), strict=True):
        assert note.startswith("Wald on the logit scale: with 3,600 rows")
        width = shares[key]["high"] - shares[key]["low"]
        assert abs(low - shares[key]["low"]) < 0.05 * width
        assert abs(high - shares[key]["high"]) < 0.05 * width


def test_the_ladder_writes_intervals_icc_mor_and_cr1(tmp_path):
    """`hlm-report fit` end to end: the null model's ICCs and MORs per level with their
    intervals, the final model's variance components with profile intervals, and the logistic
    rung's CR1 clustered on schools as sandwich::vcovCL."""
    config = write_config(
        tmp_path, "binary", data=REFERENCE / "three_level_binary.csv", outcome="y",
        family="binomial", predictors=["x", "w"], group=["school", "class"],
        random_slopes={"class": ["x"]},
    )  # fmt: skip
    out = tmp_path / "out"
    assert main(["fit", str(config), "--out", str(out)]) == 0
    results = read_json(out / "results.json")
    # CR1 of the logistic regression, clustered on the outermost level
    cluster = results.model(ModelName.LOGISTIC_CLUSTER)
    ref = REF["logistic_cluster"]
    assert cluster.n_groups == ref["n_clusters"]
    for fe in cluster.fixed_effects:
        r = ref["coefficients"][fe.term]
        assert fe.estimate == pytest.approx(r["estimate"], rel=1e-6)
        assert fe.std_error == pytest.approx(r["se"], rel=SE_RTOL), fe.term
        assert cluster.robust.cr1_std_error[fe.term] == pytest.approx(r["se"], rel=SE_RTOL)
    # the null model: ICC per level (cumulative) and MOR per level, both with profile intervals
    null, nref = results.model(ModelName.NULL), REF["models"]["null"]
    for level, icc_key in zip(null.levels, ("school", "class"), strict=True):
        r = nref["shares"][icc_key]
        assert level.icc.method == "latent scale, profile likelihood, 95%"
        assert level.icc.ci_low == pytest.approx(r["low"], rel=PROFILE_RTOL)
        assert level.icc.ci_high == pytest.approx(r["high"], rel=PROFILE_RTOL)
        mor = next(row["mor"] for row in nref["exact"]
                   if row["level"] == level.level and row["kind"] == "sd")  # fmt: skip
        assert level.median_odds_ratio.estimate == pytest.approx(mor["estimate"], rel=1e-4)
        assert level.median_odds_ratio.ci_low == pytest.approx(mor["low"], rel=PROFILE_RTOL)
        assert level.median_odds_ratio.ci_high == pytest.approx(mor["high"], rel=PROFILE_RTOL)
        assert "profile-likelihood" in level.median_odds_ratio.method
    assert null.median_odds_ratio == null.levels[0].median_odds_ratio  # the outermost level's
    # the final model's variance components: profile intervals of SDs and the correlation
    final = results.final
    assert results.final_model == ModelName.RANDOM_SLOPE
    exact = {_key(r): r for r in REF["models"]["random_slope"]["exact"]}
    for vc in final.variance_components:
        kind = "sd" if vc.term2 is None else "cor"
        terms = frozenset([vc.term1] + ([vc.term2] if vc.term2 else []))
        r = exact[(vc.group, kind, terms)]
        assert vc.sdcor == pytest.approx(r["estimate"], rel=1e-3, abs=1e-4)
        assert vc.ci_method == profile.PROFILE
        assert vc.ci_low == pytest.approx(r["low"], rel=PROFILE_RTOL, abs=1e-4)
        assert vc.ci_high == pytest.approx(r["high"], rel=PROFILE_RTOL)
    assert not any("not computed" in n and "interval" in n for n in final.notes)
    assert not any("hold the variance parameters fixed" in n for n in final.notes)
    raw = json.loads((out / "results.json").read_text())
    assert "median_odds_ratio" in raw["models"]["null"]["levels"][1]
