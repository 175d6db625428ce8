"""Fixtures for the email tests: a report folder to send and real SMTP servers on 127.0.0.1."""

from __future__ import annotations

import shutil
import ssl

import pytest
from aiosmtpd.controller import Controller
from deliver.mailserver import (
    STAKEHOLDERS,
    Recorder,
    free_port,
    mark_rendered,
    self_signed,
    smtp_env,
    with_stakeholders,
)
from helpers import FIXTURES


@pytest.fixture
def report_dir(tmp_path):
    """An _output/NAME folder with a results.json and a small PDF, and a config naming two people."""
    out = tmp_path / "_output" / "analysis"
    out.mkdir(parents=True)
    shutil.copytree(FIXTURES / "schools", out, dirs_exist_ok=True)
    (out / "report.pdf").write_bytes(b"%PDF-1.7\n% test report\n")
    config = with_stakeholders(tmp_path, STAKEHOLDERS)
    mark_rendered(out, config)
    return config, tmp_path / "_output"


@pytest.fixture
def server():
    started = []

    def start(handler, **kwargs):
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def tls_server(server, monkeypatch, tmp_path):
    """A STARTTLS server with AUTH and a certificate made here, with SMTP_* set to reach it."""

    def start(authenticator, handler=None, trust=True):
        cert, key = self_signed(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        handler = handler or Recorder()
        controller = server(
            handler,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticator,
            auth_require_tls=True,
        )
        smtp_env(monkeypatch, controller.port, security="starttls", user="mailer")
        if trust:
            monkeypatch.setenv("SMTP_CA_FILE", str(cert))
        return handler

    return start
