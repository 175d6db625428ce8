"""Verifier's findings on profiles and the analyst's workflow (issues 23 and 24): each test failed
before its fix. The data are made here, so each case says what it is about."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from deliver.mailserver import mark_rendered
from helpers import fit, write_config

from hlm_analysis import cli


def _school_data(
    root, groups: int, size: int, intercept_sd: float, slope_sd: float, seed: int = 3
) -> object:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(groups):
        x = rng.normal(0, 1, size)
        u0, u1 = rng.normal(0, intercept_sd), rng.normal(0, slope_sd)
        y = 50 + (2 + u1) * x + u0 + rng.normal(0, 5, size)
        frames.append(pd.DataFrame({"school": f"S{k:03d}", "ses": x, "score": y}))
    path = root / "scores.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def _profiles(tmp_path, **data) -> tuple[dict[str, str], object]:
    """Fit and profile a synthetic district; each profile's HTML as plain text, and the fit."""
    data_path = _school_data(tmp_path, **data)
    config = write_config(
        tmp_path,
        "district",
        data=data_path,
        outcome="score",
        predictors=["ses"],
        group="school",
        random_slopes=["ses"],
        unit="student",
        group_noun="school",
    )
    folder = tmp_path / "_output" / "district"
    results = fit(config, folder)
    mark_rendered(folder, config)
    assert cli.main(["profiles", str(config), "--output-root", str(tmp_path / "_output")]) == 0
    pages = {}
    for page in (folder / "profiles").glob("*.html"):
        text = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", page.read_text(), flags=re.S)
        pages[page.stem] = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return pages, results


def test_a_slope_without_evidence_of_varying_is_not_said_to_differ(tmp_path):
    """The report says "no clear evidence that it varies" (component test p = .94); every profile
    said "The link between ses and score differs between schools" all the same."""
    pages, results = _profiles(tmp_path, groups=40, size=20, intercept_sd=3.0, slope_sd=0.0, seed=7)
    (test,) = [t for t in results.component_tests if t.term == "ses"]
    assert test.p_value > 0.05  # the premise: no evidence the slope varies
    for text in pages.values():
        assert "differs between schools. Here" not in text
        assert "no clear evidence" in text


def test_a_slope_that_varies_is_said_to_differ(tmp_path):
    pages, results = _profiles(tmp_path, groups=40, size=30, intercept_sd=3.0, slope_sd=2.0, seed=4)
    (test,) = [t for t in results.component_tests if t.term == "ses"]
    assert test.p_value < 0.05
    for text in pages.values():
        assert "The link between ses and score differs between schools." in text


def test_no_rank_is_stated_where_reliability_is_too_low(tmp_path):
    """Average reliability below .7 (the report: rankings uncertain; several levels: "Do not
    rank individual classes"): a profile gave its point rank all the same ("it would rank 316
    of 600 classes"). The rank interval stays; the point rank goes."""
    pages, results = _profiles(tmp_path, groups=40, size=10, intercept_sd=1.0, slope_sd=0.0, seed=3)
    assert results.final.reliability["(Intercept)"] < 0.7
    for text in pages.values():
        assert "it would rank" not in text
        assert "too imprecise to rank" in text
        assert "could plausibly be anywhere from" in text


def test_a_rank_is_stated_where_reliability_allows(tmp_path):
    pages, results = _profiles(tmp_path, groups=40, size=30, intercept_sd=4.0, slope_sd=0.0, seed=6)
    assert results.final.reliability["(Intercept)"] >= 0.7
    for text in pages.values():
        assert "it would rank" in text
        assert "too imprecise to rank" not in text


def test_profile_file_names_avoid_windows_device_names():
    """A school 'CON' or 'nul' got CON.html / nul.pdf: on Windows those name devices (with any
    extension), so a district copying the folder there lost the page or hung the copy."""
    from hlm_analysis.deliver.profiles import file_stem

    taken: set[str] = set()
    ids = ["CON", "nul", "Aux", "com1", "LPT9", "prn.x", "CONSOLE", "S001"]
    stems = {g: file_stem(g, taken) for g in ids}
    devices = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.I)
    assert not [s for s in stems.values() if devices.fullmatch(s)]
    assert stems["CONSOLE"] == "CONSOLE" and stems["S001"] == "S001"  # plain ids stay as they are
    assert len({s.lower() for s in stems.values()}) == len(ids)


def test_a_stakeholder_group_left_out_of_the_fit_is_named_as_such():
    """A principal of a school whose every row lacks the outcome was told its group "is not a
    group of the data" (it is; the fit dropped its rows), and 'ONE' for 'one' got no hint."""
    from types import SimpleNamespace

    from hlm_analysis.deliver.profiles import check_stakeholder_groups
    from hlm_analysis.errors import InputError

    entries = [{"id": "one"}, {"id": "S001"}]
    for group, says in [
        ("allmiss", "every row lacks the outcome or a predictor"),
        ("ONE", "did you mean 'one'?"),
    ]:
        person = SimpleNamespace(group=group, email="p@x.org")
        with pytest.raises(InputError, match=re.escape(says)):
            check_stakeholder_groups([person], entries, "d.yml")


# --- init and the reader on odd files --------------------------------------------------------


def test_a_semicolon_file_is_named_as_such(tmp_path, capsys):
    """A ';'-separated export (Excel in much of Europe) read as one column: init said "has no
    rows or fewer than two columns" and render "column 'score' not found (columns:
    school;score;ses)", neither naming the separator."""
    data = tmp_path / "semi.csv"
    data.write_text("school;score;ses\nA;1,5;2\nA;2,5;3\nB;3;1\nB;4;2\n", encoding="utf-8")
    assert cli.main(["init", str(data), "--output", str(tmp_path / "semi.yml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "separated by ';'" in err
    config = write_config(
        tmp_path, "semi", data=data, outcome="score", predictors=["ses"], group="school"
    )
    assert cli.main(["fit", str(config), "--out", str(tmp_path / "fit")]) == 2
    err = capsys.readouterr().err
    assert "separated by ';'" in err and "Traceback" not in err


def test_init_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    """`init DIR` said "data file not found: DIR" of a folder that is there."""
    assert cli.main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not found" not in err and "folder" in err


# --- export: no cell of an exported table may become a live formula ----------------------------

FORMULA_IDS = ["=SUM(A1)", "+1", "@x", "-2+3", '=HYPERLINK("http://x")', "S001", "학교"]


def test_exported_csv_cells_never_start_a_formula(tmp_path):
    """Group ids '=SUM(A1)', '+1', '@x', '-2+3' went into group_effects.csv as written: a
    spreadsheet opening the CSV runs them as formulas (CSV injection). Text cells that start
    with = + - @ (or a tab / carriage return) now carry a leading apostrophe, as OWASP advises;
    numbers are untouched."""
    import csv

    from hlm_analysis import export

    rng = np.random.default_rng(11)
    frames = []
    for k, school in enumerate(FORMULA_IDS * 3):
        x = rng.normal(0, 1, 12)
        y = 50 + 2 * x + rng.normal(0, 2) + rng.normal(0, 3, 12)
        frames.append(
            pd.DataFrame({"school": f"{school}{k // len(FORMULA_IDS) or ''}", "x": x, "y": y})
        )
    pd.concat(frames).to_csv(tmp_path / "d.csv", index=False)
    config = write_config(
        tmp_path, "inj", data=tmp_path / "d.csv", outcome="y", predictors=["x"], group="school"
    )
    results = fit(config, tmp_path / "out")
    (path,) = [p for p in export.write(results, tmp_path / "t", "csv") if p.stem == "group_effects"]
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    cells = [c for row in rows[1:] for c in row]
    assert "'=SUM(A1)" in cells and "'-2+3" in cells and "학교" in cells  # kept, made inert
    for cell in cells:
        try:
            float(cell)
            continue  # a number, negative ones included
        except ValueError:
            assert not cell or cell[0] not in "=+-@\t\r", cell
    # the workbook keeps the ids exactly, as text cells (never formulas)
    from openpyxl import load_workbook

    (book,) = export.write(results, tmp_path / "x", "xlsx")
    sheet = load_workbook(book)["group_effects"]
    ids = {row[0].value for row in sheet.iter_rows(min_row=2)}
    assert "=SUM(A1)" in ids and all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


# --- render's fit reuse ---------------------------------------------------------------------


def test_a_data_edit_that_keeps_size_and_time_is_not_reused(tmp_path):
    """The fit key read only each data file's name, size and modification time: one digit
    changed (53.067 -> 93.067) in a save that kept the size and the time stamp (a file system
    with whole-second or 2-second times, `cp -p`, an archive) reused the old fit, and the report
    showed numbers of data that were no longer there."""
    import os

    from hlm_analysis.render.cache import fit_key
    from hlm_analysis.spec import load_spec

    data = tmp_path / "d.csv"
    data.write_bytes(b"school,x,y\nA,1,53.067\nA,2,50.1\nB,1,40.2\nB,3,41.0\n")
    config = write_config(tmp_path, "c", data=data, outcome="y", predictors=["x"], group="school")
    before = fit_key(load_spec(config))
    stamp = os.stat(data)
    data.write_bytes(data.read_bytes().replace(b"53.067", b"93.067"))
    os.utime(data, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(data).st_size == stamp.st_size
    assert fit_key(load_spec(config)) != before
    assert fit_key(load_spec(config)) == fit_key(load_spec(config))  # unchanged: the same key


# --- broken tools: exit 3 and one line --------------------------------------------------------


def test_no_pandoc_is_a_tool_error_not_a_bug(tmp_path, monkeypatch):
    """pypandoc without its binary (or PYPANDOC_PANDOC naming none) raises OSError "No pandoc
    was found": render said "internal error (a bug)", exit 1, and wrote error.log."""
    import pypandoc

    from hlm_analysis.errors import ToolError
    from hlm_analysis.render import pandoc

    def missing(*args, **kwargs):
        raise OSError("No pandoc was found: either install pandoc and add it\nto your PATH")

    monkeypatch.setattr(pypandoc, "convert_text", missing)
    source = tmp_path / "report.md"
    source.write_text("# Title\n\ntext\n", encoding="utf-8")
    with pytest.raises(
        ToolError, match=r"^pandoc could not write report.docx: No pandoc was found"
    ):
        pandoc.to_docx(source, tmp_path / "report.docx", {})


def test_an_output_folder_that_cannot_be_made_is_bad_input(tmp_path, capsys):
    """`render --output-root /proc/x` (a file system where no folder can be made) was
    "internal error (a bug): FileNotFoundError", exit 1; `site --site-dir /proc/y` too."""
    config = write_config(
        tmp_path,
        "c",
        data=_school_data(tmp_path, groups=5, size=4, intercept_sd=1.0, slope_sd=0.0),
        outcome="score",
        predictors=["ses"],
        group="school",
    )
    for args in (
        ["render", str(config), "--to", "html", "--output-root", "/proc/hlm-verify"],
        ["site", "--site-dir", "/proc/hlm-verify", "--no-render", str(config)],
    ):
        assert cli.main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "cannot write to /proc" in err, err


# --- profiles with a random slope on a variable far from zero ---------------------------------


def test_no_verdict_or_rank_from_an_intercept_far_outside_the_data(tmp_path):
    """Ages 15-18 with a random slope of age: each school's intercept effect is its difference
    at age 0. School S26 (raw mean 54.0 against 50.0, +3.5 at the average age) was told it
    "differs by -39.58 ... is below similar schools" and ranked 38 of 40; 11 of 40 schools got a
    verdict of the wrong sign for every age in the data."""
    rng = np.random.default_rng(2)
    frames = []
    for k in range(40):
        age = rng.uniform(15, 18, 30)
        u0, u1 = rng.normal(0, 2), rng.normal(0, 1.5)
        y = 50 + u0 + (1 + u1) * (age - 16.5) + rng.normal(0, 2, 30)
        frames.append(pd.DataFrame({"school": f"S{k:02d}", "age": age.round(2), "score": y}))
    pd.concat(frames).to_csv(tmp_path / "age.csv", index=False)
    config = write_config(
        tmp_path,
        "age",
        data=tmp_path / "age.csv",
        outcome="score",
        predictors=["age"],
        group="school",
        random_slopes=["age"],
        unit="student",
        group_noun="school",
    )
    folder = tmp_path / "_output" / "age"
    results = fit(config, folder)
    assert results.final_model.value == "random_slope"
    mark_rendered(folder, config)
    assert cli.main(["profiles", str(config), "--output-root", str(tmp_path / "_output")]) == 0
    for page in (folder / "profiles").glob("*.html"):
        text = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", page.read_text(), flags=re.S)
        text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
        assert "similar schools." not in text  # no "above / below similar schools"
        assert "it would rank" not in text
        assert "where age is 0" in text and "None of the data lie at age 0" in text


def test_the_intercept_difference_names_where_it_holds_with_a_random_slope(tmp_path):
    """With a random slope a school's difference changes with the slope's variable; the page
    said "differs by +7.94" as if it held for every student. It holds where ses is 0."""
    pages, results = _profiles(tmp_path, groups=40, size=30, intercept_sd=3.0, slope_sd=2.0, seed=4)
    assert results.final_model.value == "random_slope"
    for text in pages.values():
        assert re.search(r"score here \(where ses is 0\) differs by", text), text[:600]
        assert "None of the data lie" not in text  # ses is centred near 0: a verdict may be given


def test_suppressed_groups_leave_no_mark_in_other_profiles_figure(tmp_path, monkeypatch):
    """Every profile's figure drew every group's interval, unnamed, those below min_size too, and
    the profiles go on the public site: a one-pupil school's effect (about that pupil's score),
    recognisable as the widest interval. The public report leaves such groups out of its
    figures; the profiles now draw only the groups that have a profile, and say so."""
    from hlm_analysis.present import profile_figure

    drawn = []

    class Recording(profile_figure.ProfileFigure):
        def __init__(self, estimate, *args, **kwargs):
            drawn.append(len(estimate))
            super().__init__(estimate, *args, **kwargs)

    monkeypatch.setattr(profile_figure, "ProfileFigure", Recording)
    rng = np.random.default_rng(12)
    frames = []
    for k in range(24):
        n = 3 if k < 4 else 20  # four schools below min_size
        x = rng.normal(0, 1, n)
        y = 50 + 2 * x + rng.normal(0, 3) + rng.normal(0, 3, n)
        frames.append(pd.DataFrame({"school": f"S{k:02d}", "x": x, "y": y}))
    pd.concat(frames).to_csv(tmp_path / "d.csv", index=False)
    config = write_config(
        tmp_path,
        "small",
        data=tmp_path / "d.csv",
        outcome="y",
        predictors=["x"],
        group="school",
        group_noun="school",
        min_cell=2,
    )
    folder = tmp_path / "_output" / "small"
    fit(config, folder)
    mark_rendered(folder, config)
    assert cli.main(["profiles", str(config), "--output-root", str(tmp_path / "_output")]) == 0
    assert drawn == [20]
    text = (folder / "profiles" / "S10.html").read_text()
    assert "each of the 20 schools with a profile" in " ".join(text.split())


def test_an_interval_above_zero_never_prints_a_zero_bound():
    """An interval of 0.004 to 4.2 printed as "0.00 to 4.20" beside "The whole interval lies
    above 0": the bound is written with the digits that show it is not 0 (odds ratios too)."""
    from helpers import fixture_results

    from hlm_analysis.present import profiles as facts

    for name in ("schools", "graduation"):
        results = fixture_results(name)
        entries, _ = facts.index_entries(results, 1)
        entry = {**entries[0], "estimate": 0.5, "ci_low": 0.004, "ci_high": 1.0}
        p = facts.profile(results, entry)
        assert p.verdict == "above"
        shown = float(p.ci_low.replace("\u2212", "-"))
        assert shown != (1.0 if p.binomial else 0.0), p.ci_low
        entry = {**entries[0], "estimate": -0.5, "ci_low": -1.0, "ci_high": -0.003}
        p = facts.profile(results, entry)
        assert p.verdict == "below"
        assert float(p.ci_high.replace("\u2212", "-")) != (1.0 if p.binomial else 0.0), p.ci_high


def test_no_profile_file_name_starts_with_a_dash():
    """Schools '-dash' and '-2+3' got '-dash.pdf' and '-2_3-c219381f.html': shell tools read
    such a name as an option (`ls *.pdf`, `tail`, `lp`), so the district's own scripts over
    the folder broke on them."""
    from hlm_analysis.deliver.profiles import file_stem

    taken: set[str] = set()
    stems = [file_stem(g, taken) for g in ["-dash", "-2+3", "--help", "-", "a-b", "S-1"]]
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", s) for s in stems), stems
    assert stems[-2:] == ["a-b", "S-1"]  # a dash inside an id stays
    assert len({s.lower() for s in stems}) == len(stems)


def test_init_keeps_a_header_with_a_line_break_inside_its_comments(tmp_path, capsys):
    """A header "multi<newline>line" (a spreadsheet cell with Alt+Enter) broke out of its
    '#   name: number' comment line: init failed "unknown key 'line'" naming its own scratch
    file, and a header "x<newline>title: pwned" set the draft's title."""
    import yaml

    from hlm_analysis.spec import load_spec

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "school": [f"S{k % 6}" for k in range(60)],
            "score": rng.normal(50, 5, 60),
            "multi\nline": rng.random(60),
            "x\ntitle: pwned": rng.random(60),
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "d.yml"
    assert cli.main(["init", str(tmp_path / "d.csv"), "--output", str(out)]) == 0, (
        capsys.readouterr().err
    )
    config = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert config["title"] != "pwned" and "pwned" not in str(config.get("unit"))
    assert "multi\nline" in config["predictors"] and "x\ntitle: pwned" in config["predictors"]
    load_spec(out)  # the draft is a valid config


# --- the command line's own streams --------------------------------------------------------


def test_a_closed_progress_stream_does_not_stop_the_work(tmp_path, monkeypatch):
    """`hlm-report render x.yml 2>&1 | head -n 1`: once head closed the pipe, the next progress
    line raised BrokenPipeError and the render stopped, "internal error (a bug)", exit 1.
    Progress is for the reader; a reader who left does not stop the work."""
    import sys

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    config = write_config(
        tmp_path,
        "c",
        data=_school_data(tmp_path, groups=12, size=8, intercept_sd=2.0, slope_sd=0.0),
        outcome="score",
        predictors=["ses"],
        group="school",
    )
    monkeypatch.setattr(sys, "stderr", Closed())
    assert cli.main(["fit", str(config), "--out", str(tmp_path / "fit")]) == 0
    assert (tmp_path / "fit" / "results.json").is_file()


def test_schema_to_a_full_device_is_not_a_bug(monkeypatch, capsys):
    """`hlm-report schema > /dev/full`: "internal error (a bug): OSError: No space left on
    device", exit 1, and an _output/error.log made in the working folder for it."""
    import errno
    import sys

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    assert cli.main(["schema"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "No space left on device" in err


def test_preview_on_a_busy_port_stops_before_rendering(tmp_path):
    """`preview --port N` with N taken rendered the whole report first (12 s on hsb2 here), then
    said "Address already in use"."""
    import socket

    from hlm_analysis import preview
    from hlm_analysis.errors import InputError

    rendered = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match="cannot listen"):
            preview.preview(
                tmp_path / "c.yml",
                output_root=tmp_path / "_output",
                port=port,
                progress=lambda m: None,
                render=lambda *a, **k: rendered.append(1),
            )
    assert rendered == []


def test_no_pandoc_while_assembling_tables_is_a_tool_error(monkeypatch):
    """The built-in engine turns a cell's HTML table into markdown with pypandoc as well; without
    a pandoc binary that OSError was "internal error (a bug)", exit 1."""
    import pypandoc

    from hlm_analysis.errors import ToolError
    from hlm_analysis.render import markdown

    def missing(*args, **kwargs):
        raise OSError("No pandoc was found: either install pandoc and add it\nto your PATH")

    monkeypatch.setattr(pypandoc, "convert_text", missing)
    with pytest.raises(ToolError, match=r"^pandoc could not convert a table: No pandoc was found"):
        markdown._html_table("<table><tr><td>1</td></tr></table>")


def test_a_damaged_results_file_is_fitted_again_not_reused(tmp_path, monkeypatch):
    """results.json cut short beside the outputs (a full disk while someone copied the folder
    back, an editor) with the fit key unchanged: render reused it and stopped, exit 2, "results
    file .../.NAME.building-.../out/results.json is not valid JSON", naming a scratch folder.
    The key now records the bytes it was written with; anything else is fitted again."""
    from hlm_analysis import layout
    from hlm_analysis.render import cache

    monkeypatch.setattr(layout, "read_marker", lambda final: {"config": "c.yml"})
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "results.json").write_text('{"a": 1}', encoding="utf-8")
    (folder / "rows.parquet").write_bytes(b"PAR1")
    cache.record(folder, "k" * 64)
    assert cache.reusable(folder, "k" * 64)
    (folder / "results.json").write_text('{"a": ', encoding="utf-8")  # cut short
    assert not cache.reusable(folder, "k" * 64)


def test_a_school_level_predictor_is_not_said_of_the_students():
    """Graduation's profiles said "an average school whose students are alike in Mentoring
    programme, Free lunch and Days absent": the programme is the school's, not its students'."""
    from helpers import fixture_results

    from hlm_analysis.deliver.profiles import _environment, _html_value
    from hlm_analysis.present import profiles as facts

    results = fixture_results("graduation")
    entries, _ = facts.index_entries(results, 1)
    p = facts.profile(results, entries[0])
    assert p.adjusted_group == "Mentoring programme"
    assert p.adjusted_for == "Free lunch and Days absent"
    macros = _environment(_html_value).get_template("profile_text.j2").module
    text = " ".join(str(macros.difference(p)).split())
    assert text.startswith(
        "Compared with an average school like this one in Mentoring programme, "
        "whose students are alike in Free lunch and Days absent, the odds here"
    ), text
