"""Split a .qmd into front matter, markdown chunks and ```{python} cells with their #| options.

Only the subset of DESIGN.md section 4 is understood; anything else is passed through as markdown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ReportError

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_CELL = re.compile(r"^```\{python\}[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_OPTION = re.compile(r"^#\|\s?(.*)$")


@dataclass
class Cell:
    source: str
    options: dict = field(default_factory=dict)
    index: int = 0
    raw: str = ""  # the cell as written, '#|' lines included (Quarto reads them from a notebook)

    @property
    def label(self) -> str:
        return str(self.options.get("label", f"cell-{self.index}"))

    @property
    def tags(self) -> list[str]:
        return list(self.options.get("tags", []))


@dataclass
class Document:
    front_matter: dict
    parts: list  # str (markdown) or Cell, in document order

    @property
    def cells(self) -> list[Cell]:
        return [p for p in self.parts if isinstance(p, Cell)]


def _cell(code: str, index: int, path: Path) -> Cell:
    option_lines, body = [], []
    lines = code.splitlines()
    for i, line in enumerate(lines):
        match = _OPTION.match(line)
        if not match:
            body = lines[i:]
            break
        option_lines.append(match.group(1))
    try:
        options = yaml.safe_load("\n".join(option_lines)) or {}
    except yaml.YAMLError:
        raise ReportError(f"{path}: cell {index} has unreadable '#|' options") from None
    return Cell("\n".join(body), options, index, code.rstrip("\n"))


def parse(path: Path) -> Document:
    text = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    front = yaml.safe_load(match.group(1)) if match else {}
    body = text[match.end() :] if match else text
    parts: list = []
    position = 0
    for index, cell in enumerate(_CELL.finditer(body)):
        parts.append(body[position : cell.start()])
        parts.append(_cell(cell.group(1), index, path))
        position = cell.end()
    parts.append(body[position:])
    return Document(front or {}, [p for p in parts if not (isinstance(p, str) and not p.strip())])
