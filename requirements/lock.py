"""Write the locks in this folder from pyproject.toml: `make lock` runs this, nothing else does.

Each lock pins the whole environment of one install, every package with its hashes, for every
supported Python (uv's universal resolution), so two machines on two days install the same files:

  base.txt   the package's own dependencies (`pip install .`)
  dev.txt    base + the dev extra: what `make report` and `make test` install into .venv
  spark.txt  base + the spark extra
  bench.txt  base + dev + bench: what `make bench` installs
  pip.txt    the pip in each venv (`make bench` and the packaging test call it)
  uv.txt     the uv that installs the venvs from these locks and makes the locks (in .venv-uv)

Each lock starts with the digest of the pyproject tables it was made from; tests/test_lock.py
fails when pyproject.toml changes and the locks are not made again.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = "3.11"  # the lowest supported: uv's universal locks cover the higher ones with markers
LOCKS = {"base": [], "dev": ["dev"], "spark": ["spark"], "bench": ["dev", "bench"]}
PIP = "pip==26.3"
UV = "uv==0.13.9"  # tested by tests/test_lock.py against requirements/uv.txt
INSTALLERS = {"pip": PIP, "uv": UV}
DIGEST_PREFIX = "# pyproject-digest: "


def pyproject_digest(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The digest of what the locks are made from: requires-python and every dependency list."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "pip": PIP,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _compile(uv: str, source: Path, extras: list[str], out: Path) -> None:
    command = [uv, "pip", "compile", str(source), "--quiet", "--generate-hashes", "--universal"]
    if source.parent != ROOT:  # pip.in, uv.in live in a temporary folder: the path would differ
        command.append("--no-annotate")
    command += ["--python-version", PYTHON, "--no-header", "--output-file", str(out)]
    for extra in extras:
        command += ["--extra", extra]
    subprocess.run(command, check=True, cwd=ROOT)


def main(uv: str) -> None:
    digest = pyproject_digest()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(name, ROOT / "pyproject.toml", extras) for name, extras in LOCKS.items()]
        for name, pin in INSTALLERS.items():
            source = Path(tmp) / f"{name}.in"
            source.write_text(pin + "\n")
            jobs.append((name, source, []))
        for name, source, extras in jobs:
            out = Path(tmp) / f"{name}.txt"  # a fresh file: uv would keep an old lock's pins
            _compile(uv, source, extras, out)
            header = f"{DIGEST_PREFIX}{digest}\n# made by `make lock` (requirements/lock.py)\n"
            (HERE / f"{name}.txt").write_text(header + out.read_text(), encoding="utf-8")
            print(f"lock: requirements/{name}.txt")


if __name__ == "__main__":
    main(sys.argv[1])
