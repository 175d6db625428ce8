"""`reference: {column: level}` chooses the reference level of a text predictor (default: the
first level in sorted order, as R and patsy)."""

from __future__ import annotations

import pytest
from helpers import REFERENCE, fit, write_config

from hlm_analysis.cli import main

EXAM = {"outcome": "normexam", "predictors": ["standLRT", "sex"], "group": "school"}


def test_a_chosen_reference_flips_the_dummy(tmp_path):
    default = fit(write_config(tmp_path, "a", data=REFERENCE / "exam.csv", **EXAM), tmp_path / "a")
    chosen = fit(
        write_config(tmp_path, "b", data=REFERENCE / "exam.csv", reference={"sex": "M"}, **EXAM),
        tmp_path / "b",
    )
    assert default.design.variable("sex").levels == ("F", "M")
    assert chosen.design.variable("sex").levels == ("M", "F")
    male = default.model("random_intercept").effect("sex[T.M]")
    female = chosen.model("random_intercept").effect("sex[T.F]")
    assert female.estimate == pytest.approx(-male.estimate, rel=1e-6)
    assert female.std_error == pytest.approx(male.std_error, rel=1e-5)
    assert chosen.model("random_intercept").loglik == pytest.approx(
        default.model("random_intercept").loglik, abs=1e-6
    )


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ({"sex": "X"}, "reference: level 'X' of 'sex' does not occur"),
        ({"standLRT": "1"}, "reference: 'standLRT' is numeric"),
        ({"schgend": "mixed"}, "reference: 'schgend' is not a predictor"),
    ],
)
def test_bad_references_are_one_line(tmp_path, capsys, reference, message):
    config = write_config(tmp_path, data=REFERENCE / "exam.csv", reference=reference, **EXAM)
    assert main(["fit", str(config), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o" / "results.json").exists()
