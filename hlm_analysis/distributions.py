"""The few distribution functions the package needs: tail probabilities and quantiles of Student's
t, chi-square and the standard normal, to about 1e-14 relative.

Written out here, not imported: scipy.special alone costs ~0.2 s of start-up (scipy.stats most of
a second), more than fitting a random-slope model on half a million rows, and `hlm-report fit` needs
a handful of values per model. tests/test_distributions.py holds them to scipy.special across the
range, tails included.

The methods are the textbook ones: the t tail is the regularized incomplete beta function by its
continued fraction (modified Lentz), the chi-square tail the regularized incomplete gamma function
(its series below the mode, its continued fraction above), the normal tail math.erfc; quantiles
invert the tails by Newton steps kept inside a bracket.
"""

from __future__ import annotations

import math

import numpy as np

_TINY = 1e-300
_EPS = 1e-16
_MAX_TERMS = 100_000
_LARGE_DF = 1000.0  # from here on the t tail by quadrature: the continued fraction loses digits


def _elementwise(function):
    """`function` of Python floats, applied elementwise with numpy broadcasting; a float when all
    inputs are scalars, as scipy's ufuncs."""

    def apply(*args):
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args))
        out = np.array(
            [function(*values) for values in zip(*(a.ravel() for a in arrays), strict=True)]
        )
        return float(out[0]) if arrays[0].ndim == 0 else out.reshape(arrays[0].shape)

    return apply


# --- special functions ---------------------------------------------------------------------------


def _log_beta(a: float, b: float) -> float:
    """log B(a, b). For Student's t (b = 1/2) with a large, lgamma(a) - lgamma(a + 1/2) would lose
    the digits of a difference of two numbers near a log a: Stirling's series for the difference,
    rearranged so that nothing large cancels, keeps them."""
    if a == 0.5:
        a, b = b, a
    if b == 0.5 and a > 50.0:
        h = a + 0.5
        stirling = (  # lgamma(a + 1/2) - lgamma(a), error below 1e-17 for a > 50
            a * math.log1p(0.5 / a)
            + 0.5 * math.log(a)
            - 0.5
            + (1.0 / h - 1.0 / a) / 12.0
            - (1.0 / h**3 - 1.0 / a**3) / 360.0
            + (1.0 / h**5 - 1.0 / a**5) / 1260.0
        )
        return math.lgamma(0.5) - stirling
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _lentz(term, first: float) -> float:
    """The continued fraction first + a1/(1 + a2/(1 + ...)) with term(m) = a_m, by Lentz's method."""
    f = first if first != 0 else _TINY
    c, d = f, 0.0
    for m in range(1, _MAX_TERMS):
        a = term(m)
        d = 1.0 + a * d
        d = 1.0 / (d if d != 0 else _TINY)
        c = 1.0 + a / c
        c = c if c != 0 else _TINY
        f *= c * d
        if abs(c * d - 1.0) < _EPS:
            return f
    raise ArithmeticError("continued fraction did not converge")


def _beta_tail(a: float, b: float, log_x: float, log_y: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, with log x and log(1 - x) given
    separately so that neither x nor 1 - x near 1 loses digits."""
    x = math.exp(log_x)
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only below this point
        return 1.0 - _beta_tail(b, a, log_y, log_x)
    front = math.exp(a * log_x + b * log_y - _log_beta(a, b)) / a

    def term(m: int) -> float:
        k = m // 2
        if m % 2:  # d_(2k+1)
            return -(a + k) * (a + b + k) * x / ((a + 2 * k) * (a + 2 * k + 1))
        return k * (b - k) * x / ((a + 2 * k - 1) * (a + 2 * k))

    return front / _lentz(term, 1.0)


def _gamma_tails(a: float, x: float) -> tuple[float, float]:
    """(P(a, x), Q(a, x)), the regularized lower and upper incomplete gamma functions; the one
    computed directly is accurate to its last digits, however small."""
    if x <= 0:
        return 0.0, 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # the series for P(a, x)
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * _EPS:
            n += 1.0
            term *= x / n
            total += term
        lower = total * math.exp(log_front)
        return lower, 1.0 - lower

    def term(m: int) -> float:  # Q = front / (x + 1 - a - 1(1-a)/(x + 3 - a - ...)), even form
        return -m * (m - a) / ((x + 2 * m - 1 - a) * (x + 2 * m + 1 - a))

    upper = math.exp(log_front) / ((x + 1.0 - a) * _lentz(term, 1.0))
    return 1.0 - upper, upper


# --- Student's t ---------------------------------------------------------------------------------


def _t_sf(x: float, df: float) -> float:
    if math.isnan(x) or math.isnan(df) or df <= 0:
        return math.nan
    if math.isinf(df):
        return _norm_sf(x)
    if math.isinf(x):
        return 0.0 if x > 0 else 1.0
    if x == 0:
        return 0.5
    if df >= _LARGE_DF:
        return _t_sf_quadrature(x, df)
    x = float(x)
    t2 = x * x
    if t2 == 0.0:  # |x| below 1e-154: the tail is 1/2 to double precision
        return 0.5
    # x_beta = df / (df + t^2): its log and the log of its complement, each without cancellation
    if t2 > 1e300:  # t^2 would overflow: df / t^2 is then far below 1 anyway
        log_x, log_y = math.log(df) - 2.0 * math.log(abs(x)), 0.0
    else:
        log_x = -math.log1p(t2 / df)
        log_y = math.log(t2) - math.log(df + t2) if t2 < df else -math.log1p(df / t2)
    tail = 0.5 * _beta_tail(0.5 * df, 0.5, log_x, log_y)
    return tail if x > 0 else 1.0 - tail


# the exp-sinh (double-exponential) rule on [0, inf): nodes v and weights h dv/dtau
_DE_TAU = np.arange(-4.0, 4.0 + 1.0 / 32, 1.0 / 16)
_DE_NODES = np.exp(0.5 * np.pi * np.sinh(_DE_TAU))
_DE_WEIGHTS = _DE_NODES * 0.5 * np.pi * np.cosh(_DE_TAU) / 16


def _t_sf_quadrature(x: float, df: float) -> float:
    """P(T > x) for large df, as pdf(x) times the integral over u > 0 of pdf(x + u) / pdf(x).
    With 2a = df large the continued fraction for I_x(a, 1/2) starts from a difference like
    1 - (1 - 1/a) and loses digits (8 of them at df = 1e9); the ratio of densities,
    (1 + u(2x + u)/(df + x^2))^(-(df + 1)/2), has no such difference, and the double-exponential
    rule integrates it to about 1e-13 relative with 129 nodes, tails included."""
    if x < 0:
        return 1.0 - _t_sf_quadrature(-x, df)
    scale = 1.0 / max(1.0, x)  # the ratio falls like exp(-x u): nodes on its scale
    u = scale * _DE_NODES
    ratio = np.exp(-0.5 * (df + 1.0) * np.log1p(u * (2.0 * x + u) / (df + x * x)))
    return _t_pdf(x, df) * scale * float(ratio @ _DE_WEIGHTS)


def _t_pdf(x: float, df: float) -> float:
    if math.isinf(df):
        return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    x = abs(float(x))
    # log(1 + x^2 / df), without overflow for x beyond 1e150
    log_ratio = math.log1p(x * x / df) if x < 1e150 else 2 * math.log(x) - math.log(df)
    log = -_log_beta(0.5 * df, 0.5) - 0.5 * math.log(df) - 0.5 * (df + 1) * log_ratio
    return math.exp(log)


def _t_isf(q: float, df: float) -> float:
    """The t with P(T > t) = q."""
    if math.isnan(q) or math.isnan(df) or df <= 0 or not 0 <= q <= 1:
        return math.nan
    if q == 0:
        return math.inf
    if q == 1:
        return -math.inf
    if q > 0.5:
        return -_t_isf(1.0 - q, df)
    if q == 0.5:
        return 0.0
    start = float(_norm_isf(q))
    hi = max(start, 1.0)
    while _t_sf(hi, df) > q:
        hi *= 4.0
        if math.isinf(hi):  # the quantile lies beyond the largest double
            return math.inf
    return _invert(lambda t: _t_sf(t, df), lambda t: _t_pdf(t, df), q, 0.0, hi, start)


# --- chi-square ----------------------------------------------------------------------------------


def _chi2_sf(x: float, df: float) -> float:
    if math.isnan(x) or math.isnan(df) or df < 0:
        return math.nan
    if df == 0:
        return 0.0 if x > 0 else 1.0
    if math.isinf(x):
        return 0.0 if x > 0 else 1.0
    return _gamma_tails(0.5 * df, 0.5 * x)[1]


def _f_sf(x: float, df1: float, df2: float) -> float:
    """P(F > x) = I_w(df2 / 2, df1 / 2) with w = df2 / (df2 + df1 x), both logs taken apart."""
    if math.isnan(x) or math.isnan(df1) or math.isnan(df2) or df1 <= 0 or df2 <= 0:
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if math.isinf(df2):
        return _chi2_sf(df1 * x, df1)
    log_total = math.log(df2 + df1 * x)
    return _beta_tail(
        0.5 * df2, 0.5 * df1, math.log(df2) - log_total, math.log(df1 * x) - log_total
    )


def _chi2_pdf(x: float, df: float) -> float:
    if x <= 0:
        return 0.0
    a = 0.5 * df
    return math.exp((a - 1) * math.log(0.5 * x) - 0.5 * x - math.lgamma(a)) / 2.0


def _chi2_ppf(p: float, df: float) -> float:
    """The x with P(X <= x) = p, solved on whichever tail is the smaller so that neither tiny p nor
    p near 1 loses digits."""
    if math.isnan(p) or math.isnan(df) or df <= 0 or not 0 <= p <= 1:
        return math.nan
    if p == 0:
        return 0.0
    if p == 1:
        return math.inf
    if df == 1 and p >= 0.5:  # the square of a normal: exactly and cheaply
        return float(_norm_isf(0.5 * (1.0 - p))) ** 2
    hi = max(df, 1.0)
    while _gamma_tails(0.5 * df, 0.5 * hi)[0] < p:
        hi *= 4.0
        if math.isinf(hi):  # the quantile lies beyond the largest double
            return math.inf
    if p < 0.5:  # the lower tail rises with x: solve -P(x) = -p
        a = 0.5 * df
        # near 0, P(a, x/2) ~ (x/2)^a / Gamma(a + 1): its inverse starts Newton close to the root
        start = 2.0 * math.exp((math.log(p) + math.lgamma(a + 1.0)) / a)
        if start == 0.0:  # the quantile lies below the smallest double
            return 0.0
        return _invert(
            lambda x: -_gamma_tails(a, 0.5 * x)[0],
            lambda x: _chi2_pdf(x, df),
            -p,
            0.0,
            hi,
            start,
        )
    return _invert(
        lambda x: _chi2_sf(x, df), lambda x: _chi2_pdf(x, df), 1.0 - p, 0.0, hi, 0.5 * hi
    )


# --- the normal ----------------------------------------------------------------------------------


def _norm_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _norm_isf(q) -> np.ndarray:
    """The z with P(Z > z) = q, elementwise over an array (QQ plots ask for 50,000 at once): a
    rational start (Abramowitz and Stegun 26.2.23, error < 5e-4) and three Halley steps, each of
    which cubes the relative error. The lower half by symmetry, so that q near 0 keeps its digits."""
    q = np.asarray(q, dtype=float)
    upper = q > 0.5
    tail = np.where(upper, 1.0 - q, q)  # in (0, 0.5]
    with np.errstate(all="ignore"):
        t = np.sqrt(-2.0 * np.log(tail))
        z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
            1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t**3
        )
        for _ in range(3):
            # u = (sf(z) - q) / pdf(z), the Newton step; Halley's correction for the curvature
            sf = 0.5 * np.asarray(_erfc(z / math.sqrt(2.0)), dtype=float)
            u = (sf - tail) * math.sqrt(2 * math.pi) * np.exp(0.5 * z * z)
            z = np.where(np.isfinite(u), z + u / (1.0 + 0.5 * z * u), z)
    z = np.where(upper, -z, z)
    z = np.where(q == 0, np.inf, np.where(q == 1, -np.inf, np.where(q == 0.5, 0.0, z)))
    return np.where((q >= 0) & (q <= 1), z, np.nan)  # nan stays nan


def _invert(sf, pdf, q: float, lo: float, hi: float, start: float) -> float:
    """The x in [lo, hi] with sf(x) = q for a decreasing sf with density pdf: Newton steps,
    kept inside the bracket. A Newton step that leaves it, or one of every three when progress
    is slow (in a heavy tail Newton creeps, by a factor 1 + 1/df a step), is replaced by
    bisection, geometric when the bracket spans orders of magnitude, so the bracket shrinks
    at least as fast as bisection's and the answer is never a value that stopped short."""
    x = min(max(start, lo), hi)
    for step_number in range(1, 400):
        gap = sf(x) - q
        if gap == 0:
            return x
        if gap > 0:
            lo = x
        else:
            hi = x
        density = pdf(x)
        candidate = x + gap / density if density > 0 else math.inf
        if not lo < candidate < hi or step_number % 3 == 0:
            wide = lo > 0 and hi > 4 * lo and math.isfinite(hi)
            candidate = math.sqrt(lo) * math.sqrt(hi) if wide else 0.5 * (lo + hi)
        if abs(candidate - x) <= 4 * _EPS * abs(candidate) or hi - lo <= 4 * _EPS * abs(hi):
            return candidate
        x = candidate
    raise ArithmeticError(f"quantile for tail probability {q!r} did not converge")


# --- the interface -------------------------------------------------------------------------------

_t_sf_elementwise = _elementwise(_t_sf)
_t_isf_elementwise = _elementwise(_t_isf)
_chi2_sf_elementwise = _elementwise(_chi2_sf)
_chi2_ppf_elementwise = _elementwise(_chi2_ppf)
_norm_sf_elementwise = _elementwise(_norm_sf)
_f_sf_elementwise = _elementwise(_f_sf)


def t_sf(x, df):
    """P(T > x) for Student's t with `df` degrees of freedom."""
    return _t_sf_elementwise(x, df)


def t_ppf(p, df):
    """The p quantile of Student's t (by symmetry from the tail, so small p keep their digits)."""
    return -_t_isf_elementwise(p, df)


def chi2_sf(x, df):
    """P(X > x) for chi-square with `df` degrees of freedom."""
    return _chi2_sf_elementwise(x, df)


def f_sf(x, df1, df2):
    """P(X > x) for Fisher's F with (df1, df2) degrees of freedom."""
    return _f_sf_elementwise(x, df1, df2)


def chi2_ppf(p, df):
    """The p quantile of chi-square."""
    return _chi2_ppf_elementwise(p, df)


def norm_sf(x):
    """P(Z > x) for the standard normal."""
    return _norm_sf_elementwise(x)


def norm_ppf(p):
    """The p quantile of the standard normal (by symmetry, as t_ppf)."""
    z = -_norm_isf(p)
    return float(z) if z.ndim == 0 else z
