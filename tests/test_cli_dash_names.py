"""A config whose file name starts with '-' (`-x.yml`), given bare: argparse would take it for
an option ("arguments are required: config"); it is the config, as `./-x.yml` is."""

from __future__ import annotations

import json

import pytest
from helpers import REFERENCE, REFERENCE_CONFIGS, write_config

import hlm_analysis.render
from hlm_analysis.cli import main


@pytest.fixture
def dash_config(tmp_path, monkeypatch):
    config = write_config(tmp_path, data=REFERENCE / "exam.csv", **REFERENCE_CONFIGS["exam"])
    config.rename(tmp_path / "-x.yml")
    monkeypatch.chdir(tmp_path)  # the name as a user types it: bare, in the working folder
    return tmp_path


def test_fit_reads_a_bare_config_name_starting_with_a_dash(dash_config, capsys):
    assert main(["fit", "-x.yml", "--out", "out"]) == 0, capsys.readouterr().err
    first = json.loads((dash_config / "out" / "results.json").read_text())
    assert main(["fit", "./-x.yml", "--out", "out2"]) == 0
    second = json.loads((dash_config / "out2" / "results.json").read_text())
    assert first["models"]["null"]["loglik"] == second["models"]["null"]["loglik"]


def test_render_takes_a_bare_dash_name_as_its_config(dash_config, capsys, monkeypatch):
    seen = {}
    monkeypatch.setattr(
        hlm_analysis.render,
        "render_report",
        lambda config, **keys: seen.update(keys, config=config),
    )
    assert main(["render", "-x.yml", "-P", "title=Draft", "--to", "html"]) == 0
    assert seen["config"].name == "-x.yml" and seen["formats"] == ["html"]
    assert seen["overrides"] == {"title": "Draft"}


def test_a_missing_dash_config_is_named_not_taken_for_an_option(dash_config, capsys):
    code = main(["fit", "-y.yml", "--out", "out"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "-y.yml" in err[0], err
    assert "config file not found" in err[0], err
