"""No SMTP server to reach at all: the retries of the first recipient, then exit 3 and one line
naming host:port and the cause, nothing marked sent (verify round 32, row 7: it was 12 connects
and a 'not delivered' line per person, exit 1)."""

from __future__ import annotations

import json
import socket

from deliver.mailserver import Recorder, free_port, run_email, smtp_env

from hlm_analysis.deliver import mail as deliver


def counted_connects(monkeypatch):
    calls = []
    real = deliver._connect

    def connect(settings, timeout):
        calls.append(settings.host)
        return real(settings, timeout)

    monkeypatch.setattr(deliver, "_connect", connect)
    monkeypatch.setattr(deliver.time, "sleep", lambda seconds: None)
    return calls


def sent(root):
    log = root / "analysis" / "sent.json"
    return json.loads(log.read_text()) if log.exists() else []


def test_nothing_listening_is_exit_3_after_the_first_recipients_retries(
    report_dir, monkeypatch, capsys
):
    config, root = report_dir
    port = free_port()  # nothing listens there
    smtp_env(monkeypatch, port)
    calls = counted_connects(monkeypatch)
    code, out = run_email(config, root, capsys)
    assert code == 3, out
    assert len(calls) == deliver.RETRIES, calls
    last = out.strip().splitlines()[-1]
    assert f"127.0.0.1:{port}" in last and "refused" in last.lower(), out
    assert "not delivered" not in out and "Traceback" not in out
    assert sent(root) == []


def test_name_lookup_failing_for_the_network_is_exit_3(report_dir, monkeypatch, capsys):
    config, root = report_dir
    smtp_env(monkeypatch, 2525)
    monkeypatch.setenv("SMTP_HOST", "mail.district.example.org")

    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    calls = counted_connects(monkeypatch)
    code, out = run_email(config, root, capsys)
    assert code == 3 and len(calls) == deliver.RETRIES, out
    last = out.strip().splitlines()[-1]
    assert "mail.district.example.org:2525" in last and "name resolution" in last, out
    assert sent(root) == []


def test_tls_handshake_failing_is_exit_3_at_once(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder()
    port = server(handler).port
    smtp_env(monkeypatch, port, security="ssl")  # a plain server: no TLS to shake hands with
    calls = counted_connects(monkeypatch)
    code, out = run_email(config, root, capsys)
    assert code == 3 and len(calls) == 1, out
    assert f"127.0.0.1:{port}" in out.strip().splitlines()[-1], out
    assert handler.messages == [] and sent(root) == []


def test_a_server_gone_after_the_first_recipient_fails_only_the_rest(
    report_dir, server, monkeypatch, capsys
):
    """Once a server has answered in this run, a later connection failure is that recipient's
    'not delivered' (exit 1), and what was sent stays recorded."""
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    real = deliver._send_one

    def flaky(settings, message, to, timeout):
        if to == "bo@example.org":
            raise deliver._Unreachable("ConnectionRefusedError")
        return real(settings, message, to, timeout)

    monkeypatch.setattr(deliver, "_send_one", flaky)
    monkeypatch.setattr(deliver.time, "sleep", lambda seconds: None)
    code, out = run_email(config, root, capsys)
    assert code == 1, out
    assert "bo@example.org: not delivered (after 3 tries: ConnectionRefusedError)" in out
    assert [e["recipient"] for e in sent(root)] == ["ada@example.org"]
