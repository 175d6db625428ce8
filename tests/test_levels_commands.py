"""Every command on configs with several levels (issue 22): fit, schema, render (--to, -P,
--export), profiles, email with stakeholders of a level, site and init, on small cuts of the
shipped three-level, growth and crossed data and a yes/no outcome with nested levels."""

from __future__ import annotations

import csv
import email
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml
from deliver.mailserver import mark_rendered
from helpers import fit
from levels_configs import CONFIGS, write

from hlm_analysis import export, layout
from hlm_analysis.cli import main
from hlm_analysis.results import read_json
from hlm_analysis.schema import results_schema


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("which", CONFIGS)
def test_fit_writes_levels_and_the_file_validates(tmp_path, capsys, which):
    config = write(tmp_path, which)
    code, _, err = run(capsys, "fit", config, "--out", tmp_path / "out")
    assert code == 0, err
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    jsonschema.validate(doc, results_schema())
    spec = yaml.safe_load(config.read_text())
    assert [lv["name"] for lv in doc["data"]["levels"]] == spec["group"]
    assert doc["data"].get("crossed", False) is bool(spec.get("crossed"))
    final = doc["models"][doc["final_model"]]
    assert [lv["level"] for lv in final["levels"]] == spec["group"]
    data = pd.read_csv(spec["data"], dtype=str)
    outer = spec["group"][0]
    assert doc["data"]["levels"][0]["n_groups"] == data[outer].nunique()
    inner = data.groupby(spec["group"]).ngroups if not spec.get("crossed") else None
    if inner is not None:  # nested: inner ids scoped by the outer ones
        assert doc["data"]["levels"][1]["n_groups"] == inner


def test_export_of_every_level(tmp_path):
    config = write(tmp_path, "pupils", schools=3)
    results = fit(config, tmp_path / "out")
    header, rows = export.tables(results)["group_effects"]
    assert header == ("level", "group", "n", "term", "estimate", "std_error")
    by_level = {}
    for row in rows:
        by_level.setdefault(row[0], []).append(row)
    assert {r[1] for r in by_level["school"]} == {"S001", "S002", "S003"}
    assert all(r[2] == 72 for r in by_level["school"])
    classes = {r[1] for r in by_level["class"]}
    assert len(classes) == 18 and "S002 / 4" in classes  # scoped ids, as the report names them
    effects = results.final.levels[1].group_effects
    assert [r[3] for r in by_level["class"][: len(effects.terms)]] == list(effects.terms)
    k = len(effects.terms) - 1  # the class slope when the final model kept it
    first = [r for r in by_level["class"] if r[3] == effects.terms[k]][0]
    assert first[4] == effects.estimate[0][k] and first[5] == effects.std_error[0][k]
    written = export.write(results, tmp_path / "tables", "xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(written[0])["group_effects"]
    assert [c.value for c in sheet[1]] == list(header) and sheet.max_row == len(rows) + 1


def test_render_html_with_a_setting_and_csv_export(tmp_path, capsys):
    config = write(tmp_path, "pupils", schools=4)
    out = tmp_path / "_output"
    code, _, err = run(
        capsys, "render", config, "--to", "html", "-P", "title=Draft levels", "--export", "csv",
        "--output-root", out,
    )  # fmt: skip
    assert code == 0, err
    folder = out / config.stem
    assert (folder / "report.html").is_file() and not (folder / "report.pdf").exists()
    assert "Draft levels" in (folder / "report.html").read_text(encoding="utf-8")
    with open(folder / "tables" / "group_effects.csv", encoding="utf-8-sig") as handle:
        table = list(csv.DictReader(handle))
    assert {r["level"] for r in table} == {"school", "class"}
    assert sum(r["level"] == "class" and r["term"] == "(Intercept)" for r in table) == 24
    with open(folder / "tables" / "ladder.csv", encoding="utf-8-sig") as handle:
        ladder = list(csv.DictReader(handle))
    null = next(r for r in ladder if r["model"] == "null")
    assert null["formula"] == "score ~ 1 + (1 | school) + (1 | school:class)"


@pytest.fixture
def mailed(tmp_path, monkeypatch):
    """A fitted small three-level report marked rendered, with stakeholders of a school and of
    the district; profiles written."""

    def make(people, **extra):
        config = write(tmp_path, "pupils", schools=3, stakeholders=people, **extra)
        folder = tmp_path / "_output" / config.stem
        fit(config, folder)
        (folder / "report.pdf").write_bytes(b"%PDF-1.7\n% levels\n")
        mark_rendered(folder, config)
        assert main(["profiles", str(config), "--output-root", str(tmp_path / "_output")]) == 0
        monkeypatch.setenv("SMTP_FROM", "office@example.org")
        return config, folder

    return make


def _body(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes())
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return re.sub(r"\s+", " ", part.get_payload(decode=True).decode())


def _attachments(path: Path) -> list[str]:
    message = email.message_from_bytes(path.read_bytes())
    return [p.get_filename() for p in message.walk() if p.get_filename()]


def test_email_dry_run_sends_a_school_its_profile(mailed, capsys):
    people = [
        {"name": "Head", "email": "head@example.org", "group": "S002"},
        {"name": "District", "email": "district@example.org"},
    ]
    config, folder = mailed(people)
    code, out, err = run(capsys, "email", config, "--dry-run", "--output-root", folder.parent)
    assert code == 0, err
    head = folder / "outbox" / "head@example.org.eml"
    assert _attachments(head) == ["pupils-S002.pdf"]
    text = _body(head)
    assert "the profile of School S002" in text
    results = read_json(folder / "results.json")
    null = results.models["null"]
    school, klass = (round(100 * lv.variance_share) for lv in null.levels)
    district = _body(folder / "outbox" / "district@example.org.eml")
    # the outermost share under its own noun, not the innermost's
    assert f"Of the variation in Attainment score, {school}% lies between schools" in district
    assert f"{klass}% between classes within schools" in district
    assert _attachments(folder / "outbox" / "district@example.org.eml") == ["pupils.pdf"]


def test_email_to_a_class_with_class_profiles(mailed, capsys):
    people = [{"name": "Teacher", "email": "t@example.org", "group": "S001 / 2"}]
    config, folder = mailed(people, profiles={"min_size": 10, "level": "class"})
    code, _, err = run(capsys, "email", config, "--dry-run", "--output-root", folder.parent)
    assert code == 0, err
    sent = folder / "outbox" / "t@example.org.eml"
    assert "the profile of Class S001 / 2" in _body(sent)
    (pdf,) = _attachments(sent)
    index = json.loads((folder / "profiles" / "index.json").read_text())
    entry = next(e for e in index["groups"] if e["id"] == "S001 / 2")
    assert pdf == f"pupils-{entry['files'][1]}"


def test_site_cards_count_the_outer_level(tmp_path, capsys):
    configs = []
    for which in ("pupils", "crossed"):
        config = write(tmp_path, which)
        folder = layout.report_dir(tmp_path / "_output", config)
        fit(config, folder)
        for file in layout.REPORT_FILES:
            if not (folder / file).exists():
                (folder / file).write_text(f"{file} of {which}")
        mark_rendered(folder, config)
        configs.append(config)
    assert run(capsys, "profiles", configs[0], "--output-root", tmp_path / "_output")[0] == 0
    code, _, err = run(
        capsys, "site", *configs, "--no-render", "--output-root", tmp_path / "_output",
        "--site-dir", tmp_path / "_site",
    )  # fmt: skip
    assert code == 0, err
    listed = (tmp_path / "_site" / "reports" / "pupils" / "profiles" / "index.html").read_text()
    assert "One page per school" in listed and "School S012</a>" in listed
    assert "Class " not in listed and "per class" not in listed
    index = re.sub(r"\s+", " ", (tmp_path / "_site" / "index.html").read_text())
    assert "864 pupils in 12 schools" in index
    crossed = pd.read_csv(tmp_path / "crossed_small.csv", dtype=str)
    n, primaries = len(crossed), crossed["primary"].nunique()
    assert f"{n:,} pupils in {primaries} primary schools" in index


def _init(capsys, tmp_path, data: Path, *args):
    out = tmp_path / f"{data.stem}.yml"
    code, _, err = run(capsys, "init", data, "--output", out, *args)
    assert code == 0, err
    return out, yaml.safe_load(out.read_text()), out.read_text()


def test_init_suggests_nested_levels(tmp_path, capsys):
    config = write(tmp_path, "pupils", schools=6)
    data = Path(yaml.safe_load(config.read_text())["data"])
    out, drafted, text = _init(capsys, tmp_path, data)
    assert drafted["group"] == ["school", "class"]  # class ids 1-6 repeat: scoped by school
    assert "class" not in drafted["predictors"] and "fsm" in drafted["predictors"]
    assert "class: number; groups inside school: a grouping level" in text
    results = fit(out, tmp_path / "fitted")  # the draft fits as three levels
    assert [lv.name for lv in results.data.levels] == ["school", "class"]
    assert results.data.levels[1].n_groups == 36


def test_init_finds_unique_inner_ids_and_no_levels_in_a_yes_no_column(tmp_path, capsys):
    config = write(tmp_path, "growth")
    data = Path(yaml.safe_load(config.read_text())["data"])
    _, drafted, _ = _init(capsys, tmp_path, data, "--outcome", "math")
    assert drafted["group"] == ["schoolid", "childid"]  # a child id belongs to one school
    for column in ("female", "black", "grade"):  # split every school, but are no groups
        assert column in drafted["predictors"]
    frame = pd.read_csv(data)
    two = tmp_path / "two.csv"
    frame.drop(columns=["childid"]).to_csv(two, index=False)
    _, drafted, _ = _init(capsys, tmp_path, two, "--outcome", "math")
    assert drafted["group"] == "schoolid"
    # --group given: one level, the inner one only suggested in its comment
    three = tmp_path / "three.csv"
    shutil.copy(data, three)
    _, drafted, text = _init(capsys, tmp_path, three, "--group", "schoolid", "--outcome", "math")
    assert drafted["group"] == "schoolid"
    assert "groups inside it: childid (group: [schoolid, childid])" in text
