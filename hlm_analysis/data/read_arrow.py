"""Clean files read by pyarrow alone: the fit path without pandas.

Importing pandas costs a `hlm-report fit` process about 0.3 s, more than reading and fitting
500,000 rows take together. Most files are clean: every used column is numbers (integers or
decimals, possibly missing) or text that is not numbers at all. Those pyarrow reads and
`Columns` holds. Anything else goes back to the pandas reader (load.py), whose rules (stray
tokens among numbers, missing-value tokens that are numbers, booleans, dates, odd encodings) and
messages stay the only ones: this reader returns None rather than decide any of it differently.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .. import arrow_arrays
from ..spec import Spec, reads_as_number
from .columns import Columns, Factor
from .files import CSV, PARQUET, check_parquet_schema, csv_header, nfc_names
from .levels import cell_factor


def _utf8(data: bytes, chunk: int = 1 << 23) -> bool:
    """Whether the whole file is UTF-8 (Arrow checks only the columns it converts to text),
    decoded piece by piece so no second copy of a large file is held. ASCII (most files) is
    UTF-8 and is checked 25x faster."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), chunk):
            decoder.decode(view[start : start + chunk])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _read(spec: Spec, path: Path, used: list[str]) -> pa.Table | None:
    suffix = path.suffix.lower()
    if suffix in PARQUET:
        schema = check_parquet_schema(path, used)  # the same refusals as the pandas reader
        raw = dict(zip(nfc_names(path, schema.names), schema.names, strict=True))
        if any(name not in raw for name in used):
            return None
        return pq.read_table(path, columns=[raw[c] for c in used]).rename_columns(used)
    if suffix not in CSV:
        return None
    sep = "\t" if suffix == ".tsv" else ","
    header = csv_header(path, sep)
    if len(set(header)) < len(header):
        return None  # the pandas reader names the problem
    raw = dict(zip(nfc_names(path, header), header, strict=True))
    if any(name not in raw for name in used):
        return None
    data = path.read_bytes()
    if not _utf8(data):
        return None  # the pandas reader refuses the file, whichever column the bytes are in
    if b"0x" in data or b"0X" in data:
        return None  # Arrow reads 0x10 as the integer 16; pandas as text
    tokens = list(spec.missing_values)
    table = pcsv.read_csv(
        pa.BufferReader(data),
        # a newline inside a quoted cell is part of the cell; Arrow, told so, cuts its blocks
        # only between rows (slower, and only possible where a quote is)
        parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=b'"' in data),
        convert_options=pcsv.ConvertOptions(
            include_columns=[raw[c] for c in used],
            # group ids are text as written, on every path: 0100 and 100 are two groups
            column_types={raw[g]: pa.string() for g in spec.levels},
            null_values=tokens,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return table.select([raw[c] for c in used]).rename_columns(used)


def arrow_columns(spec: Spec, path: Path, used: list[str]) -> Columns | None:
    """The used columns of a clean CSV or Parquet file, or None when the file needs pandas'
    reading (binary outcomes too: their coding reads values as pandas gives them)."""
    if spec.family != "gaussian" or any(
        reads_as_number(t) for t in spec.missing_values if t != "NaN"
    ):
        return None  # pandas also drops "-99.0" for a token "-99"; Arrow would not
    try:
        table = _read(spec, path, used)
    except (pa.ArrowException, OSError, ValueError):
        return None
    if table is None or table.num_rows == 0:
        return None
    numbers: dict[str, np.ndarray] = {}
    texts: dict[str, Factor] = {}
    for name in used:
        column = table.column(name)
        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            values = _floats(column)
            if np.count_nonzero(~np.isfinite(values)) > column.null_count:
                return None  # NaN or infinite cells: pandas' reading decides what they are
            numbers[name] = values
        elif name in spec.levels and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            texts[name] = _id_factor(column, spec.missing_values)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            factor = _text_factor(column, spec.missing_values)
            if factor is None:
                return None
            texts[name] = factor
        else:
            return None  # booleans, dates, all-missing columns, dictionaries: the pandas reader
    factors = [texts.get(g) or _group_factor(table.column(g), numbers[g]) for g in spec.levels]
    if any(f is None for f in factors):
        return None
    group = cell_factor(factors) if spec.multilevel else factors[0]  # levels.py: cells
    return Columns(numbers, texts, group, table.num_rows)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """A number column as float64, NaN where missing (through its buffers: arrow_arrays)."""
    parts = []
    for chunk in column.chunks:
        values, valid = arrow_arrays.numbers(chunk, pa.float64())
        parts.append(values if valid is None else np.where(valid, values, np.nan))
    return np.concatenate(parts) if parts else np.empty(0)


def _integers(column: pa.ChunkedArray) -> np.ndarray:
    """An integer column without missing cells as int64 (uint64 when unsigned)."""
    return np.concatenate(
        [arrow_arrays.numbers(chunk)[0] for chunk in column.chunks] or [np.empty(0, int)]
    )


def _group_factor(column: pa.ChunkedArray, values: np.ndarray) -> Factor | None:
    """Numeric group ids: integers sort as numbers and keep their labels ('12'), or become
    decimals where missing cells make pandas read them so ('12.0'). Decimal ids go to the
    pandas reader: Arrow reads '+1' as 1.0 and ids past 2**63 as decimals where pandas keeps
    integers, and widens float32 before its digits are written."""
    if not pa.types.is_integer(column.type):
        return None
    if not column.null_count:
        return Factor.of(_integers(column))
    return Factor.of(values, np.isnan(values))


def _id_factor(column: pa.ChunkedArray, tokens: list[str]) -> Factor:
    """Group ids as written ('0100' is not '100'), whether or not they read as numbers; cells
    spelled like a missing-value token are missing (Parquet text keeps them)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    dictionary = encoded.dictionary.to_pylist()
    indices, valid = arrow_arrays.numbers(encoded.indices)
    codes = indices.astype(np.int64)
    if valid is not None:
        codes[~valid] = -1
    missing = set(tokens)
    present = [text for text in dictionary if text not in missing]
    index = {text: i for i, text in enumerate(present)}
    remap = np.array([index.get(text, -1) for text in dictionary] + [-1], dtype=np.int64)
    return Factor.of_labels(remap[codes], present, ids=True)


def _text_factor(column: pa.ChunkedArray, tokens: list[str]) -> Factor | None:
    """A text column's factor, or None when any of its distinct cells is a number: such a
    column is numbers with stray tokens, or text the pandas reader must judge. Cells spelled
    like a missing-value token are missing (the CSV reader has made them so already; Parquet
    text keeps them)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    dictionary = encoded.dictionary.to_pylist()
    if any(reads_as_number(text) for text in dictionary):
        return None
    order = np.argsort(np.array(dictionary, dtype=object), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    missing = set(tokens)
    if missing.intersection(dictionary):
        rank[[i for i, text in enumerate(dictionary) if text in missing]] = -1
        kept = [i for i in order if dictionary[i] not in missing]
        rank[kept] = np.arange(len(kept))
        order = kept
    indices, valid = arrow_arrays.numbers(encoded.indices)
    if not dictionary:  # every cell missing
        return Factor(np.full(len(indices), -1, dtype=np.int64), ())
    codes = rank[indices]
    if valid is not None:
        codes[~valid] = -1
    return Factor(codes, tuple(dictionary[i] for i in order))
