"""The binary-outcome ladder end to end (config -> results.json) against glmer and glm, R 4.2.2
with lme4 1.1-31 (tests/reference/glmer_reference.json, made by make_glmer_reference.R in
../shared/reference).

Tolerances (issue 14): fixed effects within 1% of their SE (1.5% for VerbAgg's Laplace random
intercept, where glmer's own inner iterations stop early, tolPwrss = 1e-7: with 1e-13 it agrees
within 4e-5 SE, see test_reference_glmer.py); SEs within 2%; log-likelihood never more than 1e-3
below glmer's; variance components within 2%; latent ICC within 1e-3; the
boundary fit flagged singular. Also: odds ratios are exp(estimate), and average marginal effects
agree with the definition evaluated here from the reported coefficients.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, fit, write_config

GLMER = json.loads((REFERENCE / "glmer_reference.json").read_text())
# bacteria's correlated random slope is singular (correlation 1; the correlated fit itself is
# checked in test_reference_glmer.py), so the ladder's random-slope rung is the uncorrelated form
# (issue 21): R values from make_issue21_reference.R, tight glmer, in glmer_reference's shape
_UNCORRELATED = json.loads((REFERENCE / "issue21_reference.json").read_text())["binary"][
    "uncorrelated_slope"
]
GLMER["bacteria"]["random_slope_uncorrelated"] = {
    "fixef": _UNCORRELATED["fixef"],
    "se": _UNCORRELATED["se"],
    "loglik": _UNCORRELATED["loglik"],
    "aic": -2 * _UNCORRELATED["loglik"] + 2 * (4 + 2),  # 4 fixed effects, 2 SDs
    "varcomp": [dict(row, var2=None) for row in _UNCORRELATED["varcorr"]],
    "singular": _UNCORRELATED["singular"],
}

# R's factor levels: bacteria's trt is placebo, drug, drug+; VerbAgg's mode is want, do.
CONFIGS = {
    "bacteria": {
        "outcome": "y",
        "event": "y",
        "predictors": ["trt", "week"],
        "group": "ID",
        "random_slopes": ["week"],
        "reference": {"trt": "placebo"},
    },
    "verbagg": {
        "outcome": "r2",
        "event": "Y",
        "predictors": ["Anger", "Gender", "btype", "mode"],
        "group": "id",
        "reference": {"mode": "want"},
    },
}
NAMES = {  # lme4's dummy names -> ours
    "trtdrug": "trt[T.drug]",
    "trtdrug+": "trt[T.drug+]",
    "GenderM": "Gender[T.M]",
    "btypescold": "btype[T.scold]",
    "btypeshout": "btype[T.shout]",
    "modedo": "mode[T.do]",
}
_fits: dict = {}


def fitted(dataset: str, tmp_path_factory, nagq: int = 1):
    key = (dataset, nagq)
    if key not in _fits:
        folder = tmp_path_factory.mktemp(f"{dataset}{nagq}")
        keys = dict(CONFIGS[dataset])
        if nagq > 1:
            keys["random_slopes"] = []
        config = write_config(
            folder, dataset, data=REFERENCE / f"{dataset}.csv", family="binomial",
            nagq=nagq, **keys,
        )  # fmt: skip
        _fits[key] = fit(config, folder / "out")
    return _fits[key]


MIXED = [
    ("bacteria", "null", "null", 1),
    ("bacteria", "random_intercept", "random_intercept", 1),
    ("bacteria", "random_slope_uncorrelated", "random_slope", 1),
    ("bacteria", "random_intercept_agq10", "random_intercept", 10),
    ("verbagg", "null", "null", 1),
    ("verbagg", "random_intercept", "random_intercept", 1),
    ("verbagg", "random_intercept_agq10", "random_intercept", 10),
]


def _fixef(ref: dict) -> dict[str, tuple[float, float]]:
    if isinstance(ref["fixef"], list):  # the null model: the intercept alone
        return {"(Intercept)": (ref["fixef"][0], ref["se"][0])}
    return {NAMES.get(t, t): (v, ref["se"][t]) for t, v in ref["fixef"].items()}


@pytest.mark.parametrize(("dataset", "key", "model", "nagq"), MIXED)
def test_mixed_models_match_glmer(tmp_path_factory, dataset, key, model, nagq):
    ref = GLMER[dataset][key]
    result = fitted(dataset, tmp_path_factory, nagq).model(model)
    assert result.family == "binomial" and result.nagq == nagq
    # R: fixef(m); sqrt(diag(vcov(m)))  (use.hessian = TRUE)
    for term, (value, se) in _fixef(ref).items():
        fe = result.effect(term)
        tolerance = 0.015 if (dataset, key) == ("verbagg", "random_intercept") else 0.01
        assert abs(fe.estimate - value) <= tolerance * se, term
        assert fe.std_error == pytest.approx(se, rel=0.02), term
        assert fe.odds_ratio == pytest.approx(math.exp(fe.estimate), rel=1e-12)
        assert fe.odds_ratio_ci_low == pytest.approx(math.exp(fe.ci_low), rel=1e-12)
    # R: logLik(m)
    assert result.loglik >= ref["loglik"] - 1e-3
    assert result.loglik <= ref["loglik"] + 1e-2
    assert result.aic == pytest.approx(ref["aic"], abs=0.025)  # 2 x the loglik tolerance
    # R: as.data.frame(VarCorr(m))
    ours = {(vc.term1, vc.term2): vc for vc in result.variance_components}
    for row in ref["varcomp"]:
        vc = ours[(row["var1"], row["var2"])]
        assert vc.estimate == pytest.approx(row["vcov"], rel=0.02, abs=2e-3), row
    assert not any(vc.group == "Residual" for vc in result.variance_components)
    # R: isSingular(m)
    assert result.singular == ref["singular"]
    assert result.uncorrelated == key.endswith("_uncorrelated")
    if key == "null":  # tau00 / (tau00 + pi^2 / 3)
        assert result.icc.estimate == pytest.approx(ref["icc_latent"], abs=1e-3)
        assert result.icc.ci_low < result.icc.estimate < result.icc.ci_high


@pytest.mark.parametrize("dataset", ["bacteria", "verbagg"])
def test_logistic_matches_glm(tmp_path_factory, dataset):
    ref = GLMER[dataset]["logistic"]
    result = fitted(dataset, tmp_path_factory).model("logistic")
    # R: coef(glm(..., family = binomial)); summary(g)$coefficients[, 2]; logLik(g)
    for term, value in ref["coef"].items():
        fe = result.effect(NAMES.get(term, term))
        assert fe.estimate == pytest.approx(value, rel=1e-6, abs=1e-8), term
        assert fe.std_error == pytest.approx(ref["se"][term], rel=1e-4), term
    assert result.loglik == pytest.approx(ref["loglik"], rel=1e-9)


def test_average_marginal_effects_follow_their_definition(tmp_path_factory):
    """Logistic model (no group effects): a numeric term's AME is mean p(1-p) b; a dummy's is
    the mean change in p when every row moves from the reference level to that level."""
    results = fitted("bacteria", tmp_path_factory)
    model = results.model("logistic")
    data = pd.read_csv(REFERENCE / "bacteria.csv")
    b = {fe.term: fe.estimate for fe in model.fixed_effects}

    def eta(trt: pd.Series) -> np.ndarray:
        return (
            b["(Intercept)"]
            + b["trt[T.drug]"] * (trt == "drug")
            + b["trt[T.drug+]"] * (trt == "drug+")
            + b["week"] * data["week"]
        ).to_numpy(float)

    p = 1 / (1 + np.exp(-eta(data["trt"])))
    assert model.effect("week").marginal_effect == pytest.approx(
        np.mean(p * (1 - p)) * b["week"], rel=1e-9
    )
    everyone = pd.Series(["drug"] * len(data))
    placebo = pd.Series(["placebo"] * len(data))
    change = 1 / (1 + np.exp(-eta(everyone))) - 1 / (1 + np.exp(-eta(placebo)))
    assert model.effect("trt[T.drug]").marginal_effect == pytest.approx(change.mean(), rel=1e-9)
    assert model.effect("(Intercept)").marginal_effect is None


def test_boundary_slope_is_refitted_uncorrelated_and_the_report_rests_on_it(tmp_path_factory):
    # glmer's (1 + week | ID) is singular (correlation 1: GLMER["bacteria"]["random_slope"]);
    # (1 + week || ID) is not, so the slope stays in (issue 21), and nothing is flagged singular
    assert GLMER["bacteria"]["random_slope"]["singular"]
    results = fitted("bacteria", tmp_path_factory)
    slope = results.model("random_slope")
    assert slope.uncorrelated and not slope.singular and slope.singular_terms == ()
    assert results.final_model == "random_slope"
    assert "uncorrelated form" in results.final_model_reason
    assert results.liberal_cross_level_tests == ()
    checks = {(h.model, h.check) for h in results.health}
    assert ("random_slope", "singular") not in checks
    assert ("all", "rare_events") in checks
