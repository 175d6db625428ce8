"""The results contract: a lossless, versioned JSON round trip that refuses what it does not know."""

from __future__ import annotations

import json

import pytest

from hlm_analysis.results import (
    SCHEMA_VERSION,
    Check,
    ModelName,
    SchemaError,
    TermKind,
    from_dict,
    read_json,
    to_dict,
)


def test_round_trip_is_lossless_and_typed(hsb2):
    again = from_dict(json.loads(json.dumps(to_dict(hsb2))))
    assert to_dict(again) == to_dict(hsb2)
    assert again.spec == hsb2.spec  # the validated Spec itself, not a dict
    assert set(again.models) == set(hsb2.models)
    assert all(isinstance(name, ModelName) for name in again.models)
    assert all(isinstance(h.check, Check) for h in again.health)
    assert again.design.term("read:math").kind == TermKind.INTERACTION
    assert again.design.term("read:math").parts == ("read", "math")


def test_other_schema_versions_are_refused(hsb2):
    raw = to_dict(hsb2)
    raw["schema_version"] = SCHEMA_VERSION - 1
    with pytest.raises(SchemaError, match="schema_version"):
        from_dict(raw)
    del raw["schema_version"]
    with pytest.raises(SchemaError, match="schema_version None"):
        from_dict(raw)


def test_unknown_and_missing_keys_are_named(hsb2):
    raw = to_dict(hsb2)
    raw["models"]["null"]["surprise"] = 1
    with pytest.raises(SchemaError, match=r"unknown key 'results\.models\.null\.surprise'"):
        from_dict(raw)
    raw = to_dict(hsb2)
    del raw["data"]["n_obs"]
    with pytest.raises(SchemaError, match=r"missing key 'results\.data\.n_obs'"):
        from_dict(raw)
    raw = to_dict(hsb2)
    raw["health"][0]["status"] = "fine"
    with pytest.raises(SchemaError, match="unknown value 'fine'"):
        from_dict(raw)


def test_non_finite_numbers_survive_as_nan(hsb2):
    raw = to_dict(hsb2)
    raw["models"]["null"]["fixed_effects"][0]["statistic"] = None  # JSON's stand-in for NaN
    value = from_dict(raw).models[ModelName.NULL].fixed_effects[0].statistic
    assert value != value


def test_unreadable_results_file_is_input_error(tmp_path):
    from hlm_analysis.errors import InputError

    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_json(tmp_path / "results.json")
    with pytest.raises(InputError, match="not found"):
        read_json(tmp_path / "missing.json")


def test_large_arrays_written_apart_read_back_the_same(hsb2, monkeypatch):
    from dataclasses import replace

    from hlm_analysis import json_arrays, results

    # every float array of the hsb2 results is formatted apart (json_arrays) at this size, and
    # a title that looks like a stand-in string stays the user's text
    monkeypatch.setattr(results, "LARGE_ARRAY", 2)
    formatted = []
    original = json_arrays.dumps
    monkeypatch.setattr(json_arrays, "dumps", lambda a: formatted.append(a) or original(a))
    fake = replace(hsb2, spec=hsb2.spec.model_copy(update={"title": 'x:0" "0123abcd:0'}))
    text = results.dumps(fake)
    assert json.loads(text) == to_dict(fake)
    assert from_dict(json.loads(text)).spec.title == 'x:0" "0123abcd:0'
    assert any(a.ndim == 2 for a in formatted) and len(formatted) > 10


def test_small_float_rows_match_the_numpy_path(monkeypatch):
    # a group's 2 x 2 covariance takes a plain-Python path (60,000 of them at 20,000 groups);
    # it must give what the numpy path gives: NaN and inf as null, ints and ragged rows left to
    # numpy's rules
    from hlm_analysis import results

    cases = [
        ((1.5, float("nan")), (float("inf"), -2.0)),
        ((0.25,),),
        ((1.0, 2),),
        ((1.0, 2.0), (3.0,)),
        ((),),
    ]
    assert results._small_float_rows(cases[0]) is not None  # the fast path is the one taken
    fast = [results._plain(c) for c in cases]
    monkeypatch.setattr(results, "_small_float_rows", lambda value: None)
    slow = [results._plain(c) for c in cases]
    assert fast == slow
    assert fast[0] == [[1.5, None], [None, -2.0]]
    assert fast[2] == [[1.0, 2.0]]  # numpy's path: the int becomes a float
