"""`hlm-report publish` with remotes and branches that git could read as options.

`--upload-pack=CMD` (and `--receive-pack`, `-u`) as a remote make git run CMD. Each variant must
stop with exit status 2 and one line before git runs, and git itself must be handed the remote
after `--`, so that even a remote that got past the check is only ever a repository name.
"""

from __future__ import annotations

import subprocess

import pytest

from hlm_analysis.cli import main
from hlm_analysis.deliver import site
from hlm_analysis.errors import ToolError


@pytest.fixture
def site_dir(tmp_path):
    folder = tmp_path / "_site"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>reports</title>")
    return folder


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "git ran the command hidden in the remote"


def publish_cli(capsys, site_dir, *args):
    code = main(["publish", "--site-dir", str(site_dir), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


REMOTES = [
    "--upload-pack=touch {m}",
    "--receive-pack=touch {m}",
    "-utouch {m}",
    "-c core.sshCommand=touch {m}",
    "--upload-pack=touch {m} -- ./repo.git",
]


@pytest.mark.parametrize("remote", REMOTES)
def test_remote_that_looks_like_an_option_is_refused(remote, site_dir, marker, capsys):
    code, out = publish_cli(capsys, site_dir, f"--remote={remote.format(m=marker)}")
    assert code == 2, out
    assert out.startswith("hlm-report: error: git remote") and "starts with '-'" in out
    assert out.count("\n") == 1


def test_remote_from_the_environment_is_checked_too(site_dir, marker, capsys, monkeypatch):
    monkeypatch.setenv("PUBLISH_REMOTE", f"--upload-pack=touch {marker}")
    code, out = publish_cli(capsys, site_dir)
    assert code == 2 and "starts with '-'" in out, out


@pytest.mark.parametrize(
    "branch", ["--upload-pack=touch {m}", "-b", "a..b", "has space", "ends.lock", "x\nBcc"]
)
def test_branch_that_is_no_branch_name_is_refused(branch, site_dir, marker, capsys, tmp_path):
    remote = tmp_path / "pages.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    code, out = publish_cli(
        capsys, site_dir, f"--remote={remote}", f"--branch={branch.format(m=marker)}"
    )
    assert code == 2 and "is not a valid git branch name" in out, out
    assert out.count("\n") == 1


def test_remote_with_a_line_break_is_refused(site_dir, capsys):
    code, out = publish_cli(capsys, site_dir, "--remote=./pages.git\n--upload-pack=x")
    assert code == 2 and "contains a line break" in out and out.count("\n") == 1, out


def test_git_gets_the_remote_after_double_dash_even_if_the_check_is_bypassed(
    site_dir, marker, monkeypatch
):
    monkeypatch.setattr(site, "check_target", lambda remote, branch: None)
    for remote in (f"--upload-pack=touch {marker}", f"--receive-pack=touch {marker}"):
        with pytest.raises(ToolError, match="^git "):
            site.publish(site_dir, remote, progress=lambda m: None)


def test_a_local_remote_whose_name_starts_with_a_dash_works_as_dot_slash(
    site_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--", "-pages.git"], check=True, cwd=tmp_path
    )
    commit = site.publish(site_dir, "./-pages.git", progress=lambda m: None)
    files = subprocess.run(
        ["git", "--git-dir", str(tmp_path / "-pages.git"), "ls-tree", "--name-only", "gh-pages"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "index.html" in files and len(commit) == 40


def test_an_unreachable_remote_is_a_git_tool_error(site_dir, tmp_path, capsys):
    # a URL git cannot reach (a local path that is not there is the user's: see below)
    code, out = publish_cli(capsys, site_dir, f"--remote=file://{tmp_path / 'missing.git'}")
    assert code == 3 and out.startswith("hlm-report: tool failed: git ls-remote failed"), out


def test_a_local_remote_that_is_not_there_is_bad_input(site_dir, tmp_path, capsys):
    """A mistyped local path was "tool failed: git ls-remote failed" (exit 3): git works, the
    path is wrong, so exit 2 and one line saying how to make the repository."""
    code, out = publish_cli(capsys, site_dir, f"--remote={tmp_path / 'missing.git'}")
    assert code == 2 and out.count("\n") == 1, out
    assert "missing.git" in out and "git init --bare" in out
