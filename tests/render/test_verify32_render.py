"""Verify round 32: user text in a figure's alt text is never a cross reference."""

from __future__ import annotations

from hlm_analysis.render import markdown


def test_a_label_like_a_reference_in_alt_text_stays_text():
    # A column labelled "x @fig-x" reached the alt text of the histograms: render stopped with
    # "internal error (a bug): report refers to unknown label(s): fig-x" (exit 1).
    md = (
        '![Histograms.](figures/h.png){#fig-h alt="x @fig-x: mean 1; Girl @tbl-y"}\n\nSee @fig-h.\n'
    )
    out, unknown = markdown.resolve_crossrefs(md, numbered_sections=False)
    assert unknown == []
    assert 'alt="x @fig-x: mean 1; Girl @tbl-y"' in out and "[Figure 1](#fig-h)" in out


def test_a_report_name_with_percent_and_hash_renders(tmp_path):
    # `R&D #1 %20.yml`: pandoc read the CSS and Typst header paths as URLs ('%20' became a
    # space, '#' cut the path) and render stopped with "tool failed" (exit 3).
    from hlm_analysis.render import pandoc

    work = tmp_path / ".R&D #1 %20 é.building" / "work"
    work.mkdir(parents=True)
    md = work / "report.md"
    md.write_text("# Scores\n\nText 학교.\n", encoding="utf-8")
    pandoc.to_html(md, work / "report.html", {})
    pandoc.to_pdf(md, work / "report.pdf", {})
    assert "Scores" in (work / "report.html").read_text(encoding="utf-8")
    assert (work / "report.pdf").read_bytes().startswith(b"%PDF")
