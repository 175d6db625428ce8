"""Recommendations advise action only on levers (config `levers:`); everything else is context.
School-level advice rests on the ICC after the predictors; the summary answers each research
question (interaction) from the final model's simple slopes."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from hlm_analysis.present import narrative, tables
from hlm_analysis.present.facts import facts
from hlm_analysis.present.labels import labels_for
from hlm_analysis.results import TermKind

ACTION = re.compile(r"pilot|interven|early signal|start with|change it|change them|act on", re.I)


def with_levers(results, levers):
    return replace(results, spec=results.spec.model_copy(update={"levers": levers}))


def predictor_labels(results) -> list[str]:
    labels = labels_for(results)
    return [
        labels.raw(v.name) for v in results.design.variables if v.name in results.spec.predictors
    ]


def recommendations(results) -> list[str]:
    text = narrative.recommendations_section(facts(results, escape=str))
    return [line for line in text.splitlines() if line.startswith("1. ")]


@pytest.mark.parametrize("name", ["hsb2", "schools"])
def test_no_recommendation_advises_acting_on_a_non_lever(name, request):
    results = with_levers(request.getfixturevalue(name), [])
    items = recommendations(results)
    assert items
    for item in items:
        assert not ACTION.search(item), item
    implications = narrative.implications_section(facts(results, escape=str))
    assert not ACTION.search(implications)


def test_a_lever_gets_action_advice_and_only_the_lever(schools):
    results = with_levers(schools, ["SchoolQuality"])
    items = recommendations(results)
    acting = [i for i in items if ACTION.search(i)]
    assert len(acting) == 1 and "School quality rating" in acting[0]
    for label in predictor_labels(results):
        if label != "School quality rating":
            assert all(label not in i for i in acting)
    context = [i for i in items if "as context, not as levers" in i]
    assert context and "Age" in context[0] and "sort or label" in context[0]


def test_significant_non_levers_are_described_as_equity_questions(schools):
    items = recommendations(with_levers(schools, []))
    context = next(i for i in items if "as context, not as levers" in i)
    assert "School quality rating" in context and "Age (years)" in context
    assert "the analyst listed no predictor as a lever" in context and "equity question" in context


def test_school_level_advice_uses_the_icc_after_predictors(schools):
    # The final model has a random slope (gender), so the intercept variance is the variance
    # for the reference gender alone: the share after the predictors is averaged over the
    # students instead (Nakagawa's adjusted ICC), in the facts and in the ladder table alike.
    f = facts(schools, escape=str)
    assert len(schools.final.random_terms) > 1
    assert f["icc_after"]["value"] == f"{schools.final.icc_adjusted:.3f}"
    assert f["icc_after"]["value"] != f"{schools.final.icc_residual:.3f}"
    assert f"{schools.final.icc_adjusted:.3f}" in tables.ladder(schools, "tbl-ladder")
    text = narrative.implications_section(f)
    assert f["icc_after"]["pct"] in text and "After the predictors" in text


def test_the_summary_answers_the_research_question_with_both_slopes(hsb2):
    summary = narrative.executive_summary(facts(hsb2, escape=str))
    slopes = [s for s in hsb2.simple_slopes if s.interaction == "read:math"]
    assert len(slopes) == 3
    line = next(b for b in summary.splitlines() if b.startswith("- **Reading score and"))
    for s in slopes:
        assert f"{s.estimate:.3g}" in line or f"{s.estimate:.3f}" in line
    product = next(
        fe
        for fe in hsb2.final.fixed_effects
        if hsb2.design.term(fe.term).kind == TermKind.INTERACTION
    )
    assert ("no clear evidence" in line) == (product.p_value >= 0.05)


def test_adding_group_level_measures_is_not_advised_when_the_model_has_them(schools):
    design = replace(
        schools.design,
        variables=tuple(
            replace(v, group_level=True) if v.name == "SchoolQuality" else v
            for v in schools.design.variables
        ),
    )
    text = narrative.implications_section(facts(replace(schools, design=design), escape=str))
    assert "adding group-level measures" not in text
