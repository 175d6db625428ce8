"""Profile facts: index entries are results.json's numbers, rank intervals are honest, small
groups carry no numbers, and the verdict follows the interval."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from helpers import FIXTURES, fixture_results

from hlm_analysis.errors import InputError
from hlm_analysis.present import profiles, ranks
from hlm_analysis.results import INTERCEPT

NUMBERS = ("n", "estimate", "std_error", "ci_low", "ci_high", "rank", "rank_low", "rank_high")


@pytest.mark.parametrize("name", ["hsb2", "schools", "graduation"])
def test_index_estimates_are_results_json_group_effects_exactly(name):
    raw = json.loads((FIXTURES / name / "results.json").read_text())
    effects = raw["models"][raw["final_model"]]["group_effects"]
    k = effects["terms"].index(INTERCEPT)
    entries, settings = profiles.index_entries(fixture_results(name), min_size=1)
    assert [e["id"] for e in entries] == effects["groups"]
    for entry, est, se in zip(entries, effects["estimate"], effects["std_error"], strict=True):
        assert entry["estimate"] == est[k]  # the same float, not a recomputation
        assert entry["std_error"] == se[k]
        assert entry["ci_low"] < entry["estimate"] < entry["ci_high"]
        assert entry["ci_high"] - entry["ci_low"] == pytest.approx(2 * 1.959964 * se[k])
        assert entry["rank_low"] <= entry["rank"] <= entry["rank_high"]
        assert list(entry) == list(profiles.INDEX_FIELDS)
    assert settings["n_groups"] == len(effects["groups"])
    # the index survives JSON unchanged: what a reader of index.json gets back is the same float
    assert json.loads(json.dumps(entries))[0]["estimate"] == effects["estimate"][0][k]


def _independent_rank_bounds(est, se, draws, seed):
    """A second implementation: scipy's ranking of each draw, percentiles by sorting."""
    from scipy.stats import rankdata

    rng = np.random.Generator(np.random.MT19937(seed))  # another generator altogether
    sims = rng.normal(est, se, size=(draws, len(est)))
    places = np.vstack([rankdata(-row, method="min") for row in sims])
    places.sort(axis=0)
    return places[int(0.025 * draws)], places[int(np.ceil(0.975 * draws)) - 1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rank_intervals_agree_with_an_independent_simulation(seed):
    rng = np.random.default_rng(seed)
    est = rng.normal(0, 1.0, 60)
    se = rng.uniform(0.1, 0.8, 60)
    got = ranks.rank_intervals(est, se)
    low, high = _independent_rank_bounds(est, se, 20000, seed)
    assert np.all(got.low <= got.rank) and np.all(got.rank <= got.high)
    # 1,000 draws against 20,000: percentiles of ranks agree within a few places
    assert np.abs(got.low - low).max() <= 3
    assert np.abs(got.high - high).max() <= 3
    assert np.mean(np.abs(got.low - low)) < 1.0 and np.mean(np.abs(got.high - high)) < 1.0


def test_rank_intervals_shrink_to_the_rank_when_effects_are_certain_and_span_all_when_not():
    est = np.linspace(-2, 2, 9)
    sure = ranks.rank_intervals(est, np.full(9, 1e-6))
    assert sure.rank.tolist() == list(range(9, 0, -1))  # 1 = the highest estimate
    assert (sure.low == sure.rank).all() and (sure.high == sure.rank).all()
    unsure = ranks.rank_intervals(est, np.full(9, 100.0))
    assert (unsure.low <= 2).all() and (unsure.high >= 8).all()


def test_rank_intervals_are_seeded():
    est, se = np.arange(30.0), np.full(30, 5.0)
    a, b = ranks.rank_intervals(est, se), ranks.rank_intervals(est, se)
    assert (a.low == b.low).all() and (a.high == b.high).all()


def test_ties_share_the_best_rank():
    assert ranks.ranks_descending(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [1, 4, 1, 3]


def _with_sizes(results, sizes):
    groups = dataclasses.replace(results.data.groups, n=tuple(sizes))
    return dataclasses.replace(results, data=dataclasses.replace(results.data, groups=groups))


def test_groups_below_min_size_carry_their_id_and_suppressed_only():
    results = fixture_results("schools")
    sizes = [3 + i for i in range(len(results.data.groups.n))]  # 3 .. 22 rows
    entries, settings = profiles.index_entries(_with_sizes(results, sizes), min_size=12)
    assert settings["threshold"] == 12
    for entry, n in zip(entries, sizes, strict=True):
        assert entry["suppressed"] is (n < 12)
        if n < 12:
            assert all(entry[k] is None for k in NUMBERS)
            assert entry["files"] == []
        else:
            assert entry["n"] == n and entry["estimate"] is not None


def test_min_cell_is_a_floor_under_min_size():
    results = fixture_results("schools")
    spec = results.spec.model_copy(update={"min_cell": 31})
    entries, settings = profiles.index_entries(dataclasses.replace(results, spec=spec), min_size=1)
    assert settings["threshold"] == 31
    assert all(e["suppressed"] for e in entries)  # every school has 30 rows


def test_a_final_model_without_a_random_intercept_is_refused():
    results = fixture_results("hsb2")
    final = dataclasses.replace(results.final, group_effects=None)
    models = {**results.models, results.final_model: final}
    with pytest.raises(InputError, match="no random intercept"):
        profiles.index_entries(dataclasses.replace(results, models=models))


@pytest.mark.parametrize(
    "low, high, verdict", [(0.2, 3.0, "above"), (-3.0, -0.1, "below"), (-1.0, 2.0, "")]
)
def test_the_verdict_follows_the_interval(low, high, verdict):
    results = fixture_results("schools")
    entries, _ = profiles.index_entries(results, min_size=1)
    entry = {**entries[0], "ci_low": low, "ci_high": high, "estimate": (low + high) / 2}
    assert profiles.profile(results, entry).verdict == verdict


def test_a_profile_uses_the_lexicon_and_the_models_slopes():
    results = fixture_results("schools")
    entries, _ = profiles.index_entries(results, min_size=1)
    p = profiles.profile(results, entries[0])
    assert p.words.group.one == "school" and p.words.unit.many == "students"
    assert [s.label for s in p.slopes] == ["Gender"]
    assert p.slopes[0].per == "(Gender = Male against Gender = Female)"
    with pytest.raises(ValueError):
        profiles.profile(results, {**entries[0], "suppressed": True})


def test_a_yes_no_outcome_speaks_in_odds_ratios_against_1():
    results = fixture_results("graduation")
    entries, _ = profiles.index_entries(results, min_size=1)
    entry = entries[0]
    p = profiles.profile(results, entry)
    assert p.binomial and p.no_difference == "1"
    assert float(p.difference) == pytest.approx(np.exp(entry["estimate"]), rel=5e-3)
    assert p.mean.endswith("%") and p.mean_all.endswith("%")
    assert all(s.per.endswith("(in log-odds)") for s in p.slopes)


def test_ranks_are_places_among_the_groups_with_a_profile():
    """Ranked among all, the published pages' ranks had gaps (6 missing between two pages; the
    last place missing when a suppressed group had the lowest effect) that placed every
    suppressed group among the published ones on the public site."""
    results = fixture_results("graduation")  # 40 groups of 32 to 100+ rows
    everyone, _ = profiles.index_entries(results, min_size=1)
    cut = sorted(e["n"] for e in everyone)[5] + 1  # some groups below min_size
    entries, settings = profiles.index_entries(results, min_size=cut)
    shown = [e for e in entries if not e["suppressed"]]
    assert 0 < len(shown) < len(entries)
    assert sorted(e["rank"] for e in shown) == list(range(1, len(shown) + 1))
    assert max(e["rank_high"] for e in shown) <= len(shown) == settings["n_ranked"]
    p = profiles.profile(results, shown[0], ranked=settings["n_ranked"])
    assert p.n_ranked == str(len(shown))


def test_too_few_groups_for_a_random_effect_are_said_on_the_page():
    """hsb2's 3 groups: the report says too few for a random effect; the profiles said
    'above similar groups' with no word of it."""
    few = fixture_results("hsb2")
    entries, _ = profiles.index_entries(few, min_size=1)
    assert profiles.profile(few, entries[0]).few_groups == "3"
    many = fixture_results("schools")
    entries, _ = profiles.index_entries(many, min_size=1)
    assert profiles.profile(many, entries[0]).few_groups == ""
