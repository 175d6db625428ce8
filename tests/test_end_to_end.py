"""From a CSV to a published site, as a new analyst does it (issue 24, "Done when"): `init`
drafts a config, the analyst edits it, `preview` serves the report and renders it again on
save, `site` builds the website and `publish` pushes it to a git remote. The commands run as
processes (`hlm-report ...` in the project folder) and Debian's Chromium reads the pages.

One journey, made once (real fits and renders), and checked from several sides: the pages in
the browser (one h1, contents beside the report on a wide screen, figures legible at 400 px,
alt texts with numbers, tables as tables, links back to the index and to PDF and Word), the
privacy of everything under `_site/` (no absolute path, no email address), the small school
left off the public site, and the PDF on US letter paper.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

# the console script the README names, from this environment
_SCRIPT = Path(sys.executable).with_name("hlm-report")
HLM = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "hlm_analysis"]
SMALL = "Little Pines"  # a school of 7 students: in the report (min_cell 5), not on the site
ADDRESS = "dana.whitfield@district.example.org"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def students() -> pd.DataFrame:
    """Students in 24 schools: a score, SES, the school's sector (with -99 where unknown, as
    exports write it) and a student id; one school is small."""
    rng = np.random.default_rng(24)
    schools = [f"School {chr(65 + i)}" for i in range(23)] + [SMALL]
    sizes = [int(rng.integers(25, 45)) for _ in range(23)] + [7]
    sector = {s: ("Catholic" if i % 3 == 0 else "Public") for i, s in enumerate(schools)}
    effect = {s: rng.normal(0, 3) for s in schools}
    rows = []
    for school, n in zip(schools, sizes, strict=True):
        for _ in range(n):
            ses = rng.normal(0, 1)
            score = 50 + 4 * ses + (2 if sector[school] == "Catholic" else 0) + effect[school]
            rows.append((school, round(score + rng.normal(0, 8), 1), round(ses, 2), sector[school]))
    frame = pd.DataFrame(rows, columns=["school", "score", "ses", "sector"])
    frame.insert(0, "student_id", np.arange(1, len(frame) + 1))
    frame.loc[frame.sample(6, random_state=1).index, "sector"] = "-99"
    return frame


def run(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HLM, *args], cwd=project, capture_output=True, text=True, timeout=timeout
    )


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is required: run `make system-deps` (bash .ci/setup-system)"
    return path


def browser(p):
    return p.chromium.launch(
        executable_path=chromium(),
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    )


def _preview_journey(project: Path, config: Path) -> dict:
    """`hlm-report preview`: the page served, then a save of the config shows in the open page."""
    from playwright.sync_api import sync_playwright

    process = subprocess.Popen(
        [*HLM, "preview", str(config.relative_to(project)), "--port", "0"],
        cwd=project,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    url: list[str] = []

    def read():
        for line in process.stderr:
            lines.append(line.rstrip())
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url.append(found[1])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen = {}
    try:
        deadline = time.monotonic() + 300
        while not url and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert url, lines
        with sync_playwright() as p:
            b = browser(p)
            page = b.new_page()
            page.goto(url[0])
            seen["first"] = page.inner_text("h1")
            text = config.read_text().replace(
                "title: Reading gains in Riverside", "title: Reading gains in Riverside, draft 2"
            )
            config.write_text(text)
            page.wait_for_function(
                "() => document.querySelector('h1') && "
                "document.querySelector('h1').innerText.includes('draft 2')",
                timeout=240_000,
            )
            seen["after_save"] = page.inner_text("h1")
            b.close()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as the README says
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=10)
    process.stderr.close()
    seen["exit"] = process.returncode
    seen["lines"] = lines
    return seen


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    project = tmp_path_factory.mktemp("district")
    (project / "_quarto.yml").write_text(
        "project:\n  type: default\n"
        "site:\n  title: Riverside District reports\n"
        "  description: What the district's data say about reading.\n"
    )
    (project / "data").mkdir()
    (project / "report" / "configs").mkdir(parents=True)
    students().to_csv(project / "data" / "students.csv", index=False)
    steps = {"project": project}

    # 1. init: a commented draft, with -99 spotted as a missing-value code
    made = run(project, "init", "data/students.csv", "--group", "school", "--outcome", "score")
    steps["init"] = made
    config = project / "report" / "configs" / "students.yml"
    steps["draft"] = config.read_text()

    # 2. the analyst edits the draft: a title, the predictors, words, who gets it, letter paper
    draft = yaml.safe_load(steps["draft"])
    draft.update(
        title="Reading gains in Riverside",
        predictors=["ses", "sector"],
        unit="student",
        group_noun="school",
        paper="letter",
        stakeholders=[{"name": "Dana Whitfield", "email": ADDRESS}],
    )
    config.write_text(yaml.safe_dump(draft, sort_keys=False, allow_unicode=True))

    # 3. preview, with a save while the page is open
    steps["preview"] = _preview_journey(project, config)

    # 4. the site, twice: the second time nothing changed
    steps["site"] = run(project, "site")
    steps["site_again"] = run(project, "site")

    # 5. publish to a git remote
    remote = project.parent / f"{project.name}-pages.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    steps["publish"] = run(project, "publish", "--remote", str(remote))
    steps["remote"] = remote
    return steps


def test_init_drafts_a_config_with_the_missing_value_code(journey):
    assert journey["init"].returncode == 0, journey["init"].stderr
    assert "students.yml; check it, then: hlm-report render" in journey["init"].stderr
    draft = yaml.safe_load(journey["draft"])
    assert draft["group"] == "school" and draft["outcome"] == "score"
    assert "-99" in [str(v) for v in draft["missing_values"]]
    assert "student_id" not in draft.get("predictors", [])  # an id is no predictor


def test_preview_serves_the_report_and_shows_a_save(journey):
    seen = journey["preview"]
    assert seen["first"] == "Reading gains in Riverside", seen
    assert seen["after_save"] == "Reading gains in Riverside, draft 2"
    assert any("changed; rendering" in line for line in seen["lines"]), seen["lines"]
    assert seen["exit"] in (0, 130), seen["lines"]


def test_site_builds_and_a_second_build_renders_nothing(journey):
    assert journey["site"].returncode == 0, journey["site"].stderr
    again = journey["site_again"]
    assert again.returncode == 0, again.stderr
    assert "unchanged since its report was rendered; kept" in again.stderr
    assert "fit the model ladder" not in again.stderr and "write PDF" not in again.stderr


def test_publish_pushes_the_site_to_gh_pages(journey, tmp_path):
    assert journey["publish"].returncode == 0, journey["publish"].stderr
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--branch", "gh-pages", str(journey["remote"]), str(clone)],
        check=True,
    )
    assert (clone / "index.html").is_file()
    assert (clone / "reports" / "students" / "report.docx").is_file()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


@pytest.fixture(scope="module")
def served(journey):
    handler = functools.partial(_Quiet, directory=str(journey["project"] / "_site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_published_pages_in_chromium(journey, served):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        b = browser(p)
        page = b.new_page(viewport={"width": 1600, "height": 1000})
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{served}/index.html")
        assert page.inner_text("h1") == "Riverside District reports"
        assert "What the district's data say about reading." in page.inner_text("header")
        card = page.locator("article.card")
        assert card.count() == 1
        headline = card.locator("p.headline").inner_text()
        assert "intraclass" not in headline and "points" in headline, headline
        for kind, magic in (("PDF", b"%PDF-"), ("Word", b"PK")):
            href = card.locator(f"a:text-is('{kind}')").get_attribute("href")
            with urllib.request.urlopen(f"{served}/{href}") as response:
                assert response.read()[: len(magic)] == magic
        card.locator("a.primary").click()
        page.wait_for_load_state()
        assert page.locator("h1").count() == 1  # the title; sections are h2
        assert page.inner_text("h1") == "Reading gains in Riverside, draft 2"
        # the contents beside the report on a wide screen, in reach while scrolling
        toc = page.eval_on_selector(
            "nav#TOC", "e => [getComputedStyle(e).position, e.getBoundingClientRect().right]"
        )
        body_left = page.eval_on_selector("body", "e => e.getBoundingClientRect().left")
        assert toc[0] == "fixed" and toc[1] <= body_left + 1, (toc, body_left)
        # tables keep their semantics: display table, inside a scrolling box
        displays = page.eval_on_selector_all(
            "table", "els => els.map(e => getComputedStyle(e).display)"
        )
        assert displays and set(displays) == {"table"}, displays
        # every figure's alt text says what it shows, with numbers
        alts = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('alt'))")
        # five figures: two numeric variables get a correlation sentence, not a heatmap
        assert len(alts) >= 5 and all(alt and re.search(r"\d", alt) for alt in alts), alts
        # the site's copy describes the 23 schools its figures draw: Little Pines (7 students)
        # is below the site's min_size
        assert any("23 schools" in alt for alt in alts), alts
        assert not any("24 schools" in alt or SMALL in alt for alt in alts), alts
        # back to the index, from the site's bar
        page.click("nav.hlm-site-nav a.home")
        assert page.locator("article.card").count() == 1

        # a phone: 400 px wide; figures keep a width whose text can be read and scroll sideways
        phone = b.new_page(viewport={"width": 400, "height": 800})
        phone.goto(f"{served}/reports/students/report.html")
        sizes = phone.eval_on_selector_all(
            "figure img", "els => els.map(e => [e.getBoundingClientRect().width, e.naturalWidth])"
        )
        assert sizes and all(shown >= 600 for shown, _ in sizes), sizes
        # figures are drawn 8 inches wide at 144 dpi with 9-10 pt text: at 640 px that text
        # is about 11 px on screen (at 400 px, 6 px)
        assert all(natural / shown <= 2.0 for shown, natural in sizes), sizes
        toc_position = phone.eval_on_selector("nav#TOC", "e => getComputedStyle(e).position")
        assert toc_position == "static"  # on a phone the contents stay at the top
        b.close()
    assert not problems, problems


def _site_texts(site: Path):
    """Every file under _site/ as (path, its words, its bytes as text): HTML and the rest as
    read, PDFs through pdftotext, Word files' XML parts."""
    for path in sorted(site.rglob("*")):
        if not path.is_file() or ".git" in path.parts:
            continue
        if path.suffix == ".pdf":
            text = subprocess.run(
                ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
            ).stdout
            # addresses are sought in the words only: binary streams hold chance runs like
            # 'x@y.k'; paths in the bytes as well (metadata)
            yield path, text, path.read_bytes().decode("latin-1")
        elif path.suffix == ".docx":
            with zipfile.ZipFile(path) as docx:
                xml = "".join(docx.read(n).decode("utf-8", "replace") for n in docx.namelist())
            yield path, xml, xml
        else:
            text = path.read_bytes().decode("utf-8", "replace")
            yield path, text, text


def test_nothing_under_site_holds_an_absolute_path_or_an_email_address(journey):
    project = journey["project"]
    site = project / "_site"
    checked = 0
    for path, text, raw in _site_texts(site):
        checked += 1
        for absolute in (str(project), str(project.parent), "/tmp/", "/home/", "/root/", "/work/"):
            assert absolute not in text and absolute not in raw, (path, absolute)
        assert ADDRESS not in text and ADDRESS not in raw, path
        found = EMAIL.search(text)
        assert found is None, (path, found and found[0])
    assert checked >= 5


def test_the_small_school_is_in_the_report_but_not_on_the_public_site(journey):
    project = journey["project"]
    report = (project / "_output" / "students" / "report.html").read_text()
    published = (project / "_site" / "reports" / "students" / "report.html").read_text()
    assert SMALL in report  # 7 students: above min_cell (5), shown to the analyst
    assert SMALL not in published  # below profiles' min_size (10): not on the public site
    assert "fewer than 10 students" in published  # the config's unit
    pdf = project / "_site" / "reports" / "students" / "report.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert SMALL not in text


def test_the_pdf_is_on_us_letter_paper(journey):
    pdf = journey["project"] / "_site" / "reports" / "students" / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info.stdout)
    assert size and (float(size[1]), float(size[2])) == (612.0, 792.0), info.stdout
