"""`hlm-report render`: results, then one execution of the .qmd, then HTML, PDF and Word.

Everything is built in a temporary directory beside the output and moved into
`_output/NAME/` only when all four files exist, so a failed run leaves the previous report intact.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from .. import atomic, layout, resources
from ..errors import InputError, ToolError
from ..present import fonts
from ..present.fmt import md_escape
from ..results import RESULTS_FILE, SAMPLE_FILE
from ..spec import load_spec
from .markdown import clean_text

_LEGACY_AGE = 24 * 3600.0  # seconds: staging folders named before they carried their PID


class _Steps:
    def __init__(
        self, progress: Callable[[str], None], wanted: tuple[str, ...] = layout.REPORT_FILES
    ):
        self.progress = progress
        self.started = time.perf_counter()
        self.wanted = wanted  # the report files this render writes (render --to)

    def run(self, label: str, func, *args, **kwargs):
        t0 = time.perf_counter()
        self.progress(f"  ... {label}")
        try:
            result = func(*args, **kwargs)
        except (InputError, ToolError) as exc:
            raise type(exc)(f"{label} failed: {exc}") from None
        self.progress(f"  ok  {label:<26}{time.perf_counter() - t0:6.2f} s")
        return result


def _front_matter(doc_front: dict, spec) -> dict:
    front = {
        k: v for k, v in doc_front.items() if k not in ("format", "execute", "jupyter", "engine")
    }
    # YAML escapes control characters, so they are taken out here, before the dump (clean_text).
    front["title"] = clean_text(md_escape(spec.title))
    if spec.subtitle:
        front["subtitle"] = clean_text(md_escape(spec.subtitle))
    if spec.author:
        front["author"] = clean_text(md_escape(spec.author))
    front["date"] = report_date().strftime("%-d %B %Y")
    front.setdefault("lang", "en")
    # the PDF's page, by Typst's name for it (config `paper:`; results of old configs: A4)
    front["papersize"] = TYPST_PAPER[getattr(spec, "paper", "a4")]
    return front


TYPST_PAPER = {"a4": "a4", "letter": "us-letter"}


def source_date_epoch() -> int:
    """The time a report is dated and its PDF stamped with: SOURCE_DATE_EPOCH when set (the
    reproducible-builds convention), else midnight UTC of today, so that renders of the same
    results on one day give the same bytes (Typst would stamp the current second)."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is not None:
        if not value.strip().isdigit() or int(value) > 253402300799:  # year 9999
            raise InputError(
                f"SOURCE_DATE_EPOCH must be seconds since 1970 (an integer), not {value!r}"
            )
        return int(value)
    today = dt.datetime.now(dt.UTC).date()
    return int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC).timestamp())


def report_date() -> dt.date:
    if os.environ.get("SOURCE_DATE_EPOCH") is not None:
        return dt.datetime.fromtimestamp(source_date_epoch(), dt.UTC).date()
    return dt.date.today()


def _execute(config: Path, spec, work: Path, out: Path, steps: _Steps, kernel: bool = True):
    """Run the .qmd's cells once; both engines build every format from this one execution.
    `kernel`: in a Jupyter kernel (what Quarto reads), else in this process (inprocess.py:
    no kernel start, and a second render finds everything imported)."""
    from . import execute, inprocess, qmd

    doc = qmd.parse(resources.report_document())
    params = {"results_path": str((out / RESULTS_FILE).resolve())}
    run = execute.execute if kernel or not inprocess.available() else inprocess.execute
    outputs = steps.run("execute report cells", run, doc, params, work)
    return doc, outputs, _front_matter(doc.front_matter, spec)


# `render --to` names, in the order written, with the file each gives.
FORMATS = {"html": layout.HTML, "docx": layout.DOCX, "pdf": layout.PDF}


def _builtin(config: Path, spec, work: Path, out: Path, steps: _Steps) -> None:
    from . import markdown, pandoc

    doc, outputs, front = _execute(config, spec, work, out, steps, kernel=False)
    body = markdown.assemble(doc, outputs, work / "figures")
    source = work / "report.md"
    header = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n"
    source.write_text(header + body, encoding="utf-8")
    wanted = steps.wanted
    if layout.HTML in wanted:
        steps.run("write HTML", pandoc.to_html, source, out / layout.HTML, front)
    if layout.DOCX in wanted:
        steps.run("write Word", pandoc.to_docx, source, out / layout.DOCX, front)
    if layout.PDF in wanted:
        steps.run("write PDF (Typst)", pandoc.to_pdf, source, out / layout.PDF, front)


def _quarto(config: Path, spec, work: Path, out: Path, steps: _Steps) -> None:
    from . import ipynb, pandoc, quarto

    doc, outputs, front = _execute(config, spec, work, out, steps)
    # The filter that keeps user text text in Typst (see assets/typst-text.lua) serves Quarto's
    # Typst writer as well; it does nothing for the other formats.
    formats = dict(doc.front_matter.get("format", {}))
    # Quarto's Typst gets the Noto faces too (CJK, emoji): see present/fonts.py.
    typst_options = formats.get("typst") if isinstance(formats.get("typst"), dict) else {}
    # one h1 on the HTML page (the title), as the built-in engine writes it
    html_options = formats.get("html") if isinstance(formats.get("html"), dict) else {}
    formats["html"] = {
        **html_options,
        "shift-heading-level-by": 1,
        "toc-depth": int(front.get("toc-depth", 2)) + 1,
    }
    formats["typst"] = {
        **typst_options,
        "font-paths": list(fonts.font_dirs()),
        # the config's paper:, over the document's default
        "papersize": front.get("papersize", typst_options.get("papersize", "a4")),
    }
    front = {
        **front,
        "format": formats,
        "filters": [*front.get("filters", []), str(pandoc.ASSETS / "typst-text.lua")],
    }
    notebook = ipynb.executed_notebook(doc, outputs, front)
    steps.run("quarto render", quarto.render, notebook, out, work, steps.wanted)


def render_report(
    config: Path,
    output_root: Path = layout.DEFAULT_OUTPUT_ROOT,
    engine: str = "auto",
    progress: Callable[[str], None] = print,
    data_engine: str | None = None,
    formats: list[str] | None = None,
    overrides: dict | None = None,
    refit: bool = False,
    export: str | None = None,
) -> Path:
    """`formats` (render --to): the report files to write, default all three; the others of an
    existing report are carried over when the results are the same, else left out (a PDF of
    other numbers than results.json would be a wrong report). `overrides`: render -P.
    `refit`: fit even when the fit recorded beside the outputs has the same key. `export`
    (csv or xlsx): the report's tables as files in tables/ (export.py)."""
    from ..model.analysis import run_analysis, validated
    from . import cache

    unknown = sorted(set(formats or ()) - set(FORMATS))
    if unknown:
        raise InputError(f"--to {unknown[0]}: formats are {', '.join(FORMATS)}")
    wanted = tuple(FORMATS[f] for f in FORMATS if not formats or f in formats)
    from .. import export as tables_export

    tables_export.check(export)
    spec = load_spec(config, overrides)
    if data_engine is not None:
        spec = spec.model_copy(update={"engine": data_engine})
    # Where the report goes is checked before any data is read: a name that cannot be a folder
    # of its own, an output root that holds the data, a folder that is not this config's.
    final = layout.report_dir(output_root, config)
    layout.check_output_root(output_root, spec.data, config)
    layout.check_replaceable(final, config)
    source_date_epoch()  # a bad SOURCE_DATE_EPOCH is found before the fit, not after
    key = cache.fit_key(spec)
    reuse = not refit and cache.reusable(final, key)
    # bad input fails here, before any progress line or directory (a reused fit was validated)
    prepared = None if reuse else validated(spec)
    if engine == "auto":
        engine = "quarto" if shutil.which("quarto") else "builtin"
    if engine == "quarto" and not shutil.which("quarto"):
        raise ToolError("quarto: --engine quarto was asked for but 'quarto' is not on PATH")
    output_root = final.parent
    steps = _Steps(progress, wanted)
    # What a killed render (kill -9 runs no clean-up) left behind goes first; a running one's
    # folders stay (atomic.remove_stale). An unwritable output root stops here: InputError.
    staging_prefix = f".{final.name}.building-"
    atomic.remove_legacy(output_root, staging_prefix, _LEGACY_AGE)
    atomic.recover_dir(final)
    with atomic.staging_dir(output_root, staging_prefix) as staging:
        progress(f"hlm-report: rendering {config} with the {engine} engine")
        out, work = staging / "out", staging / "work"
        out.mkdir()
        work.mkdir()
        if reuse:
            progress("hlm-report: reused results (config and data unchanged)")
            for name in (RESULTS_FILE, SAMPLE_FILE):
                shutil.copy2(final / name, out / name)
        else:
            steps.run("fit the model ladder", run_analysis, spec, out, progress, prepared)
        if key is not None:
            cache.record(out, key)  # the key and the bytes of the fit it describes
        if export is not None:
            from ..results import read_json

            results = read_json(out / RESULTS_FILE)
            folder = out / tables_export.TABLES_DIR
            steps.run(f"export tables ({export})", tables_export.write, results, folder, export)
        (_quarto if engine == "quarto" else _builtin)(config, spec, work, out, steps)
        _carry_over(final, out, wanted, progress)
        required = (*wanted, RESULTS_FILE, SAMPLE_FILE)
        missing = [
            name
            for name in required
            if not (out / name).is_file() or (out / name).stat().st_size == 0
        ]
        if missing:
            raise ToolError(f"rendering produced no {', '.join(missing)}")
        # The email send log outlives re-renders: it is what makes delivery exactly-once.
        if (final / layout.SEND_LOG).is_file():
            shutil.copy2(final / layout.SEND_LOG, out / layout.SEND_LOG)
        _keep_user_files(final, out, progress)
        # Group profiles (`hlm-report profiles`) outlive a re-render of the same results (the
        # site renders every report first); written from other results they are stale and go.
        if layout.profiles_version(final) == layout.report_version(out / RESULTS_FILE):
            shutil.copytree(final / layout.PROFILES, out / layout.PROFILES)
        # The marker makes the folder the tool's (only such folders are ever replaced) and ties
        # it to this config, which `email` checks before sending anything from it.
        version = layout.report_version(out / RESULTS_FILE)
        # as `email` will load it: a report rendered with -P is not the config's report
        inputs = layout.inputs_hash(load_spec(config, overrides).to_json())
        marker = layout.marker_text(final, config, version, inputs)
        (out / layout.MARKER).write_text(marker, "utf-8")
        layout.check_replaceable(final, config)  # again: another render may have finished since
        atomic.replace_dir(out, final)
    written = [name for name in layout.OUTPUTS if name in wanted or (final / name).is_file()]
    progress(
        f"hlm-report: wrote {final}/ ({', '.join(written)}) in {time.perf_counter() - steps.started:.1f} s"
    )
    return final


def _keep_user_files(final: Path, out: Path, progress) -> None:
    """Files and folders a user added to the report folder since the last render are not the
    tool's: copied into the new folder (links as links) before the old one is removed."""
    kept = [name for name in layout.user_entries(final) if not (out / name).exists()]
    layout.carry_user_entries(final, out, kept, progress)


def _carry_over(final: Path, out: Path, wanted: tuple[str, ...], progress) -> None:
    """The report files `--to` did not ask for, from the existing report, when they show the
    same results (same content version); else they are left out and the run says so."""
    others = [name for name in layout.REPORT_FILES if name not in wanted]
    present = [name for name in others if (final / name).is_file()]
    from ..export import TABLES_DIR as tables  # kept like a format when not exported this time

    if (final / tables).is_dir() and not (out / tables).exists():
        present.append(tables)
    if not present:
        return
    old, new = final / RESULTS_FILE, out / RESULTS_FILE
    if old.is_file() and layout.report_version(old) == layout.report_version(new):
        for name in present:
            if (final / name).is_dir():
                shutil.copytree(final / name, out / name)
            else:
                shutil.copy2(final / name, out / name)
        return
    formats = [f for f, name in FORMATS.items() if name in present]
    hints = [f"render --to {','.join(formats)}"] if formats else []
    hints += ["--export csv|xlsx"] if tables in present else []
    progress(
        f"hlm-report: {', '.join(present)} left out: the results changed since they were "
        f"written ({' with '.join(hints)} to write them again)"
    )
