"""Config paths resolve as in a Quarto project: against the folder holding _quarto.yml above the
config, else against the config's own folder; absolute paths as given."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlm_analysis.errors import InputError
from hlm_analysis.spec import load_spec

BODY = "title: t\noutcome: y\ngroup: g\n"


def test_relative_data_resolves_against_the_quarto_project_root(tmp_path):
    (tmp_path / "_quarto.yml").write_text("project:\n  type: default\n")
    config = tmp_path / "report" / "configs" / "a.yml"
    config.parent.mkdir(parents=True)
    config.write_text(BODY + "data: data/a.csv\n")
    assert load_spec(config).data == tmp_path / "data" / "a.csv"


def test_without_a_project_relative_data_resolves_against_the_config_folder(tmp_path, monkeypatch):
    config = tmp_path / "analyses" / "b.yml"
    config.parent.mkdir()
    config.write_text(BODY + "data: ../shared/b.csv\n")
    monkeypatch.chdir(tmp_path)  # the working directory does not matter
    assert (
        load_spec(Path("analyses/b.yml")).data == tmp_path / "analyses" / ".." / "shared" / "b.csv"
    )


def test_absolute_data_path_is_kept(tmp_path):
    (tmp_path / "_quarto.yml").write_text("")
    config = tmp_path / "c.yml"
    config.write_text(BODY + f"data: {tmp_path / 'x' / 'c.parquet'}\n")
    assert load_spec(config).data == tmp_path / "x" / "c.parquet"


def test_the_shipped_configs_resolve_into_the_repository_data_folder():
    root = Path(__file__).resolve().parent.parent
    assert load_spec(root / "report" / "configs" / "hsb2.yml").data == root / "data" / "hsb2.csv"


def test_name_comes_from_the_file(tmp_path):
    config = tmp_path / "district-2026.yml"
    config.write_text(BODY + "data: d.csv\n")
    assert load_spec(config).name == "district-2026"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: t\n", "missing required key 'data'"),
        (BODY + "data: d.csv\nwhat: 1\n", "unknown key 'what'"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, message):
    config = tmp_path / "bad.yml"
    config.write_text(text)
    with pytest.raises(InputError, match=message):
        load_spec(config)
