"""A config's YAML as written (issue 25): a key written twice at any depth is refused naming the
key and both lines; names (columns, levels, labels, tokens, addresses) are the text written,
not what YAML 1.1 makes of it (010 -> 8, 1.50 -> 1.5, yes -> True, 2024-01-01 -> a date)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from hlm_analysis.cli import main
from hlm_analysis.errors import InputError
from hlm_analysis.spec import load_spec

BASE = "title: T\ndata: d.csv\noutcome: y\ngroup: g\n"


def config(tmp_path, text: str):
    path = tmp_path / "c.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, key, lines",
    [
        (BASE + "predictors: [a]\npredictors: [b]\n", "predictors", (5, 6)),
        (BASE + "predictors: [x]\ncentering: {x: group, x: grand}\n", "x", (6, 6)),
        (BASE + "predictors: [x]\ncentering:\n  x: group\n  x: grand\n", "x", (7, 8)),
        (BASE + "labels:\n  y: Score\n  g: School\n  y: Points\n", "y", (6, 8)),
        (BASE + "stakeholders:\n  - name: A\n    email: a@b.org\n    name: B\n", "name", (6, 8)),
        (BASE + "title: Again\n", "title", (1, 5)),
        (BASE + "predictors: [x]\nreference: {x: '1', x: '2'}\n", "x", (6, 6)),
        (BASE + "predictors: ['010']\nlabels: {'010': a, 010: b}\n", "010", (6, 6)),
    ],
)
def test_a_key_written_twice_anywhere_is_refused_naming_it_and_its_lines(
    tmp_path, capsys, text, key, lines
):
    code = main(["fit", str(config(tmp_path, text)), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"key '{key}' is written twice" in err[0], err
    assert f"lines {lines[0]} and {lines[1]}" in err[0], err
    assert not (tmp_path / "out").exists()


def test_merge_keys_may_be_overridden(tmp_path):
    text = BASE + "predictors: [x]\ndefaults: &d {x: Old}\n"
    text = text.replace("defaults: &d {x: Old}\n", "")
    spec = load_spec(
        config(tmp_path, BASE + "predictors: [x]\nlabels:\n  <<: {x: Old}\n  x: New\n")
    )
    assert spec.labels == {"x": "New"}


@pytest.mark.parametrize(
    "written, expected",
    [("010", "010"), ("0x1F", "0x1F"), ("1_000", "1_000"), ("1.50", "1.50"), ("+5", "+5"),
     ("2024-01-01", "2024-01-01"), ("yes", "yes"), ("No", "No"), ("on", "on"), ("1e3", "1e3"),
     (".inf", ".inf"), ("0o17", "0o17"), ("-099", "-099")],
)  # fmt: skip
def test_names_are_the_text_written_in_every_name_position(tmp_path, written, expected):
    text = (
        f"title: {written}\ndata: d.csv\noutcome: {written}\ngroup: g{written}\n"
        f"predictors: [{written}, p]\nrandom_slopes: [{written}]\nlevers: [{written}]\n"
        f"labels: {{{written}: {written}}}\ncentering: {{{written}: group}}\n"
        f"reference: {{p: {written}}}\nmissing_values: [{written}]\n"
        f"stakeholders: [{{name: {written}, email: a@b.org}}]\n"
    ).replace(f"outcome: {written}", "outcome: y")
    spec = load_spec(config(tmp_path, text))
    assert spec.title == expected and spec.group == f"g{expected}"
    assert spec.predictors == [expected, "p"] and spec.random_slopes == [expected]
    assert spec.levers == [expected] and spec.labels == {expected: expected}
    assert spec.centering == {expected: "group"} and spec.reference == {"p": expected}
    assert spec.missing_values == [expected] and spec.stakeholders[0].name == expected


@pytest.mark.parametrize("written", ["yes", "No", "TRUE", "off", "0", "1"])
def test_a_yaml_boolean_as_event_is_the_level_written(tmp_path, written):
    text = BASE.replace("outcome: y", "outcome: y\nfamily: binomial") + f"event: {written}\n"
    assert load_spec(config(tmp_path, text)).event == written


def test_not_given_and_numbers_keep_their_yaml_meaning(tmp_path):
    text = BASE + "subtitle: ~\nauthor:\nevent: null\nfamily: binomial\nnagq: 3\n"
    spec = load_spec(config(tmp_path, text))
    assert spec.subtitle is None and spec.author is None and spec.event is None
    assert spec.nagq == 3


def test_aliases_are_built_once_not_expanded(tmp_path):
    # 'billion laughs': nine levels of ten aliases each would be 10^9 strings if expanded.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = BASE + "\n".join(lines).replace("a0:", "predictors:", 0) + "\nlabels: {y: *a8}\n"
    started = time.perf_counter()
    with pytest.raises(InputError, match="aliases expand to more than 100,000 values"):
        load_spec(config(tmp_path, text))
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("key", ["labels", "predictors", "unknown_key", "nagq"])
def test_alias_bombs_are_refused_in_every_key_before_anything_walks_them(tmp_path, key):
    # Validators that walk values (NFC normalisation of names) would expand them: 10^8 strings.
    lines = ["x0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(lines).replace("x0:", "predictors:") + f"\n{key}: *a7\n"
    text = BASE + text.replace("predictors:", "levers:", 1)
    with pytest.raises(InputError, match="aliases expand"):
        load_spec(config(tmp_path, text))


def test_a_column_named_010_is_matched_as_written(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame(
        {"y": rng.normal(size=n), "010": rng.normal(size=n), "g": np.repeat(list("abcdef"), n // 6)}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    path = config(tmp_path, BASE + "predictors: [010]\nlabels: {010: Ten}\n")
    code = main(["fit", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    results = (tmp_path / "out" / "results.json").read_text()
    assert '"010"' in results and '"8"' not in results


@pytest.mark.parametrize("value", [True, False, __import__("datetime").date(2024, 1, 1)])
def test_a_yaml_typed_value_where_text_belongs_gets_the_hint_to_quote(value):
    # Every text key of today's Spec is kept as text (yaml_config.TEXT_KEYS); a key added later
    # and not listed there still gets the hint rather than "Input should be a valid string".
    from pydantic import BaseModel, ValidationError

    from hlm_analysis.spec import _describe

    class Later(BaseModel):
        paper_note: str

    with pytest.raises(ValidationError) as caught:
        Later.model_validate({"paper_note": value})
    line = _describe(caught.value.errors()[0])
    assert line.startswith("key 'paper_note'") and "write it in quotes" in line, line
    assert repr(value) in line
