"""The report names the level of each contextual effect when there are several levels (issue 22:
`contextual: {school: [prior], class: [prior]}`): the summary, the interpretation and the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_config

from hlm_analysis.model.analysis import run_analysis
from hlm_analysis.present import narrative, tables
from hlm_analysis.present.facts import facts
from hlm_analysis.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ctx")
    config = write_config(
        tmp,
        "ctx",
        data=ROOT / "data/pupils.csv",
        outcome="score",
        predictors=["prior", "fsm", "sector"],
        group=["school", "class"],
        group_noun={"school": "school", "class": "class"},
        unit="pupil",
        random_slopes={"class": ["prior"]},
        contextual={"school": ["prior"], "class": ["prior"]},
    )
    return run_analysis(load_spec(config), tmp / "out")


def test_each_level_is_named(results):
    f = facts(results)
    summary = narrative.executive_summary(f)
    assert "The context at each level." in summary
    assert "for the class average, no clear difference" in summary
    assert "for the school average, the second scores 1.27 points higher" in summary
    text = narrative.interpretation(f)
    assert "within classes 0.496 per unit, between classes 0.579" in text
    assert "within schools 0.579 per unit, between schools 1.85" in text
    assert "one in a school whose average is one unit higher, differ by 1.27 points" in text
    table = tables.contextual(results, "tbl-contextual")
    assert "| prior \\(class\\) | within |" in table and "| prior \\(school\\) | within |" in table
