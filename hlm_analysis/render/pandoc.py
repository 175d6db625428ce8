"""Convert the assembled markdown to HTML, Word and (via Typst) PDF with pandoc 3."""

from __future__ import annotations

from pathlib import Path

import pypandoc
import typst

from ..errors import ToolError
from ..present import fonts
from .markdown import clean_text, keep_numbers_together

ASSETS = Path(__file__).parent / "assets"
_READER = "markdown+pipe_tables+fenced_divs+bracketed_spans+implicit_figures+link_attributes"
# Keeps user text that starts with a Typst marker ("= x", "- x", "1. x") text: see the filter.
TYPST_TEXT_FILTER = f"--lua-filter={ASSETS / 'typst-text.lua'}"
MARGIN_X, MARGIN_Y = "2.2cm", "2.4cm"  # the PDF's page margins (left/right, top/bottom)


def _common(front: dict) -> list[str]:
    # Wide --columns: pipe tables keep natural column widths instead of wrapping every cell.
    args = ["--standalone", "--columns=1000", f"--lua-filter={ASSETS / 'callouts.lua'}"]
    if front.get("toc"):
        args += ["--toc", f"--toc-depth={front.get('toc-depth', 2)}"]
    if front.get("number-sections"):
        args.append("--number-sections")
    return args


def to_html(markdown: Path, out: Path, front: dict) -> None:
    # CJK and emoji glyphs the report uses, carried in the page (see fonts.web_font_css).
    web_fonts = markdown.parent / "web-fonts.css"
    web_fonts.write_text(fonts.web_font_css(markdown.read_text(encoding="utf-8")), encoding="utf-8")
    # One h1 on the page (the title): sections one level down, the contents one level deeper.
    depth = int(front.get("toc-depth", 2)) + 1
    args = _common({**front, "toc-depth": depth}) + [
        "--embed-resources",
        f"--css={ASSETS / 'report.css'}",
        # by name, pandoc running in its folder: a path is read as a URL ('%20' in a report
        # name decoded to a space, '#' cut it off) and the file was not found
        f"--css={web_fonts.name}",
        "--section-divs",
        "--shift-heading-level-by=1",
        f"--lua-filter={ASSETS / 'html-tables.lua'}",
        f"--include-in-header={ASSETS / 'head.html'}",  # an empty favicon: no 404 in the console
    ]
    _convert(markdown, "html5", out, args)


def to_docx(markdown: Path, out: Path, front: dict) -> None:
    _convert(markdown, "docx", out, _common(front))
    _update_fields_on_open(out)


def _update_fields_on_open(docx: Path) -> None:
    """Pandoc writes the table of contents as a Word field with no entries; this setting makes
    Word fill it (and the other fields) when the file is opened."""
    import zipfile

    tmp = docx.with_suffix(".tmp.docx")
    with zipfile.ZipFile(docx) as source, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/settings.xml" and b"w:updateFields" not in data:
                data = data.replace(
                    b"</w:settings>", b'<w:updateFields w:val="true"/></w:settings>', 1
                )
            target.writestr(item, data)
    tmp.replace(docx)


def to_pdf(markdown: Path, out: Path, front: dict) -> None:
    typ = markdown.with_suffix(".typ")  # beside the figures: Typst reads only below its root
    # The font fallback chain first (Noto CJK, emoji, other scripts), then the house style.
    header = markdown.parent / "typst-header.typ"
    header.write_text(
        fonts.typst_font_setting() + (ASSETS / "typst-header.typ").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    # pandoc's Typst template reads `margin` as a map (its pairs): `-V margin.x=...` set a
    # variable of that literal name, and every page kept the template's 1.25 in margins.
    metadata = markdown.parent / "typst-metadata.yaml"
    metadata.write_text(f"margin:\n  x: {MARGIN_X}\n  y: {MARGIN_Y}\n", encoding="utf-8")
    args = _common(front) + [
        TYPST_TEXT_FILTER,  # after callouts.lua: escapes the callout titles it makes, too
        f"--lua-filter={ASSETS / 'table-notes.lua'}",  # a table's note inside its figure
        f"--include-in-header={header.name}",  # by name, as the HTML's web-fonts.css
        f"--metadata-file={metadata.name}",
        "-V",
        f"papersize={front.get('papersize', 'a4')}",  # a4 or us-letter (config paper:)
        "-V",
        "fontsize=10.5pt",
    ]
    if front.get("number-sections"):
        args += ["-V", "section-numbering=1.1"]
    _convert(markdown, "typst", typ, args)
    if not _typeset(typ, out, markdown.parent):
        # The adaptive placing of tables (typst-header.typ) reads positions from the pass before
        # and did not settle within Typst's five passes: the layout could hold a caption apart
        # from its rows. Typeset again with every table that fits on a page kept whole.
        source = typ.read_text(encoding="utf-8")
        typ.write_text(source.replace(ADAPTIVE_ON, ADAPTIVE_OFF, 1), encoding="utf-8")
        _typeset(typ, out, markdown.parent)


ADAPTIVE_ON, ADAPTIVE_OFF = "#let adaptive-layout = true", "#let adaptive-layout = false"


def _typeset(typ: Path, out: Path, root: Path) -> bool:
    """Compile `typ` to `out`; False when Typst's layout did not converge."""
    try:
        from . import source_date_epoch  # a fixed stamp: the same report, the same bytes

        _, warnings = typst.compile_with_warnings(
            str(typ),
            output=str(out),
            root=str(root),
            timestamp=source_date_epoch(),
            font_paths=list(fonts.font_dirs()),  # Noto CJK and emoji from their packages
        )
    except Exception as exc:  # noqa: BLE001 - typst raises its own error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ToolError(f"Typst: PDF typesetting failed: {first}") from None
    return not any("did not converge" in str(w) for w in warnings)


def _convert(markdown: Path, to: str, out: Path, args: list[str]) -> None:
    # Read here, not by pandoc: what no output format can hold is taken out first (clean_text).
    source = keep_numbers_together(clean_text(markdown.read_text(encoding="utf-8")))
    try:
        pypandoc.convert_text(
            source,
            to,
            format=_READER,
            outputfile=str(out),
            extra_args=args,
            cworkdir=str(markdown.parent),
        )
    except (RuntimeError, OSError) as exc:  # OSError: no pandoc binary found (pypandoc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "pandoc failed"
        raise ToolError(f"pandoc could not write {out.name}: {first}") from None
