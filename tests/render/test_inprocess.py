"""The built-in engine runs the report's cells in this process (issue 24's fast loop): the
outputs are the ones a Jupyter kernel gives for the same document (streams, the last
expression's PNG with its metadata, Markdown, errors), a failing cell names itself, and a
warning is a line on stderr, not an error."""

from __future__ import annotations

import pytest

from hlm_analysis.errors import InputError
from hlm_analysis.render import execute, inprocess, qmd
from hlm_analysis.render.errors import ReportCellError

DOC = """---
title: t
---

```{python}
#| tags: [parameters]
value = 1
```

```{python}
import warnings
from hlm_analysis.present.alt_text import Described
from matplotlib.figure import Figure

class Words:
    def _repr_markdown_(self):
        return "**bold** words"

figure = Figure(figsize=(2, 1))
figure.add_subplot().plot([0, 1], [value, 2])
print("value is", value)
```

```{python}
#| label: fig-one
Described(figure, f"A line from {value} to 2.")
```

```{python}
warnings.warn("careful")
Words()
```

```{python}
#| error: true
1 / 0
```
"""


def _document(tmp_path, text=DOC):
    path = tmp_path / "doc.qmd"
    path.write_text(text)
    return qmd.parse(path)


def _summary(outputs: list[list]) -> list[list]:
    """What matters of each output: its type, stream name and text, mime types, metadata."""
    out = []
    for cell in outputs:
        items = []
        for o in cell:
            kind = o["output_type"]
            if kind == "stream":
                items.append((kind, o["name"], o["text"] if o["name"] == "stdout" else "..."))
            elif kind in ("execute_result", "display_data"):
                items.append(
                    ("result", tuple(sorted(set(o["data"]) - {"text/plain"})), dict(o["metadata"]))
                )
            elif kind == "error":
                items.append((kind, o["ename"], o["evalue"]))
        out.append(items)
    return out


def test_the_same_outputs_as_a_kernel(tmp_path):
    doc = _document(tmp_path)
    here = inprocess.execute(doc, {"value": 5}, tmp_path)
    (tmp_path / "k").mkdir()
    kernel = execute.execute(doc, {"value": 5}, tmp_path / "k")
    assert _summary(here) == _summary(kernel)
    assert _summary(here) == [
        [],
        [("stream", "stdout", "value is 5\n")],  # the parameter injected after its cell
        [("result", ("image/png",), {"image/png": {"alt": "A line from 5 to 2."}})],
        [("stream", "stderr", "..."), ("result", ("text/markdown",), {})],
        [("error", "ZeroDivisionError", "division by zero")],
    ]
    assert here[2][0]["data"]["image/png"].startswith("iVBORw0KGgo")  # a PNG, base64


def test_a_failing_cell_is_named_and_input_errors_stay_the_users(tmp_path):
    broken = "```{python}\n#| label: tbl-x\n{}['missing']\n```\n"
    with pytest.raises(ReportCellError, match=r"report cell 'tbl-x' failed: KeyError: 'missing'"):
        inprocess.execute(_document(tmp_path, broken), {}, tmp_path)
    users = (
        "```{python}\n#| label: sec-y\nfrom hlm_analysis.errors import InputError\n"
        "raise InputError('results.json is of another version')\n```\n"
    )
    with pytest.raises(InputError, match=r"report cell 'sec-y': results.json is of another"):
        inprocess.execute(_document(tmp_path, users), {}, tmp_path)


def test_cells_run_in_the_scratch_folder_and_leave_the_working_directory(tmp_path):
    import os

    before = os.getcwd()
    doc = _document(tmp_path, "```{python}\nimport os\nprint(os.getcwd())\n```\n")
    (tmp_path / "work").mkdir()
    outputs = inprocess.execute(doc, {}, tmp_path / "work")
    assert outputs[0][0]["text"].strip() == str(tmp_path / "work")
    assert os.getcwd() == before


def test_hlm_kernel_asks_for_a_kernel(monkeypatch):
    assert inprocess.available()
    monkeypatch.setenv("HLM_KERNEL", "1")
    assert not inprocess.available()
