"""The sentence catalogue: every template rendered over a grid of fact combinations (linear and
binary outcomes, levers or none, a question or none, an interaction or none, random slopes that
vary, are imprecise, constant, dropped or singular, too few groups) and the domains (students
in schools, women in districts, pupils in classes; pupils in classes in schools, test scores in
children in schools (growth), pupils in crossed primary and secondary schools). The result is tests/snapshots/catalogue.md,
which a reviewer reads top to bottom; this test fails when the text changes unintentionally
(UPDATE_SNAPSHOTS=1 rewrites it) and on any grammatical slip in any scenario: number
disagreement ("1 schools"), "a" before a vowel sound, doubled words, empty phrases, "None",
"nan", or a school word in a domain that has none."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import replace

import pytest
from helpers import SNAPSHOTS, fixture_results

from hlm_analysis.present import lexicon, narrative
from hlm_analysis.present.facts import facts
from hlm_analysis.present.labels import labels_for
from hlm_analysis.results import Reference

CATALOGUE = SNAPSHOTS / "catalogue.md"

WOMEN_BINARY = {
    "title": "Contraceptive use of women in districts",
    "unit": "woman",
    "group_noun": "district",
    "event_label": "uses contraception",
    "question": "Mentoring",
    "labels": {
        "Graduated": "Uses contraception",
        "Mentoring": "Urban area",
        "FreeLunch": "Has children",
        "Absences": "Age (years)",
        "School": "District",
    },
    "level_labels": {
        "Mentoring": {"yes": "women in urban districts", "no": "women in rural districts"},
        "FreeLunch": {"yes": "women with children", "no": "women without children"},
    },
}
# the same survey with no words configured: every default must still read correctly
WOMEN_DEFAULTS = {
    "title": "Contraceptive use",
    "unit": "woman",
    "group_noun": None,
    "event_label": None,
    "question": None,
    "levers": [],
    "level_labels": {},
    "labels": {
        "Graduated": "Uses contraception",
        "Mentoring": "Urban area",
        "FreeLunch": "Has children",
        "Absences": "Age (years)",
        "School": "DistrictID",
    },
}
WOMEN_LINEAR = {
    "title": "Ideal family size",
    "unit": "woman",
    "group_noun": "district",
    "question": None,
    "labels": {
        "ExamScore": "Ideal family size",
        "SchoolQuality": "Health-service rating",
        "StudentGender": "Partner's education",
        "StudentAge": "Age (years)",
        "SchoolID": "District",
    },
    "level_labels": {
        "StudentGender": {"Female": "women whose partner finished secondary school"},
    },
}
PUPILS = {
    "title": "Reading in classes",
    "unit": "pupil",
    "group_noun": "class",
    "labels": {
        "ExamScore": "Reading score",
        "SchoolQuality": "Teacher experience (years)",
        "StudentGender": "Gender",
        "StudentAge": "Age (years)",
        "SchoolID": "Class",
    },
    "level_labels": {"StudentGender": {"Female": "girls", "Male": "boys"}},
}
PUPILS_INTERACTION = {"unit": "pupil", "group_noun": "class", "labels": {"ses": "Class"}}


def with_spec(results, **keys):
    labels = keys.pop("labels", None)
    spec = results.spec.model_copy(update=keys)
    if labels is not None:
        spec = spec.model_copy(update={"labels": {**results.spec.labels, **labels}})
    return replace(results, spec=spec)


# Facts-level variants: the branches of a random slope and of an interaction that the three
# fitted fixtures do not reach on their own. Each changes only flags and the strings they need.
def slope(**flags):
    def patch(f):
        if f["slope"] is None:
            return
        for entry in f["slope"]["entries"]:
            entry.update(flags)

    return patch


def slope_dropped(f):
    f["slope"] = None
    f["slopes_configured"] = True
    f["final"]["reason"] = "The random slope's variance is at the boundary, so it was dropped."
    # the configured slope the final model lost, in the scenario's own words
    f["dropped_slopes"] = [
        {"label": e["variable"], "many": f["group_many"], "one": f["group_one"]}
        for e in f["main_effects"][:1]
    ]


def singular(f):
    f["singular"] = [
        {
            "model": "Random slope",
            "terms": "Gender\\: Male",
            "what": f"the variance of the effect of Gender\\: Male between {f['group_many']}",
            "several": False,
        }
    ]


def liberal(f):
    for q in f["questions"]:
        q["liberal"] = True
        for t in q["terms"]:
            t["robust_p"] = "p = .261"


def contextual(constrained: bool):
    """Contextual effects of a group-centred predictor: one row, or one per moderator level
    (which the summary must not state when the model has no mean x moderator term)."""

    def patch(f):
        row = {
            "variable": "Age \\(years\\)",
            "group": f["group_one"],
            "groups": f["group_many"],
            "moderator": "Gender" if constrained else "",
            "p": "p = .004",
            "significant": True,
            "within": "−1.02",
            "between": "1.60",
            "contextual": "2.62",
            "contextual_abs": "2.62",
            "contextual_positive": True,
            "contextual_se": "0.91",
            "contextual_or": "1.31",
            "constrained": constrained,
        }
        if constrained:
            f["contextual"] = [
                {**row, "at": "Gender = Female"},
                {**row, "at": "Gender = Male", "contextual": "1.10", "significant": False},
            ]
        else:
            f["contextual"] = [{**row, "at": ""}]

    return patch


def binary_question(hsb2_facts):
    """A yes/no outcome with an interaction, the research question's sentences on the odds scale."""

    def patch(f):
        questions = copy.deepcopy(hsb2_facts["questions"])
        for q in questions:
            for s in q["slopes"]:
                s["odds_ratio"] = "1.19"
            for t in q["terms"]:
                t.update(odds_ratio="0.994", or_ci="0.985 to 1.00")
        f["questions"] = questions
        f["has_interactions"] = True

    return patch


def joint(f):
    name = f["main_effects"][0]["variable_name"]
    f["joint"] = [
        {
            "predictor": name,
            "label": f["main_effects"][0]["variable"],
            "test": "F(2, 35.2) = 3.41",
            "method": "Satterthwaite F",
            "p": "p = .044",
            "significant": True,
        }
    ]


def explained(varied_before: bool):
    return slope(
        varies=False,
        explained="57%",
        explained_grew=False,
        moderators="Teacher experience \\(years\\)",
        moderators_many=False,
        tau_without="0.560",
        tau_with="0.240",
        varied_before=varied_before,
        p_before="p = .021",
    )


def scenarios():
    schools, graduation, hsb2 = (fixture_results(n) for n in ("schools", "graduation", "hsb2"))
    no_words = {"levers": [], "question": None, "level_labels": {}}
    yield "students in schools, linear, lever, question", schools, None
    yield "students in schools, linear, no lever, no question", with_spec(schools, **no_words), None
    yield "students in schools, binary, lever, question", graduation, None
    yield (
        "students in schools, binary, no lever, default words",
        with_spec(graduation, event_label=None, **no_words),
        None,
    )
    yield "students in groups, interaction, 3 groups", hsb2, None
    yield (
        "students in groups, interaction as the question",
        with_spec(hsb2, question="read:math"),
        None,
    )
    yield "interaction whose slope could not stay (CR2 leads)", hsb2, liberal
    yield (
        "students in groups, every reliable predictor in an interaction",
        with_spec(hsb2, interactions=["read:math", "science:socst"]),
        None,
    )
    yield (
        "women in districts, binary, configured words",
        with_spec(graduation, **WOMEN_BINARY),
        None,
    )
    yield "women in districts, binary, default words", with_spec(graduation, **WOMEN_DEFAULTS), None
    yield "women in districts, linear", with_spec(schools, **WOMEN_LINEAR), None
    yield "pupils in classes, linear, lever, question", with_spec(schools, **PUPILS), None
    yield "pupils in classes, interaction, 3 classes", with_spec(hsb2, **PUPILS_INTERACTION), None
    yield (
        "pupils in classes, slope varies, reliable",
        with_spec(schools, **PUPILS),
        slope(varies=True, reliable=True),
    )
    yield (
        "pupils in classes, slope varies, imprecise",
        with_spec(schools, **PUPILS),
        slope(varies=True, reliable=False),
    )
    yield (
        "pupils in classes, slope constant, reliable",
        with_spec(schools, **PUPILS),
        slope(varies=False, reliable=True),
    )
    yield (
        "pupils in classes, slope explained by a moderator",
        with_spec(schools, **PUPILS),
        explained(True),
    )
    yield (
        "pupils in classes, slope varies and is partly explained",
        with_spec(schools, **PUPILS),
        slope(
            varies=True,
            reliable=True,
            explained="57%",
            explained_grew=False,
            moderators="Teacher experience \\(years\\)",
            moderators_many=False,
            tau_without="0.560",
            tau_with="0.240",
            varied_before=True,
            p_before="p = .021",
        ),
    )
    yield "pupils in classes, slope dropped", with_spec(schools, **PUPILS), slope_dropped
    yield "pupils in classes, singular fit", with_spec(schools, **PUPILS), singular
    yield "pupils in classes, a factor's joint test", with_spec(schools, **PUPILS), joint
    yield (
        "women in districts, binary, slope constant",
        with_spec(graduation, **WOMEN_BINARY),
        slope(varies=False, reliable=True),
    )
    yield "students in schools, contextual effect", schools, contextual(False)
    yield (
        "students in schools, contextual effects by a moderator (model form)",
        schools,
        contextual(True),
    )
    yield (
        "women in districts, binary, contextual effect",
        with_spec(graduation, **WOMEN_BINARY),
        contextual(False),
    )
    # several levels: pupils in classes in schools, growth (scores in children in schools) and
    # crossed primary and secondary schools, each fitted from its example config
    pupils, growth, crossed = (
        fixture_results(n) for n in ("levels_pupils", "levels_growth", "levels_scotssec")
    )
    yield "pupils in classes in schools, three levels, lever, question", pupils, None
    yield (
        "pupils in classes in schools, no lever, default nouns",
        with_spec(pupils, levers=[], question=None, group_noun=None, level_labels={}),
        None,
    )
    yield "test scores in children in schools, growth", growth, None
    yield (
        "measurements in children in schools, growth, default unit",
        with_spec(growth, unit=None),
        None,
    )
    yield "pupils in crossed primary and secondary schools", crossed, None
    yield (
        "pupils in classes in schools, binary (free school meals)",
        fixture_results("levels_binary"),
        None,
    )
    yield (
        "crossed levels without nouns",
        with_spec(crossed, group_noun=None, labels={"primary": "PrimaryID", "second": "SecondID"}),
        None,
    )
    hsb2_facts = facts(hsb2)
    yield (
        "students in schools, binary, an interaction",
        with_spec(graduation, question=None),
        binary_question(hsb2_facts),
    )
    yield (
        "students in schools, binary, the interaction as the question",
        with_spec(graduation, question=None),
        lambda f: (
            binary_question(hsb2_facts)(f),
            f.update(question={**f["questions"][0], "is_interaction": True}),
        ),
    )


SECTIONS = (
    "data",
    "executive_summary",
    "interpretation",
    "recommendations_section",
    "implications_section",
    "health_section",
    "methods",
    "email_findings",
)


def render_all(results, patch) -> dict[str, str]:
    f = facts(results)
    plain = facts(results, escape=str)
    if patch is not None:
        patch(f)
        patch(plain)
    out = {}
    for name in SECTIONS:
        if name == "data":
            out[name] = narrative.render("data.md.j2", f=f)
        elif name == "health_section":
            out[name] = narrative.health_section(results, f)
        elif name == "methods":
            out[name] = narrative.render(
                "methods.md.j2",
                f=f,
                versions="(versions)",
                final=results.final,
                robust_noted=False,
                intervals_noted=False,
                final_notes="",
                conservative_lrt=False,
                conservative_level=any(
                    t.p_value_method == Reference.CHI_SQUARE_CONSERVATIVE
                    for t in results.component_tests
                ),
            )
        elif name == "email_findings":
            out[name] = "\n".join(f"- {line}" for line in narrative.key_findings(plain)) + "\n"
        else:
            out[name] = getattr(narrative, name)(copy.deepcopy(f))
    return out


def catalogue() -> tuple[str, list[tuple[str, object, dict[str, str]]]]:
    rendered = [(name, results, render_all(results, patch)) for name, results, patch in scenarios()]
    parts = [
        "# Sentence catalogue\n\n"
        "Every section the report writes, for each scenario of tests/present/test_catalogue.py.\n"
        "Regenerate with `UPDATE_SNAPSHOTS=1` and read the diff.\n"
    ]
    for name, _, sections in rendered:
        parts.append(f"\n## {name}\n")
        for section, text in sections.items():
            parts.append(f"\n### {section}\n\n{text}")
    return "".join(parts), rendered


@pytest.fixture(scope="module")
def built():
    return catalogue()


def test_catalogue_snapshot(built):
    text, _ = built
    if os.environ.get("UPDATE_SNAPSHOTS") or not CATALOGUE.exists():
        if os.environ.get("CI"):
            pytest.fail("catalogue.md is missing; run UPDATE_SNAPSHOTS=1 make test and commit it")
        CATALOGUE.write_text(text)
    assert text == CATALOGUE.read_text()


# Words that are not English words for the article rule: inflect reads the letters, "an SD".
_ARTICLE_EXEMPT = {"one", "once"}


def slips(text: str, lex: lexicon.Lexicon) -> list[str]:
    """Grammatical slips in rendered text, each as a short description."""
    found = []
    prose = "\n".join(line for line in text.splitlines() if not line.startswith("|"))
    for bad in (r"\bNone\b(?! of)", r"\bnan\b", r"\bNaN\b", r"\bundefined\b", r"classs", r"womans"):
        found += [f"'{m.group(0)}'" for m in re.finditer(bad, prose)]
    for empty in (r"\(\s*\)", r" ,", r" ;", r" \.(?!\d)", r"[^\s|]  +\S", r", ,", r"\.\.(?!\.)"):
        found += [f"empty phrase {m.group(0)!r}" for m in re.finditer(empty, prose)]
    for m in re.finditer(r"\b([A-Za-z]+) \1\b", prose, flags=re.I):
        found.append(f"doubled word {m.group(0)!r}")
    for m in re.finditer(r"\b(a|an|A|An) ([A-Za-z][A-Za-z-]*)\b", prose):
        word = m.group(2)
        if word.lower() in _ARTICLE_EXEMPT:
            continue
        right = lexicon.article(word).split(" ", 1)[0]
        if right != m.group(1).lower():
            found.append(f"article {m.group(0)!r}")
    for noun in (lex.unit, lex.group, lexicon.noun("group"), *(t.noun for t in lex.tiers)):
        if re.search(rf"(?<![\d.,]){re.escape('1 ' + noun.many)}\b", prose):
            found.append(f"'1 {noun.many}'")
        for m in re.finditer(rf"\b(\d[\d,]*) {re.escape(noun.one)}\b(?!-)", prose):
            if m.group(1) != "1":
                found.append(f"number disagreement {m.group(0)!r}")
    return found


def test_no_grammatical_slip_in_any_scenario(built):
    _, rendered = built
    problems = []
    for name, results, sections in rendered:
        lex = lexicon.build(results.spec, results.design, labels_for(results).raw)
        for section, text in sections.items():
            problems += [f"{name} / {section}: {s}" for s in slips(text, lex)]
    assert not problems, "\n".join(problems)


def test_no_school_word_where_the_config_gave_none(built):
    _, rendered = built
    school = re.compile(r"\b(schools?|students?|pupils?|teachers?)\b", re.I)
    for name, _, sections in rendered:
        if not name.startswith("women"):
            continue
        for section, text in sections.items():
            # the model formula and tables show the data's own column names, not report words
            prose = "\n".join(x for x in text.splitlines() if not x.startswith((":", "|")))
            words = sorted({m.group(0) for m in school.finditer(prose)})
            assert not words, f"{name} / {section} says {words}"


def test_the_slip_finder_finds_slips():
    lex = lexicon.build(
        fixture_results("schools").spec,
        fixture_results("schools").design,
        labels_for(fixture_results("schools")).raw,
    )
    for text in (
        "There is 1 schools here.",
        "We saw 20 school in all.",
        "It is a interaction.",
        "It is an school.",
        "the the end",
        "p (None)",
        "estimate nan",
        "a list ( ) of",
        "a word , then",
    ):
        assert slips(text, lex), text
    assert not slips("1 school and 20 schools; an interaction, a university, 95% CI .5.", lex)
