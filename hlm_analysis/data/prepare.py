"""From a spec to the analysis sample: check the columns, drop incomplete rows, centre, code.

Text predictors become dummy columns with the first sorted level as reference and patsy-style
names (`sex[T.M]`), so terms read the same as in statsmodels formulas; the `Design` records what
each term is, so nothing downstream parses these names back. Every problem the user can fix is
raised as InputError with the file or column named.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import InputError
from ..results import INTERCEPT, Design, Term, TermKind, Variable, VariableKind
from ..spec import Spec, quoted, reads_as_number, shown
from .columns import (
    Columns,
    Factor,
    check_columns_exist,
    check_numeric_codes,
    columns_used,
    contextual_name,
    refuse_missing_codes,
)
from .files import too_large
from .levels import (
    Levels,
    arrange_cells,
    refuse_group_level_parameters,
    refuse_slopes_constant_within,
    single_group,
    with_variable_levels,
)
from .outer_means import add_outer_means, centre_at_levels
from .read_arrow import arrow_columns
from .sums import DesignSums, from_rows
from .variation import refuse_outcome_constant, refuse_outcome_constant_within

if TYPE_CHECKING:
    from .outcome import BinaryCoding

# Values beyond this size (and infinities) are refused. The fits square and multiply columns
# (X'X, sums of squared residuals, products in interactions): with |x| <= 1e150 a square is at
# most 1e300 and sums over many rows still fit in float64 (max 1.8e308); beyond it they overflow
# to inf and the optimizer fails with a numerical error instead of naming the column.
TOO_LARGE = 1e150
_LIMIT = "1e150"  # as the messages write it


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
    group_codes: np.ndarray  # into Prepared.group_labels
    columns: dict[str, np.ndarray]
    measured: dict[str, np.ndarray]  # numeric variables as measured (centred ones before)

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
            {name: values[index] for name, values in self.measured.items()},
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
    # how many files discovery read, and passed over (hidden, `_` or output folders, repeats)
    files_read: int = 1
    files_skipped: int = 0
    # several grouping levels (issue 22): `sums`, `group_labels` and the rows' group codes are
    # then per cell (levels.py) and this says which group of each level each cell is in
    levels: Levels | None = None

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


def require_numbers(spec: Spec, is_number) -> None:
    """The outcome and every centred (or group-averaged) column must be numbers."""
    if not is_number(spec.outcome):
        raise InputError(
            f"outcome {quoted(spec.outcome)} is text, not a number; choose a numeric outcome"
        )
    for column in [*spec.centering, *spec.contextual]:
        if not is_number(column):
            raise InputError(f"cannot centre {quoted(column)}: it is text, not a number")
    if spec.time is not None and not is_number(spec.time):
        raise InputError(
            f"time: {quoted(spec.time)} is text, not a number; the time variable must be numeric "
            "(a year, a wave number, months since the start)"
        )


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
    refuse_wide_design(spec, predictors, levels_of)
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
        group=spec.levels[-1],  # several levels: the innermost (what group-level means)
        predictors=tuple(predictors),
        variables=tuple(variables),
        terms=tuple(terms),
    )
    return columns, terms_of, categorical, design


# More design columns than this are refused before any is made: per group the sums hold a
# square of them (5,000 levels of a text column: 9 GiB for 50 groups), and a text column with
# that many levels is an id or free text, not a predictor.
MAX_TERMS = 1_000
# What the design held in memory may take (its columns over the rows, and per group the square
# of them): beyond it the allocation fails or swaps, so it is refused before.
DESIGN_BYTES = 2 * 2**30


def refuse_wide_design(
    spec: Spec,
    predictors: list[str],
    levels_of: dict[str, tuple[str, ...] | None],
    rows: int = 0,
    groups: int = 0,
) -> None:
    """Count the design's columns from the level counts alone; refuse more than MAX_TERMS, or
    (given the rows and groups held in memory) a design over DESIGN_BYTES, naming the text
    column with the most levels."""
    width = {v: 1 if levels_of[v] is None else max(len(levels_of[v]) - 1, 1) for v in levels_of}
    variables = design_variables(spec, predictors)
    total = 1 + sum(width[v] for v in variables)
    for interaction in spec.interactions:
        total += int(np.prod([width[v] for v in interaction.split(":")]))
    size = 8 * total * (rows + groups * total)
    if total <= MAX_TERMS and size <= DESIGN_BYTES:
        return
    limit = (
        f"at most {MAX_TERMS:,}"
        if total > MAX_TERMS
        else f"{size / 2**30:.1f} GiB in memory for {rows:,} rows in {groups:,} groups, at most "
        f"{DESIGN_BYTES / 2**30:.0f} GiB"
    )
    texts = [v for v in variables if levels_of[v] is not None]
    if texts:
        widest = max(texts, key=lambda v: len(levels_of[v]))
        raise InputError(
            f"predictor {quoted(widest)} has {len(levels_of[widest]):,} distinct values, which "
            f"would make the model {total:,} design columns ({limit}); use a column with fewer "
            "categories, or group it as a level of the model instead"
        )
    raise InputError(
        f"the model would have {total:,} design columns ({limit}); use fewer predictors or "
        "interactions"
    )


def refuse_many_levels(var: str, levels: int) -> None:
    """A text predictor whose levels alone exceed MAX_TERMS dummies."""
    raise InputError(
        f"predictor {quoted(var)} has {levels:,} distinct values, which would make the model "
        f"at least {levels - 1:,} design columns (at most {MAX_TERMS:,}); use a column with "
        "fewer categories, or group it as a level of the model instead"
    )


def refuse_constant(spec: Spec, var: str, value: float) -> None:
    if var == spec.time:  # a predictor too, but the user named it as the time column
        raise InputError(
            f"time: {quoted(var)} is constant ({value:g}) in the analysis sample (every row at the "
            "same time), so there is no change over time to model; remove time:, or set it to "
            "the column that records when each row was measured"
        )
    raise InputError(f"predictor {quoted(var)} is constant in the analysis sample; remove it")


def refuse_large_values(column: str, bad: int) -> None:
    raise InputError(
        f"column {quoted(column)}: {bad:,} {'row' if bad == 1 else 'rows'} with "
        f"infinite or too-large values (beyond ±{_LIMIT}); fix or remove them"
    )


def refuse_large_product(interaction: str, bad: int) -> None:
    raise InputError(
        f"interaction {quoted(interaction)}: {bad:,} {'row' if bad == 1 else 'rows'} "
        f"with infinite or too-large values (products beyond ±{_LIMIT}); "
        "rescale its variables"
    )


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
            far = _too_far_from_zero(prepared.sums, terms[j])
            if far is not None:
                raise InputError(far)
            raise InputError(
                f"predictor {quoted(terms[j])} is perfectly collinear with the other predictors (or constant); remove it"
            )
        L[j, j] = np.sqrt(pivot)
        L[j + 1 :, j] = (scaled[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]


# A column whose mean is this many SDs from zero keeps too few digits of its spread in sums of
# squares (x^2 ~ mean^2): the rank check sees it as the intercept again.
FAR_FROM_ZERO_SDS = 1e5


def _too_far_from_zero(sums: DesignSums, term: str) -> str | None:
    """The message for a numeric column that is no copy of the intercept but varies too little
    for its size (mean 1e6, SD 1), else None: centring it first keeps the digits."""
    if term == INTERCEPT or sums.names[1] != INTERCEPT:
        return None
    mean, sd = sums.mean(term), sums.sd(term)
    if not (sd > 0 and abs(mean) > FAR_FROM_ZERO_SDS * sd):
        return None
    return (
        f"predictor {quoted(term)} varies too little for its size (mean {mean:.6g}, SD {sd:.3g}) "
        f"for its sums of squares to keep its spread; centre it (centering: {{{term}: grand}}) "
        "or subtract a round number from it in the data"
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


def check_groups(spec: Spec, sizes: np.ndarray) -> None:
    """A random effect is told apart from the residual by rows that share a group: with at most
    one group of two or more rows, the between-group variance is not identified. `sizes` are
    per cell: nested levels' innermost groups (crossed factors are checked per level, in
    levels.py, since their cells need not share rows)."""
    if spec.crossed:
        return
    group = spec.levels[-1]
    shared = int((sizes >= 2).sum())
    if shared == 0:
        raise InputError(
            f"every group of {quoted(group)} has a single row: a random effect cannot be "
            "told apart from the residual"
        )
    if shared < 2:
        raise InputError(
            f"every group of {quoted(group)} but one has a single row: a random effect "
            "cannot be told apart from the residual"
        )


def _check_group_level_count(prepared: Prepared, fixed: list[str]) -> None:
    # Group-level columns (and the intercept) take their values from the groups alone: with as
    # many of them as groups they reproduce every group mean, and the random intercept's
    # variance is left without information (with more, they are collinear as well).
    if prepared.levels is not None:  # per level, each over its own groups
        refuse_group_level_parameters(
            prepared.spec, prepared.levels, prepared.sums, fixed, INTERCEPT
        )
        return
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
    count_code=None,
) -> Prepared:
    """How every data path ends: `built` is build_design's (columns, terms_of, categorical,
    design); `rows` holds every row, or only the figures' sample (keep_rows False). The
    medians come from the sample, which the report says when it is one. `coding` names a
    binary outcome's event in the design. `count_code(column, code)` counts a code's rows
    when only the sample found it."""
    # -99 among numbers: a missing-value code, from the rows at hand and the sums' bounds
    check_numeric_codes(
        spec,
        rows.measured,
        sums,
        keep_rows,
        lambda c: MEASURED + c if c in spec.centering else c,
        count_code,
    )
    levels = None
    if spec.multilevel:  # cells ordered by their groups, and each level's groups
        levels, group_labels, sums, rows = arrange_cells(spec, group_labels, sums, rows)
        measured = lambda c: MEASURED + c if c in spec.centering else c  # noqa: E731
        # centring at a level other than the cells' (`centering: {x: school}`), from the cells
        built, sums, rows = centre_at_levels(spec, built, levels, sums, rows, measured)
        # means over outer levels' groups, from the cell sums (the same on every data path)
        built, predictors, sums, rows = add_outer_means(
            spec, built, predictors, levels, sums, rows, measured
        )  # fmt: skip
    _, terms_of, categorical, design = built
    if coding is not None:
        design = replace(design, event=coding.event, non_event=coding.non_event)
    sample = rows.take(sample_index(len(rows))) if keep_rows else rows
    numeric = numeric_variables(spec, predictors, categorical)
    return finish(
        Prepared(
            spec=spec,
            design=with_group_levels(design, sums)
            if levels is None
            else with_variable_levels(design, levels, sums),
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
            levels=levels,
        )
    )


def _refuse_group_centring_a_group_level(prepared: Prepared) -> None:
    """A column constant within every group is all zeros once centred on the group means (and
    rounding noise, which the collinearity check may or may not catch): say so instead.
    With several (nested) levels the groups are the innermost level's (the cells)."""
    spec = prepared.spec
    for column, how in spec.centering.items():
        if how == "group" and prepared.sums.constant_within_groups(MEASURED + column):
            raise InputError(
                f"centering: {quoted(column)} is constant within every group of "
                f"{quoted(spec.levels[-1])}, so centring it on the group means leaves only zeros; "
                "centre it on the grand mean (grand) instead, or not at all"
            )


def _refuse_random_slope_of_a_group_level(prepared: Prepared) -> None:
    """A random slope of a column constant within every group cannot vary between groups: within
    each group it never changes, so its group-specific part is the intercept's again (lme4 fits
    it anyway, as a variance the data cannot inform). A categorical slope is refused when any
    of its level columns is constant within every group."""
    spec = prepared.spec
    if prepared.levels is not None:  # per level, over that level's groups
        refuse_slopes_constant_within(spec, prepared.levels, prepared.sums, prepared.terms_of)
        return
    for variable in spec.random_slopes:
        terms = prepared.terms_of.get(variable, [])
        if terms and any(prepared.sums.constant_within_groups(t) for t in terms):
            raise InputError(
                f"random_slopes: {quoted(variable)} is constant within every group of "
                f"{quoted(spec.group)} (a group-level variable), so its effect cannot vary "
                "between groups; keep it in predictors only (it can moderate a row-level "
                "predictor's slope through interactions)"
            )


def finish(prepared: Prepared) -> Prepared:
    """Checks every data path ends with: the largest model must be estimable."""
    # the outcome must vary within the groups of every level (from the sums' ranges)
    refuse_outcome_constant_within(prepared.spec, prepared.sums, prepared.levels)
    _refuse_group_centring_a_group_level(prepared)
    _refuse_random_slope_of_a_group_level(prepared)
    fixed = largest_fixed(prepared)
    _check_parameter_count(len(fixed), prepared.n_obs)
    _check_group_level_count(prepared, fixed)
    check_full_rank(prepared, fixed)
    return prepared


class NumpyAlgebra:
    """Design columns of rows in memory: number columns as they are, dummies from text codes."""

    def __init__(self, numbers: dict[str, np.ndarray], texts: dict[str, Factor], n: int):
        self.numbers, self.texts, self.n = numbers, texts, n

    def ones(self):
        return np.ones(self.n)

    def numeric(self, var: str):
        return self.numbers[var]

    def dummy(self, var: str, level: str):
        factor = self.texts[var]
        return (factor.codes == factor.levels.index(level)).astype(float)

    def product(self, values: list):
        return np.prod(values, axis=0)


def prepare_in_memory(spec: Spec, path: Path) -> Prepared:
    """The data stage for one file that fits in memory. A clean file is read by pyarrow alone;
    anything else (and a binary outcome) by pandas, imported only then."""
    used = columns_used(spec)
    table = arrow_columns(spec, path, used)
    coding = None
    if table is None:
        from .load import read_columns

        table, coding = read_columns(spec, path, used)
    else:
        check_columns_exist(spec, used)  # the spec's own clashes; every column is there
    return code_columns(spec, table, coding)


def _refuse_too_large(spec: Spec, table: Columns) -> None:
    for column in columns_used(spec):
        if column in spec.levels or column not in table.numbers:
            continue
        bad = int(too_large(table.numbers[column], TOO_LARGE).sum())
        if bad:
            refuse_large_values(column, bad)


def _numeric_tokens_missing(spec: Spec, table: Columns) -> Columns:
    """A number equal to a numeric missing_values token ("-99") is missing, as the CSV reader
    makes it: a Parquet number column arrives as numbers, which the tokens did not touch."""
    tokens = [float(t) for t in spec.missing_values if reads_as_number(t)]
    tokens = [t for t in tokens if np.isfinite(t)]
    if not tokens:
        return table
    numbers = {
        c: np.where(np.isin(v, tokens), np.nan, v) if c not in spec.levels else v
        for c, v in table.numbers.items()
    }
    return Columns(numbers, table.texts, table.group, table.n_rows)


def _in_nfc(spec: Spec, table: Columns) -> Columns:
    """Text levels and group ids in NFC and the id order of every path (as the engines give
    them): one school written composed and decomposed is one group."""
    texts = {
        c: f
        if all(isinstance(v, str) and v.isascii() for v in f.levels)
        else Factor.of_labels(f.codes, list(f.levels), ids=False)
        for c, f in table.texts.items()
    }
    group = Factor.of_labels(table.group.codes, table.group.labels(), ids=True)
    if not spec.multilevel and spec.group in texts:
        texts[spec.group] = group
    return Columns(table.numbers, texts, group, table.n_rows)


def _complete(spec: Spec, table: Columns) -> tuple[Columns, dict[str, int]]:
    """The complete rows, and how many rows each used column was missing in."""
    used = columns_used(spec)
    missing = {c: table.missing(c) for c in used}
    dropped = {c: int(m.sum()) for c, m in missing.items() if m.any()}
    if not dropped:
        return table, dropped
    keep = ~np.logical_or.reduce(list(missing.values()))
    if not keep.any():
        raise InputError(
            f"data file {shown(spec.data.name)}: every row has a missing value in {shown(', '.join(dropped))}; nothing left to analyse"
        )
    return Columns(
        {c: v[keep] for c, v in table.numbers.items()},
        {c: f.subset(keep) for c, f in table.texts.items()},
        table.group.subset(keep),
        int(keep.sum()),
    ), dropped


def _group_means(values: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return (np.bincount(codes, weights=values, minlength=len(counts)) / counts)[codes]


def _centre(spec: Spec, numbers: dict, codes: np.ndarray, counts: np.ndarray):
    """Apply the config's centering and add group means for contextual effects.

    With a group-mean centred x and its group mean both in the model, the coefficient of x is the
    within-group effect and that of the mean the between-group effect; with x grand-mean centred
    instead, the mean's coefficient is the contextual effect (Raudenbush & Bryk, ch. 5).
    """
    means = {
        c: _group_means(numbers[c], codes, counts) for c in {*spec.centering, *spec.contextual}
    }
    numbers = dict(numbers)
    predictors = list(spec.predictors)
    for column in spec.contextual:
        numbers[contextual_name(column)] = means[column]
        predictors.append(contextual_name(column))
    for column, how in spec.centering.items():
        centre = means[column] if how == "group" else numbers[column].mean()
        numbers[column] = numbers[column] - centre
    return numbers, predictors


def _build_columns(
    spec: Spec, numbers: dict, texts: dict, n: int, predictors: list[str], groups: int
):
    """The design of rows in memory (build_design with numpy), checked as it is made."""
    levels_of: dict[str, tuple[str, ...] | None] = {}
    binary: dict[str, bool] = {}
    for var in design_variables(spec, predictors):
        if var in numbers:
            values = numbers[var]  # complete rows: no NaN here
            if values.min() == values.max():
                refuse_constant(spec, var, values[0])
            levels_of[var] = None
            binary[var] = bool(np.all((values == 0.0) | (values == 1.0)))
        else:
            levels_of[var] = texts[var].levels
    refuse_wide_design(spec, predictors, levels_of, rows=n, groups=groups)
    built = build_design(spec, predictors, levels_of, binary, NumpyAlgebra(numbers, texts, n))
    columns, terms_of = built[0], built[1]
    for interaction in spec.interactions:
        for name in terms_of[interaction]:
            bad = int(too_large(columns[name], TOO_LARGE).sum())
            if bad:
                refuse_large_product(interaction, bad)
    return built


def code_columns(spec: Spec, table: Columns, coding: BinaryCoding | None = None) -> Prepared:
    """The analysis sample of a file's columns: complete rows, group codes, centring, the
    design and its per-group sums, every row kept (for CR2)."""
    require_numbers(spec, lambda column: column in table.numbers)
    table = _in_nfc(spec, table)
    table = _numeric_tokens_missing(spec, table)
    _refuse_too_large(spec, table)
    clean, dropped = _complete(spec, table)
    for column in [*spec.predictors, *(v for t in spec.interactions for v in t.split(":"))]:
        if column in clean.texts:  # -99 among words: a missing-value code, not a category
            factor = clean.texts[column]
            counts = np.bincount(factor.codes, minlength=len(factor.levels))
            refuse_missing_codes(
                column,
                factor.levels,
                lambda v, f=factor, c=counts: int(c[[str(x) for x in f.levels].index(v)]),
                spec.not_missing.get(column, ()),
            )
    y = clean.numbers[spec.outcome]
    if np.ptp(y) == 0:
        refuse_outcome_constant(spec, y[0], len(y))
    levels = clean.group.labels()
    if len(levels) < 2:
        raise single_group(spec, levels[0])
    codes = clean.group.codes
    counts = np.bincount(codes, minlength=len(levels))
    check_groups(spec, counts)
    measured = clean.numbers  # before centring: what the data section describes
    numbers, predictors = _centre(spec, measured, codes, counts)
    built = _build_columns(spec, numbers, clean.texts, clean.n_rows, predictors, len(levels))
    columns, _, categorical, _ = built
    numeric = numeric_variables(spec, predictors, categorical)
    with_measured = {**columns, **{MEASURED + c: measured[c] for c in spec.centering}}
    names = design_names(spec, columns)
    sums = from_rows(spec.outcome, y, with_measured, codes, len(levels), names)
    # as measured: centred columns before centring, the rest (group means too) as modelled
    as_measured = {c: (measured if c in spec.centering else numbers)[c] for c in numeric}
    rows = Rows(y, codes, columns, as_measured)
    return assemble(
        spec, built, predictors, levels, sums, rows, table.n_rows, dropped, coding=coding
    )


def numeric_variables(spec: Spec, predictors: list[str], categorical: dict) -> list[str]:
    """The outcome and every numeric variable of the models, in config order."""
    variables = [spec.outcome, *[v for v in predictors if v not in categorical]]
    variables += [v for t in spec.interactions for v in t.split(":")]
    return [v for v in dict.fromkeys(variables) if v not in categorical]
