"""The analytic gradient and Hessian of the profiled criterion against high-order finite
differences (Richardson extrapolation of central differences), on every reference dataset, for
REML and ML, at the optimum and away from it, with one, two and three random terms; and the
analytic curvature Satterthwaite's df use against differences of the full REML criterion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE

from hlm_analysis.model import lmm, numderiv, optimize


def _sums(name: str, outcome: str, fixed: list[str], random: list[str], group: str):
    d = pd.read_csv(REFERENCE / f"{name}.csv")
    d = pd.get_dummies(d, columns=[c for c in ("sex", "vr", "Sex") if c in d], dtype=float)
    codes = pd.Categorical(d[group]).codes.astype(np.int64)
    X = np.column_stack([np.ones(len(d)), *(d[c] for c in fixed)])
    Z = np.column_stack([np.ones(len(d)), *(d[c] for c in random)])
    return lmm.group_sums(d[outcome].to_numpy(float), X, Z, codes, codes.max() + 1)


CASES = {
    "dyestuff2 RI": ("dyestuff2", "Yield", [], [], "Batch"),
    "hsb2 RI": ("hsb2", "write", ["read", "math", "science", "socst"], [], "ses"),
    "sleepstudy RS": ("sleepstudy", "Reaction", ["Days"], ["Days"], "Subject"),
    "exam RS": ("exam", "normexam", ["standLRT", "sex_M"], ["standLRT"], "school"),
    "exam 3 terms": (
        "exam", "normexam", ["standLRT", "vr_mid 50%", "vr_top 25%"],
        ["vr_mid 50%", "vr_top 25%"], "school",
    ),
    # growth curves with a huge between-subject variance (theta ~ 12 on Oxboys)
    "oxboys RS": ("oxboys", "height", ["age"], ["age"], "Subject"),
    "orthodont RS": ("orthodont", "distance", ["age", "Sex_Male"], ["age"], "Subject"),
}  # fmt: skip


def _points(sums, reml):
    optimum = optimize.find_optimum(sums, reml).theta
    rng = np.random.default_rng(5)
    return [optimum, optimum * 1.3 + 0.05, np.abs(rng.normal(0.5, 0.3, len(optimum)))]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_equals_finite_differences(case, reml):
    sums = _sums(*CASES[case])
    for theta in _points(sums, reml):
        analytic = lmm.gradient(theta, sums, reml)
        numeric = numderiv._richardson(
            lambda h, t=theta: numderiv.gradient(lambda x: lmm.deviance(x, sums, reml), t, h),
            theta,
            1e-3,
            3,
        )
        scale = max(1.0, float(np.max(np.abs(numeric))))
        # 1e-5 in deviance units per unit theta: finite differences are no better at a boundary
        assert np.max(np.abs(analytic - numeric)) / scale < 1e-5, (theta, analytic, numeric)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("reml", [True, False])
def test_hessian_equals_finite_differences(case, reml):
    sums = _sums(*CASES[case])
    for theta in _points(sums, reml):
        grad, hess = lmm.derivatives(theta, sums, reml)
        assert np.allclose(grad, lmm.gradient(theta, sums, reml), rtol=1e-12, atol=1e-12)
        scale = max(1.0, float(np.max(np.abs(hess))))
        # second differences of the criterion itself (largest error seen 3e-5)
        values = numderiv.hessian_richardson(lambda x: lmm.deviance(x, sums, reml), theta, 1e-2, 3)
        assert np.max(np.abs(hess - values)) / scale < 2e-4, (theta, hess, values)
        # differences of the analytic gradient, far more precise (largest error seen 5e-9)
        slopes = numderiv._richardson(
            lambda h, t=theta: numderiv.jacobian(lambda x: lmm.gradient(x, sums, reml), t, h),
            theta,
            1e-3,
            3,
        )
        assert np.max(np.abs(hess - slopes)) / scale < 1e-7, (theta, hess, slopes)


@pytest.mark.parametrize("case", sorted(CASES))
def test_satterthwaite_curvature_equals_finite_differences(case):
    # Satterthwaite's df use the Hessian of the full REML deviance in (theta, sigma) and the
    # Jacobian of Var(c'beta): analytic, against Richardson differences as lmerTest takes them.
    sums = _sums(*CASES[case])
    theta = optimize.find_optimum(sums, True).theta
    sigma = float(np.sqrt(lmm.solve(theta, sums).sigma2))
    k = len(theta)
    phi = np.append(theta, sigma)
    contrasts = np.vstack([np.eye(sums.p), np.ones(sums.p)])
    hess, variances, jac = lmm.full_reml_curvature(theta, sigma, sums, contrasts)

    def full(par):
        return lmm.full_reml_deviance(par[:k], par[k], sums)

    def var(par):
        cov = lmm.beta_covariance(par[:k], par[k], sums)
        return np.einsum("ip,pq,iq->i", contrasts, cov, contrasts)

    numeric = numderiv.hessian_richardson(full, phi)
    assert np.max(np.abs(hess - numeric)) / max(1.0, np.max(np.abs(hess))) < 1e-5
    assert np.allclose(variances, var(phi), rtol=1e-12)
    slopes = numderiv.jacobian_richardson(var, phi)
    assert np.max(np.abs(jac - slopes) / np.maximum(np.abs(variances), 1e-300)[:, None]) < 1e-6


@pytest.mark.parametrize("case", sorted(CASES))
def test_full_ml_derivatives_equal_finite_differences(case):
    # The Wald intervals' curvature: the ML deviance with sigma free, in (theta, sigma), at the
    # ML optimum and away from it.
    sums = _sums(*CASES[case])
    theta = optimize.find_optimum(sums, False).theta
    sigma = float(np.sqrt(lmm.solve(theta, sums, reml=False).sigma2))
    k = len(theta)

    def full(par):
        return lmm.full_ml_deviance(par[:k], par[k], sums)

    for phi in (np.append(theta, sigma), np.append(theta * 1.2 + 0.05, sigma * 0.9)):
        grad, hess = lmm.full_ml_derivatives(phi[:k], phi[k], sums)
        scale = max(1.0, np.max(np.abs(hess)))
        assert np.max(np.abs(grad - numderiv.gradient(full, phi, 1e-6))) / scale < 1e-5
        # values: at a variance of zero (hsb2) the steps are tiny and the error 4e-5
        assert np.max(np.abs(hess - numderiv.hessian_richardson(full, phi))) / scale < 1e-4
        slopes = numderiv.jacobian_richardson(
            lambda x: lmm.full_ml_derivatives(x[:k], x[k], sums)[0], phi, 1e-3, 3
        )
        assert np.max(np.abs(hess - slopes)) / scale < 1e-7
