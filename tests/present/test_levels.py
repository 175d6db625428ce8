"""Several grouping levels in the report's words and equations: a noun for every level, the
level-1/2/3 equations of Raudenbush & Bryk and the lme4 formula, crossed factors."""

from __future__ import annotations

from dataclasses import replace

from helpers import fixture_results

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
