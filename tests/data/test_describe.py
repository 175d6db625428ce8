"""Descriptives of the analysis sample (data/describe.py) against pandas computed by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import write_config

from hlm_analysis import rules
from hlm_analysis.data import prepare
from hlm_analysis.data.describe import describe
from hlm_analysis.spec import load_spec

# Group sizes around the 'tiny' threshold (rules.TINY_GROUP = 5): 1, 3 and 4 are tiny, 5 is not.
SIZES = {"a": 5, "b": 1, "c": 8, "d": 3, "e": 4, "f": 6}
MISSING_SCORE = [2, 11]  # rows of group a and group c
MISSING_HOURS = [11, 20]  # row 11 misses both; row 20 is in group e


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    school = np.repeat(list(SIZES), list(SIZES.values()))
    n = len(school)
    f = pd.DataFrame(
        {
            "school": school,
            "score": np.round(rng.normal(60, 10, n), 2),
            "hours": np.round(rng.uniform(0, 12, n), 2),
            "age": np.round(rng.uniform(14, 18, n), 1),
            "sex": rng.choice(["F", "M"], n),
            "track": (["gen", "acad", "voc"] * n)[:n],
        }
    )
    f.loc[MISSING_SCORE, "score"] = np.nan
    f.loc[MISSING_HOURS, "hours"] = np.nan
    return f


@pytest.fixture
def data(tmp_path):
    raw = frame()
    csv = tmp_path / "data.csv"
    raw.to_csv(csv, index=False)
    spec = load_spec(
        write_config(
            tmp_path,
            data=csv,
            outcome="score",
            group="school",
            predictors=["hours", "sex", "track"],
            interactions=["hours:age"],
            centering={"hours": "grand"},
            contextual=["hours"],
        )
    )
    prepared = prepare(spec)
    used = ["score", "school", "hours", "sex", "track", "age"]
    sample = raw.dropna(subset=used).reset_index(drop=True)
    sample["hours_mean"] = sample.groupby("school")["hours"].transform("mean")
    sample["hours_centred"] = sample["hours"] - sample["hours"].mean()
    return raw, sample, prepared, describe(prepared)


def test_counts_and_drops(data):
    raw, sample, prepared, summary = data
    assert summary.n_rows_read == len(raw) == sum(SIZES.values())
    assert summary.n_obs == len(sample) == len(raw) - 3
    assert summary.rows_dropped == 3
    assert summary.dropped_by_column == {"score": 2, "hours": 2}


def test_group_sizes_and_tiny_groups(data):
    raw, sample, prepared, summary = data
    sizes = sample["school"].value_counts().sort_index()
    assert summary.n_groups == len(SIZES)
    assert summary.group_size.min == sizes.min() == 1
    assert summary.group_size.max == sizes.max() == 7
    assert summary.group_size.mean == pytest.approx(sizes.mean())
    tiny = int((sizes < rules.TINY_GROUP.value).sum())
    # a (5 - 1), b (1), d (3) and e (4 - 1) are below 5; c (8 - 1) and f (6) are not
    assert summary.n_tiny_groups == tiny == 4


def test_tiny_groups_follow_the_rule(data, monkeypatch):
    _, sample, prepared, _ = data
    monkeypatch.setattr(rules, "TINY_GROUP", rules.Rule("test", 2, "test"))
    assert describe(prepared).n_tiny_groups == 1  # only the group of one
    monkeypatch.setattr(rules, "TINY_GROUP", rules.Rule("test", 100, "test"))
    assert describe(prepared).n_tiny_groups == len(SIZES)


def test_numeric_summaries_equal_pandas(data):
    _, sample, prepared, summary = data
    mean_name = prepared.design.group_mean_of("hours")
    assert list(summary.numeric) == ["score", "hours", mean_name, "age"]
    columns = {"score": "score", "hours": "hours", mean_name: "hours_mean", "age": "age"}
    for name, column in columns.items():
        values = sample[column].to_numpy(float)
        s = summary.numeric[name]
        assert s.n == len(values)
        assert s.mean == pytest.approx(values.mean(), abs=1e-12)
        assert s.sd == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        assert s.min == pytest.approx(values.min())
        assert s.max == pytest.approx(values.max())
        assert s.median == pytest.approx(np.median(values))
    # the grand-centred variable is described as measured; its centred scale is kept beside
    assert list(summary.model_scale) == ["hours"]
    centred = sample["hours_centred"].to_numpy(float)
    assert summary.model_scale["hours"].mean == pytest.approx(0, abs=1e-12)
    assert summary.model_scale["hours"].min == pytest.approx(centred.min())
    assert summary.model_scale["hours"].median == pytest.approx(np.median(centred))
    assert summary.model_scale["hours"].sd == pytest.approx(summary.numeric["hours"].sd)


def test_sd_uses_n_minus_one(data):
    _, sample, _, summary = data
    values = sample["score"].to_numpy(float)
    n = len(values)
    by_hand = np.sqrt(((values - values.mean()) ** 2).sum() / (n - 1))
    assert summary.numeric["score"].sd == pytest.approx(by_hand, rel=1e-12)
    assert summary.numeric["score"].sd != pytest.approx(values.std(ddof=0), rel=1e-6)


def test_categorical_counts(data):
    _, sample, _, summary = data
    assert list(summary.categorical) == ["sex", "track"]
    for var in ("sex", "track"):
        counts = sample[var].value_counts()
        levels = summary.categorical[var]
        assert [lc.level for lc in levels] == sorted(counts.index)
        assert [lc.n for lc in levels] == [int(counts[lc.level]) for lc in levels]
        assert sum(lc.n for lc in levels) == summary.n_obs


def test_correlations(data):
    _, sample, _, summary = data
    names = summary.correlations.variables
    assert names == tuple(summary.numeric)
    columns = ["score", "hours", "hours_mean", "age"]
    expected = np.corrcoef(sample[columns].to_numpy(float).T)
    np.testing.assert_allclose(np.array(summary.correlations.matrix), expected, atol=1e-12)


def test_group_table(data):
    _, sample, _, summary = data
    g = summary.groups
    assert g.labels == tuple(sorted(SIZES))
    for i, label in enumerate(g.labels):
        scores = sample.loc[sample["school"] == label, "score"].to_numpy(float)
        assert g.n[i] == len(scores)
        assert g.outcome_mean[i] == pytest.approx(scores.mean())
        expected_sd = np.std(scores, ddof=1) if len(scores) > 1 else 0.0
        assert g.outcome_sd[i] == pytest.approx(expected_sd)
    assert g.outcome_sd[g.labels.index("b")] == 0.0  # a group of one has no spread


def test_group_ranges_kept_when_a_group_is_below_the_privacy_cut(data):
    """Groups b, d and e have fewer than 5 rows: each numeric variable's per-group range is
    kept, so the data table can give minima and maxima over the groups it shows."""
    _, sample, prepared, summary = data
    g = summary.groups
    mean_name = prepared.design.group_mean_of("hours")
    columns = {"score": "score", "hours": "hours", mean_name: "hours_mean", "age": "age"}
    assert set(g.low) == set(g.high) == set(columns)
    for name, column in columns.items():
        by_group = sample.groupby("school")[column]
        assert g.low[name] == pytest.approx(tuple(by_group.min()[list(g.labels)]))
        assert g.high[name] == pytest.approx(tuple(by_group.max()[list(g.labels)]))
    # no group below the cut (min_cell 1, profiles: min_size 1): nothing more is written
    spec = prepared.spec.model_copy(
        update={
            "min_cell": 1,
            "profiles": prepared.spec.profiles.model_copy(update={"min_size": 1}),
        }
    )
    assert describe(replace(prepared, spec=spec)).groups.low == {}


def test_single_numeric_variable(tmp_path):
    raw = frame().dropna()
    csv = tmp_path / "data.csv"
    raw.to_csv(csv, index=False)
    spec = load_spec(
        write_config(tmp_path, data=csv, outcome="score", group="school", predictors=["sex"])
    )
    summary = describe(prepare(spec))
    assert list(summary.numeric) == ["score"]
    assert summary.correlations.variables == ("score",)
    assert summary.correlations.matrix == ((1.0,),)
    assert summary.rows_dropped == 0 and summary.dropped_by_column == {}
