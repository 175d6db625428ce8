"""A whole report with hostile user text everywhere a user can put it (title, labels, category
levels, group ids): every string reaches HTML, Word and PDF as the same text, and none becomes
structure (a heading, a list, a link)."""

from __future__ import annotations

import re
import subprocess
import zipfile
from html import unescape

import numpy as np
import pandas as pd
import pytest
import yaml

from hlm_analysis.render import render_report

GROUPS = [
    "= Heading 12", "- dash item", "+ plus item", "/ term: def", "1. enumerated", "a|b",
    "*bold*", "_emph_", "#eval(1)", "$x^2$", "<script>x</script>", "[link](http://x)",
]  # fmt: skip
LEVELS = ["@ref", "`code`", "50% & more"]
LABELS = {"y": "= Outcome", "x": "- Predictor", "kind": "+ Kind", "school": "/ School: id"}
TITLE = "= Title | *with* <b>markup</b>"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(3)
    n = 15 * len(GROUPS)
    group = np.repeat(np.arange(len(GROUPS)), 15)
    frame = pd.DataFrame(
        {
            "school": [GROUPS[g] for g in group],
            "x": rng.normal(size=n),
            "kind": [LEVELS[i % 3] for i in range(n)],
        }
    )
    frame["y"] = 2 * frame["x"] + rng.normal(0, 1, len(GROUPS))[group] + rng.normal(size=n)
    frame.to_csv(tmp / "data.csv", index=False)
    config = tmp / "hostile.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "title": TITLE,
                "subtitle": "- not a list",
                "data": "data.csv",
                "outcome": "y",
                "predictors": ["x", "kind"],
                "group": "school",
                "labels": LABELS,
            }
        )
    )
    out = render_report(config, output_root=tmp / "out", engine="builtin", progress=lambda m: None)
    html = (out / "report.html").read_text()
    with zipfile.ZipFile(out / "report.docx") as docx:
        document = docx.read("word/document.xml").decode()
    pdf = subprocess.run(
        ["pdftotext", "-raw", str(out / "report.pdf"), "-"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    return html, document, pdf


def _html_text(html: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
    return _flat(unescape(re.sub(r"<[^>]+>", " ", body)))


def _docx_text(document: str) -> str:
    runs = re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", document)
    return _flat(unescape("".join(runs)))


@pytest.mark.parametrize("text", [*GROUPS, *LEVELS, *LABELS.values(), TITLE])
def test_every_string_reaches_every_format_as_itself(report, text):
    html, document, pdf = report
    assert text in _html_text(html)
    assert text in _docx_text(document)
    assert text in _flat(pdf)


def test_no_user_text_becomes_structure(report):
    html, document, _ = report
    headings = re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", html, flags=re.S)
    hostile = [*GROUPS, *LEVELS, *LABELS.values()]
    assert not [h for h in headings if any(unescape(re.sub("<[^>]+>", "", h)).find(s) >= 0
                                            for s in hostile)]  # fmt: skip
    assert "<script>x</script>" not in html and "<b>markup</b>" not in html
    assert 'href="http://x"' not in html
    body = html.split("<body", 1)[1]
    assert not re.search(r"<li>\s*(dash item|plus item|enumerated)", body)
    paragraphs = re.findall(r"<w:p[ >].*?</w:p>", document, flags=re.S)
    heading_paragraphs = [p for p in paragraphs if re.search(r'w:val="Heading\d"', p)]
    assert len(heading_paragraphs) >= 7  # the report's own sections
    for paragraph in heading_paragraphs:
        text = _docx_text(paragraph)
        assert not any(s in text for s in hostile), text
