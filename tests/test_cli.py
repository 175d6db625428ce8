"""Bad input: exit status 2, one line naming the problem, no traceback, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from helpers import REFERENCE, REFERENCE_CONFIGS, write_config

from hlm_analysis.cli import main
from hlm_analysis.results import read_json, to_dict

GOOD = {"outcome": "write", "predictors": ["read", "math"], "group": "ses"}


def run_fit(tmp_path, capsys, config):
    out = tmp_path / "out"
    code = main(["fit", str(config), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err, out


def hsb2(tmp_path, **changes):
    frame = pd.read_csv(REFERENCE / "hsb2.csv")
    for column, value in changes.items():
        frame[column] = value
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


CASES = {
    "missing data file": (lambda p: dict(GOOD, data=p / "nope.csv"), "data file not found"),
    "empty data file": (
        lambda p: (p / "e.csv").write_text("") and None or dict(GOOD, data=p / "e.csv"),
        "data file is empty",
    ),
    "header only": (
        lambda p: (
            (p / "h.csv").write_text("write,read,math,ses\n")
            and None
            or dict(GOOD, data=p / "h.csv")
        ),
        "has no rows",
    ),
    "unknown column": (
        lambda p: dict(GOOD, data=hsb2(p), predictors=["read", "reading"]),
        "column 'reading' not found",
    ),
    "text outcome": (lambda p: dict(GOOD, data=hsb2(p), outcome="prog"), "outcome 'prog' is text"),
    "constant outcome": (
        lambda p: dict(GOOD, data=hsb2(p, write=50)),
        "outcome 'write' is constant",
    ),
    "one group": (lambda p: dict(GOOD, data=hsb2(p, ses="all")), "has a single group"),
    "constant predictor": (
        lambda p: dict(GOOD, data=hsb2(p, math=1)),
        "predictor 'math' is constant",
    ),
    "all rows missing": (
        lambda p: dict(GOOD, data=hsb2(p, read=float("nan"))),
        "every row has a missing value in read",
    ),
    "random slope not a predictor": (
        lambda p: dict(GOOD, data=hsb2(p), random_slopes=["science"]),
        "random slope 'science' must also be listed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_exits_2_with_one_line(tmp_path, capsys, case):
    make, expected = CASES[case]
    config = write_config(tmp_path, **make(tmp_path))
    code, err, out = run_fit(tmp_path, capsys, config)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("hlm-report: error: ")
    assert expected in err[0]
    assert not out.exists()


def test_collinear_predictor_is_named(tmp_path, capsys):
    frame = pd.read_csv(REFERENCE / "hsb2.csv")
    frame["total"] = frame["read"] + frame["math"]
    frame.to_csv(tmp_path / "d.csv", index=False)
    config = write_config(
        tmp_path,
        data=tmp_path / "d.csv",
        outcome="write",
        predictors=["read", "math", "total"],
        group="ses",
    )
    code, err, out = run_fit(tmp_path, capsys, config)
    assert code == 2 and "predictor 'total' is perfectly collinear" in err[-1]
    assert not out.exists()


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("title: t\ndata: d.csv\noutcome: y\ngroup: g\ncolour: red\n", "unknown key 'colour'"),
        ("title: t\ndata: d.csv\noutcome: y\n", "missing required key 'group'"),
        ("title: t\ndata: d.csv\noutcome: y\ngroup: g\npredictors: x\n", "key 'predictors'"),
        (
            "title: t\ndata: d.csv\noutcome: y\ngroup: g\ninteractions: ['a']\n",
            "interaction 'a' must look like 'a:b'",
        ),
        (
            "title: t\ndata: d.csv\noutcome: y\ngroup: g\nstakeholders: [{name: A, email: nope}]\n",
            "'nope' is not an email address",
        ),
        ("title: [unclosed\n", "not valid YAML"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_config_errors_name_the_key(tmp_path, capsys, yaml_text, expected):
    config = tmp_path / "bad.yml"
    config.write_text(yaml_text)
    code, err, out = run_fit(tmp_path, capsys, config)
    assert code == 2 and len(err) == 1
    assert str(config) in err[0] and expected in err[0]


def test_missing_config_file(tmp_path, capsys):
    code, err, _ = run_fit(tmp_path, capsys, tmp_path / "none.yml")
    assert code == 2 and "config file not found" in err[0]


# fixed-effect keys of binary-outcome models (null for a Gaussian outcome)
BINOMIAL_ONLY = {
    "odds_ratio", "odds_ratio_ci_low", "odds_ratio_ci_high", "marginal_effect",
    "marginal_effect_se",
}  # fmt: skip


def test_fit_writes_results_json_with_contract_keys(tmp_path, capsys):
    config = write_config(tmp_path, data=REFERENCE / "exam.csv", **REFERENCE_CONFIGS["exam"])
    code, err, out = run_fit(tmp_path, capsys, config)
    assert code == 0
    raw = json.loads((out / "results.json").read_text())
    assert set(raw) >= {"spec", "data", "models"}
    assert set(raw["data"]) >= {
        "n_obs",
        "n_groups",
        "group_size",
        "rows_dropped",
        "dropped_by_column",
    }
    assert set(raw["models"]) == {"ols", "ols_cluster", "null", "random_intercept", "random_slope"}
    for model in raw["models"].values():
        assert set(model) >= {"method", "converged", "optimizer", "loglik", "fixed_effects"}
        for fe in model["fixed_effects"]:
            assert set(fe) - {
                "std_estimate",
                "robust_se",
                "robust_df",
                "robust_p",
                *BINOMIAL_ONLY,
            } == {
                "term",
                "estimate",
                "std_error",
                "statistic",
                "df",
                "p_value",
                "ci_low",
                "ci_high",
            }
    vc = raw["models"]["random_slope"]["variance_components"]
    assert {"group", "term1", "term2", "estimate"} <= set(vc[0])
    assert vc[-1]["group"] == "Residual" and vc[-1]["term1"] is None
    assert raw["models"]["null"]["icc"]["estimate"] == pytest.approx(0.16834, abs=1e-3)
    assert to_dict(read_json(out / "results.json")) == raw  # the JSON round trip is lossless


def test_missing_values_are_dropped_and_counted(tmp_path, capsys):
    frame = pd.read_csv(REFERENCE / "hsb2.csv")
    frame.loc[:9, "read"] = None
    frame.loc[5:14, "math"] = None
    frame.to_csv(tmp_path / "d.csv", index=False)
    config = write_config(tmp_path, data=tmp_path / "d.csv", **GOOD)
    code, _, out = run_fit(tmp_path, capsys, config)
    data = json.loads((out / "results.json").read_text())["data"]
    assert code == 0
    assert data["n_obs"] == 185 and data["rows_dropped"] == 15
    assert data["dropped_by_column"] == {"read": 10, "math": 10}


def test_parquet_input(tmp_path, capsys):
    pd.read_csv(REFERENCE / "hsb2.csv").to_parquet(tmp_path / "d.parquet")
    config = write_config(tmp_path, data=tmp_path / "d.parquet", **GOOD)
    code, _, out = run_fit(tmp_path, capsys, config)
    assert code == 0 and (out / "results.json").exists()


def test_real_entry_point_prints_no_traceback(tmp_path):
    config = write_config(tmp_path, data=tmp_path / "nope.csv", **GOOD)
    proc = subprocess.run(
        [sys.executable, "-m", "hlm_analysis", "fit", str(config), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_a_bug_exits_1_with_one_line_and_the_traceback_in_error_log(tmp_path, capsys, monkeypatch):
    from hlm_analysis.model import analysis

    def broken(*args, **kwargs):
        raise ZeroDivisionError("an internal mistake\nsecond line")

    monkeypatch.setattr(analysis, "describe", broken)
    config = write_config(tmp_path, data=REFERENCE / "hsb2.csv", **GOOD)
    code, err, out = run_fit(tmp_path, capsys, config)
    assert code == 1
    assert len(err) == 1 and "internal error" in err[0]
    assert "ZeroDivisionError: an internal mistake" in err[0] and str(out / "error.log") in err[0]
    log = (out / "error.log").read_text()
    assert "Traceback" in log and "def broken" not in log and "in broken" in log
    assert not (out / "results.json").exists()


def test_debug_prints_the_traceback(tmp_path, capsys, monkeypatch):
    from hlm_analysis.model import analysis

    monkeypatch.setattr(analysis, "describe", lambda *a: 1 / 0)
    config = write_config(tmp_path, data=REFERENCE / "hsb2.csv", **GOOD)
    assert main(["--debug", "fit", str(config), "--out", str(tmp_path / "o")]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_broken_tool_exits_3(tmp_path, capsys, monkeypatch):
    from hlm_analysis.errors import ToolError
    from hlm_analysis.model import analysis

    def tool(*args, **kwargs):
        raise ToolError("pandoc: exploded")

    monkeypatch.setattr(analysis, "describe", tool)
    config = write_config(tmp_path, data=REFERENCE / "hsb2.csv", **GOOD)
    code, err, _ = run_fit(tmp_path, capsys, config)
    assert code == 3 and err == ["hlm-report: tool failed: pandoc: exploded"]


def test_results_json_carries_its_schema_version(tmp_path, capsys):
    config = write_config(tmp_path, data=REFERENCE / "hsb2.csv", **GOOD)
    code, _, out = run_fit(tmp_path, capsys, config)
    assert code == 0
    assert json.loads((out / "results.json").read_text())["schema_version"] == 2


@pytest.mark.parametrize(
    "variables, dry_run",
    [
        (["DRY_RUN=1"], True),
        (["DRY_RUN=yes", "EMAIL_FLAGS=--force"], True),
        (["DRY_RUN=0"], False),
        ([], False),
        (["EMAIL_FLAGS=--dry-run"], True),  # the older spelling still works
    ],
)
def test_make_email_passes_dry_run(variables, dry_run):
    """`make email CONFIG=... --dry-run` is make's own option; DRY_RUN=1 is the way to ask."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        ["make", "-n", "email", "CONFIG=report/configs/hsb2.yml", *variables],
        cwd=root,
        capture_output=True,
        text=True,
    )
    (line,) = [ln for ln in proc.stdout.splitlines() if "hlm-report email" in ln]
    assert ("--dry-run" in line.split()) == dry_run, line
    assert ("--force" in line.split()) == ("EMAIL_FLAGS=--force" in variables), line
