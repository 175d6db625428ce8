"""The checks of the data stage and the config, one function at a time: which text columns are
numbers with stray tokens, what counts as too large, duplicated headers, unusable Parquet types,
one column in two roles, group structure, parameter counts, and how user text is shown."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_config

from hlm_analysis.data import prepare
from hlm_analysis.data.files import too_large
from hlm_analysis.data.load import numeric_columns, read_table
from hlm_analysis.data.prepare import check_full_rank, largest_fixed
from hlm_analysis.errors import InputError
from hlm_analysis.results import INTERCEPT
from hlm_analysis.spec import DEFAULT_MISSING_VALUES, Spec, load_spec, quoted, shown


def text_column(numbers: int, tokens: dict[str, int]) -> pd.DataFrame:
    cells = [str(i + 0.5) for i in range(numbers)]
    for token, count in tokens.items():
        cells += [token] * count
    return pd.DataFrame({"x": pd.Series(cells, dtype=object)})


# ---------------------------------------------------------------------------------------------
# numbers with stray tokens


@pytest.mark.parametrize(
    ("numbers", "tokens"),
    [
        (90, {"?": 10}),  # exactly 90 %
        (1000, {"n/a": 3}),
        (10, {"-": 3}),  # all but a few, in a small file
        (6, {"NULL": 3}),
        (4, {"x": 2}),
        (95, {"?": 3, "-": 2}),
    ],
)
def test_mostly_numbers_with_a_token_is_refused(numbers, tokens):
    token, count = max(tokens.items(), key=lambda kv: kv[1])
    with pytest.raises(InputError) as info:
        numeric_columns(text_column(numbers, tokens), ["x"])
    message = str(info.value)
    assert f"column 'x': {count} rows hold '{token}', which is not a number" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("numbers", "tokens"),
    [
        (0, {"a": 5, "b": 7}),  # text
        (5, {"a": 95}),  # text with a few numbers among the levels
        (80, {"?": 20}),  # 80 %: neither 90 % nor all but a few
        (3, {"x": 3}),
    ],
)
def test_genuinely_text_stays_text(numbers, tokens):
    frame = text_column(numbers, tokens)
    out = numeric_columns(frame, ["x"])
    assert out["x"].tolist() == frame["x"].tolist()


def test_a_required_column_names_a_token_with_a_majority_of_numbers():
    frame = text_column(60, {"?": 40})
    assert numeric_columns(frame, ["x"])["x"].tolist() == frame["x"].tolist()
    with pytest.raises(InputError, match="40 rows hold '\\?'"):
        numeric_columns(frame, ["x"], required=["x"])


def test_text_that_is_all_numbers_becomes_numbers():
    frame = pd.DataFrame({"x": pd.Series(["1", "2.5", None, "-3e2"], dtype=object)})
    out = numeric_columns(frame, ["x"])
    assert pd.api.types.is_float_dtype(out["x"])
    np.testing.assert_array_equal(out["x"].to_numpy(), [1.0, 2.5, np.nan, -300.0])


def test_numeric_and_unlisted_columns_are_untouched():
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": ["?", "1"], "z": pd.Categorical(["1", "?"])})
    out = numeric_columns(frame, ["x", "z"])
    pd.testing.assert_frame_equal(out, frame)


def test_a_one_row_token_is_singular_and_others_are_counted():
    with pytest.raises(InputError) as info:
        numeric_columns(text_column(100, {"?": 1}), ["x"])
    assert "1 row holds '?'" in str(info.value)
    with pytest.raises(InputError) as info:
        numeric_columns(text_column(100, {"?": 4, "-": 1, "NULL": 1}), ["x"])
    assert "4 rows hold '?'" in str(info.value) and "2 other rows hold other text" in str(
        info.value
    )


@pytest.mark.parametrize("token", ["1,5", "-2,75", "1,000"])
def test_a_decimal_comma_gets_its_own_hint(token):
    with pytest.raises(InputError, match="decimal mark"):
        numeric_columns(text_column(50, {token: 2}), ["x"])


# ---------------------------------------------------------------------------------------------
# too large


def test_too_large_marks_infinities_and_huge_values_not_missing_ones():
    values = np.array([1.0, np.inf, -np.inf, 1e151, -1e200, 1e150, np.nan, -5.0])
    assert too_large(values, 1e150).tolist() == [0, 1, 1, 1, 1, 0, 0, 0]


# ---------------------------------------------------------------------------------------------
# reading files


def test_csv_missing_values_are_exactly_the_tokens_given(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,NA\n2,null\n3,\n4,-\n")
    frame = read_table(path, DEFAULT_MISSING_VALUES)
    assert frame["b"].isna().tolist() == [True, False, True, False]
    frame = read_table(path, ["-", "null"])
    assert frame["b"].isna().tolist() == [False, True, False, True]
    assert frame["b"].iloc[0] == "NA" and frame["b"].iloc[2] == ""


@pytest.mark.parametrize(
    "header",
    ["a,b,a", 'a,b,"a"', "x,a,b,c,b", "a,a"],
)
def test_duplicated_csv_headers_are_named(tmp_path, header):
    path = tmp_path / "d.csv"
    width = len(header.split(","))
    path.write_text(header + "\n" + ",".join(["1"] * width) + "\n")
    with pytest.raises(InputError, match="appears twice"):
        read_table(path)


def test_empty_header_names_are_not_duplicates(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(",,a\n1,2,3\n")
    assert len(read_table(path).columns) == 3


def test_a_bom_is_not_part_of_the_first_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b,a.1\n1,2,3\n")
    assert list(read_table(path).columns) == ["a", "b", "a.1"]


def test_duplicated_parquet_columns_are_named(tmp_path):
    table = pa.table({"a": [1, 2], "b": [3, 4]}).rename_columns(["a", "a"])
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(InputError, match="'a' appears twice"):
        read_table(tmp_path / "d.parquet")


@pytest.mark.parametrize(
    "array",
    [
        pa.array([[1], [2]]),
        pa.array([{"a": 1}, {"a": 2}]),
        pa.array([[("k", 1)], [("k", 2)]], type=pa.map_(pa.string(), pa.int64())),
        pa.array([b"a", b"b"]),
        pa.array([b"a", b"b"], type=pa.large_binary()),
        pa.array([1, 2], type=pa.duration("s")),
    ],
)
def test_unusable_parquet_types_are_refused_only_when_used(tmp_path, array):
    pq.write_table(pa.table({"y": [1.0, 2.0], "odd": array}), tmp_path / "d.parquet")
    assert list(read_table(tmp_path / "d.parquet", columns=["y"]).columns) == ["y", "odd"]
    kind = re.escape(str(array.type).split("<")[0])  # Parquet renames list items: <element: ...>
    with pytest.raises(InputError, match=f"column 'odd' has Parquet type {kind}"):
        read_table(tmp_path / "d.parquet", columns=["y", "odd"])


def test_parquet_text_tokens_are_missing_in_used_columns(tmp_path):
    pq.write_table(pa.table({"x": ["1", "NA", "3"], "z": ["NA", "b", "c"]}), tmp_path / "d.parquet")
    frame = read_table(tmp_path / "d.parquet", DEFAULT_MISSING_VALUES, columns=["x"])
    assert frame["x"].isna().tolist() == [False, True, False]
    assert frame["z"].tolist() == ["NA", "b", "c"]


def test_a_latin1_csv_is_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("a,b\n1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_table(path)


# ---------------------------------------------------------------------------------------------
# the config


BODY = {"title": "t", "data": "d.csv", "outcome": "y", "group": "g"}


def test_defaults_of_the_new_keys():
    spec = Spec.model_validate(BODY)
    assert spec.missing_values == ["", "NA", "N/A", "NaN", "."]
    assert spec.levers == []


def test_missing_values_written_as_numbers_are_text():
    spec = Spec.model_validate({**BODY, "missing_values": [-99, 999.5, "NA"]})
    assert spec.missing_values == ["-99", "999.5", "NA"]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"group": "y"}, "outcome 'y' is also the grouping variable"),
        ({"predictors": ["a", "g"]}, "grouping variable 'g' is also listed as a predictor"),
        ({"predictors": ["a", "b", "a"]}, "predictors: 'a' is listed twice"),
        ({"predictors": ["y"]}, "outcome 'y' is also listed as a predictor"),
        ({"predictors": ["a"], "random_slopes": ["b"]}, "random slope 'b' must also be listed"),
        ({"predictors": ["a"], "levers": ["b"]}, "levers: 'b' is not a predictor"),
        ({"predictors": ["a"], "levers": ["a", "a"]}, "levers: 'a' is listed twice"),
        ({"contextual": ["a", "a"]}, "contextual: 'a' is listed twice"),
        ({"interactions": ["a:g"]}, "uses the grouping variable 'g'"),
    ],
)
def test_roles_and_lists_are_checked_in_the_config(tmp_path, keys, message):
    config = write_config(tmp_path, **{**BODY, **keys})
    with pytest.raises(InputError) as info:
        load_spec(config)
    assert message in str(info.value) and str(info.value).startswith(str(config))


def test_levers_that_are_predictors_are_kept(tmp_path):
    config = write_config(tmp_path, **{**BODY, "predictors": ["a", "b"], "levers": ["b"]})
    assert load_spec(config).levers == ["b"]


def test_a_bom_config_loads(tmp_path):
    config = tmp_path / "c.yml"
    config.write_bytes(b"\xef\xbb\xbftitle: t\ndata: d.csv\noutcome: y\ngroup: g\n")
    assert load_spec(config).title == "t"


@pytest.mark.parametrize("depth", [33, 200, 3000])
def test_deep_yaml_is_refused_before_it_is_composed(tmp_path, depth):
    config = tmp_path / "c.yml"
    config.write_text("title: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(InputError, match="nested more than 32 levels"):
        load_spec(config)


def test_shallow_nesting_is_fine(tmp_path):
    config = tmp_path / "c.yml"
    config.write_text("title: t\ndata: d.csv\noutcome: y\ngroup: g\nx: " + "[" * 31 + "]" * 31)
    with pytest.raises(InputError, match="unknown key 'x'"):
        load_spec(config)


@pytest.mark.parametrize(
    ("text", "plain", "in_quotes"),
    [
        ("math", "math", "'math'"),
        ("a b", "a b", "'a b'"),
        ("caf\u00e9", "caf\u00e9", "'caf\u00e9'"),
        ("a\nb", "a\\nb", "'a\\nb'"),
        ("\x00", "\\x00", "'\\x00'"),
        ("\x1b[31m", "\\x1b[31m", "'\\x1b[31m'"),
        ("a\u2028b", "a\\u2028b", "'a\\u2028b'"),
        ("", "", "''"),
    ],
)
def test_user_text_is_shown_on_one_printable_line(text, plain, in_quotes):
    assert shown(text) == plain and quoted(text) == in_quotes
    assert shown(text).isprintable() and quoted(text).isprintable()


# ---------------------------------------------------------------------------------------------
# group structure and parameter counts


def prepared_from(tmp_path, frame: pd.DataFrame, **keys):
    frame.to_csv(tmp_path / "d.csv", index=False)
    keys = {"outcome": "y", "group": "g", **keys}
    return prepare(load_spec(write_config(tmp_path, data=tmp_path / "d.csv", **keys)))


def frame_of(groups: list[int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(groups)
    return pd.DataFrame({"g": groups, "y": rng.normal(size=n), "x": rng.normal(size=n)})


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (list(range(10)), "every group of 'g' has a single row"),
        ([0, 0, 0, *range(1, 8)], "every group of 'g' but one has a single row"),
    ],
)
def test_groups_of_one_row(tmp_path, groups, message):
    with pytest.raises(InputError, match=message):
        prepared_from(tmp_path, frame_of(groups), predictors=["x"])


def test_singletons_after_dropping_incomplete_rows(tmp_path):
    frame = frame_of([0, 0, 1, 1, 2, 3, 4])
    frame.loc[[1, 3], "y"] = np.nan
    with pytest.raises(InputError, match="has a single row"):
        prepared_from(tmp_path, frame, predictors=["x"])


def test_two_groups_with_shared_rows_pass(tmp_path):
    p = prepared_from(tmp_path, frame_of([0, 0, 1, 1, 2, 3, 4, 5]), predictors=["x"])
    assert p.n_groups == 6


def test_check_full_rank_refuses_as_many_parameters_as_rows(tmp_path):
    frame = frame_of([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    for k in range(3):
        frame[f"z{k}"] = np.random.default_rng(k).normal(size=len(frame))
    p = prepared_from(tmp_path, frame, predictors=["x", "z0"])
    wide = [INTERCEPT, "x", "z0"]
    check_full_rank(p, wide)  # 3 parameters, 10 rows
    for extra in (7, 8, 9):  # 10, 11 and 12 parameters: QR alone would see no dependency
        with pytest.raises(InputError, match=f"{3 + extra} fixed-effect parameters.*only 10 rows"):
            check_full_rank(p, wide + [f"w{k}" for k in range(extra)])


def test_largest_fixed_part_holds_interactions_and_their_variables(tmp_path):
    frame = frame_of([0] * 5 + [1] * 5 + [2] * 5).assign(s=["a", "b", "c"] * 5)
    p = prepared_from(tmp_path, frame, predictors=["x"], interactions=["x:s"])
    assert largest_fixed(p) == [INTERCEPT, "x", "s[T.b]", "s[T.c]", "x:s[T.b]", "x:s[T.c]"]


def test_group_level_parameters_fewer_than_groups(tmp_path):
    frame = frame_of([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4)
    frame["w"] = frame["g"].map({0: 1.0, 1: 3.0, 2: 2.0, 3: 7.0})
    frame["v"] = frame["g"].map({0: 0.0, 1: 1.0, 2: 5.0, 3: 2.0})
    prepared_from(tmp_path, frame, predictors=["x", "w"])  # intercept + w: 2 of 4
    with pytest.raises(InputError, match="4 groups of 'g'"):
        prepared_from(tmp_path, frame, predictors=["x", "w", "v"], interactions=["w:v"])


def test_a_contextual_mean_is_a_group_level_term(tmp_path):
    frame = frame_of([0] * 4 + [1] * 4)
    with pytest.raises(InputError, match="at the group level"):
        prepared_from(tmp_path, frame, predictors=["x"], contextual=["x"])


def test_intercept_named_predictor_is_its_own_term(tmp_path):
    frame = frame_of([0] * 5 + [1] * 5 + [2] * 5).rename(columns={"x": "Intercept"})
    p = prepared_from(tmp_path, frame, predictors=["Intercept"])
    assert p.terms_of["Intercept"] == ["Intercept"]
    np.testing.assert_array_equal(p.rows.columns[INTERCEPT], np.ones(15))
    np.testing.assert_array_equal(p.rows.columns["Intercept"], frame["Intercept"].to_numpy())
    assert largest_fixed(p) == [INTERCEPT, "Intercept"]


def test_variables_constant_within_groups_are_marked_group_level(tmp_path):
    frame = frame_of([0] * 5 + [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5)
    frame["size"] = frame["g"].map({0: 10.0, 1: 30.0, 2: 20.0, 3: 25.0, 4: 12.0})
    frame["sector"] = frame["g"].map({0: "pub", 1: "cath", 2: "pub", 3: "cath", 4: "pub"})
    frame["sex"] = ["F", "M"] * 12 + ["F"]
    p = prepared_from(tmp_path, frame, predictors=["x", "size", "sector", "sex"], contextual=["x"])
    level = {v.name: v.group_level for v in p.design.variables}
    assert level == {
        "x": False,
        "size": True,
        "sector": True,
        "sex": False,
        p.design.group_mean_of("x"): True,
    }


# ---------------------------------------------------------------------------------------------
# an outcome constant within every group of a level, and a missing-value code among numbers, on
# Spark (memory and DuckDB: the CLI tests in test_bad_input.py and test_levels_input.py)


def test_an_outcome_constant_within_groups_and_a_code_are_refused_on_spark(tmp_path, monkeypatch):
    from hlm_analysis.data import aggregate
    from hlm_analysis.data.aggregate import prepare_in_engine
    from hlm_analysis.data.columns import columns_used
    from hlm_analysis.data.engines import open_engine
    from hlm_analysis.data.source import open_source

    rng = np.random.default_rng(4)
    rows = pd.DataFrame(
        {
            "school": np.repeat([f"S{i}" for i in range(6)], 12),
            "klass": np.tile(np.repeat(["1", "2", "3"], 4), 6),
            "x": rng.normal(size=72).round(3),
        }
    )
    rows["y"] = rows["x"] + rng.normal(size=72).round(3)
    cases = {
        "school": (["school"], "school", "constant within every group of 'school' (a value of"),
        "class": (["school", "klass"], ["school", "klass"], "every group of 'klass', so the res"),
        "binary": (["school"], "school", "'school' (each group all events or all non-events)"),
        "code": (None, "school", "column 'x': 4 rows hold -99, far outside its other values"),
    }
    engine = open_engine("spark")
    try:
        for name, (by, group, expected) in cases.items():
            data = rows.assign(y=rows.groupby(by)["y"].transform("mean")) if by else rows.copy()
            if name == "code":  # one session for both checks (a Spark session takes long)
                data.loc[[3, 20, 41, 60], "x"] = -99
            keys = {"family": "binomial"} if name == "binary" else {}
            if name == "binary":
                data["y"] = data["school"].isin(["S1", "S4"]).astype(int)
            folder = tmp_path / name
            folder.mkdir()
            data.to_csv(folder / "part-0.csv", index=False)
            config = write_config(
                tmp_path, name, data=folder, outcome="y", predictors=["x"], group=group, **keys
            )
            spec = load_spec(config)
            with pytest.raises(InputError) as info:
                prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)
            assert expected in str(info.value) and "\n" not in str(info.value)
        # a code among words declared a real value (not_missing:) is a category, as in memory
        words = rows.assign(sector=np.where(np.arange(72) % 2, "Public", "Catholic"))
        words.loc[[3, 20, 41, 60], "sector"] = "-99"
        (tmp_path / "words").mkdir()
        words.to_csv(tmp_path / "words" / "part-0.csv", index=False)
        config = write_config(tmp_path, "words", data=tmp_path / "words", outcome="y",
                              predictors=["sector"], group="school",
                              not_missing={"sector": [-99]})  # fmt: skip
        spec = load_spec(config)
        prepared = prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)
        assert prepared.design.variable("sector").levels == ("-99", "Catholic", "Public")
        # no variation at all: the outcome, and the time column named as such (one line each)
        for name, keys, expected in [
            ("flat", {}, "outcome 'y' is constant (50) in all 72 rows of the analysis sample, so"),
            ("wave", {"time": "wave"}, "time: 'wave' is constant (2) in the analysis sample (ev"),
        ]:
            data = rows.assign(y=50.0) if name == "flat" else rows.assign(wave=2.0)
            (tmp_path / name).mkdir()
            data.to_csv(tmp_path / name / "part-0.csv", index=False)
            config = write_config(tmp_path, name, data=tmp_path / name, outcome="y",
                                  predictors=["x"], group="school", **keys)  # fmt: skip
            spec = load_spec(config)
            with pytest.raises(InputError) as info:
                prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)
            assert str(info.value).startswith(expected), str(info.value)
        # beyond memory (made small): a code the figures' sample found is counted exactly
        monkeypatch.setattr(aggregate, "IN_MEMORY_ROWS", 100)
        monkeypatch.setattr(aggregate, "SAMPLE_ROWS", 150)
        spec = _sampled_code_spec(tmp_path)
        with pytest.raises(InputError) as info:
            prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)
        assert str(info.value).startswith("column 'x': 100 rows hold -99, far outside its other")
    finally:
        engine.close()


def _sampled_code_spec(tmp_path) -> Spec:
    """1,000 rows in 40 schools, x -99 in 100 of them, as a folder of one CSV part."""
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(
        {
            "school": np.repeat(np.arange(40), 25).astype(str),
            "x": rng.integers(1, 6, 1000).astype(float),
            "y": rng.normal(50, 10, 1000).round(2),
        }
    )
    frame.loc[::10, "x"] = -99.0  # 100 rows; every school holds some
    (tmp_path / "lake").mkdir()
    frame.to_csv(tmp_path / "lake" / "part-0.csv", index=False)
    config = write_config(tmp_path, data=tmp_path / "lake", outcome="y", predictors=["x"],
                          group="school")  # fmt: skip
    return load_spec(config)


# ---------------------------------------------------------------------------------------------
# a missing-value code among numbers (columns.numeric_missing_code): the rule on its own, and
# how a sample with the sums' per-group bounds stands in for every row


def test_a_code_far_outside_the_other_values_is_found():
    from hlm_analysis.data.columns import numeric_missing_code

    likert = np.array([1, 2, 3, 4, 5] * 20 + [-99] * 4 + [999] * 3, dtype=float)
    found = numeric_missing_code(likert)
    assert (found.code, found.rows, found.low, found.high) == (-99, 4, 1, 5)
    assert numeric_missing_code(likert, accepted=[-99]).code == 999  # the next one
    ages = np.array(list(range(5, 19)) * 5 + [99] * 3, dtype=float)
    assert numeric_missing_code(ages).code == 99
    scores = np.arange(0, 101, dtype=float)
    assert numeric_missing_code(np.concatenate([scores, [-9] * 3])).code == -9  # below 0


@pytest.mark.parametrize(
    "values",
    [
        np.concatenate([np.arange(0, 101), [99] * 10, [98] * 5]),  # real 99s among 0-100
        np.concatenate([np.arange(60, 97), [98, 99] * 4]),  # ages of 60-99
        np.concatenate([np.arange(1, 6), [-99] * 2]),  # two rows only
        np.concatenate([np.arange(-50, 51), [-99] * 5]),  # within twice the range of -50..50
        np.array([-99.0] * 5),  # nothing else: no code among values
        np.arange(1000, 2000, dtype=float),  # no code at all
    ],
)
def test_values_that_only_look_like_codes_are_not_found(values):
    from hlm_analysis.data.columns import numeric_missing_code

    assert numeric_missing_code(np.asarray(values, dtype=float)) is None


def test_a_sample_scales_its_count_and_the_sums_bounds_find_a_code_it_missed():
    from hlm_analysis.data.columns import numeric_missing_code

    sample = np.array([1, 2, 3, 4, 5] * 100 + [-99] * 2, dtype=float)  # 502 of 100,400 rows
    found = numeric_missing_code(sample, scale=200.0)
    assert found.sampled and found.rows == 400 and found.code == -99
    # a code the sample does not hold, at the low end of 5 groups (exact, from the sums)
    plain = np.array([1, 2, 3, 4, 5] * 100, dtype=float)
    low = np.array([1, -99, -99, 1, -99, -99, -99, 2], dtype=float)
    high = np.full(8, 5.0)
    found = numeric_missing_code(plain, scale=200.0, cell_low=low, cell_high=high)
    assert found.code == -99 and found.rows == 5
    assert numeric_missing_code(plain, scale=200.0, cell_low=low[:3], cell_high=high[:3]) is None


def test_not_missing_is_in_the_published_schema():
    from hlm_analysis.schema import results_schema

    spec = results_schema()["$defs"]["Spec"]["properties"]
    assert spec["not_missing"]["type"] == "object"
    assert spec["not_missing"]["additionalProperties"]["items"]["type"] == "number"


def test_a_code_is_found_on_duckdb_from_a_sample_of_rows(tmp_path, monkeypatch):
    # the path of data too large for memory (the figures' sample and the sums), made small
    from hlm_analysis.data import aggregate
    from hlm_analysis.data.columns import columns_used
    from hlm_analysis.data.engines import open_engine
    from hlm_analysis.data.source import open_source

    monkeypatch.setattr(aggregate, "IN_MEMORY_ROWS", 100)
    monkeypatch.setattr(aggregate, "SAMPLE_ROWS", 150)
    spec = _sampled_code_spec(tmp_path)
    engine = open_engine("duckdb")
    try:
        with pytest.raises(InputError) as info:
            aggregate.prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)
    finally:
        engine.close()
    # the sample only found it: one count over the rows, on the refusal path only, makes it exact
    assert str(info.value).startswith("column 'x': 100 rows hold -99, far outside its other values")
