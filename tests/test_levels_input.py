"""Bad input for several grouping levels (issue 22), from the command line as tests/
test_bad_input.py drives it: each exits 2 with one printable line naming the problem and writes
nothing. A one-element list is the plain name."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import write_config
from test_bad_input import fit, refused

ROWS = [
    {"school": s, "klass": k, "x": float((3 * i + 7 * j) % 11), "y": float((5 * i + j * j) % 13)}
    for i, s in enumerate(["A", "B", "C", "D"])
    for j, k in enumerate(["1", "2", "3"])
    for _ in range(4)
]


def frame() -> pd.DataFrame:
    out = pd.DataFrame(ROWS)
    out["y"] += np.arange(len(out)) % 5  # varies within classes
    out["size"] = out["klass"].map({"1": 10.0, "2": 20.0, "3": 30.0}) + out["school"].map(
        {"A": 0.0, "B": 1.0, "C": 2.0, "D": 3.0}
    )  # constant within classes, varies within schools
    out["region"] = out["school"].map({"A": 1.0, "B": 1.0, "C": 2.0, "D": 2.0})
    return out


BASE = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}


def config(tmp_path, data: pd.DataFrame | None = None, **keys):
    path = tmp_path / "levels.csv"
    (frame() if data is None else data).to_csv(path, index=False)
    return write_config(tmp_path, data=path, **{**BASE, **keys})


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"group": ["school", "klass", "school"]}, "group: 'school' is listed twice"),
        (
            {"group": ["school", "klass", "a", "b", "c"]},
            "group: at most 4 levels are supported, 5 are listed",
        ),
        ({"group": []}, "group: name at least one grouping column"),
        ({"crossed": True, "group": ["school", "klass", "x2"]}, "crossed: true needs exactly two"),
        ({"crossed": True, "group": "school"}, "crossed: true needs exactly two levels in group"),
        (
            {"random_slopes": {"district": ["x"]}},
            "random_slopes: 'district' is not a level of group ('school', 'klass')",
        ),
        ({"group_noun": {"district": "district"}}, "group_noun: 'district' is not a level"),
        ({"predictors": ["x", "klass"]}, "grouping variable 'klass' is also listed as a predictor"),
        ({"outcome": "klass"}, "outcome 'klass' is also the grouping variable"),
        ({"time": "school"}, "grouping variable 'school' is also listed as a time variable"),
        ({"random_slopes": {"klass": ["size"]}}, "random slope 'size' must also be listed"),
        (
            {"crossed": True, "centering": {"x": "group"}},
            "centering: 'x': group means are not supported with crossed levels",
        ),
        ({"crossed": True, "contextual": ["x"]}, "contextual: 'x': group means are not supported"),
        ({"group": {"a": 1}}, "key 'group': expected a column name or a list of names"),
    ],
)
def test_config_level_errors(tmp_path, capsys, keys, expected):
    refused(tmp_path, capsys, config(tmp_path, **keys), expected)


def test_a_level_not_in_the_data(tmp_path, capsys):
    refused(
        tmp_path, capsys, config(tmp_path, group=["school", "class"]), "column 'class' not found"
    )


def test_a_level_with_one_group(tmp_path, capsys):
    data = frame().assign(district="north")
    refused(
        tmp_path,
        capsys,
        config(tmp_path, data, group=["district", "school", "klass"]),
        "grouping variable 'district' has a single group ('north')",
    )


def test_every_outer_group_holding_one_inner_group(tmp_path, capsys):
    data = frame().assign(klass=lambda f: f["school"] + "x")
    refused(
        tmp_path,
        capsys,
        config(tmp_path, data),
        "every group of 'school' holds a single group of 'klass'",
    )


def test_a_slope_constant_within_its_levels_groups(tmp_path, capsys):
    # size varies within schools (a school-level slope is fine) but not within classes
    refused(
        tmp_path,
        capsys,
        config(tmp_path, predictors=["x", "size"], random_slopes={"klass": ["size"]}),
        "random_slopes: 'size' is constant within every group of 'klass'",
    )
    # a plain list means the innermost level
    refused(
        tmp_path,
        capsys,
        config(tmp_path, predictors=["x", "size"], random_slopes=["size"]),
        "'size' is constant within every group of 'klass'",
    )
    refused(
        tmp_path,
        capsys,
        config(tmp_path, predictors=["x", "region"], random_slopes={"school": ["region"]}),
        "random_slopes: 'region' is constant within every group of 'school'",
    )


def test_more_level_parameters_than_groups_of_that_level(tmp_path, capsys):
    # region is constant within schools: with the intercept, 2 school-level parameters for
    # 2 schools
    data = frame()
    data = data[data["school"].isin(["A", "C"])]
    refused(
        tmp_path,
        capsys,
        config(tmp_path, data, predictors=["x", "region"]),
        "2 fixed-effect parameters at the level of 'school'",
    )


def test_crossed_factor_of_single_rows(tmp_path, capsys):
    data = frame().assign(pupil=lambda f: [f"p{i}" for i in range(len(f))])
    refused(
        tmp_path,
        capsys,
        config(tmp_path, data, group=["school", "pupil"], crossed=True),
        "every group of 'pupil' has a single row",
    )


def test_an_id_holding_the_separator(tmp_path, capsys):
    data = frame()
    data.loc[0, "klass"] = "1\x1f2"
    refused(tmp_path, capsys, config(tmp_path, data), "holds the control character U+001F")


def test_a_one_element_list_fits_as_the_plain_name(tmp_path, capsys):
    code, err, out = fit(tmp_path, capsys, config(tmp_path, group=["school"]))
    assert code == 0, err
    raw = json.loads((out / "results.json").read_text())
    assert raw["spec"]["group"] == "school"
    assert "crossed" not in raw["spec"] and "time" not in raw["spec"]
    assert "levels" not in raw["data"] and "crossed" not in raw["data"]
    assert all("level" not in v for v in raw["design"]["variables"])


def test_a_text_time_variable(tmp_path, capsys):
    data = frame().assign(wave=lambda f: np.where(np.arange(len(f)) % 2, "fall", "spring"))
    refused(
        tmp_path,
        capsys,
        config(tmp_path, data, time="wave"),
        "time: 'wave' is text, not a number",
    )


@pytest.mark.parametrize("path", ["memory", "duckdb"])
def test_a_constant_time_column_is_named_as_the_time_column(tmp_path, capsys, path):
    # every row measured at the same wave: the time column, not 'predictor', is named
    data = frame().assign(wave=3.0)
    path_config = config(tmp_path, data, time="wave")
    if path == "duckdb":
        folder = tmp_path / "parts"
        folder.mkdir()
        data.iloc[:20].to_csv(folder / "part-0.csv", index=False)
        data.iloc[20:].to_csv(folder / "part-1.csv", index=False)
        path_config = write_config(tmp_path, data=folder, **{**BASE, "time": "wave"})
    line = refused(tmp_path, capsys, path_config)
    assert line.endswith(
        "time: 'wave' is constant (3) in the analysis sample (every row at the same time), so "
        "there is no change over time to model; remove time:, or set it to the column that "
        "records when each row was measured"
    ), line


def test_a_one_level_mapping_of_slopes_is_its_list(tmp_path, capsys):
    keys = {
        "group": "school",
        "random_slopes": {"school": ["x"]},
        "group_noun": {"school": "campus"},
    }
    code, err, out = fit(tmp_path, capsys, config(tmp_path, **keys))
    assert code == 0, err
    raw = json.loads((out / "results.json").read_text())
    assert raw["spec"]["random_slopes"] == ["x"] and raw["spec"]["group_noun"] == "campus"
    assert "random_slope" in raw["models"]


def as_parts(tmp_path, data: pd.DataFrame):
    """The rows as a folder of two CSV parts: the DuckDB path (sums from SQL, no rows kept)."""
    folder = tmp_path / "parts"
    folder.mkdir()
    half = len(data) // 2
    data.iloc[:half].to_csv(folder / "part-0.csv", index=False)
    data.iloc[half:].to_csv(folder / "part-1.csv", index=False)
    return folder


def outcome_as(data: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The outcome replaced by its mean over `by`'s groups: constant within each."""
    return data.assign(y=data.groupby(by)["y"].transform("mean").round(3))


@pytest.mark.parametrize("path", ["memory", "duckdb"])
@pytest.mark.parametrize(
    ("by", "keys", "expected"),
    [
        (
            ["school"],
            {},
            "outcome 'y' is constant within every group of 'school' (a value of the group, not "
            "of its rows), so the variance within those groups would be zero; analyse one row "
            "per group of 'school', or choose an outcome that varies within them",
        ),
        (
            ["school", "klass"],
            {},
            "outcome 'y' is constant within every group of 'klass', so the residual variance "
            "would be zero; if it is a mean or total of each group, analyse one row per group "
            "with group: [school], else choose an outcome measured on each row",
        ),
        (  # centred on group means: DuckDB derives the sums by algebra (group_means.py)
            ["school", "klass"],
            {"predictors": ["x", "w"], "centering": {"w": "group"}},
            "outcome 'y' is constant within every group of 'klass', so the residual variance",
        ),
        (  # crossed: class ids 1-3 shared by every school; constant within each class id
            ["klass"],
            {"crossed": True},
            "outcome 'y' is constant within every group of 'klass' (a value of the group",
        ),
    ],
)
def test_an_outcome_constant_within_a_levels_groups(tmp_path, capsys, path, by, keys, expected):
    # was: a numerical error (exit 1) or numbers marked provisional (exit 0)
    data = outcome_as(frame(), by).assign(w=lambda f: np.arange(len(f)) % 7)
    if path == "duckdb":
        config_ = write_config(tmp_path, data=as_parts(tmp_path, data), **{**BASE, **keys})
    else:
        config_ = config(tmp_path, data, **keys)
    refused(tmp_path, capsys, config_, expected)


@pytest.mark.parametrize("path", ["memory", "duckdb"])
def test_a_binary_outcome_constant_within_a_levels_groups(tmp_path, capsys, path):
    data = frame()
    data["y"] = data["school"].isin(["A", "C"]).astype(int)  # every school all 0 or all 1
    keys = {**BASE, "family": "binomial"}
    folder = as_parts(tmp_path, data) if path == "duckdb" else None
    if folder is None:
        config_ = config(tmp_path, data, family="binomial")
    else:
        config_ = write_config(tmp_path, data=folder, **keys)
    refused(
        tmp_path,
        capsys,
        config_,
        "outcome 'y' is constant within every group of 'school' (each group all events or all "
        "non-events), so the variance between those groups has no finite estimate; choose an "
        "outcome that varies within groups, or remove 'school' from group",
    )


def test_an_outcome_varying_within_one_group_only_is_not_constant(tmp_path, capsys):
    # constant within every class but one (where two rows differ): the check is not "mostly"
    data = outcome_as(frame(), ["school", "klass"])
    data.loc[0, "y"] += 1.0
    code, err, _ = fit(tmp_path, capsys, config(tmp_path, data))
    assert not any("is constant within" in line for line in err), err
