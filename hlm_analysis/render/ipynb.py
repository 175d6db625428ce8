"""The executed report as a Jupyter notebook Quarto can render without running it again.

Quarto does not execute an .ipynb by default, so the Quarto path executes the .qmd once (with the
same engine as the built-in path) and hands Quarto this notebook for all three formats.
"""

from __future__ import annotations

import nbformat
import yaml

from .qmd import Cell, Document


def executed_notebook(doc: Document, outputs: list[list], front: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    header = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---"
    nb.cells.append(nbformat.v4.new_raw_cell(header))
    cell_outputs = iter(outputs)
    for part in doc.parts:
        if isinstance(part, Cell):
            code = nbformat.v4.new_code_cell(part.raw or part.source)
            code.outputs = [nbformat.from_dict(o) for o in next(cell_outputs)]
            nb.cells.append(code)
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(part.strip("\n")))
    return nb
