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
parameters enters through the implicit-function theorem; see `Problem.value_and_gradient`), and
each evaluation starts Newton's method for the modes from the last modes moved to first order
(du/dphi, from the same theorem), so most evaluations need two passes over the rows.

Optimisation is over (theta, beta) jointly, as glmer's second stage. The primary run is Newton's
method with the Hessian from forward differences of the analytic gradient (k + 1 gradients per
step; affine invariant, so the very different scales of theta and beta cost nothing: about 60
evaluations for a random slope at 200,000 rows, against about 95 for L-BFGS-B before polishing).
Lambda's diagonal is not bounded: flipping a column's sign leaves the criterion unchanged, so
steps are taken freely and the signs made non-negative afterwards.

Verification follows optimize.py: Newton polish, a variance that converged to a rounding-level
value put exactly on its boundary when the deviance does not get worse, then the Newton
decrement must be below 1e-6 (flat directions by their gradient) and no nearby point (random
directions at two distances) may be better; otherwise L-BFGS-B, Nelder-Mead, Powell and other
starts join and the best of all is polished and verified again. Every run is recorded as an
`Attempt` with its evaluations.

The fixed effects' covariance is vcov(glmer)'s default (use.hessian = TRUE): the beta block of
2 H^-1, H the Hessian of the deviance over (theta, beta) jointly; if that H is not positive
definite, lme4's fixed-theta version (the inverse of X'WX with the random effects absorbed, the
RX factor) is used instead and `cov_method` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize as sciopt
from scipy.special import logsumexp

from ..results import Attempt
from . import lmm
from .lmm import canonical_theta, lambda_of, n_theta, theta_of
from .optimize import DECREMENT_TOLERANCE, verdict

SINGULAR_TOLERANCE = 1e-4  # lme4's isSingular() default for the diagonal of Lambda
NEWTON_STEPS = 100  # the primary run
POLISH_STEPS = 25  # polishing the best candidate
SNAP_TOLERANCE = 1e-5  # a diagonal entry of Lambda below this (a variance of 1e-10) is tried at 0
MODE_TOLERANCE = 1e-12  # largest Newton step (spherical scale) left when the modes are final
MODE_STALL_TOLERANCE = 1e-8  # accepted after MODE_STALL_ITER steps (rounding-level stagnation)
MODE_STALL_ITER = 40
MODE_MAX_ITER = 200
LATENT_RESIDUAL_SD = math.pi / math.sqrt(3.0)  # SD of the standard logistic distribution


# --------------------------------------------------------------------------------------------
# theta <-> Lambda (column-major lower triangle, as lme4)


def diagonal_index(q: int) -> np.ndarray:
    """Positions of Lambda's diagonal within theta (lme4's lower bound 0 applies to these)."""
    rows, cols = lmm.theta_positions(q)
    return np.flatnonzero(rows == cols)


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


def _rows_times(XT: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """X beta from X' stored (p, n) contiguous. Not `X @ beta`: OpenBLAS splits that
    matrix-vector product over threads, which on a busy machine made it 40 times slower (10 ms
    instead of 0.25 ms at 200,000 rows); numpy's own loop does not wait for other cores."""
    return np.einsum("k,kn->n", np.asarray(beta, float), XT)


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
    XT = np.ascontiguousarray(X.T)
    # glm's start: mu = (y + 0.5) / 2, one weighted least-squares step from there
    mu0 = (y + 0.5) / 2.0
    eta = np.log(mu0 / (1 - mu0))
    w = mu0 * (1 - mu0)
    beta = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * eta + (y - mu0)))
    s = 2.0 * y - 1.0
    converged, iterations = False, 0
    value = np.inf
    for iterations in range(1, max_iter + 1):  # noqa: B007
        eta = _rows_times(XT, beta)
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
            ceta = _rows_times(XT, cand)
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
    eta = _rows_times(XT, beta)
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


def separation(y, X, tolerance: float = 1e-9) -> list[int]:
    """Columns of X involved in complete or quasi-complete separation (empty if none).

    A direction d with s_i x_i'd >= 0 for every row (s = 2y - 1) and > 0 for some is one along
    which the log-likelihood rises for ever (Albert & Anderson 1984); the coefficients that are
    not zero in every such direction are the ones with infinite estimates. A linear program
    (Konis 2007, as R's detectseparation) maximises the rows' margins over such directions in a
    box; it is repeated over the rows not yet separated until none is, which finds every row
    that some direction separates. The directions then fill the null space of the other rows,
    so the columns involved are those on which that null space is not zero."""
    y, X = _as_inputs(y, X)
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    Xs = X / scale
    margins_of = (2.0 * y - 1.0)[:, None] * Xs  # row i's margin along d is margins_of[i] @ d
    n, p = X.shape
    open_rows = np.ones(n, dtype=bool)
    for _round in range(50):
        res = sciopt.linprog(
            -margins_of[open_rows].sum(axis=0),
            A_ub=-margins_of,
            b_ub=np.zeros(n),
            bounds=[(-1.0, 1.0)] * p,
            method="highs",
        )
        if res.status != 0 or -res.fun <= tolerance:
            break
        newly = open_rows & (margins_of @ res.x > tolerance)
        if not newly.any():
            break
        open_rows &= ~newly
        if not open_rows.any():
            break
    if open_rows.all():
        return []
    rest = Xs[open_rows]
    if rest.shape[0] == 0:
        return list(range(p))
    R = np.linalg.qr(rest, mode="r") if rest.shape[0] > p else rest
    _, sv, vt = np.linalg.svd(R, full_matrices=True)
    rank = int(np.sum(sv > 1e-10 * max(float(sv.max()), 1e-300))) if sv.size else 0
    null = vt[rank:]
    return [int(k) for k in np.flatnonzero(np.linalg.norm(null, axis=0) > 1e-8)]


def cluster_cr1(y, X, groups, beta) -> np.ndarray:
    """Cluster-robust (CR1) covariance of logistic-regression coefficients, as Stata's
    `logit, vce(cluster g)`: bread = inverse Fisher information, scores X_j'(y_j - mu_j) summed
    within clusters, times G / (G - 1), G the number of clusters present."""
    y, X = _as_inputs(y, X)
    groups = np.asarray(groups)
    if groups.shape != (len(y),):
        raise ValueError("groups must have one entry per row")
    beta = np.asarray(beta, float)
    mu, w, _ = _probabilities(_rows_times(np.ascontiguousarray(X.T), beta))
    bread = np.linalg.inv(X.T @ (w[:, None] * X))
    _, codes = np.unique(groups, return_inverse=True)
    G = int(codes.max()) + 1
    resid = y - mu
    scores = np.column_stack(
        [np.bincount(codes, weights=X[:, k] * resid, minlength=G) for k in range(X.shape[1])]
    )
    meat = scores.T @ scores
    factor = G / (G - 1) if G > 1 else np.nan
    return factor * bread @ meat @ bread


# --------------------------------------------------------------------------------------------
# the GLMM criterion


@dataclass
class _State:
    """Everything the criterion computes at one (theta, beta), rows in group order. Row
    quantities are on the scale of the observed outcome: t = s * eta (s = 2y - 1), p the
    probability of the observed value, qy = 1 - p (so y - mu = s qy)."""

    theta: np.ndarray
    beta: np.ndarray
    lam: np.ndarray
    soff: np.ndarray  # s * X beta
    u: np.ndarray  # (Ge, q) spherical modes
    p: np.ndarray
    qy: np.ndarray
    w: np.ndarray  # mu (1 - mu)
    d: np.ndarray  # (Ge,) penalised deviance at the mode
    S: np.ndarray  # (Ge, q, q) sum_i w_i z_i z_i'
    Rz: np.ndarray  # (Ge, q) sum_i (y_i - mu_i) z_i
    H: np.ndarray  # (Ge, q, q) I + Lambda' S Lambda
    Hinv: np.ndarray
    logdet: np.ndarray  # (Ge,)
    iterations: int


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


def _congruence(stack: np.ndarray, B: np.ndarray) -> np.ndarray:
    """B S_j B' for every S_j of a stack, as one (G, q^2) x (q^2, q^2) product."""
    G, q, _ = stack.shape
    return (stack.reshape(G, q * q) @ np.kron(B, B).T).reshape(G, q, q)


class Problem:
    """One data set's GLMM criterion: rows sorted by group once, modes carried between calls
    (each evaluation starts Newton's method from the last modes, moved to first order by their
    derivative with respect to the parameters when the last call computed it).

    y: 0/1; X: n x p fixed design; Z: n x q random design; groups: integer codes 0..G-1 (rows
    in any order); nagq: 1 for Laplace, K > 1 for adaptive Gauss-Hermite (q must be 1).
    Parameters are theta (lme4's order) and beta; `count` counts evaluations.
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
        if len(y) == 0:
            raise ValueError("no rows")
        self.nagq = nagq
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.nt = n_theta(self.q)
        self.k = self.nt + self.p
        self.order = np.argsort(groups, kind="stable")
        codes = groups[self.order]
        self.G = int(codes.max()) + 1
        counts_all = np.bincount(codes, minlength=self.G)
        self.present = np.flatnonzero(counts_all)  # groups with rows (others: u = 0)
        self.counts = counts_all[self.present]
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.intp)
        self.Ge = len(self.present)
        self.y = y[self.order]
        self.s = 2.0 * self.y - 1.0
        self.X = np.ascontiguousarray(X[self.order])
        self.XT = np.ascontiguousarray(self.X.T)
        self.sXT = self.XT * self.s[None, :]
        self.ZT = np.ascontiguousarray(Z[self.order].T)
        self.sZT = self.ZT * self.s[None, :]
        self.pairs = [(a, b) for a in range(self.q) for b in range(a, self.q)]
        self.ZZ = np.stack([self.ZT[a] * self.ZT[b] for a, b in self.pairs])
        self._u = np.zeros((self.Ge, self.q))
        self._phi: np.ndarray | None = None  # parameters of the last modes
        self._J: np.ndarray | None = None  # d u / d phi there, (Ge, q, k)
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

    def _linear(self, soff: np.ndarray, b: np.ndarray) -> np.ndarray:
        """t = s * (X beta + Z b_j) for per-group b (Ge, q)."""
        t = soff.copy()
        for c in range(self.q):
            t += self.sZT[c] * self._expand(b[:, c])
        return t

    @staticmethod
    def _response(t: np.ndarray):
        """p = P(observed y), qy = 1 - p, w = p qy and -log p, from t = s eta (overflow-free)."""
        E = np.exp(-np.maximum(t, -700.0))
        den = 1.0 + E
        p = 1.0 / den
        qy = E * p
        return p, qy, p * qy, np.log(den)

    # -- conditional modes ---------------------------------------------------------------------
    def _start(self, phi: np.ndarray) -> np.ndarray:
        u = self._u
        if not np.all(np.isfinite(u)):
            return np.zeros((self.Ge, self.q))
        if self._J is not None and self._phi is not None:
            moved = u + np.einsum("gak,k->ga", self._J, phi - self._phi)
            if np.all(np.isfinite(moved)):
                return moved
        return u.copy()

    def state(self, theta, beta) -> _State:
        """Conditional modes (Newton's method on every group at once) and all at them."""
        theta = np.asarray(theta, float)
        beta = np.asarray(beta, float)
        phi = np.concatenate([theta, beta])
        q = self.q
        lam = lambda_of(theta, q)
        soff = _rows_times(self.sXT, beta)
        u = self._start(phi)
        u_old = u.copy()
        d_old = np.full(self.Ge, np.inf)
        buf = np.empty((1 + q + len(self.pairs), self.n))
        eye = np.eye(q)
        converged = False
        for iteration in range(1, MODE_MAX_ITER + 1):
            p, qy, w, buf[0] = self._response(self._linear(soff, u @ lam.T))
            for c in range(q):
                np.multiply(qy, self.sZT[c], out=buf[1 + c])  # (y - mu) z_c
            for k in range(len(self.pairs)):
                np.multiply(w, self.ZZ[k], out=buf[1 + q + k])
            sums = self._sums(buf)
            d = 2.0 * sums[0] + (u * u).sum(axis=1)
            S = np.empty((self.Ge, q, q))
            for k, (a, b) in enumerate(self.pairs):
                S[:, a, b] = S[:, b, a] = sums[1 + q + k]
            Rz = sums[1 : 1 + q].T
            H = _congruence(S, lam.T) + eye
            grad = Rz @ lam - u  # half the negative gradient of d_j
            worse = ~(d <= d_old + 1e-10 * (1.0 + np.abs(d_old)))  # also catches nan
            Hinv, logdet = _inverse_logdet(H)
            step = _matvec(Hinv, grad)
            step[worse] = 0.0
            biggest = float(np.max(np.abs(step))) if step.size else 0.0
            if not np.any(worse) and (
                biggest < MODE_TOLERANCE
                or (iteration > MODE_STALL_ITER and biggest < MODE_STALL_TOLERANCE)
            ):
                converged = True
                break
            # a Newton step that raised d_j is halved (d_j is convex, so this is rare)
            keep = ~worse
            u_old[keep], d_old[keep] = u[keep], d[keep]
            u = u + step
            u[worse] = (u_old[worse] + u[worse]) / 2.0
        if not converged:
            self._u, self._J = np.zeros((self.Ge, q)), None
            raise FloatingPointError("conditional modes did not converge")
        self._u, self._phi = u, phi
        return _State(theta, beta, lam, soff, u, p, qy, w, d, S, Rz, H, Hinv, logdet, iteration)

    def _wzx(self, w: np.ndarray) -> np.ndarray:
        """Per group sum_i w_i z_i x_i', (Ge, q, p)."""
        rows = np.concatenate([self.XT * (w * self.ZT[c])[None, :] for c in range(self.q)])
        return self._sums(rows).T.reshape(self.Ge, self.q, self.p)

    def _mode_derivative(self, st: _State) -> np.ndarray:
        """d u_j / d (theta, beta), (Ge, q, k): -H_j^-1 times the derivative of the mode
        equations g_j = u_j - Lambda' sum_i (y_i - mu_i) z_i (implicit-function theorem)."""
        q, lam = self.q, st.lam
        dg = np.empty((self.Ge, q, self.k))
        rows, cols = lmm.theta_positions(q)
        for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
            # d g / d Lambda[r, c] = Lambda' S[:, r] u_c - (sum_i (y - mu) z_ir) e_c
            col = (st.S[:, :, r] @ lam) * st.u[:, c : c + 1]
            col[:, c] -= st.Rz[:, r]
            dg[:, :, k] = col
        dg[:, :, self.nt :] = np.einsum("ba,gbk->gak", lam, self._wzx(st.w))
        return -np.einsum("gab,gbk->gak", st.Hinv, dg)

    # -- the criterion -------------------------------------------------------------------------
    def _value(self, st: _State, logS=None) -> float:
        value = st.d.sum() + st.logdet.sum()
        if self.nagq > 1:
            value -= 2.0 * (self._agq_nodes(st)[0] if logS is None else logS).sum()
        return float(value)

    def _check(self, theta, beta) -> None:
        if np.size(theta) != self.nt or np.size(beta) != self.p:
            raise ValueError(
                f"expected {self.nt} theta and {self.p} beta values, got {np.size(theta)} and "
                f"{np.size(beta)}"
            )

    def deviance(self, theta, beta) -> float:
        """-2 log-likelihood (Laplace or AGQ); +inf where the modes cannot be found."""
        self._check(theta, beta)
        self.count += 1
        try:
            with np.errstate(all="ignore"):
                value = self._value(self.state(theta, beta))
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf
        return value if np.isfinite(value) else np.inf

    def value_and_gradient(self, theta, beta, predictor: bool = True) -> tuple[float, np.ndarray]:
        """The deviance and its analytic gradient over (theta, beta) (theta first). With
        `predictor` the modes' derivative is stored for the next call's starting modes (finite
        differences around one point keep the one from that point).

        Laplace: with h_i = a_i' H_j^-1 a_i (a_i = Lambda' z_i), r_i = w'_i h_i (w' = dw/deta),
        v_j = H_j^-1 sum_i r_i a_i and e_i = -2 (y_i - mu_i) + r_i - w_i a_i'v_j, the beta
        gradient is X'e and the gradient in Lambda[r, c] is sum_i z_ir [u_jc e_i + (y_i - mu_i)
        v_jc + 2 w_i (H_j^-1 a_i)_c]: the partial derivatives at fixed modes plus the trace of
        H^-1 dH, with the modes' own movement (du = -H^-1 dg) folded in through v_j (an adjoint),
        so the gradient costs about one more pass over the rows. AGQ (q = 1) weights the node
        deviances by their normalised quadrature terms E_k and replaces 1/H_j by
        1/H_j - (sum_k E_k d'(u_k) z_k) / (2 H_j^1.5), with the modes' movement weighted by
        sum_k E_k d'(u_k) (d' = dd_j/du, zero at the mode)."""
        self._check(theta, beta)
        self.count += 1
        try:
            with np.errstate(all="ignore"):
                st = self.state(theta, beta)
                if self.nagq == 1:
                    value, grad = self._laplace_gradient(st)
                else:
                    value, grad = self._agq_gradient(st)
                if predictor:
                    self._J = self._mode_derivative(st)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf, np.full(self.k, np.nan)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.full(self.k, np.nan)
        return value, grad

    def _quadratic_form_rows(self, N: np.ndarray) -> np.ndarray:
        """z_i' N_j z_i per row for symmetric per-group N (Ge, q, q)."""
        h = np.zeros(self.n)
        for k, (a, b) in enumerate(self.pairs):
            h += (1.0 if a == b else 2.0) * self._expand(N[:, a, b]) * self.ZZ[k]
        return h

    def _laplace_gradient(self, st: _State) -> tuple[float, np.ndarray]:
        q, lam = self.q, st.lam
        M = np.einsum("gab,cb->gac", st.Hinv, lam)  # H^-1 Lambda'
        N = np.einsum("ab,gbc->gac", lam, M)  # Lambda H^-1 Lambda'
        h = self._quadratic_form_rows(N)
        r = self.s * st.qy
        rr = st.w * (self.s * (st.qy - st.p)) * h  # w' h, w' = w (1 - 2 mu)
        c = self._sums(rr[None, :] * self.ZT).T @ lam  # Lambda' sum_i rr_i z_i
        v = _matvec(st.Hinv, c)
        av = self._linear(np.zeros(self.n), v @ lam.T) * self.s  # a_i' v_j = z_i' Lambda v_j
        e = rr - 2.0 * r - st.w * av
        grad_beta = self.XT @ e
        Ez = self._sums(e[None, :] * self.ZT).T  # (Ge, q)
        MS = np.einsum("gab,gbc->ac", M, st.S)
        G_lam = Ez.T @ st.u + st.Rz.T @ v + 2.0 * MS.T
        rows, cols = lmm.theta_positions(q)
        return self._value(st), np.concatenate([G_lam[rows, cols], grad_beta])

    def _agq_nodes(self, st: _State, keep_rows: bool = False):
        """Adaptive Gauss-Hermite pieces (q = 1): log sum_k w_k exp(...) per group, the log terms
        (K, Ge), node positions (K, Ge), d'(u_k) (K, Ge), sum_i z_i (y_i - mu_ik) (K, Ge) and,
        with keep_rows, the rows' y - mu at every node (K, n)."""
        lam = st.lam[0, 0]
        m = st.u[:, 0]
        sd = 1.0 / np.sqrt(st.H[:, 0, 0])
        K = len(self.nodes)
        nodes_u = m[None, :] + self.nodes[:, None] * sd[None, :]
        logt = np.empty((K, self.Ge))
        dprime = np.empty((K, self.Ge))
        Rzk = np.empty((K, self.Ge))
        resid = np.empty((K, self.n)) if keep_rows else None
        buf = np.empty((2, self.n))
        for k in range(K):
            uk = nodes_u[k]
            _, qy, _, buf[0] = self._response(self._linear(st.soff, lam * uk[:, None]))
            np.multiply(qy, self.sZT[0], out=buf[1])
            if keep_rows:
                resid[k] = self.s * qy
            sums = self._sums(buf)
            dk = 2.0 * sums[0] + uk * uk
            Rzk[k] = sums[1]
            dprime[k] = -2.0 * lam * sums[1] + 2.0 * uk
            logt[k] = np.log(self.weights[k]) - (dk - st.d) / 2.0 + self.nodes[k] ** 2 / 2.0
        logS = logsumexp(logt, axis=0)
        return logS, logt, nodes_u, dprime, Rzk, resid

    def _agq_gradient(self, st: _State) -> tuple[float, np.ndarray]:
        logS, logt, nodes_u, dprime, Rzk, resid = self._agq_nodes(st, keep_rows=True)
        value = self._value(st, logS)
        E = np.exp(logt - logS[None, :])  # (K, Ge) normalised terms
        lam = st.lam[0, 0]
        H = st.H[:, 0, 0]
        m = st.u[:, 0]
        alpha = (E * dprime).sum(axis=0)
        kappa = 1.0 / H - (E * dprime * self.nodes[:, None]).sum(axis=0) / (2.0 * H**1.5)
        z, zz = self.ZT[0], self.ZZ[0]
        w1 = st.w * (self.s * (st.qy - st.p))
        rr = self._expand(kappa * lam * lam) * w1 * zz  # kappa w' a^2
        v = (lam * self._sums(rr * z) + alpha) / H
        R = (self._expand(E) * resid).sum(axis=0)  # sum_k E_k (y - mu_k), per row
        e = rr - 2.0 * R - self._expand(v * lam) * st.w * z
        grad_beta = self.XT @ e
        Ez = self._sums(e * z)
        ERz = (E * Rzk).sum(axis=0)
        EuRz = (E * nodes_u * Rzk).sum(axis=0)
        grad_lam = np.sum(
            m * (Ez + 2.0 * ERz) + v * st.Rz[:, 0] + 2.0 * kappa * lam * st.S[:, 0, 0] - 2.0 * EuRz
        )
        return value, np.concatenate([[grad_lam], grad_beta])

    # -- pieces for the fit ----------------------------------------------------------------------
    def rx_covariance(self, st: _State) -> np.ndarray:
        """lme4's fixed-theta covariance: the inverse of X'WX - sum_j X_j'W_j A_j H_j^-1
        A_j'W_j X_j at the modes (vcov(glmer, use.hessian = FALSE))."""
        XWX = self.XT @ (self.X * st.w[:, None])
        blocks = np.einsum("ba,gbp->gap", st.lam, self._wzx(st.w))  # A_j'W_j X_j
        correction = np.einsum("gcp,gcd,gdr->pr", blocks, st.Hinv, blocks)
        return np.linalg.inv(XWX - correction)

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
        """min over beta of the deviance at fixed theta (Newton on beta with the Hessian from
        differences of the analytic gradient, from the last profile's beta or `beta_start`),
        for profile-likelihood intervals of the variance."""
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
            Hb = _hessian_of_gradient(grad_beta, beta, g)
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


def _hessian_of_gradient(grad, x: np.ndarray, g0: np.ndarray, rel_step: float = 1e-6):
    """Forward differences of an analytic gradient (k gradients), symmetrised. The gradient is
    exact to rounding, so a small step leaves an O(step) error of about 1e-6 relative."""
    h = rel_step * np.maximum(np.abs(x), 1e-2)
    cols = []
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h[i]
        cols.append((grad(x + e) - g0) / h[i])
    H = np.column_stack(cols)
    return (H + H.T) / 2


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
    # columns of X that separate the outcome (logistic regression's check): the likelihood then
    # has no maximum (the fixed effects run away as in glm), so the fit is never verified
    separated: tuple[int, ...] = ()
    # G x q x q conditional covariances (cond_se is their diagonal's root): a group's difference
    # at a slope variable's mean needs the intercept-slope covariance too
    cond_cov: np.ndarray | None = None

    @property
    def std_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_beta))

    @property
    def latent_icc(self) -> float:
        return latent_icc(self.re_cov)


class _Criterion:
    """The deviance over phi = (theta, beta), for the optimizers (counts via the Problem).

    With `diagonal` (the uncorrelated model, lme4's (1 + x || g)) phi holds only Lambda's
    diagonal: the off-diagonal entries are zero, and the gradient is the full one's free
    entries (the map is a selection)."""

    def __init__(self, problem: Problem, diagonal: bool = False):
        self.problem = problem
        self.full_nt = n_theta(problem.q)
        self.free = diagonal_index(problem.q) if diagonal else np.arange(self.full_nt)
        self.nt = len(self.free)

    def split(self, phi):
        """(full theta, beta) of phi."""
        phi = np.asarray(phi, float)
        theta = np.zeros(self.full_nt)
        theta[self.free] = phi[: self.nt]
        return theta, phi[self.nt :]

    def reduce(self, theta, beta) -> np.ndarray:
        """phi of a full theta (its off-diagonal entries dropped when diagonal) and beta."""
        return np.concatenate([np.asarray(theta, float)[self.free], beta])

    def _reduced(self, grad: np.ndarray) -> np.ndarray:
        return np.concatenate([grad[: self.full_nt][self.free], grad[self.full_nt :]])

    def __call__(self, phi) -> float:
        return self.problem.deviance(*self.split(phi))

    def value_and_grad(self, phi):
        value, grad = self.problem.value_and_gradient(*self.split(phi))
        return value, self._reduced(grad)

    def grad(self, phi) -> np.ndarray:
        return self.value_and_grad(phi)[1]

    def grad_nearby(self, phi) -> np.ndarray:
        """The gradient at a point a finite-difference step away (keeps the modes' predictor)."""
        return self._reduced(self.problem.value_and_gradient(*self.split(phi), predictor=False)[1])

    def canonical(self, phi) -> np.ndarray:
        theta, beta = self.split(phi)
        return self.reduce(canonical_theta(theta, self.problem.q), beta)

    @property
    def count(self) -> int:
        return self.problem.count


def _run(method: str, start: np.ndarray, crit: _Criterion, scale: np.ndarray):
    """One optimizer run over phi = (theta, beta); returns (phi, derivatives at phi or None).

    "Newton": Newton's method with the Hessian from differences of the analytic gradient (affine
    invariant, so the very different scales of theta and beta do not matter; at 200,000 rows it
    needs half the evaluations of L-BFGS-B). The others run in coordinates where beta is
    measured in units of the logistic regression's standard errors (beta = start + C gamma,
    C C' its covariance)."""
    if method == "Newton":
        phi, _, derivatives = _newton_polish(crit, start, crit(start), steps=NEWTON_STEPS)
        return phi, derivatives
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
    diag = set(np.flatnonzero(np.isin(crit.free, diagonal_index(crit.problem.q))).tolist())
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
                options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-7},
            )
        elif method == "Nelder-Mead":
            res = sciopt.minimize(
                fun,
                x0,
                method="Nelder-Mead",
                options={"maxfev": 400 * k, "xatol": 1e-6, "fatol": 1e-8, "adaptive": k > 4},
            )
        elif method == "Powell":
            res = sciopt.minimize(
                fun, x0, method="Powell", options={"maxfev": 400 * k, "xtol": 1e-6, "ftol": 1e-10}
            )
        else:
            raise ValueError(f"unknown method {method}")
    return crit.canonical(to_phi(np.asarray(res.x, float))), None


def _derivatives(crit: _Criterion, phi: np.ndarray):
    """Analytic gradient and the Hessian as forward differences of it (k more gradients)."""
    grad = crit.grad(phi)
    return grad, _hessian_of_gradient(crit.grad_nearby, phi, grad)


def _newton_polish(crit: _Criterion, phi, value: float, steps: int = 25, derivatives=None):
    """Newton steps with step halving (curvatures replaced by their absolute values where the
    Hessian is not positive definite, so every step descends). Returns (phi, value, derivatives
    at phi or None). After a full step that was predicted to gain little (well inside the
    quadratic region) only the gradient is recomputed: the Hessian barely moves there."""
    phi = np.asarray(phi, float)
    grad, hess = _derivatives(crit, phi) if derivatives is None else derivatives
    for _ in range(steps):
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            return phi, value, None
        values, vectors = np.linalg.eigh((hess + hess.T) / 2)
        floor = 1e-8 * max(1.0, float(np.max(np.abs(values))))
        modified = np.maximum(np.abs(values), floor)
        step = vectors @ ((vectors.T @ grad) / modified)
        predicted = float(grad @ step)
        if predicted < 1e-3 * DECREMENT_TOLERANCE and np.all(values > 0):
            return phi, value, (grad, hess)
        full = True
        for _halving in range(30):
            candidate = crit.canonical(phi - step)
            candidate_value = crit(candidate)
            if candidate_value < value:
                break
            step, full = step / 2, False
        else:
            return phi, value, None
        improvement = value - candidate_value
        phi, value = candidate, candidate_value
        if improvement < 1e-11:
            return phi, value, None
        if full and predicted < 1e-5 and np.all(values > 0):
            grad = crit.grad(phi)
        else:
            grad, hess = _derivatives(crit, phi)
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
    snapped = crit.reduce(theta_of(lam), beta)
    snapped_value = crit(snapped)
    if snapped_value <= value + 1e-8 + 1e-12 * abs(value):
        return snapped, snapped_value
    return phi, value


def _best_neighbour_gain(crit: _Criterion, phi: np.ndarray, value: float, seed: int = 0):
    """How much lower the deviance gets at nearby points (positive refutes the optimum): 2k
    random directions at each of the relative distances 1e-3 and 1e-2 (the Newton decrement
    already speaks for the immediate neighbourhood; this looks a little further out, where a
    kink or a boundary could hide a better point)."""
    rng = np.random.default_rng(seed)
    k = len(phi)
    gain = -np.inf
    for scale in (1e-3, 1e-2):
        for direction in rng.normal(size=(2 * k, k)):
            direction = direction / np.linalg.norm(direction)
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
        nan = np.full(crit.nt + crit.problem.p, np.nan)
        return _Verified(nan, np.inf, "none", False, np.inf, np.inf, np.inf, nan, None)
    value, winner, phi, derivatives = min(finite, key=lambda c: c[0])
    before = crit.count
    polished, polished_value, derivatives = _newton_polish(
        crit, phi, value, POLISH_STEPS, derivatives
    )
    if polished_value < value - 1e-9:
        phi, value, winner = polished, polished_value, f"{winner} + Newton polish"
    elif polished_value <= value:
        phi, value = polished, polished_value
    snapped, value = _snap_to_boundary(crit, phi, value)
    if derivatives is None or not np.array_equal(snapped, polished):
        derivatives = _derivatives(crit, snapped)
    phi = snapped
    grad, hess = derivatives
    gain = _best_neighbour_gain(crit, phi, value)
    judged = verdict(value, grad, hess, gain, winner, crit.count - before, escalated)
    attempts.append(judged.attempt)
    decrement, max_grad, verified = judged.decrement, judged.max_gradient, judged.verified
    return _Verified(phi, value, winner, verified, decrement, max_grad, gain, grad, hess)


def default_plan(q: int, start_beta: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(method, start label, start phi): Newton from lme4's start (Lambda = I) and the logistic
    regression's beta first; L-BFGS-B (analytic gradient), the derivative-free methods and
    other starts only when that fails verification."""
    identity = theta_of(np.eye(q))
    phi1 = np.concatenate([identity, start_beta])
    phi2 = np.concatenate([0.1 * identity, start_beta])
    phi3 = np.concatenate([3.0 * identity, start_beta])
    return [
        ("Newton", "theta = I, beta = glm", phi1),
        ("L-BFGS-B", "theta = I, beta = glm", phi1),
        ("Nelder-Mead", "theta = I, beta = glm", phi1),
        ("Powell", "theta = I, beta = glm", phi1),
        ("Newton", "theta = 0.1 I, beta = glm", phi2),
        ("L-BFGS-B", "theta = 3 I, beta = glm", phi3),
    ]


def _candidates(crit, runs, scale, attempts, candidates) -> None:
    for method, label, start in runs:
        before = crit.count
        try:
            phi, derivatives = _run(method, start, crit, scale)
            value = crit(phi)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as error:
            attempts.append(Attempt(method, label, None, note=f"failed: {error}"))
            continue
        attempts.append(
            Attempt(method, label, _finite_or_none(-value / 2), evaluations=crit.count - before)
        )
        candidates.append((value, method, phi, derivatives))


def fit_glmm(y, X, Z, groups, nagq: int = 1, plan=None, diagonal: bool = False) -> GlmmFit:
    """Fit a binomial (logit) GLMM by maximum likelihood (Laplace, or adaptive Gauss-Hermite
    with nagq > 1 for a random intercept alone), as glmer does; the optimum is verified.

    y: 0/1 (n,); X: n x p fixed design (first column the intercept); Z: n x q random design
    (first column the intercept); groups: integer codes 0..G-1, rows in any order.
    `plan` (optional) replaces the list of (method, start label, start phi) runs; the first run
    alone is tried first, the others only if its optimum fails verification. `diagonal`: the
    uncorrelated model (1 + x || g), covariances held at zero (start phis stay full)."""
    problem = Problem(y, X, Z, groups, nagq)
    q = problem.q
    glm = logistic(problem.y, problem.X)
    start_beta = np.where(np.isfinite(glm.beta), glm.beta, 0.0)
    cov0 = glm.cov if np.all(np.isfinite(glm.cov)) else np.eye(problem.p)
    try:
        scale = np.linalg.cholesky(cov0)
    except np.linalg.LinAlgError:
        scale = np.diag(np.sqrt(np.abs(np.diag(cov0))) + 1e-8)
    crit = _Criterion(problem, diagonal)
    nt = crit.nt
    plan = default_plan(q, start_beta) if plan is None else plan
    full_nt = n_theta(q)
    plan = [(m, label, crit.reduce(p[:full_nt], p[full_nt:])) for m, label, p in plan]
    attempts: list[Attempt] = []
    candidates: list[tuple[float, str, np.ndarray]] = []
    _candidates(crit, plan[:1], scale, attempts, candidates)
    best = _polish_and_verify(crit, candidates, attempts)
    if glm.separated:  # no optimum to find: other optimizers would only run further out
        note = f"separation: columns {list(glm.separated)} of X separate the outcome"
        attempts.append(Attempt("logistic regression", "separation check", None, note=note))
        best = replace(best, verified=False)
    elif not best.verified and len(plan) > 1:
        _candidates(crit, plan[1:], scale, attempts, candidates)
        candidates.append((best.value, best.winner, best.phi, None))
        best = _polish_and_verify(crit, candidates, attempts, escalated=True)

    phi = best.phi
    theta, beta = crit.split(phi)
    if not np.all(np.isfinite(phi)):
        raise FloatingPointError("no finite deviance was reached: the model could not be fitted")
    problem.count += 1
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
        separated=glm.separated,
        cond_cov=cond_cov,
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
