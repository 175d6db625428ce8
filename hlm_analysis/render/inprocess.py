"""Run a parsed .qmd's cells in this process, for the built-in engine (no outside Quarto).

A Jupyter kernel costs a process start and a fresh import of pandas, matplotlib and the report
code for every render (most of a render of hsb2); here the cells run in one namespace of this
process, so a second render (preview, site) finds everything imported. The outputs are those a
kernel gives, as nbformat dicts: stdout and stderr streams, the last expression's rich display
(PNG with its metadata, Markdown, HTML, text), errors with their name and value. Quarto's path
still runs a kernel (execute.py): Quarto reads the notebook it writes.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import os
import sys
import traceback
import warnings
from pathlib import Path

from .errors import cell_failure
from .qmd import Document


def _display(value) -> dict | None:
    """The execute_result a kernel would show for `value` (None shows nothing)."""
    if value is None:
        return None
    data: dict = {"text/plain": repr(value)}
    metadata: dict = {}
    png = getattr(value, "_repr_png_", None)
    if callable(png):
        made = png()
        raw, meta = made if isinstance(made, tuple) else (made, None)
        if raw:
            data["image/png"] = base64.b64encode(raw).decode("ascii")
            if meta:
                metadata["image/png"] = meta
    for method, mime in (("_repr_markdown_", "text/markdown"), ("_repr_html_", "text/html")):
        render = getattr(value, method, None)
        if callable(render) and "image/png" not in data:
            text = render()
            if text:
                data[mime] = text
    return {"output_type": "execute_result", "data": data, "metadata": metadata}


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _run(source: str, namespace: dict) -> list[dict]:
    """One cell: statements executed, the last expression displayed, output captured."""
    outputs: list[dict] = []
    stdout, stderr = io.StringIO(), io.StringIO()
    result = shown = None
    error = None
    tree = ast.parse(source, mode="exec")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    with (
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
        warnings.catch_warnings(),
    ):
        # as in a kernel: a warning is a line on stderr (dropped unless `warning: true`), not
        # an error (the test suite turns warnings into errors in its own process)
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning  # to the cell's stderr, whoever recorded before
        try:
            exec(compile(tree, "<cell>", "exec"), namespace)  # noqa: S102 - the report's cells
            if last is not None:
                expression = ast.Expression(last.value)
                result = eval(compile(expression, "<cell>", "eval"), namespace)  # noqa: S307
            # drawn here, inside the cell: what drawing says (matplotlib's font messages) goes
            # to the cell's stderr, and a failure is the cell's
            shown = _display(result)
        except Exception as exc:  # noqa: BLE001 - a cell's failure is reported as a kernel's
            error = exc
    for name, buffer in (("stdout", stdout), ("stderr", stderr)):
        if buffer.getvalue():
            outputs.append({"output_type": "stream", "name": name, "text": buffer.getvalue()})
    if error is not None:
        outputs.append(
            {
                "output_type": "error",
                "ename": type(error).__name__,
                "evalue": str(error),
                "traceback": traceback.format_exception(error),
            }
        )
        return outputs
    if shown is not None:
        outputs.append(shown)
    return outputs


def execute(doc: Document, parameters: dict, workdir: Path) -> list[list]:
    """Execute all cells; returns each document cell's outputs, in document order. A cell that
    raises stops the run (unless its options say `error: true`), as nbclient does."""
    namespace: dict = {"__name__": "__main__"}
    assignments = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    injected = not any("parameters" in cell.tags for cell in doc.cells)
    if injected and assignments:
        _run(assignments, namespace)
    results: list[list] = []
    with contextlib.chdir(workdir):  # where a kernel would run: the render's scratch folder
        for cell in doc.cells:
            outputs = _run(cell.source, namespace)
            failed = next((o for o in outputs if o["output_type"] == "error"), None)
            if failed is not None and not cell.options.get("error"):
                raise cell_failure(
                    cell.label, failed["ename"], failed["evalue"], "".join(failed["traceback"])
                )
            results.append(outputs)
            if "parameters" in cell.tags and not injected:
                _run(assignments, namespace)
                injected = True
    return results


def available() -> bool:
    """Whether cells may run here: HLM_KERNEL=1 asks for a separate kernel instead."""
    return os.environ.get("HLM_KERNEL", "") != "1"
