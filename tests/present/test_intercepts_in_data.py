"""A random slope on a variable whose 0 lies outside the data (ages 15-18): the report shows each
group's difference at the variable's mean, not its intercept effect at age 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import fit, write_config

from hlm_analysis.present import captions, figures, level_facts, narrative
from hlm_analysis.present.facts import facts


def _data(tmp_path):
    rng = np.random.default_rng(2)
    frames = []
    for k in range(40):
        age = rng.uniform(15, 18, 30)
        u0, u1 = rng.normal(0, 2), rng.normal(0, 1.5)
        y = 50 + u0 + (1 + u1) * (age - 16.5) + rng.normal(0, 2, 30)
        frames.append(pd.DataFrame({"school": f"S{k:02d}", "age": age.round(2), "score": y}))
    data = pd.concat(frames)
    data["age_c"] = data["age"] - data["age"].mean()
    data.to_csv(tmp_path / "age.csv", index=False)
    return data


def _fit(tmp_path, slope):
    config = write_config(
        tmp_path,
        slope,
        data=tmp_path / "age.csv",
        outcome="score",
        predictors=[slope],
        group="school",
        random_slopes=[slope],
        unit="student",
        group_noun="school",
    )
    results = fit(config, tmp_path / "_output" / slope)
    assert results.final_model.value == "random_slope"
    return results


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("age")
    data = _data(tmp_path)
    return data, _fit(tmp_path, "age"), _fit(tmp_path, "age_c")


def test_the_figure_shows_each_schools_difference_at_the_mean_age(fitted):
    data, results, centred = fitted
    effects = results.final.group_effects
    u = np.array(effects.estimate)
    m = results.data.numeric["age"].mean
    assert m == pytest.approx(data["age"].mean())
    expected = u[:, 0] + u[:, 1] * m
    moved, where = level_facts.effects_in_data(results, effects)
    assert where == "age 16.5, the average"
    assert np.allclose(np.array(moved.estimate)[:, 0], expected)
    assert np.allclose(np.array(moved.estimate)[:, 1], u[:, 1])  # slopes untouched
    # the same model with age centred at its mean: its intercept modes and conditional SEs are
    # the differences at the mean, computed by the fit itself
    other = centred.final.group_effects
    assert other.groups == effects.groups
    assert np.allclose(np.array(moved.estimate)[:, 0], np.array(other.estimate)[:, 0], atol=2e-3)
    assert np.allclose(np.array(moved.std_error)[:, 0], np.array(other.std_error)[:, 0], rtol=2e-3)
    assert level_facts.effects_in_data(centred, other) == (other, "")  # centred: unchanged
    # the drawn points are those differences (named rows, sorted by them)
    fig = figures.plot_caterpillar(results, results.final)
    ax = fig.axes[0]
    drawn = np.sort(ax.lines[0].get_xdata()) if ax.lines else None
    assert drawn is not None and np.allclose(drawn, np.sort(expected))
    assert "age 16.5, the average" in ax.get_title()
    # at age 0 the intercepts span a range many times wider than at the mean
    assert np.ptp(u[:, 0]) > 5 * np.ptp(expected)


def test_the_caption_and_reliability_name_the_point(fitted):
    _, results, centred = fitted
    text = captions.caption("caterpillar", results, results.final)
    text = text.replace("\\", "")  # markdown escapes ("16\\.5")
    assert "the intercept is each school's difference at age 16.5, the average" in text
    assert "difference at" not in captions.caption("caterpillar", centred, centred.final)
    f = facts(results)
    assert f["reliability_at"].replace("\\", "") == "age 16.5, the average"
    # reliability at the mean, from the centred fit's own lambda
    assert float(f["reliability"]) == pytest.approx(
        centred.final.reliability["(Intercept)"], abs=0.01
    )
    assert facts(centred)["reliability_at"] == ""


def _moved_equals_centred(results, effects, centred_effects, where):
    """The effects moved to the mean equal the centred fit's own modes and conditional SEs."""
    moved, said = level_facts.effects_in_data(results, effects)
    assert said == where
    assert len(effects.covariance) == len(effects.groups)  # the fit passed its blocks through
    assert centred_effects.groups == effects.groups
    est, se = np.array(moved.estimate), np.array(moved.std_error)
    other_est, other_se = np.array(centred_effects.estimate), np.array(centred_effects.std_error)
    assert np.allclose(est[:, 0], other_est[:, 0], atol=2e-3)
    assert np.allclose(se[:, 0], other_se[:, 0], rtol=2e-3)
    assert np.allclose(est[:, 1:], np.array(effects.estimate)[:, 1:])  # slopes untouched
    return est


def test_a_yes_no_outcome_moves_its_intercepts_to_the_mean_age(tmp_path):
    rng = np.random.default_rng(5)
    frames = []
    for k in range(40):
        age = rng.uniform(15, 18, 40)
        u0, u1 = rng.normal(0, 0.8), rng.normal(0, 1.0)
        eta = 0.2 + u0 + (0.3 + u1) * (age - 16.5)
        y = (rng.uniform(size=40) < 1 / (1 + np.exp(-eta))).astype(int)
        frames.append(pd.DataFrame({"school": f"S{k:02d}", "age": age.round(2), "passed": y}))
    data = pd.concat(frames)
    data["age_c"] = data["age"] - data["age"].mean()
    data.to_csv(tmp_path / "age.csv", index=False)
    fits = {}
    for slope in ("age", "age_c"):
        config = write_config(
            tmp_path, slope, data=tmp_path / "age.csv", outcome="passed", family="binomial",
            predictors=[slope], group="school", random_slopes=[slope],
        )  # fmt: skip
        fits[slope] = fit(config, tmp_path / "_output" / slope)
        assert fits[slope].final_model.value == "random_slope"
    results, centred = fits["age"], fits["age_c"]
    effects = results.final.group_effects
    est = _moved_equals_centred(
        results, effects, centred.final.group_effects, "age 16.5, the average"
    )
    u = np.array(effects.estimate)
    m = results.data.numeric["age"].mean
    assert np.allclose(est[:, 0], u[:, 0] + u[:, 1] * m)
    text = captions.caption("caterpillar", results, results.final).replace("\\", "")
    assert "difference at age 16.5, the average" in text
    assert "outside the data" not in text


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    """Classes within schools, a random age slope between classes only (ages 15-18): the fit on
    age and the same model on age centred at its mean."""
    tmp_path = tmp_path_factory.mktemp("classes")
    rng = np.random.default_rng(7)
    frames = []
    for s in range(15):
        v0 = rng.normal(0, 2)
        for c in range(4):
            age = rng.uniform(15, 18, 15)
            u0, u1 = rng.normal(0, 1.5), rng.normal(0, 1.5)
            y = 50 + v0 + u0 + (1 + u1) * (age - 16.5) + rng.normal(0, 1, 15)
            frames.append(
                pd.DataFrame(
                    {"school": f"S{s:02d}", "class": f"C{c}", "age": age.round(2), "score": y}
                )
            )
    data = pd.concat(frames)
    data["age_c"] = data["age"] - data["age"].mean()
    data.to_csv(tmp_path / "age.csv", index=False)
    fits = {}
    for slope in ("age", "age_c"):
        config = write_config(
            tmp_path, slope, data=tmp_path / "age.csv", outcome="score", predictors=[slope],
            group=["school", "class"], random_slopes={"class": [slope]},
        )  # fmt: skip
        fits[slope] = fit(config, tmp_path / "_output" / slope)
        assert fits[slope].final_model.value == "random_slope"
    return fits["age"], fits["age_c"]


def test_two_levels_move_only_the_level_with_the_slope(classes):
    # the class intercepts move to the mean age, the school intercepts (no slope) stay as they are
    results, centred = classes
    levels_of = {lv.level: lv.group_effects for lv in results.final.levels}
    centred_of = {lv.level: lv.group_effects for lv in centred.final.levels}
    _moved_equals_centred(results, levels_of["class"], centred_of["class"], "age 16.5, the average")
    school = levels_of["school"]
    assert school.terms == ("(Intercept)",)
    assert len(school.covariance) == len(school.groups)
    assert level_facts.effects_in_data(results, school) == (school, "")
    assert np.allclose(
        np.array(school.estimate), np.array(centred_of["school"].estimate), atol=2e-3
    )
    text = captions.caption("caterpillar", results, results.final).replace("\\", "")
    assert "the intercepts are the differences at age 16.5, the average" in text


def test_the_intercept_variance_reduction_is_read_at_the_mean(fitted):
    # the final model's intercept variance at age 0 set beside the null model's read 'reduces
    # the (intercept) variance between schools by -13,871%'; at the mean age it is the centred
    # fit's own reduction (REML is the same model with age shifted)
    _, results, centred = fitted
    f = facts(results)
    assert f["level2_at"].replace("\\", "") == "age 16.5, the average"
    expected = centred.final.variance_explained_level2
    assert abs(results.final.variance_explained_level2) > 1  # at age 0: meaningless
    from hlm_analysis.present import fmt

    assert f["level2_explained"] == fmt.pct(expected)
    assert facts(centred)["level2_at"] == ""
    assert facts(centred)["level2_explained"] == fmt.pct(expected)


def test_each_levels_reliability_and_reduction_are_read_at_the_mean(classes):
    # several levels: the class intercepts' reliability and the reduction of their variance were
    # read at age 0 (the model's own reliability_mean, variance_explained); at the mean age they
    # are the centred fit's own, and the sentence names the point
    results, centred = classes
    by_level = {lv.level: lv for lv in results.final.levels}
    centred_of = {lv.level: lv for lv in centred.final.levels}
    cls, own = by_level["class"], centred_of["class"]
    moved, where = level_facts.intercept_reliability_in_data(
        results, results.final, "class", cls.group_effects
    )
    assert where == "age 16.5, the average"
    assert moved == pytest.approx(own.reliability_mean, abs=1e-6)  # 4e-12 here
    assert abs(cls.reliability_mean - own.reliability_mean) > 0.02  # at age 0: another number
    reduction = level_facts.intercept_reduction_in_data(
        results, results.final, "class", cls.group_effects
    )
    assert reduction == pytest.approx(own.variance_explained, abs=1e-6)  # -11%; 1.5e-11 here
    assert abs(cls.variance_explained - own.variance_explained) > 0.5
    f = facts(results)
    tiers = {t["column"]: t for t in f["levels"]["tiers"]}
    centred_tiers = {t["column"]: t for t in facts(centred)["levels"]["tiers"]}
    for key in ("reliability", "explained", "explained_grew"):
        assert tiers["class"][key] == centred_tiers["class"][key], key
        assert tiers["school"][key] == centred_tiers["school"][key], key  # no slope: as it was
    assert tiers["class"]["intercept_at"].replace("\\", "") == "age 16.5, the average"
    assert tiers["school"]["intercept_at"] == "" and centred_tiers["class"]["intercept_at"] == ""
    # the sentences (at age 0 they read 'by 30,635%' and a class reliability of 0.95)
    text = narrative.interpretation(f).replace("\\", "")
    assert "variance between schools by 11%" in text
    assert "variance between classes within schools (at age 16.5, the average) by 11%" in text
    assert "0.89 for schools, 0.76 for classes (at age 16.5, the average):" in text


def test_a_yes_no_outcome_with_several_levels_moves_the_slope_levels_intercepts(tmp_path):
    # pupils in classes in schools, a yes/no outcome, a random age slope between schools (ages
    # 15-18): the school intercepts, their SEs and reliability at the mean age equal the fit on
    # age centred at its mean (Laplace is the same criterion with age shifted); the classes,
    # without a slope, stay as they are
    rng = np.random.default_rng(11)
    frames = []
    for s in range(30):
        v0, v1 = rng.normal(0, 0.7), rng.normal(0, 0.8)
        for c in range(3):
            age = rng.uniform(15, 18, 20)
            eta = 0.2 + v0 + rng.normal(0, 0.5) + (0.4 + v1) * (age - 16.5)
            y = (rng.uniform(size=20) < 1 / (1 + np.exp(-eta))).astype(int)
            frames.append(
                pd.DataFrame(
                    {"school": f"S{s:02d}", "class": f"C{c}", "age": age.round(2), "passed": y}
                )
            )
    data = pd.concat(frames)
    data["age_c"] = data["age"] - data["age"].mean()
    data.to_csv(tmp_path / "age.csv", index=False)
    fits = {}
    for slope in ("age", "age_c"):
        config = write_config(
            tmp_path, slope, data=tmp_path / "age.csv", outcome="passed", family="binomial",
            predictors=[slope], group=["school", "class"], random_slopes={"school": [slope]},
        )  # fmt: skip
        fits[slope] = fit(config, tmp_path / "_output" / slope)
        assert fits[slope].final_model.value == "random_slope"
    results, centred = fits["age"], fits["age_c"]
    by_level = {lv.level: lv for lv in results.final.levels}
    centred_of = {lv.level: lv for lv in centred.final.levels}
    school, own = by_level["school"].group_effects, centred_of["school"].group_effects
    est = _moved_equals_centred(results, school, own, "age 16.5, the average")
    u, m = np.array(school.estimate), results.data.numeric["age"].mean
    assert np.allclose(est[:, 0], u[:, 0] + u[:, 1] * m)
    assert np.ptp(u[:, 0]) > 5 * np.ptp(est[:, 0])  # at age 0: an extrapolation
    cls = by_level["class"].group_effects
    assert level_facts.effects_in_data(results, cls) == (cls, "")
    assert np.allclose(cls.estimate, centred_of["class"].group_effects.estimate, atol=1e-6)
    moved, where = level_facts.intercept_reliability_in_data(
        results, results.final, "school", school
    )
    assert where == "age 16.5, the average"
    assert moved == pytest.approx(centred_of["school"].reliability_mean, abs=1e-6)
    text = narrative.interpretation(facts(results)).replace("\\", "")
    assert f"{moved:.2f} for schools (at age 16.5, the average)" in text
    caption = captions.caption("caterpillar", results, results.final).replace("\\", "")
    assert "age 16.5, the average" in caption
