"""Verify round 32: the site folder is a site, readable by the web server that serves it."""

from __future__ import annotations

import os
import stat

from deliver.test_site_outputs import one_line, rendered, site

from hlm_analysis import layout


def test_a_report_folder_is_not_taken_for_a_site_folder(tmp_path, capsys):
    # `site --site-dir _output/NAME`: the report folder's marker passed for a site's, so the
    # report folder became a site (its marker overwritten: `email` then refused it).
    config = rendered(tmp_path, "report")
    folder = layout.report_dir(tmp_path / "_output", config)
    before = sorted(p.name for p in folder.iterdir())
    marker = (folder / layout.MARKER).read_text()
    code, out = site(tmp_path, capsys, config, site_dir=folder)
    assert code == 2 and one_line(out) and "report folder" in out, out
    assert sorted(p.name for p in folder.iterdir()) == before
    assert (folder / layout.MARKER).read_text() == marker


def test_the_site_folder_is_readable_by_others_as_umask_allows(tmp_path, capsys):
    # It was the 0700 of its scratch folder: a web server running as another user got 403.
    config = rendered(tmp_path, "report")
    old = os.umask(0o022)
    try:
        assert site(tmp_path, capsys, config)[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "_site").stat().st_mode) == 0o755
