"""PDF and HTML layout (issue 21, item 8; review-levels #9; review-32): headings stay with what
follows; a table's caption is on the page of its first rows and its note under its last row; a
long narrow table is set in two halves side by side; a table that does not fit where it starts
breaks over the page with its header repeated when the page holds a few of its rows, and no
figure floats between its rows; no line breaks inside "p < .001" or "[a, b]".

The PDF cases move a heading and a table down a page in steps (filler paragraphs before them), so
positions at a page's foot are met, and read each page back with pdftotext.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from hlm_analysis.render import pandoc
from hlm_analysis.render.markdown import keep_numbers_together

ROWS = 30  # with its heading, caption and note 0.6 of a page: moved whole, it leaves that empty


# A table too wide to be set in two halves: six columns with long heads.
WIDE_HEAD = "| Term | Estimate | Standard error | Statistic | p value | Confidence interval |"


def _document(filler_lines: int, rows: int = ROWS, wide: bool = False, figure: str = "") -> str:
    filler = "\n\n".join(
        f"Filler paragraph {i} with enough words to fill one line of the page in the report."
        for i in range(filler_lines)
    )
    if wide:
        body = "\n".join(
            f"| Row{i:02d} | {i}.5 | 0.{i:02d} | {i}.25 | < .001 | [{i}.1, {i}.9] |"
            for i in range(rows)
        )
        table = f"{WIDE_HEAD}\n|:--|--:|--:|--:|--:|--:|\n{body}\n\n: The caption {{#tbl-x}}\n"
    else:
        body = "\n".join(f"| Row{i:02d} | {i}.5 | < .001 |" for i in range(rows))
        table = f"| Term | Estimate | p |\n|:--|--:|--:|\n{body}\n\n: The caption {{#tbl-x}}\n"
    table += "\n::: {.table-note}\nThe note of the table.\n:::\n"
    if figure:
        table += f"\n![Figure 1: The figure after the table.]({figure})\n"
    after = "\n\n".join(f"After paragraph {i}." for i in range(30))
    return f"---\ntitle: Layout\n---\n\n{filler}\n\n# Heading Under Test\n\n{table}\n\n{after}\n"


def _pages(tmp_path, filler_lines: int, rows: int = ROWS, layout: bool = False, **kw) -> list[str]:
    source = tmp_path / f"layout{filler_lines}.md"
    source.write_text(_document(filler_lines, rows, **kw), encoding="utf-8")
    pdf = tmp_path / f"layout{filler_lines}.pdf"
    pandoc.to_pdf(source, pdf, {"title": "Layout"})
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", *(["-layout"] if layout else []), str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
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
    assert page.index(f"Row{ROWS - 1:02d}") < page.index("The note")
    assert "After paragraph" not in page or page.index("The note") < page.index("After paragraph")
    # moved whole, a table leaves at most its own height empty: with its heading, caption and
    # note, 0.6 of a page here (the price of never parting a caption from its rows)
    empty = _empty_below(tmp_path / f"layout{filler_lines}.pdf")
    assert max(empty) < 0.65, [round(e, 2) for e in empty]


def test_a_long_narrow_table_is_set_in_two_halves_side_by_side(tmp_path):
    # 30 rows of three short columns: the first 15 rows beside the last 15, each half headed
    pages = _pages(tmp_path, 5, layout=True)
    lines = [line for page in pages for line in page.splitlines()]
    assert any(re.search(r"Term .*Estimate .*p .*Term .*Estimate .*p", line) for line in lines)
    assert any("Row00" in line and "Row15" in line for line in lines)
    assert any("Row14" in line and "Row29" in line for line in lines)


# Filler that leaves the wide table's heading at a page's top, its middle and its lower half.
@pytest.mark.parametrize("filler_lines", [8, 22, 34])
def test_a_wide_table_breaks_where_the_page_has_room_with_its_header_repeated(
    tmp_path, filler_lines
):
    rows = 34  # about 0.7 of a page with its caption: it cannot fit below the filler
    pages = _pages(tmp_path, filler_lines, rows, wide=True)
    per_page = [len(re.findall(r"Row\d\d", p)) for p in pages]
    holding = [i for i, n in enumerate(per_page) if n]
    assert sum(per_page) == rows, per_page
    heading = next(i for i, p in enumerate(pages) if "Heading Under Test" in p)
    caption = next(i for i, p in enumerate(pages) if "The caption" in p)
    assert heading == caption == holding[0], (heading, caption, per_page)
    # every page of rows is headed, holds at least 3 rows, and the note comes under the last one
    assert all("Standard error" in pages[i] for i in holding)
    assert min(per_page[i] for i in holding) >= 3, per_page
    assert "The note of the table" in pages[holding[-1]]
    # the table started where the filler ended: no page before its last is left a quarter empty
    # (moved whole, it left 0.3-0.6 of the page before it empty)
    empty = _empty_below(tmp_path / f"layout{filler_lines}.pdf")
    assert max(empty[: holding[-1]], default=0) < 0.25, [round(e, 2) for e in empty]


@pytest.fixture(scope="module")
def figure_png(tmp_path_factory):
    from matplotlib.figure import Figure

    path = tmp_path_factory.mktemp("figure") / "figure.png"
    fig = Figure(figsize=(6, 3))
    fig.add_subplot().plot([0, 1], [1, 0])
    fig.savefig(path, dpi=50)
    return path


@pytest.mark.parametrize("filler_lines", [22, 34])
def test_no_figure_floats_between_the_rows_of_a_table(tmp_path, filler_lines, figure_png):
    import shutil

    shutil.copy(figure_png, tmp_path / "figure.png")
    pages = _pages(tmp_path, filler_lines, 45, wide=True, figure="figure.png")
    holding = [i for i, p in enumerate(pages) if re.search(r"Row\d\d", p)]
    for i in holding[1:]:  # a page the table runs on to: its rows come before the figure
        page = pages[i]
        if "The figure after" in page:
            assert page.index("Row") < page.index("The figure after"), page[:300]
    figure = next(i for i, p in enumerate(pages) if "The figure after" in p)
    assert figure >= holding[-1]


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


def test_the_pdf_has_the_margins_pandoc_py_sets(tmp_path):
    # `-V margin.x=...` never reached pandoc's Typst template (it reads a map): pages kept 1.25 in
    source = tmp_path / "m.md"
    source.write_text("---\ntitle: M\n---\n\nText.\n", encoding="utf-8")
    pandoc.to_pdf(source, tmp_path / "m.pdf", {"title": "M"})
    typ = (tmp_path / "m.typ").read_text(encoding="utf-8")
    assert f"margin: (x: {pandoc.MARGIN_X},y: {pandoc.MARGIN_Y},)" in typ


def test_a_layout_that_does_not_settle_is_typeset_again_with_tables_kept_whole(tmp_path):
    # A block that grows in every layout pass while the adaptive placing is on: Typst stops
    # after five passes unsettled, and the PDF is made again with it off.
    grows = (
        "```{=typst}\n#context if adaptive-layout {\n"
        "  for i in range(query(<grows>).len() + 1) { [#metadata(i)<grows>] }\n}\n```\n"
    )
    source = tmp_path / "g.md"
    source.write_text(f"---\ntitle: G\n---\n\nText.\n\n{grows}", encoding="utf-8")
    pandoc.to_pdf(source, tmp_path / "g.pdf", {"title": "G"})
    typ = (tmp_path / "g.typ").read_text(encoding="utf-8")
    assert pandoc.ADAPTIVE_OFF in typ and pandoc.ADAPTIVE_ON not in typ
    assert (tmp_path / "g.pdf").stat().st_size > 0


def test_a_chapter_begins_after_the_figures_of_the_chapter_before(tmp_path, figure_png):
    import shutil

    shutil.copy(figure_png, tmp_path / "figure.png")
    filler = "\n\n".join(f"Filler paragraph {i} of the first chapter." for i in range(30))
    figures = "\n\n".join(
        f"![Figure {i}: Figure {i} of the first chapter.](figure.png)" for i in (1, 2)
    )
    source = tmp_path / "c.md"
    source.write_text(
        f"---\ntitle: C\n---\n\n# First\n\n{filler}\n\n{figures}\n\n# Second Chapter\n\nText.\n",
        encoding="utf-8",
    )
    pandoc.to_pdf(source, tmp_path / "c.pdf", {"title": "C"})
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(tmp_path / "c.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert text.index("Figure 2 of the first") < text.index("Second Chapter")
