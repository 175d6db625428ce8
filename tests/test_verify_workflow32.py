"""Verify 32 (profiles and workflow on untried inputs): each test failed before its fix."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import fixture_results

from hlm_analysis.present import alt_text, fmt


def _with_min_cell(results, cut: int):
    return dataclasses.replace(results, spec=results.spec.model_copy(update={"min_cell": cut}))


@pytest.mark.parametrize("figure", ["group_means", "group_boxes", "caterpillar"])
def test_alt_text_leaves_out_the_groups_the_figure_leaves_out(figure):
    """The public site's copy (min_cell raised to min_size) said 'schools of 1 to 20
    students, with means from 12.3' (a one-student school's score) and its caterpillar range
    from that school's effect, while the figures drew neither."""
    results = fixture_results("graduation")
    g = results.data.groups
    cut = sorted(g.n)[3] + 1  # the 3 smallest groups below min_cell
    small = _with_min_cell(results, cut)
    kept = [k for k, n in enumerate(g.n) if n >= cut]
    text = alt_text.describe(figure, small, small.final)
    if figure == "caterpillar":
        effects = small.final.group_effects
        values = [effects.estimate[k][0] for k in kept]
        lowest = fmt.num(min(values), 2)
        assert f"of the {len(kept)} " in text and f"from {lowest} to" in text
        return
    if text is None:  # a binary outcome draws no boxes
        assert figure == "group_boxes"
        return
    means = [g.outcome_mean[k] for k in kept]
    assert f" {len(kept)} " in text and f"{len(g.n)} " not in text
    assert "means" in text and fmt.num(min(means), 1) in text
    if figure == "group_means":
        assert f"of {fmt.integer(min(g.n[k] for k in kept))} to" in text


def test_site_public_copy_counts_outer_groups_not_only_cells(tmp_path):
    """Three levels: a school of 8 pupils in two classes of 4 (min_cell 5, min_size 10) put its
    name, size and mean on the public site: the check for a public copy looked at the cells
    (classes) only. Here classes of 12 fall under min_cell 13 while schools of 72 fall under
    min_size 100: a public copy is needed."""
    import shutil

    import yaml
    from helpers import FIXTURES, TESTS

    from hlm_analysis import layout
    from hlm_analysis.deliver import site
    from hlm_analysis.errors import InputError

    repo = TESTS.parent
    spec = yaml.safe_load((repo / "report/configs/pupils.yml").read_text())
    spec.update(data=str(repo / "data/pupils.csv"), min_cell=13, profiles={"min_size": 100})
    spec.pop("stakeholders", None)
    config = tmp_path / "pupils.yml"
    config.write_text(yaml.safe_dump(spec))
    folder = layout.report_dir(tmp_path / "_output", config)
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "levels_pupils" / "results.json", folder)
    with pytest.raises(InputError, match="fewer than 100 rows"):
        site._public_copy(config, folder, tmp_path / "_output", False, print)


def test_many_groups_draw_the_others_intervals_as_one_image():
    """1,351 profiled schools: every page's SVG was 394 KB (a path per interval), 629 MB of
    profiles for the site; the highlighted group stays vector and in the same place."""
    import numpy as np

    from hlm_analysis.present import profile_figure as pf

    rng = np.random.default_rng(0)
    labels = dict.fromkeys(
        ("caterpillar_title", "caterpillar_x", "caterpillar_y", "hist_title", "outcome"), "t"
    )
    labels.update({"all": "a", "here": "b"})
    rows = rng.normal(50, 5, 2000)
    pages = {}
    for groups in (pf.RASTER_ABOVE, 400):
        est = rng.normal(0, 2, groups)
        figure = pf.ProfileFigure(est, est - 1.6, est + 1.6, rows, labels, [rows[:20]])
        pages[groups] = figure.svg(3, rows[:20])
    assert "<image" not in pages[pf.RASTER_ABOVE]
    assert "<image" in pages[400] and len(pages[400]) < 80_000
    assert 'id="this-group"><polyline' in pages[400]


def test_profiles_start_a_fresh_typst_compiler_every_batch(tmp_path, monkeypatch):
    """One compiler for all pages kept every page's figure (0.7 MB each): 1,351 profiles
    peaked at 1.1 GB resident, 20,000 would not fit; a fresh one every batch stays flat."""
    import numpy as np
    import pandas as pd
    from deliver.mailserver import mark_rendered
    from helpers import fit, write_config

    from hlm_analysis.deliver import profiles as writer

    rng = np.random.default_rng(1)
    g = np.repeat([f"s{k}" for k in range(12)], 12)
    x = rng.normal(size=g.size)
    y = 50 + np.repeat(rng.normal(0, 3, 12), 12) + 2 * x + rng.normal(0, 3, g.size)
    pd.DataFrame({"school": g, "x": x, "y": y}).to_csv(tmp_path / "d.csv", index=False)
    config = write_config(
        tmp_path, "c", data=tmp_path / "d.csv", outcome="y", predictors=["x"], group="school"
    )
    folder = tmp_path / "_output" / "c"
    fit(config, folder)
    mark_rendered(folder, config)
    made = []
    start = writer._compiler
    monkeypatch.setattr(writer, "_compiler", lambda *a: made.append(1) or start(*a))
    monkeypatch.setattr(writer, "COMPILER_BATCH", 5)
    writer.write_profiles(config, tmp_path / "_output", progress=lambda _: None)
    assert len(made) == 3  # pages 1, 5 and 10 of 12


@pytest.mark.parametrize("fixture", ["levels_scotssec", "levels_binary", "graduation"])
def test_schema_refuses_a_p_value_outside_0_1(fixture):
    import copy
    import json

    import jsonschema
    from helpers import FIXTURES

    from hlm_analysis.schema import results_schema

    raw = json.loads((FIXTURES / fixture / "results.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(results_schema())
    assert validator.is_valid(raw)
    for value in (2.0, -0.5):
        broken = copy.deepcopy(raw)
        broken["models"][raw["final_model"]]["fixed_effects"][0]["p_value"] = value
        assert not validator.is_valid(broken), value


def test_xlsx_export_writes_control_characters_of_an_id_as_visible_escapes(tmp_path, monkeypatch):
    """A group id with a bell or an escape ('esc\\x1b[31m'): openpyxl refused the cell and
    `render --export xlsx` stopped as a bug (exit 1)."""
    import openpyxl

    from hlm_analysis import export

    table = {"group_effects": (("group", "n"), [("bell\x07x", 12), ("esc\x1b[31m", 12)])}
    monkeypatch.setattr(export, "tables", lambda results: table)
    (path,) = export.write(None, tmp_path, "xlsx")
    sheet = openpyxl.load_workbook(path)["group_effects"]
    assert [c.value for c in sheet["A"]] == ["group", "bell\\x07x", "esc\\x1b[31m"]


def test_site_keeps_what_the_user_added_inside_reports(tmp_path):
    """A note beside a published report (_site/reports/a/note.txt), a page of the user's own
    (_site/reports/mine/) and a note in a report taken off the site were deleted without a
    word by the next `site`; only the top level's additions were kept."""
    import json

    from hlm_analysis import layout
    from hlm_analysis.deliver import site

    old, built = tmp_path / "_site", tmp_path / "built"
    for folder in (old / "reports" / "a", old / "reports" / "b", built / "reports" / "a"):
        folder.mkdir(parents=True)
        (folder / layout.HTML).write_text("report")
    record = {"tool": "hlm-report", "kind": "site", "wrote": ["index.html", "reports"]}
    (old / layout.MARKER).write_text(json.dumps({**record, "reports": ["a", "b"]}))
    (old / "reports" / "a" / "note.txt").write_text("mine")
    (old / "reports" / "b" / "b-note.txt").write_text("mine too")
    (old / "reports" / "mine").mkdir()
    (old / "reports" / "mine" / "page.html").write_text("my page")
    said = []
    site._keep_user_files(old, built, said.append)
    assert (built / "reports" / "a" / "note.txt").read_text() == "mine"
    assert (built / "reports" / "mine" / "page.html").read_text() == "my page"
    assert (built / "reports" / "b" / "b-note.txt").is_file()
    assert not (built / "reports" / "b" / layout.HTML).exists()  # the report stays off
    assert (built / "reports" / "a" / layout.HTML).read_text() == "report"
    assert any("note.txt" in line for line in said)


def test_init_drafts_from_a_folder_or_glob_of_parts(tmp_path, monkeypatch, capsys):
    """`init lake/` (a Parquet lake, which `data:` reads) was refused ('is a folder'), and
    `init 'lake/*.parquet'` said 'data file not found'; a folder mixing CSV and Parquet is
    refused as the fit refuses it."""
    import numpy as np
    import pandas as pd

    from hlm_analysis import cli
    from hlm_analysis.spec import load_spec

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "school": np.repeat([f"s{k}" for k in range(20)], 6),
            "ses": rng.normal(size=120),
            "score": rng.normal(50, 5, 120),
        }
    )
    (tmp_path / "lake").mkdir()
    for k in range(3):
        frame.iloc[40 * k : 40 * (k + 1)].to_parquet(tmp_path / "lake" / f"part-{k}.parquet")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "lake"]) == 0
    spec = load_spec(tmp_path / "lake.yml")
    assert spec.data == tmp_path / "lake" and spec.group == "school" and spec.outcome == "score"
    assert "# 120 rows" in (tmp_path / "lake.yml").read_text()
    (tmp_path / "lake.yml").unlink()
    assert cli.main(["init", "lake/*.parquet"]) == 0
    assert load_spec(tmp_path / "lake.yml").outcome == "score"
    frame.to_csv(tmp_path / "lake" / "extra.csv", index=False)
    assert cli.main(["init", "lake", "--output", "mixed.yml"]) == 2
    assert "mixes Parquet and CSV" in capsys.readouterr().err


def test_init_names_a_text_column_of_numbers_as_the_outcome_to_give(tmp_path, capsys):
    """A Parquet file of text columns ("50.3"): init said 'no numeric column' with no word
    that `--outcome score` fits (the fit reads such a column as numbers)."""
    import pandas as pd

    from hlm_analysis import cli

    pd.DataFrame(
        {
            "school": [f"s{k % 12}" for k in range(96)],
            "score": [f"{50 + k % 7}.5" for k in range(96)],
        }
    ).to_parquet(tmp_path / "t.parquet")
    assert cli.main(["init", str(tmp_path / "t.parquet"), "--output", str(tmp_path / "t.yml")]) == 2
    assert "--outcome score reads them as numbers" in capsys.readouterr().err


def test_levels_caterpillar_alt_text_leaves_out_the_small_groups_the_figure_leaves_out():
    """Three levels on the public site: 'intercepts from -6.15 to 22.05', 22.05 being the
    effect of a school of 8 pupils that the figure (25 named schools) left out."""
    from hlm_analysis.present import levels

    results = fixture_results("levels_scotssec")  # 19 secondary schools: named in the figure
    g = levels.group_summary(results, "second")
    cut = sorted(g.n)[2] + 1
    small = _with_min_cell(results, cut)
    text = alt_text.describe("caterpillar", small, small.final)
    assert f"{len(g.n) - 3} secondary schools" in text and "19 secondary" not in text
