"""Email addresses as they are checked (at config load), sent and remembered (the send log).

- The domain is case-insensitive (RFC 5321 section 2.4): it is lower-cased, and an
  international domain name (IDN) is IDNA-encoded (IDNA 2008 with UTS #46 mapping, the `idna`
  package; Python's own codec is IDNA 2003, which turns 'straße.de' into another domain).
- The local part is sent exactly as written (RFC 5321 lets the receiving server treat 'Ann'
  and 'ann' as two mailboxes). For exactly-once delivery (`key`), though, the local part's
  case is ignored as well: the failure that happens is the same person getting the report again
  after their address was retyped in another case; mailboxes that differ only in case are not
  distinct on the servers districts use (Exchange, Gmail, Postfix's defaults).
- A non-ASCII local part needs a server that offers SMTPUTF8; `email` checks that before
  sending anything.
"""

from __future__ import annotations

import re
import unicodedata
from email import policy
from email.errors import MessageError
from email.headerregistry import Address

import idna


def checked(value: str) -> str:
    """The address as it is sent: the local part as written, the domain lower-cased and in
    ASCII (A-labels). ValueError, with the reason, for anything a To header or an SMTP envelope
    cannot carry as written (comments, a dot at the end of the local part, a domain that is no
    host name)."""
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("it is not an email address (name@domain)")
    if domain.isascii():
        ascii_domain = domain.lower()
    else:
        try:
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(
                f"its domain is not a valid international domain name ({exc})"
            ) from None
    address = f"{local}@{ascii_domain}"
    # The parser refuses a non-ASCII local part outright; it is checked with each such letter
    # standing in as 'a' (after refusing spaces and controls, which SMTPUTF8 does not allow).
    if any(unicodedata.category(c)[0] in "ZC" for c in local if not c.isascii()):
        raise ValueError("its local part holds a space or control character")
    probe = "".join(c if c.isascii() else "a" for c in local) + "@" + ascii_domain
    try:
        parsed = Address(addr_spec=probe)
        header = policy.SMTP.header_factory("To", probe)
        policy.SMTP.fold("To", header)
    except (ValueError, IndexError, MessageError) as exc:  # HeaderDefect is a ValueError
        raise ValueError(f"a To header cannot carry it ({exc})") from None
    if header.defects or len(header.addresses) != 1 or parsed.username != _unquoted(local, probe):
        raise ValueError("a To header cannot carry it as written")  # e.g. a (comment) dropped
    try:  # the header says parsed.addr_spec (quotes dropped where Python thinks them needless)
        again = Address(addr_spec=parsed.addr_spec)
    except (ValueError, IndexError, MessageError):
        again = None
    if again is None or (again.username, again.domain) != (parsed.username, parsed.domain):
        raise ValueError("a To header cannot carry it as written")
    return address


def _unquoted(local: str, probe: str) -> str:
    """The local part as the parser should read it: a quoted string without its quotes and
    backslash escapes (with the same stand-ins for non-ASCII letters as `probe`)."""
    ascii_local = probe.rpartition("@")[0]
    if len(ascii_local) >= 2 and ascii_local[0] == ascii_local[-1] == '"':
        return re.sub(r"\\(.)", r"\1", ascii_local[1:-1])
    return ascii_local


def header_address(display_name: str, address: str) -> Address:
    """A checked address with a display name, for a To header (non-ASCII local parts are
    built from their parts: the parser would refuse them)."""
    local, _, domain = address.rpartition("@")
    if local.isascii():
        return Address(display_name=display_name, addr_spec=address)
    return Address(display_name=display_name, username=local, domain=domain)


def key(value: str) -> str:
    """What makes two addresses the same recipient (the send log's key): the checked form
    (domain lower-cased and IDNA-encoded) with the local part case-folded too; an address that
    no longer passes the check is taken as written, case-folded."""
    try:
        address = checked(value)
    except ValueError:
        return value.casefold()
    local, _, domain = address.rpartition("@")
    return f"{local.casefold()}@{domain}"


def needs_smtputf8(address: str) -> bool:
    return not address.rpartition("@")[0].isascii()
