"""`hlm-report email`: send the PDF to each stakeholder exactly once per report version.

One message per person (plain text and HTML from templates/), the PDF attached, only from the
report folder rendered from this very config (its marker, layout.check_owner). A send log beside
the report records (recipient, report version: a hash of results.json, not of the PDF's bytes);
a repeated run, or one after a re-render of the same results, sends nothing new unless the
results changed or --force is given, and an exclusive lock beside the log makes a second run at the same
time wait and then find what the first one sent. Transient failures (4xx replies, dropped
connections) are retried with backoff; whatever goes wrong for one recipient is named and the
others still get theirs. The password is read from the environment and never printed, logged or
written.

Headers are built only from `email.headerregistry` objects, never pasted strings: user text (the
title, stakeholder names, SMTP_FROM) cannot add or end a header, and the SMTP envelope is the
validated address itself, never re-read from the headers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import smtplib
import socket
import ssl
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from .. import addresses, atomic, layout
from ..errors import InputError, ToolError
from ..present import narrative
from ..results import RESULTS_FILE, read_json
from ..spec import EMAIL, Stakeholder, load_spec
from . import profiles as group_profiles

RETRIES = 3
LOCK_TIMEOUT = 600.0  # seconds a run waits for another one sending the same report
# Seconds to wait for the server's answers once the message is under way: RFC 5321 4.5.3.2
# gives the end of DATA 10 minutes (servers scan the attachment first). Timing that wait out
# like a connect made every retry a second copy of a message the server had taken.
TRANSACTION_TIMEOUT = 600.0
_DRY_RUN_SENDER = Address("hlm-report", "hlm-report", "localhost")

# Anything that could end a header line or confuse a terminal. A tab is left to whitespace
# folding; CR, LF and the Unicode line separators are what header injection is made of.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# Python's header folding decodes RFC 2047 encoded words found in user text and writes the
# decoded text back raw (before 3.11.10 / 3.12.5 nothing checks it): '=?utf-8?q?=0D=0ABcc:...?='
# becomes a real line break and a new header. No name, address or title needs this syntax.
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.S)
# A line break not followed by folding whitespace starts a new header (CPython's own check).
_BARE_NEWLINE = re.compile(r"\r\n[^ \t]|\r[^ \n\t]|\n[^ \t]|[\r\n]$")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
_FILE_STEM_MAX = 100


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: Address
    security: str  # starttls, ssl or none

    def __repr__(self) -> str:  # never show the password, even in a debugger or traceback
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"sender={str(self.sender)!r}, security={self.security!r})"
        )


def _shown(value: str, limit: int = 60) -> str:
    """A value quoted for a one-line message: repr() turns line breaks into visible escapes."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def one_line(text: str) -> str:
    """User text as one header-safe line: control characters and runs of whitespace (folded
    YAML ends with a newline) become single spaces."""
    cleaned = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(cleaned.split())


def parse_sender(value: str) -> Address:
    check_text(value, "SMTP_FROM")
    refused = InputError(
        "SMTP_FROM must be one email address such as 'Reports <reports@example.org>', "
        f"not {_shown(value)}"
    )
    try:
        header = policy.SMTP.header_factory("From", value)
    except ValueError:
        raise refused from None
    if header.defects or len(header.addresses) != 1:
        raise refused
    address = header.addresses[0]
    if not EMAIL.fullmatch(address.addr_spec):
        raise refused
    try:  # the envelope sender too: an international domain IDNA-encoded, as recipients' are
        return addresses.header_address(address.display_name, addresses.checked(address.addr_spec))
    except ValueError:
        raise refused from None


def smtp_settings(environ=os.environ, config_sender: str | None = None) -> SmtpSettings:
    """SMTP_* from the environment; the sender is SMTP_FROM, else the config's `from:`, else
    SMTP_USER."""
    host = environ.get("SMTP_HOST")
    if not host:
        raise InputError(
            "SMTP_HOST is not set (also SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM, SMTP_SECURITY)"
        )
    written = environ.get("SMTP_SECURITY", "starttls")
    security = written.strip().lower()
    if security not in ("starttls", "ssl", "none"):
        raise InputError(f"SMTP_SECURITY must be starttls, ssl or none, not {_shown(written)}")
    port = smtp_port(environ.get("SMTP_PORT"), {"starttls": 587, "ssl": 465, "none": 25}[security])
    ca_file = environ.get("SMTP_CA_FILE")
    if ca_file and not os.path.isfile(ca_file):  # found before connecting, not as a TLS failure
        raise InputError(f"SMTP_CA_FILE: {_shown(ca_file)} is not a file")
    sender = environ.get("SMTP_FROM") or config_sender or environ.get("SMTP_USER")
    if not sender:
        raise InputError(
            "SMTP_FROM must be set to the sender's email address (or from: in the config)"
        )
    return SmtpSettings(
        host,
        port,
        environ.get("SMTP_USER"),
        environ.get("SMTP_PASSWORD"),
        parse_sender(sender),
        security,
    )


def smtp_port(value: str | None, default: int) -> int:
    """SMTP_PORT as a TCP port (1 to 65535), or the security mode's default when unset."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise InputError(f"SMTP_PORT must be a port number from 1 to 65535, not {_shown(value)}")
    return int(text)


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_text(value: str, what: str) -> None:
    """Refuse a line break or control character in a name or address before anything is sent:
    such a value is a broken config (or an attempt to add headers), not one bad recipient."""
    if _CONTROL.search(value):
        raise InputError(f"{what} contains a line break or control character: {_shown(value)}")
    check_encoded_words(value, what)


def check_encoded_words(value: str, what: str) -> None:
    if _ENCODED_WORD.search(value):
        raise InputError(
            f"{what} contains MIME encoded-word syntax (=?...?=), which mail programs would "
            f"decode: {_shown(value)}"
        )


def check_recipients(people: list[Stakeholder], config: Path | str) -> None:
    for index, person in enumerate(people):
        for field in ("name", "email"):
            check_text(getattr(person, field), f"{config}: key 'stakeholders.{index}.{field}'")


class AddressError(ValueError):
    """An address the spec's pattern lets through but a To header cannot carry."""


class HeaderError(ValueError):
    """User text that would break a header as it is written out."""


def verify_headers(message: EmailMessage) -> None:
    """Fold every header of every part exactly as it will be sent and refuse any line break that
    would start a new header or end the header block (what `verify_generated_headers` does in
    newer Pythons), so nothing user text slipped past the checks can add a header."""
    linesep = message.policy.linesep
    for part in message.walk():
        for name, value in part.items():
            folded = message.policy.fold(name, value)
            if not folded.endswith(linesep) or _BARE_NEWLINE.search(folded[: -len(linesep)]):
                raise HeaderError(f"the {name} header would be broken by the text in it")


def _recipient(person: Stakeholder) -> Address:
    """The To header's address: the domain lower-cased and IDNA-encoded (addresses.checked)."""
    try:
        return addresses.header_address(one_line(person.name), addresses.checked(person.email))
    except ValueError as exc:  # email.errors.HeaderDefect is a ValueError
        raise AddressError(f"not a valid address for a To header: {exc}") from None


def report_filename(results) -> str:
    """The attachment's name: the config's `name` is user text too (letters, digits, ._@+-)."""
    return re.sub(r"[^\w.@+-]", "_", results.spec.name).lstrip(".") or "report"


def build_message(
    results,
    person: Stakeholder,
    pdf: Path,
    sender: Address | str,
    files: list | None = None,
    signature: str | None = None,
) -> EmailMessage:
    """`files`: (path, name) pairs to attach instead of the report (group profiles);
    `signature`: the config's lines that end the message."""
    f = narrative.plain_facts(results)
    findings = narrative.key_findings(f)
    env = narrative.environment()
    title = one_line(results.spec.title)
    # A non-ASCII local part can only be written as UTF-8 (RFC 6531; sent only with SMTPUTF8).
    utf8 = addresses.needs_smtputf8(person.email)
    message = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
    # Whether folding turns an encoded word into a real line break depends on the Python version
    # (3.11 decodes it raw, 3.13 re-encodes it), so the last line of defence refuses the syntax
    # itself rather than relying on verify_headers to see the break.
    for header, text in (("To", person.name), ("Subject", results.spec.title)):
        if _ENCODED_WORD.search(text):
            raise HeaderError(f"the {header} header would be broken by the text in it")
    message["Subject"] = subject(results)
    message["From"] = sender if isinstance(sender, Address) else parse_sender(sender)
    message["To"] = _recipient(person)
    message["Message-ID"] = make_msgid(domain="hlm-report.local")
    context = {"f": f, "findings": findings, "name": one_line(person.name), "title": title}
    context.update(profile_of=None, with_report=False)
    # the config's signature, one line each (autoescaped in the HTML part)
    lines = [one_line(line) for line in (signature or "").splitlines() if line.strip()]
    context["signature"] = lines or ["Kind regards,", "hlm-report"]
    group = getattr(person, "group", None)
    if files is not None and group is not None:  # a group's profile (deliver/profiles.py)
        title = group_profiles.group_title(results, group)  # its level's noun: "School S001"
        context.update(profile_of=one_line(title), with_report=len(files) > 1)
    message.set_content(env.get_template("email.txt.j2").render(**context))
    message.add_alternative(env.get_template("email.html.j2").render(**context), subtype="html")
    for path, name in files if files is not None else [(pdf, f"{report_filename(results)}.pdf")]:
        message.add_attachment(
            path.read_bytes(), maintype="application", subtype="pdf", filename=name
        )
    verify_headers(message)
    return message


def subject(results) -> str:
    title = one_line(results.spec.title)
    return f"Report: {title}" if title else "Report"


def eml_name(address: str, taken: set[str]) -> str:
    """A file name for `address` that can only name a file directly inside the outbox: no path
    separators, no leading dot, bounded length, and distinct from the names in `taken`
    (compared case-insensitively, for case-insensitive file systems); adds it to `taken`."""
    stem = _FILE_UNSAFE.sub("_", address).lstrip(".")[:_FILE_STEM_MAX] or "recipient"
    name, n = f"{stem}.eml", 1
    while name.casefold() in taken:
        n += 1
        name = f"{stem}-{n}.eml"
    taken.add(name.casefold())
    return name


def _write_bytes(path: Path, data: bytes) -> None:
    # Replaced by rename: a symlink planted at `path` is replaced, never written through.
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _Transient(Exception):
    pass


class _NotDelivered(Exception):
    pass


# getaddrinfo's answers for a name that does not exist (others: no network, resolver down)
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class _Unreachable(_Transient):
    """No SMTP session could be opened (refused, timed out, no route, no name lookup): says
    nothing about the recipient, only that the server is not there."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


class _NeverReached(_NotDelivered):
    """Every try of one recipient failed before a server answered."""


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca_file = os.environ.get("SMTP_CA_FILE")
    if ca_file:  # a private CA (and the tests' self-signed certificate)
        try:
            context.load_verify_locations(ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            raise InputError(
                f"SMTP_CA_FILE: cannot read certificates from {ca_file} ({reason})"
            ) from None
    return context


def _connect(settings: SmtpSettings, timeout: float) -> smtplib.SMTP:
    where = f"{settings.host}:{settings.port}"
    context = _tls_context() if settings.security != "none" else None
    server = None
    try:
        if settings.security == "ssl":
            server = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=context
            )
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        server.ehlo_or_helo_if_needed()
        if settings.security == "starttls":
            if not server.has_extn("starttls"):
                # Logging in without it would send the password in clear text.
                raise InputError(
                    f"SMTP server {where} does not offer STARTTLS; set SMTP_SECURITY=ssl "
                    "(port 465) or, on a trusted network only, SMTP_SECURITY=none"
                )
            server.starttls(context=context)
        if settings.user:
            server.ehlo_or_helo_if_needed()
            if not server.has_extn("auth"):
                raise InputError(
                    f"SMTP server {where} does not offer login (AUTH) on this connection; "
                    "check SMTP_SECURITY, or unset SMTP_USER to send without logging in"
                )
            server.login(settings.user, settings.password or "")
    except BaseException:
        if server is not None:
            server.close()
        raise
    return server


def _open(settings: SmtpSettings, timeout: float) -> smtplib.SMTP:
    """A connection, logged in; failures that are the settings' are InputError or ToolError."""
    where = f"{settings.host}:{settings.port}"
    try:
        return _connect(settings, timeout)
    except smtplib.SMTPAuthenticationError:
        raise InputError(
            f"SMTP login refused for user '{settings.user}' (check SMTP_USER and SMTP_PASSWORD)"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise ToolError(
            f"SMTP server {where}: TLS certificate not trusted ({exc.verify_message}); "
            "for a private certificate authority set SMTP_CA_FILE"
        ) from None
    except ssl.SSLError as exc:
        raise ToolError(
            f"SMTP TLS handshake with {where} failed ({exc.reason or exc.__class__.__name__}); "
            "check SMTP_SECURITY and SMTP_PORT (ssl: 465, starttls: 587)"
        ) from None
    except socket.gaierror as exc:
        if exc.errno in _NO_SUCH_NAME:
            # the name does not exist: SMTP_HOST is mistyped, no retry will find it
            raise InputError(f"SMTP_HOST '{settings.host}' cannot be found") from None
        raise _Unreachable(exc.strerror or type(exc).__name__) from None
    except smtplib.SMTPServerDisconnected:
        raise _Unreachable("SMTPServerDisconnected") from None  # closed before a session began
    except OSError as exc:  # refused, timed out, no route
        # smtplib's other errors are OSErrors too, but they are a server's answers
        kind = _Transient if isinstance(exc, smtplib.SMTPException) else _Unreachable
        raise kind(type(exc).__name__) from None


def _send_one(settings: SmtpSettings, message: EmailMessage, to: str, timeout: float) -> None:
    server = _open(settings, timeout)
    try:
        if server.sock is not None:
            server.sock.settimeout(max(timeout, TRANSACTION_TIMEOUT))
        # The envelope is the checked address, never whatever a parser makes of the headers.
        server.send_message(message, from_addr=settings.sender.addr_spec, to_addrs=[to])
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        if 400 <= code < 500:
            raise _Transient(f"temporary refusal {code}") from None
        raise _NotDelivered(
            f"refused by the server: {code} {reason.decode(errors='replace')}"
        ) from None
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise _Transient(f"temporary failure {exc.smtp_code}") from None
        raise
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _Transient(type(exc).__name__) from None
    finally:
        try:
            server.quit()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            server.close()


def _send_with_retries(settings, message, to, timeout, backoff, progress) -> None:
    answered = False  # whether any try reached a server
    for attempt in range(1, RETRIES + 1):
        try:
            _send_one(settings, message, to, timeout)
            return
        except _Transient as exc:
            answered = answered or not isinstance(exc, _Unreachable)
            if attempt == RETRIES:
                failure = _NotDelivered if answered else _NeverReached
                raise failure(f"after {RETRIES} tries: {exc}") from exc
            wait = backoff * 2 ** (attempt - 1)
            progress(f"  {to}: {exc}; retrying in {wait:g} s")
            time.sleep(wait)


def _connect_cause(exc: BaseException | None) -> str:
    """Why a connection failed, in words ('connection refused'), from an _Unreachable."""
    cause = exc.cause if isinstance(exc, _Unreachable) else ""
    words = {
        "ConnectionRefusedError": "connection refused: nothing listens on that port",
        "TimeoutError": "timed out",
        "SMTPServerDisconnected": "the server closed the connection",
    }
    return words.get(cause, cause[:1].lower() + cause[1:] if cause else "no answer")


def _reason(exc: BaseException, secret: str | None) -> str:
    """One line about an unexpected failure; never the password, should an error quote it."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, AddressError | HeaderError | _NotDelivered):
        text = first
    else:
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= 200 else text[:197] + "..."


def _load_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    damaged = InputError(f"send log {path} is damaged; move it away to resend to everyone")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # also UnicodeDecodeError
        raise damaged from None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("recipient"), str)
        and isinstance(e.get("checksum"), str)
        and isinstance(e.get("version", ""), str)
        for e in entries
    ):
        raise damaged
    return entries


def _save_log(path: Path, entries: list[dict], just_sent: str) -> None:
    try:
        atomic.write_text(path, json.dumps(entries, indent=1))
    except (OSError, InputError) as exc:  # atomic may already call a refused write InputError
        # Sending on without a record would mean sending twice next time.
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(
            f"cannot write the send log {path} ({reason}); {just_sent} has the report "
            "but it is not recorded"
        ) from None


@contextlib.contextmanager
def _send_lock(log_path: Path, timeout: float, progress) -> Iterator[None]:
    """Hold an exclusive lock beside the send log while it is read, used and written. The lock
    goes with the process (flock), so a crashed run never leaves a stale one behind."""
    lock_path = log_path.with_name(log_path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot create the lock file {lock_path} ({exc.strerror})") from None
    try:
        deadline = time.monotonic() + timeout
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise InputError(
                        f"another `hlm-report email` run has been sending this report for over "
                        f"{timeout:g} s (lock {lock_path}); try again when it has finished"
                    ) from None
                if not waiting:
                    progress("  another email run is sending this report; waiting for it")
                    waiting = True
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def email_report(
    config: Path,
    output_root: Path = layout.DEFAULT_OUTPUT_ROOT,
    dry_run: bool = False,
    to: str | None = None,
    force: bool = False,
    progress=print,
    backoff: float = 1.0,
    timeout: float = 20.0,
    lock_timeout: float | None = None,
) -> bool:
    """Send (or with dry_run, write .eml files); returns True when every recipient has the report.

    The report sent is the one rendered from THIS config (its full path, recorded in the report
    folder's marker) and from the config as it is now; anything else is refused before a
    message is built. What the send log remembers is the report's content version (a hash of
    results.json, layout.report_version), so re-rendering the same results sends nothing new.
    """
    spec = load_spec(config)
    folder = layout.report_dir(output_root, Path(config))
    pdf = folder / layout.PDF
    if not pdf.is_file() or not (folder / RESULTS_FILE).is_file():
        raise InputError(
            f"no report to send: {pdf} is missing (run `make report CONFIG={config}` first)"
        )
    marker = layout.check_owner(folder, Path(config))
    if marker.get("inputs") != layout.inputs_hash(spec.to_json()):
        raise InputError(
            f"{config} has changed since its report in {folder} was rendered; render it again "
            "before emailing"
        )
    if to is not None:
        check_text(to, "--to")
        if not EMAIL.fullmatch(to):
            raise InputError(f"--to: '{to}' is not an email address")
        try:
            addresses.checked(to)
        except ValueError as exc:
            raise InputError(f"--to: '{to}' cannot be sent to: {exc}") from None
        people = [Stakeholder.model_construct(name=to.split("@")[0], email=to, role=None)]
    else:
        people = list(spec.stakeholders)
        check_recipients(people, str(config))
    if not people:
        raise InputError(f"{config}: no stakeholders to send to (add 'stakeholders:' or use --to)")
    unique: dict[str, Stakeholder] = {}
    for person in people:
        # Listed twice still means sent once: the same address up to the domain's case.
        unique.setdefault(addresses.key(person.email), person)
    people = list(unique.values())
    results = read_json(folder / RESULTS_FILE)
    # Line breaks in the title are ordinary (folded YAML) and become spaces in the Subject.
    check_encoded_words(results.spec.title, f"{config}: key 'title'")
    version = layout.report_version(folder / RESULTS_FILE)
    digest = checksum(pdf)
    # who gets which files: the report, or a group's profile (stakeholders with `group:`)
    files = group_profiles.attachments(
        folder, people, version, config, pdf, report_filename(results)
    )

    if dry_run:
        sender, where = None, ""
        if os.environ.get("SMTP_FROM"):
            sender, where = parse_sender(os.environ["SMTP_FROM"]), "SMTP_FROM"
        elif spec.sender:
            sender, where = parse_sender(spec.sender), "from: in the config"
        if sender is None:
            progress(
                f"hlm-report: dry run; sender {_DRY_RUN_SENDER.addr_spec} stands in "
                "(SMTP_FROM is not set, nor from: in the config: set one before sending)"
            )
        else:
            progress(f"hlm-report: dry run; sender {sender} ({where})")
        return _write_outbox(
            results,
            people,
            pdf,
            sender or _DRY_RUN_SENDER,
            folder,
            progress,
            files,
            spec.signature,
        )

    settings = smtp_settings(config_sender=spec.sender)
    international = [p.email for p in people if addresses.needs_smtputf8(p.email)]
    if addresses.needs_smtputf8(settings.sender.addr_spec):
        international.append(settings.sender.addr_spec)
    if international:
        _require_smtputf8(settings, timeout, international)
    log_path = folder / layout.SEND_LOG
    timeout_lock = LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    failed = []
    reached = False  # whether a server has answered in this run
    with _send_lock(log_path, timeout_lock, progress):
        log = _load_log(log_path)  # read under the lock: it holds what a concurrent run sent
        already = {(addresses.key(e["recipient"]), _entry_version(e)) for e in log}
        for person, attached in zip(people, files, strict=True):
            recipient = addresses.key(person.email)
            legacy = (recipient, f"pdf:{digest}") in already and (recipient, version) not in already
            if legacy:
                # Sent this very PDF before the log kept versions: record its version, so a
                # re-render (new PDF bytes, same results) still finds it.
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                log.append({"recipient": recipient, "version": version, "checksum": digest})
                log[-1]["sent"] = stamp
                _save_log(log_path, log, person.email)
                already.add((recipient, version))
            if (recipient, version) in already and not force:
                progress(f"  {person.email}: already has this version of the report; skipped")
                continue
            try:
                message = build_message(
                    results, person, pdf, settings.sender, attached, spec.signature
                )
                envelope = addresses.checked(person.email)
                _send_with_retries(settings, message, envelope, timeout, backoff, progress)
            except (InputError, ToolError):
                raise  # the settings or the server, not this person: everyone would fail alike
            except _NeverReached as exc:
                if not reached:  # no server at all: every other recipient would wait the same
                    where = f"{settings.host}:{settings.port}"
                    cause = _connect_cause(exc.__cause__)
                    raise ToolError(
                        f"SMTP server {where} cannot be reached ({cause}); nothing was sent"
                    ) from None
                progress(f"  {person.email}: not delivered ({_reason(exc, settings.password)})")
                failed.append(person.email)
                continue
            except Exception as exc:  # noqa: BLE001 - one recipient's failure must not stop the rest
                reached = reached or isinstance(exc, _NotDelivered | smtplib.SMTPException)
                progress(f"  {person.email}: not delivered ({_reason(exc, settings.password)})")
                failed.append(person.email)
                continue
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            log.append(
                {"recipient": recipient, "version": version, "checksum": digest, "sent": stamp}
            )
            reached = True
            # Written after each success: a crash later in the run never causes a resend.
            _save_log(log_path, log, person.email)
            already.add((recipient, version))
            progress(f"  {person.email}: sent")
    if failed:
        progress(f"hlm-report: {len(failed)} of {len(people)} not delivered: {', '.join(failed)}")
    return not failed


def _entry_version(entry: dict) -> str:
    """A send-log entry's report version; entries written before versions existed name the
    PDF's checksum, which still matches the same PDF."""
    version = entry.get("version")
    return version if isinstance(version, str) else f"pdf:{entry['checksum']}"


def _require_smtputf8(settings: SmtpSettings, timeout: float, needing: list[str]) -> None:
    """Refuse, before anything is sent, addresses with a non-ASCII local part when the server
    does not offer SMTPUTF8 (it could not deliver them; the domain part is IDNA-encoded and
    needs nothing)."""
    try:
        server = _open(settings, timeout)
    except _Unreachable as exc:
        raise ToolError(
            f"SMTP server {settings.host}:{settings.port} cannot be reached "
            f"({_connect_cause(exc)}); nothing was sent"
        ) from None
    except _Transient as exc:
        raise ToolError(f"SMTP server {settings.host}:{settings.port}: {exc}") from None
    try:
        offered = server.has_extn("smtputf8")
    finally:
        try:
            server.quit()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            server.close()
    if not offered:
        raise InputError(
            f"SMTP server {settings.host}:{settings.port} does not offer SMTPUTF8, which "
            f"{', '.join(needing)} needs (non-ASCII before the @); nothing was sent"
        )


def _size(n: int) -> str:
    return (
        f"{n} bytes"
        if n < 1024
        else f"{n / 1024:.0f} KB"
        if n < 1024**2
        else f"{n / 1024**2:.1f} MB"
    )


def _attachment_name(message: EmailMessage) -> str:
    names = [part.get_filename() for part in message.iter_attachments()]
    return ", ".join(name for name in names if name) or "no attachment"


def _write_outbox(
    results, people, pdf: Path, sender: Address, folder: Path, progress, files=None, signature=None
) -> bool:
    # The outbox shows this run's messages only: built beside the old one and swapped in, so a
    # stakeholder taken off the list leaves no message that looks as if it were still going out.
    outbox = folder / layout.OUTBOX
    taken: set[str] = set()
    failed = []
    lines = []
    files = files or [None] * len(people)
    with atomic.staging_dir(folder, ".outbox-") as scratch:
        built = scratch / layout.OUTBOX
        built.mkdir()
        for person, attached in zip(people, files, strict=True):
            size = sum(p.stat().st_size for p, _ in attached) if attached else pdf.stat().st_size
            try:
                message = build_message(results, person, pdf, sender, attached, signature)
                data = bytes(message)
                name = eml_name(person.email, taken)
                _write_bytes(built / name, data)
            except Exception as exc:  # noqa: BLE001 - one recipient's failure must not stop the rest
                lines.append(f"  {person.email}: not written ({_reason(exc, None)})")
                failed.append(person.email)
                continue
            # Who gets what: the To header as sent, the subject, the attachment and its size.
            lines.append(
                f"  to {message['To']}: subject {_shown(str(message['Subject']), 200)}, "
                f"{_attachment_name(message)} ({_size(size)}) -> {outbox / name}"
            )
        atomic.replace_dir(built, outbox)
    for line in lines:
        progress(line)
    if failed:
        progress(f"hlm-report: {len(failed)} of {len(people)} not written: {', '.join(failed)}")
    return not failed
