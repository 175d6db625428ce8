"""Profile-likelihood intervals for the variance components of a model with several grouping
levels (nested or crossed), as lme4's confint(method = "profile") gives them.

The parameters are those a reader sees, per level (outermost first): each random effect's SD and
each correlation, then the residual SD. As lme4 does, the criterion is the ML deviance with the
fixed effects profiled out and sigma free (the levels engine's `full_deviance`); for one
parameter held at a value it is minimised over the others, and the 95% limits are where the
signed root of the excess crosses +-1.96 (the excess reaches 3.84). The bracketing, the edges (an
SD's 0, a correlation's +-1: the bound is the edge when the profile is still inside there) and
the root finding are profile.py's, shared with the two-level intervals.

What differs is the constrained fit at each profile point: the levels engine has no analytic
derivatives, so each point is a quasi-Newton minimisation over the other parameters' free
coordinates (log SDs, atanh correlations) with central-difference gradients, started from the
curvature at the optimum (computed once) and from the nearest point already profiled, moved
along the optimum's regression of the others on the held parameter. A point then costs a few
gradients, each 2m criterion evaluations (m parameters), whatever the row count.

Parameters at an edge at the optimum (an SD at zero, a correlation at +-1, the correlations of a
level whose SD is zero) are held at their estimate while the others are profiled; an SD at zero
gets the lower limit 0 and a profiled upper limit. A bound that cannot be found falls back to
the Wald interval (log-SD / atanh scale) when there is one, and each row says why.
"""

from __future__ import annotations

import numpy as np

from . import numderiv, profile
from .profile import CHI2_95, Interval

# Each criterion evaluation passes once over the cells (about 1.2 ms for 20,000 cells with a
# random slope) and a model's profile takes several hundred of them: 0.85 s for the 500,000-row
# bench (1,000 schools x 20 classes, a class slope: 5 parameters), 1.9 s with slopes at both
# levels (7). Beyond this many cells the profile would add more than a few seconds to the fit;
# Wald intervals, which that many groups make close to the profile, stand in and say so.
MAX_PROFILE_CELLS = 50_000
_STEP = 1e-4  # central-difference step in the free coordinates (log SD, atanh correlation)
_MAX_ITERATIONS = 40
_SETTLED = 1e-6  # deviance a quasi-Newton step may still be predicted to gain at a point
EDGE_SD = 1e-6  # an SD below this fraction of its natural scale counts as zero


def _levels_theta(model, levels, phi: np.ndarray, sigma: float) -> np.ndarray | None:
    """lme4's theta of every level from phi (each level's SDs and correlations in turn, relative
    to `sigma`); None outside the parameter space."""
    theta = np.zeros(model.n_theta)
    at = 0
    for name, q in levels:
        size = q + q * (q - 1) // 2
        th = profile._theta(phi[at : at + size], q, sigma=sigma)
        if th is None:
            return None
        theta[model.slices[name]] = th
        at += size
    return theta


class _Layout:
    """phi = per level (outermost first) SDs then correlations (lower triangle, as
    profile.parameters), then sigma; and phi -> the engine's theta."""

    def __init__(self, mdef, model):
        self.levels = [(name, len(terms)) for name, terms in mdef.levels]
        self.model = model
        self.diagonal = set(mdef.diagonal_levels)

    def theta(self, phi: np.ndarray) -> np.ndarray | None:
        return _levels_theta(self.model, self.levels, phi, float(phi[-1]))

    def deviance(self, phi: np.ndarray) -> float:
        if not phi[-1] > 0:
            return np.inf
        theta = self.theta(phi)
        if theta is None:
            return np.inf
        with np.errstate(all="ignore"):
            value = self.model.full_deviance(theta, float(phi[-1]), False)
        return float(value) if np.isfinite(value) else np.inf


class _Coordinates:
    """Each parameter's free coordinate in the constrained fits: log SD, atanh correlation, and
    for an SD at zero at the optimum SD = |s| * its natural scale (smooth through zero, where a
    log cannot go), so that it may leave zero while another parameter is held (a school SD of 0
    grows as the class SD is held low, as in lme4's profile)."""

    def __init__(self, is_cor, linear, scale, identity=None):
        self.is_cor, self.linear, self.scale = is_cor, linear, scale
        # parameters free on the whole line (a binary model's fixed effects) are their own
        self.identity = np.zeros(len(is_cor), bool) if identity is None else identity

    def to_free(self, values: np.ndarray, idx: np.ndarray) -> np.ndarray:
        out = profile._to_free(values, self.is_cor[idx])
        lin = self.linear[idx]
        out[lin] = values[lin] / self.scale[idx][lin]
        same = self.identity[idx]
        out[same] = values[same]
        return out

    def from_free(self, z: np.ndarray, idx: np.ndarray) -> np.ndarray:
        out = profile._from_free(z, self.is_cor[idx])
        lin = self.linear[idx]
        out[lin] = np.abs(z[lin]) * self.scale[idx][lin]
        same = self.identity[idx]
        out[same] = z[same]
        return out


class _Profile:
    """One parameter's profile for profile._bound: `best`, `k`, and the excess of the
    constrained deviance over the optimum's minus 3.84 at a value."""

    def __init__(self, layout, best, base, k, moving, coords: _Coordinates, hessian):
        self.layout, self.best, self.base, self.k = layout, best, base, k
        self.coords, self.is_cor = coords, coords.is_cor
        self.others = np.array([i for i in moving if i != k], dtype=int)
        self.evaluations = 0
        at = {int(i): j for j, i in enumerate(moving)}
        o = [at[int(i)] for i in self.others]
        self.H = hessian[np.ix_(o, o)] if len(o) else np.zeros((0, 0))
        # how the others move with the held parameter at the optimum (its free coordinate)
        if k in at and len(o):
            try:
                self.slope = -np.linalg.solve(self.H, hessian[o, at[k]])
            except np.linalg.LinAlgError:
                self.slope = np.zeros(len(o))
        else:
            self.slope = np.zeros(len(o))
        start = coords.to_free(best[self.others], self.others)
        self.points: dict[float, tuple[float, np.ndarray]] = {float(best[k]): (-CHI2_95, start)}

    def _free_k(self, value: float) -> float:
        if self.coords.linear[self.k]:
            return float(value / self.coords.scale[self.k])
        if self.is_cor[self.k]:
            return float(np.arctanh(value)) if abs(value) < 1 else np.nan
        return float(np.log(value)) if value > 0 else np.nan

    def _value(self, value: float, z: np.ndarray) -> float:
        self.evaluations += 1
        phi = self.best.copy()
        phi[self.k] = value
        phi[self.others] = self.coords.from_free(z, self.others)
        return self.layout.deviance(phi)

    def _gradient(self, value: float, z: np.ndarray) -> np.ndarray:
        """Central differences; an SD's linear coordinate (kept >= 0) at zero one-sided, as
        the deviance is symmetric in it there and a central difference would read 0."""
        lin = self.coords.linear[self.others]
        g = np.empty(len(z))
        for i in range(len(z)):
            e = np.zeros(len(z))
            e[i] = _STEP
            if lin[i] and z[i] < _STEP:
                at = z.copy()
                at[i] = 0.0
                g[i] = (self._value(value, at + e) - self._value(value, at)) / _STEP
            else:
                g[i] = (self._value(value, z + e) - self._value(value, z - e)) / (2 * _STEP)
        return g

    def _minimise(self, value: float, z: np.ndarray) -> tuple[float, np.ndarray]:
        """BFGS from the optimum's curvature; stops when a step is predicted to gain less than
        _SETTLED (the bound then moves by a negligible fraction of the interval's width)."""
        current = self._value(value, z)
        if not len(z) or not np.isfinite(current):
            return current, z
        H = self.H.copy()
        g = self._gradient(value, z)
        for _ in range(_MAX_ITERATIONS):
            if not np.all(np.isfinite(g)):
                break
            try:
                step = -np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                step = -g
            if not -g @ step > 0:  # not a descent direction: a steepest-descent step instead
                H = np.eye(len(z)) * max(float(np.max(np.abs(np.diag(H)))), 1.0)
                step = -g / H[0, 0]
            if -0.5 * g @ step < _SETTLED:
                break
            t, moved = 1.0, False
            for _ in range(12):
                candidate = self._value(value, z + t * step)
                if candidate < current:
                    moved = True
                    break
                t /= 2
            if not moved:
                break
            s = t * step
            gain = current - candidate
            z, current = z + s, candidate
            z = np.where(self.coords.linear[self.others], np.abs(z), z)  # the same phi
            g_new = self._gradient(value, z)
            y = g_new - g
            g = g_new
            if s @ y > 1e-12:
                Hs = H @ s
                H = H + np.outer(y, y) / (y @ s) - np.outer(Hs, Hs) / (s @ Hs)
            if gain < 0.1 * _SETTLED:
                break
        return current, z

    def _stalled_at_edge(self, z: np.ndarray) -> bool:
        cor = self.is_cor[self.others]
        return bool(np.any(np.abs(self.coords.from_free(z, self.others)[cor]) > 0.999))

    def __call__(self, value: float) -> float:
        value = float(value)
        if value in self.points:
            return self.points[value][0]
        nearest = min(self.points, key=lambda v: abs(v - value))
        start = self.points[nearest][1].copy()
        shift = self._free_k(value) - self._free_k(nearest)
        if np.isfinite(shift) and abs(shift) < 5:
            start = start + self.slope * shift
        deviance, z = self._minimise(value, start)
        if not np.isfinite(deviance) and not np.array_equal(start, self.points[nearest][1]):
            deviance, z = self._minimise(value, self.points[nearest][1].copy())
        if self._stalled_at_edge(z):
            # a correlation carried to +-1 (by the warm start, or by the slope's extrapolation
            # from the optimum) sits where atanh's gradient vanishes, so the minimisation stops
            # there even when the minimum lies inside: 3 sites' intercept SD, held low, kept
            # the site correlation at -0.99996 (true minimum -0.81, 0.0043 lower): lower limit
            # 0.10621 for 0.10601; a class intercept SD held at 0.549 kept its correlation at
            # 1 (the deviance 1.3 above the minimum, whose correlation is -0.7): upper limit
            # 0.549 for 0.683 (lme4's devfun2 minimised by nlminb). Start again with the
            # correlations inside, at the optimum's values and at their negatives.
            home = self.points[float(self.best[self.k])][1]
            cor = self.is_cor[self.others]
            reset = z.copy()
            reset[cor] = home[cor]
            flipped = reset.copy()  # the profile may have a second branch of the other sign
            flipped[cor] = -home[cor]
            starts = [reset, home.copy(), flipped]
            shift = self._free_k(value) - self._free_k(float(self.best[self.k]))
            if np.isfinite(shift) and abs(shift) < 5:
                moved = home + self.slope * shift
                moved[cor] = home[cor]
                starts.append(moved)
            for again in starts:
                other, z_other = self._minimise(value, again)
                if other < deviance:
                    deviance, z = other, z_other
        excess = deviance - self.base - CHI2_95 if np.isfinite(deviance) else profile._BEYOND
        self.points[value] = (float(excess), z)
        return float(excess)


def _zeta(profile_: _Profile, value: float) -> float:
    """The signed root's size at a value: sqrt(excess over the optimum), 1.96 at a bound."""
    return float(np.sqrt(max(profile_(value) + CHI2_95, 0.0)))


def _bound(prof: _Profile, sign: float, edge: tuple[float, float], guess: float) -> tuple:
    """(bound, at_edge) on one side of the estimate. Unlike profile._bound, which looks at the
    edge first, the first point is the Wald guess and each next one extrapolates the signed
    root linearly to 1.96 (it is close to linear in the parameter): an edge is evaluated only
    when the walk reaches it (a correlation's +-1 costs ten times an ordinary point), and the
    root is then bracketed tightly."""
    best = float(prof.best[prof.k])
    limit = edge[0] if sign < 0 else edge[1]
    if np.isfinite(limit) and best == limit:
        return float(limit), True
    scale = max(abs(best), guess if np.isfinite(guess) else 0.0, 1e-3)
    step = guess if np.isfinite(guess) and guess > 0 else 0.5 * scale
    inside = best
    for _ in range(profile._WALK_STEPS):
        candidate = inside + sign * step
        if np.isfinite(limit) and sign * (candidate - limit) >= 0:
            candidate = float(limit)
        elif candidate <= 0 and not np.isfinite(limit):  # the residual SD towards zero
            candidate = inside / 2
        zeta = _zeta(prof, candidate)
        if zeta >= np.sqrt(CHI2_95):
            return _root(prof, inside, candidate, scale), False
        if candidate == limit:
            return float(limit), True
        distance = abs(candidate - best)
        # the signed root is nearly linear: aim a little beyond where it would reach 1.96
        if zeta > 0.2:
            step = max(1.1 * distance * np.sqrt(CHI2_95) / zeta - distance, 0.02 * distance)
        else:
            step = 2.0 * max(step, distance)
        inside = candidate
    raise profile._NoBound("the profile stays flat: the data do not bound this parameter")


def _root(prof: _Profile, inside: float, outside: float, scale: float) -> float:
    """The crossing between a point inside the 95% region and one beyond it, to 1e-6 of the
    parameter's scale (lme4 interpolates a spline through its profile points)."""

    def signed(v: float) -> float:
        return _zeta(prof, v) - float(np.sqrt(CHI2_95))

    a, b = sorted((inside, outside))
    try:
        return float(numderiv.find_root(signed, a, b, xtol=1e-6 * scale))
    except ValueError:
        raise profile._NoBound(
            "the profile is not monotone between the estimate and the bound"
        ) from None


def _parameters(fit):
    """(best phi, is_cor, free, natural scale of each SD) of the ML fit, as wald_intervals."""
    from . import lmm

    ml, mdef = fit.ml, fit.mdef
    sigma = float(np.sqrt(ml.sigma2))
    parts, is_cor, free, scale = [], [], [], []
    for name, terms in mdef.levels:
        q = len(terms)
        lam = lmm.psd_factor(ml.re_cov[name] / ml.sigma2)
        phi = profile.parameters(lmm.theta_of(lam), sigma, q)[:-1]
        parts.append(phi)
        is_cor += [False] * q + [True] * (len(phi) - q)
        free += [True] * q + [name not in mdef.diagonal_levels] * (len(phi) - q)
        # an SD's natural size: sigma in the units of its term (a slope: per unit of x)
        sd_of = ml.model.slope_sd
        scale += [sigma / (sd_of.get(t, 1.0) or 1.0) if i else sigma for i, t in enumerate(terms)]
        scale += [1.0] * (len(phi) - q)
    best = np.concatenate([*parts, [sigma]])
    return best, np.array(is_cor + [False]), np.array(free + [True]), np.array(scale + [sigma])


def _pinned(best, is_cor, free, scale, levels) -> np.ndarray:
    """Parameters at an edge at the optimum: SDs at zero, correlations at +-1 and correlations
    of a level with an SD at zero (undefined there)."""
    pinned = np.where(is_cor, np.abs(best) > 1 - 1e-6, best < EDGE_SD * scale) & free
    at = 0
    for _, q in levels:
        size = q + q * (q - 1) // 2
        if np.any(pinned[at : at + q]):
            pinned[at + q : at + size] = free[at + q : at + size]
        at += size
    return pinned


def _split(fit, rows: list[Interval]) -> dict[str, list[Interval]]:
    out, at = {}, 0
    for name, terms in fit.mdef.levels:
        size = len(terms) + len(terms) * (len(terms) - 1) // 2
        out[name] = rows[at : at + size]
        at += size
    out["Residual"] = rows[at:]
    return out


def _flat(fit, wald: dict[str, list[Interval]]) -> list[Interval]:
    return [i for name, _ in fit.mdef.levels for i in wald[name]] + list(wald["Residual"])


def _wald_with(note: str, wald_rows: list[Interval]) -> list[Interval]:
    """The Wald rows with `note` saying why the profile was not run."""
    out = []
    for w in wald_rows:
        if w.method == profile.WALD:
            out.append(
                Interval(w.low, w.high, w.method, f"Wald on the log-SD / atanh scale: {note}")
            )
        elif w.note == profile.NOT_A_PARAMETER:
            out.append(w)
        else:
            out.append(Interval(None, None, None, f"{w.note}; {note}" if w.note else note))
    return out


class _CentredFit:
    """The engine's centred twin of a fit (a slope far from zero, see levels.fit._centred_fit)
    in the shape levels_intervals reads."""

    def __init__(self, fit):
        self.ml, self.mdef = fit.ml.centred, fit.mdef


def _centred(fit, wald: dict[str, list[Interval]]) -> dict[str, list]:
    """A slope on a variable far from zero (calendar years) is fitted centred by the engine.
    Moving a slope's zero changes only the intercept's SD and its correlations at that level
    (Sigma = T Sigma_c T'); every other parameter, and the profile of it (a minimum over the
    others, which the move maps one to one), is the same in the centred model, which is
    profiled instead. The intercept's rows at such a level get no interval: they describe the
    groups at the variable's zero, far outside the data."""
    out = levels_intervals(_CentredFit(fit), wald, 0)
    why = (
        "no interval: a random slope's variable is far from zero (e.g. calendar years), so the "
        "intercept describes the groups far outside the data; centre it for intervals"
    )
    for name, terms in fit.mdef.levels:
        moved = [t for t in fit.ml.centred.model.terms[name][1:] if t not in terms]
        if not moved:
            continue
        q = len(terms)
        pairs = list(zip(*np.tril_indices(q, -1), strict=True))
        rows = list(out[name])
        rows[0] = Interval(None, None, None, why)
        for j, (a, b) in enumerate(pairs):
            if a == 0 or b == 0:
                rows[q + j] = Interval(None, None, None, why)
        out[name] = rows
    return out


def levels_intervals(fit, wald: dict[str, list[Interval]], n_cells: int) -> dict[str, list]:
    """Profile intervals of every SD, correlation and the residual SD of a LevelsMixed `fit`
    (its ML refit), keyed as `wald` (multilevel.wald_intervals: each level, then "Residual"),
    whose rows stand in where a bound cannot be profiled."""
    wald_rows = _flat(fit, wald)
    if n_cells > MAX_PROFILE_CELLS:
        return _split(fit, _wald_with(
            f"with {n_cells:,} cells (more than {MAX_PROFILE_CELLS:,}) the profile is not run; "
            "so many groups make the two agree", wald_rows))  # fmt: skip
    if getattr(fit.ml, "centred", None) is not None:
        return _centred(fit, wald)
    layout = _Layout(fit.mdef, fit.ml.model)
    best, is_cor, free, scale = _parameters(fit)
    # where to look first: the Wald half-width on the parameter's own scale
    wald_arr = np.array([[np.nan, np.nan] if w.low is None else [w.low, w.high]
                         for w in wald_rows], float)  # fmt: skip
    # the residual SD has no usable edge (the deviance is infinite at zero): walked both ways
    edges = [(-1.0, 1.0) if c else (0.0, np.inf) for c in is_cor[:-1]] + [(-np.inf, np.inf)]
    done = _profile_parameters(
        layout, best, is_cor, free, scale, layout.levels, range(len(best)), edges
    )
    if done is None:
        return _split(fit, _wald_with(
            "the profile could not be run (the deviance is not curved upwards at the optimum)",
            wald_rows))  # fmt: skip
    return _split(fit, profile._merge(done[0], wald_arr, free))


def _profile_parameters(
    layout, best, is_cor, free, scale, levels, targets, edges, identity=None, curvature=None
):
    """The profiles of the parameters `targets` of `layout.deviance(phi)` at its optimum `best`:
    ([(low, high, note)] per target, (len(best), 2) Wald intervals from the curvature there on
    the log-SD / atanh scale), or None when the deviance is not curved upwards at the optimum.
    `identity`: parameters free on the whole line (re-optimised, never profiled);
    `curvature(best, moving, coords, z)`: the Hessian in the free coordinates when the caller
    has it (else central differences of the deviance)."""
    identity = np.zeros(len(best), bool) if identity is None else np.asarray(identity, bool)
    best = np.asarray(best, float).copy()
    best[~free] = 0.0
    pinned = _pinned(best, is_cor, free, scale, levels) & ~identity
    best[pinned & ~is_cor] = 0.0  # an SD at the edge: exactly there, as lme4 leaves it
    base = layout.deviance(best)
    # SDs at zero move too (linear coordinate); correlations at an edge stay where they are
    linear = pinned & ~is_cor
    coords = _Coordinates(is_cor, linear, scale, identity)
    moving = np.flatnonzero(free & ~(pinned & is_cor))
    z_best = coords.to_free(best[moving], moving)

    def deviance_z(z: np.ndarray) -> float:
        phi = best.copy()
        phi[moving] = coords.from_free(z, moving)
        return layout.deviance(phi)

    hessian = None
    if np.isfinite(base):
        try:
            if curvature is None:
                H = numderiv.hessian(deviance_z, z_best, rel_step=1e-3)
            else:
                H = curvature(best, moving, coords, z_best)
            # an SD at zero: its curvature in |s| is one-sided; keep it apart and positive
            lin = linear[moving]
            if np.any(lin):
                diag = np.where(lin, np.maximum(np.diag(H), 1.0), np.diag(H))
                H = np.where(lin[:, None] | lin[None, :], 0.0, H)
                H[np.diag_indices_from(H)] = diag
            if np.all(np.isfinite(H)) and np.all(np.linalg.eigvalsh(H) > 0):
                hessian = H
        except (np.linalg.LinAlgError, ValueError):
            hessian = None
    if hessian is None:
        return None
    cov = 2.0 * np.linalg.inv(hessian)
    se = np.sqrt(np.diag(cov))
    wald = np.full((len(best), 2), np.nan)
    for j, k in enumerate(moving):
        if not (linear[k] or identity[k]):
            z = np.array(
                [z_best[j] - 1.959963984540054 * se[j], z_best[j] + 1.959963984540054 * se[j]]
            )
            wald[k] = coords.from_free(z, np.array([k, k]))
    guesses = np.full(len(best), np.nan)
    # the delta method back from log SD (d SD = SD dz) and atanh (d r = (1 - r^2) dz)
    slope = np.where(is_cor[moving], 1 - best[moving] ** 2, best[moving])
    guesses[moving] = np.abs(slope) * 1.96 * se
    guesses[linear] = scale[linear] * 0.1

    profiled = []
    for k in targets:
        if not free[k]:
            profiled.append((np.nan, np.nan, profile.NOT_A_PARAMETER))
            continue
        if pinned[k] and is_cor[k]:
            why = (
                "no interval: the correlation is at +-1 or belongs to an SD estimated at zero, "
                "where it is not identified"
            )
            profiled.append((np.nan, np.nan, why))
            continue
        prof = _Profile(layout, best, base, k, moving, coords, hessian)
        profiled.append(
            profile.profiled_limits(
                lambda sign, p=prof, k=k: _bound(p, sign, edges[k], guesses[k]),
                best[k],
                at_zero="the SD is estimated at zero; its lower limit is zero",
            )
        )
    return profiled, wald


# ---------------------------------------------------------------------------------------------
# Binary outcomes: glmer's profile (lme4's devfun2: the Laplace deviance over the SDs and
# correlations and the fixed effects, each point minimised over all but the held parameter)

# Each deviance of a profile point re-fits the modes over every row (penalised IRLS). Measured
# (2 cores, load 10-12): 50,000 rows (500 schools x 10 classes) 2.5 s CPU for the intervals of
# random intercepts (fit 3.0 s), 11 s with a class slope (fit 6.5 s), linear in rows. Beyond this
# many rows Wald intervals on the log-SD / atanh scale from the fit's own curvature (no extra
# evaluation; within 1.5% of the profile's limits there) stand in and say so, as beyond
# MAX_PROFILE_CELLS for a linear model.
MAX_BINARY_PROFILE_ROWS = 100_000
LATENT = np.pi**2 / 3  # the level-1 variance on the latent scale (binomial.LATENT_VARIANCE)


class _BinaryLayout:
    """phi = per level (outermost first) SDs then correlations (logit scale), then beta."""

    def __init__(self, model):
        self.model = model
        self.levels = list(zip(model.names, model.q, strict=True))
        self.n_var = sum(q + q * (q - 1) // 2 for q in model.q)

    def theta(self, phi: np.ndarray) -> np.ndarray | None:
        return _levels_theta(self.model, self.levels, phi, 1.0)  # Lambda itself: no residual

    def deviance(self, phi: np.ndarray) -> float:
        theta = self.theta(phi)
        if theta is None:
            return np.inf
        return _laplace(self.model, theta, phi[self.n_var :])


def _laplace(model, theta: np.ndarray, beta: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        value = model.deviance(np.concatenate([theta, beta]))
    return float(value) if np.isfinite(value) else np.inf


def _fit_curvature(fit, layout):
    """The Hessian in a layout's free coordinates from the fit's own (central differences over
    the free (theta, beta), as vcov's): at the optimum the chain rule needs only the map's
    Jacobian, J'HJ, no further deviance."""
    H = getattr(fit, "hessian", None)
    if H is None:
        return None
    model = fit.model

    def curvature(best, moving, coords, z_best):
        def x_of(z):
            phi = best.copy()
            phi[moving] = coords.from_free(z, moving)
            theta = layout.theta(phi)
            if theta is None:
                return np.full(len(model.free), np.nan)
            return np.concatenate([theta, phi[layout.n_var :]])[model.free]

        J = numderiv.jacobian(x_of, z_best)
        out = J.T @ H @ J
        return (out + out.T) / 2

    return curvature


def _binary_parameters(fit):
    """(best phi, is_cor, free, natural scale, identity) of a binary levels fit."""
    model = fit.model
    parts, is_cor, free, scale = [], [], [], []
    for name, q, Z in zip(model.names, model.q, model.Z, strict=True):
        phi = profile.parameters(fit.theta[model.slices[name]], 1.0, q)[:-1]
        parts.append(phi)
        is_cor += [False] * q + [True] * (len(phi) - q)
        free += [True] * q + [name not in model.diagonal] * (len(phi) - q)
        # an SD's natural size: 1 on the logit scale, per unit of x for a slope
        scale += [1.0 / (float(np.std(Z[:, j])) or 1.0) if j else 1.0 for j in range(q)]
        scale += [1.0] * (len(phi) - q)
    p = len(fit.beta)
    best = np.concatenate([*parts, fit.beta])
    identity = np.r_[np.zeros(len(best) - p, bool), np.ones(p, bool)]
    return (best, np.array(is_cor + [False] * p), np.array(free + [True] * p),
            np.array(scale + [1.0] * p), identity)  # fmt: skip


def _binary_split(layout, rows: list[Interval]) -> dict[str, list[Interval]]:
    out, at = {}, 0
    for name, q in layout.levels:
        size = q + q * (q - 1) // 2
        out[name] = rows[at : at + size]
        at += size
    return out


def binary_levels_intervals(fit, n_rows: int) -> dict[str, list[Interval]]:
    """glmer's confint(method = "profile") for every SD and correlation of a binary levels fit
    (levels.binary.BinaryLevelsFit), keyed by level (SDs, then correlations, as
    ladder.variance_components reads them); Wald rows (log SD / atanh, from the fit's curvature)
    beyond MAX_BINARY_PROFILE_ROWS and where a bound cannot be profiled."""
    layout = _BinaryLayout(fit.model)
    m = layout.n_var
    if not fit.verified or fit.hessian is None:
        why = (
            "no interval: the optimum the profile starts from could not be verified"
            if not fit.verified
            else "no interval: a variable far from zero is fitted centred; centre it for intervals"
        )
        return _binary_split(layout, [Interval(None, None, None, why)] * m)
    best, is_cor, free, scale, identity = _binary_parameters(fit)
    edges = [(-1.0, 1.0) if c else (0.0, np.inf) for c in is_cor[:m]]
    edges += [(-np.inf, np.inf)] * (len(best) - m)
    big = n_rows > MAX_BINARY_PROFILE_ROWS
    done = _profile_parameters(
        layout, best, is_cor, free, scale, layout.levels, [] if big else range(m), edges,
        identity, _fit_curvature(fit, layout),
    )  # fmt: skip
    if done is None:
        why = "no interval: the deviance is not curved upwards at the optimum (a boundary fit)"
        rows = [Interval(None, None, None, why if f else profile.NOT_A_PARAMETER)
                for f in free[:m]]  # fmt: skip
        return _binary_split(layout, rows)
    profiled, wald = done
    if big:
        note = (
            f"with {n_rows:,} rows (more than {MAX_BINARY_PROFILE_ROWS:,}) the profile (every "
            "point a fit over all rows) is not run; so many rows make the two agree"
        )
        profiled = [(np.nan, np.nan, note if free[k] else profile.NOT_A_PARAMETER)
                    for k in range(m)]  # fmt: skip
    return _binary_split(layout, profile._merge(profiled, wald[:m], free[:m]))


class _ShareLayout:
    """A null model's deviance with one variance share held: phi = (c, the SDs of the levels
    outside the share, angles splitting the share's variance among its levels, beta).

    The share is sum_{l in A} tau_l / (sum_l tau_l + pi^2/3) for a set A of levels (a level's own
    share, or the cumulative ICC: the level and every level outside it); held at c, the levels
    in A together have c (pi^2/3 + the others' variance) / (1 - c), which the angles divide
    (hyperspherical: cos^2, sin^2 cos^2, ...), so every point is in the parameter space."""

    def __init__(self, model, inside: list[int]):
        self.model = model
        L = len(model.names)
        self.inside = list(inside)
        self.outside = [k for k in range(L) if k not in inside]
        self.n_angles = len(self.inside) - 1
        self.n_var = 1 + len(self.outside) + self.n_angles
        self.levels: list = []

    def taus(self, phi: np.ndarray) -> np.ndarray | None:
        c = float(phi[0])
        if not 0.0 <= c < 1.0:
            return None
        tau = np.zeros(len(self.model.names))
        tau[self.outside] = phi[1 : 1 + len(self.outside)] ** 2
        total = c * (LATENT + tau[self.outside].sum()) / (1.0 - c)
        angles = phi[1 + len(self.outside) : self.n_var]
        left = 1.0
        for k, level in enumerate(self.inside):
            if k < self.n_angles:
                tau[level] = total * left * np.cos(angles[k]) ** 2
                left *= np.sin(angles[k]) ** 2
            else:
                tau[level] = total * left
        return tau

    def theta(self, phi: np.ndarray) -> np.ndarray | None:
        tau = self.taus(phi)
        return None if tau is None else np.sqrt(tau)  # one intercept per level: Lambda = SD

    def deviance(self, phi: np.ndarray) -> float:
        theta = self.theta(phi)
        return np.inf if theta is None else _laplace(self.model, theta, phi[self.n_var :])

    def best(self, tau: np.ndarray, beta: np.ndarray) -> np.ndarray:
        share = tau[self.inside].sum()
        angles, left = [], share
        for level in self.inside[:-1]:
            ratio = tau[level] / left if left > 0 else 1.0
            angles.append(float(np.arccos(np.sqrt(np.clip(ratio, 0.0, 1.0)))))
            left -= tau[level]
        c = share / (tau.sum() + LATENT)
        return np.concatenate([[c], np.sqrt(tau[self.outside]), angles, beta])


def binary_share_intervals(fit, sets: list[list[int]], n_rows: int) -> list[tuple]:
    """Profile-likelihood 95% intervals of latent-scale variance shares of a binary null model
    (random intercepts only): for each set A of level indices, sum_{l in A} tau_l / (sum tau +
    pi^2/3) held at each value, the Laplace deviance minimised over everything else (as the
    one-level ICC's profile). (low, high, note) per set; NaN bounds with the reason where there
    is none (a variance at zero; beyond MAX_BINARY_PROFILE_ROWS Wald on the logit scale)."""
    model = fit.model
    tau = np.asarray(fit.theta, float) ** 2
    out = []
    if not fit.verified or fit.hessian is None:
        return [(np.nan, np.nan, "no interval (the optimum could not be verified)")] * len(sets)
    if np.any(np.sqrt(tau) < EDGE_SD):
        return [(np.nan, np.nan, "no interval (a variance at zero)")] * len(sets)
    big = n_rows > MAX_BINARY_PROFILE_ROWS
    for inside in sets:
        layout = _ShareLayout(model, inside)
        best = layout.best(tau, np.asarray(fit.beta, float))
        n = len(best)
        is_cor = np.zeros(n, bool)
        identity = np.zeros(n, bool)
        identity[1 + len(layout.outside) :] = True  # the angles and beta
        edges = [(0.0, 1.0)] + [(0.0, np.inf)] * len(layout.outside)
        edges += [(-np.inf, np.inf)] * (n - len(edges))
        done = _profile_parameters(
            layout, best, is_cor, np.ones(n, bool), np.ones(n), [], [] if big else [0], edges,
            identity, _fit_curvature(fit, layout),
        )  # fmt: skip
        if done is None:
            out.append((np.nan, np.nan, "no interval (the deviance is not curved at the optimum)"))
        elif big:
            low, high = _logit_wald(best[0], done[1][0])
            out.append((low, high, f"Wald on the logit scale: with {n_rows:,} rows the profile "
                        "is not run"))  # fmt: skip
        else:
            out.append(done[0][0])
    return out


def _logit_wald(c: float, log_bounds: np.ndarray) -> tuple[float, float]:
    """A share's Wald interval on the logit scale from its log-scale interval's SE."""
    if not np.all(np.isfinite(log_bounds)) or not 0 < c < 1:
        return np.nan, np.nan
    se = (np.log(log_bounds[1]) - np.log(log_bounds[0])) / (2 * 1.959963984540054)
    se_logit = se / (1 - c)  # d logit(c) / d log(c) = 1 / (1 - c)
    centre = np.log(c / (1 - c))
    lo, hi = centre - 1.959963984540054 * se_logit, centre + 1.959963984540054 * se_logit
    return float(1 / (1 + np.exp(-lo))), float(1 / (1 + np.exp(-hi)))
