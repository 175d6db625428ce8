"""Number and text formatting shared by tables, narrative and email (one style everywhere)."""

from __future__ import annotations

import math
import re

MINUS = "\u2212"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~^$@&:\"'])")


def md_escape(text: object) -> str:
    """Make user text (column names, group labels, titles) literal in pandoc markdown.

    Every ASCII punctuation character is backslash-escaped, which pandoc always reads as the
    character itself, so `<script>` or `| *` reach HTML, PDF and Word as text, never as markup.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:,.{digits}f}"
    if text.lstrip("-").strip("0.,") == "":
        text = text.lstrip("-")  # no "-0.00"
    return text.replace("-", MINUS)


def sig(value: float | None, figures: int = 3) -> str:
    """Round to significant figures without scientific notation for everyday magnitudes."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    digits = max(0, figures - 1 - int(math.floor(math.log10(abs(value)))))
    # Rounding can carry into the next power of ten (9.996 -> 10.00): count figures after it.
    rounded = round(abs(value), min(digits, 6))
    if rounded and int(math.floor(math.log10(rounded))) > int(math.floor(math.log10(abs(value)))):
        digits = max(0, digits - 1)
    return num(value, min(digits, 6))


def decimals_for(spread: float, figures: int = 3) -> int:
    """Decimals that show about `figures` significant digits of a typical value's spread."""
    if not spread or not math.isfinite(spread):
        return 2
    return int(min(4, max(0, figures - 1 - math.floor(math.log10(abs(spread))))))


def integer(value: float) -> str:
    return f"{int(round(value)):,}"


def pct(value: float | None, digits: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{num(100 * value, digits)}%"


def pvalue(p: float | None) -> str:
    """APA style: 'p < .001', 'p = .032' (no leading zero)."""
    if p is None or not math.isfinite(p):
        return "p = n/a"
    if p < 0.001:
        return "p < .001"
    text = f"{p:.3f}" if p < 0.995 else f"{p:.2f}"
    return f"p = {text.lstrip('0')}" if text.startswith("0") else f"p = {text}"


def df(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return integer(value) if value >= 100 else num(value, 1)


def keep_together(text: str) -> str:
    """Non-breaking spaces, so an interval such as '[0.08, 0.29]' never breaks across lines."""
    return text.replace(" ", "\u00a0")
