"""Readable names for variables and design terms, from the config's `labels:` and the Design."""

from __future__ import annotations

import re

from ..results import Design, Results, TermKind
from . import fmt, levels
from .lexicon import GROUP, build, derived_group_noun
from .lexicon import plural as plural  # the tables' plural of the unit: one inflection


class TermLabels:
    def __init__(
        self,
        labels: dict[str, str],
        design: Design,
        group_noun: str | None = None,
        centred_at: dict[str, str] | None = None,
    ):
        self.labels = labels
        self.design = design
        self.group_noun = group_noun
        # several levels: the noun of the level a variable is centred at, or a mean column's level,
        # when not the cells'
        self.centred_at = centred_at or {}

    def raw(self, column: str) -> str:
        """The column's own name (its label if given), as measured: no centring mentioned."""
        if column in self.labels:
            return self.labels[column]
        try:
            mean_of = self.design.variable(column).mean_of
        except KeyError:
            mean_of = None
        if mean_of is not None:
            noun = self.centred_at.get(column) or self.group_in_sentence()
            return f"{self.raw(mean_of)} ({noun} mean)"
        return column

    def variable(self, column: str) -> str:
        """The name of the variable as it enters the model: centring is part of what it is."""
        try:
            centering = self.design.variable(column).centering
        except KeyError:
            centering = None
        if centering == "group":
            noun = self.centred_at.get(column) or self.group_in_sentence()
            return f"{self.raw(column)} relative to the {noun} mean"
        if centering == "grand":
            return f"{self.raw(column)} (centred at the overall mean)"
        return self.raw(column)

    def group_in_sentence(self) -> str:
        """The group's noun inside a sentence ("school"; "group" when neither the config's
        `group_noun:` nor a one-word label names one): the lexicon's rule, for the tables."""
        return self.group_noun or derived_group_noun(self.raw(self.design.group)) or GROUP

    def term(self, term: str, with_reference: bool = True) -> str:
        t = self.design.term(term)
        if t.kind == TermKind.INTERCEPT:
            return "Intercept"
        if t.kind == TermKind.INTERACTION:
            return " \u00d7 ".join(self.term(part, with_reference=False) for part in t.parts)
        if t.kind == TermKind.DUMMY:
            reference = self.design.variable(t.variable).reference
            suffix = f" (vs {reference})" if with_reference else ""
            return f"{self.variable(t.variable)}: {t.level}{suffix}"
        return self.variable(t.variable)

    def one_unit(self, column: str | None, largest: float | None = None) -> str:
        """How one unit of the variable reads: "one percentage point" for a percentage (its label
        or name says %, percent or pct, and its values are not shares of 1: `largest` > 1),
        else "one unit"."""
        name = f"{column} {self.raw(column)}" if column else ""
        percent = re.search(r"%|\bper ?cent(age)?\b|\bpct\b", name, re.I)
        if percent and (largest is None or largest > 1):
            return "one percentage point"
        return "one unit"

    def dummy_parts(self, term: str) -> tuple[str, str, str] | None:
        """(variable label, level, reference level) for a dummy term, else None."""
        t = self.design.term(term)
        if t.kind != TermKind.DUMMY:
            return None
        return self.variable(t.variable), t.level, self.design.variable(t.variable).reference


def labels_for(results: Results) -> TermLabels:
    noun = getattr(results.spec, "group_noun", None)
    if isinstance(noun, dict):  # several levels: the tables' "group" is the innermost level
        levels = results.spec.levels
        noun = noun.get(levels[-1])
    return TermLabels(results.spec.labels, results.design, noun, centred_at(results))


def centred_at(results: Results) -> dict[str, str]:
    """{column: noun of its level} for variables centred at a level other than the cells'
    (`centering: {x: school}`: "relative to the school mean") and for means over an outer
    level's groups (`contextual: {school: [x]}`: "x (school mean)")."""
    spec, design = results.spec, results.design
    outer = dict(getattr(spec, "centering_outer", None) or {})
    if getattr(spec, "multilevel", False):
        innermost = spec.levels[-1]
        outer |= {v.name: v.level for v in design.variables
                  if v.mean_of is not None and v.level not in (None, innermost)}  # fmt: skip
    if not outer:
        return {}
    label = TermLabels(spec.labels, design).raw
    nouns = {t.column: t.noun.one for t in build(spec, design, label).tiers}
    return {column: nouns[level] for column, level in outer.items() if level in nouns}


def per_group(results: Results, column: str) -> bool:
    """Whether the data table describes the variable with one value per group (its mean there
    is over the groups, not over the rows)."""
    if column in (getattr(results.data, "group_level", None) or {}):
        return True
    return levels.multilevel(results) and levels.variable_column(results, column) is not None


def slope_point(results: Results, s) -> tuple[str, str]:
    """(where, value) of a simple slope read at a numeric moderator's mean or mean +- 1 SD:
    ("mean over students", "0.00"). The model's mean and SD are over the rows; for a variable
    the data table gives one value per group (its mean there over the groups: hsb82's school
    mean SES, -0.006 over schools, 0.000143 over students) the mean is said to be over the rows.
    The value is printed to the precision of the moderator's SD (0.000143 with SD 0.414 is
    0.00: zero at that scale; two figures of the SD, as a mean beside its SD)."""
    where = s.moderator_value
    if where == "mean" and per_group(results, s.moderator):
        unit = build(results.spec, results.design, labels_for(results).raw).unit
        where = f"mean over {unit.many}"
    points = {
        o.moderator_value: o.moderator_number
        for o in results.simple_slopes
        if o.interaction == s.interaction and o.moderator_number is not None
    }
    mean, high = points.get("mean"), points.get("mean + 1 SD")
    sd = high - mean if mean is not None and high is not None else None
    if s.moderator_number is None:
        return where, ""
    return where, fmt.to_error(s.moderator_number, sd)
