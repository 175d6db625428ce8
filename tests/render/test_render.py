"""The built-in engine: cross references, escaping, atomic outputs, and a full render of hsb2."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from helpers import HSB2_CONFIG as HSB2

from hlm_analysis.cli import main
from hlm_analysis.present.fmt import sig
from hlm_analysis.render import markdown, pandoc, render_report


def test_crossrefs_are_numbered_and_linked():
    md = (
        "# Intro {#sec-intro}\n\nSee @fig-a, @tbl-b and @sec-more.\n\n"
        "![A plot](f/a.png){#fig-a}\n\n| x |\n|--:|\n| 1 |\n\n: Numbers {#tbl-b}\n\n## More {#sec-more}\n"
    )
    out, unknown = markdown.resolve_crossrefs(md, numbered_sections=True)
    assert not unknown
    assert (
        "[Figure 1](#fig-a)" in out
        and "[Table 1](#tbl-b)" in out
        and "[Section 1.1](#sec-more)" in out
    )
    assert "![Figure 1: A plot](f/a.png){#fig-a}" in out
    assert ": Table 1: Numbers {#tbl-b}" in out


def test_unknown_reference_is_reported():
    _, unknown = markdown.resolve_crossrefs("See @fig-missing.\n", numbered_sections=False)
    assert unknown == ["fig-missing"]


def test_email_addresses_are_not_references():
    out, unknown = markdown.resolve_crossrefs("Write to a@fig-x.org\n", numbered_sections=False)
    assert not unknown and out == "Write to a@fig-x.org\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("out")
    final = render_report(HSB2, output_root=root, engine="builtin", progress=lambda m: None)
    return final


def _html_text(html: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_all_outputs_present_and_valid(rendered):
    assert sorted(p.name for p in rendered.iterdir()) == [
        ".hlm-report",  # the marker: this folder is the tool's to replace
        ".hlm-report-fit",  # the key of the fit, so that an unchanged render reuses it
        "report.docx",
        "report.html",
        "report.pdf",
        "results.json",
        "rows.parquet",
    ]
    assert (rendered / "report.pdf").read_bytes()[:5] == b"%PDF-"
    with zipfile.ZipFile(rendered / "report.docx") as docx:
        document = docx.read("word/document.xml").decode()
        settings = docx.read("word/settings.xml").decode()
    assert "Writing scores across socioeconomic groups" in document
    assert 'w:instr="TOC' in document or "TOC \\o" in document  # the contents field
    assert '<w:updateFields w:val="true"/>' in settings  # Word fills it on open
    assert not list(rendered.parent.glob(".hsb2.building-*"))


def test_html_is_self_contained_and_clean(rendered):
    html = (rendered / "report.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)  # works offline
    assert html.count('src="data:image/png;base64,') >= 7
    text = _html_text(html)
    for bad in ("nan", "None", "?@", "{#", ":::"):
        # "None of the ..." is English; a None leaked from Python is not followed by "of".
        assert not re.search(rf"(?<![\w]){re.escape(bad)}(?![\w])(?! of\b)", text), bad
    for n in range(1, 8):
        assert f"Figure {n}:" in text
    assert "Table 3: The model ladder" in text
    assert 'href="#tbl-ladder"' in html and 'id="tbl-ladder"' in html


def test_narrative_numbers_equal_results_json(rendered):
    results = json.loads((rendered / "results.json").read_text())
    html = _html_text((rendered / "report.html").read_text())
    icc = results["models"]["null"]["icc"]
    assert f"intraclass correlation {icc['estimate']:.3f}" in html
    # The summary's largest association is a fixed effect of the final model, as results.json has
    # it (to the three significant figures the report prints).
    final = results["models"][results["final_model"]]
    estimates = {sig(abs(fe["estimate"])) for fe in final["fixed_effects"]}
    said = re.findall(r"goes with [^.]*? (\S+) points (?:higher|lower)", html)
    assert said and set(said) <= estimates, (said, estimates)


def test_failed_render_keeps_previous_outputs(tmp_path, monkeypatch, capsys):
    final = tmp_path / "hsb2"
    final.mkdir()
    (final / "report.pdf").write_text("previous")

    def broken(*args, **kwargs):
        raise pandoc.ToolError("Typst: typesetting exploded")

    monkeypatch.setattr(pandoc, "to_pdf", broken)
    code = main(["render", str(HSB2), "--output-root", str(tmp_path), "--engine", "builtin"])
    assert code == 3  # a broken tool, not the user's input
    assert "typesetting exploded" in capsys.readouterr().err.strip().splitlines()[-1]
    assert (final / "report.pdf").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hsb2"]


def test_render_bad_config_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text("title: x\ndata: nope.csv\noutcome: y\ngroup: g\n")
    assert main(["render", str(bad), "--output-root", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data file not found" in err[0]
    assert not (tmp_path / "o" / "bad").exists()


def test_quarto_engine_requires_quarto(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["render", str(HSB2), "--engine", "quarto", "--output-root", str(tmp_path)]) == 3
    assert "'quarto' is not on PATH" in capsys.readouterr().err


def test_pandoc_assets_exist():
    for asset in ("callouts.lua", "report.css", "typst-header.typ"):
        assert (Path(pandoc.ASSETS) / asset).is_file()


def test_quarto_engine_renders_the_executed_notebook_once_per_format(tmp_path, monkeypatch):
    # A stand-in `quarto` on PATH records its arguments and writes the file Quarto would.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.txt"
    fake = bin_dir / "quarto"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import sys, pathlib, json\n"
        f"pathlib.Path({str(log)!r}).open('a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "args = sys.argv[1:]\n"
        "src = pathlib.Path(args[1]); fmt = args[args.index('--to') + 1]\n"
        "out = pathlib.Path(args[args.index('--output-dir') + 1]); out.mkdir(exist_ok=True)\n"
        "nb = json.loads(src.read_text())\n"
        "head = ''.join(nb['cells'][0]['source'])\n"
        "assert nb['cells'][0]['cell_type'] == 'raw' and head.startswith('---') and 'title:' in head\n"
        "assert 'typst-text.lua' in head  # user text stays text in Quarto's Typst too\n"
        "assert any(c.get('outputs') for c in nb['cells'] if c['cell_type'] == 'code')\n"
        # the figure's computed caption replaces the .qmd's fallback: Quarto reads it from there
        "code = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']\n"
        "cap = next(s for s in code if 'label: fig-distributions' in s)\n"
        "assert '#| fig-cap: Distributions of Writing score (first panel)' in cap, cap\n"
        "ext = {'html': '.html', 'typst': '.pdf', 'docx': '.docx'}[fmt]\n"
        "(out / ('report' + ext)).write_text('rendered by fake quarto')\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    final = render_report(
        HSB2, output_root=tmp_path / "out", engine="auto", progress=lambda m: None
    )
    calls = log.read_text().splitlines()
    assert [c.split("--to ")[1].split()[0] for c in calls] == ["html", "typst", "docx"]
    assert all("--no-execute" in c for c in calls)
    assert (final / "report.pdf").read_text() == "rendered by fake quarto"
    assert (final / "results.json").is_file()


def test_render_works_from_any_directory(tmp_path, monkeypatch):
    # The kernel runs in the repository root while the user may be anywhere (a relative IPC
    # socket path once made the kernel unreachable from another directory).
    import numpy as np
    import pandas as pd
    import yaml

    rng = np.random.default_rng(1)
    pd.DataFrame({"g": ["a"] * 6 + ["b"] * 6, "y": rng.normal(size=12)}).to_csv(
        tmp_path / "d.csv", index=False
    )
    config = tmp_path / "tiny.yml"
    config.write_text(
        yaml.safe_dump(
            {"title": "Tiny", "data": str(tmp_path / "d.csv"), "outcome": "y", "group": "g"}
        )
    )
    monkeypatch.chdir(tmp_path)
    final = render_report(
        config, output_root=tmp_path / "out", engine="builtin", progress=lambda m: None
    )
    assert (final / "report.pdf").stat().st_size > 0


def test_rerender_keeps_the_email_send_log(rendered):
    (rendered / "sent.json").write_text(
        '[{"recipient": "a@example.org", "checksum": "x", "sent": "t"}]'
    )
    final = render_report(
        HSB2, output_root=rendered.parent, engine="builtin", progress=lambda m: None
    )
    assert "a@example.org" in (final / "sent.json").read_text()


def test_every_table_caption_shares_a_page_with_its_first_row(rendered, table_pages, tmp_path):
    # review-levels #9: a caption at one page's foot with its rows on the next
    count, apart = table_pages(rendered, tmp_path)
    assert count >= 8 and not apart, apart
