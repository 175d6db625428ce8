"""Bad input from the command line, by class: each variant exits 2 with one printable line that
names the problem, no traceback, and writes nothing. Inputs that only look odd (a column named
Intercept, tokens listed under missing_values, a UTF-8 BOM) fit normally."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REFERENCE, write_config

from hlm_analysis.cli import main

GOOD = {"outcome": "write", "predictors": ["read", "math"], "group": "ses"}
PREFIX = "hlm-report: error: "


def hsb2() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "hsb2.csv")


def fit(tmp_path, capsys, config):
    out = next(tmp_path / f"out{i}" for i in range(100) if not (tmp_path / f"out{i}").exists())
    code = main(["fit", str(config), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err, out


def refused(tmp_path, capsys, config, *expected: str) -> str:
    """Exit 2, one printable line holding every expected piece, nothing written."""
    code, err, out = fit(tmp_path, capsys, config)
    assert code == 2, err
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith(PREFIX) and line.isprintable(), line
    for piece in expected:
        assert piece in line, (piece, line)
    assert "collinear" not in line or "collinear" in " ".join(expected)
    assert not out.exists()
    return line


def fitted(tmp_path, capsys, config) -> str:
    """Exit 0; the text of results.json."""
    code, err, out = fit(tmp_path, capsys, config)
    assert code == 0, err
    return (out / "results.json").read_text()


def csv_config(tmp_path, frame: pd.DataFrame, **keys):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return write_config(tmp_path, data=path, **{**GOOD, **keys})


def parquet_config(tmp_path, table: pa.Table | pd.DataFrame, **keys):
    path = tmp_path / "data.parquet"
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, path)
    return write_config(tmp_path, data=path, **{**GOOD, **keys})


def with_cells(column: str, rows, value) -> pd.DataFrame:
    frame = hsb2()
    frame[column] = frame[column].astype(object)
    frame.loc[rows, column] = value
    return frame


# ---------------------------------------------------------------------------------------------
# 1. numbers with stray tokens: named with the column, the token and its count

TOKENS = ["n/a", "-", "?", "NULL", "null", "nan", "None", "#N/A", "--", "missing", " ", "N.A."]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("column", ["math", "write"])  # a predictor and the outcome
def test_a_stray_token_in_a_numeric_column_is_named(tmp_path, capsys, token, column):
    config = csv_config(tmp_path, with_cells(column, [3, 7, 9], token))
    refused(
        tmp_path,
        capsys,
        config,
        f"column '{column}'",
        f"3 rows hold '{token}'",
        "which is not a number",
        "missing_values",
    )


@pytest.mark.parametrize(
    ("token", "shown"),
    [("\x00", r"'\x00'"), ("a\nb", r"'a\nb'"), ("\x1b[31m", r"'\x1b[31m'"), ("x\u202ey", "x")],
)
def test_an_unprintable_token_is_shown_escaped(tmp_path, capsys, token, shown):
    config = csv_config(tmp_path, with_cells("math", [1, 2], token))
    line = refused(tmp_path, capsys, config, "column 'math'", "2 rows hold")
    assert shown in line


@pytest.mark.parametrize("token", ["1,5", "2,25", "-0,5"])
def test_a_decimal_comma_is_named_with_a_hint(tmp_path, capsys, token):
    config = csv_config(tmp_path, with_cells("read", [0, 5, 6, 8], token))
    refused(tmp_path, capsys, config, "column 'read'", f"4 rows hold '{token}'", "decimal mark")


@pytest.mark.parametrize("rows", [[0], list(range(5)), list(range(19))])
def test_the_count_is_right_and_singular_for_one_row(tmp_path, capsys, rows):
    config = csv_config(tmp_path, with_cells("math", rows, "?"))
    n = len(rows)
    refused(
        tmp_path, capsys, config, f"{n} row{'s' if n > 1 else ''} hold{'' if n > 1 else 's'} '?'"
    )


def test_several_tokens_name_the_most_frequent_and_count_the_rest(tmp_path, capsys):
    frame = with_cells("math", [0, 1, 2], "?")
    frame.loc[[3, 4], "math"] = "-"
    line = refused(tmp_path, capsys, csv_config(tmp_path, frame), "3 rows hold '?'")
    assert "2 other rows" in line and "'-'" in line


def test_a_long_token_is_clipped(tmp_path, capsys):
    config = csv_config(tmp_path, with_cells("math", [0, 1], "x" * 5000))
    line = refused(tmp_path, capsys, config, "column 'math'", "2 rows hold 'xxx")
    assert len(line) < 300


def test_an_outcome_of_mostly_tokens_still_names_the_token(tmp_path, capsys):
    # 81 of 200 cells are '?': not "all but a few", but an outcome must be a number
    config = csv_config(tmp_path, with_cells("write", list(range(81)), "?"))
    refused(tmp_path, capsys, config, "column 'write'", "81 rows hold '?'")


@pytest.mark.parametrize(
    ("token", "missing_values"),
    [("n/a", ["n/a"]), ("-", ["", "-"]), ("NULL", ["NA", "NULL"]), ("-99", [-99]), ("?", ["?"])],
)
def test_a_token_listed_under_missing_values_is_missing(tmp_path, capsys, token, missing_values):
    config = csv_config(
        tmp_path, with_cells("math", [3, 7, 9], token), missing_values=missing_values
    )
    results = fitted(tmp_path, capsys, config)
    assert '"dropped_by_column": {"math": 3}' in results


@pytest.mark.parametrize("token", ["", "NA", "N/A", "NaN", "."])
def test_default_missing_values(tmp_path, capsys, token):
    results = fitted(tmp_path, capsys, csv_config(tmp_path, with_cells("math", [3, 7], token)))
    assert '"dropped_by_column": {"math": 2}' in results


def test_without_the_empty_token_an_empty_cell_is_named(tmp_path, capsys):
    config = csv_config(tmp_path, with_cells("math", [3, 7], ""), missing_values=["NA"])
    refused(tmp_path, capsys, config, "column 'math'", "2 rows hold ''")


def test_genuinely_text_columns_stay_text(tmp_path, capsys):
    # a categorical predictor with a stray '?', and a group id that mixes numbers and text
    frame = hsb2()
    frame.loc[[1, 2], "prog"] = "?"
    frame["school"] = [str(100 + i % 7) if i % 5 else f"S{i % 7}" for i in range(len(frame))]
    fitted(tmp_path, capsys, csv_config(tmp_path, frame, predictors=["read", "prog"]))
    fitted(tmp_path, capsys, csv_config(tmp_path, frame, group="school"))


def test_a_text_outcome_is_still_called_text(tmp_path, capsys):
    refused(
        tmp_path, capsys, csv_config(tmp_path, hsb2(), outcome="prog"), "outcome 'prog' is text"
    )


def test_parquet_text_columns_follow_the_same_rules(tmp_path, capsys):
    frame = hsb2().astype({"math": str, "write": str})
    fitted(tmp_path, capsys, parquet_config(tmp_path, frame))  # numbers stored as text: numbers
    frame.loc[[1, 2], "math"] = "NA"
    fitted(tmp_path, capsys, parquet_config(tmp_path, frame))  # a missing-value token: missing
    frame.loc[[3, 4, 5], "math"] = "n/a"
    refused(tmp_path, capsys, parquet_config(tmp_path, frame), "column 'math'", "3 rows hold 'n/a'")


# ---------------------------------------------------------------------------------------------
# 2. Parquet types no model can use

ARROW_TYPES = {
    "list": pa.array([[1, 2]] * 200),
    "large_list": pa.array([[1.0]] * 200, type=pa.large_list(pa.float64())),
    "fixed_list": pa.array([[1, 2]] * 200, type=pa.list_(pa.int64(), 2)),
    "struct": pa.array([{"a": 1, "b": "x"}] * 200),
    "map": pa.array([[("a", 1)]] * 200, type=pa.map_(pa.string(), pa.int64())),
    "binary": pa.array([b"x", b"y"] * 100),
    "large_binary": pa.array([b"x", b"y"] * 100, type=pa.large_binary()),
    "fixed_binary": pa.array([b"xy", b"yz"] * 100, type=pa.binary(2)),
    "timestamp": pa.array(pd.date_range("2020-01-01", periods=200)),
    "date": pa.array(pd.date_range("2020-01-01", periods=200).date),
    "dict_binary": pa.array([b"x", b"y"] * 100).dictionary_encode(),
}


@pytest.mark.parametrize("kind", list(ARROW_TYPES))
@pytest.mark.parametrize("role", ["predictor", "outcome", "group"])
def test_a_parquet_column_of_unusable_type_is_refused(tmp_path, capsys, kind, role):
    table = pa.Table.from_pandas(hsb2(), preserve_index=False).append_column(
        "odd", ARROW_TYPES[kind]
    )
    keys = {"predictor": {"predictors": ["read", "odd"]}, "outcome": {"outcome": "odd"}}
    keys["group"] = {"group": "odd"}
    config = parquet_config(tmp_path, table, **keys[role])
    line = refused(tmp_path, capsys, config, "column 'odd'", "Parquet type")
    assert str(ARROW_TYPES[kind].type).split("<")[0].split("[")[0] in line


def test_an_unusable_column_the_model_does_not_use_is_fine(tmp_path, capsys):
    table = pa.Table.from_pandas(hsb2(), preserve_index=False)
    for kind in ("list", "struct", "map", "binary"):
        table = table.append_column(kind, ARROW_TYPES[kind])
    fitted(tmp_path, capsys, parquet_config(tmp_path, table))


def test_a_parquet_decimal_column_is_a_number(tmp_path, capsys):
    table = pa.Table.from_pandas(hsb2(), preserve_index=False)
    decimals = pa.array(hsb2()["math"].astype(str).tolist()).cast(pa.decimal128(6, 1))
    table = table.set_column(table.column_names.index("math"), "math", decimals)
    fitted(tmp_path, capsys, parquet_config(tmp_path, table))


# ---------------------------------------------------------------------------------------------
# 3. infinite and too-large values


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e200, -1e151, 1.7e308])
@pytest.mark.parametrize("column", ["write", "math"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_infinite_or_too_large_values_are_refused(tmp_path, capsys, value, column, fmt):
    frame = hsb2().astype({column: float})
    frame.loc[[4, 8], column] = value
    config = (csv_config if fmt == "csv" else parquet_config)(tmp_path, frame)
    refused(tmp_path, capsys, config, f"column '{column}'", "2 rows with infinite or too-large")


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "-Infinity", "1e400", "-2e999"])
def test_infinity_spelled_in_a_csv(tmp_path, capsys, text):
    frame = with_cells("math", [0], text)
    refused(tmp_path, capsys, csv_config(tmp_path, frame), "'math'", "1 row with infinite")


def test_an_interaction_that_overflows_is_refused(tmp_path, capsys):
    frame = hsb2()
    frame["a"], frame["b"] = frame["read"] * 1e80, frame["math"] * 1e80
    config = csv_config(tmp_path, frame, predictors=["a", "b"], interactions=["a:b"])
    refused(tmp_path, capsys, config, "interaction 'a:b'", "200 rows with infinite or too-large")


def test_missing_rows_are_not_counted_as_infinite(tmp_path, capsys):
    frame = hsb2().astype({"math": float})
    frame.loc[[1, 2], "math"] = np.nan
    frame.loc[[3], "math"] = np.inf
    refused(tmp_path, capsys, csv_config(tmp_path, frame), "1 row with infinite")


# ---------------------------------------------------------------------------------------------
# 4. duplicated headers and one column in two roles


@pytest.mark.parametrize("duplicate", ["math", "write", "ses", "id"])  # used or not
def test_a_duplicated_csv_header_is_named(tmp_path, capsys, duplicate):
    text = hsb2().to_csv(index=False).replace("science", duplicate, 1)
    (tmp_path / "d.csv").write_text(text)
    config = write_config(tmp_path, data=tmp_path / "d.csv", **GOOD)
    refused(tmp_path, capsys, config, f"'{duplicate}' appears twice")


def test_a_duplicated_quoted_header_in_a_tsv(tmp_path, capsys):
    text = hsb2().to_csv(index=False, sep="\t").replace("science", '"math"', 1)
    (tmp_path / "d.tsv").write_text(text)
    config = write_config(tmp_path, data=tmp_path / "d.tsv", **GOOD)
    refused(tmp_path, capsys, config, "'math' appears twice")


def test_a_header_like_a_renamed_duplicate_is_fine(tmp_path, capsys):
    frame = hsb2().rename(columns={"science": "math.1"})
    fitted(tmp_path, capsys, csv_config(tmp_path, frame, predictors=["read", "math", "math.1"]))


@pytest.mark.parametrize("duplicate", ["math", "socst"])
def test_a_duplicated_parquet_column_is_named(tmp_path, capsys, duplicate):
    table = pa.Table.from_pandas(hsb2(), preserve_index=False)
    table = table.rename_columns([duplicate if c == "science" else c for c in table.column_names])
    refused(tmp_path, capsys, parquet_config(tmp_path, table), f"'{duplicate}' appears twice")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"outcome": "ses"}, "outcome 'ses' is also the grouping variable"),
        ({"predictors": ["read", "ses"]}, "grouping variable 'ses' is also listed as a predictor"),
        ({"predictors": ["read", "write"]}, "outcome 'write' is also listed as a predictor"),
        ({"predictors": ["read", "math", "read"]}, "predictors: 'read' is listed twice"),
        (
            {"random_slopes": ["read", "read"]},
            "random_slopes: 'read' is listed twice",
        ),
        ({"interactions": ["read:math", "read:math"]}, "is listed twice"),
        ({"interactions": ["read:ses"]}, "interaction 'read:ses' uses the grouping variable"),
        ({"interactions": ["read:write"]}, "uses the outcome 'write'"),
        ({"centering": {"ses": "group"}}, "centering: 'ses' is the grouping variable"),
        ({"contextual": ["write"]}, "contextual: 'write' is the outcome"),
    ],
)
def test_one_column_in_two_roles(tmp_path, capsys, keys, expected):
    config = write_config(tmp_path, data=REFERENCE / "hsb2.csv", **{**GOOD, **keys})
    refused(tmp_path, capsys, config, expected)


# ---------------------------------------------------------------------------------------------
# 5. group structure and parameter counts


def test_every_group_a_single_row(tmp_path, capsys):
    frame = hsb2().assign(pupil=range(200))
    refused(
        tmp_path,
        capsys,
        csv_config(tmp_path, frame, group="pupil"),
        "every group of 'pupil' has a single row",
        "a random effect cannot be told apart from the residual",
    )


def test_all_groups_but_one_a_single_row(tmp_path, capsys):
    frame = hsb2().assign(g=[0] * 5 + list(range(1, 196)))
    refused(
        tmp_path,
        capsys,
        csv_config(tmp_path, frame, group="g"),
        "has a single row",
        "cannot be told apart",
    )


def test_two_groups_of_two_rows_are_enough_for_this_check(tmp_path, capsys):
    frame = hsb2().assign(g=[0, 0, 1, 1] + list(range(2, 198)))
    code, err, _ = fit(tmp_path, capsys, csv_config(tmp_path, frame, group="g"))
    assert "single row" not in "\n".join(err)


@pytest.mark.parametrize("n_rows", [4, 5, 6])  # fewer rows than, or as many as, parameters
def test_more_parameters_than_rows(tmp_path, capsys, n_rows):
    frame = hsb2().head(n_rows).assign(g=[0, 0, 1, 1, 2, 2][:n_rows])
    config = csv_config(
        tmp_path, frame, group="g", predictors=["read", "math", "science", "socst", "id"]
    )
    refused(tmp_path, capsys, config, "6 fixed-effect parameters", f"only {n_rows} rows")


def test_interactions_count_towards_the_parameters(tmp_path, capsys):
    frame = hsb2().head(8).assign(g=[0, 0, 0, 0, 1, 1, 1, 1])
    config = csv_config(
        tmp_path,
        frame,
        group="g",
        predictors=["read", "math", "science"],
        interactions=["read:math", "read:science", "math:science", "read:socst"],
    )
    refused(tmp_path, capsys, config, "fixed-effect parameters", "only 8 rows")


@pytest.mark.parametrize("n_level2", [3, 4])  # as many as, or more than, the 4 groups
def test_more_group_level_parameters_than_groups(tmp_path, capsys, n_level2):
    rng = np.random.default_rng(1)
    frame = hsb2().head(40).assign(g=np.repeat(range(4), 10))
    for k in range(n_level2):
        frame[f"s{k}"] = np.repeat(rng.normal(size=4), 10)
    predictors = ["read", *(f"s{k}" for k in range(n_level2))]
    config = csv_config(tmp_path, frame, group="g", predictors=predictors)
    refused(tmp_path, capsys, config, f"{n_level2 + 1} fixed-effect parameters at the group level")


def test_a_categorical_group_level_predictor_counts_its_levels(tmp_path, capsys):
    frame = hsb2().head(40).assign(g=np.repeat(range(4), 10))
    frame["kind"] = np.repeat(["a", "b", "c", "d"], 10)
    config = csv_config(tmp_path, frame, group="g", predictors=["read", "kind"])
    refused(tmp_path, capsys, config, "4 fixed-effect parameters at the group level", "4 groups")


def test_fewer_group_level_parameters_than_groups_fit(tmp_path, capsys):
    rng = np.random.default_rng(2)
    frame = hsb2().head(60).assign(g=np.repeat(range(6), 10))
    frame["s0"] = np.repeat(rng.normal(size=6), 10)
    frame["s1"] = np.repeat(rng.normal(size=6), 10)
    fitted(
        tmp_path, capsys, csv_config(tmp_path, frame, group="g", predictors=["read", "s0", "s1"])
    )


def _as_folder(tmp_path, frame: pd.DataFrame, **keys):
    """The rows as a folder of two CSV parts: the DuckDB path (per-group sums from SQL)."""
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:100].to_csv(folder / "part-0.csv", index=False)
    frame.iloc[100:].to_csv(folder / "part-1.csv", index=False)
    return write_config(tmp_path, data=folder, **{**GOOD, **keys})


@pytest.mark.parametrize("path", ["memory", "duckdb"])
def test_an_outcome_constant_within_every_group(tmp_path, capsys, path):
    # a group mean copied onto its rows: exited 0 with numbers marked provisional
    frame = hsb2()
    frame["write"] = frame.groupby("ses")["write"].transform("mean").round(2)
    config = csv_config(tmp_path, frame) if path == "memory" else _as_folder(tmp_path, frame)
    refused(
        tmp_path,
        capsys,
        config,
        "outcome 'write' is constant within every group of 'ses' (a value of the group, not of "
        "its rows), so the variance within those groups would be zero; analyse one row per "
        "group of 'ses', or choose an outcome that varies within them",
    )


@pytest.mark.parametrize("path", ["memory", "duckdb"])
def test_a_binary_outcome_constant_within_every_group(tmp_path, capsys, path):
    frame = hsb2().assign(write=lambda f: (f["ses"] == "middle").astype(int))
    write = csv_config if path == "memory" else _as_folder
    config = write(tmp_path, frame, family="binomial")
    refused(
        tmp_path,
        capsys,
        config,
        "outcome 'write' is constant within every group of 'ses' (each group all events or all "
        "non-events)",
    )


@pytest.mark.parametrize("path", ["memory", "duckdb"])
@pytest.mark.parametrize(
    ("column", "value", "keys", "expected"),
    [
        (
            "write",
            50.0,
            {},
            "outcome 'write' is constant (50) in all 200 rows of the analysis sample, so there "
            "is no variation to model; set outcome: to a column whose values differ between rows",
        ),
        ("write", 1, {"family": "binomial"}, "outcome 'write' has one value only ('1')"),
        ("write", 0, {"family": "binomial"}, "outcome 'write' has one value only ('0')"),
        ("math", 3.5, {}, "predictor 'math' is constant in the analysis sample; remove it"),
        ("math", 0, {}, "predictor 'math' is constant in the analysis sample; remove it"),
        ("race", "white", {"predictors": ["read", "race"]}, "predictor 'race' has a single value"),
    ],
)
def test_a_column_with_no_variation_at_all(tmp_path, capsys, path, column, value, keys, expected):
    frame = hsb2().assign(**{column: value})
    config = (csv_config if path == "memory" else _as_folder)(tmp_path, frame, **keys)
    line = refused(tmp_path, capsys, config, expected)
    assert line.endswith(expected) or column != "write" or keys  # the whole line, fix included


# ---------------------------------------------------------------------------------------------
# 5b. a missing-value code among numbers (-99, 999 far outside the column's other values)


def _coded(column: str, code: float, rows: int = 6) -> pd.DataFrame:
    frame = hsb2()
    frame.loc[: rows - 1, column] = code
    return frame


def _lake(tmp_path, frame: pd.DataFrame, fmt: str, **keys):
    folder = tmp_path / "lake"
    folder.mkdir()
    for i, part in enumerate((frame.iloc[:100], frame.iloc[100:])):
        if fmt == "csv":
            part.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
    return write_config(tmp_path, data=folder, **{**GOOD, **keys})


def _written(tmp_path, frame: pd.DataFrame, how: str, **keys):
    if how == "csv":
        return csv_config(tmp_path, frame, **keys)
    if how == "parquet":
        return parquet_config(tmp_path, frame, **keys)
    return _lake(tmp_path, frame, how.removesuffix(" lake"), **keys)


WAYS = ["csv", "parquet", "csv lake", "parquet lake"]  # in memory (2), DuckDB (2)


@pytest.mark.parametrize("how", WAYS)
@pytest.mark.parametrize(
    ("column", "code", "others"),
    [("math", -99, "33 to 75"), ("write", 999, "31 to 67"), ("read", -9, "28 to 76")],
)
def test_a_missing_value_code_among_numbers_is_refused(tmp_path, capsys, how, column, code, others):
    # was read as a number and averaged into every mean and slope
    config = _written(tmp_path, _coded(column, code), how)
    line = refused(tmp_path, capsys, config)
    assert line == (
        f"{PREFIX}column '{column}': 6 rows hold {code}, far outside its other values "
        f"({others}), which looks like a missing-value code; if it means missing, add "
        f'"{code}" to missing_values: (in quotes); if it is a real value, add not_missing: '
        f"{{{column}: [{code}]}}"
    )


@pytest.mark.parametrize("how", WAYS)
def test_a_code_declared_a_value_is_kept(tmp_path, capsys, how):
    config = _written(tmp_path, _coded("math", -99), how, not_missing={"math": [-99]})
    assert '"n_obs": 200' in fitted(tmp_path, capsys, config)


@pytest.mark.parametrize("how", ["csv", "parquet", "csv lake"])
def test_a_code_listed_under_missing_values_is_missing(tmp_path, capsys, how):
    # a Parquet number column too (its -99 are numbers, which the tokens did not touch)
    config = _written(tmp_path, _coded("math", -99), how, missing_values=["", "NA", "-99"])
    results = fitted(tmp_path, capsys, config)
    assert '"n_obs": 194' in results and '"math": 6' in results


@pytest.mark.parametrize(
    ("column", "value", "rows"),
    [
        ("math", 99, 6),  # math 33-75: 99 is not beyond the range by its width (42)
        ("math", -99, 2),  # two rows: a code is used again and again
        ("write", 9, 6),  # single digits are not codes
    ],
)
def test_values_that_only_look_like_codes_fit(tmp_path, capsys, column, value, rows):
    fitted(tmp_path, capsys, csv_config(tmp_path, _coded(column, value, rows)))


def test_a_real_99_among_scores_of_0_to_100_fits(tmp_path, capsys):
    frame = hsb2().assign(math=lambda f: (f["math"] * 1.6 - 20).clip(0, 100).round())
    frame.loc[:9, "math"] = 99
    frame.loc[10:12, "math"] = 98
    fitted(tmp_path, capsys, csv_config(tmp_path, frame))


def test_not_missing_of_a_column_the_config_does_not_use(tmp_path, capsys):
    config = csv_config(tmp_path, hsb2(), not_missing={"socst": [-99]})
    refused(tmp_path, capsys, config, "not_missing: 'socst' is not a column the config uses")


def test_not_missing_wants_numbers(tmp_path, capsys):
    config = csv_config(tmp_path, hsb2(), not_missing={"math": ["minus ninety-nine"]})
    refused(tmp_path, capsys, config, "key 'not_missing.math.0'")


# ---------------------------------------------------------------------------------------------
# 6. a column named like the intercept


@pytest.mark.parametrize("name", ["Intercept", "intercept", "INTERCEPT", "const", "1"])
def test_a_predictor_called_intercept_fits(tmp_path, capsys, name):
    frame = hsb2()
    frame[name] = frame["read"]
    config = csv_config(
        tmp_path,
        frame,
        predictors=[name, "science"],
        random_slopes=[name],
        interactions=[f"{name}:science"],
    )
    text = fitted(tmp_path, capsys, config)
    assert f'"term": "{name}"' in text and '"term": "(Intercept)"' in text


@pytest.mark.parametrize(
    "keys",
    [
        {"predictors": ["(Intercept)", "science"]},
        {"predictors": ["science"], "interactions": ["(Intercept):science"]},
    ],
)
def test_a_column_named_like_the_intercept_term_is_refused_clearly(tmp_path, capsys, keys):
    frame = hsb2()
    frame["(Intercept)"] = frame["read"]
    line = refused(tmp_path, capsys, csv_config(tmp_path, frame, **keys), "'(Intercept)'")
    assert "intercept term" in line and "rename" in line


def test_a_column_named_like_a_dummy_is_refused(tmp_path, capsys):
    frame = hsb2()
    frame["female[T.male]"] = frame["read"]
    config = csv_config(tmp_path, frame, predictors=["female[T.male]", "female"])
    refused(tmp_path, capsys, config, "'female[T.male]'", "same name as another term")


def test_a_column_named_like_a_contextual_mean_is_refused(tmp_path, capsys):
    frame = hsb2()
    frame["read_group_mean"] = frame["math"]
    config = csv_config(
        tmp_path, frame, predictors=["read", "read_group_mean"], contextual=["read"]
    )
    refused(tmp_path, capsys, config, "'read_group_mean'", "rename")


# ---------------------------------------------------------------------------------------------
# 7. config files that are not UTF-8 text, or nested too deeply

CONFIG = (
    f"title: Caf\u00e9 scores\ndata: {REFERENCE / 'hsb2.csv'}\noutcome: write\ngroup: ses\n"
    "predictors: [read, math]\n"
)


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("latin-1"),
        lambda t: t.encode("cp1252"),
        lambda t: t.encode("utf-16"),
        lambda t: t.encode("utf-16-le"),
        lambda t: t.encode("utf-16-be"),
        lambda t: t.encode("utf-32"),
        lambda t: bytes(range(256)) * 8,
        lambda t: b"\x89PNG\r\n\x1a\n" + bytes(200),
        lambda t: t.encode() + b"\x00",
    ],
    ids=["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "binary", "png", "nul"],
)
def test_a_config_that_is_not_utf8_text(tmp_path, capsys, encode):
    config = tmp_path / "bad.yml"
    config.write_bytes(encode(CONFIG))
    refused(tmp_path, capsys, config, f"{config}: not a UTF-8 text file")


def test_a_utf8_bom_is_fine(tmp_path, capsys):
    config = tmp_path / "bom.yml"
    config.write_bytes(b"\xef\xbb\xbf" + CONFIG.encode())
    fitted(tmp_path, capsys, config)


@pytest.mark.parametrize(
    "nested",
    [
        "x: " + "[" * 3000 + "]" * 3000,
        "labels: " + "{a: " * 3000 + "1" + "}" * 3000,
        "predictors: " + "[" * 100_000,  # unclosed as well
        "x:\n" + "".join("  " * i + "- \n" for i in range(1, 400)),
        "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v",
    ],
    ids=["flow-list", "flow-map", "unclosed", "block-list", "block-map"],
)
def test_deeply_nested_yaml_is_one_line(tmp_path, capsys, nested):
    config = tmp_path / "deep.yml"
    config.write_text(nested + "\n")
    line = refused(tmp_path, capsys, config, str(config))
    assert "nested" in line or "not valid YAML" in line


def test_deeply_nested_yaml_prints_no_traceback(tmp_path):
    config = tmp_path / "deep.yml"
    config.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hlm_analysis", "fit", str(config), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "RecursionError" not in proc.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("title: [1, 2]\n", "key 'title'"),
        ("predictors: {a: 1}\n", "key 'predictors'"),
        ("centering: {read: middle}\n", "key 'centering.read'"),
        ("stakeholders: x\n", "key 'stakeholders'"),
        ("missing_values: NA\n", "key 'missing_values'"),
        ("missing_values: [[NA]]\n", "key 'missing_values.0'"),
        ("levers: read\n", "key 'levers'"),
        ("labels: [a, b]\n", "key 'labels'"),
        ("data: [a.csv]\n", "key 'data'"),
        ("group: {a: 1}\n", "key 'group'"),
    ],
)
def test_wrong_types_are_one_line(tmp_path, capsys, extra, expected):
    text = "\n".join(
        line for line in CONFIG.splitlines() if line.split(":")[0] != extra.split(":")[0]
    )
    config = tmp_path / "typed.yml"
    config.write_text(text + "\n" + extra)
    refused(tmp_path, capsys, config, expected)


# ---------------------------------------------------------------------------------------------
# 8. levers


def test_levers_that_are_predictors_fit(tmp_path, capsys):
    config = write_config(tmp_path, data=REFERENCE / "hsb2.csv", levers=["math"], **GOOD)
    fitted(tmp_path, capsys, config)


@pytest.mark.parametrize(
    ("levers", "named"),
    [(["science"], "science"), (["math", "ses"], "ses"), (["write"], "write"), (["nope"], "nope")],
)
def test_a_lever_that_is_not_a_predictor(tmp_path, capsys, levers, named):
    config = write_config(tmp_path, data=REFERENCE / "hsb2.csv", levers=levers, **GOOD)
    refused(tmp_path, capsys, config, f"levers: '{named}' is not a predictor")


# ---------------------------------------------------------------------------------------------
# 9. user text in messages is shown on one line


@pytest.mark.parametrize(
    "name", ["bad\nname", "tab\tname", "esc\x1b[2Jname", "bell\x07", "nul\x00x", "rtl\u202ex"]
)
def test_odd_column_names_in_the_config_are_escaped(tmp_path, capsys, name):
    config = write_config(
        tmp_path, data=REFERENCE / "hsb2.csv", **{**GOOD, "predictors": ["read", name]}
    )
    line = refused(tmp_path, capsys, config, "not found")
    assert repr(name) in line


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('stakeholders: [{name: a, email: "x\\ny"}]\n', r"'x\ny' is not an email address"),
        ('"bad\\nkey": 1\n', r"unknown key 'bad\nkey'"),
        ('interactions: ["a\\rb"]\n', r"interaction 'a\rb' must look like"),
        ('levers: ["x\\ty"]\n', r"levers: 'x\ty' is not a predictor"),
    ],
)
def test_odd_text_in_config_messages_is_escaped(tmp_path, capsys, extra, expected):
    config = tmp_path / "odd.yml"
    config.write_text(CONFIG + extra)
    refused(tmp_path, capsys, config, expected)


def test_odd_column_names_in_the_data_are_escaped(tmp_path, capsys):
    frame = hsb2().rename(columns={"science": "sci\nence", "socst": "so\x1bc"})
    line = refused(tmp_path, capsys, csv_config(tmp_path, frame, predictors=["nope"]), "not found")
    assert r"sci\nence" in line and r"so\x1bc" in line


def test_an_odd_config_path_is_escaped(tmp_path, capsys):
    refused(tmp_path, capsys, tmp_path / "con\nfig.yml", "config file not found", r"con\nfig.yml")


def test_an_odd_group_level_is_escaped(tmp_path, capsys):
    frame = hsb2().assign(ses="one\nschool")
    refused(tmp_path, capsys, csv_config(tmp_path, frame), r"'one\nschool'", "single group")


# ---------------------------------------------------------------------------------------------
# data files that are not UTF-8 text either


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-16-le"])
def test_a_data_file_that_is_not_utf8(tmp_path, capsys, encoding):
    text = hsb2().assign(race="caf\u00e9").to_csv(index=False)
    (tmp_path / "d.csv").write_bytes(text.encode(encoding))
    config = write_config(tmp_path, data=tmp_path / "d.csv", **GOOD)
    refused(tmp_path, capsys, config, "is not UTF-8 text")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_binary_data_file(tmp_path, capsys, suffix):
    (tmp_path / f"d{suffix}").write_bytes(bytes(range(256)) * 16)
    config = write_config(tmp_path, data=tmp_path / f"d{suffix}", **GOOD)
    refused(tmp_path, capsys, config, "data file")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_column_held_only_in_partition_folder_names_is_named_so(tmp_path, capsys, fmt):
    # school=S01/part.parquet (as Spark and Hive write a partitioned table): the files lack the
    # column, which was refused as 'not found' with no word about the folders
    frame = hsb2()
    folder = tmp_path / "lake"
    for ses, part in frame.groupby("ses"):
        (folder / f"ses={ses}").mkdir(parents=True)
        rows = part.drop(columns="ses")
        if fmt == "csv":
            rows.to_csv(folder / f"ses={ses}" / "part-0.csv", index=False)
        else:
            rows.to_parquet(folder / f"ses={ses}" / "part-0.parquet", index=False)
    config = write_config(tmp_path, data=folder, **GOOD)
    line = refused(tmp_path, capsys, config, "column 'ses' not found")
    assert line.endswith(
        "; the data folder holds it only in folder names (ses=high/), which are not read as "
        "a column: write ses into the files"
    ), line
