"""Figures draw user text as text: a '$' never starts mathtext (which fails on unknown commands),
and every figure of the report draws from results and the row sample alone."""

from __future__ import annotations

import io
from dataclasses import replace

import matplotlib
import pandas as pd
import pytest
from helpers import FIXTURES

from hlm_analysis.present import figures

matplotlib.use("Agg")

HOSTILE = r"$\nosuchcmd$ x_{1} ^2 $$"


def _texts(fig) -> list[str]:
    fig.canvas.draw()  # tick labels exist only once drawn
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


@pytest.fixture
def hostile(schools):
    labels = {k: HOSTILE + " " + k for k in [*schools.spec.labels, "SchoolID", "ExamScore"]}
    spec = schools.spec.model_copy(update={"labels": labels})
    groups = replace(
        schools.data.groups, labels=tuple(f"${g}$" for g in schools.data.groups.labels)
    )
    effects = replace(schools.final.group_effects, groups=tuple(f"$g{g}" for g in range(20)))
    final = replace(schools.final, group_effects=effects)
    models = {**schools.models, schools.final_model: final}
    data = replace(schools.data, groups=groups)
    return replace(schools, spec=spec, data=data, models=models)


@pytest.fixture
def rows(schools):
    frame = pd.read_parquet(FIXTURES / "schools" / "rows.parquet")
    frame["SchoolID"] = "$" + frame["SchoolID"].astype(str) + r"\alpha$"
    return frame


def test_every_figure_draws_hostile_labels_as_literal_text(hostile, rows):
    final = hostile.final
    drawn = [
        figures.plot_distributions(hostile, rows),
        figures.plot_correlations(hostile),
        figures.plot_group_boxes(hostile, rows),
        figures.plot_group_slopes(hostile, final),
        figures.plot_actual_vs_predicted(hostile, rows, final),
        figures.plot_diagnostics(hostile, rows, final),
        figures.plot_caterpillar(hostile, final),
    ]
    seen = []
    for fig in drawn:
        assert fig is not None
        fig.savefig(io.BytesIO(), format="png", dpi=30)  # mathtext would raise here
        seen += _texts(fig)
    joined = "\n".join(seen)
    assert r"\$\nosuchcmd\$" in joined  # escaped: drawn as the characters themselves
    assert r"\$g0" in joined and r"\alpha\$" in joined


def test_figures_for_the_other_case_are_none(schools):
    assert figures.plot_group_means(schools) is None  # 20 groups: the box plot instead
    assert figures.plot_interaction(schools, schools.final) is None  # no interaction


def test_group_sizes_within_a_decade_get_more_than_one_labelled_tick(graduation):
    # graduation's 40 schools hold 32 to 107 students: powers of ten alone labelled only 100
    sizes = graduation.data.groups.n
    assert max(sizes) / min(sizes) < 10
    fig = figures.plot_group_means(graduation)
    fig.canvas.draw()
    axis = fig.axes[0].xaxis
    low, high = sorted(axis.get_view_interval())
    shown = [t.get_text() for t in axis.get_ticklabels() if low <= t.get_position()[0] <= high]
    assert len([t for t in shown if t]) >= 2, shown


CJK = {"korean": "학교 성적", "chinese": "学校平均分", "japanese": "テスト", "emoji": "😀"}


@pytest.fixture
def cjk(schools):
    names = list(CJK.values())
    keys = [*schools.spec.labels, "SchoolID", "ExamScore"]
    labels = {k: f"{names[i % len(names)]} {k}" for i, k in enumerate(keys)}
    spec = schools.spec.model_copy(update={"labels": labels})
    effects = replace(
        schools.final.group_effects, groups=tuple(f"{names[g % 4]}{g}" for g in range(20))
    )
    final = replace(schools.final, group_effects=effects)
    return replace(schools, spec=spec, models={**schools.models, schools.final_model: final})


def test_cjk_and_emoji_labels_are_drawn_with_faces_that_have_their_glyphs(cjk):
    import warnings

    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    rows = pd.read_parquet(FIXTURES / "schools" / "rows.parquet")
    rows["SchoolID"] = rows["SchoolID"].map(lambda g: f"학교{g}")
    drawn = [
        figures.plot_distributions(cjk, rows),
        figures.plot_correlations(cjk),
        figures.plot_group_boxes(cjk, rows),
        figures.plot_caterpillar(cjk, cjk.final),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = []
        for fig in drawn:
            fig.savefig(io.BytesIO(), format="png", dpi=30)
            texts += _texts(fig)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    # And the faces matplotlib falls back to hold every character drawn (a box otherwise).
    props = font_manager.FontProperties(family=matplotlib.rcParams["font.family"])
    paths = font_manager.fontManager._find_fonts_by_props(props)
    faces = [FT2Font(str(p)) for p in paths]
    drawn_chars = {c for t in texts for c in t if ord(c) > 0x2E80}
    assert {c for v in CJK.values() for c in v if c != " "} <= drawn_chars
    uncovered = [c for c in drawn_chars if not any(f.get_char_index(ord(c)) for f in faces)]
    assert not uncovered, uncovered


def with_small_groups(results, sizes: dict[int, int], min_cell: int):
    """`results` with the groups at the given positions shrunk to the given sizes."""
    g = results.data.groups
    n = tuple(sizes.get(i, size) for i, size in enumerate(g.n))
    spec = results.spec.model_copy(update={"min_cell": min_cell})
    return replace(results, data=replace(results.data, groups=replace(g, n=n)), spec=spec)


def test_figures_name_no_group_below_min_cell(schools):
    # Privacy (issue 25): the box plot draws each member's score and the caterpillar names each
    # group's effect; groups with fewer rows than min_cell are left out, and the figure says so.
    g = schools.data.groups
    results = with_small_groups(schools, {0: 1, 5: 2}, min_cell=5)
    small = {g.labels[0], g.labels[5]}
    rows = pd.read_parquet(FIXTURES / "schools" / "rows.parquet")
    boxes = figures.plot_group_boxes(results, rows)
    texts = _texts(boxes)
    ticks = {t.get_text() for t in boxes.axes[0].get_xticklabels()}
    assert ticks and not ticks & small
    assert len(ticks) == len(g.labels) - 2
    assert any("2 groups with fewer than 5 students not shown" in t for t in texts)
    effects = replace(schools.final.group_effects, groups=g.labels)
    final = replace(schools.final, group_effects=effects)
    caterpillar = figures.plot_caterpillar(results, final)
    names = {t.get_text() for t in caterpillar.axes[0].get_yticklabels()}
    assert names and not names & small and len(names) == len(g.labels) - 2
    assert any("2 groups with fewer than 5 students not shown" in t for t in _texts(caterpillar))


def test_group_means_figure_leaves_out_groups_below_min_cell(graduation):
    results = with_small_groups(graduation, {0: 1, 1: 3, 2: 4}, min_cell=5)
    fig = figures.plot_group_means(results)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert len(offsets) == len(graduation.data.groups.n) - 3
    assert min(offsets[:, 0]) >= 5
    assert "3 schools with fewer than 5 students not shown" in fig.axes[0].get_title()


@pytest.mark.parametrize("long", ["L" * 464, "Socio-economic status of the family " * 8])
def test_long_labels_wrap_inside_the_figure_and_keep_their_start(schools, long):
    # The report saves figures with a tight bounding box: a title wider than the figure made a
    # very wide image, scaled down to unreadable on the page. Every text stays inside the figure.
    labels = {k: long + k for k in [*schools.spec.labels, "SchoolID", "ExamScore"]}
    results = replace(schools, spec=schools.spec.model_copy(update={"labels": labels}))
    rows = pd.read_parquet(FIXTURES / "schools" / "rows.parquet")
    drawn = [
        figures.plot_distributions(results, rows),
        figures.plot_group_boxes(results, rows),
        figures.plot_group_slopes(results, results.final),
        figures.plot_caterpillar(results, results.final),
    ]
    for fig in drawn:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        width = fig.bbox.width
        for text in fig.findobj(matplotlib.text.Text):
            if not text.get_text() or not text.get_visible():
                continue
            box = text.get_window_extent(renderer)
            if box.x0 >= width or box.x1 <= 0:
                continue  # a tick outside the axes' view: laid out, never drawn
            assert box.x0 >= -2 and box.x1 <= width + 2, (text.get_text()[:40], box, width)
            if long[:10] in text.get_text():
                assert text.get_text().startswith(long[:10])  # cut at the end, never to "…"
