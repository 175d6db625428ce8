"""`hlm-report render`: results, then one execution of the .qmd, then HTML, PDF and Word.

Everything is built in a temporary directory beside the output and moved into
`_output/NAME/` only when all four files exist, so a failed run leaves the previous report intact.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from .. import atomic
from ..errors import InputError
from ..fmt import md_escape
from ..spec import REPO_ROOT, load_spec

REPORT_QMD = REPO_ROOT / "report" / "hlm_report.qmd"
OUTPUTS = ("report.html", "report.pdf", "report.docx", "results.json")
SEND_LOG = "sent.json"  # written by deliver.py beside the report


class _Steps:
    def __init__(self, progress: Callable[[str], None]):
        self.progress = progress
        self.started = time.perf_counter()

    def run(self, label: str, func, *args, **kwargs):
        t0 = time.perf_counter()
        self.progress(f"  ... {label}")
        try:
            result = func(*args, **kwargs)
        except InputError as exc:
            raise InputError(f"{label} failed: {exc}") from None
        self.progress(f"  ok  {label:<26}{time.perf_counter() - t0:6.2f} s")
        return result


def _front_matter(doc_front: dict, spec) -> dict:
    front = {
        k: v for k, v in doc_front.items() if k not in ("format", "execute", "jupyter", "engine")
    }
    front["title"] = md_escape(spec.title)
    if spec.subtitle:
        front["subtitle"] = md_escape(spec.subtitle)
    if spec.author:
        front["author"] = md_escape(spec.author)
    front["date"] = dt.date.today().strftime("%-d %B %Y")
    front.setdefault("lang", "en")
    return front


def _execute(config: Path, spec, work: Path, out: Path, steps: _Steps):
    """Run the .qmd's cells once; both engines build every format from this one execution."""
    from . import execute, qmd

    doc = qmd.parse(REPORT_QMD)
    params = {
        "config": str(config.resolve()),
        "results_path": str((out / "results.json").resolve()),
    }
    outputs = steps.run("execute report cells", execute.execute, doc, params, REPO_ROOT)
    return doc, outputs, _front_matter(doc.front_matter, spec)


def _builtin(config: Path, spec, work: Path, out: Path, steps: _Steps) -> None:
    from . import markdown, pandoc

    doc, outputs, front = _execute(config, spec, work, out, steps)
    body = markdown.assemble(doc, outputs, work / "figures")
    source = work / "report.md"
    header = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n"
    source.write_text(header + body, encoding="utf-8")
    steps.run("write HTML", pandoc.to_html, source, out / "report.html", front)
    steps.run("write Word", pandoc.to_docx, source, out / "report.docx", front)
    steps.run("write PDF (Typst)", pandoc.to_pdf, source, out / "report.pdf", front)


def _quarto(config: Path, spec, work: Path, out: Path, steps: _Steps) -> None:
    from . import ipynb, quarto

    doc, outputs, front = _execute(config, spec, work, out, steps)
    front = {**front, "format": doc.front_matter.get("format", {})}
    notebook = ipynb.executed_notebook(doc, outputs, front)
    steps.run("quarto render (html, typst, docx)", quarto.render, notebook, out, work)


def render_report(
    config: Path,
    output_root: Path = Path("_output"),
    engine: str = "auto",
    progress: Callable[[str], None] = print,
) -> Path:
    from ..analysis import validated, write_results

    spec = load_spec(config)
    prepared = validated(spec)  # bad input fails here, before any progress line or directory
    if engine == "auto":
        engine = "quarto" if shutil.which("quarto") else "builtin"
    if engine == "quarto" and not shutil.which("quarto"):
        raise InputError("--engine quarto was asked for but 'quarto' is not on PATH")
    output_root = output_root if output_root.is_absolute() else REPO_ROOT / output_root
    output_root.mkdir(parents=True, exist_ok=True)
    final = output_root / config.stem
    steps = _Steps(progress)
    progress(f"hlm-report: rendering {config} with the {engine} engine")
    with atomic.staging_dir(output_root, f".{config.stem}.building-") as staging:
        out, work = staging / "out", staging / "work"
        out.mkdir()
        work.mkdir()
        steps.run("fit the model ladder", write_results, spec, out, progress, prepared)
        (_quarto if engine == "quarto" else _builtin)(config, spec, work, out, steps)
        missing = [
            name
            for name in OUTPUTS
            if not (out / name).is_file() or (out / name).stat().st_size == 0
        ]
        if missing:
            raise InputError(f"rendering produced no {', '.join(missing)}")
        # The email send log outlives re-renders: it is what makes delivery exactly-once.
        if (final / SEND_LOG).is_file():
            shutil.copy2(final / SEND_LOG, out / SEND_LOG)
        atomic.replace_dir(out, final)
    progress(
        f"hlm-report: wrote {final}/ ({', '.join(OUTPUTS)}) in {time.perf_counter() - steps.started:.1f} s"
    )
    return final
