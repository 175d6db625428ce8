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


def centre_at_levels(spec: Spec, built: tuple, levels: Levels, sums: DesignSums, rows,
                     measured_name):  # fmt: skip
    """`built`, the sums and the rows with each variable of `spec.centering_outer` centred on
    its level's group means (`centering: {ses: school}`): x - m_L, m_L the mean over the rows of
    x's group at level L.

    Every data path has centred x on the grand mean (spec.centering holds "grand" for it), and
    m_L - m is constant within each cell, so the column x - m_L is a cell-wise shift of the
    column made: over a cell, sum((x_g - d) v) = sum(x_g v) - d sum(v) for every column v, with
    d the cell's level mean of x_g (from the cell sums). A product term with x is shifted by d
    times the product of its other parts, which must be a column too. Grand-centred first, the
    sums lose no more digits than the between-level spread of x costs; no pass over the rows."""
    columns, terms_of, categorical, design = built
    names = list(sums.names)
    index = {name: i for i, name in enumerate(names)}
    one = index[INTERCEPT]
    cross, low, high = sums.cross, sums.group_low.copy(), sums.group_high.copy()
    row_columns = dict(rows.columns)
    for variable, level in spec.centering_outer.items():
        at = levels.level(level)
        if levels.sums_at(sums, level).constant_within_groups(measured_name(variable)):
            raise InputError(
                f"centering: {quoted(variable)} is constant within every group of "
                f"{quoted(level)}, so centring it on the {quoted(level)} means leaves only "
                "zeros; centre it at a level above, on the grand mean (grand), or not at all"
            )
        k = index[variable]
        size = np.bincount(at.codes, weights=sums.counts.astype(float), minlength=at.n_groups)
        total = np.bincount(at.codes, weights=cross[:, one, k], minlength=at.n_groups)
        shift = (total / size)[at.codes]  # (C,) each cell's level mean of the grand-centred x
        moved: list[tuple[int, int, list[str]]] = []  # (column, other part's column, parts)
        for term in design.terms:
            parts = list(term.parts) if term.kind == TermKind.INTERACTION else [term.name]
            if variable not in parts or (term.kind != TermKind.INTERACTION
                                         and term.variable != variable):  # fmt: skip
                continue
            others = list(parts)
            others.remove(variable)
            other = ":".join(others) if others else INTERCEPT
            if other not in index:
                raise InputError(
                    f"centering: {quoted(variable)} at {quoted(level)} in the interaction "
                    f"{quoted(term.name)} needs {quoted(other)} among the interactions too; "
                    "add it, or centre the variable on the grand mean or the innermost level"
                )
            moved.append((index[term.name], index[other], parts))
        T = np.broadcast_to(np.eye(len(names)), cross.shape).copy()
        for column, other, _ in moved:
            T[:, column, other] -= shift
        cross = np.einsum("gab,gbc,gdc->gad", T, cross, T, optimize=True)
        cross = (cross + cross.transpose(0, 2, 1)) / 2
        low[:, k], high[:, k] = low[:, k] - shift, high[:, k] - shift
        codes = rows.group_codes
        row_columns[variable] = row_columns[variable] - shift[codes]
        for column, other, parts in moved:
            name = names[column]
            if name != variable:
                row_columns[name] = row_columns[name] - shift[codes] * row_columns[names[other]]
                # exact corners when at most one part varies within the cell (else wider)
                lo, hi = np.ones(len(shift)), np.ones(len(shift))
                for part in parts:
                    p_lo, p_hi = low[:, index[part]], high[:, index[part]]
                    corners = np.stack([lo * p_lo, lo * p_hi, hi * p_lo, hi * p_hi])
                    lo, hi = corners.min(axis=0), corners.max(axis=0)
                low[:, column], high[:, column] = lo, hi
    if not spec.centering_outer:
        return built, sums, rows
    sums = DesignSums(names=sums.names, counts=sums.counts, cross=cross, group_low=low,
                      group_high=high)  # fmt: skip
    variables = tuple(replace(v, centering="group") if v.name in spec.centering_outer else v
                      for v in design.variables)  # fmt: skip
    design = replace(design, variables=variables)
    return (columns, terms_of, categorical, design), sums, replace(rows, columns=row_columns)
