"""Binary outcomes (logit link) with nested random-effect levels, by the Laplace approximation
as lme4::glmer (nAGQ = 1) defines it.

y_i ~ Bernoulli(mu_i), logit(mu_i) = x_i'beta + sum_l z_il' b_l[g_l(i)], b_l = Lambda_l u_l,
u ~ N(0, I). For given (theta, beta) the conditional modes u minimise the penalised deviance
d(u) = sum_i -2 log p(y_i | eta_i) + ||u||^2; the Laplace deviance is d(u*) + log|Lambda'Z'W Z
Lambda + I| at the mode (W the binomial weights there), which is glmer's criterion, so logLik =
-deviance / 2 as glmer reports it for 0/1 data.

The modes are found by penalised IRLS: each step is the solution of a weighted linear mixed
model system with the working response, which is exactly what the nested criterion's block
recursion solves (nested.Nested with the rows' weighted sums of products per innermost group,
no fixed columns): the same vectorised per-level algebra, the same exact log-determinant. Two
crossed factors take crossed.Crossed instead (the cells are the observed pairs; its block
elimination of the larger factor and dense or sparse Schur complement on the other).
Steps are halved until d(u) does not increase. The outer optimisation over (theta, beta) jointly
(glmer's second stage) and its verification are fit.py's, with difference derivatives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...results import Attempt
from .. import lmm, optimize
from . import blocks
from .crossed import Crossed
from .fit import (
    _candidates,
    _central_hessian,
    _Criterion,
    _polish_and_verify,
    singular_terms,
)
from .model import ThetaLayout
from .nested import Nested

MODE_TOLERANCE = 1e-10  # largest change of a spherical mode when the modes are final
MODE_MAX_ITER = 100
HESSIAN = "Hessian of the Laplace deviance"
HESSIAN_THETA_FIXED = "Hessian of the Laplace deviance, theta held fixed"


class BinaryLevels(ThetaLayout):
    """The Laplace criterion over (theta, beta) of rows in memory.

    y (n,) 0/1; X (n, p); Z: per level (outermost first) its random-effect columns (n, q_l),
    intercept first; codes: per level each row's group (inner levels scoped); n_groups;
    `crossed`: two crossed factors (cells are the observed pairs)."""

    def __init__(self, y, X, Z, codes, n_groups, names, diagonal=False, crossed=False):
        y, X = np.asarray(y, float), np.asarray(X, float)
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("a binary outcome must be 0 or 1")
        super().__init__(names, [np.atleast_2d(z.T).shape[0] for z in Z], diagonal)
        self.p = X.shape[1]
        self.n_params = self.n_theta + self.p
        self.free = np.concatenate([self.free, self.n_theta + np.arange(self.p)])
        self.crossed = bool(crossed)
        if self.crossed and len(codes) != 2:
            raise ValueError("crossed binary levels need exactly two factors")
        # rows grouped by cell: the innermost group, or the observed pair of crossed factors
        cell = np.asarray(codes[-1], np.int64)
        if self.crossed:
            cell = np.asarray(codes[0], np.int64) * int(n_groups[1]) + cell
        order = np.argsort(cell, kind="stable")
        self.y, self.X = y[order], X[order]
        self.sign = 2.0 * self.y - 1.0
        self.Z = [np.asarray(z, float).reshape(len(y), -1)[order] for z in Z]
        self.codes = [np.asarray(c, np.int64)[order] for c in codes]
        self.n, self.n_groups = len(y), {n: int(g) for n, g in zip(names, n_groups, strict=True)}
        cell = cell[order]
        self.starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        cell_codes = [c[self.starts] for c in self.codes]
        counts = np.diff(np.r_[self.starts, self.n])
        # the working system's columns: [working response, Z_0, Z_1, ...]
        self.Zall = np.asfortranarray(np.hstack(self.Z))  # columns contiguous
        widths = np.cumsum([0, *self.q])
        z_index = [list(1 + np.arange(widths[lv], widths[lv + 1])) for lv in range(len(names))]
        k = 1 + int(widths[-1])
        self.k = k
        self.inner_users = self.codes[-1][self.starts]  # innermost cells -> caller's codes
        if self.crossed:
            self.engine = _CrossedCells(counts, z_index, cell_codes, list(n_groups))
        else:
            cell_codes[-1] = np.arange(len(self.starts))
            self.engine = Nested(np.zeros((len(self.starts), k, k)), counts, z_index, [], 0,
                                 cell_codes, [*n_groups[:-1], len(self.starts)])  # fmt: skip
        self._modes = None  # last converged spherical modes (warm start)

    def split(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phi = np.asarray(phi, float)
        return phi[: self.n_theta], phi[self.n_theta :]

    def start(self) -> np.ndarray:
        """Lambda = I and beta from an ordinary logistic regression (glmer's start)."""
        from ..glmm import logistic

        phi = super().start()
        phi[self.n_theta :] = logistic(self.y, self.X).beta
        return phi

    # penalised IRLS for the modes
    def _random_part(self, b: list[np.ndarray]) -> np.ndarray:
        eta = np.zeros(self.n)
        for z, code, modes in zip(self.Z, self.codes, b, strict=True):
            for j in range(z.shape[1]):
                eta += z[:, j] * modes[code, j]
        return eta

    def _b_of(self, u: list[np.ndarray], lams) -> list[np.ndarray]:
        return [ui @ lam.T for ui, lam in zip(u, lams, strict=True)]

    def _penalised(self, u, lams, offset) -> tuple[float, np.ndarray]:
        eta = offset + self._random_part(self._b_of(u, lams))
        # -log p(y | eta) = log(1 + exp(-s eta)), s = +1 for y = 1 and -1 for y = 0
        dev = 2.0 * float(np.logaddexp(0.0, -self.sign * eta).sum())
        return dev + sum(float((ui * ui).sum()) for ui in u), eta

    def _weighted_sums(self, eta: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Per innermost group sums of W v v' for v = [working response, Z], without dividing
        by W (it underflows where |eta| is large): Z'W Z, and Z'(W (eta - offset) + y - mu); the
        working response's own square is not needed and left 0."""
        mu = 0.5 * (1.0 + np.tanh(0.5 * eta))
        W = mu * (1.0 - mu)
        r = W * (eta - offset) + (self.y - mu)
        k, G, Z = self.k, len(self.starts), self.Zall
        cross = np.zeros((G, k, k))
        # one pair of columns at a time: n-vectors, no (n, k, k) temporary
        for a in range(k - 1):
            weighted = W * Z[:, a]
            cross[:, 0, a + 1] = cross[:, a + 1, 0] = np.add.reduceat(r * Z[:, a], self.starts)
            for b in range(a, k - 1):
                cross[:, a + 1, b + 1] = cross[:, b + 1, a + 1] = np.add.reduceat(
                    weighted * Z[:, b], self.starts
                )
        return cross

    def _to_users(self, u_internal: list[np.ndarray]) -> list[np.ndarray]:
        if self.crossed:  # Crossed works in the caller's codes
            return [np.asarray(u, float) for u in u_internal]
        out = []
        for level, (ui, users) in enumerate(zip(u_internal, self.engine.users, strict=True)):
            if level == len(u_internal) - 1:
                users = self.inner_users[users]
            full = np.zeros((self.n_groups[self.names[level]], self.q[level]))
            full[users] = ui
            out.append(full)
        return out

    def modes(self, theta: np.ndarray, beta: np.ndarray, start=None):
        """(penalised deviance, log|Lambda'Z'WZ Lambda + I|, spherical modes per level (caller's
        codes), conditional covariances of b per level) at the converged modes."""
        lams = self.lambdas(theta)
        offset = self.X @ beta
        u = start if start is not None else [np.zeros((g, q)) for g, q in self._shapes()]
        value, eta = self._penalised(u, lams, offset)
        for _ in range(MODE_MAX_ITER):
            self.engine.set_cross(self._weighted_sums(eta, offset))
            target = self._to_users(self.engine.spherical_modes(lams, np.zeros(0)))
            step = [t - ui for t, ui in zip(target, u, strict=True)]
            size = max(float(np.max(np.abs(s))) if s.size else 0.0 for s in step)
            t = 1.0
            while True:
                trial = [ui + t * s for ui, s in zip(u, step, strict=True)]
                trial_value, trial_eta = self._penalised(trial, lams, offset)
                if trial_value <= value + 1e-12 * abs(value) or t < 1e-8:
                    break
                t /= 2
            u, value, eta = trial, trial_value, trial_eta
            if size * t < MODE_TOLERANCE:
                break
        self.engine.set_cross(self._weighted_sums(eta, offset))
        _, logdet, _ = self.engine.evaluate(lams)
        return value, logdet, u

    def _shapes(self):
        return [(self.n_groups[n], q) for n, q in zip(self.names, self.q, strict=True)]

    def deviance(self, phi: np.ndarray, reml: bool = False) -> float:
        """The Laplace deviance at (theta, beta) (`reml` is ignored: there is none); +inf where
        it is not defined."""
        theta, beta = self.split(phi)
        try:
            with np.errstate(all="ignore"):
                value, logdet, u = self.modes(theta, beta, self._modes)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf
        total = value + logdet
        if not np.isfinite(total):
            return np.inf
        self._modes = u
        return float(total)

    def conditional(self, phi: np.ndarray):
        """Conditional modes of b and their covariances (Lambda (Lambda'Z'WZ Lambda + I)^-1
        Lambda' blocks, lme4's condVar) per level, caller's codes."""
        theta, beta = self.split(phi)
        lams = self.lambdas(theta)
        _, _, u = self.modes(theta, beta, self._modes)
        offset = self.X @ beta
        _, eta = self._penalised(u, lams, offset)
        self.engine.set_cross(self._weighted_sums(eta, offset))
        _, covs = self.engine.conditional(lams, np.zeros(0), 1.0)
        b = self._b_of(u, lams)
        if self.crossed:
            return dict(zip(self.names, b, strict=True)), dict(zip(self.names, covs, strict=True))
        inner = len(self.names) - 1
        # the innermost level's covariances are in cell order: to the caller's codes
        full = np.broadcast_to(
            lams[inner] @ lams[inner].T, (self.n_groups[self.names[inner]], *lams[inner].shape)
        ).copy()
        full[self.inner_users] = covs[inner][: len(self.inner_users)]
        covs[inner] = full
        return (
            {n: m for n, m in zip(self.names, b, strict=True)},
            {n: c for n, c in zip(self.names, covs, strict=True)},
        )


class _CrossedCells:
    """crossed.Crossed over the cells' weighted sums, the interface BinaryLevels uses of
    nested.Nested: Crossed keeps per-group sums of the cells it is built from, so each step of
    the modes (new weights) builds it anew (two sparse sums over the cells)."""

    def __init__(self, counts, z_index, codes, n_groups):
        self.counts, self.z_index, self.codes, self.n_groups = counts, z_index, codes, n_groups
        self.current: Crossed | None = None

    def set_cross(self, cross: np.ndarray) -> None:
        self.current = Crossed(cross, self.counts, self.z_index, [], 0, self.codes, self.n_groups)

    def spherical_modes(self, lams, beta):
        return self.current.spherical_modes(lams, beta)

    def evaluate(self, lams):
        return self.current.evaluate(lams)

    def conditional(self, lams, beta, sigma2):
        return self.current.conditional(lams, beta, sigma2)


@dataclass(frozen=True)
class BinaryLevelsFit:
    model: BinaryLevels = field(repr=False)
    theta: np.ndarray
    beta: np.ndarray
    cov_beta: np.ndarray
    cov_method: str
    deviance: float
    verified: bool
    singular: dict[str, tuple[int, ...]]
    attempts: tuple[Attempt, ...]
    optimizer: str
    max_gradient: float
    decrement: float
    evaluations: int
    seconds: float
    # the central Hessian of the Laplace deviance over the free (theta, beta) at the optimum
    # (vcov's), which the profile intervals start from; None for a fit mapped from a centred one
    hessian: np.ndarray | None = field(default=None, repr=False)

    @property
    def loglik(self) -> float:
        return -self.deviance / 2

    @property
    def names(self) -> list[str]:
        return self.model.names

    @property
    def is_singular(self) -> bool:
        return any(self.singular.values())

    @property
    def re_cov(self) -> dict[str, np.ndarray]:
        """Each level's random-effect covariance Lambda_l Lambda_l' (logit scale)."""
        lams = self.model.lambdas(self.theta)
        return {n: lam @ lam.T for n, lam in zip(self.names, lams, strict=True)}

    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_beta))

    def conditional(self):
        return self.model.conditional(np.concatenate([self.theta, self.beta]))


def fit_binary_levels(
    y, X, Z, codes, n_groups, names, diagonal=False, centre=True, crossed=False
) -> BinaryLevelsFit:
    """The verified Laplace optimum over (theta, beta), from glmer's start; `crossed`: the two
    levels are crossed factors."""
    began = time.perf_counter()
    if centre:
        mapped = _centred_binary(y, X, Z, codes, n_groups, names, diagonal, began, crossed)
        if mapped is not None:
            return mapped
    model = BinaryLevels(y, X, Z, codes, n_groups, names, diagonal, crossed)
    fun = _Criterion(model, reml=False)
    start = model.start()
    small = start.copy()
    small[: model.n_theta] *= 0.1
    attempts: list[Attempt] = []
    candidates: list = []
    _candidates(fun, [(optimize.NEWTON, "identity, logistic beta", start)], attempts, candidates)
    best = _polish_and_verify(fun, candidates, attempts, escalated=False)
    if not best[4]:
        later = [
            ("L-BFGS-B", "identity, logistic beta", start),
            ("Nelder-Mead", "identity, logistic beta", start),
            (optimize.NEWTON, "0.1 * identity", small),
        ]
        _candidates(fun, later, attempts, candidates)
        best = _polish_and_verify(fun, candidates, attempts, escalated=True)
    phi, value, winner, judged, verified = best
    theta, beta = model.split(phi)
    model.deviance(phi)  # the modes at the optimum, for what follows
    cov_beta, method, hessian = _beta_covariance(model, phi)
    singular = singular_terms(model, theta)
    return BinaryLevelsFit(
        model=model,
        theta=theta,
        beta=beta,
        cov_beta=cov_beta,
        cov_method=method,
        deviance=float(value),
        verified=verified,
        singular=singular,
        attempts=tuple(attempts),
        optimizer=winner,
        max_gradient=judged.max_gradient,
        decrement=judged.decrement,
        evaluations=fun.count,
        seconds=time.perf_counter() - began,
        hessian=hessian,
    )


# A column whose mean is this many SDs from zero (calendar years) is centred for the fit: with
# x ~ 2018 the intercept and x's coefficient correlate at -1 to many digits, the Newton steps and
# the Hessian's central differences over (theta, beta) are rounding noise (300 s, unverified, a
# year's SE of 0.00056 for glmer's 0.064 on year - 2018). The Laplace deviance is the same for
# X A and Z B (affine maps of beta and of the random effects), so the centred fit is written back:
# beta = A beta_c, cov = A cov_c A', Sigma_l = B_l Sigma_c B_l'. Far as for the linear engines
# (lmm.is_far); the centre is the exact mean (the Laplace criterion is formed from the rows).


def _centred_binary(y, X, Z, codes, n_groups, names, diagonal, began, crossed=False):
    X = np.asarray(X, float)
    Z = [np.asarray(z, float).reshape(len(X), -1) for z in Z]
    ones = [j for j in range(X.shape[1]) if np.all(X[:, j] == 1.0)]
    if not ones:
        return None

    def far(col):
        sd = float(np.std(col))
        mean = float(np.mean(col))
        return mean if lmm.is_far(mean, sd) else None

    A = np.eye(X.shape[1])
    Xc = X.copy()
    for j in range(X.shape[1]):
        c = None if j == ones[0] else far(X[:, j])
        if c is not None:
            A[ones[0], j] = -c
            Xc[:, j] -= c
    Bs, Zc = [], []
    for z in Z:
        B, zc = np.eye(z.shape[1]), z.copy()
        for j in range(1, z.shape[1]):
            c = far(z[:, j])
            if c is not None:
                B[0, j] = -c
                zc[:, j] -= c
        Bs.append(B)
        Zc.append(zc)
    if diagonal:  # a diagonal covariance is not invariant under a slope's shift: X only
        Bs, Zc = [np.eye(z.shape[1]) for z in Z], Z
    moved_z = any(not np.array_equal(B, np.eye(len(B))) for B in Bs)
    if np.array_equal(A, np.eye(len(A))) and not moved_z:
        return None
    fit_c = fit_binary_levels(y, Xc, Zc, codes, n_groups, names, diagonal, False, crossed)
    model = BinaryLevels(y, X, Z, codes, n_groups, names, diagonal, crossed)
    theta = np.zeros(model.n_theta)
    for name, q, B in zip(model.names, model.q, Bs, strict=True):
        lam = B @ blocks.lambda_of(fit_c.theta[model.slices[name]], q)
        r = np.linalg.qr(lam.T)[1]  # lam' = Q R: R' is the lower factor of lam lam'
        lower = (r * np.where(np.diag(r) < 0, -1.0, 1.0)[:, None]).T
        rows, cols = blocks.theta_positions(q)
        theta[model.slices[name]] = lower[rows, cols]
    beta = A @ fit_c.beta
    deviance = model.deviance(np.concatenate([theta, beta]))  # (also the modes at the optimum)
    if not np.isfinite(deviance) or abs(deviance - fit_c.deviance) > 1e-6 * max(1.0, abs(deviance)):
        return None
    return BinaryLevelsFit(
        model=model,
        theta=theta,
        beta=beta,
        cov_beta=A @ fit_c.cov_beta @ A.T,
        cov_method=fit_c.cov_method,
        deviance=fit_c.deviance,
        verified=fit_c.verified,
        singular=fit_c.singular,
        attempts=fit_c.attempts,
        optimizer=f"{fit_c.optimizer} (centred)",
        max_gradient=fit_c.max_gradient,
        decrement=fit_c.decrement,
        evaluations=fit_c.evaluations,
        seconds=time.perf_counter() - began,
    )


def _beta_covariance(model: BinaryLevels, phi: np.ndarray):
    """vcov(glmer)'s default (use.hessian = TRUE): the beta block of 2 H^-1, H the Hessian of
    the Laplace deviance over the free (theta, beta); the beta block of H alone (theta held
    fixed) when H is not positive definite (a variance at its boundary)."""
    free = model.free
    x = phi[free]

    def dev(values):
        return model.deviance(model.full(values))

    H = _central_hessian(dev, x)  # as lme4's deriv12: central differences, no extrapolation
    H = (H + H.T) / 2
    p = model.p
    try:
        if np.all(np.linalg.eigvalsh(H) > 0):
            return 2.0 * np.linalg.inv(H)[-p:, -p:], HESSIAN, H
    except np.linalg.LinAlgError:
        pass
    return 2.0 * np.linalg.inv(H[-p:, -p:]), HESSIAN_THETA_FIXED, H
