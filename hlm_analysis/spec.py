"""The analysis specification: one YAML config, validated once at the edge.

Everything downstream receives a `Spec`, never the raw YAML, so a typo in a key or a wrong type
is reported here with the file and the key named, before any data is read.
"""

from __future__ import annotations

import datetime as dt
import difflib
import email.utils
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import addresses, yaml_config
from .errors import InputError, problems_error

# Relative paths in a config resolve as in a Quarto project: against the nearest folder above the
# config that holds this file, else against the config's own folder.
PROJECT_MARKER = "_quarto.yml"
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
# Cells read as missing unless the config says otherwise. Only these: pandas' longer default list
# (which also holds "null", "None", "n/a", "-NaN", ...) would make values vanish silently.
DEFAULT_MISSING_VALUES = ("", "NA", "N/A", "NaN", ".")
# A config is a handful of keys, a list of stakeholders at most two levels down. PyYAML composes
# nodes recursively, so a file of thousands of nested brackets would end in a RecursionError; the
# depth is measured on the (iterative) event stream first.
MAX_CONFIG_DEPTH = 32


def shown(text: object) -> str:
    """User text for a one-line message: as it is when printable, else escaped like repr()."""
    text = str(text)
    return text if text.isprintable() else repr(text)[1:-1]


def quoted(text: object) -> str:
    """User text in quotes for a one-line message ('math'); odd characters escaped as repr()."""
    text = str(text)
    return f"'{text}'" if text.isprintable() else repr(text)


def reads_as_number(text: str) -> bool:
    """Whether Python reads the text as a float ("12", " 1e3", "nan", "inf" alike)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


MAX_LEVELS = 4  # grouping levels in `group:` (issue 22)

BLANK = "is empty or only spaces, which would leave a gap wherever it is shown; write the text"


def _not_blank(text: str) -> str:
    # `unit: " "` passes a length check and leaves 'the 40 s' in every sentence that uses it
    if not text.strip():
        raise ValueError(BLANK)
    return text


# the text of a noun, label, title or email line: at least one visible character
ShownText = Annotated[str, AfterValidator(_not_blank)]


class Profiles(BaseModel):
    """`profiles:` settings of `hlm-report profiles` (one page per group)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # groups with fewer rows get no profile and no numbers in profiles/index.json
    min_size: int = Field(default=10, ge=1, strict=True)
    # several levels: whose groups get profiles (a `group:` column; default the outermost)
    level: str | None = Field(default=None, min_length=1)


class Stakeholder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ShownText
    email: str
    role: ShownText | None = None
    # a group id: this person gets that group's profile (`hlm-report profiles`) instead of the
    # report, and the report too with `report: true`
    group: str | None = Field(default=None, min_length=1)
    # strict: a quoted "yes" or a 1 is text or a number, not a flag (refused, not read as true)
    report: bool | None = Field(default=None, strict=True)

    @field_validator("group", mode="before")
    @classmethod
    def _group_id_as_text(cls, value):
        # YAML reads `group: 1224` as a number; ids are compared as the data's text, in NFC
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        return unicodedata.normalize("NFC", value) if isinstance(value, str) else value

    @property
    def gets_report(self) -> bool:
        """Whether the district report goes to this person: always without `group:`."""
        return self.group is None or bool(self.report)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        if not EMAIL.fullmatch(value):
            raise ValueError(f"{quoted(value)} is not an email address")
        try:  # found here, at load, not by a failed send: what a To header can carry
            addresses.checked(value)
        except ValueError as exc:
            raise ValueError(f"{quoted(value)} cannot be sent to: {exc}") from None
        return value


class Spec(BaseModel):
    """A validated config. Paths are resolved; column names are kept as the user wrote them."""

    # YAML reads a column named 2019 or a missing-value token -99 as a number; both mean the text
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    title: ShownText
    subtitle: ShownText | None = None
    author: ShownText | None = None
    data: Path
    outcome: str
    predictors: list[str] = Field(default_factory=list)
    # one column, or a list of 1-4 columns, outermost level first (issue 22); inner ids are
    # scoped by the outer ones. A one-element list is read as the plain name.
    group: str | list[str]
    # two levels whose groups are crossed (a pupil's primary and secondary school), not nested
    crossed: bool = Field(default=False, strict=True)  # strict: `crossed: "no"` is no flag
    # a list: slopes at the innermost level; a mapping {level column: [variables]}
    random_slopes: list[str] | dict[str, list[str]] = Field(default_factory=list)
    # the level-1 time variable of growth data (numeric); a predictor, added first if not listed
    time: str | None = None
    interactions: list[str] = Field(default_factory=list)
    stakeholders: list[Stakeholder] = Field(default_factory=list)
    labels: dict[str, ShownText] = Field(default_factory=dict)
    # {variable: how}: "grand" (the overall mean), "group" (the innermost level's groups), or a
    # level column of `group` (that level's groups' means, e.g. {ses: school}). A level form is
    # kept in `_centering_levels` and read by `centering_level()`; here it becomes the data
    # stage's first step: "group" for the innermost level of nested levels, else "grand" (the
    # level's means are then taken off the grand-centred column from the cell sums,
    # data/outer_means.centre_at_levels)
    centering: dict[str, str] = Field(
        default_factory=dict,
        description="{variable: 'grand' | 'group' | a level column of group}: centred on the "
        "overall mean, the innermost level's group means, or that level's group means",
    )
    _centering_levels: dict[str, str] = PrivateAttr(default_factory=dict)
    contextual: list[str] = Field(default_factory=list)
    # `contextual: {level: [vars]}`: the innermost level's entry becomes `contextual` (the list
    # form's meaning); the outer levels' means are kept here, out of the echoed config
    _contextual_outer: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    # cells of the data file that mean "missing" (CSV, and text columns of Parquet)
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    # values of a numeric column that look like missing-value codes (-99, 999 far outside its
    # other values) but are real, {column: [values]}: the data stage refuses such a code unless
    # it is listed here (a value) or in missing_values (a missing cell)
    not_missing: dict[str, list[float]] = Field(default_factory=dict)
    # predictors a school or district can act on (a subset of predictors)
    levers: list[str] = Field(default_factory=list)
    # the reference level of text predictors (default: the first level in sorted order, as R)
    reference: dict[str, str] = Field(default_factory=dict)
    # what one row is, in the report's sentences ("student", "pupil", "woman", ...); the default
    # invents no domain
    unit: ShownText = Field(default="observation", min_length=1, max_length=40)
    # the plural when inflect's is not the one wanted ("staff" for "staff")
    unit_plural: ShownText | None = Field(default=None, min_length=1, max_length=40)
    # what one group is ("school", "district"), and its plural; default: the group column's
    # label when that is one plain word, else "group"
    # with several levels: a mapping {level column: noun}; a plain noun names the innermost level
    group_noun: str | dict[str, str] | None = None
    group_plural: str | dict[str, str] | None = None
    # the question the summary answers first: a predictor or an interaction ("cses:sector")
    question: str | None = None
    # {column: {level: phrase}}: words for the rows at each level of a categorical or 0/1
    # predictor ("minority students"); unnamed levels read "students with Minority = Yes"
    level_labels: dict[str, dict[str, ShownText]] = Field(default_factory=dict)
    # the event of a yes/no outcome as a predicate of one row ("uses contraception")
    event_label: ShownText | None = Field(default=None, min_length=1, max_length=80)
    # effect-size benchmarks: Cohen (1988) or Kraft (2020, education interventions)
    effect_sizes: Literal["cohen", "kraft"] = "cohen"
    name: ShownText = "report"
    # where the data are read and reduced: DuckDB in this process (the default), or Spark
    # (SPARK_MASTER, default local[*]) for data on a cluster
    engine: Literal["duckdb", "spark"] = "duckdb"
    # the outcome's distribution: gaussian (linear mixed models) or binomial (a yes/no outcome,
    # multilevel logistic models); `event` names the level counted as 1 when the outcome is text
    # (default: the second level in sorted order, as R's factor coding makes it)
    family: Literal["gaussian", "binomial"] = "gaussian"
    event: str | None = None
    # quadrature points per group for binomial models: 1 is the Laplace approximation (glmer's
    # default); more (adaptive Gauss-Hermite) only with a random intercept alone
    nagq: int = Field(default=1, ge=1, le=25, strict=True)  # strict: `nagq: on` is no 1
    # privacy: groups with fewer rows than this get no row, mean or SD in any published table
    # or figure (the models still use every row)
    min_cell: int = Field(default=5, ge=1, strict=True)  # strict: `min_cell: yes` is no 1
    profiles: Profiles = Field(default_factory=Profiles)
    # the PDF's page size: a4, or letter (what US districts print on)
    paper: Literal["a4", "letter"] = "a4"
    # email: the sender ("Research Office <research@district.org>"; SMTP_FROM, when set, wins)
    # and the lines that end each message (default "Kind regards, hlm-report")
    sender: str | None = Field(default=None, alias="from")
    signature: ShownText | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("sender")
    @classmethod
    def _valid_sender(cls, value: str | None) -> str | None:
        # found at load, not when the first message is built
        if value is None:
            return value
        if any(ch in value for ch in "\r\n"):
            raise ValueError("a sender is one line: 'Name <address>' or an address")
        name, address = email.utils.parseaddr(value)
        if not EMAIL.fullmatch(address or ""):
            raise ValueError(f"{quoted(value)} is not an email address ('Name <address>')")
        try:
            addresses.checked(address)
        except ValueError as exc:
            raise ValueError(f"{quoted(value)} cannot be sent from: {exc}") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _names_in_nfc(cls, value):
        # Column names, levels and group ids compare in Unicode's composed form (NFC), as the
        # data readers normalise headers and text cells: 'Größe' typed composed matches a
        # header saved decomposed (macOS). Paths (data:) are left as written.
        if not isinstance(value, dict):
            return value

        def nfc(item):
            if isinstance(item, str):
                return unicodedata.normalize("NFC", item)
            if isinstance(item, list):
                return [nfc(v) for v in item]
            if isinstance(item, dict):
                return {nfc(k): nfc(v) for k, v in item.items()}
            return item

        names = ("outcome", "group", "predictors", "random_slopes", "interactions", "contextual",
                 "levers", "question", "event", "labels", "centering", "reference",
                 "level_labels", "time", "not_missing")  # fmt: skip
        return {k: nfc(v) if k in names else v for k, v in value.items()}

    @model_validator(mode="wrap")
    @classmethod
    def _contextual_by_level(cls, value, handler):
        # the mapping form of `contextual:` (issue 22): the innermost level's variables are the
        # list form; the outer levels' ride beside the validated config (a private attribute)
        outer: dict[str, list[str]] = {}
        if isinstance(value, dict) and isinstance(value.get("contextual"), dict):
            value, mapping = dict(value), value["contextual"]
            group = value.get("group")
            levels = [str(g) for g in (group if isinstance(group, list) else [group])]
            nfc = unicodedata.normalize
            levels = [nfc("NFC", g) for g in levels]
            where = ", ".join(quoted(g) for g in levels)
            chosen: dict[str, list[str]] = {}
            for level, names in mapping.items():
                level = nfc("NFC", str(level))
                if level not in levels:
                    raise ValueError(
                        f"contextual: {quoted(level)} is not a level of group ({where})"
                    )
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise ValueError(f"contextual: {quoted(level)}: expected a list of predictors")
                chosen[level] = [nfc("NFC", n) for n in names]
            value["contextual"] = chosen.pop(levels[-1], [])
            outer = {level: names for level, names in chosen.items() if names}
        spec = handler(value)
        for level, names in outer.items():
            if spec.crossed:
                raise ValueError(
                    f"contextual: {quoted(level)}: group means are not supported with crossed "
                    "levels (a row belongs to two groups that do not nest)"
                )
            for name in names:
                if name not in spec.predictors:
                    raise ValueError(
                        f"contextual: {quoted(level)}: {quoted(name)} is not a predictor (a "
                        "contextual effect is the between-group slope beside its within slope)"
                    )
            if len(set(names)) < len(names):
                raise ValueError(f"contextual: {quoted(level)}: a variable is listed twice")
        spec._contextual_outer = outer
        return spec

    @model_validator(mode="wrap")
    @classmethod
    def _centering_by_level(cls, value, handler):
        # `centering: {x: school}` (issue 22 follow-up): a level column names whose groups' mean
        # is taken off; see the `centering` field for what the rest of the code then sees
        chosen: dict[str, str] = {}
        if isinstance(value, dict) and isinstance(value.get("centering"), dict):
            nfc = unicodedata.normalize
            group, crossed = value.get("group"), value.get("crossed") is True
            levels = [nfc("NFC", str(g)) for g in (group if isinstance(group, list) else [group])]
            where = ", ".join(quoted(g) for g in levels)
            given = {nfc("NFC", str(k)): v for k, v in value["centering"].items()}
            internal = {}
            for name, how in given.items():
                how = nfc("NFC", how) if isinstance(how, str) else how
                if not isinstance(how, str) or how in ("group", "grand"):
                    internal[name] = how
                elif how not in levels:
                    raise ValueError(
                        f"key 'centering.{shown(name)}': {quoted(how)} is not 'group', 'grand' "
                        f"or a level of group ({where})"
                    )
                elif len(levels) == 1:
                    internal[name] = "group"  # the one level: the plain form
                else:
                    chosen[name] = how
                    inner = how == levels[-1] and not crossed  # the cells' own means
                    internal[name] = "group" if inner else "grand"
            value = {**value, "centering": internal}
        spec = handler(value)
        spec._centering_levels = chosen
        means = {**spec.contextual_outer, spec.levels[-1]: list(spec.contextual)} if chosen else {}
        for level, names in means.items():
            for name in names:
                at = chosen.get(name)
                if at is not None and spec.levels.index(level) > spec.levels.index(at):
                    raise ValueError(
                        f"contextual: {quoted(level)}: {quoted(name)} is centred at "
                        f"{quoted(at)}, an outer level, so its {quoted(level)} mean has no "
                        f"clean within/between reading; centre it at {quoted(level)} or list its "
                        f"mean at {quoted(at)} or above"
                    )
        return spec

    @model_validator(mode="before")
    @classmethod
    def _levels_as_written(cls, value):
        # `group: [school]` means `group: school`: a one-level config is one code path, and
        # serialises as it always did. `time:` is a predictor; listed first when not listed.
        if not isinstance(value, dict):
            return value
        value = dict(value)
        group = value.get("group")
        if isinstance(group, list) and len(group) == 1 and isinstance(group[0], str | int):
            value["group"] = group = str(group[0])
        if isinstance(group, str | int) and not isinstance(group, bool):
            # one level: `{school: [ses]}` is `[ses]` (and a noun mapping its noun), so the
            # one-level code reads a plain list as it always has
            nfc = unicodedata.normalize
            for key in ("random_slopes", "group_noun", "group_plural"):
                given = value.get(key)
                if isinstance(given, dict) and [nfc("NFC", str(k)) for k in given] == [
                    nfc("NFC", str(group))
                ]:
                    value[key] = next(iter(given.values()))
        time = value.get("time")
        predictors = value.get("predictors", [])
        if isinstance(time, str) and isinstance(predictors, list):
            norm = unicodedata.normalize
            if not any(
                isinstance(p, str) and norm("NFC", p) == norm("NFC", time) for p in predictors
            ):
                value["predictors"] = [time, *predictors]
        return value

    @field_validator("level_labels", mode="before")
    @classmethod
    def _yaml_boolean_levels(cls, value):
        # YAML reads an unquoted Yes/No key as a boolean: keep it as "true"/"false" (the
        # lexicon matches those to yes/no levels) instead of refusing the config
        if isinstance(value, dict):
            return {
                column: {
                    (str(k).lower() if isinstance(k, bool) else k): v for k, v in levels.items()
                }
                if isinstance(levels, dict)
                else levels
                for column, levels in value.items()
            }
        return value

    @field_validator("group", mode="before")
    @classmethod
    def _group_shape(cls, value):
        # said here in words: pydantic would name the union's branches ('group.str')
        names = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in names):
            raise ValueError("expected a column name or a list of names, outermost level first")
        return value

    @field_validator("random_slopes", mode="before")
    @classmethod
    def _slopes_shape(cls, value):
        lists = value.values() if isinstance(value, dict) else [value]
        if not all(isinstance(v, list) for v in lists):
            raise ValueError("expected a list of predictors or a mapping {level: [predictors]}")
        return value

    @field_validator("group_noun", "group_plural")
    @classmethod
    def _noun_length(cls, value):
        # checked here rather than by Field(...) so that a mapping's nouns get the same message
        for noun in value.values() if isinstance(value, dict) else [value] if value else []:
            if not 1 <= len(noun) <= 40:
                raise ValueError("a noun must be 1 to 40 characters")
            _not_blank(noun)
        if value == "":
            raise ValueError("a noun must be 1 to 40 characters")
        return value

    @field_validator("interactions")
    @classmethod
    def _interaction_form(cls, value: list[str]) -> list[str]:
        for term in value:
            parts = [p.strip() for p in term.split(":")]
            if len(parts) < 2 or any(not p for p in parts):
                raise ValueError(f"interaction {quoted(term)} must look like 'a:b'")
        return [":".join(p.strip() for p in term.split(":")) for term in value]

    @model_validator(mode="after")
    def _roles_are_consistent(self) -> Spec:
        """A column plays one role: the outcome, the grouping variable and predictors are
        distinct, and no list names a column twice (the design would hold the column twice)."""
        outcome, levels = self.outcome, self._level_structure()
        # every problem, not the first: load_spec prints them all in one run
        problems: list[str] = []
        if outcome in levels:
            problems.append(f"outcome {quoted(outcome)} is also the grouping variable")
        slope_lists = (
            {f"random_slopes.{k}": v for k, v in self.random_slopes.items()}
            if isinstance(self.random_slopes, dict)
            else {"random_slopes": self.random_slopes}
        )
        lists = {
            "predictors": self.predictors,
            **slope_lists,
            "interactions": self.interactions,
            "contextual": self.contextual,
            "levers": self.levers,
        }
        for key, names in lists.items():
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    problems.append(f"{key}: {quoted(name)} is listed twice")
                seen.add(name)
        if outcome in self.predictors:
            problems.append(f"outcome {quoted(outcome)} is also listed as a predictor")
        for group in levels:
            if group in self.predictors:
                role = "time variable" if group == self.time else "predictor"
                problems.append(f"grouping variable {quoted(group)} is also listed as a {role}")
        for slope in self.slope_variables:
            if slope not in self.predictors:
                problems.append(
                    f"random slope {quoted(slope)} must also be listed under predictors"
                    + did_you_mean(slope, self.predictors)
                )
        for lever in self.levers:
            if lever not in self.predictors:
                problems.append(
                    f"levers: {quoted(lever)} is not a predictor"
                    + did_you_mean(lever, self.predictors)
                )
        used = {*self.predictors, *(v for t in self.interactions for v in t.split(":"))}
        for column in self.reference:
            if column not in used:
                problems.append(
                    f"reference: {quoted(column)} is not a predictor" + did_you_mean(column, used)
                )
        for term in self.interactions:
            for part in term.split(":"):
                if part == outcome or part in levels:
                    role = "outcome" if part == outcome else "grouping variable"
                    problems.append(f"interaction {quoted(term)} uses the {role} {quoted(part)}")
        for column in self.level_labels:
            if column not in used:
                problems.append(
                    f"level_labels: {quoted(column)} is not a predictor"
                    + did_you_mean(column, used)
                )
        if self.question is not None:
            parts = self.question.split(":")
            if len(parts) > 1 and not any(
                set(parts) == set(term.split(":")) for term in self.interactions
            ):
                problems.append(f"question: {quoted(self.question)} is not one of the interactions")
            if len(parts) == 1 and self.question not in used:
                problems.append(
                    f"question: {quoted(self.question)} is not a predictor"
                    + did_you_mean(self.question, used)
                )
        if self.family == "gaussian" and self.event_label is not None:
            problems.append("event_label: is for binary outcomes; add 'family: binomial'")
        if self.family == "gaussian" and self.event is not None:
            problems.append("event: is for binary outcomes; add 'family: binomial'")
        if self.family == "gaussian" and self.nagq != 1:
            problems.append("nagq: is for binary outcomes; add 'family: binomial'")
        if self.nagq > 1 and self.slope_variables:
            problems.append(
                f"nagq: {self.nagq} quadrature points need a random intercept alone; with "
                "random slopes use nagq: 1 (the Laplace approximation, as glmer)"
            )
        for key, names in (("centering", list(self.centering)), ("contextual", self.contextual)):
            for name in names:
                if name == outcome or name in levels:
                    role = "outcome" if name == outcome else "grouping variable"
                    problems.append(f"{key}: {quoted(name)} is the {role}")
        if self.time is not None and self.time == outcome:
            problems.append(f"time: {quoted(self.time)} is the outcome")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _level_structure(self) -> tuple[str, ...]:
        """The levels, checked: 1-4 distinct columns; `crossed` with two; slopes and nouns at
        levels that exist (issue 22)."""
        levels = self.levels
        where = ", ".join(quoted(g) for g in levels)
        if not levels:
            raise ValueError("group: name at least one grouping column")
        if len(levels) > MAX_LEVELS:
            raise ValueError(
                f"group: at most {MAX_LEVELS} levels are supported, {len(levels)} are listed "
                f"({where})"
            )
        for i, name in enumerate(levels):
            if name in levels[:i]:
                raise ValueError(f"group: {quoted(name)} is listed twice")
        if self.crossed and len(levels) != 2:
            raise ValueError(
                f"crossed: true needs exactly two levels in group, not {len(levels)} ({where})"
            )
        # a row of crossed factors is in two groups that do not nest: there is no one group
        # mean to centre on (the data stage centres on the innermost level's, the cells')
        centred = [c for c, how in self.centering.items() if how == "group"]
        if self.crossed and (centred or self.contextual):
            key, name = ("centering", centred[0]) if centred else ("contextual", self.contextual[0])
            raise ValueError(
                f"{key}: {quoted(name)}: group means are not supported with crossed levels (a row "
                "belongs to two groups that do not nest); centre on the grand mean instead"
            )
        for key in ("random_slopes", "group_noun", "group_plural"):
            mapping = getattr(self, key)
            for level in mapping if isinstance(mapping, dict) else ():
                if level not in levels:
                    raise ValueError(f"{key}: {quoted(level)} is not a level of group ({where})")
        return levels

    @property
    def levels(self) -> tuple[str, ...]:
        """The grouping columns, outermost first; `(group,)` for one level."""
        return (self.group,) if isinstance(self.group, str) else tuple(self.group)

    @property
    def multilevel(self) -> bool:
        """Whether there are several grouping levels (three-level, growth, crossed)."""
        return len(self.levels) > 1

    def contextual_at(self, level: str) -> list[str]:
        """The variables whose means over `level`'s groups are predictors (`contextual:`); the
        list form means the innermost level."""
        if level == self.levels[-1]:
            return list(self.contextual)
        return list(self._contextual_outer.get(level, []))

    @property
    def contextual_outer(self) -> dict[str, list[str]]:
        """Contextual means at levels above the innermost, {level: [variables]}, outermost
        first."""
        return {lv: list(self._contextual_outer[lv]) for lv in self.levels
                if lv in self._contextual_outer}  # fmt: skip

    def centering_level(self, variable: str) -> str | None:
        """The level column whose groups' mean `variable` is centred on (several levels; the
        innermost for `group`); None for one level, grand-mean centring or none."""
        if not self.multilevel:
            return None
        if variable in self._centering_levels:
            return self._centering_levels[variable]
        return self.levels[-1] if self.centering.get(variable) == "group" else None

    @property
    def centering_outer(self) -> dict[str, str]:
        """{variable: level} centred at a level whose groups are not the cells (an outer level
        of nested levels, either crossed factor): the data stage takes those means off from the
        cell sums."""
        return {name: level for name, level in self._centering_levels.items()
                if self.crossed or level != self.levels[-1]}  # fmt: skip

    def slopes_at(self, level: str) -> list[str]:
        """The random slopes at one level: a plain list means the innermost level."""
        if isinstance(self.random_slopes, dict):
            return list(self.random_slopes.get(level, []))
        return list(self.random_slopes) if level == self.levels[-1] else []

    @property
    def slope_variables(self) -> list[str]:
        """Every variable with a random slope at some level, once, innermost level first."""
        seen = [v for level in reversed(self.levels) for v in self.slopes_at(level)]
        return list(dict.fromkeys(seen))

    def noun_at(self, level: str, plural: bool = False) -> str | None:
        """`group_noun:` (`group_plural:`) of one level: a mapping's entry, or a plain noun for
        the innermost level; None when not given."""
        given = self.group_plural if plural else self.group_noun
        if isinstance(given, dict):
            return given.get(level)
        return given if level == self.levels[-1] else None

    def label(self, column: str) -> str:
        """The readable name of a column (or the column itself when no label is given)."""
        return self.labels.get(column, column)

    def to_json(self) -> dict:
        out = self.model_dump(mode="json")
        out["data"] = str(self.data)
        # keys of several levels (issue 22) only when set: a one-level config's JSON is unchanged
        for key, default in (("crossed", False), ("time", None), ("not_missing", {})):
            if out.get(key) == default:
                del out[key]
        if out.get("profiles", {}).get("level", "") is None:
            del out["profiles"]["level"]
        if self._centering_levels:  # a level form as written (the data stage's step is internal)
            out["centering"] = {name: self._centering_levels.get(name, how)
                                for name, how in self.centering.items()}  # fmt: skip
        if self._contextual_outer:  # the mapping form as written, so reading it back keeps it
            every = {**self.contextual_outer, self.levels[-1]: list(self.contextual)}
            out["contextual"] = {level: every[level] for level in self.levels if every.get(level)}
        return out


def did_you_mean(name: object, options) -> str:
    """' (did you mean 'x'?)' for the closest of `options` to a mistyped name (case ignored),
    else ''."""
    options = [str(o) for o in options]
    by_fold = {o.casefold(): o for o in options}
    close = difflib.get_close_matches(str(name).casefold(), list(by_fold), n=1, cutoff=0.6)
    return f" (did you mean {quoted(by_fold[close[0]])}?)" if close else ""


def _keys_at(loc: tuple) -> list[str]:
    """The keys the model at `loc` (a pydantic error location, the unknown key last) accepts."""
    model: type[BaseModel] = Spec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        inner = [field.annotation] if field is not None else []
        while inner and getattr(inner[0], "__args__", None) and not isinstance(inner[0], type):
            inner = list(inner[0].__args__)
        found = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        if not found:
            return []
        model = found[0]
    return [field.alias or name for name, field in model.model_fields.items()]


def _not_a_flag(value: object) -> str:
    """What a flag's value is instead of true or false, in words for the one-line message."""
    if isinstance(value, str):
        return f"the text {quoted(value)} (write true or false without quotes)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if value is None:
        return "an empty value"
    kind = {list: "a list", dict: "a mapping"}.get(type(value))
    return kind or f"{quoted(value)}"


def _describe(error: dict) -> str:
    where = shown(".".join(str(p) for p in error["loc"]))
    message = shown(error["msg"].removeprefix("Value error, "))
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'" + did_you_mean(error["loc"][-1], _keys_at(error["loc"]))
    if error["type"] == "missing":
        return f"missing required key '{where}'"
    if not where:  # checks across keys (Spec._roles_are_consistent) name their keys; one a line
        text = error["msg"].removeprefix("Value error, ")
        return "\n".join(shown(line) for line in text.split("\n"))
    value = error.get("input")
    if error["type"] == "string_type" and isinstance(value, bool | dt.date):
        # YAML 1.1 typed it (yes/No/on/off, 2024-01-01) in a key yaml_config does not keep as text
        return f"key '{where}': {message}; YAML reads it as {value!r}: write it in quotes"
    if error["type"] == "int_type" and isinstance(value, bool):
        return f"key '{where}': {message}; YAML reads it as {value!r}: write a number"
    if error["type"] == "bool_type":  # the flags are strict: only YAML's true and false
        return f"key '{where}': wants true or false, not {_not_a_flag(value)}"
    return f"key '{where}': {message}"


def _config_text(path: Path) -> str:
    """The config as text: UTF-8 (a byte-order mark is fine), no NUL bytes (UTF-16 text and
    binary files hold them, and some UTF-16 decodes as valid UTF-8)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"config file {shown(path)} could not be read: {shown(exc)}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{shown(path)}: not a UTF-8 text file") from None
    if "\x00" in text:
        raise InputError(f"{shown(path)}: not a UTF-8 text file")
    return text


def _too_deep(text: str) -> bool:
    """Whether collections nest deeper than MAX_CONFIG_DEPTH, stopping as soon as they do
    (PyYAML's scanner slows down quadratically with the depth of flow collections)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                return True
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return False


def _merged(raw: dict, overrides: dict) -> dict:
    """`render -P` values over the file's (overrides.parse): mappings merged key by key."""
    out = dict(raw)
    for key, value in overrides.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def load_spec(path: str | Path, overrides: dict | None = None) -> Spec:
    """Read and validate a config file; raise InputError naming the file and the key.
    `overrides` (render -P) are merged in first and validated with the rest."""
    path = Path(path)
    if path.is_dir():  # it exists: "not found" would send the user looking for it
        configs = sorted(p.name for p in path.glob("*.y*ml") if p.is_file())[:3]
        held = f" (the folder holds {', '.join(shown(c) for c in configs)})" if configs else ""
        raise InputError(
            f"config {shown(path)} is a folder, not a file; give the config file's path{held}"
        )
    if not path.is_file():
        raise InputError(f"config file not found: {shown(path)}")
    text = _config_text(path)
    try:
        if _too_deep(text):
            raise InputError(
                f"{shown(path)}: YAML nested more than {MAX_CONFIG_DEPTH} levels deep; "
                "a config is a mapping of keys"
            )
        # duplicate keys refused; names and text kept as written (yaml_config)
        raw = yaml_config.load(text, shown(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise InputError(f"{shown(path)}: not valid YAML{line}") from None
    except RecursionError:  # the depth check should make this unreachable; keep it one line
        raise InputError(f"{shown(path)}: YAML nested too deeply") from None
    if not isinstance(raw, dict):
        raise InputError(
            f"{shown(path)}: expected a mapping of keys such as 'data', 'outcome', 'group'"
        )
    raw.setdefault("name", path.stem)
    where = shown(path)
    if overrides:
        raw = _merged(raw, overrides)
        where += f" with -P {', '.join(sorted(overrides))}"
    problems = _problems(raw)
    if problems:
        raise problems_error(where, problems)
    spec = Spec.model_validate(raw)
    return spec.model_copy(update={"data": resolve_path(path, spec.data)})


# Keys no check across keys reads: with an error in one of these alone, the config is validated
# again without them, so the cross-key problems show in the same run. A key not listed here
# (a new one) is assumed to be read across keys, where leaving it out could invent a problem.
_STANDALONE_KEYS = frozenset(
    {"title", "subtitle", "author", "data", "stakeholders", "labels", "missing_values", "unit",
     "unit_plural", "effect_sizes", "name", "engine", "min_cell", "profiles", "paper", "from",
     "signature", "not_missing"}
)  # fmt: skip


def _problems(raw: dict) -> list[str]:
    """Every problem of the config, one line each: all of pydantic's (it checks every key), and
    the checks across keys as well when the keys in error are ones those checks do not read."""
    try:
        Spec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return []
    lines = [line for error in errors for line in _describe(error).split("\n")]
    bad = {error["loc"][0] for error in errors if error["loc"]}
    # (no key in error: the checks across keys ran and spoke, the keys being valid)
    if bad and all(key in _STANDALONE_KEYS or key not in Spec.model_fields for key in bad):
        rest = {k: v for k, v in raw.items() if k not in bad}
        try:
            Spec.model_validate(rest)
        except ValidationError as exc:
            lines += [
                line
                for error in exc.errors()
                if not error["loc"] or error["loc"][0] not in bad
                for line in _describe(error).split("\n")
            ]
    return lines


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a Quarto project file."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return None


def resolution_hint(path: Path) -> str:
    """For a data path that is not there: how a relative `data:` resolved, when through a
    project root (a config in report/configs/ beside its CSV trips on this), else ''."""
    existing = next((p for p in (path, *path.parents) if p.is_dir()), None)
    root = project_root(existing) if existing is not None else None
    if root is None:
        return ""
    return (
        f" (a relative data: path resolves from the project root {shown(root)}, the folder "
        f"holding {PROJECT_MARKER}, not from the config's folder)"
    )


def resolve_path(config: Path, value: Path) -> Path:
    """A path written in `config`: absolute as given; relative to the project root (the folder
    holding _quarto.yml) when the config lies in a Quarto project, else to the config's folder."""
    value = value.expanduser()
    if value.is_absolute():
        return value
    folder = config.resolve().parent
    return (project_root(folder) or folder) / value
