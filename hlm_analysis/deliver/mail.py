"""`hlm-report email`: send the PDF to each stakeholder exactly once per report version.

One message per person (plain text and HTML from templates/), the PDF attached. A send log beside
the report records (recipient, report checksum); a repeated run sends nothing new unless the report
changed or --force is given. Transient failures (4xx replies, dropped connections) are retried with
backoff; a refused recipient is named and the others still get theirs. The password is read from
the environment and never printed, logged or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

from .. import atomic, layout
from ..errors import InputError
from ..present import narrative
from ..results import RESULTS_FILE, read_json
from ..spec import EMAIL, Stakeholder, load_spec

RETRIES = 3


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: str
    security: str  # starttls, ssl or none

    def __repr__(self) -> str:  # never show the password, even in a debugger or traceback
        return f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, security={self.security!r})"


def smtp_settings(environ=os.environ) -> SmtpSettings:
    host = environ.get("SMTP_HOST")
    if not host:
        raise InputError(
            "SMTP_HOST is not set (also SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM, SMTP_SECURITY)"
        )
    security = environ.get("SMTP_SECURITY", "starttls").lower()
    if security not in ("starttls", "ssl", "none"):
        raise InputError(f"SMTP_SECURITY must be starttls, ssl or none, not '{security}'")
    default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
    try:
        port = int(environ.get("SMTP_PORT", default_port))
    except ValueError:
        raise InputError(f"SMTP_PORT must be a number, not '{environ.get('SMTP_PORT')}'") from None
    sender = environ.get("SMTP_FROM") or environ.get("SMTP_USER")
    if not sender or not EMAIL.match(sender.split("<")[-1].rstrip(">").strip()):
        raise InputError("SMTP_FROM must be set to the sender's email address")
    return SmtpSettings(
        host, port, environ.get("SMTP_USER"), environ.get("SMTP_PASSWORD"), sender, security
    )


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_message(results, person: Stakeholder, pdf: Path, sender: str) -> EmailMessage:
    f = narrative.plain_facts(results)
    findings = narrative.key_findings(f)
    env = narrative.environment()
    message = EmailMessage()
    message["Subject"] = f"Report: {results.spec.title}"
    message["From"] = sender
    message["To"] = formataddr((person.name, person.email))
    message["Message-ID"] = make_msgid(domain="hlm-report.local")
    context = {"f": f, "findings": findings, "name": person.name}
    message.set_content(env.get_template("email.txt.j2").render(**context))
    message.add_alternative(env.get_template("email.html.j2").render(**context), subtype="html")
    message.add_attachment(
        pdf.read_bytes(),
        maintype="application",
        subtype="pdf",
        filename=f"{results.spec.name}.pdf",
    )
    return message


class _Transient(Exception):
    pass


def _connect(settings: SmtpSettings, timeout: float) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if os.environ.get("SMTP_CA_FILE"):  # a private CA (and the tests' self-signed certificate)
        context.load_verify_locations(os.environ["SMTP_CA_FILE"])
    if settings.security == "ssl":
        server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    else:
        server = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        if settings.security == "starttls":
            server.starttls(context=context)
    if settings.user:
        server.login(settings.user, settings.password or "")
    return server


def _send_one(settings: SmtpSettings, message: EmailMessage, timeout: float) -> None:
    try:
        server = _connect(settings, timeout)
    except smtplib.SMTPAuthenticationError:
        raise InputError(
            f"SMTP login refused for user '{settings.user}' (check SMTP_USER and SMTP_PASSWORD)"
        ) from None
    except (
        smtplib.SMTPServerDisconnected,
        smtplib.SMTPConnectError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise _Transient(type(exc).__name__) from None
    try:
        server.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code = next(iter(exc.recipients.values()))[0]
        if 400 <= code < 500:
            raise _Transient(f"temporary refusal {code}") from None
        raise
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise _Transient(f"temporary failure {exc.smtp_code}") from None
        raise
    except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as exc:
        raise _Transient(type(exc).__name__) from None
    finally:
        try:
            server.quit()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            server.close()


def _load_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise InputError(f"send log {path} is damaged; move it away to resend") from None


def _save_log(path: Path, entries: list[dict]) -> None:
    atomic.write_text(path, json.dumps(entries, indent=1))


def email_report(
    config: Path,
    output_root: Path = layout.DEFAULT_OUTPUT_ROOT,
    dry_run: bool = False,
    to: str | None = None,
    force: bool = False,
    progress=print,
    backoff: float = 1.0,
    timeout: float = 20.0,
) -> bool:
    """Send (or with dry_run, write .eml files); returns True when every recipient has the report."""
    spec = load_spec(config)
    folder = layout.report_dir(output_root, Path(config))
    pdf = folder / layout.PDF
    if not pdf.is_file() or not (folder / RESULTS_FILE).is_file():
        raise InputError(
            f"no report to send: {pdf} is missing (run `make report CONFIG={config}` first)"
        )
    if to is not None:
        if not EMAIL.match(to):
            raise InputError(f"--to: '{to}' is not an email address")
        people = [Stakeholder(name=to.split("@")[0], email=to)]
    else:
        people = list(spec.stakeholders)
    if not people:
        raise InputError(f"{config}: no stakeholders to send to (add 'stakeholders:' or use --to)")
    results = read_json(folder / RESULTS_FILE)
    digest = checksum(pdf)

    if dry_run:
        outbox = folder / layout.OUTBOX
        outbox.mkdir(exist_ok=True)
        for person in people:
            message = build_message(
                results, person, pdf, os.environ.get("SMTP_FROM", "hlm-report@localhost")
            )
            target = outbox / f"{person.email}.eml"
            target.write_bytes(bytes(message))
            progress(f"  wrote {target}")
        return True

    settings = smtp_settings()
    log_path = folder / layout.SEND_LOG
    log = _load_log(log_path)
    already = {(e["recipient"], e["checksum"]) for e in log}
    failed = []
    for person in people:
        if (person.email, digest) in already and not force:
            progress(f"  {person.email}: already has this version of the report; skipped")
            continue
        message = build_message(results, person, pdf, settings.sender)
        for attempt in range(1, RETRIES + 1):
            try:
                _send_one(settings, message, timeout)
            except _Transient as exc:
                if attempt == RETRIES:
                    progress(f"  {person.email}: not delivered after {RETRIES} tries ({exc})")
                    failed.append(person.email)
                    break
                wait = backoff * 2 ** (attempt - 1)
                progress(f"  {person.email}: {exc}; retrying in {wait:g} s")
                time.sleep(wait)
            except smtplib.SMTPRecipientsRefused as exc:
                code, reason = next(iter(exc.recipients.values()))
                progress(
                    f"  {person.email}: refused by the server ({code} {reason.decode(errors='replace')})"
                )
                failed.append(person.email)
                break
            except smtplib.SMTPException as exc:
                progress(f"  {person.email}: not delivered ({type(exc).__name__})")
                failed.append(person.email)
                break
            else:
                log.append(
                    {
                        "recipient": person.email,
                        "checksum": digest,
                        "sent": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    }
                )
                _save_log(
                    log_path, log
                )  # written after each success: a crash never causes a resend
                progress(f"  {person.email}: sent")
                break
    if failed:
        progress(f"hlm-report: {len(failed)} of {len(people)} not delivered: {', '.join(failed)}")
    return not failed
