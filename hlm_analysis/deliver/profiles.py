"""`hlm-report profiles CONFIG`: one HTML page and one PDF per group, and profiles/index.json.

Everything comes from the rendered report's results.json and rows.parquet (no refit, no data
read, no notebook kernel): the numbers from present/profiles.py, one figure drawn once and
re-saved per group with that group highlighted, the words from templates/profile_text.j2 set as
HTML (Jinja, autoescaped) and as Typst (Jinja, every value a Typst string literal) and typeset by
one Typst compiler that loads its fonts once. 160 profiles cost 160 figure saves and 160 Typst
compilations, nothing per group beyond that.

The folder is built beside the report and swapped in only when every file is written: a failed
run leaves the previous profiles as they were. Suppressed groups (fewer rows than min_size)
get an index entry with their id and `suppressed: true` only; no file names them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import textwrap
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from .. import atomic, layout, resources
from ..errors import InputError, ToolError
from ..present import fmt, fonts, lexicon
from ..present import profiles as facts
from ..render import TYPST_PAPER
from ..render.markdown import clean_text
from ..results import RESULTS_FILE, SAMPLE_FILE, Results, read_json
from ..spec import did_you_mean, load_spec

FOLDER = "profiles"
COMPILER_BATCH = 100
INDEX = "index.json"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Windows reserves these names for devices whatever the extension ("CON.html", "nul.x.pdf")
_DEVICE = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)


def file_stem(group_id: str, taken: set[str]) -> str:
    """A file name for a group: its id where that is plain (letters, digits, '.', '_', '-')
    and not a Windows device name, else a plain rendering plus a short hash of the id, so two
    ids never share a file and no id can name a path (no separator, no leading dot or dash)."""
    # no leading dot (a hidden file) or dash (read as an option by shell tools: `ls -dash.pdf`)
    plain = _SAFE.sub("_", group_id).lstrip("._-").rstrip("._")[:60]
    device = _DEVICE.fullmatch(plain)
    if device:  # "prn.x": the part before the first dot names the device
        plain = plain.replace(".", "_", 1)
    stem = plain if plain == group_id and plain and not device else None
    if stem is None or stem.lower() in taken:
        digest = hashlib.sha256(group_id.encode("utf-8")).hexdigest()[:8]
        stem = f"{plain or 'group'}-{digest}"
    taken.add(stem.lower())  # case-insensitive file systems (macOS, Windows)
    return stem


def _user_text(value) -> str:
    return fmt.breakable(fmt.bidi_safe(clean_text(str(value)).replace("\n", " ")))


def typst_string(value) -> str:
    """A Typst string literal holding `value` as plain text."""
    text = _user_text(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _typst_value(value):
    # `#("...");` is text whatever it holds; the `;` ends the expression, so a following "(" or
    # "[" or "." in the template cannot turn it into a call or a field access.
    if isinstance(value, Markup):
        return value
    return Markup(f"#({typst_string(value)});")


def _html_value(value):
    return value if isinstance(value, Markup) else escape(_user_text(value))


def _environment(finalize) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(resources.templates_dir())),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=True,  # macro output is Markup: escaped once, where the value enters
        finalize=finalize,
    )
    return env


def _rows(
    folder: Path, results: Results, level: facts.Level | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The sample rows' outcome and group id at the profiled level (a nested inner group's id
    holds its parents' ids, "S001 / 1", as the profiles name it), or None when the report has
    no row sample (or a yes/no outcome, whose distribution the profile states as a share)."""
    path = folder / SAMPLE_FILE
    spec = results.spec
    if results.final.is_binomial or not path.is_file():
        return None
    import pyarrow.parquet as pq

    if level is None or not level.multilevel:
        columns = [results.design.group]
    elif level.crossed:
        columns = [level.column]
    else:  # rows.parquet holds one column per level, ids as written
        columns = list(spec.levels[: level.position + 1])
    try:
        table = pq.read_table(path, columns=[spec.outcome, *columns])
    except Exception:  # noqa: BLE001 - an unreadable sample only costs the figure's right panel
        return None
    y = np.asarray(table.column(spec.outcome).to_numpy(zero_copy_only=False), dtype=float)
    parts = [
        np.asarray(table.column(c).cast("string").to_numpy(zero_copy_only=False)).astype(str)
        for c in columns
    ]
    g = parts[0]
    for part in parts[1:]:
        g = np.char.add(np.char.add(g, " / "), part)
    return y, g.astype(str)


def _figure_labels(words: lexicon.Lexicon, binomial: bool) -> dict[str, str]:
    return {
        "caterpillar_title": f"This {words.group.one} among all {words.group.many}",
        "caterpillar_x": f"{words.group.Many}, from lowest to highest estimate",
        "caterpillar_y": "Difference from the average" + (" (log-odds)" if binomial else ""),
        "hist_title": textwrap.shorten(words.outcome, 44, placeholder="\u2026"),
        "outcome": words.outcome,
        "all": f"all {words.unit.many}",
        "here": f"{words.unit.many} here",
    }


def write_profiles(
    config: Path,
    output_root: Path = layout.DEFAULT_OUTPUT_ROOT,
    progress: Callable[[str], None] = print,
) -> Path:
    """Write OUTPUT_ROOT/NAME/profiles/ for the rendered report of `config`; returns its path."""
    from ..present.profile_figure import ProfileFigure  # matplotlib: not for `email`

    started = time.perf_counter()
    spec = load_spec(config)
    folder = layout.report_dir(output_root, Path(config))
    if not (folder / RESULTS_FILE).is_file():
        raise InputError(
            f"no results to profile: {folder / RESULTS_FILE} is missing "
            f"(run `make report CONFIG={config}` first)"
        )
    layout.check_owner(folder, Path(config))
    results = read_json(folder / RESULTS_FILE)
    level = facts.profile_level(results, getattr(spec.profiles, "level", None))
    entries, settings = facts.index_entries(results, spec.profiles.min_size, level.column)
    check_stakeholder_groups(spec.stakeholders, entries, config, settings.get("level"))
    # which results these profiles show: `email` attaches them only to the same version
    settings["results_version"] = layout.report_version(folder / RESULTS_FILE)
    effects = level.effects
    words = facts.level_words(lexicon.build(results.spec, results.design), level)
    rows = _rows(folder, results, level)
    published = [e for e in entries if not e["suppressed"]]

    est = np.array([row[effects.terms.index(facts.INTERCEPT)] for row in effects.estimate])
    se = np.array([row[effects.terms.index(facts.INTERCEPT)] for row in effects.std_error])
    # only groups with a profile are drawn: the pages go on the public site, and a suppressed
    # group's interval (the widest, its few rows' scores) would be a number of that group
    shown = np.array([level.ids.index(e["id"]) for e in published], dtype=int)
    est, se = est[shown], se[shown]
    by_group = _split_rows(rows)
    figure = ProfileFigure(
        est,
        est - facts.Z95 * se,
        est + facts.Z95 * se,
        None if rows is None else rows[0],
        _figure_labels(words, results.final.is_binomial),
        # only published groups' rows set the common scale: a suppressed one leaves no trace
        [by_group[e["id"]] for e in published if e["id"] in by_group],
    )
    html_env = _environment(_html_value)
    typst_env = _environment(_typst_value)
    html_page = html_env.get_template("profile.html.j2")
    typst_page = typst_env.get_template("profile.typ.j2")
    font_setting = Markup(fonts.typst_font_setting())
    position = {e["id"]: j for j, e in enumerate(published)}
    drawn = fmt.integer(len(published)) if len(published) < len(entries) else ""

    with atomic.staging_dir(folder, ".profiles-") as scratch:
        built = scratch / FOLDER
        work = scratch / "work"
        built.mkdir()
        work.mkdir()
        compiler = None
        taken: set[str] = {INDEX.removesuffix(".json")}
        for count, entry in enumerate(published, 1):
            group = entry["id"]
            stem = file_stem(group, taken)
            p = facts.profile(
                results,
                entry,
                words,
                draws=settings["rank_draws"],
                has_rows=rows is not None,
                level=level,
                ranked=settings["n_ranked"],
            )
            p = replace(p, n_drawn=drawn)
            svg = figure.svg(position[group], by_group.get(group))
            (work / f"{stem}.svg").write_text(svg, encoding="utf-8")
            html = html_page.render(p=p, svg=Markup(svg))
            (built / f"{stem}.html").write_text(html, encoding="utf-8")
            typ = typst_page.render(
                p=p,
                figure=Markup(f"{stem}.svg"),
                # one panel (no rows to draw) at the width of one: full width made it a page
                figure_width=Markup("100%" if figure.hist_ax is not None else "62%"),
                font_setting=font_setting,
                paper=Markup(typst_string(TYPST_PAPER[spec.paper])),  # config paper:
                title_string=Markup(typst_string(f"{words.group.One} {group}")),
            )
            source = work / f"{stem}.typ"
            source.write_text(typ, encoding="utf-8")
            # a fresh compiler every COMPILER_BATCH pages: one keeps every figure it has read
            # (0.7 MB a page: 1,351 profiles peaked at 1.1 GB); starting one costs ~15 ms
            if compiler is None or count % COMPILER_BATCH == 0:
                compiler = None
                compiler = _compiler(source, work)
            _typeset(compiler, source, built / f"{stem}.pdf")
            entry["files"] = [f"{stem}.html", f"{stem}.pdf"]
            if count % 40 == 0:
                progress(f"  profiles: {count:,} of {len(published):,}")
        index = {**settings, "groups": entries}
        (built / INDEX).write_text(
            json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        final = folder / FOLDER
        atomic.replace_dir(built, final)
    suppressed = len(entries) - len(published)
    hidden = f"; {suppressed:,} suppressed (fewer than {settings['threshold']:,} rows)"
    progress(
        f"hlm-report: wrote {len(published):,} profiles to {final}"
        f"{hidden if suppressed else ''} in {time.perf_counter() - started:.1f} s"
    )
    return final


def group_title(results: Results, group: str) -> str:
    """'School S001': a profile's group named with its level's noun (the profiled level's, the
    outermost by default, not the innermost's)."""
    spec = results.spec
    level = facts.profile_level(results, getattr(spec.profiles, "level", None))
    words = facts.level_words(lexicon.build(spec, results.design), level)
    return f"{words.group.One} {group}"


def level_count(results: Results) -> tuple[int, str] | None:
    """Several levels: the profiled level's groups and their plural noun (100, "schools"), for
    a site card ("7,200 pupils in 100 schools": the cells' count under the innermost noun would
    misname the groups) and its profiles link; None with one level."""
    from ..present import levels

    if not levels.multilevel(results):
        return None
    spec = results.spec
    column = getattr(spec.profiles, "level", None) or levels.columns(results)[0]
    words = lexicon.build(spec, results.design)
    counts = {lv.name: lv.n_groups for lv in getattr(results.data, "levels", ()) or ()}
    if column not in counts:
        return None
    return counts[column], words.tier(column).noun.many


def check_stakeholder_groups(people, entries: list[dict], config, level: str | None = None) -> None:
    """A stakeholder's `group:` must name a group of the data (exit 2, one line); with several
    levels, a group of the profiled level (an inner group written with its parents' ids,
    "S001 / 1")."""
    known = {e["id"] for e in entries}
    for person in people:
        if person.group is not None and person.group not in known:
            where = (
                f"a group of the {level} level, which the profiles are for (profiles: "
                "{level: ...} chooses another; an inner group is written with its parents' "
                "ids, 'A / 1')"
                if level is not None
                else "a group of the data the model was fitted on"
            )
            # a group can be in the file and still not in the fit: its rows all dropped
            raise InputError(
                f"{config}: stakeholder {person.email}: group {person.group!r} is not "
                f"{where} ({len(known):,} groups; a group whose every row lacks the outcome or "
                f"a predictor is left out){did_you_mean(person.group, known)}"
            )


def attachments(folder: Path, people, version: str, config, report: Path, name: str) -> list:
    """Per person, the files their message carries: (path, file name) pairs. People with
    `group:` get that group's profile PDF (and the report with `report: true`); everyone else
    the report. Refused (exit 2) when a group is unknown, suppressed, or its profiles are
    missing or were written from other results than the report being sent."""
    grouped = [p for p in people if p.group is not None]
    if not grouped:
        return [[(report, f"{name}.pdf")] for _ in people]
    index_path = folder / FOLDER / INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(
            f"{config}: stakeholders with 'group:' need the group profiles; run "
            f"`make profiles CONFIG={config}` first"
        ) from None
    if index.get("results_version") != version:
        raise InputError(
            f"{index_path.parent} was written from other results than this report; run "
            f"`make profiles CONFIG={config}` again"
        )
    entries = {e["id"]: e for e in index.get("groups", [])}
    check_stakeholder_groups(grouped, list(entries.values()), config, index.get("level"))
    out = []
    for person in people:
        files = [(report, f"{name}.pdf")] if person.gets_report else []
        if person.group is not None:
            entry = entries[person.group]
            if entry["suppressed"]:
                raise InputError(
                    f"{config}: stakeholder {person.email}: group {person.group!r} has fewer "
                    f"than {index.get('threshold', index.get('min_size'))} rows and no profile "
                    "(profiles: min_size)"
                )
            pdf = next(f for f in entry["files"] if f.endswith(".pdf"))
            if not (folder / FOLDER / pdf).is_file():  # deleted, or a folder copied in part
                raise InputError(
                    f"{config}: stakeholder {person.email}: the profile {pdf} of group "
                    f"{person.group!r} is missing from {folder / FOLDER}; run `make profiles "
                    f"CONFIG={config}` again"
                )
            files.append((folder / FOLDER / pdf, f"{name}-{pdf}"))
        out.append(files)
    return out


def publish(folder: Path, target: Path, link_base: str, progress=print) -> str | None:
    """Copy a report's profiles onto the site (`target` = its folder there) with a page
    listing them; returns that page's link from the site root, or None when the report has no
    profiles or they were written from other results (said, and left off). index.json stays
    behind: it names the suppressed groups, which the site never does."""
    index_path = folder / FOLDER / INDEX
    if not index_path.is_file():
        return None
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        progress(f"  {index_path} is unreadable; profiles left off the site")
        return None
    if index.get("results_version") != layout.report_version(folder / RESULTS_FILE):
        progress(f"  {folder / FOLDER} is older than the report; run `profiles` again to publish")
        return None
    listed = [n for e in index["groups"] if not e["suppressed"] for n in e["files"]]
    gone = [n for n in listed if not (folder / FOLDER / n).is_file()]
    if gone:  # deleted, or a folder copied in part: a list page linking to nothing is worse
        progress(f"  {folder / FOLDER} is missing {gone[0]}; run `profiles` again to publish")
        return None
    results = read_json(folder / RESULTS_FILE)
    words = lexicon.build(results.spec, results.design)
    if index.get("level"):  # several levels: the profiled level's noun, not the innermost's
        words = facts.level_words(words, facts.profile_level(results, index["level"]))
    (target / FOLDER).mkdir(parents=True)
    links = []
    for entry in sorted(index["groups"], key=lambda e: e["id"]):
        if entry["suppressed"] or not entry["files"]:
            continue
        for name in entry["files"]:
            shutil.copy2(folder / FOLDER / name, target / FOLDER / name)
        html, pdf = entry["files"]
        links.append({"id": entry["id"], "html": quote(html), "pdf": quote(pdf)})
    page = _environment(_html_value).get_template("profile_list.html.j2")
    text = page.render(
        words=words,
        title=results.spec.title,
        report=Markup(quote(layout.HTML)),
        threshold=index.get("threshold", index.get("min_size")),
        links=links,
    )
    (target / FOLDER / "index.html").write_text(text, encoding="utf-8")
    return f"{link_base}/{FOLDER}/index.html"


def _split_rows(rows) -> dict[str, np.ndarray]:
    if rows is None:
        return {}
    y, g = rows
    order = np.argsort(g, kind="stable")
    ids, starts = np.unique(g[order], return_index=True)
    parts = np.split(y[order], starts[1:])
    return dict(zip(ids.tolist(), parts, strict=True))


def _compiler(source: Path, root: Path):
    import typst

    try:
        return typst.Compiler(str(source), root=str(root), font_paths=list(fonts.font_dirs()))
    except Exception as exc:  # noqa: BLE001 - typst raises its own error types
        raise ToolError(f"Typst could not start: {_first_line(exc)}") from None


def _typeset(compiler, source: Path, out: Path) -> None:
    from ..render import source_date_epoch  # a fixed stamp: the same profile, the same bytes

    try:
        compiler.compile(input=str(source), output=str(out), timestamp=source_date_epoch())
    except Exception as exc:  # noqa: BLE001
        raise ToolError(f"Typst: profile {out.name} failed: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
