"""The analyst's workflow (issue 24): --version, schema, render --to / -P / caching."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from importlib.metadata import version

import jsonschema
import pytest
from helpers import FIXTURES

from hlm_analysis.cli import main
from hlm_analysis.results import from_dict
from hlm_analysis.schema import results_schema

FIXTURE_RESULTS = sorted(FIXTURES.glob("*/results.json"))


def test_version_is_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"hlm-report {version('hlm-report')}"


def test_schema_command_prints_a_valid_draft_2020_12_schema():
    proc = subprocess.run(
        [sys.executable, "-m", "hlm_analysis", "schema"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == results_schema()


@pytest.mark.parametrize("path", FIXTURE_RESULTS, ids=lambda p: p.parent.name)
def test_every_shipped_results_json_satisfies_the_schema(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(results_schema()).validate(raw)


def _breakages(raw: dict):
    """Changes that break the contract: the schema must refuse each of them."""
    model = next(iter(raw["models"]))
    yield "unknown top-level key", lambda r: r.update(extra=1)
    yield "missing required key", lambda r: r.pop("final_model")
    yield "wrong schema_version", lambda r: r.update(schema_version=r["schema_version"] + 1)
    yield "unknown model name", lambda r: r["models"].update(not_a_model=r["models"][model])
    yield (
        "unknown key in a fixed effect",
        lambda r: r["models"][model]["fixed_effects"][0].update(zz=1),
    )
    yield (
        "text where a number goes",
        lambda r: r["models"][model]["fixed_effects"][0].update(estimate="1.0"),
    )
    yield "unknown config key", lambda r: r["spec"].update(not_a_key=1)


@pytest.mark.parametrize("path", FIXTURE_RESULTS[:1], ids=lambda p: p.parent.name)
def test_schema_refuses_what_the_reader_refuses(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(results_schema())
    for label, breakage in _breakages(raw):
        broken = copy.deepcopy(raw)
        breakage(broken)
        assert not validator.is_valid(broken), label
    from_dict(raw)  # and the unbroken file is what the reader accepts


def test_schema_names_every_field_of_every_results_dataclass():
    from dataclasses import fields, is_dataclass

    from hlm_analysis import results

    schema = results_schema()
    for name in dir(results):
        cls = getattr(results, name)
        if isinstance(cls, type) and is_dataclass(cls) and cls.__module__ == results.__name__:
            block = schema if cls is results.Results else schema["$defs"].get(cls.__name__)
            if block is None:
                continue  # a helper dataclass results.json does not hold
            assert set(block["properties"]) == {f.name for f in fields(cls)}, name


# ---------------------------------------------------------------------------------------------
# render --to / -P / the reused fit. The fit and the document are stand-ins that count their
# calls and write what they were given (one real render is at the end).


@pytest.fixture
def stand_ins(monkeypatch):
    import hlm_analysis.model.analysis as analysis
    import hlm_analysis.render as render

    calls = {"fit": 0, "document": 0, "titles": []}

    def fake_analysis(spec, out, progress, prepared):
        calls["fit"] += 1
        payload = {"spec": {"title": spec.title}, "fit": calls["fit"]}
        (out / "results.json").write_text(json.dumps(payload))
        (out / "rows.parquet").write_text("rows")

    def fake_document(config, spec, work, out, steps):
        calls["document"] += 1
        calls["titles"].append(spec.title)
        for name in steps.wanted:
            (out / name).write_text(f"{name} #{calls['document']}")

    monkeypatch.setattr(analysis, "validated", lambda spec: None)
    monkeypatch.setattr(analysis, "run_analysis", fake_analysis)
    monkeypatch.setattr(render, "_builtin", fake_document)
    return calls


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A config beside its data, rendered into tmp_path/out."""
    import pandas as pd
    from helpers import REFERENCE

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data.csv"
    pd.read_csv(REFERENCE / "hsb2.csv").to_csv(data, index=False)
    config = tmp_path / "hsb2.yml"
    config.write_text(
        "title: Writing\ndata: data.csv\noutcome: write\npredictors: [read, math]\n"
        "group: ses\nlabels: {write: Writing score}\n"
    )
    return config, data, tmp_path / "out"


def _render(capsys, config, root, *flags):
    code = main(["render", str(config), "--output-root", str(root), "--engine", "builtin", *flags])
    return code, capsys.readouterr().err.strip().splitlines()


def _contents(folder):
    return {p.name: p.read_text() for p in folder.iterdir() if p.is_file()}


REUSED = "hlm-report: reused results (config and data unchanged)"


def test_unchanged_config_and_data_reuse_the_fit_and_refit_forces_one(stand_ins, project, capsys):
    config, data, root = project
    assert _render(capsys, config, root)[0] == 0
    code, err = _render(capsys, config, root)
    assert code == 0 and REUSED in err and stand_ins["fit"] == 1
    assert json.loads((root / "hsb2" / "results.json").read_text())["fit"] == 1
    # a stakeholder added changes no number: results.json holds none of them
    config.write_text(config.read_text() + "stakeholders: [{name: A, email: a@b.org}]\n")
    code, err = _render(capsys, config, root)
    assert code == 0 and REUSED in err and stand_ins["fit"] == 1
    code, err = _render(capsys, config, root, "--refit")
    assert code == 0 and REUSED not in err and stand_ins["fit"] == 2


@pytest.mark.parametrize(
    "change",
    [
        "config edited",
        "data edited (same size)",
        "data touched",
        "-P override",
        "fit output missing",
    ],
)
def test_any_change_to_what_the_fit_reads_refits(stand_ins, project, capsys, change):
    import os

    config, data, root = project
    assert _render(capsys, config, root)[0] == 0
    flags = []
    if change == "config edited":
        config.write_text(config.read_text().replace("[read, math]", "[math, read]"))
    elif change == "data edited (same size)":
        text = data.read_text()
        data.write_text(text.replace("57", "58", 1))
        os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 10**9))
    elif change == "data touched":
        os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 10**9))
    elif change == "-P override":
        flags = ["-P", "title=Another title"]
    else:
        (root / "hsb2" / "rows.parquet").unlink()
    code, err = _render(capsys, config, root, *flags)
    assert code == 0, err
    assert REUSED not in err and stand_ins["fit"] == 2


def test_to_writes_only_the_formats_asked_for_and_keeps_the_others(stand_ins, project, capsys):
    config, data, root = project
    assert _render(capsys, config, root)[0] == 0
    before = _contents(root / "hsb2")
    code, err = _render(capsys, config, root, "--to", "html")
    assert code == 0, err
    after = _contents(root / "hsb2")
    assert after["report.html"] == "report.html #2"
    # the fit was reused, so the PDF and Word files still show these results: kept as they were
    assert after["report.pdf"] == before["report.pdf"] == "report.pdf #1"
    assert after["report.docx"] == before["report.docx"]
    code, err = _render(capsys, config, root, "--to", "pdf,docx")
    assert code == 0, err
    after = _contents(root / "hsb2")
    assert (after["report.pdf"], after["report.docx"]) == ("report.pdf #3", "report.docx #3")
    assert after["report.html"] == "report.html #2"


def test_to_leaves_out_formats_that_show_other_results(stand_ins, project, capsys):
    config, data, root = project
    assert _render(capsys, config, root)[0] == 0
    code, err = _render(capsys, config, root, "--to", "html", "--refit")
    assert code == 0, err
    names = set(_contents(root / "hsb2"))
    assert "report.html" in names and not names & {"report.pdf", "report.docx"}
    assert any("report.pdf, report.docx left out: the results changed" in line for line in err)


def test_first_render_with_to_writes_that_format_alone(stand_ins, project, capsys):
    config, data, root = project
    code, err = _render(capsys, config, root, "--to", "docx")
    assert code == 0, err
    assert set(_contents(root / "hsb2")) >= {"report.docx", "results.json", "rows.parquet"}
    assert not {"report.html", "report.pdf"} & set(_contents(root / "hsb2"))


def test_p_overrides_reach_the_report_and_merge_into_mappings(stand_ins, project, capsys):
    config, data, root = project
    code, err = _render(
        capsys, config, root, "-P", "title=Scores: a draft", "-P", "labels.read=Reading"
    )
    assert code == 0, err
    assert stand_ins["titles"] == ["Scores: a draft"]
    results = json.loads((root / "hsb2" / "results.json").read_text())
    assert results["spec"]["title"] == "Scores: a draft"


def test_p_values_are_read_as_the_config_file_reads_them():
    from hlm_analysis import overrides

    parsed = overrides.parse(["predictors=[read, math]", "nagq=3", "labels.read=010", "event=yes"])
    assert parsed == {
        "predictors": ["read", "math"],
        "nagq": 3,
        "labels": {"read": "010"},  # names and text stay as written, as in the file
        "event": "yes",
    }


BAD_P = [
    (["--to", "odt"], "--to odt: formats are html, docx, pdf"),
    (["--to", "html,pfd"], "--to pfd"),
    (["-P", "title"], "write key=value"),
    (["-P", "=x"], "write key=value"),
    (["-P", "titel=x"], "unknown config key 'titel' (did you mean 'title'?)"),
    (["-P", "predictors=[read"], "the value is not valid YAML"),
    (["-P", "labels..read=x"], "empty part between dots"),
    (["-P", "nagq=many"], "with -P nagq"),
    (["-P", "predictors=[read, reading]"], "reading"),
]


@pytest.mark.parametrize("flags,piece", BAD_P, ids=[" ".join(f) for f, _ in BAD_P])
def test_bad_to_and_p_exit_2_with_one_line_and_write_nothing(project, capsys, flags, piece):
    config, data, root = project
    code, err = _render(capsys, config, root, *flags)
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("hlm-report: error: "), err
    assert piece in err[0]
    assert not root.exists() or not any(root.iterdir())


def test_real_render_of_html_alone_then_a_reused_fit(project, capsys):
    """The real fit and document: --to html with a -P title writes the HTML alone; the second
    render reuses the fit and still executes the report from it."""
    config, data, root = project
    flags = ["--to", "html", "-P", "title=Writing, again"]
    code, err = _render(capsys, config, root, *flags)
    assert code == 0, err
    folder = root / "hsb2"
    names = {p.name for p in folder.iterdir()}
    assert {"report.html", "results.json", "rows.parquet"} <= names
    assert not names & {"report.pdf", "report.docx"}
    results = (folder / "results.json").read_bytes()
    code, err = _render(capsys, config, root, *flags)
    assert code == 0 and REUSED in err, err
    assert not any("fit the model ladder" in line for line in err)
    assert "Writing, again" in (folder / "report.html").read_text(encoding="utf-8")
    assert (folder / "results.json").read_bytes() == results


# ---------------------------------------------------------------------------------------------
# results.json provenance and privacy: it is published (site, email), so it holds no absolute
# path and no email address, whatever the config says.


@pytest.fixture(scope="module")
def fitted_outside_a_project(tmp_path_factory):
    import pandas as pd
    from helpers import REFERENCE, fit, write_config

    folder = tmp_path_factory.mktemp("private-folder-name")
    data = folder / "scores.csv"
    pd.read_csv(REFERENCE / "hsb2.csv").to_csv(data, index=False)
    config = write_config(
        folder,
        "analysis",
        data=data,
        outcome="write",
        predictors=["read"],
        group="ses",
        stakeholders=[{"name": "Dana Whitfield", "email": "dana@district.example.org"}],
    )
    out = folder / "out"
    fit(config, out)
    return folder, data, out / "results.json"


def test_results_json_holds_no_absolute_path_and_no_address(fitted_outside_a_project):
    folder, data, path = fitted_outside_a_project
    text = path.read_text(encoding="utf-8")
    assert str(folder) not in text and folder.name not in text
    assert "@" not in text and "dana" not in text.lower()
    raw = json.loads(text)
    assert raw["spec"]["data"] == "scores.csv" and raw["spec"]["stakeholders"] == []
    jsonschema.Draft202012Validator(results_schema()).validate(raw)


def test_provenance_names_the_data_bytes_the_package_and_the_time(fitted_outside_a_project):
    import datetime as dt
    import hashlib

    folder, data, path = fitted_outside_a_project
    block = json.loads(path.read_text(encoding="utf-8"))["provenance"]
    assert block["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert (block["data_files"], block["data_bytes"]) == (1, data.stat().st_size)
    assert block["package_version"] == version("hlm-report")
    created = dt.datetime.fromisoformat(block["created"])
    assert created.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 3600


def test_the_fit_time_and_package_version_do_not_make_a_new_report(fitted_outside_a_project):
    from hlm_analysis import layout

    folder, data, path = fitted_outside_a_project
    raw = json.loads(path.read_text(encoding="utf-8"))
    later = folder / "later.json"
    raw["provenance"].update(created="2031-01-01T00:00:00+00:00", package_version="9.9")
    later.write_text(json.dumps(raw))
    assert layout.report_version(later) == layout.report_version(path)
    raw["provenance"]["data_sha256"] = "0" * 64  # other data is another report
    later.write_text(json.dumps(raw))
    assert layout.report_version(later) != layout.report_version(path)


@pytest.mark.parametrize("inside", [True, False], ids=["in a project", "outside"])
def test_published_data_path_is_relative_to_the_project_or_the_file_name(tmp_path, inside):
    from hlm_analysis.results import published_spec
    from hlm_analysis.spec import Spec

    if inside:
        (tmp_path / "_quarto.yml").write_text("project: {}\n")
    data = tmp_path / "lake" / "2024" / "part-*.parquet"
    spec = Spec(
        title="t",
        data=data,
        outcome="y",
        group="g",
        stakeholders=[{"name": "A", "email": "a@b.org"}],
    )
    out = published_spec(spec)
    assert out["data"] == ("lake/2024/part-*.parquet" if inside else "part-*.parquet")
    assert out["stakeholders"] == [] and "a@b.org" not in json.dumps(out)
    Spec.model_validate(out)  # what results.json holds still reads back


def test_data_hash_does_not_depend_on_where_the_data_lies(tmp_path):
    from hlm_analysis import provenance
    from hlm_analysis.spec import Spec

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.csv").write_text("y,g\n1,x\n2,y\n")
    a, b = (
        provenance.build(Spec(title="t", data=tmp_path / n / f"{n}.csv", outcome="y", group="g"))
        for n in ("a", "b")
    )
    assert a.data_sha256 == b.data_sha256 and a.data_bytes == 12


# ---------------------------------------------------------------------------------------------
# init DATA: a commented draft config from a data file.


def _schools_table(tmp_path, name="pupils.csv", binary=False):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    school = np.repeat(np.arange(1, 41), 10)
    sector = np.where(school % 2 == 0, "public", "catholic")
    ses = rng.normal(size=400).round(3)
    score = (50 + 3 * ses + rng.normal(scale=5, size=400) + (school % 5)).round(2)
    score[[3, 77, 200]] = -99  # missing-value codes
    frame = pd.DataFrame(
        {
            "pupil_id": np.arange(1001, 1401),
            "school_id": school,
            "sector": sector,
            "ses": ses,
            "math_score": score,
            "country": "NZ",
        }
    )
    if binary:
        frame["passed"] = np.where(score > 50, "yes", "no")
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _init(capsys, *args):
    code = main(["init", *map(str, args)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_init_drafts_a_config_that_fits(tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    data = _schools_table(tmp_path)
    code, err = _init(capsys, data)
    assert code == 0, err
    config = tmp_path / "pupils.yml"
    assert err == [f"hlm-report: wrote {config.name}; check it, then: hlm-report render pupils.yml"]
    text = config.read_text(encoding="utf-8")
    keys = yaml.safe_load(text)
    assert keys["group"] == "school_id" and keys["outcome"] == "math_score"
    assert keys["predictors"] == ["sector", "ses"]  # not the id, not the constant
    assert "-99" in keys["missing_values"] and keys["data"] == "pupils.csv"
    assert "#   pupil_id: number; one value per row: an id, left out" in text
    assert "#   sector: text, 2 values; constant within school_id: group-level" in text
    assert "#   math_score: number; holds -99: a missing-value code?" in text
    assert "#   country: text, 1 value; constant, left out" in text
    for key in ("random_slopes", "interactions", "levers", "labels", "min_cell", "family"):
        assert key in keys  # every key with its default
    code = main(["fit", str(config), "--out", str(tmp_path / "fit")])
    capsys.readouterr()
    assert code == 0
    results = json.loads((tmp_path / "fit" / "results.json").read_text())
    assert results["data"]["n_obs"] == 397  # the three -99 rows read as missing


def test_init_follows_group_and_outcome_and_spots_a_yes_no_outcome(tmp_path, capsys):
    import yaml

    data = _schools_table(tmp_path, binary=True)
    out = tmp_path / "mine.yml"
    code, err = _init(capsys, data, "--outcome", "passed", "--group", "school_id", "--output", out)
    assert code == 0, err
    keys = yaml.safe_load(out.read_text())
    assert (keys["outcome"], keys["group"], keys["family"]) == ("passed", "school_id", "binomial")
    assert "math_score" in keys["predictors"]


def _init_bad_cases(tmp_path):
    good = _schools_table(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "ids.csv").write_text("a,b\n1,1.5\n2,2.5\n3,3.5\n")
    (tmp_path / "notes.docx").write_text("a,b\n")  # .txt and .tsv are CSV, as the fit reads them
    (tmp_path / "taken.yml").write_text("keep me\n")
    return {
        "missing file": ([tmp_path / "nope.csv"], "data file not found"),
        "not csv or parquet": ([tmp_path / "notes.docx"], "is not a .csv, .tsv, .txt or .parquet"),
        "empty": ([tmp_path / "empty.csv"], "cannot be read"),
        "no group column": ([tmp_path / "ids.csv"], "name one with --group"),
        "unknown group": ([good, "--group", "schol_id"], "--group 'schol_id': no such column"),
        "unknown outcome": ([good, "--outcome", "score"], "--outcome 'score': no such column"),
        "same column": ([good, "--group", "ses", "--outcome", "ses"], "name the same column"),
        "existing file": ([good, "--output", tmp_path / "taken.yml"], "will not be replaced"),
        "not yml": ([good, "--output", tmp_path / "x.txt"], "must end in .yml"),
        "no folder": ([good, "--output", tmp_path / "no" / "x.yml"], "does not exist"),
    }


INIT_BAD = [
    "missing file",
    "not csv or parquet",
    "empty",
    "no group column",
    "unknown group",
    "unknown outcome",
    "same column",
    "existing file",
    "not yml",
    "no folder",
]


@pytest.mark.parametrize("case", INIT_BAD)
def test_init_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path, capsys, monkeypatch, case
):
    monkeypatch.chdir(tmp_path)
    args, piece = _init_bad_cases(tmp_path)[case]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, err = _init(capsys, *args)
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("hlm-report: error: init: "), err
    assert piece in err[0]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ---------------------------------------------------------------------------------------------
# render --export csv|xlsx: the report's tables as files.


@pytest.mark.parametrize("name", ["hsb2", "schools", "graduation"])
def test_exported_tables_hold_results_json_numbers(tmp_path, name):
    import csv

    from helpers import fixture_results

    from hlm_analysis import export

    results = fixture_results(name)
    written = export.write(results, tmp_path / "tables", "csv")
    assert sorted(p.name for p in written) == [
        "fixed_effects.csv",
        "group_effects.csv",
        "ladder.csv",
        "variance_components.csv",
    ]

    def rows(table):
        with open(tmp_path / "tables" / f"{table}.csv", encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))

    ladder = rows("ladder")
    assert [r["model"] for r in ladder] == [m.value for m in results.models]
    assert [r["model"] for r in ladder if r["final"] == "True"] == [results.final_model.value]
    for row, model in zip(ladder, results.models.values(), strict=True):
        for column in ("loglik", "icc", "aic"):  # numbers, never an object's repr
            value = getattr(model, column)
            value = value.estimate if column == "icc" and value is not None else value
            assert row[column] == ("" if value is None else repr(float(value))), column
    fixed = rows("fixed_effects")
    expected = [(m.value, e) for m, model in results.models.items() for e in model.fixed_effects]
    assert len(fixed) == len(expected)
    for row, (model, effect) in zip(fixed, expected, strict=True):
        assert (row["model"], row["term"]) == (model, effect.term)
        assert float(row["estimate"]) == effect.estimate  # every digit of results.json
        assert float(row["std_error"]) == effect.std_error
    variance = rows("variance_components")
    assert len(variance) == sum(len(m.variance_components) for m in results.models.values())
    effects = results.final.group_effects
    grouped = rows("group_effects")
    if effects is not None:
        assert len(grouped) == len(effects.groups) * len(effects.terms)
        assert float(grouped[0]["estimate"]) == effects.estimate[0][0]


def test_group_effects_of_groups_below_min_cell_are_not_exported(tmp_path):
    import csv
    import dataclasses

    from helpers import fixture_results

    from hlm_analysis import export

    results = fixture_results("graduation")  # groups of 32 to 107 rows
    sizes = sorted(results.data.groups.n)
    cut = sizes[len(sizes) // 2]  # about half the groups fall below it
    small = {
        g for g, n in zip(results.data.groups.labels, results.data.groups.n, strict=True) if n < cut
    }
    assert small
    hidden = dataclasses.replace(results, spec=results.spec.model_copy(update={"min_cell": cut}))
    export.write(hidden, tmp_path, "csv")
    with open(tmp_path / "group_effects.csv", encoding="utf-8-sig", newline="") as handle:
        shown_groups = {r["group"] for r in csv.DictReader(handle)}
    assert shown_groups and not shown_groups & small


@pytest.fixture
def fixture_fit(monkeypatch):
    """The fit replaced by a copy of the hsb2 fixture (real results, no fitting)."""
    import shutil

    import hlm_analysis.model.analysis as analysis
    import hlm_analysis.render as render

    def fake_analysis(spec, out, progress, prepared):
        for name in ("results.json", "rows.parquet"):
            shutil.copy(FIXTURES / "hsb2" / name, out / name)

    def fake_document(config, spec, work, out, steps):
        for name in steps.wanted:
            (out / name).write_text(name)

    monkeypatch.setattr(analysis, "validated", lambda spec: None)
    monkeypatch.setattr(analysis, "run_analysis", fake_analysis)
    monkeypatch.setattr(render, "_builtin", fake_document)


def test_render_export_writes_tables_and_a_later_render_keeps_them(fixture_fit, project, capsys):
    config, data, root = project
    code, err = _render(capsys, config, root, "--export", "csv")
    assert code == 0, err
    tables = root / "hsb2" / "tables"
    assert {p.name for p in tables.iterdir()} == {
        "ladder.csv",
        "fixed_effects.csv",
        "variance_components.csv",
        "group_effects.csv",
    }
    before = {p.name: p.read_bytes() for p in tables.iterdir()}
    code, err = _render(capsys, config, root, "--to", "html")
    assert code == 0 and REUSED in err, err
    assert {p.name: p.read_bytes() for p in tables.iterdir()} == before


@pytest.mark.parametrize(
    "flags,code,piece",
    [
        (["--export", "ods"], 2, "--export ods: formats are csv, xlsx"),
        (["--export", "xlsx"], 3, "--export xlsx needs the openpyxl package"),
    ],
)
def test_bad_export_stops_before_the_fit_with_one_line(
    fixture_fit, project, capsys, monkeypatch, flags, code, piece
):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # as on a machine without it
    config, data, root = project
    got, err = _render(capsys, config, root, *flags)
    assert got == code and len(err) == 1 and piece in err[0], err
    assert not root.exists() or not any(root.iterdir())


def test_xlsx_export_has_one_sheet_per_table_and_keeps_formula_like_text_as_text(tmp_path):
    import dataclasses

    from helpers import fixture_results
    from openpyxl import load_workbook

    from hlm_analysis import export

    results = fixture_results("hsb2")
    final = results.final
    effects = final.group_effects
    hostile = ("=1+1", "@SUM(A1)", *effects.groups[2:])
    effects = dataclasses.replace(effects, groups=hostile)
    labels = dataclasses.replace(results.data.groups, labels=hostile)
    results = dataclasses.replace(
        results,
        models={
            **results.models,
            results.final_model: dataclasses.replace(final, group_effects=effects),
        },
        data=dataclasses.replace(results.data, groups=labels),
    )
    (path,) = export.write(results, tmp_path, "xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["ladder", "fixed_effects", "variance_components", "group_effects"]
    made = export.tables(results)
    for name in book.sheetnames:
        header, rows = made[name]
        sheet = [tuple(r) for r in book[name].iter_rows(values_only=True)]
        assert sheet[0] == header and len(sheet) == len(rows) + 1
    cells = [c for row in book["group_effects"].iter_rows() for c in row if c.value == "=1+1"]
    assert cells and all(c.data_type == "s" for c in cells)
    fixed = book["fixed_effects"]
    assert (
        fixed.cell(2, 3).value
        == results.models[next(iter(results.models))].fixed_effects[0].estimate
    )


def test_email_refuses_a_report_rendered_with_p_until_rendered_from_the_config(
    stand_ins, project, capsys
):
    config, data, root = project
    assert _render(capsys, config, root, "-P", "title=Not the config's title")[0] == 0
    code = main(["email", str(config), "--dry-run", "--output-root", str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "has changed since its report" in err[0], err
    assert _render(capsys, config, root)[0] == 0
    main(["email", str(config), "--dry-run", "--output-root", str(root)])
    assert "has changed since" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# preview CONFIG: served on 127.0.0.1, rendered again on save (a bounded run in a thread).


def _wait(condition, seconds=30.0):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_preview_serves_the_report_and_renders_again_on_save(stand_ins, project):
    import threading
    import urllib.request

    from hlm_analysis import preview

    config, data, root = project
    lines: list[str] = []
    done = threading.Event()
    thread = threading.Thread(
        target=preview.preview,
        kwargs=dict(
            config=config, output_root=root, port=0, progress=lines.append, interval=0.05,
            stop=done.is_set,
        ),
    )  # fmt: skip
    thread.start()
    try:
        assert _wait(lambda: any("preview of" in line for line in lines)), lines
        url = next(line for line in lines if "preview of" in line).split(" at ")[1].split()[0]

        def get(path):
            with urllib.request.urlopen(url.rstrip("/") + path, timeout=10) as response:
                return response.read().decode("utf-8")

        page = get("/")
        assert page.startswith("report.html #1") and preview.RELOAD_SCRIPT in page
        assert get(preview.VERSION_PATH) == "1"
        assert not (root / "hsb2" / "report.pdf").exists()  # HTML alone
        config.write_text(
            config.read_text().replace("title: Writing\n", "title: Writing, edited\n")
        )
        assert _wait(lambda: get(preview.VERSION_PATH) == "2"), "\n".join(lines)
        assert (
            get("/").startswith("report.html #2") and stand_ins["titles"][-1] == "Writing, edited"
        )
        data.write_text(data.read_text().replace("57", "58", 1))  # the data, saved
        assert _wait(lambda: get(preview.VERSION_PATH) == "3"), lines
        config.write_text(config.read_text() + "predictors: [oops\n")  # a broken save
        assert _wait(lambda: any("showing the last good report" in line for line in lines)), lines
        assert get(preview.VERSION_PATH) == "3" and get("/").startswith("report.html #3")
    finally:
        done.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert stand_ins["fit"] == 3  # the first render, the config edit and the data change


@pytest.mark.parametrize(
    "flags,piece", [(["--port", "70000"], "--port 70000: a port is 0 to 65535")]
)
def test_preview_bad_input_exits_2_with_one_line(stand_ins, project, capsys, flags, piece):
    config, data, root = project
    code = main(["preview", str(config), "--output-root", str(root), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and piece in err[0], err


def test_preview_of_a_broken_config_stops_with_its_one_line(stand_ins, project, capsys):
    config, data, root = project
    config.write_text(config.read_text() + "outcme: write\n")  # the loader's own check
    code = main(["preview", str(config), "--output-root", str(root), "--port", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "outcme" in err[0], err


@pytest.mark.parametrize(
    "values,codes",
    [
        ([12.5, 40.0, -99, 33.1], [-99]),  # a negative code beside non-negative numbers
        ([7, 9, 12, 999, 15], [999]),  # far above everything else
        ([55, 99, 87, 100, 42], []),  # 99 is an ordinary score here
        ([-3.2, -9, 1.5, 0.4], []),  # -9 among values that go negative anyway
        (["a", "b", "-99", "c"], [-99]),  # a code in a text column, which would become a level
        (["x", "y"], []),
    ],
)
def test_init_flags_missing_value_codes_and_not_ordinary_values(values, codes):
    import pandas as pd

    from hlm_analysis.init import sentinels

    assert sentinels(pd.Series(values)) == codes


# ---------------------------------------------------------------------------------------------
# init: crossed grouping columns (a pupil's primary and secondary school) told from nested ones


def _drafted(capsys, tmp_path, frame, *args):
    import yaml

    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / f"draft{len(list(tmp_path.glob('draft*.yml')))}.yml"
    code, err = _init(capsys, data, "--output", out, *args)
    assert code == 0, err
    text = out.read_text()
    return yaml.safe_load(text), text


def _scotssec():
    import pandas as pd

    return pd.read_csv(FIXTURES.parent.parent / "data" / "scotssec.csv")


def test_init_suggests_crossed_factors_and_says_why(tmp_path, capsys):
    keys, text = _drafted(capsys, tmp_path, _scotssec(), "--outcome", "attain")
    assert keys["group"] == ["primary", "second"] and keys["crossed"] is True
    assert "primary" not in keys["predictors"] and "second" not in keys["predictors"]
    assert (
        "group: [primary, second]  # two crossed levels: 148 primary and 19 second groups in "
        "303 observed pairs" in text
    )
    assert (
        "crossed: true  # not nested: 61% of primary groups share rows with two or more second "
        "groups and 100% of second groups with two or more primary groups" in text
    )
    assert "#   second: number; groups crossed with primary's: a grouping level" in text


def test_init_does_not_nest_crossed_factors_with_grouping_names(tmp_path, capsys):
    # under school names, repeated inner ids used to be read as nested (scoped by the outer)
    frame = _scotssec().rename(columns={"primary": "primary_school", "second": "sec_school"})
    keys, _ = _drafted(capsys, tmp_path, frame, "--outcome", "attain")
    assert keys["crossed"] is True
    assert sorted(keys["group"]) == ["primary_school", "sec_school"]


def test_init_with_group_given_only_suggests_the_crossing(tmp_path, capsys):
    keys, text = _drafted(capsys, tmp_path, _scotssec(), "--outcome", "attain", "--group", "second")
    assert keys["group"] == "second" and "crossed" not in keys
    assert "crossed with primary (group: [second, primary] with crossed: true)" in text


def test_init_keeps_repeated_class_ids_nested(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    # class ids 1..k in every school, k from 2 to 30: ids local to each school, not crossed
    rng = np.random.default_rng(3)
    rows = [
        {"school": f"S{s}", "class": c, "score": float(rng.normal(50, 10))}
        for s, k in enumerate(rng.integers(2, 31, 40))
        for c in range(1, int(k) + 1)
        for _ in range(3)
    ]
    keys, _ = _drafted(capsys, tmp_path, pd.DataFrame(rows))
    assert keys["group"] == ["school", "class"] and "crossed" not in keys
    pupils = pd.read_csv(FIXTURES.parent.parent / "data" / "pupils.csv")
    keys, _ = _drafted(capsys, tmp_path, pupils, "--outcome", "score")
    assert keys["group"] == ["school", "class"] and "crossed" not in keys


def test_init_does_not_cross_two_measurements(tmp_path, capsys):
    import pandas as pd

    # math and write scores meet many of each other's values, but nearly every pair is one row
    hsb2 = pd.read_csv(FIXTURES.parent / "reference" / "hsb2.csv")
    keys, _ = _drafted(capsys, tmp_path, hsb2)
    assert "crossed" not in keys and isinstance(keys["group"], str)


def test_init_lists_the_chosen_outcome_nowhere_else(tmp_path, capsys):
    # scotssec: 'other candidates: verbal, attain' offered the drafted outcome as a grouping column
    keys, text = _drafted(capsys, tmp_path, _scotssec())
    group_line = next(line for line in text.splitlines() if line.startswith("group:"))
    assert keys["outcome"] not in group_line.partition("#")[2].split("other candidates: ")[-1]
    assert keys["outcome"] not in keys["predictors"]


def test_init_does_not_draft_a_centred_or_group_level_column_as_the_outcome(tmp_path, capsys):
    # hsb82: cses (SES centred on each school's mean: every school's mean is 0) has the most
    # distinct values and was drafted as the outcome over mAch; meanses is one value per school
    import pandas as pd

    frame = pd.read_csv(FIXTURES.parent.parent / "data" / "hsb82.csv")
    keys, _ = _drafted(capsys, tmp_path, frame)
    assert keys["group"] == "school" and keys["outcome"] == "mAch"
    assert {"cses", "meanses"} <= set(keys["predictors"])
    # the same columns renamed, so no name gives the outcome away
    plain = frame.rename(columns={"mAch": "v1", "cses": "v2", "meanses": "v3"})
    keys, _ = _drafted(capsys, tmp_path, plain)
    assert keys["outcome"] == "v1"


@pytest.mark.parametrize("path", FIXTURE_RESULTS[:1], ids=lambda p: p.parent.name)
def test_schema_refuses_a_negative_count_and_a_digest_that_is_no_sha256(path):
    # every integer of results.json is a count, a size, a df or a seed; digests are 64 hex digits
    raw = json.loads(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(results_schema())
    model = next(iter(raw["models"]))
    breakages = {
        "negative n_obs": lambda r: r["data"].update(n_obs=-1),
        "negative groups": lambda r: r["models"][model].update(n_groups=-3),
        "digest not hex": lambda r: r["provenance"].update(data_sha256="not-a-digest"),
        "digest too short": lambda r: r["provenance"].update(config_sha256="ab12"),
    }
    for label, breakage in breakages.items():
        broken = copy.deepcopy(raw)
        breakage(broken)
        assert not validator.is_valid(broken), label
    assert validator.is_valid(raw)
