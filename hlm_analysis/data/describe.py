"""Descriptive statistics of the analysis sample (what the 'Data' section of the report shows).

Everything comes from the design's per-group cross products (exact, from every row), except the
medians, which come from the figures' row sample (all rows up to 50,000; the report says so)."""

from __future__ import annotations

import numpy as np

from .. import rules
from ..results import (
    Correlations,
    DataSummary,
    GroupSize,
    GroupTable,
    LevelCount,
    NumericSummary,
)
from .levels import cell_names, level_summaries
from .prepare import Prepared
from .prepare import numeric_variables as _numeric_variables


def numeric_variables(prepared: Prepared) -> list[str]:
    """The outcome and every numeric variable of the models, in config order."""
    return _numeric_variables(prepared.spec, prepared.predictors, prepared.categorical)


def _summary(prepared: Prepared, name: str, median: float) -> NumericSummary:
    sums = prepared.sums
    low, high = sums.range(name)
    return NumericSummary(
        n=prepared.n_obs,
        mean=sums.mean(name),
        sd=sums.sd(name),
        min=low,
        median=median,
        max=high,
    )


def _innermost(prepared: Prepared):
    """The sums and group count of the groups `group_level` speaks of: the cells, which are
    the innermost groups of nested levels; crossed, the second factor's groups."""
    levels = prepared.levels
    if levels is None or not levels.crossed:
        return prepared.sums, prepared.n_groups
    name = levels.names[-1]
    return levels.sums_at(prepared.sums, name), levels.level(name).n_groups


def _group_values(prepared: Prepared, name: str) -> np.ndarray:
    """One value per group of a column constant within groups (its smallest = its largest)."""
    sums, _ = _innermost(prepared)
    return sums.group_low[:, sums.index([name])[0]]


def group_level(prepared: Prepared) -> tuple[dict, dict]:
    """Variables constant within every group described at the group level, one value per group:
    a per-row N and mean weight each group by its size and count one school's value once per
    pupil (graduation's Mentoring: 2,774 'students' for 40 schools)."""
    design = prepared.design
    numeric, counts = {}, {}
    for name in numeric_variables(prepared)[1:]:  # the outcome first, never group-level here
        if not design.variable(name).group_level:
            continue
        values = _group_values(prepared, prepared.measured_name(name))
        numeric[name] = NumericSummary.of_values(values)
    for var, levels in prepared.categorical.items():
        if not design.variable(var).group_level:
            continue
        own = getattr(design.variable(var), "level", None)
        if prepared.levels is not None and own:
            # several levels: counted over the groups of the outermost level it is constant
            # within (sector: 100 schools, not their 600 classes)
            sums = prepared.levels.sums_at(prepared.sums, own)
            n_groups = prepared.levels.level(own).n_groups
            at = [int(round(sums.group_low[:, sums.index([t])[0]].sum())) for t in
                  prepared.terms_of[var]]  # fmt: skip
        else:
            n_groups = _innermost(prepared)[1]
            at = [int(round(_group_values(prepared, t).sum())) for t in prepared.terms_of[var]]
        counts[var] = tuple(
            LevelCount(level, n) for level, n in zip(levels, [n_groups - sum(at), *at], strict=True)
        )
    return numeric, counts


def describe(prepared: Prepared) -> DataSummary:
    sums = prepared.sums
    names = numeric_variables(prepared)
    # The data section describes variables as measured; predictions need the centred scale too.
    numeric = {v: _summary(prepared, prepared.measured_name(v), prepared.medians[v]) for v in names}
    model_scale = {
        v: _summary(prepared, v, float(np.median(prepared.sample.columns[v])))
        for v in names
        if v in prepared.spec.centering
    }
    categorical = {}
    for var, levels in prepared.categorical.items():
        counts = [float(sums.group_totals(t).sum()) for t in prepared.terms_of[var]]
        categorical[var] = tuple(
            LevelCount(level, int(round(n)))
            for level, n in zip(levels, [prepared.n_obs - sum(counts), *counts], strict=True)
        )
    measured = [prepared.measured_name(v) for v in names]
    corr = sums.correlation(measured) if len(names) > 1 else np.ones((1, 1))
    sizes = sums.counts
    y_sum = sums.group_totals(sums.outcome)
    y_mean = y_sum / sizes
    y_ss = np.clip(sums.cross[:, 0, 0] - y_sum * y_mean, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        y_sd = np.where(sizes > 1, np.sqrt(y_ss / np.maximum(sizes - 1, 1)), 0.0)
    level2, level2_counts = group_level(prepared)
    levels = prepared.levels
    # several levels: the cells are named by their ids for people ('A / 1'), and each level
    # described (data.levels); one level writes neither
    labels = prepared.group_labels if levels is None else cell_names(levels)
    # per-group ranges only when some group is below the strictest privacy cut a report may
    # use (the site's copy raises min_cell to profiles: min_size)
    spec = prepared.spec
    cut = max(spec.min_cell, spec.profiles.min_size)
    ranges = {}
    if (sizes < cut).any():
        for v in names:
            i = sums.index([prepared.measured_name(v)])[0]
            ranges[v] = (
                tuple(sums.group_low[:, i].tolist()),
                tuple(sums.group_high[:, i].tolist()),
            )
    return DataSummary(
        n_rows_read=prepared.n_rows_read,
        files_read=prepared.files_read,
        n_obs=prepared.n_obs,
        n_groups=prepared.n_groups,
        group_size=GroupSize(int(sizes.min()), float(sizes.mean()), int(sizes.max())),
        n_tiny_groups=int((sizes < rules.TINY_GROUP.value).sum()),
        rows_dropped=prepared.n_rows_read - prepared.n_obs,
        dropped_by_column=dict(prepared.dropped),
        numeric=numeric,
        model_scale=model_scale,
        categorical=categorical,
        correlations=Correlations(tuple(names), tuple(map(tuple, corr.tolist()))),
        groups=GroupTable(
            labels=tuple(labels),
            n=tuple(int(n) for n in sizes),
            outcome_mean=tuple(y_mean.tolist()),
            outcome_sd=tuple(y_sd.tolist()),
            low={v: r[0] for v, r in ranges.items()},
            high={v: r[1] for v, r in ranges.items()},
        ),
        group_level=level2,
        group_level_counts=level2_counts,
        levels=() if levels is None else level_summaries(levels, sizes),
        crossed=levels is not None and levels.crossed,
    )
