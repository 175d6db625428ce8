"""`hlm-report profiles CONFIG`: the files written, what they show and what they never show."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from deliver.mailserver import mark_rendered
from helpers import fit, write_config

from hlm_analysis import cli
from hlm_analysis.deliver import profiles as writer
from hlm_analysis.errors import ToolError

PUBLISHED = [f"sch{k:03d}q" for k in range(18)]  # no id is a part of another
SMALL = ["tinyzz01", "tinyzz02", "tinyzz03"]
# Typst, HTML and Markdown syntax in an id: it must reach every page as text
HOSTILE = '#("x"); = *b* <i>&amp; [y] $z$ // w'
ROWS = 24


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A fitted report of 22 schools (3 with 6 students) and its config, marked as rendered."""
    root = tmp_path_factory.mktemp("profiles")
    rng = np.random.default_rng(7)
    frames = []
    for k, school in enumerate([*PUBLISHED, HOSTILE, *SMALL]):
        n = 6 if school in SMALL else ROWS
        x = rng.normal(0, 1, n)
        effect = 4.0 if k == 0 else -4.0 if k == 1 else rng.normal(0, 1.0)
        y = 50 + 2 * x + effect + rng.normal(0, 3, n)
        frames.append(pd.DataFrame({"school": school, "effort": x, "score": y}))
    pd.concat(frames).to_csv(root / "scores.csv", index=False)
    config = write_config(
        root,
        "district",
        data=root / "scores.csv",
        outcome="score",
        predictors=["effort"],
        group="school",
        random_slopes=["effort"],
        unit="pupil",
        group_noun="academy",
        labels={"score": "Test score", "effort": "Effort"},
        profiles={"min_size": 10},
    )
    folder = root / "_output" / "district"
    fit(config, folder)
    mark_rendered(folder, config)
    return config, root / "_output"


def run(*args) -> int:
    return cli.main([str(a) for a in args])


@pytest.fixture(scope="module")
def written(rendered):
    config, output_root = rendered
    assert run("profiles", config, "--output-root", output_root) == 0
    folder = output_root / "district" / "profiles"
    return folder, json.loads((folder / "index.json").read_text())


def _text(path) -> str:
    if path.suffix == ".pdf":
        out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True)
        return re.sub(r"\s+", " ", out.stdout)
    return path.read_text(encoding="utf-8", errors="replace")


def test_index_holds_every_group_and_files_for_the_published(written):
    folder, index = written
    entries = {e["id"]: e for e in index["groups"]}
    assert set(entries) == {*PUBLISHED, HOSTILE, *SMALL}
    for gid, entry in entries.items():
        assert entry["suppressed"] is (gid in SMALL)
        assert len(entry["files"]) == (0 if gid in SMALL else 2)
        for name in entry["files"]:
            assert (folder / name).is_file() and "/" not in name
    names = {p.name for p in folder.iterdir()}
    assert names == {"index.json"} | {n for e in entries.values() for n in e["files"]}
    assert index["rank_draws"] == 1000 and index["min_size"] == 10


def test_suppressed_groups_appear_in_no_file_and_no_number(written):
    folder, index = written
    for path in folder.iterdir():
        if path.name == "index.json":
            continue
        text = _text(path)
        for gid in SMALL:
            assert gid not in text, f"{gid} named in {path.name}"
    for entry in index["groups"]:
        if entry["suppressed"]:
            assert {k for k, v in entry.items() if v not in (None, [])} == {"id", "suppressed"}


def test_each_profile_names_its_own_group_and_no_other(written):
    folder, index = written
    for entry in index["groups"]:
        for name in entry["files"]:
            text = _text(folder / name)
            named = [g for g in PUBLISHED if g in text]
            if entry["id"] == HOSTILE:
                assert named == []
            else:
                assert named == [entry["id"]], f"{name} names {named}"


def test_a_hostile_id_is_text_in_html_and_pdf(written):
    folder, index = written
    entry = next(e for e in index["groups"] if e["id"] == HOSTILE)
    html_name, pdf_name = entry["files"]
    assert re.fullmatch(r"[A-Za-z0-9._-]+\.html", html_name)
    html = (folder / html_name).read_text()
    assert "<i>" not in html and "&lt;i&gt;&amp;amp;" in html
    assert "Academy #(&#34;x&#34;); = *b* &lt;i&gt;" in html
    pdf = _text(folder / pdf_name)
    assert 'Academy #("x"); = *b* <i>&amp; [y] $z$ // w' in pdf


def test_a_profile_says_what_the_issue_asks_in_the_lexicons_words(written):
    folder, index = written
    entries = {e["id"]: e for e in index["groups"]}
    top, bottom = entries[PUBLISHED[0]], entries[PUBLISHED[1]]
    assert top["ci_low"] > 0 and bottom["ci_high"] < 0  # the data were made so
    above = _text(folder / top["files"][1])
    below = _text(folder / bottom["files"][1])
    assert "this academy is above similar academies" in above
    assert "this academy is below similar academies" in below
    middle = next(e for e in entries.values() if e["ci_low"] and e["ci_low"] < 0 < e["ci_high"])
    plain = _text(folder / middle["files"][1])
    assert "indistinguishable from the average academy" in plain
    for text in (above, below, plain):
        assert "Pupils here: 24 of" in text
        assert "not a causal effect" in text and "one year" in text
        assert "do not record" in text  # intake the model does not measure
        assert "The link between Effort and Test score differs between academies" in text
        assert f"anywhere from {top['rank_low']}" in above
        assert not re.search(r"\b(school|student)s?\b", text, re.I)


def test_pdfs_are_one_page(written):
    folder, index = written
    for entry in index["groups"][:3]:
        info = subprocess.run(
            ["pdfinfo", str(folder / entry["files"][1])], capture_output=True, text=True
        ).stdout
        assert re.search(r"Pages:\s+1\b", info)


def test_a_failed_run_leaves_the_previous_profiles(rendered, written, monkeypatch):
    config, output_root = rendered
    folder, _ = written
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    calls = []

    def broken(compiler, source, out):
        calls.append(out)
        if len(calls) == 3:
            raise ToolError("Typst: profile failed: simulated")
        return original(compiler, source, out)

    original = writer._typeset
    monkeypatch.setattr(writer, "_typeset", broken)
    assert run("profiles", config, "--output-root", output_root) == 3
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".profiles-")]
    assert leftovers == []


@pytest.mark.parametrize("value", ["0", "-2", "2.5", "true", "'ten'", "null"])
def test_min_size_must_be_a_positive_integer(rendered, tmp_path, capsys, value):
    config, output_root = rendered
    bad = tmp_path / "district.yml"
    text = config.read_text().replace("min_size: 10", f"min_size: {value}")
    assert text != config.read_text()
    bad.write_text(text)
    assert run("profiles", bad, "--output-root", output_root) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "profiles.min_size" in err[0]


def test_no_results_yet_is_exit_2(rendered, tmp_path, capsys):
    config, _ = rendered
    assert run("profiles", config, "--output-root", tmp_path / "empty") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make report" in err[0]


def test_a_final_model_without_random_intercept_is_exit_2(rendered, tmp_path, capsys):
    config, output_root = rendered
    root = tmp_path / "_output"
    shutil.copytree(output_root / "district", root / "district")
    shutil.rmtree(root / "district" / "profiles", ignore_errors=True)
    path = root / "district" / "results.json"
    raw = json.loads(path.read_text())
    raw["models"][raw["final_model"]]["group_effects"] = None
    path.write_text(json.dumps(raw))
    assert run("profiles", config, "--output-root", root) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no random intercept" in err[0]
    assert not (root / "district" / "profiles").exists()


def test_file_names_never_collide_or_leave_the_folder():
    taken: set[str] = {"index"}
    stems = [writer.file_stem(g, taken) for g in ["a/b", "a_b", "A_B", "index", "..", "", "ok"]]
    assert len({s.lower() for s in stems}) == len(stems)
    assert stems[-1] == "ok" and stems[1] == "a_b"
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", s) for s in stems)
