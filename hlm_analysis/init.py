"""`hlm-report init DATA`: a first config drafted from a data file, every guess commented.

The guesses are the ones an analyst makes on first sight of a table: the grouping column (a
column whose values repeat: several rows per value, many values), the outcome (a numeric
column with many values, by name when one says score/outcome), the columns that are constant
within each group (group-level, candidates for contextual effects and cross-level
interactions), codes that look like missing values (-99, 999 beside otherwise ordinary
numbers) and every other config key with its default. The draft is checked by the config
loader before it is written, and an existing file is never replaced.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from . import atomic
from .data.files import CSV, PARQUET, separator_hint
from .errors import InputError
from .spec import load_spec, project_root, shown

MAX_ROWS = 200_000  # enough to see types, groups and codes; a large file is not read whole
SENTINELS = (-9, -99, -999, -9999, 99, 999, 9999)
_GROUP_NAMES = re.compile(
    r"(^|_)(id|school|class|classroom|district|group|cluster|site|team)", re.I
)
_OUTCOME_NAMES = re.compile(r"score|outcome|achiev|exam|test|grade|result|write|math|read", re.I)
DEFAULT_MISSING = ["", "NA", "N/A", "NaN", "."]
_GLOB = set("*?[")  # a path with these that is not a file is a glob, as `data:` reads it


def _read(data: Path):
    """The first MAX_ROWS rows of `data`: one file, or the parts of a folder or glob (a
    Parquet lake) in the order the fit reads them, found the way the fit finds them."""
    import pandas as pd

    from .data.source import discover

    if data.is_file():
        parts = [data]
    elif data.is_dir() or _GLOB & set(str(data)):
        try:
            parts = discover(data).files
        except InputError as exc:
            raise InputError(f"init: {exc}") from None
    else:
        raise InputError(f"init: data file not found: {shown(data)}")
    kinds = {_kind(p) for p in parts}
    if None in kinds:
        raise InputError(f"init: {shown(data)} is not a .csv, .tsv, .txt or .parquet file")
    if len(kinds) > 1:
        raise InputError(f"init: {shown(data)} mixes Parquet and CSV files; point it at one format")
    frames, rows = [], 0
    for part in parts:
        frame = _read_file(part, pd)
        if frames and list(frame.columns) != list(frames[0].columns):
            raise InputError(
                f"init: {shown(part)} has other columns than {shown(parts[0])}; the parts of "
                "a folder must hold the same columns"
            )
        frames.append(frame)
        rows += len(frame)
        if rows >= MAX_ROWS:
            break
    frame = pd.concat(frames, ignore_index=True).head(MAX_ROWS) if len(frames) > 1 else frames[0]
    separator = separator_hint([str(c) for c in frame.columns])
    if separator:
        raise InputError(f"init: {shown(data)}: {separator}")
    if frame.empty or len(frame.columns) < 2:
        raise InputError(f"init: {shown(data)} has no rows or fewer than two columns")
    return frame


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "parquet" if suffix in PARQUET else "csv" if suffix in CSV else None


def _read_file(data: Path, pd):
    try:
        if _kind(data) == "parquet":
            return pd.read_parquet(data).head(MAX_ROWS)
        return pd.read_csv(
            data,
            nrows=MAX_ROWS,
            keep_default_na=False,
            na_values=DEFAULT_MISSING,
            sep="\t" if data.suffix.lower() == ".tsv" else ",",  # as the fit reads it
        )
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = (str(exc).strip().splitlines() or ["unreadable"])[0]
        raise InputError(f"init: {shown(data)} cannot be read: {first}") from None


def _numeric(column) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def sentinels(column) -> list:
    """Codes in `column` that look like missing values: a SENTINELS value beside other values
    all on the other side of zero (-99 among scores) or far below it (999 among ages)."""
    found = []
    if _numeric(column):
        values = column.dropna()
        for code in SENTINELS:
            hit = values == code
            if not hit.any():
                continue
            rest = values[~hit]
            if rest.empty:
                continue
            if (code < 0 and rest.min() >= 0) or (code > 0 and rest.max() * 3 < code):
                found.append(code)
    else:
        texts = set(column.dropna().astype(str).str.strip())
        found = [code for code in SENTINELS if str(code) in texts]
    return found


def _group_candidates(frame) -> list[str]:
    n = len(frame)
    out = []
    for name in frame.columns:
        column = frame[name].dropna()
        levels = column.nunique()
        if column.empty or levels < 2 or levels > n / 2:
            continue
        if _numeric(column) and (column % 1 != 0).any():
            continue  # measurements, not ids
        out.append(name)
    # names that say "group" first, then more groups (a random effect wants many)
    return sorted(out, key=lambda c: (not _GROUP_NAMES.search(str(c)), -frame[c].nunique()))


# Crossed factors (a pupil's primary and secondary school): many of each column's groups share
# rows with two or more of the other's (a primary school sends pupils to several secondaries
# and a secondary takes them from several primaries), and neither column's ids are labels local
# to the other's groups: there are many more of them than any one group of the other holds.
# Class ids 1-6 repeated in every school are the opposite: every school holds nearly all of
# them (nested, scoped by the school); a 0/1 predictor likewise. And the observed pairs hold
# rows (pupils sharing both schools): two measurements (math and write scores) also meet many of
# each other's values, but nearly every pair of them is one row.
CROSSED_SHARED = 0.25  # the least share of each column's groups that meet several of the other's
CROSSED_LOCAL = 2.0  # how many times more ids than the most any one group of the other holds
CROSSED_MIN_GROUPS = 5  # fewer groups cannot be told from a small fully crossed or nested table


def crossing(frame, a: str, b: str) -> tuple[float, float] | None:
    """Whether the groups of `a` and `b` cross: each column's share of groups that meet two or
    more of the other's, or None when they do not cross (see CROSSED_SHARED, CROSSED_LOCAL)."""
    rows = frame[[a, b]].dropna()
    pairs = rows.drop_duplicates()
    per_a = pairs.groupby(a)[b].size()  # b groups each a group meets
    per_b = pairs.groupby(b)[a].size()
    if min(len(per_a), len(per_b)) < CROSSED_MIN_GROUPS or len(rows) < 2 * len(pairs):
        return None
    shared_a, shared_b = float((per_a >= 2).mean()), float((per_b >= 2).mean())
    local = min(len(per_b) / per_a.max(), len(per_a) / per_b.max())
    if min(shared_a, shared_b) < CROSSED_SHARED or local < CROSSED_LOCAL:
        return None
    return shared_a, shared_b


def crossed_with(frame, group: str, candidates: list[str]) -> str | None:
    """The column among `candidates` whose groups cross `group`'s; of several, the one making
    the most observed pairs."""
    found = [c for c in candidates if c != group and crossing(frame, group, c) is not None]
    if not found:
        return None
    return max(found, key=lambda c: frame.groupby([group, c], dropna=True).ngroups)


def nested_levels(frame, outer: str, candidates: list[str], depth: int = 4) -> list[str]:
    """The grouping columns whose groups sit inside `outer`'s, outermost first (`outer` itself
    first; at most `depth` levels): a column B is an inner level of A when the (A, B) pairs
    hold at least two B groups per A group on average and at least two rows each, and B's ids
    either belong to one A group each (a child id in one school) or repeat across A groups
    under a grouping name (class 1, 2, ... in every school, scoped by it as `group: [A, B]`
    reads them); a 0/1 or yes/no predictor also splits every school, but has no grouping name
    and repeats its values everywhere."""
    chain = [outer]
    n = len(frame)
    while len(chain) < depth:
        groups = frame.groupby(chain, dropna=True).ngroups
        best, best_cells = None, 0
        for name in candidates:
            if name in chain:
                continue
            cells = frame.groupby([*chain, name], dropna=True).ngroups
            if cells < 2 * groups or n < 2 * cells:
                continue
            own = frame.groupby(name, dropna=True)[chain[-1]].nunique().max() == 1
            if not own and not _GROUP_NAMES.search(str(name)):
                continue
            if not own and crossing(frame, chain[-1], name) is not None:
                continue  # crossed, not nested (a pupil's primary and secondary school)
            if cells > best_cells:
                best, best_cells = name, cells
        if best is None:
            break
        chain.append(best)
    return chain


def _outcome_candidates(frame, exclude: set[str], group: str) -> list[str]:
    out = []
    for name in frame.columns:
        column = frame[name].dropna()
        if name in exclude or not _numeric(column) or column.nunique() < 2:
            continue
        if _is_id(column, len(frame)):
            continue  # a row id
        out.append(name)
    made = {c for c in out if _made_from_groups(frame, c, group)}
    return sorted(
        out,
        key=lambda c: (c in made, not _OUTCOME_NAMES.search(str(c)), -frame[c].nunique(), str(c)),
    )


def _made_from_groups(frame, name: str, group: str) -> bool:
    """Whether a numeric column is a value of its group (one per group: a school's mean or size)
    or centred on its group's mean (every group's mean 0, as hsb82's cses): a predictor made
    from the groups, which the model could not take as its outcome (no variation within groups)
    or which is not a measurement (the most distinct values, so it was drafted first)."""
    by = frame.groupby(group, dropna=True)[name]
    if bool((by.nunique(dropna=True) <= 1).all()):
        return True
    spread = float(frame[name].std())
    return spread > 0 and bool((by.mean().abs() <= 1e-9 * spread).all())


def _number_like(column) -> bool:
    """A text column whose every value is a number ("50.3"), with more than one value."""
    import pandas as pd

    values = column.dropna()
    if _numeric(column) or values.nunique() < 2:
        return False
    return bool(pd.to_numeric(values.astype(str), errors="coerce").notna().all())


def _is_id(column, n: int) -> bool:
    """One distinct whole number or text per row: a row id (a measurement such as an age can
    be unique per row too, but has fractions)."""
    if column.nunique() != n:
        return False
    return not _numeric(column) or bool((column.dropna() % 1 == 0).all())


def _group_level(frame, group: str) -> list[str]:
    grouped = frame.groupby(group, dropna=True)
    return [
        c for c in frame.columns if c != group and (grouped[c].nunique(dropna=False) <= 1).all()
    ]


def _yaml(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    text = text.strip().removesuffix("...").strip()
    if _BREAKS.search(text):  # a name with a line break: one line, "\n" escaped
        text = yaml.safe_dump(value, default_flow_style=True, default_style='"', width=10**6)
        text = text.strip().removesuffix("...").strip()
    return text


# What ends a line for YAML. A column name holding one would end a comment early, and the rest
# of the name would be read as a key ("x<newline>title: pwned").
_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")


def _one_line(line: str) -> str:
    return _BREAKS.sub(lambda m: repr(m.group())[1:-1], line)


def _data_path(data: Path, config: Path) -> str:
    """`data` as the config will resolve it: from the project root when there is one (the
    folder holding _quarto.yml), else from the config's folder."""
    base = project_root(config.parent) or config.parent.resolve()
    try:
        relative = Path(os.path.relpath(data.resolve(), base))
    except ValueError:  # another drive
        return str(data.resolve())
    return str(data.resolve()) if relative.parts[:1] == ("..",) else relative.as_posix()


def draft(data: Path, config: Path, group: str | None, outcome: str | None) -> str:
    frame = _read(data)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for given, flag in ((group, "--group"), (outcome, "--outcome")):
        if given is not None and given not in columns:
            raise InputError(
                f"init: {flag} {given!r}: no such column in {shown(data.name)} "
                f"(columns: {', '.join(columns)})"
            )
    groups = _group_candidates(frame)
    given = group is not None
    group = group or (groups[0] if groups else None)
    if group is None:
        raise InputError(
            f"init: no column of {shown(data.name)} repeats enough to group rows "
            "(several rows per value); name one with --group"
        )
    # columns whose groups sit inside the group's (classes in schools, children in schools)
    chain = nested_levels(frame, group, [g for g in groups if g != outcome])
    # or a column whose groups cross the group's (a pupil's primary and secondary school)
    others_ = [g for g in groups if g != outcome]
    crossed = crossed_with(frame, group, others_) if len(chain) == 1 else None
    if crossed is not None:
        chain = [group, crossed]
    levels = [group] if given else chain
    outcomes = _outcome_candidates(frame, set(chain), group)
    outcome = outcome or (outcomes[0] if outcomes else None)
    if outcome is None:
        # a Parquet file of text columns holding "50.3": the fit reads such a column as
        # numbers, so --outcome works; say which
        texts = [c for c in columns if c not in chain and _number_like(frame[c])]
        hint = (
            f" ({', '.join(shown(c) for c in texts[:3])}: numbers written as text; "
            f"--outcome {shown(texts[0])} reads them as numbers)"
            if texts
            else ""
        )
        raise InputError(
            f"init: {shown(data.name)} has no numeric column to model; name one with "
            f"--outcome{hint}"
        )
    if outcome == group:
        raise InputError("init: --outcome and --group name the same column")
    if outcome in levels:
        levels = levels[: levels.index(outcome)]
    ids = [c for c in columns if _is_id(frame[c], len(frame)) and c not in (*levels, outcome)]
    constant = [c for c in columns if frame[c].nunique(dropna=True) < 2]
    predictors = [c for c in columns if c not in {*levels, outcome, *ids, *constant}]
    level2 = [c for c in _group_level(frame, group) if c in predictors]
    codes = {c: sentinels(frame[c]) for c in columns}
    codes = {c: v for c, v in codes.items() if v}
    missing = DEFAULT_MISSING + sorted({str(v) for v in sum(codes.values(), [])}, key=float)
    binary = frame[outcome].dropna().nunique() == 2
    n_groups = frame[group].nunique()

    def kind(c: str) -> str:
        column = frame[c]
        if _numeric(column):
            return "number" + (", 0/1" if set(column.dropna().unique()) <= {0, 1} else "")
        levels = column.nunique()
        return f"text, {levels} value{'' if levels == 1 else 's'}"

    lines = [
        f"# Drafted by `hlm-report init {data.name}`: check every line, then",
        "#   hlm-report render THIS-FILE   (or: make report CONFIG=THIS-FILE)",
        f"# {len(frame):,} rows{' (first ' + format(MAX_ROWS, ',') + ' read)' if len(frame) == MAX_ROWS else ''}, "
        f"{len(columns)} columns:",
    ]
    for c in columns:
        notes = [kind(c)]
        if c in levels[1:] and crossed is not None:
            notes.append(f"groups crossed with {group}'s: a grouping level")
        elif c in levels[1:]:
            k = levels.index(c)
            notes.append(f"groups inside {levels[k - 1]}: a grouping level")
        if c in level2:
            notes.append(f"constant within {group}: group-level")
        if c in ids:
            notes.append("one value per row: an id, left out")
        if c in constant:
            notes.append("constant, left out")
        if c in codes:
            notes.append(f"holds {', '.join(map(str, codes[c]))}: a missing-value code?")
        lines.append(f"#   {c}: {'; '.join(notes)}")
    # the drafted outcome is no grouping candidate (scotssec offered 'verbal', its outcome)
    others = [g for g in groups if g not in (*chain, outcome) and frame[g].nunique() >= 5][:3]
    lines += [
        "",
        f"title: {_yaml(f'{outcome} across {n_groups} {group} groups')}",
        f"data: {_yaml(_data_path(data, config))}  # relative paths resolve from the project "
        "root (the folder holding _quarto.yml), else from this file's folder",
        f"outcome: {_yaml(outcome)}"
        + ("  # two values: a yes/no outcome (family: binomial below)" if binary else ""),
        f"predictors: {_yaml(predictors)}",
        *_group_lines(frame, group, levels, chain, others, crossed),
        "random_slopes: []  # predictors whose effect may differ between groups",
        'interactions: []  # e.g. ["a:b"]; a level-1 x group-level pair is cross-level',
        "contextual: []  # add group means of level-1 predictors (within/between effects)",
        "centering: {}  # {column: group} or {column: grand}",
        "levers: []  # predictors a school or district can act on (only these get advice)",
        "reference: {}  # {column: level}; default: the first level in sorted order",
        "labels: {}  # readable names, {column: 'Readable name'}",
        f"missing_values: {_yaml(missing)}  # cells read as missing"
        + ("; the codes found are added: check them" if codes else ""),
        "unit: observation  # what one row is, e.g. student",
        "# group_noun: school  # what one group is",
        f"family: {'binomial' if binary else 'gaussian'}",
        "effect_sizes: cohen  # or kraft (education benchmarks)",
        "engine: duckdb",
        "min_cell: 5  # privacy: groups with fewer rows get no row, mean or SD in tables",
        "profiles: {min_size: 10}  # groups below this get no profile and no number on the site",
        "paper: a4  # the PDF's page: a4 or letter",
        "stakeholders: []  # [{name: ..., email: ...}] for `hlm-report email`",
        "# from: Research Office <research@district.org>  # email sender (SMTP_FROM wins)",
        "# signature: Research Office  # ends every email (default: Kind regards, hlm-report)",
    ]
    if level2:
        lines.insert(
            lines.index("random_slopes: []  # predictors whose effect may differ between groups"),
            f"# group-level predictors: {', '.join(level2)}",
        )
    # values are one line (_yaml); what breaks a line now can only be a name in a comment
    return "\n".join(_one_line(line) for line in lines) + "\n"


def _group_lines(
    frame, group: str, levels: list[str], chain: list[str], others, crossed: str | None
) -> list[str]:
    """The `group:` line, and with crossed factors the `crossed: true` line saying why."""
    if crossed is None:
        return [_group_line(frame, group, levels, chain, others)]
    if len(levels) == 1:  # --group given: the crossing is only suggested
        line = _group_line(frame, group, levels, [group], others)
        return [line + f"; crossed with {crossed} (group: {_yaml(chain)} with crossed: true)"]
    shared_a, shared_b = crossing(frame, group, crossed)
    pairs = frame.groupby([group, crossed], dropna=True).ngroups
    line = (
        f"group: {_yaml(levels)}  # two crossed levels: {frame[group].nunique():,} {group} and "
        f"{frame[crossed].nunique():,} {crossed} groups in {pairs:,} observed pairs"
    )
    why = (
        f"crossed: true  # not nested: {shared_a:.0%} of {group} groups share rows with two or "
        f"more {crossed} groups and {shared_b:.0%} of {crossed} groups with two or more {group} "
        "groups, and neither's ids repeat inside the other's as labels (class 1-6 in every "
        "school would)"
    )
    return [line + (f"; other candidates: {', '.join(others)}" if others else ""), why]


def _group_line(frame, group: str, levels: list[str], chain: list[str], others) -> str:
    """The `group:` line: one column, or several levels outermost first, with their sizes."""
    n_groups = frame[group].nunique()
    if len(levels) == 1:
        line = (
            f"group: {_yaml(group)}  # {n_groups} groups, {len(frame) / n_groups:.1f} rows each "
            "on average"
        )
        if len(chain) > 1:  # --group given: the inner levels found are only suggested
            line += f"; groups inside it: {', '.join(chain[1:])} (group: {_yaml(chain)})"
    else:
        counts = [frame.groupby(levels[: k + 1]).ngroups for k in range(len(levels))]
        said = ", ".join(f"{c:,} {name}" for c, name in zip(counts, levels, strict=True))
        line = (
            f"group: {_yaml(levels)}  # levels, outermost first, each inside the one before "
            f"({said}; an inner id may repeat across outer groups); one column for two levels"
        )
    return line + (f"; other candidates: {', '.join(others)}" if others else "")


def default_config_path(data: Path) -> Path:
    folder = Path("report/configs")
    if _GLOB & set(str(data)) and not data.exists():  # lake/*.parquet: named after its folder
        data = Path(*[part for part in data.parts if not _GLOB & set(part)] or ["analysis"])
    stem = re.sub(r"[^\w.-]+", "_", data.stem).strip("._") or "analysis"
    return (folder if folder.is_dir() else Path(".")) / f"{stem}.yml"


def init_config(
    data: Path, output: Path | None = None, group: str | None = None, outcome: str | None = None
) -> Path:
    config = output or default_config_path(data)
    if config.exists() or config.is_symlink():
        raise InputError(
            f"init: {shown(config)} exists; it will not be replaced (pass --output PATH)"
        )
    if config.suffix not in (".yml", ".yaml"):
        raise InputError(f"init: --output {shown(config)} must end in .yml")
    if not config.parent.is_dir():
        raise InputError(f"init: folder {shown(config.parent)} does not exist")
    text = draft(data, config, group, outcome)
    probe = config.with_name(f".{config.name}.init-check.yml")
    try:
        probe.write_text(text, encoding="utf-8")
        load_spec(probe)  # the draft must be a config the loader accepts
    except OSError as exc:
        raise InputError(f"init: {shown(config.parent)} is not writable: {exc.strerror}") from None
    finally:
        probe.unlink(missing_ok=True)
    atomic.write_text(config, text)
    return config
