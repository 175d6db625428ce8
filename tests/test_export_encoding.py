"""Exported CSV tables carry a UTF-8 byte-order mark, so Excel on Windows reads Korean and Arabic
group ids (without one it decodes the file in the local code page); readers that know the mark
still see the plain header names and every id as written."""

from __future__ import annotations

import dataclasses

import pandas as pd
from helpers import fixture_results

from hlm_analysis import export

IDS = ("서울 중학교", "مدرسة النور", "=SUM(A1)")


def test_csv_starts_with_a_bom_and_round_trips_non_latin_ids(tmp_path):
    results = fixture_results("hsb2")
    effects = results.final.group_effects
    renamed = IDS + effects.groups[len(IDS) :]
    data = results.data
    groups = dataclasses.replace(data.groups, labels=renamed + data.groups.labels[len(IDS) :])
    results = dataclasses.replace(
        results,
        data=dataclasses.replace(data, groups=groups),
        models={
            name: dataclasses.replace(m, group_effects=dataclasses.replace(effects, groups=renamed))
            if name == results.final_model
            else m
            for name, m in results.models.items()
        },
    )
    written = export.write(results, tmp_path, "csv")
    for path in written:
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), path.name
        assert not raw[3:].startswith(b"\xef\xbb\xbf")  # one mark, not two
    table = pd.read_csv(tmp_path / "group_effects.csv", encoding="utf-8-sig", dtype={"group": str})
    assert list(table.columns) == ["group", "n", "term", "estimate", "std_error"]
    shown = list(dict.fromkeys(table["group"]))
    assert shown[:3] == ["서울 중학교", "مدرسة النور", "'=SUM(A1)"]  # the formula kept inert
    assert table["estimate"].iloc[0] == effects.estimate[0][0]
    ladder = pd.read_csv(tmp_path / "ladder.csv", encoding="utf-8-sig")
    assert ladder.columns[0] == "model"
