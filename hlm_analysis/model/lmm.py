"""Exact two-level linear mixed model algebra from per-group sufficient statistics.

The model is y_j = X_j beta + Z_j b_j + e_j with b_j ~ N(0, sigma^2 Lambda Lambda') and
e_j ~ N(0, sigma^2 I), Lambda lower triangular with its entries in `theta` (column-major, as
lme4 orders them). Every quantity of the likelihood needs only n_j, Z_j'Z_j, Z_j'X_j, Z_j'y_j and
the totals X'X, X'y, y'y, so one pass over the data is enough and the criterion costs
O(groups * q^2 * p) per evaluation. This is the criterion of lme4 (Bates et al. 2015, JSS 67(1),
section 3) restricted to one grouping factor; it is the yardstick every candidate optimum is
measured with.

Numerically it is evaluated in factored form, so that it stays accurate at large variance ratios
(where X'V^-1 X and y'V^-1 y are small differences of large numbers). Once, independently of
theta, each group's cross products of [Z X y] are reduced by q steps of a Cholesky factorisation:
q "pseudo-rows" [R_j | E_j] (R_j upper triangular, q x q; E_j, q x (p + 1)) carry everything the
group says about the directions of Z_j, and what is left over (the within-group residual cross
products of [X y], summed over groups) is a constant W0. With B_j = R_j Lambda and
K_j = I + B_j B_j' (the covariance of the pseudo-rows over sigma^2, with |K_j| = |M_j|,
M_j = Lambda'Z_j'Z_j Lambda + I),

    C(theta) = [X y]' V^-1 [X y] sigma^2 = W0 + sum_j F_j'F_j,    F_j = L_j^-1 E_j,

with L_j the Cholesky factor of K_j: a sum of squares of solved blocks, never a difference. The
fixed effects, the penalised residual sum of squares and log|X'V^-1 X| then come from the
Cholesky factor of the (p + 1) x (p + 1) matrix C. Gradient and Hessian with respect to theta are
closed forms in the same solved blocks (see `_Factored`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ..data.sums import DesignSums

LOG_2PI = np.log(2.0 * np.pi)
# A group's pivot (the part of a random-effect column its earlier columns leave, squared) below
# this fraction of the column's sum of squares is zero: the column is collinear within the group
# (one row, or a slope variable constant in the group). Rounding leaves ~1e-16 there.
ZERO_PIVOT = 1e-12


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
    # The theta-free factored form (module docstring), groups last so that elementwise work
    # runs over contiguous (G,) vectors: R[i, k] is entry (i, k) of every group's R_j, E[i]
    # row i of every E_j, RE[i] row i of every [R_j | E_j].
    R: np.ndarray  # (q, q, G)
    E: np.ndarray  # (q, p + 1, G)
    RE: np.ndarray  # (q, q + p + 1, G)
    W0: np.ndarray  # (p + 1, p + 1)

    @property
    def p(self) -> int:
        return self.XtX.shape[0]

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]

    @property
    def n_groups(self) -> int:
        return self.ZtZ.shape[0]


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
    """The per-group pseudo-rows: q steps of a semidefinite Cholesky factorisation of each
    group's [Z X y]'[Z X y], on its first q rows [Z'Z | Z'X | Z'y] (a zero pivot, a column
    collinear within the group, gives a zero row)."""
    n_groups, q, p = ZtZ.shape[0], ZtZ.shape[1], XtX.shape[0]
    work = np.concatenate([ZtZ, ZtX, Zty[:, :, None]], axis=2).transpose(1, 0, 2).copy()
    RE = np.zeros_like(work)  # (q, G, q + p + 1)
    for k in range(q):
        pivot = work[k, :, k]
        scale = ZtZ[:, k, k]
        usable = pivot > ZERO_PIVOT * np.where(scale > 0, scale, 0.0)
        usable &= pivot > 0
        root = np.sqrt(np.where(usable, pivot, 1.0))
        row = np.where(usable[:, None], work[k] / root[:, None], 0.0)
        row[:, :k] = 0.0
        RE[k] = row
        work[k + 1 :] -= row[None, :, k + 1 : q].transpose(2, 1, 0) * row[None, :, :]
    total = np.empty((p + 1, p + 1))
    total[:p, :p], total[:p, p], total[p, :p], total[p, p] = XtX, Xty, Xty, yty
    flat = RE[:, :, q:].reshape(q * n_groups, p + 1)
    W0 = total - flat.T @ flat  # once, independent of theta: what the Z directions leave
    W0 = (W0 + W0.T) / 2
    RE = np.ascontiguousarray(RE.transpose(0, 2, 1))  # (q, q + p + 1, G)
    R, E = np.ascontiguousarray(RE[:, :q]), np.ascontiguousarray(RE[:, q:])
    return GroupSums(
        n=int(n),
        XtX=XtX,
        Xty=Xty,
        yty=yty,
        ZtZ=ZtZ,
        ZtX=ZtX,
        Zty=Zty,
        counts=counts,
        R=R,
        E=E,
        RE=RE,
        W0=W0,
    )


def n_theta(q: int) -> int:
    return q * (q + 1) // 2


@cache
def theta_positions(q: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) in Lambda of each entry of theta (column-major, as lme4); cached, as every
    evaluation needs them."""
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))
    rows, cols = rows[order], cols[order]
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def lambda_of(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    rows, cols = theta_positions(q)
    lam[rows, cols] = theta
    return lam


def theta_of(lam: np.ndarray) -> np.ndarray:
    rows, cols = theta_positions(lam.shape[0])
    return lam[rows, cols].copy()


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


def _cholesky_rows(lam: np.ndarray, s: GroupSums):
    """The Cholesky factors L_j of K_j = I + B_j B_j' (B_j = R_j Lambda) of every group, as a
    q x q nested list of (G,) vectors (lower triangle), and sum_j log|K_j|.

    Closed forms for q = 1 and 2 (where large data spend their time); for q = 2 the last pivot
    is |K_j| / K_j[0, 0] with |K_j| = 1 + |B_j|_F^2 + |B_j|^2, a sum of positive terms, so it
    keeps its accuracy when the rows of B_j are long and nearly parallel. For q > 2, a QR
    factorisation of [B_j'; I] (R'R = K_j), equally free of differences."""
    q, R = s.q, s.R
    if q == 1:
        b = R[0, 0] * lam[0, 0]
        k11 = 1.0 + b * b
        return [[np.sqrt(k11)]], float(np.log(k11).sum())
    if q == 2:
        (l1, _), (l2, l3) = lam
        r11, r12, r22 = R[0, 0], R[0, 1], R[1, 1]
        b11, b12 = r11 * l1 + r12 * l2, r12 * l3
        b21, b22 = r22 * l2, r22 * l3
        k11 = 1.0 + b11 * b11 + b12 * b12
        k21 = b11 * b21 + b12 * b22
        det_b = (r11 * r22) * (l1 * l3)
        det = k11 + b21 * b21 + b22 * b22 + det_b * det_b
        d11 = np.sqrt(k11)
        return [[d11, None], [k21 / d11, np.sqrt(det / k11)]], float(np.log(det).sum())
    B = np.einsum("ikg,kc->gic", R, lam)  # B_j = R_j Lambda
    G = B.shape[0]
    stacked = np.concatenate([B.transpose(0, 2, 1), np.broadcast_to(np.eye(q), (G, q, q))], 1)
    upper = np.linalg.qr(stacked, mode="r")  # (G, q, q), R'R = K_j
    diag = np.abs(np.diagonal(upper, axis1=1, axis2=2))
    if np.any(diag <= 0):
        raise np.linalg.LinAlgError("matrix not positive definite")
    signs = np.sign(np.diagonal(upper, axis1=1, axis2=2))
    lower = (upper * signs[:, :, None]).transpose(0, 2, 1)  # L_j = R', positive diagonal
    L = [[lower[:, i, k] if k <= i else None for k in range(q)] for i in range(q)]
    return L, 2.0 * float(np.log(diag).sum())


def _forward(L, rhs: np.ndarray) -> np.ndarray:
    """L_j^-1 applied to each group's q x m block, rhs[i] being row i over groups (m, G)."""
    out = np.empty_like(rhs)
    for i in range(len(L)):
        acc = rhs[i]
        for k in range(i):
            acc = acc - L[i][k] * out[k]
        np.divide(acc, L[i][i], out=out[i])
    return out


def _gram(F: np.ndarray) -> np.ndarray:
    """sum_j F_j'F_j for row stacks F (q, m, G): q GEMMs."""
    return sum(F[i] @ F[i].T for i in range(F.shape[0]))


def _fixed_part(C: np.ndarray, p: int):
    """From C = [X y]'V^-1[X y] sigma^2: (A, c, beta, pwrss, log|A|), by one Cholesky of C."""
    chol = np.linalg.cholesky(C)
    diag = np.diag(chol)
    beta = np.linalg.solve(chol[:p, :p].T, chol[p, :p])
    pwrss = float(diag[p] ** 2)
    logdet_A = 2.0 * float(np.log(diag[:p]).sum())
    return C[:p, :p], C[:p, p], beta, pwrss, logdet_A


def _pieces(theta: np.ndarray, s: GroupSums):
    """(Lambda, C(theta), sum_j log|M_j|): the sum of squares of solved blocks."""
    lam = lambda_of(theta, s.q)
    L, logdet_M = _cholesky_rows(lam, s)
    C = s.W0 + _gram(_forward(L, s.E))
    return lam, C, logdet_M


def solve(theta: np.ndarray, s: GroupSums, reml: bool = True) -> Solution:
    theta = np.asarray(theta, dtype=float)
    _, C, logdet_M = _pieces(theta, s)
    n, p = s.n, s.p
    A, _, beta, pwrss, logdet_A = _fixed_part(C, p)
    if not pwrss > 0:
        raise np.linalg.LinAlgError("no residual variance")
    if reml:
        dof = n - p
        deviance = logdet_M + logdet_A + dof * (1.0 + LOG_2PI + np.log(pwrss / dof))
        sigma2 = pwrss / dof
    else:
        deviance = logdet_M + n * (1.0 + LOG_2PI + np.log(pwrss / n))
        sigma2 = pwrss / n
    return Solution(theta, beta, float(sigma2), A, logdet_M, logdet_A, pwrss, float(deviance))


def _pair_sums(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """sum_j X_j[a, b] Y_j[c, d] for stacks (q, q, G), as (q, q, q, q): one GEMM."""
    q, _, G = X.shape
    return (X.reshape(q * q, G) @ Y.reshape(q * q, G).T).reshape(q, q, q, q)


class _Factored:
    """The solved blocks at one theta, and derivatives of sum_j log|K_j| + f(C) from them.

    With R-check_j = L_j^-1 R_j, F_j = L_j^-1 E_j and P_j = F_j' R-check_j ((p + 1) x q), a
    step in the Lambda entry (a, b) moves K_j by r_a beta_b' + beta_b r_a' (r_a column a of R_j,
    beta_b column b of B_j), log|K_j| by 2 (Lambda' Rk_j)[b, a] with Rk_j = R-check'R-check (the
    K^-1 inner products of the columns of R_j), and C by -(D + D') with
    D = sum_j P_j[:, a] (P_j Lambda)[:, b]'. Second derivatives are sums over groups of products
    of two such q x q inner-product matrices (Rk_j and Y_j = P_j' Omega P_j, Omega = df/dC), so
    the Hessian costs a few GEMMs over groups beyond the gradient."""

    def __init__(self, theta: np.ndarray, s: GroupSums):
        self.s, self.q, self.p1 = s, s.q, s.p + 1
        self.lam = lambda_of(np.asarray(theta, float), s.q)
        L, self.logdet_M = _cholesky_rows(self.lam, s)
        solved = _forward(L, s.RE)  # (q, q + p + 1, G)
        q, G = s.q, s.n_groups
        Rc, F = solved[:, :q], solved[:, q:]  # rows of R-check_j and of F_j, groups last
        self.C = s.W0 + _gram(F)
        # P[a] = column a of every P_j = F_j' R-check_j, (p + 1, G); Rk[a, c] as (G,) vectors
        self.P = np.einsum("img,iag->amg", F, Rc)
        flat = self.P.reshape(q * self.p1, G)
        self.Gamma = (flat @ flat.T).reshape(q, self.p1, q, self.p1)  # sum_j P_j (x) P_j
        self.Rk = np.einsum("iag,icg->acg", Rc, Rc)
        self.a, self.b = theta_positions(q)

    def dC(self) -> np.ndarray:
        """dC/dtheta_k for each k, (k, p + 1, p + 1)."""
        # D_k[m, n] = sum_c Lambda[c, b] Gamma[a, m, c, n]
        D = np.einsum("cb,amcn->bamn", self.lam, self.Gamma)[self.b, self.a]
        return -(D + D.transpose(0, 2, 1))

    def gradient(self, omega: np.ndarray) -> np.ndarray:
        Rk_sum = self.Rk.sum(axis=2)
        YR_sum = np.einsum("mn,amcn->ac", omega, self.Gamma)
        N = self.lam.T @ (Rk_sum - YR_sum)
        return 2.0 * N[self.b, self.a]

    def hessian(self, omega: np.ndarray, second) -> np.ndarray:
        """Hessian of sum log|K_j| + f(C) where omega = df/dC and second(dCs) gives the
        (k, k) matrix of second derivatives f''[dC_k, dC_l]."""
        lam, Rk = self.lam, self.Rk
        YR = np.einsum("amg,cmg->acg", self.P, np.matmul(omega, self.P))  # P_j' Omega P_j
        Bk = np.einsum("ab,acg->bcg", lam, Rk)  # Lambda' Rk_j
        BB = np.einsum("bcg,cd->bdg", Bk, lam)
        YB = np.einsum("ab,acg->bcg", lam, YR)
        YBB = np.einsum("bcg,cd->bdg", YB, lam)
        BkBk, BBRk = _pair_sums(Bk, Bk), _pair_sums(BB, Rk)
        YBBk, YRBB, YBBRk = _pair_sums(YB, Bk), _pair_sums(YR, BB), _pair_sums(YBB, Rk)
        Rk_sum, YR_sum = Rk.sum(axis=2), YR.sum(axis=2)
        a, b = self.a, self.b
        A_, B_ = a[:, None], b[:, None]  # k = (a, b) down the rows
        C_, D_ = a[None, :], b[None, :]  # l = (c, d) across the columns
        same = B_ == D_
        logdet = 2.0 * same * Rk_sum[A_, C_] - 2.0 * (BkBk[B_, C_, D_, A_] + BBRk[B_, D_, C_, A_])
        curvature = (
            2.0
            * (
                YBBk[B_, C_, D_, A_]
                + YRBB[A_, C_, D_, B_]
                + YBBRk[B_, D_, C_, A_]
                + YBBk[D_, A_, B_, C_]
            )
            - 2.0 * same * YR_sum[A_, C_]
        )
        H = logdet + curvature + second(self.dC())
        return (H + H.T) / 2


def _profiled_terms(C: np.ndarray, p: int, n: int, reml: bool):
    """The criterion's dependence on C, with sigma profiled out: its value's C part, omega =
    df/dC and f'' as a function of the directions dC."""
    A, _, beta, pwrss, logdet_A = _fixed_part(C, p)
    if not pwrss > 0:
        raise np.linalg.LinAlgError("no residual variance")
    A_inv = np.linalg.inv(A)
    v = np.append(-beta, 1.0)
    scale = (n - p) if reml else n
    omega = (scale / pwrss) * np.outer(v, v)
    if reml:
        omega[:p, :p] += A_inv

    def second(dCs: np.ndarray) -> np.ndarray:
        Cv = dCs @ v  # (k, p + 1)
        quad = Cv @ v  # v' dC_k v
        PCv = Cv[:, :p] @ A_inv  # (P dC_k v)_X
        cross = Cv[:, :p] @ PCv.T  # v'dC_k P dC_l v
        out = -(scale / pwrss) * (2.0 * cross + np.outer(quad, quad) / pwrss)
        if reml:
            M = A_inv @ dCs[:, :p, :p]  # (k, p, p)
            out -= np.einsum("kij,lji->kl", M, M)
        return out

    return omega, second


def gradient(theta: np.ndarray, s: GroupSums, reml: bool = True) -> np.ndarray:
    """The analytic gradient of the profiled criterion with respect to theta, from the same
    factored group sums (about one evaluation's worth of work)."""
    f = _Factored(theta, s)
    omega, _ = _profiled_terms(f.C, s.p, s.n, reml)
    return f.gradient(omega)


def derivatives(theta: np.ndarray, s: GroupSums, reml: bool = True):
    """(gradient, Hessian) of the profiled criterion with respect to theta, both analytic."""
    f = _Factored(theta, s)
    omega, second = _profiled_terms(f.C, s.p, s.n, reml)
    return f.gradient(omega), f.hessian(omega, second)


def hessian(theta: np.ndarray, s: GroupSums, reml: bool = True) -> np.ndarray:
    return derivatives(theta, s, reml)[1]


def deviance(theta: np.ndarray, s: GroupSums, reml: bool = True) -> float:
    """The profiled criterion; +inf where it is not defined (never chosen as a minimum)."""
    try:
        value = solve(theta, s, reml).deviance
    except (np.linalg.LinAlgError, FloatingPointError, ValueError):
        return np.inf
    return value if np.isfinite(value) else np.inf


def full_reml_deviance(theta: np.ndarray, sigma: float, s: GroupSums) -> float:
    """REML deviance with sigma as a free parameter (not profiled), as lmerTest differentiates."""
    _, C, logdet_M = _pieces(np.asarray(theta, float), s)
    _, _, _, pwrss, logdet_A = _fixed_part(C, s.p)
    dof = s.n - s.p
    return logdet_M + logdet_A + dof * (LOG_2PI + 2.0 * np.log(sigma)) + pwrss / sigma**2


def _full_curvature(theta: np.ndarray, sigma: float, s: GroupSums, reml: bool):
    """Gradient and Hessian in (theta, sigma) of the deviance with sigma free (not profiled):
    REML as `full_reml_deviance`, ML as `full_ml_deviance`; also the factored state and the
    fixed part, for what else the caller needs."""
    p, k = s.p, n_theta(s.q)
    f = _Factored(theta, s)
    A, _, beta, pwrss, _ = _fixed_part(f.C, p)
    A_inv = np.linalg.inv(A)
    v = np.append(-beta, 1.0)
    omega = np.outer(v, v) / sigma**2
    if reml:
        omega[:p, :p] += A_inv

    def second(dCs: np.ndarray) -> np.ndarray:
        Cv = dCs @ v
        out = -2.0 * (Cv[:, :p] @ (Cv[:, :p] @ A_inv).T) / sigma**2
        if reml:
            M = A_inv @ dCs[:, :p, :p]
            out -= np.einsum("kij,lji->kl", M, M)
        return out

    dCs = f.dC()
    dof = (s.n - p) if reml else s.n
    grad = np.append(f.gradient(omega), 2.0 * dof / sigma - 2.0 * pwrss / sigma**3)
    H = np.empty((k + 1, k + 1))
    H[:k, :k] = f.hessian(omega, second)
    H[:k, k] = H[k, :k] = -2.0 * (dCs @ v @ v) / sigma**3  # d/dsigma of dpwrss/sigma^2
    H[k, k] = -2.0 * dof / sigma**2 + 6.0 * pwrss / sigma**4
    return grad, H, dCs, A_inv


def full_reml_curvature(theta: np.ndarray, sigma: float, s: GroupSums, contrasts: np.ndarray):
    """What Satterthwaite's df need, analytically: the Hessian of `full_reml_deviance` in
    (theta, sigma), the variances of contrasts' c'beta (sigma^2 c'A^-1 c) and their Jacobian in
    (theta, sigma)."""
    p, k = s.p, n_theta(s.q)
    _, H, dCs, A_inv = _full_curvature(theta, sigma, s, reml=True)
    AL = contrasts @ A_inv  # (m, p)
    variances = sigma**2 * np.einsum("ip,ip->i", AL, contrasts)
    jac = np.empty((len(contrasts), k + 1))
    jac[:, :k] = -(sigma**2) * np.einsum("ip,kpr,ir->ik", AL, dCs[:, :p, :p], AL)
    jac[:, k] = 2.0 * variances / sigma
    return H, variances, jac


def full_ml_derivatives(theta: np.ndarray, sigma: float, s: GroupSums):
    """Gradient and Hessian of `full_ml_deviance` in (theta, sigma), analytic."""
    grad, H, _, _ = _full_curvature(theta, sigma, s, reml=False)
    return grad, H


def full_ml_deviance(theta: np.ndarray, sigma: float, s: GroupSums) -> float:
    """ML deviance with sigma free and the fixed effects profiled out: what lme4's profile()
    minimises (it profiles a REML fit after refitting it by ML)."""
    _, C, logdet_M = _pieces(np.asarray(theta, float), s)
    pwrss = _fixed_part(C, s.p)[3]
    return logdet_M + s.n * (LOG_2PI + 2.0 * np.log(sigma)) + pwrss / sigma**2


def beta_covariance(theta: np.ndarray, sigma: float, s: GroupSums) -> np.ndarray:
    _, C, _ = _pieces(np.asarray(theta, float), s)
    return sigma**2 * np.linalg.inv(C[: s.p, : s.p])


def random_effects(sol: Solution, s: GroupSums) -> tuple[np.ndarray, np.ndarray]:
    """Conditional modes b_j and their conditional covariances (G, q) and (G, q, q)."""
    lam = lambda_of(sol.theta, s.q)
    M = np.einsum("ab,gbc,cd->gad", lam.T, s.ZtZ, lam) + np.eye(s.q)
    resid = s.Zty - s.ZtX @ sol.beta  # Z_j'(y_j - X_j beta)
    Minv = np.linalg.inv(M)
    u = np.einsum("gqr,gr->gq", Minv, resid @ lam)
    modes = u @ lam.T
    cond_cov = sol.sigma2 * (lam @ Minv @ lam.T)
    return modes, cond_cov


# A random slope on a variable whose mean is this many SDs from zero (calendar years, an id-like
# number near 100,000) puts the intercept's variance at x = 0, far outside the data: intercept and
# slope correlate at -1 to six digits, the criterion's valley is needle-thin, and the optimizer
# stopped 5e-4 log-likelihood short of lme4's centred refit yet passed verification (df 177.0
# for lmerTest's 176.2). The same model with the slope centred (Z [1, x - c] = Z [1, x] T) is
# well scaled; it is fitted, and its optimum written back in x's own terms. levels/fit.py does
# the same for several grouping levels.
CENTRE_FROM_SDS = 3.0
# A fixed-only column (no random slope) this many SDs from zero: calendar years, dates as numbers.
# Forming X'V^-1 X from its raw sums squares their conditioning: with year + 1e5 the REML
# log-likelihood came out 4e-6 off lme4's on centred year, the df 2e-7 off. Centring it is exact
# (beta = A beta_c with det A = 1: theta, sigma and the REML criterion unchanged); from 10 SDs,
# so a common 0/1 dummy (mean 0.9, SD 0.3) stays as it is (levels/fit.py uses the same bound).
FIXED_CENTRE_FROM_SDS = 10.0
CENTRED = " (centred)"  # the suffix of a centred column's name in the recentred design


@dataclass(frozen=True)
class Recentred:
    """One model with its far-from-zero slope variables centred: `sums` (fixed columns centred
    too when the model has an intercept, so X'V^-1 X is not squared-badly conditioned), `move`
    (q, q) with b = move @ b_c, and `to_centred` (p, p) with beta = to_centred @ beta_c."""

    sums: GroupSums
    move: np.ndarray
    to_centred: np.ndarray
    slopes: bool = True  # a random slope's origin moved (False: fixed-only columns alone)


def round_centre(mean: float, sd: float) -> float:
    """A centre within SD/2 of the mean with few significant bits (a multiple of the power of 2
    at or below the SD): c * sum(x) and c^2 n are then exact, so integer calendar years are
    centred from their sums without rounding (with the mean, year + 1e5 kept the criterion only
    to 7e-8 of the log-likelihood). The levels engine and least squares centre with it too."""
    step = 2.0 ** np.floor(np.log2(sd))
    return float(np.round(mean / step) * step)


def is_far(mean: float, sd: float, sds: float = CENTRE_FROM_SDS) -> bool:
    """Whether a variable's mean lies more than `sds` of its SDs from zero (one rule for the
    two-level, levels and binary levels engines)."""
    return sd > 0 and abs(mean) > sds * sd


def far_from_zero(design: DesignSums, random: list[str]) -> dict[str, float]:
    """{slope variable: its centre} for the random slopes CENTRE_FROM_SDS or more SDs from
    zero."""
    out = {}
    for term in random[1:]:
        sd, mean = design.sd(term), design.mean(term)
        if is_far(mean, sd):
            out[term] = round_centre(mean, sd)
    return out


def with_centred_columns(design: DesignSums, shifts: dict[str, float]) -> DesignSums:
    """The design with a column `x (centred)` = x - c beside each x of `shifts` ({x: c}), its
    sums from the same sums (columns [x, 1] mapped by T: no pass over the rows)."""
    names = list(design.names)
    one = names.index(design.names[1])
    T = np.eye(len(names))
    for term, centre in shifts.items():
        column = np.zeros(len(names))
        column[names.index(term)], column[one] = 1.0, -centre
        T = np.column_stack([T, column])
    cross = np.einsum("ak,gab,bl->gkl", T, design.cross, T)
    low = np.column_stack([design.group_low, *(design.group_low[:, names.index(t)] - c
                                                for t, c in shifts.items())])  # fmt: skip
    high = np.column_stack([design.group_high, *(design.group_high[:, names.index(t)] - c
                                                  for t, c in shifts.items())])  # fmt: skip
    return DesignSums((*names, *(t + CENTRED for t in shifts)), design.counts, cross, low, high)


def recentred(
    design: DesignSums, fixed: list[str], random: list[str], slopes: bool = True
) -> Recentred | None:
    """The model (fixed, random) with its far slopes centred (unless `slopes` is False: a
    diagonal covariance is not invariant under that shift) and its far fixed-only columns
    centred, or None when none is far. Slopes need the random intercept to absorb the shift,
    fixed columns the fixed intercept."""
    shifts = far_from_zero(design, random) if slopes else {}
    if not random or random[0] != design.names[1]:
        shifts = {}
    moved = bool(shifts)
    shifts |= far_fixed(design, fixed, random)
    if not shifts:
        return None
    wide = with_centred_columns(design, shifts)
    random_c = [t + CENTRED if t in shifts else t for t in random]
    move = np.eye(len(random))
    for j, term in enumerate(random):
        if term in shifts:
            move[0, j] = -shifts[term]  # the intercept at x = 0 is b0_c - c b1_c
    fixed_c, to_centred = centred_fixed(design, fixed, shifts)
    return Recentred(model_sums(wide, fixed_c, random_c), move, to_centred, moved)


def far_fixed(design: DesignSums, fixed: list[str], random: list[str]) -> dict[str, float]:
    """{column: its centre} for the fixed-only columns (not in `random`) FIXED_CENTRE_FROM_SDS or
    more SDs from zero, when the fixed part has the intercept to absorb the shift (else {})."""
    out = {}
    if design.names[1] in fixed:
        for term in fixed:
            if term not in random and term != design.names[1]:
                sd, mean = design.sd(term), design.mean(term)
                if is_far(mean, sd, FIXED_CENTRE_FROM_SDS):
                    out[term] = round_centre(mean, sd)
    return out


def centred_fixed(
    design: DesignSums, fixed: list[str], shifts: dict[str, float]
) -> tuple[list[str], np.ndarray]:
    """The fixed part with the columns of `shifts` centred (their names in
    with_centred_columns(design, shifts)) and A with beta = A beta_c: only the intercept moves,
    b0 = b0_c - sum c b_c (det A = 1; the identity without the intercept)."""
    to_centred = np.eye(len(fixed))
    fixed_c = list(fixed)
    if design.names[1] in fixed:
        for j, term in enumerate(fixed):
            if term in shifts:
                fixed_c[j] = term + CENTRED
                to_centred[fixed.index(design.names[1]), j] = -shifts[term]
    return fixed_c, to_centred


def moved_theta(theta: np.ndarray, move: np.ndarray) -> np.ndarray:
    """theta of the same random-effect covariance after b = move @ b': the lower-triangular
    factor of (move Lambda)(move Lambda)', by a QR of (move Lambda)' (exact when singular)."""
    q = move.shape[0]
    r = np.linalg.qr((move @ lambda_of(np.asarray(theta, float), q)).T)[1]
    return theta_of((r * np.where(np.diag(r) < 0, -1.0, 1.0)[:, None]).T)
