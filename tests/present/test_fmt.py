"""Number and text formatting (present/fmt.py), tested directly.

Expected values are written out or computed independently (Python's own rounding, the decimal
module); the markdown escaping is checked by letting pandoc read the escaped text back.
"""

from __future__ import annotations

import json
import re
import string

import numpy as np
import pypandoc
import pytest

from hlm_analysis.present import fmt

MINUS = "\u2212"
NOT_FINITE = [float("nan"), float("inf"), float("-inf"), np.float64("nan")]
# The reader the report's markdown goes through (render/pandoc.py).
READER = "markdown+pipe_tables+fenced_divs+bracketed_spans+implicit_figures+link_attributes"


def parse(text: str) -> float:
    """A formatted number back to a float (typographic minus and thousands separators)."""
    return float(text.replace(MINUS, "-").replace(",", ""))


# ---------------------------------------------------------------------------------------------
# num


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (1234.5678, 2, "1,234.57"),
        (0.5, 3, "0.500"),
        (-1.5, 2, f"{MINUS}1.50"),
        (-1234567.891, 1, f"{MINUS}1,234,567.9"),
        (7, 0, "7"),
        (2.5e-7, 2, "0.00"),
    ],
)
def test_num_rounds_groups_thousands_and_uses_a_true_minus(value, digits, expected):
    assert fmt.num(value, digits) == expected


@pytest.mark.parametrize("value", [-0.0, -0.001, -0.004999, -1e-12])
def test_num_never_shows_negative_zero(value):
    assert fmt.num(value, 2) == "0.00"
    assert fmt.num(value, 0) == "0"


def test_num_minus_is_u2212_never_a_hyphen():
    for value in (-0.01, -3.0, -12345.6):
        text = fmt.num(value, 2)
        assert text.startswith(MINUS)
        assert "-" not in text


@pytest.mark.parametrize("value", [None, *NOT_FINITE])
def test_num_missing_or_not_finite_is_na(value):
    assert fmt.num(value) == "n/a"


def test_num_default_is_two_decimals():
    assert fmt.num(3.14159) == "3.14"


# ---------------------------------------------------------------------------------------------
# sig


@pytest.mark.parametrize(
    ("value", "figures", "expected"),
    [
        (0.000123456, 3, "0.000123"),
        (0.0123456, 3, "0.0123"),
        (1.23456, 3, "1.23"),
        (12.3456, 3, "12.3"),
        (123.456, 3, "123"),
        (123456.7, 3, "123,457"),  # no scientific notation: whole digits are kept
        (-0.0123456, 3, f"{MINUS}0.0123"),
        (1.5, 2, "1.5"),
        (0.5, 3, "0.500"),
    ],
)
def test_sig_rounds_to_significant_figures(value, figures, expected):
    assert fmt.sig(value, figures) == expected


def test_sig_agrees_with_python_rounding_to_significant_figures():
    rng = np.random.default_rng(11)
    values = rng.choice([-1, 1], 300) * 10 ** rng.uniform(-3, 2.9, 300)  # 6 decimals at most
    for value in values:
        for figures in (2, 3):
            shown = parse(fmt.sig(float(value), figures))
            if abs(value) < 10**figures:
                assert shown == float(f"{value:.{figures}g}"), (value, figures)
            else:  # more whole digits than figures: all of them, never "5.5e+02"
                assert shown == round(value), (value, figures)


@pytest.mark.parametrize("value", [0, 0.0, -0.0])
def test_sig_zero(value):
    assert fmt.sig(value) == "0"


@pytest.mark.parametrize("value", [None, *NOT_FINITE])
def test_sig_missing_or_not_finite_is_na(value):
    assert fmt.sig(value) == "n/a"


@pytest.mark.parametrize(
    ("value", "figures", "expected"), [(9.996, 3, "10.0"), (0.0999, 2, "0.10")]
)
def test_sig_rounding_up_to_a_power_of_ten_keeps_the_figures(value, figures, expected):
    assert fmt.sig(value, figures) == expected


# ---------------------------------------------------------------------------------------------
# decimals_for


@pytest.mark.parametrize(
    ("spread", "expected"),
    [
        (1.234, 2),  # 1.23
        (12.3, 1),  # 12.3
        (150.0, 0),  # 150
        (98765.0, 0),  # never negative
        (0.05, 4),  # 0.0500
        (0.0001, 4),  # capped at 4
        (-12.3, 1),  # the magnitude counts
    ],
)
def test_decimals_for_shows_about_three_significant_figures(spread, expected):
    assert fmt.decimals_for(spread) == expected


def test_decimals_for_other_figures():
    assert fmt.decimals_for(12.3, figures=4) == 2
    assert fmt.decimals_for(12.3, figures=1) == 0


@pytest.mark.parametrize("spread", [0, 0.0, None, float("nan"), float("inf")])
def test_decimals_for_degenerate_spread_falls_back_to_two(spread):
    assert fmt.decimals_for(spread) == 2


# ---------------------------------------------------------------------------------------------
# integer, pct, df


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0"), (7, "7"), (1234, "1,234"), (1234.4, "1,234"), (1234.6, "1,235"), (1e6, "1,000,000")],
)
def test_integer_rounds_and_groups_thousands(value, expected):
    assert fmt.integer(value) == expected


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.1234, 0, "12%"),
        (0.1234, 1, "12.3%"),
        (1.0, 0, "100%"),
        (0.0, 0, "0%"),
        (-0.05, 0, f"{MINUS}5%"),
        (-0.001, 0, "0%"),  # no "-0%"
        (12.5, 0, "1,250%"),
    ],
)
def test_pct(value, digits, expected):
    assert fmt.pct(value, digits) == expected


def test_pct_none_is_na():
    assert fmt.pct(None) == "n/a"


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_pct_not_finite_is_na(value):
    assert fmt.pct(value) == "n/a"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12.345, "12.3"),
        (3.0, "3.0"),
        (99.94, "99.9"),
        (100.0, "100"),
        (150.4, "150"),
        (1234.6, "1,235"),
    ],
)
def test_df_one_decimal_below_100_whole_numbers_above(value, expected):
    assert fmt.df(value) == expected


@pytest.mark.parametrize("value", [None, float("nan"), float("inf")])
def test_df_missing_is_na(value):
    assert fmt.df(value) == "n/a"


# ---------------------------------------------------------------------------------------------
# pvalue


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "p < .001"),
        (1e-12, "p < .001"),
        (0.000999, "p < .001"),
        (0.001, "p = .001"),
        (0.032, "p = .032"),
        (0.0499, "p = .050"),
        (0.5, "p = .500"),
        (0.9, "p = .900"),
        (1.0, "p = 1.00"),
    ],
)
def test_pvalue_apa_style(p, expected):
    assert fmt.pvalue(p) == expected


@pytest.mark.parametrize("p", [None, float("nan"), float("inf")])
def test_pvalue_missing(p):
    assert fmt.pvalue(p) == "p = n/a"


def test_pvalue_has_no_leading_zero_and_is_close_to_p():
    shape = re.compile(r"^p (< \.001|= \.\d{2,3}|= 1\.00)$")
    for p in np.concatenate([np.linspace(0, 1, 2001), 10 ** np.linspace(-8, 0, 400)]):
        text = fmt.pvalue(float(p))
        assert shape.match(text), (p, text)
        if p < 0.001:
            assert text == "p < .001"
        else:
            shown = float(text.removeprefix("p = "))
            decimals = len(text.split(".")[1])
            assert abs(shown - p) <= 0.5 * 10**-decimals + 1e-12, (p, text)


# ---------------------------------------------------------------------------------------------
# md_escape


def _pandoc_blocks(markdown: str) -> list[dict]:
    """The blocks pandoc reads from `markdown` (its JSON AST)."""
    doc = json.loads(pypandoc.convert_text(markdown, "json", format=READER))
    return doc["blocks"]


def _plain_text(inlines: list[dict]) -> str | None:
    """Text of inlines made only of Str and Space (None when pandoc made any markup)."""
    out = []
    for inline in inlines:
        if inline["t"] == "Str":
            out.append(inline["c"])
        elif inline["t"] == "Space":
            out.append(" ")
        else:
            return None
    return "".join(out)


MARKDOWN_ACTIVE = set("\\`*_{}[]()<>#+-.!|~^$@&:\"'")


def test_md_escape_backslashes_every_markdown_character():
    for char in string.punctuation:
        escaped = fmt.md_escape(char)
        assert escaped in (char, "\\" + char)
        if char in MARKDOWN_ACTIVE:
            assert escaped == "\\" + char, char


def test_md_escape_leaves_letters_digits_and_non_ascii_alone():
    text = "Ünïcode × 42 Schüler ÄÖ élève 学校"
    assert fmt.md_escape(text) == text


def test_md_escape_accepts_non_strings():
    assert fmt.md_escape(3.5) == "3\\.5"
    assert fmt.md_escape(None) == "None"


@pytest.mark.parametrize("text", ["a\nb", "a\r\nb", "line one\nline two\n", "\n\n# heading\n"])
def test_md_escape_removes_newlines(text):
    escaped = fmt.md_escape(text)
    assert "\n" not in escaped


HOSTILE = [
    string.punctuation,
    "<script>alert('x')</script>",
    "*bold* _em_ **strong** `code` ~~gone~~ ^sup^ ~sub~",
    "[link](http://example.org) ![img](x.png) <http://example.org>",
    "$x^2$ and $$y$$ and @smith2020 [@cite]",
    "# heading",
    "1. first",
    "2) second",
    "- item",
    "+ item",
    "* item",
    "> quote",
    "| a | b |",
    ": definition",
    "~ definition",
    "---",
    "***",
    "=== x",
    "::: {.callout-note}",
    "{#id .class}",
    "a -- b --- c ... 'q' \"qq\"",
    "x\\y\\\\z",
    "<!-- comment -->",
    "&amp; &lt;",
    "[span]{.smallcaps}",
    "line one\nline two\n\n# heading\n- item",
]


def test_md_escape_text_reads_back_literally_in_pandoc():
    # Each escaped text as a paragraph of its own, the worst place for block markup.
    markdown = "Start\n\n" + "".join(fmt.md_escape(text) + "\n\n" for text in HOSTILE)
    blocks = _pandoc_blocks(markdown)
    assert len(blocks) == 1 + len(HOSTILE)
    for text, block in zip(HOSTILE, blocks[1:], strict=True):
        assert block["t"] == "Para", (text, block["t"])
        expected = " ".join(text.split("\n")).strip()
        expected = re.sub(" +", " ", expected)
        assert _plain_text(block["c"]) == expected, text


# ---------------------------------------------------------------------------------------------
# long user text: break opportunities and shortening (issue 25)


@pytest.mark.parametrize("text", ["L" * 464, "a_" * 100, "x" * 41, "é" * 90 + " tail", "😀" * 60])
def test_long_unbroken_runs_get_a_break_opportunity_at_least_every_break_every(text):
    escaped = fmt.md_escape(text)
    for run in escaped.split():
        for piece in run.split(fmt.ZWSP):
            assert len(re.findall(r"\\.|.", piece)) <= fmt.BREAK_EVERY
    assert escaped.replace(fmt.ZWSP, "").replace("\\", "") == text.replace("\\", "")


def test_words_of_ordinary_length_are_left_alone():
    text = "Socio-economic status of the student's family (index, 2019)"
    assert fmt.ZWSP not in fmt.md_escape(text)
    assert fmt.ZWSP not in fmt.md_escape("x" * fmt.LONG_RUN)


@pytest.mark.parametrize("limit", [5, 20, 44])
@pytest.mark.parametrize("text", ["L" * 464, "a*b_c " * 30, "שלום עולם " * 10, "short"])
def test_shorten_counts_visible_characters_and_keeps_escapes_and_isolates_whole(text, limit):
    escaped = fmt.md_escape(text)
    short = fmt.shorten(escaped, limit)
    visible = [t for t in re.findall(r"\\.|.", short) if t not in (fmt.ZWSP, fmt.FSI, fmt.PDI)]
    assert len(visible) <= limit
    assert short.count(fmt.FSI) == short.count(fmt.PDI)
    assert not re.search(r"(?<!\\)\\$", short.removesuffix("…"))  # no escape cut in half
    if len(text) <= limit:
        assert short == escaped
    else:
        assert short.endswith("…")
