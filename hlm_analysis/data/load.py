"""Read a data file into a frame, turning every way it can fail into one InputError."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every way it can fail into one InputError."""
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"data file is empty: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
        elif suffix in {".csv", ".txt", ".tsv"}:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        else:
            raise InputError(
                f"data file {path}: unsupported format '{suffix}' (use .csv or .parquet)"
            )
    except InputError:
        raise
    except (pd.errors.EmptyDataError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"data file {path} could not be read: {first}") from None
    if frame.empty:
        raise InputError(f"data file has no rows: {path}")
    return frame
