"""Readable names of variables and design terms (present/labels.py) from a hand-made Design."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hlm_analysis.present.labels import TermLabels, labels_for
from hlm_analysis.results import (
    INTERCEPT,
    Design,
    Term,
    TermKind,
    Variable,
    VariableKind,
)

TIMES = "\u00d7"

DESIGN = Design(
    outcome="score",
    group="school",
    predictors=("age", "sex", "ses", "ses_group_mean", "hours", "hours_group_mean"),
    variables=(
        Variable("age", VariableKind.NUMERIC, terms=("age",)),
        Variable(
            "sex",
            VariableKind.CATEGORICAL,
            levels=("F", "M", "X"),
            terms=("sex[T.M]", "sex[T.X]"),
        ),
        Variable("ses", VariableKind.NUMERIC, centering="group", terms=("ses",)),
        Variable("ses_group_mean", VariableKind.NUMERIC, mean_of="ses", terms=("ses_group_mean",)),
        Variable("hours", VariableKind.NUMERIC, terms=("hours",)),
        Variable(
            "hours_group_mean", VariableKind.NUMERIC, mean_of="hours", terms=("hours_group_mean",)
        ),
        Variable("track", VariableKind.CATEGORICAL, levels=("academic", "vocational")),
    ),
    terms=(
        Term(INTERCEPT, TermKind.INTERCEPT),
        Term("age", TermKind.NUMERIC, variable="age"),
        Term("sex[T.M]", TermKind.DUMMY, variable="sex", level="M"),
        Term("sex[T.X]", TermKind.DUMMY, variable="sex", level="X"),
        Term("ses", TermKind.NUMERIC, variable="ses"),
        Term("ses_group_mean", TermKind.NUMERIC, variable="ses_group_mean"),
        Term("hours", TermKind.NUMERIC, variable="hours"),
        Term("hours_group_mean", TermKind.NUMERIC, variable="hours_group_mean"),
        Term("track[T.vocational]", TermKind.DUMMY, variable="track", level="vocational"),
        Term("age:sex[T.M]", TermKind.INTERACTION, parts=("age", "sex[T.M]")),
        Term("age:ses", TermKind.INTERACTION, parts=("age", "ses")),
        Term(
            "age:ses:sex[T.X]",
            TermKind.INTERACTION,
            parts=("age", "ses", "sex[T.X]"),
        ),
    ),
)
LABELS = {"score": "Test score", "school": "School", "age": "Age (years)", "sex": "Gender"}


@pytest.fixture
def labels():
    return TermLabels({**LABELS, "ses": "SES"}, DESIGN)


def test_numeric_term_uses_the_config_label(labels):
    assert labels.term("age") == "Age (years)"
    # a group-mean centred variable is named for what it is; raw() gives the measured variable
    assert labels.term("ses") == "SES relative to the school mean"
    assert labels.raw("ses") == "SES"


def test_unlabelled_numeric_term_keeps_its_column_name(labels):
    assert labels.term("hours") == "hours"


def test_dummy_term_names_level_and_reference(labels):
    assert labels.term("sex[T.M]") == "Gender: M (vs F)"
    assert labels.term("sex[T.X]") == "Gender: X (vs F)"
    assert labels.term("track[T.vocational]") == "track: vocational (vs academic)"


def test_dummy_term_without_reference(labels):
    assert labels.term("sex[T.M]", with_reference=False) == "Gender: M"
    assert labels.term("sex[T.X]", False) == "Gender: X"


def test_interaction_joins_parts_with_a_times_sign_and_no_reference(labels):
    assert labels.term("age:sex[T.M]") == f"Age (years) {TIMES} Gender: M"
    ses = "SES relative to the school mean"
    assert labels.term("age:ses") == f"Age (years) {TIMES} {ses}"
    assert labels.term("age:ses:sex[T.X]") == f"Age (years) {TIMES} {ses} {TIMES} Gender: X"
    assert "vs" not in labels.term("age:sex[T.M]", with_reference=True)
    assert TIMES == "×"


def test_group_mean_reads_as_the_group_mean_of_its_column(labels):
    assert labels.variable("ses_group_mean") == "SES (school mean)"
    assert labels.term("ses_group_mean") == "SES (school mean)"
    assert labels.variable("hours_group_mean") == "hours (school mean)"


def test_a_label_for_the_group_mean_column_itself_wins():
    labels = TermLabels({"ses_group_mean": "School SES", "ses": "SES"}, DESIGN)
    assert labels.variable("ses_group_mean") == "School SES"


def test_intercept(labels):
    assert labels.term(INTERCEPT) == "Intercept"
    assert labels.term(INTERCEPT, with_reference=False) == "Intercept"


def test_variables_outside_the_design(labels):
    assert labels.variable("score") == "Test score"
    assert labels.variable("school") == "School"
    assert labels.variable("not_a_column") == "not_a_column"


def test_unknown_term_raises(labels):
    with pytest.raises(KeyError):
        labels.term("nope")


def test_dummy_parts(labels):
    assert labels.dummy_parts("sex[T.X]") == ("Gender", "X", "F")
    assert labels.dummy_parts("track[T.vocational]") == ("track", "vocational", "academic")
    assert labels.dummy_parts("age") is None
    assert labels.dummy_parts(INTERCEPT) is None
    assert labels.dummy_parts("age:sex[T.M]") is None


def test_labels_change_with_the_mapping():
    plain = TermLabels({}, DESIGN)
    assert plain.term("sex[T.M]") == "sex: M (vs F)"
    assert plain.term("age:sex[T.M]") == f"age {TIMES} sex: M"
    assert plain.variable("ses_group_mean") == "ses (school mean)"
    assert plain.variable("ses") == "ses relative to the school mean"


def test_grand_mean_centring_is_named():
    design = replace(
        DESIGN,
        variables=tuple(
            replace(v, centering="grand") if v.name == "age" else v for v in DESIGN.variables
        ),
    )
    assert TermLabels({}, design).variable("age") == "age (centred at the overall mean)"


def test_labels_for_reads_spec_labels_and_design(schools):
    labels = labels_for(schools)
    gender = schools.design.variable("StudentGender")
    term = gender.terms[0]
    level, reference = schools.design.term(term).level, gender.levels[0]
    assert labels.term(term) == f"{schools.spec.labels['StudentGender']}: {level} (vs {reference})"
    assert labels.variable(schools.spec.outcome) == schools.spec.labels[schools.spec.outcome]
