"""CR2 cluster-robust standard errors for a linear mixed model, as clubSandwich computes them.
With no random effects (Z with no columns) it is CR2 for OLS with Bell-McCaffrey's df.

The working model is the fitted one (clubSandwich's default for lmer: target = the model's own
covariance, "inverse variance" weights). Per cluster j, with Theta_j = Z_j Lambda Lambda' Z_j' + I
(V_j / sigma^2), W_j = Theta_j^-1, M = (sum X_j' W_j X_j)^-1 and R_j the Cholesky factor of Theta_j:
  A_j = R_j' [R_j (Theta_j - X_j M X_j') R_j']^(-1/2) R_j        (Pustejovsky & Tipton 2018)
  V_CR2 = M [sum_j X_j' W_j A_j e_j e_j' A_j W_j X_j] M,   e = y - X beta.
Degrees of freedom per coefficient by their Satterthwaite approximation: with h_j the coefficient's
row of M X_j' W_j A_j X_j L (L L' = M) and d_j = |M X_j' W_j A_j R_j'|^2 along that row,
P = diag(d) - h h', df = tr(P)^2 / sum(P^2), evaluated here without forming the J x J matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import distributions
from ..data.sums import DesignSums
from . import lmm

# CR2's small-sample correction matters only with few clusters; beyond this many CR1 (from
# group sums, O(n p + J q^3)) is reported. CR2 itself costs O(n (p + q)^2) (see cr2), so any
# data held in memory can have it, however large the clusters.
CR2_MAX_GROUPS = 2000


@dataclass(frozen=True)
class Robust:
    std_error: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    cov: np.ndarray


def feasible(counts: np.ndarray) -> bool:
    """Whether CR2 is worth it: few enough groups for the correction to matter."""
    return len(counts) <= CR2_MAX_GROUPS


def cr1(
    design: DesignSums,
    fixed: list[str],
    random: list[str],
    theta: np.ndarray,
    beta: np.ndarray,
    sums: lmm.GroupSums,
) -> Robust:
    """CR1 (the G / (G - 1) scaled sandwich) with the model's weights, and G - 1 df, from group
    sums: X_j'W_j e_j = X_j'e_j - X_j'Z_j Lambda M_j^-1 Lambda' Z_j'e_j (Woodbury), so no
    n_j x n_j matrix is ever formed and no row is needed."""
    q, G = len(random), sums.ZtZ.shape[0]
    lam = lmm.lambda_of(theta, q)
    Xe = design.block(fixed, [design.outcome])[:, :, 0] - design.block(fixed, fixed) @ beta
    Ze = sums.Zty - sums.ZtX @ beta  # (G, q)
    Mj = np.einsum("ab,gbc,cd->gad", lam.T, sums.ZtZ, lam) + np.eye(q)
    inner = np.linalg.solve(Mj, (Ze @ lam)[..., None])[..., 0]  # M_j^-1 Lambda' Z_j'e_j
    XZL = np.einsum("gqp,qr->gpr", sums.ZtX, lam)  # X_j'Z_j Lambda
    scores = Xe - np.einsum("gpr,gr->gp", XZL, inner)
    bread = np.linalg.inv(sums.XtX - np.einsum("gpr,grs,gqs->pq", XZL, np.linalg.inv(Mj), XZL))
    cov = bread @ (scores.T @ scores) @ bread * G / (G - 1)
    return _tested(beta, cov, np.full(len(beta), float(G - 1)))


def _tested(beta: np.ndarray, cov: np.ndarray, df: np.ndarray) -> Robust:
    """Standard errors from a robust covariance, with two-sided t tests on `df`."""
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    statistic = beta / np.where(se > 0, se, np.nan)
    return Robust(se, df, 2 * distributions.t_sf(np.abs(statistic), df), cov)


class _Covariance:
    """Theta_j = I + Zt Zt' (Zt = Z_j Lambda) for a stack of clusters of one size, through the
    eigenvectors U of Zt Zt' with nonzero eigenvalues s2 (from the q x q Zt'Zt): any power is
    Theta^a = I + U diag((1 + s2)^a - 1) U', applied in O(n q) per column, never as n x n."""

    def __init__(self, Zt: np.ndarray):
        s2, V = np.linalg.eigh(Zt.transpose(0, 2, 1) @ Zt)
        kept = s2 > 1e-14 * np.maximum(1.0, s2.max(axis=-1, keepdims=True, initial=0.0))
        scale = np.where(kept, 1.0 / np.sqrt(np.where(kept, s2, 1.0)), 0.0)
        self.Zt = Zt
        self.U = (Zt @ V) * scale[:, None, :]  # (k, n, q), orthonormal columns (or zero)
        self.s2 = np.where(kept, s2, 0.0)

    def power(self, a: float, M: np.ndarray) -> np.ndarray:
        """Theta^a @ M for M (k, n, m)."""
        factor = np.expm1(a * np.log1p(self.s2))  # (1 + s2)^a - 1, exact for small s2
        return M + self.U @ (factor[:, :, None] * (self.U.transpose(0, 2, 1) @ M))


def cr2(
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    codes: np.ndarray,
    theta: np.ndarray,
    beta: np.ndarray,
    factor: np.ndarray | None = None,
) -> Robust:
    """CR2 in O(n_j (p + q)^2) per cluster. `factor` (n, r), when given, stands for Z Lambda
    row by row (several nested levels: see multilevel.wide_factor), Z and theta then unused. A_j does not depend on which square root of Theta_j
    the formula uses; with the symmetric one, S = Theta_j^(1/2),
      E_j = X_j'W_j A_j = X_j' Theta^(-1/2) B^(-1/2) Theta^(1/2),  B = S (Theta - X M X') S,
    and B = I + (a symmetric matrix of rank <= p + q, in the span Q of U and Theta^(1/2) X_j), so
    B^(-1/2) comes from r x r problems (r = p + q; null directions pseudo-inverted), solved as a
    polar decomposition so that huge variance ratios keep their precision (see the loop). Only
    p x n and n x r matrices are formed."""
    q = Z.shape[1]
    lam = lmm.lambda_of(theta, q) if factor is None else None
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    clusters = np.split(order, bounds)
    resid = y - X @ beta
    p = X.shape[1]
    # Clusters of one size are processed as one stack of matrices (numpy's batched linear
    # algebra): at 10,000 groups a loop over clusters spends its time in Python.
    by_size: dict[int, list[int]] = {}
    for j, idx in enumerate(clusters):
        by_size.setdefault(len(idx), []).append(j)

    def stack(members: list[int]):
        rows = np.stack([clusters[j] for j in members])  # (k, n)
        Zt = Z[rows] @ lam if factor is None else factor[rows]
        return rows, X[rows], _Covariance(Zt)  # X (k, n, p)

    def t(a: np.ndarray) -> np.ndarray:
        return a.transpose(0, 2, 1)

    XWX = np.zeros((p, p))
    for members in by_size.values():
        _, Xs, theta_j = stack(members)
        root = theta_j.power(-0.5, Xs)  # Theta^(-1/2) X: X'WX = root'root
        XWX += (t(root) @ root).sum(axis=0)
    M = np.linalg.inv(XWX)
    L = np.linalg.cholesky(M)
    meat = np.zeros((p, p))
    H = np.empty((len(clusters), p, p))  # per cluster: M X_j'W_j A_j X_j L
    D = np.empty((len(clusters), p))  # per cluster: diag(M E_j Theta_j E_j' M)
    for members in by_size.values():
        rows, Xs, theta_j = stack(members)
        inv_root = theta_j.power(-0.5, Xs)  # Theta^(-1/2) X
        root = theta_j.power(0.5, Xs)  # Theta^(1/2) X
        Q = np.linalg.qr(np.concatenate([theta_j.U, root], axis=2))[0]  # (k, n, r)
        # Everything lives in span(Q) (identity outside), where, with Xt = Q'Theta^(-1/2) X,
        # C = I - Xt M Xt' and Theta_r = Q'Theta Q, B = Theta_r C Theta_r. B's eigenvalues run
        # to (1 + n tau / sigma2)^2, so an eigenproblem of B itself loses its O(1) eigenvalues
        # (ICC near 1, large clusters: a robust SE a million times too small). Instead, with
        # C = Lc Lc', B = K K' for K = Theta_r Lc, and B^(-1/2) Theta_r = O Lc^-1
        # with O = W V' the orthogonal polar factor of K (K = W S V'): only K's SVD meets the
        # large scale, and O, Lc^-1 and Theta^(-1/2) are all O(1).
        QU, Xt = t(Q) @ theta_j.U, t(Q) @ inv_root
        eye = np.eye(Q.shape[-1])
        theta_r = eye + (QU * theta_j.s2[:, None, :]) @ t(QU)  # Q'Theta Q
        C = eye - Xt @ M @ t(Xt)
        c, Vc = np.linalg.eigh((C + t(C)) / 2)
        # C's null directions (a coefficient only this cluster identifies, e.g. a level-2
        # category held by one group) are pseudo-inverted; C's eigenvalues lie in [0, 1]
        kept = c > 1e-10
        Lc = Vc * np.sqrt(np.where(kept, c, 0.0))[:, None, :]
        W, sv, Vt = np.linalg.svd(theta_r @ Lc)
        full = kept.all(axis=-1)
        # R = B^(+1/2) Theta_r: W V' Lc^-1 when C is regular, else W S^+ W' Theta_r
        inv_c = np.where(kept, 1.0 / np.sqrt(np.where(kept, c, 1.0)), 0.0)
        R_regular = W @ Vt @ t(Vc * inv_c[:, None, :])
        big = sv.max(axis=-1, keepdims=True, initial=0.0)
        inv_sv = np.where(sv > 1e-12 * np.maximum(big, 1.0), 1.0 / np.where(sv > 0, sv, 1.0), 0.0)
        R_pseudo = (W * inv_sv[:, None, :]) @ t(W) @ theta_r
        R = np.where(full[:, None, None], R_regular, R_pseudo)
        XR = t(Xt) @ R  # (k, p, r): X_j'W_j A_j = XR Q' Theta^(-1/2)
        whitened = theta_j.power(-0.5, resid[rows][:, :, None])  # Theta^(-1/2) e_j
        u = (XR @ (t(Q) @ whitened))[:, :, 0]
        meat += u.T @ u
        ME = M @ XR
        H[members] = ME @ Xt @ L
        D[members] = (ME**2).sum(axis=2)
    cov = M @ meat @ M
    df = np.empty(p)
    for i in range(p):
        h = H[:, i, :]  # J x p
        d = D[:, i]
        hh = (h**2).sum(axis=1)
        trace = d.sum() - hh.sum()
        # sum(P^2) with P = diag(d) - h h': its diagonal, then the rest, each a sum of
        # squares (expanding the square instead cancels when one cluster dominates)
        between = h @ h.T  # J x J, J <= CR2_MAX_GROUPS
        np.fill_diagonal(between, 0.0)
        squares = float(((d - hh) ** 2).sum() + (between**2).sum())
        df[i] = trace**2 / squares if squares > 0 else np.nan
    return _tested(beta, cov, df)
