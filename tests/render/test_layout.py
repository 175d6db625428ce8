"""PDF and HTML layout (issue 21, item 8): headings stay with what follows, a table never leaves
a header and a row or two at a page's foot, and no line breaks inside "p < .001" or "[a, b]".

The PDF cases move a heading and a table down a page in small steps (filler paragraphs before
them), so every position at a page's foot is met, and read each page back with pdftotext.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from hlm_analysis.render import pandoc
from hlm_analysis.render.markdown import keep_numbers_together

ROWS = 30  # a table of about a third of a page: moved whole it left that much empty


def _document(filler_lines: int) -> str:
    filler = "\n\n".join(
        f"Filler paragraph {i} with enough words to fill one line of the page in the report."
        for i in range(filler_lines)
    )
    rows = "\n".join(f"| Row{i:02d} | {i}.5 | < .001 |" for i in range(ROWS))
    table = f"| Term | Estimate | p |\n|:--|--:|--:|\n{rows}\n\n: The caption {{#tbl-x}}\n"
    after = "\n\n".join(f"After paragraph {i}." for i in range(30))
    return f"---\ntitle: Layout\n---\n\n{filler}\n\n# Heading Under Test\n\n{table}\n\n{after}\n"


def _pages(tmp_path, filler_lines: int) -> list[str]:
    source = tmp_path / f"layout{filler_lines}.md"
    source.write_text(_document(filler_lines), encoding="utf-8")
    pdf = tmp_path / f"layout{filler_lines}.pdf"
    pandoc.to_pdf(source, pdf, {"title": "Layout"})
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")


def _empty_below(pdf) -> list[float]:
    """Per page but the last: the share of the text area below its last line of text."""
    bbox = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-bbox", str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    shares = []
    for height, body in re.findall(
        r'<page width="[\d.]+" height="([\d.]+)">(.*?)</page>', bbox, re.S
    ):
        bottoms = [float(y) for y in re.findall(r'yMax="([\d.]+)"', body)]
        bottoms = sorted(bottoms)[:-1]  # the page number at the foot
        area = float(height) - 2 * 68  # margin.y = 2.4 cm (pandoc.py)
        shares.append((float(height) - 68 - max(bottoms)) / area)
    return shares[:-1]


# Filler from 30 to 62 lines puts the heading and the table at every height of the first and
# second page's lower half (a filler paragraph is one line).
@pytest.mark.parametrize("filler_lines", range(30, 63, 2))
def test_heading_stays_with_its_table_and_no_table_orphans_rows(tmp_path, filler_lines):
    pages = _pages(tmp_path, filler_lines)
    heading = next(i for i, p in enumerate(pages) if "Heading Under Test" in p)
    first_row = next(i for i, p in enumerate(pages) if "Row00" in p)
    assert heading == first_row, "the heading was left at a page's foot"
    per_page = [len(re.findall(r"Row\d\d", p)) for p in pages]
    split = [n for n in per_page if n]
    assert sum(split) == ROWS
    assert all(n >= 3 for n in split), per_page  # never a header and one or two rows
    empty = _empty_below(tmp_path / f"layout{filler_lines}.pdf")
    assert max(empty) < 1 / 3, [round(e, 2) for e in empty]


def test_numbers_with_relations_and_intervals_are_kept_together():
    text = "p < .001, p = .032, χ²(1) = 4.20, t(18.0) = −2.1, [0.08, 0.29] and [−1,234.5, 2.1]"
    kept = keep_numbers_together(text)
    assert "p\u00a0<\u00a0.001" in kept and "p\u00a0=\u00a0.032" in kept
    assert "χ²(1)\u00a0=\u00a04.20" in kept and "t(18.0)\u00a0=\u00a0−2.1" in kept
    assert "[0.08,\u00a00.29]" in kept and "[−1,234.5,\u00a02.1]" in kept
    assert keep_numbers_together("| < .001 |") == "| <\u00a0.001 |"  # a p cell
    # User text is escaped by md_escape and stays as the user wrote it.
    assert keep_numbers_together(r"a \< 5 and \[1, 2\]") == r"a \< 5 and \[1, 2\]"
    assert keep_numbers_together("words = more words") == "words = more words"


def test_no_break_inside_p_values_in_html_word_and_typst(tmp_path):
    source = tmp_path / "p.md"
    source.write_text("---\ntitle: P\n---\n\n" + "Word p < .001 [0.08, 0.29]. " * 40 + "\n")
    front = {"title": "P"}
    pandoc.to_html(source, tmp_path / "p.html", front)
    pandoc.to_pdf(source, tmp_path / "p.pdf", front)
    html = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert html.count("p&nbsp;&lt;&nbsp;.001") + html.count("p\u00a0&lt;\u00a0.001") == 40
    typ = (tmp_path / "p.typ").read_text(encoding="utf-8")
    assert not re.search(r"p \\?< \.001", typ) and not re.search(r"0\.08, 0\.29", typ)


def test_the_quarto_path_gets_the_same_text_and_fonts(tmp_path, monkeypatch):
    # With quarto on PATH the report goes through an executed notebook: its markdown keeps
    # numbers together as the built-in path does, and Quarto's Typst gets the Noto faces.
    import hlm_analysis.render as render
    from hlm_analysis.present import fonts
    from hlm_analysis.render import qmd, quarto

    source = tmp_path / "doc.qmd"
    source.write_text(
        "---\ntitle: x\nformat:\n  typst:\n    papersize: a4\n---\n\nText p < .001.\n"
    )
    doc = qmd.parse(source)
    seen = {}
    monkeypatch.setattr(render, "_execute", lambda *a: (doc, [], {"title": "x"}))
    monkeypatch.setattr(quarto, "render", lambda nb, *rest: seen.setdefault("nb", nb))
    render._quarto(source, None, tmp_path, tmp_path, render._Steps(lambda m: None))
    cells = seen["nb"].cells
    assert "p\u00a0<\u00a0.001" in cells[-1].source
    front = cells[0].source
    assert "font-paths" in front and all(d in front for d in fonts.font_dirs())
    assert "papersize: a4" in front
