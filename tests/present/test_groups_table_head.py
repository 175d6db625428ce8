"""The groups table's first column is headed by the configured noun (it said 'Group' beside a
caption of 'Schools: size and mean ...'), by each level's own noun with several levels, and by the
id column's label where no noun is configured."""

from __future__ import annotations

import pytest
from helpers import fixture_results

from hlm_analysis.present import tables


@pytest.mark.parametrize(
    ("fixture", "head"),
    [
        ("schools", "School"),
        ("graduation", "School"),
        ("levels_pupils", "School"),
        ("levels_scotssec", "Primary school"),
        ("hsb2", "Socioeconomic status"),  # no group_noun: the grouping column's label
    ],
)
def test_the_groups_table_is_headed_by_the_groups_noun(fixture, head):
    table = tables.groups(fixture_results(fixture), "tbl-groups")
    assert table.splitlines()[0].startswith(f"| {head} | N |")
