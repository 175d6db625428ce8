"""Delivery is tied to the report of THIS config and keyed to content (issue 25).

Classes: a report folder that is not this config's (another config of the same name, a folder
from before markers, a config edited since) sends nothing; a version is the results, not the
PDF's bytes; an address is the same recipient up to the case of its domain, and an international
domain is IDNA-encoded; a non-ASCII local part without SMTPUTF8 is refused before any send;
SMTP_* values that cannot work are exit 2 naming the variable.
"""

from __future__ import annotations

import json
import shutil

import pytest
from deliver.mailserver import (
    STAKEHOLDERS,
    Recorder,
    mark_rendered,
    run_email,
    smtp_env,
    with_stakeholders,
)
from helpers import FIXTURES, write_config

from hlm_analysis import layout


def one_line(out: str) -> bool:
    return out.strip() != "" and "\n" not in out.strip()


def rendered_elsewhere(tmp_path, root):
    """b/analysis.yml, whose report fills _output/analysis (the folder a/analysis.yml names)."""
    (tmp_path / "b").mkdir()
    other = write_config(
        tmp_path / "b",
        name="analysis",
        data=tmp_path / "d.csv",
        outcome="y",
        group="g",
        stakeholders=[{"name": "B Only", "email": "b-only@example.org"}],
    )
    mark_rendered(root / "analysis", other)
    return other


@pytest.mark.parametrize("dry_run", [False, True])
def test_emailing_a_never_sends_the_report_of_b(
    report_dir, server, monkeypatch, capsys, tmp_path, dry_run
):
    config, root = report_dir
    rendered_elsewhere(tmp_path, root)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys, *(["--dry-run"] if dry_run else []))
    assert code == 2 and one_line(out), out
    assert "b/analysis.yml" in out and "not of" in out
    assert handler.recipients() == [] and not (root / "analysis" / "outbox").exists()


@pytest.mark.parametrize("marker", [None, "", "not json", '{"config_id": "0"}', "[]"])
def test_a_folder_that_does_not_name_this_config_sends_nothing(
    report_dir, server, monkeypatch, capsys, marker
):
    config, root = report_dir
    path = root / "analysis" / layout.MARKER
    if marker is None:
        path.unlink()
    else:
        path.write_text(marker)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out), out
    assert handler.recipients() == []


@pytest.mark.parametrize(
    "change, refused",
    [
        ({"title": "Another title"}, True),
        ({"outcome": "z"}, True),
        ({"labels": {"y": "Score"}}, True),
        ({"stakeholders": STAKEHOLDERS[:1]}, False),  # who gets it does not change the report
    ],
)
def test_a_config_edited_since_the_render_is_refused(
    report_dir, server, monkeypatch, capsys, tmp_path, change, refused
):
    config, root = report_dir
    keys = {"data": tmp_path / "d.csv", "outcome": "y", "group": "g"}
    keys["stakeholders"] = STAKEHOLDERS
    write_config(tmp_path, name="analysis", **{**keys, **change})
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys)
    if refused:
        assert code == 2 and "has changed since its report" in out, out
        assert handler.recipients() == []
    else:
        assert code == 0 and handler.recipients() == ["ada@example.org"], out


def test_a_re_render_with_new_pdf_bytes_and_a_send_log_from_before_versions(
    report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    folder = root / "analysis"
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    # A log written before versions: the PDF's checksum only. The same PDF is not sent again.
    digest = __import__("hashlib").sha256((folder / "report.pdf").read_bytes()).hexdigest()
    (folder / "sent.json").write_text(
        json.dumps([{"recipient": "ada@example.org", "checksum": digest, "sent": "x"}])
    )
    assert run_email(config, root, capsys)[0] == 0
    assert handler.recipients() == ["bo@example.org"]
    # Rendered again: other PDF bytes (a timestamp), the same results: nothing new, Ada's
    # entry included (the run that found her by the old checksum wrote her version down).
    (folder / "report.pdf").write_bytes(b"%PDF-1.7\n% rendered the next night\n")
    shutil.copy(FIXTURES / "schools" / "results.json", folder / "results.json")
    code, out = run_email(config, root, capsys)
    assert code == 0 and handler.recipients() == ["bo@example.org"], out
    log = json.loads((folder / "sent.json").read_text())
    assert log[-1]["version"] == layout.report_version(folder / "results.json")


def test_an_address_retyped_in_another_case_is_the_same_recipient(
    report_dir, server, monkeypatch, capsys, tmp_path
):
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    with_stakeholders(tmp_path, [{"name": "Ada", "email": "Ada.Board@Example.org"}])
    assert run_email(config, root, capsys)[0] == 0
    for retyped in ("ada.board@example.org", "ADA.BOARD@EXAMPLE.ORG", "Ada.Board@example.ORG"):
        with_stakeholders(tmp_path, [{"name": "Ada", "email": retyped}])
        code, out = run_email(config, root, capsys)
        assert code == 0 and "already has this version" in out, out
    # Sent with the local part as written (RFC 5321), the domain lower-cased.
    assert handler.recipients() == ["Ada.Board@example.org"]
    # Listed twice in two cases: one message.
    people = [{"name": "A", "email": "ann@x.org"}, {"name": "B", "email": "ANN@X.ORG"}]
    with_stakeholders(tmp_path, people)
    assert run_email(config, root, capsys)[0] == 0
    assert handler.recipients() == ["Ada.Board@example.org", "ann@x.org"]


@pytest.mark.parametrize(
    "written, sent",
    [
        ("ann@bücher.example", "ann@xn--bcher-kva.example"),
        ("ann@Straße.example", "ann@xn--strae-oqa.example"),  # IDNA 2008: ß is kept
        ("ann@BÜCHER.example", "ann@xn--bcher-kva.example"),
    ],
)
def test_international_domains_are_idna_encoded(
    report_dir, server, monkeypatch, capsys, tmp_path, written, sent
):
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    with_stakeholders(tmp_path, [{"name": "Ann", "email": written}])
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert handler.recipients() == [sent]
    assert handler.messages[0]["To"].addresses[0].addr_spec == sent


def test_a_non_ascii_local_part_needs_smtputf8_and_is_refused_before_any_send(
    report_dir, server, monkeypatch, capsys, tmp_path
):
    config, root = report_dir
    people = [STAKEHOLDERS[0], {"name": "Jörg", "email": "jörg@example.org"}]
    with_stakeholders(tmp_path, people)
    plain = Recorder()
    smtp_env(monkeypatch, server(plain, enable_SMTPUTF8=False).port)
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and "SMTPUTF8" in out and "jörg@example.org" in out, out
    assert plain.recipients() == []  # not even Ada's: the run is refused up front
    utf8 = Recorder()
    smtp_env(monkeypatch, server(utf8, enable_SMTPUTF8=True).port)
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert sorted(utf8.recipients()) == ["ada@example.org", "jörg@example.org"]


@pytest.mark.parametrize("port", ["abc", "0", "-5", "65536", "99999", "1.5", "25x", " 2 5"])
def test_smtp_port_that_is_no_port_is_refused_naming_it(report_dir, monkeypatch, capsys, port):
    config, root = report_dir
    smtp_env(monkeypatch, 25)
    monkeypatch.setenv("SMTP_PORT", port)
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and "SMTP_PORT" in out and "SMTP_HOST" not in out, out


@pytest.mark.parametrize("security", ["tls", "yes", "", "start tls"])
def test_smtp_security_that_is_no_mode_is_refused_naming_it(
    report_dir, monkeypatch, capsys, security
):
    config, root = report_dir
    smtp_env(monkeypatch, 25)
    monkeypatch.setenv("SMTP_SECURITY", security)
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and "SMTP_SECURITY" in out, out


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_smtp_ca_file_that_is_no_file_is_refused_before_connecting(
    report_dir, monkeypatch, capsys, tmp_path, kind
):
    config, root = report_dir
    smtp_env(monkeypatch, 1, security="starttls")  # nothing listens on port 1
    ca = tmp_path / "ca.pem"
    if kind == "folder":
        ca.mkdir()
    monkeypatch.setenv("SMTP_CA_FILE", str(ca))
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and "SMTP_CA_FILE" in out, out


def test_dry_run_says_who_gets_what_with_which_subject(report_dir, monkeypatch, capsys):
    config, root = report_dir
    monkeypatch.delenv("SMTP_FROM", raising=False)
    code, out = run_email(config, root, capsys, "--dry-run")
    assert code == 0, out
    assert "sender hlm-report@localhost stands in (SMTP_FROM is not set" in out
    lines = [line for line in out.splitlines() if line.startswith("  to ")]
    assert len(lines) == 2
    assert lines[0].startswith(
        "  to Ada Board <ada@example.org>: subject 'Report: Exam scores in twenty schools', "
        "schools.pdf (23 bytes) -> "
    )
    monkeypatch.setenv("SMTP_FROM", "Reports <reports@district.example.org>")
    code, out = run_email(config, root, capsys, "--dry-run")
    assert "sender Reports <reports@district.example.org> (SMTP_FROM)" in out


def _jitter(value, factor):
    if isinstance(value, float):
        return value * factor
    if isinstance(value, dict):
        return {k: _jitter(v, factor) for k, v in value.items()}
    if isinstance(value, list):
        return [_jitter(v, factor) for v in value]
    return value


@pytest.mark.parametrize(
    "change, same",
    [
        (lambda r: r["software"].update(numpy="9.9.9"), True),
        (lambda r: r.update(provenance={"timestamp": "2031-01-01T00:00:00", "rows": 600}), None),
        (lambda r: r["spec"].update(stakeholders=[{"name": "New", "email": "n@x.org"}]), True),
        (lambda r: r.update(models=_jitter(r["models"], 1 + 1e-14)), True),  # another BLAS
        (lambda r: r.update(models=_jitter(r["models"], 1 + 1e-6)), False),
        (lambda r: r["spec"].update(title="Another title"), False),
        (lambda r: r["data"].update(n_obs=601), False),
    ],
)
def test_the_version_is_the_content_of_the_results(tmp_path, change, same):
    results = json.loads((FIXTURES / "schools" / "results.json").read_text())
    base = tmp_path / "base.json"
    base.write_text(json.dumps(results))
    change(results)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(results))
    if same is None:  # provenance: the time of the run is no change, its rows are
        stamped = json.loads(changed.read_text())
        stamped["provenance"]["timestamp"] = "2032-02-02T00:00:00"
        again = tmp_path / "again.json"
        again.write_text(json.dumps(stamped))
        assert layout.report_version(again) == layout.report_version(changed)
        return
    assert (layout.report_version(base) == layout.report_version(changed)) == same


def test_an_international_sender_domain_is_idna_encoded_in_the_envelope(
    report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler, enable_SMTPUTF8=False).port)
    monkeypatch.setenv("SMTP_FROM", "Berichte <berichte@Bücher.example>")
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert {mail_from for mail_from, _, _ in handler.envelopes} == {
        "berichte@xn--bcher-kva.example"
    }
    assert handler.messages[0]["From"].addresses[0].domain == "xn--bcher-kva.example"
