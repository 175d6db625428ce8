"""The analyst's workflow (issue 24): --version, schema, render --to / -P / caching."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from importlib.metadata import version

import jsonschema
import pytest
from helpers import FIXTURES

from hlm_analysis.cli import main
from hlm_analysis.results import from_dict
from hlm_analysis.schema import results_schema

FIXTURE_RESULTS = sorted(FIXTURES.glob("*/results.json"))


def test_version_is_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"hlm-report {version('hlm-report')}"


def test_schema_command_prints_a_valid_draft_2020_12_schema():
    proc = subprocess.run(
        [sys.executable, "-m", "hlm_analysis", "schema"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == results_schema()


@pytest.mark.parametrize("path", FIXTURE_RESULTS, ids=lambda p: p.parent.name)
def test_every_shipped_results_json_satisfies_the_schema(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(results_schema()).validate(raw)


def _breakages(raw: dict):
    """Changes that break the contract: the schema must refuse each of them."""
    model = next(iter(raw["models"]))
    yield "unknown top-level key", lambda r: r.update(extra=1)
    yield "missing required key", lambda r: r.pop("final_model")
    yield "wrong schema_version", lambda r: r.update(schema_version=r["schema_version"] + 1)
    yield "unknown model name", lambda r: r["models"].update(not_a_model=r["models"][model])
    yield (
        "unknown key in a fixed effect",
        lambda r: r["models"][model]["fixed_effects"][0].update(zz=1),
    )
    yield (
        "text where a number goes",
        lambda r: r["models"][model]["fixed_effects"][0].update(estimate="1.0"),
    )
    yield "unknown config key", lambda r: r["spec"].update(not_a_key=1)


@pytest.mark.parametrize("path", FIXTURE_RESULTS[:1], ids=lambda p: p.parent.name)
def test_schema_refuses_what_the_reader_refuses(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(results_schema())
    for label, breakage in _breakages(raw):
        broken = copy.deepcopy(raw)
        breakage(broken)
        assert not validator.is_valid(broken), label
    from_dict(raw)  # and the unbroken file is what the reader accepts


def test_schema_names_every_field_of_every_results_dataclass():
    from dataclasses import fields, is_dataclass

    from hlm_analysis import results

    schema = results_schema()
    for name in dir(results):
        cls = getattr(results, name)
        if isinstance(cls, type) and is_dataclass(cls) and cls.__module__ == results.__name__:
            block = schema if cls is results.Results else schema["$defs"].get(cls.__name__)
            if block is None:
                continue  # a helper dataclass results.json does not hold
            assert set(block["properties"]) == {f.name for f in fields(cls)}, name
