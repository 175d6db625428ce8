"""The report's words for this data: the one place that builds noun phrases.

Built once per report from the config and the Design: what one row is (`unit:`) and what one
group is (`group_noun:`), each singular and plural (plurals by the `inflect` library, or the
config's `unit_plural:` / `group_plural:`); the outcome and, for a yes/no outcome, the event as a
clause (`event_label:`); a phrase for the rows at each level of each categorical or 0/1 predictor
(`level_labels:`); and the words for what can be changed (levers) and what cannot (context).

Templates receive these phrases and never build one: a template holds no domain noun, so the
same sentences serve students in schools, women in districts and pupils in classes. Defaults
never invent a domain word the config did not give, and never turn a level into a noun
("Yes students"): an unnamed level reads "observations with Minority = Yes".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

import inflect

from ..results import Design, VariableKind

# The noun for a group when the config names none and the group column's label is not one
# plain word: neutral, never a guess at the domain.
GROUP = "group"
UNIT = "observation"
# YAML reads an unquoted yes/no/on/off/true/false key as a boolean; the spec keeps it as
# "true"/"false", and these are the data levels such a key stands for.
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


@cache
def _engine() -> inflect.engine:
    return inflect.engine()


def plural(noun: str) -> str:
    """The plural of a noun or noun phrase ("class" -> "classes", "woman" -> "women",
    "staff member" -> "staff members"), by inflect's rules and exceptions."""
    noun = " ".join(noun.split())
    last = noun.split(" ")[-1] if noun else ""
    end = last[-1:]
    # inflect reads a word without lower-case letters as written in capitals ("TAS", "학교S",
    # "Aufgabe 1S"): a noun ending in a letter without case (Korean, Chinese), an emoji, a digit
    # or a bracket has no English plural ending, so it stays (unit_plural: gives another) ...
    if not end or not (end.isalpha() and (end.isupper() or end.islower())):
        return noun
    # ... and an acronym (capitals, up to five) takes a lower-case s ("TAs", "SENCOs")
    if last.isupper() and len(last) <= 5:
        return noun + "s"
    return _engine().plural_noun(noun) or noun


def article(phrase: str) -> str:
    """The phrase with "a" or "an" by its sound ("an hour", "a university", "an 8th grader",
    "an 11-year-old", "an élève")."""
    if not phrase:
        return phrase
    digits = re.match(r"\d[\d,]*", phrase)
    if digits:
        # inflect reads numerals as "a": a number sounds with a vowel when it starts with
        # eight (8, 80, 800, 8,000) or is eleven or eighteen (thousand, million)
        d = digits.group().replace(",", "")
        vowel = d.startswith("8") or (len(d) % 3 == 2 and d[:2] in ("11", "18"))
        return f"{'an' if vowel else 'a'} {phrase}"
    # an accented first letter sounds as its base letter ("élève" as "eleve")
    first = unicodedata.normalize("NFD", phrase[:1])[:1]
    said = _engine().a(first + phrase[1:])
    return f"{said.split(' ', 1)[0]} {phrase}"


def possessive(plural_noun: str) -> str:
    """The plural's possessive: "students'", "women's", "children's"."""
    return plural_noun + ("'" if plural_noun.endswith("s") else "'s")


def upfirst(text: str) -> str:
    """The first letter in capitals, the rest untouched ("iPad users" stays as written after
    the first letter; "minority students" -> "Minority students")."""
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Noun:
    one: str
    many: str

    @property
    def a(self) -> str:
        return article(self.one)

    @property
    def One(self) -> str:  # noqa: N802 (templates read f.unit.One at a sentence start)
        return upfirst(self.one)

    @property
    def Many(self) -> str:  # noqa: N802
        return upfirst(self.many)

    @property
    def possessive(self) -> str:
        """The plural's possessive ("schools'", "women's")."""
        return possessive(self.many)

    def count(self, n: int | str) -> str:
        """'1 school', '20 schools'; n may be a formatted number ("2,774")."""
        return f"{n} {self.one if str(n) == '1' else self.many}"


def noun(one: str, many: str | None = None) -> Noun:
    one = " ".join(one.split())
    return Noun(one, " ".join(many.split()) if many else plural(one))


def derived_group_noun(label: str) -> str | None:
    """The group's noun read off its label when the config names none: a label that is one
    plain word ("School", "district") is that word in lower case; anything else ("SchoolID",
    "Socioeconomic status") is no noun, and the report says "group"."""
    if not label.isalpha() or not label[1:].islower():
        return None
    return label[0].lower() + label[1:]


def _level_key(labels: dict[str, str], level: str) -> str | None:
    """The config's key for a data level: exact, or a YAML boolean key for a yes/no level."""
    if level in labels:
        return level
    folded = level.strip().lower()
    for key in labels:
        if key.lower() == folded:
            return key
        if key == "true" and folded in _TRUE or key == "false" and folded in _FALSE:
            return key
    return None


@dataclass(frozen=True)
class LevelWords:
    """The words for one grouping level: its column, its noun and how its groups are counted."""

    column: str
    noun: Noun
    named: bool  # whether the config (or the level's label) gave a noun
    counted: str  # "schools", or "groups (SchoolID)" when no noun is known

    @property
    def at(self) -> str:
        """Where something acts or lies: "at the school level"."""
        return f"at the {self.noun.one} level"

    @property
    def changeable(self) -> str:
        return (
            f"something {self.noun.many} can change"
            if self.named
            else "something that can be changed"
        )


@dataclass(frozen=True)
class Lexicon:
    unit: Noun
    group: Noun
    # the groups in a count: "schools", or "groups (Socioeconomic status)" when no noun is known
    groups_counted: str
    group_named: bool  # whether the config (or the group's label) gave a noun
    outcome: str
    # the event of a yes/no outcome as a clause whose subject is one unit ("uses contraception",
    # or by default "has Graduated = yes"); "" for a continuous outcome
    event: str = ""
    event_named: bool = False
    # {column: {level: phrase naming the rows at that level}}
    levels: dict[str, dict[str, str]] = field(default_factory=dict)
    # the grouping levels, outermost first (one entry for a two-level model; its noun is `group`)
    tiers: tuple[LevelWords, ...] = ()

    def tier(self, column: str) -> LevelWords:
        return next(t for t in self.tiers if t.column == column)

    @property
    def event_clause(self) -> str:
        """'a woman uses contraception': the event with one unit as its subject."""
        return f"{self.unit.a} {self.event}" if self.event else ""

    @property
    def changeable(self) -> str:
        """What a lever is: "something schools can change", never a guessed actor."""
        if self.group_named:
            return f"something {self.group.many} can change"
        return "something that can be changed"

    def level(self, column: str, level: str) -> str:
        return self.levels.get(column, {}).get(str(level), "")


def _per_level(value, columns: tuple[str, ...]) -> dict[str, str]:
    """A `group_noun:` / `group_plural:` value per level column: a mapping as given, a plain
    string names the innermost level."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items() if v}
    return {columns[-1]: value} if value else {}


def level_columns(spec, design: Design) -> tuple[str, ...]:
    """The grouping columns, outermost first: the spec's levels, or the design's one group."""
    levels = getattr(spec, "levels", None)
    return tuple(levels) if levels else (design.group,)


def _tiers(spec, design: Design, label) -> tuple[LevelWords, ...]:
    columns = level_columns(spec, design)
    nouns = _per_level(getattr(spec, "group_noun", None), columns)
    plurals = _per_level(getattr(spec, "group_plural", None), columns)
    out = []
    for column in columns:
        given = nouns.get(column)
        derived = given or derived_group_noun(label(column))
        if derived is not None:
            one = noun(derived, plurals.get(column) if given else None)
            counted = one.many
        elif len(columns) == 1:
            one = noun(GROUP)
            counted = f"{one.many} ({label(column)})"
        else:
            # several unnamed levels must not all be "groups": each keeps its label beside it
            one = Noun(f"{GROUP} ({label(column)})", f"{plural(GROUP)} ({label(column)})")
            counted = one.many
        out.append(LevelWords(column, one, derived is not None, counted))
    return tuple(out)


def build(spec, design: Design, label=None) -> Lexicon:
    """The lexicon of one report. `label(column)` is the readable name of a column (the
    config's `labels:`); the spec supplies the nouns, phrases and event wording."""
    label = label or spec.label
    # growth data: a row is one measurement of an individual (the innermost level)
    default_unit = "measurement" if getattr(spec, "time", None) else UNIT
    unit = noun(
        getattr(spec, "unit", None) or default_unit, getattr(spec, "unit_plural", None) or None
    )
    tiers = _tiers(spec, design, label)
    innermost = tiers[-1]
    group, counted = innermost.noun, innermost.counted
    event_label = getattr(spec, "event_label", None)
    event = ""
    if spec.family == "binomial":
        event = event_label or f"has {label(design.outcome)} = {design.event}"
    configured = getattr(spec, "level_labels", None) or {}
    # growth data: a row is a measurement of a person (the innermost level), so a person's or a
    # group's characteristic is said of the people ("children with Home language = other"), not
    # of the measurements ("test scores in children with ...", which then "score" points)
    people = innermost.noun if getattr(spec, "time", None) else unit
    levels: dict[str, dict[str, str]] = {}
    for v in design.variables:
        if v.kind == VariableKind.CATEGORICAL:
            names = [str(x) for x in v.levels]
        elif v.binary:
            names = ["0", "1"]
        else:
            continue
        given_levels = configured.get(v.name, {})
        # the groups a group-level variable describes: those of the level it is constant at
        at = getattr(v, "level", None)
        holder = next((t.noun for t in tiers if t.column == at), group)
        # crossed factors: a variable constant within one factor's groups is theirs too ("pupils
        # in primary schools with ..."), though no level is inside the other
        of_groups = v.group_level or (
            getattr(spec, "crossed", False) and any(t.column == at for t in tiers)
        )
        phrases = {}
        for level in names:
            key = _level_key(given_levels, level)
            if key is not None:
                phrases[level] = " ".join(given_levels[key].split())
            elif of_groups and people is holder:
                phrases[level] = f"{people.many} with {label(v.name)} = {level}"
            elif of_groups:
                phrases[level] = f"{people.many} in {holder.many} with {label(v.name)} = {level}"
            else:
                phrases[level] = f"{unit.many} with {label(v.name)} = {level}"
        levels[v.name] = phrases
    return Lexicon(
        unit=unit,
        group=group,
        groups_counted=counted,
        group_named=innermost.named,
        outcome=label(design.outcome),
        event=event,
        event_named=bool(event_label),
        levels=levels,
        tiers=tiers,
    )
