"""What the config's `data:` names: one file, a glob of files (`lake/part-*.parquet`) or a
directory of them, checked before any engine reads a row.

Every part must be the same format and hold every column the analysis uses, with one kind of
type per column (numbers in one part and text in another is refused); these are read from file
footers and headers, so checking thousands of parts costs no scan of the data.
"""

from __future__ import annotations

import filecmp
import fnmatch
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..layout import MARKER
from ..results import RESULTS_FILE, SAMPLE_FILE
from ..spec import quoted, resolution_hint, shown
from .files import (
    CSV,
    NOT_UTF8_BUT_UTF16,
    PARQUET,
    case_hint,
    csv_header,
    nfc_names,
    refuse_duplicates,
    refuse_unusable_type,
    separator_hint,
)

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
    # that range itself (smallest and largest value, NaN aside, as the writer recorded them):
    # the range of the analysis sample once the design sums have counted every row as complete
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    files: tuple[Path, ...]
    format: str  # "parquet" or "csv"
    label: str  # as the user wrote it, for messages
    rows: int | None  # known without a scan for Parquet (footers); None for CSV
    bytes: int
    footers: Footers = Footers()
    # each file's header as written (engines select the used columns by position in it, so
    # parts may list the columns in any order and names differing only in case stay apart)
    headers: tuple[tuple[str, ...], ...] = ()
    skipped: int = 0  # files and folders discovery passed over (Found.skipped)
    # Parquet: each file's column types as its footer gives them, in header order (engines read
    # parts of one set of types together: DuckDB reads a list of files as the first one's types)
    types: tuple[tuple[str, ...], ...] = ()

    @property
    def columns(self) -> list[str]:
        """The first part's column names in NFC, as configs name them."""
        return nfc_names(self.files[0], self.headers[0]) if self.headers else []

    def positions(self, used: Sequence[str]) -> list[tuple[list[int], list[Path]]]:
        """Per distinct header: where each used column is in it, and the files that have it."""
        by_header: dict[tuple[str, ...], list[Path]] = {}
        for f, header in zip(self.files, self.headers, strict=True):
            by_header.setdefault(header, []).append(f)
        out = []
        for header, files in by_header.items():
            names = nfc_names(files[0], header)
            out.append(([names.index(c) for c in used], files))
        return out

    def by_types(self, files: Sequence[Path], positions: Sequence[int]) -> dict:
        """`files` (Parquet parts of one header) split by the types of the columns at
        `positions`, in order: {types: files}."""
        batches: dict[tuple[str, ...], list[Path]] = {}
        kinds_of = dict(zip(self.files, self.types, strict=True))
        for f in files:
            kinds = kinds_of[f]
            batches.setdefault(tuple(kinds[j] for j in positions), []).append(f)
        return batches

    @property
    def single_file(self) -> bool:
        return len(self.files) == 1


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "parquet" if suffix in PARQUET else "csv" if suffix in CSV else None


_COMPRESSED = {".gz", ".gzip", ".bz2", ".xz", ".zst", ".zstd", ".lz4", ".zip", ".snappy", ".br"}


def _compressed_data(path: Path) -> bool:
    """part.csv.gz, part.parquet.zst: a data file's name with a compression suffix after it."""
    suffixes = [s.lower() for s in path.suffixes]
    return (
        len(suffixes) >= 2
        and suffixes[-1] in _COMPRESSED
        and bool(_format_of(Path(f"x{suffixes[-2]}")))
    )


@dataclass
class Found:
    """What discovery found: the files to read, and how many it passed over (hidden, `_` or
    tool folders, the tool's own outputs, a file reached twice through links)."""

    files: list[Path]
    skipped: int = 0


def _own_files(names: set[str]) -> set[str] | None:
    """What of a folder the tool wrote: all of it (None) when it holds the tool's marker, its
    row sample when results.json lies beside it (`fit --out` into the data folder), else
    nothing."""
    if MARKER in names:
        return None
    return {SAMPLE_FILE} if {RESULTS_FILE, SAMPLE_FILE} <= names else set()


def _hidden(name: str) -> bool:
    # "~$name": the owner file Excel and Word leave beside a file they hold open
    return name.startswith((".", "_", "~$"))


def _match(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether path components match glob components (`**`: any number of folders). A hidden
    or `_` name is matched only by a component that starts with the same character."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return _match(parts, pattern[1:]) or (
            bool(parts) and not _hidden(parts[0]) and _match(parts[1:], pattern)
        )
    if not parts or (_hidden(parts[0]) and not pattern[0].startswith(parts[0][0])):
        return False
    return fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(parts[1:], pattern[1:])


def _discover(root: Path, pattern: list[str]) -> Found:
    """The files below `root` whose relative path matches `pattern`. Hidden and `_` folders
    (`.ipynb_checkpoints`, Spark's `_temporary`) and the tool's own output folders are not
    entered; each folder is entered once (a symlink loop ends there) and each file read once
    (by its real path)."""
    found = Found([])
    seen_folders: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    deep = "**" in pattern
    literal_hidden = {c[0] for c in pattern if c and _hidden(c)}
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, rel = stack.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen_folders:
                found.skipped += 1
                continue
            seen_folders.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # unreadable or vanished: not data that can be read
        own = _own_files({e.name for e in entries})
        if own is None:
            found.skipped += 1
            continue
        for entry in entries:
            parts = (*rel, entry.name)
            if entry.name in own:
                found.skipped += 1
                continue
            try:
                is_dir = entry.is_dir()  # through a symlink too: seen_folders ends loops
            except OSError:
                continue
            if is_dir:
                if _hidden(entry.name) and entry.name[0] not in literal_hidden:
                    found.skipped += 1
                elif deep or len(parts) < len(pattern):
                    stack.append((Path(entry.path), parts))
            elif _match(parts, pattern) and entry.is_file():
                real = os.path.realpath(entry.path)
                if real in seen_files:
                    found.skipped += 1
                else:
                    seen_files.add(real)
                    found.files.append(Path(entry.path))
            elif _hidden(entry.name) and _format_of(Path(entry.name)):
                found.skipped += 1
    found.files.sort()
    return found


# bytes read from each end of parts of one size to find copies without reading them whole
_ENDS = 1 << 13


def _has_rows(path: Path) -> bool:
    if _format_of(path) == "parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows > 0
        except (OSError, pa.ArrowException):
            return True  # the reader names a damaged file
    with path.open("rb") as handle:  # a header line alone: a CSV part with no rows
        return len([line for line in handle.read(1 << 16).splitlines()[:2] if line.strip()]) > 1


def _refuse_copies(files: Sequence[Path]) -> None:
    """Two parts with the same bytes (a file manager's 'part-1 (copy).csv', a hard link) would
    read their rows twice and shrink every standard error with exit 0: refused naming both.
    Only parts of one size are compared, by their ends first; empty parts (Spark writes empty
    partitions alike) are not copies."""
    by_size: dict[int, list[Path]] = {}
    for f in files:
        try:
            by_size.setdefault(f.stat().st_size, []).append(f)
        except OSError:
            continue
    for size, same in by_size.items():
        if len(same) < 2:
            continue
        ends: dict[bytes, Path] = {}
        for f in same:
            with f.open("rb") as handle:
                key = hashlib.blake2b(handle.read(_ENDS))
                if size > 2 * _ENDS:
                    handle.seek(-_ENDS, os.SEEK_END)
                    key.update(handle.read())
            other = ends.setdefault(key.digest(), f)
            if other is not f and filecmp.cmp(other, f, shallow=False) and _has_rows(f):
                raise InputError(
                    f"data: {shown(f.name)} holds the same bytes as {shown(other.name)} (a "
                    "copy?) and its rows would be read twice; move one of them out of the data"
                )


def _glob_root(path: Path) -> tuple[Path, list[str]]:
    """A glob's folder without glob characters, and the components after it."""
    parts = path.parts
    first = next(i for i, part in enumerate(parts) if _GLOB & set(part))
    return Path(*parts[:first]) if first else Path("."), list(parts[first:])


def discover(path: Path) -> Found:
    """The files `data:` names, sorted; InputError when there are none. A path that exists is
    that path, whatever characters it holds (scores[2024].csv); else a glob."""
    text = str(path)
    if path.is_file():
        return Found([path])
    if path.is_dir():
        found = _discover(path, ["**", "*"])
        # A compressed part (Spark writes part-*.csv.gz) is data that cannot be read here:
        # passing over it would lose its rows without a word.
        packed = [f for f in found.files if _compressed_data(f)]
        if packed:
            raise InputError(
                f"data: {shown(packed[0])} is a compressed data file, which is not read; "
                f"decompress it, or move it out of {shown(text)}"
            )
        data = [f for f in found.files if _format_of(f)]
        found.skipped += len(found.files) - len(data)  # a README, a spreadsheet: said, not read
        found.files = data
        if not found.files:
            raise InputError(f"data: directory {shown(text)} holds no .parquet or .csv files")
        return found
    if _GLOB & set(text):
        root, pattern = _glob_root(path)
        found = _discover(root, pattern) if root.is_dir() else Found([])
        if not found.files:
            raise InputError(f"data: no file matches {shown(text)}" + resolution_hint(path))
        return found
    raise InputError(f"data file not found: {shown(path)}" + resolution_hint(path))


def resolve(path: Path) -> list[Path]:
    """The files `data:` names, sorted (discover's, without the count of those passed over)."""
    return discover(path).files


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


def _refuse_partly_missing(
    column: str, having: list[Path], lacking: list[Path], names: dict[Path, list[str]]
) -> None:
    """A column some parts hold and others lack: the parts do not describe one table."""
    if having and lacking:
        raise InputError(
            f"data: column {quoted(column)} is missing from {shown(lacking[0].name)} "
            f"(present in {shown(having[0].name)}); every part must hold the same columns"
            + case_hint(column, names[lacking[0]])
        )


def _count_nulls(
    meta,
    columns: Sequence[str],
    nulls: dict[str, int | None],
    bounds: dict[str, tuple[float, float] | None],
    raw: dict[str, str],
) -> None:
    """Add one part's null counts per column to `nulls` (None: some row group does not say), and
    widen each numeric column's (min, max) in `bounds` (None: some row group does not say).
    `raw` gives each column's name as the part writes it."""
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        index = {group.column(j).path_in_schema: j for j in range(group.num_columns)}
        for column in columns:
            if raw.get(column) not in index:
                continue
            stats = group.column(index[raw[column]]).statistics
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


def _check_parquet_parts(
    files: list[Path],
    columns: Sequence[str],
    headers: list[tuple[str, ...]],
    types: list[tuple[str, ...]],
) -> tuple[int, Footers]:
    rows = 0
    names_of: dict[Path, list[str]] = {}
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
        headers.append(tuple(schema.names))
        types.append(tuple(str(kind) for kind in schema.types))
        names = names_of[f] = nfc_names(f, schema.names)
        rows += meta.num_rows
        raw = dict(zip(names, schema.names, strict=True))
        _count_nulls(meta, columns, nulls, bounds, raw)
        for column in columns:
            if column not in raw:
                lacking[column].append(f)
                continue
            kind = schema.field(raw[column]).type
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
            column, [first[column][1]] if column in first else [], lacking[column], names_of
        )
    known = {c: b for c, b in bounds.items() if b is not None}
    centre = {c: (b[0] + b[1]) / 2 for c, b in known.items()}
    return rows, Footers(frozenset(c for c, n in nulls.items() if n == 0), centre, known)


def _check_csv_parts(
    files: list[Path], columns: Sequence[str], headers: list[tuple[str, ...]]
) -> None:
    names_of: dict[Path, list[str]] = {}
    for f in files:
        header = csv_header(f, "\t" if f.suffix.lower() == ".tsv" else ",")
        if any("\x00" in name for name in header):  # UTF-16 read as UTF-8: NULs between letters
            raise InputError(f"data file {shown(f.name)} {NOT_UTF8_BUT_UTF16}")
        hint = separator_hint(header)  # a ';' or tab export among comma parts: say so
        if hint:
            raise InputError(f"data file {shown(f.name)}: {hint}")
        refuse_duplicates(f, header)
        headers.append(tuple(header))
        names_of[f] = nfc_names(f, header)
    for column in columns:
        _refuse_partly_missing(
            column,
            [f for f, names in names_of.items() if column in names],
            [f for f, names in names_of.items() if column not in names],
            names_of,
        )


def open_source(path: Path, columns: Sequence[str]) -> Source:
    found = discover(path)
    files = found.files
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
    _refuse_copies(files)
    rows, footers = None, Footers()
    headers: list[tuple[str, ...]] = []
    types: list[tuple[str, ...]] = []
    if fmt == "parquet":
        rows, footers = _check_parquet_parts(files, columns, headers, types)
    else:
        _check_csv_parts(files, columns, headers)
    size = sum(f.stat().st_size for f in files)
    return Source(
        tuple(files),
        fmt,
        str(path),
        rows,
        size,
        footers,
        tuple(headers),
        found.skipped,
        tuple(types),
    )
