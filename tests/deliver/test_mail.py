"""Email delivery against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import json
from email import policy

from aiosmtpd.smtp import AuthResult
from deliver.mailserver import PASSWORD, STAKEHOLDERS, Recorder, run_email, smtp_env

from hlm_analysis.deliver import mail as deliver


def test_plain_delivery_with_pdf_and_findings(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder()
    controller = server(handler)
    smtp_env(monkeypatch, controller.port)
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert len(handler.messages) == 2  # one message per person
    msg = handler.messages[0]
    assert msg["To"] == "Ada Board <ada@example.org>"
    assert msg["Subject"] == "Report: Exam scores in twenty schools"
    body = msg.get_body(("plain",)).get_content()
    assert body.startswith("Dear Ada Board,")
    assert "15% of the variation in Exam score" in body and "intraclass correlation 0.151" in body
    html = msg.get_body(("html",)).get_content()
    assert "<li>" in html
    pdfs = [part for part in msg.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdfs and pdfs[0].get_content() == (root / "analysis" / "report.pdf").read_bytes()


def test_second_run_sends_nothing_new_unless_report_changes_or_force(
    report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    assert run_email(config, root, capsys)[0] == 0
    code, out = run_email(config, root, capsys)
    assert code == 0 and len(handler.messages) == 2 and "already has this version" in out
    # New PDF bytes of the same results (a re-render) are the same version: nothing is sent.
    (root / "analysis" / "report.pdf").write_bytes(b"%PDF-1.7\n% rendered again\n")
    assert run_email(config, root, capsys)[0] == 0
    assert len(handler.messages) == 2
    # New results are a new version.
    results = json.loads((root / "analysis" / "results.json").read_text())
    results["spec"]["subtitle"] = "Revised after a data correction"
    (root / "analysis" / "results.json").write_text(json.dumps(results))
    assert run_email(config, root, capsys)[0] == 0
    assert len(handler.messages) == 4
    assert run_email(config, root, capsys, "--force")[0] == 0
    assert len(handler.messages) == 6


def test_refused_recipient_is_named_and_others_still_get_theirs(
    report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    handler = Recorder(refuse={"bo@example.org"})
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys)
    assert code == 1
    assert "bo@example.org: not delivered (refused by the server: 550 5.1.1" in out
    assert [m["To"] for m in handler.messages] == ["Ada Board <ada@example.org>"]
    # the refused one is retried next time; the delivered one is not
    handler.refuse.clear()
    code, _ = run_email(config, root, capsys)
    assert code == 0 and [m["To"] for m in handler.messages][-1] == "Bo Refused <bo@example.org>"
    assert len(handler.messages) == 2


def test_dropped_connection_is_retried(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder(drop_first=1)
    smtp_env(monkeypatch, server(handler).port)
    monkeypatch.setattr(deliver.time, "sleep", lambda seconds: None)
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert "retrying" in out
    assert len(handler.messages) == 2


def test_starttls_with_auth_and_password_never_shown(report_dir, tls_server, capsys):
    config, root = report_dir
    logins = []

    def authenticator(server_, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login)
        ok = auth_data.login == b"mailer" and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: the server sends 235/535

    handler = tls_server(authenticator)
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert logins and len(handler.messages) == 2
    assert PASSWORD not in out
    for path in (root / "analysis").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in repr(deliver.smtp_settings())


def test_wrong_password_is_one_clear_line(report_dir, tls_server, capsys):
    config, root = report_dir

    def refuse_everyone(server_, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    tls_server(refuse_everyone)
    code, out = run_email(config, root, capsys)
    assert code == 2, out
    assert "SMTP login refused for user 'mailer'" in out and PASSWORD not in out


def test_missing_pdf_and_bad_address_are_clear_errors(report_dir, monkeypatch, capsys):
    config, root = report_dir
    smtp_env(monkeypatch, 25)
    code, out = run_email(config, root, capsys, "--to", "not-an-address")
    assert code == 2 and "'not-an-address' is not an email address" in out
    (root / "analysis" / "report.pdf").unlink()
    code, out = run_email(config, root, capsys)
    assert code == 2 and "no report to send" in out and "report.pdf is missing" in out


def test_dry_run_writes_eml_files(report_dir, capsys):
    config, root = report_dir
    code, _ = run_email(config, root, capsys, "--dry-run")
    files = sorted((root / "analysis" / "outbox").glob("*.eml"))
    assert code == 0 and [f.name for f in files] == ["ada@example.org.eml", "bo@example.org.eml"]
    msg = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "Ada Board <ada@example.org>"


def test_a_dry_run_outbox_holds_this_run_only(report_dir, tmp_path, capsys):
    """A stakeholder removed from the config kept their .eml from an earlier dry run in the
    outbox, beside this run's messages, as if it were still going out."""
    from deliver.mailserver import with_stakeholders

    config, root = report_dir
    assert run_email(config, root, capsys, "--dry-run")[0] == 0
    config = with_stakeholders(tmp_path, STAKEHOLDERS[:1])  # Bo is taken off the list
    assert run_email(config, root, capsys, "--dry-run")[0] == 0
    files = sorted(p.name for p in (root / "analysis" / "outbox").iterdir())
    assert files == ["ada@example.org.eml"]


def test_user_text_in_email_html_is_escaped(report_dir, tmp_path):
    import json

    config, root = report_dir
    results_path = root / "analysis" / "results.json"
    raw = json.loads(results_path.read_text())
    raw["spec"]["labels"]["ExamScore"] = "<script>alert(1)</script>"
    results_path.write_text(json.dumps(raw))
    from hlm_analysis.results import read_json
    from hlm_analysis.spec import Stakeholder

    msg = deliver.build_message(
        read_json(results_path),
        Stakeholder(name="A <b>", email="a@example.org"),
        root / "analysis" / "report.pdf",
        "r@example.org",
    )
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "A &lt;b&gt;" in html
    assert (
        "<script>alert(1)</script>" in msg.get_body(("plain",)).get_content()
    )  # plain text is literal
