"""The executed report as a Jupyter notebook Quarto can render without running it again.

Quarto does not execute an .ipynb by default, so the Quarto path executes the .qmd once (with the
same engine as the built-in path) and hands Quarto this notebook for all three formats.
"""

from __future__ import annotations

import nbformat
import yaml

from .markdown import clean_text, keep_numbers_together
from .qmd import Cell, Document


def _markdown(text: str) -> str:
    """Markdown as the built-in path hands it to pandoc: cleaned, numbers kept together."""
    return keep_numbers_together(clean_text(text))


def _cleaned(output: dict) -> dict:
    """An output whose markdown or text no output format would choke on (see clean_text)."""
    output = dict(output)
    if isinstance(output.get("text"), str):
        output["text"] = _markdown(output["text"])
    data = output.get("data")
    if isinstance(data, dict) and isinstance(data.get("text/markdown"), str):
        output["data"] = {**data, "text/markdown": _markdown(data["text/markdown"])}
    return output


def _clean_values(value):
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {key: _clean_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_values(item) for item in value]
    return value


def _with_figure_options(raw: str, outputs: list) -> str:
    """The cell's `#| fig-cap` and `#| fig-alt` replaced by the caption and alt text its figure
    carries (present/captions.py, present/alt_text.py): Quarto reads them from the cell."""
    meta = next(
        (
            o.get("metadata", {}).get("image/png", {})
            for o in outputs
            if "image/png" in o.get("data", {})
        ),
        {},
    )
    lines = raw.splitlines()
    for key, value in (("fig-cap", meta.get("caption")), ("fig-alt", meta.get("alt"))):
        if not (isinstance(value, str) and value.strip()):
            continue
        dumped = yaml.safe_dump(clean_text(value), allow_unicode=True, width=10**6).strip()
        dumped = dumped.removesuffix("\n...").strip()
        lines = [f"#| {key}: {dumped}" if line.startswith(f"#| {key}:") else line for line in lines]
    return "\n".join(lines)


def executed_notebook(doc: Document, outputs: list[list], front: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    # Cleaned before the dump: YAML writes a control character as an escape pandoc reads back.
    header = "---\n" + yaml.safe_dump(_clean_values(front), allow_unicode=True, sort_keys=False)
    nb.cells.append(nbformat.v4.new_raw_cell(header + "---"))
    cell_outputs = iter(outputs)
    for part in doc.parts:
        if isinstance(part, Cell):
            produced = next(cell_outputs)
            code = nbformat.v4.new_code_cell(
                _with_figure_options(part.raw or part.source, produced)
            )
            code.outputs = [nbformat.from_dict(_cleaned(o)) for o in produced]
            nb.cells.append(code)
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(_markdown(part.strip("\n"))))
    return nb
