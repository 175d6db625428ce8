"""From a spec to the analysis sample: check the columns, drop incomplete rows, centre, code.

Text predictors become dummy columns with the first sorted level as reference and patsy-style
names (`sex[T.M]`), so terms read the same as in statsmodels formulas; the `Design` records what
each term is, so nothing downstream parses these names back. Every problem the user can fix is
raised as InputError with the file or column named.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import INTERCEPT, Design, Term, TermKind, Variable, VariableKind
from ..spec import Spec, quoted, shown
from .load import numeric_columns, read_table, too_large
from .outcome import BinaryCoding, code_binary
from .sums import DesignSums, from_rows

# Values beyond this size (and infinities) are refused. The fits square and multiply columns
# (X'X, sums of squared residuals, products in interactions): with |x| <= 1e150 a square is at
# most 1e300 and sums over many rows still fit in float64 (max 1.8e308); beyond it they overflow
# to inf and the optimizer fails with a numerical error instead of naming the column.
TOO_LARGE = 1e150
_LIMIT = "1e150"  # as the messages write it


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def sorted_levels(series: pd.Series) -> list:
    values = series.unique()
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


# Rows kept for the figures: enough to see every shape, small on disk. Drawn with a fixed seed,
# so the same data give the same figures.
SAMPLE_ROWS = 50_000
SAMPLE_SEED = 20240605
# The name under which DesignSums keeps a centred column as measured (before centring): the
# data section describes variables as measured. A NUL cannot occur in a column name we accept.
MEASURED = "\x00measured "


@dataclass(frozen=True)
class Rows:
    """Rows of the analysis sample: the outcome, group codes, every design column, and the
    numeric variables as measured (for the figures)."""

    y: np.ndarray
    group_codes: np.ndarray
    columns: dict[str, np.ndarray]
    measured: pd.DataFrame

    def __len__(self) -> int:
        return len(self.y)

    def matrix(self, terms: list[str]) -> np.ndarray:
        return (
            np.column_stack([self.columns[t] for t in terms])
            if terms
            else np.empty((len(self.y), 0))
        )

    def take(self, index: np.ndarray) -> Rows:
        return Rows(
            self.y[index],
            self.group_codes[index],
            {name: values[index] for name, values in self.columns.items()},
            self.measured.iloc[index].reset_index(drop=True),
        )


@dataclass(frozen=True)
class Prepared:
    """The analysis sample (complete rows only), reduced to what the models need: the design's
    per-group cross products (`sums`, exact, from every row), a seeded sample of rows for the
    figures, and all rows only when they are held in memory (`rows`, for CR2)."""

    spec: Spec
    design: Design
    terms_of: dict[str, list[str]]
    categorical: dict[str, list[str]]
    predictors: list[str]
    group_labels: list[str]
    sums: DesignSums
    sample: Rows
    medians: dict[str, float]  # numeric variables as measured, in the sample
    n_rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)
    rows: Rows | None = None

    @property
    def n_obs(self) -> int:
        return self.sums.n

    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    @property
    def sampled(self) -> bool:
        return len(self.sample) < self.n_obs

    def group_sizes(self) -> np.ndarray:
        return self.sums.counts

    def expand(self, variables: list[str]) -> list[str]:
        """Design-term names of a list of variables (a text variable gives its dummies)."""
        return [term for var in variables for term in self.terms_of[var]]

    def measured_name(self, variable: str) -> str:
        """The name of a numeric variable as measured in `sums` (centred ones are kept twice)."""
        return MEASURED + variable if variable in self.spec.centering else variable


def columns_used(spec: Spec) -> list[str]:
    used = [spec.outcome, spec.group, *spec.predictors, *spec.random_slopes]
    for term in spec.interactions:
        used.extend(term.split(":"))
    used.extend(spec.centering)
    used.extend(spec.contextual)
    return list(dict.fromkeys(used))


def check_columns_exist(spec: Spec, columns: list[str]) -> None:
    where = f"data file {shown(spec.data.name)}"
    for column in columns_used(spec):
        if column not in columns:
            listed = ", ".join(shown(c) for c in columns[:12])
            more = ", ..." if len(columns) > 12 else ""
            raise InputError(
                f"{where}: column {quoted(column)} not found (columns: {listed}{more})"
            )
    # The model names its intercept term INTERCEPT; a column of that name would be the same term.
    # A column called "Intercept" (or anything else) is fine.
    for column in columns_used(spec):
        if column == INTERCEPT and column not in (spec.outcome, spec.group):
            raise InputError(
                f"column {quoted(column)} has the name the model gives its intercept term; "
                "rename the column (e.g. to 'Intercept')"
            )
    for column in spec.contextual:
        name = contextual_name(column)
        if name in columns_used(spec):
            raise InputError(
                f"contextual: the group mean of {quoted(column)} would be named {quoted(name)}, "
                "which is already a column the model uses; rename that column"
            )


def require_numbers(spec: Spec, is_number) -> None:
    """The outcome and every centred (or group-averaged) column must be numbers."""
    if not is_number(spec.outcome):
        raise InputError(
            f"outcome {quoted(spec.outcome)} is text, not a number; choose a numeric outcome"
        )
    for column in [*spec.centering, *spec.contextual]:
        if not is_number(column):
            raise InputError(f"cannot centre {quoted(column)}: it is text, not a number")


def _check_types(spec: Spec, frame: pd.DataFrame) -> None:
    require_numbers(spec, lambda column: _is_numeric(frame[column]))
    for column in columns_used(spec):
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


def claim(columns: dict[str, np.ndarray], name: str, source: str) -> None:
    """Refuse a design term made twice: a column named like another term (`sex[T.M]` beside the
    text column `sex`, `a:b` beside the interaction a:b) would silently replace it."""
    if name in columns:
        raise InputError(
            f"the design term {quoted(name)} of {quoted(source)} has the same name as another "
            "term of the model; rename the column"
        )


class Algebra(Protocol):
    """How design columns are made: numpy arrays in memory, SQL expressions in an engine. The
    design (terms, names, reference levels, interactions) is built once, by build_design."""

    def ones(self): ...
    def numeric(self, var: str): ...
    def dummy(self, var: str, level: str): ...
    def product(self, values: list): ...


class NumpyAlgebra:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._text: dict[str, pd.Series] = {}

    def ones(self):
        return np.ones(len(self.frame))

    def numeric(self, var: str):
        return self.frame[var].to_numpy(dtype=float)

    def dummy(self, var: str, level: str):
        if var not in self._text:  # text, bool and category columns alike, as patsy names them
            self._text[var] = self.frame[var].astype(str)
        return (self._text[var] == level).to_numpy(dtype=float)

    def product(self, values: list):
        return np.prod(values, axis=0)


def design_variables(spec: Spec, predictors: list[str]) -> list[str]:
    """Every variable the design codes: predictors, then interaction parts not among them."""
    return list(dict.fromkeys([*predictors, *(v for t in spec.interactions for v in t.split(":"))]))


def build_design(
    spec: Spec,
    predictors: list[str],
    levels_of: dict[str, tuple[str, ...] | None],
    binary: dict[str, bool],
    algebra: Algebra,
):
    """Design columns for every variable and interaction, and the Design that describes them.
    `levels_of` gives each text variable's sorted levels (None for a numeric one)."""
    columns: dict = {INTERCEPT: algebra.ones()}
    terms_of: dict[str, list[str]] = {}
    categorical: dict[str, list[str]] = {}
    variables: list[Variable] = []
    terms: list[Term] = [Term(INTERCEPT, TermKind.INTERCEPT)]
    means_of = {contextual_name(c): c for c in spec.contextual}
    for var in design_variables(spec, predictors):
        if levels_of[var] is None:
            claim(columns, var, var)
            columns[var] = algebra.numeric(var)
            terms_of[var] = [var]
            terms.append(Term(var, TermKind.NUMERIC, variable=var))
            if var in spec.reference:
                raise InputError(
                    f"reference: {quoted(var)} is numeric; a reference level applies to text "
                    "predictors"
                )
            kind, levels = VariableKind.NUMERIC, ()
            is_binary = binary[var]
        else:
            levels = tuple(levels_of[var])
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
                claim(columns, name, var)
                columns[name] = algebra.dummy(var, level)
                terms_of[var].append(name)
                terms.append(Term(name, TermKind.DUMMY, variable=var, level=level))
            categorical[var] = list(levels)
            kind = VariableKind.CATEGORICAL
            is_binary = False
        variables.append(
            Variable(
                var,
                kind,
                levels=levels,
                centering=spec.centering.get(var),
                mean_of=means_of.get(var),
                terms=tuple(terms_of[var]),
                binary=is_binary and spec.centering.get(var) is None,
            )
        )
    for interaction in spec.interactions:
        combos: list[tuple[str, ...]] = [()]
        for part in interaction.split(":"):
            combos = [(*c, t) for c in combos for t in terms_of[part]]
        terms_of[interaction] = []
        for parts in combos:
            name = ":".join(parts)
            claim(columns, name, interaction)
            columns[name] = algebra.product([columns[p] for p in parts])
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


def refuse_constant(var: str) -> None:
    raise InputError(f"predictor {quoted(var)} is constant in the analysis sample; remove it")


def refuse_large_product(interaction: str, bad: int) -> None:
    raise InputError(
        f"interaction {quoted(interaction)}: {bad:,} {'row' if bad == 1 else 'rows'} "
        f"with infinite or too-large values (products beyond ±{_LIMIT}); "
        "rescale its variables"
    )


def _build_columns(spec: Spec, frame: pd.DataFrame, predictors: list[str]):
    """The design of rows in memory (build_design with numpy), checked as it is made."""
    levels_of: dict[str, tuple[str, ...] | None] = {}
    binary: dict[str, bool] = {}
    for var in design_variables(spec, predictors):
        series = frame[var]
        if _is_numeric(series):
            values = series.to_numpy(dtype=float)  # complete rows: no NaN here
            if values.min() == values.max():
                refuse_constant(var)
            levels_of[var] = None
            binary[var] = bool(np.all((values == 0.0) | (values == 1.0)))
        else:
            levels_of[var] = tuple(str(level) for level in sorted_levels(series.astype(str)))
    columns, terms_of, categorical, design = build_design(
        spec, predictors, levels_of, binary, NumpyAlgebra(frame)
    )
    for interaction in spec.interactions:
        for name in terms_of[interaction]:
            bad = int(too_large(columns[name], TOO_LARGE).sum())
            if bad:
                refuse_large_product(interaction, bad)
    return columns, terms_of, categorical, design


# A column is dependent on the ones before it when, scaled to unit length, the part of it they
# do not explain has squared length below this. The design is checked through its cross
# products (all that the engine keeps), where rounding is ~1e-16: 1e-11 is far above that and
# far below any usable predictor (a correlation of 1 - 5e-12 with the others).
DEPENDENT_PIVOT = 1e-11


def check_full_rank(prepared: Prepared, terms: list[str]) -> None:
    """Raise InputError naming the first term that is a linear combination of earlier ones.

    A Cholesky factorisation of the column-scaled X'X in column order: the pivot of a column is
    the squared length of what the earlier columns leave of it (the R of a QR, squared)."""
    if not terms:
        return
    _check_parameter_count(len(terms), prepared.n_obs)
    gram = prepared.sums.total_block(terms, terms)
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    scaled = gram / np.outer(np.where(norms > 0, norms, 1.0), np.where(norms > 0, norms, 1.0))
    k = len(terms)
    L = np.zeros((k, k))
    for j in range(k):
        pivot = scaled[j, j] - L[j, :j] @ L[j, :j]
        if pivot < DEPENDENT_PIVOT:
            raise InputError(
                f"predictor {quoted(terms[j])} is perfectly collinear with the other predictors (or constant); remove it"
            )
        L[j, j] = np.sqrt(pivot)
        L[j + 1 :, j] = (scaled[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]


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


def check_groups(spec: Spec, sizes: np.ndarray) -> None:
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


def _check_group_level_count(prepared: Prepared, fixed: list[str]) -> None:
    # Group-level columns (and the intercept) take their values from the groups alone: with as
    # many of them as groups they reproduce every group mean, and the random intercept's
    # variance is left without information (with more, they are collinear as well).
    level2 = [t for t in fixed if t != INTERCEPT and prepared.sums.constant_within_groups(t)]
    q = 1 + len(level2)
    if level2 and q >= prepared.n_groups:
        raise InputError(
            f"the largest model has {q} fixed-effect parameters at the group level (the intercept "
            f"and {len(level2)} terms constant within groups, e.g. {quoted(level2[0])}) but only "
            f"{prepared.n_groups} groups of {quoted(prepared.spec.group)}; it needs more groups "
            "than group-level parameters"
        )


def with_group_levels(design: Design, sums: DesignSums) -> Design:
    """A variable is at the group level (level 2) when each of its columns is constant in groups."""
    return replace(
        design,
        variables=tuple(
            replace(
                v,
                group_level=bool(v.terms) and all(sums.constant_within_groups(t) for t in v.terms),
            )
            for v in design.variables
        ),
    )


def sample_index(n: int) -> np.ndarray:
    """The seeded sample of row positions the figures draw (all rows when there are few)."""
    if n <= SAMPLE_ROWS:
        return np.arange(n)
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, SAMPLE_ROWS, replace=False))


def design_names(spec: Spec, columns: dict[str, np.ndarray]) -> list[str]:
    """Every column DesignSums keeps: the intercept, each design term, and each centred
    variable as measured (after them, under its MEASURED name)."""
    return [
        INTERCEPT,
        *(t for t in columns if t != INTERCEPT),
        *(MEASURED + c for c in spec.centering),
    ]


def assemble(
    spec: Spec,
    built: tuple,
    predictors: list[str],
    group_labels: list[str],
    sums: DesignSums,
    rows: Rows,
    n_rows_read: int,
    dropped: dict[str, int],
    keep_rows: bool = True,
    coding: BinaryCoding | None = None,
) -> Prepared:
    """How every data path ends: `built` is build_design's (columns, terms_of, categorical,
    design); `rows` holds every row, or only the figures' sample (keep_rows False). The
    medians come from the sample, which the report says when it is one. `coding` names a
    binary outcome's event in the design."""
    _, terms_of, categorical, design = built
    if coding is not None:
        design = replace(design, event=coding.event, non_event=coding.non_event)
    sample = rows.take(sample_index(len(rows))) if keep_rows else rows
    numeric = numeric_variables(spec, predictors, categorical)
    return finish(
        Prepared(
            spec=spec,
            design=with_group_levels(design, sums),
            terms_of=terms_of,
            categorical=categorical,
            predictors=predictors,
            group_labels=group_labels,
            sums=sums,
            sample=sample,
            medians={c: float(np.median(sample.measured[c])) for c in numeric},
            n_rows_read=n_rows_read,
            dropped=dropped,
            rows=rows if keep_rows else None,
        )
    )


def _refuse_group_centring_a_group_level(prepared: Prepared) -> None:
    """A column constant within every group is all zeros once centred on the group means (and
    rounding noise, which the collinearity check may or may not catch): say so instead."""
    spec = prepared.spec
    for column, how in spec.centering.items():
        if how == "group" and prepared.sums.constant_within_groups(MEASURED + column):
            raise InputError(
                f"centering: {quoted(column)} is constant within every group of "
                f"{quoted(spec.group)}, so centring it on the group means leaves only zeros; "
                "centre it on the grand mean (grand) instead, or not at all"
            )


def finish(prepared: Prepared) -> Prepared:
    """Checks every data path ends with: the largest model must be estimable."""
    _refuse_group_centring_a_group_level(prepared)
    fixed = largest_fixed(prepared)
    _check_parameter_count(len(fixed), prepared.n_obs)
    _check_group_level_count(prepared, fixed)
    check_full_rank(prepared, fixed)
    return prepared


def prepare_in_memory(spec: Spec, path: Path) -> Prepared:
    """The data stage for one file that fits in memory: pandas reads it, numpy codes it."""
    used = columns_used(spec)
    frame = read_table(path, spec.missing_values, used)
    check_columns_exist(spec, list(frame.columns))
    coding = None
    if spec.family == "binomial":
        frame = frame.copy()
        frame[spec.outcome], coding = code_binary(spec, frame[spec.outcome])
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
    levels = sorted_levels(group_values)
    if len(levels) < 2:
        raise InputError(
            f"grouping variable {quoted(spec.group)} has a single group ({quoted(levels[0])}); a multilevel model needs at least two"
        )
    codes = pd.Categorical(group_values, categories=levels).codes.astype(np.int64)
    check_groups(spec, np.bincount(codes, minlength=len(levels)))
    measured = clean  # before centring: what the data section describes
    clean, predictors = _centre(spec, clean)
    columns, terms_of, categorical, design = _build_columns(spec, clean, predictors)
    numeric = numeric_variables(spec, predictors, categorical)
    # as measured: centred columns before centring, the rest (group means too) as modelled
    as_measured = {c: (measured if c in spec.centering else clean)[c] for c in numeric}
    with_measured = {
        **columns,
        **{MEASURED + c: measured[c].to_numpy(dtype=float) for c in spec.centering},
    }
    names = design_names(spec, columns)
    sums = from_rows(spec.outcome, y, with_measured, codes, len(levels), names)
    rows = Rows(
        y,
        codes,
        columns,
        pd.DataFrame(
            {spec.group: clean[spec.group].to_numpy()}
            | {c: as_measured[c].to_numpy(dtype=float) for c in numeric}
        ),
    )
    return assemble(
        spec,
        (columns, terms_of, categorical, design),
        predictors,
        [str(v) for v in levels],
        sums,
        rows,
        len(frame),
        dropped,
        coding=coding,
    )


def numeric_variables(spec: Spec, predictors: list[str], categorical: dict) -> list[str]:
    """The outcome and every numeric variable of the models, in config order."""
    variables = [spec.outcome, *[v for v in predictors if v not in categorical]]
    variables += [v for t in spec.interactions for v in t.split(":")]
    return [v for v in dict.fromkeys(variables) if v not in categorical]
