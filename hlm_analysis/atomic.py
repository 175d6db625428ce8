"""Writes that are all-or-nothing: a reader never sees a half-written file or directory.

Scratch files and folders carry their owner in their name (`PREFIX<pid>-<host>-<random>`), so a
later run can tell the leftovers of a killed one (`kill -9` skips every `finally`) from the work
of one still running, and removes only the former.

A write the file system refuses (no permission, not a directory, read-only, full) is the user's
to fix: InputError, one line naming the folder, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError

# What the file system says when the place to write is wrong, not the program.
_REFUSED = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.ENOTDIR,
    errno.EEXIST,  # a file where a folder should be
    errno.EISDIR,
    errno.ENAMETOOLONG,
    # inside a write: the folder cannot be made there (/proc, a path removed meanwhile)
    errno.ENOENT,
}


@contextlib.contextmanager
def _writing(where: Path) -> Iterator[None]:
    """Turn a refused write into InputError("cannot write to WHERE: reason")."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _REFUSED:
            raise
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot write to {where}: {reason[:1].lower()}{reason[1:]}") from None


def ensure_writable_dir(folder: Path) -> None:
    """Make `folder` and check a file can be created in it, before hours of work go into it."""
    with _writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(handle)
        os.unlink(probe)


def _host() -> str:
    # No "-" in it: "-" separates the parts of an owned name.
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:32] or "host"


def owned_name(prefix: str) -> str:
    """The start of a scratch name that says which process made it (see `remove_stale`)."""
    return f"{prefix}{os.getpid()}-{_host()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, but a process; or no PID at all: keep it
    return True


def remove_stale(parent: Path, prefix: str, suffix: str = "", restore: Path | None = None) -> None:
    """Remove what dead processes left in `parent` under names made with `owned_name(prefix)`.

    Kept: anything of a live process, anything made on another host (its process cannot be
    checked from here) and anything not named this way. A reused PID only delays the clean-up.
    With `restore`, a leftover is moved back to that path instead when the path is missing (a
    run killed between moving the old folder out and the new one in).
    """
    owned = re.compile(
        rf"{re.escape(prefix)}(\d+)-([A-Za-z0-9._]+)-[A-Za-z0-9_]+{re.escape(suffix)}"
    )
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return  # nothing to clean, or nothing we may clean
    host = _host()
    for entry in entries:
        match = owned.fullmatch(entry.name)
        if not match or match[2] != host or _alive(int(match[1])):
            continue
        path = Path(entry.path)
        try:
            if restore is not None and not restore.exists() and entry.is_dir(follow_symlinks=False):
                os.replace(path, restore)
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
        except OSError:
            pass  # another run cleaning at the same moment, or not ours to remove


def owned_tempdir(parent: Path, prefix: str) -> Path:
    """A new folder `parent/PREFIX<pid>-<host>-<random>`, after removing dead runs' ones."""
    remove_stale(parent, prefix)
    with _writing(parent):
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=owned_name(prefix), dir=parent))


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[str]:
    """A temporary file beside `path`, renamed over it when the block ends without error
    (a rename within a directory is atomic); removed otherwise."""
    prefix = f".{path.name}."
    remove_stale(path.parent, prefix, suffix=".tmp")
    with _writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=owned_name(prefix), suffix=".tmp")
        os.close(handle)
    try:
        with _writing(path.parent):
            yield tmp
            os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are meant to be shared
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    with _replacing(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_parquet(path: Path, columns: dict) -> None:
    """Named columns (numpy arrays of numbers, or of text) as one Parquet table of float64 and
    string columns, in place only when complete."""
    import pyarrow as pa  # only the fit writes Parquet
    import pyarrow.parquet as pq

    from .arrow_arrays import float_array, text_array

    arrays = [float_array(v) if v.dtype.kind in "biuf" else text_array(v) for v in columns.values()]
    table = pa.Table.from_arrays(arrays, names=list(columns))
    # Dictionary pages only for text: for float columns Arrow hashes every value first, only
    # to fall back to plain pages (0.1 s of a 50,000-row sample).
    text = [name for name, a in zip(columns, arrays, strict=True) if pa.types.is_string(a.type)]
    with _replacing(path) as tmp:
        pq.write_table(table, tmp, use_dictionary=text)


@contextlib.contextmanager
def staging_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A scratch directory beside the final one (same file system, so it can be renamed in);
    removed on the way out, whatever happened. Dead runs' scratch directories go first."""
    staging = owned_tempdir(parent, prefix)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_dir(built: Path, final: Path) -> None:
    """Swap a finished directory in; the old one is removed only after the swap."""
    prefix = f".{final.name}.old-"
    remove_stale(final.parent, prefix, restore=final)
    with _writing(final.parent):
        final.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if final.exists():
            old = final.with_name(owned_name(prefix) + "old")
            os.replace(final, old)
        os.replace(built, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def recover_dir(final: Path) -> None:
    """Put back a folder a killed `replace_dir` left moved out, and remove dead runs' old ones."""
    remove_stale(final.parent, f".{final.name}.old-", restore=final)


_MKDTEMP_NAME = r"[a-z0-9_]{8}"  # tempfile's random part: what scratch names held before owners


def remove_legacy(parent: Path, prefix: str, older_than: float) -> None:
    """Remove `PREFIX<8 random characters>` folders, named before names carried their owner, once
    older than `older_than` seconds (no run lasts that long). Only for prefixes that are ours alone."""
    legacy = re.compile(re.escape(prefix) + _MKDTEMP_NAME)
    now = time.time()
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        try:
            if (
                legacy.fullmatch(entry.name)
                and entry.is_dir(follow_symlinks=False)
                and now - entry.stat(follow_symlinks=False).st_mtime > older_than
            ):
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            pass
