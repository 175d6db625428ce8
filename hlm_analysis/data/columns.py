"""A file's used columns as numbers and codes: what reading hands to coding.

Two readers make `Columns` (read_arrow.py for clean files, without pandas; load.py through pandas
for everything else) and one coder (prepare.code_columns) makes the analysis sample of it, so
both readers give the same design, sums and labels by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, problems_error
from ..results import INTERCEPT
from ..spec import Spec, did_you_mean, quoted, reads_as_number, shown
from .files import case_hint, nfc, separator_hint


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
            problems.append(f"column {quoted(column)} not found (columns: {listed}){hint}")
    used = columns_used(spec)
    for column in spec.labels:
        if column not in used:
            problems.append(
                f"labels: {quoted(column)} is not a column the config uses"
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


def refuse_missing_codes(column: str, levels, count) -> None:
    """Refuse (exit 2) a text predictor holding a missing-value code beside other values: among
    words (Public, Catholic, -99), or beside numbers all on the other side of zero or far below
    it (1, 2, 3, -99). `count(level)` gives its rows, asked only when refusing."""
    levels = [str(v) for v in levels]
    codes = [v for v in levels if v.strip() in MISSING_CODES]
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
                "missing_values: (in quotes), else recode it"
            )


def contextual_name(column: str) -> str:
    return f"{column}_group_mean"
