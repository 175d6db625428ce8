"""The locks in requirements/ pin what pyproject.toml asks for (make lock writes them)."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
_spec = importlib.util.spec_from_file_location("lock", REQUIREMENTS / "lock.py")
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(path: Path) -> dict[str, list[tuple[str, str | None]]]:
    """name -> [(version, marker)] of every pin in a lock, each checked to carry hashes."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        assert i + 1 < len(lines) and "--hash=sha256:" in lines[i + 1], f"{line}: no hash"
        name, version, marker = match.groups()
        found.setdefault(canonicalize_name(name), []).append((version, marker))
    return found


def wanted(extras: list[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    out = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        out += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return out


@pytest.mark.parametrize("name", [*lock.LOCKS, *lock.INSTALLERS])
def test_every_lock_was_made_from_the_pyproject_as_it_is(name):
    first = (REQUIREMENTS / f"{name}.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first == lock.DIGEST_PREFIX + lock.pyproject_digest(), (
        f"requirements/{name}.txt is older than pyproject.toml: run `make lock`"
    )


@pytest.mark.parametrize(("name", "pin"), list(lock.INSTALLERS.items()))
def test_each_installer_lock_pins_the_version_lock_py_names(name, pin):
    # uv's version is not in the digest (the environment does not change with it): a bumped
    # lock.UV without `make lock` fails here
    wanted_name, version = pin.split("==")
    assert pins(REQUIREMENTS / f"{name}.txt") == {wanted_name: [(version, None)]}


@pytest.mark.parametrize(("name", "extras"), list(lock.LOCKS.items()))
def test_every_dependency_is_pinned_within_its_bounds(name, extras):
    pinned = pins(REQUIREMENTS / f"{name}.txt")
    for python in ("3.11", "3.13"):  # the lowest and the highest tested
        env = {"python_version": python, "python_full_version": f"{python}.0"}
        for requirement in wanted(extras):
            if requirement.marker and not requirement.marker.evaluate(env):
                continue
            versions = [
                v
                for v, marker in pinned.get(canonicalize_name(requirement.name), [])
                if marker is None or Marker(marker).evaluate(env)
            ]
            assert len(versions) == 1, f"{name}.txt: {requirement.name} for Python {python}"
            assert SpecifierSet(str(requirement.specifier)).contains(versions[0]), (
                f"{name}.txt pins {requirement.name}=={versions[0]}, outside {requirement}"
            )


def test_a_changed_dependency_changes_the_digest(tmp_path):
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    changed = tmp_path / "pyproject.toml"
    changed.write_text(text.replace('"numpy>=1.26"', '"numpy>=1.27"'), encoding="utf-8")
    assert lock.pyproject_digest(changed) != lock.pyproject_digest()
