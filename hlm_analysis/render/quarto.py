"""Render with Quarto itself when it is installed (the same .qmd, the same parameters)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import InputError

_FORMATS = {"html": "report.html", "typst": "report.pdf", "docx": "report.docx"}


def render(qmd: Path, config: Path, spec, out: Path, work: Path) -> None:
    staged = work / qmd.name
    shutil.copy(qmd, staged)
    for fmt_name, target in _FORMATS.items():
        cmd = [
            "quarto",
            "render",
            str(staged),
            "--to",
            fmt_name,
            "--output-dir",
            str(work / "quarto"),
            "-P",
            f"config:{config.resolve()}",
            "-P",
            f"results_path:{(out / 'results.json').resolve()}",
            "-M",
            f"title:{spec.title}",
        ]
        if spec.subtitle:
            cmd += ["-M", f"subtitle:{spec.subtitle}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["quarto failed"])[-1]
            raise InputError(f"quarto render --to {fmt_name}: {last}")
        produced = next(
            (work / "quarto").glob(f"{qmd.stem}.{Path(target).suffix.lstrip('.')}"), None
        )
        if produced is None:
            raise InputError(
                f"quarto render --to {fmt_name} produced no {Path(target).suffix} file"
            )
        shutil.move(str(produced), out / target)
