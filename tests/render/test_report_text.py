"""One whole report whose user text is what a district's data team meets (issues 25 and 21):
groups of one and two students, a right-to-left override in a label, Korean and Chinese labels
and group ids, an emoji title and a 464-character unbroken label. What the reader sees is read
back from the HTML, the Word file and the PDF (pdftotext, pdffonts, page images)."""

from __future__ import annotations

import html
import re
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from hlm_analysis.present.fmt import BIDI_CONTROLS, FSI, PDI
from hlm_analysis.present.tables import CELL_LIMIT, WIDE_CELL_LIMIT
from hlm_analysis.render import render_report

SMALL = ["tiny-one", "tiny-two", "tiny-three"]  # groups of 1, 2 and 2 rows
LONG = "L" * 464
LABELS = {"y": "학교 성적 score", "x": LONG, "kind": "Ki\u202end of school"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reader")
    rng = np.random.default_rng(5)
    sizes = [15] * 20 + [1, 2, 2]
    ids = [f"学校{i}" for i in range(20)] + SMALL
    group = np.repeat(np.arange(len(sizes)), sizes)
    n = len(group)
    frame = pd.DataFrame(
        {
            "school": [ids[g] for g in group],
            "x": rng.normal(size=n),
            "kind": [["public", "private"][i % 2] for i in range(n)],
        }
    )
    frame["y"] = 3 * frame["x"] + rng.normal(0, 1, len(sizes))[group] + rng.normal(size=n)
    frame.to_csv(tmp / "data.csv", index=False)
    config = tmp / "reader.yml"
    spec = {"title": "Scores 학교 😀", "data": "data.csv", "outcome": "y"}
    spec |= {"predictors": ["x", "kind"], "group": "school", "labels": LABELS}
    config.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    out = render_report(config, output_root=tmp / "out", engine="builtin", progress=lambda m: None)
    page = (out / "report.html").read_text(encoding="utf-8")
    with zipfile.ZipFile(out / "report.docx") as docx:
        xml = docx.read("word/document.xml").decode("utf-8")

    def run(*cmd) -> str:
        # errors="replace": pdftotext -bbox writes an emoji as two UTF-8-encoded surrogates
        return subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", check=True
        ).stdout

    pdf = out / "report.pdf"
    images = tmp / "pages"
    images.mkdir()
    run("pdftoppm", "-gray", "-r", "30", str(pdf), str(images / "p"))
    return {
        "html": page,
        "html_text": _flat(html.unescape(re.sub(r"<[^>]+>", " ", page.split("<body", 1)[1]))),
        "docx": xml,
        "docx_text": _flat(html.unescape("".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)<", xml)))),
        "pdf_text": _flat(run("pdftotext", "-enc", "UTF-8", str(pdf), "-")),
        "pdf_bbox": run("pdftotext", "-enc", "UTF-8", "-bbox", str(pdf), "-"),
        "pdffonts": run("pdffonts", str(pdf)),
        "pages": sorted(images.glob("p-*.pgm")),
    }


def _flat(text: str) -> str:
    # ASCII whitespace only: the no-break spaces are what the layout test looks for
    return re.sub(r"[ \t\n\r\f\v]+", " ", text.replace("\u200b", ""))


@pytest.mark.parametrize("fmt", ["html_text", "docx_text", "pdf_text"])
def test_groups_below_min_cell_are_not_published(report, fmt):
    text = report[fmt]
    assert not [name for name in SMALL if name in text]
    assert "3 schools with fewer than 5 observations are not shown" in text  # the nouns
    assert "学校0" in text.replace(" ", "")  # the other groups are


def test_no_bidi_control_from_user_text_reaches_html_or_word(report):
    for name in ("html", "docx"):
        out = report[name]
        assert not [c for c in BIDI_CONTROLS.findall(out) if c not in (FSI, PDI)], name
        assert out.count(FSI) == out.count(PDI), name
    assert "Kind of school" in report["html_text"] and "Kind of school" in report["pdf_text"]


def test_cjk_and_emoji_are_glyphs_in_the_pdf(report):
    text = report["pdf_text"].replace(" ", "")
    assert "학교성적" in text and "学校0" in text and "😀" in text
    embedded = [line for line in report["pdffonts"].splitlines()[2:] if " yes " in line]
    assert any("CJK" in line for line in embedded) and any("Emoji" in line for line in embedded)


def test_nothing_runs_off_a_pdf_page(report):
    pages = re.findall(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', report["pdf_bbox"], re.S)
    assert pages
    for width, body in pages:
        for x_max in re.findall(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"', body):
            assert float(x_max) <= float(width) - 20  # inside the right margin (2.2 cm)


def test_long_labels_are_cut_in_table_cells_and_given_in_full(report):
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", report["html"], re.S)
    cells = [m.group(1) for r in rows if (m := re.search(r"<td[^>]*>(.*?)</td>", r, re.S))]
    texts = [_flat(html.unescape(re.sub(r"<[^>]+>", "", c))).strip() for c in cells]
    # first column: at most three lines (the data table's, beside six narrow numeric columns,
    # holds WIDE_CELL_LIMIT characters on two or three)
    assert max(len(t) for t in texts) <= WIDE_CELL_LIMIT + 2
    assert sorted(len(t) for t in texts)[-2] <= CELL_LIMIT + 2  # the other tables' cells
    assert LONG in report["html_text"].replace(" ", "")  # the key under the table


def test_no_line_break_inside_p_values_or_intervals(report):
    for name in ("html_text", "docx_text"):
        text = report[name]
        assert re.search("<\u00a0\\.\\d", text) or re.search("=\u00a0\\.\\d", text), name
        assert not re.search(r"(^|[\s(])[<=] \.?\d", text), name  # "p < .001", "< .001"
        assert not re.search(r"\[[−-]?[\d.,]+, [−-]?[\d.,]+\]", text), name


def test_no_page_but_the_last_is_mostly_empty(report):
    # An orphaned heading or a figure or table that moved on once left pages up to 60% empty:
    # the longest run of blank lines on any page but the last, in the middle of a page too.
    empty = []
    for path in report["pages"][:-1]:
        ink = np.asarray(Image.open(path)) < 200
        height = ink.shape[0]
        top, foot = int(0.08 * height), int(0.90 * height)  # margins; the page number below
        longest = run = 0
        for inked in ink[top:foot].any(axis=1):
            run = 0 if inked else run + 1
            longest = max(longest, run)
        empty.append(longest / (foot - top))
    # a table that fits on a page moves to the next whole (caption, rows and note together):
    # the gap it leaves is at most its height, here under 45% of a page
    assert max(empty) < 0.45, [round(e, 2) for e in empty]
