"""Model-based predictions for the figures (present/predictions.py), checked by hand."""

from __future__ import annotations

from dataclasses import replace
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from helpers import FIXTURES, REFERENCE, TESTS, fit, write_config

from hlm_analysis.present.predictions import (
    group_probabilities,
    group_slope_lines,
    interaction_lines,
    linear_prediction,
    predictor_probabilities,
    qq_points,
)
from hlm_analysis.results import GroupEffects, ModelName


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    """exam.csv with a numeric-by-categorical interaction (random intercepts only)."""
    tmp = tmp_path_factory.mktemp("exam_interaction")
    config = write_config(
        tmp,
        data=REFERENCE / "exam.csv",
        outcome="normexam",
        predictors=["standLRT", "sex"],
        group="school",
        interactions=["standLRT:sex"],
    )
    return fit(config, tmp / "out")


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope, and the line must be straight."""
    b, a = np.polyfit(x, y, 1)
    np.testing.assert_allclose(y, a + b * x, atol=1e-9)
    return b


# ---------------------------------------------------------------------------------------------
# linear_prediction


def test_linear_prediction_fit_and_band():
    rng = np.random.default_rng(5)
    rows = np.column_stack([np.ones(12), rng.normal(size=(12, 2))])
    beta = np.array([1.0, -2.0, 0.5])
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + 0.1 * np.eye(3)
    fitted, low, high = linear_prediction(rows, beta, cov)
    np.testing.assert_allclose(fitted, [r @ beta for r in rows], rtol=1e-12)
    np.testing.assert_allclose(high - fitted, fitted - low, rtol=1e-12)
    z = NormalDist().inv_cdf(0.975)
    se = np.array([np.sqrt(r @ cov @ r) for r in rows])
    np.testing.assert_allclose((high - low) / 2, z * se, rtol=1e-12)
    assert np.all(low < fitted) and np.all(fitted < high)


def test_linear_prediction_level_sets_the_width():
    rows = np.array([[1.0, 0.0], [1.0, 2.0]])
    beta = np.array([3.0, 1.0])
    cov = np.array([[0.25, 0.0], [0.0, 0.04]])
    fitted, low, high = linear_prediction(rows, beta, cov, level=0.90)
    se = np.sqrt([0.25, 0.25 + 4 * 0.04])
    np.testing.assert_allclose(fitted, [3.0, 5.0])
    np.testing.assert_allclose(high - fitted, NormalDist().inv_cdf(0.95) * se, rtol=1e-12)


def test_linear_prediction_without_uncertainty_has_no_band():
    rows = np.array([[1.0, 2.0]])
    fitted, low, high = linear_prediction(rows, np.array([1.0, 1.0]), np.zeros((2, 2)))
    assert fitted[0] == low[0] == high[0] == 3.0


# ---------------------------------------------------------------------------------------------
# qq_points


def test_qq_points_blom_positions_and_standardised_values():
    rng = np.random.default_rng(9)
    values = rng.gamma(2.0, size=25)
    theoretical, sample = qq_points(values)
    n = len(values)
    expected_theory = [NormalDist().inv_cdf((i - 0.375) / (n + 0.25)) for i in range(1, n + 1)]
    np.testing.assert_allclose(theoretical, expected_theory, rtol=1e-10)
    ordered = sorted(values)
    mean = sum(ordered) / n
    sd = (sum((v - mean) ** 2 for v in ordered) / (n - 1)) ** 0.5
    np.testing.assert_allclose(sample, [(v - mean) / sd for v in ordered], rtol=1e-10)
    assert np.all(np.diff(sample) >= 0)
    np.testing.assert_allclose(theoretical, -theoretical[::-1], atol=1e-12)  # symmetric
    assert sample.std(ddof=1) == pytest.approx(1.0)


def test_qq_points_accepts_lists_and_degenerate_input():
    theoretical, sample = qq_points([3.0])
    assert theoretical == pytest.approx([0.0]) and sample == pytest.approx([0.0])
    theoretical, sample = qq_points([2.0, 2.0, 2.0])
    assert np.all(np.isfinite(sample)) and np.all(sample == 0)
    assert theoretical[1] == pytest.approx(0.0)


# ---------------------------------------------------------------------------------------------
# interaction_lines


def test_interaction_lines_one_line_per_level_with_the_level_slope(exam):
    model = exam.models[ModelName.INTERACTION]
    lines = interaction_lines(exam, model, "standLRT:sex")
    sex = exam.design.variable("sex")
    assert [line["name"] for line in lines["lines"]] == list(sex.levels) == ["F", "M"]
    x = lines["x"]
    numeric = exam.data.numeric["standLRT"]
    assert x[0] == pytest.approx(numeric.min) and x[-1] == pytest.approx(numeric.max)
    beta = {fe.term: fe.estimate for fe in model.fixed_effects}
    main = beta["standLRT"]
    assert beta["standLRT:sex[T.M]"] != 0
    expected_slopes = {"F": main, "M": main + beta["standLRT:sex[T.M]"]}
    for line in lines["lines"]:
        assert slope(x, line["fit"]) == pytest.approx(expected_slopes[line["name"]], rel=1e-9)
    female, male = (line["fit"] for line in lines["lines"])
    np.testing.assert_allclose(
        female, beta["(Intercept)"] + main * x, rtol=1e-9, atol=1e-12
    )  # the reference level: every dummy 0
    np.testing.assert_allclose(
        male - female, beta["sex[T.M]"] + beta["standLRT:sex[T.M]"] * x, rtol=1e-9, atol=1e-12
    )
    for line in lines["lines"]:
        assert np.all(line["low"] < line["fit"]) and np.all(line["fit"] < line["high"])
    assert lines["x_label"] == "standLRT" and lines["moderator_label"] == "sex"
    assert lines["y_label"] == "normexam"


def test_interaction_lines_band_from_the_covariance(exam):
    model = exam.models[ModelName.INTERACTION]
    lines = interaction_lines(exam, model, "standLRT:sex")
    terms = [fe.term for fe in model.fixed_effects]
    cov = np.array(model.fixed_cov)
    x = lines["x"]
    male = lines["lines"][1]
    design = np.zeros((len(x), len(terms)))
    design[:, terms.index("(Intercept)")] = 1
    design[:, terms.index("standLRT")] = x
    design[:, terms.index("sex[T.M]")] = 1
    design[:, terms.index("standLRT:sex[T.M]")] = x
    se = np.sqrt(np.einsum("ij,jk,ik->i", design, cov, design))
    np.testing.assert_allclose(male["high"] - male["fit"], 1.959963984540054 * se, rtol=1e-9)


def test_interaction_lines_numeric_moderator_at_mean_and_one_sd(hsb2):
    model = hsb2.models[ModelName.INTERACTION]
    lines = interaction_lines(hsb2, model, "read:math")
    beta = {fe.term: fe.estimate for fe in model.fixed_effects}
    numeric = hsb2.data.numeric
    m, sd = numeric["math"].mean, numeric["math"].sd
    assert len(lines["lines"]) == 3
    assert [line["name"].split(" (")[0] for line in lines["lines"]] == [
        "mean − 1 SD",
        "mean",
        "mean + 1 SD",
    ]
    x = lines["x"]
    assert x[0] == pytest.approx(numeric["read"].min) and x[-1] == pytest.approx(
        numeric["read"].max
    )
    others = beta["science"] * numeric["science"].mean + beta["socst"] * numeric["socst"].mean
    for line, at in zip(lines["lines"], (m - sd, m, m + sd), strict=True):
        assert slope(x, line["fit"]) == pytest.approx(
            beta["read"] + beta["read:math"] * at, rel=1e-9
        )
        expected = beta["(Intercept)"] + beta["read"] * x + beta["math"] * at + others
        expected = expected + beta["read:math"] * x * at
        np.testing.assert_allclose(line["fit"], expected, rtol=1e-9)
    assert lines["x_label"] == "Reading score" and lines["moderator_label"] == "Mathematics score"


def test_interaction_lines_not_drawable(hsb2, exam):
    model = exam.models[ModelName.INTERACTION]
    assert interaction_lines(exam, model, "standLRT:sex:school") is None  # three parts
    assert interaction_lines(hsb2, hsb2.models[ModelName.INTERACTION], "read") is None


# ---------------------------------------------------------------------------------------------
# group_slope_lines


def test_group_slope_lines_none_without_random_slopes(exam, hsb2):
    for results in (exam, hsb2):
        assert ModelName.RANDOM_SLOPE not in results.models
        for model in results.mixed_models:
            assert len(model.group_effects.terms) == 1
            assert group_slope_lines(results, model) is None
        ols = results.models[ModelName.OLS]
        assert ols.group_effects is None
        assert group_slope_lines(results, ols) is None


def test_group_slope_lines_for_a_dummy_slope(schools):
    model = schools.models[ModelName.RANDOM_SLOPE]
    lines = group_slope_lines(schools, model)
    slope_term = model.group_effects.terms[1]
    assert slope_term == "StudentGender[T.Male]"
    np.testing.assert_array_equal(lines["x"], [0.0, 1.0])
    assert lines["ticks"] == ["Female", "Male"]
    beta = {fe.term: fe.estimate for fe in model.fixed_effects}
    numeric = schools.data.numeric
    at_means = beta["(Intercept)"] + sum(
        beta[v] * numeric[v].mean for v in ("SchoolQuality", "StudentAge")
    )
    np.testing.assert_allclose(lines["fit"], [at_means, at_means + beta[slope_term]], rtol=1e-9)
    est = np.array(model.group_effects.estimate)
    assert lines["n_groups"] == len(est) == lines["n_groups_shown"]
    # each school's own line: the fixed part at its own quality rating (a level-2 variable) plus
    # its random effects; age (level 1) at the overall mean
    rows = pd.read_parquet(FIXTURES / "schools" / "rows.parquet")
    quality = rows.groupby("SchoolID")["SchoolQuality"].first()
    age = rows["StudentAge"].mean()
    for g, (line, (u0, u1)) in enumerate(zip(lines["groups"], est, strict=True)):
        q = quality[model.group_effects.groups[g]]
        start = beta["(Intercept)"] + beta["SchoolQuality"] * q + beta["StudentAge"] * age + u0
        np.testing.assert_allclose(line, [start, start + beta[slope_term] + u1], rtol=1e-9)
    assert lines["x_label"] == "Gender: Male (vs Female)"


def test_group_slope_lines_numeric_slope(schools):
    # The same model as if its slope were on a numeric variable: the x grid spans that variable.
    model = schools.models[ModelName.RANDOM_SLOPE]
    effects = model.group_effects
    # without the final model's group-specific lines: the average line shifted by the effects
    numeric_effects = replace(effects, terms=(effects.terms[0], "StudentAge"), lines=())
    lines = group_slope_lines(schools, replace(model, group_effects=numeric_effects))
    age = schools.data.numeric["StudentAge"]
    assert lines["x"][0] == pytest.approx(age.min) and lines["x"][-1] == pytest.approx(age.max)
    beta = {fe.term: fe.estimate for fe in model.fixed_effects}
    assert slope(lines["x"], lines["fit"]) == pytest.approx(beta["StudentAge"], rel=1e-9)
    u0, u1 = effects.estimate[0]
    assert slope(lines["x"], lines["groups"][0]) == pytest.approx(beta["StudentAge"] + u1)
    assert lines["ticks"] is None


@pytest.mark.parametrize(("n_groups", "max_groups"), [(20, 8), (79, 40)])
def test_group_slope_lines_shows_at_most_max_groups(schools, n_groups, max_groups):
    model = schools.models[ModelName.RANDOM_SLOPE]
    rng = np.random.default_rng(1)
    effects = GroupEffects(
        terms=model.group_effects.terms,
        groups=tuple(str(i) for i in range(n_groups)),
        estimate=tuple(map(tuple, rng.normal(size=(n_groups, 2)))),
        std_error=tuple(map(tuple, np.ones((n_groups, 2)))),
    )
    lines = group_slope_lines(schools, replace(model, group_effects=effects), max_groups)
    assert lines["n_groups"] == n_groups
    assert lines["n_groups_shown"] == len(lines["groups"]) <= max_groups


# ---------------------------------------------------------------------------------------------
# Binary outcomes: average predictions over the observed rows (issue 21, item 6)


def _expit(eta):
    return 1.0 / (1.0 + np.exp(-eta))


def test_average_predictions_are_the_rows_own_predictions_averaged(graduation):
    """An independent numpy computation on the data file: every row with one predictor set, in
    its own group (intercept and Absences slope at the group's modes), the probabilities
    averaged; the data as observed is the mean of the fitted probabilities the figures draw."""
    model = graduation.final
    frame = pd.read_csv(TESTS.parent / "data" / "graduation.csv")  # the fixture's data
    beta = {fe.term: fe.estimate for fe in model.fixed_effects}
    effects = model.group_effects
    modes = dict(zip(effects.groups, np.array(effects.estimate), strict=True))
    u = np.array([modes[g] for g in frame["School"].astype(str)])
    assert effects.terms == ("(Intercept)", "Absences")

    def average(mentoring, free_lunch, absences):
        eta = (beta["(Intercept)"] + beta["Mentoring[T.yes]"] * mentoring
               + beta["FreeLunch[T.yes]"] * free_lunch + beta["Absences"] * absences
               + u[:, 0] + u[:, 1] * absences)  # fmt: skip
        return _expit(eta).mean()

    mentoring = (frame["Mentoring"] == "yes").to_numpy(float)
    free_lunch = (frame["FreeLunch"] == "yes").to_numpy(float)
    absences = frame["Absences"].to_numpy(float)
    rows = pd.read_parquet(FIXTURES / "graduation" / "rows.parquet")
    observed, *rest = model.average_predictions
    assert observed.estimate == pytest.approx(average(mentoring, free_lunch, absences), abs=1e-12)
    assert observed.estimate == pytest.approx(rows["fitted:random_slope"].mean(), abs=1e-9)
    # the class of the 'typical member' error: the average sits with the data, not 15% from it
    assert abs(observed.estimate - rows["Graduated"].mean()) < 0.01
    for a in rest:
        setting = {"Mentoring": mentoring, "FreeLunch": free_lunch, "Absences": absences}
        setting[a.variable] = a.value if a.level is None else float(a.level == "yes")
        want = average(setting["Mentoring"], setting["FreeLunch"], setting["Absences"])
        assert a.estimate == pytest.approx(want, abs=1e-12), a


def test_categorical_predictors_are_points_numeric_ones_curves(graduation):
    model = graduation.final
    panels = {p["variable"]: p for p in predictor_probabilities(graduation, model)}
    # the question's predictor first, then the random slope's, then the rest
    assert list(panels) == ["Mentoring", "Absences", "FreeLunch"]
    for name in ("Mentoring", "FreeLunch"):
        panel = panels[name]
        assert panel["kind"] == "points"
        assert panel["levels"] == list(graduation.design.variable(name).levels)
    curve = panels["Absences"]
    assert curve["kind"] == "curve" and len(curve["x"]) == len(curve["fit"]) > 2
    assert np.all(np.diff(curve["x"]) > 0)
    for panel in panels.values():
        assert np.all((0 <= panel["low"]) & (panel["low"] <= panel["fit"]))
        assert np.all((panel["fit"] <= panel["high"]) & (panel["high"] <= 1))
    shown = {(a.variable, a.level): a for a in model.average_predictions}
    yes = shown[("Mentoring", "yes")]
    assert panels["Mentoring"]["high"][1] == pytest.approx(yes.estimate + 1.96 * yes.std_error)


def test_a_zero_one_numeric_predictor_is_two_points(tmp_path):
    """A 0/1 column is a yes/no predictor: two points with intervals, never a line through
    values no row can take; a numeric one with more values is a curve."""
    frame = pd.read_csv(REFERENCE / "bacteria.csv")
    frame["late"] = (frame["week"] > 4).astype(int)
    frame.to_csv(tmp_path / "bacteria.csv", index=False)
    config = write_config(
        tmp_path, data=tmp_path / "bacteria.csv", outcome="y", family="binomial",
        predictors=["late", "week"], group="ID",
    )  # fmt: skip
    results = fit(config, tmp_path / "out")
    panels = {p["variable"]: p for p in predictor_probabilities(results, results.final)}
    assert panels["late"]["kind"] == "points" and panels["late"]["levels"] == ["0", "1"]
    assert panels["week"]["kind"] == "curve"


def test_group_probabilities_average_the_rows_in_each_group(graduation):
    """Each group's probability is the data's rows placed in it: its ranking follows the group
    intercept effect (the same rows for every group), its interval holds it, and the line
    beside them is the data's average prediction."""
    model = graduation.final
    groups = group_probabilities(graduation, model)
    assert groups["averaged"]
    assert groups["average"] == model.average_predictions[0].estimate
    assert np.all(np.diff(groups["fit"]) >= 0)
    assert np.all((groups["low"] < groups["fit"]) & (groups["fit"] < groups["high"]))
    assert groups["fit"].min() < groups["average"] < groups["fit"].max()
    # results written before the averages: the typical member, said so
    effects = replace(model.group_effects, average_probability=())
    older = group_probabilities(graduation, replace(model, group_effects=effects))
    assert not older["averaged"]


def test_a_yes_no_random_slope_draws_its_average_as_points_with_intervals(schools):
    """schools' random slope is a two-level category: its average at the two levels is two
    points with 95% intervals (no band between the levels); a numeric slope keeps its band."""
    from matplotlib.collections import PolyCollection
    from matplotlib.container import ErrorbarContainer

    from hlm_analysis.present.figures import plot_group_slopes

    model = schools.final
    assert group_slope_lines(schools, model)["ticks"] is not None
    (ax,) = plot_group_slopes(schools, model).axes
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), group_slope_lines(schools, model)["fit"])
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
