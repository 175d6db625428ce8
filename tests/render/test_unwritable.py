"""An output folder that cannot be written is the user's to fix: exit 2, one line, no traceback.

Tests run as root, where a read-only mode does not stop writes; a path under a regular file (a
real NotADirectoryError) and injected errors (read-only file system, full disk, permission) stand
in for it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import HSB2_CONFIG as HSB2

from hlm_analysis import atomic
from hlm_analysis.cli import main
from hlm_analysis.errors import InputError


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    pd.DataFrame({"g": list("aaaabbbbcccc"), "y": rng.normal(size=12)}).to_csv(
        tmp_path / "d.csv", index=False
    )
    config = tmp_path / "tiny.yml"
    config.write_text(
        yaml.safe_dump(
            {"title": "Tiny", "data": str(tmp_path / "d.csv"), "outcome": "y", "group": "g"}
        )
    )
    return config


def test_render_into_a_path_under_a_file_exits_2_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "some_file"
    blocker.write_text("not a folder")
    code = main(
        ["render", str(HSB2), "--output-root", str(blocker / "inside"), "--engine", "builtin"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"hlm-report: error: cannot write to {blocker / 'inside'}: not a directory"]
    assert blocker.read_text() == "not a folder"


def test_fit_into_a_path_under_a_file_exits_2(tmp_path, tiny_config, capsys):
    blocker = tmp_path / "some_file"
    blocker.write_text("not a folder")
    code = main(["fit", str(tiny_config), "--out", str(blocker / "inside")])
    assert code == 2
    # checked before fitting: one line, no progress lines before it
    assert capsys.readouterr().err.strip().splitlines() == [
        f"hlm-report: error: cannot write to {blocker / 'inside'}: not a directory"
    ]


def _refusing(err: int):
    def refuse(*args, **kwargs):
        raise OSError(err, os.strerror(err), str(args[0]) if args else None)

    return refuse


@pytest.mark.parametrize(
    ("err", "reason"),
    [
        (errno.EROFS, "read-only file system"),
        (errno.ENOSPC, "no space left on device"),
        (errno.EACCES, "permission denied"),
        (errno.EDQUOT, "disk quota exceeded"),
    ],
)
def test_a_refused_file_write_is_input_error(tmp_path, monkeypatch, err, reason):
    # As `fit --out` writes results.json and rows.parquet (atomic.write_text / write_parquet).
    monkeypatch.setattr(os, "replace", _refusing(err))
    with pytest.raises(InputError) as info:
        atomic.write_text(tmp_path / "results.json", "{}")
    assert str(info.value) == f"cannot write to {tmp_path}: {reason}"
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_a_full_disk_while_writing_is_input_error(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def full_disk(table, where, **options):
        Path(where).write_bytes(b"PAR1")  # part of the file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq, "write_table", full_disk)
    with pytest.raises(InputError, match=r"cannot write to .*: no space left on device"):
        atomic.write_parquet(tmp_path / "rows.parquet", {"x": np.arange(3.0)})
    assert list(tmp_path.iterdir()) == []


def test_a_refused_staging_folder_is_input_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "mkdtemp", _refusing(errno.EACCES))
    with pytest.raises(InputError, match=rf"^cannot write to {tmp_path}: permission denied$"):
        with atomic.staging_dir(tmp_path, ".x.building-"):
            pass


def test_a_refused_swap_is_input_error(tmp_path, monkeypatch):
    built, final = tmp_path / "built", tmp_path / "final"
    built.mkdir()
    monkeypatch.setattr(os, "replace", _refusing(errno.EROFS))
    with pytest.raises(InputError, match="read-only file system"):
        atomic.replace_dir(built, final)


def test_other_os_errors_are_not_blamed_on_the_user(tmp_path, monkeypatch):
    # An I/O error is the machine's, not a wrong place to write: it stays an OSError (exit 1).
    monkeypatch.setattr(os, "replace", _refusing(errno.EIO))
    with pytest.raises(OSError) as info:
        atomic.write_text(tmp_path / "results.json", "{}")
    assert not isinstance(info.value, InputError) and info.value.errno == errno.EIO
