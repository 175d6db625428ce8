"""PDF and HTML layout (issue 21, item 8; review-levels #9): headings stay with what follows, a
table that fits on a page is never split (its caption, rows and note on one page), a longer one
breaks with its header repeated, and no line breaks inside "p < .001" or "[a, b]".

The PDF cases move a heading and a table down a page in small steps (filler paragraphs before
them), so every position at a page's foot is met, and read each page back with pdftotext.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from hlm_analysis.render import pandoc
from hlm_analysis.render.markdown import keep_numbers_together

ROWS = 30  # with its heading, caption and note 0.6 of a page: moved whole, it leaves that empty


def _document(filler_lines: int, rows: int = ROWS) -> str:
    filler = "\n\n".join(
        f"Filler paragraph {i} with enough words to fill one line of the page in the report."
        for i in range(filler_lines)
    )
    body = "\n".join(f"| Row{i:02d} | {i}.5 | < .001 |" for i in range(rows))
    table = f"| Term | Estimate | p |\n|:--|--:|--:|\n{body}\n\n: The caption {{#tbl-x}}\n"
    table += "\n::: {.table-note}\nThe note of the table.\n:::\n"
    after = "\n\n".join(f"After paragraph {i}." for i in range(30))
    return f"---\ntitle: Layout\n---\n\n{filler}\n\n# Heading Under Test\n\n{table}\n\n{after}\n"


def _pages(tmp_path, filler_lines: int, rows: int = ROWS) -> list[str]:
    source = tmp_path / f"layout{filler_lines}.md"
    source.write_text(_document(filler_lines, rows), encoding="utf-8")
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
@pytest.mark.parametrize("filler_lines", range(30, 63, 4))
def test_heading_caption_rows_and_note_of_a_table_share_a_page(tmp_path, filler_lines):
    pages = _pages(tmp_path, filler_lines)
    heading = next(i for i, p in enumerate(pages) if "Heading Under Test" in p)
    caption = next(i for i, p in enumerate(pages) if "The caption" in p)
    note = next(i for i, p in enumerate(pages) if "The note of the table" in p)
    per_page = [len(re.findall(r"Row\d\d", p)) for p in pages]
    assert per_page.count(ROWS) == 1, per_page  # whole, on one page
    assert heading == caption == per_page.index(ROWS) == note, (heading, caption, note, per_page)
    # the note comes right under the last row, not under whatever follows the table
    page = pages[note]
    assert page.index(f"Row{ROWS - 1:02d}") < page.index("The note") < page.index("After paragraph")
    # moved whole, a table leaves at most its own height empty: with its heading, caption and
    # note, 0.6 of a page here (the price of never parting a caption from its rows)
    empty = _empty_below(tmp_path / f"layout{filler_lines}.pdf")
    assert max(empty) < 0.65, [round(e, 2) for e in empty]


def test_a_table_longer_than_a_page_breaks_with_its_header_repeated(tmp_path):
    rows = 120
    pages = _pages(tmp_path, 10, rows)
    per_page = [len(re.findall(r"Row\d\d\d?", p)) for p in pages]
    holding = [i for i, n in enumerate(per_page) if n]
    assert len(holding) >= 2 and sum(per_page) == rows, per_page
    assert all("Term" in pages[i] and "Estimate" in pages[i] for i in holding)
    assert "The note of the table" in pages[holding[-1]]


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
