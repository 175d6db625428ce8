"""What a killed render leaves behind (kill -9 runs no clean-up) is removed by the next run; the
folders of a render still running are never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import HSB2_CONFIG as HSB2

from hlm_analysis import atomic, layout
from hlm_analysis.render import execute, qmd, render_report

HOST = atomic._host()


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _folder(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(parents=True)
    (path / "work").mkdir()
    (path / "work" / "report.md").write_text("half done")
    return path


def test_remove_stale_removes_only_dead_processes_folders_on_this_host(tmp_path, dead_pid):
    prefix = ".hsb2.building-"
    dead = _folder(tmp_path, f"{prefix}{dead_pid}-{HOST}-abc123de")
    dead_file = tmp_path / f"{prefix}{dead_pid}-{HOST}-fff000aa"
    dead_file.write_text("x")
    live = _folder(tmp_path, f"{prefix}{os.getpid()}-{HOST}-abc123de")
    elsewhere = _folder(tmp_path, f"{prefix}{dead_pid}-otherhost.example.org-abc123de")
    unrelated = [
        _folder(tmp_path, f"{prefix}notes"),
        _folder(tmp_path, f".other.building-{dead_pid}-{HOST}-abc123de"),
        _folder(tmp_path, "hsb2"),
    ]
    atomic.remove_stale(tmp_path, prefix)
    assert not dead.exists() and not dead_file.exists()
    assert (live / "work" / "report.md").is_file()  # a running render's folder stays whole
    assert elsewhere.is_dir()  # its process cannot be checked from this host
    assert all(path.is_dir() for path in unrelated)


def test_a_host_name_with_dashes_still_names_its_folders(tmp_path, dead_pid, monkeypatch):
    monkeypatch.setattr(atomic.socket, "gethostname", lambda: "build-01.example-org")
    name = atomic.owned_name(".hsb2.building-")
    assert name == f".hsb2.building-{os.getpid()}-build_01.example_org-"
    stale = _folder(tmp_path, name.replace(str(os.getpid()), str(dead_pid)) + "abc123de")
    live = _folder(tmp_path, name + "abc123de")
    atomic.remove_stale(tmp_path, ".hsb2.building-")
    assert not stale.exists() and live.is_dir()


def test_remove_legacy_removes_only_old_folders_named_by_mkdtemp(tmp_path):
    prefix = ".hsb2.building-"
    old = _folder(tmp_path, f"{prefix}k2j3h4_9")
    young = _folder(tmp_path, f"{prefix}a8d7f6s5")
    not_mkdtemp = _folder(tmp_path, f"{prefix}my-notes")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (old, not_mkdtemp):
        os.utime(path, (two_days_ago, two_days_ago))
    atomic.remove_legacy(tmp_path, prefix, 24 * 3600)
    assert not old.exists() and young.is_dir() and not_mkdtemp.is_dir()


def test_staging_dir_names_its_owner_and_clears_dead_ones_first(tmp_path, dead_pid):
    prefix = ".hsb2.building-"
    stale = _folder(tmp_path, f"{prefix}{dead_pid}-{HOST}-abc123de")
    with atomic.staging_dir(tmp_path, prefix) as staging:
        assert staging.name.startswith(f"{prefix}{os.getpid()}-{HOST}-")
        assert not stale.exists()
    assert not staging.exists()


def test_atomic_write_clears_temporary_files_of_dead_writers(tmp_path, dead_pid):
    target = tmp_path / "results.json"
    stale = tmp_path / f".results.json.{dead_pid}-{HOST}-a1b2c3d4.tmp"
    live = tmp_path / f".results.json.{os.getpid()}-{HOST}-a1b2c3d4.tmp"
    stale.write_text("partial")
    live.write_text("being written")
    atomic.write_text(target, "{}")
    assert target.read_text() == "{}"
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["results.json", live.name])


def test_a_report_folder_moved_out_by_a_killed_swap_is_put_back(tmp_path, dead_pid):
    final = tmp_path / "hsb2"
    moved_out = _folder(tmp_path, f".hsb2.old-{dead_pid}-{HOST}-old")
    atomic.recover_dir(final)
    assert (final / "work" / "report.md").read_text() == "half done"
    assert not moved_out.exists()
    # With the report in place, a leftover old copy is just removed.
    leftover = _folder(tmp_path, f".hsb2.old-{dead_pid}-{HOST}-old")
    atomic.recover_dir(final)
    assert not leftover.exists() and final.is_dir()


def test_replace_dir_swaps_and_leaves_nothing_behind(tmp_path):
    final = _folder(tmp_path, "hsb2")
    built = tmp_path / "built"
    built.mkdir()
    (built / "report.pdf").write_text("new")
    atomic.replace_dir(built, final)
    assert (final / "report.pdf").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hsb2"]


def test_render_clears_dead_renders_folders_and_keeps_a_running_ones(
    tmp_path, dead_pid, monkeypatch
):
    # The fit and the document are stand-ins: this is about the folders around them.
    import hlm_analysis.model.analysis as analysis
    import hlm_analysis.render as render

    root = tmp_path / "out"
    stale = _folder(root, f".hsb2.building-{dead_pid}-{HOST}-abc123de")
    running = _folder(root, f".hsb2.building-{os.getpid()}-{HOST}-zzz999yy")
    legacy = _folder(root, ".hsb2.building-q1w2e3r4")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(legacy, (two_days_ago, two_days_ago))
    seen = {}

    def fake_analysis(spec, out, progress, prepared):
        seen["during"] = sorted(p.name for p in root.iterdir())

    def fake_document(config, spec, work, out, steps):
        for name in layout.OUTPUTS:
            (out / name).write_text("x")

    monkeypatch.setattr(analysis, "run_analysis", fake_analysis)
    monkeypatch.setattr(render, "_builtin", fake_document)
    final = render_report(HSB2, output_root=root, engine="builtin", progress=lambda m: None)
    own = [n for n in seen["during"] if n.startswith(f".hsb2.building-{os.getpid()}-{HOST}-")]
    assert stale.name not in seen["during"] and legacy.name not in seen["during"]
    assert running.name in own and len(own) == 2  # the running one and this render's own
    assert (running / "work" / "report.md").is_file()
    assert sorted(p.name for p in root.iterdir()) == sorted(["hsb2", running.name])
    assert (final / "report.pdf").read_text() == "x"


def test_kernel_sockets_live_in_the_render_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "_short_tmp", lambda: tmp_path / "tmp")
    work = tmp_path / "staging" / "work"
    work.mkdir(parents=True)
    sockets = execute.socket_dir(work)
    assert sockets == work / "kernel" and sockets.is_dir()


def test_kernel_sockets_fall_back_to_a_short_folder_named_after_the_process(
    tmp_path, dead_pid, monkeypatch
):
    short = tmp_path / "tmp"
    short.mkdir()
    monkeypatch.setattr(execute, "_short_tmp", lambda: short)
    stale = _folder(short, f"hlm-kernel-{dead_pid}-{HOST}-abc123de")
    live = _folder(short, f"hlm-kernel-{os.getpid()}-{HOST}-abc123de")
    legacy = _folder(short, "hlm-kernel-x8y7z6w5")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(legacy, (two_days_ago, two_days_ago))
    long_work = tmp_path / ("d" * 60) / ("e" * 60) / "work"  # too long for a socket path
    long_work.mkdir(parents=True)
    sockets = execute.socket_dir(long_work)
    assert sockets.parent == short
    assert sockets.name.startswith(f"hlm-kernel-{os.getpid()}-{HOST}-")
    # In /tmp, as outside tests, the fallback's sockets fit whatever the host's name.
    fallback = Path("/tmp") / (atomic.owned_name("hlm-kernel-") + "abcdefgh") / "kernel-99"
    assert len(os.fsencode(fallback)) <= 103
    assert not stale.exists() and not legacy.exists() and live.is_dir()


def test_kernel_runs_with_a_long_working_folder_and_cleans_up(tmp_path, monkeypatch):
    short = tmp_path / "tmp"
    short.mkdir()
    monkeypatch.setattr(execute, "_short_tmp", lambda: short)
    used = []
    real = execute.socket_dir
    monkeypatch.setattr(execute, "socket_dir", lambda work: used.append(real(work)) or used[-1])
    source = tmp_path / "doc.qmd"
    source.write_text("---\ntitle: x\n---\n\n```{python}\nprint(6 * 7)\n```\n")
    work = tmp_path / ("d" * 70) / ("e" * 70)
    work.mkdir(parents=True)
    outputs = execute.execute(qmd.parse(source), {}, work, timeout=120)
    assert outputs[0][0]["text"].strip() == "42"
    assert used and used[0].parent == short
    assert list(short.iterdir()) == []  # the fallback folder went with the kernel


_KILLED_RENDER = """
import sys, time
from pathlib import Path
from hlm_analysis import atomic
from hlm_analysis.render import execute

execute._short_tmp = lambda: Path(sys.argv[2])
with atomic.staging_dir(Path(sys.argv[1]), ".hsb2.building-") as staging:
    (staging / "work" / "figures").mkdir(parents=True)
    execute.socket_dir(Path(sys.argv[3]))  # a path too long for sockets: the short folder
    print("ready", flush=True)
    time.sleep(60)
"""


def test_leftovers_of_a_render_killed_with_sigkill_go_with_the_next_run(tmp_path, monkeypatch):
    root, short = tmp_path / "out", tmp_path / "tmp"
    short.mkdir()
    long_work = tmp_path / ("d" * 70) / ("e" * 70)
    long_work.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RENDER, str(root), str(short), str(long_work)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        # While it runs, another run's clean-up leaves its folders alone.
        atomic.remove_stale(root, ".hsb2.building-")
        atomic.remove_stale(short, "hlm-kernel-")
        assert len(list(root.glob(".hsb2.building-*"))) == 1
        assert len(list(short.glob("hlm-kernel-*"))) == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert len(list(root.glob(".hsb2.building-*"))) == 1  # what kill -9 leaves
    with atomic.staging_dir(root, ".hsb2.building-") as staging:
        assert [p.name for p in root.glob(".hsb2.building-*")] == [staging.name]
    monkeypatch.setattr(execute, "_short_tmp", lambda: short)
    execute.socket_dir(tmp_path / "work")  # the next render's kernel start clears /tmp
    assert list(short.iterdir()) == []
