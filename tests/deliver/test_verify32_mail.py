"""Verify round 32: a mail server that is slow to confirm a message it has already taken."""

from __future__ import annotations

import json

from deliver.mailserver import Recorder, smtp_env

from hlm_analysis import layout
from hlm_analysis.deliver import mail as deliver


def test_a_slow_confirmation_of_the_message_is_waited_for_not_resent(
    report_dir, server, monkeypatch
):
    # Servers scan an attachment before they answer the end of DATA (RFC 5321 allows them 10
    # minutes). Timing that wait out like a connect retried the send: the person got every
    # retry's copy while sent.json said "not delivered", and the next run sent it again.
    config, root = report_dir
    handler = Recorder(delay=0.3)
    smtp_env(monkeypatch, server(handler).port)
    lines = []
    ok = deliver.email_report(config, root, progress=lines.append, backoff=0, timeout=0.1)
    assert ok, lines
    assert sorted(handler.recipients()) == ["ada@example.org", "bo@example.org"]
    sent = json.loads((root / "analysis" / layout.SEND_LOG).read_text())
    assert sorted(e["recipient"] for e in sent) == ["ada@example.org", "bo@example.org"]
