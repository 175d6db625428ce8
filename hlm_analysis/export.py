"""`render --export csv|xlsx`: the report's tables as files an analyst can open.

Four tidy tables from results.json alone, with fixed column names: `ladder` (one row per model),
`fixed_effects` and `variance_components` (one row per model and term, every field results.json
holds) and `group_effects` (the final model's per-group random effects; with several levels
every level's, a `level` column first). Groups with fewer rows than `min_cell` are left out of
`group_effects`, as the report's tables leave them out (the
exported files sit beside the published report). CSV: one file per table, a text cell that a
spreadsheet would run as a formula (= + - @ first) written with a leading apostrophe, UTF-8 with a
byte-order mark (Excel on Windows reads a CSV without one in the local code page, so Korean or
Arabic ids come out garbled; pandas, readr, data.table and R's read.csv in a UTF-8 locale skip
the mark, as does Python's csv module opened with encoding="utf-8-sig"); xlsx: one
workbook with one sheet per table (needs openpyxl), text as text cells, exactly as written.
"""

from __future__ import annotations

import csv
import re
from dataclasses import fields
from pathlib import Path

from .errors import InputError, ToolError
from .present import levels
from .present.profiles import profile_level
from .present.tables import min_cell, small_groups
from .results import INTERCEPT, FixedEffect, Results, VarianceComponent

FORMATS = ("csv", "xlsx")
TABLES_DIR = "tables"  # inside the report folder
WORKBOOK = "tables.xlsx"
CSV_ENCODING = "utf-8-sig"  # UTF-8 behind a byte-order mark (see above)

_LADDER = (
    "model", "final", "formula", "method", "family", "converged", "singular", "n_obs",
    "n_groups", "n_parameters", "loglik", "aic", "bic", "icc", "r2", "r2_marginal",
    "r2_conditional",
)  # fmt: skip


def _value(value):
    if isinstance(value, float) and value != value:  # NaN: an empty cell, as results.json's null
        return None
    if hasattr(value, "value"):  # enums by their value
        return value.value
    return value


# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula (CSV
# injection: a group id "=HYPERLINK(...)" or "@x"); such a text cell gets a leading apostrophe,
# OWASP's advice, which spreadsheets show as text. Numbers are written as numbers.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def tables(results: Results) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """Each table's header and rows."""
    ladder, fixed, variance = [], [], []
    fixed_cols = tuple(f.name for f in fields(FixedEffect))
    variance_cols = tuple(f.name for f in fields(VarianceComponent))
    for name, m in results.models.items():
        icc = m.icc.estimate if m.icc is not None else None
        row = {
            "model": name.value,
            "final": name == results.final_model,
            "icc": icc,
            **{c: getattr(m, c) for c in _LADDER if c not in ("model", "final", "icc")},
        }
        ladder.append(tuple(_value(row.get(c)) for c in _LADDER))
        fixed += [
            (name.value, *(_value(getattr(e, c)) for c in fixed_cols)) for e in m.fixed_effects
        ]
        variance += [
            (name.value, *(_value(getattr(v, c)) for c in variance_cols))
            for v in m.variance_components
        ]
    groups = []
    effects = results.final.group_effects
    group_header: tuple[str, ...] = ("group", "n", "term", "estimate", "std_error")
    if levels.multilevel(results):
        group_header, groups = ("level", *group_header), _level_groups(results)
    elif effects is not None:
        hidden = small_groups(results)
        sizes = dict(zip(results.data.groups.labels, results.data.groups.n, strict=True))
        for i, group in enumerate(effects.groups):
            if group in hidden:
                continue
            for j, term in enumerate(effects.terms):
                groups.append(
                    (
                        group,
                        sizes.get(group),
                        term,
                        _value(effects.estimate[i][j]),
                        _value(effects.std_error[i][j]),
                    )
                )
    return {
        "ladder": (_LADDER, ladder),
        "fixed_effects": (("model", *fixed_cols), fixed),
        "variance_components": (("model", *variance_cols), variance),
        "group_effects": (group_header, groups),
    }


def _level_groups(results: Results) -> list[tuple]:
    """Several levels: every level's groups (outermost first), an inner group named with its
    parents' ids ("S001 / 1", as the report names it), its rows at that level, and groups with
    fewer rows than min_cell left out as the report leaves them out."""
    cut = min_cell(results)
    out = []
    for lv in results.final.levels:
        if lv.group_effects is None:
            continue
        at = profile_level(results, lv.level) if INTERCEPT in lv.group_effects.terms else None
        ids = at.ids if at is not None else lv.group_effects.groups
        sizes = at.n if at is not None else {}
        effects = lv.group_effects
        for i, group in enumerate(ids):
            n = sizes.get(group)
            if n is not None and n < cut:
                continue
            for j, term in enumerate(effects.terms):
                out.append(
                    (
                        lv.level,
                        group,
                        n,
                        term,
                        _value(effects.estimate[i][j]),
                        _value(effects.std_error[i][j]),
                    )
                )
    return out


# Control characters a worksheet's XML cannot hold (openpyxl refuses them: a group id with a
# bell or an escape stopped the render as a bug); written as visible "\x07", so two ids that
# differ only there stay two.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(value):
    if isinstance(value, str):
        return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return value


def _workbook():
    try:
        from openpyxl import Workbook
    except ImportError:
        raise ToolError(
            "--export xlsx needs the openpyxl package (pip install openpyxl); --export csv does not"
        ) from None
    return Workbook


def check(fmt: str | None) -> None:
    """Refuse an unknown format (exit 2) or a missing openpyxl (exit 3) before any fit."""
    if fmt is None:
        return
    if fmt not in FORMATS:
        raise InputError(f"--export {fmt}: formats are {', '.join(FORMATS)}")
    if fmt == "xlsx":
        _workbook()


def write(results: Results, folder: Path, fmt: str) -> list[Path]:
    """Write the tables into `folder` (created); the paths written."""
    if fmt not in FORMATS:
        raise InputError(f"--export {fmt}: formats are {', '.join(FORMATS)}")
    folder.mkdir(parents=True, exist_ok=True)
    made = tables(results)
    if fmt == "csv":
        written = []
        for name, (header, rows) in made.items():
            path = folder / f"{name}.csv"
            with open(path, "w", newline="", encoding=CSV_ENCODING) as handle:
                out = csv.writer(handle)
                out.writerow(header)
                out.writerows([_inert(v) for v in row] for row in rows)
            written.append(path)
        return written
    Workbook = _workbook()
    book = Workbook()
    book.remove(book.active)
    for name, (header, rows) in made.items():
        sheet = book.create_sheet(name)
        sheet.append(list(header))
        for row in rows:
            sheet.append([_xml_safe(v) for v in row])
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # a group named "=1+1" stays text, not a formula
    path = folder / WORKBOOK
    book.save(path)
    return [path]
