"""Render with Quarto itself when it is on PATH: the executed notebook, once per format."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat

from .. import layout
from ..errors import ToolError

FORMATS = {"html": layout.HTML, "typst": layout.PDF, "docx": layout.DOCX}


def render(
    notebook: nbformat.NotebookNode, out: Path, work: Path, wanted: tuple[str, ...] | None = None
) -> None:
    """Quarto renders each format asked for (`wanted`: file names, default all)."""
    from . import source_date_epoch

    source = work / "report.ipynb"
    nbformat.write(notebook, source)
    rendered = work / "quarto"
    for fmt_name, target in FORMATS.items():
        if wanted is not None and target not in wanted:
            continue
        cmd = [
            "quarto",
            "render",
            str(source),
            "--to",
            fmt_name,
            "--output-dir",
            str(rendered),
            "--no-execute",
        ]
        # Quarto's Typst reads SOURCE_DATE_EPOCH: the PDF gets the same stamp as the built-in
        # engine's (render.source_date_epoch), so the same results give the same bytes.
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(source_date_epoch())}
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["quarto failed"])[-1]
            raise ToolError(f"quarto render --to {fmt_name}: {last}")
        suffix = Path(target).suffix
        produced = rendered / f"report{suffix}"
        if not produced.is_file():
            raise ToolError(f"quarto render --to {fmt_name} produced no {suffix} file")
        shutil.move(str(produced), out / target)
