"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the email tests, and how to point SMTP_* at it.

The fixtures that start it (`server`, `tls_server`, `report_dir`) are in conftest.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import socket
import threading
from email import policy
from pathlib import Path

from helpers import write_config

from hlm_analysis import layout
from hlm_analysis.cli import main
from hlm_analysis.spec import load_spec

PASSWORD = "s3cret-Pa55word"
STAKEHOLDERS = [
    {"name": "Ada Board", "email": "ada@example.org"},
    {"name": "Bo Refused", "email": "bo@example.org"},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    """Accepts mail and keeps each message (parsed back with policy.default) with its envelope.

    refuse: addresses answered with 550; drop_first: connections dropped in the middle of DATA;
    delay: seconds each DATA takes (to make runs overlap); on_data: called before each message
    is accepted (to look at the send log mid-run).
    """

    def __init__(self, refuse=(), drop_first=0, delay=0.0, on_data=None):
        self.messages = []
        self.envelopes = []  # (mail_from, rcpt_tos, raw bytes) per accepted message
        self.refuse = set(refuse)
        self.drops_left = drop_first
        self.delay = delay
        self.on_data = on_data
        self.data_started = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_started.set()
        if self.drops_left:
            self.drops_left -= 1
            server.transport.close()  # the connection drops in the middle of the message
            return "421 closing"
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.on_data:
            self.on_data(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def recipients(self) -> list[str]:
        return [rcpt for _, rcpts, _ in self.envelopes for rcpt in rcpts]


def smtp_env(monkeypatch, port, security="none", user=None):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_FROM", "reports@district.example.org")
    monkeypatch.setenv("SMTP_SECURITY", security)
    monkeypatch.delenv("SMTP_CA_FILE", raising=False)
    if user:
        monkeypatch.setenv("SMTP_USER", user)
        monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    else:
        monkeypatch.delenv("SMTP_USER", raising=False)
        monkeypatch.delenv("SMTP_PASSWORD", raising=False)


def run_email(config, root, capsys, *extra):
    code = main(["email", str(config), "--output-root", str(root), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def with_stakeholders(tmp_path, stakeholders):
    """(Re)write the report_dir config with these stakeholders; returns its path."""
    return write_config(
        tmp_path,
        name="analysis",
        data=tmp_path / "d.csv",
        outcome="y",
        group="g",
        stakeholders=stakeholders,
    )


def mark_rendered(folder: Path, config: Path) -> None:
    """Write the marker render writes: `folder` holds the report of `config` as it is now."""
    version = layout.report_version(folder / "results.json")
    inputs = layout.inputs_hash(load_spec(config).to_json())
    (folder / layout.MARKER).write_text(layout.marker_text(folder, config, version, inputs))
