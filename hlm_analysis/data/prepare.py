"""From a spec to the analysis sample: check the columns, drop incomplete rows, centre, code.

Text predictors become dummy columns with the first sorted level as reference and patsy-style
names (`sex[T.M]`), so terms read the same as in statsmodels formulas; the `Design` records what
each term is, so nothing downstream parses these names back. Every problem the user can fix is
raised as InputError with the file or column named.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import INTERCEPT, Design, Term, TermKind, Variable, VariableKind
from ..spec import Spec, quoted, shown
from .load import numeric_columns, read_table, too_large

# Values beyond this size (and infinities) are refused. The fits square and multiply columns
# (X'X, sums of squared residuals, products in interactions): with |x| <= 1e150 a square is at
# most 1e300 and sums over many rows still fit in float64 (max 1.8e308); beyond it they overflow
# to inf and the optimizer fails with a numerical error instead of naming the column.
TOO_LARGE = 1e150
_LIMIT = "1e150"  # as the messages write it


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
    # the analysis sample before centring (centred columns as measured)
    measured: pd.DataFrame | None = None

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


def _check_columns_exist(spec: Spec, frame: pd.DataFrame) -> None:
    where = f"data file {shown(spec.data.name)}"
    for column in _columns_used(spec):
        if column not in frame.columns:
            listed = ", ".join(shown(c) for c in frame.columns[:12])
            more = ", ..." if len(frame.columns) > 12 else ""
            raise InputError(
                f"{where}: column {quoted(column)} not found (columns: {listed}{more})"
            )
    # The model names its intercept term INTERCEPT; a column of that name would be the same term.
    # A column called "Intercept" (or anything else) is fine.
    for column in _columns_used(spec):
        if column == INTERCEPT and column not in (spec.outcome, spec.group):
            raise InputError(
                f"column {quoted(column)} has the name the model gives its intercept term; "
                "rename the column (e.g. to 'Intercept')"
            )
    for column in spec.contextual:
        name = contextual_name(column)
        if name in _columns_used(spec):
            raise InputError(
                f"contextual: the group mean of {quoted(column)} would be named {quoted(name)}, "
                "which is already a column the model uses; rename that column"
            )


def _check_types(spec: Spec, frame: pd.DataFrame) -> None:
    if not _is_numeric(frame[spec.outcome]):
        raise InputError(
            f"outcome {quoted(spec.outcome)} is text, not a number; choose a numeric outcome"
        )
    for column in [*spec.centering, *spec.contextual]:
        if not _is_numeric(frame[column]):
            raise InputError(f"cannot centre {quoted(column)}: it is text, not a number")
    for column in _columns_used(spec):
        if column == spec.group or not _is_numeric(frame[column]):
            continue
        bad = int(too_large(frame[column].to_numpy(dtype=float), TOO_LARGE).sum())
        if bad:
            raise InputError(
                f"column {quoted(column)}: {bad:,} {'row' if bad == 1 else 'rows'} with "
                f"infinite or too-large values (beyond ±{_LIMIT}); fix or remove them"
            )


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


def _claim(columns: dict[str, np.ndarray], name: str, source: str) -> None:
    """Refuse a design term made twice: a column named like another term (`sex[T.M]` beside the
    text column `sex`, `a:b` beside the interaction a:b) would silently replace it."""
    if name in columns:
        raise InputError(
            f"the design term {quoted(name)} of {quoted(source)} has the same name as another "
            "term of the model; rename the column"
        )


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
                raise InputError(
                    f"predictor {quoted(var)} is constant in the analysis sample; remove it"
                )
            _claim(columns, var, var)
            columns[var] = series.to_numpy(dtype=float)
            terms_of[var] = [var]
            terms.append(Term(var, TermKind.NUMERIC, variable=var))
            if var in spec.reference:
                raise InputError(
                    f"reference: {quoted(var)} is numeric; a reference level applies to text "
                    "predictors"
                )
            kind, levels = VariableKind.NUMERIC, ()
            binary = set(np.unique(columns[var])) <= {0.0, 1.0}
        else:
            text = series.astype(str)  # text, bool and category columns alike, as patsy names them
            levels = tuple(str(level) for level in _levels(text))
            if var in spec.reference:  # the chosen reference first, the rest as sorted
                chosen = spec.reference[var]
                if chosen not in levels:
                    raise InputError(
                        f"reference: level {quoted(chosen)} of {quoted(var)} does not occur in "
                        f"the analysis sample (levels: {', '.join(map(quoted, levels[:8]))})"
                    )
                levels = (chosen, *(level for level in levels if level != chosen))
            if len(levels) < 2:
                raise InputError(
                    f"predictor {quoted(var)} has a single value ({quoted(levels[0])}) in the analysis sample; remove it"
                )
            terms_of[var] = []
            for level in levels[1:]:
                name = f"{var}[T.{level}]"
                _claim(columns, name, var)
                columns[name] = (text == level).to_numpy(dtype=float)
                terms_of[var].append(name)
                terms.append(Term(name, TermKind.DUMMY, variable=var, level=level))
            categorical[var] = list(levels)
            kind = VariableKind.CATEGORICAL
            binary = False
        variables.append(
            Variable(
                var,
                kind,
                levels=levels,
                centering=spec.centering.get(var),
                mean_of=means_of.get(var),
                terms=tuple(terms_of[var]),
                binary=binary and spec.centering.get(var) is None,
            )
        )
    for interaction in spec.interactions:
        combos: list[tuple[str, ...]] = [()]
        for part in interaction.split(":"):
            combos = [(*c, t) for c in combos for t in terms_of[part]]
        terms_of[interaction] = []
        for parts in combos:
            name = ":".join(parts)
            _claim(columns, name, interaction)
            columns[name] = np.prod([columns[p] for p in parts], axis=0)
            bad = int(too_large(columns[name], TOO_LARGE).sum())
            if bad:
                raise InputError(
                    f"interaction {quoted(interaction)}: {bad:,} {'row' if bad == 1 else 'rows'} "
                    f"with infinite or too-large values (products beyond ±{_LIMIT}); "
                    "rescale its variables"
                )
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
    _check_parameter_count(len(terms), prepared.n_obs)
    X = prepared.matrix(terms)
    norms = np.linalg.norm(X, axis=0)
    r = np.linalg.qr(X / np.where(norms > 0, norms, 1.0), mode="r")
    dependent = np.flatnonzero(np.abs(np.diag(r)) < 1e-9)
    if len(dependent):
        raise InputError(
            f"predictor {quoted(terms[dependent[0]])} is perfectly collinear with the other predictors (or constant); remove it"
        )


def _check_parameter_count(p: int, n: int) -> None:
    # With as many parameters as rows the fit is exact: no residual variance, nothing to test.
    # (A QR of a wide matrix has only n diagonal entries, so the rank check alone would miss it.)
    if p >= n:
        raise InputError(
            f"the largest model has {p} fixed-effect parameters but the analysis sample has only "
            f"{n} rows; remove predictors or interactions (a model needs more rows than parameters)"
        )


def largest_fixed(prepared: Prepared) -> list[str]:
    """The fixed part of the largest model of the ladder: every other model's is inside it."""
    spec = prepared.spec
    extra = [v for t in spec.interactions for v in t.split(":") if v not in prepared.predictors]
    return list(
        dict.fromkeys(
            [
                INTERCEPT,
                *prepared.expand(prepared.predictors),
                *prepared.expand(extra),
                *prepared.expand(spec.interactions),
            ]
        )
    )


def _check_groups(spec: Spec, sizes: np.ndarray) -> None:
    """A random effect is told apart from the residual by rows that share a group: with at most
    one group of two or more rows, the between-group variance is not identified."""
    shared = int((sizes >= 2).sum())
    if shared == 0:
        raise InputError(
            f"every group of {quoted(spec.group)} has a single row: a random effect cannot be "
            "told apart from the residual"
        )
    if shared < 2:
        raise InputError(
            f"every group of {quoted(spec.group)} but one has a single row: a random effect "
            "cannot be told apart from the residual"
        )


def _group_level(columns: dict[str, np.ndarray], codes: np.ndarray, terms: list[str]) -> list[str]:
    """Terms constant within every group (school-level variables and their products)."""
    if not terms:
        return []
    frame = pd.DataFrame({i: columns[t] for i, t in enumerate(terms)})
    grouped = frame.groupby(codes)
    spread = (grouped.max() - grouped.min()).abs().max().to_numpy()
    scale = np.abs(frame).max().to_numpy()
    return [t for t, s, m in zip(terms, spread, scale, strict=True) if s <= 1e-12 * max(m, 1.0)]


def _check_group_level_count(prepared: Prepared, fixed: list[str]) -> None:
    # Group-level columns (and the intercept) take their values from the groups alone: with as
    # many of them as groups they reproduce every group mean, and the random intercept's
    # variance is left without information (with more, they are collinear as well).
    terms = [t for t in fixed if t != INTERCEPT]
    level2 = _group_level(prepared.columns, prepared.group_codes, terms)
    q = 1 + len(level2)
    if level2 and q >= prepared.n_groups:
        raise InputError(
            f"the largest model has {q} fixed-effect parameters at the group level (the intercept "
            f"and {len(level2)} terms constant within groups, e.g. {quoted(level2[0])}) but only "
            f"{prepared.n_groups} groups of {quoted(prepared.spec.group)}; it needs more groups "
            "than group-level parameters"
        )


def prepare(spec: Spec) -> Prepared:
    used = _columns_used(spec)
    frame = read_table(spec.data, spec.missing_values, used)
    _check_columns_exist(spec, frame)
    # the group is an id (text or number alike); every other column used may need to be a number
    frame = numeric_columns(
        frame,
        [c for c in used if c != spec.group],
        required=[spec.outcome, *spec.centering, *spec.contextual],
    )
    _check_types(spec, frame)
    clean, dropped = _drop_incomplete(frame, used)
    if clean.empty:
        raise InputError(
            f"data file {shown(spec.data.name)}: every row has a missing value in {shown(', '.join(dropped))}; nothing left to analyse"
        )
    y = clean[spec.outcome].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        raise InputError(
            f"outcome {quoted(spec.outcome)} is constant ({y[0]:g}) in the analysis sample"
        )
    group_values = clean[spec.group]
    levels = _levels(group_values)
    if len(levels) < 2:
        raise InputError(
            f"grouping variable {quoted(spec.group)} has a single group ({quoted(levels[0])}); a multilevel model needs at least two"
        )
    codes = pd.Categorical(group_values, categories=levels).codes.astype(np.int64)
    _check_groups(spec, np.bincount(codes, minlength=len(levels)))
    measured = clean  # before centring: what the data section describes
    clean, predictors = _centre(spec, clean)
    columns, terms_of, categorical, design = _build_columns(spec, clean, predictors)
    # a variable is at the group level (level 2) when each of its columns is constant in groups
    level2 = set(_group_level(columns, codes, [t for v in design.variables for t in v.terms]))
    design = replace(
        design,
        variables=tuple(
            replace(v, group_level=bool(v.terms) and set(v.terms) <= level2)
            for v in design.variables
        ),
    )
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
        measured=measured,
    )
    fixed = largest_fixed(prepared)
    _check_parameter_count(len(fixed), prepared.n_obs)
    _check_group_level_count(prepared, fixed)
    check_full_rank(prepared, fixed)
    return prepared


def measured_values(prepared: Prepared, column: str) -> pd.Series:
    """A column as measured: centred columns before centring, everything else as modelled."""
    if column in prepared.spec.centering and prepared.measured is not None:
        return prepared.measured[column]
    return prepared.frame[column]
