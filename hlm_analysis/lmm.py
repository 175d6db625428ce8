"""Exact two-level linear mixed model algebra from per-group sufficient statistics.

The model is y_j = X_j beta + Z_j b_j + e_j with b_j ~ N(0, sigma^2 Lambda Lambda') and
e_j ~ N(0, sigma^2 I), Lambda lower triangular with its entries in `theta` (column-major, as
lme4 orders them). Writing M_j = Lambda' Z_j'Z_j Lambda + I, every quantity of the likelihood
needs only n_j, Z_j'Z_j, Z_j'X_j, Z_j'y_j and the totals X'X, X'y, y'y, so one pass over the
data is enough and the criterion costs O(groups * q^3) per evaluation. This is the criterion of
lme4 (Bates et al. 2015, JSS 67(1), section 3) restricted to one grouping factor; it is the
yardstick every candidate optimum is measured with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True)
class GroupSums:
    n: int
    XtX: np.ndarray  # (p, p)
    Xty: np.ndarray  # (p,)
    yty: float
    ZtZ: np.ndarray  # (G, q, q)
    ZtX: np.ndarray  # (G, q, p)
    Zty: np.ndarray  # (G, q)
    counts: np.ndarray  # (G,)

    @property
    def p(self) -> int:
        return self.XtX.shape[0]

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]


def group_sums(
    y: np.ndarray, X: np.ndarray, Z: np.ndarray, codes: np.ndarray, n_groups: int
) -> GroupSums:
    """Reduce the data to per-group cross products (groups are integer codes 0..G-1)."""
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    Xs, Zs, ys = X[order], Z[order], y[order]
    q = Z.shape[1]
    ZtZ = np.add.reduceat(Zs[:, :, None] * Zs[:, None, :], starts, axis=0)
    ZtX = np.empty((n_groups, q, X.shape[1]))
    for k in range(q):  # one slab at a time keeps memory at n * p, not n * q * p
        ZtX[:, k, :] = np.add.reduceat(Zs[:, k, None] * Xs, starts, axis=0)
    Zty = np.add.reduceat(Zs * ys[:, None], starts, axis=0)
    return GroupSums(
        n=len(y),
        XtX=X.T @ X,
        Xty=X.T @ y,
        yty=float(y @ y),
        ZtZ=ZtZ,
        ZtX=ZtX,
        Zty=Zty,
        counts=counts,
    )


def n_theta(q: int) -> int:
    return q * (q + 1) // 2


def lambda_of(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))  # column-major, as lme4
    lam[rows[order], cols[order]] = theta
    return lam


def theta_of(lam: np.ndarray) -> np.ndarray:
    rows, cols = np.tril_indices(lam.shape[0])
    order = np.lexsort((rows, cols))
    return lam[rows[order], cols[order]].copy()


def canonical_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """Flip column signs so the diagonal is non-negative; Lambda Lambda' is unchanged."""
    lam = lambda_of(np.asarray(theta, float), q)
    signs = np.where(np.diag(lam) < 0, -1.0, 1.0)
    return theta_of(lam * signs[None, :])


def psd_factor(cov: np.ndarray) -> np.ndarray:
    """Lower-triangular L with L L' = cov for a positive semi-definite cov (zero pivots allowed)."""
    q = cov.shape[0]
    lam = np.zeros((q, q))
    for j in range(q):
        pivot = cov[j, j] - lam[j, :j] @ lam[j, :j]
        if pivot <= 1e-12 * max(1.0, abs(cov[j, j])):
            continue
        lam[j, j] = np.sqrt(pivot)
        for i in range(j + 1, q):
            lam[i, j] = (cov[i, j] - lam[i, :j] @ lam[j, :j]) / lam[j, j]
    return lam


@dataclass(frozen=True)
class Solution:
    """Everything the likelihood gives at one theta (sigma^2 profiled out)."""

    theta: np.ndarray
    beta: np.ndarray
    sigma2: float
    A: np.ndarray  # X' V^-1 X * sigma^2
    logdet_M: float
    logdet_A: float
    pwrss: float  # penalised weighted residual sum of squares
    deviance: float  # -2 log-likelihood (REML or ML criterion)


def _pieces(theta: np.ndarray, s: GroupSums):
    lam = lambda_of(theta, s.q)
    M = lam.T @ s.ZtZ @ lam + np.eye(s.q)
    U = lam.T @ s.ZtX  # (G, q, p)
    w = s.Zty @ lam  # (G, q) = (Lambda' Zty_j)'
    chol = np.linalg.cholesky(M)
    logdet_M = 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
    MiU = np.linalg.solve(M, U)
    Miw = np.linalg.solve(M, w[..., None])[..., 0]
    A = s.XtX - np.einsum("gqp,gqr->pr", U, MiU)
    c = s.Xty - np.einsum("gqp,gq->p", U, Miw)
    d = s.yty - float(np.einsum("gq,gq->", w, Miw))
    return lam, M, A, c, d, logdet_M


def solve(theta: np.ndarray, s: GroupSums, reml: bool = True) -> Solution:
    theta = np.asarray(theta, dtype=float)
    lam, M, A, c, d, logdet_M = _pieces(theta, s)
    n, p = s.n, s.p
    cholA = np.linalg.cholesky(A)
    beta = np.linalg.solve(A, c)
    pwrss = d - float(c @ beta)
    logdet_A = 2.0 * float(np.log(np.diag(cholA)).sum())
    if reml:
        dof = n - p
        deviance = logdet_M + logdet_A + dof * (1.0 + LOG_2PI + np.log(pwrss / dof))
        sigma2 = pwrss / dof
    else:
        deviance = logdet_M + n * (1.0 + LOG_2PI + np.log(pwrss / n))
        sigma2 = pwrss / n
    return Solution(theta, beta, float(sigma2), A, logdet_M, logdet_A, pwrss, float(deviance))


def deviance(theta: np.ndarray, s: GroupSums, reml: bool = True) -> float:
    """The profiled criterion; +inf where it is not defined (never chosen as a minimum)."""
    try:
        value = solve(theta, s, reml).deviance
    except (np.linalg.LinAlgError, FloatingPointError, ValueError):
        return np.inf
    return value if np.isfinite(value) else np.inf


def full_reml_deviance(theta: np.ndarray, sigma: float, s: GroupSums) -> float:
    """REML deviance with sigma as a free parameter (not profiled), as lmerTest differentiates."""
    _, _, A, c, d, logdet_M = _pieces(np.asarray(theta, float), s)
    beta = np.linalg.solve(A, c)
    pwrss = d - float(c @ beta)
    logdet_A = float(np.linalg.slogdet(A)[1])
    dof = s.n - s.p
    return logdet_M + logdet_A + dof * (LOG_2PI + 2.0 * np.log(sigma)) + pwrss / sigma**2


def beta_covariance(theta: np.ndarray, sigma: float, s: GroupSums) -> np.ndarray:
    _, _, A, _, _, _ = _pieces(np.asarray(theta, float), s)
    return sigma**2 * np.linalg.inv(A)


def random_effects(sol: Solution, s: GroupSums) -> tuple[np.ndarray, np.ndarray]:
    """Conditional modes b_j and their conditional covariances (G, q) and (G, q, q)."""
    lam = lambda_of(sol.theta, s.q)
    M = lam.T @ s.ZtZ @ lam + np.eye(s.q)
    resid = s.Zty - s.ZtX @ sol.beta  # Z_j'(y_j - X_j beta)
    u = np.linalg.solve(M, (resid @ lam)[..., None])[..., 0]
    modes = u @ lam.T
    cond_cov = sol.sigma2 * (lam @ np.linalg.inv(M) @ lam.T)
    return modes, cond_cov
