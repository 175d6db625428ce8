"""Command line: `hlm-report fit|render|email|site|publish`.

Exit status says whose fault a failure is: 2 and one line for the user's input, 3 and one line
for a broken tool, 1 for a bug (one line, the traceback in error.log; `--debug` prints it).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import os
import sys
import time
import traceback
from pathlib import Path

from . import layout
from .errors import InputError, ToolError


def _progress(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:  # the reader left (`2>&1 | head`) or the device is full: work on unseen
        pass


@contextlib.contextmanager
def _without_cyclic_gc():
    """The cyclic garbage collector off for one bounded pass, then back as it was. A fit builds
    a few hundred thousand small objects (pandas' import, per-group rows of random effects) and
    no reference cycles worth collecting; the collector's repeated full passes over them took a
    sixth of the whole process at 10,000 groups (1.51 s -> 1.27 s, medians of six). Memory is
    still freed as usual: that is reference counting, not this collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cmd_fit(args) -> int:
    with _without_cyclic_gc():
        return _fit(args)


def _fit(args) -> int:
    from .atomic import ensure_writable_dir
    from .model.analysis import validated
    from .results import RESULTS_FILE
    from .spec import load_spec

    started = time.perf_counter()
    spec = load_spec(Path(args.config))
    if args.engine is not None:
        spec = spec.model_copy(update={"engine": args.engine})
    layout.check_out_dir(Path(args.out), spec.data)
    layout.check_fit_out(Path(args.out), Path(args.config))  # nothing of the user's replaced
    prepared = validated(spec)  # every input error surfaces before any progress line
    if prepared.files_read > 1 or prepared.files_skipped:
        passed = f", passed over {prepared.files_skipped:,}" if prepared.files_skipped else ""
        _progress(f"hlm-report: data: read {prepared.files_read:,} files{passed}")
    ensure_writable_dir(Path(args.out))
    _fit_staged(spec, Path(args.config), Path(args.out), prepared)
    path = Path(args.out) / RESULTS_FILE
    _progress(f"hlm-report: wrote {path} in {time.perf_counter() - started:.1f} s")
    return 0


def _fit_staged(spec, config: Path, out: Path, prepared) -> None:
    """Fit into a scratch folder inside `out`, then move the files in: a failed or killed run
    leaves the previous results.json and rows.parquet as they were. The marker goes in first, so
    a run stopped between the moves is still this config's folder to fit into again."""
    from . import atomic
    from .model.analysis import run_analysis
    from .results import RESULTS_FILE, SAMPLE_FILE

    with atomic.staging_dir(out, ".fit-") as staging:
        run_analysis(spec, staging, _progress, prepared)
        layout.check_fit_out(out, config)  # again: the folder may have changed during the fit
        if layout.read_marker(out) is None:
            version = layout.report_version(staging / RESULTS_FILE)
            inputs = layout.inputs_hash(spec.to_json())
            atomic.write_text(out / layout.MARKER, layout.marker_text(out, config, version, inputs))
        for name in (SAMPLE_FILE, RESULTS_FILE):  # results.json last: it names the sample
            os.replace(staging / name, out / name)


def _cmd_render(args) -> int:
    from . import overrides
    from .render import render_report

    formats = [f.strip() for value in args.to or [] for f in value.split(",") if f.strip()]
    chosen = args.engine or []
    renderers = [e for e in chosen if e in RENDERERS]
    data = [e for e in chosen if e in DATA_ENGINES]
    render_report(
        Path(args.config),
        output_root=Path(args.output_root),
        engine=renderers[-1] if renderers else "auto",
        progress=_progress,
        formats=formats or None,
        overrides=overrides.parse(args.param),
        refit=args.refit,
        export=args.export,
        data_engine=data[-1] if data else None,
    )
    return 0


def _cmd_email(args) -> int:
    from .deliver.mail import email_report

    ok = email_report(
        Path(args.config),
        output_root=Path(args.output_root),
        dry_run=args.dry_run,
        to=args.to,
        force=args.force,
        progress=_progress,
    )
    return 0 if ok else 1


def _cmd_profiles(args) -> int:
    from .deliver.profiles import write_profiles

    write_profiles(Path(args.config), output_root=Path(args.output_root), progress=_progress)
    return 0


def _cmd_site(args) -> int:
    from .deliver.site import build_site

    configs = [Path(c) for c in args.configs] or sorted(Path("report/configs").glob("*.yml"))
    build_site(
        configs,
        output_root=Path(args.output_root),
        site_dir=Path(args.site_dir),
        render=not args.no_render,
        progress=_progress,
    )
    return 0


def _cmd_publish(args) -> int:
    from .deliver.site import publish

    if not args.remote:
        raise InputError("no git remote to publish to: pass --remote URL or set PUBLISH_REMOTE")
    publish(Path(args.site_dir), args.remote, args.branch, progress=_progress)
    return 0


def _cmd_preview(args) -> int:
    from .preview import preview

    preview(
        Path(args.config), output_root=Path(args.output_root), port=args.port, progress=_progress
    )
    return 0


def _cmd_init(args) -> int:
    from .init import init_config

    written = init_config(
        Path(args.data),
        output=Path(args.output) if args.output else None,
        group=args.group,
        outcome=args.outcome,
    )
    _progress(f"hlm-report: wrote {written}; check it, then: hlm-report render {written}")
    return 0


def _cmd_schema(args) -> int:
    from .schema import schema_text

    try:
        sys.stdout.write(schema_text())
        sys.stdout.flush()
    except BrokenPipeError:  # `schema | head`: the reader had what it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - no second error at exit's flush
    except OSError as exc:  # > /dev/full, a closed stdout: the user's to fix, not a bug
        raise InputError(f"cannot write the schema: {exc.strerror or exc}") from None
    return 0


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hlm-report")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


RENDERERS = ["auto", "quarto", "builtin"]
DATA_ENGINES = ["duckdb", "spark"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hlm-report", description="Multilevel-model reports for nested data."
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal error"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit the model ladder and write results.json")
    fit.add_argument("config", help="report/configs/NAME.yml")
    fit.add_argument("--out", required=True, help="directory for results.json")
    fit.add_argument(
        "--engine", choices=DATA_ENGINES, help="data engine (default: the config's engine:)"
    )
    fit.set_defaults(func=_cmd_fit)
    render = sub.add_parser("render", help="render the report as HTML, PDF and Word")
    render.add_argument("config", help="report/configs/NAME.yml")
    render.add_argument(
        "--output-root",
        default=str(layout.DEFAULT_OUTPUT_ROOT),
        help="outputs go to OUTPUT_ROOT/NAME/ (default: _output in the current directory)",
    )
    render.add_argument(
        "--engine",
        action="append",
        choices=RENDERERS + DATA_ENGINES,
        help="renderer (auto, quarto, builtin) and/or data engine (duckdb, spark); repeatable",
    )
    render.add_argument(
        "--to",
        action="append",
        metavar="FORMAT",
        help="write only these formats: html, pdf, docx (comma-separated or repeated; "
        "default all three); the others of an existing report stay when the results are the same",
    )
    render.add_argument(
        "-P",
        dest="param",
        action="append",
        metavar="KEY=VALUE",
        help="set a config key for this render, as YAML (-P title='Draft' -P predictors=[read,math]"
        " -P labels.write='Writing score'); repeatable",
    )
    render.add_argument(
        "--refit",
        action="store_true",
        help="fit again even when the config and data are unchanged since the last render",
    )
    render.add_argument(
        "--export",
        metavar="FORMAT",
        help="also write the tables (ladder, fixed effects, variance components, group effects) "
        "into NAME/tables/: csv (one file each) or xlsx (one workbook)",
    )
    render.set_defaults(func=_cmd_render)
    email = sub.add_parser("email", help="email the PDF to the config's stakeholders")
    email.add_argument("config", help="report/configs/NAME.yml")
    email.add_argument("--dry-run", action="store_true", help="write .eml files instead of sending")
    email.add_argument("--to", help="send only to this address")
    email.add_argument(
        "--force", action="store_true", help="send even to those who already have this version"
    )
    email.add_argument("--output-root", default="_output")
    email.set_defaults(func=_cmd_email)
    profiles = sub.add_parser(
        "profiles", help="one HTML and one PDF page per group from the rendered report"
    )
    profiles.add_argument("config", help="report/configs/NAME.yml (rendered first)")
    profiles.add_argument("--output-root", default="_output")
    profiles.set_defaults(func=_cmd_profiles)
    site = sub.add_parser(
        "site",
        help="render every config that changed and build _site/ with an index",
        description="Render the configs whose config, data or report code changed since their "
        "last render, then build _site/: an index of cards (each headlined by its report's main "
        "finding) and the reports with their PDF and Word files. The index's title, description "
        "and logo come from `site:` in the project's _quarto.yml (title:, description:, logo:). "
        "Groups smaller than profiles: min_size are left off the public site.",
    )
    site.add_argument("configs", nargs="*", help="configs (default: report/configs/*.yml)")
    site.add_argument("--output-root", default="_output")
    site.add_argument("--site-dir", default="_site")
    site.add_argument(
        "--no-render", action="store_true", help="use the reports already in --output-root"
    )
    site.set_defaults(func=_cmd_site)
    pub = sub.add_parser("publish", help="push _site/ to the gh-pages branch of a git remote")
    pub.add_argument(
        "--remote", default=os.environ.get("PUBLISH_REMOTE"), help="git remote URL or path"
    )
    pub.add_argument("--branch", default="gh-pages")
    pub.add_argument("--site-dir", default="_site")
    pub.set_defaults(func=_cmd_publish)
    schema = sub.add_parser("schema", help="print the JSON Schema of results.json")
    schema.set_defaults(func=_cmd_schema)
    init = sub.add_parser("init", help="draft a commented config from a data file")
    init.add_argument("data", help="a .csv or .parquet file")
    init.add_argument("--group", help="the grouping column (default: a guess)")
    init.add_argument("--outcome", help="the outcome column (default: a guess)")
    init.add_argument(
        "--output", help="where to write (default: report/configs/DATA.yml, else ./DATA.yml)"
    )
    init.set_defaults(func=_cmd_init)
    view = sub.add_parser(
        "preview", help="serve the HTML report on 127.0.0.1 and render it again on every save"
    )
    view.add_argument("config", help="report/configs/NAME.yml")
    view.add_argument("--port", type=int, default=4848, help="default 4848; 0: any free port")
    view.add_argument("--output-root", default=str(layout.DEFAULT_OUTPUT_ROOT))
    view.set_defaults(func=_cmd_preview)
    return parser


def _error_log(args) -> Path:
    """Where an internal error's traceback goes: beside the outputs the command was making."""
    if getattr(args, "out", None):
        return Path(args.out) / layout.ERROR_LOG
    root = Path(getattr(args, "output_root", layout.DEFAULT_OUTPUT_ROOT))
    if getattr(args, "config", None):
        return layout.report_dir(root, Path(args.config)) / layout.ERROR_LOG
    return root.resolve() / layout.ERROR_LOG


def _report_bug(args, exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    first = (str(exc).strip().splitlines() or [""])[0]
    summary = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if args.debug:
        print(text, file=sys.stderr, end="")
    try:
        log = _error_log(args)
        log.parent.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        command = " ".join(sys.argv)
        log.write_text(f"{stamp}  {command}\n\n{text}", encoding="utf-8")
        where = f"traceback in {log}"
    except (OSError, InputError):  # no folder to log into (a config name that names none)
        where = "rerun with --debug for the traceback"
    print(f"hlm-report: internal error (a bug): {summary}; {where}", file=sys.stderr)


def _dash_names(argv: list[str]) -> list[str]:
    """A config named `-x.yml` given bare is a file, not an option: no option's name ends in
    .yml, and argparse would refuse it ("arguments are required: config"). It is passed on as
    `./-x.yml` (the same path). A token with '=' may be an option's value (-Ptitle=a.yml,
    --out=-x.yml): left alone unless such a file exists."""
    out = []
    for i, token in enumerate(argv):
        if token == "--":  # after it argparse takes every token as positional already
            return out + argv[i:]
        if (
            token.startswith("-")
            and token.lower().endswith((".yml", ".yaml"))
            and ("=" not in token or Path(token).is_file())
        ):
            token = "./" + token
        out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_dash_names(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except InputError as exc:
        print(f"hlm-report: error: {exc}", file=sys.stderr)
        return 2
    except ToolError as exc:
        print(f"hlm-report: tool failed: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("hlm-report: interrupted; previous outputs left as they were", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: say so, keep the trace
        _report_bug(args, exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
