"""Outputs never replace anything but the tool's own report folder (issue 25).

The class: whatever the config's name, the output root or what already lies there, a render
either writes OUTPUT_ROOT/NAME/ carrying its marker, or refuses with exit 2 and one line, leaving
every file that was there as it was. The fit and the document are stand-ins here (the folders
around them are what is tested); tests/render covers real renders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import write_config

from hlm_analysis import layout
from hlm_analysis.cli import main

PREFIX = "hlm-report: error: "


@pytest.fixture
def fake_render(monkeypatch):
    """render_report with the fit and the document replaced by files written at once."""
    import hlm_analysis.model.analysis as analysis
    import hlm_analysis.render as render

    def fake_analysis(spec, out, progress, prepared):
        (out / "results.json").write_text(json.dumps({"spec": {"title": spec.title}}))
        (out / "rows.parquet").write_text("rows")

    def fake_document(config, spec, work, out, steps):
        for name in layout.REPORT_FILES:
            (out / name).write_text(f"{name} of {config}")

    monkeypatch.setattr(analysis, "validated", lambda spec: None)
    monkeypatch.setattr(analysis, "run_analysis", fake_analysis)
    monkeypatch.setattr(render, "_builtin", fake_document)


def snapshot(folder: Path) -> dict:
    """Every file under `folder` with its content (what must survive a refusal)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def render(config, root, capsys) -> tuple[int, list[str]]:
    code = main(["render", str(config), "--output-root", str(root), "--engine", "builtin"])
    return code, capsys.readouterr().err.strip().splitlines()


def refused(config, root, capsys, *pieces) -> str:
    code, err = render(config, root, capsys)
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith(PREFIX), err
    for piece in pieces:
        assert piece in err[0], (piece, err[0])
    return err[0]


def project(tmp_path: Path) -> Path:
    """A project with its data and an _output holding two reports and a send log."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "scores.csv").write_text("y,g\n1,a\n")
    for name in ("other", "third"):
        folder = tmp_path / "_output" / name
        folder.mkdir(parents=True)
        (folder / "report.pdf").write_text(name)
        (folder / "sent.json").write_text("[]")
    return tmp_path


@pytest.mark.parametrize("stem", ["", ".", "..", ". .", " ..", "...", ". . ."])
def test_a_config_name_that_gives_no_folder_name_is_refused(tmp_path, capsys, fake_render, stem):
    root = project(tmp_path)
    config = write_config(root, name=stem, data="data/scores.csv", outcome="y", group="g")
    before = snapshot(root)
    refused(config, root / "_output", capsys, "gives no report name")
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "stem, folder",
    [("a/b", None), ("tab\there", "tab_here"), (".hidden", "hidden"), ("Größe", "Größe")],
)
def test_names_are_sanitised_to_one_folder_inside_the_root(stem, folder):
    if folder is None:  # a separator cannot be in a file name; the stem is its last part
        assert layout.report_name(Path(f"{stem}.yml")) == "b"
    else:
        assert layout.report_name(Path(f"{stem}.yml")) == folder
    assert layout.report_name("x" * 300 + ".yml").encode() <= b"x" * 120


@pytest.mark.parametrize(
    "config_name, root_of",
    [
        ("data", lambda p: p),  # `render data.yml --output-root .` would replace ./data/
        ("report", lambda p: p),  # the root holds the data folder
        ("report", lambda p: p / "data"),  # the root is the data folder
        ("report", lambda p: p / "data" / "reports"),  # the root lies inside the data folder
    ],
)
def test_an_output_root_that_holds_or_lies_in_the_data_is_refused(
    tmp_path, capsys, fake_render, config_name, root_of
):
    root = project(tmp_path)
    data = "data" if root_of(root) == root / "data" / "reports" else "data/scores.csv"
    (root / "_quarto.yml").write_text("project: {}\n")
    config = write_config(root, name=config_name, data=data, outcome="y", group="g")
    before = snapshot(root)
    refused(config, root_of(root), capsys, "data")
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "contents",
    [
        {"notes.txt": "mine"},
        {"results.json": "{}", "notes.txt": "mine"},  # a report file name is not enough
        {"scores.csv": "y,g\n"},
        {"sub/deep.txt": "mine"},
    ],
)
def test_a_folder_the_tool_did_not_write_is_never_replaced(tmp_path, capsys, fake_render, contents):
    root = project(tmp_path)
    config = write_config(root, name="report", data="data/scores.csv", outcome="y", group="g")
    for name, text in contents.items():
        (root / "_output" / "report" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "_output" / "report" / name).write_text(text)
    before = snapshot(root)
    refused(config, root / "_output", capsys, "did not write", "_output/report")
    assert snapshot(root) == before


def test_a_file_or_symlink_where_the_folder_goes_is_refused(tmp_path, capsys, fake_render):
    root = project(tmp_path)
    config = write_config(root, name="report", data="data/scores.csv", outcome="y", group="g")
    (root / "_output" / "report").write_text("a file")
    refused(config, root / "_output", capsys, "not a report folder")
    (root / "_output" / "report").unlink()
    (root / "_output" / "report").symlink_to(root / "data")
    refused(config, root / "_output", capsys, "not a report folder")
    assert (root / "data" / "scores.csv").is_file()


def test_the_tool_replaces_its_own_folder_and_keeps_the_send_log(tmp_path, capsys, fake_render):
    root = project(tmp_path)
    config = write_config(root, name="report", data="data/scores.csv", outcome="y", group="g")
    out = root / "_output"
    assert render(config, out, capsys)[0] == 0
    marker = json.loads((out / "report" / layout.MARKER).read_text())
    assert marker["config_id"] == layout.config_id(config)
    assert marker["config"] == os.path.join("..", "report.yml")  # relative: no absolute path
    (out / "report" / "sent.json").write_text('[{"recipient": "a@b.org", "checksum": "x"}]')
    assert render(config, out, capsys)[0] == 0
    assert "a@b.org" in (out / "report" / "sent.json").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["other", "report", "third"]


@pytest.mark.parametrize("extra", [[], ["sent.json"], ["error.log"]])
def test_report_folders_from_before_markers_are_still_replaced(
    tmp_path, capsys, fake_render, extra
):
    root = project(tmp_path)
    config = write_config(root, name="report", data="data/scores.csv", outcome="y", group="g")
    legacy = root / "_output" / "report"
    legacy.mkdir()
    for name in ["results.json", "report.pdf", "report.html", *extra]:
        (legacy / name).write_text("[]")
    assert render(config, root / "_output", capsys)[0] == 0
    assert (legacy / layout.MARKER).is_file()
    assert ("sent.json" in extra) == (legacy / "sent.json").is_file()


def test_two_configs_with_one_name_do_not_overwrite_each_other(tmp_path, capsys, fake_render):
    root = project(tmp_path)
    configs = []
    for sub in ("a", "b"):
        (root / sub).mkdir()
        configs.append(
            write_config(root / sub, name="report", data="data/scores.csv", outcome="y", group="g")
        )
    out = root / "_output"
    assert render(configs[0], out, capsys)[0] == 0
    before = snapshot(root)
    line = refused(configs[1], out, capsys, "a/report.yml", str(configs[1]))
    assert "another --output-root" in line
    assert snapshot(root) == before
    # Each renders into its own root.
    assert render(configs[1], root / "_output_b", capsys)[0] == 0
    assert "b/report.yml" in (root / "_output_b" / "report" / "report.pdf").read_text()


def test_a_nightly_re_render_gives_the_same_pdf_and_emails_nothing_new(
    tmp_path, capsys, monkeypatch
):
    """Real renders: the same config and data twice give byte-identical PDFs (Typst stamped
    with SOURCE_DATE_EPOCH) and one report version, so the second `email` sends nothing."""
    import yaml
    from aiosmtpd.controller import Controller
    from deliver.mailserver import Recorder, free_port, smtp_env
    from helpers import HSB2_CONFIG, REFERENCE

    raw = yaml.safe_load(HSB2_CONFIG.read_text())
    raw.update(data=str(REFERENCE / "hsb2.csv"), stakeholders=[{"name": "A", "email": "a@x.org"}])
    config = tmp_path / "nightly.yml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        smtp_env(monkeypatch, controller.port)
        pdfs = []
        for _ in range(2):
            assert render(config, tmp_path / "_output", capsys)[0] == 0
            pdfs.append((tmp_path / "_output" / "nightly" / "report.pdf").read_bytes())
            code = main(["email", str(config), "--output-root", str(tmp_path / "_output")])
            assert code == 0, capsys.readouterr()
    finally:
        controller.stop()
    assert pdfs[0] == pdfs[1]
    assert handler.recipients() == ["a@x.org"]  # once, not once a night


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "99999999999999"])
def test_a_source_date_epoch_that_is_no_time_is_refused_naming_it(
    tmp_path, capsys, fake_render, monkeypatch, value
):
    root = project(tmp_path)
    config = write_config(root, name="report", data="data/scores.csv", outcome="y", group="g")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    refused(config, root / "_output", capsys, "SOURCE_DATE_EPOCH")
    assert not (root / "_output" / "report").exists()


def test_without_source_date_epoch_the_pdf_is_stamped_with_midnight_utc(monkeypatch):
    import datetime as dt

    from hlm_analysis.render import source_date_epoch

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    stamp = dt.datetime.fromtimestamp(source_date_epoch(), dt.UTC)
    assert (stamp.hour, stamp.minute, stamp.second) == (0, 0, 0)
    assert stamp.date() == dt.datetime.now(dt.UTC).date()


def test_quarto_gets_the_same_pdf_stamp(tmp_path, monkeypatch):
    """Quarto's Typst is handed SOURCE_DATE_EPOCH (set or not by the user) like the built-in
    engine's, so its PDFs repeat too."""
    import nbformat

    from hlm_analysis.render import quarto, source_date_epoch

    seen = []

    def fake_run(cmd, **kwargs):
        seen.append(kwargs["env"].get("SOURCE_DATE_EPOCH"))
        produced = tmp_path / "work" / "quarto"
        produced.mkdir(parents=True, exist_ok=True)
        for suffix in (".html", ".pdf", ".docx"):
            (produced / f"report{suffix}").write_text("x")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    import subprocess

    monkeypatch.setattr(quarto.subprocess, "run", fake_run)
    (tmp_path / "work").mkdir()
    (tmp_path / "out").mkdir()
    for value in (None, "1700000000"):
        if value is None:
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        else:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
        seen.clear()
        quarto.render(nbformat.v4.new_notebook(), tmp_path / "out", tmp_path / "work")
        assert seen == [str(source_date_epoch())] * 3


@pytest.mark.parametrize("inside", ["data", "data/out", "data/sub/out"])
def test_fit_out_inside_the_data_folder_is_refused(tmp_path, capsys, inside):
    root = project(tmp_path)
    (root / "_quarto.yml").write_text("project: {}\n")
    config = write_config(root, name="report", data="data", outcome="y", group="g")
    before = snapshot(root)
    code = main(["fit", str(config), "--out", str(root / inside)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--out" in err[0] and "data" in err[0], err
    assert snapshot(root) == before


def test_files_a_user_added_to_the_report_folder_survive_a_re_render(tmp_path, capsys, fake_render):
    """The folder carries the tool's marker, so it is replaced; what the user put in it since
    (notes, a folder of their own, a link) is not the tool's to delete (verify round 31)."""
    root = project(tmp_path)
    config = write_config(root, name="report", data="data/scores.csv", outcome="y", group="g")
    out = root / "_output"
    assert render(config, out, capsys)[0] == 0
    folder = out / "report"
    (folder / "notes.txt").write_text("mine")
    (folder / "mine").mkdir()
    (folder / "mine" / "deep.txt").write_text("deep")
    (folder / "link").symlink_to(root / "data")
    code, err = render(config, out, capsys)
    assert code == 0, err
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "mine" / "deep.txt").read_text() == "deep"
    assert (folder / "link").is_symlink() and (folder / "link" / "scores.csv").is_file()
    assert any("kept" in line and "notes.txt" in line for line in err), err
    assert (folder / layout.MARKER).is_file() and (folder / "report.pdf").is_file()
