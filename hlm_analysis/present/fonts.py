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
