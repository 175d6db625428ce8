"""Descriptive statistics of the analysis sample (what the 'Data' section of the report shows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Prepared


def _numeric_summary(series: pd.Series) -> dict:
    return {
        "n": int(series.count()),
        "mean": float(series.mean()),
        "sd": float(series.std(ddof=1)),
        "min": float(series.min()),
        "median": float(series.median()),
        "max": float(series.max()),
    }


def describe(prepared: Prepared) -> dict:
    spec = prepared.spec
    frame = prepared.frame
    variables = [spec.outcome, *[v for v in prepared.predictors if v not in prepared.categorical]]
    interaction_vars = [v for t in spec.interactions for v in t.split(":")]
    variables += [
        v for v in interaction_vars if v not in variables and v not in prepared.categorical
    ]
    numeric = {v: _numeric_summary(frame[v]) for v in dict.fromkeys(variables)}
    categorical = {
        var: [
            {"level": level, "n": int((frame[var].astype(str) == level).sum())} for level in levels
        ]
        for var, levels in prepared.categorical.items()
    }
    numeric_names = list(numeric)
    corr = frame[numeric_names].corr().to_numpy() if len(numeric_names) > 1 else np.ones((1, 1))
    sizes = prepared.group_sizes()
    outcome_by_group = (
        pd.DataFrame({"g": prepared.group_codes, "y": prepared.y})
        .groupby("g")["y"]
        .agg(["mean", "std"])
    )
    return {
        "n_rows_read": prepared.n_rows_read,
        "n_obs": prepared.n_obs,
        "n_groups": prepared.n_groups,
        "group_size": {
            "min": int(sizes.min()),
            "mean": float(sizes.mean()),
            "max": int(sizes.max()),
        },
        "n_tiny_groups": int((sizes < 5).sum()),
        "rows_dropped": prepared.n_rows_read - prepared.n_obs,
        "dropped_by_column": prepared.dropped,
        "numeric": numeric,
        "categorical": categorical,
        "correlations": {"variables": numeric_names, "matrix": corr.tolist()},
        "groups": {
            "labels": prepared.group_labels,
            "n": sizes.tolist(),
            "outcome_mean": outcome_by_group["mean"].tolist(),
            "outcome_sd": outcome_by_group["std"].fillna(0.0).tolist(),
        },
    }
