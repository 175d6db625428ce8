"""Awkward but legitimate multilevel data (issue 22's hidden-data promise), each a case where the
levels path once disagreed with lme4/lmerTest/clubSandwich. Reference values:
tests/reference/levels_fuzz/make_levels_fuzz_reference.R -> levels_fuzz_reference.json.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import REFERENCE, fit, write_config

FUZZ = REFERENCE / "levels_fuzz"
R = json.loads((FUZZ / "levels_fuzz_reference.json").read_text())


def _final(results):
    return results.models[results.final_model]


def _fit_large_ratio(tmp_path, scale: float = 1.0):
    data = FUZZ / "large_ratio.csv"
    if scale != 1.0:
        frame = pd.read_csv(data, dtype={"school": str, "klass": str})
        frame["y"] = frame["y"] * scale
        data = tmp_path / f"large_ratio_{scale}.csv"
        frame.to_csv(data, index=False)
    config = write_config(
        tmp_path, f"large_{scale}", data=data, outcome="y", predictors=["x"],
        group=["school", "klass"],
    )  # fmt: skip
    return fit(config, tmp_path / f"out_{scale}")


def test_cr2_keeps_its_precision_when_one_level_holds_almost_all_variance(tmp_path):
    # school variance ~9e6 times the residual's (ICC 0.99999): B = Theta C Theta has eigenvalues
    # up to ~1e17, and its O(1) ones were rounding noise (x's CR2 SE came out 4.5e-9, not 3.3e-4).
    # clubSandwich agrees with a 60-digit evaluation of the same definition to 1e-4.
    ref = R["large_ratio"]
    final = _final(_fit_large_ratio(tmp_path))
    assert final.loglik >= ref["loglik"] - 1e-4
    for fe in final.fixed_effects:
        cr2 = ref["cr2"][fe.term]
        assert fe.robust_se == pytest.approx(cr2["se"], rel=1e-3)
        # the df lean on the variance components more (clubSandwich's own are shakier here)
        assert fe.robust_df == pytest.approx(cr2["df"], rel=0.01)
        assert fe.estimate == pytest.approx(
            ref["coefficients"][fe.term]["estimate"], abs=0.01 * ref["coefficients"][fe.term]["se"]
        )


def test_satterthwaite_df_do_not_depend_on_the_outcomes_scale(tmp_path):
    # lmerTest's numerical Hessian fails here: its intercept df is 29.96 for y, 28.42 for 100 y
    # and 849.9 for y / 100 (a scale-invariant quantity). Ours is the same at every scale and,
    # the school variance dominating, G - 1 = 29 for the intercept as in a balanced design.
    dfs = []
    for scale in (1.0, 100.0, 0.01):
        final = _final(_fit_large_ratio(tmp_path, scale))
        dfs.append([fe.df for fe in final.fixed_effects])
    for other in dfs[1:]:
        assert other == pytest.approx(dfs[0], rel=1e-3)
    assert dfs[0][0] == pytest.approx(29.0, abs=0.01)
    assert dfs[0][1] == pytest.approx(R["large_ratio"]["coefficients"]["x"]["df"], rel=0.01)
