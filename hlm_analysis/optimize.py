"""Find and verify the optimum of the exact criterion in lmm.py.

No single optimizer is trusted. Candidates come from several methods and starting points
(including statsmodels' own fits, handed in by fit.py); every candidate is scored with the same
exact criterion, the best is polished, and then verified: the gradient must vanish and no nearby
point may be better. A result that fails verification is reported as not converged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from . import lmm
from .results import Attempt

GRADIENT_TOLERANCE = 1e-3  # deviance units per unit of theta (a relative standard deviation)
NEIGHBOUR_TOLERANCE = 1e-6  # a neighbour better by more than this refutes the optimum
SINGULAR_TOLERANCE = 1e-4  # lme4's isSingular() default for the diagonal of Lambda


@dataclass(frozen=True)
class Optimum:
    theta: np.ndarray
    deviance: float
    optimizer: str
    attempts: tuple[Attempt, ...]
    verified: bool
    max_gradient: float
    best_neighbour_gain: float
    singular: bool
    singular_terms: tuple[int, ...]  # indices of random terms whose variance is at zero


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def default_starts(q: int) -> list[tuple[str, np.ndarray]]:
    identity = lmm.theta_of(np.eye(q))
    return [("identity", identity), ("0.1 * identity", 0.1 * identity)]


def _run(method: str, start: np.ndarray, fun, tight: bool = False) -> np.ndarray:
    options = {
        "L-BFGS-B": {"maxiter": 2000, "ftol": 1e-15 if tight else 1e-12, "gtol": 1e-9},
        "Nelder-Mead": {"maxiter": 4000, "xatol": 1e-9 if tight else 1e-7, "fatol": 1e-12},
        "Powell": {"maxiter": 4000, "xtol": 1e-8, "ftol": 1e-13},
    }[method]
    with np.errstate(all="ignore"):
        result = minimize(fun, start, method=method, options=options)
    return np.asarray(result.x, float)


def gradient(fun, theta: np.ndarray, step: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        h = step * max(1.0, abs(theta[i]))
        e = np.zeros_like(theta)
        e[i] = h
        grad[i] = (fun(theta + e) - fun(theta - e)) / (2 * h)
    return grad


def _best_neighbour_gain(fun, theta: np.ndarray, value: float, seed: int = 0) -> float:
    """How much lower the criterion gets at nearby points (positive means the optimum is refuted)."""
    rng = np.random.default_rng(seed)
    k = len(theta)
    directions = [np.eye(k)[i] * sign for i in range(k) for sign in (1, -1)]
    directions += [d / np.linalg.norm(d) for d in rng.normal(size=(4 * k, k))]
    gain = -np.inf
    for scale in (1e-4, 1e-3, 1e-2):
        for direction in directions:
            step = scale * np.maximum(1.0, np.abs(theta)) * direction
            gain = max(gain, value - fun(theta + step))
    return float(gain)


def find_optimum(
    sums: lmm.GroupSums,
    reml: bool,
    external: list[tuple[Attempt, np.ndarray | None]] = (),
    methods: tuple[str, ...] = ("L-BFGS-B", "Nelder-Mead", "Powell"),
) -> Optimum:
    q = sums.q

    def fun(theta):
        return lmm.deviance(theta, sums, reml)

    attempts: list[Attempt] = []
    candidates: list[tuple[float, str, np.ndarray]] = []
    for label, start in default_starts(q):
        for method in methods:
            theta = lmm.canonical_theta(_run(method, start, fun), q)
            value = fun(theta)
            attempts.append(Attempt(f"profiled {method}", label, _finite_or_none(-value / 2)))
            candidates.append((value, f"profiled {method}", theta))
    for attempt, theta in external:
        if theta is None:
            attempts.append(attempt)
            continue
        theta = lmm.canonical_theta(theta, q)
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

    finite = [c for c in candidates if np.isfinite(c[0])]
    if not finite:
        nan = np.full(lmm.n_theta(q), np.nan)
        return Optimum(nan, np.inf, "none", tuple(attempts), False, np.inf, np.inf, False, ())
    value, winner, theta = min(finite, key=lambda c: c[0])

    # Polish: a tight local search from the best point; keep it only if it is better.
    for method in ("L-BFGS-B", "Nelder-Mead"):
        polished = lmm.canonical_theta(_run(method, theta, fun, tight=True), q)
        polished_value = fun(polished)
        if polished_value < value - 1e-12:
            value, theta, winner = polished_value, polished, f"{winner} + {method} polish"

    grad = gradient(fun, theta)
    gain = _best_neighbour_gain(fun, theta, value)
    max_grad = float(np.max(np.abs(grad))) if len(grad) else 0.0
    verified = bool(
        np.isfinite(value) and max_grad < GRADIENT_TOLERANCE and gain < NEIGHBOUR_TOLERANCE
    )
    diag = np.diag(lmm.lambda_of(theta, q))
    singular_terms = tuple(int(i) for i in np.flatnonzero(diag < SINGULAR_TOLERANCE))
    return Optimum(
        theta=theta,
        deviance=float(value),
        optimizer=winner,
        attempts=tuple(attempts),
        verified=verified,
        max_gradient=max_grad,
        best_neighbour_gain=max(gain, 0.0),
        singular=bool(singular_terms),
        singular_terms=singular_terms,
    )
