"""The few distribution functions the package needs, from scipy.special: scipy.stats costs most
of a second to import, more than fitting a model on small data."""

from __future__ import annotations

import numpy as np
from scipy import special


def t_sf(x, df):
    """P(T > x) for Student's t with `df` degrees of freedom."""
    return special.stdtr(df, -np.asarray(x, float))


def t_ppf(p, df):
    return special.stdtrit(df, p)


def chi2_sf(x, df):
    return special.chdtrc(df, x)


def chi2_ppf(p, df):
    return special.chdtri(df, 1.0 - np.asarray(p, float))


def norm_sf(x):
    return special.ndtr(-np.asarray(x, float))


def norm_ppf(p):
    return special.ndtri(p)
