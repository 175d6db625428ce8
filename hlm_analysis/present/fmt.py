"""Number and text formatting shared by tables, narrative and email (one style everywhere)."""

from __future__ import annotations

import math
import re
import unicodedata

MINUS = "\u2212"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~^$@&:\"'])")


def md_escape(text: object) -> str:
    """Make user text (column names, group labels, titles) literal in pandoc markdown.

    Every ASCII punctuation character is backslash-escaped, which pandoc always reads as the
    character itself, so `<script>` or `| *` reach HTML, PDF and Word as text, never as markup.
    Bidi controls are taken out and right-to-left text is isolated (`bidi_safe`), so no label
    reorders the sentence around it; long unbroken runs get break opportunities (`breakable`).
    """
    return breakable(bidi_safe(_MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")))


# Explicit directional formatting characters: embeddings and overrides (U+202A-U+202E), isolates
# (U+2066-U+2069) and the marks (U+200E, U+200F, U+061C). An override in a label ("\u202e")
# reversed the rest of the generated sentence ("3.05 points" read "stniop 50.3") in HTML and
# Word, and an unmatched isolate initiator would turn the rest of the paragraph around.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
FSI, PDI = "\u2068", "\u2069"  # first strong isolate ... pop directional isolate


def bidi_safe(text: str) -> str:
    """User text that cannot change the order of the text around it.

    Its own bidi controls are removed, and text holding a right-to-left letter (Hebrew, Arabic)
    is wrapped in FSI ... PDI: inside, the direction follows its first strong letter; outside, the
    whole run counts as one neutral character, so a number after a Hebrew label stays after it
    (without the isolate "label 3.05" displays as "3.05 label"). Text without right-to-left
    letters cannot reorder a left-to-right sentence and is left as it is.
    """
    text = BIDI_CONTROLS.sub("", text)
    if any(unicodedata.bidirectional(c) in ("R", "AL") for c in text):
        return f"{FSI}{text}{PDI}"
    return text


# A run of this many characters without a space (a 464-character label, a long URL-like id)
# runs off a PDF page and keeps a table column from wrapping: such runs get a zero-width space
# (a line-break opportunity in HTML, Word and Typst, invisible in all three) every BREAK_EVERY.
LONG_RUN = 40
BREAK_EVERY = 20
ZWSP = "\u200b"
_LONG_RUN = re.compile(r"(?:\\\S|[^\s\\]){" + str(LONG_RUN + 1) + ",}")  # an escape counts once


def breakable(text: str) -> str:
    """Text with break opportunities inside runs too long for a line (never inside an escape)."""

    def split(match: re.Match) -> str:
        tokens = re.findall(r"\\.|.", match[0], re.S)  # an escape stays one unit
        return ZWSP.join(
            "".join(tokens[i : i + BREAK_EVERY]) for i in range(0, len(tokens), BREAK_EVERY)
        )

    return _LONG_RUN.sub(split, text)


def shorten(text: str, limit: int) -> str:
    """Markdown-escaped `text` cut to `limit` visible characters with an ellipsis: escapes stay
    whole, invisible characters do not count, and an open right-to-left isolate is closed."""
    tokens = re.findall(r"\\.|.", text, re.S)
    visible = [t for t in tokens if t not in (ZWSP, FSI, PDI)]
    if len(visible) <= limit:
        return text
    out, seen = [], 0
    for token in tokens:
        if token not in (ZWSP, FSI, PDI):
            seen += 1
            if seen > limit - 1:
                break
        out.append(token)
    short = "".join(out).rstrip(ZWSP + " ")
    if short.count(FSI) > short.count(PDI):
        short += PDI
    return short + "\u2026"


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


def to_error(value: float | None, error: float | None, figures: int = 2) -> str:
    """A value at the precision its uncertainty supports (`figures` significant digits of the
    standard error or SD): an intercept of -0.00259 with SE 0.127 is "0.00", not a three-digit
    zero that reads as a finding."""
    if error is None or not math.isfinite(error) or error <= 0:
        return sig(value, 3)
    return num(value, decimals_for(error, figures))


def integer(value: float) -> str:
    return f"{int(round(value)):,}"


def pct(value: float | None, digits: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{num(100 * value, digits)}%"


def tiny_change(value: float | None) -> bool:
    """A proportional change that rounds to 0%: said with no direction, never 'by 0%'."""
    return value is not None and math.isfinite(value) and round(abs(100 * value)) == 0


def change_size(value: float | None) -> str:
    """The size of a proportional change, without its sign (the verb gives the direction):
    '12%', or 'less than 1%' where it rounds to 0%."""
    return "less than 1%" if tiny_change(value) else pct(abs(value) if value is not None else None)


def change_verb(value: float | None) -> str:
    """The verb of a proportional reduction (negative: a rise): 'reduces', 'increases', or
    'changes' where it rounds to 0% and its direction is noise."""
    if tiny_change(value):
        return "changes"
    return "increases" if value is not None and value < 0 else "reduces"


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
