"""Contextual means at levels above the innermost (issue 22): a variable's mean over the groups
of an outer level (a school's mean prior score), added as a design column after the cells are
formed, the same way on every data path.

The mean over a school's rows is constant within each of its cells, so everything the models need
of that column follows from the cell sums already made: the mean itself is the school's sum of x
over its row count (both summed from the cells), and over a cell, sum(m_s * v) = m_s * sum(v) for
every column v, sum(m_s^2) = n_c m_s^2. No pass over the rows and no join: memory, DuckDB and
Spark derive the column from the same cell sums by the same arithmetic.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError
from ..results import INTERCEPT, Term, TermKind, Variable, VariableKind
from ..spec import Spec
from .columns import quoted
from .levels import Levels
from .sums import DesignSums

# Separates the variable and the level in the generated column's name (prior_school_mean).
SUFFIX = "_mean"


def outer_mean_name(column: str, level: str) -> str:
    return f"{column}_{level}{SUFFIX}"


def add_outer_means(
    spec: Spec,
    built: tuple,
    predictors: list[str],
    levels: Levels,
    sums: DesignSums,
    rows,
    measured_name,
):
    """`built` (build_design's columns, terms_of, categorical, design), the predictors, the cell
    sums and the rows with each outer-level mean of `spec.contextual_outer` added as a numeric
    predictor. `measured_name(x)` is x's column in the sums as measured (before centring)."""
    columns, terms_of, categorical, design = built
    names = list(sums.names)
    intercept = names.index(INTERCEPT)
    added: list[tuple[str, str, str]] = []  # (column, variable, level)
    for level, variables in spec.contextual_outer.items():
        for variable in variables:
            source = measured_name(variable)
            if variable in categorical or source not in names:
                raise InputError(
                    f"contextual: {quoted(level)}: {quoted(variable)} is not a numeric "
                    "predictor; only a number has a group mean"
                )
            name = outer_mean_name(variable, level)
            if name in names or name in spec.predictors:
                raise InputError(
                    f"contextual: the mean of {quoted(variable)} over {quoted(level)} would be "
                    f"named {quoted(name)}, which is already a column; rename that column"
                )
            added.append((name, variable, level))
    if not added:
        return built, predictors, sums, rows
    counts = sums.counts.astype(float)
    cross, low, high = sums.cross, sums.group_low, sums.group_high
    for name, variable, level in added:
        codes = levels.level(level).codes  # each cell's group at this level
        groups = levels.level(level).n_groups
        total = np.bincount(codes, weights=cross[:, intercept, names.index(measured_name(variable))],
                            minlength=groups)  # fmt: skip
        size = np.bincount(codes, weights=counts, minlength=groups)
        mean = (total / size)[codes]  # (C,) each cell's group mean at this level
        k = cross.shape[1]
        grown = np.empty((cross.shape[0], k + 1, k + 1))
        grown[:, :k, :k] = cross
        grown[:, k, :k] = mean[:, None] * cross[:, intercept, :]
        grown[:, :k, k] = grown[:, k, :k]
        grown[:, k, k] = counts * mean * mean
        cross = grown
        low = np.column_stack([low, mean])
        high = np.column_stack([high, mean])
        names.append(name)
        row_mean = mean[rows.group_codes]
        rows = replace(
            rows,
            columns={**rows.columns, name: row_mean},
            measured={**rows.measured, name: row_mean},
        )
    sums = DesignSums(names=tuple(names), counts=sums.counts, cross=cross, group_low=low,
                      group_high=high)  # fmt: skip
    new_terms = [Term(name, TermKind.NUMERIC, variable=name) for name, _, _ in added]
    last_main = max(i for i, t in enumerate(design.terms) if t.kind != TermKind.INTERACTION)
    terms = (*design.terms[: last_main + 1], *new_terms, *design.terms[last_main + 1 :])
    variables = (
        *design.variables,
        *(Variable(name, VariableKind.NUMERIC, mean_of=variable, terms=(name,))
          for name, variable, _ in added),
    )  # fmt: skip
    predictors = [*predictors, *(name for name, _, _ in added)]
    design = replace(design, predictors=tuple(predictors), variables=variables, terms=terms)
    terms_of = {**terms_of, **{name: [name] for name, _, _ in added}}
    return (columns, terms_of, categorical, design), predictors, sums, rows
