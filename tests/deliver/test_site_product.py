"""The site as a product (issue 24): `site:` settings in _quarto.yml (title, description, logo),
cards headlined by the report's main finding (not the ICC), report pages that link back to the
index and to their PDF and Word files, only the configs whose inputs changed rendered again,
and a public copy with small groups suppressed. Fits and documents are stand-ins here (a fixed
results.json per config); tests/test_end_to_end.py renders for real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import FIXTURES, REFERENCE

from hlm_analysis.cli import main
from hlm_analysis.deliver import site as site_module
from hlm_analysis.present import fmt, narrative
from hlm_analysis.results import read_json

LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'


@pytest.fixture
def renders(monkeypatch):
    """Stand-ins for the fit and the documents: each config's fit is its fixture's results
    (a config NAME.yml fits as tests/fixtures/NAME, or as `results[NAME]` when set); the
    documents are small files. Counts what ran, with the min_cell each render saw."""
    import hlm_analysis.model.analysis as analysis
    import hlm_analysis.render as render
    from hlm_analysis.render import cache

    calls = {"fit": [], "document": [], "results": {}}

    def fake_analysis(spec, out, progress, prepared):
        calls["fit"].append(spec.name)
        source = calls["results"].get(spec.name) or (FIXTURES / spec.name / "results.json")
        shutil.copyfile(source, out / "results.json")
        shutil.copyfile(FIXTURES / "hsb2" / "rows.parquet", out / "rows.parquet")

    def fake_document(config, spec, work, out, steps):
        calls["document"].append((spec.name, spec.min_cell))
        for name in steps.wanted:
            body = f"<html><head><title>t</title></head><body><h1>{spec.title}</h1></body></html>"
            (out / name).write_text(body if name.endswith(".html") else f"{name}")

    monkeypatch.setattr(analysis, "validated", lambda spec: None)
    monkeypatch.setattr(analysis, "run_analysis", fake_analysis)
    monkeypatch.setattr(render, "_builtin", fake_document)
    # other work on the package while the suite runs must not look like a change of the fit
    # or of the report code: this test is about the configs and their data
    monkeypatch.setattr(cache, "_package_fingerprint", lambda: ["fixed"])
    monkeypatch.setattr(site_module, "_report_code_time", lambda: 0)
    return calls


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A Quarto project with the three shipped examples' configs and data."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "_quarto.yml").write_text("project:\n  type: default\n")
    (tmp_path / "data").mkdir()
    configs = tmp_path / "report" / "configs"
    configs.mkdir(parents=True)
    root = Path(__file__).resolve().parents[2]
    for name in ("hsb2", "schools", "graduation"):
        shutil.copyfile(root / "report" / "configs" / f"{name}.yml", configs / f"{name}.yml")
        data = "hsb2.csv" if name == "hsb2" else f"{name}.csv"
        source = REFERENCE / data if (REFERENCE / data).is_file() else root / "data" / data
        shutil.copyfile(source, tmp_path / "data" / data)
    return tmp_path


def run_site(capsys, *flags) -> tuple[int, list[str]]:
    code = main(["site", *flags])
    return code, capsys.readouterr().err.strip().splitlines()


def test_site_settings_title_description_and_logo(renders, project, capsys):
    (project / "_quarto.yml").write_text(
        "project:\n  type: default\nsite:\n  title: Springfield District\n"
        "  description: Reports on student outcomes.\n  logo: brand/logo.svg\n"
    )
    (project / "brand").mkdir()
    (project / "brand" / "logo.svg").write_text(LOGO)
    code, err = run_site(capsys)
    assert code == 0, err
    index = (project / "_site" / "index.html").read_text()
    assert "<title>Springfield District</title>" in index
    assert "<h1>Springfield District</h1>" in index
    assert '<p class="description">Reports on student outcomes.</p>' in index
    assert '<meta name="description" content="Reports on student outcomes.">' in index
    assert '<img class="logo" src="logo.svg" alt="">' in index
    assert (project / "_site" / "logo.svg").read_text() == LOGO
    assert "Multilevel-model reports" not in index
    page = (project / "_site" / "reports" / "hsb2" / "report.html").read_text()
    assert "&larr; Springfield District</a>" in page


@pytest.mark.parametrize(
    ("site", "piece"),
    [
        ("  titel: X\n", "unknown key 'titel' (did you mean 'title'?)"),
        ("  logo: missing.png\n", "site.logo: no file "),
        ("  logo: _quarto.yml\n", "site.logo: _quarto.yml is not an image"),
        ("  title: ''\n", "key 'title': String should have at least 1 character"),
    ],
)
def test_bad_site_settings_exit_2_with_one_line(renders, project, capsys, site, piece):
    (project / "_quarto.yml").write_text(f"project:\n  type: default\nsite:\n{site}")
    code, err = run_site(capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("hlm-report: error: ") and piece in err[0], err
    assert "_quarto.yml: site" in err[0]
    assert renders["fit"] == [] and not (project / "_site").exists()


def test_two_site_problems_are_both_listed(renders, project, capsys):
    (project / "_quarto.yml").write_text("site:\n  titel: X\n  descripton: Y\n")
    code, err = run_site(capsys)
    assert code == 2
    assert err[0].endswith("2 problems in _quarto.yml: site:") or "2 problems in" in err[0], err
    assert any("did you mean 'title'" in line for line in err[1:])
    assert any("did you mean 'description'" in line for line in err[1:])


@pytest.mark.parametrize("name", ["hsb2", "schools", "graduation"])
def test_cards_lead_with_the_main_finding_not_the_icc(name):
    results = read_json(FIXTURES / name / "results.json")
    headline = site_module.main_finding(results)
    facts = narrative.plain_facts(results)
    icc_sentence = narrative.key_findings(facts)[0]
    assert headline != icc_sentence and "intraclass" not in headline
    # the summary's own words: one sentence of the report's executive summary
    summary = narrative.executive_summary(facts).replace("**", "")
    assert headline in summary
    assert headline.endswith(".") and headline[0].isupper()
    final = results.models[results.final_model]
    # hsb2: the question the config asks (read:math); schools: the gender difference, with its
    # estimate; graduation: its question (Mentoring), in percentage points
    if name == "hsb2":
        lead = ("Reading score", "Mathematics score")
    elif name == "schools":
        lead = (fmt.sig(_estimate(final, "StudentGender[T.Male]")),)
    else:
        ame = next(
            fe.marginal_effect for fe in final.fixed_effects if fe.term == "Mentoring[T.yes]"
        )
        lead = (f"{fmt.num(100 * ame, 1)} percentage points higher", "with the programme")
    for piece in lead:
        assert piece in headline, (piece, headline)


def _estimate(model, term):
    return next(fe.estimate for fe in model.fixed_effects if fe.term == term)


def test_report_pages_link_back_to_the_index_and_to_word_and_pdf(renders, project, capsys):
    code, err = run_site(capsys)
    assert code == 0, err
    site = project / "_site"
    index = (site / "index.html").read_text()
    for name in ("hsb2", "schools", "graduation"):
        folder = site / "reports" / name
        assert {p.name for p in folder.iterdir()} >= {"report.html", "report.pdf", "report.docx"}
        assert f'href="reports/{name}/report.docx">Word</a>' in index
        page = (folder / "report.html").read_text()
        nav = page.split('<nav class="hlm-site-nav"', 1)[1].split("</nav>", 1)[0]
        assert '<a class="home" href="../../index.html">' in nav
        assert '<a href="report.pdf">PDF</a>' in nav and '<a href="report.docx">Word</a>' in nav
        # the report as rendered stays as it was: the bar is the site's
        assert "hlm-site-nav" not in (project / "_output" / name / "report.html").read_text()


def test_site_renders_only_the_configs_whose_inputs_changed(renders, project, capsys):
    assert run_site(capsys)[0] == 0
    assert sorted(renders["fit"]) == ["graduation", "hsb2", "schools"]
    assert len(renders["document"]) == 3
    code, err = run_site(capsys)
    assert code == 0 and len(renders["document"]) == 3 and len(renders["fit"]) == 3, err
    assert sum("unchanged since its report was rendered; kept" in line for line in err) == 3
    # a config edited: that report alone, fitted again
    config = project / "report" / "configs" / "schools.yml"
    config.write_text(config.read_text().replace("title:", "title: New", 1))
    code, err = run_site(capsys)
    assert code == 0 and renders["fit"][3:] == ["schools"]
    assert [name for name, _ in renders["document"][3:]] == ["schools"]
    # a data file touched: that report alone
    data = project / "data" / "hsb2.csv"
    data.write_text(data.read_text() + "")
    import os

    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 10**9))
    code, err = run_site(capsys)
    assert code == 0 and renders["fit"][4:] == ["hsb2"]
    assert [name for name, _ in renders["document"][4:]] == ["hsb2"]
    # a report file lost: rendered again, from the reused fit
    (project / "_output" / "graduation" / "report.docx").unlink()
    code, err = run_site(capsys)
    assert code == 0 and renders["fit"][5:] == [] and renders["document"][5][0] == "graduation"


def _with_small_group(tmp_path: Path, rows: int) -> Path:
    data = json.loads((FIXTURES / "schools" / "results.json").read_text())
    data["data"]["groups"]["n"][3] = rows
    path = tmp_path / f"schools-{rows}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("rows", "public"), [(7, True), (4, False), (10, False)])
def test_groups_below_min_size_leave_the_public_site(renders, project, capsys, rows, public):
    # schools: min_cell 5 (the report hides smaller groups), profiles min_size 10: a group of
    # 7 is in the report, not on the public site; one of 4 is in neither; one of 10 in both
    renders["results"]["schools"] = _with_small_group(project, rows)
    code, err = run_site(capsys, "report/configs/schools.yml")
    assert code == 0, err
    expected = [("schools", 5), ("schools", 10)] if public else [("schools", 5)]
    assert renders["document"] == expected
    copy = project / "_output" / ".public" / "schools"
    assert copy.is_dir() == public
    published = (project / "_site" / "reports" / "schools" / "report.pdf").read_bytes()
    assert (
        published
        == ((copy if public else project / "_output" / "schools") / "report.pdf").read_bytes()
    )
    if public:  # the public copy is kept like any report: unchanged, not rendered again
        assert run_site(capsys, "report/configs/schools.yml")[0] == 0
        assert len(renders["document"]) == 2


def test_no_render_without_the_public_copy_says_how_to_make_it(renders, project, capsys):
    renders["results"]["schools"] = _with_small_group(project, 7)
    assert main(["render", "report/configs/schools.yml"]) == 0
    capsys.readouterr()
    code, err = run_site(capsys, "report/configs/schools.yml", "--no-render")
    assert code == 2 and len(err) == 1, err
    assert "shows groups of fewer than 10 rows (profiles: min_size)" in err[0]
    assert "without --no-render" in err[0]


@pytest.mark.parametrize(("paper", "typst"), [("letter", "us-letter"), ("a4", "a4"), (None, "a4")])
def test_paper_sets_the_pdf_page(tmp_path, paper, typst):
    from hlm_analysis.render import _front_matter
    from hlm_analysis.spec import load_spec

    config = tmp_path / "c.yml"
    extra = f"paper: {paper}\n" if paper else ""
    config.write_text(f"title: t\ndata: d.csv\noutcome: y\ngroup: g\n{extra}")
    assert _front_matter({"toc": True}, load_spec(config))["papersize"] == typst


def test_an_unknown_paper_is_refused_with_one_line(tmp_path, capsys):
    config = tmp_path / "c.yml"
    config.write_text("title: t\ndata: d.csv\noutcome: y\ngroup: g\npaper: legal\n")
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"hlm-report: error: {config}: key 'paper': Input should be 'a4' or 'letter'"]
