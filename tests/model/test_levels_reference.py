"""The levels engine against lme4/lmerTest (tests/reference/levels, made by
make_levels_reference.R): nested growth data with year slopes at both levels, a crossed design,
synthetic pupils in classes in schools with repeated class ids, and a file whose school variance
is at the boundary. Tolerances of issue 22: fixed effects within 1% of an SE, SEs 2%,
Satterthwaite df 1%, REML log-likelihood never more than 1e-4 below lme4's, variance components
2%; conditional modes and their SDs (lme4's condVar) 1%."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hlm_analysis.data.sums import DesignSums, from_rows
from hlm_analysis.model.levels import fit_levels

REFERENCE = Path(__file__).parent.parent / "reference" / "levels"

# each case: the outcome, its design columns (name -> how to build it from the frame), levels
FILES = {
    "growth": ("egsingle.csv", "math", ["schoolid", "childid"], False),
    "crossed": ("scotssec.csv", "attain", ["primary", "second"], True),
    "three_level": ("three_level.csv", "score", ["school", "class"], False),
    "three_level_singular": ("three_level_singular.csv", "score", ["school", "class"], False),
}
# lme4's coefficient names -> design columns built here
TERMS = {
    "(Intercept)": lambda d: np.ones(len(d)),
    "year": lambda d: d["year"].to_numpy(float),
    "female": lambda d: d["female"].to_numpy(float),
    "black": lambda d: d["black"].to_numpy(float),
    "hispanic": lambda d: d["hispanic"].to_numpy(float),
    "lowinc": lambda d: d["lowinc"].to_numpy(float),
    "verbal": lambda d: d["verbal"].to_numpy(float),
    "sexF": lambda d: (d["sex"] == "F").to_numpy(float),
    "prior": lambda d: d["prior"].to_numpy(float),
    "fsmyes": lambda d: (d["fsm"] == "yes").to_numpy(float),
    "sectoracademy": lambda d: (d["sector"] == "academy").to_numpy(float),
}


def reference() -> dict:
    return json.loads((REFERENCE / "levels_reference.json").read_text())


def cells(case: str, terms: list[str]):
    """(DesignSums over cells, codes per level, n_groups per level, level names, crossed,
    labels per level: each group's key, the level's ids joined by \\x1f down from the outermost
    when nested)."""
    file, outcome, levels, crossed = FILES[case]
    frame = pd.read_csv(REFERENCE / file, dtype={name: str for name in levels})
    return cells_of(frame, outcome, levels, crossed, terms)


def model_terms(model: dict) -> tuple[list[str], dict[str, list[str]]]:
    """(fixed terms in lme4's names, {level: slopes}) of a reference model."""
    fixed = list(model["reml"]["coefficients"])
    random = {}
    formula = model["formula"]
    for level, grp in model["grp"].items():
        inside = formula.split(f"| {grp})")[0].rsplit("(", 1)[1]
        random[level] = [t.strip() for t in inside.split("+") if t.strip() != "1"]
    return fixed, random


def cells_of(frame: pd.DataFrame, outcome: str, levels, crossed: bool, terms: list[str]):
    # inner ids scoped by the outer ones (nested), cells = combinations of all levels
    keys = []
    for i, level in enumerate(levels):
        key = frame[level].astype(str)
        if not crossed and i:
            key = keys[-1] + "\x1f" + key
        keys.append(key)
    cell_key = keys[-1] if not crossed else keys[0] + "\x1f" + keys[1]
    cell_labels, cell_codes = np.unique(cell_key.to_numpy(), return_inverse=True)
    codes, n_groups, level_labels = [], [], []
    for key in keys:
        labels, level_codes = np.unique(key.to_numpy(), return_inverse=True)
        per_cell = np.zeros(len(cell_labels), dtype=np.int64)
        per_cell[cell_codes] = level_codes
        codes.append(per_cell)
        n_groups.append(len(labels))
        level_labels.append(list(labels))
    columns = {t: TERMS[t](frame) for t in terms}
    sums: DesignSums = from_rows(
        outcome, frame[outcome].to_numpy(float), columns, cell_codes, len(cell_labels), terms
    )
    return sums, codes, n_groups, list(levels), crossed, level_labels


REF = reference()
CASES = [
    (case, name, crit)
    for case in ("growth", "crossed", "three_level", "three_level_singular")
    for name in REF[case]["models"]
    for crit in ("reml", "ml")
]
_FITS: dict = {}


def fitted(case: str, name: str, crit: str):
    key = (case, name, crit)
    if key not in _FITS:
        model = REF[case]["models"][name]
        fixed, random = model_terms(model)
        sums, codes, n_groups, levels, crossed, labels = cells(case, fixed)
        fit = fit_levels(
            sums, codes, n_groups, levels, crossed, fixed, random, reml=(crit == "reml")
        )
        _FITS[key] = (fit, labels)
    return _FITS[key]


@pytest.mark.parametrize(("case", "name", "crit"), CASES)
def test_fixed_effects_se_df_and_loglik(case, name, crit):
    ref = REF[case]["models"][name][crit]
    fit, _ = fitted(case, name, crit)
    assert fit.verified
    assert fit.loglik >= ref["loglik"] - 1e-4
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    coefs = ref["coefficients"]
    estimate = np.array([coefs[t]["estimate"] for t in fit.fixed])
    se = np.array([coefs[t]["se"] for t in fit.fixed])
    df = np.array([coefs[t]["df"] for t in fit.fixed])
    assert np.all(np.abs(fit.beta - estimate) <= 0.01 * se)
    assert np.allclose(fit.se(), se, rtol=0.02)
    assert np.allclose(fit.df(), df, rtol=0.01)
    assert fit.n == ref["nobs"]
    assert fit.n_groups == {k: int(v) for k, v in ref["ngrps"].items()}
    assert fit.is_singular == bool(ref["singular"])


@pytest.mark.parametrize(("case", "name", "crit"), CASES)
def test_variance_components(case, name, crit):
    ref = REF[case]["models"][name][crit]
    fit, _ = fitted(case, name, crit)
    re_cov, terms = fit.re_cov, fit.re_terms
    checked = 0
    for row in ref["varcorr"]:
        if row["level"] == "Residual":
            assert fit.sigma2 == pytest.approx(row["vcov"], rel=0.02)
            continue
        level_terms = terms[row["level"]]
        i = level_terms.index(row["var1"])
        j = i if row["var2"] is None else level_terms.index(row["var2"])
        scale = np.sqrt(re_cov[row["level"]][i, i] * re_cov[row["level"]][j, j])
        # a covariance is compared on the scale of its variances (2% of their geometric mean)
        tolerance = 0.02 * max(abs(row["vcov"]), scale if i != j else 0.0) + 1e-10
        assert re_cov[row["level"]][i, j] == pytest.approx(row["vcov"], abs=tolerance)
        checked += 1
    assert checked == sum(len(t) * (len(t) + 1) // 2 for t in terms.values())


@pytest.mark.parametrize(("case", "name", "crit"), CASES)
def test_conditional_modes_and_variances(case, name, crit):
    ref = REF[case]["models"][name][crit]
    fit, labels = fitted(case, name, crit)
    modes, covs = fit.conditional()
    crossed = REF[case]["crossed"]
    for level, blups in ref["blups"].items():
        index = {label: i for i, label in enumerate(labels[fit.names.index(level)])}
        assert blups["n_groups"] == fit.n_groups[level]
        terms = fit.re_terms[level]
        assert blups["terms"] == terms or [blups["terms"]] == terms
        spread = np.std(modes[level], axis=0, ddof=1)
        assert np.allclose(spread, [blups["mode_sd"][t] for t in terms], rtol=0.01)
        for row in blups["first"]:
            ids = row["ids"]
            if crossed or level == fit.names[0]:
                key = ids[level]
            else:  # nested: ids scoped down from the outermost level
                key = "\x1f".join(ids[name] for name in fit.names[: fit.names.index(level) + 1])
            g = index[key]
            sd = np.sqrt(np.diag(covs[level][g]))
            for k, term in enumerate(terms):
                assert modes[level][g, k] == pytest.approx(
                    row["mode"][term], abs=0.01 * row["cond_sd"][term] + 1e-8
                )
                assert sd[k] == pytest.approx(row["cond_sd"][term], rel=0.01, abs=1e-8)


CONTRAST = json.loads(
    (REFERENCE.parent / "levels_contrast" / "levels_contrast_reference.json").read_text()
)


def test_contrasts_and_joint_test_against_lmertest():
    """Satterthwaite df of contrast rows (lmerTest's contest1D) and the F test of two rows
    (contestMD) on the three-level file with a class slope and a school-level predictor."""
    fixed = CONTRAST["coefficients"]
    sums, codes, n_groups, levels, crossed, _ = cells("three_level", fixed)
    fit = fit_levels(sums, codes, n_groups, levels, crossed, fixed, {"class": ["prior"]})
    assert fit.loglik >= CONTRAST["loglik"] - 1e-4
    L = np.array([row["L"] for row in CONTRAST["contrasts"]], float)
    se = np.sqrt(np.einsum("ip,pq,iq->i", L, fit.cov_beta, L))
    for row, estimate, s, df in zip(
        CONTRAST["contrasts"], L @ fit.beta, se, fit.df(L), strict=True
    ):
        assert abs(estimate - row["estimate"]) <= 0.01 * row["se"]
        assert s == pytest.approx(row["se"], rel=0.02)
        assert df == pytest.approx(row["df"], rel=0.01)
    F, numdf, dendf = fit.f_test(np.array(CONTRAST["joint"]["L"], float))
    assert numdf == CONTRAST["joint"]["numdf"]
    assert F == pytest.approx(CONTRAST["joint"]["F"], rel=0.02)
    assert dendf == pytest.approx(CONTRAST["joint"]["dendf"], rel=0.01)
