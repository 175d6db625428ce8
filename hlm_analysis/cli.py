"""Command line: `hlm-report fit|render ...`. Bad input exits 2 with one line naming the problem."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import InputError


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_fit(args) -> int:
    from .analysis import validated, write_results
    from .spec import load_spec

    started = time.perf_counter()
    spec = load_spec(Path(args.config))
    prepared = validated(spec)  # every input error surfaces before any progress line
    path = write_results(spec, Path(args.out), _progress, prepared)
    _progress(f"hlm-report: wrote {path} in {time.perf_counter() - started:.1f} s")
    return 0


def _cmd_render(args) -> int:
    from .render import render_report

    render_report(
        Path(args.config),
        output_root=Path(args.output_root),
        engine=args.engine,
        progress=_progress,
    )
    return 0


def _cmd_email(args) -> int:
    from .deliver import email_report

    ok = email_report(
        Path(args.config),
        output_root=Path(args.output_root),
        dry_run=args.dry_run,
        to=args.to,
        force=args.force,
        progress=_progress,
    )
    return 0 if ok else 1


def _cmd_site(args) -> int:
    from .site import build_site

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
    from .site import publish

    if not args.remote:
        raise InputError("no git remote to publish to: pass --remote URL or set PUBLISH_REMOTE")
    publish(Path(args.site_dir), args.remote, args.branch, progress=_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hlm-report", description="Multilevel-model reports for nested data."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit the model ladder and write results.json")
    fit.add_argument("config", help="report/configs/NAME.yml")
    fit.add_argument("--out", required=True, help="directory for results.json")
    fit.set_defaults(func=_cmd_fit)
    render = sub.add_parser("render", help="render the report as HTML, PDF and Word")
    render.add_argument("config", help="report/configs/NAME.yml")
    render.add_argument("--output-root", default="_output", help="outputs go to OUTPUT_ROOT/NAME/")
    render.add_argument("--engine", choices=["auto", "quarto", "builtin"], default="auto")
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
    site = sub.add_parser("site", help="render every config and build _site/ with an index")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"hlm-report: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hlm-report: interrupted; previous outputs left as they were", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
