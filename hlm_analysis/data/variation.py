"""Whether the outcome varies where the model needs it to, read from the per-group sums.

A mixed model splits the outcome's variance into parts between groups and within them. When the
outcome takes one value in every group of a level (a school mean copied onto each pupil, a class
total, a yes/no answer that is all yes or all no in every school), the part within that level's
groups is exactly zero: the residual variance (or, with a level above the innermost, the inner
levels' variances) sits on the boundary, the optimizer cannot verify an optimum, and for a yes/no
outcome the groups' variance has no finite estimate at all. The fit used to end with a numerical
error or numbers marked provisional; it is the data's shape, so it is refused here, naming the
level. Every data path (in memory, DuckDB, Spark) carries each group's smallest and largest value
of the outcome in `DesignSums`, so this reads no rows.
"""

from __future__ import annotations

from ..errors import InputError
from ..spec import Spec, quoted
from .levels import Levels
from .sums import DesignSums


def refuse_outcome_constant(spec: Spec, value: float, n: int) -> None:
    """Refuse (exit 2) an outcome with one value in all `n` rows of the analysis sample: there is
    nothing to model (every path calls this, so the line is the same on each)."""
    raise InputError(
        f"outcome {quoted(spec.outcome)} is constant ({value:g}) in all {n:,} rows of the "
        "analysis sample, so there is no variation to model; set outcome: to a column whose "
        "values differ between rows"
    )


def refuse_outcome_constant_within(spec: Spec, sums: DesignSums, levels: Levels | None) -> None:
    """Refuse (exit 2) an outcome constant within every group of some level, the outermost such
    level named (constant within a school is constant within its classes too). A level whose
    groups all hold a single row says nothing either way (check_groups and the levels' checks
    refuse those). Crossed factors: each factor's groups; their cells (observed pairs) are no
    level, and an outcome constant within each pair still varies around the two effects' sum."""
    if levels is None:
        by_level = [(spec.levels[-1], sums)]
    else:
        by_level = [(name, levels.sums_at(sums, name)) for name in levels.names]
    outcome = sums.outcome
    for name, at in by_level:
        if not (at.counts >= 2).any() or not at.constant_within_groups(outcome):
            continue
        start = f"outcome {quoted(outcome)} is constant within every group of {quoted(name)}"
        if spec.family == "binomial":
            raise InputError(
                f"{start} (each group all events or all non-events), so the variance between "
                "those groups has no finite estimate; choose an outcome that varies within "
                f"groups, or remove {quoted(name)} from group"
            )
        if name == spec.levels[-1] and len(spec.levels) > 1 and not spec.crossed:
            above = ", ".join(spec.levels[:-1])
            raise InputError(
                f"{start}, so the residual variance would be zero; if it is a mean or total of "
                f"each group, analyse one row per group with group: [{above}], else choose an "
                "outcome measured on each row"
            )
        raise InputError(
            f"{start} (a value of the group, not of its rows), so the variance within those "
            f"groups would be zero; analyse one row per group of {quoted(name)}, or choose an "
            "outcome that varies within them"
        )
