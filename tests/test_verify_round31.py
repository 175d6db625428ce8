"""Verify round 31: inputs nobody had tried, each class found silently wrong, on every path.

Group ids and text levels that differ only in spaces at their ends ('S3' and 'S3 ', as a
spreadsheet export pads some cells) were two groups, or two levels, on every data path with
exit 0: 30 schools reported as 60 and every estimate moved. Such data are refused (exit 2, one
line naming the column and both spellings) on the memory and the DuckDB paths alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import write_config

from hlm_analysis.cli import main


def _frame(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(12):
        u = rng.normal(0, 1)
        for i in range(10):
            x = rng.normal()
            kind = ["Public", "Private"][i % 2]
            rows.append({"school": f"S{g}", "x": x, "kind": kind, "y": u + 2 * x + rng.normal()})
    return pd.DataFrame(rows)


def _write(tmp_path, frame: pd.DataFrame, path: str) -> str:
    if path == "lake":
        (tmp_path / "lake").mkdir()
        for i in range(3):
            frame.iloc[i::3].to_csv(tmp_path / "lake" / f"part-{i}.csv", index=False)
        return "lake"
    frame.to_csv(tmp_path / "data.csv", index=False)
    return "data.csv"


@pytest.mark.parametrize("path", ["memory", "lake"])
@pytest.mark.parametrize(
    ("column", "raw", "padded"),
    [("school", "S3", "S3 "), ("school", "S5", " S5"), ("kind", "Public", "Public\t")],
)
def test_ids_and_levels_that_differ_only_in_end_spaces_are_refused(
    tmp_path, capsys, path, column, raw, padded
):
    frame = _frame()
    rows = frame.index[frame[column] == raw][::2]
    frame.loc[rows, column] = padded
    data = _write(tmp_path, frame, path)
    config = write_config(
        tmp_path, data=data, outcome="y", predictors=["x", "kind"], group="school"
    )
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and column in err[0] and "spaces" in err[0], err
    assert repr(padded).strip("'") in err[0] or f"'{padded}'" in err[0], err
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize("path", ["memory", "lake"])
def test_ids_padded_alike_everywhere_are_still_read(tmp_path, capsys, path):
    """Only a collision is refused: ids that carry the same spaces in every row are one group
    each, as written."""
    frame = _frame()
    frame["school"] = " " + frame["school"]
    data = _write(tmp_path, frame, path)
    config = write_config(tmp_path, data=data, outcome="y", predictors=["x"], group="school")
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    import json

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["data"]["n_groups"] == 12


@pytest.mark.parametrize("path", ["memory", "lake"])
def test_a_padded_inner_id_is_refused_within_its_outer_group(tmp_path, capsys, path):
    """With several levels, class '1' and '1 ' of one school are compared within the school."""
    frame = _frame()
    frame["class"] = [str(i % 2 + 1) for i in range(len(frame))]
    rows = frame.index[(frame["school"] == "S2") & (frame["class"] == "1")][::2]
    frame.loc[rows, "class"] = "1 "
    data = _write(tmp_path, frame, path)
    config = write_config(
        tmp_path, data=data, outcome="y", predictors=["x"], group=["school", "class"]
    )
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "'class'" in err[0] and "'1 '" in err[0], err


@pytest.mark.parametrize("packed", ["part-2.csv.gz", "part-2.CSV.zst", "part-2.parquet.bz2"])
def test_a_compressed_part_in_a_data_folder_is_refused_not_dropped(tmp_path, capsys, packed):
    """A folder of parts where one was gzipped (Spark writes part-*.csv.gz) lost that part's
    rows with exit 0 ('read 2 files'): refused, naming the file."""
    import gzip

    frame = _frame()
    _write(tmp_path, frame, "lake")
    part = tmp_path / "lake" / "part-2.csv"
    (tmp_path / "lake" / packed).write_bytes(gzip.compress(part.read_bytes()))
    part.unlink()
    config = write_config(tmp_path, data="lake", outcome="y", predictors=["x"], group="school")
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and packed in err[0] and "compressed" in err[0], err


def test_other_files_in_a_data_folder_are_counted_as_passed_over(tmp_path, capsys):
    frame = _frame()
    _write(tmp_path, frame, "lake")
    (tmp_path / "lake" / "README.md").write_text("codebook")
    (tmp_path / "lake" / "scores.xlsx").write_bytes(b"PK")
    config = write_config(tmp_path, data="lake", outcome="y", predictors=["x"], group="school")
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "read 3 files, passed over 2" in err, err


def _moderated(tmp_path, path: str):
    """Girls score higher in both sectors (coded 1 and 2), more so in sector 2: Girl's own
    coefficient is its slope at Sector = 0, a sector no school is in."""
    rng = np.random.default_rng(11)
    rows = []
    for g in range(40):
        u, sector = rng.normal(0, 2), 1 + g % 2
        for _ in range(25):
            female = int(rng.random() < 0.5)
            y = u + 3 * female + 1.5 * female * (sector - 1) - 2 * sector + rng.normal(0, 3)
            rows.append({"school": f"S{g}", "female": female, "sector": sector, "y": y})
    data = _write(tmp_path, pd.DataFrame(rows), path)
    config = write_config(
        tmp_path,
        data=data,
        outcome="y",
        predictors=["female", "sector"],
        group="school",
        interactions=["female:sector"],
        question="female",
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    from hlm_analysis.results import read_json

    return read_json(tmp_path / "out" / "results.json")


@pytest.mark.parametrize("path", ["memory", "lake"])
def test_a_two_valued_moderator_gives_simple_slopes_at_its_two_values(tmp_path, path):
    """A moderator coded 1/2 had simple slopes at mean ± 1 SD (0.99, 2.01): values no school
    has. They are at 1 and 2, on every path."""
    results = _moderated(tmp_path, path)
    slopes = results.simple_slopes
    assert [s.moderator_number for s in slopes] == [1.0, 2.0]
    assert [s.moderator_value for s in slopes] == ["1", "2"]
    assert not results.johnson_neyman  # two values: there is no region to find


def test_a_main_effect_held_at_a_value_outside_the_data_says_so(tmp_path):
    """The summary answered the question with Girl's coefficient 'at Sector = 0' as if it were
    a finding ('cannot distinguish this from no difference'), though no school has sector 0."""
    from hlm_analysis.present import narrative
    from hlm_analysis.present.facts import facts

    results = _moderated(tmp_path, "memory")
    text = narrative.reflow(narrative.executive_summary(facts(results)))
    first = next(line for line in text.splitlines() if line.startswith("- **The question"))
    assert "at sector = 0, outside the observed range 1 to 2" in first, first
    assert "cannot distinguish this from no difference" not in first, first
    # the simple slopes that follow name the moderator's two values, not "at 1 (1)"
    assert "at sector = 1," in text and "at sector = 2 " in text and "(1)" not in text, text


def test_a_lever_tied_through_an_interaction_is_not_said_to_be_no_lever(tmp_path):
    """'None of the reliable associations involves something schools can change' was written
    while the lever (sector, p < .001) was in an interaction and a context variable was
    reliable too."""
    from hlm_analysis.present import narrative
    from hlm_analysis.present.facts import facts

    rng = np.random.default_rng(5)
    rows = []
    for g in range(40):
        u, sector = rng.normal(0, 1), g % 2
        for _ in range(25):
            female, ses = int(rng.random() < 0.5), rng.normal()
            y = u + 2 * ses + female - 3 * sector + 1.5 * female * sector + rng.normal(0, 2)
            rows.append({"school": f"S{g}", "female": female, "ses": ses, "sector": sector, "y": y})
    data = _write(tmp_path, pd.DataFrame(rows), "memory")
    config = write_config(
        tmp_path,
        data=data,
        outcome="y",
        predictors=["female", "ses", "sector"],
        group="school",
        interactions=["female:sector"],
        levers=["sector"],
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    from hlm_analysis.results import read_json

    f = facts(read_json(tmp_path / "out" / "results.json"))
    text = narrative.reflow(narrative.implications_section(f))
    practice = next(line for line in text.splitlines() if "For practice" in line)
    assert "None of the reliable associations" not in practice, practice
    assert "sector is a lever reliably tied to" in practice, practice


def test_the_interaction_figure_draws_a_two_valued_moderator_at_its_values(tmp_path):
    from hlm_analysis.present.predictions import interaction_lines

    results = _moderated(tmp_path, "memory")
    lines = interaction_lines(results, results.final, "female:sector")
    assert [line["name"] for line in lines["lines"]] == ["sector = 1", "sector = 2"]


def test_a_link_is_not_said_to_depend_on_a_moderator_the_data_do_not_show(tmp_path):
    """With ses × region at p > .3, the practice implication said 'each link depends on another
    predictor': the model lets it vary, the data do not say that it does."""
    from hlm_analysis.present import narrative
    from hlm_analysis.present.facts import facts
    from hlm_analysis.results import read_json

    rng = np.random.default_rng(3)
    rows = []
    for g in range(40):
        u, region = rng.normal(0, 1), ["North", "South", "East"][g % 3]
        for _ in range(20):
            ses = rng.normal()
            y = u + 1.5 * ses + rng.normal(0, 3)
            rows.append({"school": f"S{g}", "ses": ses, "region": region, "y": y})
    data = _write(tmp_path, pd.DataFrame(rows), "memory")
    config = write_config(
        tmp_path,
        data=data,
        outcome="y",
        predictors=["ses", "region"],
        group="school",
        interactions=["ses:region"],
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    f = facts(read_json(tmp_path / "out" / "results.json"))
    text = narrative.reflow(narrative.implications_section(f))
    practice = next(line for line in text.splitlines() if "For practice" in line)
    assert "depends on another predictor" not in practice, practice
    assert "the model lets each link vary with another predictor" in practice, practice


def test_a_binary_main_effect_in_an_interaction_keeps_its_average_and_its_odds_ratio_apart(
    tmp_path,
):
    """'14.4 percentage points higher (95% CI 8.3 to 20.5 points; odds ratio 1.29, p = .772).
    This holds at ptr = 0': the points are averaged over the data (the interaction included),
    the odds ratio and p are the coefficient's at ptr = 0; the sentence put both at ptr = 0."""
    from hlm_analysis.present import narrative
    from hlm_analysis.present.facts import facts
    from hlm_analysis.results import read_json

    rng = np.random.default_rng(8)
    rows = []
    for g in range(40):
        u, ptr = rng.normal(0, 0.5), rng.normal(20, 3)
        for _ in range(25):
            female = int(rng.random() < 0.5)
            eta = -0.5 + u + 0.8 * female + 0.01 * female * (ptr - 20)
            rows.append(
                {
                    "school": f"S{g}",
                    "female": female,
                    "ptr": ptr,
                    "passed": "yes" if rng.random() < 1 / (1 + np.exp(-eta)) else "no",
                }
            )
    data = _write(tmp_path, pd.DataFrame(rows), "memory")
    config = write_config(
        tmp_path,
        data=data,
        outcome="passed",
        family="binomial",
        predictors=["female", "ptr"],
        group="school",
        interactions=["female:ptr"],
        question="female",
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    text = narrative.reflow(
        narrative.executive_summary(facts(read_json(tmp_path / "out" / "results.json")))
    )
    first = next(line for line in text.splitlines() if line.startswith("- **The question"))
    assert "This holds at" not in first, first
    assert "averaged over the observations in the data" in first, first
    assert "its odds ratio at ptr = 0, outside the observed range" in first, first
    assert "cannot distinguish this from no difference" not in first, first


def test_an_office_owner_file_in_a_data_folder_is_passed_over(tmp_path, capsys):
    """Excel and Word leave '~$name' owner files beside a file they hold open (binary, a few
    bytes): one among the parts stopped the fit as a part without the columns."""
    frame = _frame()
    _write(tmp_path, frame, "lake")
    (tmp_path / "lake" / "~$part-0.csv").write_bytes(b"\x05user      \x00\x00")
    config = write_config(tmp_path, data="lake", outcome="y", predictors=["x"], group="school")
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    assert "read 3 files, passed over 1" in capsys.readouterr().err


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_group_level_predictors_are_not_said_to_explain_differences_that_did_not_shrink(
    tmp_path, family
):
    """'while much of what separated schools goes with their measured characteristics' was
    written for a yes/no outcome whose null-model latent ICC was 0.000 (nothing separated the
    schools), and for any ICC that did not shrink; for a yes/no outcome the report itself says
    latent ICCs of two models cannot be compared."""
    from hlm_analysis.present import narrative
    from hlm_analysis.present.facts import facts
    from hlm_analysis.results import read_json

    rng = np.random.default_rng(12)
    rows = []
    for g in range(40):
        ptr = rng.normal(20, 3)  # a school-level predictor unrelated to the outcome
        for _ in range(25):
            ses = rng.normal()
            y = 2 * ses + rng.normal(0, 3)
            outcome = ("yes" if y > 0 else "no") if family == "binomial" else y
            rows.append({"school": f"S{g}", "ses": ses, "ptr": ptr, "y": outcome})
    data = _write(tmp_path, pd.DataFrame(rows), "memory")
    keys = {"family": "binomial"} if family == "binomial" else {}
    config = write_config(
        tmp_path, data=data, outcome="y", predictors=["ses", "ptr"], group="school", **keys
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    f = facts(read_json(tmp_path / "out" / "results.json"))
    text = narrative.reflow(narrative.implications_section(f))
    assert "much of what separated" not in text, text


def test_a_yes_no_slope_test_without_power_is_not_read_as_a_common_effect(tmp_path):
    """Yes/no outcome, random slope with reliability 0.60 and p = .355: the summary said 'the
    average odds ratio of 2.38 per unit describes the districts adequately' while the
    recommendations said a common effect was 'untested rather than confirmed' (the linear
    summary already said 'The data cannot tell')."""
    from hlm_analysis.present import narrative
    from hlm_analysis.present.facts import facts
    from hlm_analysis.results import read_json

    rng = np.random.default_rng(5)
    rows = []
    for g in range(30):
        u, s = rng.normal(0, 0.7), rng.normal(0, 0.3)
        for _ in range(30):
            x = rng.normal()
            eta = u + (0.8 + s) * x
            y = "yes" if rng.random() < 1 / (1 + np.exp(-eta)) else "no"
            rows.append({"district": f"D{g}", "x": x, "y": y})
    data = _write(tmp_path, pd.DataFrame(rows), "memory")
    config = write_config(
        tmp_path,
        data=data,
        outcome="y",
        family="binomial",
        predictors=["x"],
        group="district",
        random_slopes=["x"],
        group_noun="district",
    )
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    results = read_json(tmp_path / "out" / "results.json")
    f = facts(results)
    slope = f["slope"]["entries"][0]
    assert not slope["reliable"] and slope["sd_high"], slope  # the case: an underpowered test
    text = narrative.reflow(narrative.executive_summary(f))
    line = next(x for x in text.splitlines() if "Does the effect differ" in x)
    assert "adequately" not in line, line
    assert "little power" in line and f"SD of {slope['sd_high']}" in line, line


@pytest.mark.parametrize("path", ["memory", "lake"])
def test_integer_ids_written_as_decimals_in_some_rows_are_refused(tmp_path, capsys, path):
    """A part written from a float column ('7.0') beside parts with '7': 30 schools were read
    as 60 with exit 0. Ids are text as written ('0100' is not '100'), but a trailing '.0' is a
    number format, not an id: refused naming both spellings."""
    frame = _frame()
    frame["school"] = [s.removeprefix("S") for s in frame["school"]]
    rows = frame.index[1::2]
    frame.loc[rows, "school"] = [f"{float(s):.1f}" for s in frame.loc[rows, "school"]]
    data = _write(tmp_path, frame, path)
    config = write_config(tmp_path, data=data, outcome="y", predictors=["x"], group="school")
    code = main(["fit", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "'school'" in err[0] and "'0'" in err[0] and "'0.0'" in err[0], err
