"""Reusing a fit (Quarto's freeze): `render` refits only when what the fit depends on changed.

The key is a SHA-256 over the config as parsed (with any `-P` overrides), each data file's name,
size and modification time, and, up to CONTENT_LIMIT bytes of data in all, the SHA-256 of its
bytes (a same-size edit within one tick of a coarse file clock, or a copy that kept the time,
changes nothing a stat sees; a 50-million-row lake is not read to decide), the
results schema version, and the package: its version and the size and modification time of
every module the fit runs (all but render/, present/, deliver/ and the command line), so a changed
model stage in a source checkout (same version number) refits too, a changed report does not. It is
recorded in FIT_KEY beside the outputs, carrying no path and no address (report folders are
published). `render --refit` ignores it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import layout
from ..data.source import discover
from ..errors import InputError
from ..results import RESULTS_FILE, SAMPLE_FILE, SCHEMA_VERSION

FIT_KEY = ".hlm-report-fit"  # beside the outputs: the key of the fit they hold, and their digest
_PACKAGE = Path(__file__).resolve().parent.parent
# What turns results into a report, not data into results: a change here reuses the fit.
_NOT_THE_FIT = frozenset({"render", "present", "deliver", "cli.py", "bench.py", "bench_binary.py"})
CONTENT_LIMIT = 64 << 20  # data up to this size is hashed by content too (about 0.1 s)
_BLOCK = 1 << 20


def _package_fingerprint() -> list:
    from importlib.metadata import PackageNotFoundError, version

    try:
        named = version("hlm-report")
    except PackageNotFoundError:
        named = "unknown"
    modules = sorted(
        p for p in _PACKAGE.rglob("*.py") if p.relative_to(_PACKAGE).parts[0] not in _NOT_THE_FIT
    )
    return [named, [(str(p.relative_to(_PACKAGE)), *_stat(p)) for p in modules]]


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def fit_key(spec) -> str | None:
    """The key of the fit this config and these data files would give; None when `data:` names
    no file (the fit's own checks then say what is wrong, as without a cache)."""
    try:
        files = discover(spec.data).files
    except InputError:
        return None
    record = {
        # who gets the report is not in results.json (results.published_spec): no refit for it
        "spec": {
            k: v
            for k, v in spec.to_json().items()
            if k not in ("stakeholders", "sender", "signature")  # email's, not the fit's
        },
        "data": _data_record(files),
        "schema_version": SCHEMA_VERSION,
        "package": _package_fingerprint(),
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _data_record(files: list[Path]) -> list:
    """Each file's name, size and time; with its content's SHA-256 when the data are small."""
    stats = [(p.name, *_stat(p)) for p in files]
    if sum(size for _, size, _ in stats) > CONTENT_LIMIT:
        return stats
    out = []
    for path, stat in zip(files, stats, strict=True):
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                while block := handle.read(_BLOCK):
                    digest.update(block)
        except OSError:
            return stats  # unreadable: the fit's own read says so, as without a cache
        out.append((*stat, digest.hexdigest()))
    return out


def _outputs_digest(folder: Path) -> str | None:
    """SHA-256 over the fit's files as written (results and row sample); None if one is gone."""
    digest = hashlib.sha256()
    try:
        for name in (RESULTS_FILE, SAMPLE_FILE):
            with open(folder / name, "rb") as handle:
                while block := handle.read(_BLOCK):
                    digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def record(folder: Path, key: str) -> None:
    """Write FIT_KEY: the key, and the digest of the fit's files it describes, so a results.json
    damaged or edited since (cut short by a full disk, an editor) is fitted again, not reused."""
    digest = _outputs_digest(folder) or ""
    (folder / FIT_KEY).write_text(f"{key}\n{digest}\n", encoding="utf-8")


def reusable(final: Path, key: str | None) -> bool:
    """Whether `final` holds a complete fit made with this key (results and row sample), its
    files as they were written."""
    if key is None:
        return False
    try:
        recorded = (final / FIT_KEY).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return False
    if recorded[:1] != [key] or layout.read_marker(final) is None:
        return False
    return len(recorded) == 2 and recorded[1] == _outputs_digest(final)
