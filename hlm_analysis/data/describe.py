"""Descriptive statistics of the analysis sample (what the 'Data' section of the report shows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import rules
from ..results import (
    Correlations,
    DataSummary,
    GroupSize,
    GroupTable,
    LevelCount,
    NumericSummary,
)
from .prepare import Prepared, measured_values


def _numeric_summary(series: pd.Series) -> NumericSummary:
    return NumericSummary(
        n=int(series.count()),
        mean=float(series.mean()),
        sd=float(series.std(ddof=1)),
        min=float(series.min()),
        median=float(series.median()),
        max=float(series.max()),
    )


def numeric_variables(prepared: Prepared) -> list[str]:
    """The outcome and every numeric variable of the models, in config order."""
    spec = prepared.spec
    variables = [spec.outcome, *[v for v in prepared.predictors if v not in prepared.categorical]]
    interaction_vars = [v for t in spec.interactions for v in t.split(":")]
    variables += [
        v for v in interaction_vars if v not in variables and v not in prepared.categorical
    ]
    return list(dict.fromkeys(variables))


def describe(prepared: Prepared) -> DataSummary:
    frame = prepared.frame
    names = numeric_variables(prepared)
    # The data section describes variables as measured; predictions need the centred scale too.
    measured = pd.DataFrame({v: measured_values(prepared, v) for v in names})
    numeric = {v: _numeric_summary(measured[v]) for v in names}
    model_scale = {v: _numeric_summary(frame[v]) for v in names if v in prepared.spec.centering}
    categorical = {
        var: tuple(
            LevelCount(level, int((frame[var].astype(str) == level).sum())) for level in levels
        )
        for var, levels in prepared.categorical.items()
    }
    corr = measured[names].corr().to_numpy() if len(names) > 1 else np.ones((1, 1))
    sizes = prepared.group_sizes()
    outcome_by_group = (
        pd.DataFrame({"g": prepared.group_codes, "y": prepared.y})
        .groupby("g")["y"]
        .agg(["mean", "std"])
    )
    return DataSummary(
        n_rows_read=prepared.n_rows_read,
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
            labels=tuple(prepared.group_labels),
            n=tuple(int(n) for n in sizes),
            outcome_mean=tuple(outcome_by_group["mean"].tolist()),
            outcome_sd=tuple(outcome_by_group["std"].fillna(0.0).tolist()),
        ),
    )
