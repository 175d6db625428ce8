"""Files that ship with the package: the report document, the Jinja templates.

In an installed wheel they live inside the package (pyproject maps the top-level `report/` and
`templates/` folders into it); in a source checkout (editable install) they are read where they
are edited, at the top of the repository.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parent.parent


def _bundled(name: str) -> Path:
    packaged = Path(str(resources.files("hlm_analysis"))) / name
    return packaged if packaged.exists() else _SOURCE_TREE / name


def templates_dir() -> Path:
    return _bundled("templates")


def report_document() -> Path:
    return _bundled("report") / "hlm_report.qmd"
