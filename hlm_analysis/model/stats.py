"""Statistics computed from the exact criterion and the fitted numbers (no statsmodels here).

Satterthwaite degrees of freedom follow lmerTest (Kuznetsova et al. 2017, JSS 82(13)): the
variance of a coefficient as a function of the variance parameters (theta, sigma), its gradient,
and the asymptotic covariance 2 H^-1 of those parameters from the Hessian H of the REML deviance.
R2 follows Nakagawa, Johnson & Schielzeth (2017) as performance::r2_nakagawa computes it.
"""

from __future__ import annotations

import numpy as np

from .. import distributions
from . import lmm, numderiv


def variance_parameters(q: int, diagonal: bool = False) -> np.ndarray:
    """Positions in (theta, sigma) of the model's variance parameters: all of them, or for the
    uncorrelated model (1 + x || g) the diagonal of Lambda and sigma (its covariances are no
    parameters: held at zero, they have no sampling variance)."""
    rows, cols = lmm.theta_positions(q)
    keep = (rows == cols) if diagonal else np.ones(len(rows), bool)
    return np.append(np.flatnonzero(keep), len(rows))


def satterthwaite_df(
    theta: np.ndarray,
    sigma2: float,
    sums: lmm.GroupSums,
    contrasts: np.ndarray | None = None,
    diagonal: bool = False,
) -> np.ndarray:
    """Satterthwaite df for each fixed-effect coefficient of a REML fit, or for each row c of
    `contrasts` (the df of c'beta, as lmerTest's contest1D).

    lmerTest differentiates numerically (Richardson extrapolation in numDeriv); here the Hessian
    of the full REML deviance in (theta, sigma) and the Jacobian of Var(c'beta) are analytic
    (lmm.full_reml_curvature), so no step size meets the criterion's rounding."""
    L = np.eye(sums.p) if contrasts is None else np.atleast_2d(np.asarray(contrasts, float))
    H, v, jac = lmm.full_reml_curvature(np.asarray(theta, float), float(np.sqrt(sigma2)), sums, L)
    free = variance_parameters(sums.q, diagonal)
    H, jac = H[np.ix_(free, free)], jac[:, free]
    try:
        if np.any(np.linalg.eigvalsh(H) <= 0):
            raise np.linalg.LinAlgError
        H_inv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        H_inv = np.linalg.pinv(H)
    cov_phi = 2.0 * H_inv
    denom = np.einsum("pi,ij,pj->p", jac, cov_phi, jac)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2.0 * v**2 / denom
    return np.where(np.isfinite(df) & (df > 0), df, np.nan)


def satterthwaite_f(
    theta: np.ndarray,
    sigma2: float,
    sums: lmm.GroupSums,
    beta: np.ndarray,
    cov_beta: np.ndarray,
    L: np.ndarray,
    diagonal: bool = False,
) -> tuple[float, int, float]:
    """(F, numerator df, denominator df) for H0: L beta = 0, as lmerTest's contestMD: F is the
    Wald statistic over its rank; the rows of L are rotated to the eigenvectors of L V L', each
    rotated contrast gets its own Satterthwaite df nu_m, and the denominator df is 2E / (E - q)
    with E = sum nu_m / (nu_m - 2) (2 when any nu_m <= 2; nu itself when they are all equal)."""
    return f_from_df(
        beta, cov_beta, L, lambda PtL: satterthwaite_df(theta, sigma2, sums, PtL, diagonal)
    )


def f_from_df(
    beta: np.ndarray, cov_beta: np.ndarray, L: np.ndarray, df_of
) -> tuple[float, int, float]:
    """satterthwaite_f's combination for any model whose Satterthwaite df of contrasts
    `df_of(rows) -> (m,)` is known (the levels engine's, for several grouping levels)."""
    L = np.atleast_2d(np.asarray(L, float))
    values, vectors = np.linalg.eigh(L @ cov_beta @ L.T)
    positive = values > 1e-8 * max(float(values.max()), 0.0)
    d, PtL = values[positive], vectors[:, positive].T @ L
    q = int(positive.sum())
    F = float(np.sum((PtL @ beta) ** 2 / d) / q)
    nu = df_of(PtL)
    if q == 1 or np.all(np.abs(nu - nu[0]) < 1e-8):
        ddf = float(nu[0])
    elif np.any(~(nu > 2)):
        ddf = 2.0
    else:
        E = float(np.sum(nu / (nu - 2)))
        ddf = 2 * E / (E - q)
    return F, q, ddf


def t_table(estimate: np.ndarray, std_error: np.ndarray, df: np.ndarray, level: float = 0.95):
    """t statistics, two-sided p values and t-based confidence intervals."""
    statistic = estimate / std_error
    df = np.asarray(df, float)
    p_value = 2.0 * distributions.t_sf(np.abs(statistic), df)
    crit = distributions.t_ppf(0.5 + level / 2, df)
    return statistic, p_value, estimate - crit * std_error, estimate + crit * std_error


def nakagawa_r2(var_fixed: float, re_cov: np.ndarray, mean_zz: np.ndarray, sigma2: float):
    """Marginal and conditional R2 and the adjusted ICC.

    `var_fixed` is the sample variance (n - 1) of the fixed part X beta. The random-effect variance is the average of z_i' Sigma z_i over observations
    (performance::r2_nakagawa's choice for random slopes), which reduces to tau00 without them.
    """
    var_random = float(np.sum(re_cov * mean_zz))
    total = var_fixed + var_random + sigma2
    return {
        "r2_marginal": var_fixed / total,
        "r2_conditional": (var_fixed + var_random) / total,
        "icc_adjusted": var_random / (var_random + sigma2) if var_random > 0 else None,
    }


def icc_interval(
    theta_hat: float, deviance_at: callable, level: float = 0.95, xtol: float = 1e-10
) -> tuple[float, float]:
    """Profile-likelihood interval for the ICC of a random-intercept-only model.

    With sigma^2 profiled out the REML deviance depends on theta = tau / sigma alone and
    ICC = theta^2 / (1 + theta^2) is monotone in |theta|, so the interval for theta maps
    straight onto the ICC. `xtol` is the tolerance on theta: a costly criterion (a logistic
    model's, with beta re-optimised at every point) can afford less precision than the ICC's
    three reported decimals need (the ICC moves at most 0.65 x theta's error).
    """
    crit = distributions.chi2_ppf(level, 1)
    seen: dict[float, float] = {}

    def deviance(t: float) -> float:
        t = float(t)
        if t not in seen:
            seen[t] = deviance_at(t)
        return seen[t]

    best = deviance(theta_hat)

    def excess(t):
        # lme4's profile zeta: the square root of the deviance increase is nearly linear in
        # theta on each side of the optimum, so the root finder needs a few steps, not dozens
        return np.sqrt(max(deviance(t) - best, 0.0)) - np.sqrt(crit)

    def icc(t):
        return t * t / (1 + t * t)

    theta_hat = abs(theta_hat)
    if theta_hat < 1e-8 or excess(0.0) <= 0:
        low = 0.0
    else:
        low = numderiv.find_root(excess, 0.0, theta_hat, xtol=xtol)
    upper = max(theta_hat, 1e-3) * 2
    while excess(upper) < 0 and upper < 1e6:
        upper *= 2
    high = numderiv.find_root(excess, theta_hat, upper, xtol=xtol) if excess(upper) > 0 else np.inf
    return icc(low), icc(high) if np.isfinite(high) else 1.0


def design_effect(icc: float, mean_group_size: float) -> float:
    """Kish's design effect 1 + (m - 1) ICC: how much clustering inflates sampling variance."""
    return 1.0 + (mean_group_size - 1.0) * icc


def lrt(loglik_small: float, loglik_big: float, df: int) -> tuple[float, float]:
    statistic = max(0.0, 2.0 * (loglik_big - loglik_small))
    return statistic, float(distributions.chi2_sf(statistic, df))


def chi_square_p(statistic: float, df: int) -> float:
    """The naive chi2(df) p value."""
    return float(distributions.chi2_sf(statistic, df))


def chibar_p(statistic: float, df: int) -> float:
    """p value of the 50:50 mixture of chi2(df-1) and chi2(df) (Self & Liang 1987; Stram & Lee
    1994) for adding a variance (and its covariances) that sits on the boundary under H0."""
    upper = distributions.chi2_sf(statistic, df)
    lower = distributions.chi2_sf(statistic, df - 1) if df > 1 else float(statistic <= 0)
    return float(0.5 * upper + 0.5 * lower)


def chibar_levels_p(statistic: float, k: int) -> float:
    """p value for adding k independent variances at once, each on its boundary under H0 (a
    random intercept at each of k levels): the mixture of chi2(0), ..., chi2(k) with binomial
    weights C(k, i) / 2^k (Self & Liang 1987). k = 1 is chibar_p's 50:50 mixture."""
    from math import comb

    total = float(statistic <= 0) * comb(k, 0)
    for i in range(1, k + 1):
        total += comb(k, i) * distributions.chi2_sf(statistic, i)
    return float(total / 2**k)


def akaike_weights(aics: dict[str, float]) -> dict[str, float]:
    best = min(aics.values())
    raw = {k: np.exp(-0.5 * (v - best)) for k, v in aics.items()}
    total = sum(raw.values())
    return {k: float(v / total) for k, v in raw.items()}


def group_reliability(re_cov: np.ndarray, sigma2: float, ZtZ: np.ndarray) -> np.ndarray:
    """HLM's reliability of each random coefficient in each group (Raudenbush & Bryk 2002, eq.
    3.59 and 4.26), (G, q): tau_qq / (tau_qq + sigma2 [(Z_j'Z_j)^-1]_qq); NaN in groups whose
    own least-squares estimate does not exist (Z_j'Z_j singular). With a random intercept only
    this is tau00 / (tau00 + sigma2 / n_j)."""
    q = re_cov.shape[0]
    det = np.linalg.det(ZtZ)
    scale = np.abs(ZtZ).max(axis=(1, 2)) ** q
    usable = np.abs(det) > 1e-10 * np.where(scale > 0, scale, 1.0)
    lam = np.full((len(ZtZ), q), np.nan)
    if usable.any():
        sampling = sigma2 * np.diagonal(np.linalg.inv(ZtZ[usable]), axis1=1, axis2=2)
        tau = np.clip(np.diag(re_cov), 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam[usable] = np.where(tau > 0, tau / (tau + sampling), 0.0)
    return lam


def coefficient_reliability(per_group: np.ndarray) -> np.ndarray:
    """Each random coefficient's reliability averaged over the groups where it exists (HLM 8's
    "reliability estimate"); NaN when it exists in none."""
    usable = ~np.isnan(per_group[:, 0]) if len(per_group) else np.zeros(0, bool)
    return per_group[usable].mean(axis=0) if usable.any() else np.full(per_group.shape[1], np.nan)


def likelihood_fields(loglik_ml: float, k: int, n: int) -> dict[str, float | int]:
    """A model's ML log-likelihood, AIC and BIC (k parameters, n observations), as every
    ModelResult carries them: one definition for the linear and the binary ladders."""
    return {
        "loglik_ml": float(loglik_ml),
        "aic": float(2 * k - 2 * loglik_ml),
        "bic": float(np.log(n) * k - 2 * loglik_ml),
        "n_parameters": k,
    }
