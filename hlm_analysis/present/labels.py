"""Readable names for variables and design terms, from the config's `labels:` and the Design."""

from __future__ import annotations

from ..results import Design, Results, TermKind


class TermLabels:
    def __init__(self, labels: dict[str, str], design: Design):
        self.labels = labels
        self.design = design

    def raw(self, column: str) -> str:
        """The column's own name (its label if given), as measured: no centring mentioned."""
        if column in self.labels:
            return self.labels[column]
        try:
            mean_of = self.design.variable(column).mean_of
        except KeyError:
            mean_of = None
        if mean_of is not None:
            return f"{self.raw(mean_of)} ({self.group_in_sentence()} mean)"
        return column

    def variable(self, column: str) -> str:
        """The name of the variable as it enters the model: centring is part of what it is."""
        try:
            centering = self.design.variable(column).centering
        except KeyError:
            centering = None
        if centering == "group":
            return f"{self.raw(column)} relative to the {self.group_in_sentence()} mean"
        if centering == "grand":
            return f"{self.raw(column)} (centred at the overall mean)"
        return self.raw(column)

    def groups_phrase(self) -> str:
        """The groups as a plural noun: 'schools' for a one-word name like 'School', else
        'groups (SchoolID)'."""
        name = self.group_in_sentence()
        if name == "group":
            return f"groups ({self.raw(self.design.group)})"
        return plural(name)

    def group_in_sentence(self) -> str:
        """The group's name inside a sentence: 'School' reads 'school'; a name that is not one
        plain word ('SchoolID', 'Socioeconomic status') reads 'group'."""
        name = self.raw(self.design.group)
        if not name.isalpha() or not name[1:].islower():
            return "group"
        return name[0].lower() + name[1:]

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
    return TermLabels(results.spec.labels, results.design)


def plural(noun: str) -> str:
    """English plural of a simple noun (the last word of a phrase)."""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"
