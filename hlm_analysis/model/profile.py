"""Profile-likelihood confidence intervals for variance components, as lme4's
confint(method = "profile") gives them.

The parameters are those a reader sees: each random effect's SD, each correlation, and the
residual SD. As lme4 does (even for a REML fit, which it refits by ML first), the ML deviance with
the fixed effects profiled out is the criterion: for one parameter held at a value, it is
minimised over the others;
the 95% interval is where that profile rises 3.84 (chi-square, 1 df) above the optimum. A bound
that the profile never reaches before the parameter's edge (an SD of 0, a correlation of +-1) is
that edge, as for a boundary fit in lme4.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import lmm, numderiv

CHI2_95 = 3.841458820694124
# Profiling re-optimises the model dozens of times; beyond this many groups the likelihood is
# close to quadratic on the log-SD / atanh-correlation scale and Wald intervals there are used.
MAX_GROUPS = 80


def _unpack(phi: np.ndarray, q: int):
    """(SDs, correlation matrix, sigma) from phi = SDs, correlations (lower triangle), sigma."""
    sds = phi[:q]
    corr = np.eye(q)
    corr[np.tril_indices(q, -1)] = phi[q:-1]
    corr = corr + np.tril(corr, -1).T
    return sds, corr, phi[-1]


def _theta(phi: np.ndarray, q: int) -> np.ndarray | None:
    sds, corr, sigma = _unpack(phi, q)
    if sigma <= 0 or np.any(sds < 0) or np.any(np.abs(corr) > 1):
        return None
    cov = np.outer(sds, sds) * corr / sigma**2
    values = np.linalg.eigvalsh(cov)
    if values.min() < -1e-10 * max(1.0, values.max()):
        return None
    return lmm.theta_of(lmm.psd_factor(cov))


def deviance_at(phi: np.ndarray, sums: lmm.GroupSums) -> float:
    theta = _theta(phi, sums.q)
    if theta is None:
        return np.inf
    try:
        value = lmm.full_ml_deviance(theta, float(phi[-1]), sums)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError):
        return np.inf
    return float(value) if np.isfinite(value) else np.inf


def parameters(theta: np.ndarray, sigma: float, q: int) -> np.ndarray:
    lam = lmm.lambda_of(theta, q)
    cov = sigma**2 * lam @ lam.T
    sds = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sds, sds)
    cors = np.nan_to_num(corr[np.tril_indices(q, -1)], nan=0.0)
    return np.concatenate([sds, np.clip(cors, -1.0, 1.0), [sigma]])


def _edges(q: int) -> list[tuple[float, float]]:
    n_cor = q * (q - 1) // 2
    return [(0.0, np.inf)] * q + [(-1.0, 1.0)] * n_cor + [(0.0, np.inf)]


def _to_free(values: np.ndarray, is_cor: np.ndarray) -> np.ndarray:
    return np.where(
        is_cor, np.arctanh(np.clip(values, -0.999999, 0.999999)), np.log(np.maximum(values, 1e-8))
    )


def _from_free(z: np.ndarray, is_cor: np.ndarray) -> np.ndarray:
    return np.where(is_cor, np.tanh(z), np.exp(z))


def profile_intervals(theta: np.ndarray, sigma: float, sums: lmm.GroupSums) -> np.ndarray:
    """(m, 2) intervals for phi = (SDs, correlations, residual SD); theta and sigma are the ML
    optimum."""
    from scipy import optimize as sciopt  # here: only up to MAX_GROUPS groups profile at all

    q = sums.q
    best = parameters(theta, sigma, q)
    base = deviance_at(best, sums)
    edges = _edges(q)
    kinds = np.array([lo == -1.0 for lo, _ in edges])  # True: a correlation
    wald = _wald_half_widths(best, sums)
    out = np.full((len(best), 2), np.nan)
    for k in range(len(best)):
        others = [i for i in range(len(best)) if i != k]
        start = _to_free(best[others], kinds[others])
        warm = {"z": start}

        def profile(value: float, k=k, others=others, warm=warm, start=start) -> float:
            def inner(z):
                phi = best.copy()
                phi[k] = value
                phi[others] = _from_free(z, kinds[others])
                return deviance_at(phi, sums)

            if not others:
                return inner(np.empty(0)) - base
            # BFGS on unconstrained coordinates (log SDs, atanh correlations): L-BFGS-B on the
            # bounded ones stalls at its first step here and overstates the profile.
            with warnings.catch_warnings():  # inf outside the parameter space is expected
                warnings.simplefilter("ignore", RuntimeWarning)
                res = sciopt.minimize(inner, warm["z"], method="BFGS", options={"gtol": 1e-4})
                if not np.isfinite(res.fun):
                    res = sciopt.minimize(inner, start, method="Powell")
            if np.isfinite(res.fun):
                warm["z"] = res.x
            return float(res.fun) - base

        for side, sign in ((0, -1.0), (1, 1.0)):
            warm["z"] = start.copy()
            out[k, side] = _bound(profile, best[k], sign, edges[k], wald[k])
    return out


def _wald_half_widths(best: np.ndarray, sums: lmm.GroupSums) -> np.ndarray:
    """1.96 standard errors from the curvature at the optimum: where to look for each bound
    first (the profile is close to quadratic there); NaN where the curvature says nothing."""
    try:
        H = numderiv.hessian(lambda phi: deviance_at(phi, sums), best)
        cov = 2.0 * np.linalg.inv(H)
        with np.errstate(invalid="ignore"):
            return 1.96 * np.sqrt(np.diag(cov))
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return np.full(len(best), np.nan)


def _bound(profile, start: float, sign: float, edge: tuple[float, float], wald: float) -> float:
    """Where profile(value) - CHI2_95 changes sign, walking from the estimate towards `sign`:
    first a Wald half-width away, then in growing steps, then Brent's method in the bracket."""
    lo_edge, hi_edge = edge
    limit = lo_edge if sign < 0 else hi_edge
    usable = np.isfinite(wald) and wald > 0
    step = 0.8 * wald if usable else max(abs(start) * 0.1, 1e-3)
    inside = start
    for _ in range(60):
        candidate = inside + sign * step
        if (sign < 0 and candidate <= lo_edge) or (sign > 0 and candidate >= hi_edge):
            candidate = limit
        excess = profile(candidate) - CHI2_95
        if excess >= 0:
            a, b = sorted((inside, candidate))
            return float(
                numderiv.find_root(
                    lambda v: profile(v) - CHI2_95, a, b, xtol=2e-5 * max(1.0, abs(start))
                )
            )
        if candidate == limit:
            return float(limit)  # the profile stays inside the 95% region up to the edge
        inside = candidate
        step *= 0.5 if usable else 1.6  # past the Wald guess, creep on in smaller steps
    return float("nan")


def wald_intervals(theta: np.ndarray, sigma: float, sums: lmm.GroupSums) -> np.ndarray:
    """(m, 2) 95% Wald intervals on log SDs and atanh correlations (from the curvature of the
    ML deviance there), transformed back: what many groups make nearly exact and cheap. An SD
    at zero (a boundary) gets none.

    The curvature is the analytic Hessian of the ML deviance in (theta, sigma) carried to these
    coordinates z by the chain rule, J'HJ + sum_i g_i d2x_i/dz2 (x = (theta, sigma)); only the
    map from z to x, a few small matrix operations, is differentiated numerically."""
    q = sums.q
    best = parameters(theta, sigma, q)
    is_cor = np.array([lo == -1.0 for lo, _ in _edges(q)])
    out = np.full((len(best), 2), np.nan)
    if np.any(best[~is_cor] <= 1e-8) or np.any(np.abs(best[is_cor]) >= 1 - 1e-8):
        return out
    z = _to_free(best, is_cor)

    def to_x(v: np.ndarray) -> np.ndarray:
        phi = _from_free(v, is_cor)
        th = _theta(phi, q)
        return np.append(th if th is not None else np.nan, phi[-1])

    try:
        x = to_x(z)
        grad, hess = lmm.full_ml_derivatives(x[:-1], float(x[-1]), sums)
        J = numderiv.jacobian(to_x, z)
        H = J.T @ hess @ J + numderiv.hessian(lambda v: float(grad @ to_x(v)), z)
        with np.errstate(invalid="ignore"):  # a ridge (unidentified direction): no interval
            se = np.sqrt(np.diag(2.0 * np.linalg.inv(H)))
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return out
    if not np.all(np.isfinite(se)):
        return out
    out[:, 0] = _from_free(z - 1.96 * se, is_cor)
    out[:, 1] = _from_free(z + 1.96 * se, is_cor)
    return out
