"""`hlm-report fit` of configs with several grouping levels (issue 22), end to end, against lme4
and lmerTest (tests/reference/levels/: make_levels_reference.R wrote levels_reference.json):
a three-level file with repeated inner ids, mlmRev's egsingle growth data (years in children in
schools, random year slopes at both levels) and ScotsSec's crossed primary and secondary schools.

Tolerances are the issue's: fixed effects within 1% of lme4's SE, SEs 2%, Satterthwaite df 1%,
variance components 2%, the REML log-likelihood never more than 1e-4 below lme4's.
"""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from helpers import REFERENCE, fit, write_config

from hlm_analysis.cli import main
from hlm_analysis.data.aggregate import prepare_in_engine
from hlm_analysis.data.engines import open_engine
from hlm_analysis.data.prepare import columns_used
from hlm_analysis.data.route import prepare
from hlm_analysis.data.source import open_source
from hlm_analysis.model import multilevel
from hlm_analysis.results import INTERCEPT, ModelName, Reference, TermKind, read_json
from hlm_analysis.schema import results_schema
from hlm_analysis.spec import load_spec

LEVELS = REFERENCE / "levels"
LME4 = json.loads((LEVELS / "levels_reference.json").read_text())

CONFIGS = {
    "three_level": {
        "data": LEVELS / "three_level.csv",
        "outcome": "score",
        "predictors": ["prior", "fsm"],
        "group": ["school", "class"],
        "random_slopes": {"class": ["prior"]},
    },
    "growth": {
        "data": LEVELS / "egsingle.csv",
        "outcome": "math",
        "time": "year",
        "predictors": ["female", "black", "hispanic", "lowinc"],
        "group": ["schoolid", "childid"],
        "random_slopes": {"schoolid": ["year"], "childid": ["year"]},
    },
    "crossed": {
        "data": LEVELS / "scotssec.csv",
        "outcome": "attain",
        "predictors": ["verbal", "sex"],
        "reference": {"sex": "M"},  # as the R script's sexF
        "group": ["primary", "second"],
        "crossed": True,
    },
}
# our rung -> the lme4 model of the same formula
RUNGS = {
    "three_level": {"null": "null", "random_intercept": "random_intercept",
                    "random_slope": "random_slope"},
    "growth": {"null": "null", "random_intercept": "random_intercept",
               "random_slope": "random_slope"},
    "crossed": {"null": "null", "random_intercept": "predictors"},
}  # fmt: skip
FINAL = {"three_level": "random_slope", "growth": "random_slope", "crossed": "random_intercept"}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cache = {}

    def get(case: str):
        if case not in cache:
            directory = tmp_path_factory.mktemp(case)
            config = write_config(directory, case, **CONFIGS[case])
            out = directory / "out"
            # the command line, as an analyst runs it
            assert main(["fit", str(config), "--out", str(out)]) == 0
            cache[case] = (read_json(out / "results.json"), out)
        return cache[case]

    return get


def _r_name(results, term: str) -> str:
    """lme4's coefficient name of one of our design terms (a dummy is variable + level)."""
    t = results.design.term(term)
    return t.variable + t.level if t.kind == TermKind.DUMMY else term


@pytest.mark.parametrize(
    "case,rung", [(c, r) for c, rungs in RUNGS.items() for r in rungs], ids=lambda v: str(v)
)
def test_every_rung_matches_lme4_and_lmertest(fitted, case, rung):
    results, _ = fitted(case)
    model = results.model(rung)
    ref = LME4[case]["models"][RUNGS[case][rung]]["reml"]
    # lme4: logLik(lmer(formula, REML = TRUE)); ours is never worse than lme4's optimum
    assert model.loglik >= ref["loglik"] - 1e-4
    assert model.converged
    # lmerTest: summary(m)$coefficients (Satterthwaite df)
    for fe in model.fixed_effects:
        r = ref["coefficients"][_r_name(results, fe.term)]
        assert abs(fe.estimate - r["estimate"]) <= 0.01 * r["se"], fe.term
        assert fe.std_error == pytest.approx(r["se"], rel=0.02), fe.term
        assert fe.df == pytest.approx(r["df"], rel=0.01), fe.term
    # as.data.frame(VarCorr(m)): each level's rows named by the level's column
    ours = {(vc.group, vc.term1, vc.term2): vc.estimate for vc in model.variance_components}
    assert len(ours) == len(ref["varcorr"])
    for row in ref["varcorr"]:
        key = (row["level"], row["var1"], row["var2"])
        scale = max(abs(row["vcov"]), 1e-8)
        # a covariance is held to 2% of the variances' geometric mean (it can be near zero)
        if row["var2"] is not None:
            variances = [r["vcov"] for r in ref["varcorr"] if r["level"] == row["level"]
                         and r["var2"] is None and r["var1"] in (row["var1"], row["var2"])]  # fmt: skip
            scale = float(np.sqrt(np.prod(variances)))
        assert abs(ours[key] - row["vcov"]) <= 0.02 * scale, key
    # ML refit: logLik(refitML(m)) for AIC, BIC and the likelihood-ratio tests
    ml = LME4[case]["models"][RUNGS[case][rung]]["ml"]
    assert model.loglik_ml >= ml["loglik"] - 1e-4
    assert model.loglik_ml == pytest.approx(ml["loglik"], abs=1e-3)
    assert model.formula.count("|") == len(results.spec.levels)


@pytest.mark.parametrize("case", list(CONFIGS))
def test_null_model_variance_shares_iccs_and_level_lrts(fitted, case):
    results, _ = fitted(case)
    null = results.model("null")
    ref = LME4[case]["models"]["null"]["reml"]
    shares = ref["variance_shares"]
    assert [lv.level for lv in null.levels] == list(results.spec.levels)
    for lv in null.levels:
        # VarCorr shares: tau_l / (sum tau + sigma2)
        assert lv.variance_share == pytest.approx(shares["vpc"][lv.level], rel=0.01)
        assert lv.variance_share == pytest.approx(
            shares["performance_icc_by_group"][lv.level], rel=0.01
        )
        # nested: same group here and above (cumulative); crossed: this factor's own share
        expected = shares["vpc"][lv.level] if results.spec.crossed else shares["icc_same"][lv.level]
        assert lv.icc.estimate == pytest.approx(expected, rel=0.01)
        assert lv.icc.ci_low < lv.icc.estimate < lv.icc.ci_high
        # anova(refit-free REML fits): the null model without this level
        lrt = ref["lrt"][lv.level]["term"]
        assert lv.lrt.level == lv.level and lv.lrt.df == 1
        assert lv.lrt.statistic == pytest.approx(lrt["statistic"], rel=1e-4, abs=2e-3)
        assert lv.lrt.p_value == pytest.approx(lrt["p_mixture"], rel=0.01)
        assert lv.variance_explained == 0.0
        assert len(lv.group_effects.groups) == lv.n_groups == ref["ngrps"][lv.level]
    assert null.residual_share == pytest.approx(shares["vpc"]["Residual"], rel=0.01)
    # Kish's design effect of a multistage sample (nested): 1 + sum (m_l - m_{l+1}) ICC_l
    if results.spec.crossed:
        assert null.design_effect is None
    else:
        sizes = [null.n_obs / lv.n_groups for lv in null.levels] + [1.0]
        expected = 1 + sum(
            (sizes[i] - sizes[i + 1]) * lv.icc.estimate for i, lv in enumerate(null.levels)
        )
        assert null.design_effect == pytest.approx(expected, rel=1e-12)
    # performance::icc(m)$ICC_adjusted: every level's variance over the total
    assert null.icc_adjusted == pytest.approx(shares["performance_icc_adjusted"], rel=0.01)
    # models.null.icc keeps its two-level meaning: the outermost level's
    assert null.icc == null.levels[0].icc
    assert null.n_groups == null.levels[0].n_groups
    # the first comparison tests every level's intercept variance at once
    first = results.comparisons[0]
    assert first.model_b == ModelName.RANDOM_INTERCEPT and first.df == len(results.spec.levels)
    assert first.p_value_method == Reference.CHI_BAR_LEVELS
    assert first.p_value <= first.p_value_naive


def test_final_model_component_tests_per_level(fitted):
    """lme4's anova of the final three-level model against it without each level's term and
    without the class slope (REML, not refitted): chi-bar-square 50:50 for one variance (the
    school level, the class slope with its covariance); the naive chi2(3) for the whole class
    level (intercept, slope and covariance: two variances at once, no simple mixture)."""
    results, _ = fitted("three_level")
    assert results.final_model == ModelName.RANDOM_SLOPE
    ref = LME4["three_level"]["models"]["random_slope"]["reml"]["lrt"]
    tests = {(t.level, t.term): t for t in results.component_tests}
    expected = {
        ("school", INTERCEPT): ref["school"]["term"],
        ("class", INTERCEPT): ref["class"]["term"],
        ("class", "prior"): ref["class"]["slopes"],
    }
    assert set(tests) == set(expected)
    for key, r in expected.items():
        assert tests[key].df == r["df"], key
        # our final model is at least as good as lme4's (which stopped at max|grad| 0.09)
        assert tests[key].statistic >= r["statistic"] - 2e-4, key
        assert tests[key].statistic == pytest.approx(r["statistic"], rel=1e-3), key
        naive = key == ("class", INTERCEPT)
        assert tests[key].p_value == pytest.approx(r["p" if naive else "p_mixture"], rel=0.05), key
        assert tests[key].p_value_method == (
            Reference.CHI_SQUARE_CONSERVATIVE if naive else Reference.CHI_BAR
        ), key


@pytest.mark.parametrize("case", list(CONFIGS))
def test_final_model_statistics_and_results_json(fitted, case):
    results, out = fitted(case)
    assert results.final_model == FINAL[case]
    final = results.final
    # Satterthwaite df on every fixed effect, CR1 on the outermost level (nested only)
    assert all(fe.df is not None and fe.df > 0 for fe in final.fixed_effects)
    robust = [fe.robust_se for fe in final.fixed_effects]
    if results.spec.crossed:
        assert robust == [None] * len(robust)
        # the OLS rung's cluster-robust SEs exist: the note is about the final model's
        assert any("crossed" in note and "of the final model" in note for note in final.notes)
    else:
        # rows in memory and few enough cells: CR2 with clubSandwich's df, below G - 1
        G = final.levels[0].n_groups
        assert all(se > 0 for se in robust)
        assert all(0 < fe.robust_df < G - 1 for fe in final.fixed_effects)
        assert any(note.startswith("The cluster-robust standard errors are CR2") for note in
                   final.notes)  # fmt: skip
    # profile intervals of every SD and correlation (the estimate inside), saying their method
    # (values against lme4's confint: tests/model/test_levels_profile.py)
    for vc in final.variance_components:
        assert vc.ci_method == "profile" and vc.ci_low <= vc.sdcor < vc.ci_high, vc
    # contextual effects at every level are computed (tests/model/test_levels_contextual.py):
    # no note says they are missing
    assert not any("contextual effects" in note for note in final.notes)
    for lv in final.levels:
        effects = lv.group_effects
        assert len(effects.estimate) == lv.n_groups and len(effects.terms) == len(lv.terms)
        assert all(0 <= r <= 1 for r in lv.reliability.values())
        assert lv.variance_explained is not None
    # the published schema holds a multilevel results.json
    raw = json.loads((out / "results.json").read_text())
    jsonschema.Draft202012Validator(results_schema()).validate(raw)
    # per-level health rows name their level
    groups = [h for h in results.health if h.check.value == "groups"]
    assert [h.level for h in groups] == list(results.spec.levels)


def test_conditional_modes_match_lme4(fitted):
    """ranef(m, condVar = TRUE) of the growth model: the first groups' modes and SDs."""
    results, _ = fitted("growth")
    model = results.model("random_slope")
    blups = LME4["growth"]["models"]["random_slope"]["reml"]["blups"]
    for lv in model.levels:
        ref = blups[lv.level]
        effects = lv.group_effects
        index = {}
        for g, label in enumerate(effects.groups):
            parent = model.levels[0].group_effects.groups[lv.parents[g]] if lv.parents else None
            index[(label, parent)] = g
        for row in ref["first"]:
            ids = row["ids"]
            key = (ids[lv.level], ids["schoolid"] if lv.level != "schoolid" else None)
            g = index[key]
            for t, term in enumerate(effects.terms):
                sd = ref["mode_sd"][term]
                assert abs(effects.estimate[g][t] - row["mode"][term]) <= 0.02 * sd, (key, term)
                assert effects.std_error[g][t] == pytest.approx(row["cond_sd"][term], rel=0.02)


@pytest.fixture(scope="module")
def engines():
    duckdb, spark = open_engine("duckdb"), open_engine("spark")
    yield {"duckdb": duckdb, "spark": spark}
    duckdb.close()


@pytest.mark.parametrize("case", list(CONFIGS))
def test_data_paths_give_the_same_log_likelihoods(tmp_path, engines, case):
    """In memory, DuckDB and Spark reduce the rows to the same cell sums: every mixed model's
    REML and ML log-likelihoods agree within 1e-8 (nested, growth and crossed)."""
    spec = load_spec(write_config(tmp_path, case, **CONFIGS[case]))
    paths = [prepare(spec)] + [
        prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)
        for engine in engines.values()
    ]
    logliks = []
    for prepared in paths:
        assert prepared.levels is not None
        fits = [
            multilevel.fit_mixed(prepared, mdef)
            for mdef in multilevel.ladder(prepared)
            if mdef.random
        ]
        logliks.append([(f.reml.loglik, f.ml.loglik) for f in fits])
    for other in logliks[1:]:
        np.testing.assert_allclose(np.array(other), np.array(logliks[0]), rtol=0, atol=1e-8)


BINARY = REFERENCE / "levels_binary"
GLMER = json.loads((BINARY / "levels_binary_reference.json").read_text())


def test_binary_outcome_with_nested_levels_matches_glmer(tmp_path):
    """`family: binomial` with pupils in classes in schools: each mixed rung against glmer
    (nAGQ = 1; make_levels_binary_reference.R): log-likelihood, fixed effects within 1% of an
    SE, SEs 2%, variance components 2%; odds ratios, latent variance shares and ICCs, LRTs per
    level, and a valid results.json."""
    config = write_config(
        tmp_path, "binary", data=BINARY / "three_level_binary.csv", outcome="y",
        family="binomial", predictors=["x", "w"], group=["school", "class"],
        random_slopes={"class": ["x"]},
    )  # fmt: skip
    out = tmp_path / "out"
    assert main(["fit", str(config), "--out", str(out)]) == 0
    results = read_json(out / "results.json")
    assert results.final_model == ModelName.RANDOM_SLOPE
    for rung in ("random_intercept", "random_slope"):
        model, ref = results.model(rung), GLMER["models"][rung]
        assert model.loglik >= ref["loglik"] - 1e-4 and model.converged
        for fe in model.fixed_effects:
            r = ref["coefficients"][fe.term]
            assert abs(fe.estimate - r["estimate"]) <= 0.01 * r["se"], fe.term
            assert fe.std_error == pytest.approx(r["se"], rel=0.02), fe.term
            assert fe.odds_ratio == pytest.approx(np.exp(fe.estimate), rel=1e-12)
        ours = {(vc.group, vc.term1, vc.term2): vc.estimate for vc in model.variance_components}
        assert len(ours) == len(ref["varcorr"])  # no residual row, as glmer
        for row in ref["varcorr"]:
            key = (row.get("level", row["grp"].split(":")[0]), row["var1"], row["var2"])
            if row["var2"] is None:
                assert ours[key] == pytest.approx(row["vcov"], rel=0.02), key
            else:
                assert abs(ours[key] - row["vcov"]) <= 0.02 * max(abs(row["vcov"]), 0.01), key
    null = results.model("null")
    taus = [null.variance_components[i].estimate for i in range(2)]
    total = sum(taus) + np.pi**2 / 3
    assert [lv.variance_share for lv in null.levels] == pytest.approx([t / total for t in taus])
    assert null.levels[1].icc.estimate == pytest.approx(sum(taus) / total)
    assert all(lv.lrt.statistic > 0 and lv.lrt.df == 1 for lv in null.levels)
    assert {(t.level, t.term) for t in results.component_tests} == {
        ("school", INTERCEPT), ("class", "x"), ("class", INTERCEPT),
    }  # fmt: skip
    assert results.final.average_predictions
    raw = json.loads((out / "results.json").read_text())
    jsonschema.Draft202012Validator(results_schema()).validate(raw)


def test_single_level_fit_is_unchanged_by_the_levels_keys(tmp_path):
    """A one-level config writes none of the keys added for several levels."""
    config = write_config(
        tmp_path, "one", data=REFERENCE / "exam.csv", outcome="normexam",
        predictors=["standLRT"], group=["school"],
    )  # fmt: skip
    results = fit(config, tmp_path / "out")
    raw = json.loads((tmp_path / "out" / "results.json").read_text())
    for model in raw["models"].values():
        assert "levels" not in model and "residual_share" not in model
    for row in raw["health"] + raw["component_tests"]:
        assert "level" not in row
    assert all(not m.levels for m in results.models.values())


def _three_levels(path, seed: int = 1):
    """Pupils in classes in schools (class ids repeat across schools), a class-level random
    slope of x and none at the school level."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for s in range(30):
        school, w = rng.normal(0, 1.0), rng.normal()
        for c in range(rng.integers(3, 7)):
            klass, slope = rng.normal(0, 0.7), rng.normal(0, 0.3)
            for _ in range(rng.integers(4, 12)):
                x = rng.normal()
                y = 1 + 0.5 * x + 0.3 * w + school + klass + slope * x + rng.normal()
                rows.append({"school": f"s{s}", "klass": str(c + 1), "x": x, "w": w, "y": y})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_slope_singular_at_one_level_is_dropped_there_only(tmp_path):
    """Random slopes of x at both levels where only classes differ in it: the school slope is
    at zero (correlated and uncorrelated), so the final model keeps the class slope, drops the
    school one, and the reason names the level."""
    data = _three_levels(tmp_path / "three.csv")
    config = write_config(
        tmp_path, "both", data=data, outcome="y", predictors=["x", "w"],
        group=["school", "klass"], random_slopes={"school": ["x"], "klass": ["x"]},
    )  # fmt: skip
    results = fit(config, tmp_path / "out")
    assert results.final_model == ModelName.RANDOM_SLOPE
    final = results.final
    assert final.formula == "y ~ 1 + x + w + (1 | school) + (1 + x | school:klass)"
    assert [lv.terms for lv in final.levels] == [(INTERCEPT,), (INTERCEPT, "x")]
    assert "random slopes at the school level could not be estimated" in (
        results.final_model_reason
    )
    assert "with random slopes at the klass level" in results.final_model_reason
    assert any("left out" in note for note in final.notes)
    # the slope's variance test is at the level it stays at
    tests = {(t.level, t.term) for t in results.component_tests}
    assert tests == {("school", INTERCEPT), ("klass", "x"), ("klass", INTERCEPT)}


def test_slopes_singular_at_every_level_leave_random_intercepts(tmp_path):
    """The singular three-level file: slopes of prior at both levels are at zero, so the
    interaction model stands with random intercepts and the cross-level interaction's
    model-based test is flagged as too liberal."""
    config = write_config(
        tmp_path, "singular", data=LEVELS / "three_level_singular.csv", outcome="score",
        predictors=["prior", "fsm", "sector"], group=["school", "class"],
        random_slopes={"school": ["prior"], "class": ["prior"]},
        interactions=["prior:sector"],
    )  # fmt: skip
    results = fit(config, tmp_path / "out")
    assert results.final_model == ModelName.INTERACTION_INTERCEPT
    assert "random intercepts at every level" in results.final_model_reason
    assert "the school level and the class level could not be estimated" in (
        results.final_model_reason
    )
    assert results.liberal_cross_level_tests == ("prior:sector",)
    assert [s.moderator_value for s in results.simple_slopes] == ["academy", "maintained"]
    # the school variance is at zero: said per level in the health checks
    singular = [h for h in results.health if h.check.value == "singular"]
    assert {h.level for h in singular if h.model == results.final_model} == {"school"}
    assert {h.level for h in singular if h.model == ModelName.RANDOM_SLOPE} == {"school", "class"}


def test_cr2_of_nested_levels_is_the_dense_definition(tmp_path):
    """CR2 clustered on schools of a three-level model equals Pustejovsky & Tipton's formula
    with each school's dense V_j / sigma2 = I + sum_l Z_l (Sigma_l / sigma2) Z_l' (rows sharing
    a group at level l), and CR1 from the cell sums equals the dense sandwich with G / (G - 1)."""
    data = _three_levels(tmp_path / "three.csv", seed=5)
    config = write_config(
        tmp_path, "cr2", data=data, outcome="y", predictors=["x", "w"],
        group=["school", "klass"], random_slopes={"klass": ["x"]},
    )  # fmt: skip
    prepared = prepare(load_spec(config))
    mdef = next(m for m in multilevel.ladder(prepared) if m.name == ModelName.RANDOM_SLOPE)
    fit = multilevel.fit_mixed(prepared, mdef)
    rows, levels = prepared.rows, prepared.levels.levels
    X = rows.matrix(list(mdef.fixed))
    beta, sigma2 = np.asarray(fit.reml.beta), float(fit.reml.sigma2)
    Theta = np.eye(len(X))
    for lv in levels:
        terms = mdef.random_at(lv.name)
        Z, g = rows.matrix(terms), lv.codes[rows.group_codes]
        same = g[:, None] == g[None, :]
        Theta += same * (Z @ (np.asarray(fit.reml.re_cov[lv.name]) / sigma2) @ Z.T)
    outer = levels[0].codes[rows.group_codes]
    clusters = [np.flatnonzero(outer == j) for j in range(len(levels[0].labels))]
    e = rows.y - X @ beta
    M = np.linalg.inv(sum(X[i].T @ np.linalg.solve(Theta[np.ix_(i, i)], X[i]) for i in clusters))
    meat, scores, p = np.zeros((X.shape[1],) * 2), [], X.shape[1]
    for i in clusters:
        t = Theta[np.ix_(i, i)]
        R = np.linalg.cholesky(t).T
        B = R @ (t - X[i] @ M @ X[i].T) @ R.T
        w, v = np.linalg.eigh((B + B.T) / 2)
        cut = max(1e-12, 1e-10 * w.max())
        A = R.T @ (v * np.where(w > cut, 1 / np.sqrt(np.maximum(w, cut)), 0)) @ v.T @ R
        u = X[i].T @ np.linalg.solve(t, A) @ e[i]
        meat += np.outer(u, u)
        scores.append(X[i].T @ np.linalg.solve(t, e[i]))
    extras = multilevel.final_extras(prepared, fit)
    np.testing.assert_allclose(extras.robust.cov, M @ meat @ M, rtol=1e-8)
    G = len(clusters)
    S = np.array(scores)
    cr1 = multilevel.cr1_levels(prepared, fit)
    np.testing.assert_allclose(cr1.cov, M @ (S.T @ S) @ M * G / (G - 1), rtol=1e-8)
    assert p == 3


def test_wald_intervals_of_one_level_are_the_two_level_engines(tmp_path):
    """The variance components' Wald intervals (log SD, atanh correlation, from the ML
    curvature) of a model with the class level alone equal those the two-level code computes
    with its analytic Hessian on the class sums (profile.wald_intervals)."""
    from dataclasses import replace

    from hlm_analysis.model import lmm, profile

    config = write_config(tmp_path, "three", **CONFIGS["three_level"])
    prepared = prepare(load_spec(config))
    mdef = next(m for m in multilevel.ladder(prepared) if m.name == ModelName.RANDOM_SLOPE)
    one = replace(mdef, levels=(("class", (INTERCEPT, "prior")),), random=[INTERCEPT, "prior"])
    fit = multilevel.fit_mixed(prepared, one)
    ours = multilevel.wald_intervals(fit)
    inner = prepared.levels.levels[1]
    sums = lmm.model_sums(
        prepared.sums.collapse(inner.codes, len(inner.labels)), list(one.fixed), list(one.random)
    )
    theta = lmm.theta_of(lmm.psd_factor(fit.ml.re_cov["class"] / fit.ml.sigma2))
    expected = profile.wald_intervals(theta, float(np.sqrt(fit.ml.sigma2)), sums)
    got = [(i.low, i.high) for i in ours["class"] + ours["Residual"]]
    np.testing.assert_allclose(np.array(got, float), expected, rtol=2e-4)
    assert all(i.method == "wald" for i in ours["class"])


def test_growth_lines_per_level_add_the_effects_of_the_groups_a_child_is_in(fitted):
    """Each child's own growth per year is the fixed year slope plus its school's and its own
    random year effects; each school's line has its own effect only."""
    results, _ = fitted("growth")
    final = results.final
    year = final.effect("year").estimate
    school, child = final.levels
    t_school, t_child = (
        school.group_effects.terms.index("year"),
        child.group_effects.terms.index("year"),
    )
    for g, (_, slope) in enumerate(school.group_effects.lines):
        assert slope == pytest.approx(year + school.group_effects.estimate[g][t_school], abs=1e-10)
    for g, (_, slope) in enumerate(child.group_effects.lines):
        parent = child.parents[g]
        expected = (
            year
            + school.group_effects.estimate[parent][t_school]
            + child.group_effects.estimate[g][t_child]
        )
        assert slope == pytest.approx(expected, abs=1e-10)
    assert len(child.group_effects.lines) == child.n_groups


@pytest.mark.parametrize("case", list(CONFIGS))
def test_icc_after_predictors_sums_every_level(fitted, case):
    """The ladder table's 'ICC after predictors' of the random-intercept rung is performance::icc's
    adjusted ICC, every level's intercept variance over the total (it printed the outermost
    level's share alone: growth 0.077 where R gives 0.685)."""
    results, _ = fitted(case)
    model = results.model("random_intercept")
    varcorr = LME4[case]["models"][RUNGS[case]["random_intercept"]]["reml"]["varcorr"]
    between = sum(r["vcov"] for r in varcorr if r["level"] != "Residual")
    residual = next(r["vcov"] for r in varcorr if r["level"] == "Residual")
    expected = between / (between + residual)
    assert model.icc_after == pytest.approx(expected, rel=0.01)
    # the outermost level's share alone is a different, smaller figure
    assert model.icc_residual < expected and model.icc_residual != pytest.approx(expected, rel=0.01)
