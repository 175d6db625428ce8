"""No user text changes the order of the report's own text (issue 25).

A right-to-left override (U+202E) in a label reversed the rest of the generated sentence in HTML
and Word ("3.05 points" read "stniop 50.3"); a Hebrew label pulled the number after it in front
of it. Every bidi control (embeddings, overrides, isolates, marks) and right-to-left labels are
rendered through the report's own path (fmt.md_escape, render/pandoc.py) and the ORDER ON THE
PAGE of the generated words after the label is measured: in HTML and in the Word text (through
HTML) by Chromium's layout, in the PDF by pdftotext.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import pypandoc
import pytest

from hlm_analysis.present.fmt import BIDI_CONTROLS, FSI, PDI, bidi_safe, md_escape
from hlm_analysis.render import pandoc
from hlm_analysis.render.markdown import clean_text

CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e"]
CONTROLS += ["\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\u061c"]
LABELS = (
    [f"Sc{c}hool ses" for c in CONTROLS]
    + [f"{c}School" for c in CONTROLS]
    + [
        "\u202eSchool ses",  # the override opens the label and is never closed
        "\u2067\u202eses",  # an isolate and an override, both left open
        "שלום עולם",  # Hebrew: without an isolate the number after it moved in front of it
        "مرحبا 12",
        "ses \u202b\u05d0",
    ]
)
TAIL = "3.05 points and 12.5 more"  # the generated words that must keep their order


def _document(labels: list[str]) -> str:
    paras = [
        f"Q{i:02d}: the effect of {md_escape(label)} is {TAIL}." for i, label in enumerate(labels)
    ]
    return "---\ntitle: Bidi\n---\n\n" + "\n\n".join(paras) + "\n"


# Measures, for each paragraph "Qnn: ...", the left edge of every character of TAIL as laid out
# and writes {"Qnn": true/false} into the page: true when the characters run left to right.
_PROBE = """
<script>
window.addEventListener('load', () => {
  const tail = %s;
  const out = {};
  for (const p of document.querySelectorAll('p')) {
    const m = p.textContent.match(/^Q\\d\\d/);
    if (!m) continue;
    const walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT);
    const nodes = [];
    let text = '';
    while (walker.nextNode()) { nodes.push([walker.currentNode, text.length]); text += walker.currentNode.data; }
    const start = text.lastIndexOf(tail);
    if (start < 0) { out[m[0]] = 'missing'; continue; }
    const lefts = [];
    for (let k = start; k < start + tail.length; k++) {
      if (text[k] === ' ') continue;
      const [node, offset] = nodes.filter(([n, o]) => o <= k).pop();
      const range = document.createRange();
      range.setStart(node, k - offset);
      range.setEnd(node, k - offset + 1);
      lefts.push(range.getBoundingClientRect().left);
    }
    out[m[0]] = lefts.every((x, i) => i === 0 || x > lefts[i - 1]);
  }
  const pre = document.createElement('pre');
  pre.id = 'bidi-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _laid_out_in_order(html_file: Path) -> dict:
    page = html_file.read_text(encoding="utf-8")
    probe = _PROBE % json.dumps(TAIL)
    probed = html_file.with_name(html_file.stem + "-probe.html")
    probed.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=3000,2000",
         "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    match = re.search(r'<pre id="bidi-result">(.*?)</pre>', dom, re.S)
    assert match, "the layout probe did not run"
    import html

    return json.loads(html.unescape(match.group(1)))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    assert shutil.which("chromium"), "chromium is not installed (.ci/setup-system)"
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is not installed"
    work = tmp_path_factory.mktemp("bidi")
    source = work / "bidi.md"
    source.write_text(_document(LABELS), encoding="utf-8")
    front = {"title": "Bidi"}
    pandoc.to_html(source, work / "bidi.html", front)
    pandoc.to_docx(source, work / "bidi.docx", front)
    pandoc.to_pdf(source, work / "bidi.pdf", front)
    # The Word document's own text, laid out by the same Unicode bidi algorithm Word follows.
    pypandoc.convert_file(
        str(work / "bidi.docx"), "html5", outputfile=str(work / "docx.html"),
        extra_args=["--standalone", "--metadata=title:Bidi"],
    )  # fmt: skip
    return work


def test_generated_words_keep_their_order_in_html(rendered):
    order = _laid_out_in_order(rendered / "bidi.html")
    assert len(order) == len(LABELS)
    assert all(v is True for v in order.values()), order


def test_generated_words_keep_their_order_in_word(rendered):
    order = _laid_out_in_order(rendered / "docx.html")
    assert len(order) == len(LABELS)
    assert all(v is True for v in order.values()), order


def test_generated_words_keep_their_order_in_the_pdf(rendered):
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(rendered / "bidi.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    text = " ".join(text.split())
    found = re.findall(r"Q\d\d", text)
    assert len(found) == len(LABELS)
    for i in range(len(LABELS)):
        after = text.split(f"Q{i:02d}", 1)[1].split(f"Q{i + 1:02d}", 1)[0]
        assert TAIL in after, (LABELS[i], after)


def test_no_bidi_control_of_user_text_reaches_any_output(rendered):
    with zipfile.ZipFile(rendered / "bidi.docx") as docx:
        xml = docx.read("word/document.xml").decode("utf-8")
    html_text = (rendered / "bidi.html").read_text(encoding="utf-8")
    typ = (rendered / "bidi.typ").read_text(encoding="utf-8")
    for name, out in (("docx", xml), ("html", html_text), ("typst", typ)):
        left = {f"U+{ord(c):04X}" for c in BIDI_CONTROLS.findall(out) if c not in (FSI, PDI)}
        assert not left, (name, left)
        assert out.count(FSI) == out.count(PDI), name


@pytest.mark.parametrize("label", LABELS)
def test_escaped_user_text_is_controls_free_and_isolated_when_right_to_left(label):
    escaped = md_escape(label)
    inner = escaped.removeprefix(FSI).removesuffix(PDI)
    assert not BIDI_CONTROLS.search(inner)
    rtl = any(unicodedata.bidirectional(c) in ("R", "AL") for c in BIDI_CONTROLS.sub("", label))
    assert escaped.startswith(FSI) == rtl and escaped.endswith(PDI) == rtl


def test_clean_text_removes_embeddings_and_unmatched_isolates():
    # The safety net for user text that reaches the markdown without md_escape.
    assert clean_text("a\u202eb\u202a\u202b\u202c\u202d\u200e\u200f\u061cc") == "abc"
    assert clean_text("x \u2067open") == "x open"  # an isolate never closed
    assert clean_text("stray\u2069 pdi") == "stray pdi"
    assert clean_text("ok \u2068\u05d0\u2069 3") == "ok \u2068\u05d0\u2069 3"
    assert clean_text("two \u2066a\nb\u2069") == "two a\nb"  # isolates end with the line
    assert bidi_safe("abc") == "abc"
