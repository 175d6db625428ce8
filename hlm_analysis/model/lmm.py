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

from ..data.sums import DesignSums

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
    # Products that do not depend on theta, flattened so each evaluation is three matrix-vector
    # products: P[g, (a,b), (p,r)] = ZtX[g,a,p] ZtX[g,b,r], Q[g, (a,b), p] = ZtX[g,a,p] Zty[g,b],
    # R[g, (a,b)] = Zty[g,a] Zty[g,b].
    P: np.ndarray  # (G * q * q, p * p)
    Q: np.ndarray  # (G * q * q, p)
    R: np.ndarray  # (G * q * q,)

    @property
    def p(self) -> int:
        return self.XtX.shape[0]

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]


def group_sums(
    y: np.ndarray, X: np.ndarray, Z: np.ndarray, codes: np.ndarray, n_groups: int
) -> GroupSums:
    """Reduce rows in memory to per-group cross products (groups are integer codes 0..G-1)."""
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
    return _assemble(len(y), X.T @ X, X.T @ y, float(y @ y), ZtZ, ZtX, Zty, counts)


def model_sums(design: DesignSums, fixed: list[str], random: list[str]) -> GroupSums:
    """One model's GroupSums: its columns picked from the design's per-group cross products."""
    y = [design.outcome]
    return _assemble(
        design.n,
        design.total_block(fixed, fixed),
        design.total_block(fixed, y)[:, 0],
        float(design.total[0, 0]),
        design.block(random, random),
        design.block(random, fixed),
        design.block(random, y)[:, :, 0],
        design.counts,
    )


def _assemble(n, XtX, Xty, yty, ZtZ, ZtX, Zty, counts) -> GroupSums:
    n_groups, q = ZtZ.shape[0], ZtZ.shape[1]
    return GroupSums(
        n=int(n),
        XtX=XtX,
        Xty=Xty,
        yty=yty,
        ZtZ=ZtZ,
        ZtX=ZtX,
        Zty=Zty,
        counts=counts,
        P=np.einsum("gap,gbr->gabpr", ZtX, ZtX).reshape(n_groups * q * q, -1),
        Q=np.einsum("gap,gb->gabp", ZtX, Zty).reshape(n_groups * q * q, -1),
        R=np.einsum("ga,gb->gab", Zty, Zty).reshape(n_groups * q * q),
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


def _inverse_and_logdet(M: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverses and total log-determinant of a stack of SPD matrices.

    Closed forms for 1x1 and 2x2 (random intercept, one random slope) are several times faster
    than LAPACK's batched routines on many tiny matrices, which is where large data sets spend
    their time.
    """
    q = M.shape[1]
    if q == 1:
        det = M[:, 0, 0]
        if np.any(det <= 0):
            raise np.linalg.LinAlgError("matrix not positive definite")
        return (1.0 / det)[:, None, None], float(np.log(det).sum())
    if q == 2:
        a, b, d = M[:, 0, 0], M[:, 0, 1], M[:, 1, 1]
        det = a * d - b * b
        if np.any(det <= 0) or np.any(a <= 0):
            raise np.linalg.LinAlgError("matrix not positive definite")
        inv = np.empty_like(M)
        inv[:, 0, 0], inv[:, 1, 1] = d / det, a / det
        inv[:, 0, 1] = inv[:, 1, 0] = -b / det
        return inv, float(np.log(det).sum())
    chol = np.linalg.cholesky(M)
    logdet = 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
    return np.linalg.inv(M), logdet


def _congruence(stack: np.ndarray, B: np.ndarray) -> np.ndarray:
    """B S_j B' for every matrix S_j of a stack, as one (G, q^2) x (q^2, q^2) product.

    (B S B')[a, d] = sum_bc S[b, c] B[a, b] B[d, c], i.e. vec(S) times kron(B, B)'; numpy's
    stacked matmul pays a per-matrix overhead that dominates for 2 x 2 matrices.
    """
    G, q, _ = stack.shape
    return (stack.reshape(G, q * q) @ np.kron(B, B).T).reshape(G, q, q)


def _pieces(theta: np.ndarray, s: GroupSums):
    """X'V^-1 X, X'V^-1 y and y'V^-1 y (times sigma^2) and log|M| at theta.

    With W_j = Lambda M_j^-1 Lambda', V_j^-1 sigma^2 = I - Z_j W_j Z_j', so each total is the
    plain cross product minus a sum over groups of W_j against theta-free products (P, Q, R).
    """
    lam = lambda_of(theta, s.q)
    M = _congruence(s.ZtZ, lam.T) + np.eye(s.q)
    Minv, logdet_M = _inverse_and_logdet(M)
    W = _congruence(Minv, lam).reshape(-1)
    p = s.p
    A = s.XtX - (W @ s.P).reshape(p, p)
    c = s.Xty - W @ s.Q
    d = s.yty - float(W @ s.R)
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


def _summed_products(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sum_j A_j B_j for stacks of q x q matrices, as one (q, Gq) x (Gq, q) product."""
    G, q, _ = A.shape
    return A.transpose(1, 0, 2).reshape(q, G * q) @ B.reshape(G * q, q)


def gradient(theta: np.ndarray, s: GroupSums, reml: bool = True) -> np.ndarray:
    """The analytic gradient of the profiled criterion with respect to theta, from the same
    group sums (one evaluation's worth of work).

    With U_j = M_j^-1 Lambda', W_j = Lambda U_j and N_j = I - W_j S_j (S_j = Z_j'Z_j), a step in
    the Lambda entry (a, b) moves W_j by B + B' with B = N_j[:, a] U_j[b, :], and log|M_j| by
    2 (U_j S_j)[b, a]; A, c and d move by the contractions of dW_j with P, Q and R, so the
    derivatives of log|A| and of the residual sum of squares are dot products with vectors
    computed once (P vec(A^-1), P vec(beta beta'), Q beta)."""
    theta = np.asarray(theta, float)
    q, p = s.q, s.p
    lam = lambda_of(theta, q)
    M = _congruence(s.ZtZ, lam.T) + np.eye(q)
    Minv, _ = _inverse_and_logdet(M)
    G = M.shape[0]
    U = (Minv.reshape(G * q, q) @ lam.T).reshape(G, q, q)  # one GEMM, not G tiny ones
    W = _congruence(Minv, lam)
    A = s.XtX - (W.reshape(-1) @ s.P).reshape(p, p)
    c = s.Xty - W.reshape(-1) @ s.Q
    d = s.yty - float(W.reshape(-1) @ s.R)
    A_inv = np.linalg.inv(A)
    beta = A_inv @ c
    pwrss = d - float(c @ beta)
    scale = (s.n - p) if reml else s.n
    # dA = -dW . P, dc = -dW . Q, dd = -dW . R; the criterion moves by dW . weights
    weights = (2 * (s.Q @ beta) - s.R - s.P @ np.outer(beta, beta).reshape(-1)) * (scale / pwrss)
    if reml:
        weights = weights - s.P @ A_inv.reshape(-1)
    weights = weights.reshape(G, q, q)
    weights = (weights + weights.transpose(0, 2, 1)) / 2
    # sum_j N_j' V_j U_j' with N_j = I - W_j S_j: V U' summed, minus S W V U' summed. Products
    # of tiny matrices by broadcasting, sums over groups as one GEMM (stacked matmul and einsum
    # pay per matrix, which dominates at 10,000 groups).
    VU = (weights[:, :, None, :] * U[:, None, :, :]).sum(axis=3)  # V_j U_j'
    SW = (s.ZtZ[:, :, :, None] * W[:, None, :, :]).sum(axis=2)  # S_j W_j
    contraction = VU.sum(axis=0) - _summed_products(SW, VU)
    logdet = _summed_products(U, s.ZtZ)  # d log|M_j| / d Lambda_ab = 2 (U_j S_j)[b, a]
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))  # theta's column-major order
    a, b = rows[order], cols[order]
    return 2.0 * logdet[b, a] + 2.0 * contraction[a, b]


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


def full_ml_deviance(theta: np.ndarray, sigma: float, s: GroupSums) -> float:
    """ML deviance with sigma free and the fixed effects profiled out: what lme4's profile()
    minimises (it profiles a REML fit after refitting it by ML)."""
    _, _, A, c, d, logdet_M = _pieces(np.asarray(theta, float), s)
    pwrss = d - float(c @ np.linalg.solve(A, c))
    return logdet_M + s.n * (LOG_2PI + 2.0 * np.log(sigma)) + pwrss / sigma**2


def beta_covariance(theta: np.ndarray, sigma: float, s: GroupSums) -> np.ndarray:
    _, _, A, _, _, _ = _pieces(np.asarray(theta, float), s)
    return sigma**2 * np.linalg.inv(A)


def random_effects(sol: Solution, s: GroupSums) -> tuple[np.ndarray, np.ndarray]:
    """Conditional modes b_j and their conditional covariances (G, q) and (G, q, q)."""
    lam = lambda_of(sol.theta, s.q)
    M = _congruence(s.ZtZ, lam.T) + np.eye(s.q)
    resid = s.Zty - s.ZtX @ sol.beta  # Z_j'(y_j - X_j beta)
    Minv, _ = _inverse_and_logdet(M)
    u = np.einsum("gqr,gr->gq", Minv, resid @ lam)
    modes = u @ lam.T
    cond_cov = sol.sigma2 * (lam @ Minv @ lam.T)
    return modes, cond_cov
