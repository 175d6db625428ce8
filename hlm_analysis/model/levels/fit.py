"""Fit several random-effect levels: find and verify the optimum of the exact criterion, then
what the report needs (beta's covariance, Satterthwaite df, conditional modes and variances).

The optimizer mirrors optimize.py's rule for two levels: a trust-region Newton method from
lme4's start (every Lambda_l the identity), a Newton polish, and a verification (a Newton step
gains nothing, no nearby point is better); only when verification fails do other methods and a
second start join, and the best of all is polished and verified again. The derivatives are
central differences of the criterion, which is cheap (one pass over the groups of each level).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ...data.sums import DesignSums
from ...results import Attempt
from .. import lmm, numderiv, optimize
from . import blocks
from .model import LevelsModel, ThetaLayout

SINGULAR_TOLERANCE = optimize.SINGULAR_TOLERANCE
SNAP_TOLERANCE = 1e-8  # deviance a snap to the boundary may cost (loglik 5e-9)


class _Criterion:
    """The profiled criterion over the free entries of theta, counting evaluations, with the
    interface optimize.py's Newton and verification steps use (`derivatives`, `grad`)."""

    def __init__(self, model: LevelsModel, reml: bool):
        self.model, self.reml, self.count = model, reml, 0
        # (the binary model's layout has no slope SDs: its entries keep the plain floor)
        self.units = model.theta_units() if hasattr(model, "theta_units") else 1.0
        self._last = None  # (x, derivatives): Newton's last step and the polish share a point

    def __call__(self, x) -> float:
        self.count += 1
        return self.model.deviance(self.model.full(x), self.reml)

    def canonical(self, x) -> np.ndarray:
        return self.model.canonical(self.model.full(x))[self.model.free]

    def _steps(self, x: np.ndarray) -> np.ndarray:
        # ~ the cube/fourth root of the criterion's relative rounding (1e-13 of values in the
        # millions at 500,000 rows) times its scale: truncation and rounding errors balance; the
        # floor in each entry's own unit (a slope's theta scales as 1 / its variable's SD)
        return 1e-3 * np.maximum(np.abs(x), 0.1 * self.units)

    def grad(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        h = self._steps(x)
        out = np.empty(len(x))
        for i in range(len(x)):
            e = np.zeros(len(x))
            e[i] = h[i]
            out[i] = (self(x + e) - self(x - e)) / (2 * h[i])
        return out

    def derivatives(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Central-difference gradient and a Hessian from the same points (its off-diagonal
        entries one-sided: 1 + 2k + k(k-1)/2 evaluations for k parameters). The Hessian only
        steers Newton's steps and scales the verification's decrement, where an O(h) error in
        the curvature is immaterial; the gradient, which decides, is central."""
        x = np.asarray(x, float)
        if self._last is not None and np.array_equal(self._last[0], x):
            return self._last[1]
        k = len(x)
        h = self._steps(x)
        f0 = self(x)
        plus, minus = np.empty(k), np.empty(k)
        for i in range(k):
            e = np.zeros(k)
            e[i] = h[i]
            plus[i], minus[i] = self(x + e), self(x - e)
        grad = (plus - minus) / (2 * h)
        H = np.diag((plus - 2 * f0 + minus) / h**2)
        for i in range(k):
            for j in range(i + 1, k):
                e = np.zeros(k)
                e[i], e[j] = h[i], h[j]
                H[i, j] = H[j, i] = (self(x + e) - plus[i] - plus[j] + f0) / (h[i] * h[j])
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(H))):
            grad, H = np.full(k, np.nan), np.full((k, k), np.nan)
        self._last = (x.copy(), (grad, H))
        return grad, H


def _central_hessian(fun, x: np.ndarray) -> np.ndarray:
    """Central second differences, off-diagonals by the four-point rule."""
    k = len(x)
    h = 1e-3 * np.maximum(np.abs(x), 0.1)
    f0 = fun(x)
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        H[i, i] = (fun(x + e) - 2 * f0 + fun(x - e)) / h[i] ** 2
        for j in range(i):
            d = np.zeros(k)
            d[j] = h[j]
            H[i, j] = H[j, i] = (
                fun(x + e + d) - fun(x + e - d) - fun(x - e + d) + fun(x - e - d)
            ) / (4 * h[i] * h[j])
    return H


@dataclass(frozen=True)
class LevelsFit:
    model: LevelsModel = field(repr=False)
    reml: bool
    theta: np.ndarray
    beta: np.ndarray
    sigma2: float
    cov_beta: np.ndarray
    deviance: float
    verified: bool
    singular: dict[str, tuple[int, ...]]
    attempts: tuple[Attempt, ...]
    optimizer: str
    max_gradient: float
    decrement: float
    evaluations: int
    seconds: float
    # the same model fitted with its far-from-zero slopes centred (see _centred_fit), whose
    # well-scaled theta the finite differences of Satterthwaite's df use (the df do not depend
    # on how the variance parameters are written, at the optimum)
    centred: LevelsFit | None = field(default=None, repr=False)
    to_centred: np.ndarray | None = field(default=None, repr=False)  # beta = to_centred @ beta_c

    @property
    def names(self) -> list[str]:
        return self.model.names

    @property
    def slopes_centred(self) -> bool:
        """Whether `centred` moved a random slope's zero (the intercept's variance then differs
        in the two fits), not only a fixed-only column's (the same theta in both)."""
        return self.centred is not None and any(
            t.endswith(lmm.CENTRED) for terms in self.centred.model.terms.values() for t in terms
        )

    @property
    def fixed(self) -> list[str]:
        return self.model.fixed

    @property
    def loglik(self) -> float:
        """lme4's logLik of the criterion fitted (REML or ML)."""
        return -self.deviance / 2

    @property
    def converged(self) -> bool:
        return self.verified

    @property
    def is_singular(self) -> bool:
        return any(self.singular.values())

    @property
    def n(self) -> int:
        return int(self.model.n)

    @property
    def n_groups(self) -> dict[str, int]:
        return dict(self.model.n_groups)

    @property
    def re_terms(self) -> dict[str, list[str]]:
        return {name: list(terms) for name, terms in self.model.terms.items()}

    @property
    def theta_by_level(self) -> dict[str, np.ndarray]:
        return {name: self.theta[sl].copy() for name, sl in self.model.slices.items()}

    @property
    def re_cov(self) -> dict[str, np.ndarray]:
        """Each level's random-effect covariance sigma^2 Lambda_l Lambda_l'."""
        lams = self.model.lambdas(self.theta)
        return {n: self.sigma2 * lam @ lam.T for n, lam in zip(self.names, lams, strict=True)}

    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_beta))

    def variance_parameters(self) -> np.ndarray:
        """(free theta, sigma): the parameters Satterthwaite's df differentiate in."""
        return np.append(self.theta[self.model.free], np.sqrt(self.sigma2))

    def curvature(self) -> np.ndarray:
        """Hessian of the deviance with sigma free in (free theta, sigma), by central
        differences with steps of 1e-3 of each parameter's size (lmerTest's numDeriv adds
        Richardson extrapolation; at these steps the truncation error is already ~1e-7 of the
        curvature, and the extrapolation would triple the cost)."""
        if self.centred is not None:
            return self.centred.curvature()
        model, reml = self.model, self.reml
        unit = self._sigma_unit()

        def dev(u):  # each parameter in its own unit (see _sigma_unit)
            return model.full_deviance(model.full(u[:-1] * unit[:-1]), u[-1] * unit[-1], reml)

        H = _central_hessian(dev, self.variance_parameters() / unit)
        return H / np.outer(unit, unit)

    def _sigma_unit(self) -> np.ndarray:
        """Divisors making the variance parameters scale-free for finite differences: sigma is
        in the outcome's units, a slope's row of theta in 1 / its variable's units; with an
        absolute step floor an outcome measured in thousandths stepped sigma to zero (df of 7e8,
        or none), and a slope on a variable with SD 1000 (theta 3e-4) moved by 30% (df 1% off)."""
        return np.append(self.model.theta_units(), np.sqrt(self.sigma2))

    def df(self, contrasts: np.ndarray | None = None) -> np.ndarray:
        """Satterthwaite df for each coefficient, or for each row c of `contrasts` (the df of
        c'beta), as lmerTest: 2 Var(c'beta)^2 / (g' 2 H^-1 g), g the gradient of Var(c'beta) in
        the variance parameters (theta, sigma), H the Hessian of the deviance in them."""
        if self.centred is not None:
            L = np.eye(self.model.p) if contrasts is None else np.atleast_2d(contrasts)
            return self.centred.df(np.asarray(L, float) @ self.to_centred)
        model = self.model
        L = np.eye(model.p) if contrasts is None else np.atleast_2d(np.asarray(contrasts, float))
        phi = self.variance_parameters()
        H = self.curvature()

        def variances(values):
            return model.contrast_variances(model.full(values[:-1]), values[-1], L)

        v = variances(phi)
        unit = self._sigma_unit()
        jac = numderiv.jacobian(lambda u: variances(u * unit), phi / unit, rel_step=1e-4) / unit
        try:
            if np.any(np.linalg.eigvalsh(H) <= 0):
                raise np.linalg.LinAlgError
            H_inv = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            H_inv = np.linalg.pinv(H)
        denom = np.einsum("pi,ij,pj->p", jac, 2.0 * H_inv, jac)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 2.0 * v**2 / denom
        return np.where(np.isfinite(out) & (out > 0), out, np.nan)

    def f_test(self, L: np.ndarray) -> tuple[float, int, float]:
        """(F, numerator df, denominator df) for H0: L beta = 0, as lmerTest's contestMD (the
        rule stats.satterthwaite_f applies for two levels): the rows of L rotated to the
        eigenvectors of L cov L', each rotated row with its own Satterthwaite df nu_m, and the
        denominator df 2E / (E - q) with E = sum nu_m / (nu_m - 2) (2 when some nu_m <= 2; nu
        itself when they are all equal)."""
        L = np.atleast_2d(np.asarray(L, float))
        values, vectors = np.linalg.eigh(L @ self.cov_beta @ L.T)
        positive = values > 1e-8 * max(float(values.max()), 0.0)
        d, rotated = values[positive], vectors[:, positive].T @ L
        q = int(positive.sum())
        F = float(np.sum((rotated @ self.beta) ** 2 / d) / q)
        nu = self.df(rotated)
        if q == 1 or np.all(np.abs(nu - nu[0]) < 1e-8):
            return F, q, float(nu[0])
        if np.any(~(nu > 2)):
            return F, q, 2.0
        E = float(np.sum(nu / (nu - 2)))
        return F, q, 2 * E / (E - q)

    @cached_property
    def _conditional(self):
        return self.model.conditional(self.theta, self.beta, self.sigma2)

    def conditional(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(modes, conditional covariances) per level; computed once per fit."""
        return self._conditional

    def modes(self) -> dict[str, np.ndarray]:
        """Conditional modes (BLUPs) per level, (G_l, q_l) in the level's group codes."""
        return self.conditional()[0]

    def cond_var(self) -> dict[str, np.ndarray]:
        """Conditional covariances per level, (G_l, q_l, q_l) (lme4's condVar)."""
        return self.conditional()[1]


def fit_levels(
    sums: DesignSums,
    codes: list[np.ndarray],
    n_groups: list[int],
    names: list[str],
    crossed: bool = False,
    fixed: list[str] | None = None,
    random: dict[str, list[str]] | None = None,
    reml: bool = True,
    diagonal=False,
    start: np.ndarray | None = None,
) -> LevelsFit:
    """The verified optimum of a model with one random term per level (see model.LevelsModel
    for theta's layout) and everything fitted at it."""
    began = time.perf_counter()
    fixed = list(sums.names[1:]) if fixed is None else list(fixed)
    model = LevelsModel(sums, codes, n_groups, names, crossed, fixed, random or {}, diagonal)
    mapped = _centred_fit(model, sums, codes, n_groups, names, crossed, fixed, random or {},
                          diagonal, reml, began, start)  # fmt: skip
    if mapped is not None:
        return mapped
    return fit_model(model, reml, start, began)


# A slope variable whose mean is this many SDs from zero (calendar years 2015-2021, a test
# score of 500 +- 10) makes the intercept's Lambda describe the groups at x = 0, far outside the
# data: intercept and slope correlate at -1 to many digits, the criterion's valleys are
# needle-thin, and the optimizer stopped 0.3 log-likelihood short after 100 s (df 426 for 19).
# The random part is the same model with the slope centred (Z [1, x - c] = Z [1, x] T), so that
# well-scaled model is fitted and verified, and its optimum is written back in x's own terms
# (Sigma = T Sigma_c T'); the fixed part keeps x as it is, so beta and its covariance are the same.
# Far means lmm.is_far (lmm.CENTRE_FROM_SDS SDs; a fixed-only column lmm.FIXED_CENTRE_FROM_SDS,
# chosen by lmm.far_fixed), as for two levels.


def _moved(theta, model, shifts, sign):
    """theta of the same Sigma after moving each level's slopes' origin by sign * shift: Lambda'
    = the lower-triangular factor of T Lambda Lambda' T' (exact when singular: (T Lambda)' =
    Q R, Lambda' = R')."""
    out = np.zeros(len(theta))
    for name, q in zip(model.names, model.q, strict=True):
        move = np.eye(q)  # b = T b_c: the intercept at x = 0 is b0_c - c b1_c
        for j, term in enumerate(model.terms[name][1:], start=1):
            move[0, j] = sign * shifts.get(term, 0.0)
        lam = move @ blocks.lambda_of(np.asarray(theta)[model.slices[name]], q)
        r = np.linalg.qr(lam.T)[1]
        lower = (r * np.where(np.diag(r) < 0, -1.0, 1.0)[:, None]).T
        rows, cols = blocks.theta_positions(q)
        out[model.slices[name]] = lower[rows, cols]
    return out


def _centred_fit(model, sums, codes, n_groups, names, crossed, fixed, random, diagonal, reml,
                 began, start=None):  # fmt: skip
    shifts = {}
    for vs in random.values():
        for v in vs:
            sd, mean = sums.sd(v), sums.mean(v)
            if lmm.is_far(mean, sd):
                shifts[v] = lmm.round_centre(mean, sd)
    if diagonal is True or (diagonal and set(diagonal) & set(random)):
        shifts = {}  # (a diagonal covariance is not invariant under the shift)
    slopes = dict(shifts)
    if sums.names[1] in fixed:
        # a fixed-only column far from zero (calendar years, dates as numbers) squares X'V^-1 X's
        # conditioning as well: on egsingle with year + 1992.5 the df of lowinc came out 64.5,
        # 64.4 or 64.0 by data path (lmerTest 64.22), with year + 1e5 1370 and a REML loglik
        # 2.4e-3 too high. Centring it is an exact reparametrisation of the fixed part alone.
        # On the two-level engine's round centre (lmm.round_centre): with the exact mean, c x'1
        # and c^2 n rounded, and the REML loglik stayed 1.5e-6 (year + 1992.5) and 1.8e-3
        # (year + 1e5) below lme4's on centred year.
        shifts |= lmm.far_fixed(sums, fixed, list(shifts))
    if not shifts:
        return None
    centred = lmm.with_centred_columns(sums, shifts)  # the two-level engine's own step
    random_c = {
        lv: [v + lmm.CENTRED if v in slopes else v for v in vs] for lv, vs in random.items()
    }
    # the fixed part centred too when it has the intercept (the same columns' span): forming
    # X'V^-1 X with x near 2015 squares its conditioning, and the df's finite differences of
    # the REML term then drift (19.8 for lmerTest's 18.4)
    fixed_c, to_centred = lmm.centred_fixed(sums, fixed, shifts)
    try:
        model_c = LevelsModel(centred, codes, n_groups, names, crossed, fixed_c, random_c, diagonal)
        start_c = None if start is None else _moved(start, model, slopes, +1.0)
        fit_c = fit_model(model_c, reml, start_c)
    except (np.linalg.LinAlgError, ValueError):
        return None
    theta = _moved(fit_c.theta, model, slopes, -1.0)
    deviance = model.deviance(theta, reml)  # the same criterion: a check of the mapping
    if not np.isfinite(deviance) or abs(deviance - fit_c.deviance) > 1e-6 * max(1.0, abs(deviance)):
        return None
    return LevelsFit(
        model=model,
        reml=reml,
        theta=theta,
        beta=to_centred @ fit_c.beta,
        sigma2=fit_c.sigma2,
        cov_beta=to_centred @ fit_c.cov_beta @ to_centred.T,
        deviance=fit_c.deviance,
        verified=fit_c.verified,
        singular=fit_c.singular,
        attempts=fit_c.attempts,
        optimizer=f"{fit_c.optimizer} ({'slopes' if slopes else 'predictors'} centred)",
        max_gradient=fit_c.max_gradient,
        decrement=fit_c.decrement,
        evaluations=fit_c.evaluations,
        seconds=time.perf_counter() - began,
        centred=fit_c,
        to_centred=to_centred,
    )


def fit_model(
    model: LevelsModel, reml: bool, start: np.ndarray | None = None, began: float | None = None
) -> LevelsFit:
    began = time.perf_counter() if began is None else began
    fun = _Criterion(model, reml)
    identity = ThetaLayout.start(model)
    scaled = model.start()
    if start is not None:
        plan = [(optimize.NEWTON, "given start", np.asarray(start, float))]
        later = [(optimize.NEWTON, "slopes scaled", scaled)]
    else:
        plan = [(optimize.NEWTON, "slopes scaled", scaled)]
        later = []
    later += [
        ("L-BFGS-B", "identity", identity),
        ("Nelder-Mead", "identity", identity),
        ("L-BFGS-B", "0.1 * identity", 0.1 * identity),
        (optimize.NEWTON, "identity", identity),
    ]
    attempts: list[Attempt] = []
    candidates: list[tuple[float, str, np.ndarray]] = []
    _candidates(fun, plan, attempts, candidates)
    best = _polish_and_verify(fun, candidates, attempts, escalated=False)
    if not best[4]:
        _candidates(fun, later, attempts, candidates)
        best = _polish_and_verify(fun, candidates, attempts, escalated=True)
    theta, value, winner, judged, verified = best
    beta, sigma2, deviance, cov_beta = model.solve(theta, reml)
    singular = singular_terms(model, theta)
    return LevelsFit(
        model=model,
        reml=reml,
        theta=theta,
        beta=beta,
        sigma2=sigma2,
        cov_beta=cov_beta,
        deviance=deviance,
        verified=verified,
        singular=singular,
        attempts=tuple(attempts),
        optimizer=winner,
        max_gradient=judged.max_gradient,
        decrement=judged.decrement,
        evaluations=fun.count,
        seconds=time.perf_counter() - began,
    )


def singular_terms(model, theta: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Per level, the positions of the random terms whose relative scale (Lambda's diagonal)
    is at the boundary, for the linear and the binary levels models alike."""
    singular = {}
    for name, q in zip(model.names, model.q, strict=True):
        diag = np.diag(blocks.lambda_of(theta[model.slices[name]], q))
        singular[name] = tuple(int(i) for i in np.flatnonzero(diag < SINGULAR_TOLERANCE))
    return singular


def _candidates(fun: _Criterion, runs, attempts: list, candidates: list) -> None:
    model = fun.model
    for method, label, start in runs:
        before = fun.count
        x = fun.canonical(optimize._run(method, np.asarray(start, float)[model.free], fun))
        value = fun(x)
        attempts.append(
            Attempt(
                f"profiled {method}",
                label,
                float(-value / 2) if np.isfinite(value) else None,
                evaluations=fun.count - before,
            )
        )
        candidates.append((value, f"profiled {method}", x))


def _snap_to_boundary(fun: _Criterion, x: np.ndarray, value: float):
    """Diagonal entries of Lambda below the singularity tolerance are put exactly on the
    boundary, as lme4's bounded optimizer leaves them, when the criterion gets no worse than
    SNAP_TOLERANCE: near a boundary optimum the criterion is flat, and a Newton method stops at a
    rounding-level distance from it (a school SD of 1e-6 instead of 0)."""
    model = fun.model
    theta = model.full(x)
    snapped = theta.copy()
    for positions in model.diag_positions.values():
        tiny = positions[(np.abs(theta[positions]) < SINGULAR_TOLERANCE) & (theta[positions] != 0)]
        snapped[tiny] = 0.0
    if np.array_equal(snapped, theta):
        return x, value
    candidate = snapped[model.free]
    candidate_value = fun(candidate)
    if candidate_value <= value + SNAP_TOLERANCE:
        return candidate, candidate_value
    return x, value


def _polish_and_verify(fun: _Criterion, candidates, attempts, escalated: bool):
    model = fun.model
    finite = [c for c in candidates if np.isfinite(c[0])]
    if not finite:
        raise np.linalg.LinAlgError("the criterion is not finite at any start")
    value, winner, x = min(finite, key=lambda c: c[0])
    before = fun.count
    polished, polished_value, derivatives = optimize._newton_polish(fun, x, value)
    newton_point = polished  # where `derivatives` (when not None) were computed
    if polished_value < value - 1e-9:
        value, x, winner = polished_value, fun.canonical(polished), f"{winner} + Newton polish"
    elif np.isnan(polished_value) and not optimize._settled(derivatives):
        polished = fun.canonical(optimize._run("Nelder-Mead", x, fun, tight=True))
        polished_value = fun(polished)
        if polished_value < value - 1e-9:
            value, x, winner = polished_value, polished, f"{winner} + Nelder-Mead polish"
    kept = derivatives if np.array_equal(x, newton_point) else None
    snapped, value = _snap_to_boundary(fun, x, value)
    if kept is None or not np.array_equal(snapped, x):
        kept = fun.derivatives(snapped)
    x = snapped
    grad, hess = kept
    gain = optimize._best_neighbour_gain(fun, x, value)
    judged = optimize.verdict(value, grad, hess, gain, winner, fun.count - before, escalated)
    attempts.append(judged.attempt)
    return model.full(x), value, winner, judged, judged.verified
