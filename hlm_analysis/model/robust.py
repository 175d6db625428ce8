"""CR2 cluster-robust standard errors for a linear mixed model, as clubSandwich computes them.

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
from scipy import stats as scistats

from . import lmm

# Each cluster costs O(n_j^3): beyond this total the report says CR2 was not computed.
MAX_WORK = 2e10


@dataclass(frozen=True)
class Robust:
    std_error: np.ndarray
    df: np.ndarray
    p_value: np.ndarray


def _inv_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    inv = np.where(values > 1e-12, 1.0 / np.sqrt(np.clip(values, 1e-12, None)), 0.0)
    return (vectors * inv) @ vectors.T


def feasible(counts: np.ndarray) -> bool:
    return float(np.sum(counts.astype(float) ** 3)) <= MAX_WORK


def cr2(
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    codes: np.ndarray,
    theta: np.ndarray,
    beta: np.ndarray,
) -> Robust:
    q = Z.shape[1]
    lam = lmm.lambda_of(theta, q)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    clusters = np.split(order, bounds)
    resid = y - X @ beta
    thetas, weights, chols = [], [], []
    XWX = np.zeros((X.shape[1], X.shape[1]))
    for idx in clusters:
        ZL = Z[idx] @ lam
        theta_j = ZL @ ZL.T + np.eye(len(idx))
        R = np.linalg.cholesky(theta_j).T  # upper: R'R = Theta_j
        W = np.linalg.inv(theta_j)
        thetas.append(theta_j)
        weights.append(W)
        chols.append(R)
        XWX += X[idx].T @ W @ X[idx]
    M = np.linalg.inv(XWX)
    L = np.linalg.cholesky(M)
    p = X.shape[1]
    meat = np.zeros((p, p))
    H = np.empty((len(clusters), p, p))  # per cluster: M X_j'W_j A_j X_j L
    D = np.empty((len(clusters), p))  # per cluster: row sums of (M X_j'W_j A_j R_j')^2
    for j, (idx, theta_j, W, R) in enumerate(zip(clusters, thetas, weights, chols, strict=True)):
        Xj = X[idx]
        G = R @ (theta_j - Xj @ M @ Xj.T) @ R.T
        A = R.T @ _inv_sqrt(G) @ R
        E = Xj.T @ W @ A  # p x n_j
        u = E @ resid[idx]
        meat += np.outer(u, u)
        ME = M @ E
        H[j] = ME @ Xj @ L
        D[j] = ((ME @ R.T) ** 2).sum(axis=1)
    cov = M @ meat @ M
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    df = np.empty(p)
    for i in range(p):
        h = H[:, i, :]  # J x p
        d = D[:, i]
        hh = (h**2).sum(axis=1)
        trace = d.sum() - hh.sum()
        # sum(P^2) with P = diag(d) - h h': sum d^2 - 2 sum d_j |h_j|^2 + |h'h|_F^2
        squares = (d**2).sum() - 2 * (d * hh).sum() + float(((h.T @ h) ** 2).sum())
        df[i] = trace**2 / squares if squares > 0 else np.nan
    statistic = beta / np.where(se > 0, se, np.nan)
    p_value = 2 * scistats.t.sf(np.abs(statistic), df)
    return Robust(se, df, p_value)
