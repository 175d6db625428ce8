"""`make site`: every config rendered, and `_site/` with an index of cards linking to each report.

Without Quarto the index is our own page; with Quarto on PATH the same cards go into a Quarto
website project that Quarto renders (and the reports themselves are rendered by Quarto, see
render/). `_site/` is assembled in a temporary directory and swapped in
only when complete. `publish()` pushes it to a gh-pages branch of any git remote.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import yaml

from .. import atomic, layout
from ..errors import InputError, ToolError
from ..present import fmt, narrative
from ..render import render_report
from ..results import RESULTS_FILE, read_json
from ..spec import load_spec
from . import profiles as group_profiles


def _card(name: str, folder: Path) -> dict:
    results = read_json(folder / RESULTS_FILE)
    built = dt.datetime.fromtimestamp((folder / layout.HTML).stat().st_mtime)
    facts = narrative.plain_facts(results)  # the report's own words (present/lexicon.py)
    return {
        "name": name,
        "title": results.spec.title,
        "date": built.strftime("%-d %B %Y"),
        "n_obs": fmt.integer(results.data.n_obs),
        "n_groups": fmt.integer(results.data.n_groups),
        "units": facts["units"],  # "students", "women"
        "groups": facts["groups"],  # "schools", or "groups (SchoolID)"
        "headline": narrative.key_findings(facts)[0],
        # A name may hold '#', '%', '?', spaces or any letter: the link is percent-encoded.
        "html": f"reports/{quote(name)}/{layout.HTML}",
        "pdf": f"reports/{quote(name)}/{layout.PDF}",
    }


def build_site(
    configs: list[Path],
    output_root: Path = layout.DEFAULT_OUTPUT_ROOT,
    site_dir: Path = Path("_site"),
    render: bool = True,
    progress=print,
    title: str = "Multilevel-model reports",
) -> Path:
    site_dir = site_dir.resolve()
    if not configs:
        raise InputError("no configs to put on the site (report/configs/*.yml)")
    _check_names(configs)
    for config in configs:
        load_spec(config)  # every config is checked before anything is rendered
    check_site_dir(site_dir)
    if render:
        for config in configs:
            render_report(config, output_root=output_root, progress=progress)
    with atomic.staging_dir(site_dir.parent, ".site-") as staging:
        cards = []
        for config in configs:
            folder = layout.report_dir(output_root, config)
            name = folder.name
            if not (folder / layout.HTML).is_file():
                raise InputError(f"no rendered report for {config} in {folder}")
            layout.check_owner(folder, config)  # never another config's report under this card
            target = staging / "reports" / name
            target.mkdir(parents=True)
            for file in layout.REPORT_FILES:
                shutil.copy2(folder / file, target / file)
            card = _card(name, folder)
            # its group profiles (`hlm-report profiles`), when written from these results
            card["profiles"] = group_profiles.publish(
                folder, target, f"reports/{quote(name)}", progress
            )
            cards.append(card)
        context = {
            "site_title": title,
            "cards": cards,
            "updated": dt.date.today().strftime("%-d %B %Y"),
        }
        if shutil.which("quarto"):
            built = _quarto_website(staging, context)
        else:
            html = narrative.environment().get_template("site_index.html.j2").render(**context)
            (staging / "index.html").write_text(html, encoding="utf-8")
            built = staging
        (built / ".nojekyll").write_text("")  # GitHub Pages: serve files as they are
        (built / layout.MARKER).write_text('{"tool": "hlm-report", "kind": "site"}\n')
        check_site_dir(site_dir)  # again: just before the swap
        atomic.replace_dir(built, site_dir)
    progress(f"hlm-report: site with {len(configs)} report(s) in {site_dir}/")
    return site_dir


def _check_names(configs: list[Path]) -> None:
    """Two configs whose reports would share a folder (a/report.yml, b/report.yml; or names
    differing only in case, one folder on some file systems) are refused, naming both."""
    seen: dict[str, Path] = {}
    for config in configs:
        key = layout.report_name(config).casefold()
        other = seen.setdefault(key, config)
        if other != config and other.resolve() != config.resolve():
            raise InputError(
                f"{other} and {config} would both be the report '{layout.report_name(config)}'; "
                "rename one of them"
            )


def check_site_dir(site_dir: Path) -> None:
    """Refuse (exit 2) to replace a folder that is not a site the tool built: one with its
    marker, or from before markers (index.html and reports/ and nothing but what a site holds)."""
    if site_dir.is_symlink() or (site_dir.exists() and not site_dir.is_dir()):
        raise InputError(f"{site_dir} exists and is not a site folder; move it away")
    if not site_dir.exists() or (site_dir / layout.MARKER).is_file():
        return
    try:
        names = {entry.name for entry in os.scandir(site_dir)}
    except OSError:
        names = {"?"}
    site_names = {"index.html", "reports", ".nojekyll", "search.json", "site_libs", "CNAME"}
    if not names or ("index.html" in names and names <= site_names):
        return
    raise InputError(
        f"{site_dir} exists and holds files hlm-report did not write; it will not be replaced "
        "(move it away, or build with another --site-dir)"
    )


def _quarto_website(project: Path, context: dict) -> Path:
    """Make `project` (reports already under reports/) a Quarto website and render it.

    The index carries the same cards as the built-in page; Quarto adds its navigation and theme.
    Returns the rendered directory, which has the same structure as the built-in site.
    """
    config = {
        "project": {"type": "website", "output-dir": "_built", "resources": ["reports/**"]},
        "website": {"title": context["site_title"]},
        "format": {"html": {"page-layout": "full"}},
    }
    (project / "_quarto.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    cards = narrative.environment().get_template("site_cards.html.j2").render(**context)
    front = yaml.safe_dump(
        {"title": context["site_title"], "subtitle": f"Updated {context['updated']}"},
        sort_keys=False,
    )
    (project / "index.qmd").write_text(
        f"---\n{front}---\n\n```{{=html}}\n{cards}\n```\n", encoding="utf-8"
    )
    proc = subprocess.run(
        ["quarto", "render", str(project)], capture_output=True, text=True, cwd=project
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["quarto failed"])[-1]
        raise ToolError(f"quarto render of the website failed: {last}")
    built = project / "_built"
    if not (built / "index.html").is_file() or not (built / "reports").is_dir():
        raise ToolError("quarto render of the website produced no index.html or reports/")
    return built


def _git(*args: str, cwd: Path, allowed: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise ToolError("git is not installed (needed to publish the site)") from None
    if proc.returncode not in allowed:
        lines = proc.stderr.strip().splitlines() or ["git failed"]
        # git ends many errors with advice ("...and the repository exists."): the fatal line
        # is the one that says what went wrong.
        message = next((line for line in lines if line.startswith("fatal:")), lines[-1])
        command = next((a for a in args if not a.startswith("-") and "=" not in a), "")
        raise ToolError(f"git {command} failed: {message}")
    return proc


def check_target(remote: str, branch: str) -> None:
    """Refuse a remote or branch git would read as an option (`--upload-pack=...` runs a
    command) or that is no branch name at all, before git is given either."""
    if not remote.strip():
        raise InputError("no git remote to publish to: pass --remote URL or set PUBLISH_REMOTE")
    if remote.startswith("-"):
        raise InputError(
            f"git remote {remote!r} starts with '-', which git would read as an option; "
            "write a local path as ./PATH"
        )
    if any(ch in remote for ch in "\r\n\0"):
        raise InputError(f"git remote {remote!r} contains a line break or NUL character")
    valid = _git("check-ref-format", f"refs/heads/{branch}", cwd=Path("."), allowed=(0, 1))
    if branch.startswith("-") or valid.returncode != 0:
        raise InputError(f"--branch {branch!r} is not a valid git branch name")


KEEP_ON_BRANCH = ("CNAME", ".nojekyll")


def publish(site_dir: Path, remote: str, branch: str = "gh-pages", progress=print) -> str:
    """Commit the site as the next commit of `branch` on `remote` and push it; returns the commit.

    Every git command that takes the remote or the branch gets them after `--` (or as the value
    of an option), so neither can become an option even if check_target were bypassed.
    """
    site_dir = site_dir.resolve()
    check_target(remote, branch)
    if not (site_dir / "index.html").is_file():
        raise InputError(
            f"nothing to publish: {site_dir}/index.html is missing (run `make site` first)"
        )
    if "://" not in remote and Path(remote).exists():
        # git runs in a temporary directory below: a relative path must not resolve there.
        remote = str(Path(remote).resolve())
        where = Path(remote)
        bare = (where / "HEAD").is_file() and (where / "objects").is_dir()
        if not bare and not (where / ".git").exists():
            raise InputError(
                f"--remote {remote} is not a git repository; create one with "
                f"`git init --bare {remote}`"
            )
    ref = f"refs/heads/{branch}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "pages"
        # --exit-code: 2 means the branch is not there yet; anything else is git failing.
        found = _git(
            "ls-remote", "--exit-code", "--heads", "--", remote, ref, cwd=Path(tmp), allowed=(0, 2)
        )
        if found.returncode == 0:
            _git(
                "clone",
                "--quiet",
                "--branch",
                branch,
                "--single-branch",
                "--",
                remote,
                str(work),
                cwd=Path(tmp),
            )
        else:
            work.mkdir()
            _git("init", "--quiet", cwd=work)
            _git("checkout", "--quiet", "--orphan", branch, cwd=work)
            _git("remote", "add", "--", "origin", remote, cwd=work)
        for item in work.iterdir():
            # CNAME (a custom domain) and .nojekyll are the branch's settings, not the site's:
            # kept unless the site brings its own.
            keep = item.name in KEEP_ON_BRANCH and not (site_dir / item.name).exists()
            if item.name != ".git" and not keep:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        shutil.copytree(site_dir, work, dirs_exist_ok=True)
        _git("add", "--all", cwd=work)
        identity = ["-c", "user.name=hlm-report", "-c", "user.email=hlm-report@localhost"]
        status = _git("status", "--porcelain", cwd=work).stdout
        if not status.strip():
            progress("hlm-report: the published site is already up to date")
            return _git("rev-parse", "HEAD", cwd=work).stdout.strip()
        _git(
            *identity,
            "commit",
            "--quiet",
            "-m",
            f"Publish site {dt.datetime.now():%Y-%m-%d %H:%M}",
            cwd=work,
        )
        _git("push", "--quiet", "--", "origin", f"HEAD:{ref}", cwd=work)
        commit = _git("rev-parse", "HEAD", cwd=work).stdout.strip()
    progress(f"hlm-report: published {site_dir} to {remote} ({branch}, {commit[:10]})")
    return commit
