"""Shared test helpers: reference data and configs, configs written on the fly, fitted results
cached per session. Importable from every test folder (pytest's pythonpath includes tests/)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hlm_analysis.model.analysis import run_analysis
from hlm_analysis.results import read_json
from hlm_analysis.spec import load_spec

TESTS = Path(__file__).parent
REFERENCE = TESTS / "reference"
FIXTURES = TESTS / "fixtures"
SNAPSHOTS = TESTS / "snapshots"
HSB2_CONFIG = TESTS.parent / "report" / "configs" / "hsb2.yml"
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


def fit(config: Path, out: Path):
    """Fit a config into `out` (results.json and the row sample) and return the Results."""
    return run_analysis(load_spec(config), out)


_cache: dict[str, object] = {}


def reference_results(name: str, tmp_dir: Path):
    if name not in _cache:
        config = write_config(
            tmp_dir, name, data=REFERENCE / f"{name}.csv", **REFERENCE_CONFIGS[name]
        )
        _cache[name] = fit(config, tmp_dir / name)
    return _cache[name]


def fixture_results(name: str):
    """Fixed results of a shipped config (tests/fixtures/NAME/), so narrative tests do not
    depend on the optimizer; `python tests/helpers.py` rewrites them after a schema change."""
    return read_json(FIXTURES / name / "results.json")


if __name__ == "__main__":
    root = TESTS.parent
    for name in ("hsb2", "schools", "graduation"):
        fit(root / "report" / "configs" / f"{name}.yml", FIXTURES / name)
        print(f"wrote {FIXTURES / name}")
