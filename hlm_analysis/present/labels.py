"""Readable names for variables and design terms, from the config's `labels:` and the Design."""

from __future__ import annotations

from ..results import Design, Results, TermKind
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
