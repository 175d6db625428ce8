"""User text reaches every output as text, whatever it starts with or contains.

Labels, levels, group ids and titles are escaped with `present.fmt.md_escape` (as the report does)
and rendered with the render/pandoc.py functions, so what is tested is the report's own path.
"""

from __future__ import annotations

import html
import json
import random
import re
import shutil
import subprocess
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import pypandoc
import pytest
import yaml

from hlm_analysis.present.fmt import md_escape
from hlm_analysis.render import pandoc
from hlm_analysis.render.markdown import clean_text

# Typst's markup at the start of a line or content block, its shorthands, pandoc's and HTML's
# markup, and text that is hard to carry (right-to-left scripts, emoji, controls, line separators).
SPECIAL = [
    "= x",
    "== Heading 12",
    "- y",
    "+ z",
    "/ a: b",
    "1. item",
    "12. twelve",
    "1.\u00a0nbsp",
    "| a|b",
    "*x*",
    "_y_",
    "#eval",
    "$x$",
    "@ref",
    "<b>",
    "\\",
    "`code`",
    "[link](x)",
    "~tilde",
    "a...b",
    "x-?y",
    "n -5",
    "-0.5",
    "— -٣",
    "--- rule",
    "// comment",
    "/* block */",
    "https://example.org",
    "<!-- c -->",
    "&amp; &lt;",
    "'q' \"dq\"",
    "{#id .class}",
    "::: note",
    "^sup^ ~sub~",
    "😀 emoji 👍🏽 🇳🇿",
    "שלום עולם",
    "مرحبا بالعالم",
    "tab\there",
    "ctrl\x01\x07\x1bx",
    "cr\rlf",
    "line\u2028- sep",
    "para\u2029= sep",
    "vt\x0b+ ff\x0c/ x:",
]
_POOL = (
    [chr(c) for c in range(0x20, 0x7F)] * 3
    + list("\t\x00\x08\x7f\x85\u00a0\u00ad\u200b\u2028")
    + list("éßøñçäöüÆŒ—–…“”‘’€£¥§¶©®™°±×÷")
    + list("αβγδЖЙЩ漢字かなשלוםمرحبا😀🎉👍")
)


def _random_strings(n: int, seed: int = 20240517) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_POOL) for _ in range(rng.randint(1, 18))) for _ in range(n)]


STRINGS = SPECIAL + _random_strings(25)


def _pattern(text: str, spaces: bool = True) -> re.Pattern:
    """What `text` may come out as, in whitespace-normalised output text.

    The normalisation, applied to the output before matching: every whitespace run becomes one
    space and other characters that are not printable (str.isprintable) are removed. In `text`,
    a character that is not printable (a control, a tab, a line separator, a soft hyphen) may have
    been dropped or become a space; a run of spaces must still separate what it separated.
    """
    parts: list[str] = []
    gap: str | None = None  # None: no gap; "": an optional space; " ": a required space
    for char in text:
        if char.isprintable() and not char.isspace():
            if gap is not None and parts and spaces:
                parts.append(" " if gap == " " else " ?")
            gap = None
            parts.append(re.escape(char))
        else:
            required = char == " " or unicodedata.category(char) == "Zs"
            gap = " " if required or gap == " " else ""
    return re.compile("".join(parts))


def _normalised(text: str) -> str:
    text = "".join(c if c.isprintable() or c.isspace() else "" for c in text)
    return " ".join(text.split())


# Right-to-left scripts; and every script Typst sets in a fallback font (its own covers Latin,
# Greek, Cyrillic and the punctuation and symbols around them).
RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
FALLBACK_FONT = re.compile(r"[\u0590-\u1fff\u2e80-\U0010ffff]")
ASTRAL = re.compile(r"[\U00010000-\U0010ffff]")


def _letters(text: str) -> list[str]:
    return sorted(c for c in text if unicodedata.category(c)[0] in "LN")


def _found(text: str, tag: str, want: str, fmt: str) -> bool:
    """Whether the output `text` holds `want` between the markers `tag`B and `tag`E.

    Two things pdftotext cannot give back, for which the PDF check is looser (HTML and Word stay
    exact; `test_pdf_has_no_markup_from_user_text` checks the PDF's structure instead):
    - where Typst switches to a fallback font (CJK, Arabic, Hebrew, emoji) pdftotext may see a
      word space that is not there: such strings are compared without their spaces;
    - characters beyond the Basic Multilingual Plane (emoji): pdftotext may read a colour or
      variation-selector sequence differently, so the PDF check leaves them out (the glyphs
      themselves are checked by tests/render/test_fonts.py);
    - right-to-left runs come out in visual order (and punctuation at their edges moves and may
      be mirrored): such strings are compared by their letters and digits, in any order (a
      shaped Arabic ligature may give one letter back twice).
    """
    match = re.search(rf"{tag}B (.*?) ?{tag}E", text)
    if not match:
        return False
    got = match.group(1)
    if fmt != "pdf":
        return _pattern(want).fullmatch(got) is not None
    fallback = FALLBACK_FONT.search(want)
    got, want = ASTRAL.sub("", got), ASTRAL.sub("", want)
    if RTL.search(want):
        # Shaped Arabic (Noto Sans Arabic) maps some joined glyphs back to a letter twice
        # (pdftotext reads "مرحبا" with four "ب"): every letter must be there, no other letter.
        have, need = Counter(_letters(got)), Counter(_letters(clean_text(want)))
        return not (need - have) and set(have) <= set(need)
    if fallback:
        return _pattern(want, spaces=False).fullmatch(got.replace(" ", "")) is not None
    return _pattern(want).fullmatch(got) is not None


def _document(strings: list[str]) -> str:
    """Each string escaped as the report escapes user text, in three places, between markers
    that are plain words (P000B ... P000E): alone in a paragraph, alone in a table cell (not a
    header), and as a table caption."""
    parts = []
    for i, text in enumerate(strings):
        escaped = md_escape(text)
        parts += [
            f"P{i:03d}B\n\n{escaped}\n\nP{i:03d}E",
            f"| T{i:03d}B |\n|---|\n| {escaped} |\n| T{i:03d}E |",
            f"C{i:03d}B\n\n| C{i:03d}E |\n|---|\n| x |\n\n: {escaped}",
        ]
    return "\n\n".join(parts) + "\n"


def _html_text(path: Path) -> str:
    body = path.read_text(encoding="utf-8").split("<body", 1)[1]
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _docx_text(path: Path) -> str:
    with zipfile.ZipFile(path) as docx:
        xml = docx.read("word/document.xml").decode("utf-8")
    xml = re.sub(r"</w:p>|<w:tab/>|<w:br/>", " ", xml)
    return html.unescape(re.sub(r"<[^>]+>", "", xml))


def _pdf_text(path: Path) -> str:
    # -raw: content-stream order, with the spaces Typst set (the layout modes merge narrow ones).
    text = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pages = []
    for page in text.split("\f"):
        lines = page.rstrip("\n").split("\n")
        if lines and lines[-1].strip().isdigit():
            lines = lines[:-1]  # the page number at the foot of the page
        pages.append("\n".join(lines))
    return "\n".join(pages)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    # poppler-utils comes from .ci/setup-system (make test installs it): missing is a failure
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is not installed"
    work = tmp_path_factory.mktemp("escaping")
    source = work / "fuzz.md"
    front = {"title": "Escaping"}
    source.write_text(
        "---\n" + yaml.safe_dump(front) + "---\n\n" + _document(STRINGS), encoding="utf-8"
    )
    pandoc.to_html(source, work / "fuzz.html", front)
    pandoc.to_docx(source, work / "fuzz.docx", front)
    pandoc.to_pdf(source, work / "fuzz.pdf", front)
    return {
        "html": _normalised(_html_text(work / "fuzz.html")),
        "docx": _normalised(_docx_text(work / "fuzz.docx")),
        "pdf": _normalised(_pdf_text(work / "fuzz.pdf")),
        "work": work,
    }


@pytest.mark.parametrize("fmt", ["html", "docx", "pdf"])
def test_every_string_comes_out_as_the_same_text(outputs, fmt):
    wrong = [
        f"{where} {text!r}"
        for i, text in enumerate(STRINGS)
        for where in "PTC"
        if not _found(outputs[fmt], f"{where}{i:03d}", text, fmt)
    ]
    assert not wrong, f"{fmt}: {wrong}"


def test_pdf_has_no_markup_from_user_text(outputs):
    # The text check cannot see every wrong reading ("1. item" as an enumeration prints "1. item"
    # too), so ask Typst what it built: no element of these kinds comes from the fuzz document.
    import typst

    source = str(outputs["work"] / "fuzz.typ")
    for selector in (
        "heading",
        "list",
        "enum",
        "terms",
        "link",
        "ref",
        "raw",
        "math.equation",
        "strong",
        "emph",
        "footnote",
    ):
        found = typst.query(source, selector, root=str(outputs["work"]))
        assert json.loads(found) == [], f"user text became {selector}: {found[:300]}"


def test_html_and_word_have_no_markup_from_user_text(outputs):
    page = (outputs["work"] / "fuzz.html").read_text(encoding="utf-8").split("<body", 1)[1]
    tags = re.findall(r"<(h[1-6]|ul|ol|dl|a|code|em|strong|sup|sub|script|img)[\s>]", page)
    assert tags == ["h1"], tags  # the title only
    with zipfile.ZipFile(outputs["work"] / "fuzz.docx") as docx:
        xml = docx.read("word/document.xml").decode("utf-8")
    styles = set(re.findall(r'w:pStyle w:val="([^"]+)"', xml))
    assert styles <= {"Title", "FirstParagraph", "BodyText", "Compact", "TableCaption"}, styles
    assert "<w:numPr>" not in xml and "<w:hyperlink" not in xml


def test_word_document_is_well_formed_xml(outputs):
    # A control character in a label once made a document.xml Word refuses to open.
    import xml.etree.ElementTree as ET

    with zipfile.ZipFile(outputs["work"] / "fuzz.docx") as docx:
        ET.fromstring(docx.read("word/document.xml"))


def _typst(markdown: str) -> str:
    return pypandoc.convert_text(
        markdown,
        "typst",
        format="markdown+pipe_tables",
        extra_args=["--columns=1000", pandoc.TYPST_TEXT_FILTER],
    )


@pytest.mark.parametrize(
    ("text", "typst_source"),
    [
        ("= x", r"\= x"),
        ("== x", r"\== x"),
        ("- y", r"\- y"),
        ("+ z", r"\+ z"),
        ("/ a: b", r"\/ a: b"),
        ("1. item", r"\1. item"),
        ("12. x", r"\12. x"),
        ("1.5 x", "1.5 x"),  # a number, not an enumeration: left alone
        ("a...b", r"a\...b"),
        ("x-?y", r"x\-?y"),
        ("n -5", r"n \-5"),
        ("--- y", r"\--\- y"),  # pandoc escapes the second dash of "--"; nothing twice
        ("#eval $x$", r"\#eval \$x\$"),  # pandoc's own escapes, untouched
        ("*x* _y_ @r <b> `c` ~t \\", r"\*x\* \_y\_ \@r \<b\> \`c\` \~t \\"),
    ],
)
def test_typst_escapes_user_text_once(text, typst_source):
    # In a paragraph pandoc escapes a line-start marker itself; in a table cell and a caption it
    # did not. With the filter every place gets exactly one escape.
    escaped = md_escape(text)
    typ = _typst(f"{escaped}\n\n| h |\n|---|\n| {escaped} |\n\n: {escaped}\n")
    paragraph = typ.split("\n\n", 1)[0]
    assert paragraph == typst_source
    assert f"[{typst_source}]" in typ  # the cell
    assert f"caption: [{typst_source}]" in typ


def test_typst_filter_leaves_other_formats_alone():
    html = pypandoc.convert_text(
        md_escape("= x -5 a...b"), "html", format="markdown", extra_args=[pandoc.TYPST_TEXT_FILTER]
    )
    assert html.strip() == "<p>= x -5 a...b</p>"


def test_title_subtitle_and_author_stay_text_in_the_pdf(tmp_path):
    # The Typst template puts them in content blocks (`title: [...]`), where "= " was a heading.
    import typst

    front = {"title": md_escape("= Title"), "subtitle": md_escape("- Sub"), "toc": True}
    front["author"] = md_escape("+ Author")
    source = tmp_path / "t.md"
    source.write_text("---\n" + yaml.safe_dump(front) + "---\n\nBody.\n", encoding="utf-8")
    pandoc.to_pdf(source, tmp_path / "t.pdf", front)
    headings = json.loads(typst.query(str(tmp_path / "t.typ"), "heading", root=str(tmp_path)))
    assert [h for h in headings if h["outlined"]] == []  # only the outline's own "Contents"
    assert json.loads(typst.query(str(tmp_path / "t.typ"), "list", root=str(tmp_path))) == []
    text = _normalised(_pdf_text(tmp_path / "t.pdf"))
    assert text.startswith("= Title - Sub + Author")


def test_clean_text_drops_what_no_format_can_hold():
    assert clean_text("a\x01b\x7fc\x9fd") == "abcd"
    assert clean_text("tab\tand\nnewline stay") == "tab\tand\nnewline stay"
    assert clean_text("cr\r\nlf") == "cr\nlf"
    # Other line ends: Typst starts a new line at each, where "- sep" would become a list.
    assert clean_text("a\rb\x0bc\x0cd\x85e\u2028f\u2029g") == "a b c d e f g"


def test_front_matter_values_are_clean_before_yaml_escapes_them():
    # YAML writes "\x07" as an escape that pandoc turns back into the character.
    from types import SimpleNamespace

    from hlm_analysis.render import _front_matter

    spec = SimpleNamespace(title="= Bell\x07 title", subtitle="line\u2028- sep", author="A\x01")
    front = _front_matter({"toc": True, "format": {}}, spec)
    assert front["title"] == md_escape("= Bell title")
    assert front["subtitle"] == md_escape("line - sep")
    assert front["author"] == "A" and front["toc"] is True and "format" not in front


def test_notebook_for_quarto_is_clean_too(tmp_path):
    from hlm_analysis.render import ipynb, qmd

    source = tmp_path / "doc.qmd"
    source.write_text("---\ntitle: x\n---\n\nText\x01 here.\n\n```{python}\nprint(1)\n```\n")
    doc = qmd.parse(source)
    outputs = [
        [
            {"output_type": "stream", "name": "stdout", "text": "a\x02b"},
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {"text/markdown": "| x\u2028- y |", "text/plain": "p"},
            },
        ]
    ]
    nb = ipynb.executed_notebook(doc, outputs, {"title": "T\x03"})
    text = repr([dict(cell) for cell in nb.cells])
    for bad in ("\\x01", "\\x02", "\\x03", "\\u2028"):
        assert bad not in text
    assert nb.cells[-1].outputs[1]["data"]["text/markdown"] == "| x - y |"
