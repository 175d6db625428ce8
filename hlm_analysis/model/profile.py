"""Profile-likelihood confidence intervals for variance components, as lme4's
confint(method = "profile") gives them, at any number of groups.

The parameters are those a reader sees: each random effect's SD, each correlation, and the
residual SD (phi, in that order). As lme4 does (even for a REML fit, which it refits by ML
first), the ML deviance with the fixed effects profiled out is the criterion: for one parameter
held at a value, it is minimised over the others; the 95% interval is where that profile rises
3.84 (chi-square, 1 df) above the optimum. Each profile point is a constrained fit on the group
sums: trust-region Newton over the other parameters (log SDs, atanh correlations) with the
analytic derivatives of lmm.py carried over by the chain rule, warm-started from the nearest
point already profiled, so a point costs a few criterion evaluations whatever the row count.

Boundaries are exact: where a parameter has an edge on one side (an SD's 0, a correlation's
+-1), the profile is evaluated at the edge first; if it is still within 3.84 there, the bound IS
the edge (lme4's [0, ...] and [-1, 1]); otherwise Brent's method runs in the bracket between the
estimate and the edge, which always holds the crossing. Upwards (and for the residual SD
downwards) the walk grows from a Wald guess until it brackets. A bound that cannot be found (the
profile never reaches 3.84: a flat profile; the constrained fits fail) falls back to the Wald
interval on the log-SD / atanh scale when that exists, and each row says which method it got
and why (`Interval.method`, `Interval.note`), so the report can name the method it prints.

Binary models (glmer's profile) use the same machinery on their profiled deviance (beta
re-optimised at each theta, glmm.Problem), with no residual SD and numerical derivatives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from . import lmm, numderiv, optimize

CHI2_95 = 3.841458820694124
PROFILE = "profile"
WALD = "wald"
NOT_A_PARAMETER = "not a parameter of this model"  # an uncorrelated model's correlations
# Beyond this many groups times squared random terms the constrained fits of a profile (about a
# hundred, each a few criterion evaluations costing O(groups q^2)) would dominate the ladder's
# time; Wald intervals on the log-SD scale, which many groups make close to the profile, are used
# and the rows say so. 10,000 groups with a random slope (q = 2) profile in well under a second.
MAX_PROFILE_WORK = 200_000
# A constrained fit that cannot be evaluated counts as far beyond the cutoff (the parameter
# space's edge for correlations of three or more terms).
_BEYOND = 1e3
# Each point of a logistic model's profile re-optimises beta (and with random slopes the other
# variance parameters) over every row, a few gradients per Newton step: beyond this many rows,
# divided by the squared number of random terms, the intervals are not computed (the rows say
# so). A random intercept at 200,000 rows costs about 1.5 s.
MAX_BINARY_ROWS = 500_000
_WALK_STEPS = 60
GAIN_TOLERANCE = 1e-6  # deviance a constrained fit's last Newton step may still leave


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    method: str | None  # PROFILE, WALD, or None when no interval could be computed
    note: str | None = None  # why the method is not the profile, or what its bounds mean


@cache
def _cor_positions(q: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each correlation in phi (the lower triangle, row-major); cached, as the
    profile's chain rule unpacks phi thousands of times (np.tril_indices each time was a third
    of the intervals' cost)."""
    rows, cols = np.tril_indices(q, -1)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def _unpack(phi: np.ndarray, q: int):
    """(SDs, correlation matrix, sigma) from phi = SDs, correlations (lower triangle), sigma."""
    sds = phi[:q]
    corr = np.eye(q)
    rows, cols = _cor_positions(q)
    cors = phi[q : q + len(rows)]
    corr[rows, cols] = cors
    corr[cols, rows] = cors
    return sds, corr, phi[-1]


def _theta(phi: np.ndarray, q: int, sigma: float | None = None) -> np.ndarray | None:
    """lme4's theta (Lambda relative to sigma) of phi; None outside the parameter space.
    `sigma` given: phi has no residual SD (a binary model: Lambda itself)."""
    if sigma is None:
        sds, corr, sigma = _unpack(phi, q)
    else:
        sds, corr, _ = _unpack(np.append(phi, sigma), q)
    if not sigma > 0 or np.any(sds < 0) or np.any(np.abs(corr) > 1):
        return None
    rel = sds / sigma
    # Cholesky of the correlation matrix (zero pivots allowed), scaled by the relative SDs: the
    # profile's chain rule calls this thousands of times, so no eigen-decomposition here
    lam = np.zeros((q, q))
    for j in range(q):
        pivot = 1.0 - lam[j, :j] @ lam[j, :j]
        if pivot < -1e-10:  # the correlations are not a correlation matrix
            return None
        if pivot <= 1e-12:
            continue
        lam[j, j] = np.sqrt(pivot)
        for i in range(j + 1, q):
            lam[i, j] = (corr[i, j] - lam[i, :j] @ lam[j, :j]) / lam[j, j]
    return lmm.theta_of(rel[:, None] * lam)


def deviance_at(phi: np.ndarray, sums: lmm.GroupSums) -> float:
    theta = _theta(phi, sums.q)
    if theta is None:
        return np.inf
    try:
        value = lmm.full_ml_deviance(theta, float(phi[-1]), sums)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError):
        return np.inf
    return float(value) if np.isfinite(value) else np.inf


def parameters(theta: np.ndarray, sigma: float, q: int) -> np.ndarray:
    lam = lmm.lambda_of(theta, q)
    cov = sigma**2 * lam @ lam.T
    sds = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sds, sds)
    cors = np.nan_to_num(corr[np.tril_indices(q, -1)], nan=0.0)
    return np.concatenate([sds, np.clip(cors, -1.0, 1.0), [sigma]])


def _edges(q: int, residual: bool = True) -> list[tuple[float, float]]:
    n_cor = q * (q - 1) // 2
    return [(0.0, np.inf)] * q + [(-1.0, 1.0)] * n_cor + ([(0.0, np.inf)] if residual else [])


def _to_free(values: np.ndarray, is_cor: np.ndarray) -> np.ndarray:
    return np.where(
        is_cor, np.arctanh(np.clip(values, -0.999999, 0.999999)), np.log(np.maximum(values, 1e-8))
    )


def _from_free(z: np.ndarray, is_cor: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # a far-out trial step: an infinite SD, refused later
        return np.where(is_cor, np.tanh(z), np.exp(z))


@dataclass
class _Criterion:
    """The deviance as a function of phi, and (linear models) its derivatives in phi's free
    coordinates by the chain rule from the analytic ones in x = (theta, sigma)."""

    value: Callable[[np.ndarray], float]
    to_x: Callable[[np.ndarray], np.ndarray | None] | None = None
    x_derivatives: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    newton_steps: int = 50  # per profile point
    # binary models: the glmm.Problem and its fixed effects at the optimum, which each
    # constrained fit re-optimises jointly with the other variance parameters (_BinaryFixed)
    problem: object = None
    beta: np.ndarray | None = None


class _Fixed:
    """The deviance over the free coordinates z of phi's other parameters, one held at a value:
    what optimize._trust_newton minimises at each profile point."""

    def __init__(self, crit: _Criterion, base: np.ndarray, k: int, value: float, others, is_cor):
        self.crit, self.others, self.is_cor = crit, others, is_cor
        self.phi = base.copy()
        self.phi[k] = value

    def phi_of(self, z: np.ndarray) -> np.ndarray:
        phi = self.phi.copy()
        phi[self.others] = _from_free(z, self.is_cor[self.others])
        return phi

    def __call__(self, z: np.ndarray) -> float:
        return self.crit.value(self.phi_of(z))

    def derivatives(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.crit.x_derivatives is None:
            return numderiv.gradient(self, z), numderiv.hessian(self, z)
        to_x = self.crit.to_x

        def x_of(v: np.ndarray) -> np.ndarray:
            x = to_x(self.phi_of(v))
            return x if x is not None else np.full(len(x0), np.nan)

        x0 = to_x(self.phi_of(z))
        if x0 is None:
            return np.full(len(z), np.nan), np.full((len(z), len(z)), np.nan)
        try:
            with np.errstate(all="ignore"):
                grad, hess = self.crit.x_derivatives(x0)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.full(len(z), np.nan), np.full((len(z), len(z)), np.nan)
        J = numderiv.jacobian(x_of, z)
        H = J.T @ hess @ J + numderiv.hessian(lambda v: float(grad @ x_of(v)), z)
        return J.T @ grad, (H + H.T) / 2


class _BinaryFixed:
    """A logistic model's deviance over w = (free coordinates z of the other variance
    parameters, beta), one parameter held at a value: its gradient from glmm's analytic one by
    the chain rule through phi -> theta (a small numerical Jacobian), its Hessian by forward
    differences of that gradient. Re-optimising beta jointly, not nested, costs a few gradients
    per Newton step instead of a fit of beta per deviance."""

    def __init__(self, crit: _Criterion, base: np.ndarray, k: int, value: float, others, is_cor):
        self.problem, self.others, self.is_cor = crit.problem, others, is_cor
        self.phi = base.copy()
        self.phi[k] = value
        self.m = len(others)

    def theta_of(self, z: np.ndarray) -> np.ndarray | None:
        phi = self.phi.copy()
        phi[self.others] = _from_free(z, self.is_cor[self.others])
        return _theta(phi, self.problem.q, sigma=1.0)

    def __call__(self, w: np.ndarray) -> float:
        theta = self.theta_of(w[: self.m])
        if theta is None:
            return np.inf
        return float(self.problem.deviance(theta, w[self.m :]))

    def gradient(self, w: np.ndarray) -> np.ndarray:
        z, beta = w[: self.m], w[self.m :]
        theta = self.theta_of(z)
        if theta is None:
            return np.full(len(w), np.nan)
        _, grad = self.problem.value_and_gradient(theta, beta)
        nt = len(theta)
        if not self.m:
            return grad[nt:]

        def theta_at(v):
            t = self.theta_of(v)
            return t if t is not None else np.full(nt, np.nan)

        J = numderiv.jacobian(theta_at, z)
        return np.concatenate([J.T @ grad[:nt], grad[nt:]])

    def derivatives(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g0 = self.gradient(w)
        if not np.all(np.isfinite(g0)):
            return g0, np.full((len(w), len(w)), np.nan)
        h = 1e-6 * np.maximum(np.abs(w), 1e-2)
        cols = []
        for i in range(len(w)):
            e = np.zeros(len(w))
            e[i] = h[i]
            cols.append((self.gradient(w + e) - g0) / h[i])
        H = np.column_stack(cols)
        return g0, (H + H.T) / 2


def _minimise(
    fun: _Fixed, z: np.ndarray, steps: int, value: float | None = None
) -> tuple[np.ndarray, float]:
    """Trust-region Newton (optimize's step) from a warm start, stopping as soon as a step
    predicted or achieved to gain less than GAIN_TOLERANCE has been tried: a profile point needs
    its deviance to ~1e-6 (a bound then moves by ~1e-7 of the interval's width), not the fit's
    verification, so the last confirming derivatives are not computed. `value`: fun(z), when
    the caller has it."""
    value = fun(z) if value is None else value
    if not np.isfinite(value):
        return z, value
    radius = 1.0
    for _ in range(steps):
        grad, hess = fun.derivatives(z)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            break
        step, predicted = optimize._trust_region_step(grad, hess, radius)
        if not predicted > 1e-12:
            break
        candidate = z + step
        candidate_value = fun(candidate)
        gain = value - candidate_value if np.isfinite(candidate_value) else -np.inf
        length = float(np.linalg.norm(step))
        if gain < 0.25 * predicted:
            radius = 0.25 * length
        elif gain > 0.75 * predicted and length > 0.8 * radius:
            radius = 2.0 * radius
        if gain > 0:
            z, value = candidate, candidate_value
        # settled: the model predicts, or the step achieved, less than the tolerance (a log SD
        # sliding towards zero gains geometrically less per step; what is left is of that order)
        if predicted < GAIN_TOLERANCE or 0 < gain < GAIN_TOLERANCE or radius < 1e-12:
            break
    return z, value


class _Profile:
    """One parameter's profile: the excess of the constrained deviance over the optimum's,
    minus 3.84, with each point warm-started from the nearest point already evaluated."""

    def __init__(self, crit: _Criterion, best: np.ndarray, base: float, k: int, free, is_cor):
        self.crit, self.best, self.base, self.k, self.is_cor = crit, best, base, k, is_cor
        self.others = np.array([i for i in np.flatnonzero(free) if i != k], dtype=int)
        start = _to_free(best[self.others], is_cor[self.others])
        if crit.beta is not None:
            start = np.concatenate([start, crit.beta])
        self.points: dict[float, tuple[float, np.ndarray]] = {float(best[k]): (-CHI2_95, start)}

    def __call__(self, value: float) -> float:
        value = float(value)
        if value in self.points:
            return self.points[value][0]
        nearest = sorted(self.points, key=lambda v: abs(v - value))
        start = self.points[nearest[0]][1]
        kind = _Fixed if self.crit.problem is None else _BinaryFixed
        fixed = kind(self.crit, self.best, self.k, value, self.others, self.is_cor)
        if len(start):
            start, start_value = self._start(fixed, value, nearest, start)
            z, deviance = _minimise(fixed, start, self.crit.newton_steps, start_value)
        else:
            z, deviance = start, fixed(start)
        excess = deviance - self.base - CHI2_95 if np.isfinite(deviance) else _BEYOND
        self.points[value] = (float(excess), z)
        return float(excess)

    def _start(self, fixed, value: float, nearest: list[float], start: np.ndarray):
        """(start, its deviance): the nearest point's optimum, or, for a linear model, the line
        through the two nearest points' optima carried to `value` when that starts lower. The
        optima move smoothly along the profile, so the line starts within a Newton step or so
        of the answer (a third fewer derivative evaluations, each ~5 ms at 20,000 groups)."""
        start_value = fixed(start)
        if self.crit.problem is not None or len(nearest) < 2:
            return start, start_value
        (e1, z1), (e2, z2) = self.points[nearest[0]], self.points[nearest[1]]
        if max(e1, e2) >= _BEYOND or nearest[0] == nearest[1]:
            return start, start_value
        with np.errstate(all="ignore"):  # a line carried far out: an infinite SD, refused
            line = z1 + (value - nearest[0]) / (nearest[1] - nearest[0]) * (z2 - z1)
            line_value = fixed(line) if np.all(np.isfinite(line)) else np.inf
        if np.isfinite(line_value) and not line_value >= start_value:
            return line, line_value
        return start, start_value


class _NoBound(Exception):
    """A bound the profile could not give; the message says why, in words for the report."""


def _root(profile: _Profile, inside: float, outside: float, scale: float) -> float:
    """The crossing between a point inside the 95% region and one beyond it."""

    def signed(v: float) -> float:  # the square-root (zeta) scale is close to linear
        e = profile(v)
        return float(np.sqrt(max(e + CHI2_95, 0.0)) - np.sqrt(CHI2_95))

    a, b = sorted((inside, outside))
    try:
        return float(numderiv.find_root(signed, a, b, xtol=1e-6 * scale))
    except ValueError:  # the two ends turned out on one side (a non-monotone profile)
        raise _NoBound("the profile is not monotone between the estimate and the bound") from None


def _bound(profile: _Profile, sign: float, edge: tuple[float, float], guess: float) -> tuple:
    """(bound, at_edge) on one side of the estimate."""
    best = float(profile.best[profile.k])
    lo_edge, hi_edge = edge
    limit = lo_edge if sign < 0 else hi_edge
    scale = max(abs(best), guess if np.isfinite(guess) else 0.0, 1e-3)
    if np.isfinite(limit):
        # an SD's zero or a correlation's +-1: the bound is the edge when the profile is
        # still inside the 95% region there, else the crossing lies between
        if best == limit:
            return float(limit), True
        # first just past the Wald distance towards the edge (many groups make it within ~1%
        # of the bound): beyond the cutoff there, the crossing lies between, and the edge's
        # constrained fit (near a singular covariance, up to 26 Newton steps) is not needed;
        # inside, it narrows the bracket
        inside = best
        probe = best + sign * 1.05 * guess if np.isfinite(guess) and guess > 0 else limit
        if sign * (limit - probe) > 0:
            if profile(probe) >= 0:
                return _root(profile, best, probe, scale), False
            inside = probe
        if profile(limit) < 0:
            return float(limit), True
        return _root(profile, inside, float(limit), scale), False
    # no edge (an SD upwards, the residual SD downwards): walk out until it brackets
    step = 1.05 * guess if np.isfinite(guess) and guess > 0 else 0.5 * scale
    inside = best
    for _ in range(_WALK_STEPS):
        candidate = inside + sign * step
        if candidate <= 0:  # towards zero (the residual SD): halve the distance instead
            candidate = inside / 2
        excess = profile(candidate)
        if excess >= 0:
            return _root(profile, inside, candidate, scale), False
        inside = candidate
        # sqrt(excess + 3.84) grows near linearly with the distance from the estimate: aim 5%
        # past where that line reaches sqrt(3.84) when it is nearer than doubling the step, so
        # the bracket is tight and its far end not a costly fit far out (at 20,000 groups the
        # Wald guess lands within 1% of the bound, doubling 3 times as far)
        reach = abs(inside - best)
        rise = np.sqrt(max(excess + CHI2_95, 0.0))
        aim = 1.05 * reach * np.sqrt(CHI2_95) / rise if rise > 0 else np.inf
        step = min(2.0 * step, aim - reach)
    raise _NoBound("the profile stays flat: the data do not bound this parameter")


def _profile_all(
    crit: _Criterion, best: np.ndarray, edges, free: np.ndarray, guesses: np.ndarray
) -> list[tuple[float, float, str | None]]:
    """(low, high, note) per parameter of phi; NaN where no bound could be found (note why)."""
    base = crit.value(best)
    is_cor = np.array([lo == -1.0 for lo, _ in edges])
    out = []
    for k in range(len(best)):
        if not free[k]:
            out.append((np.nan, np.nan, NOT_A_PARAMETER))
            continue
        if not np.isfinite(base):
            out.append((np.nan, np.nan, "the deviance cannot be evaluated at the estimate"))
            continue
        profile = _Profile(crit, best, base, k, free, is_cor)
        out.append(
            profiled_limits(lambda sign, p=profile, k=k: _bound(p, sign, edges[k], guesses[k]),
                            best[k])
        )  # fmt: skip
    return out


def profiled_limits(search, estimate: float, at_zero: str | None = None):
    """Both 95% limits of one parameter, (low, high, note): `search(sign)` walks the profile
    from `estimate` down (-1) or up (+1) and gives (limit, whether it stopped at an edge of the
    parameter space). `at_zero` is said when a search stops at an estimate of zero."""
    bounds, notes, reached = [], [], []
    for sign in (-1.0, 1.0):
        try:
            bound, at_edge = search(sign)
        except _NoBound as why:
            bound, at_edge = np.nan, False
            notes.append(str(why))
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as error:
            # numerical trouble in a constrained fit costs this bound, never the run
            bound, at_edge = np.nan, False
            notes.append(f"the profile could not be evaluated ({type(error).__name__})")
        bounds.append(bound)
        if at_edge and bound != estimate:
            reached.append("zero" if bound == 0 else f"{bound:+g}")
        if at_zero and at_edge and bound == estimate == 0:
            notes.append(at_zero)
    if reached:
        notes.append("the profile stays within the 95% region up to " + " and ".join(reached))
    return bounds[0], bounds[1], "; ".join(dict.fromkeys(notes)) or None


def _merge(profiled, wald: np.ndarray, free: np.ndarray) -> list[Interval]:
    """Profile bounds where found, else the Wald interval (saying why), else none (saying why)."""
    out = []
    for k, (low, high, note) in enumerate(profiled):
        if not free[k]:
            out.append(Interval(None, None, None, note))
        elif np.isfinite(low) and np.isfinite(high):
            out.append(Interval(float(low), float(high), PROFILE, note))
        elif np.all(np.isfinite(wald[k])):
            out.append(
                Interval(float(wald[k, 0]), float(wald[k, 1]), WALD,
                         f"Wald on the log-SD / atanh scale: {note}")
            )  # fmt: skip
        else:
            out.append(Interval(None, None, None, note))
    return out


def linear_intervals(
    theta: np.ndarray, sigma: float, sums: lmm.GroupSums, diagonal: bool = False
) -> list[Interval]:
    """Intervals for phi = (SDs, correlations, residual SD) of a linear mixed model at its ML
    optimum (theta, sigma); `diagonal`: the uncorrelated model (1 + x || g), whose correlations
    are held at zero and get no interval."""
    q = sums.q
    best = parameters(theta, sigma, q)
    free = np.ones(len(best), bool)
    if diagonal:
        free[q:-1] = False
    wald = wald_intervals(theta, sigma, sums, diagonal)
    if sums.n_groups * q * q > MAX_PROFILE_WORK:
        note = (
            f"Wald on the log-SD / atanh scale: with {sums.n_groups:,} groups the profile "
            "(about a hundred constrained fits) is not run; so many groups make the two agree"
        )
        return [
            Interval(float(w[0]), float(w[1]), WALD, note)
            if f and np.all(np.isfinite(w))
            else Interval(None, None, None, note if f else NOT_A_PARAMETER)
            for w, f in zip(wald, free, strict=True)
        ]

    def to_x(phi: np.ndarray) -> np.ndarray | None:
        th = _theta(phi, q)
        return None if th is None else np.append(th, phi[-1])

    def x_derivatives(x: np.ndarray):
        return lmm.full_ml_derivatives(x[:-1], float(x[-1]), sums)

    crit = _Criterion(lambda phi: deviance_at(phi, sums), to_x, x_derivatives)
    # where to look first: the Wald half-width, else a tenth of the largest SD
    fallback = 0.1 * max(float(np.max(best[:q])), sigma)
    guesses = np.where(np.isfinite(wald).all(axis=1), (wald[:, 1] - wald[:, 0]) / 2, fallback)
    # the residual SD has no usable edge (the deviance is infinite at zero): it is walked both ways
    edges = _edges(q)[:-1] + [(-np.inf, np.inf)]
    return _merge(_profile_all(crit, best, edges, free, guesses), wald, free)


def binary_intervals(
    theta: np.ndarray, problem, beta: np.ndarray, diagonal: bool = False
) -> list[Interval]:
    """glmer's profile intervals for phi = (SDs, correlations) of a logistic mixed model at its
    optimum (theta, beta); each point minimises the deviance (glmm.Problem: Laplace, or AGQ for
    a random intercept) over beta and, with random slopes, the other variance parameters
    jointly (_BinaryFixed). `diagonal`: the uncorrelated model, whose correlations get none."""
    q = problem.q
    beta = np.asarray(beta, float)
    best = parameters(np.asarray(theta, float), 1.0, q)[:-1]
    free = np.ones(len(best), bool)
    if diagonal:  # the uncorrelated model: its correlations are held at zero, no parameters
        free[q:] = False

    if q == 1:
        # one parameter, nothing else to re-optimise but beta: glmm's own profiled deviance
        # (Newton on beta, warm-started from the last point) is the cheaper route (at 200,000
        # rows 1.5 s against 35 s for the joint Newton steps)
        problem.profiled_deviance(np.asarray(theta, float), beta)  # seeds the warm start

        def value(phi: np.ndarray) -> float:
            th = _theta(phi, q, sigma=1.0)
            out = np.inf if th is None else problem.profiled_deviance(th)
            return float(out) if np.isfinite(out) else np.inf

        crit = _Criterion(value)
    else:

        def value(phi: np.ndarray) -> float:  # at the optimum's beta: the base of the profile
            th = _theta(phi, q, sigma=1.0)
            return np.inf if th is None else float(problem.deviance(th, beta))

        crit = _Criterion(value, problem=problem, beta=beta)
    guesses = np.full(len(best), np.nan)
    profiled = _profile_all(crit, best, _edges(q, residual=False), free, guesses)
    return _merge(profiled, np.full((len(best), 2), np.nan), free)


def wald_intervals(
    theta: np.ndarray, sigma: float, sums: lmm.GroupSums, diagonal: bool = False
) -> np.ndarray:
    """(m, 2) 95% Wald intervals on log SDs and atanh correlations (from the curvature of the
    ML deviance there), transformed back: what many groups make nearly exact and cheap. An SD
    at zero (a boundary) gets none; with `diagonal` the correlations are no parameters (NaN).

    The curvature is the analytic Hessian of the ML deviance in (theta, sigma) carried to these
    coordinates z by the chain rule, J'HJ + sum_i g_i d2x_i/dz2 (x = (theta, sigma)); only the
    map from z to x, a few small matrix operations, is differentiated numerically."""
    q = sums.q
    best = parameters(theta, sigma, q)
    is_cor = np.array([lo == -1.0 for lo, _ in _edges(q)])
    free = ~is_cor if diagonal else np.ones(len(best), bool)
    out = np.full((len(best), 2), np.nan)
    if np.any(best[~is_cor] <= 1e-8) or np.any(np.abs(best[is_cor & free]) >= 1 - 1e-8):
        return out
    z = _to_free(best[free], is_cor[free])

    def to_x(v: np.ndarray) -> np.ndarray:
        phi = best.copy()
        phi[free] = _from_free(v, is_cor[free])
        th = _theta(phi, q)
        return np.append(th if th is not None else np.nan, phi[-1])

    try:
        x = to_x(z)
        grad, hess = lmm.full_ml_derivatives(x[:-1], float(x[-1]), sums)
        J = numderiv.jacobian(to_x, z)
        H = J.T @ hess @ J + numderiv.hessian(lambda v: float(grad @ to_x(v)), z)
        with np.errstate(invalid="ignore"):  # a ridge (unidentified direction): no interval
            se = np.sqrt(np.diag(2.0 * np.linalg.inv(H)))
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return out
    if not np.all(np.isfinite(se)):
        return out
    out[free, 0] = _from_free(z - 1.96 * se, is_cor[free])
    out[free, 1] = _from_free(z + 1.96 * se, is_cor[free])
    return out
