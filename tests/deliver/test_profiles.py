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
        assert "24 pupils here, of" in text
        assert "not a causal effect" in text and "one year" in text
        assert "do not record" in text  # intake the model does not measure
        # the slopes were made alike: the page lets them differ but finds no evidence they do
        assert (
            "The model lets the link between Effort and Test score differ between academies, "
            "but the data show no clear evidence that it does" in text
        )
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


# --- delivery: a stakeholder with `group:` gets that group's profile -----------------------------

PRINCIPALS = [
    {"name": "Pat One", "email": "pat@district.example.org", "group": PUBLISHED[0]},
    {"name": "Sam Two", "email": "sam@district.example.org", "group": PUBLISHED[1]},
    {
        "name": "Lee Three",
        "email": "lee@district.example.org",
        "group": PUBLISHED[2],
        "report": True,
    },
    {"name": "Board", "email": "board@district.example.org"},
]


def _emailable(rendered, written, tmp_path, stakeholders):
    """A copy of the rendered report (with its profiles and a PDF) under a config naming
    `stakeholders`, marked as rendered from it."""
    config, output_root = rendered
    root = tmp_path / "_output"
    shutil.copytree(output_root / "district", root / "district")
    (root / "district" / "report.pdf").write_bytes(b"%PDF-1.7\n% district report\n")
    text = config.read_text()
    import yaml

    keys = yaml.safe_load(text)
    keys["stakeholders"] = stakeholders
    mine = tmp_path / "district.yml"
    mine.write_text(yaml.safe_dump(keys))
    mark_rendered(root / "district", mine)
    return mine, root


def _attachments(eml) -> dict[str, bytes]:
    import email
    from email import policy

    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def test_dry_run_gives_each_principal_their_groups_profile(rendered, written, tmp_path):
    config, root = _emailable(rendered, written, tmp_path, PRINCIPALS)
    assert run("email", config, "--dry-run", "--output-root", root) == 0
    folder = root / "district"
    index = json.loads((folder / "profiles" / "index.json").read_text())
    files = {e["id"]: e["files"][1] for e in index["groups"] if e["files"]}
    report = (folder / "report.pdf").read_bytes()
    got = {p.name: _attachments(p) for p in (folder / "outbox").glob("*.eml")}
    assert set(got) == {f"{p['email']}.eml" for p in PRINCIPALS}
    for person in PRINCIPALS:
        attached = got[f"{person['email']}.eml"]
        expected = {}
        if "group" not in person or person.get("report"):
            expected["district.pdf"] = report
        if "group" in person:
            pdf = files[person["group"]]
            expected[f"district-{pdf}"] = (folder / "profiles" / pdf).read_bytes()
        assert attached == expected, person["email"]
        body = (folder / "outbox" / f"{person['email']}.eml").read_text()
        if "group" in person:
            assert f"the profile of Academy {person['group']} from the report" in body
        else:
            assert 'the report "Test analysis" is attached' in body
    # no message carries another principal's group, and none a suppressed one
    for name, attached in got.items():
        for pdf_name in attached:
            for other in PRINCIPALS:
                if "group" in other and f"{other['email']}.eml" != name:
                    assert files[other["group"]] not in pdf_name


def test_each_principal_is_sent_their_profile_once_per_version(
    rendered, written, tmp_path, server, monkeypatch
):
    from deliver.mailserver import Recorder, smtp_env

    config, root = _emailable(rendered, written, tmp_path, PRINCIPALS[:3])
    handler = Recorder()
    controller = server(handler)
    smtp_env(monkeypatch, controller.port)
    assert run("email", config, "--output-root", root) == 0
    assert run("email", config, "--output-root", root) == 0  # nothing new to send
    assert sorted(handler.recipients()) == sorted(p["email"] for p in PRINCIPALS[:3])
    for message in handler.messages:  # each with its own group's profile
        person = next(p for p in PRINCIPALS if p["email"] in message["To"])
        names = [part.get_filename() for part in message.iter_attachments()]
        assert any(n.startswith("district-") for n in names)
        assert ("district.pdf" in names) is bool(person.get("report"))


@pytest.mark.parametrize(
    "group, says", [("nosuchschool", "not a group of the data"), (SMALL[0], "no profile")]
)
def test_a_group_not_in_the_data_or_suppressed_is_exit_2(
    rendered, written, tmp_path, capsys, group, says
):
    people = [{"name": "X", "email": "x@district.example.org", "group": group}]
    config, root = _emailable(rendered, written, tmp_path, people)
    assert run("email", config, "--dry-run", "--output-root", root) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
    assert not (root / "district" / "outbox").exists()


def test_profiles_of_other_results_are_not_sent(rendered, written, tmp_path, capsys):
    config, root = _emailable(rendered, written, tmp_path, PRINCIPALS[:1])
    index_path = root / "district" / "profiles" / "index.json"
    index = json.loads(index_path.read_text())
    index["results_version"] = "0" * 64  # written from an earlier fit
    index_path.write_text(json.dumps(index))
    assert run("email", config, "--dry-run", "--output-root", root) == 2
    assert "make profiles" in capsys.readouterr().err


def test_a_profile_pdf_that_is_gone_is_exit_2(rendered, written, tmp_path, capsys):
    """A profile PDF deleted (or a folder copied in part) was "internal error (a bug):
    FileNotFoundError", exit 1; it is the user's to fix: run profiles again."""
    config, root = _emailable(rendered, written, tmp_path, PRINCIPALS[:1])
    index = json.loads((root / "district" / "profiles" / "index.json").read_text())
    (entry,) = [e for e in index["groups"] if e["id"] == PRINCIPALS[0]["group"]]
    (root / "district" / "profiles" / entry["files"][1]).unlink()
    assert run("email", config, "--dry-run", "--output-root", root) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make profiles" in err[0] and entry["files"][1] in err[0], err


def test_profiles_refuse_a_stakeholder_group_not_in_the_data(rendered, written, tmp_path, capsys):
    people = [{"name": "X", "email": "x@district.example.org", "group": 4711}]  # YAML number
    config, root = _emailable(rendered, written, tmp_path, people)
    before = sorted(p.name for p in (root / "district" / "profiles").iterdir())
    assert run("profiles", config, "--output-root", root) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'4711' is not a group of the data" in err[0]
    assert sorted(p.name for p in (root / "district" / "profiles").iterdir()) == before


def test_the_site_gets_a_page_per_published_profile_and_no_suppressed_group(
    rendered, written, tmp_path, monkeypatch
):
    from hlm_analysis.deliver import site as site_module
    from hlm_analysis.deliver.site import build_site

    # the report files here are stand-ins with no group in them: published as they are (the
    # public copy that hides groups below min_size is tested in test_site_product.py)
    monkeypatch.setattr(site_module, "_public_copy", lambda config, folder, *a: folder)
    config, root = _emailable(rendered, written, tmp_path, [])
    (root / "district" / "report.html").write_text("<html><body>report</body></html>")
    (root / "district" / "report.docx").write_bytes(b"PK")
    site = build_site([config], output_root=root, site_dir=tmp_path / "_site", render=False)
    pages = site / "reports" / "district" / "profiles"
    index = json.loads((root / "district" / "profiles" / "index.json").read_text())
    published = [e for e in index["groups"] if not e["suppressed"]]
    assert sorted(p.name for p in pages.iterdir()) == sorted(
        ["index.html", *(n for e in published for n in e["files"])]
    )
    listing = (pages / "index.html").read_text()
    assert all(f'href="{e["files"][0]}"' in listing for e in published if e["id"] != HOSTILE)
    cards = (site / "index.html").read_text()
    assert 'href="reports/district/profiles/index.html"' in cards
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".pdf"):
            text = _text(path)
            assert not any(gid in text for gid in SMALL), path


def test_profiles_with_a_file_gone_stay_off_the_site(rendered, written, tmp_path, monkeypatch):
    """`site` with one profile PDF deleted: "internal error (a bug): FileNotFoundError", exit 1,
    and no site; the profiles now stay off it with a line saying to write them again."""
    from hlm_analysis.deliver import site as site_module
    from hlm_analysis.deliver.site import build_site

    monkeypatch.setattr(site_module, "_public_copy", lambda config, folder, *a: folder)
    config, root = _emailable(rendered, written, tmp_path, [])
    (root / "district" / "report.html").write_text("<html><body>report</body></html>")
    (root / "district" / "report.docx").write_bytes(b"PK")
    index = json.loads((root / "district" / "profiles" / "index.json").read_text())
    gone = next(e for e in index["groups"] if e["files"])["files"][1]
    (root / "district" / "profiles" / gone).unlink()
    said = []
    site = build_site(
        [config], output_root=root, site_dir=tmp_path / "_site", render=False, progress=said.append
    )
    assert not (site / "reports" / "district" / "profiles").exists()
    assert any(gone in line and "profiles" in line for line in said), said


def test_site_without_a_report_format_is_exit_2(rendered, written, tmp_path, monkeypatch, capsys):
    """`site --no-render` of a report rendered `--to html,pdf` (no Word file): "internal error
    (a bug): FileNotFoundError: ... report.docx", exit 1."""
    from hlm_analysis.deliver import site as site_module

    monkeypatch.setattr(site_module, "_public_copy", lambda config, folder, *a: folder)
    config, root = _emailable(rendered, written, tmp_path, [])
    (root / "district" / "report.html").write_text("<html><body>report</body></html>")
    site = tmp_path / "_site"
    args = ["site", "--no-render", "--output-root", root, "--site-dir", site, config]
    assert run(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "report.docx" in err[0] and not site.exists(), err


def test_profiles_of_other_results_stay_off_the_site(rendered, written, tmp_path, monkeypatch):
    from hlm_analysis.deliver import site as site_module
    from hlm_analysis.deliver.site import build_site

    # stand-in report files, published as they are (see the test above)
    monkeypatch.setattr(site_module, "_public_copy", lambda config, folder, *a: folder)
    config, root = _emailable(rendered, written, tmp_path, [])
    (root / "district" / "report.html").write_text("<html><body>report</body></html>")
    (root / "district" / "report.docx").write_bytes(b"PK")
    index_path = root / "district" / "profiles" / "index.json"
    index = json.loads(index_path.read_text())
    index["results_version"] = "0" * 64
    index_path.write_text(json.dumps(index))
    site = build_site([config], output_root=root, site_dir=tmp_path / "_site", render=False)
    assert not (site / "reports" / "district" / "profiles").exists()
    assert "profiles/index.html" not in (site / "index.html").read_text()


def test_profiles_outlive_a_rerender_of_the_same_results_only(tmp_path):
    from hlm_analysis.render import render_report

    data = tmp_path / "scores.csv"
    rng = np.random.default_rng(3)
    school = np.repeat([f"s{k:02d}" for k in range(12)], 15)
    y = 50 + rng.normal(0, 2, 12).repeat(15) + rng.normal(0, 3, school.size)
    pd.DataFrame({"school": school, "score": y}).to_csv(data, index=False)
    config = write_config(tmp_path, "small", data=data, outcome="score", group="school")
    root = tmp_path / "_output"
    render_report(config, output_root=root, engine="builtin", progress=lambda m: None)
    assert run("profiles", config, "--output-root", root) == 0
    profiles = root / "small" / "profiles"
    before = sorted(p.name for p in profiles.iterdir())
    render_report(config, output_root=root, engine="builtin", progress=lambda m: None)
    assert sorted(p.name for p in profiles.iterdir()) == before  # the same results: kept
    pd.DataFrame({"school": school, "score": y[::-1]}).to_csv(data, index=False)
    render_report(config, output_root=root, engine="builtin", progress=lambda m: None)
    assert not profiles.exists()  # other results: stale profiles go with the old report


def test_pages_rank_among_the_published_and_say_so(written):
    folder, index = written
    shown = [e for e in index["groups"] if not e["suppressed"]]
    assert sorted(e["rank"] for e in shown) == list(range(1, len(shown) + 1))
    top = next(e for e in shown if e["rank"] == 1)
    text = re.sub(r"\s+", " ", _text(folder / top["files"][0]))
    assert f"rank 1 of {len(shown)} academies with a profile" in text
