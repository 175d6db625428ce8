"""Variables of the groups (constant within every group) at their own level: a random slope of
one is refused, exit 2 with one line naming it (issue 21, item 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import write_config

from hlm_analysis.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """20 groups of 15 rows: x varies within groups; z (numeric) and kind (text, 3 levels) are
    the group's own; part is text varying within groups."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(20), 15)
    z = rng.normal(size=20)[g]
    kind = np.array(["a", "b", "c"])[np.arange(20) % 3][g]
    x = rng.normal(size=len(g))
    part = rng.choice(["p", "q"], size=len(g))
    y = 1 + 0.5 * x + 0.3 * z + rng.normal(size=20)[g] + rng.normal(size=len(g))
    frame = pd.DataFrame({"g": g, "x": x, "z": z, "kind": kind, "part": part, "y": y})
    path = tmp_path_factory.mktemp("group_level") / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _fit(tmp_path, capsys, data, slope):
    config = write_config(
        tmp_path, data=data, outcome="y", predictors=["x", "z", "kind", "part"], group="g",
        random_slopes=[slope],
    )  # fmt: skip
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().err.strip().splitlines(), tmp_path / "out"


@pytest.mark.parametrize("slope", ["z", "kind"])
def test_a_random_slope_of_a_group_level_variable_is_refused(tmp_path, capsys, data, slope):
    code, err, out = _fit(tmp_path, capsys, data, slope)
    assert code == 2, err
    assert len(err) == 1, err
    assert err[0].startswith("hlm-report: error: random_slopes: ") and err[0].isprintable()
    assert f"'{slope}'" in err[0] and "constant within every group of 'g'" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("slope", ["x", "part"])
def test_a_random_slope_varying_within_groups_is_fitted(tmp_path, capsys, data, slope):
    code, err, out = _fit(tmp_path, capsys, data, slope)
    assert code == 0, err
    assert (out / "results.json").exists()
