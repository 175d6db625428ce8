"""Read a data file into a frame, turning every way it can fail into one InputError.

Missing cells are exactly the config's `missing_values` tokens (pandas' own longer list is off,
so a cell such as "null" or "n/a" is never dropped without the user saying so). Columns are
checked before anything is modelled: a header used twice, a Parquet type no model can use
(lists, structs, maps, bytes, dates), and a column of numbers with a few stray tokens in it
(`numeric_columns`) each stop with one line naming the column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from ..errors import InputError
from ..spec import DEFAULT_MISSING_VALUES, Spec, quoted, shown
from .columns import Columns, Factor, check_columns_exist
from .files import (
    CSV,
    NOT_UTF8_BUT_UTF16,
    PARQUET,
    check_parquet_schema,
    csv_header,
    csv_part_problem,
    first_line,
    nfc_names,
    refuse_duplicates,
)
from .levels import cell_factor
from .outcome import BinaryCoding, code_binary

# A text column is "numbers with stray tokens" (and refused) rather than genuinely text when at
# least this share of its non-missing cells are numbers, or when all but a few of them are (small
# files: 3 '?' among 20 numbers); genuinely text columns (levels, ids) have few or no numbers.
NUMERIC_SHARE = 0.9
FEW_TOKENS = 5


def _read_parquet(path: Path, missing_values: Sequence[str], columns: Sequence[str] | None):
    schema = check_parquet_schema(path, columns)
    frame = pd.read_parquet(path)
    for field in schema:
        if pa.types.is_decimal(field.type):  # pandas gives Decimal objects, i.e. "text"
            frame[field.name] = frame[field.name].astype(float)
    frame.columns = nfc_names(path, [str(c) for c in frame.columns])  # as configs name them
    # Text cells spelled like a missing-value token mean missing, as they would in a CSV.
    tokens = list(missing_values)
    for name in frame.columns if columns is None else [c for c in columns if c in frame]:
        series = frame[name]
        if tokens and _is_text(series):
            frame[name] = series.mask(series.isin(tokens))
    return frame


def read_table(
    path: Path,
    missing_values: Sequence[str] = DEFAULT_MISSING_VALUES,
    columns: Sequence[str] | None = None,
    ids: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every way it can fail into one InputError.

    `columns` (the columns the analysis uses) limits the Parquet type check and the
    missing-value tokens of Parquet text cells to those columns; every column is read.
    Column names come back in NFC; the `ids` columns of a CSV are read as text as written.
    """
    if not path.is_file():
        raise InputError(f"data file not found: {shown(path)}")
    if path.stat().st_size == 0:
        raise InputError(f"data file is empty: {shown(path)}")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET:
            frame = _read_parquet(path, missing_values, columns)
        elif suffix in CSV:
            sep = "\t" if suffix == ".tsv" else ","
            header = csv_header(path, sep)
            if any("\x00" in name for name in header):  # UTF-16 text decodes as UTF-8 with NULs
                raise InputError(f"data file {shown(path.name)} {NOT_UTF8_BUT_UTF16}")
            refuse_duplicates(path, header)
            _refuse_short_rows(path, sep, len(header))
            raw = dict(zip(nfc_names(path, header), header, strict=True))
            frame = pd.read_csv(
                path,
                sep=sep,
                dtype={raw[c]: str for c in ids if c in raw},
                na_values=list(missing_values),
                keep_default_na=False,
                low_memory=False,  # one type per column, not one per chunk
            )
        else:
            raise InputError(
                f"data file {shown(path)}: unsupported format {quoted(suffix)} "
                "(use .csv or .parquet)"
            )
    except InputError:
        raise
    except UnicodeDecodeError as exc:
        # the line and the encoding it looks like, in the words the engines' path gives
        said = csv_part_problem(path, 0) if suffix in CSV else None
        raise InputError(
            said
            or f"data file {shown(path)} is not UTF-8 text (it holds byte "
            f"0x{exc.object[exc.start]:02x}); save it as UTF-8"
        ) from None
    except (pd.errors.EmptyDataError, ValueError, OSError, pa.ArrowException) as exc:
        raise InputError(f"data file {shown(path)} could not be read: {first_line(exc)}") from None
    if frame.empty:
        raise InputError(f"data file has no rows: {shown(path)}")
    frame.columns = nfc_names(path, [str(c) for c in frame.columns])
    return frame


def _refuse_short_rows(path: Path, sep: str, width: int) -> None:
    """A row with fewer cells than the header is refused: pandas fills the absent cells with
    missing values (the row then dropped as missing, exit 0) where DuckDB and Spark refuse the
    file. Arrow's parser counts the cells (the header skipped as a row, so a quoted line break
    in it is one header); only the first column is converted."""
    if width < 2:
        return
    try:
        pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(
                column_names=[f"c{i}" for i in range(width)], skip_rows_after_names=1
            ),
            parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                include_columns=["c0"], column_types={"c0": pa.string()}
            ),
        )
    except pa.ArrowInvalid as exc:
        found = re.search(r"Expected (\d+) columns, got (\d+): (.*)", str(exc), re.S)
        if found and int(found.group(2)) < int(found.group(1)):
            # the line it is on, in the words the engines' path gives
            raise InputError(
                csv_part_problem(path, width)
                or f"data file {shown(path.name)}: a row holds {found.group(2)} of the header's "
                f"{found.group(1)} columns ({quoted(_clip(found.group(3)))}); every row needs "
                "all of them (an empty cell is written as nothing between two commas)"
            ) from None
        # anything else (bytes that are not UTF-8, a row too long) is pandas' to name


def _is_text(series: pd.Series) -> bool:
    """Text cells (str or object columns); bool and categorical columns are left as they are."""
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def numeric_columns(
    frame: pd.DataFrame, columns: Iterable[str], required: Iterable[str] = ()
) -> pd.DataFrame:
    """Columns that may be numbers: text columns of numbers become numbers; a column of
    numbers with a few other tokens ("n/a", "-", "?", "1,5") stops with one line naming the
    column, the most frequent token and how many rows hold it. Genuinely text columns (most
    cells not numbers) stay text: they are categorical predictors. A `required` column (the
    outcome, a centred column) cannot be text, so there a majority of numbers is enough to name
    the token rather than only saying "text"."""
    required = set(required)
    converted: dict[str, pd.Series] = {}
    for name in columns:
        series = frame[name]
        if not _is_text(series):
            continue
        present = series.dropna()
        if present.empty:
            continue
        # each distinct cell parsed once (a text column of 500,000 cells has a few distinct ones)
        distinct = present.astype(str).value_counts(sort=False)
        parsed = pd.to_numeric(pd.Series(distinct.index, dtype=object), errors="coerce")
        bad = distinct[parsed.isna().to_numpy()]
        n_bad = int(bad.sum())
        n_ok = len(present) - n_bad
        if n_bad == 0:
            # every cell a number (a Parquet text column, or Python ints too large for int64)
            converted[name] = pd.to_numeric(
                series.astype(object).where(series.notna()), errors="coerce"
            )
            continue
        counts = bad.sort_values(ascending=False, kind="stable")  # first seen first on ties
        judge_text_column(
            name, n_ok, list(zip(counts.index, counts.tolist(), strict=True)), name in required
        )
    if not converted:
        return frame
    frame = frame.copy()
    for name, values in converted.items():
        frame[name] = values
    return frame


def judge_text_column(name: str, n_ok: int, bad: list[tuple[str, int]], required: bool) -> None:
    """A text column with `n_ok` numeric cells and `bad` (token, rows) others, most frequent
    first: raise InputError when it is numbers with stray tokens; return when it is text."""
    n_bad = sum(count for _, count in bad)
    cells = n_ok + n_bad
    mostly_numbers = (
        n_ok >= NUMERIC_SHARE * cells
        or (n_bad <= FEW_TOKENS and n_ok >= 2 * n_bad)
        or (required and n_ok > n_bad)
    )
    # A part exported with decimal commas ("0,83") beside parts with points: numbers too, the
    # column otherwise text (a factor of one level per value); those tokens are then named.
    comma = sum(count for token, count in bad if _decimal_comma(str(token)))
    if not mostly_numbers and comma and n_ok + comma >= NUMERIC_SHARE * cells:
        mostly_numbers = True
        bad = sorted(bad, key=lambda pair: not _decimal_comma(str(pair[0])))
    if not mostly_numbers:
        return
    token, count = str(bad[0][0]), int(bad[0][1])
    others = n_bad - count
    extra = (
        f"; {_plural(others, 'other row holds', 'other rows hold')} other text, "
        f"e.g. {quoted(_clip(str(bad[1][0])))}"
        if others
        else ""
    )
    hint = (
        "numbers are read with a point as the decimal mark and no thousands separator"
        if _decimal_comma(token)
        else "add it to missing_values: if it means missing"
    )
    raise InputError(
        f"column {quoted(name)}: {_plural(count, 'row holds', 'rows hold')} "
        f"{quoted(_clip(token))}, which is not a number ({hint}){extra}"
    )


def _clip(token: str, width: int = 40) -> str:
    return token if len(token) <= width else token[: width - 3] + "..."


def _decimal_comma(token: str) -> bool:
    head, _, tail = token.strip().partition(",")
    return bool(head) and bool(tail) and (head.lstrip("+-") + tail).isdigit()


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def sorted_levels(values) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _factor(series: pd.Series, as_text: bool) -> Factor:
    """A column's factor: of its cells as text (`as_text`: text, bool and category columns
    alike, as patsy names their dummies) or of its values as read (group ids: numbers sort
    as numbers)."""
    if series.dtype == np.float16:  # pandas has no float16 index to code it by
        series = series.astype(np.float64)
    present = series.notna().to_numpy()
    values = series[present].astype(str) if as_text else series[present]
    levels = sorted_levels(values.unique())
    codes = np.full(len(series), -1, dtype=np.int64)
    codes[present] = pd.Categorical(values, categories=levels).codes
    return Factor(codes, tuple(levels))


def read_columns(spec: Spec, path: Path, used: list[str]) -> tuple[Columns, BinaryCoding | None]:
    """The used columns of any file pandas reads, judged by its rules: a binary outcome coded,
    text columns of numbers converted or refused (numeric_columns)."""
    frame = read_table(path, spec.missing_values, used, ids=list(spec.levels))
    check_columns_exist(spec, list(frame.columns))
    coding = None
    if spec.family == "binomial":
        frame = frame.copy()
        frame[spec.outcome], coding = code_binary(spec, frame[spec.outcome])
    # the group is an id (text or number alike); every other column used may need to be a number
    frame = numeric_columns(
        frame,
        [c for c in used if c not in spec.levels],
        required=[spec.outcome, *spec.centering, *spec.contextual],
    )
    numbers: dict[str, np.ndarray] = {}
    texts: dict[str, Factor] = {}
    for name in used:
        series = frame[name]
        if _is_numeric(series):
            numbers[name] = series.to_numpy(dtype=float, na_value=np.nan)
        else:
            texts[name] = _factor(series, as_text=True)
    factors = [_factor(frame[g], as_text=False) for g in spec.levels]
    group = cell_factor(factors) if spec.multilevel else factors[0]  # levels.py: cells
    return Columns(numbers, texts, group, len(frame)), coding
