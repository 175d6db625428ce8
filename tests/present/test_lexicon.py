"""The lexicon (present/lexicon.py): the one place that builds the report's noun phrases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hlm_analysis.present import lexicon
from hlm_analysis.results import Design, Variable, VariableKind


@pytest.mark.parametrize(
    ("one", "many"),
    [
        ("class", "classes"),
        ("woman", "women"),
        ("child", "children"),
        ("school", "schools"),
        ("staff member", "staff members"),
        ("analysis", "analyses"),
        ("district", "districts"),
    ],
)
def test_plurals_come_from_inflect_not_suffix_rules(one, many):
    assert lexicon.plural(one) == many
    assert lexicon.noun(one).many == many


@pytest.mark.parametrize(
    ("one", "many"),
    [
        ("TA", "TAs"),  # an acronym takes a lower-case s (inflect wrote "TAS")
        ("GP", "GPs"),
        ("CEO", "CEOs"),
        ("SENCO", "SENCOs"),
        ("NHS trust", "NHS trusts"),
        ("학교", "학교"),  # no plural ending in Korean, Chinese or Japanese (was "학교S")
        ("学校", "学校"),
        ("school 🏫", "school 🏫"),  # an emoji or a digit at the end takes no "S"
        ("Aufgabe 1", "Aufgabe 1"),
        ("pupil (KS2)", "pupil (KS2)"),
    ],
)
def test_a_noun_inflect_cannot_read_gets_no_capital_s(one, many):
    """inflect keeps a word's case and treats what it cannot read as capitals: "TAS",
    "학교S", "Aufgabe 1S" (verify round 31). Set unit_plural:/group_plural: for others."""
    assert lexicon.plural(one) == many


def test_articles_follow_the_sound():
    assert lexicon.article("interaction") == "an interaction"
    assert lexicon.article("hour") == "an hour"
    assert lexicon.article("university") == "a university"


def test_counts_agree_in_number():
    school = lexicon.noun("school")
    assert school.count(1) == "1 school" and school.count("2,774") == "2,774 schools"


def test_possessive_of_regular_and_irregular_plurals():
    assert lexicon.possessive("students") == "students'"
    assert lexicon.possessive("women") == "women's"


def design(binary_level_2: bool = False) -> Design:
    return Design(
        outcome="use",
        group="dist_id",
        predictors=("urban", "kids", "minority"),
        variables=(
            Variable("urban", VariableKind.CATEGORICAL, levels=("N", "Y"), group_level=True),
            Variable("kids", VariableKind.NUMERIC, binary=True),
            Variable("minority", VariableKind.CATEGORICAL, levels=("No", "Yes")),
        ),
        terms=(),
        event="Y",
    )


def spec(**keys):
    base = {
        "unit": "observation",
        "unit_plural": None,
        "group_noun": None,
        "group_plural": None,
        "event_label": None,
        "level_labels": {},
        "family": "binomial",
        "labels": {"use": "Uses contraception", "urban": "Urban", "minority": "Minority"},
    }
    base |= keys
    ns = SimpleNamespace(**base)
    ns.label = lambda column: base["labels"].get(column, column)
    return ns


def test_defaults_invent_no_domain_and_never_make_a_level_a_noun():
    lex = lexicon.build(spec(), design())
    assert (lex.unit.many, lex.group.many) == ("observations", "groups")
    assert lex.groups_counted == "groups (dist_id)"
    assert lex.level("minority", "Yes") == "observations with Minority = Yes"
    assert lex.level("kids", "1") == "observations with kids = 1"
    # a group-level predictor describes the rows by their group
    assert lex.level("urban", "Y") == "observations in groups with Urban = Y"
    assert lex.event_clause == "an observation has Uses contraception = Y"
    assert lex.changeable == "something that can be changed"


def test_config_words_win_and_plurals_are_inflected():
    lex = lexicon.build(
        spec(
            unit="woman",
            group_noun="district",
            event_label="uses contraception",
            level_labels={
                "urban": {"Y": "women in urban areas"},
                "minority": {"true": "minority women"},
            },
        ),
        design(),
    )
    assert (lex.unit.one, lex.unit.many, lex.group.many) == ("woman", "women", "districts")
    assert lex.event_clause == "a woman uses contraception"
    assert lex.level("urban", "Y") == "women in urban areas"
    assert lex.level("urban", "N") == "women in districts with Urban = N"
    # YAML's boolean key `Yes:` stands for the data's "Yes" level
    assert lex.level("minority", "Yes") == "minority women"
    assert lex.changeable == "something districts can change"


def test_a_one_word_group_label_is_the_group_noun_anything_else_is_group():
    assert lexicon.derived_group_noun("School") == "school"
    assert lexicon.derived_group_noun("SchoolID") is None
    assert lexicon.derived_group_noun("Socioeconomic status") is None
    lex = lexicon.build(spec(labels={"dist_id": "District"}), design())
    assert lex.group.many == "districts" and lex.group_named
