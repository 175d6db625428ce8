"""The package's own t, chi-square and normal functions (hlm_analysis/distributions.py) against
scipy.special and closed forms, across the range the reports use and well beyond, tails included.

Tolerances: 1e-12 relative where the reference is exact to double precision; scipy's stdtr itself
is off near the centre at df = 1 (the Cauchy), so there the closed form is the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from hlm_analysis import distributions

DFS = [0.3, 0.5, 1.5, 2.5, 3, 4.7, 10, 25, 29.2, 100, 999, 1e3, 1e4, 1e5, 5e5, 1e7, 1e9, 1e13]
XS = np.concatenate([-np.logspace(-6, 2.5, 30), [0.0], np.logspace(-6, 2.5, 30)])
PS = np.array([1e-15, 1e-10, 1e-6, 1e-3, 0.01, 0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975, 0.99, 0.999])


def relative_error(ours, reference, floor=1e-290) -> float:
    ours, reference = np.asarray(ours, float), np.asarray(reference, float)
    assert np.array_equal(np.isnan(ours), np.isnan(reference))
    kept = np.isfinite(reference) & (np.abs(reference) > floor)
    assert np.array_equal(ours[~kept & np.isinf(reference)], reference[~kept & np.isinf(reference)])
    return float(np.max(np.abs(ours[kept] - reference[kept]) / np.abs(reference[kept])))


@pytest.mark.parametrize("df", DFS)
def test_t_tail_matches_scipy(df):
    assert relative_error(distributions.t_sf(XS, df), special.stdtr(df, -XS)) < 1e-12


def test_t_tail_closed_forms():
    # Cauchy (df = 1) and df = 2, where the tail has a closed form
    x = np.concatenate([-np.logspace(-9, 6, 40), np.logspace(-9, 6, 40)])
    # each written without a difference of nearly equal numbers in the upper tail
    cauchy = np.where(x > 0, np.arctan(1.0 / x) / math.pi, 0.5 - np.arctan(x) / math.pi)
    assert relative_error(distributions.t_sf(x, 1.0), cauchy) < 1e-12
    root = np.sqrt(2.0 + x * x)
    two = np.where(x > 0, 1.0 / (root * (root + x)), 0.5 - x / (2.0 * root))
    assert relative_error(distributions.t_sf(x, 2.0), two) < 1e-12


@pytest.mark.parametrize("df", DFS)
def test_t_quantile_matches_scipy(df):
    assert relative_error(distributions.t_ppf(PS, df), special.stdtrit(df, PS)) < 1e-12


def test_t_quantile_inverts_the_tail():
    for df in (1.0, 3.3, 27.0, 2e5):
        q = distributions.t_ppf(0.975, df)
        assert distributions.t_sf(q, df) == pytest.approx(0.025, rel=1e-13)


@pytest.mark.parametrize("df", [0.5, 1, 2, 3, 4, 5, 7.5, 10, 30, 100, 1000])
def test_chi_square_matches_scipy(df):
    x = np.concatenate([[0.0], np.logspace(-8, 3.2, 50)])
    assert relative_error(distributions.chi2_sf(x, df), special.chdtrc(df, x)) < 1e-12
    # quantiles: the lower tail against the inverse lower incomplete gamma (no 1 - p rounding)
    low = PS[PS < 0.5]
    assert (
        relative_error(distributions.chi2_ppf(low, df), 2 * special.gammaincinv(df / 2, low))
        < 1e-12
    )
    high = PS[PS >= 0.5]
    reference = 2 * special.gammainccinv(df / 2, 1 - high)
    assert relative_error(distributions.chi2_ppf(high, df), reference) < 1e-12


def test_normal_matches_scipy():
    z = np.linspace(-30, 30, 601)
    assert relative_error(distributions.norm_sf(z), special.ndtr(-z)) < 1e-12
    p = np.concatenate(
        [np.logspace(-300, -1, 300), np.linspace(0.1, 0.9, 81), 1 - np.logspace(-15, -1, 30)]
    )
    assert relative_error(distributions.norm_ppf(p), special.ndtri(p)) < 1e-13


def test_scalars_arrays_and_edges():
    assert isinstance(distributions.t_sf(2.0, 10), float)
    assert isinstance(distributions.norm_ppf(0.75), float)
    assert distributions.t_sf(np.array([[1.0, 2.0]]), 5).shape == (1, 2)
    assert distributions.norm_ppf(0.5) == 0.0
    assert distributions.t_sf(0.0, 7) == 0.5
    assert distributions.t_sf(1.0, math.inf) == pytest.approx(special.ndtr(-1.0), rel=1e-15)
    assert math.isnan(distributions.t_sf(math.nan, 3))
    assert math.isnan(distributions.t_sf(1.0, -1))
    assert list(distributions.norm_ppf([0.0, 1.0])) == [-math.inf, math.inf]
    assert distributions.chi2_sf(0.0, 2) == 1.0
    assert distributions.chi2_sf(math.inf, 2) == 0.0
    assert distributions.t_ppf(1.0, 4) == math.inf
    assert math.isnan(distributions.chi2_ppf(1.5, 1))


def test_far_tails_converge_or_say_they_are_out_of_range():
    # heavy tails, where Newton alone creeps by a factor 1 + 1/df a step
    for p, df in [(1e-100, 10.0), (1e-20, 3.0), (1e-12, 0.05)]:
        q = distributions.t_ppf(p, df)
        assert distributions.t_sf(-q, df) == pytest.approx(p, rel=1e-12)
    assert distributions.t_ppf(1e-100, 10.0) == pytest.approx(
        special.stdtrit(10.0, 1e-100), rel=1e-13
    )
    low = distributions.chi2_ppf(1e-300, 1000.0)
    assert low == pytest.approx(2 * special.gammaincinv(500.0, 1e-300), rel=1e-13)
    # beyond the doubles: infinite (t), zero (chi-square below the smallest double)
    assert distributions.t_ppf(1e-300, 0.5) == -math.inf
    assert distributions.chi2_ppf(1e-20, 0.1) == 0.0
    # arguments whose squares underflow or overflow
    assert distributions.t_sf(1e-170, 5.0) == 0.5
    assert distributions.t_sf(1e200, 3.0) == pytest.approx(
        distributions.t_sf(1e100, 3.0) * 1e-300, rel=1e-10
    )
