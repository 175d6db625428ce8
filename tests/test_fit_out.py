"""`fit --out DIR`: results.json and rows.parquet of the user's own in DIR are never replaced
(verify round 32, row 5); the tool's own (the `.hlm-report` marker of this config) are, and only
once the new ones are complete."""

from __future__ import annotations

import json

import pytest
from helpers import REFERENCE, write_config

from hlm_analysis.cli import main
from hlm_analysis.errors import ToolError
from hlm_analysis.layout import MARKER
from hlm_analysis.model import analysis

GOOD = {"outcome": "write", "predictors": ["read", "math"], "group": "ses"}


def fit(config, out, capsys):
    code = main(["fit", str(config), "--out", str(out)])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, data=REFERENCE / "hsb2.csv", **GOOD)


@pytest.mark.parametrize("name", ["results.json", "rows.parquet"])
def test_a_users_own_file_of_that_name_is_refused_and_kept(tmp_path, capsys, config, name):
    out = tmp_path / "notes"
    out.mkdir()
    (out / name).write_text("mine")
    code, err = fit(config, out, capsys)
    assert code == 2 and len(err) == 1, err
    assert str(out / name) in err[0] and "--out" in err[0], err
    assert (out / name).read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_another_configs_fit_folder_is_refused(tmp_path, capsys, config):
    (tmp_path / "other").mkdir()
    other = write_config(tmp_path / "other", data=REFERENCE / "hsb2.csv", **GOOD)
    out = tmp_path / "fit"
    assert fit(other, out, capsys)[0] == 0
    before = (out / "results.json").read_bytes()
    code, err = fit(config, out, capsys)
    # the marker names the config relative to where that fit ran: any working directory here
    assert code == 2 and len(err) == 1 and "results.json" in err[0], err
    assert "other/analysis.yml" in err[0] and "choose another --out" in err[0], err
    assert (out / "results.json").read_bytes() == before


def test_refit_into_its_own_folder_replaces_only_when_complete(
    tmp_path, capsys, config, monkeypatch
):
    out = tmp_path / "fit"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert fit(config, out, capsys)[0] == 0
    assert json.loads((out / MARKER).read_text())["tool"] == "hlm-report"
    code, err = fit(config, out, capsys)  # the same config again: its own folder
    assert code == 0, err
    before = {name: (out / name).read_bytes() for name in ("results.json", "rows.parquet")}

    def broken(*args, **kwargs):
        raise ToolError("disk on fire")

    # the row sample is written, then the run fails: nothing of it reaches the folder
    monkeypatch.setattr(analysis, "write_json", broken)
    code, err = fit(config, out, capsys)
    assert code == 3, err
    assert {name: (out / name).read_bytes() for name in before} == before
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([MARKER, "notes.txt", "results.json", "rows.parquet"]), names
