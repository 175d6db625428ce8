"""What the verify32 levels check found against lme4/lmerTest (tests/reference/levels_verify32,
make_levels_verify32_reference.R; the full log is /work/notes/verify32-levels.md)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, write_config
from model.test_levels_reference import cells_of

from hlm_analysis.model import levels_profile, multilevel
from hlm_analysis.model.analysis import validated
from hlm_analysis.model.levels import fit_levels
from hlm_analysis.results import ModelName
from hlm_analysis.spec import load_spec

R = json.loads((REFERENCE / "levels_verify32" / "levels_verify32_reference.json").read_text())
CENTRED = json.loads(
    (REFERENCE / "levels_verify32" / "levels_calendar_centred_reference.json").read_text()
)
TERMS = ["(Intercept)", "year", "female", "black", "lowinc"]


def _calendar_fit(shift: float):
    frame = pd.read_csv(
        REFERENCE / "levels" / "egsingle.csv", dtype={"schoolid": str, "childid": str}
    )
    frame["year"] = frame["year"] + shift
    sums, codes, n_groups, names, crossed, _ = cells_of(
        frame, "math", ["schoolid", "childid"], False, TERMS
    )
    return fit_levels(sums, codes, n_groups, names, crossed, fixed=TERMS, random={}, reml=True)


@pytest.mark.parametrize("shift", [1992.5, 1e5])
def test_a_fixed_only_calendar_year_keeps_the_df_of_the_other_coefficients(shift):
    # year only in the fixed part (no random slope), as calendar years: X'V^-1 X's conditioning
    # squared made the df's finite differences drift with the sums' rounding: lowinc 64.5, 64.4
    # or 64.0 by data path (lmerTest 64.22), and with year + 1e5 (dates as numbers) 1370 with
    # a REML log-likelihood 2.4e-3 off. lmerTest (rows, QR) is unaffected by the scale.
    ref = R["calendar_fixed"]
    fit = _calendar_fit(shift)
    df, se = fit.df(), fit.se()
    for j, term in enumerate(TERMS[1:], start=1):
        c = ref["coefficients"][term]
        # lmerTest's own df for year moves 8e-4 between year and year - 1992.5 (5770.8, 5775.6)
        rel = 2e-3 if term == "year" else 1e-3
        assert df[j] == pytest.approx(c["df"], rel=rel), term  # lmerTest summary(m)
        assert se[j] == pytest.approx(c["se"], rel=1e-5), term
        assert fit.beta[j] == pytest.approx(c["estimate"], abs=1e-4 * c["se"]), term
    # against lme4 on centred year (lme4 on calendar years itself moves 3e-8): centred on the
    # exact mean, c x'1 and c^2 n rounded and the loglik stayed 1.5e-6 (year + 1992.5) and
    # 1.8e-3 (year + 1e5) below; on lmm.round_centre 1.6e-10 and 6.8e-9 (x'x's rounding)
    tol = 1e-9 if shift < 1e4 else 2e-8
    assert fit.loglik == pytest.approx(CENTRED["reml_loglik"], abs=tol)
    assert not fit.slopes_centred  # theta is the same in both fits: Wald intervals stay


def test_a_slope_far_from_zero_is_reported_as_moving_the_intercept():
    frame = pd.read_csv(
        REFERENCE / "levels" / "egsingle.csv", dtype={"schoolid": str, "childid": str}
    )
    frame["year"] = frame["year"] + 1992.5
    sums, codes, n_groups, names, crossed, _ = cells_of(
        frame, "math", ["schoolid", "childid"], False, TERMS[:2]
    )
    fit = fit_levels(sums, codes, n_groups, names, crossed, fixed=TERMS[:2],
                     random={"childid": ["year"]}, reml=True)  # fmt: skip
    assert fit.slopes_centred
    assert np.isfinite(fit.df()).all()


def test_a_component_test_leaving_a_far_slope_alone_fits_it_centred(tmp_path, monkeypatch):
    # the final growth model on calendar years without the school level leaves one level with
    # a slope on year. The two-level engine fitted that on the raw sums: a deviance with noise
    # of ~5e-5 that a summation order of 1e-15 moved, and once (a DuckDB lake) a "verified"
    # optimum 1e-3 short, so the school component test read 112.1034 in one run and 112.1024
    # (lme4's) in the next. The levels engine fits it centred.
    frame = pd.read_csv(
        REFERENCE / "levels" / "egsingle.csv", dtype={"schoolid": str, "childid": str}
    )
    frame["year"] = frame["year"] + 1992.5
    frame.to_csv(tmp_path / "calendar.csv", index=False)
    config = write_config(
        tmp_path, "calendar", data=tmp_path / "calendar.csv", outcome="math", time="year",
        predictors=["female", "black", "lowinc"], group=["schoolid", "childid"],
        random_slopes={"childid": ["year"]},
    )  # fmt: skip
    prepared = validated(load_spec(config))
    mdef = next(d for d in multilevel.ladder(prepared) if d.name == ModelName.RANDOM_SLOPE)
    raw = []
    monkeypatch.setattr(
        multilevel.optimize, "find_optimum", lambda *a, **k: raw.append(a) or pytest.fail()
    )
    reduced = multilevel._deviance_without(prepared, mdef, [("childid", ("(Intercept)", "year"))])
    assert not raw
    # REMLcrit(lmer(math ~ year + ... + (1 + year | childid))); the sums of year ~ 1993 hold
    # the centred criterion to ~4e-6
    assert reduced == pytest.approx(R["reduced_child_slope"]["reml_criterion"], abs=2e-5)


def test_a_profile_limit_is_not_held_by_a_correlation_stalled_at_minus_one(tmp_path):
    # 3 sites with t slopes: holding the site intercept SD low, the warm-started minimisation
    # carried the site correlation to -0.99996, where atanh's gradient vanishes, and stopped
    # 0.0043 above the minimum (correlation -0.81): the lower limit came out 0.10621 for the
    # exact 0.10601 (lme4's devfun2 minimised by nlminb; confint()'s spline says 0.10743).
    ref = R["growth_dropout"]
    config = write_config(
        tmp_path, "dropout", data=REFERENCE / "levels_verify32" / "growth_dropout.csv",
        outcome="y", predictors=["trt"], time="t", group=["site", "person"],
        random_slopes={"site": ["t"], "person": ["t"]},
    )  # fmt: skip
    prepared = validated(load_spec(config))
    mdef = next(d for d in multilevel.ladder(prepared) if d.name == ModelName.RANDOM_SLOPE)
    fit = multilevel.fit_mixed(prepared, mdef)
    assert fit.ml.loglik == pytest.approx(ref["ml_loglik"], abs=1e-6)  # logLik(refitML(m))
    intervals = levels_profile.levels_intervals(
        fit, multilevel.wald_intervals(fit), len(prepared.sums.counts)
    )
    assert intervals["site"][0].low == pytest.approx(ref["site_sd_profile_low"], rel=1e-4)


def test_a_profile_with_two_branches_takes_the_lower_one(tmp_path):
    # 5 outer x 4 inner groups with an x slope inside: held high, the inner intercept SD's
    # profile has a branch with the inner correlation near -0.7 and one near +0.96; starting
    # from the optimum (+0.64) the minimisation ran to +1 and the upper limit came out 0.549
    # (the deviance there is 1.3 below the 95% line); sigma's lower limit 0.8244 likewise.
    ref = R["two_branch"]
    config = write_config(
        tmp_path, "branches", data=REFERENCE / "levels_verify32" / "two_branch.csv",
        outcome="y", predictors=["x", "z", "t"], group=["outer", "inner"],
        random_slopes={"inner": ["x"]},
    )  # fmt: skip
    prepared = validated(load_spec(config))
    mdef = next(d for d in multilevel.ladder(prepared) if d.name == ModelName.RANDOM_SLOPE)
    fit = multilevel.fit_mixed(prepared, mdef)
    assert fit.ml.loglik == pytest.approx(ref["ml_loglik"], abs=1e-6)  # logLik(refitML(m))
    intervals = levels_profile.levels_intervals(
        fit, multilevel.wald_intervals(fit), len(prepared.sums.counts)
    )
    assert intervals["inner"][0].high == pytest.approx(ref["inner_sd_high"], rel=1e-4)
    assert intervals["Residual"][0].low == pytest.approx(ref["sigma_low"], rel=1e-4)
