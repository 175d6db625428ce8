"""What the config's `data:` names: one file, a glob of files (`lake/part-*.parquet`) or a
directory of them, checked before any engine reads a row.

Every part must be the same format and hold every column the analysis uses, with one kind of
type per column (numbers in one part and text in another is refused); these are read from file
footers and headers, so checking thousands of parts costs no scan of the data.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..spec import quoted, shown
from .files import CSV, PARQUET, csv_header, refuse_duplicates, refuse_unusable_type

_GLOB = set("*?[")
# All rows come back to Python (and CR2 and statsmodels' candidates are kept)
# up to this many; beyond, only group-level arrays and the figures' sample do.
IN_MEMORY_ROWS = 2_000_000


@dataclass(frozen=True)
class Footers:
    """What the Parquet footers of every part say of the columns used: those without a null in
    any row group (NaN aside: it is no null in Parquet). A hint for choosing the engine's
    passes, never a result."""

    null_free: frozenset[str] = frozenset()
    # the midpoint of each numeric column's range over every row group (where all say): a
    # number near its centre, to shift a column by before its group means are taken
    centre: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    files: tuple[Path, ...]
    format: str  # "parquet" or "csv"
    label: str  # as the user wrote it, for messages
    rows: int | None  # known without a scan for Parquet (footers); None for CSV
    bytes: int
    footers: Footers = Footers()

    @property
    def single_file(self) -> bool:
        return len(self.files) == 1


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "parquet" if suffix in PARQUET else "csv" if suffix in CSV else None


def resolve(path: Path) -> list[Path]:
    """The files `data:` names, sorted; InputError when there are none."""
    text = str(path)
    if _GLOB & set(text):
        files = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
        if not files:
            raise InputError(f"data: no file matches {shown(text)}")
        return files
    if path.is_dir():
        files = sorted(
            f
            for f in path.rglob("*")
            if f.is_file() and _format_of(f) and not f.name.startswith((".", "_"))
        )  # Spark and Hive leave _SUCCESS and .crc files beside the parts
        if not files:
            raise InputError(f"data: directory {shown(text)} holds no .parquet or .csv files")
        return files
    if not path.is_file():
        raise InputError(f"data file not found: {shown(path)}")
    return [path]


def _kind(kind: pa.DataType) -> str:
    """number, text or bool: what the analysis can tell apart (int32 and double are alike)."""
    if pa.types.is_dictionary(kind):
        return _kind(kind.value_type)
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_null(kind):
        return "null"
    return "text"


def _refuse_partly_missing(column: str, having: list[Path], lacking: list[Path]) -> None:
    """A column some parts hold and others lack: the parts do not describe one table."""
    if having and lacking:
        raise InputError(
            f"data: column {quoted(column)} is missing from {shown(lacking[0].name)} "
            f"(present in {shown(having[0].name)}); every part must hold the same columns"
        )


def _count_nulls(
    meta,
    columns: Sequence[str],
    nulls: dict[str, int | None],
    bounds: dict[str, tuple[float, float] | None],
) -> None:
    """Add one part's null counts per column to `nulls` (None: some row group does not say), and
    widen each numeric column's (min, max) in `bounds` (None: some row group does not say)."""
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        index = {group.column(j).path_in_schema: j for j in range(group.num_columns)}
        for column in columns:
            if column not in index:
                continue
            stats = group.column(index[column]).statistics
            if stats is None or not stats.has_null_count:
                nulls[column] = None
            elif nulls.get(column, 0) is not None:
                nulls[column] = nulls.get(column, 0) + stats.null_count
            _widen(bounds, column, stats)


def _widen(bounds: dict[str, tuple[float, float] | None], column: str, stats) -> None:
    if column in bounds and bounds[column] is None:
        return
    low = high = None
    if stats is not None and stats.has_min_max:
        low, high = stats.min, stats.max
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in (low, high)
    ):
        if stats is None or stats.num_values > 0:  # an all-null row group says nothing
            bounds[column] = None
        return
    if column in bounds:
        low, high = min(low, bounds[column][0]), max(high, bounds[column][1])
    bounds[column] = (float(low), float(high))


def _check_parquet_parts(files: list[Path], columns: Sequence[str]) -> tuple[int, Footers]:
    rows = 0
    first: dict[str, tuple[str, Path]] = {}
    lacking: dict[str, list[Path]] = {c: [] for c in columns}
    nulls: dict[str, int | None] = {}
    bounds: dict[str, tuple[float, float] | None] = {}
    for f in files:
        try:
            meta = pq.read_metadata(f)
            schema = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as exc:
            raise InputError(
                f"data file {shown(f.name)} could not be read as Parquet: {exc}"
            ) from None
        refuse_duplicates(f, schema.names)
        rows += meta.num_rows
        _count_nulls(meta, columns, nulls, bounds)
        for column in columns:
            if column not in schema.names:
                lacking[column].append(f)
                continue
            kind = schema.field(column).type
            refuse_unusable_type(f, column, kind)
            seen = first.setdefault(column, (_kind(kind), f))
            if "null" not in (seen[0], _kind(kind)) and seen[0] != _kind(kind):
                raise InputError(
                    f"data: column {quoted(column)} is {seen[0]} in {shown(seen[1].name)} but "
                    f"{_kind(kind)} in {shown(f.name)}; every part must give it one type"
                )
    # a column no part holds is named later, with the columns there are
    for column in columns:
        _refuse_partly_missing(
            column, [first[column][1]] if column in first else [], lacking[column]
        )
    centre = {c: (b[0] + b[1]) / 2 for c, b in bounds.items() if b is not None}
    return rows, Footers(frozenset(c for c, n in nulls.items() if n == 0), centre)


def _check_csv_parts(files: list[Path], columns: Sequence[str]) -> None:
    headers = []
    for f in files:
        header = csv_header(f, "\t" if f.suffix.lower() == ".tsv" else ",")
        refuse_duplicates(f, header)
        headers.append((f, set(header)))
    for column in columns:
        _refuse_partly_missing(
            column,
            [f for f, names in headers if column in names],
            [f for f, names in headers if column not in names],
        )


def open_source(path: Path, columns: Sequence[str]) -> Source:
    files = resolve(path)
    formats = {_format_of(f) for f in files}
    if None in formats:
        odd = next(f for f in files if _format_of(f) is None)
        raise InputError(
            f"data file {shown(odd)}: unsupported format {quoted(odd.suffix.lower())} "
            "(use .csv or .parquet)"
        )
    if len(formats) > 1:
        raise InputError(f"data: {shown(path)} mixes Parquet and CSV files; point it at one format")
    fmt = formats.pop()
    empty = next((f for f in files if f.stat().st_size == 0), None)
    if empty is not None:
        raise InputError(f"data file is empty: {shown(empty)}")
    rows, footers = None, Footers()
    if fmt == "parquet":
        rows, footers = _check_parquet_parts(files, columns)
    else:
        _check_csv_parts(files, columns)
    size = sum(f.stat().st_size for f in files)
    return Source(tuple(files), fmt, str(path), rows, size, footers)
