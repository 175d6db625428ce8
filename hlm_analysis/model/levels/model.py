"""One multilevel model's exact criterion: columns picked from the cells' sums, theta laid out per
level, the profiled REML/ML deviance of lme4 (Bates et al. 2015, JSS 67(1), sec. 3), and the
deviance with sigma free that Satterthwaite's df differentiate."""

from __future__ import annotations

import numpy as np

from ...data.sums import DesignSums
from . import blocks
from .crossed import Crossed
from .nested import Nested

LOG_2PI = np.log(2.0 * np.pi)


class ThetaLayout:
    """theta: levels in `names` order (outermost first), each level's lower-triangular Lambda_l
    column-major (its Z columns: the intercept, then its slopes). The optimizer's parameters are
    the free entries of a full vector of `n_params` (theta, then anything a subclass appends)."""

    def __init__(self, names: list[str], q: list[int], diagonal=False):
        self.names, self.q = list(names), list(q)
        if isinstance(diagonal, bool):
            self.diagonal = set(names) if diagonal else set()
        else:
            self.diagonal = set(diagonal)
        sizes = [blocks.n_theta(k) for k in self.q]
        ends = np.cumsum(sizes)
        self.slices = {
            name: slice(int(e - k), int(e)) for name, e, k in zip(names, ends, sizes, strict=True)
        }
        self.n_theta = self.n_params = int(ends[-1])
        # free entries: the uncorrelated (||) levels keep only their diagonal
        free = []
        self.diag_positions = {}  # each level's diagonal of Lambda (the variances' factors)
        for name, k in zip(names, self.q, strict=True):
            rows, cols = blocks.theta_positions(k)
            keep = (rows == cols) if name in self.diagonal else np.ones(len(rows), bool)
            free.extend(self.slices[name].start + np.flatnonzero(keep))
            self.diag_positions[name] = self.slices[name].start + np.flatnonzero(rows == cols)
        self.free = np.asarray(free, dtype=np.int64)

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        theta = np.asarray(theta, float)
        return [
            blocks.lambda_of(theta[self.slices[n]], k)
            for n, k in zip(self.names, self.q, strict=True)
        ]

    def start(self) -> np.ndarray:
        """lme4's start: every Lambda_l the identity."""
        theta = np.zeros(self.n_params)
        for name in self.names:
            theta[self.diag_positions[name]] = 1.0
        return theta

    def canonical(self, theta: np.ndarray) -> np.ndarray:
        """Column signs flipped so every diagonal is non-negative (Lambda Lambda' unchanged)."""
        out = np.asarray(theta, float).copy()
        for name, k in zip(self.names, self.q, strict=True):
            lam = blocks.lambda_of(out[self.slices[name]], k)
            lam = lam * np.where(np.diag(lam) < 0, -1.0, 1.0)[None, :]
            rows, cols = blocks.theta_positions(k)
            out[self.slices[name]] = lam[rows, cols]
        return out

    def full(self, free_values: np.ndarray) -> np.ndarray:
        theta = np.zeros(self.n_params)
        theta[self.free] = free_values
        return theta


class LevelsModel(ThetaLayout):
    """The linear model's exact criterion (see ThetaLayout for theta's layout)."""

    def __init__(
        self,
        sums: DesignSums,
        codes: list[np.ndarray],
        n_groups: list[int],
        names: list[str],
        crossed: bool,
        fixed: list[str],
        random: dict[str, list[str]],
        diagonal=False,
    ):
        if len(codes) != len(names) or len(n_groups) != len(names):
            raise ValueError("codes, n_groups and names must have one entry per level")
        if crossed and len(names) != 2:
            raise ValueError("crossed factors must be exactly two")
        unknown = set(random) - set(names)
        if unknown:
            raise ValueError(f"random slopes at unknown level(s): {sorted(unknown)}")
        missing = [
            t
            for t in [*fixed, *(v for vs in random.values() for v in vs)]
            if t not in sums.names[1:]
        ]
        if missing:
            raise ValueError(f"columns not in the design sums: {sorted(set(missing))}")
        self.crossed = bool(crossed)
        self.fixed = list(fixed)
        intercept = sums.names[1]
        self.terms = {name: [intercept, *random.get(name, [])] for name in names}
        super().__init__(names, [len(self.terms[name]) for name in names], diagonal)
        z = [sums.index(self.terms[name]) for name in names]
        x = sums.index(self.fixed)
        engine = Crossed if crossed else Nested
        self.engine = engine(sums.cross, sums.counts, z, x, 0, codes, n_groups)
        self.n = float(sums.n)
        self.p = len(x)
        self.n_groups = {name: int(g) for name, g in zip(names, n_groups, strict=True)}
        self.slope_sd = {t: sums.sd(t) for name in names for t in self.terms[name][1:]}

    def start(self) -> np.ndarray:
        """lme4's start (every Lambda_l the identity) with each slope's diagonal entry divided by
        its variable's SD: a slope's variance then starts on the scale of the intercept's (a
        prior score in points has SD 10: its slope's SD is a tenth of the intercept's, not the
        same), which saves Newton steps."""
        theta = super().start()
        for name in self.names:
            for k, term in enumerate(self.terms[name][1:], start=1):
                sd = self.slope_sd[term]
                if sd > 0 and np.isfinite(sd):
                    theta[self.diag_positions[name][k]] = 1.0 / sd
        return theta

    def theta_units(self) -> np.ndarray:
        """Each free theta entry's natural size: 1 / the SD of its row's term (Lambda's row for
        a slope scales as 1 / the slope variable's units; the intercept's row as 1)."""
        units = np.ones(self.n_params)
        for name, k in zip(self.names, self.q, strict=True):
            rows, _ = blocks.theta_positions(k)
            for at, row in zip(range(self.slices[name].start, self.slices[name].stop), rows,
                               strict=True):  # fmt: skip
                sd = self.slope_sd.get(self.terms[name][row], 1.0) if row > 0 else 1.0
                units[at] = 1.0 / sd if sd > 0 and np.isfinite(sd) else 1.0
        return units[self.free]

    # the criterion
    def pieces(self, theta: np.ndarray):
        """(C = [X y]'V^-1[X y] sigma^2, log|V|)."""
        C, logdet, _ = self.engine.evaluate(self.lambdas(theta))
        return C, logdet

    def fixed_part(self, C: np.ndarray):
        """(A = X'V^-1 X sigma^2, beta, pwrss, log|A|) by one Cholesky of C."""
        p = self.p
        chol = np.linalg.cholesky(C)
        diag = np.diag(chol)
        beta = np.linalg.solve(chol[:p, :p].T, chol[p, :p])
        return C[:p, :p], beta, float(diag[p] ** 2), 2.0 * float(np.log(diag[:p]).sum())

    def solve(self, theta: np.ndarray, reml: bool = True, covariance: bool = True):
        """(beta, sigma2, deviance, cov_beta or None) at theta, sigma^2 profiled out."""
        C, logdet = self.pieces(theta)
        A, beta, pwrss, logdet_A = self.fixed_part(C)
        if not pwrss > 0:
            raise np.linalg.LinAlgError("no residual variance")
        dof = (self.n - self.p) if reml else self.n
        deviance = logdet + dof * (1.0 + LOG_2PI + np.log(pwrss / dof))
        if reml:
            deviance += logdet_A
        sigma2 = pwrss / dof
        cov_beta = sigma2 * np.linalg.inv(A) if covariance else None
        return beta, float(sigma2), float(deviance), cov_beta

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """The profiled criterion; +inf where it is not defined (never chosen as a minimum)."""
        try:
            with np.errstate(all="ignore"):
                value = self.solve(theta, reml, covariance=False)[2]
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf
        return value if np.isfinite(value) else np.inf

    def full_deviance(self, theta: np.ndarray, sigma: float, reml: bool = True) -> float:
        """The deviance with sigma free (not profiled), as lmerTest differentiates it."""
        try:
            C, logdet = self.pieces(theta)
            _, _, pwrss, logdet_A = self.fixed_part(C)
        except (np.linalg.LinAlgError, ValueError):
            return np.inf
        dof = (self.n - self.p) if reml else self.n
        value = logdet + dof * (LOG_2PI + 2.0 * np.log(sigma)) + pwrss / sigma**2
        return value + logdet_A if reml else value

    def contrast_variances(self, theta: np.ndarray, sigma: float, L: np.ndarray) -> np.ndarray:
        """Var(L beta) diagonal = sigma^2 diag(L A^-1 L')."""
        C, _ = self.pieces(theta)
        A_inv = np.linalg.inv(C[: self.p, : self.p])
        return sigma**2 * np.einsum("ip,pr,ir->i", L, A_inv, L)

    def conditional(self, theta: np.ndarray, beta: np.ndarray, sigma2: float):
        modes, covs = self.engine.conditional(self.lambdas(theta), beta, sigma2)
        return (
            {n: m for n, m in zip(self.names, modes, strict=True)},
            {n: c for n, c in zip(self.names, covs, strict=True)},
        )
