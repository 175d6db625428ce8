"""From a spec to the analysis sample: check the columns, drop incomplete rows, centre, code.

Text predictors become dummy columns with the first sorted level as reference and patsy-style
names (`sex[T.M]`), so terms read the same as in statsmodels formulas; the `Design` records what
each term is, so nothing downstream parses these names back. Every problem the user can fix is
raised as InputError with the file or column named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import INTERCEPT, Design, Term, TermKind, Variable, VariableKind
from ..spec import Spec
from .load import read_table


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _levels(series: pd.Series) -> list:
    values = series.unique()
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


@dataclass(frozen=True)
class Prepared:
    """The analysis sample: complete rows only, with every design column the ladder may need."""

    spec: Spec
    frame: pd.DataFrame
    y: np.ndarray
    group_codes: np.ndarray
    group_labels: list[str]
    columns: dict[str, np.ndarray]
    terms_of: dict[str, list[str]]
    categorical: dict[str, list[str]]
    predictors: list[str]
    design: Design
    n_rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n_obs(self) -> int:
        return len(self.y)

    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    def group_sizes(self) -> np.ndarray:
        return np.bincount(self.group_codes, minlength=self.n_groups)

    def expand(self, variables: list[str]) -> list[str]:
        """Design-term names of a list of variables (a text variable gives its dummies)."""
        return [term for var in variables for term in self.terms_of[var]]

    def matrix(self, terms: list[str]) -> np.ndarray:
        return (
            np.column_stack([self.columns[t] for t in terms])
            if terms
            else np.empty((self.n_obs, 0))
        )


def _columns_used(spec: Spec) -> list[str]:
    used = [spec.outcome, spec.group, *spec.predictors, *spec.random_slopes]
    for term in spec.interactions:
        used.extend(term.split(":"))
    used.extend(spec.centering)
    used.extend(spec.contextual)
    return list(dict.fromkeys(used))


def _check_spec_against_columns(spec: Spec, frame: pd.DataFrame) -> None:
    where = f"data file {spec.data.name}"
    for column in _columns_used(spec):
        if column not in frame.columns:
            raise InputError(
                f"{where}: column '{column}' not found (columns: {', '.join(map(str, frame.columns[:12]))}{', ...' if len(frame.columns) > 12 else ''})"
            )
    if spec.outcome in spec.predictors:
        raise InputError(f"outcome '{spec.outcome}' is also listed as a predictor")
    if spec.group in spec.predictors:
        raise InputError(f"grouping variable '{spec.group}' is also listed as a predictor")
    for slope in spec.random_slopes:
        if slope not in spec.predictors:
            raise InputError(f"random slope '{slope}' must also be listed under predictors")
    if not _is_numeric(frame[spec.outcome]):
        raise InputError(
            f"outcome '{spec.outcome}' is text, not a number; choose a numeric outcome"
        )
    for column in [*spec.centering, *spec.contextual]:
        if not _is_numeric(frame[column]):
            raise InputError(f"cannot centre '{column}': it is text, not a number")


def _drop_incomplete(frame: pd.DataFrame, used: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    missing = frame[used].isna()
    dropped = {col: int(missing[col].sum()) for col in used if missing[col].any()}
    return frame.loc[~missing.any(axis=1), used].reset_index(drop=True), dropped


def contextual_name(column: str) -> str:
    return f"{column}_group_mean"


def _centre(spec: Spec, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Apply the config's centering and add group means for contextual effects.

    With a group-mean centred x and its group mean both in the model, the coefficient of x is the
    within-group effect and that of the mean the between-group effect; with x grand-mean centred
    instead, the mean's coefficient is the contextual effect (Raudenbush & Bryk, ch. 5).
    """
    frame = frame.copy()
    means = {
        c: frame.groupby(spec.group)[c].transform("mean")
        for c in {*spec.centering, *spec.contextual}
    }
    predictors = list(spec.predictors)
    for column in spec.contextual:
        frame[contextual_name(column)] = means[column]
        predictors.append(contextual_name(column))
    for column, how in spec.centering.items():
        frame[column] = frame[column] - (means[column] if how == "group" else frame[column].mean())
    return frame, predictors


def _build_columns(spec: Spec, frame: pd.DataFrame, predictors: list[str]):
    """Design columns for every variable and interaction, and the Design that describes them."""
    columns: dict[str, np.ndarray] = {INTERCEPT: np.ones(len(frame))}
    terms_of: dict[str, list[str]] = {}
    categorical: dict[str, list[str]] = {}
    variables: list[Variable] = []
    terms: list[Term] = [Term(INTERCEPT, TermKind.INTERCEPT)]
    means_of = {contextual_name(c): c for c in spec.contextual}
    names = list(
        dict.fromkeys([*predictors, *(v for t in spec.interactions for v in t.split(":"))])
    )
    for var in names:
        series = frame[var]
        if _is_numeric(series):
            if series.nunique() < 2:
                raise InputError(f"predictor '{var}' is constant in the analysis sample; remove it")
            columns[var] = series.to_numpy(dtype=float)
            terms_of[var] = [var]
            terms.append(Term(var, TermKind.NUMERIC, variable=var))
            kind, levels = VariableKind.NUMERIC, ()
        else:
            text = series.astype(str)  # text, bool and category columns alike, as patsy names them
            levels = tuple(str(level) for level in _levels(text))
            if len(levels) < 2:
                raise InputError(
                    f"predictor '{var}' has a single value ('{levels[0]}') in the analysis sample; remove it"
                )
            terms_of[var] = []
            for level in levels[1:]:
                name = f"{var}[T.{level}]"
                columns[name] = (text == level).to_numpy(dtype=float)
                terms_of[var].append(name)
                terms.append(Term(name, TermKind.DUMMY, variable=var, level=level))
            categorical[var] = list(levels)
            kind = VariableKind.CATEGORICAL
        variables.append(
            Variable(
                var,
                kind,
                levels=levels,
                centering=spec.centering.get(var),
                mean_of=means_of.get(var),
                terms=tuple(terms_of[var]),
            )
        )
    for interaction in spec.interactions:
        combos: list[tuple[str, ...]] = [()]
        for part in interaction.split(":"):
            combos = [(*c, t) for c in combos for t in terms_of[part]]
        terms_of[interaction] = []
        for parts in combos:
            name = ":".join(parts)
            columns[name] = np.prod([columns[p] for p in parts], axis=0)
            terms_of[interaction].append(name)
            terms.append(Term(name, TermKind.INTERACTION, parts=parts))
    design = Design(
        outcome=spec.outcome,
        group=spec.group,
        predictors=tuple(predictors),
        variables=tuple(variables),
        terms=tuple(terms),
    )
    return columns, terms_of, categorical, design


def check_full_rank(prepared: Prepared, terms: list[str]) -> None:
    """Raise InputError naming the first term that is a linear combination of earlier ones.

    One QR decomposition of the column-scaled design: in column order, a (near) zero diagonal of
    R marks the first column that the ones before it already span.
    """
    if not terms:
        return
    X = prepared.matrix(terms)
    norms = np.linalg.norm(X, axis=0)
    r = np.linalg.qr(X / np.where(norms > 0, norms, 1.0), mode="r")
    dependent = np.flatnonzero(np.abs(np.diag(r)) < 1e-9)
    if len(dependent):
        raise InputError(
            f"predictor '{terms[dependent[0]]}' is perfectly collinear with the other predictors (or constant); remove it"
        )


def prepare(spec: Spec) -> Prepared:
    frame = read_table(spec.data)
    _check_spec_against_columns(spec, frame)
    used = _columns_used(spec)
    clean, dropped = _drop_incomplete(frame, used)
    if clean.empty:
        raise InputError(
            f"data file {spec.data.name}: every row has a missing value in {', '.join(dropped)}; nothing left to analyse"
        )
    y = clean[spec.outcome].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        raise InputError(f"outcome '{spec.outcome}' is constant ({y[0]:g}) in the analysis sample")
    group_values = clean[spec.group]
    levels = _levels(group_values)
    if len(levels) < 2:
        raise InputError(
            f"grouping variable '{spec.group}' has a single group ('{levels[0]}'); a multilevel model needs at least two"
        )
    codes = pd.Categorical(group_values, categories=levels).codes.astype(np.int64)
    clean, predictors = _centre(spec, clean)
    columns, terms_of, categorical, design = _build_columns(spec, clean, predictors)
    prepared = Prepared(
        spec=spec,
        frame=clean,
        y=y,
        group_codes=codes,
        group_labels=[str(v) for v in levels],
        columns=columns,
        terms_of=terms_of,
        categorical=categorical,
        predictors=predictors,
        design=design,
        n_rows_read=len(frame),
        dropped=dropped,
    )
    check_full_rank(prepared, [INTERCEPT, *prepared.expand(predictors)])
    return prepared
