"""Config validation that finds everything at once (issue 24): every problem of a config in one
run (exit 2, a first line with their count, then one line each), did-you-mean for keys and
column names, labels of no column refused, missing-value codes among text named with the fix,
and a relative data path that is not there explained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE

from hlm_analysis.cli import main

PREFIX = "hlm-report: error: "


def run_fit(tmp_path, capsys, config) -> tuple[int, list[str], bool]:
    out = tmp_path / "out"
    code = main(["fit", str(config), "--out", str(out)])
    return code, capsys.readouterr().err.strip().splitlines(), out.exists()


def several(tmp_path, capsys, config, count: int) -> list[str]:
    """Exit 2, nothing written, a first line with the count, then one line per problem."""
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2, err
    assert not written
    assert err[0] == f"{PREFIX}{count} problems in {config}:", err
    assert len(err) == count + 1, err
    assert all(line.startswith(f"  {config}: ") and line.isprintable() for line in err[1:]), err
    return [line.removeprefix(f"  {config}: ") for line in err[1:]]


def hsb2_config(tmp_path, body: str):
    config = tmp_path / "c.yml"
    config.write_text(f"title: t\ndata: {REFERENCE / 'hsb2.csv'}\n{body}")
    return config


def test_every_config_problem_is_listed_with_its_fix(tmp_path, capsys):
    config = hsb2_config(
        tmp_path,
        "outcome: write\npredictors: [read, math]\ngroup: ses\n"
        "lables: {write: Writing}\n"  # a misspelled key
        "Levers: [math]\n"  # a key in the wrong case
        "profiles: {min_sise: 3}\n"  # a misspelled key one level down
        "stakeholders: [{name: Dana, emial: dana@district.example.org}]\n"
        "min_cell: many\n",  # a wrong type
    )
    lines = several(tmp_path, capsys, config, 6)
    assert "unknown key 'lables' (did you mean 'labels'?)" in lines
    assert "unknown key 'Levers' (did you mean 'levers'?)" in lines
    assert "unknown key 'profiles.min_sise' (did you mean 'min_size'?)" in lines
    assert "unknown key 'stakeholders.0.emial' (did you mean 'email'?)" in lines
    assert "missing required key 'stakeholders.0.email'" in lines
    assert any(line.startswith("key 'min_cell': Input should be a valid integer") for line in lines)


def test_problems_across_keys_are_all_listed_with_the_names_they_meant(tmp_path, capsys):
    config = hsb2_config(
        tmp_path,
        "outcome: write\npredictors: [read, math, female]\ngroup: ses\n"
        "random_slopes: [science]\nlevers: [mth]\nreference: {femal: male}\n"
        "question: raed\nevent: 'yes'\n",
    )
    lines = several(tmp_path, capsys, config, 5)
    assert lines == [
        "random slope 'science' must also be listed under predictors",
        "levers: 'mth' is not a predictor (did you mean 'math'?)",
        "reference: 'femal' is not a predictor (did you mean 'female'?)",
        "question: 'raed' is not a predictor (did you mean 'read'?)",
        "event: is for binary outcomes; add 'family: binomial'",
    ]


def test_a_misspelled_random_slope_names_the_predictor(tmp_path, capsys):
    config = hsb2_config(
        tmp_path, "outcome: write\npredictors: [read, math]\ngroup: ses\nrandom_slopes: [mth]\n"
    )
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2 and not written
    assert err == [
        f"{PREFIX}{config}: random slope 'mth' must also be listed under predictors "
        "(did you mean 'math'?)"
    ]


def test_a_bad_standalone_key_does_not_hide_the_problems_across_keys(tmp_path, capsys):
    config = hsb2_config(
        tmp_path,
        "outcome: write\npredictors: [read]\ngroup: ses\ntitel: x\nlevers: [math]\n",
    )
    lines = several(tmp_path, capsys, config, 2)
    assert lines == [
        "unknown key 'titel' (did you mean 'title'?)",
        "levers: 'math' is not a predictor",
    ]


def test_one_problem_is_still_one_line(tmp_path, capsys):
    config = hsb2_config(tmp_path, "outcome: write\npredictors: [read]\ngroup: ses\nlabel: {}\n")
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2 and not written
    assert err == [f"{PREFIX}{config}: unknown key 'label' (did you mean 'labels'?)"]


def test_every_missing_column_and_every_label_of_no_column_at_once(tmp_path, capsys):
    config = hsb2_config(
        tmp_path,
        "outcome: writ\npredictors: [Read, sciense, math]\ngroup: ses\n"
        "labels: {math: Mathematics, maht: Maths, ses: Socioeconomic status}\n",
    )
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2 and not written
    assert err[0] == f"{PREFIX}4 problems in data file hsb2.csv:", err
    lines = [line.removeprefix("  data file hsb2.csv: ") for line in err[1:]]
    assert len(lines) == 4, err
    assert lines[0].startswith("column 'writ' not found (columns: id, female, race, ses, ")
    assert lines[0].endswith("(did you mean 'write'?)")
    assert lines[1].endswith("names match exactly, with case: the file has 'read'")
    assert lines[2].endswith("(did you mean 'science'?)")
    assert lines[3] == "labels: 'maht' is not a column the config uses (did you mean 'math'?)"


def test_a_label_of_a_column_the_config_does_not_use_is_refused(tmp_path, capsys):
    config = hsb2_config(
        tmp_path,
        "outcome: write\npredictors: [read]\ngroup: ses\nlabels: {science: Science}\n",
    )
    code, err, _ = run_fit(tmp_path, capsys, config)
    assert code == 2
    assert err == [f"{PREFIX}data file hsb2.csv: labels: 'science' is not a column the config uses"]


def _sector_data(path, code="-99", rows=6):
    rng = np.random.default_rng(3)
    n = 240
    frame = pd.DataFrame(
        {
            "school": rng.integers(1, 25, n).astype(str),
            "score": rng.normal(50, 10, n).round(1),
            "sector": rng.choice(["Public", "Catholic"], n),
        }
    )
    frame.loc[: rows - 1, "sector"] = code
    frame.to_csv(path, index=False)


@pytest.mark.parametrize("as_directory", [False, True], ids=["in memory", "duckdb parts"])
@pytest.mark.parametrize(("code", "rows"), [("-99", 6), ("999", 1), ("-9", 3)])
def test_a_missing_value_code_among_words_is_refused_with_the_fix(
    tmp_path, capsys, as_directory, code, rows
):
    folder = tmp_path / "lake"
    folder.mkdir()
    _sector_data(folder / "part-1.csv", code, rows)
    data = folder if as_directory else folder / "part-1.csv"
    config = tmp_path / "c.yml"
    config.write_text(
        f"title: t\ndata: {data}\noutcome: score\npredictors: [sector]\ngroup: school\n"
    )
    code_, err, written = run_fit(tmp_path, capsys, config)
    assert code_ == 2 and not written
    noun = "row holds" if rows == 1 else "rows hold"
    assert err == [
        f"{PREFIX}column 'sector': {rows} {noun} '{code}' among the values Catholic, Public, "
        f'which looks like a missing-value code; if it means missing, add "{code}" to '
        f"missing_values: (in quotes); if it is a real value, add not_missing: {{sector: [{code}]}}"
    ]


@pytest.mark.parametrize("as_directory", [False, True], ids=["in memory", "duckdb parts"])
def test_a_code_among_words_declared_not_missing_is_kept_as_a_category(
    tmp_path, capsys, as_directory
):
    # not_missing: works for a text column as for a number column, on both paths
    folder = tmp_path / "lake"
    folder.mkdir()
    _sector_data(folder / "part-1.csv")
    data = folder if as_directory else folder / "part-1.csv"
    config = tmp_path / "c.yml"
    config.write_text(
        f"title: t\ndata: {data}\noutcome: score\npredictors: [sector]\ngroup: school\n"
        "not_missing: {sector: [-99]}\n"
    )
    code, err, _ = run_fit(tmp_path, capsys, config)
    assert code == 0, err
    results = (tmp_path / "out" / "results.json").read_text()
    assert '"n_obs": 240' in results and '{"level": "-99", "n": 6}' in results


def test_listing_the_code_under_missing_values_fits_without_those_rows(tmp_path, capsys):
    _sector_data(tmp_path / "d.csv")
    config = tmp_path / "c.yml"
    config.write_text(
        f"title: t\ndata: {tmp_path / 'd.csv'}\noutcome: score\npredictors: [sector]\n"
        'group: school\nmissing_values: ["", NA, "-99"]\n'
    )
    code, err, _ = run_fit(tmp_path, capsys, config)
    assert code == 0, err
    results = (tmp_path / "out" / "results.json").read_text()
    assert '"n_obs": 234' in results


@pytest.mark.parametrize(
    "levels", [["A", "B", "99"], ["10", "20", "30", "99"], ["A", "B", "C", "Room 99"]]
)
def test_ordinary_levels_are_not_taken_for_missing_value_codes(tmp_path, capsys, levels):
    # a Parquet text column: 99 among words is a code; among numbers the column is read as
    # numbers, where 99 far beyond 10-30 is a code too (the numeric rule, columns.py); inside a
    # longer text it is part of a name
    rng = np.random.default_rng(5)
    n = 200
    frame = pd.DataFrame(
        {
            "school": rng.integers(1, 21, n).astype(str),
            "score": rng.normal(50, 10, n),
            "kind": pd.Series(rng.choice(levels, n)).astype(str),
        }
    )
    frame.to_parquet(tmp_path / "d.parquet")
    config = tmp_path / "c.yml"
    config.write_text(
        f"title: t\ndata: {tmp_path / 'd.parquet'}\noutcome: score\npredictors: [kind]\n"
        "group: school\n"
    )
    code, err, _ = run_fit(tmp_path, capsys, config)
    flagged = levels != ["A", "B", "C", "Room 99"]
    assert (code == 2) == flagged, err
    if levels == ["A", "B", "99"]:
        assert "'99' among the values A, B, which looks like a missing-value code" in err[0]
    elif flagged:
        assert "hold 99, far outside its other values (10 to 30), which looks like a" in err[0]


def test_a_number_column_holding_a_text_code_says_to_list_it(tmp_path, capsys):
    frame = pd.read_csv(REFERENCE / "hsb2.csv")
    frame["read"] = frame["read"].astype(str)
    frame.loc[:2, "read"] = "absent"
    frame.to_csv(tmp_path / "d.csv", index=False)
    config = tmp_path / "c.yml"
    config.write_text(
        f"title: t\ndata: {tmp_path / 'd.csv'}\noutcome: write\npredictors: [read]\ngroup: ses\n"
    )
    code, err, _ = run_fit(tmp_path, capsys, config)
    assert code == 2
    assert err == [
        f"{PREFIX}column 'read': 3 rows hold 'absent', which is not a number "
        "(add it to missing_values: if it means missing)"
    ]


def test_a_relative_data_path_that_is_not_there_says_how_it_resolved(tmp_path, capsys):
    (tmp_path / "_quarto.yml").write_text("project:\n  type: default\n")
    configs = tmp_path / "report" / "configs"
    configs.mkdir(parents=True)
    (configs / "d.csv").write_text((REFERENCE / "hsb2.csv").read_text())
    config = configs / "c.yml"
    config.write_text("title: t\ndata: d.csv\noutcome: write\npredictors: [read]\ngroup: ses\n")
    code, err, _ = run_fit(tmp_path, capsys, config)
    assert code == 2
    assert err == [
        f"{PREFIX}data file not found: {tmp_path / 'd.csv'} (a relative data: path resolves "
        f"from the project root {tmp_path}, the folder holding _quarto.yml, not from the "
        "config's folder)"
    ]


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("min_cell: yes", "min_cell"),
        ("nagq: on", "nagq"),
        ("profiles: {min_size: no}", "profiles.min_size"),
    ],
)
def test_a_yaml_boolean_for_a_number_is_refused_with_the_reason(tmp_path, capsys, extra, key):
    # YAML 1.1 reads yes/on/no as booleans, which a lax integer would take as 1 or 0
    config = hsb2_config(tmp_path, f"outcome: write\npredictors: [read]\ngroup: ses\n{extra}\n")
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2 and not written and len(err) == 1, err
    assert err[0].startswith(f"{PREFIX}{config}: key '{key}': Input should be a valid integer")
    assert err[0].endswith("YAML reads it as True: write a number") or err[0].endswith(
        "YAML reads it as False: write a number"
    )


def _fields_of(kind: type) -> list[tuple[str, str]]:
    """(dotted key, a YAML line setting it) for every config key of type `kind`, found in the
    models themselves, so a flag or number added later is held to the same rule."""
    from hlm_analysis.spec import Profiles, Spec, Stakeholder

    def typed(model) -> list[str]:
        return [
            name
            for name, field in model.model_fields.items()
            if field.annotation in (kind, kind | None)
        ]

    # "VALUE" stands for the value
    found = [(name, f"{name}: VALUE") for name in typed(Spec)]
    found += [(f"profiles.{name}", f"profiles: {{{name}: VALUE}}") for name in typed(Profiles)]
    found += [
        (f"stakeholders.0.{name}", f"stakeholders: [{{name: D, email: d@x.org, {name}: VALUE}}]")
        for name in typed(Stakeholder)
    ]
    return found


def test_the_flags_and_numbers_are_found_in_the_models():
    assert {"crossed", "stakeholders.0.report"} <= {key for key, _ in _fields_of(bool)}
    assert {"min_cell", "nagq", "profiles.min_size"} <= {key for key, _ in _fields_of(int)}


@pytest.mark.parametrize(("key", "line"), _fields_of(bool))
@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('"yes"', "the text 'yes' (write true or false without quotes)"),
        ('"true"', "the text 'true' (write true or false without quotes)"),
        ('"no"', "the text 'no' (write true or false without quotes)"),
        ("'1'", "the text '1' (write true or false without quotes)"),
        ("1", "the number 1"),
        ("0", "the number 0"),
        ("1.0", "the number 1.0"),
        ("[true]", "a list"),
    ],
)
def test_a_flag_given_as_text_a_number_or_a_list_is_refused(
    tmp_path, capsys, key, line, value, said
):
    # `crossed: "yes"` was read as true (pydantic's lax bool takes "yes", "1", 1)
    body = "outcome: write\npredictors: [read]\ngroup: [ses, prog]\n" + line.replace("VALUE", value)
    config = hsb2_config(tmp_path, body + "\n")
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2 and not written, err
    assert err == [f"{PREFIX}{config}: key '{key}': wants true or false, not {said}"]


@pytest.mark.parametrize("value", ["true", "false", "yes", "no", "on", "off", "True", "NO"])
def test_a_yaml_boolean_is_a_flag(tmp_path, value):
    from hlm_analysis.spec import load_spec

    body = "outcome: write\npredictors: [read]\ngroup: [ses, prog]\n"
    body += f"crossed: {value}\nstakeholders: [{{name: D, email: d@x.org, report: {value}}}]\n"
    spec = load_spec(hsb2_config(tmp_path, body))
    truth = value.lower() in ("true", "yes", "on")
    assert spec.crossed is truth and spec.stakeholders[0].report is truth


@pytest.mark.parametrize(("key", "line"), _fields_of(int))
@pytest.mark.parametrize("value", ["yes", "off", '"5"', "5.0", "[5]"])
def test_every_number_key_refuses_flags_text_and_fractions(tmp_path, capsys, key, line, value):
    body = "outcome: write\npredictors: [read]\ngroup: ses\nfamily: binomial\n"
    config = hsb2_config(tmp_path, body + line.replace("VALUE", value) + "\n")
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2 and not written and len(err) == 1, err
    assert err[0].startswith(f"{PREFIX}{config}: key '{key}': Input should be a valid integer")


# every key whose text is shown in the report (nouns, labels, titles, the email's words): blank
# text (spaces only) left a gap in every sentence that uses it ('the 40 s', 'per  ')
BLANKABLE = [
    ("title", 'title: " "'),
    ("subtitle", 'subtitle: " "'),
    ("author", 'author: "  "'),
    ("unit", 'unit: " "'),
    ("unit_plural", 'unit_plural: " "'),
    ("group_noun", 'group_noun: " "'),
    ("group_noun", 'group_noun: {ses: " ", prog: programme}'),
    ("group_plural", 'group_plural: "\\t"'),
    ("group_plural", 'group_plural: {prog: " "}'),
    ("event_label", 'event_label: " "'),
    ("labels.read", 'labels: {read: " "}'),
    ("level_labels.ses.low", 'level_labels: {ses: {low: " "}}'),
    ("name", 'name: " "'),
    ("signature", 'signature: " "'),
    ("stakeholders.0.name", 'stakeholders: [{name: " ", email: d@x.org}]'),
    ("stakeholders.0.role", 'stakeholders: [{name: D, email: d@x.org, role: " "}]'),
]


@pytest.mark.parametrize(("key", "line"), BLANKABLE)
def test_blank_text_in_a_noun_label_or_title_is_refused(tmp_path, capsys, key, line):
    config = tmp_path / "c.yml"
    title = "" if key == "title" else "title: t\n"
    config.write_text(
        f"{title}data: {REFERENCE / 'hsb2.csv'}\noutcome: write\npredictors: [read, ses]\n"
        f"group: [prog, schtyp]\n{line}\n"
    )
    code, err, written = run_fit(tmp_path, capsys, config)
    assert code == 2 and not written, err
    assert err == [
        f"{PREFIX}{config}: key '{key}': is empty or only spaces, which would leave a gap "
        "wherever it is shown; write the text"
    ]


def test_text_with_spaces_around_words_is_kept():
    from hlm_analysis.spec import Spec

    spec = Spec(title="t", data="d.csv", outcome="y", group="g", unit="pupil ", labels={"x": "X"})
    assert spec.unit == "pupil "


@pytest.mark.parametrize("command", ["fit", "render"])
def test_a_folder_given_as_the_config_is_named_a_folder(tmp_path, capsys, command):
    # `render dir.yml` (a folder of that name) said "config file not found" of a path that exists
    folder = tmp_path / "dir.yml"
    folder.mkdir()
    (folder / "analysis.yml").write_text("title: t\n")
    (folder / "notes.txt").write_text("x")
    extra = ["--out", str(tmp_path / "out")] if command == "fit" else []
    code = main([command, str(folder), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"{PREFIX}config {folder} is a folder, not a file; give the config file's path "
        "(the folder holds analysis.yml)"
    ]
