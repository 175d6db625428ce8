"""Verify 32 (/work/notes/verify32-story.md): sentences that were false, or not in the reader's
words, on seeded synthetic data no shipped config resembles (fixtures verify32_*, made by
tests/fixtures/verify32/make_verify32.py; no fit in these tests)."""

from __future__ import annotations

import copy
import re

import pytest
from helpers import fixture_results

from hlm_analysis.present import fmt, narrative
from hlm_analysis.present.facts import facts


@pytest.fixture(scope="module")
def growth():
    """750 scores of 150 children (time: wave, one grouping level), slope variance ~0."""
    return fixture_results("verify32_growth")


@pytest.fixture(scope="module")
def patients2():
    """Patients in hospitals; severity x teaching (yes/no) with no interaction; the random
    severity slope is singular in both forms, so it is dropped."""
    return fixture_results("verify32_patients2")


@pytest.fixture(scope="module")
def pupils3():
    """Pupils in classes in schools; homework's slope changes sign with motivation."""
    return fixture_results("verify32_pupils3")


@pytest.fixture(scope="module")
def women3():
    """Women in districts in regions, a 2% yes/no outcome, district variance 0."""
    return fixture_results("verify32_women3")


_SAID: dict[int, dict[str, str]] = {}


def sections(results) -> dict[str, str]:
    """Every section of one fixture's report, rendered once per module run."""
    if id(results) in _SAID:
        return _SAID[id(results)]
    f = facts(results)
    _SAID[id(results)] = said = {
        "summary": narrative.executive_summary(copy.deepcopy(f)),
        "interpretation": narrative.interpretation(copy.deepcopy(f)),
        "recommendations": narrative.recommendations_section(copy.deepcopy(f)),
        "implications": narrative.implications_section(copy.deepcopy(f)),
        "health": narrative.health_section(results, copy.deepcopy(f)),
        "email": "\n".join(narrative.key_findings(narrative.plain_facts(results))),
    }
    return said


def test_the_email_does_not_deny_a_reliable_link_of_an_interaction_variable(patients2):
    """Severity is reliably tied to length of stay at both teaching levels (p < .001), but it
    sits in the configured interaction, so the email's second finding said 'None of the
    predictors is reliably linked to Length of stay'."""
    slopes = [s for s in patients2.simple_slopes if s.focal == "severity"]
    assert slopes and all(s.p_value < 0.05 for s in slopes)
    email = sections(patients2)["email"]
    assert "None of the predictors" not in email
    assert "Severity is reliably linked to Length of stay" in email


def test_one_level_growth_states_the_growth_and_no_section_denies_it(growth):
    """time: wave with children as the only level: the summary had no growth finding ('Wave
    (1.93 per unit)'), the practice implication said 'None of the measured predictors is
    reliably tied to Reading score' and the email the same, while growth had p < .001."""
    slope = growth.final.effect("wave")
    assert slope.p_value < 0.001
    text = sections(growth)
    size = fmt.sig(slope.estimate, 3)
    assert f"Reading score grows by {size} per wave" in text["summary"]
    assert f"Reading score grows by {size} per wave" in text["email"]
    assert "per unit" not in text["summary"]
    practice = text["implications"].split("\n")[0]
    assert practice.startswith("- **For practice.** Apart from the change over Wave itself, none")
    assert "what changes the growth of children" in text["implications"]


def test_growth_is_said_to_differ_between_groups_only_when_the_test_says_so(growth):
    """The child SD of growth (0.55) was stated as 'The growth per wave differs between
    children' beside the slope test's p = .38."""
    test = next(t for t in growth.component_tests if t.term == "wave")
    assert test.p_value > 0.05
    summary = sections(growth)["summary"]
    assert "The growth per wave differs between children" not in summary
    assert (
        f"There is no clear evidence that the growth per wave differs between children "
        f"({fmt.pvalue(test.p_value)})" in summary
    )


def test_a_growth_recommendation_speaks_of_children_not_of_individual_measurements(growth):
    recommendations = sections(growth)["recommendations"]
    assert "individual analyses" not in recommendations
    assert "the circumstances of individual children" in recommendations


def test_a_variance_that_grew_is_said_to_increase_not_to_fall_by_a_negative_share(growth):
    """One level: 'reduces ... the (intercept) variance between children by −2%'."""
    f = facts(growth)
    text = narrative.interpretation(f)
    assert "by −" not in text
    level2 = growth.final.variance_explained_level2
    word = "increases" if level2 < 0 else "reduces"
    assert f"{word} the (intercept) variance between children by {fmt.pct(abs(level2))}" in text


def test_the_simple_slopes_of_a_yes_no_moderator_name_the_rows(patients2):
    """'−1.19 points per unit for no, −1.19 points per unit for yes': the moderator's levels
    bare, in the summary, the recommendation and the interpretation."""
    text = sections(patients2)
    for name in ("summary", "recommendations", "interpretation"):
        assert "for patients in hospitals with Teaching hospital = no" in text[name], name
        assert not re.search(r"\b(for|at) (no|yes)\b", text[name]), name


def test_a_dropped_slope_is_named_with_its_groups_and_without_lme4_formulas(patients2):
    assert patients2.final_model != "random_slope"
    text = sections(patients2)
    assert "**Does the effect of Severity differ between hospitals?**" in text["summary"]
    assert "between groups" not in text["summary"]
    dropped = text["recommendations"].split("**The random slope could not be estimated.**")[1]
    dropped = dropped.split("\n")[0]
    assert "||" not in dropped and "(1 + x" not in dropped
    assert "Whether the effect differs between hospitals cannot be judged" in dropped


def test_a_link_that_changes_sign_is_said_to_change_direction(pupils3):
    """Homework's slope is reliably negative at low motivation and positive at high: the
    recommendation said 'Where the link is stronger ... what goes with the weaker link' and the
    summary only 'it differs by Motivation'."""
    slopes = [s for s in pupils3.simple_slopes if s.interaction == "x:m"]
    low, high = slopes[0], slopes[-1]
    assert low.estimate < 0 < high.estimate and max(low.p_value, high.p_value) < 0.05
    text = sections(pupils3)
    # the moderator's values as the report prints them (their digits are tables' business)
    said = re.compile(
        r"negative at Motivation = −[\d\\.]+, the mean − 1 SD "
        + re.escape(f"(slope {fmt.sig(low.estimate, 3)}), but positive at Motivation = ")
    )
    assert said.search(text["summary"]), text["summary"]
    assert "The link between Homework time and Test score changes direction" in text["summary"]
    assert "The link changes direction" in text["recommendations"]
    assert "Where the link is stronger" not in text["recommendations"]


def test_the_health_box_names_the_level_whose_share_is_near_zero(women3):
    """'The null-model ICC is 0.000: almost no variation lies between groups' while 5% lay
    between regions (the check is the districts')."""
    health = sections(women3)["health"]
    assert "almost no variation lies between groups" not in health
    assert "the share of the variation between districts is 0.000" in health
    assert "the variance of the district intercepts is estimated at zero" in health
    assert "the variance of Intercept" not in health
    assert re.search(r"\d+ districts have the same outcome for every one of their women", health)


def test_binary_levels_give_each_level_its_own_reliability_and_no_empty_interval(women3):
    """The interpretation gave the outermost level's reliability (0.51, regions) as 'the
    district intercepts', and intervals as 'n/a to n/a'."""
    text = sections(women3)["interpretation"]
    region = next(lv for lv in women3.final.levels if lv.level == "region")
    assert f"{fmt.num(region.reliability_mean, 2)} for regions, 0.00 for districts" in text
    assert "districts cannot be told apart" in text
    assert "reliability of the district intercepts" not in text
    assert "n/a to n/a" not in text


def test_a_singular_variance_is_named_by_its_level_in_the_recommendations(women3):
    recommendations = sections(women3)["recommendations"]
    assert "**Do not over-read the variance between districts.**" in recommendations
    assert "model's variance for Intercept" not in recommendations


def test_the_lme4_formula_of_an_uncorrelated_fallback_has_the_double_bar():
    """A correlated slope that was singular is refitted as (1 + x || g); the equation's caption
    still gave (1 + x | g), a model the report did not fit (patients with a +1 correlation)."""
    from dataclasses import replace

    from hlm_analysis.present import equation
    from hlm_analysis.present.labels import labels_for

    schools = fixture_results("schools")
    final = schools.final
    assert len(final.random_terms) > 1
    plain = equation.describe(schools, labels_for(schools), str)["mixed"]
    assert "| SchoolID)" in plain and "||" not in plain
    flat = replace(
        schools, models={**schools.models, final.name: replace(final, uncorrelated=True)}
    )
    assert (
        "(1 + StudentGender || SchoolID)" in equation.describe(flat, labels_for(flat), str)["mixed"]
    )
    # several levels: the level without covariance rows is the uncorrelated one
    growth = fixture_results("levels_growth")
    g = growth.final
    rows = tuple(
        vc for vc in g.variance_components if not (vc.group == "schoolid" and vc.term2 is not None)
    )
    flat = replace(growth, models={**growth.models, g.name: replace(g, variance_components=rows)})
    mixed = equation.describe(flat, labels_for(flat), str)["mixed"]
    assert "(1 + year || schoolid)" in mixed and "(1 + year | schoolid:childid)" in mixed


def test_with_nested_levels_no_single_level_is_named_the_only_actor(pupils3):
    """No lever, pupils in classes in schools: 'None of the reliable associations involves
    something classes can change', as if only classes could act."""
    practice = sections(pupils3)["implications"].split("\n")[0]
    assert "something classes can change" not in practice
    assert "None of the reliable associations involves something schools or classes can change" in (
        practice
    )


@pytest.fixture(scope="module")
def people():
    """People in counties: no variance between counties (ICC 0, the fits singular)."""
    return fixture_results("verify32_people")


def test_with_no_variance_between_groups_the_words_follow(people):
    """ICC 0: 'adding group-level measures ... is the natural next step' (nothing lies between
    counties to explain), 'county effects are shrunk noticeably' for a reliability of 0.00,
    and 'groups' beside the configured counties."""
    assert people.models["null"].icc.estimate < 0.005
    text = sections(people)
    research = text["implications"].split("**For further analysis.**")[1]
    assert "adding group-level measures" not in research
    assert "measures of what differs between people in the same county" in research
    assert "so counties cannot be told apart" in text["interpretation"]
    assert "shrunk noticeably" not in text["interpretation"]
    assert "remaining variance between counties" in text["interpretation"]
    assert "between groups" not in text["interpretation"]
    data = narrative.render("data.md.j2", f=facts(people))
    assert "25 in every county" in data


@pytest.mark.parametrize(
    ("noun", "said"),
    [
        ("8th grader", "an 8th grader"),
        ("11-year-old", "an 11-year-old"),
        ("18-year-old", "an 18-year-old"),
        ("80-year-old", "an 80-year-old"),
        ("11,000-pupil district", "an 11,000-pupil district"),
        ("110-bed hospital", "a 110-bed hospital"),
        ("2nd grader", "a 2nd grader"),
        ("élève", "an élève"),
        ("hour", "an hour"),
        ("university", "a university"),
    ],
)
def test_the_article_follows_the_sound_of_numbers_and_accented_letters(noun, said):
    """inflect reads a numeral or an accented vowel as a consonant: 'a 8th grader' (unit:
    8th grader), 'a 11-year-old', 'a élève'."""
    from hlm_analysis.present import lexicon

    assert lexicon.noun(noun).a == said


@pytest.fixture(scope="module")
def women_int():
    """A yes/no outcome, urban (reference yes) x age with no interaction; age has no effect."""
    return fixture_results("verify32_women_int")


def test_a_yes_no_outcome_states_the_average_effect_of_a_question_variable(women_int):
    """urban x age, urban's log-odds held at age 0 (outside the data, p = .17) while its average
    marginal effect is −2.8 points with a CI that excludes 0: the summary never named urban, the
    practice implication said 'None of the measured predictors is reliably tied', the email
    'None of the predictors is reliably linked', and the fixed-effects line printed the CI
    beside 'not distinguishable from zero'."""
    fe = next(e for e in women_int.final.fixed_effects if e.term.startswith("urban"))
    low = fe.marginal_effect - 1.96 * fe.marginal_effect_se
    high = fe.marginal_effect + 1.96 * fe.marginal_effect_se
    assert fe.p_value > 0.05 and high < 0
    text = sections(women_int)
    points = fmt.num(abs(100 * fe.marginal_effect), 1)
    assert (
        f"The chance that a woman uses contraception is {points} percentage points lower for "
        "rural women than for urban women" in text["summary"]
    )
    assert "None of the measured predictors" not in text["implications"]
    assert "Urban residence is reliably tied to the chance" in text["implications"]
    assert "None of the predictors" not in text["email"]
    assert "Urban residence is reliably linked" in text["email"]
    line = next(x for x in text["interpretation"].splitlines() if x.startswith("- Urban residence"))
    assert f"(95% CI {fmt.num(100 * low, 1)} to {fmt.num(100 * high, 1)})" in line
    assert "the average marginal effect reliably negative over the data" in line


def test_growth_data_say_a_persons_characteristic_of_the_people(growth):
    """time: wave, girl constant within each child: the default phrase was 'analyses in
    children with Girl = 1', so the summary read 'Analyses in children with ... score 2.48
    points higher' (three-level growth alike: 'Test scores in children with Home language')."""
    from hlm_analysis.present import lexicon
    from hlm_analysis.present.labels import labels_for

    lex = lexicon.build(growth.spec, growth.design, labels_for(growth).raw)
    assert lex.level("female", "1") == "children with Girl = 1"
    assert lex.level("female", "0") == "children with Girl = 0"
    # without time the rows stay the subject: "students in schools with ..."
    schools = fixture_results("schools")
    plain = lexicon.build(schools.spec, schools.design, labels_for(schools).raw)
    phrases = [p for v in plain.levels.values() for p in v.values()]
    assert phrases and all("students" in p for p in phrases)


def test_crossed_a_factors_own_variable_is_said_of_its_groups():
    """Crossed primary x secondary schools, a yes/no variable constant within primary schools
    (a library): 'Pupils with School library = yes score ...' (was not said of the schools)."""
    from dataclasses import replace

    from hlm_analysis.present import lexicon
    from hlm_analysis.present.labels import labels_for

    r = fixture_results("levels_scotssec")
    sex = r.design.variable("sex")
    variables = tuple(
        replace(v, level="primary") if v.name == "sex" else v for v in r.design.variables
    )
    design = replace(r.design, variables=variables)
    spec = r.spec.model_copy(update={"level_labels": {}})
    lex = lexicon.build(spec, design, labels_for(r).raw)
    assert not sex.group_level
    assert lex.level("sex", "M") == "pupils in primary schools with Sex = M"
    # a row's own variable stays the rows'
    lex = lexicon.build(spec, r.design, labels_for(r).raw)
    assert lex.level("sex", "M") == "pupils with Sex = M"


def test_a_yes_no_lever_compares_the_rows_in_the_readers_words(growth):
    """'it goes with Reading score 5.87 points lower per switch from no to yes' beside
    level_labels that name the rows; graduation's Mentoring likewise."""
    graduation = fixture_results("graduation")
    text = narrative.recommendations_section(facts(graduation))
    assert "per switch from" not in text
    assert (
        "higher for students in schools with the programme than for students in schools "
        "without it, on average" in text
    )


def test_groups_are_compared_on_their_growth_not_on_the_time_variable():
    """egsingle: 'Compare schools on Year', 'Do not rank individual children by their own
    effect of Year' (review 31 #10: their growth per year)."""
    text = narrative.recommendations_section(facts(fixture_results("levels_growth")))
    assert "**Compare schools on their growth per year.**" in text
    assert "**Do not rank individual children by their own growth per year.**" in text
    assert "on Year." not in text and "effect of Year" not in text


def test_the_board_text_glosses_or_drops_model_jargon(women3):
    """The summary and email said 'marginal R² for the logit link' ('logit link' is glossed
    nowhere); the few-groups recommendation 'fixed effects are still sound with Satterthwaite
    degrees of freedom'."""
    text = sections(women3)
    assert "logit link" not in text["summary"] and "logit link" not in text["email"]
    assert "(marginal R², on the latent scale)" in text["summary"]
    assert "fixed effects are still sound" not in text["recommendations"]
    people = narrative.recommendations_section(facts(fixture_results("levels_scotssec")))
    assert "the associations with the predictors are still sound" in people


def test_the_policy_line_names_the_levels_whose_differences_are_small(women3):
    """'differences between groups at every level are small beside those within them'."""
    policy = sections(women3)["implications"].split("**For policy.**")[1].split("\n")[0]
    assert "between groups" not in policy
    assert "differences between regions and districts are small beside those within districts" in (
        policy
    )


def test_a_slope_dropped_at_an_outer_level_is_set_beside_that_levels_averages(pupils3):
    """Several levels, the school slope dropped: '... a perfect correlation with the class
    averages' (the innermost noun) for a school-level variance."""
    f = facts(pupils3)
    f["slope"], f["slopes_configured"] = None, True
    f["dropped_slopes"] = [{"label": "Homework time", "many": "schools", "one": "school"}]
    text = narrative.recommendations_section(f)
    assert "a perfect correlation with the school averages" in text
    assert "class averages" not in text
