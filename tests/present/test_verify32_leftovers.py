"""Verify 32's 'found, not fixed' sentences (/work/notes/verify32-story.md), each read from
stored results (fixtures verify32_*; no fit)."""

from __future__ import annotations

import dataclasses
import re

from helpers import fixture_results

from hlm_analysis.present import narrative
from hlm_analysis.present.facts import facts


def _with_final(results, **changes):
    """The results with the final model's fields changed."""
    models = dict(results.models)
    models[results.final_model] = dataclasses.replace(results.final, **changes)
    return dataclasses.replace(results, models=models)


def _variance_paragraph(results) -> str:
    text = narrative.interpretation(facts(results))
    return text[text.index("Relative to the null model") :].split("\n\n")[0]


def test_a_variance_change_under_half_a_percent_is_not_said_as_zero():
    """crossed: 'increases the (intercept) variance between 초등학교 by 0%' (a change under
    0.5%, rounded to 0%, with a direction)."""
    r = fixture_results("verify32_pupils3")
    school, cls = r.final.levels
    levels = (
        dataclasses.replace(school, variance_explained=0.003),
        dataclasses.replace(cls, variance_explained=-0.004),
    )
    r = _with_final(r, levels=levels)
    text = _variance_paragraph(r)
    assert not re.search(r"by [−-]?0%", text)
    assert "changes the (intercept) variance between schools by less than 1%" in text
    assert "between classes within schools by less than 1%" in text
    # two changes too small to matter are no reason to explain why a variance grows
    assert "can grow" not in text
    people = fixture_results("verify32_people")
    people = _with_final(people, variance_explained_level1=-0.002)
    text = _variance_paragraph(people)
    assert "changes the variance within counties by less than 1%" in text
    assert not re.search(r"by [−-]?0%", text)


def test_a_variance_at_zero_is_said_in_the_configured_nouns_without_claiming_sameness():
    """women3: 'The variance between groups at the district level is estimated at zero (a
    singular fit): those groups do not differ detectably' ('groups' where the config names
    districts; a variance at zero means the data cannot tell them apart, not that they are
    alike)."""
    from types import SimpleNamespace

    from hlm_analysis.model import final

    nouns = {"district": "district", "region": "region"}
    spec = SimpleNamespace(noun_at=lambda lv, plural=False: nouns.get(lv), label=str.title)
    prepared = SimpleNamespace(spec=spec)
    text = final.zero_variance_words(prepared, ["region", "district"])
    assert "groups" not in text and "do not differ" not in text
    assert "cannot tell one region from another, nor one district from another" in text
    assert "the region level and the district level is estimated at zero" in text
    # no noun configured: the column's label
    one = final.zero_variance_words(
        SimpleNamespace(
            spec=SimpleNamespace(noun_at=lambda lv, plural=False: None, label=lambda c: "Hospital")
        ),
        ["hosp"],
    )
    assert "cannot tell one hospital from another" in one


def test_the_configured_event_words_replace_the_outcome_code():
    """women (event_label 'uses contraception'): 'latent propensity for Uses contraception =
    Y', '(all Uses contraception = Y or none)', 'Uses contraception = Y holds for 3%'."""
    results = fixture_results("verify32_women_int")
    assert results.spec.event_label == "uses contraception"
    f = facts(results)
    code = f["event"]
    assert code and "=" in code
    said = {
        "interpretation": narrative.interpretation(dict(f)),
        "health": narrative.health_section(results, dict(f)),
        "data": narrative.render("data.md.j2", f=dict(f)),
    }
    for name, text in said.items():
        assert f"propensity for {code}" not in text, name
        assert f"odds of {code}" not in text, name
        assert f"{code} holds for" not in text, name
        assert f"(all {code} or none)" not in text, name
    assert "the event that a woman uses contraception" in said["interpretation"]
    assert "The outcome is whether a woman uses contraception: yes for" in said["data"]
    assert "(every woman or no woman uses contraception)" in said["health"]


def test_the_board_summary_glosses_the_interaction_estimate():
    """pupils3: 'the coefficient of Homework time × Motivation is 2.95' ('coefficient' glossed
    nowhere for a board)."""
    summary = narrative.executive_summary(facts(fixture_results("verify32_pupils3")))
    assert "coefficient" not in summary
    assert re.search(r"the interaction Homework time × Motivation is \d", summary)
    assert "(how far the link of one with Test score shifts with the other; 95% CI" in summary
