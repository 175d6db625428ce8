"""Failures inside the report document, told apart by whose fault they are.

A cell that raised InputError (say, a results.json of another schema version) is the user's to
fix: exit 2. Any other exception in a cell is a bug in the report: exit 1 with its traceback in
error.log. Either way the message names the cell and the first line of the real exception.
"""

from __future__ import annotations

import re

from ..errors import InputError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Exceptions that mean "the user's input": raised in the kernel, they arrive here by name only.
_INPUT_ERRORS = {"InputError", "SchemaError"}


class ReportError(Exception):
    """The report document itself is broken (a bug, not the user's input)."""


class ReportCellError(ReportError):
    """A cell of the report raised; the message names the cell and the exception."""


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in _ANSI.sub("", text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def cell_failure(
    label: str | None, ename: str | None, evalue: str | None, details: str = ""
) -> Exception:
    """The exception to raise for a failed cell."""
    where = f"report cell '{label}'" if label else "a report cell"
    name = ename or "Error"
    message = _first_line(evalue)
    if not message:  # nbclient sometimes has no evalue: take the traceback's last line
        lines = [line for line in _ANSI.sub("", details).splitlines() if line.strip()]
        message = lines[-1].strip() if lines else "no message"
    if name in _INPUT_ERRORS:
        return InputError(f"{where}: {message}")
    return ReportCellError(f"{where} failed: {name}: {message}")
