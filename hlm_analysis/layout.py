"""Where outputs live: the file names that render, email, the site and the CLI share.

`hlm-report render CONFIG` writes OUTPUT_ROOT/NAME/ (NAME: the config's file name without .yml,
sanitised; OUTPUT_ROOT: `_output` under the directory hlm-report runs in, unless given).

Nothing but the tool's own output folder is ever replaced. Every report folder carries a marker
file (MARKER) that names the config it was rendered from (relative to the folder, plus a hash of
its full resolved path) and the report's content version. A folder is replaced only when it
carries the marker of the same config, or holds nothing but file names the tool writes (a report
folder written before markers existed, an error.log); anything else is refused.
Two configs whose names give the same NAME (a/report.yml and b/report.yml) are refused rather
than renamed: a name that depended on which config was rendered first would move reports about.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from pathlib import Path

from .errors import InputError
from .results import RESULTS_FILE, SAMPLE_FILE

HTML = "report.html"
PDF = "report.pdf"
DOCX = "report.docx"
REPORT_FILES = (HTML, PDF, DOCX)
OUTPUTS = (*REPORT_FILES, RESULTS_FILE, SAMPLE_FILE)  # what a complete report folder holds
SEND_LOG = "sent.json"  # the email send log: outlives re-renders (exactly-once delivery)
OUTBOX = "outbox"  # email --dry-run writes .eml files here
PROFILES = "profiles"  # `hlm-report profiles` writes one page per group here
ERROR_LOG = "error.log"  # the traceback of an internal error
MARKER = ".hlm-report"  # in every folder the tool writes and may replace
DEFAULT_OUTPUT_ROOT = Path("_output")
# What a report folder may hold besides OUTPUTS (and still be the tool's when it has no marker).
# ".hlm-report-fit": render/cache.FIT_KEY, the key of the fit the folder holds
_OWN_EXTRAS = {MARKER, SEND_LOG, SEND_LOG + ".lock", OUTBOX, ERROR_LOG, "profiles", "tables"}
_OWN_EXTRAS |= {".hlm-report-fit"}
_NAME_MAX_BYTES = 120  # NAME plus the staging folder's suffix stays under NAME_MAX (255)
# Nothing a file name should carry into a folder name: separators, controls, Windows' reserved.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def report_name(config: Path | str) -> str:
    """The folder name of a config's report: the file name without .yml, NFC, without path
    separators or control characters, leading dots or trailing dots and spaces; refused (exit 2)
    when nothing is left (`..yml`, `.yml`, `...yml`), so no name can point at the output root."""
    file_name = Path(config).name
    suffix = Path(config).suffix
    # `.yml` alone is a config with no name (Path.stem would call it '.yml')
    stem = file_name[: -len(suffix)] if suffix.lower() in (".yml", ".yaml") else Path(config).stem
    if file_name.lower() in (".yml", ".yaml"):
        stem = ""
    name = _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).lstrip(". ").rstrip(". ")
    if not name:
        raise InputError(
            f"config file name {Path(config).name!r} gives no report name; "
            "rename it (letters or digits before .yml)"
        )
    encoded = name.encode("utf-8")
    if len(encoded) > _NAME_MAX_BYTES:
        name = encoded[:_NAME_MAX_BYTES].decode("utf-8", errors="ignore").rstrip(". ")
    return name


def report_dir(output_root: Path, config: Path) -> Path:
    """The folder of one report: OUTPUT_ROOT/NAME, relative paths taken from the working
    directory."""
    return output_root.resolve() / report_name(config)


def config_id(config: Path | str) -> str:
    """Identifies a config by its full resolved path (a hash: no absolute path is written)."""
    return hashlib.sha256(os.fsencode(Path(config).resolve())).hexdigest()


def report_version(results_path: Path) -> str:
    """The content version of a report: a hash of results.json (which holds the config as
    parsed and every number the report shows), not of the PDF's bytes. The recipients list,
    the software versions and anything stamped with the time of the run are left out and the
    numbers rounded to 10 digits: a re-render of the same config and data, or a stakeholder
    added, is the same report."""
    try:
        raw = results_path.read_bytes()
    except OSError:
        raise InputError(f"{results_path} cannot be read; render the report again") from None
    try:
        data = json.loads(raw)
    except ValueError:  # not ours to judge here: its bytes are its version
        return hashlib.sha256(raw).hexdigest()
    if isinstance(data, dict):
        spec = data.get("spec")
        if isinstance(spec, dict):
            spec.pop("stakeholders", None)
        data.pop("software", None)  # a dependency upgraded is not a new report
        block = data.get("provenance")
        if isinstance(block, dict):
            for key in [k for k in block if re.search(_VOLATILE, k)]:
                block.pop(key)
    canonical = json.dumps(_rounded(data), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# Provenance that says when, where or with what the report was made, not what it says.
_VOLATILE = r"time|date|created|elapsed|version|python|package|platform|host|user|software"


def _rounded(value):
    """Numbers to 10 significant digits: a refit on another machine (other BLAS, other thread
    count) that moves the 15th digit is the same report, not a reason to email everyone."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def profiles_version(folder: Path) -> str | None:
    """The report version the group profiles in `folder` were written from (their index.json's
    `results_version`), or None when there are none or it cannot be read."""
    try:
        index = json.loads((folder / PROFILES / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = index.get("results_version") if isinstance(index, dict) else None
    return version if isinstance(version, str) else None


def inputs_hash(spec_json: dict) -> str:
    """The config as parsed (Spec.to_json), less what does not change the report: who gets it
    and from whom with which signature, which engine read the data and the group profiles'
    settings (`hlm-report profiles` reads those from the config as it is now). `email`
    compares it with the config as it is now."""
    left_out = ("stakeholders", "engine", "profiles", "sender", "signature")
    kept = {k: v for k, v in spec_json.items() if k not in left_out}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def marker_text(folder: Path, config: Path, version: str, inputs: str) -> str:
    where = os.path.relpath(Path(config).resolve(), folder.resolve().parent)
    record = {"tool": "hlm-report", "config": where, "config_id": config_id(config)}
    record.update(inputs=inputs, version=version)
    return json.dumps(record, indent=1, ensure_ascii=False) + "\n"


def read_marker(folder: Path) -> dict | None:
    """The marker's record; {} for a marker that cannot be read; None when there is none."""
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _named(record: dict, folder: Path) -> str:
    """The config a marker names, as a path from the working directory (it is recorded
    relative to the output root)."""
    where = record.get("config")
    if not isinstance(where, str) or not where:
        return "another config"
    return os.path.relpath(os.path.normpath(folder.resolve().parent / where))


def _only_own_files(folder: Path) -> bool:
    """A folder holding nothing but names the tool writes: a report folder written before
    markers existed (results.json and the report files), or what a failed first render left
    (its error.log). Empty counts too."""
    try:
        names = {entry.name for entry in os.scandir(folder)}
    except OSError:
        return False
    return names <= {*OUTPUTS, *_OWN_EXTRAS}


def user_entries(folder: Path) -> list[str]:
    """What a user put into a report folder (names the tool never writes), sorted: a re-render
    carries these into the new folder rather than deleting them with the old one."""
    try:
        names = {entry.name for entry in os.scandir(folder)}
    except OSError:
        return []
    return sorted(names - {*OUTPUTS, *_OWN_EXTRAS})


def carry_user_entries(old: Path, new: Path, names: list[str], progress) -> None:
    """Copy what a user added (`names`, entries of `old`) into `new`, the folder that replaces
    `old`: folders whole and links as links, so nothing of theirs goes with the old folder; and
    say what was kept."""
    import shutil  # only when replacing a folder

    for name in names:
        source = old / name
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, new / name, symlinks=True)
        else:
            shutil.copy2(source, new / name, follow_symlinks=False)
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5:,} more" if len(names) > 5 else "")
        progress(f"hlm-report: kept what you added to {old.name}/: {shown}")


def check_replaceable(final: Path, config: Path) -> None:
    """Refuse (exit 2) to replace `final` unless it is this config's report folder."""
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise InputError(f"{final} exists and is not a report folder; move it away or rename")
    if not final.exists():
        return
    record = read_marker(final)
    if record is not None:
        if record.get("config_id") == config_id(config):
            return
        raise InputError(
            f"{final} holds the report of {_named(record, final)}, not of {config}: two configs "
            "give the report name "
            f"'{final.name}'; rename one of them or render with another --output-root"
        )
    if _only_own_files(final):
        return
    raise InputError(
        f"{final} exists and holds files hlm-report did not write; it will not be replaced "
        "(move it away, or render with another --output-root)"
    )


def check_owner(folder: Path, config: Path) -> dict:
    """Refuse (exit 2) a report folder that was not rendered from this very config."""
    record = read_marker(folder)
    if record is None:
        raise InputError(
            f"{folder} does not say which config it was rendered from; render {config} again"
        )
    if record.get("config_id") != config_id(config):
        raise InputError(
            f"{folder} holds the report of {_named(record, folder)}, not of {config}; "
            f"render {config} with another --output-root"
        )
    return record


def _data_root(data: Path) -> Path:
    """The folder or file a data path reads: for a glob, the part before its first pattern."""
    if data.exists():
        return data.resolve()
    parts = []
    for part in data.parts:
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return Path(*parts).resolve() if parts else Path.cwd().resolve()


def check_output_root(output_root: Path, data: Path, config: Path) -> None:
    """Refuse (exit 2) an output root that is, holds or lies inside the data (or holds the
    config): replacing a report folder there could take the inputs with it, and outputs inside a
    data folder would be read as data."""
    root = output_root.resolve()
    source = _data_root(Path(data))
    if root == source or root in source.parents:
        raise InputError(
            f"--output-root {output_root} holds the data ({data}); choose a folder of its own "
            "such as _output"
        )
    if source.is_dir() and source in root.parents:
        raise InputError(
            f"--output-root {output_root} lies inside the data folder {data}; choose a folder "
            "outside it such as _output"
        )
    final = root / report_name(config)
    conf = Path(config).resolve()
    if final == conf or final in conf.parents:
        raise InputError(f"the report folder {final} would replace the config's own folder")


def check_out_dir(out: Path, data: Path) -> None:
    """`fit --out`: refuse the data itself or a folder inside a data folder, where the next run
    would read the tool's own rows.parquet as data."""
    where = out.resolve()
    source = _data_root(Path(data))
    if where == source or (source.is_dir() and source in where.parents):
        raise InputError(
            f"--out {out} lies inside the data {data}: its rows.parquet would be read as data; "
            "choose a folder outside it"
        )


def check_fit_out(out: Path, config: Path) -> None:
    """`fit --out`: refuse (exit 2) to replace a results.json or rows.parquet in `out` that this
    config's fit did not write: the folder is the user's choice and may hold files of theirs by
    those names. Ours are the ones beside this config's marker (written by `fit` or `render`)."""
    if not out.is_dir():
        return
    record = read_marker(out)
    if record is not None and record.get("config_id") == config_id(config):
        return
    present = [name for name in (RESULTS_FILE, SAMPLE_FILE) if os.path.lexists(out / name)]
    if record is not None:
        what = out / (present[0] if present else MARKER)
        raise InputError(
            f"--out {out}: {what} belongs to {_named(record, out)}, not to {config}; choose "
            "another --out"
        )
    if present:
        raise InputError(
            f"--out {out}: {out / present[0]} was not written by hlm-report for {config}; move "
            "it away or choose another --out"
        )
