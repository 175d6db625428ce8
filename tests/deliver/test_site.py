"""The website in a real browser (Debian's Chromium through Playwright), and publishing with git.

Also the user-data test of issue 5: a column label `<script>alert(1)</script>` and a group label
`| *` must reach HTML, PDF and the index as text, never as markup.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from helpers import HSB2_CONFIG, REFERENCE, write_config

from hlm_analysis.deliver.site import build_site, publish

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    frame = pd.read_csv(REFERENCE / "hsb2.csv")
    frame["ses"] = frame["ses"].replace({"low": SCRIPT, "middle": "| *"})
    frame.to_csv(tmp / "hostile.csv", index=False)
    hostile = write_config(
        tmp,
        name="hostile",
        title=f"Hostile {SCRIPT} labels",
        data=tmp / "hostile.csv",
        outcome="write",
        predictors=["read", "math"],
        group="ses",
        labels={"write": SCRIPT, "read": "| *"},
    )
    configs = [HSB2_CONFIG, hostile]
    return build_site(
        configs, output_root=tmp / "_output", site_dir=tmp / "_site", progress=lambda m: None
    )


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is required: run `make system-deps` (bash .ci/setup-system)"
    return path


def test_site_in_chromium(served, site, tmp_path):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on(
            "console",
            lambda msg: (
                problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "dialog",
            lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()),
        )
        page.goto(f"{served}/index.html")
        assert page.locator("article.card").count() == 2
        assert SCRIPT in page.inner_text("body")  # shown as text
        page.screenshot(path=str(tmp_path / "site-index.png"), full_page=True)
        links = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
        assert len(links) == 6  # per card: the report, its PDF and its Word file
        for href in links:
            url = f"{served}/{href}"
            if href.endswith(".pdf"):
                response = page.request.get(url)
                assert response.status == 200 and response.body()[:5] == b"%PDF-", href
                continue
            if href.endswith(".docx"):
                response = page.request.get(url)
                assert response.status == 200 and response.body()[:2] == b"PK", href
                continue
            response = page.goto(url)
            assert response.status == 200, href
            images = page.eval_on_selector_all(
                "img",
                "els => els.map(e => [e.complete && e.naturalWidth > 0, e.getAttribute('alt')])",
            )
            assert len(images) >= 6, href
            assert all(ok for ok, _ in images), f"undecoded image in {href}"
            assert all(
                alt and not alt.startswith("Figure") for _, alt in images
            )  # fig-alt, not the caption
            assert "Figure 1:" in page.inner_text("body")
            # the site's bar: back to the index, which lists every report
            page.click("nav.hlm-site-nav a.home")
            assert page.locator("article.card").count() == 2
        browser.close()
    assert (tmp_path / "site-index.png").stat().st_size > 10_000
    assert not problems, problems


def test_hostile_labels_are_text_in_html_and_pdf(site):
    html = (site / "reports" / "hostile" / "report.html").read_text()
    assert SCRIPT not in html  # never live markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "| *" in html
    index = (site / "index.html").read_text()
    assert SCRIPT not in index and "&lt;script&gt;" in index
    assert shutil.which("pdftotext"), "poppler-utils is required: run `make system-deps`"
    text = subprocess.run(
        ["pdftotext", str(site / "reports" / "hostile" / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert SCRIPT in text and "| *" in text


def test_publish_to_a_bare_repository(site, tmp_path):
    remote = tmp_path / "pages.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    first = publish(site, str(remote), progress=lambda m: None)
    files = subprocess.run(
        ["git", "--git-dir", str(remote), "ls-tree", "-r", "--name-only", "gh-pages"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "index.html" in files and "reports/hsb2/report.pdf" in files
    again = publish(site, str(remote), progress=lambda m: None)  # nothing changed: no new commit
    assert again == first
    (site / "extra.txt").write_text("new")
    third = publish(site, str(remote), progress=lambda m: None)
    log = subprocess.run(
        ["git", "--git-dir", str(remote), "log", "--format=%H", "gh-pages"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert log[0] == third and log[1] == first  # history is kept, not force-pushed away
    (site / "extra.txt").unlink()


def test_with_quarto_the_site_is_a_quarto_website_project(tmp_path, monkeypatch, site):
    # A stand-in `quarto` renders the project the way Quarto's website type lays it out.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "quarto"
    fake.write_text(
        f"#!{sys.executable}\n"  # the venv's Python, which has PyYAML
        "import sys, pathlib, shutil, yaml\n"
        "project = pathlib.Path(sys.argv[2])\n"
        "config = yaml.safe_load((project / '_quarto.yml').read_text())\n"
        "assert config['project']['type'] == 'website' and 'reports/**' in config['project']['resources']\n"
        "out = project / config['project']['output-dir']; out.mkdir()\n"
        "(out / 'index.html').write_text((project / 'index.qmd').read_text())\n"
        "shutil.copytree(project / 'reports', out / 'reports')\n"
    )
    fake.chmod(0o755)
    import os

    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    output_root = site.parent / "_output"
    built = build_site(
        [HSB2_CONFIG],
        output_root=output_root,
        site_dir=tmp_path / "_site",
        render=False,
        progress=lambda m: None,
    )
    index = (built / "index.html").read_text()
    assert index.startswith("---\ntitle: Multilevel-model reports") and 'class="card"' in index
    assert (built / "reports" / "hsb2" / "report.pdf").is_file()
