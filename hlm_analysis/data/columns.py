"""A file's used columns as numbers and codes: what reading hands to coding.

Two readers make `Columns` (read_arrow.py for clean files, without pandas; load.py through pandas
for everything else) and one coder (prepare.code_columns) makes the analysis sample of it, so
both readers give the same design, sums and labels by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, problems_error
from ..results import INTERCEPT
from ..spec import Spec, did_you_mean, quoted, reads_as_number, shown
from .files import case_hint, nfc, separator_hint

if TYPE_CHECKING:
    from .sums import DesignSums


@dataclass(frozen=True)
class Factor:
    """A column of levels: each row's code into `levels` (-1 where missing)."""

    codes: np.ndarray  # int64
    levels: tuple  # distinct values in sorted order (as read; numbers sort as numbers)

    @classmethod
    def of(cls, values: np.ndarray, missing: np.ndarray | None = None) -> Factor:
        """The factor of an array of values (anything np.unique sorts: numbers or str)."""
        if missing is None or not missing.any():
            levels, codes = np.unique(values, return_inverse=True)
            return cls(codes.astype(np.int64), tuple(levels.tolist()))
        codes = np.full(len(values), -1, dtype=np.int64)
        levels, codes[~missing] = np.unique(values[~missing], return_inverse=True)
        return cls(codes, tuple(levels.tolist()))

    @classmethod
    def of_labels(cls, codes: np.ndarray, values: list[str], ids: bool) -> Factor:
        """The factor of codes into `values` (text, -1 where missing) with its levels in NFC:
        spellings of one text that differ only in Unicode composition are one level (one
        group), ordered as every path orders them (group ids: id_order; other text: sorted)."""
        normal = [nfc(v) for v in values]
        distinct = set(normal)
        levels = id_order(distinct) if ids else sorted(distinct)
        if levels == normal:
            return cls(codes, tuple(levels))
        rank = {v: i for i, v in enumerate(levels)}
        mapping = np.array([rank[v] for v in normal] + [-1], dtype=np.int64)  # [-1]: missing
        return cls(mapping[codes], tuple(levels))

    @property
    def missing(self) -> np.ndarray:
        return self.codes < 0

    def labels(self) -> list[str]:
        return [str(level) for level in self.levels]

    def subset(self, keep: np.ndarray) -> Factor:
        """The rows in `keep` (none missing), with only the levels they hold, still sorted."""
        codes = self.codes[keep]
        present = np.bincount(codes, minlength=len(self.levels)) > 0
        if present.all():
            return Factor(codes, self.levels)
        renumber = np.cumsum(present) - 1
        return Factor(
            renumber[codes], tuple(v for v, p in zip(self.levels, present, strict=True) if p)
        )


@dataclass(frozen=True)
class Columns:
    """Every used column of a file, read. A column is a number column (float64, NaN where
    missing) or a text column (a Factor of its cells as text); the group column is one of them
    and also `group`, a Factor of its values as read (numeric ids sort as numbers)."""

    numbers: dict[str, np.ndarray]
    texts: dict[str, Factor]
    group: Factor
    n_rows: int

    def missing(self, name: str) -> np.ndarray:
        if name in self.numbers:
            return np.isnan(self.numbers[name])
        return self.texts[name].missing


def id_order(labels) -> list[str]:
    """Group ids (text as written) in the order every path reports them: as numbers when every
    one reads as a number (ties, such as 100 and 0100, by their text), else as text."""
    labels = list(labels)
    try:
        keys = [(float(v), v) for v in labels]
    except ValueError:
        return sorted(labels)
    return [v for _, v in sorted(zip(keys, labels, strict=True))]


def columns_used(spec: Spec) -> list[str]:
    used = [spec.outcome, *spec.levels, *spec.predictors, *spec.slope_variables]
    for term in spec.interactions:
        used.extend(term.split(":"))
    used.extend(spec.centering)
    used.extend(spec.contextual)
    return list(dict.fromkeys(used))


def _partition_hint(spec: Spec, column: str) -> str:
    """When a data folder names a missing column only in its subfolders (school=S01/, as Spark
    and Hive write a partitioned table), say so: the readers take columns from the files alone.
    Looked for only when refusing."""
    if not spec.data.is_dir():
        return ""
    found = next((p for p in sorted(spec.data.rglob(f"{column}=*")) if p.is_dir()), None)
    if found is None:
        return ""
    return (
        f"; the data folder holds it only in folder names ({shown(found.name)}/), which are not "
        f"read as a column: write {shown(column)} into the files"
    )


def check_columns_exist(spec: Spec, columns: list[str]) -> None:
    where = f"data file {shown(spec.data.name)}"
    separator = separator_hint(columns)
    if separator and any(c not in columns for c in columns_used(spec)):
        raise InputError(f"{where}: {separator}")  # one cause, not a line per column
    # every missing column and every label of no column at once, each with its likely fix
    problems = []
    listed = ", ".join(shown(c) for c in columns[:12]) + (", ..." if len(columns) > 12 else "")
    for column in columns_used(spec):
        if column not in columns:
            hint = case_hint(column, columns) or did_you_mean(column, columns)
            hint = hint or _partition_hint(spec, column)
            problems.append(f"column {quoted(column)} not found (columns: {listed}){hint}")
    used = columns_used(spec)
    for column in spec.labels:
        if column not in used:
            problems.append(
                f"labels: {quoted(column)} is not a column the config uses"
                + did_you_mean(column, used)
            )
    for column in spec.not_missing:
        if column not in used:
            problems.append(
                f"not_missing: {quoted(column)} is not a column the config uses"
                + did_you_mean(column, used)
            )
    if problems:
        raise problems_error(where, problems)
    # The model names its intercept term INTERCEPT; a column of that name would be the same term.
    # A column called "Intercept" (or anything else) is fine.
    for column in columns_used(spec):
        if column == INTERCEPT and column != spec.outcome and column not in spec.levels:
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


# Codes that data exports (SPSS, Stata, survey tools) use for "missing". Among words they are a
# category no one meant: "-99" would become a level of its own with its own coefficient.
MISSING_CODES = ("-9", "-99", "-999", "-9999", "99", "999", "9999")


def refuse_missing_codes(column: str, levels, count, accepted=()) -> None:
    """Refuse (exit 2) a text predictor holding a missing-value code beside other values: among
    words (Public, Catholic, -99), or beside numbers all on the other side of zero or far below
    it (1, 2, 3, -99). `count(level)` gives its rows, asked only when refusing. A code among
    `accepted` (the column's not_missing: values) is a real category."""
    levels = [str(v) for v in levels]
    taken = {float(a) for a in accepted}
    codes = [v for v in levels if v.strip() in MISSING_CODES and float(v) not in taken]
    others = [v for v in levels if v.strip() not in MISSING_CODES]
    if not codes or not others:
        return
    words = [v for v in others if not reads_as_number(v)]
    for code in codes:
        value = float(code)
        numbers = [float(v) for v in others if reads_as_number(v)]
        far = bool(numbers) and (
            (value < 0 and min(numbers) >= 0) or (value > 0 and max(numbers) * 3 < value)
        )
        if words or far:
            n = count(code)
            shown_others = ", ".join(shown(v) for v in others[:4]) + (
                ", ..." if len(others) > 4 else ""
            )
            raise InputError(
                f"column {quoted(column)}: {n:,} {'row holds' if n == 1 else 'rows hold'} "
                f"{quoted(code)} among the values {shown_others}, which looks like a "
                f'missing-value code; if it means missing, add "{shown(code.strip())}" to '
                "missing_values: (in quotes); if it is a real value, add not_missing: "
                f"{{{shown(column)}: [{value:g}]}}"
            )


# The same codes among numbers: a numeric column read as numbers keeps -99 as a value, and a mean
# or a slope then averages it in. A code is flagged only when it is far outside the column's
# other values (see numeric_missing_code), so a real 99 among scores of 0-100 never is.
NUMERIC_CODES = (-9, -99, -999, -9999, -8, -88, -888, -98, -97,
                 99, 999, 9999, 98, 998, 9998, 97, 997, 9997, 88, 888, 8888)  # fmt: skip
# "At least a few rows": one odd value may be a real outlier; a code is used again and again.
MIN_CODE_ROWS = 3


@dataclass(frozen=True)
class NumericCode:
    code: float
    rows: int  # rows holding it (estimated when `sampled`)
    low: float  # the column's other values lie within low..high
    high: float
    sampled: bool = False


def numeric_missing_code(
    values: np.ndarray,
    accepted=(),
    scale: float = 1.0,
    cell_low: np.ndarray | None = None,
    cell_high: np.ndarray | None = None,
) -> NumericCode | None:
    """The missing-value code that `values` (no NaN) hold, if any: a NUMERIC_CODES value not
    `accepted`, in at least MIN_CODE_ROWS rows, beside other values and far outside them: beyond
    their range by more than its own width (-99 among 1-5, 999 among ages 5-18), or negative
    where no other value is (-9 among scores 0-100). The most frequent such code.
    When `values` are a sample, its counts are scaled by `scale`, and each group's smallest and
    largest value (`cell_low`, `cell_high`, exact from the sums) count the groups holding a
    code as its lowest or highest value: at least that many rows, whether sampled or not."""
    taken = {float(a) for a in accepted}
    codes = np.array([c for c in NUMERIC_CODES if float(c) not in taken], dtype=float)
    hit = np.isin(values, codes)
    at_extremes = cell_low is not None and bool(
        np.isin(cell_low, codes).any() or np.isin(cell_high, codes).any()
    )
    if not hit.any() and not at_extremes:
        return None
    rest = values[~hit]
    if rest.size == 0:
        return None
    low, high = float(rest.min()), float(rest.max())
    width = high - low
    held, times = np.unique(values[hit], return_counts=True)  # one pass, not one per code
    count = dict(zip(held.tolist(), times.tolist(), strict=True))
    found = []
    for code in codes:
        rows = round(count.get(float(code), 0) * scale)
        if cell_low is not None:
            holding = (cell_low == code) | (cell_high == code)
            rows = max(rows, int(np.count_nonzero(holding)))
        far = code < low - width or code > high + width or (code < 0 <= low)
        if rows >= MIN_CODE_ROWS and far:
            found.append(NumericCode(float(code), rows, low, high, sampled=scale != 1.0))
    return max(found, key=lambda c: c.rows) if found else None


def check_numeric_codes(
    spec: Spec, measured: dict, sums: DesignSums, every_row: bool, name_in_sums, count=None
) -> None:
    """Refuse a numeric column the config uses (outcome, predictors, time) that holds a
    missing-value code. `measured` holds the columns as measured over every row (`every_row`:
    counts are exact) or over the figures' sample; the sums' per-group bounds (of the column
    named `name_in_sums(column)`, as measured) then add what the sample may miss, so no row is
    read again. A code the sample found is then counted over every row by `count(column,
    code)` (one query, on the refusal path only: the message states the exact number)."""
    for column in columns_used(spec):
        if column not in measured or column in spec.levels:
            continue
        if column == spec.outcome and spec.family == "binomial":
            continue  # coded 0/1 from its values; a code there is a third value, refused there
        values = np.asarray(measured[column], dtype=float)
        if not len(values):
            continue
        accepted = spec.not_missing.get(column, [])
        if every_row:
            found = numeric_missing_code(values, accepted)
        else:
            i = sums.index([name_in_sums(column)])[0]
            found = numeric_missing_code(
                values, accepted, sums.n / len(values), sums.group_low[:, i], sums.group_high[:, i]
            )
        if found is not None and found.sampled and count is not None:
            rows = count(column, found.code)
            if rows < MIN_CODE_ROWS:  # the sample's scaled count overstated a stray value
                continue
            found = NumericCode(found.code, rows, found.low, found.high)
        if found is not None:
            refuse_numeric_code(column, found)


def refuse_numeric_code(column: str, found: NumericCode) -> None:
    """Exit 2 for a numeric column holding a missing-value code, with both ways out."""
    code = f"{found.code:g}"
    rows = f"{found.rows:,} rows"
    if found.sampled:
        rows = f"about {rows} (from the figures' sample)"
    raise InputError(
        f"column {quoted(column)}: {rows} hold {code}, far outside its other values "
        f"({found.low:g} to {found.high:g}), which looks like a missing-value code; if it means "
        f'missing, add "{code}" to missing_values: (in quotes); if it is a real value, add '
        f"not_missing: {{{shown(column)}: [{code}]}}"
    )


def contextual_name(column: str) -> str:
    return f"{column}_group_mean"
