"""Turn executed cells into one pandoc-markdown document and resolve Quarto cross references.

Pandoc alone reads `@fig-x` as a citation, so references are resolved here: figures, tables and
sections are numbered in document order, captions get their "Figure n:" prefix, and every
`@fig-x`, `@tbl-x`, `@sec-x` becomes a link with the number as its text.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pypandoc

from ..errors import ToolError
from .errors import ReportError, cell_failure
from .qmd import Cell, Document

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Line ends other than "\n": pandoc drops a carriage return (gluing the words either side) and
# Typst reads every one of them as a new line, where user text "x\u2028- y" would start a list.
_LINE_ENDS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# Characters XML 1.0 cannot hold (C0 controls but tab and newline, U+FFFE/U+FFFF, surrogates) and
# the other controls HTML forbids: one in a label made a .docx Word refuses to open.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


# Bidi embeddings, overrides and marks: the report writes none, so any here came from user text
# that reached the markdown without fmt.md_escape (which takes them out and isolates instead).
_BIDI_EMBEDDINGS = re.compile("[\u202a-\u202e\u200e\u200f\u061c]")
_ISOLATES = re.compile("[\u2066-\u2069]|\n")


def _balanced_isolates(text: str) -> str:
    """Isolates kept only in matched pairs within a line: an initiator left open would isolate
    the rest of the paragraph (an RLI turns a whole English sentence around), and a stray PDI
    could close an isolate the report opened."""
    if not any("\u2066" <= c <= "\u2069" for c in text):
        return text
    drop: set[int] = set()
    open_at: list[int] = []
    for match in _ISOLATES.finditer(text):
        char = match[0]
        if char == "\n":
            drop.update(open_at)
            open_at = []
        elif char == "\u2069":
            if open_at:
                open_at.pop()
            else:
                drop.add(match.start())
        else:
            open_at.append(match.start())
    drop.update(open_at)
    return "".join(c for i, c in enumerate(text) if i not in drop)


def clean_text(text: str) -> str:
    """Markdown every output format can hold: controls dropped, stray line ends made spaces,
    no bidi control that could reorder text outside the user string it came in."""
    text = _NOT_TEXT.sub("", _LINE_ENDS.sub(lambda m: "\n" if m[0] == "\r\n" else " ", text))
    return _balanced_isolates(_BIDI_EMBEDDINGS.sub("", text))


# "p < .001", "p = .032", "χ²(1) = 4.20" and intervals "[0.08, 0.29]" the report writes: their
# spaces become no-break spaces, so no line (HTML, Word or PDF) ends inside one. User text is
# escaped ("\<", "\[") and never matches.
_RELATION = re.compile(r"(?<=[\w)²]) ([<=>≤≥]) (?=[−-]?\.?\d)")
# A relation that opens a table cell or a parenthesis: "< .001" in a p column.
_OPENING_RELATION = re.compile(r"(?<=[\s|(])([<=>≤≥]) (?=[−-]?\.?\d)")
_NUMBER = r"[−-]?(?:\d[\d,]*\.?\d*|\.\d+)%?"
_INTERVAL = re.compile(rf"(?<!\\)\[({_NUMBER}), ({_NUMBER})(?<!\\)\]")


def keep_numbers_together(markdown: str) -> str:
    markdown = _RELATION.sub("\u00a0\\1\u00a0", markdown)
    markdown = _OPENING_RELATION.sub("\\1\u00a0", markdown)
    return _INTERVAL.sub("[\\1,\u00a0\\2]", markdown)


def _escape_caption(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def _figure(
    cell: Cell,
    png_b64: str,
    figures_dir: Path,
    count: int,
    alt: str | None = None,
    caption: str | None = None,
) -> str:
    figures_dir.mkdir(parents=True, exist_ok=True)
    name = f"{cell.label}{'' if count == 0 else f'-{count}'}.png"
    (figures_dir / name).write_bytes(base64.b64decode(png_b64))
    # the figure's own caption (present/captions.py, markdown already), else the cell's fig-cap
    if isinstance(caption, str) and caption.strip():
        caption = clean_text(caption).replace("\n", " ")
    else:
        caption = _escape_caption(str(cell.options.get("fig-cap", "")))
    attrs = []
    if cell.label.startswith("fig-") and count == 0:
        attrs.append(f"#{cell.label}")
    # the figure's own alt text with its numbers (present/alt_text.py), else the cell's fig-alt
    alt = alt if isinstance(alt, str) and alt.strip() else cell.options.get("fig-alt")
    if alt:
        alt = clean_text(str(alt)).replace("\\", "\\\\").replace('"', "'")
        attrs.append(f'alt="{alt}"')  # pandoc's name for Quarto's fig-alt
    attr = f"{{{' '.join(attrs)}}}" if attrs else ""
    return f"![{caption}]({figures_dir.name}/{name}){attr}"


def _html_table(html: str) -> str:
    try:
        return pypandoc.convert_text(
            html, "markdown-raw_html-native_divs-native_spans", format="html"
        )
    except (RuntimeError, OSError) as exc:  # OSError: no pandoc binary (a broken tool, exit 3)
        first = (str(exc).strip().splitlines() or ["pandoc failed"])[0]
        raise ToolError(f"pandoc could not convert a table: {first}") from None


def cell_markdown(cell: Cell, outputs: list, figures_dir: Path, echo_default: bool) -> str:
    opts = cell.options
    if opts.get("include") is False:
        return ""
    chunks = []
    if opts.get("echo", echo_default) is True:
        chunks.append(f"```python\n{cell.source}\n```")
    if opts.get("output") is False:
        return "\n\n".join(chunks)
    asis = opts.get("output") == "asis"
    figure_count = 0
    for out in outputs:
        kind = out.get("output_type")
        if kind == "error":
            if not opts.get("error"):
                raise cell_failure(cell.label, out.get("ename"), out.get("evalue"))
            chunks.append("```\n" + _ANSI.sub("", "\n".join(out.get("traceback", []))) + "\n```")
        elif kind == "stream":
            if out.get("name") == "stderr" and opts.get("warning", False) is not True:
                continue
            text = out.get("text", "")
            chunks.append(text if asis else f"```\n{text.rstrip()}\n```")
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if "image/png" in data:
                meta = out.get("metadata", {}).get("image/png", {})
                chunks.append(
                    _figure(
                        cell,
                        data["image/png"],
                        figures_dir,
                        figure_count,
                        meta.get("alt"),
                        meta.get("caption"),
                    )
                )
                figure_count += 1
            elif "text/markdown" in data:
                chunks.append(data["text/markdown"])
            elif "text/html" in data and "<table" in data["text/html"]:
                chunks.append(_html_table(data["text/html"]))
            elif "text/plain" in data:
                text = data["text/plain"]
                chunks.append(text if asis else f"```\n{text}\n```")
    return "\n\n".join(c.strip("\n") for c in chunks if c.strip())


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*(\{[^}]*\})?\s*$", re.M)
_FIG = re.compile(
    r"!\[(?P<cap>(?:\\.|[^\]])*)\]\((?P<src>[^)]*)\)\{(?P<attr>[^}]*#(?P<id>fig-[\w-]+)[^}]*)\}"
)
_TBL = re.compile(r"^:[ \t]*(?P<cap>.*?)[ \t]*\{#(?P<id>tbl-[\w-]+)\}[ \t]*$", re.M)
_REF = re.compile(r"(?<![\w\\])@((?:fig|tbl|sec)-[\w-]*\w)")
_ALT_VALUE = re.compile(r'( alt="[^"]*")')
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def number_sections(markdown: str, numbered: bool) -> dict[str, str]:
    """Labels of `{#sec-...}` headings mapped to their numbers ("2.1"), outside code blocks."""
    counters = [0] * 6
    labels = {}
    text = _FENCE.sub("", markdown)
    for match in _HEADING.finditer(text):
        level = len(match.group(1))
        attrs = match.group(3) or ""
        if ".unnumbered" in attrs or "-}" in attrs:
            continue
        counters[level - 1] += 1
        counters[level:] = [0] * (6 - level)
        ident = re.search(r"#(sec-[\w-]+)", attrs)
        if ident:
            labels[ident.group(1)] = ".".join(str(c) for c in counters[:level]) if numbered else ""
    return labels


def resolve_crossrefs(markdown: str, numbered_sections: bool) -> tuple[str, list[str]]:
    """Number figures and tables, prefix their captions, link every reference; return unknown refs."""
    names: dict[str, str] = {}

    def figure(match: re.Match) -> str:
        n = sum(1 for k in names if k.startswith("fig-")) + 1
        names[match["id"]] = f"Figure {n}"
        return f"![Figure {n}: {match['cap']}]({match['src']}){{{match['attr']}}}"

    def table(match: re.Match) -> str:
        n = sum(1 for k in names if k.startswith("tbl-")) + 1
        names[match["id"]] = f"Table {n}"
        return f": Table {n}: {match['cap']} {{#{match['id']}}}"

    markdown = _FIG.sub(figure, markdown)
    markdown = _TBL.sub(table, markdown)
    for label, number in number_sections(markdown, numbered_sections).items():
        names[label] = f"Section {number}" if number else "this section"
    unknown: list[str] = []

    def ref(match: re.Match) -> str:
        label = match.group(1)
        if label not in names:
            unknown.append(label)
            return f"**?@{label}**"
        return f"[{names[label]}](#{label})"

    # an alt attribute is the figure's description in words (user labels too), never markup:
    # "x @fig-x" in it is text (cell_markdown leaves no double quote inside one)
    pieces = _ALT_VALUE.split(markdown)
    pieces[::2] = [_REF.sub(ref, piece) for piece in pieces[::2]]
    return "".join(pieces), unknown


def assemble(
    doc: Document, outputs: list[list], figures_dir: Path, echo_default: bool = False
) -> str:
    pieces = []
    cell_iter = iter(outputs)
    for part in doc.parts:
        if isinstance(part, Cell):
            pieces.append(cell_markdown(part, next(cell_iter), figures_dir, echo_default))
        else:
            pieces.append(part.strip("\n"))
    body = "\n\n".join(p for p in pieces if p.strip())
    numbered = bool(doc.front_matter.get("number-sections", False))
    body, unknown = resolve_crossrefs(body, numbered)
    if unknown:
        raise ReportError(f"report refers to unknown label(s): {', '.join(sorted(set(unknown)))}")
    return body + "\n"
