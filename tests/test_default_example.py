"""`make report` renders a real nested example (issue 24): 7,185 students in 160 schools (High
School and Beyond, Raudenbush and Bryk's model), fitted as lme4 fits it; hsb2, the seed's
example of 3 SES groups, stays with its warning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import FIXTURES, REFERENCE, fit

from hlm_analysis.present import narrative
from hlm_analysis.results import read_json

ROOT = Path(__file__).resolve().parent.parent


def _default_config() -> Path:
    found = re.search(r"^CONFIG \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert found, "the Makefile names no default CONFIG"
    return ROOT / found[1]


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    return fit(_default_config(), tmp_path_factory.mktemp("default") / "out")


def test_the_default_is_students_in_many_schools(default):
    assert _default_config().name == "hsb82.yml"
    assert default.data.n_obs == 7185 and default.data.n_groups == 160
    assert default.data.group_size.min >= 14  # every school a real group
    facts = narrative.plain_facts(default)
    assert not facts["too_few_groups"]
    assert facts["units"] == "students" and facts["groups"] == "schools"


def test_the_default_model_is_fitted_as_lme4_fits_it(default):
    # R: lmer(mAch ~ cses + sector + meanses + cses:sector + cses:meanses + (1 + cses | school),
    #         data = mlmRev::Hsb82, REML = TRUE)   (tests/reference/make_issue21_reference.R)
    reference = json.loads((REFERENCE / "issue21_reference.json").read_text())["hsb82"]
    final = default.models[default.final_model]
    assert final.loglik == pytest.approx(reference["loglik_reml"], abs=1e-6)
    ours = {(vc.term1, vc.term2): vc.estimate for vc in final.variance_components}
    for row in reference["varcorr"]:
        # within 0.2%: the slope variance lies in a flat direction of the likelihood (its
        # profile interval runs from 0 to 0.74 SD), where both optima are as good (loglik above)
        assert ours[(row["var1"], row["var2"])] == pytest.approx(row["vcov"], rel=2e-3), row
    assert (REFERENCE / "hsb82.csv").read_bytes() == (ROOT / "data" / "hsb82.csv").read_bytes()


def test_hsb2_stays_the_seeds_example_with_its_warning():
    results = read_json(FIXTURES / "hsb2" / "results.json")
    assert results.data.n_groups == 3
    assert narrative.plain_facts(results)["too_few_groups"]
