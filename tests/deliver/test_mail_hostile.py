"""Email against hostile or broken input, on a real SMTP server (aiosmtpd) on 127.0.0.1.

Classes of failure, each with several variants: user text in headers (title, names, addresses,
SMTP_FROM), one recipient failing in any way, .eml file names from addresses, two runs at once,
SMTP setups that cannot work, and damaged send logs.
"""

from __future__ import annotations

import email
import fcntl
import json
import os
import subprocess
import sys
import threading
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from deliver.mailserver import PASSWORD, Recorder, run_email, smtp_env, with_stakeholders

from hlm_analysis.deliver import mail as deliver
from hlm_analysis.results import read_json
from hlm_analysis.spec import Stakeholder

SENDER = "reports@district.example.org"
TOP_HEADERS = ["content-type", "from", "message-id", "mime-version", "subject", "to"]


def set_results_spec(root: Path, **keys) -> None:
    path = root / "analysis" / "results.json"
    raw = json.loads(path.read_text())
    raw["spec"].update(keys)
    path.write_text(json.dumps(raw))


def one_line(out: str) -> bool:
    return out.strip() != "" and "\n" not in out.strip()


def header_names(raw: bytes) -> list[str]:
    """The header names of the top-level header block, read from the raw bytes by hand."""
    block = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii")
    return sorted(
        line.split(":", 1)[0].lower() for line in block.split("\n") if line[:1] not in (" ", "\t")
    )


def assert_intact(msg, raw: bytes, envelope_to: list[str], address: str, name: str, pdf: bytes):
    """One well-formed message to `address` only: the header set is exactly ours, From/To parse
    to one address each, text + HTML + the PDF, which decodes to the file's bytes."""
    assert header_names(raw) == TOP_HEADERS
    assert sorted(k.lower() for k in msg.keys()) == TOP_HEADERS
    assert envelope_to == [address]
    (to,) = msg["To"].addresses
    assert to.addr_spec == address
    # Python's parser puts a space between the encoded words a long name is folded into.
    assert to.display_name.replace(" ", "") == name.replace(" ", "")
    (sender,) = msg["From"].addresses
    assert sender.addr_spec == SENDER
    assert msg.get_content_type() == "multipart/mixed" and not msg.defects
    assert msg.get_body(("plain",)).get_content().startswith(f"Dear {name},")
    assert "<li>" in msg.get_body(("html",)).get_content()
    attachments = list(msg.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    assert attachments[0].get_content() == pdf
    for part in msg.walk():
        assert "bcc" not in {k.lower() for k in part.keys()}


# --- 1. user text in headers -------------------------------------------------------------------

LONG = "Schülerleistungen in zwanzig Schulen " * 8
TITLES = {
    "folded YAML": ("Exam scores in\ntwenty schools\n", "Exam scores in twenty schools"),
    "CRLF header": ("Exam\r\nBcc: x@evil.example", "Exam Bcc: x@evil.example"),
    "blank line": ("Exam\n\nInjected body\n", "Exam Injected body"),
    "controls": ("tab\tnul\x00esc\x1b[31mdel\x7fend", "tab nul esc [31mdel end"),
    "unicode breaks": ("A\u2028Bcc: x@evil.example\u2029\x85end", "A Bcc: x@evil.example end"),
    "long non-ASCII": (LONG, " ".join(LONG.split())),
}
# Names without line breaks but full of header syntax; the display name shows them literally.
NAMES = [
    ("Eve <eve@evil.example>, Mallory <m@evil.example>", "eve-victim@example.org"),
    ('A"; Bcc: x@evil.example', "quote@example.org"),
    ("Dr. O'Neil, Ph.D. (board)", "oneil@example.org"),
    ("Zoë\tÜnal   Ørsted ", "zoe@example.org"),
    ("Bcc: x@evil.example", "bcc@example.org"),
    ("Ü" * 90, "long@example.org"),
]


@pytest.mark.parametrize("title", TITLES.values(), ids=TITLES.keys())
def test_hostile_titles_and_names_never_break_headers(
    title, report_dir, server, monkeypatch, capsys, tmp_path
):
    config, root = report_dir
    written, subject = title
    set_results_spec(root, title=written)
    with_stakeholders(tmp_path, [{"name": n, "email": e} for n, e in NAMES])
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    monkeypatch.setenv("SMTP_FROM", f'"Reports, District" <{SENDER}>')
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert len(handler.messages) == len(NAMES)
    pdf = (root / "analysis" / "report.pdf").read_bytes()
    for msg, (mail_from, rcpts, raw), (name, address) in zip(
        handler.messages, handler.envelopes, NAMES, strict=True
    ):
        assert mail_from == SENDER
        assert msg["Subject"] == f"Report: {subject}"
        assert msg["From"].addresses[0].display_name == "Reports, District"
        assert_intact(msg, raw, rcpts, address, " ".join(name.split()), pdf)
        assert f'the report "{subject}" is attached' in msg.get_body(("plain",)).get_content()


REFUSED = [
    ("name", "A\r\nBcc: x@evil.example"),
    ("name", "A\nBcc: x@evil.example"),
    ("name", "A\rB"),
    ("name", "Ada Board\n"),
    ("name", "A\u2028B"),
    ("name", "A\x00B"),
    ("name", "A\x85B"),
    ("name", "=?utf-8?q?A=0D=0ABcc:_x@evil.example?="),  # Python would decode it into a CRLF
    ("email", "mallory@example.org\n"),  # the spec's pattern lets a final newline through
    ("email", '"=?utf-8?q?=0D=0A?="@example.org'),
]


@pytest.mark.parametrize("field, value", REFUSED)
@pytest.mark.parametrize("dry_run", [False, True], ids=["send", "dry-run"])
def test_line_break_in_a_stakeholder_is_refused_before_anything_is_sent(
    field, value, dry_run, report_dir, server, monkeypatch, capsys, tmp_path
):
    config, root = report_dir
    hostile = {"name": "Mallory", "email": "mallory@example.org", field: value}
    with_stakeholders(tmp_path, [{"name": "Ada Board", "email": "ada@example.org"}, hostile])
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys, *(["--dry-run"] if dry_run else []))
    assert code == 2 and one_line(out), out
    assert f"key 'stakeholders.1.{field}'" in out
    assert handler.messages == []  # Ada, listed first, got nothing either
    assert not (root / "analysis" / "sent.json").exists()
    assert not list((root / "analysis").glob("outbox/*"))


@pytest.mark.parametrize(
    "to", ["ada@example.org\n", "ada@example.org\r", '"=?utf-8?q?a=0A?="@example.org']
)
def test_line_break_in_to_is_refused(to, report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys, "--to", to)
    assert code == 2 and one_line(out) and out.startswith("hlm-report: error: --to"), out
    assert handler.messages == []


@pytest.mark.parametrize(
    "sender",
    [
        f"{SENDER}\r\nBcc: x@evil.example",
        f"{SENDER}\n",
        f"=?utf-8?q?R=0D=0ABcc:_x@evil.example?= <{SENDER}>",
        f"{SENDER}, x@evil.example",
        "reports at district",
    ],
)
def test_hostile_smtp_from_is_refused(sender, report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    monkeypatch.setenv("SMTP_FROM", sender)
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and "SMTP_FROM" in out, out
    assert handler.messages == []


def test_encoded_word_in_the_title_is_refused(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    set_results_spec(root, title="Exam =?utf-8?q?x=0D=0ABcc:_y@evil.example?= scores")
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and "key 'title'" in out and "encoded-word" in out, out
    assert handler.messages == []


def test_build_message_refuses_what_would_break_a_header_even_unchecked(report_dir):
    # The last line of defence, for text that reaches build_message without the checks above.
    _, root = report_dir
    pdf = root / "analysis" / "report.pdf"
    results = read_json(root / "analysis" / "results.json")
    person = Stakeholder(name="=?utf-8?q?A=0D=0ABcc:_x@evil.example?=", email="a@example.org")
    with pytest.raises(deliver.HeaderError, match="To header"):
        deliver.build_message(results, person, pdf, SENDER)
    set_results_spec(root, title="=?utf-8?q?A=0D=0ABcc:_x@evil.example?=")
    results = read_json(root / "analysis" / "results.json")
    with pytest.raises(deliver.HeaderError, match="Subject header"):
        deliver.build_message(results, Stakeholder(name="A", email="a@example.org"), pdf, SENDER)


@pytest.mark.parametrize(
    "name", ["../../etc/report", "=?utf-8?q?A=0D=0ABcc:_x@evil.example?=", "a\r\nb", ".hidden"]
)
def test_attachment_name_from_the_config_is_a_plain_file_name(name, report_dir):
    _, root = report_dir
    set_results_spec(root, name=name)
    results = read_json(root / "analysis" / "results.json")
    msg = deliver.build_message(
        results,
        Stakeholder(name="A", email="a@example.org"),
        root / "analysis" / "report.pdf",
        SENDER,
    )
    back = email.message_from_bytes(bytes(msg), policy=policy.default)
    (pdf,) = list(back.iter_attachments())
    filename = pdf.get_filename()
    assert filename.endswith(".pdf") and not filename.startswith(".")
    assert not set(filename) & set("/\\\r\n=?")
    assert sorted(k.lower() for k in pdf.keys()) == [
        "content-disposition",
        "content-transfer-encoding",
        "content-type",
        "mime-version",
    ]


# --- 2. one recipient failing in any way -------------------------------------------------------

THREE = [
    {"name": "Ada Board", "email": "ada@example.org"},
    {"name": "Bo Broken", "email": "bo@example.org"},
    {"name": "Cy Clear", "email": "cy@example.org"},
]


@pytest.mark.parametrize(
    "address",
    [
        "../../x/y@z.example",  # a dot-atom cannot start with a dot
        "a..b@x.example",
        "ann.@x.example",
        '"../../x/y"@z.example',  # the header would drop the quotes and break it
        "a(comment)@x.example",  # the header would drop the comment
        "ann@bü_cher.example",  # no international domain name
        "jö rg@x.example",
    ],
)
def test_an_address_no_header_can_carry_is_refused_when_the_config_is_loaded(
    report_dir, server, monkeypatch, capsys, tmp_path, address
):
    config, root = report_dir
    people = [THREE[0], {"name": "Odd", "email": address}, THREE[2]]
    with_stakeholders(tmp_path, people)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    for extra in ([], ["--dry-run"]):
        code, out = run_email(config, root, capsys, *extra)
        assert code == 2 and one_line(out), out
        assert "key 'stakeholders.1.email'" in out
        assert "cannot be sent to" in out or "is not an email address" in out
    assert handler.recipients() == [] and not (root / "analysis" / "outbox").exists()


class Boom(Exception):
    pass


FAILURES = {
    "build raises": ("build_message", RuntimeError("template broke")),
    "build KeyError": ("build_message", KeyError("findings")),
    "send raises": ("_send_one", UnicodeEncodeError("ascii", "é", 0, 1, "no SMTPUTF8")),
    "send own error": ("_send_one", Boom(f"server said {PASSWORD}")),
}


@pytest.mark.parametrize("stage, error", FAILURES.values(), ids=FAILURES.keys())
def test_any_failure_for_one_recipient_never_stops_the_others(
    stage, error, report_dir, server, monkeypatch, capsys, tmp_path
):
    config, root = report_dir
    with_stakeholders(tmp_path, THREE)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)  # an error quoting it must not show it
    real = getattr(deliver, stage)

    def failing(*args):
        if "bo@example.org" in map(str, args) or any(
            getattr(a, "email", None) == "bo@example.org" for a in args
        ):
            raise error
        return real(*args)

    monkeypatch.setattr(deliver, stage, failing)
    code, out = run_email(config, root, capsys)
    assert code == 1, out
    assert f"  bo@example.org: not delivered ({type(error).__name__}" in out
    assert handler.recipients() == ["ada@example.org", "cy@example.org"]
    assert PASSWORD not in out
    log = json.loads((root / "analysis" / "sent.json").read_text())
    assert [e["recipient"] for e in log] == ["ada@example.org", "cy@example.org"]
    monkeypatch.setattr(deliver, stage, real)  # fixed: the next run sends to Bo alone
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert handler.recipients() == ["ada@example.org", "cy@example.org", "bo@example.org"]


# --- 3. .eml file names from addresses ---------------------------------------------------------


def test_eml_names_cannot_leave_the_outbox():
    hostile = [
        "../../x/y@z.example",
        "/etc/passwd",
        "..",
        ".",
        "...hidden@x.example",
        "",
        "a\\..\\..\\b@x.example",
        "x" * 500 + "@x.example",
        "Ada@Example.org",
        "ada@example.org",  # differs only in case: one file each on a case-insensitive disk
        "a/b@x.example",
        "a_b@x.example",  # the same name as a/b@x.example once sanitised
        "ä\x00b@x.example",
    ]
    taken: set[str] = set()
    names = [deliver.eml_name(address, taken) for address in hostile]
    assert len({n.casefold() for n in names}) == len(hostile)
    for name in names:
        assert name.endswith(".eml") and not name.startswith(".")
        assert len(name) <= 110
        assert set(name) <= set(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-"
        )
        assert Path(name).name == name
    assert names[0] == "_.._x_y@z.example.eml"
    assert names[-4] == "ada@example.org-2.eml"


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def test_dry_run_writes_only_inside_the_outbox(report_dir, capsys, tmp_path):
    config, root = report_dir
    addresses = [
        '"/etc/passwd"@x.example',
        '"..\\\\..\\\\win"@x.example',
        "a/b@x.example",
        "a_b@x.example",
        "x@[../../y]",
    ]
    with_stakeholders(tmp_path, [{"name": f"P{i}", "email": a} for i, a in enumerate(addresses)])
    outside = tmp_path.parent / "y@z.example.eml"
    before = files_under(tmp_path.parent)
    code, out = run_email(config, root, capsys, "--dry-run")
    assert code == 0, out
    outbox = (root / "analysis" / "outbox").resolve()
    new = files_under(tmp_path.parent) - before
    assert {p.parent for p in new} == {outbox.parent, outbox} and not outside.exists()
    emls = sorted(outbox.iterdir())
    assert len(emls) == len(addresses) and all(p.suffix == ".eml" for p in emls)
    sent_to = set()
    for path in emls:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        (to,) = msg["To"].addresses
        sent_to.add(to.display_name)
        assert len(list(msg.iter_attachments())) == 1
    assert sent_to == {f"P{i}" for i in range(len(addresses))}


def test_dry_run_replaces_a_planted_symlink_instead_of_writing_through_it(
    report_dir, capsys, tmp_path
):
    config, root = report_dir
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    outbox = root / "analysis" / "outbox"
    outbox.mkdir()
    (outbox / "ada@example.org.eml").symlink_to(victim)
    code, out = run_email(config, root, capsys, "--dry-run")
    assert code == 0, out
    assert victim.read_text() == "keep me"
    assert not (outbox / "ada@example.org.eml").is_symlink()


def test_dry_run_through_to_stays_in_the_outbox(report_dir, capsys, tmp_path):
    config, root = report_dir
    code, out = run_email(config, root, capsys, "--dry-run", "--to", '"/../../../x"@z.example')
    assert code == 2 and "--to" in out and "cannot be sent to" in out, out
    code, out = run_email(config, root, capsys, "--dry-run", "--to", '"/etc/passwd"@z.example')
    assert code == 0, out
    assert [p.name for p in (root / "analysis" / "outbox").iterdir()] == [
        "__etc_passwd_@z.example.eml"
    ]


# --- 5. two runs at once -----------------------------------------------------------------------


def run_in_thread(config, root, lines):
    def target():
        lines.append(deliver.email_report(config, output_root=root, progress=lines.append))

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_a_second_run_waits_for_the_first_and_then_sends_nothing(report_dir, server, monkeypatch):
    config, root = report_dir
    handler = Recorder(delay=0.3)  # the first run is still sending when the second starts
    smtp_env(monkeypatch, server(handler).port)
    first, second = [], []
    one = run_in_thread(config, root, first)
    assert handler.data_started.wait(10)
    two = run_in_thread(config, root, second)
    one.join(30)
    two.join(30)
    assert sorted(handler.recipients()) == ["ada@example.org", "bo@example.org"]
    assert first[-1] is True and second[-1] is True
    assert any("waiting" in str(line) for line in second)
    assert sum("already has this version" in str(line) for line in second) == 2


def test_runs_started_together_send_each_message_once(report_dir, server, monkeypatch, tmp_path):
    config, root = report_dir
    with_stakeholders(tmp_path, THREE)
    handler = Recorder(delay=0.1)
    smtp_env(monkeypatch, server(handler).port)
    barrier = threading.Barrier(3)
    outputs = [[] for _ in range(3)]

    def target(lines):
        barrier.wait()
        lines.append(deliver.email_report(config, output_root=root, progress=lines.append))

    threads = [threading.Thread(target=target, args=(lines,)) for lines in outputs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(handler.recipients()) == ["ada@example.org", "bo@example.org", "cy@example.org"]
    assert all(lines[-1] is True for lines in outputs)


def test_two_processes_send_each_message_once(report_dir, server, monkeypatch):
    config, root = report_dir
    handler = Recorder(delay=0.5)
    smtp_env(monkeypatch, server(handler).port)
    command = [sys.executable, "-m", "hlm_analysis.cli", "email", str(config)]
    command += ["--output-root", str(root)]
    procs = [
        subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        for _ in range(2)
    ]
    outs = [proc.communicate(timeout=60)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    assert sorted(handler.recipients()) == ["ada@example.org", "bo@example.org"]
    assert sum(out.count("already has this version") for out in outs) == 2


def test_a_lock_held_too_long_is_one_clear_line(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    monkeypatch.setattr(deliver, "LOCK_TIMEOUT", 0.3)
    with open(root / "analysis" / "sent.json.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, out = run_email(config, root, capsys)
    assert code == 2, out
    error = [line for line in out.splitlines() if line.startswith("hlm-report")]
    assert len(error) == 1 and "another `hlm-report email` run" in error[0]
    assert handler.messages == []
    code, out = run_email(config, root, capsys)  # released: this run sends
    assert code == 0 and len(handler.messages) == 2, out


# --- 6. SMTP setups that cannot work -----------------------------------------------------------


def test_starttls_not_offered_says_what_to_do_and_sends_no_password(
    report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    logins = []

    def authenticator(server_, session, envelope, mechanism, auth_data):
        logins.append(auth_data)
        return AuthResult(success=True)

    handler = Recorder()
    controller = server(handler, authenticator=authenticator, auth_require_tls=False)
    smtp_env(monkeypatch, controller.port, security="starttls", user="mailer")
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out), out
    assert (
        f"SMTP server 127.0.0.1:{controller.port} does not offer STARTTLS; set SMTP_SECURITY=ssl "
        "(port 465) or, on a trusted network only, SMTP_SECURITY=none"
    ) in out
    assert logins == [] and handler.messages == [] and PASSWORD not in out
    assert not (root / "analysis" / "sent.json").exists()


def test_login_without_auth_offered_is_one_clear_line(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder()
    controller = server(handler)  # AUTH is offered only after STARTTLS, which it has not
    smtp_env(monkeypatch, controller.port, security="none", user="mailer")
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out), out
    assert f"SMTP server 127.0.0.1:{controller.port} does not offer login (AUTH)" in out
    assert "SMTP_USER" in out and handler.messages == []


def test_ssl_against_a_plain_server_names_the_settings(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    handler = Recorder()
    controller = server(handler)
    smtp_env(monkeypatch, controller.port, security="ssl")
    code, out = run_email(config, root, capsys)
    assert code == 3 and one_line(out), out
    assert f"SMTP TLS handshake with 127.0.0.1:{controller.port} failed" in out
    assert "SMTP_SECURITY" in out and handler.messages == []


def test_untrusted_certificate_points_to_smtp_ca_file(report_dir, tls_server, capsys):
    config, root = report_dir
    handler = tls_server(lambda *a: AuthResult(success=True), trust=False)
    code, out = run_email(config, root, capsys)
    assert code == 3 and one_line(out), out
    assert "TLS certificate not trusted" in out and "SMTP_CA_FILE" in out
    assert handler.messages == [] and PASSWORD not in out


def test_missing_ca_file_is_one_clear_line(report_dir, tls_server, monkeypatch, capsys, tmp_path):
    config, root = report_dir
    handler = tls_server(lambda *a: AuthResult(success=True))
    monkeypatch.setenv("SMTP_CA_FILE", str(tmp_path / "missing.pem"))
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and "SMTP_CA_FILE" in out and "not a file" in out, out
    assert handler.messages == []


# --- 7. the send log ---------------------------------------------------------------------------

DAMAGED = {
    "not JSON": b"{not json",
    "empty": b"",
    "binary": b"\xff\xfe\x00\x81garbage",
    "an object": b"{}",
    "numbers": b"[1, 2]",
    "entry without checksum": b'[{"recipient": "ada@example.org"}]',
    "null": b"null",
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_send_log_is_one_line_and_sends_nothing(
    content, report_dir, server, monkeypatch, capsys
):
    config, root = report_dir
    log = root / "analysis" / "sent.json"
    log.write_bytes(content)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys)
    assert code == 2 and one_line(out) and f"send log {log} is damaged" in out, out
    assert handler.messages == [] and log.read_bytes() == content


def test_send_log_is_complete_after_each_message(report_dir, server, monkeypatch, capsys):
    config, root = report_dir
    log = root / "analysis" / "sent.json"
    seen = []  # what the log held when each message arrived

    def look(envelope):
        seen.append([e["recipient"] for e in json.loads(log.read_text())] if log.exists() else [])

    handler = Recorder(on_data=look)
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys)
    assert code == 0, out
    assert seen == [[], ["ada@example.org"]]
    assert [e["recipient"] for e in json.loads(log.read_text())] == [
        "ada@example.org",
        "bo@example.org",
    ]
    leftovers = [p.name for p in log.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_person_listed_twice_gets_one_message_even_with_force(
    report_dir, server, monkeypatch, capsys, tmp_path
):
    config, root = report_dir
    people = [THREE[0], {"name": "Ada Again", "email": "ADA@example.org"}, THREE[1]]
    with_stakeholders(tmp_path, people)
    handler = Recorder()
    smtp_env(monkeypatch, server(handler).port)
    for extra in ([], ["--force"]):
        code, out = run_email(config, root, capsys, *extra)
        assert code == 0, out
    assert handler.recipients() == ["ada@example.org", "bo@example.org"] * 2  # --force resends


def test_a_send_log_that_cannot_be_written_stops_the_run(report_dir, server, monkeypatch, capsys):
    # Sending on without a record would send twice next time; stop and say who has it.
    config, root = report_dir
    log = root / "analysis" / "sent.json"
    handler = Recorder(on_data=lambda envelope: log.mkdir(exist_ok=True))
    smtp_env(monkeypatch, server(handler).port)
    code, out = run_email(config, root, capsys)
    assert code == 2, out
    error = [line for line in out.splitlines() if line.startswith("hlm-report")]
    assert len(error) == 1 and f"cannot write the send log {log}" in error[0]
    assert "ada@example.org has the report but it is not recorded" in error[0]
    assert handler.recipients() == ["ada@example.org"]
