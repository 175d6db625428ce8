"""The story for any data (issue 21, the wording items): the question answered first, every
predictor named, no sentence from a model constraint, composition named as such, the reference
level that was used, effect-size benchmarks as configured, tiny groups weighed, plain words for
the technical terms."""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd
import pytest
from helpers import REFERENCE, fit, write_config
from pydantic import ValidationError

from hlm_analysis.present import narrative
from hlm_analysis.present.facts import facts
from hlm_analysis.results import ALL_MODELS, Check, HealthCheck, Status
from hlm_analysis.spec import Spec


def summary(results) -> str:
    return narrative.executive_summary(facts(results))


def bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- **")]


def with_spec(results, **keys):
    return replace(results, spec=results.spec.model_copy(update=keys))


@pytest.mark.parametrize("name", ["schools", "graduation"])
def test_the_question_is_answered_first_with_estimate_and_ci_whatever_its_p(name, request):
    results = request.getfixturevalue(name)
    first = bullets(summary(results))[0]
    assert first.startswith("- **The question:")
    assert "95% CI" in first and re.search(r"p [=<] \.\d+", first)
    # schools' question (gender) is not significant: it still leads, and says so
    if name == "schools":
        assert "cannot distinguish this from no difference" in first


def test_an_interaction_question_names_the_interaction_term(hsb2):
    first = bullets(summary(with_spec(hsb2, question="read:math")))[0]
    assert "depend on Mathematics score?" in first
    assert "Reading score × Mathematics score is" in first and "95% CI" in first


@pytest.mark.parametrize("name", ["hsb2", "schools", "graduation"])
@pytest.mark.parametrize("question", [True, False])
def test_every_configured_predictor_is_in_the_summary(name, question, request):
    results = request.getfixturevalue(name)
    if not question:
        results = with_spec(results, question=None, levers=[])
    text = summary(results)
    for column in results.spec.predictors:
        label = results.spec.labels.get(column, column)
        assert label.replace("(", "\\(").replace(")", "\\)") in text, (name, label)


def test_no_level_becomes_a_noun(graduation, schools):
    defaults = {"level_labels": {}, "event_label": None, "question": None}
    for results in (with_spec(graduation, **defaults), with_spec(schools, **defaults)):
        text = (
            narrative.executive_summary(facts(results))
            + narrative.key_findings(narrative.plain_facts(results))[1]
        )
        assert not re.search(r"\b(yes|no|Yes|No|Male|Female|[01]) students\b", text), text


def tiny(results, n_tiny: int):
    check = HealthCheck(ALL_MODELS, Check.TINY_GROUPS, Status.WARNING, value=n_tiny)
    return replace(results, health=(*results.health, check))


def test_a_few_tiny_groups_among_many_are_a_note_not_a_warning(graduation):
    base = narrative.health_section(graduation, facts(graduation)).splitlines()[1]
    few = narrative.health_section(tiny(graduation, 2), facts(graduation))
    assert few.splitlines()[1] == base  # the heading does not change
    assert "2 schools have fewer than 5 students" in few and "leaves the estimates sound" in few
    many = narrative.health_section(tiny(graduation, 12), facts(graduation))
    assert many.splitlines()[1] == "## Model health: warnings"
    assert "leaves the estimates sound" not in many


def test_kraft_benchmarks_label_the_sizes_and_methods_say_so(schools, tmp_path):
    cohen = summary(schools)
    kraft = summary(with_spec(schools, effect_sizes="kraft"))
    # School quality: 0.32 SD is medium by Cohen's r-type bands and large by Kraft's
    assert "0.32 SD, a medium association" in cohen
    assert "0.32 SD, a large association" in kraft
    f = facts(with_spec(schools, effect_sizes="kraft"))
    methods = narrative.render(
        "methods.md.j2",
        f=f,
        versions="x",
        final=schools.final,
        robust_noted=False,
        intervals_noted=False,
        final_notes="",
        conservative_lrt=False,
        conservative_level=False,
    )
    assert "labelled by Kraft's benchmarks" in methods and "Cohen's benchmarks" not in methods


def test_spec_refuses_a_question_that_is_not_in_the_model():
    base = {"title": "t", "data": "d.csv", "outcome": "y", "group": "g", "predictors": ["x", "z"]}
    Spec.model_validate({**base, "question": "x"})
    with pytest.raises(ValidationError, match="question: 'w' is not a predictor"):
        Spec.model_validate({**base, "question": "w"})
    with pytest.raises(ValidationError, match="not one of the interactions"):
        Spec.model_validate({**base, "question": "x:z"})
    Spec.model_validate({**base, "question": "z:x", "interactions": ["x:z"]})
    with pytest.raises(ValidationError, match="event_label: is for binary outcomes"):
        Spec.model_validate({**base, "event_label": "passes"})
    with pytest.raises(ValidationError, match="level_labels: 'w' is not a predictor"):
        Spec.model_validate({**base, "level_labels": {"w": {"a": "b"}}})
    # YAML's unquoted Yes: key is kept, as "true", for the lexicon to match a yes level
    spec = Spec.model_validate({**base, "level_labels": {"x": {True: "with x"}}})
    assert spec.level_labels == {"x": {"true": "with x"}}


@pytest.fixture(scope="module")
def hsb82(tmp_path_factory):
    """High School and Beyond (160 schools) with SES centred within schools, its school mean
    (contextual), a sector interaction and a random SES slope: the case where the contextual
    effect 'by sector' is a consequence of the model's form, and where sector explains much of
    the slope variance."""
    folder = tmp_path_factory.mktemp("hsb82")
    data = pd.read_csv(REFERENCE / "hsb82.csv")
    data["ses"] = data.cses + data.meanses
    data[["school", "mAch", "ses", "sector"]].to_csv(folder / "hsb82.csv", index=False)
    config = write_config(
        folder,
        "hsb82",
        data=str(folder / "hsb82.csv"),
        outcome="mAch",
        predictors=["ses", "sector"],
        group="school",
        centering={"ses": "group"},
        contextual=["ses"],
        interactions=["ses:sector"],
        random_slopes=["ses"],
        reference={"sector": "Public"},
        unit="student",
        group_noun="school",
        labels={"mAch": "Maths achievement", "ses": "SES", "sector": "Sector"},
    )
    return fit(config, folder / "out")


def test_no_contextual_finding_from_the_model_constraint(hsb82):
    assert {c.moderator for c in hsb82.contextual_effects} == {"sector"}
    f = facts(hsb82)
    text = narrative.executive_summary(f)
    assert "context.**" not in text  # the by-sector contrast is not stated as a finding
    interpretation = narrative.interpretation(f)
    assert "follow from the model's form and are not a finding" in interpretation


def test_composition_is_named_as_the_group_average(hsb82):
    text = summary(hsb82)
    assert "In schools whose average SES is one unit higher" in text
    assert "backgrounds" not in narrative.recommendations_section(facts(hsb82))


def test_slope_variance_explained_by_the_moderator_is_said(hsb82):
    share = hsb82.slope_variance_explained[0].proportion
    text = summary(hsb82)
    assert f"Sector accounts for {round(100 * share)}% of that variation" in text


def test_methods_name_the_reference_level_actually_used(hsb82):
    f = facts(hsb82)
    methods = narrative.render(
        "methods.md.j2",
        f=f,
        versions="x",
        final=hsb82.final,
        robust_noted=False,
        intervals_noted=False,
        final_notes="",
        conservative_lrt=False,
        conservative_level=False,
    )
    assert "Sector against Public (set by `reference:` in the configuration)" in methods
    assert "first level in sorted order" not in methods


def test_no_causal_wording(hsb2, schools, graduation, hsb82):
    # "not proof of cause" is the opposite of causal wording; these are claims of cause
    causal = re.compile(
        r"serve[sd]? less well|because of|leads? to|(?<!of )\bcauses?\b|\bimproves?\b"
    )
    for results in (hsb2, schools, graduation, hsb82):
        f = facts(results)
        text = narrative.implications_section(f) + narrative.recommendations_section(f)
        assert not causal.search(text), causal.search(text)


def test_technical_terms_of_the_summary_are_explained(schools, graduation):
    for results in (schools, graduation):
        text = summary(results)
        plain = text.split("*In plain words.*", 1)[1]
        for term in ("intraclass correlation", "Marginal R²"):
            assert term in plain
        if "reliability" in text.split("*In plain words.*")[0]:
            assert "Reliability (0 to 1)" in plain
        if " SD" in text.split("*In plain words.*")[0]:
            assert "standard deviation" in plain


def test_a_school_variable_in_an_interaction_lies_between_schools(hsb82):
    """Review 31: hsb82's practice line said the differences by Sector 'describe where
    Mathematics achievement differs between students'; Sector is one value per school."""
    f = facts(hsb82)
    between = {c["variable"]: c["between"] for c in f["conditional"]}
    assert between["Sector"] == "schools"
    assert "" in between.values()  # SES varies within schools: its differences are the students'
    # the school mean of SES (contextual) is a school variable too
    text = narrative.implications_section(f)
    assert "describe where Maths achievement differs between schools, not why" in text
