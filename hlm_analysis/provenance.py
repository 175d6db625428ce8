"""results.json's `provenance`: when, by which hlm-report, from which bytes of data and config.

The data hash is over the bytes of every file `data:` names, in sorted order, read in 1 MiB
blocks (memory stays flat for a lake of parts); names and paths are not in it, so the same data
moved to another folder hashes the same and nothing of the machine's layout is published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib import metadata

from .data.source import discover
from .layout import inputs_hash
from .results import Provenance

_BLOCK = 1 << 20


def package_version() -> str:
    try:
        return metadata.version("hlm-report")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def build(spec) -> Provenance:
    digest = hashlib.sha256()
    files = discover(spec.data).files
    size = 0
    for path in files:
        with open(path, "rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
                size += len(block)
    return Provenance(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        package_version=package_version(),
        data_sha256=digest.hexdigest(),
        data_files=len(files),
        data_bytes=size,
        config_sha256=inputs_hash(spec.to_json()),
    )
