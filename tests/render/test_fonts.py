"""Chinese, Japanese, Korean and emoji labels reach the PDF as glyphs, not empty boxes.

Typst ships no CJK or emoji face; the report passes the Noto faces of the font packages
(present/fonts.py) to Typst. Read back: pdftotext returns the characters and pdffonts lists the
Noto faces embedded (a missing glyph is embedded as the main face's empty .notdef box, which
pdftotext still reads as the character: so both checks are needed).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hlm_analysis.present import fonts
from hlm_analysis.present.fmt import md_escape
from hlm_analysis.render import pandoc

SAMPLES = {
    "korean": "학교 성적",
    "chinese": "学校平均分",
    "japanese": "学校のテスト",
    "emoji": "😀🎉",
}


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    assert shutil.which("pdffonts"), "pdffonts (poppler-utils) is not installed"
    work = tmp_path_factory.mktemp("fonts")
    body = "\n\n".join(f"{k}: {md_escape(v)}" for k, v in SAMPLES.items())
    table = "| Group | N |\n|:--|--:|\n" + "".join(
        f"| {md_escape(v)} | 5 |\n" for v in SAMPLES.values()
    )
    source = work / "fonts.md"
    front = {"title": md_escape("성적 " + SAMPLES["chinese"])}
    source.write_text(f"---\ntitle: {front['title']}\n---\n\n{body}\n\n{table}", encoding="utf-8")
    pandoc.to_pdf(source, work / "fonts.pdf", front)
    return work / "fonts.pdf"


def _run(*cmd) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("script", list(SAMPLES))
def test_pdf_text_gives_the_characters_back(pdf, script):
    text = "".join(_run("pdftotext", "-enc", "UTF-8", str(pdf), "-").split())
    assert "".join(SAMPLES[script].split()) in text


def test_pdf_embeds_a_cjk_and_an_emoji_face(pdf):
    listing = _run("pdffonts", str(pdf))
    embedded = [line for line in listing.splitlines()[2:] if " yes " in line]
    assert any("CJK" in line for line in embedded), listing
    assert any("Emoji" in line for line in embedded), listing


def test_the_fallback_faces_come_from_packages():
    # `make report` on a fresh machine: the faces must come with pip, not from the system.
    dirs = fonts.font_dirs()
    assert any("noto_cjk_sans_otc" in d for d in dirs), dirs
    assert any("manimgx_fonts" in d for d in dirs), dirs
    assert {"Noto Sans CJK SC", "Noto Emoji"} <= set(fonts.matplotlib_families())


def test_html_carries_the_glyphs_it_uses_for_browsers_without_cjk_or_emoji_fonts(tmp_path):
    import base64
    import io
    import re

    from fontTools.ttLib import TTFont

    text = " ".join(SAMPLES.values())
    source = tmp_path / "page.md"
    source.write_text(f"---\ntitle: T\n---\n\n{md_escape(text)}\n", encoding="utf-8")
    pandoc.to_html(source, tmp_path / "page.html", {"title": "T"})
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    faces = re.findall(
        r'font-family: "(HLM Noto \w+)"; src: url\(data:font/otf;base64,([^)]+)\)', page
    )
    assert {name for name, _ in faces} == {"HLM Noto CJK", "HLM Noto Emoji"}
    covered = set()
    for _, data in faces:
        covered |= set(TTFont(io.BytesIO(base64.b64decode(data))).getBestCmap())
    assert {ord(c) for c in text if not c.isspace()} <= covered
    stack = re.search(r"body \{ font-family: ([^;]+);", page)[1]
    assert "HLM Noto CJK" in stack and "HLM Noto Emoji" in stack


def test_html_without_cjk_or_emoji_carries_no_font(tmp_path):
    source = tmp_path / "plain.md"
    source.write_text("---\ntitle: T\n---\n\nPlain text, é ß and שלום.\n", encoding="utf-8")
    pandoc.to_html(source, tmp_path / "plain.html", {"title": "T"})
    assert "@font-face" not in (tmp_path / "plain.html").read_text(encoding="utf-8")
