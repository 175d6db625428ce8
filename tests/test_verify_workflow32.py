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
