"""Narrative from fixed results: key sentences asserted directly, whole sections snapshot-tested.

Set UPDATE_SNAPSHOTS=1 to rewrite tests/snapshots/ after an intended wording change.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

import pytest
from helpers import FIXTURES, SNAPSHOTS

from hlm_analysis.present import fmt, narrative
from hlm_analysis.present.facts import facts


def section(results, name: str) -> str:
    """A section as the report renders it: facts computed once, then the section's template."""
    if name == "health_section":
        return narrative.health_section(results, facts(results))
    return getattr(narrative, name)(facts(results))


def test_three_groups_cannot_support_a_random_effect(hsb2):
    text = section(hsb2, "recommendations_section")
    assert "Do not treat Socioeconomic status as a random effect" in text
    assert "Triggered by: 3 groups" in text and "McNeish & Stapleton (2016)" in text
    assert "fixed effect (dummy variables)" in text
    summary = section(hsb2, "executive_summary")
    assert (
        r"With only 3 groups \(Socioeconomic status\), the data cannot support a random effect"
        in summary
    )


def test_summary_numbers_equal_results(hsb2):
    summary = section(hsb2, "executive_summary")
    icc = hsb2.model("null").icc
    assert (
        f"intraclass correlation {icc.estimate:.3f}, 95% CI {icc.ci_low:.3f} to {icc.ci_high:.3f}"
        in summary
    )
    # the largest association is chosen by standardized size, not by t, among variables that
    # are not in an interaction (those have conditional main effects)
    in_interaction = {v for i in hsb2.spec.interactions for v in i.split(":")}
    main = [
        fe
        for fe in hsb2.final.fixed_effects
        if fe.std_estimate is not None
        and ":" not in fe.term
        and fe.term not in in_interaction
        and fe.p_value < 0.05
    ]
    lead = max(main, key=lambda fe: abs(fe.std_estimate))
    label = hsb2.spec.labels[lead.term]
    assert f"Each one-unit increase in {label} goes with Writing score " in summary
    assert f"{lead.std_estimate:.2f} SD" in summary
    assert f"{round(100 * hsb2.final.r2_marginal)}% of the variation" in summary


def test_three_to_seven_findings_each_with_a_number(hsb2, schools):
    # up to seven: the last one names every predictor no other finding spoke for
    for results in (hsb2, schools):
        bullets = [
            line
            for line in section(results, "executive_summary").splitlines()
            if line.startswith("- **")
        ]
        assert 3 <= len(bullets) <= 7
        assert all(re.search(r"\d", b) for b in bullets)


def test_every_recommendation_names_its_trigger(hsb2, schools):
    for results in (hsb2, schools):
        items = [
            line
            for line in section(results, "recommendations_section").splitlines()
            if line.startswith("1. ")
        ]
        assert items and all("*Triggered by:" in item for item in items)


def test_random_slope_sentence_uses_the_boundary_corrected_test(schools):
    comp = next(c for c in schools.comparisons if c.model_b == "random_slope")
    text = section(schools, "interpretation")
    assert f"χ²(2) = {comp.statistic:.2f}, {fmt.pvalue(comp.p_value)}" in text
    assert "chi-bar-square" in text


def test_interaction_statement_uses_interaction_model(hsb2):
    fe = hsb2.model("interaction").effect("read:math")
    text = section(hsb2, "interpretation")
    assert f"Reading score × Mathematics score: {fmt.sig(fe.estimate, 3)}" in text


def test_health_box_flags_too_few_groups(hsb2):
    text = section(hsb2, "health_section")
    assert text.startswith("::: {.callout-important}")
    assert "too few for a random effect" in text


@pytest.mark.parametrize("name", ["hsb2", "schools", "graduation"])
@pytest.mark.parametrize(
    "name_of_section",
    [
        "executive_summary",
        "interpretation",
        "recommendations_section",
        "implications_section",
        "health_section",
    ],
)
def test_snapshot(name, name_of_section, hsb2, schools, graduation):
    results = {"hsb2": hsb2, "schools": schools, "graduation": graduation}[name]
    text = section(results, name_of_section)
    path = SNAPSHOTS / f"{name}-{name_of_section}.md"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        if os.environ.get("CI"):
            pytest.fail(
                f"snapshot {path.name} is missing; run UPDATE_SNAPSHOTS=1 make test and commit it"
            )
        path.write_text(text)
    assert text == path.read_text()


def test_user_text_is_escaped_not_markup(hsb2):
    labels = {**hsb2.spec.labels, "write": "<script>alert(1)</script>", "ses": "| *"}
    spec = hsb2.spec.model_copy(update={"labels": labels})
    text = section(replace(hsb2, spec=spec), "executive_summary")
    assert "<script>" not in text and "\\<script\\>" in text
    assert "\\| \\*" in text


def test_templates_refuse_missing_variables():
    env = narrative.environment()
    with pytest.raises(Exception, match="undefined"):
        env.from_string("{{ nothing_here }}").render()


def test_the_unit_of_a_row_is_configurable(schools):
    spec = schools.spec.model_copy(update={"unit": "pupil"})
    text = section(replace(schools, spec=spec), "executive_summary")
    assert "for 600 pupils in 20 schools" in text and "students" not in text.split("\n")[0]
    assert "between pupils in the same school" in text


def test_methods_say_what_the_final_model_carries_not_the_default(tmp_path):
    # hsb2 has 3 groups: no cluster-robust SEs were computed, so the methods must not claim
    # CR2 and must say why; the profile intervals were computed, so they are still claimed.
    from hlm_analysis.present.document import ReportDocument

    source = FIXTURES / "hsb2"
    for name in ("results.json", "rows.parquet"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    text = ReportDocument(tmp_path / "results.json").methods()
    assert "also carry CR2" not in text
    assert "too few for any cluster" in text.replace("\\", "")
    assert "profile-likelihood intervals (as lme4" in text


def test_names_are_listed_as_a_sentence():
    from hlm_analysis.present.narrative import environment

    template = environment().from_string("{{ names | listed }}")
    assert template.render(names=["Age"]) == "Age"
    assert template.render(names=["Days absent", "Free lunch"]) == "Days absent and Free lunch"
    assert template.render(names=("a", "b", "c")) == "a, b and c"


def test_practice_does_not_deny_reliable_predictors_that_sit_in_interactions(hsb2):
    """hsb82: every predictor sits in an interaction and all are p < .001; "For practice" said
    none is reliably tied to the outcome. Here science and socst (p = .008, < .001) are put in an
    interaction, as read and math are."""
    results = replace(
        hsb2, spec=hsb2.spec.model_copy(update={"interactions": ["read:math", "science:socst"]})
    )
    text = section(results, "implications_section")
    practice = text.split("**For practice.**")[1].split("- **")[0]
    assert "None of the measured predictors is reliably tied" not in practice
    assert "Science" in practice and "Social studies" in practice
    assert "interaction" in practice


def test_methods_cite_cohen_once():
    """Both benchmarks come from Cohen (1988): the methods said "(Cohen (1988); Cohen (1988))"."""
    from hlm_analysis.present.document import ReportDocument

    text = ReportDocument(FIXTURES / "schools" / "results.json").methods()
    assert "Cohen's benchmarks (Cohen (1988)):" in text
    assert "Cohen (1988); Cohen (1988)" not in text


def test_equation_legend_uses_the_configured_group_noun(schools, hsb2):
    """group_noun: school gives 'j: school', not 'j: School group' (review of hsb82, Section 4);
    without a noun the grouping column still names the groups."""
    assert facts(schools)["equation_legend"] == "i: student, j: school"
    assert facts(hsb2)["equation_legend"] == "i: student, j: Socioeconomic status group"
