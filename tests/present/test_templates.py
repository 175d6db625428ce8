"""The templates as a writer edits them: one sentence or clause per line, no line over 120
characters, no domain noun (every noun phrase comes from the lexicon), and no line whose end is
glued to the next line's start by Jinja's trim_blocks (a missing space in the text)."""

from __future__ import annotations

import re

import pytest

from hlm_analysis import resources
from hlm_analysis.present.narrative import reflow

TEMPLATES = sorted(resources.templates_dir().glob("*.j2"))
# The nouns of one domain: they reach the text only through the lexicon (config `unit:`,
# `group_noun:`, `level_labels:`, labels), never typed into a template.
DOMAIN = re.compile(
    r"\b(schools?|students?|districts?|pupils?|class(es)?|tracks?|teachers?|women|woman)\b", re.I
)
TAG_ONLY = re.compile(r"^\s*(\{%[^}]*%\}\s*)+$")


def test_there_are_templates():
    assert len(TEMPLATES) >= 10


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_template_line_is_longer_than_120_characters(path):
    long = [n for n, line in enumerate(path.read_text().splitlines(), 1) if len(line) > 120]
    assert not long, f"{path.name}: lines {long} are over 120 characters"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_domain_noun_in_a_template(path):
    # comments may explain the domain; the text a reader sees may not name it
    text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)
    text = re.sub(r'\bclass="', "", text)  # the HTML attribute
    found = sorted({m.group(0) for m in DOMAIN.finditer(text)})
    assert not found, f"{path.name} names {found}: take the phrase from the lexicon"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_line_is_glued_to_the_next_by_a_block_tag(path):
    """trim_blocks eats the newline after a block tag that ends a line: text on the next line
    would follow without a space ("49%and"). Such a line ends with `+%}` (keep the newline) or
    the next line starts with a tag or `{{-` (joined on purpose)."""
    lines = path.read_text().splitlines()
    glued = []
    for n, (line, following) in enumerate(zip(lines, lines[1:], strict=False), 1):
        line = line.rstrip()
        continues = following.strip() and not following.lstrip().startswith(("{%", "{{-", "{#"))
        ends_in_tag = line.endswith("%}") and not line.endswith(("+%}", "-%}"))
        if ends_in_tag and continues and not TAG_ONLY.match(line):
            glued.append(n)
        stripping = re.match(r"^\s*\{%-\s*(end(if|for)|if |for )", line)
        if stripping and TAG_ONLY.match(line) and not line.endswith("+%}") and continues:
            glued.append(n)
    assert not glued, f"{path.name}: lines {glued} glue onto the next line without a space"


def test_reflow_joins_clauses_and_keeps_blocks():
    text = "- **A.** One\nclause.\n- **B.** Two.\n\n| a |\n| b |\n: caption\n## Head\nPara\nline."
    assert reflow(text).split("\n") == [
        "- **A.** One clause.",
        "- **B.** Two.",
        "",
        "| a |",
        "| b |",
        ": caption",
        "## Head",
        "Para line.",
    ]
    assert reflow("1. **X.** a\nb\n1. **Y.** c") == "1. **X.** a b\n1. **Y.** c"


def test_no_domain_noun_in_the_report_captions():
    """The .qmd's captions are static text (a Jupyter cell option takes no expression), so they
    must hold no domain noun either."""
    qmd = resources.report_document()
    captions = [line for line in qmd.read_text().splitlines() if line.startswith("#| fig-")]
    captions += [line for line in qmd.read_text().splitlines() if line.startswith("#| tbl-")]
    assert captions
    found = [line for line in captions if DOMAIN.search(line)]
    assert not found, found
