"""Small statistics with known answers (no R needed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scistats

from hlm_analysis.model import lmm, robust, stats
from hlm_analysis.present.predictions import qq_points


def test_cr2_balanced_intercept_only_is_the_t_test_of_cluster_means():
    # Bell & McCaffrey (2002): with an intercept only and equal clusters, CR2 equals the
    # variance of the cluster means over G, and the BM df is exactly G - 1.
    rng = np.random.default_rng(3)
    G, m = 6, 7
    codes = np.repeat(np.arange(G), m)
    y = rng.normal(size=G * m) + rng.normal(size=G)[codes]
    X = np.ones((G * m, 1))
    fit = robust.cr2(y, X, np.empty((G * m, 0)), codes, np.empty(0), np.array([y.mean()]))
    cov, df = fit.cov, fit.df
    means = np.array([y[codes == g].mean() for g in range(G)])
    assert cov[0, 0] == pytest.approx(means.var(ddof=1) / G, rel=1e-10)
    assert df[0] == pytest.approx(G - 1, rel=1e-10)


def test_cr2_df_is_small_with_few_clusters():
    rng = np.random.default_rng(4)
    codes = np.repeat(np.arange(4), 25)
    X = np.column_stack([np.ones(100), rng.normal(size=100)])
    y = X @ [1.0, 2.0] + rng.normal(size=100)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    df = robust.cr2(y, X, np.empty((100, 0)), codes, np.empty(0), beta).df
    assert np.all(df > 0) and np.all(df <= 3.0 + 1e-9)


def _cr2_by_definition(y, X, Z, codes, theta, beta):
    """CR2 and its df cluster by cluster with dense n x n matrices, as the module docstring
    writes them (Cholesky factor, eigen-decomposition of the n x n middle matrix)."""
    q, p = Z.shape[1], X.shape[1]
    lam = lmm.lambda_of(theta, q)
    e = y - X @ beta
    groups = [np.flatnonzero(codes == g) for g in np.unique(codes)]
    thetas = [Z[i] @ lam @ lam.T @ Z[i].T + np.eye(len(i)) for i in groups]
    M = np.linalg.inv(
        sum(X[i].T @ np.linalg.solve(t, X[i]) for i, t in zip(groups, thetas, strict=True))
    )
    L = np.linalg.cholesky(M)
    meat, rows_h, rows_d = np.zeros((p, p)), [], []
    for i, t in zip(groups, thetas, strict=True):
        R = np.linalg.cholesky(t).T
        G = R @ (t - X[i] @ M @ X[i].T) @ R.T
        w, v = np.linalg.eigh((G + G.T) / 2)
        cut = max(1e-12, 1e-10 * w.max())
        A = R.T @ (v * np.where(w > cut, 1 / np.sqrt(np.maximum(w, cut)), 0)) @ v.T @ R
        E = X[i].T @ np.linalg.solve(t, A)
        u = E @ e[i]
        meat += np.outer(u, u)
        rows_h.append(M @ E @ X[i] @ L)
        rows_d.append(((M @ E @ R.T) ** 2).sum(axis=1))
    H, D = np.array(rows_h), np.array(rows_d)
    df = []
    for k in range(p):
        h, d = H[:, k, :], D[:, k]
        P = np.diag(d) - h @ h.T
        df.append(np.trace(P) ** 2 / (P**2).sum())
    return M @ meat @ M, np.array(df)


def test_cr2_df_of_a_coefficient_one_cluster_identifies():
    # a level-2 indicator held by one school of 40: B has an exact null direction in that
    # school, which must be pseudo-inverted however large (1 + n theta^2)^2 makes B's scale
    rng = np.random.default_rng(0)
    G, m, theta = 40, 100, 0.7
    codes = np.repeat(np.arange(G), m)
    n = G * m
    X = np.column_stack([np.ones(n), rng.normal(size=n), (codes == 0) * 1.0])
    y = X @ [1.0, 0.5, 0.3] + theta * rng.normal(size=G)[codes] + rng.normal(size=n)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    fit = robust.cr2(y, X, X[:, :1], codes, np.array([theta]), beta)
    cov, df = _cr2_by_definition(y, X, X[:, :1], codes, np.array([theta]), beta)
    assert np.all(np.isfinite(fit.df)) and np.all(np.isfinite(fit.p_value))
    np.testing.assert_allclose(fit.df, df, rtol=1e-6)
    np.testing.assert_allclose(fit.cov, cov, rtol=1e-6, atol=1e-12 * np.abs(cov).max())


@pytest.mark.parametrize("theta", [[0.8, 0.3, 0.5], [0.0, 0.0, 0.0], [1.2, 0.0, 0.0], [0.5]])
def test_cr2_low_rank_evaluation_is_the_dense_definition(theta):
    # clusters of 1 to 30 rows (fewer rows than p + q too), a random slope or only an
    # intercept, a zero variance (singular Lambda): the O(n (p + q)^2) evaluation agrees with
    # the dense O(n^3) one
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 31, 40)
    codes = np.repeat(np.arange(40), sizes)
    n = len(codes)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, rng.normal(size=40)[codes], x * rng.normal(size=n)])
    Z = X[:, :2] if len(theta) == 3 else X[:, :1]
    y = X @ [1.0, 0.5, -0.3, 0.2] + rng.normal(size=40)[codes] + rng.normal(size=n)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    theta = np.array(theta)
    fit = robust.cr2(y, X, Z, codes, theta, beta)
    cov, df = _cr2_by_definition(y, X, Z, codes, theta, beta)
    np.testing.assert_allclose(fit.cov, cov, rtol=1e-9, atol=1e-12 * np.abs(cov).max())
    np.testing.assert_allclose(fit.df, df, rtol=1e-9)


def test_chibar_mixture():
    stat = 3.0
    assert stats.chibar_p(stat, 1) == pytest.approx(0.5 * scistats.chi2.sf(stat, 1))
    assert stats.chibar_p(stat, 2) == pytest.approx(
        0.5 * scistats.chi2.sf(stat, 2) + 0.5 * scistats.chi2.sf(stat, 1)
    )


def test_akaike_weights_sum_to_one():
    w = stats.akaike_weights({"a": 100.0, "b": 102.0, "c": 110.0})
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["a"] / w["b"] == pytest.approx(np.exp(1.0))


def test_design_effect():
    assert stats.design_effect(0.1, 21) == pytest.approx(3.0)


def test_qq_points_are_standardised():
    theoretical, sample = qq_points(np.arange(10.0))
    assert sample.mean() == pytest.approx(0.0) and sample.std(ddof=1) == pytest.approx(1.0)
    assert np.all(np.diff(theoretical) > 0)
