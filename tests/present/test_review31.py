"""Review 31 (/work/notes/review-31.md): the words a board member reads for the level, the
health box's small-groups line against the reliabilities it sits beside, and the policy line
of a model with random slopes."""

from __future__ import annotations

import copy

from helpers import fixture_results

from hlm_analysis.present import narrative
from hlm_analysis.present.facts import facts


def test_one_level_reports_name_their_groups_by_the_configured_noun():
    """hsb82 (group_noun: school) said 'between-group SD', 'rank groups', 'compare groups' and
    'within-group variance'; the schools fixture has group_noun: school as well."""
    results = fixture_results("schools")
    f = facts(results)
    text = narrative.interpretation(copy.deepcopy(f))
    text += narrative.recommendations_section(copy.deepcopy(f))
    text += narrative.executive_summary(copy.deepcopy(f))
    assert "between-school SD of 1.82" in text
    assert "each school's own slope" in text and "too low to rank schools on it" in text
    assert "reduces the variance within schools by 6%" in text
    assert "the (intercept) variance between schools by 71%" in text
    assert "average reliability of the school intercepts" in text
    for phrase in (
        "between-group",
        "within-group variance",
        "rank groups",
        "compare groups.",
        "group's own",
    ):
        assert phrase not in text, phrase


def test_small_groups_with_reliable_effects_are_not_said_to_be_shrunk_strongly():
    """egsingle: 875 of 1,721 children have 2-4 scores, but children differ so much that even
    the 875 least reliable children's intercepts average lambda_j 0.85 (all children 0.87): the
    box said 'their effects are shrunk strongly' beside 'child effects are estimated well enough
    to compare children', and raised a warning for it."""
    results = fixture_results("levels_growth")
    health = narrative.health_section(results, facts(results))
    assert "shrunk strongly" not in health
    assert "875 children have fewer than 5 test scores" in health
    assert "average reliability of at least 0.85 (0.87 over all children)" in health
    assert "Model health: all checks passed" in health
    # ScotsSec: the 20 small primary schools are the least reliable ones (lambda_j about 0.10)
    crossed = fixture_results("levels_scotssec")
    health = narrative.health_section(crossed, facts(crossed))
    assert (
        "20 primary schools have fewer than 5 pupils; their effects are shrunk strongly" in health
    )


def test_the_policy_line_with_random_slopes_says_why_no_share_is_given_in_plain_words():
    results = fixture_results("levels_pupils")
    f = facts(results)
    text = narrative.implications_section(copy.deepcopy(f))
    assert "random slopes make a single share" not in text
    assert (
        "after the predictors no single share can be given: the effect of Prior attainment "
        "\\(points\\) itself differs between classes, so how large those differences are "
        "depends on its value."
    ) in text
    growth = fixture_results("levels_growth")
    text = narrative.implications_section(facts(growth))
    assert "the effect of Year itself differs between schools and between children" in text


def test_differences_by_a_group_level_variable_lie_between_the_groups():
    """egsingle's lowinc is one value per school: its differences lie between schools, not
    'between children' (growth, For practice); pupils' free school meals stay between pupils."""
    growth = fixture_results("levels_growth")
    text = narrative.implications_section(facts(growth))
    assert "describe where Mathematics score differs between schools, not why" in text
    assert "differs between children" not in text
    pupils = fixture_results("levels_pupils")
    f = facts(pupils)
    between = {e["variable"]: e["between"] for e in f["context"]}
    assert between["Free school meals"] == "" and between["Prior attainment \\(points\\)"] == ""


def test_few_groups_advice_and_next_step_name_the_groups():
    """ScotsSec: 'estimates of how much groups differ' with 19 secondary schools; hsb82's next
    step 'what happens inside groups'; the methods named only slopes for the 50:50 reference
    that the intercept tests of Table 7 use too."""
    crossed = fixture_results("levels_scotssec")
    f = facts(crossed)
    text = narrative.recommendations_section(copy.deepcopy(f))
    assert "estimates of how much secondary schools differ are imprecise" in text
    methods = narrative.render(
        "methods.md.j2",
        f=f,
        versions="x",
        final=crossed.final,
        robust_noted=False,
        intervals_noted=False,
        final_notes="",
        conservative_lrt=False,
        conservative_level=False,
    )
    assert "tests of a random slope or of a level's random intercept compare REML fits" in methods
