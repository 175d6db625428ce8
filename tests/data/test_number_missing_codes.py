"""missing_values: ["-99"] empties -99 in columns stored as numbers, on every path.

The in-memory path always did; DuckDB and Spark compared only text cells with the tokens, so a
Parquet number column kept -99 as a value (a mean pulled down, a 0/1 column read as a number,
exit 0). The parquet footers' ranges include the codes, so the lake beyond memory is checked too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_config

from hlm_analysis.data import aggregate
from hlm_analysis.data.aggregate import prepare_in_engine
from hlm_analysis.data.engines import open_engine
from hlm_analysis.data.prepare import columns_used, prepare_in_memory
from hlm_analysis.data.source import open_source
from hlm_analysis.model.ladder import fit_ladder
from hlm_analysis.spec import load_spec


def _coded_frame() -> pd.DataFrame:
    rng = np.random.default_rng(31)
    n, groups = 3000, 60
    group = rng.integers(0, groups, n)
    x = rng.normal(50, 10, n)
    girl = rng.integers(0, 2, n).astype(float)
    score = 5 + 0.3 * x + 2 * girl + 3 * rng.normal(size=groups)[group] + rng.normal(0, 4, n)
    frame = pd.DataFrame(
        {"school": [f"S{g:03d}" for g in group], "x": x, "girl": girl, "score": score}
    )
    for column, rows in (("x", 40), ("girl", 30), ("score", 20)):
        frame.loc[rng.choice(n, rows, replace=False), column] = -99.0
    return frame


def _lake(frame: pd.DataFrame, directory) -> str:
    directory.mkdir(parents=True)
    for part in range(3):
        pq.write_table(
            pa.Table.from_pandas(frame.iloc[part::3], preserve_index=False),
            directory / f"part-{part}.parquet",
        )
    return f"{directory}/part-*.parquet"


@pytest.mark.parametrize("beyond_memory", [False, True, "number ids"])
def test_a_numeric_code_listed_in_missing_values_is_missing_in_a_parquet_lake(
    tmp_path, monkeypatch, beyond_memory
):
    if beyond_memory:
        monkeypatch.setattr(aggregate, "IN_MEMORY_ROWS", 500)
        monkeypatch.setattr(aggregate, "SAMPLE_ROWS", 200)
    frame = _coded_frame()
    if beyond_memory == "number ids":  # every column a number: none is read as stored (the code)
        frame["school"] = frame["school"].str[1:].astype("int64")
    single = tmp_path / "single.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), single)
    keys = {
        "outcome": "score",
        "predictors": ["x", "girl"],
        "group": "school",
        "missing_values": ["-99"],
    }
    spec = load_spec(write_config(tmp_path, "coded", data=_lake(frame, tmp_path / "lake"), **keys))
    memory = prepare_in_memory(spec.model_copy(update={"data": single}), single)
    engine = open_engine("duckdb")
    try:
        lake = prepare_in_engine(spec, open_source(spec.data, columns_used(spec)), engine)
    finally:
        engine.close()
    complete = (frame[["x", "girl", "score"]] != -99).all(axis=1)
    assert memory.sums.counts.sum() == complete.sum() == lake.sums.counts.sum()
    # girl is 0/1 once -99 is missing: a yes/no predictor on both paths
    assert memory.design == lake.design
    fitted = fit_ladder(memory), fit_ladder(lake)
    for name, model in fitted[0].models.items():
        assert fitted[1].models[name].loglik == pytest.approx(model.loglik, rel=1e-12, abs=0)
