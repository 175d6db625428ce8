"""The sender and signature of the email from the config (issue 24): `from:` (SMTP_FROM, when
set, wins; then from:; then SMTP_USER), `signature:` ending every message in both parts; both
checked when the config is loaded, neither published in results.json, and editing them does not
make the rendered report stale."""

from __future__ import annotations

import email
import json
from email import policy

import pytest
import yaml
from deliver.mailserver import Recorder, run_email, smtp_env

from hlm_analysis.deliver import mail
from hlm_analysis.results import published_spec
from hlm_analysis.spec import load_spec

SIGNATURE = "Research Office\nRiverside School District\n555-0100"


def _configure(config, **keys):
    data = yaml.safe_load(config.read_text())
    data.update(keys)
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    return config


def _outbox(root):
    files = sorted((root / "analysis" / "outbox").glob("*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]


def test_from_and_signature_of_the_config_in_a_dry_run(report_dir, capsys, monkeypatch):
    monkeypatch.delenv("SMTP_FROM", raising=False)
    config, root = report_dir
    _configure(config, **{"from": "Research Office <research@district.example.org>"})
    _configure(config, signature=SIGNATURE)
    # the sender and signature are email's: the report rendered before is still this config's
    code, out = run_email(config, root, capsys, "--dry-run")
    assert code == 0, out
    assert "sender Research Office <research@district.example.org> (from: in the config)" in out
    messages = _outbox(root)
    assert len(messages) == 2
    for msg in messages:
        assert msg["From"] == "Research Office <research@district.example.org>"
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text.rstrip().endswith("Research Office\nRiverside School District\n555-0100")
        assert "hlm-report\n" not in text.split("Kind regards", 1)[-1]
        html = msg.get_body(("html",)).get_content()
        assert "<p>Research Office<br>Riverside School District<br>555-0100</p>" in html


def test_smtp_from_wins_over_the_config(report_dir, capsys, monkeypatch):
    config, root = report_dir
    _configure(config, **{"from": "research@district.example.org"})
    monkeypatch.setenv("SMTP_FROM", "ops@district.example.org")
    code, out = run_email(config, root, capsys, "--dry-run")
    assert code == 0 and "sender ops@district.example.org (SMTP_FROM)" in out, out
    assert all(m["From"] == "ops@district.example.org" for m in _outbox(root))
    settings = mail.smtp_settings(
        {"SMTP_HOST": "h", "SMTP_FROM": "ops@district.example.org"}, "research@x.example.org"
    )
    assert settings.sender.addr_spec == "ops@district.example.org"
    settings = mail.smtp_settings(
        {"SMTP_HOST": "h", "SMTP_USER": "login@x.example.org"}, "research@district.example.org"
    )
    assert settings.sender.addr_spec == "research@district.example.org"


def test_without_either_the_dry_run_names_its_stand_in_and_the_default_signature(
    report_dir, capsys, monkeypatch
):
    monkeypatch.delenv("SMTP_FROM", raising=False)
    config, root = report_dir
    code, out = run_email(config, root, capsys, "--dry-run")
    assert code == 0
    assert "stands in (SMTP_FROM is not set, nor from: in the config" in out
    text = _outbox(root)[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.rstrip().endswith("Kind regards,\nhlm-report")


def test_messages_go_out_from_the_configs_sender(report_dir, server, capsys, monkeypatch):
    recorder = Recorder()
    smtp_env(monkeypatch, server(recorder).port)
    monkeypatch.delenv("SMTP_FROM", raising=False)
    config, root = report_dir
    _configure(config, **{"from": "Research Office <research@district.example.org>"})
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert {envelope[0] for envelope in recorder.envelopes} == {"research@district.example.org"}


@pytest.mark.parametrize(
    ("value", "piece"),
    [
        ("not an address", "is not an email address"),
        ("Ops <ops@>", "is not an email address"),
        ("a@b.org\nBcc: x@y.org", "a sender is one line"),
    ],
)
def test_a_bad_sender_is_refused_when_the_config_is_loaded(tmp_path, capsys, value, piece):
    from hlm_analysis.cli import main

    config = tmp_path / "c.yml"
    config.write_text(
        yaml.safe_dump({"title": "t", "data": "d.csv", "outcome": "y", "group": "g", "from": value})
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "key 'from'" in err[0] and piece in err[0], err


def test_sender_and_signature_stay_out_of_results_json(tmp_path):
    config = tmp_path / "c.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "title": "t",
                "data": "d.csv",
                "outcome": "y",
                "group": "g",
                "from": "Ops <ops@district.example.org>",
                "signature": SIGNATURE,
            }
        )
    )
    spec = load_spec(config)
    assert spec.sender == "Ops <ops@district.example.org>" and spec.signature == SIGNATURE
    published = json.dumps(published_spec(spec))
    assert "ops@" not in published and "555-0100" not in published


def test_a_misspelled_from_key_gets_a_did_you_mean(tmp_path):
    from hlm_analysis.errors import InputError

    config = tmp_path / "c.yml"
    config.write_text("title: t\ndata: d.csv\noutcome: y\ngroup: g\nsignatur: x\n")
    with pytest.raises(InputError, match=r"unknown key 'signatur' \(did you mean 'signature'\?\)"):
        load_spec(config)
