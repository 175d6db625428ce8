"""Find and verify the optimum of the exact criterion in lmm.py.

No single optimizer is trusted. The primary method is a trust-region Newton method on the
profiled criterion with its analytic gradient and Hessian (lmm.derivatives); its answer is
polished and verified: a Newton step must gain nothing and no nearby point may be better. Only
when that fails do other methods and starting points (scipy's L-BFGS-B, Powell and Nelder-Mead,
and statsmodels' own fits, handed in by ladder.py) join; every candidate is scored with the same
exact criterion and the best is polished and verified again. A result that fails verification is
reported as not converged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results import Attempt
from . import lmm, numderiv

DECREMENT_TOLERANCE = 1e-6  # deviance a Newton step could still gain at a verified optimum
GRADIENT_TOLERANCE = 1e-3  # on flat (boundary) directions, where curvature cannot measure the gap
NEIGHBOUR_TOLERANCE = 1e-6  # a neighbour better by more than this refutes the optimum
SINGULAR_TOLERANCE = 1e-4  # lme4's isSingular() default for the diagonal of Lambda
# What a gradient and a gradient with the Hessian cost, in criterion evaluations (measured at
# 10,000 groups with a random slope: 1.7 and 3.2), for the counts reported per attempt.
GRADIENT_COST = 2
DERIVATIVES_COST = 3
NEWTON = "trust-region Newton"


@dataclass(frozen=True)
class Optimum:
    theta: np.ndarray
    deviance: float
    optimizer: str
    attempts: tuple[Attempt, ...]
    verified: bool
    max_gradient: float
    decrement: float
    best_neighbour_gain: float
    singular: bool
    singular_terms: tuple[int, ...]  # indices of random terms whose variance is at zero


@dataclass(frozen=True)
class Verdict:
    decrement: float
    max_gradient: float
    verified: bool
    attempt: Attempt  # the "polish and verification" row of the attempts table


def verdict(
    value: float, grad, hess, gain: float, winner: str, evaluations: int, escalated: bool
) -> Verdict:
    """The verification rule, for the linear engine here and the logistic one (glmm.py): a
    Newton step gains less than DECREMENT_TOLERANCE (flat, boundary directions judged by the
    gradient) and no neighbour is better by NEIGHBOUR_TOLERANCE."""
    finite = bool(np.all(np.isfinite(grad)) and np.all(np.isfinite(hess)))
    decrement = numderiv.newton_decrement(grad, hess, GRADIENT_TOLERANCE) if finite else np.inf
    max_grad = (float(np.max(np.abs(grad))) if len(grad) else 0.0) if finite else np.inf
    verified = bool(
        np.isfinite(value) and decrement < DECREMENT_TOLERANCE and gain < NEIGHBOUR_TOLERANCE
    )
    attempt = Attempt(
        "polish and verification" + (" (after escalation)" if escalated else ""),
        winner,
        _finite_or_none(-value / 2),
        evaluations=evaluations,
        note="verified" if verified else "not verified",
    )
    return Verdict(decrement, max_grad, verified, attempt)


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def default_plan(q: int) -> list[tuple[str, str, np.ndarray]]:
    """(method, start label, start) runs (lme4 starts at identity): the primary method first,
    then, for escalation, three other methods and a second start.

    The second start gets the cheap quasi-Newton run only: the derivative-free methods cost five
    to ten times as many evaluations and, from a second start, rarely add anything the polish does
    not already find.
    """
    identity = lmm.theta_of(np.eye(q))
    small = 0.1 * identity
    return [
        (NEWTON, "identity", identity),
        ("L-BFGS-B", "identity", identity),
        ("Powell", "identity", identity),
        ("Nelder-Mead", "identity", identity),
        ("L-BFGS-B", "0.1 * identity", small),
    ]


def _trust_region_step(grad: np.ndarray, hess: np.ndarray, radius: float):
    """The step minimising the quadratic model within |step| <= radius (the exact solution of
    the trust-region subproblem by the eigen-decomposition: a handful of parameters), and the
    decrease the model predicts for it."""
    values, vectors = np.linalg.eigh((hess + hess.T) / 2)
    g = vectors.T @ grad

    def step_for(shift: float) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = -g / (values + shift)
        return np.where(np.isfinite(out), out, np.where(g == 0, 0.0, np.inf))

    low = max(0.0, -float(values[0]))
    step = step_for(low)
    length = float(np.linalg.norm(step))
    if length <= radius:
        if values[0] <= 0:  # the hard case: along the lowest curvature up to the boundary
            step[0] += np.sqrt(max(radius**2 - length**2, 0.0)) * (-1.0 if g[0] > 0 else 1.0)
    else:  # |step(shift)| = radius, found by bisection (it falls as the shift grows)
        high = low + float(np.linalg.norm(g)) / radius + 1e-300
        for _ in range(200):
            middle = 0.5 * (low + high)
            if middle in (low, high):
                break
            if np.linalg.norm(step_for(middle)) > radius:
                low = middle
            else:
                high = middle
        step = step_for(high)
    predicted = -float(g @ step + 0.5 * step @ (values * step))
    return vectors @ step, predicted


def _trust_newton(fun, start: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Trust-region Newton (Nocedal & Wright 2006, algorithm 4.1) with the exact Hessian: from
    the identity a random-slope fit takes about ten steps, each one gradient and Hessian and one
    criterion value. Stops when the quadratic model predicts a gain below a hundredth of the
    verification's tolerance (or the region shrinks to nothing)."""
    theta = np.asarray(start, float).copy()
    value = fun(theta)
    radius = 1.0
    if not np.isfinite(value):
        return theta
    for _ in range(max_iter):
        grad, hess = _derivatives(fun, theta)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            break
        step, predicted = _trust_region_step(grad, hess, radius)
        if not predicted > 1e-2 * DECREMENT_TOLERANCE:
            break
        candidate = theta + step
        candidate_value = fun(candidate)
        gain = value - candidate_value if np.isfinite(candidate_value) else -np.inf
        ratio = gain / predicted
        length = float(np.linalg.norm(step))
        if ratio < 0.25:
            radius = 0.25 * length
        elif ratio > 0.75 and length > 0.8 * radius:
            radius = 2.0 * radius
        if gain > 0:
            theta, value = candidate, candidate_value
        if radius < 1e-12 * max(1.0, float(np.linalg.norm(theta))):
            break
    return theta


def _run(method: str, start: np.ndarray, fun, tight: bool = False) -> np.ndarray:
    # Budgets scale with the number of parameters; the polish step (tight) goes further.
    # L-BFGS-B gets the analytic gradient when the criterion has one. It stops at a relative
    # change of 1e-10: Newton polish finishes the job, and tighter stops only chase the
    # criterion's rounding noise (evaluations tripled on the exam random slope).
    if method == NEWTON:
        return _trust_newton(fun, start)
    from scipy.optimize import minimize  # only when escalating: its import costs ~0.2 s

    k = len(start)
    options = {
        "L-BFGS-B": {
            "maxiter": 1000,
            "ftol": 1e-15 if tight else 1e-10,
            "gtol": 1e-9 if tight else 1e-6,
        },
        "Nelder-Mead": {
            "maxfev": 400 * k * (3 if tight else 1),
            "xatol": 1e-8 if tight else 1e-6,
            "fatol": 1e-10 if tight else 1e-8,
        },
        "Powell": {"maxfev": 400 * k, "xtol": 1e-6, "ftol": 1e-10},
    }[method]
    jac = getattr(fun, "grad", None) if method == "L-BFGS-B" else None
    with np.errstate(all="ignore"):
        result = minimize(fun, start, method=method, jac=jac, options=options)
    return np.asarray(result.x, float)


def _best_neighbour_gain(fun, theta: np.ndarray, value: float, seed: int = 0) -> float:
    """How much lower the criterion gets at nearby points (positive means the optimum is refuted).

    Both signs of every axis and 2k random directions, at two distances: the Newton decrement
    already speaks for the immediate neighbourhood, so this looks a little further out, where a
    kink or a boundary could hide a better point."""
    rng = np.random.default_rng(seed)
    k = len(theta)
    directions = [np.eye(k)[i] * sign for i in range(k) for sign in (1, -1)]
    directions += [d / np.linalg.norm(d) for d in rng.normal(size=(2 * k, k))]
    gain = -np.inf
    for scale in (1e-3, 1e-2):
        for direction in directions:
            step = scale * np.maximum(1.0, np.abs(theta)) * direction
            gain = max(gain, value - fun(theta + step))
    return float(gain)


def _derivatives(fun, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian: analytic when the criterion has them (the cost of about three
    evaluations, against 2k gradients for differences of the analytic gradient), else central
    differences of its gradient or of its values."""
    if hasattr(fun, "derivatives"):
        return fun.derivatives(theta)
    if hasattr(fun, "grad"):
        return fun.grad(theta), numderiv.jacobian_of_gradient(fun.grad, theta)
    return numderiv.gradient(fun, theta), numderiv.hessian(fun, theta)


def _newton_polish(fun, theta: np.ndarray, value: float, steps: int = 25):
    """Newton steps with step halving; returns (theta, value, derivatives at theta or None), or
    (theta, nan, derivatives or None) where the criterion is not locally convex (a boundary, a
    ridge), so the caller knows to try something else unless the point is already settled. A
    step whose predicted gain is negligible is not taken: the derivatives already computed then
    serve the verification, which needs the same ones."""
    for _ in range(steps):
        grad, hess = _derivatives(fun, theta)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            return theta, float("nan"), None
        values, vectors = np.linalg.eigh((hess + hess.T) / 2)
        if np.any(values <= 0):
            return theta, float("nan"), (grad, hess)
        step = vectors @ ((vectors.T @ grad) / values)
        if float(grad @ step) < 1e-3 * DECREMENT_TOLERANCE:
            return theta, value, (grad, hess)
        for _halving in range(30):
            candidate = theta - step
            candidate_value = fun(candidate)
            if candidate_value < value:
                break
            step = step / 2
        else:
            break
        improvement = value - candidate_value
        theta, value = candidate, candidate_value
        if improvement < 1e-11:
            break
    return theta, value, None


class _Counted:
    """The criterion, counting its evaluations (reported per attempt in results.json).

    With `diagonal` (the uncorrelated model, lme4's (1 + x || g)) the optimizer sees only the
    diagonal of Lambda: the off-diagonal entries are held at zero. The map is a selection, so
    the gradient and Hessian are the full ones' free entries, exactly."""

    def __init__(self, sums: lmm.GroupSums, reml: bool, diagonal: bool = False):
        self.sums, self.reml, self.count = sums, reml, 0
        rows, cols = lmm.theta_positions(sums.q)
        self.free = np.flatnonzero(rows == cols) if diagonal else np.arange(len(rows))

    def full(self, x) -> np.ndarray:
        theta = np.zeros(lmm.n_theta(self.sums.q))
        theta[self.free] = x
        return theta

    def reduce(self, theta) -> np.ndarray:
        return np.asarray(theta, float)[self.free]

    def canonical(self, x) -> np.ndarray:
        return self.reduce(lmm.canonical_theta(self.full(x), self.sums.q))

    def lambda_of(self, x) -> np.ndarray:
        return lmm.lambda_of(self.full(x), self.sums.q)

    def __call__(self, x) -> float:
        self.count += 1
        return lmm.deviance(self.full(x), self.sums, self.reml)

    def grad(self, x) -> np.ndarray:
        self.count += GRADIENT_COST
        try:
            value = lmm.gradient(self.full(x), self.sums, self.reml)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.full(len(x), np.nan)
        return value[self.free]

    def derivatives(self, x) -> tuple[np.ndarray, np.ndarray]:
        self.count += DERIVATIVES_COST
        k = len(x)
        try:
            with np.errstate(all="ignore"):
                grad, hess = lmm.derivatives(self.full(x), self.sums, self.reml)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.full(k, np.nan), np.full((k, k), np.nan)
        return grad[self.free], hess[np.ix_(self.free, self.free)]


def find_optimum(
    sums: lmm.GroupSums,
    reml: bool,
    external: list[tuple[Attempt, np.ndarray | None]] = (),
    plan: list[tuple[str, str, np.ndarray]] | None = None,
    escalation=None,
    diagonal: bool = False,
) -> Optimum:
    """The verified optimum. The first run of the plan (with any `external` candidates) is
    tried alone, polished and verified; only if verification fails do the other runs (other
    methods, other starts) and the candidates of `escalation()` (e.g. statsmodels' fits, costly)
    join, and the best of all is polished and verified again. So a fit pays for one optimizer
    and one verification unless something is wrong. `diagonal`: the uncorrelated model
    (covariances held at zero); starts and candidates are full thetas, reduced to its diagonal,
    and the optimum's theta is full (zeros off the diagonal)."""
    plan = default_plan(sums.q) if plan is None else plan
    fun = _Counted(sums, reml, diagonal)
    attempts: list[Attempt] = []
    candidates: list[tuple[float, str, np.ndarray]] = []
    _candidates(fun, plan[:1], external, attempts, candidates)
    best = _polish_and_verify(fun, candidates, attempts)
    if not best.verified and (len(plan) > 1 or escalation is not None):
        later = escalation() if escalation is not None else ()
        _candidates(fun, plan[1:], later, attempts, candidates)
        best = _polish_and_verify(fun, candidates, attempts, escalated=True)
    return best


def _candidates(fun, runs, external, attempts: list, candidates: list) -> None:
    for method, label, start in runs:
        before = fun.count
        theta = fun.canonical(_run(method, fun.reduce(start), fun))
        value = fun(theta)
        attempts.append(
            Attempt(
                f"profiled {method}",
                label,
                _finite_or_none(-value / 2),
                evaluations=fun.count - before,
            )
        )
        candidates.append((value, f"profiled {method}", theta))
    for attempt, theta in external:
        if theta is None:
            attempts.append(attempt)
            continue
        theta = fun.canonical(fun.reduce(theta))
        value = fun(theta)
        attempts.append(
            Attempt(
                attempt.optimizer,
                attempt.start,
                _finite_or_none(-value / 2),
                attempt.loglik_reported,
                attempt.converged_reported,
                attempt.note,
            )
        )
        candidates.append((value, attempt.optimizer, theta))


def _snap_to_boundary(fun, theta: np.ndarray, value: float) -> tuple[np.ndarray, float]:
    """A variance that converged to a rounding-level value (say 1e-16) is put exactly on its
    boundary, as lme4's bounded optimizer leaves it, when the criterion does not get worse:
    downstream, zero means zero (no ICC of 1e-32)."""
    lam = fun.lambda_of(theta)
    tiny = np.flatnonzero((np.abs(np.diag(lam)) < 1e-7) & (np.diag(lam) != 0))
    if not len(tiny):
        return theta, value
    lam[tiny, tiny] = 0.0
    snapped = fun.reduce(lmm.theta_of(lam))
    snapped_value = fun(snapped)
    if snapped_value <= value + 1e-10:
        return snapped, min(value, snapped_value)
    return theta, value


def _settled(derivatives) -> bool:
    """Whether a point where Newton declined already passes the Newton-decrement test (flat
    directions with a negligible gradient, as on a ridge of equally good parameters): then a
    simplex search there can only chase rounding, and the neighbour check still looks around."""
    if derivatives is None:
        return False
    grad, hess = derivatives
    if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
        return False
    return numderiv.newton_decrement(grad, hess, GRADIENT_TOLERANCE) < DECREMENT_TOLERANCE


def _polish_and_verify(fun, candidates, attempts, escalated: bool = False) -> Optimum:
    q = fun.sums.q
    finite = [c for c in candidates if np.isfinite(c[0])]
    if not finite:
        nan = np.full(lmm.n_theta(q), np.nan)
        return Optimum(
            nan, np.inf, "none", tuple(attempts), False, np.inf, np.inf, np.inf, False, ()
        )
    value, winner, theta = min(finite, key=lambda c: c[0])
    before = fun.count

    # Polish: Newton steps on the exact criterion, then a tight simplex search, each kept only if
    # it improves. On large data the criterion is in the millions and quasi-Newton methods with
    # finite-difference gradients stop early on rounding noise; Newton with wider steps does not.
    polished, polished_value, derivatives = _newton_polish(fun, theta, value)
    newton_declined = np.isnan(polished_value)  # not locally convex, e.g. at a boundary
    if polished_value < value - 1e-9:
        value, theta = polished_value, fun.canonical(polished)
        winner = f"{winner} + Newton polish"
    elif newton_declined and not _settled(derivatives):  # a tight simplex search instead
        polished = fun.canonical(_run("Nelder-Mead", theta, fun, tight=True))
        polished_value = fun(polished)
        if polished_value < value - 1e-9:
            value, theta, winner = polished_value, polished, f"{winner} + Nelder-Mead polish"

    theta, value = _snap_to_boundary(fun, theta, value)
    if derivatives is None or not np.array_equal(theta, polished):  # computed elsewhere
        derivatives = _derivatives(fun, theta)
    grad, hess = derivatives
    gain = _best_neighbour_gain(fun, theta, value)
    judged = verdict(value, grad, hess, gain, winner, fun.count - before, escalated)
    attempts.append(judged.attempt)
    decrement, max_grad, verified = judged.decrement, judged.max_gradient, judged.verified
    diag = np.diag(fun.lambda_of(theta))
    singular_terms = tuple(int(i) for i in np.flatnonzero(diag < SINGULAR_TOLERANCE))
    return Optimum(
        theta=fun.full(theta),
        deviance=float(value),
        optimizer=winner,
        attempts=tuple(attempts),
        verified=verified,
        max_gradient=max_grad,
        decrement=decrement,
        best_neighbour_gain=max(gain, 0.0),
        singular=bool(singular_terms),
        singular_terms=singular_terms,
    )
