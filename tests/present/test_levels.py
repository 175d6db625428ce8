"""Several grouping levels in the report's words and equations: a noun for every level, the
level-1/2/3 equations of Raudenbush & Bryk and the lme4 formula, crossed factors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import REFERENCE, fixture_results

from hlm_analysis.present import equation, levels, lexicon
from hlm_analysis.present.labels import labels_for
from hlm_analysis.results import INTERCEPT, VarianceComponent

SLOPE = "StudentGender[T.Male]"


def three_level(**spec_keys):
    """The schools fixture read as pupils in classes (SchoolID) in schools (District): the
    final model gains a school-level intercept and a slope at both levels."""
    r = fixture_results("schools")
    keys = {
        "group": ["District", "SchoolID"],
        "random_slopes": {"SchoolID": ["StudentGender"], "District": ["StudentGender"]},
        **spec_keys,
    }
    spec = r.spec.model_copy(update=keys)
    extra = (
        VarianceComponent("District", INTERCEPT, None, 3.0, 3.0**0.5),
        VarianceComponent("District", SLOPE, None, 1.0, 1.0),
        # correlated, as lme4's (1 + x | g) reports it (a level without it is fitted `||`)
        VarianceComponent("District", INTERCEPT, SLOPE, 0.0, 0.0),
    )
    final = replace(r.final, variance_components=r.final.variance_components + extra)
    return replace(r, spec=spec, models={**r.models, r.final_model: final})


def test_every_level_has_a_noun_a_mapping_or_the_innermost_plain_noun():
    r = three_level(group_noun={"SchoolID": "class", "District": "school"}, unit="pupil")
    lex = lexicon.build(r.spec, r.design, labels_for(r).raw)
    assert [(t.column, t.noun.one, t.noun.many) for t in lex.tiers] == [
        ("District", "school", "schools"),
        ("SchoolID", "class", "classes"),
    ]
    # the report's "group" is the innermost level: "pupils in the same class"
    assert lex.group.one == "class" and lex.tier("District").at == "at the school level"
    plain = three_level(group_noun="class", labels={"District": "School"})
    lex = lexicon.build(plain.spec, plain.design, labels_for(plain).raw)
    assert [t.noun.many for t in lex.tiers] == ["schools", "classes"]


def test_unnamed_levels_keep_their_labels_so_two_levels_are_never_both_groups():
    r = three_level(group_noun=None, labels={"SchoolID": "ClassID", "District": "SchoolID"})
    lex = lexicon.build(r.spec, r.design, labels_for(r).raw)
    assert [t.noun.many for t in lex.tiers] == ["groups (SchoolID)", "groups (ClassID)"]
    assert not any(t.named for t in lex.tiers)
    assert lex.tiers[0].changeable == "something that can be changed"


def test_growth_rows_are_measurements_unless_the_config_names_them():
    r = three_level(time="StudentAge", unit=None)
    assert lexicon.build(r.spec, r.design, labels_for(r).raw).unit.many == "measurements"


def test_three_level_equations_follow_raudenbush_and_bryk():
    r = three_level()
    d = equation.describe(r, labels_for(r), str)
    rows = [(x["level"], x["equation"]) for x in d["rows"]]
    assert rows[0][1].startswith("(Exam score)~ijk~ = π~0jk~ + π~1jk~ · (Gender: Male")
    assert rows[0][1].endswith("+ e~ijk~")
    # the class-level variable enters the class equation of the intercept, with class indices
    assert ("2", "π~0jk~ = β~00k~ + β~01k~ · (School quality rating)~jk~ + r~0jk~") in rows
    # the gender slope is random at both levels; age's slope is fixed at both
    assert ("2", "π~1jk~ = β~10k~ + r~1jk~") in rows and ("2", "π~2jk~ = β~20k~") in rows
    assert ("3", "β~00k~ = γ~000~ + u~00k~") in rows and ("3", "β~10k~ = γ~100~ + u~10k~") in rows
    assert ("3", "β~01k~ = γ~010~") in rows
    assert [x[0] for x in rows] == ["1", "2", "2", "2", "3", "3", "3", "3"]
    assert d["mixed"] == (
        "ExamScore ~ 1 + SchoolQuality + StudentGender + StudentAge"
        " + (1 + StudentGender | District) + (1 + StudentGender | District:SchoolID)"
    )


def test_crossed_factors_share_level_two():
    r = fixture_results("schools")
    spec = r.spec.model_copy(
        update={"group": ["Primary", "SchoolID"], "crossed": True, "random_slopes": []}
    )
    final = replace(
        r.final,
        variance_components=(
            VarianceComponent("Primary", INTERCEPT, None, 3.0, 1.7),
            VarianceComponent("SchoolID", INTERCEPT, None, 2.0, 1.4),
            VarianceComponent("Residual", None, None, 1.0, 1.0),
        ),
    )
    r = replace(r, spec=spec, models={**r.models, r.final_model: final})
    assert levels.crossed(r) and levels.number(r, "Primary") == levels.number(r, "SchoolID") == 2
    d = equation.describe(r, labels_for(r), str)
    assert d["rows"][1]["equation"].endswith("+ b~0j~ + c~0k~")
    assert d["mixed"].endswith("+ (1 | Primary) + (1 | SchoolID)")


def test_single_level_equations_are_unchanged():
    r = fixture_results("schools")
    d = equation.describe(r, labels_for(r), str)
    assert [x["level"] for x in d["rows"]] == ["1", "2", "2", "2", "2"][: len(d["rows"])]
    assert d["rows"][0]["equation"] == d["level1"]


def _facts(name: str):
    from hlm_analysis.present.facts import facts

    return facts(fixture_results(name))


def test_three_level_report_says_where_the_variation_lies():
    from hlm_analysis.present import narrative

    f = _facts("levels_pupils")
    text = narrative.executive_summary(f)
    assert "7,200 pupils in 600 classes in 100 schools" in text
    # the null model's shares: school, class within school, within class; they add to 100%
    assert (
        "19% lies between schools, 7% between classes within schools and 74% within classes" in text
    )
    assert "two pupils in the same school but different classes correlate at 0.191" in text
    assert "Two pupils in the same class (and so the same school) correlate at 0.260" in text
    assert "- 100 schools: enough" in narrative.health_section(fixture_results("levels_pupils"), f)


def test_a_lever_acts_at_the_level_it_is_constant_at():
    from hlm_analysis.present import narrative

    f = _facts("levels_pupils")
    (lever,) = f["levers"]
    at = lever["acts_at"]
    assert at in ("at the class level", "at the school level")
    text = narrative.recommendations_section(f)
    assert f"so it acts {at}" in text


def test_growth_report_speaks_of_growth_per_unit_of_time():
    from hlm_analysis.present import narrative

    f = _facts("levels_growth")
    g = f["levels"]["growth"]
    assert g["per"] == "per year" and not g["initial_status"]  # year runs -2.5 to 2.5
    text = narrative.executive_summary(f)
    assert "grows by 0.764 per year" in text
    assert (
        "The growth per year differs between schools (SD 0.107, p < .001) and between children"
        in text
    )
    # the slope of time is the growth finding, not a second "does the effect differ" item
    assert "Does the effect differ" not in text


def test_crossed_report_names_both_factors():
    f = _facts("levels_scotssec")
    assert f["levels"]["counts"] == "148 primary schools crossed with 19 secondary schools"
    # no effect per combination of the two factors in the model: the rest is the residual
    assert f["levels"]["shares"][-1].endswith(r"between pupils \(the residual\)")
    assert "combinations" not in " ".join(f["levels"]["shares"])


def test_levels_table_and_group_summaries_add_up():
    from hlm_analysis.present import tables

    r = fixture_results("levels_pupils")
    schools = levels.group_summary(r, "school")
    assert len(schools.labels) == 100 and sum(schools.n) == 7200
    classes = levels.group_summary(r, "class")
    assert len(classes.labels) == 600 and classes.labels[0] == "S001 / 1"
    table = tables.levels_table(r, "tbl-levels")
    # the pupils are counted on their own line, not as groups (review-levels #16)
    assert "| Pupils \\(within classes\\) | 7,200 |" in table and "{#tbl-levels}" in table
    assert "| Level | Number |" in table
    crossed = tables.levels_table(fixture_results("levels_scotssec"), "tbl-levels")
    assert "| Pupils \\(residual\\) | 3,435 |" in crossed
    assert tables.levels_table(fixture_results("schools"), "tbl-levels") == ""


def test_outer_level_variables_are_described_over_their_own_groups():
    from helpers import FIXTURES

    from hlm_analysis.present.document import ReportDocument

    doc = ReportDocument(FIXTURES / "levels_growth" / "results.json")
    table = doc.table("descriptives")
    # the school's share of low-income students: one value per school (60), not per child
    row = next(line for line in table.splitlines() if line.startswith("| Low"))
    assert "| 60 |" in row and "one value per school" in table
    assert "| Year | 7,230 |" in table


def test_ladder_and_variance_tables_name_each_level():
    from hlm_analysis.present import tables

    r = fixture_results("levels_pupils")
    ladder = tables.ladder(r, "tbl-ladder")
    for row in (
        "| Variance: Intercept (School) |",
        "| Variance: Intercept (Class) |",
        "| ICC: School [95% CI] |",
        "| ICC: Class [95% CI] |",
        "| Groups: School |",
        "| Groups: Class |",
    ):
        assert row in ladder, row
    variance = tables.variance_components(r, r.final, "tbl-variance")
    assert variance.splitlines()[0].startswith("| Level | Term |")
    assert "| School | Intercept |" in variance and "| Class | Prior attainment" in variance


def test_an_intercept_rows_test_that_drops_the_whole_level_says_so():
    """The class level holds an intercept, a slope and their covariance: the test on its Intercept
    row drops all three (lme4's anova without (1 + prior | class:school): 273.52 on 3 df), so the
    row says 'whole level'. Two variances leave at once, so its p is the naive chi2(3)'s
    (conservative; R: pchisq(273.52, 3, lower.tail = FALSE) = 5.36e-59), and the caption says so
    beside the 50:50 chi2(df - 1):chi2(df) mixture of the other rows."""
    from hlm_analysis.present import tables

    r = fixture_results("levels_pupils")
    variance = tables.variance_components(r, r.final, "tbl-variance")
    row = next(line for line in variance.splitlines() if line.startswith("| Class | Intercept |"))
    assert "whole level: χ²(3) = 273.52" in row
    test = next(t for t in r.component_tests if (t.level, t.term) == ("class", INTERCEPT))
    assert test.p_value == pytest.approx(5.355e-59, rel=1e-3)
    # the school level has its intercept only: dropping it is dropping the level, plainly
    row = next(line for line in variance.splitlines() if line.startswith("| School | Intercept |"))
    assert "χ²(1) = 212.93" in row and "whole" not in row
    assert "χ²(df − 1) and χ²(df)" in variance
    assert "a whole level with slopes" in variance and "naive χ²(df), conservative" in variance
    assert "50:50 chi-bar-square)" not in variance


def test_a_variance_that_grew_is_said_to_grow_not_to_fall_by_zero():
    """egsingle: the child intercept variance is 0.570 in the null model and 0.640 in the final
    one (lme4: 0.5705 -> 0.6401), 12% more; the report said it fell 'by 0%'."""
    from hlm_analysis.present import fmt, narrative

    ref = json.loads((REFERENCE / "levels" / "levels_reference.json").read_text())["growth"]
    null = next(
        r["vcov"]
        for r in ref["models"]["null"]["reml"]["varcorr"]
        if r["level"] == "childid" and r["var1"] == "(Intercept)" and r["var2"] is None
    )
    results = fixture_results("levels_growth")
    assert results.model("null").variance_components[1].estimate == pytest.approx(null, rel=1e-3)
    # the report's final model (year + lowinc; the R reference's adds pupil dummies)
    final = next(
        vc.estimate
        for vc in results.final.variance_components
        if vc.group == "childid" and vc.term1 == INTERCEPT and vc.term2 is None
    )
    grew = fmt.pct((final - null) / null)
    assert grew == "12%"
    text = narrative.interpretation(_facts("levels_growth"))
    assert f"increases the (intercept) variance between children within schools by {grew}" in text
    assert "within schools by 0%" not in text
    assert "expected when time enters the model" in text


def test_crossed_small_groups_are_counted_per_factor_not_per_combination():
    """(1 | primary) + (1 | second) has no effect per combination to shrink: the health box
    counts each factor's groups with fewer than 5 pupils (20 primary schools in ScotsSec)."""
    from hlm_analysis import rules
    from hlm_analysis.present import narrative

    r = fixture_results("levels_scotssec")
    text = narrative.health_section(r, _facts("levels_scotssec"))
    assert "combination" not in text
    small = {
        column: sum(n < rules.TINY_GROUP.value for n in levels.group_summary(r, column).n)
        for column in ("primary", "second")
    }
    assert small["primary"] == 20 and small["second"] == 0
    assert "20 primary schools have fewer than 5 pupils" in text
    assert "secondary schools have fewer" not in text


def test_outer_level_categories_are_counted_over_their_own_groups():
    """pupils: sector is constant within schools: 42 academies and 58 maintained schools among
    the 100 schools, not 252 and 348 of the 600 classes."""
    import pandas as pd
    from helpers import FIXTURES

    from hlm_analysis.present.document import ReportDocument

    doc = ReportDocument(FIXTURES / "levels_pupils" / "results.json")
    # data/pupils.csv is the R reference's three_level.csv
    rows = pd.read_csv(REFERENCE / "levels" / "three_level.csv")
    per_school = rows.groupby("school")["sector"].first().value_counts()
    assert per_school.sum() == 100
    table = doc.table("categorical")
    assert f"| academy | {per_school['academy']} | 42.0% |" in table
    assert f"| maintained | {per_school['maintained']} | 58.0% |" in table
    assert "one value per school" in table and "one value per class" not in table


def test_outer_level_category_counts_come_from_the_fit(tmp_path):
    """results.json's group_level_counts of a school variable count schools (data/describe.py)."""
    import pandas as pd
    from helpers import fit

    results = fit(Path(__file__).parents[2] / "report" / "configs" / "pupils.yml", tmp_path)
    rows = pd.read_csv(REFERENCE / "levels" / "three_level.csv")
    per_school = rows.groupby("school")["sector"].first().value_counts()
    counts = {c.level: c.n for c in results.data.group_level_counts["sector"]}
    assert counts == {"academy": per_school["academy"], "maintained": per_school["maintained"]}


def test_crossed_summary_says_where_differences_lie_after_intake_and_not_to_rank():
    """ScotsSec: the secondary schools' variance falls from 0.372 to 0.006 once verbal reasoning
    and sex are in; the summary gives the shares after the predictors, and since neither
    factor's intercepts are reliable (0.46, 0.11) the recommendations say not to rank them."""
    from hlm_analysis.present import narrative

    f = _facts("levels_scotssec")
    summary = narrative.executive_summary(f)
    bullet = summary.split("**Where the differences lie.**")[1].split("- **")[0]
    assert "Of the variation the predictors leave," in bullet
    assert "between secondary schools" in bullet.split("Of the variation the predictors leave,")[1]
    text = narrative.recommendations_section(f)
    assert "Do not rank individual primary schools or secondary schools" in text
    assert "reliability 0.46 and 0.11" in text
    # growth: schools 0.71, children 0.87, reliable enough: no such advice
    growth = narrative.recommendations_section(_facts("levels_growth"))
    assert "on these data.**" not in growth


def test_growth_says_what_time_zero_is_and_gives_no_cohen_label_to_growth():
    """egsingle's year runs -2.5 to 2.5 (year of study minus 3.5): the intercept is the average
    score midway, not at the start, and the report says so; a Cohen label per SD of time means
    nothing, so the growth per year carries none."""
    from hlm_analysis.present import narrative

    f = _facts("levels_growth")
    summary = narrative.executive_summary(f)
    assert "Year = 0 lies inside the observed range (−2.5 to 2.5)" in summary
    assert "not the status at the first measurement" in summary
    line = next(
        x for x in narrative.interpretation(f).splitlines() if x.startswith("- Year: 0.764")
    )
    assert "SD, large" not in line and " SD" not in line


def test_context_advice_names_no_wrong_actor_and_no_configuration_jargon():
    """pupils: free school meals (a pupil's) and school type (a school's) are context; the advice
    said 'the configuration does not mark them as something classes can change'."""
    from hlm_analysis.present import narrative

    text = narrative.recommendations_section(_facts("levels_pupils"))
    context = text.split("as context, not as levers.**")[1].split("\n1. ")[0]
    assert "configuration" not in context and "something classes can change" not in context
    assert "the analyst did not list them as something that can be changed" in context
    summary = narrative.executive_summary(_facts("levels_pupils"))
    assert "It is marked as" not in summary


def test_crossed_tables_do_not_speak_of_outer_and_inner_levels():
    from hlm_analysis.present import tables

    r = fixture_results("levels_scotssec")
    for table in (
        tables.levels_table(r, "tbl-levels"),
        tables.variance_components(r, r.final, "tbl-variance"),
    ):
        caption = table.splitlines()[-1]
        assert "outermost" not in caption and "crossed" in caption


def test_summary_and_advice_use_the_configured_words_for_categories():
    """scotssec's level_labels say {F: girls, M: boys}: 'Sex: boys (vs girls)', not 'Sex: M (vs F)'."""
    from hlm_analysis.present import narrative

    f = _facts("levels_scotssec")
    summary = narrative.executive_summary(f)
    # Markdown-escaped parentheses
    assert "Sex\\: boys \\(vs girls\\) (−0.143 points" in summary and "M \\(vs F\\)" not in summary
    advice = narrative.recommendations_section(f)
    assert "Sex\\: boys \\(vs girls\\): −0.143" in advice


@pytest.mark.parametrize("name", ["levels_scotssec", "levels_pupils", "levels_growth"])
def test_caterpillar_levels_share_one_scale_per_term(name):
    """The caterpillars of the levels are read against each other: one term's panels share the
    effect axis (scotssec's secondary schools vary far less than its primary schools, and free
    scales drew both equally spread)."""
    import matplotlib.pyplot as plt

    from hlm_analysis.present import figures

    results = fixture_results(name)
    fig = figures.plot_caterpillar(results, results.final)
    by_term: dict[str, set] = {}
    for ax in fig.axes:
        term = ax.get_title().split(": ", 1)[1].split(" (")[0]
        ranked = ax.get_xlabel().startswith("Ranked")
        by_term.setdefault(term, set()).add(
            tuple(round(v, 9) for v in (ax.get_ylim() if ranked else ax.get_xlim()))
        )
    plt.close(fig)
    assert len(fig.axes) >= 2
    assert all(len(limits) == 1 for limits in by_term.values()), by_term
