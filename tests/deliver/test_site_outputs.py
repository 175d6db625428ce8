"""The site and publish never lose or mix up anything (issue 25): two configs of one name are
refused naming both (no crash), a report folder of another config is never put under this
config's card, links to names with '#', '%', '?', spaces or non-ASCII letters are URL-encoded,
only a site folder the tool built is replaced, and publish keeps the branch's CNAME and
.nojekyll and says so when the remote folder is no repository."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from deliver.mailserver import mark_rendered
from helpers import FIXTURES, write_config

from hlm_analysis import layout
from hlm_analysis.cli import main


def one_line(out: str) -> bool:
    return out.strip() != "" and "\n" not in out.strip()


def rendered(tmp_path: Path, name: str, sub: str = "configs") -> Path:
    """A config and a report folder for it in tmp_path/_output, as render leaves them."""
    (tmp_path / sub).mkdir(exist_ok=True)
    config = write_config(
        tmp_path / sub, name=name, data=tmp_path / "d.csv", outcome="y", group="g"
    )
    folder = layout.report_dir(tmp_path / "_output", config)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURES / "schools", folder, dirs_exist_ok=True)
    for file in layout.REPORT_FILES:
        (folder / file).write_text(f"{file} of {name}")
    mark_rendered(folder, config)
    return config


def site(tmp_path, capsys, *configs, site_dir=None):
    site_dir = site_dir or tmp_path / "_site"
    args = ["site", *map(str, configs), "--no-render", "--output-root", str(tmp_path / "_output")]
    code = main([*args, "--site-dir", str(site_dir)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("names", [("report", "report"), ("Report", "report"), (".x", "x")])
def test_two_configs_of_one_report_name_are_refused_naming_both(tmp_path, capsys, names):
    first = rendered(tmp_path, names[0], "a")
    second = write_config(tmp_path / "a", name=names[1], data="d.csv", outcome="y", group="g")
    if names[0] == names[1]:
        (tmp_path / "b").mkdir()
        second = write_config(tmp_path / "b", name=names[1], data="d.csv", outcome="y", group="g")
    code, out = site(tmp_path, capsys, first, second)
    assert code == 2 and one_line(out), out
    assert str(first) in out and str(second) in out
    assert not (tmp_path / "_site").exists()


def test_a_report_folder_of_another_config_is_not_put_on_the_site(tmp_path, capsys):
    mine = rendered(tmp_path, "report", "a")
    other = rendered(tmp_path, "report", "b")  # rendered last: the folder is b's now
    code, out = site(tmp_path, capsys, mine)
    assert code == 2 and one_line(out) and "b/report.yml" in out, out
    code, out = site(tmp_path, capsys, other)
    assert code == 0, out


NAMES = ["50% #1 of 2", "Größe?", "a&b", "español ñ", "x%2F..%2Fy", "학교 보고서"]


def test_links_to_reports_are_url_encoded_and_lead_to_the_files(tmp_path, capsys):
    configs = [rendered(tmp_path, name) for name in NAMES]
    code, out = site(tmp_path, capsys, *configs)
    assert code == 0, out
    index = (tmp_path / "_site" / "index.html").read_text()
    links = re.findall(r'href="(reports/[^"]+)"', index)
    assert len(links) == 3 * len(NAMES)  # the report, its PDF and its Word file
    for link in links:
        assert re.fullmatch(r"[A-Za-z0-9%._~/-]+", link), link  # nothing left unencoded
        target = tmp_path / "_site" / unquote(link)
        assert target.is_file() and target.parent.parent == tmp_path / "_site" / "reports", link


@pytest.mark.parametrize("contents", [{"notes.txt": "mine"}, {"index.html": "x", "a.txt": "y"}])
def test_only_a_site_folder_the_tool_built_is_replaced(tmp_path, capsys, contents):
    config = rendered(tmp_path, "report")
    target = tmp_path / "mine"
    target.mkdir()
    for name, text in contents.items():
        (target / name).write_text(text)
    code, out = site(tmp_path, capsys, config, site_dir=target)
    assert code == 2 and one_line(out) and "did not write" in out, out
    assert sorted(p.name for p in target.iterdir()) == sorted(contents)
    # Its own site, built before, is replaced.
    assert site(tmp_path, capsys, config)[0] == 0
    assert (tmp_path / "_site" / layout.MARKER).is_file()
    assert site(tmp_path, capsys, config)[0] == 0


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)


def test_publish_keeps_the_branchs_cname_and_nojekyll(tmp_path, capsys):
    config = rendered(tmp_path, "report")
    assert site(tmp_path, capsys, config)[0] == 0
    remote = tmp_path / "pages.git"
    git("init", "--bare", "--quiet", str(remote), cwd=tmp_path)
    assert main(["publish", "--site-dir", str(tmp_path / "_site"), "--remote", str(remote)]) == 0
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", "gh-pages", str(remote), str(clone), cwd=tmp_path)
    (clone / "CNAME").write_text("reports.district.example.org\n")
    git("add", "CNAME", cwd=clone)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    git(*identity, "commit", "--quiet", "-m", "custom domain", cwd=clone)
    git("push", "--quiet", "origin", "gh-pages", cwd=clone)
    (tmp_path / "_site" / "index.html").write_text("<!doctype html><title>new</title>")
    assert main(["publish", "--site-dir", str(tmp_path / "_site"), "--remote", str(remote)]) == 0
    files = git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).stdout.split()
    assert "CNAME" in files and ".nojekyll" in files and "index.html" in files
    cname = git("show", "gh-pages:CNAME", cwd=remote).stdout
    assert cname == "reports.district.example.org\n"


def test_publish_to_a_folder_that_is_no_repository_says_so(tmp_path, capsys):
    config = rendered(tmp_path, "report")
    assert site(tmp_path, capsys, config)[0] == 0
    plain = tmp_path / "plain"
    plain.mkdir()
    code = main(["publish", "--site-dir", str(tmp_path / "_site"), "--remote", str(plain)])
    out = capsys.readouterr().err
    assert code == 2 and one_line(out) and "not a git repository" in out, out
    assert "repository exists" not in out and list(plain.iterdir()) == []


def test_files_a_user_added_to_the_built_site_survive_a_rebuild(tmp_path, capsys):
    """The site folder carries the tool's marker, so it is rebuilt; a CNAME, robots.txt or a
    folder the user put in it since is not the tool's to delete (verify round 31). A report
    taken off the site does not come back as if it were the user's."""
    configs = [rendered(tmp_path, "report"), rendered(tmp_path, "other")]
    assert site(tmp_path, capsys, *configs)[0] == 0
    built = tmp_path / "_site"
    (built / "CNAME").write_text("reports.district.example.org\n")
    (built / "extra").mkdir()
    (built / "extra" / "page.html").write_text("mine")
    code, out = site(tmp_path, capsys, configs[0])
    assert code == 0, out
    assert (built / "CNAME").read_text() == "reports.district.example.org\n"
    assert (built / "extra" / "page.html").read_text() == "mine"
    assert "CNAME" in out
    assert sorted(p.name for p in (built / "reports").iterdir()) == ["report"]


def test_a_cname_in_a_site_from_before_markers_survives_the_rebuild(tmp_path, capsys):
    config = rendered(tmp_path, "report")
    old = tmp_path / "_site"
    (old / "reports").mkdir(parents=True)
    (old / "index.html").write_text("old")
    (old / "CNAME").write_text("reports.example.org\n")
    code, out = site(tmp_path, capsys, config)
    assert code == 0, out
    assert (old / "CNAME").read_text() == "reports.example.org\n"
    assert (old / "index.html").read_text() != "old"
