"""The analysis specification: one YAML config, validated once at the edge.

Everything downstream receives a `Spec`, never the raw YAML, so a typo in a key or a wrong type
is reported here with the file and the key named, before any data is read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InputError

# Relative paths in a config resolve as in a Quarto project: against the nearest folder above the
# config that holds this file, else against the config's own folder.
PROJECT_MARKER = "_quarto.yml"
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class Stakeholder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    email: str
    role: str | None = None

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        if not EMAIL.match(value):
            raise ValueError(f"'{value}' is not an email address")
        return value


class Spec(BaseModel):
    """A validated config. Paths are resolved; column names are kept as the user wrote them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    subtitle: str | None = None
    author: str | None = None
    data: Path
    outcome: str
    predictors: list[str] = Field(default_factory=list)
    group: str
    random_slopes: list[str] = Field(default_factory=list)
    interactions: list[str] = Field(default_factory=list)
    stakeholders: list[Stakeholder] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    centering: dict[str, Literal["group", "grand"]] = Field(default_factory=dict)
    contextual: list[str] = Field(default_factory=list)
    name: str = "report"

    @field_validator("interactions")
    @classmethod
    def _interaction_form(cls, value: list[str]) -> list[str]:
        for term in value:
            parts = [p.strip() for p in term.split(":")]
            if len(parts) < 2 or any(not p for p in parts):
                raise ValueError(f"interaction '{term}' must look like 'a:b'")
        return [":".join(p.strip() for p in term.split(":")) for term in value]

    def label(self, column: str) -> str:
        """The readable name of a column (or the column itself when no label is given)."""
        return self.labels.get(column, column)

    def to_json(self) -> dict:
        out = self.model_dump(mode="json")
        out["data"] = str(self.data)
        return out


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'"
    if error["type"] == "missing":
        return f"missing required key '{where}'"
    message = error["msg"].removeprefix("Value error, ")
    return f"key '{where}': {message}"


def load_spec(path: str | Path) -> Spec:
    """Read and validate a config file; raise InputError naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise InputError(f"{path}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of keys such as 'data', 'outcome', 'group'")
    raw.setdefault("name", path.stem)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: {_describe(exc.errors()[0])}") from None
    return spec.model_copy(update={"data": resolve_path(path, spec.data)})


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a Quarto project file."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return None


def resolve_path(config: Path, value: Path) -> Path:
    """A path written in `config`: absolute as given; relative to the project root (the folder
    holding _quarto.yml) when the config lies in a Quarto project, else to the config's folder."""
    value = value.expanduser()
    if value.is_absolute():
        return value
    folder = config.resolve().parent
    return (project_root(folder) or folder) / value
