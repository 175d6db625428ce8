"""Data files before any reader: which formats, the header as written, the Parquet types a model
can use, values too large to model. No pandas here: the fit path imports this on clean files,
which pyarrow reads (read_arrow.py); load.py reads the rest with pandas.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..errors import InputError
from ..spec import quoted, shown

PARQUET = {".parquet", ".pq"}
CSV = {".csv", ".txt", ".tsv"}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return shown(text.splitlines()[0]) if text else type(exc).__name__


def csv_header(path: Path, sep: str) -> list[str]:
    """The header exactly as written: pandas renames a repeated 'x' to 'x.1', which hides it."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        try:
            return next(csv.reader(handle, delimiter=sep), [])
        except csv.Error:  # a header pandas cannot read either; it says why
            return []


def refuse_duplicates(path: Path, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen and name != "":  # unnamed columns cannot be used anyway
            raise InputError(
                f"data file {shown(path.name)}: the column {quoted(name)} appears twice in the "
                "header; rename one of them"
            )
        seen.add(name)


_MEMORY_SIZE = re.compile(r"\s*(\d+(\.\d*)?|\.\d+)\s*([KMGT]i?B|B|%)\s*", re.IGNORECASE)


def check_memory_size(text: str) -> None:
    """HLM_DUCKDB_MEMORY is the user's setting: a bad one is their input (exit 2, named), not a
    DuckDB failure."""
    found = _MEMORY_SIZE.fullmatch(text)
    if found is None or float(found.group(1)) <= 0:
        raise InputError(
            f"HLM_DUCKDB_MEMORY={text!r} is not a memory size; write a positive number with a "
            "unit, e.g. 1GB, 512MB, 2GiB or 50%"
        )


def nfc(text: str) -> str:
    """Unicode's composed form (NFC): 'Größe' typed on one keyboard and saved by another program
    (macOS writes NFD, o plus a combining diaeresis) is one name, one level, one group id."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def nfc_names(path: Path, names: Sequence[str]) -> list[str]:
    """A header's names in NFC (how configs and every reader match them); two distinct raw
    spellings of one name are refused (exact repeats: refuse_duplicates)."""
    normal = [nfc(name) for name in names]
    raw_of: dict[str, str] = {}
    for raw, name in zip(names, normal, strict=True):
        if raw_of.setdefault(name, raw) != raw:
            raise InputError(
                f"data file {shown(path.name)}: the columns {quoted(raw_of[name])} and "
                f"{quoted(raw)} are one name in two Unicode spellings (NFC and NFD); rename one "
                "of them"
            )
    return normal


def case_hint(column: str, names: Iterable[str]) -> str:
    """' (names match with case: the file has 'Y')' when a name differs from `column` only in
    case or Unicode spelling, else ''."""
    near = [n for n in names if n != column and nfc(n).casefold() == nfc(column).casefold()]
    if not near:
        return ""
    return f"; names match exactly, with case: the file has {quoted(near[0])}"


def separator_hint(names: list[str]) -> str:
    """'the file looks separated by ';' ...' when a CSV's header read as one column holds
    another separator (a ';' export of a European Excel, a tab file named .csv), else ''."""
    if len(names) != 1:
        return ""
    for sep in (";", "\t", "|"):
        if sep in names[0]:
            return (
                f"the file looks separated by {sep!r}: hlm-report reads comma-separated CSV "
                "(save it with ',' between the columns)"
            )
    return ""


def unusable_type(kind: pa.DataType) -> bool:
    """Arrow types that do not hold one number or one piece of text per cell."""
    if pa.types.is_dictionary(kind):
        return unusable_type(kind.value_type)
    if isinstance(kind, pa.ExtensionType):
        return unusable_type(kind.storage_type)
    return (
        pa.types.is_nested(kind)  # list, large/fixed-size list, struct, map, union
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_temporal(kind)  # dates, times, durations: not a number without a unit
    )


def check_parquet_schema(path: Path, columns: Sequence[str] | None) -> pa.Schema:
    schema = pq.read_schema(path)
    refuse_duplicates(path, schema.names)
    names = nfc_names(path, schema.names)
    wanted = set(names if columns is None else columns)
    for field, name in zip(schema, names, strict=True):
        if name in wanted:
            refuse_unusable_type(path, name, field.type)
    return schema


def refuse_unusable_type(path: Path, column: str, kind: pa.DataType) -> None:
    if unusable_type(kind):
        raise InputError(
            f"data file {shown(path.name)}: column {quoted(column)} has Parquet type "
            f"{shown(kind)}, which a model cannot use (numbers or text only)"
        )


def too_large(values: np.ndarray, limit: float) -> np.ndarray:
    """Which values are infinite or larger than `limit` in size (missing values are not)."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isinf(values) | (np.abs(values) > limit)


NOT_UTF8_BUT_UTF16 = "is not UTF-8 text (it looks like UTF-16): save it as UTF-8"


def utf16_hint(head: bytes) -> str:
    """'is not UTF-8 text (it looks like UTF-16) ...' for a file whose first bytes are UTF-16
    (Excel's 'Unicode text', PowerShell's default): read as UTF-8 its header holds NULs and no
    comma, so the part looked like one lacking the columns. '' otherwise."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head[:4096]:
        return NOT_UTF8_BUT_UTF16
    return ""


def csv_part_problem(path: Path, width: int) -> str | None:
    """What is wrong with one CSV part, in the in-memory reader's words, or None: for the
    message after an engine refused the data (DuckDB's 'Schema mismatch between globbed files',
    Spark's 'Malformed CSV record'), so it reads the whole part and runs only on that path."""
    data = path.read_bytes()
    hint = utf16_hint(data)
    if hint:
        return f"data file {shown(path.name)} {hint}"
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    step = 1 << 23
    try:
        for start in range(0, len(data), step):
            decoder.decode(data[start : start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        at = _first_bad_byte(data)
        line = data.count(b"\n", 0, at) + 1
        guess = "Windows-1252" if _windows_1252(data) else "another encoding"
        return (
            f"data file {shown(path.name)} is not UTF-8 text (line {line} holds byte "
            f"0x{data[at]:02x}; it looks like {guess}): save it as UTF-8"
        )
    if width < 2:  # encoding only (a one-column file has no cells to count)
        return None
    bad = []

    def keep(row) -> str:
        if row.actual_columns < row.expected_columns or not bad:
            bad.append(row)
        return "skip"

    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(
                use_threads=False,  # row numbers are known only when one thread parses
                column_names=[f"c{i}" for i in range(width)],
                skip_rows_after_names=1,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=sep, newlines_in_values=True, invalid_row_handler=keep
            ),
            convert_options=pcsv.ConvertOptions(
                include_columns=["c0"], column_types={"c0": pa.string()}
            ),
        )
    except pa.ArrowException:
        return None
    if not bad:
        return None
    row = min(bad, key=lambda r: r.actual_columns >= r.expected_columns)
    line = _line_of(data, row.number, row.text)
    where = f", line {line}" if line is not None else ""
    cells = "cell" if row.actual_columns == 1 else "cells"
    return (
        f"data file {shown(path.name)}{where}: {row.actual_columns} {cells} where the header has "
        f"{row.expected_columns} ({quoted(row.text[:60])}); every row needs all of them (an empty "
        "cell is written as nothing between two commas)"
    )


def _line_of(data: bytes, number: int | None, text: str) -> int | None:
    """The line a row Arrow numbers `number` (the header being 1) starts on: the same unless a
    quoted cell before it holds a line break; then the first line from there that is the row."""
    if number is None or b'"' not in data:
        return number
    lines = data.split(b"\n")
    wanted = text.encode("utf-8")
    for i in range(number - 1, len(lines)):
        if lines[i].rstrip(b"\r") == wanted:
            return i + 1
    return None


def _first_bad_byte(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def _windows_1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True
