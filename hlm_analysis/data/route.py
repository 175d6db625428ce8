"""Which data path a spec takes. One file small enough for memory is read by pyarrow (pandas
when it is not clean) and coded by numpy (every row kept, for CR2); globs, directories, large
files and Spark go to an SQL engine, which returns the design's per-group sums and a sample of
rows. Both paths build the design with build_design and give the same results (tests compare
them on the reference data).
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from dataclasses import replace

from ..errors import InputError
from ..spec import Spec, quoted
from .columns import columns_used
from .files import check_memory_size
from .prepare import Prepared, prepare_in_memory
from .source import IN_MEMORY_ROWS, Source, open_source

# A CSV is read into memory up to this size (about IN_MEMORY_ROWS rows of a dozen columns).
IN_MEMORY_CSV_BYTES = 200_000_000


def fits_in_memory(source: Source) -> bool:
    if not source.single_file:
        return False
    if source.rows is not None:
        return source.rows <= IN_MEMORY_ROWS
    return source.bytes <= IN_MEMORY_CSV_BYTES


_WHOLE = re.compile(r"^([+-]?\d+)\.0+$")  # an integer written as a decimal: 7.0, 12.00


def _refuse_padded_twins(prepared: Prepared) -> Prepared:
    """Ids and text levels are read as written, so 'S3' and 'S3 ' (a spreadsheet export pads
    some cells) would be two schools, or two levels, and every estimate would move without a
    word: refused on every path, naming both. Ids padded alike everywhere are read as they are.
    So are group ids '7' and '7.0' (a part written from a float column)."""
    # (column, [(parent group or None, id or level)]): a nested id is compared within its parent
    named: list[tuple[str, list]] = []
    if prepared.levels is not None:
        for lv in prepared.levels.levels:
            parents = [None] * lv.n_groups if lv.parents is None else [int(p) for p in lv.parents]
            named.append((lv.name, list(zip(parents, lv.labels, strict=True))))
    elif isinstance(prepared.spec.group, str):
        named.append((prepared.spec.group, [(None, g) for g in prepared.group_labels]))
    named += [(c, [(None, v) for v in values]) for c, values in prepared.categorical.items()]
    ids = len(named) - len(prepared.categorical)  # the grouping columns come first
    for i, (column, values) in enumerate(named):
        seen: dict[tuple, str] = {}
        whole: dict[tuple, str] = {}
        for parent, value in values:
            other = seen.setdefault((parent, value.strip()), value)
            if other != value:
                raise InputError(
                    f"column {quoted(column)}: {quoted(other)} and {quoted(value)} differ only in "
                    "spaces at their ends and would be read as two; remove the spaces in the data"
                )
            # '7' in one part and '7.0' in another (written from a float column) are one id;
            # '0100' and '100' stay two (leading zeros can be part of an id)
            other = whole.setdefault((parent, _WHOLE.sub(r"\1", value)), value)
            if i < ids and other != value:
                raise InputError(
                    f"column {quoted(column)}: ids {quoted(other)} and {quoted(value)} differ "
                    "only by a decimal .0 (some rows written as decimals) and would be two "
                    "groups; write the ids one way in the data"
                )
    for column, values in prepared.categorical.items():
        _refuse_two_yes_no_spellings(column, values)
    return prepared


# Spellings of yes/no that exports write: Excel TRUE/FALSE, R's 1/0, a form's yes/no.
_YES_NO = {
    **dict.fromkeys(("true", "false", "t", "f"), "TRUE/FALSE"),
    **dict.fromkeys(("yes", "no", "y", "n"), "yes/no"),
    **dict.fromkeys(("1", "0", "1.0", "0.0"), "1/0"),
}


def _refuse_two_yes_no_spellings(column: str, levels: list[str]) -> None:
    """A yes/no column whose parts (or exports) wrote it two ways, TRUE/FALSE beside 1/0, would
    be a factor of four levels with four coefficients and exit 0: refused naming both."""
    kinds: dict[str, list[str]] = {}
    for level in levels:
        kind = _YES_NO.get(level.strip().lower())
        if kind is None:
            return  # a level that is no yes/no spelling: a genuinely text column
        kinds.setdefault(kind, []).append(quoted(level))
    if len(kinds) > 1:
        ways = " and ".join(f"{kind} ({', '.join(shown)})" for kind, shown in kinds.items())
        raise InputError(
            f"column {quoted(column)} writes yes/no {len(kinds)} ways, {ways}, and would be read "
            f"as {len(levels)} levels; write it one way in the data"
        )


def prepare(spec: Spec, engine: str | None = None) -> Prepared:
    """The analysis sample of a spec; `engine` overrides the config's `engine:`."""
    return _refuse_padded_twins(_prepare(spec, engine))


def _prepare(spec: Spec, engine: str | None) -> Prepared:
    engine = engine or spec.engine
    # a bad setting is named before any data is read, whichever path the data then take
    check_memory_size(os.environ.get("HLM_DUCKDB_MEMORY", "1GB"))
    source = open_source(spec.data, columns_used(spec))
    read = {"files_read": len(source.files), "files_skipped": source.skipped}
    if engine == "duckdb" and fits_in_memory(source):
        return replace(prepare_in_memory(spec, source.files[0]), **read)
    # the SQL engines (and pandas, which they return frames in) load only for this path;
    # pandas in a thread of its own, while the engine starts and its first scan runs (DuckDB
    # lets go of the GIL): that scan returns no frame, and the import (~0.3 s) is then done
    threading.Thread(target=importlib.import_module, args=("pandas",), daemon=True).start()
    from .aggregate import prepare_in_engine
    from .engines import open_engine

    with open_engine(engine) as sql:
        return replace(prepare_in_engine(spec, source, sql), **read)
