"""Rank intervals of groups, by simulation from their conditional distributions.

A league table ranks groups by their estimated effects as if those were known; they are not.
Following Leckie & Goldstein (2011, Fiscal Studies 32: 207-224) and Goldstein & Spiegelhalter
(1996), each draw takes every group's effect from its conditional distribution, Normal(mode,
conditional SE^2), ranks the drawn effects, and the 2.5th and 97.5th percentiles of a group's
ranks over the draws are its 95% rank interval. The draws are seeded: the same results give the
same intervals on every run and machine (numpy's PCG64 is platform independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DRAWS = 1000
SEED = 20110301  # fixed, so index.json is reproducible; recorded beside the intervals
LEVEL = 0.95


@dataclass(frozen=True)
class Ranks:
    rank: np.ndarray  # 1 = the highest estimate; ties share the best rank
    low: np.ndarray
    high: np.ndarray
    draws: int
    seed: int


def ranks_descending(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, 1 for the largest value; tied values share the best
    (smallest) rank, as 'min' ranking does, so that a group is never ranked below an equal."""
    values = np.asarray(values, dtype=float)
    ordered = np.sort(-values, axis=-1)
    # number of values strictly greater than each value, plus one
    if values.ndim == 1:
        return np.searchsorted(ordered, -values, side="left") + 1
    return np.stack(
        [np.searchsorted(o, -v, side="left") + 1 for o, v in zip(ordered, values, strict=True)]
    )


def rank_intervals(
    estimate: np.ndarray, std_error: np.ndarray, draws: int = DRAWS, seed: int = SEED
) -> Ranks:
    """Each group's rank among all groups and its 95% interval over `draws` simulated sets of
    effects. The interval is widened to hold the rank of the estimates where the percentiles
    of a finite number of draws miss it (possible by one place at most for the extreme groups
    whose simulated ranks pile up at 1 or G)."""
    estimate = np.asarray(estimate, dtype=float)
    std_error = np.nan_to_num(np.asarray(std_error, dtype=float), nan=0.0)
    rng = np.random.default_rng(seed)
    simulated = estimate + std_error * rng.standard_normal((draws, estimate.size))
    ranks = ranks_descending(simulated)
    tail = (1 - LEVEL) / 2
    # inverted_cdf: an observed rank, never a rank halfway between two places
    low = np.quantile(ranks, tail, axis=0, method="inverted_cdf").astype(int)
    high = np.quantile(ranks, 1 - tail, axis=0, method="inverted_cdf").astype(int)
    rank = ranks_descending(estimate)
    return Ranks(rank, np.minimum(low, rank), np.maximum(high, rank), draws, seed)
