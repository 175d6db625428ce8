"""Binary-outcome (binomial, logit link) generalized linear mixed models, as lme4::glmer fits them.

The model: y_ij ~ Bernoulli(mu_ij), logit(mu_ij) = x_ij' beta + z_ij' b_j, b_j = Lambda u_j,
u_j ~ N(0, I), Lambda lower triangular with its entries in `theta` (column-major, as lme4's
getME(m, "theta")); there is no residual scale, so the random-effect covariance is Lambda Lambda'.

For given (theta, beta) each group's conditional mode u_j minimises the penalised deviance

    d_j(u) = sum_i -2 log p(y_ij | eta_ij) + ||u||^2,    eta_ij = x_ij' beta + z_ij' Lambda u,

found by Newton's method (penalised IRLS) for all groups at once: rows are sorted by group once,
per-group sums are one `np.add.reduceat` over a stacked buffer, and the q x q solves (q = 1..3)
are written in closed form. With H_j = I + Lambda' Z_j' W_j Z_j Lambda at the mode,

- Laplace (nagq = 1): deviance = sum_j d_j(u_j) + log det H_j (lme4's nAGQ = 1 criterion; for 0/1
  data the saturated log-likelihood is 0, so logLik = -deviance / 2 exactly as glmer reports it);
- adaptive Gauss-Hermite (nagq = K > 1, one scalar random effect): with L_j = sqrt(H_j),
  deviance_j = d_j(m_j) + 2 log L_j - 2 log sum_k w_k exp(-(d_j(m_j + z_k / L_j) - d_j(m_j)) / 2
  + z_k^2 / 2), (z_k, w_k) the K-point Gauss-Hermite rule for the standard normal density.

Both criteria come with an analytic gradient over (theta, beta) (the modes' dependence on the
parameters enters through the implicit-function theorem; see `Problem.value_and_gradient`),
so the optimizer (L-BFGS-B over theta and beta jointly, as glmer's second stage) and the Newton
polish that verifies its answer cost one pass over the rows per step.

Verification follows optimize.py: Newton polish on (theta, beta) with the Hessian from central
differences of the analytic gradient, a variance that converged to a rounding-level value put
exactly on its boundary, then the Newton decrement must be below 1e-6 and no nearby point may be
better; otherwise other methods and starts join and the best of all is polished and verified
again. Every run is recorded as an `Attempt`.

The fixed effects' covariance is vcov(glmer)'s default (use.hessian = TRUE): the beta block of
2 H^-1, H the Hessian of the deviance over (theta, beta) jointly; if that H is not positive
definite, lme4's fixed-theta version (the inverse of X'WX with the random effects absorbed, the
RX factor) is used instead and `cov_method` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize as sciopt
from scipy.special import logsumexp

from ..results import Attempt
from . import numderiv

DECREMENT_TOLERANCE = 1e-6  # deviance a Newton step could still gain at a verified optimum
GRADIENT_TOLERANCE = 1e-3  # on flat directions, where curvature cannot measure the gap
NEIGHBOUR_TOLERANCE = 1e-6  # a neighbour better by more than this refutes the optimum
SINGULAR_TOLERANCE = 1e-4  # lme4's isSingular() default for the diagonal of Lambda
SNAP_TOLERANCE = 1e-7  # a diagonal entry of Lambda below this is tried at exactly zero
MODE_TOLERANCE = 1e-12  # largest Newton step (spherical scale) left when the modes are final
MODE_STALL_TOLERANCE = 1e-8  # accepted after MODE_STALL_ITER steps (rounding-level stagnation)
MODE_STALL_ITER = 40
MODE_MAX_ITER = 200
LATENT_RESIDUAL_SD = math.pi / math.sqrt(3.0)  # SD of the standard logistic distribution


# --------------------------------------------------------------------------------------------
# theta <-> Lambda (column-major lower triangle, as lme4)


def n_theta(q: int) -> int:
    return q * (q + 1) // 2


def _tril_colmajor(q: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def lambda_of(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    rows, cols = _tril_colmajor(q)
    lam[rows, cols] = theta
    return lam


def theta_of(lam: np.ndarray) -> np.ndarray:
    rows, cols = _tril_colmajor(lam.shape[0])
    return np.asarray(lam, float)[rows, cols].copy()


def diagonal_index(q: int) -> np.ndarray:
    """Positions of Lambda's diagonal within theta (lme4's lower bound 0 applies to these)."""
    rows, cols = _tril_colmajor(q)
    return np.flatnonzero(rows == cols)


def canonical_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """Flip column signs so the diagonal is non-negative: Lambda Lambda' and the criterion are
    unchanged (u_j flips with the column)."""
    lam = lambda_of(np.asarray(theta, float), q)
    signs = np.where(np.diag(lam) < 0, -1.0, 1.0)
    return theta_of(lam * signs[None, :])


def gauss_hermite(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the k-point Gauss-Hermite rule for the standard normal density
    (weights sum to 1), as lme4's GHrule(k)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(k)
    return nodes, weights / math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# small helpers


def _as_inputs(y, X, Z=None, groups=None):
    y = np.asarray(y, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != len(y):
        raise ValueError(f"X has {X.shape[0]} rows but y has {len(y)}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must be 0/1 (a binary outcome)")
    if not np.all(np.isfinite(X)):
        raise ValueError("X has missing or infinite values")
    if Z is None:
        return y, X
    Z = np.asarray(Z, dtype=float)
    if Z.ndim == 1:
        Z = Z[:, None]
    groups = np.asarray(groups)
    if Z.shape[0] != len(y) or groups.shape != (len(y),):
        raise ValueError("y, X, Z and groups must have the same number of rows")
    if not np.all(np.isfinite(Z)):
        raise ValueError("Z has missing or infinite values")
    if not np.issubdtype(groups.dtype, np.integer):
        if np.issubdtype(groups.dtype, np.floating) and np.all(groups == np.round(groups)):
            groups = groups.astype(np.int64)
        else:
            raise ValueError("groups must be integer codes 0..G-1")
    if len(groups) and groups.min() < 0:
        raise ValueError("groups must be integer codes 0..G-1")
    return y, X, Z, groups.astype(np.int64)


def _probabilities(eta: np.ndarray):
    """mu = expit(eta), w = mu (1 - mu), and e = exp(-|eta|) (for the deviance), overflow-free."""
    e = np.exp(-np.abs(eta))
    inv = 1.0 / (1.0 + e)
    small = e * inv
    mu = np.where(eta >= 0, inv, small)
    return mu, inv * small, e


def _neg_loglik_rows(eta: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """-log p(y | eta) for 0/1 y with s = 2y - 1: log(1 + exp(-s eta))."""
    return np.log1p(e) + np.maximum(-s * eta, 0.0)


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# ordinary logistic regression


@dataclass(frozen=True)
class LogisticFit:
    """glm(family = binomial) by Newton / IRLS."""

    beta: np.ndarray
    cov: np.ndarray  # inverse Fisher information (vcov(glm))
    loglik: float
    converged: bool
    iterations: int
    separated: tuple[int, ...] = ()  # columns of X involved in (quasi-)complete separation


def logistic(y, X, max_iter: int = 100) -> LogisticFit:
    """Maximum-likelihood logistic regression, as glm. Never raises on separation: the
    coefficients then diverge, `converged` is False (or fitted probabilities reach 0 or 1) and
    `separated` lists the columns of X involved (see `separation`)."""
    y, X = _as_inputs(y, X)
    n, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the fixed-effects design X is rank deficient")
    beta = np.zeros(p)
    # glm's start: mu = (y + 0.5) / 2, one weighted least-squares step from there
    mu0 = (y + 0.5) / 2.0
    eta = np.log(mu0 / (1 - mu0))
    w = mu0 * (1 - mu0)
    beta = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * eta + (y - mu0)))
    s = 2.0 * y - 1.0
    converged, iterations = False, 0
    value = np.inf
    for iterations in range(1, max_iter + 1):  # noqa: B007
        eta = X @ beta
        mu, w, e = _probabilities(eta)
        value = 2.0 * float(_neg_loglik_rows(eta, s, e).sum())
        info = X.T @ (w[:, None] * X)
        score = X.T @ (y - mu)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        # step halving keeps the deviance from rising (it cannot, in exact arithmetic)
        for _ in range(30):
            cand = beta + step
            ceta = X @ cand
            cvalue = 2.0 * float(_neg_loglik_rows(ceta, s, np.exp(-np.abs(ceta))).sum())
            if cvalue <= value + 1e-12 * max(1.0, value):
                break
            step = step / 2
        beta = cand
        decrement = float(score @ step)
        if decrement < 1e-20 * max(1.0, value) or np.max(np.abs(step)) < 1e-12 * (
            1.0 + np.max(np.abs(beta))
        ):
            converged = True
            break
    eta = X @ beta
    mu, w, e = _probabilities(eta)
    loglik = -float(_neg_loglik_rows(eta, s, e).sum())
    info = X.T @ (w[:, None] * X)
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((p, p), np.nan)
    extreme = bool(np.any(np.minimum(mu, 1 - mu) < 1e-10))
    # diverging coefficients: glm would report "fitted probabilities numerically 0 or 1"
    separated = tuple(separation(y, X)) if (extreme or not converged) else ()
    if separated:
        converged = False
    return LogisticFit(beta, cov, loglik, converged, iterations, separated)


def separation(y, X, tolerance: float = 1e-7) -> list[int]:
    """Columns of X involved in complete or quasi-complete separation (empty if none).

    A direction d with s_i x_i'd >= 0 for every row (s = 2y - 1) and > 0 for some is one along
    which the log-likelihood rises for ever: the coefficients with a nonzero entry in some such
    direction are the ones with infinite estimates. One linear program finds whether any
    direction exists; if so, two more per column (largest and smallest entry within the cone of
    such directions, in a box) find which columns take part (Konis 2007, as R's
    detectseparation)."""
    y, X = _as_inputs(y, X)
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    A = -(2.0 * y - 1.0)[:, None] * (X / scale)
    p = X.shape[1]
    bounds = [(-1.0, 1.0)] * p
    b = np.zeros(len(y))
    first = sciopt.linprog(A.sum(axis=0), A_ub=A, b_ub=b, bounds=bounds, method="highs")
    if first.status != 0 or -first.fun <= tolerance * len(y):
        return []
    involved = []
    for k in range(p):
        for sign in (1.0, -1.0):
            c = np.zeros(p)
            c[k] = -sign
            res = sciopt.linprog(c, A_ub=A, b_ub=b, bounds=bounds, method="highs")
            if res.status == 0 and -res.fun > tolerance:
                involved.append(k)
                break
    return involved


def cluster_cr1(y, X, groups, beta) -> np.ndarray:
    """Cluster-robust (CR1) covariance of logistic-regression coefficients, as Stata's
    `logit, vce(cluster g)`: bread = inverse Fisher information, scores X_j'(y_j - mu_j) summed
    within clusters, times G / (G - 1), G the number of clusters present."""
    y, X = _as_inputs(y, X)
    groups = np.asarray(groups).astype(np.int64)
    beta = np.asarray(beta, float)
    mu, w, _ = _probabilities(X @ beta)
    bread = np.linalg.inv(X.T @ (w[:, None] * X))
    _, codes = np.unique(groups, return_inverse=True)
    G = int(codes.max()) + 1
    scores = np.zeros((G, X.shape[1]))
    np.add.at(scores, codes, X * (y - mu)[:, None])
    meat = scores.T @ scores
    factor = G / (G - 1) if G > 1 else np.nan
    return factor * bread @ meat @ bread


# --------------------------------------------------------------------------------------------
# the GLMM criterion


@dataclass
class _State:
    """Everything the criterion computes at one (theta, beta), rows in group order."""

    theta: np.ndarray
    beta: np.ndarray
    lam: np.ndarray
    AT: np.ndarray  # (q, n) rows of Z Lambda, transposed
    offset: np.ndarray  # X beta
    u: np.ndarray  # (Ge, q) spherical modes
    eta: np.ndarray
    mu: np.ndarray
    w: np.ndarray
    d: np.ndarray  # (Ge,) penalised deviance at the mode
    H: np.ndarray  # (Ge, q, q)
    Hinv: np.ndarray
    logdet: np.ndarray  # (Ge,)
    iterations: int
    deviance: float = np.nan


def _inverse_logdet(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a stack of small SPD matrices (closed form for q <= 2)."""
    q = H.shape[1]
    if q == 1:
        h = H[:, 0, 0]
        return (1.0 / h)[:, None, None], np.log(h)
    if q == 2:
        a, b, d = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
        det = a * d - b * b
        inv = np.empty_like(H)
        inv[:, 0, 0], inv[:, 1, 1] = d / det, a / det
        inv[:, 0, 1] = inv[:, 1, 0] = -b / det
        return inv, np.log(det)
    chol = np.linalg.cholesky(H)
    return np.linalg.inv(H), 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)


def _matvec(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """M_j v_j for stacks (G, q, q) and (G, q), by broadcasting (no per-matrix overhead)."""
    return (M * v[:, None, :]).sum(axis=2)


class Problem:
    """One data set's GLMM criterion: rows sorted by group once, modes kept between calls (each
    evaluation starts Newton's method from the last modes).

    y: 0/1; X: n x p fixed design; Z: n x q random design; groups: integer codes 0..G-1 (rows
    in any order); nagq: 1 for Laplace, K > 1 for adaptive Gauss-Hermite (q must be 1).
    """

    def __init__(self, y, X, Z, groups, nagq: int = 1):
        y, X, Z, groups = _as_inputs(y, X, Z, groups)
        nagq = int(nagq)
        if nagq < 1:
            raise ValueError("nagq must be a positive integer (1 = Laplace)")
        if nagq > 1 and Z.shape[1] != 1:
            raise ValueError(
                "nagq > 1 (adaptive Gauss-Hermite) is only available for a single scalar random "
                f"effect (a random intercept); this model has {Z.shape[1]} random terms"
            )
        if Z.shape[1] > 3:
            raise ValueError("at most 3 random terms (q <= 3) are supported")
        self.nagq = nagq
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.k = n_theta(self.q) + self.p
        self.order = np.argsort(groups, kind="stable")
        codes = groups[self.order]
        self.G = int(codes.max()) + 1 if len(codes) else 0
        counts_all = np.bincount(codes, minlength=self.G)
        self.present = np.flatnonzero(counts_all)  # groups with rows (others: u = 0)
        self.counts = counts_all[self.present]
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.intp)
        self.Ge = len(self.present)
        self.y = y[self.order]
        self.s = 2.0 * self.y - 1.0
        self.X = np.ascontiguousarray(X[self.order])
        self.ZT = np.ascontiguousarray(Z[self.order].T)
        self.pairs = [(a, b) for a in range(self.q) for b in range(a, self.q)]
        self._u = np.zeros((self.Ge, self.q))
        self._beta_profile: np.ndarray | None = None
        if nagq > 1:
            self.nodes, self.weights = gauss_hermite(nagq)
        self.count = 0  # criterion evaluations (value, or value and gradient, each count 1)

    # -- per-group sums ------------------------------------------------------------------------
    def _sums(self, rows: np.ndarray) -> np.ndarray:
        """Per-group sums of each row of an (m, n) array, (m, Ge); of an (n,) array, (Ge,)."""
        return np.add.reduceat(rows, self.starts, axis=-1)

    def _expand(self, per_group: np.ndarray) -> np.ndarray:
        return np.repeat(per_group, self.counts, axis=-1)

    # -- conditional modes ---------------------------------------------------------------------
    def state(self, theta, beta) -> _State:
        """Conditional modes and everything at them, for one (theta, beta)."""
        theta = np.asarray(theta, float)
        beta = np.asarray(beta, float)
        q = self.q
        lam = lambda_of(theta, q)
        AT = lam.T @ self.ZT  # a_i = Lambda' z_i
        offset = self.X @ beta
        u = self._u.copy() if np.all(np.isfinite(self._u)) else np.zeros((self.Ge, q))
        u_old = u.copy()
        d_old = np.full(self.Ge, np.inf)
        m = 1 + q + len(self.pairs)
        buf = np.empty((m, self.n))
        eye = np.eye(q)
        converged = False
        for iteration in range(1, MODE_MAX_ITER + 1):
            U = self._expand(u.T)  # (q, n)
            eta = offset + (AT * U).sum(axis=0) if q > 1 else offset + AT[0] * U[0]
            mu, w, e = _probabilities(eta)
            r = self.y - mu
            buf[0] = _neg_loglik_rows(eta, self.s, e)
            for c in range(q):
                np.multiply(r, AT[c], out=buf[1 + c])
            for k, (a, b) in enumerate(self.pairs):
                np.multiply(w * AT[a], AT[b], out=buf[1 + q + k])
            sums = self._sums(buf)
            d = 2.0 * sums[0] + (u * u).sum(axis=1)
            H = np.empty((self.Ge, q, q))
            for k, (a, b) in enumerate(self.pairs):
                H[:, a, b] = H[:, b, a] = sums[1 + q + k] + eye[a, b]
            grad = sums[1 : 1 + q].T - u  # half the negative gradient of d_j
            # a Newton step that raised d_j is halved (d_j is convex, so this is rare)
            worse = d > d_old + 1e-10 * (1.0 + np.abs(d_old))
            if not np.all(np.isfinite(d)):
                worse |= ~np.isfinite(d)
            Hinv, logdet = _inverse_logdet(H)
            step = _matvec(Hinv, grad)
            if np.any(worse):
                step[worse] = 0.0
            biggest = float(np.max(np.abs(step))) if step.size else 0.0
            if not np.any(worse) and (
                biggest < MODE_TOLERANCE
                or (iteration > MODE_STALL_ITER and biggest < MODE_STALL_TOLERANCE)
            ):
                converged = True
                break
            keep = ~worse
            u_old[keep], d_old[keep] = u[keep], d[keep]
            u = u + step
            if np.any(worse):
                u[worse] = (u_old[worse] + u[worse]) / 2.0
        if not converged:
            raise FloatingPointError("conditional modes did not converge")
        self._u = u
        return _State(theta, beta, lam, AT, offset, u, eta, mu, w, d, H, Hinv, logdet, iteration)

    # -- the criterion -------------------------------------------------------------------------
    def _agq_terms(self, st: _State):
        """Per-node quantities of adaptive Gauss-Hermite quadrature (q = 1)."""
        m = st.u[:, 0]
        H = st.H[:, 0, 0]
        sd = 1.0 / np.sqrt(H)
        K = len(self.nodes)
        logt = np.empty((K, self.Ge))
        nodes_u = m[None, :] + self.nodes[:, None] * sd[None, :]  # (K, Ge)
        mus = np.empty((K, self.n))
        dprime = np.empty((K, self.Ge))
        a = st.AT[0]
        for k in range(K):
            uk = nodes_u[k]
            eta = st.offset + a * self._expand(uk)
            mu, _, e = _probabilities(eta)
            mus[k] = mu
            sums = self._sums(np.vstack([_neg_loglik_rows(eta, self.s, e), (self.y - mu) * a]))
            dk = 2.0 * sums[0] + uk * uk
            dprime[k] = -2.0 * sums[1] + 2.0 * uk
            logt[k] = np.log(self.weights[k]) - (dk - st.d) / 2.0 + self.nodes[k] ** 2 / 2.0
        logS = logsumexp(logt, axis=0)
        return logS, logt, nodes_u, mus, dprime

    def _value(self, st: _State, agq=None) -> float:
        if self.nagq == 1:
            return float(st.d.sum() + st.logdet.sum())
        logS = agq[0] if agq is not None else self._agq_terms(st)[0]
        return float(st.d.sum() + st.logdet.sum() - 2.0 * logS.sum())

    def deviance(self, theta, beta) -> float:
        """-2 log-likelihood (Laplace or AGQ); +inf where the modes cannot be found."""
        self.count += 1
        try:
            with np.errstate(all="ignore"):
                value = self._value(self.state(theta, beta))
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf
        return value if np.isfinite(value) else np.inf

    def value_and_gradient(self, theta, beta) -> tuple[float, np.ndarray]:
        """The deviance and its analytic gradient over (theta, beta) (theta first).

        Laplace: with h_i = a_i' H_j^-1 a_i, r_i = w'_i h_i (w' = dw/deta), v_j = H_j^-1 sum_i r_i
        a_i and e_i = -2 (y_i - mu_i) + r_i - w_i a_i'v_j, the beta gradient is X'e and the
        gradient in Lambda[r, c] is sum_i z_ir [u_jc e_i + (y_i - mu_i) v_jc + 2 w_i
        (H_j^-1 a_i)_c]: the partial derivatives at fixed modes plus the trace of H^-1 dH, with
        the modes' own movement (du = -H^-1 dg) folded in through v_j (an adjoint), so the whole
        gradient is two matrix-vector products over the rows. AGQ (q = 1) weights the node
        deviances by their normalised quadrature weights and replaces 1/H_j by
        1/H_j - (sum_k E_k d'(u_k) z_k) / (2 H_j^1.5), with the modes' movement weighted by
        sum_k E_k d'(u_k) (d' = dd_j/du, zero at the mode)."""
        self.count += 1
        try:
            with np.errstate(all="ignore"):
                st = self.state(theta, beta)
                if self.nagq == 1:
                    value, grad = self._laplace_gradient(st)
                else:
                    value, grad = self._agq_gradient(st)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf, np.full(self.k, np.nan)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.full(self.k, np.nan)
        return value, grad

    def _laplace_gradient(self, st: _State) -> tuple[float, np.ndarray]:
        q = self.q
        AT, w, mu = st.AT, st.w, st.mu
        r = self.y - mu
        w1 = w * (1.0 - 2.0 * mu)
        Hinv_rows = self._expand(st.Hinv.reshape(self.Ge, q * q).T).reshape(q, q, self.n)
        HA = (Hinv_rows * AT[None, :, :]).sum(axis=1)  # (q, n): H_j^-1 a_i
        h = (AT * HA).sum(axis=0)
        rr = w1 * h
        c = self._sums(rr * AT).T  # (Ge, q)
        v = _matvec(st.Hinv, c)
        V = self._expand(v.T)  # (q, n)
        av = (AT * V).sum(axis=0)
        e = -2.0 * r + rr - w * av
        grad_beta = self.X.T @ e
        U = self._expand(st.u.T)
        T = U * e[None, :] + V * r[None, :] + 2.0 * w[None, :] * HA  # (q, n)
        G_lam = self.ZT @ T.T  # [r, c] = sum_i z_ir T_ic
        rows, cols = _tril_colmajor(q)
        return self._value(st), np.concatenate([G_lam[rows, cols], grad_beta])

    def _agq_gradient(self, st: _State) -> tuple[float, np.ndarray]:
        logS, logt, nodes_u, mus, dprime = self._agq_terms(st)
        value = self._value(st, (logS,))
        E = np.exp(logt - logS[None, :])  # (K, Ge) normalised weights
        H = st.H[:, 0, 0]
        m = st.u[:, 0]
        alpha = (E * dprime).sum(axis=0)
        beta_ = (E * dprime * self.nodes[:, None]).sum(axis=0)
        kappa = 1.0 / H - beta_ / (2.0 * H**1.5)
        a = st.AT[0]
        z = self.ZT[0]
        w, mu = st.w, st.mu
        r = self.y - mu
        w1 = w * (1.0 - 2.0 * mu)
        K_rows = self._expand(kappa)
        rr = K_rows * w1 * a * a
        v = (self._sums(rr * a) + alpha) / H
        V, M = self._expand(v), self._expand(m)
        resid = self.y[None, :] - mus  # (K, n)
        Erows = self._expand(E)  # (K, n)
        R = (Erows * resid).sum(axis=0)
        RU = (Erows * resid * self._expand(nodes_u)).sum(axis=0)
        grad_beta = self.X.T @ (-2.0 * R + rr - V * w * a)
        grad_lam = float(z @ (-2.0 * RU + M * rr - V * w * a * M + V * r + 2.0 * K_rows * w * a))
        return value, np.concatenate([[grad_lam], grad_beta])

    # -- pieces for the fit ----------------------------------------------------------------------
    def rx_covariance(self, st: _State) -> np.ndarray:
        """lme4's fixed-theta covariance (sigma = 1): inverse of X'WX - sum_j X_j'W_j A_j H_j^-1
        A_j'W_j X_j, at the modes (vcov(glmer, use.hessian = FALSE))."""
        XW = self.X * st.w[:, None]
        XWX = self.X.T @ XW
        q, p = self.q, self.p
        # per group A_j' W_j X_j, (Ge, q, p)
        blocks = np.stack([self._sums((XW * st.AT[c][:, None]).T).T for c in range(q)], axis=1)
        correction = np.einsum("gcp,gcd,gdr->pr", blocks, st.Hinv, blocks)
        return np.linalg.inv(XWX - correction).reshape(p, p)

    def random_effects(self, st: _State) -> tuple[np.ndarray, np.ndarray]:
        """Conditional modes b_j = Lambda u_j and their conditional covariances Lambda H_j^-1
        Lambda' (ranef(glmer, condVar = TRUE)), (G, q) and (G, q, q); groups without rows get
        b = 0 and the prior covariance."""
        lam = st.lam
        modes = np.zeros((self.G, self.q))
        cov = np.broadcast_to(lam @ lam.T, (self.G, self.q, self.q)).copy()
        modes[self.present] = st.u @ lam.T
        cov[self.present] = np.einsum("ab,gbc,dc->gad", lam, st.Hinv, lam)
        return modes, cov

    # -- profile over beta at fixed theta ---------------------------------------------------------
    def profiled_deviance(self, theta, beta_start=None) -> float:
        """min over beta of the deviance at fixed theta (Newton on beta, from the last profile's
        beta or `beta_start`), for profile-likelihood intervals of the variance."""
        theta = np.atleast_1d(np.asarray(theta, float))
        if beta_start is not None:
            beta = np.asarray(beta_start, float)
        elif self._beta_profile is not None:
            beta = self._beta_profile
        else:
            beta = logistic(self.y, self.X).beta
        nt = len(theta)

        def grad_beta(b):
            return self.value_and_gradient(theta, b)[1][nt:]

        value = self.deviance(theta, beta)
        if not np.isfinite(value):
            return np.inf
        for _ in range(50):
            g = grad_beta(beta)
            Hb = numderiv.jacobian_of_gradient(grad_beta, beta)
            try:
                step = np.linalg.solve(Hb, g)
            except np.linalg.LinAlgError:
                step = g / max(1.0, float(np.max(np.abs(np.diag(Hb)))))
            if float(g @ step) < 0:  # not a descent direction: steepest descent instead
                step = g / max(1.0, float(np.max(np.abs(np.diag(Hb)))))
            gain = float(g @ step)
            for _halving in range(40):
                cand = beta - step
                cvalue = self.deviance(theta, cand)
                if cvalue <= value:
                    break
                step = step / 2
            else:
                break
            beta, improvement, value = cand, value - cvalue, cvalue
            if gain < 1e-12 or improvement < 1e-12:
                break
        self._beta_profile = beta
        return float(value)


def deviance(theta, beta, y, X, Z, groups, nagq: int = 1) -> float:
    """-2 log-likelihood of a binomial GLMM at (theta, beta) (Laplace, or AGQ with nagq > 1).
    Builds a `Problem` each call; for repeated evaluation keep a `Problem` and call its
    `deviance` (rows are sorted once and the modes carried from call to call)."""
    return Problem(y, X, Z, groups, nagq).deviance(theta, beta)


def profiled_deviance(theta, y, X, Z, groups, nagq: int = 1, beta_start=None) -> float:
    """min over beta of `deviance` at fixed theta; see `Problem.profiled_deviance`."""
    return Problem(y, X, Z, groups, nagq).profiled_deviance(theta, beta_start)


def latent_icc_profile(problem: Problem, theta_hat: float):
    """(t_hat, deviance_at) for stats.icc_interval: the null model's profiled deviance on the
    scale t = theta / (pi / sqrt(3)), so icc_interval's t^2 / (1 + t^2) is the latent ICC
    tau00 / (tau00 + pi^2 / 3). Use as icc_interval(*latent_icc_profile(problem, fit.theta[0]))."""
    if problem.q != 1:
        raise ValueError("the latent ICC interval is for a random-intercept model (q = 1)")

    def deviance_at(t: float) -> float:
        return problem.profiled_deviance([abs(float(t)) * LATENT_RESIDUAL_SD])

    return float(abs(theta_hat)) / LATENT_RESIDUAL_SD, deviance_at


def latent_icc(re_cov: np.ndarray) -> float:
    """tau00 / (tau00 + pi^2 / 3): the intercept variance's share on the latent logistic scale."""
    tau = float(np.asarray(re_cov)[0, 0])
    return tau / (tau + math.pi**2 / 3.0)


# --------------------------------------------------------------------------------------------
# the fit


@dataclass(frozen=True)
class GlmmFit:
    theta: np.ndarray  # lme4's theta; re_cov = Lambda Lambda'
    beta: np.ndarray
    deviance: float  # -2 loglik
    loglik: float  # logLik(glmer): Laplace (nagq = 1) or adaptive Gauss-Hermite
    cov_beta: np.ndarray  # vcov(glmer) (use.hessian = TRUE unless cov_method says otherwise)
    cov_method: str  # "hessian" (theta, beta jointly) or "fixed theta" (lme4's RX fallback)
    re_cov: np.ndarray  # q x q
    modes: np.ndarray  # G x q conditional modes b_j (ranef)
    cond_se: np.ndarray  # G x q conditional SDs (ranef(condVar = TRUE))
    verified: bool
    decrement: float
    max_gradient: float
    best_neighbour_gain: float
    singular: bool
    singular_terms: tuple[int, ...]  # indices of random terms whose Lambda diagonal is ~ 0
    attempts: tuple[Attempt, ...]
    optimizer: str
    evaluations: int
    nagq: int
    hessian: np.ndarray | None = None  # of the deviance over (theta, beta), at the optimum

    @property
    def std_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_beta))

    @property
    def latent_icc(self) -> float:
        return latent_icc(self.re_cov)


class _Criterion:
    """The deviance over phi = (theta, beta), for the optimizers (counts via the Problem)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.nt = n_theta(problem.q)

    def split(self, phi):
        phi = np.asarray(phi, float)
        return phi[: self.nt], phi[self.nt :]

    def __call__(self, phi) -> float:
        return self.problem.deviance(*self.split(phi))

    def value_and_grad(self, phi):
        return self.problem.value_and_gradient(*self.split(phi))

    def grad(self, phi) -> np.ndarray:
        return self.value_and_grad(phi)[1]

    def canonical(self, phi) -> np.ndarray:
        theta, beta = self.split(phi)
        return np.concatenate([canonical_theta(theta, self.problem.q), beta])

    @property
    def count(self) -> int:
        return self.problem.count


def _run(method: str, start: np.ndarray, crit: _Criterion, scale: np.ndarray, tight=False):
    """One optimizer run over phi = (theta, beta), in coordinates where beta is measured in
    units of the logistic regression's standard errors (beta = start + C gamma, C C' its
    covariance), so the problem is well scaled for every method."""
    nt = crit.nt
    base = start.copy()

    def to_phi(x):
        return np.concatenate([x[:nt], base[nt:] + scale @ x[nt:]])

    def fun(x):
        return crit(to_phi(x))

    def fun_grad(x):
        value, grad = crit.value_and_grad(to_phi(x))
        if not np.isfinite(value):
            return 1e300, np.zeros_like(x)
        return value, np.concatenate([grad[:nt], scale.T @ grad[nt:]])

    x0 = np.concatenate([base[:nt], np.zeros(len(base) - nt)])
    k = len(x0)
    diag = set(diagonal_index(crit.problem.q).tolist())
    with np.errstate(all="ignore"):
        if method == "L-BFGS-B":
            bounds = [(0.0, None) if i in diag else (None, None) for i in range(nt)]
            bounds += [(None, None)] * (k - nt)
            res = sciopt.minimize(
                fun_grad,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 1000, "ftol": 1e-15 if tight else 1e-12, "gtol": 1e-7},
            )
        elif method == "Nelder-Mead":
            res = sciopt.minimize(
                fun,
                x0,
                method="Nelder-Mead",
                options={
                    "maxfev": 400 * k * (3 if tight else 1),
                    "xatol": 1e-8 if tight else 1e-6,
                    "fatol": 1e-10 if tight else 1e-8,
                    "adaptive": k > 4,
                },
            )
        elif method == "Powell":
            res = sciopt.minimize(
                fun, x0, method="Powell", options={"maxfev": 400 * k, "xtol": 1e-6, "ftol": 1e-10}
            )
        else:
            raise ValueError(f"unknown method {method}")
    return crit.canonical(to_phi(np.asarray(res.x, float)))


def _derivatives(crit: _Criterion, phi: np.ndarray):
    """Analytic gradient and the Hessian as central differences of it (2k gradients)."""
    grad = crit.grad(phi)
    hess = numderiv.jacobian_of_gradient(crit.grad, phi)
    return grad, hess


def _newton_polish(crit: _Criterion, phi: np.ndarray, value: float, steps: int = 25):
    """Newton steps with step halving (curvatures replaced by their absolute values where the
    Hessian is not positive definite, so every step descends). Returns (phi, value, derivatives
    at phi or None)."""
    for _ in range(steps):
        grad, hess = _derivatives(crit, phi)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            break
        values, vectors = np.linalg.eigh((hess + hess.T) / 2)
        floor = 1e-8 * max(1.0, float(np.max(np.abs(values))))
        modified = np.maximum(np.abs(values), floor)
        step = vectors @ ((vectors.T @ grad) / modified)
        if float(grad @ step) < 1e-3 * DECREMENT_TOLERANCE and np.all(values > 0):
            return phi, value, (grad, hess)
        for _halving in range(30):
            candidate = crit.canonical(phi - step)
            candidate_value = crit(candidate)
            if candidate_value < value:
                break
            step = step / 2
        else:
            break
        improvement = value - candidate_value
        phi, value = candidate, candidate_value
        if improvement < 1e-11:
            break
    return phi, value, None


def _snap_to_boundary(crit: _Criterion, phi: np.ndarray, value: float):
    """Diagonal entries of Lambda at a rounding-level value are put exactly at zero when the
    deviance does not get worse (as lme4's bounded optimizer leaves them)."""
    q = crit.problem.q
    theta, beta = crit.split(phi)
    lam = lambda_of(theta, q)
    tiny = np.flatnonzero((np.abs(np.diag(lam)) < SNAP_TOLERANCE) & (np.diag(lam) != 0))
    if not len(tiny):
        return phi, value
    lam[tiny, tiny] = 0.0
    snapped = np.concatenate([theta_of(lam), beta])
    snapped_value = crit(snapped)
    if snapped_value <= value + 1e-10 * max(1.0, abs(value)):
        return snapped, snapped_value
    return phi, value


def _best_neighbour_gain(crit: _Criterion, phi: np.ndarray, value: float, seed: int = 0):
    """How much lower the deviance gets at nearby points (positive refutes the optimum): both
    signs of every axis and 2k random directions, at relative distances 1e-3 and 1e-2."""
    rng = np.random.default_rng(seed)
    k = len(phi)
    directions = [np.eye(k)[i] * sign for i in range(k) for sign in (1, -1)]
    directions += [d / np.linalg.norm(d) for d in rng.normal(size=(2 * k, k))]
    gain = -np.inf
    for scale in (1e-3, 1e-2):
        for direction in directions:
            step = scale * np.maximum(1.0, np.abs(phi)) * direction
            gain = max(gain, value - crit(phi + step))
    return float(gain)


@dataclass(frozen=True)
class _Verified:
    phi: np.ndarray
    value: float
    winner: str
    verified: bool
    decrement: float
    max_gradient: float
    gain: float
    grad: np.ndarray
    hess: np.ndarray


def _polish_and_verify(crit, candidates, attempts, escalated=False) -> _Verified:
    finite = [c for c in candidates if np.isfinite(c[0])]
    if not finite:
        nan = np.full(crit.problem.k, np.nan)
        return _Verified(nan, np.inf, "none", False, np.inf, np.inf, np.inf, nan, None)
    value, winner, phi = min(finite, key=lambda c: c[0])
    before = crit.count
    polished, polished_value, derivatives = _newton_polish(crit, phi, value)
    if polished_value < value - 1e-9:
        phi, value, winner = polished, polished_value, f"{winner} + Newton polish"
    elif polished_value <= value:
        phi, value = polished, polished_value
    snapped, value = _snap_to_boundary(crit, phi, value)
    if derivatives is None or not np.array_equal(snapped, polished):
        derivatives = _derivatives(crit, snapped)
    phi = snapped
    value = crit(phi)  # the reported value, with the modes at this very point
    grad, hess = derivatives
    if np.all(np.isfinite(grad)) and np.all(np.isfinite(hess)):
        decrement = numderiv.newton_decrement(grad, hess, GRADIENT_TOLERANCE)
        max_grad = float(np.max(np.abs(grad)))
    else:
        decrement, max_grad = np.inf, np.inf
    gain = _best_neighbour_gain(crit, phi, value)
    crit(phi)  # leave the modes at the optimum for what follows
    verified = bool(
        np.isfinite(value) and decrement < DECREMENT_TOLERANCE and gain < NEIGHBOUR_TOLERANCE
    )
    attempts.append(
        Attempt(
            "polish and verification" + (" (after escalation)" if escalated else ""),
            winner,
            _finite_or_none(-value / 2),
            evaluations=crit.count - before,
            note="verified" if verified else "not verified",
        )
    )
    return _Verified(phi, value, winner, verified, decrement, max_grad, gain, grad, hess)


def default_plan(q: int, start_beta: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(method, start label, start phi): L-BFGS-B with the analytic gradient from lme4's start
    (Lambda = I) and the logistic regression's beta first; the derivative-free methods and a
    second start only when that fails verification."""
    nt = n_theta(q)
    identity = theta_of(np.eye(q))
    phi1 = np.concatenate([identity, start_beta])
    phi2 = np.concatenate([0.1 * identity, start_beta])
    phi3 = np.concatenate([3.0 * identity, start_beta])
    assert len(phi1) == nt + len(start_beta)
    return [
        ("L-BFGS-B", "theta = I, beta = glm", phi1),
        ("Nelder-Mead", "theta = I, beta = glm", phi1),
        ("Powell", "theta = I, beta = glm", phi1),
        ("L-BFGS-B", "theta = 0.1 I, beta = glm", phi2),
        ("L-BFGS-B", "theta = 3 I, beta = glm", phi3),
    ]


def _candidates(crit, runs, scale, attempts, candidates) -> None:
    for method, label, start in runs:
        before = crit.count
        try:
            phi = _run(method, start, crit, scale)
            value = crit(phi)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as error:
            attempts.append(Attempt(method, label, None, note=f"failed: {error}"))
            continue
        attempts.append(
            Attempt(method, label, _finite_or_none(-value / 2), evaluations=crit.count - before)
        )
        candidates.append((value, method, phi))


def fit_glmm(y, X, Z, groups, nagq: int = 1, plan=None) -> GlmmFit:
    """Fit a binomial (logit) GLMM by maximum likelihood (Laplace, or adaptive Gauss-Hermite
    with nagq > 1 for a random intercept alone), as glmer does; the optimum is verified.

    y: 0/1 (n,); X: n x p fixed design (first column the intercept); Z: n x q random design
    (first column the intercept); groups: integer codes 0..G-1, rows in any order.
    `plan` (optional) replaces the list of (method, start label, start phi) runs; the first run
    alone is tried first, the others only if its optimum fails verification."""
    problem = Problem(y, X, Z, groups, nagq)
    q, nt = problem.q, n_theta(problem.q)
    glm = logistic(problem.y, problem.X)
    start_beta = np.where(np.isfinite(glm.beta), glm.beta, 0.0)
    cov0 = glm.cov if np.all(np.isfinite(glm.cov)) else np.eye(problem.p)
    try:
        scale = np.linalg.cholesky(cov0)
    except np.linalg.LinAlgError:
        scale = np.diag(np.sqrt(np.abs(np.diag(cov0))) + 1e-8)
    crit = _Criterion(problem)
    plan = default_plan(q, start_beta) if plan is None else plan
    attempts: list[Attempt] = []
    candidates: list[tuple[float, str, np.ndarray]] = []
    _candidates(crit, plan[:1], scale, attempts, candidates)
    best = _polish_and_verify(crit, candidates, attempts)
    if not best.verified and len(plan) > 1:
        _candidates(crit, plan[1:], scale, attempts, candidates)
        candidates.append((best.value, best.winner, best.phi))
        best = _polish_and_verify(crit, candidates, attempts, escalated=True)

    phi = best.phi
    theta, beta = crit.split(phi)
    if not np.all(np.isfinite(phi)):
        raise FloatingPointError("no finite deviance was reached: the model could not be fitted")
    st = problem.state(theta, beta)
    cov_beta, cov_method = None, "hessian"
    if best.hess is not None and np.all(np.isfinite(best.hess)):
        hess = (best.hess + best.hess.T) / 2
        try:
            inv = np.linalg.inv(hess)
            V = 2.0 * inv[nt:, nt:]
            V = (V + V.T) / 2
            if np.all(np.linalg.eigvalsh(V) > 0) and np.all(np.linalg.eigvalsh(hess) > 0):
                cov_beta = V
        except np.linalg.LinAlgError:
            pass
    if cov_beta is None:
        cov_beta, cov_method = problem.rx_covariance(st), "fixed theta"
    modes, cond_cov = problem.random_effects(st)
    lam = lambda_of(theta, q)
    singular_terms = tuple(int(i) for i in np.flatnonzero(np.diag(lam) < SINGULAR_TOLERANCE))
    return GlmmFit(
        theta=theta,
        beta=beta,
        deviance=float(best.value),
        loglik=float(-best.value / 2),
        cov_beta=cov_beta,
        cov_method=cov_method,
        re_cov=lam @ lam.T,
        modes=modes,
        cond_se=np.sqrt(np.diagonal(cond_cov, axis1=1, axis2=2)),
        verified=best.verified,
        decrement=float(best.decrement),
        max_gradient=float(best.max_gradient),
        best_neighbour_gain=max(float(best.gain), 0.0),
        singular=bool(singular_terms),
        singular_terms=singular_terms,
        attempts=tuple(attempts),
        optimizer=best.winner,
        evaluations=problem.count,
        nagq=problem.nagq,
        hessian=best.hess,
    )


def predict_probability(fit: GlmmFit, X, Z=None, groups=None) -> np.ndarray:
    """Fitted probabilities: conditional on each row's group's mode when Z and groups are given,
    else at b = 0 (a typical group, not the population average)."""
    eta = np.asarray(X, float) @ fit.beta
    if Z is not None and groups is not None:
        Z = np.asarray(Z, float)
        if Z.ndim == 1:
            Z = Z[:, None]
        eta = eta + (Z * fit.modes[np.asarray(groups, np.int64)]).sum(axis=1)
    return _probabilities(eta)[0]
