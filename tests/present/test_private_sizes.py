"""Group sizes under min_cell: the data paragraph and the levels table give no size of a group
the report hides (the public site's copy raises min_cell to profiles: min_size, and said
"group sizes from 32 to 107" with the 32-student school left out everywhere else)."""

from __future__ import annotations

import re
from dataclasses import replace

from helpers import fixture_results

from hlm_analysis.present import levels, narrative, tables
from hlm_analysis.present.facts import facts


def _with_min_cell(results, cut: int):
    return replace(results, spec=results.spec.model_copy(update={"min_cell": cut}))


def _paragraph(results) -> str:
    return narrative.reflow(narrative.render("data.md.j2", f=facts(results)))


def _numbers(text: str) -> set[int]:
    """The whole numbers in `text` (23.2 is none of them)."""
    found = re.findall(r"(?<![\d.])\d[\d,]*(?:\.\d+)?", text)
    return {int(n.replace(",", "")) for n in found if "." not in n}


def test_one_level_the_sizes_of_hidden_groups_are_not_given():
    graduation = fixture_results("graduation")
    sizes = list(graduation.data.groups.n)
    assert min(sizes) == 32  # the fixture this test reads
    # nothing hidden: the full range, as before
    assert "group sizes from 32 to 107, 69.3 on average" in _paragraph(graduation)
    hidden = [n for n in sizes if n < 40]
    text = _paragraph(_with_min_cell(graduation, 40))
    first = text.split(". ")[0]
    assert "up to 107" in first and "69.3 on average" in first
    assert f"{len(hidden)} schools have fewer than 40 students" in first
    assert not _numbers(first) & set(hidden), first


def test_one_hidden_group_is_counted_in_the_singular():
    graduation = fixture_results("graduation")
    text = _paragraph(_with_min_cell(graduation, 33))
    assert "1 school has fewer than 33 students" in text


def test_several_levels_no_hidden_size_in_the_paragraph_or_the_levels_table():
    scotssec = fixture_results("levels_scotssec")
    primary = levels.group_summary(scotssec, "primary").n
    hidden = sorted({n for n in primary if n < tables.min_cell(scotssec)})
    assert hidden and hidden[0] == 1  # a one-pupil primary school
    text = _paragraph(scotssec)
    assert "Primary schools hold up to 72 pupils (23.2 on average;" in text
    assert f"{sum(n < 5 for n in primary)} hold fewer than 5)" in text
    # the secondary schools (92 to 290) hide nothing: their range stays
    assert "secondary schools hold 92 to 290 pupils" in text
    sentence = text.split("Primary schools")[1].split(";")[0]
    assert not _numbers(sentence) & set(hidden), sentence
    table = tables.levels_table(scotssec, "tbl-levels")
    row = next(line for line in table.splitlines() if "Primary" in line)
    assert "1–72" not in row and "up to 72 (23.2)" in row
    assert "92–290 (180.8)" in table
