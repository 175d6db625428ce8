"""From a config to the analysis sample (data/prepare.py), on small CSVs written here.

Every expected value is computed in the test with pandas from the same CSV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import write_config

from hlm_analysis.data import prepare
from hlm_analysis.errors import InputError
from hlm_analysis.results import INTERCEPT, Term, TermKind, VariableKind
from hlm_analysis.spec import load_spec

SIZES = {"s3": 7, "s1": 6, "s2": 5, "s4": 4, "s5": 2}


def school_frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(list(SIZES), list(SIZES.values()))
    n = len(school)
    effect = {s: i for i, s in enumerate(SIZES)}
    frame = pd.DataFrame(
        {
            "school": school,
            "score": np.round(50 + rng.normal(0, 8, n) + [3 * effect[s] for s in school], 2),
            "hours": np.round(rng.uniform(0, 10, n) + [effect[s] for s in school], 2),
            "age": np.round(rng.uniform(14, 18, n), 1),
            # the first row's level is not the first sorted level
            "track": (["voc", "acad", "gen"] * n)[:n],
            "sex": (["M", "F"] * n)[:n],
            "note": ["x"] * n,
        }
    )
    return frame


def prepared_from(tmp_path, frame: pd.DataFrame, **keys):
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)
    keys.setdefault("outcome", "score")
    keys.setdefault("group", "school")
    return prepare(load_spec(write_config(tmp_path, data=csv, **keys)))


# ---------------------------------------------------------------------------------------------
# dummy coding and the Design


def test_dummies_use_the_first_sorted_level_as_reference(tmp_path):
    frame = school_frame()
    p = prepared_from(tmp_path, frame, predictors=["hours", "track"])
    assert frame["track"].iloc[0] == "voc"
    levels = sorted(frame["track"].unique())
    assert levels == ["acad", "gen", "voc"]
    assert p.categorical["track"] == levels
    assert p.terms_of["track"] == ["track[T.gen]", "track[T.voc]"]
    assert "track[T.acad]" not in p.rows.columns
    for level in ("gen", "voc"):
        expected = (frame["track"] == level).astype(float).to_numpy()
        np.testing.assert_array_equal(p.rows.columns[f"track[T.{level}]"], expected)
    np.testing.assert_array_equal(p.rows.columns[INTERCEPT], np.ones(len(frame)))


def test_design_records_terms_and_variables(tmp_path):
    p = prepared_from(
        tmp_path,
        school_frame(),
        predictors=["hours", "track", "sex"],
        interactions=["hours:sex"],
    )
    d = p.design
    assert (d.outcome, d.group) == ("score", "school")
    assert d.predictors == ("hours", "track", "sex")
    assert d.terms == (
        Term(INTERCEPT, TermKind.INTERCEPT),
        Term("hours", TermKind.NUMERIC, variable="hours"),
        Term("track[T.gen]", TermKind.DUMMY, variable="track", level="gen"),
        Term("track[T.voc]", TermKind.DUMMY, variable="track", level="voc"),
        Term("sex[T.M]", TermKind.DUMMY, variable="sex", level="M"),
        Term("hours:sex[T.M]", TermKind.INTERACTION, parts=("hours", "sex[T.M]")),
    )
    hours, track, sex = (d.variable(v) for v in ("hours", "track", "sex"))
    assert hours.kind == VariableKind.NUMERIC and hours.levels == () and hours.terms == ("hours",)
    assert track.kind == VariableKind.CATEGORICAL
    assert track.levels == ("acad", "gen", "voc") and track.reference == "acad"
    assert track.terms == ("track[T.gen]", "track[T.voc]")
    assert sex.levels == ("F", "M") and sex.reference == "F"
    assert all(v.centering is None and v.mean_of is None for v in d.variables)
    assert d.categorical == {"track": ("acad", "gen", "voc"), "sex": ("F", "M")}


def test_group_labels_and_codes_follow_sorted_groups(tmp_path):
    frame = school_frame()
    p = prepared_from(tmp_path, frame, predictors=["hours"])
    assert p.group_labels == sorted(SIZES)
    np.testing.assert_array_equal(
        np.array(p.group_labels)[p.rows.group_codes], frame["school"].to_numpy()
    )
    np.testing.assert_array_equal(p.rows.y, frame["score"].to_numpy())
    assert list(p.group_sizes()) == [SIZES[s] for s in sorted(SIZES)]
    assert (p.n_obs, p.n_groups, p.n_rows_read) == (len(frame), len(SIZES), len(frame))


# ---------------------------------------------------------------------------------------------
# centring and contextual means


def test_group_mean_centring(tmp_path):
    frame = school_frame()
    p = prepared_from(tmp_path, frame, predictors=["hours", "age"], centering={"hours": "group"})
    expected = frame["hours"] - frame.groupby("school")["hours"].transform("mean")
    np.testing.assert_allclose(p.rows.columns["hours"], expected.to_numpy(), atol=1e-12)
    for school in SIZES:
        assert p.rows.columns["hours"][frame["school"].to_numpy() == school].sum() == pytest.approx(
            0, abs=1e-9
        )
    np.testing.assert_array_equal(p.rows.columns["age"], frame["age"].to_numpy())  # untouched
    assert p.design.variable("hours").centering == "group"
    assert p.design.variable("age").centering is None


def test_grand_mean_centring(tmp_path):
    frame = school_frame()
    p = prepared_from(tmp_path, frame, predictors=["hours", "age"], centering={"age": "grand"})
    np.testing.assert_allclose(
        p.rows.columns["age"], frame["age"] - frame["age"].mean(), atol=1e-12
    )
    assert p.rows.columns["age"].mean() == pytest.approx(0, abs=1e-12)
    assert p.design.variable("age").centering == "grand"


def test_contextual_adds_the_group_mean_column(tmp_path):
    frame = school_frame()
    p = prepared_from(
        tmp_path,
        frame,
        predictors=["hours", "age"],
        centering={"hours": "group"},
        contextual=["hours"],
    )
    name = p.design.group_mean_of("hours")
    assert name is not None and name != "hours"
    means = frame.groupby("school")["hours"].mean()
    np.testing.assert_allclose(p.rows.columns[name], frame["school"].map(means).to_numpy())
    variable = p.design.variable(name)
    assert variable.mean_of == "hours" and variable.kind == VariableKind.NUMERIC
    assert p.design.term(name) == Term(name, TermKind.NUMERIC, variable=name)
    assert p.predictors == ["hours", "age", name]
    assert p.design.predictors == ("hours", "age", name)
    # with group-mean centring the column and its mean are orthogonal within groups
    assert p.rows.columns["hours"] @ p.rows.columns[name] == pytest.approx(0, abs=1e-8)


def test_contextual_mean_is_of_the_raw_column_under_grand_centring(tmp_path):
    frame = school_frame()
    p = prepared_from(
        tmp_path, frame, predictors=["hours"], centering={"hours": "grand"}, contextual=["hours"]
    )
    name = p.design.group_mean_of("hours")
    raw_means = frame.groupby("school")["hours"].transform("mean").to_numpy()
    np.testing.assert_allclose(p.rows.columns[name], raw_means)
    np.testing.assert_allclose(p.rows.columns["hours"], frame["hours"] - frame["hours"].mean())


# ---------------------------------------------------------------------------------------------
# missing values


def test_incomplete_rows_are_dropped_and_counted_per_column(tmp_path):
    frame = school_frame()
    frame["score"] = frame["score"].astype(float)
    frame.loc[[0, 5], "score"] = np.nan
    frame.loc[[5, 9], "hours"] = np.nan  # row 5 misses two values
    frame.loc[[12], "track"] = np.nan
    frame.loc[[1, 2, 3], "note"] = np.nan  # not used: keeps its rows
    p = prepared_from(tmp_path, frame, predictors=["hours", "track"], centering={"hours": "group"})
    assert p.dropped == {"score": 2, "hours": 2, "track": 1}
    complete = frame.drop(index=[0, 5, 9, 12]).reset_index(drop=True)
    assert p.n_rows_read == len(frame)
    assert p.n_obs == len(complete) == len(frame) - 4
    np.testing.assert_array_equal(p.rows.y, complete["score"].to_numpy())
    # centring uses the analysis sample only
    expected = complete["hours"] - complete.groupby("school")["hours"].transform("mean")
    np.testing.assert_allclose(p.rows.columns["hours"], expected.to_numpy(), atol=1e-12)
    assert list(p.group_sizes()) == complete["school"].value_counts().sort_index().tolist()
    assert "note" not in p.rows.measured


def test_nothing_dropped_without_missing_values(tmp_path):
    p = prepared_from(tmp_path, school_frame(), predictors=["hours"])
    assert p.dropped == {}


# ---------------------------------------------------------------------------------------------
# interactions


def test_interaction_columns_are_products_of_their_parts(tmp_path):
    frame = school_frame()
    p = prepared_from(
        tmp_path,
        frame,
        predictors=["hours", "age", "track"],
        centering={"age": "grand"},
        interactions=["hours:age", "hours:track", "track:age"],
    )
    hours = frame["hours"].to_numpy()
    age = (frame["age"] - frame["age"].mean()).to_numpy()
    np.testing.assert_allclose(p.rows.columns["hours:age"], hours * age)
    assert p.terms_of["hours:track"] == ["hours:track[T.gen]", "hours:track[T.voc]"]
    assert p.terms_of["track:age"] == ["track[T.gen]:age", "track[T.voc]:age"]
    for level in ("gen", "voc"):
        dummy = (frame["track"] == level).to_numpy(float)
        np.testing.assert_allclose(p.rows.columns[f"hours:track[T.{level}]"], hours * dummy)
        np.testing.assert_allclose(p.rows.columns[f"track[T.{level}]:age"], dummy * age)
        term = p.design.term(f"hours:track[T.{level}]")
        assert term.kind == TermKind.INTERACTION and term.parts == ("hours", f"track[T.{level}]")
    for name in ("hours:age", "hours:track[T.gen]", "track[T.voc]:age"):
        parts = p.design.term(name).parts
        np.testing.assert_allclose(
            p.rows.columns[name], np.prod([p.rows.columns[q] for q in parts], axis=0)
        )


def test_interaction_variable_need_not_be_a_predictor(tmp_path):
    frame = school_frame()
    p = prepared_from(tmp_path, frame, predictors=["hours"], interactions=["hours:sex"])
    assert p.predictors == ["hours"]
    np.testing.assert_allclose(
        p.rows.columns["hours:sex[T.M]"], frame["hours"] * (frame["sex"] == "M").to_numpy(float)
    )
    assert p.design.variable("sex").levels == ("F", "M")


# ---------------------------------------------------------------------------------------------
# what the user can fix


def test_constant_numeric_predictor(tmp_path):
    frame = school_frame().assign(flat=3.0)
    with pytest.raises(InputError, match="'flat'.*constant"):
        prepared_from(tmp_path, frame, predictors=["hours", "flat"])


def test_single_valued_text_predictor(tmp_path):
    frame = school_frame().assign(kind="only")
    with pytest.raises(InputError, match="'kind'.*single value"):
        prepared_from(tmp_path, frame, predictors=["hours", "kind"])


def test_a_predictor_constant_after_dropping_rows(tmp_path):
    frame = school_frame()
    frame["level"] = 1.0
    frame.loc[0, "level"] = 2.0
    frame["score"] = frame["score"].astype(float)
    frame.loc[0, "score"] = np.nan
    with pytest.raises(InputError, match="'level'.*constant"):
        prepared_from(tmp_path, frame, predictors=["level"])


def test_single_group(tmp_path):
    frame = school_frame().assign(school="only")
    with pytest.raises(InputError, match="'school'.*single group"):
        prepared_from(tmp_path, frame, predictors=["hours"])


def test_text_outcome(tmp_path):
    frame = school_frame()
    with pytest.raises(InputError, match="outcome 'track' is text"):
        prepared_from(tmp_path, frame, outcome="track", predictors=["hours"])


def test_constant_outcome(tmp_path):
    frame = school_frame().assign(score=10.0)
    with pytest.raises(InputError, match="outcome 'score' is constant"):
        prepared_from(tmp_path, frame, predictors=["hours"])


@pytest.mark.parametrize(
    "keys",
    [
        {"predictors": ["hours", "shoe_size"]},
        {"predictors": ["hours"], "outcome": "shoe_size"},
        {"predictors": ["hours"], "group": "shoe_size"},
        {"predictors": ["hours"], "interactions": ["hours:shoe_size"]},
        {"predictors": ["hours"], "centering": {"shoe_size": "group"}},
    ],
)
def test_missing_column_is_named(tmp_path, keys):
    with pytest.raises(InputError, match="column 'shoe_size' not found"):
        prepared_from(tmp_path, school_frame(), **keys)


def test_centring_a_text_column(tmp_path):
    with pytest.raises(InputError, match="cannot centre 'track'"):
        prepared_from(
            tmp_path, school_frame(), predictors=["hours", "track"], centering={"track": "group"}
        )


def test_every_row_incomplete(tmp_path):
    frame = school_frame()
    frame["hours"] = np.nan
    with pytest.raises(InputError, match="every row has a missing value in hours"):
        prepared_from(tmp_path, frame, predictors=["hours"])


def test_collinear_predictors(tmp_path):
    frame = school_frame()
    frame["double"] = 2 * frame["hours"]
    with pytest.raises(InputError, match="'double'.*collinear"):
        prepared_from(tmp_path, frame, predictors=["hours", "double"])
