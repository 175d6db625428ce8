"""Central finite differences for the few-parameter criteria of lmm.py.

Steps are relative (with a floor) because the criteria can be large numbers (millions at
500,000 rows): a step too small would drown the difference in rounding error.
"""

from __future__ import annotations

import numpy as np


def _steps(x: np.ndarray, rel_step: float) -> np.ndarray:
    return rel_step * np.maximum(np.abs(x), 1e-2)


def gradient(fun, x: np.ndarray, rel_step: float = 1e-4) -> np.ndarray:
    h = _steps(x, rel_step)
    grad = np.zeros(len(x))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h[i]
        grad[i] = (fun(x + e) - fun(x - e)) / (2 * h[i])
    return grad


def hessian(fun, x: np.ndarray, rel_step: float = 1e-4) -> np.ndarray:
    k = len(x)
    h = _steps(x, rel_step)
    H = np.zeros((k, k))
    f0 = fun(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (fun(x + ei) - 2 * f0 + fun(x - ei)) / h[i] ** 2
        for j in range(i + 1, k):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (
                fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)
            ) / (4 * h[i] * h[j])
    return H


def jacobian_of_gradient(grad, x: np.ndarray, rel_step: float = 1e-4) -> np.ndarray:
    """The Hessian as central differences of an analytic gradient, symmetrised."""
    H = jacobian(grad, x, rel_step)
    return (H + H.T) / 2


def jacobian(fun, x: np.ndarray, rel_step: float = 1e-5) -> np.ndarray:
    h = _steps(x, rel_step)
    cols = []
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h[i]
        cols.append((fun(x + e) - fun(x - e)) / (2 * h[i]))
    return np.column_stack(cols)


def _richardson(estimate, x: np.ndarray, rel_step: float, levels: int):
    """Richardson extrapolation of a central-difference estimate over halving steps: the O(h^2)
    truncation error is removed level by level, so the steps can stay large, which keeps the
    criterion's rounding noise (divided by h^2) from dominating, as numDeriv does for lmerTest."""
    table = [estimate(rel_step / 2**k) for k in range(levels)]
    for level in range(1, levels):
        factor = 4.0**level
        table = [
            (factor * fine - coarse) / (factor - 1)
            for coarse, fine in zip(table[:-1], table[1:], strict=True)
        ]
    return table[0]


def hessian_richardson(fun, x: np.ndarray, rel_step: float = 2e-2, levels: int = 3) -> np.ndarray:
    return _richardson(lambda h: hessian(fun, x, h), x, rel_step, levels)


def jacobian_richardson(fun, x: np.ndarray, rel_step: float = 2e-2, levels: int = 3) -> np.ndarray:
    return _richardson(lambda h: jacobian(fun, x, h), x, rel_step, levels)


def newton_decrement(grad: np.ndarray, hess: np.ndarray, flat_tolerance: float) -> float:
    """How much a Newton step could still lower the criterion (0.5 g'H^-1 g).

    Directions of zero or negative curvature (a variance at the boundary) cannot be measured
    that way; there the gradient itself must be below `flat_tolerance`, or the result is inf.
    """
    values, vectors = np.linalg.eigh((hess + hess.T) / 2)
    along = vectors.T @ grad
    curved = values > 1e-8 * max(1.0, float(np.max(np.abs(values))))
    if np.any(np.abs(along[~curved]) > flat_tolerance):
        return float("inf")
    return float(0.5 * np.sum(along[curved] ** 2 / values[curved]))


def find_root(fun, a: float, b: float, xtol: float = 1e-12, maxiter: int = 200) -> float:
    """A root of `fun` in [a, b], where fun(a) and fun(b) differ in sign, by Brent's method
    (inverse quadratic interpolation, secant and bisection; Brent 1973, ch. 4), as scipy's
    brentq: here so that fitting does not import scipy.optimize (~0.2 s)."""
    fa, fb = fun(a), fun(b)
    if fa == 0:
        return float(a)
    if fb == 0:
        return float(b)
    if np.sign(fa) == np.sign(fb):
        raise ValueError("fun(a) and fun(b) must have different signs")
    c, fc = a, fa
    d = e = b - a
    for _ in range(maxiter):
        if np.sign(fb) == np.sign(fc):
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2.0 * np.finfo(float).eps * abs(b) + 0.5 * xtol
        m = 0.5 * (c - b)
        if abs(m) <= tol or fb == 0:
            return float(b)
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:  # secant
                p, q = 2.0 * m * s, 1.0 - s
            else:  # inverse quadratic interpolation
                q, r = fa / fc, fb / fc
                p = s * (2.0 * m * q * (q - r) - (b - a) * (r - 1.0))
                q = (q - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0:
                q = -q
            p = abs(p)
            if 2.0 * p < min(3.0 * m * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = m
        else:
            d = e = m
        a, fa = b, fb
        b += d if abs(d) > tol else (tol if m > 0 else -tol)
        fb = fun(b)
    return float(b)
