"""The two-level engine (ladder.optimize_mixed) with a fixed-only predictor far from zero:
calendar years 1990-2010 and year + 1e5, no random slope on them. Forming X'V^-1 X from the raw
sums squared their conditioning: with year + 1e5 the REML log-likelihood was 4e-6 off and an
estimate 1.2e-6 of its SE. The column is now centred inside (exact: theta unchanged) and the
estimates reported on year's own scale. R: tests/reference/two_level_calendar/
make_two_level_calendar_reference.R (lmerTest on year centred, the exact fit; contest1D maps
each coefficient to year + shift)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, write_config

from hlm_analysis.model import ladder
from hlm_analysis.model.analysis import validated
from hlm_analysis.spec import load_spec

DIR = REFERENCE / "two_level_calendar"
R = json.loads((DIR / "two_level_calendar_reference.json").read_text())
TERMS = ["(Intercept)", "year", "x"]


def _prepared(tmp_path, shift: int, path: str):
    frame = pd.read_csv(DIR / "calendar.csv", dtype={"grp": str})
    frame["year"] = frame["year"] + shift
    if path == "memory":
        data = tmp_path / "calendar.csv"
        frame.to_csv(data, index=False)
    else:  # a folder of Parquet parts: the DuckDB path, its own summation order
        data = tmp_path / "lake"
        data.mkdir()
        for k in range(3):
            frame.iloc[50 * k : 50 * (k + 1)].to_parquet(data / f"part-{k}.parquet")
    config = write_config(
        tmp_path, "calendar", data=data, outcome="y", predictors=["year", "x"], group="grp",
        random_slopes=["x"],
    )  # fmt: skip
    return validated(load_spec(config))


@pytest.mark.parametrize("path", ["memory", "duckdb"])
@pytest.mark.parametrize("shift", [0, 100000])
def test_a_fixed_only_calendar_year_matches_lmertest_on_centred_year(tmp_path, shift, path):
    prepared = _prepared(tmp_path, shift, path)
    for mdef in ladder.ladder(prepared):
        if mdef.name not in ("random_intercept", "random_slope"):
            continue
        ref = R[str(mdef.name)]
        fit = ladder.optimize_mixed(prepared, mdef)
        assert fit.reml.verified and fit.ml.verified
        se, df = np.sqrt(np.diag(fit.cov_beta)), fit.df_of()
        for j, term in enumerate(TERMS):
            want = ref["shifts"][str(shift)][term]  # contest1D on the centred fit
            # the intercept is year 0's (back-transformed): -189.93 or -9847.43
            assert abs(fit.beta[j] - want["estimate"]) <= 1e-6 * want["se"], term
            assert se[j] == pytest.approx(want["se"], rel=1e-6), term
            assert df[j] == pytest.approx(want["df"], rel=1e-6), term
        assert -fit.reml.deviance / 2 == pytest.approx(ref["reml_loglik"], abs=1e-9)  # logLik(m)
        assert -fit.ml.deviance / 2 == pytest.approx(ref["ml_loglik"], abs=1e-9)  # refitML
        assert fit.reml.optimizer.endswith("(predictors centred)")
        assert not fit.slopes_centred  # theta the same in both fits: every interval profiled
        if mdef.name == "random_slope":
            # the variance components' profile intervals, year centred as in the fit
            extras = ladder.final_extras(prepared, fit)
            assert all(i.method == "profile" for i in extras.intervals)


OLS = json.loads((DIR / "ols_calendar_reference.json").read_text())


@pytest.mark.parametrize("shift", [0, 100000])
def test_least_squares_on_a_calendar_year_matches_lm_on_centred_year(tmp_path, shift):
    """The ols rungs from the sums: with year + 1e5, y'y - X'y beta on raw year cancelled to a
    log-likelihood 3.1e-7 off lm's on centred year (egsingle, 7,230 rows: 2.1e-6); now centred
    inside as the mixed fits are, the intercept mapped back exactly."""
    prepared = _prepared(tmp_path, shift, "memory")
    for mdef in ladder.ladder(prepared):
        if mdef.name not in ("ols", "ols_cluster"):
            continue
        fit = ladder.fit_ols(prepared, mdef)
        assert fit.loglik == pytest.approx(OLS["loglik"], abs=1e-9)  # logLik(lm)
        for effect, term in zip(fit.fixed_effects, TERMS, strict=True):
            want = OLS["shifts"][str(shift)][term]
            assert abs(effect.estimate - want["estimate"]) <= 1e-9 * want["se"], term
            if mdef.name == "ols":
                assert effect.std_error == pytest.approx(want["se"], rel=1e-9), term
            else:  # CR1 beside the reported CR2: clubSandwich's CR1S
                cr1 = fit.robust.cr1_std_error[term]
                assert cr1 == pytest.approx(want["cr1_se"], rel=1e-9), term
