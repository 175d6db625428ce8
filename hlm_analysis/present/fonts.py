"""Fonts with glyphs for every script a label may be written in, for Typst and matplotlib.

Typst ships Latin, Greek and Cyrillic faces and matplotlib DejaVu Sans: Korean, Chinese,
Japanese and emoji labels became empty boxes in the PDF and the figures. The Noto faces come
from PyPI packages (pyproject.toml), so a fresh machine with only Python has them:
`noto-cjk-sans-otc` (Noto Sans CJK, one collection for Chinese, Japanese and Korean) and
`manimgx-fonts` (Noto Emoji, Noto Sans Symbols, Hebrew, Arabic, Indic and other scripts), both
under the SIL Open Font License. Debian's fonts-noto-cjk and fonts-noto-color-emoji are a
second source where installed (.ci/setup-system).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

_PACKAGES = ("noto_cjk_sans_otc", "manimgx_fonts")
_SYSTEM_DIRS = (
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/noto-cjk",
    "/usr/share/fonts/google-noto-emoji",
)

# Tried in this order for each character the main face lacks. Typst falls back further by
# itself; matplotlib goes down exactly this list (after DejaVu Sans).
FALLBACK_FAMILIES = [
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans Hebrew",
    "Noto Sans Arabic",
    "Noto Sans Devanagari",
    "Noto Sans Thai",
    "Noto Sans Symbols",
    "Noto Emoji",
    "Noto Color Emoji",
]
# Typst's body face, then the fallbacks (Libertinus Serif is compiled into Typst itself).
TYPST_FAMILIES = ["Libertinus Serif", "Noto Sans", *FALLBACK_FAMILIES]


@cache
def font_dirs() -> tuple[str, ...]:
    """Folders holding the fallback faces: the packages' first, then the system's."""
    dirs = []
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            dirs.append(str(Path(spec.origin).parent))
    dirs += [d for d in _SYSTEM_DIRS if Path(d).is_dir()]
    return tuple(dirs)


def _font_files() -> list[Path]:
    files = []
    for folder in font_dirs():
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() in (".ttf", ".otf", ".ttc") and "Noto" in path.name:
                files.append(path)
    return files


@cache
def matplotlib_families() -> list[str]:
    """Register the fallback faces with matplotlib once; the families it can now find, in
    FALLBACK_FAMILIES order, for rcParams['font.sans-serif'] after DejaVu Sans."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    for path in _font_files():
        try:
            font_manager.fontManager.addfont(str(path))
        except (OSError, RuntimeError, ValueError):  # a face FreeType cannot read: skip it
            continue
    known |= {f.name for f in font_manager.fontManager.ttflist}
    return [family for family in FALLBACK_FAMILIES if family in known]


def typst_font_setting() -> str:
    """The Typst rule that sets the fallback chain (placed before pandoc's template)."""
    names = ", ".join(f'"{family}"' for family in TYPST_FAMILIES)
    return f"#set text(font: ({names}))\n"


# The HTML report names these families last in its font stack (assets/report.css) and carries
# them as @font-face rules with only the glyphs it uses: a reader's browser without a CJK or
# emoji font drew Korean, Chinese, Japanese and emoji labels as empty boxes.
WEB_FACES = {
    "HLM Noto CJK": ("NotoSansCJK-Regular.ttc", 0x2E80),
    "HLM Noto Emoji": ("NotoEmoji[wght].ttf", 0x1F000),
}


def _face_file(name: str) -> Path | None:
    return next((p for p in _font_files() if p.name == name), None)


def web_font_css(text: str) -> str:
    """@font-face rules (data URIs) for the faces in WEB_FACES, subset to the characters of
    `text` each one holds beyond its starting code point; empty when none is needed."""
    import base64
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    chars = {c for c in text if ord(c) >= 0x2E80}
    rules = []
    for family, (file_name, first) in WEB_FACES.items():
        wanted = {c for c in chars if ord(c) >= first}
        path = _face_file(file_name)
        if not wanted or path is None:
            continue
        with TTFont(str(path), fontNumber=0, lazy=True) as font:  # closes the 19 MB file
            cmap = font.getBestCmap()
            covered = sorted(ord(c) for c in wanted if ord(c) in cmap)
            if not covered:
                continue
            options = subset.Options()
            options.layout_features = ["*"]
            options.notdef_outline = True
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=covered)
            subsetter.subset(font)
            data = io.BytesIO()
            font.save(data)
        encoded = base64.b64encode(data.getvalue()).decode("ascii")
        rules.append(
            f'@font-face {{ font-family: "{family}"; '
            f'src: url(data:font/otf;base64,{encoded}) format("opentype"); }}'
        )
    return "\n".join(rules) + ("\n" if rules else "")
