"""Shared test helpers: configs written on the fly, fitted results cached per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hlm_analysis.analysis import run_analysis
from hlm_analysis.spec import load_spec

TESTS = Path(__file__).parent
REFERENCE = TESTS / "reference"
LME4 = json.loads((REFERENCE / "lme4_reference.json").read_text())

# The reference datasets as configs; R's formulas are in lme4_reference.json beside each model.
REFERENCE_CONFIGS = {
    "hsb2": {
        "outcome": "write",
        "predictors": ["read", "math", "science", "socst"],
        "group": "ses",
    },
    "sleepstudy": {
        "outcome": "Reaction",
        "predictors": ["Days"],
        "group": "Subject",
        "random_slopes": ["Days"],
    },
    "exam": {
        "outcome": "normexam",
        "predictors": ["standLRT", "sex"],
        "group": "school",
        "random_slopes": ["standLRT"],
    },
    "dyestuff2": {"outcome": "Yield", "predictors": [], "group": "Batch"},
}


def write_config(directory: Path, name: str = "analysis", **keys) -> Path:
    keys.setdefault("title", "Test analysis")
    path = directory / f"{name}.yml"
    path.write_text(
        yaml.safe_dump({k: (str(v) if isinstance(v, Path) else v) for k, v in keys.items()})
    )
    return path


_cache: dict[str, object] = {}


def reference_results(name: str, tmp_dir: Path):
    if name not in _cache:
        config = write_config(
            tmp_dir, name, data=REFERENCE / f"{name}.csv", **REFERENCE_CONFIGS[name]
        )
        _cache[name] = run_analysis(load_spec(config))
    return _cache[name]


@pytest.fixture(scope="session")
def fitted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reference")
    return lambda name: reference_results(name, directory)
