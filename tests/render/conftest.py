"""Shared checks of rendered reports (the render tests' module fixtures pass their report in)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hlm_analysis import resources
from hlm_analysis.render import inprocess, markdown, qmd

_TABLE = re.compile(r"((?:^\|.*\|[ \t]*\n)+)\n: (Table \d+): ", re.M)
_WORD = re.compile(r"[^\W\d_][\w'’.-]{2,}|\d[\d,.]*")


def _first_row_words(table: str) -> list[str]:
    """Words of the table's first body row as the PDF prints them (escapes and superscript
    markers of shortened names dropped)."""
    lines = table.strip("\n").splitlines()
    row = lines[2] if len(lines) > 2 else lines[0]
    text = re.sub(r"\\(.)", r"\1", row).replace("\u200b", "")
    cells = [c.strip() for c in text.strip("|").split("|")]
    return [w for c in cells for w in _WORD.findall(c.rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹…"))][:2]


def tables_apart_from_their_rows(report: Path, work: Path) -> tuple[int, list[str]]:
    """How many tables the report's PDF holds, and those whose caption ("Table N: ...") is not
    on the page of the table's first row (the row's first words after the caption)."""
    document = qmd.parse(resources.report_document())
    outputs = inprocess.execute(document, {"results_path": str(report / "results.json")}, work)
    body = markdown.assemble(document, outputs, work / "figures")
    pages = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(report / "report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\f")  # fmt: skip
    flat = [" ".join(p.split()) for p in pages]
    found = _TABLE.findall(body)
    apart = []
    for table, name in found:
        words = _first_row_words(table)
        on = [i for i, p in enumerate(flat) if f"{name}:" in p]
        if len(on) != 1:
            apart.append(f"{name}: caption on pages {on}")
            continue
        page = flat[on[0]]
        after = page[page.index(f"{name}:") :]
        position = 0
        for word in words:  # in order, after the caption, on the same page
            position = after.find(word, position)
            if position < 0:
                apart.append(f"{name}: first row {words} not on page {on[0] + 1}")
                break
    return len(found), apart


@pytest.fixture(scope="session")
def table_pages():
    return tables_apart_from_their_rows
