"""A growth report (years in children in schools) rendered whole by the built-in engine: the
levels table, the trajectories and the caterpillars per level reach the HTML with their
cross references resolved, and the PDF has its pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hlm_analysis.render import render_report

GROWTH = Path(__file__).parents[2] / "report" / "configs" / "growth.yml"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("out")
    return render_report(GROWTH, output_root=root, engine="builtin", progress=lambda m: None)


def _text(html: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def test_growth_report_speaks_per_level(rendered):
    html = (rendered / "report.html").read_text()
    text = _text(html)
    assert "7,230 test scores in 1,721 children in 60 schools" in text
    assert "13% lies between schools, 24% between children within schools" in text
    assert "grows by 0.764 per year" in text
    # the figures and tables of several levels, each referenced and numbered
    for anchor in ("fig-trajectories", "fig-caterpillar", "tbl-levels", "tbl-variance"):
        assert f'id="{anchor}"' in html, anchor
    assert "@tbl-" not in text and "@fig-" not in text
    assert (rendered / "report.pdf").stat().st_size > 50_000


def test_every_table_caption_shares_a_page_with_its_first_row(rendered, table_pages, tmp_path):
    # review-levels #9 (growth: Table 8's caption at the foot of p. 5, its rows on p. 6)
    count, apart = table_pages(rendered, tmp_path)
    assert count >= 8 and not apart, apart
