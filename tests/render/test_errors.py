"""A failing report cell names the cell and the real exception, and says whose fault it is."""

from __future__ import annotations

import pytest

from hlm_analysis.errors import InputError
from hlm_analysis.render import markdown, qmd
from hlm_analysis.render.errors import ReportCellError, cell_failure


def test_a_bug_in_a_cell_names_the_cell_and_the_first_line():
    exc = cell_failure("fig-distributions", "KeyError", "'ses'\nmore detail")
    assert isinstance(exc, ReportCellError) and not isinstance(exc, InputError)
    assert str(exc) == "report cell 'fig-distributions' failed: KeyError: 'ses'"


def test_an_input_error_raised_in_a_cell_stays_the_users_to_fix():
    exc = cell_failure("setup", "SchemaError", "results.json has schema_version 1")
    assert isinstance(exc, InputError)
    assert str(exc) == "report cell 'setup': results.json has schema_version 1"


def test_a_missing_message_falls_back_to_the_traceback():
    details = "\x1b[0;31mValueError\x1b[0m: Unknown symbol: \\nosuchcmd"
    exc = cell_failure(None, "ValueError", None, details)
    assert str(exc) == "a report cell failed: ValueError: ValueError: Unknown symbol: \\nosuchcmd"


def test_assembling_an_errored_cell_raises_with_its_label(tmp_path):
    path = tmp_path / "doc.qmd"
    path.write_text("---\ntitle: x\n---\n\n```{python}\n#| label: fig-one\n1 / 0\n```\n")
    doc = qmd.parse(path)
    outputs = [
        [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero"}]
    ]
    with pytest.raises(
        ReportCellError, match="'fig-one' failed: ZeroDivisionError: division by zero"
    ):
        markdown.assemble(doc, outputs, tmp_path / "figures")
