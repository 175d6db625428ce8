"""The package works installed, not only from this checkout: a real wheel, installed outside the
repository, renders a report from an unrelated directory; and pyproject lists every subpackage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from helpers import REFERENCE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return next(out.glob("hlm_report-*.whl"))


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "hlm_analysis").rglob("__init__.py")
    }
    assert on_disk <= listed


def test_wheel_carries_the_report_document_templates_and_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hlm_analysis/report/hlm_report.qmd" in names
    templates = {p.name for p in (ROOT / "templates").glob("*.j2")}
    assert {f"hlm_analysis/templates/{t}" for t in templates} <= names
    assert "hlm_analysis/render/assets/callouts.lua" in names
    assert not any(n.startswith("hlm_analysis/report/configs") for n in names)


def test_installed_wheel_renders_from_an_unrelated_directory(wheel, tmp_path):
    site = tmp_path / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    work = tmp_path / "somewhere" / "else"
    (work / "data").mkdir(parents=True)
    shutil.copy(REFERENCE / "hsb2.csv", work / "data" / "students.csv")
    # A relative data path, and no _quarto.yml above: it resolves against the config's folder.
    (work / "some.yml").write_text(
        "title: Writing in three groups\ndata: data/students.csv\noutcome: write\n"
        "predictors: [read, math]\ngroup: ses\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import hlm_analysis; print(hlm_analysis.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(site))  # the installed copy, not this checkout
    proc = subprocess.run(
        [sys.executable, "-m", "hlm_analysis", "render", "some.yml", "--engine", "builtin"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = work / "_output" / "some"
    for name in ("report.html", "report.pdf", "report.docx", "results.json", "rows.parquet"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == 2
    # results.json is published: the data by file name (no project root here), no absolute path
    assert results["spec"]["data"] == "students.csv"
    assert str(tmp_path) not in (out / "results.json").read_text()
    assert "Writing in three groups" in (out / "report.html").read_text()
