"""Group profiles of a model with several levels (issue 22): whose groups get a page (the
outermost level by default, `profiles: {level: ...}` another), what each page says about its
level and its inner groups, and the numbers it takes from results.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from deliver.mailserver import mark_rendered
from helpers import fit
from levels_configs import write

from hlm_analysis import cli
from hlm_analysis.deliver import profiles as writer
from hlm_analysis.present import profiles as facts
from hlm_analysis.results import read_json


def run(*args) -> int:
    return cli.main([str(a) for a in args])


def _profiled(root: Path, which: str, **extra):
    """Fit a small example, mark it rendered and write its profiles; (index, folder, results)."""
    config = write(root, which, **extra)
    folder = root / "_output" / config.stem
    fit(config, folder)
    mark_rendered(folder, config)
    assert run("profiles", config, "--output-root", root / "_output") == 0
    index = json.loads((folder / "profiles" / "index.json").read_text())
    return index, folder, read_json(folder / "results.json")


def _page(folder: Path, entry: dict) -> str:
    html = (folder / "profiles" / entry["files"][0]).read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def schools(tmp_path_factory):
    return _profiled(tmp_path_factory.mktemp("levels_schools"), "pupils")


def test_outermost_level_by_default_with_its_own_effects_and_sizes(schools):
    index, folder, results = schools
    assert index["level"] == "school"
    effects = results.final.levels[0].group_effects
    assert [e["id"] for e in index["groups"]] == list(effects.groups)
    data = pd.read_csv(folder.parent.parent / "pupils_12.csv", dtype=str)
    rows = data.groupby("school").size()
    for j, entry in enumerate(index["groups"]):
        assert entry["n"] == rows[entry["id"]] == 72  # a school's rows, not one class's
        assert entry["estimate"] == effects.estimate[j][0]
        assert entry["std_error"] == effects.std_error[j][0]
    assert not any(e["suppressed"] for e in index["groups"])


def test_school_page_names_its_level_and_its_classes(schools):
    index, folder, results = schools
    entry = index["groups"][0]
    text = _page(folder, entry)
    assert f"School {entry['id']}" in text
    assert "72 pupils here, in 6 classes, of 864 in all 12 schools" in text
    assert "this page is about the school level" in text
    assert "pupils in classes in schools" in text
    html = (folder / "profiles" / entry["files"][0]).read_text(encoding="utf-8")
    assert "This school among all schools" in html  # the figure's title (an SVG comment)
    assert "Schools, from lowest to highest" in html
    assert "class level" not in text and "average class" not in text
    # the raw mean is the school's, summed from its classes
    data = pd.read_csv(folder.parent.parent / "pupils_12.csv")
    mean = data.loc[data["school"] == entry["id"], "score"].mean()
    assert f"{mean:.2f} here" in text


def test_class_profiles_compare_within_the_school(tmp_path):
    index, folder, results = _profiled(
        tmp_path, "pupils", schools=4, profiles={"min_size": 10, "level": "class"}
    )
    assert not results.final.levels[1].singular_terms  # (with 3 schools the classes' are)
    assert index["level"] == "class" and index["n_groups"] == 24
    ids = [e["id"] for e in index["groups"]]
    assert ids[:2] == ["S001 / 1", "S001 / 2"] and len(set(ids)) == 24
    effects = results.final.levels[1].group_effects
    assert [e["estimate"] for e in index["groups"]] == [row[0] for row in effects.estimate]
    assert all(e["n"] == 12 for e in index["groups"])
    assert all(isinstance(e["rank"], int) for e in index["groups"])
    text = _page(folder, index["groups"][0])
    assert "Class S001 / 1" in text
    assert "12 pupils here, in school S001, of 288 in all 24 classes" in text
    assert "an average class of the same school" in text
    # below reliability .7 no place is given, only the interval, in the same terms
    ranked = results.final.levels[1].reliability["(Intercept)"] >= 0.7
    within = "its difference from its" if ranked else "their differences from their"
    assert f"{within} school's average" in text.replace("\u2019", "'")
    assert ("it would rank" in text) == ranked
    # the figure's right panel: this class's own rows (found by school and class together)
    assert "Right: Attainment score of the pupils here" in text
    rows = writer._split_rows(writer._rows(folder, results, facts.profile_level(results, "class")))
    assert sorted(rows) == sorted(ids) and all(len(v) == 12 for v in rows.values())


def test_crossed_profiles_name_the_other_factor(tmp_path):
    index, folder, results = _profiled(tmp_path, "crossed")
    assert index["level"] == "primary"
    data = pd.read_csv(folder.parent.parent / "crossed_small.csv", dtype=str)
    entry = next(e for e in index["groups"] if not e["suppressed"])
    mine = data[data["primary"] == entry["id"]]
    assert entry["n"] == len(mine)
    k = mine["second"].nunique()
    noun = "secondary school" if k == 1 else "secondary schools"
    text = _page(folder, entry)
    assert f"Primary school {entry['id']}" in text
    assert f"{len(mine)} pupils here, spread over {k} {noun}" in text
    assert "allowing for the secondary schools its pupils are also in" in text
    assert "(pupils in primary schools crossed with secondary schools)" in text
    # groups below min_size: an id and nothing else
    small = data.groupby("primary").size()
    for e in index["groups"]:
        assert e["suppressed"] == (small[e["id"]] < 5)


def test_growth_profiles_speak_of_children_and_time_zero(tmp_path):
    index, folder, results = _profiled(tmp_path, "growth")
    data = pd.read_csv(folder.parent.parent / "growth_small.csv", dtype=str)
    entry = index["groups"][0]
    mine = data[data["schoolid"] == entry["id"]]
    text = _page(folder, entry)
    assert f"{len(mine)} test scores here, from {mine['childid'].nunique()} children" in text
    assert "(where Year is 0) differs by" in text
    # lowinc (a school's share of low-income pupils) is the school's: said of it, not its rows
    assert "an average school like this one in lowinc" in text and "whose test scores" not in text
    assert "alike in Year" not in text  # time is where the difference is read, not an intake
    # its own growth per year: the fixed slope plus its school's effect on it
    assert "The link between Year and Mathematics score differs between schools" in text


def test_binary_nested_profiles_give_odds_ratios(tmp_path):
    index, folder, results = _profiled(tmp_path, "binary", profiles={"min_size": 10})
    entry = index["groups"][0]
    text = _page(folder, entry)
    assert "the odds here are" in text and "72 pupils here, in 6 classes" in text
    data = pd.read_csv(folder.parent.parent / "pupils_12.csv")
    share = (data.loc[data["school"] == entry["id"], "passed"] == "yes").mean()
    assert f"{round(100 * share)}% here" in text


def test_unknown_profile_level_and_a_group_of_another_level_exit_2(tmp_path, capsys):
    config = write(tmp_path, "pupils", schools=3, profiles={"level": "pupil"})
    folder = tmp_path / "_output" / config.stem
    fit(config, folder)
    mark_rendered(folder, config)
    assert run("profiles", config, "--output-root", tmp_path / "_output") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'pupil' is not a grouping level (school, class)" in err
    with pytest.raises(Exception, match="not a grouping level"):
        facts.profile_level(read_json(folder / "results.json"), "klass")
    config = write(
        tmp_path,
        "pupils",
        schools=3,
        stakeholders=[{"name": "Ann", "email": "ann@example.org", "group": "S001 / 1"}],
    )
    mark_rendered(folder, config)
    assert run("profiles", config, "--output-root", tmp_path / "_output") == 2
    err = capsys.readouterr().err.strip()
    assert "'S001 / 1' is not a group of the school level" in err and err.count("\n") == 0


def test_a_level_whose_variance_is_zero_gets_no_ranks(tmp_path):
    """The R reference's singular three-level file: the school variance is exactly 0, so every
    school's effect is 0 with no uncertainty; a rank '1 of 30, anywhere from 1 to 1' would be
    false, so none is given and the page says why."""
    from helpers import REFERENCE, write_config

    config = write_config(
        tmp_path,
        "singular",
        title="Singular schools",
        data=REFERENCE / "levels" / "three_level_singular.csv",
        outcome="score",
        predictors=["prior", "fsm"],
        group=["school", "class"],
        unit="pupil",
        group_noun={"school": "school", "class": "class"},
    )
    folder = tmp_path / "_output" / "singular"
    results = fit(config, folder)
    assert "(Intercept)" in results.final.levels[0].singular_terms
    mark_rendered(folder, config)
    assert run("profiles", config, "--output-root", tmp_path / "_output") == 0
    index = json.loads((folder / "profiles" / "index.json").read_text())
    assert index["singular"] is True and index["n_groups"] == 30
    assert all(e["rank"] is None and e["rank_low"] is None for e in index["groups"])
    text = _page(folder, index["groups"][0])
    assert "no rank is given" in text and "would rank" not in text
    assert "their variance is estimated at zero" in text
