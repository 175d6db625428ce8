"""Large float arrays in results.json are formatted by Arrow (json_arrays.py): the text must read
back as json.dumps' would, every number equal to the float written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hlm_analysis import json_arrays


def _as_json(values: np.ndarray):
    return json.loads(json.dumps(np.where(np.isfinite(values), values, None).tolist()))


EXTREMES = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300, 0.1, 1 / 3, 1e16]
EXTREMES += [1e15, 123456789.0, 2.0**60, 2.0**53 + 2, -2.5, 100.0, 1e-7, 0.0, -0.0]

CASES = {
    "one number": np.array([3.25]),
    "one row": np.array([[1.0, 2.0, 3.0]]),
    "one column": np.arange(5.0)[:, None],
    "extremes": np.array(EXTREMES),
    "extremes as rows": np.array(EXTREMES).reshape(4, 4),
    "non-finite": np.array([[np.nan, 1.0], [np.inf, -np.inf], [2.0, np.nan]]),
    "all missing": np.array([np.nan, np.nan]),
    "random, every scale": np.random.default_rng(5).normal(size=(20_000, 2))
    * 10.0 ** np.random.default_rng(6).integers(-300, 300, (20_000, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_text_reads_back_as_json_dumps_would(case):
    values = CASES[case]
    text = json_arrays.dumps(values)
    assert json.loads(text) == _as_json(values)
    # every finite number is the very float written (shortest round-trip digits; -0.0 too)
    back = np.array(json.loads(text.replace("null", "NaN")), dtype=float)
    finite = np.isfinite(values)
    assert np.array_equal(back[finite].view(np.int64), values[finite].view(np.int64))
    assert np.isnan(back[~finite]).all()


def test_only_flat_and_row_arrays_with_numbers_are_taken():
    for values in (np.empty(0), np.zeros((2, 2, 2)), np.float64(1.0)):
        with pytest.raises(ValueError, match="non-empty 1-d or 2-d"):
            json_arrays.dumps(values)
