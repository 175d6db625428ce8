"""`make site`: every config rendered, and `_site/` with an index of cards linking to each report.

Without Quarto the index is our own page; with Quarto on PATH the same cards go into a Quarto
website project that Quarto renders (and the reports themselves are rendered by Quarto, see
render/). `_site/` is assembled in a temporary directory and swapped in
only when complete. `publish()` pushes it to a gh-pages branch of any git remote.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import atomic, layout, resources, yaml_config
from ..errors import InputError, ToolError, problems_error
from ..present import fmt, levels, narrative
from ..render import cache, render_report
from ..results import RESULTS_FILE, read_json
from ..spec import PROJECT_MARKER, did_you_mean, load_spec, project_root, shown
from . import profiles as group_profiles

# Findings that say what the report found about its predictors or its question, in the order
# the summary ranks them; where the variation lies (the ICC) is the fallback, not the headline.
_LEADS = (
    narrative.Finding.FOCUS,
    narrative.Finding.GROWTH,
    narrative.Finding.QUESTION,
    narrative.Finding.LEVER,
    narrative.Finding.EFFECT,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def main_finding(results) -> str:
    """The report's main finding in one plain sentence: the lead sentence of the first
    summary finding about a predictor, the question or growth (the summary's own words, from
    the lexicon), else the first key finding of the email and cards (where the variation lies,
    or that no predictor is linked)."""
    facts = narrative.plain_facts(results)  # user text literal: the page autoescapes
    items = narrative.findings(facts)
    lead = next((item for item in items if item["kind"] in _LEADS), None)
    if lead is not None:
        terms = {"sd": False, "reliability": False}  # the plain lines explaining terms: not here
        text = narrative.render("executive_summary.md.j2", f=facts, findings=[lead], terms=terms)
        bullet = next((line for line in text.splitlines() if line.startswith("- **")), None)
        if bullet is not None:
            _, _, body = bullet.removeprefix("- **").partition("**")  # past the heading
            sentence = _SENTENCE_END.split(body.strip(), maxsplit=1)[0].replace("**", "")
            if sentence:
                return sentence
    findings = narrative.key_findings(facts)
    # "None of the predictors is reliably linked ..." says more than where the variation lies
    return findings[1] if len(findings) > 1 and not facts["significant"] else findings[0]


def _card(name: str, folder: Path, source: Path) -> dict:
    """A report's card; `source` is the folder the published copy comes from (folder itself, or
    its public copy with small groups suppressed)."""
    results = read_json(source / RESULTS_FILE)
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
        "headline": main_finding(results),
        # A name may hold '#', '%', '?', spaces or any letter: the link is percent-encoded.
        "html": f"reports/{quote(name)}/{layout.HTML}",
        "pdf": f"reports/{quote(name)}/{layout.PDF}",
        "docx": f"reports/{quote(name)}/{layout.DOCX}",
    } | _level_card(results)


def _level_card(results) -> dict:
    """Several levels: the card counts the profiled (outermost) level's groups by its noun."""
    counted = group_profiles.level_count(results)
    if counted is None:
        return {}
    return {"n_groups": fmt.integer(counted[0]), "groups": counted[1]}


def build_site(
    configs: list[Path],
    output_root: Path = layout.DEFAULT_OUTPUT_ROOT,
    site_dir: Path = Path("_site"),
    render: bool = True,
    progress=print,
    title: str | None = None,
) -> Path:
    """Render what changed, then assemble `_site/`. `title` overrides `site: title:`."""
    site_dir = site_dir.resolve()
    if not configs:
        raise InputError("no configs to put on the site (report/configs/*.yml)")
    _check_names(configs)
    for config in configs:
        load_spec(config)  # every config is checked before anything is rendered
    settings, logo = site_settings(configs)
    if title is not None:
        settings = settings.model_copy(update={"title": title})
    check_site_dir(site_dir)
    sources = {}
    for config in configs:
        folder = layout.report_dir(output_root, config)
        if render:
            _render_if_changed(config, output_root, None, progress)
        sources[config] = _public_copy(config, folder, output_root, render, progress)
    with atomic.staging_dir(site_dir.parent, ".site-") as staging:
        cards = []
        for config in configs:
            folder = layout.report_dir(output_root, config)
            name = folder.name
            if not (folder / layout.HTML).is_file():
                raise InputError(f"no rendered report for {config} in {folder}")
            layout.check_owner(folder, config)  # never another config's report under this card
            source = sources[config]
            missing = [f for f in layout.REPORT_FILES if not (source / f).is_file()]
            if missing:  # rendered `--to` fewer formats, or a file deleted: the card links all
                raise InputError(
                    f"no {missing[0]} for {config} in {source}: render it with every format "
                    f"(`hlm-report render {config}`), or run `site` without --no-render"
                )
            target = staging / "reports" / name
            target.mkdir(parents=True)
            for file in layout.REPORT_FILES:
                shutil.copy2(source / file, target / file)
            page = target / layout.HTML
            page.write_text(
                with_site_nav(page.read_text(encoding="utf-8"), settings.title), encoding="utf-8"
            )
            card = _card(name, folder, source)
            # its group profiles (`hlm-report profiles`), when written from these results
            card["profiles"] = group_profiles.publish(
                folder, target, f"reports/{quote(name)}", progress
            )
            cards.append(card)
        context = {
            "site_title": settings.title,
            "site_description": settings.description,
            "logo": None,
            "cards": cards,
            "updated": dt.date.today().strftime("%-d %B %Y"),
        }
        if logo is not None:
            context["logo"] = f"logo{logo.suffix.lower()}"
            shutil.copyfile(logo, staging / context["logo"])
        if shutil.which("quarto"):
            built = _quarto_website(staging, context)
        else:
            index = narrative.environment().get_template("site_index.html.j2").render(**context)
            (staging / "index.html").write_text(index, encoding="utf-8")
            built = staging
        (built / ".nojekyll").write_text("")  # GitHub Pages: serve files as they are
        # what the tool wrote at the top, so that the next build knows what else is the user's
        wrote = sorted(entry.name for entry in os.scandir(built))
        reports = sorted(layout.report_dir(output_root, c).name for c in configs)
        record = {"tool": "hlm-report", "kind": "site", "wrote": wrote, "reports": reports}
        (built / layout.MARKER).write_text(json.dumps(record) + "\n")
        check_site_dir(site_dir)  # again: just before the swap
        _keep_user_files(site_dir, built, progress)
        # the scratch folder's 0700 would keep a web server running as another user out
        mask = os.umask(0)
        os.umask(mask)
        built.chmod(0o777 & ~mask)
        atomic.replace_dir(built, site_dir)
    progress(f"hlm-report: site with {len(configs)} report(s) in {site_dir}/")
    return site_dir


class SiteSettings(BaseModel):
    """`site:` in the project's _quarto.yml: what the index says about the whole site."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str = Field(default="Multilevel-model reports", min_length=1, max_length=120)
    description: str | None = Field(default=None, min_length=1, max_length=500)
    logo: Path | None = None  # an image file, relative to the project root


LOGO_TYPES = (".png", ".svg", ".jpg", ".jpeg", ".webp", ".gif")


def site_settings(configs: list[Path]) -> tuple[SiteSettings, Path | None]:
    """The `site:` mapping of the _quarto.yml of the configs' project (else of the working
    directory's), validated (exit 2 naming the key, with the nearest right one), and the logo
    file resolved from that project root."""
    root = project_root(configs[0].resolve().parent) or project_root(Path.cwd())
    if root is None:
        return SiteSettings(), None
    where = f"{shown(root / PROJECT_MARKER)}: site"
    try:
        raw = yaml_config.load(
            (root / PROJECT_MARKER).read_text(encoding="utf-8"), shown(root / PROJECT_MARKER)
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return SiteSettings(), None  # Quarto's own file: its problems are Quarto's to report
    given = raw.get("site") if isinstance(raw, dict) else None
    if given is None:
        return SiteSettings(), None
    if not isinstance(given, dict):
        raise InputError(f"{where}: expected a mapping of title, description, logo")
    try:
        settings = SiteSettings.model_validate(given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"])
            if error["type"] == "extra_forbidden":
                problems.append(
                    f"unknown key '{shown(key)}'" + did_you_mean(key, SiteSettings.model_fields)
                )
            else:
                problems.append(f"key '{shown(key)}': {shown(error['msg'])}")
        raise problems_error(where, problems) from None
    logo = None
    if settings.logo is not None:
        logo = settings.logo if settings.logo.is_absolute() else root / settings.logo
        if not logo.is_file():
            raise InputError(f"{where}.logo: no file {shown(logo)}")
        if logo.suffix.lower() not in LOGO_TYPES:
            raise InputError(
                f"{where}.logo: {shown(logo.name)} is not an image ({', '.join(LOGO_TYPES)})"
            )
    return settings, logo


def up_to_date(config: Path, folder: Path, overrides: dict | None = None) -> bool:
    """Whether the report in `folder` is what rendering `config` (with `overrides`) would give
    now: rendered from this config as it is (the marker's inputs), its fit reusable (the
    render's own key: config as parsed, data files, fitting code), every format there and
    newer than the code and templates that write reports."""
    spec = load_spec(config, overrides)
    record = layout.read_marker(folder)
    if not record or record.get("inputs") != layout.inputs_hash(spec.to_json()):
        return False
    if not cache.reusable(folder, cache.fit_key(spec)):
        return False
    files = [folder / name for name in layout.REPORT_FILES]
    if not all(f.is_file() for f in files):
        return False
    return min(f.stat().st_mtime_ns for f in files) > _report_code_time()


def _report_code_time() -> int:
    """The latest change to what turns results into a report (render/, present/, the report
    document and its templates): a report older than that is rendered again."""
    package = Path(__file__).resolve().parent.parent
    paths = [
        *(package / "render").rglob("*"),
        *(package / "present").rglob("*.py"),
        *resources.templates_dir().rglob("*"),
        resources.report_document(),
    ]
    return max((p.stat().st_mtime_ns for p in paths if p.is_file()), default=0)


def _render_if_changed(config: Path, output_root: Path, overrides: dict | None, progress) -> None:
    folder = layout.report_dir(output_root, config)
    if up_to_date(config, folder, overrides):
        progress(f"hlm-report: {config} unchanged since its report was rendered; kept")
        return
    render_report(config, output_root=output_root, progress=progress, overrides=overrides)


# Copies rendered for the public site, below the output root (a report name never starts with
# a dot, so no report folder can be this one).
PUBLIC_DIR = ".public"


def _public_copy(config: Path, folder: Path, output_root: Path, render: bool, progress) -> Path:
    """The folder whose report goes on the site: `folder` itself, or, when its report shows
    groups below the profiles' `min_size` (published profiles' threshold, at least
    `min_cell`), a copy rendered with `min_cell` raised to it, so the public site shows no
    per-group number of a group that small."""
    spec = load_spec(config)
    if not (folder / RESULTS_FILE).is_file():
        return folder  # build_site says there is no report
    results = read_json(folder / RESULTS_FILE)
    cut = max(spec.min_cell, spec.profiles.min_size)
    sizes = _group_sizes(results)
    if not any(spec.min_cell <= n < cut for n in sizes):
        return folder
    overrides = {"min_cell": cut}
    public_root = output_root / PUBLIC_DIR
    public = layout.report_dir(public_root, config)
    if render:
        _render_if_changed(config, public_root, overrides, progress)
    elif not up_to_date(config, public, overrides):
        raise InputError(
            f"{config}: its report shows groups of fewer than {cut} rows (profiles: min_size), "
            f"which the public site leaves out; run `hlm-report site` without --no-render to "
            "render the public copy"
        )
    return public


def _group_sizes(results) -> list[int]:
    """Rows per group at every level the report shows: with several levels a school of 8
    pupils in two classes of 4 is a group of 8 (its mean is in the schools' table and figures),
    while its classes, the cells, are of 4."""
    if not levels.multilevel(results):
        return [int(n) for n in results.data.groups.n]
    return [
        int(n)
        for column in levels.columns(results)
        for n in levels.group_summary(results, column).n
    ]


_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)
_NAV = """<style>
nav.hlm-site-nav {{ display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center;
  font-size: .92rem; padding: .5rem 0 .7rem; margin-bottom: 1rem; border-bottom: 1px solid #d9e2ec; }}
nav.hlm-site-nav a {{ color: #0b5cad; font-weight: 600; text-decoration: none; }}
nav.hlm-site-nav a:hover {{ text-decoration: underline; }}
nav.hlm-site-nav .home {{ margin-right: auto; }}
@media print {{ nav.hlm-site-nav {{ display: none; }} }}
</style>
<nav class="hlm-site-nav" aria-label="Site">
<a class="home" href="../../index.html">&larr; {title}</a>
<a href="{pdf}">PDF</a>
<a href="{docx}">Word</a>
</nav>
"""


def with_site_nav(page: str, site_title: str) -> str:
    """A published report page with a bar at its top: back to the site's index, and the same
    report as PDF and Word (the files beside it)."""
    nav = _NAV.format(title=html.escape(site_title), pdf=layout.PDF, docx=layout.DOCX)
    found = _BODY.search(page)
    if found is None:
        return page
    return page[: found.end()] + "\n" + nav + page[found.end() :]


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


# What a site built before its marker listed its files held at the top (the built-in page or
# Quarto's website, the logo aside).
_SITE_NAMES = {"index.html", "reports", ".nojekyll", "search.json", "site_libs", layout.MARKER}


def _keep_user_files(site_dir: Path, built: Path, progress) -> None:
    """What a user added to the site folder since it was built (a CNAME, robots.txt, a page of
    their own) is copied into the new site rather than deleted with the old one. Only names the
    tool never wrote there: a report taken off the site does not come back."""
    if not site_dir.is_dir():
        return
    # no marker: a site from before markers, which check_site_dir let through
    wrote = (layout.read_marker(site_dir) or {}).get("wrote")
    ours = set(wrote) if isinstance(wrote, list) else _SITE_NAMES
    try:
        names = sorted(entry.name for entry in os.scandir(site_dir))
    except OSError:
        return
    kept = [
        name
        for name in names
        if name not in ours | {layout.MARKER}
        and not (wrote is None and name.startswith("logo."))
        and not (built / name).exists()
    ]
    layout.carry_user_entries(site_dir, built, kept, progress)
    _keep_user_report_files(site_dir / "reports", built / "reports", progress)


def _keep_user_report_files(old: Path, new: Path, progress) -> None:
    """Inside reports/: a folder of the user's own, and what they added to a report's folder
    (a note beside report.html), carried like the top level's; a report taken off the site
    keeps what was added to it, alone. Both were deleted without a word."""
    if not old.is_dir() or old.is_symlink():
        return
    new.mkdir(exist_ok=True)
    listed = (layout.read_marker(old.parent) or {}).get("reports")
    try:
        entries = sorted(os.scandir(old), key=lambda e: e.name)
    except OSError:
        return
    # a site from before this record: a folder holding report.html is a report the tool wrote
    ours = (
        set(listed)
        if isinstance(listed, list)
        else {e.name for e in entries if (Path(e.path) / layout.HTML).is_file()}
    )
    layout.carry_user_entries(
        old,
        new,
        [e.name for e in entries if e.name not in ours and not (new / e.name).exists()],
        progress,
    )
    tool_files = {*layout.REPORT_FILES, group_profiles.FOLDER}
    for name in sorted(ours):
        folder = old / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        added = [
            e.name
            for e in os.scandir(folder)
            if e.name not in tool_files and not (new / name / e.name).exists()
        ]
        if added:
            (new / name).mkdir(exist_ok=True)
            layout.carry_user_entries(folder, new / name, sorted(added), progress)


def check_site_dir(site_dir: Path) -> None:
    """Refuse (exit 2) to replace a folder that is not a site the tool built: one with its
    marker, or from before markers (index.html and reports/ and nothing but what a site holds)."""
    if site_dir.is_symlink() or (site_dir.exists() and not site_dir.is_dir()):
        raise InputError(f"{site_dir} exists and is not a site folder; move it away")
    record = layout.read_marker(site_dir)
    if record and "config_id" in record:  # a report's marker, not a site's
        raise InputError(
            f"{site_dir} is a report folder (of {record.get('config', 'a config')}), not a "
            "site folder; it will not be replaced (build with another --site-dir)"
        )
    if not site_dir.exists() or record is not None:
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
        "website": {
            "title": context["site_title"],
            **({"description": context["site_description"]} if context["site_description"] else {}),
            **({"navbar": {"logo": context["logo"]}} if context["logo"] else {}),
        },
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
    local = "://" not in remote and not re.match(r"[^/\\]+:", remote)  # not host:path
    if local and not Path(remote).exists():
        # git would say only "does not appear to be a git repository": the path is the user's
        raise InputError(
            f"--remote {remote}: no such folder; create the repository with "
            f"`git init --bare {remote}`, or give the right path or URL"
        )
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
