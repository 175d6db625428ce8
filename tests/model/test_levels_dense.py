"""The levels engine against a brute-force dense reference: the n x n covariance V of a small
data set built row by row, the REML/ML log-likelihood evaluated from it directly (slogdet, solves),
and the conditional distribution of the random effects from the dense system Lambda'Z'Z Lambda +
I. Independent of lme4 and of the engine's block recursion: nested levels (two and three, slopes
at several levels, up to three terms per level, uncorrelated terms, inner ids repeated in every
outer group, a finer cell split than the innermost groups) and two crossed factors."""

from __future__ import annotations

import numpy as np
import pytest

from hlm_analysis.data.sums import from_rows
from hlm_analysis.model.levels import LevelsModel, fit_levels

TERMS = ["one", "x", "w"]


def nested_rows(seed: int, sizes=(5, 4, 3)):
    """Rows of two to four nested levels (outermost first); inner ids repeat in every parent
    (the caller scopes them). Unbalanced: each innermost group has 1..3 rows."""
    rng = np.random.default_rng(seed)
    ids, rows = [], []
    for path in np.ndindex(*sizes):
        for _ in range(rng.integers(1, 4)):
            ids.append(path)
            rows.append(rng.normal(size=2))
    ids, xw = np.array(ids), np.array(rows)
    x, w = xw[:, 0], xw[:, 1] + 0.3 * ids[:, 0]
    y = 1 + 0.5 * x - 0.2 * w + rng.normal(size=len(x))
    for level in range(len(sizes)):  # scoped group keys: a group's key is its id path
        key = np.unique(ids[:, : level + 1], axis=0, return_inverse=True)[1].ravel()
        y += rng.normal(0, 0.8, key.max() + 1)[key] + rng.normal(0, 0.4, key.max() + 1)[key] * x
    return ids, x, w, y


def level_codes(ids: np.ndarray):
    """Scoped codes of every row at every level (outermost first) and the group counts."""
    codes = [
        np.unique(ids[:, : lv + 1], axis=0, return_inverse=True)[1].ravel()
        for lv in range(ids.shape[1])
    ]
    return codes, [int(c.max()) + 1 for c in codes]


def design(x, w):
    return {"one": np.ones(len(x)), "x": x, "w": w}


def z_matrix(codes, n_groups, columns):
    n, q = columns.shape
    Z = np.zeros((n, n_groups * q))
    for j in range(q):
        Z[np.arange(n), codes * q + j] = columns[:, j]
    return Z


def dense(model: LevelsModel, theta, y, X, Zs, reml: bool):
    """(deviance, beta, modes per level, conditional covariances per level) from dense V."""
    lams = model.lambdas(theta)
    Lam = np.zeros((sum(Z.shape[1] for Z in Zs),) * 2)
    at = 0
    for Z, lam in zip(Zs, lams, strict=True):
        k = Z.shape[1]
        Lam[at : at + k, at : at + k] = np.kron(np.eye(k // lam.shape[0]), lam)
        at += k
    Zall = np.hstack(Zs)
    n, p = X.shape
    V = np.eye(n) + Zall @ Lam @ Lam.T @ Zall.T
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    beta = np.linalg.solve(A, X.T @ Vi @ y)
    r = y - X @ beta
    pwrss = r @ Vi @ r
    dof = n - p if reml else n
    dev = np.linalg.slogdet(V)[1] + dof * (1 + np.log(2 * np.pi * pwrss / dof))
    if reml:
        dev += np.linalg.slogdet(A)[1]
    sigma2 = pwrss / dof
    M = Lam.T @ Zall.T @ Zall @ Lam + np.eye(len(Lam))
    Minv = np.linalg.inv(M)
    b = Lam @ Minv @ Lam.T @ Zall.T @ r
    cov = sigma2 * Lam @ Minv @ Lam.T
    modes, covs, at = [], [], 0
    for Z, lam in zip(Zs, lams, strict=True):
        q, k = lam.shape[0], Z.shape[1]
        modes.append(b[at : at + k].reshape(-1, q))
        blocks = cov[at : at + k, at : at + k].reshape(k // q, q, k // q, q)
        covs.append(np.einsum("gagb->gab", blocks))
        at += k
    return dev, beta, modes, covs, sigma2


NESTED = [
    ((5, 4), {}, False),
    ((5, 4), {"L1": ["x"]}, False),
    ((5, 4), {"L0": ["x"], "L1": ["x", "w"]}, False),
    ((5, 4), {"L0": ["x"], "L1": ["x", "w"]}, True),
    ((4, 3, 3), {"L2": ["x"]}, False),
    ((4, 3, 3), {"L0": ["x"], "L1": ["x"], "L2": ["x"]}, False),
    ((3, 3, 2), {"L0": ["x", "w"], "L2": ["x"]}, ["L0"]),
    ((3, 2, 2, 3), {"L1": ["x"], "L3": ["x"]}, False),
    ((2, 3, 2, 2), {"L0": ["x"], "L2": ["x", "w"]}, ["L2"]),
]


def nested_case(sizes, random, diagonal, seed=0, split_cells=False):
    ids, x, w, y = nested_rows(seed, sizes)
    codes, n_groups = level_codes(ids)
    names = [f"L{lv}" for lv in range(len(sizes))]
    inner = codes[-1]
    if split_cells:  # cells finer than the innermost groups (every row its own cell)
        cell = np.arange(len(y))
    else:
        cell = inner
    n_cells = int(cell.max()) + 1
    sums = from_rows("y", y, design(x, w), cell, n_cells, TERMS)
    order = np.argsort(cell, kind="stable")
    cell_codes = []
    for c in codes:
        per_cell = np.zeros(n_cells, dtype=np.int64)
        per_cell[cell[order]] = c[order]
        cell_codes.append(per_cell)
    model = LevelsModel(sums, cell_codes, n_groups, names, False, TERMS, random, diagonal)
    X = np.column_stack([np.ones(len(y)), x, w])
    cols = design(x, w)
    Zs = [
        z_matrix(c, g, np.column_stack([cols[t] for t in ["one", *random.get(name, [])]]))
        for c, g, name in zip(codes, n_groups, names, strict=True)
    ]
    return model, y, X, Zs, (sums, cell_codes, n_groups, names)


@pytest.mark.parametrize(("sizes", "random", "diagonal"), NESTED)
@pytest.mark.parametrize("reml", [True, False])
def test_nested_criterion_equals_dense(sizes, random, diagonal, reml):
    model, y, X, Zs, _ = nested_case(sizes, random, diagonal)
    rng = np.random.default_rng(7)
    for scale in (0.3, 1.0, 30.0):  # 30: variance ratios of ~1000, where differences cancel
        theta = model.full(scale * rng.normal(size=len(model.free)))
        dev, beta, modes, covs, sigma2 = dense(model, theta, y, X, Zs, reml)
        got_beta, got_sigma2, got_dev, _ = model.solve(theta, reml)
        assert got_dev == pytest.approx(dev, abs=1e-9 * abs(dev))
        assert np.allclose(got_beta, beta, rtol=1e-8, atol=1e-8)
        assert got_sigma2 == pytest.approx(sigma2, rel=1e-9)
        got_modes, got_covs = model.conditional(theta, beta, sigma2)
        for name, m, c in zip(model.names, modes, covs, strict=True):
            assert np.allclose(got_modes[name], m, rtol=1e-7, atol=1e-9)
            assert np.allclose(got_covs[name], c, rtol=1e-7, atol=1e-9)


def test_cells_finer_than_innermost_groups_change_nothing():
    a, *_ = nested_case((4, 3, 3), {"L2": ["x"]}, False)
    b, *_ = nested_case((4, 3, 3), {"L2": ["x"]}, False, split_cells=True)
    theta = np.linspace(0.2, 1.1, a.n_theta)
    assert a.solve(theta)[2] == pytest.approx(b.solve(theta)[2], rel=1e-12)


def test_not_nested_is_refused():
    model, *_, (sums, codes, n_groups, names) = nested_case((4, 3), {}, False)
    codes = [codes[0].copy(), np.zeros_like(codes[1])]  # every cell in inner group 0
    with pytest.raises(ValueError, match="not nested"):
        LevelsModel(sums, codes, [n_groups[0], 1], names, False, TERMS, {})


@pytest.mark.parametrize("reml", [True, False])
def test_nested_fit_is_the_dense_optimum(reml):
    """The verified optimum: no coordinate step of the DENSE criterion improves on it."""
    model, y, X, Zs, (sums, codes, n_groups, names) = nested_case(
        (6, 4, 3), {"L0": ["x"], "L2": ["x"]}, False, seed=3
    )
    fit = fit_levels(sums, codes, n_groups, names, False, TERMS, {"L0": ["x"], "L2": ["x"]}, reml)
    assert fit.verified
    best = dense(model, fit.theta, y, X, Zs, reml)[0]
    assert fit.deviance == pytest.approx(best, abs=1e-8)
    for i in range(model.n_theta):
        for step in (1e-3, -1e-3):
            theta = fit.theta.copy()
            theta[i] += step
            assert dense(model, theta, y, X, Zs, reml)[0] > best - 1e-9
    # lme4's logLik of the criterion, the covariance of beta from the dense X'V^-1X
    assert fit.loglik == pytest.approx(-best / 2)
    assert np.all(np.diag(fit.cov_beta) > 0)


def crossed_case(seed=3, n=300, groups=(25, 7)):
    rng = np.random.default_rng(seed)
    A, B = rng.integers(0, groups[0], n), rng.integers(0, groups[1], n)
    x, w = rng.normal(size=n), rng.normal(size=n)
    y = 1 + x + rng.normal(size=groups[0])[A] + 0.5 * rng.normal(size=groups[1])[B]
    y += rng.normal(size=n)
    cell = A * groups[1] + B
    observed, cell_code = np.unique(cell, return_inverse=True)
    sums = from_rows("y", y, design(x, w), cell_code, len(observed), TERMS)
    return sums, [observed // groups[1], observed % groups[1]], list(groups), (A, B, x, w, y)


@pytest.mark.parametrize("random", [{}, {"a": ["x"]}, {"a": ["x", "w"], "b": ["x"]}])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reml", [True, False])
def test_crossed_criterion_equals_dense(random, swap, reml):
    sums, codes, groups, (A, B, x, w, y) = crossed_case()
    names, row_codes = ["a", "b"], [A, B]
    if swap:  # the factor with fewer groups first: the engine reorders internally
        names, codes, groups, row_codes = names[::-1], codes[::-1], groups[::-1], row_codes[::-1]
    model = LevelsModel(sums, codes, groups, names, True, TERMS, random)
    X = np.column_stack([np.ones(len(y)), x, w])
    cols = design(x, w)
    Zs = [
        z_matrix(c, g, np.column_stack([cols[t] for t in ["one", *random.get(name, [])]]))
        for c, g, name in zip(row_codes, groups, names, strict=True)
    ]
    theta = np.random.default_rng(1).normal(size=model.n_theta)
    dev, beta, modes, covs, sigma2 = dense(model, theta, y, X, Zs, reml)
    got_beta, _, got_dev, _ = model.solve(theta, reml)
    assert got_dev == pytest.approx(dev, abs=1e-9 * abs(dev))
    assert np.allclose(got_beta, beta, rtol=1e-8, atol=1e-10)
    got_modes, got_covs = model.conditional(theta, beta, sigma2)
    for name, m, c in zip(names, modes, covs, strict=True):
        assert np.allclose(got_modes[name], m, rtol=1e-7, atol=1e-9)
        assert np.allclose(got_covs[name], c, rtol=1e-7, atol=1e-9)


def test_satterthwaite_contrast_rows_agree_with_coefficients():
    """df of a unit contrast row is the coefficient's df (rows in any order), and every df lies
    between 1 and n."""
    _, _, _, _, (sums, codes, n_groups, names) = nested_case((6, 4, 3), {"L2": ["x"]}, False)
    fit = fit_levels(sums, codes, n_groups, names, False, TERMS, {"L2": ["x"]})
    df = fit.df()
    assert np.allclose(fit.df(np.eye(3)[[2, 0]]), df[[2, 0]], rtol=1e-10)
    assert np.all((df > 1) & (df < fit.n))


def test_crossed_sparse_schur_complement_equals_dense(monkeypatch):
    """Many groups in both factors: the Schur complement is factored sparse (SuperLU), with the
    same criterion, modes and conditional variances as the dense Cholesky."""
    from hlm_analysis.model.levels import crossed

    sums, codes, groups, (A, B, x, w, y) = crossed_case(n=400, groups=(40, 30))
    model = LevelsModel(sums, codes, groups, ["a", "b"], True, TERMS, {"b": ["x"]})
    theta = np.random.default_rng(1).normal(size=model.n_theta)
    beta, sigma2, dev, _ = model.solve(theta)
    modes, covs = model.conditional(theta, beta, sigma2)
    calls = []
    monkeypatch.setattr(crossed, "DENSE_LIMIT", 10)
    splu = crossed.spla.splu
    monkeypatch.setattr(crossed.spla, "splu", lambda D: calls.append(1) or splu(D))
    sparse_beta, _, sparse_dev, _ = model.solve(theta)
    sparse_modes, sparse_covs = model.conditional(theta, sparse_beta, sigma2)
    assert calls
    assert sparse_dev == pytest.approx(dev, rel=1e-12)
    assert np.allclose(sparse_beta, beta, rtol=1e-10)
    for name in ("a", "b"):
        assert np.allclose(sparse_modes[name], modes[name], rtol=1e-8, atol=1e-12)
        assert np.allclose(sparse_covs[name], covs[name], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_one_level_equals_the_two_level_engine(reml):
    """A single level (e.g. a reduced model of an LRT that drops every other level) is the
    two-level engine's model: same criterion, beta and conditional modes."""
    from hlm_analysis.model import lmm

    _, _, _, _, (sums, codes, n_groups, names) = nested_case((6, 4), {"L1": ["x"]}, False)
    model = LevelsModel(sums, codes[1:], n_groups[1:], names[1:], False, TERMS, {"L1": ["x"]})
    theta = np.array([0.7, -0.2, 0.4])
    two = lmm.model_sums(sums, TERMS, ["one", "x"])
    sol = lmm.solve(theta, two, reml)
    beta, sigma2, dev, _ = model.solve(theta, reml)
    assert dev == pytest.approx(sol.deviance, rel=1e-12)
    assert np.allclose(beta, sol.beta, rtol=1e-10)
    modes, covs = model.conditional(theta, beta, sigma2)
    ref_modes, ref_cov = lmm.random_effects(sol, two)
    assert np.allclose(modes["L1"], ref_modes, rtol=1e-8, atol=1e-12)
    assert np.allclose(covs["L1"], ref_cov, rtol=1e-8, atol=1e-12)


def test_groups_without_rows_keep_their_prior():
    """Codes of a level that no cell uses (a group without rows) change nothing in the criterion;
    their modes are 0 and their conditional covariance is the prior sigma^2 Lambda Lambda'."""
    model, y, X, Zs, (sums, codes, n_groups, names) = nested_case((4, 3), {"L1": ["x"]}, False)
    wider = LevelsModel(
        sums,
        [codes[0] + 1, codes[1]],
        [n_groups[0] + 2, n_groups[1]],
        names,
        False,
        TERMS,
        {"L1": ["x"]},
    )
    theta = np.array([0.8, 0.6, 0.2, 0.5])
    beta, sigma2, dev, _ = model.solve(theta)
    assert wider.solve(theta)[2] == pytest.approx(dev, rel=1e-13)
    modes, covs = model.conditional(theta, beta, sigma2)
    wide_modes, wide_covs = wider.conditional(theta, beta, sigma2)
    assert np.allclose(wide_modes["L0"][1:-1], modes["L0"], rtol=1e-10)
    assert np.all(wide_modes["L0"][[0, -1]] == 0)
    assert np.allclose(wide_covs["L0"][[0, -1]], sigma2 * 0.8**2)


def test_escalation_when_the_first_optimum_is_not_verified(monkeypatch):
    """When verification fails, the other methods and starts run (L-BFGS-B with the difference
    gradient, Nelder-Mead, a second start) and the best is polished and verified again."""
    from dataclasses import replace

    from hlm_analysis.model import optimize

    _, _, _, _, (sums, codes, n_groups, names) = nested_case((6, 4, 3), {"L2": ["x"]}, False)
    plain = fit_levels(sums, codes, n_groups, names, False, TERMS, {"L2": ["x"]})
    verdict, calls = optimize.verdict, []

    def first_fails(*args, **kwargs):
        judged = verdict(*args, **kwargs)
        calls.append(judged.verified)
        return replace(judged, verified=False) if len(calls) == 1 else judged

    monkeypatch.setattr(optimize, "verdict", first_fails)
    fit = fit_levels(sums, codes, n_groups, names, False, TERMS, {"L2": ["x"]})
    assert calls == [True, True]
    assert fit.verified
    methods = [a.optimizer for a in fit.attempts]
    assert "profiled L-BFGS-B" in methods and "profiled Nelder-Mead" in methods
    assert fit.attempts[-1].optimizer == "polish and verification (after escalation)"
    assert fit.loglik == pytest.approx(plain.loglik, abs=1e-7)
    assert fit.evaluations > plain.evaluations
