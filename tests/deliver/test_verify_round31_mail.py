"""Verify round 31: what a real mail server does that the happy path never meets."""

from __future__ import annotations

import json

from deliver.mailserver import Recorder, run_email, smtp_env, with_stakeholders

from hlm_analysis import layout
from hlm_analysis.deliver import mail as deliver


class Temporary(Recorder):
    """Answers each message's DATA (or RCPT) with a 4xx the first `times` times."""

    def __init__(self, where="DATA", code="451 4.3.0 try again later", times=1, **kw):
        super().__init__(**kw)
        self.where, self.code, self.left = where, code, times

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.where == "RCPT" and self.left:
            self.left -= 1
            return self.code
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.where == "DATA" and self.left:
            self.left -= 1
            return self.code
        return await super().handle_DATA(server, session, envelope)


def _sent(root):
    return json.loads((root / "analysis" / layout.SEND_LOG).read_text())


def test_temporary_refusals_are_retried_and_each_person_gets_one_message(
    report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    monkeypatch.setattr(deliver.time, "sleep", lambda seconds: None)
    for where, code in (("DATA", "451 4.3.0 later"), ("RCPT", "452 4.2.2 mailbox full")):
        handler = Temporary(where=where, code=code, times=2)
        smtp_env(monkeypatch, server(handler).port)
        code_, out = run_email(config, root, capsys, "--force")
        assert code_ == 0, out
        assert "retrying" in out
        assert sorted(handler.recipients()) == ["ada@example.org", "bo@example.org"], out


def test_a_message_over_the_servers_size_limit_is_named_and_not_logged(
    report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    (root / "analysis" / "report.pdf").write_bytes(b"%PDF-1.7\n" + b"0" * 200_000)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler, data_size_limit=100_000).port)
    monkeypatch.setattr(deliver.time, "sleep", lambda seconds: None)
    code, out = run_email(config, root, capsys)
    assert code != 0 and not handler.messages, out
    assert "552" in out or "size" in out.lower(), out
    assert "retrying" not in out, out  # a permanent refusal is not tried again
    assert not (root / "analysis" / layout.SEND_LOG).exists() or _sent(root) == []


def test_a_non_ascii_display_name_needs_no_smtputf8(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    with_stakeholders(root.parent, [{"name": "김민수 Ünal", "email": "kim@example.org"}])
    from deliver.mailserver import mark_rendered

    mark_rendered(root / "analysis", config)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)  # aiosmtpd offers no SMTPUTF8 by default
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert handler.recipients() == ["kim@example.org"]
    assert str(handler.messages[0]["To"]) == "김민수 Ünal <kim@example.org>"
