"""Readable names for design terms, from the config's `labels:` and the categorical levels."""

from __future__ import annotations

import re

from .data import contextual_name

_DUMMY = re.compile(r"^(?P<var>.+)\[T\.(?P<level>.*)\]$")


class TermLabels:
    def __init__(self, spec: dict, categorical: dict[str, list[dict]]):
        self.labels = spec.get("labels", {})
        self.reference = {var: levels[0]["level"] for var, levels in categorical.items() if levels}
        self.contextual = {contextual_name(c): c for c in spec.get("contextual", [])}

    def variable(self, column: str) -> str:
        if column in self.labels:
            return self.labels[column]
        if column in self.contextual:
            return f"{self.variable(self.contextual[column])} (group mean)"
        return column

    def term(self, term: str, with_reference: bool = True) -> str:
        if term in ("Intercept", "(Intercept)"):
            return "Intercept"
        if ":" in term:
            return " \u00d7 ".join(
                self.term(part, with_reference=False) for part in term.split(":")
            )
        match = _DUMMY.match(term)
        if match:
            var, level = match["var"], match["level"]
            ref = self.reference.get(var)
            suffix = f" (vs {ref})" if with_reference and ref is not None else ""
            return f"{self.variable(var)}: {level}{suffix}"
        return self.variable(term)

    def dummy_parts(self, term: str) -> tuple[str, str, str] | None:
        """(variable label, level, reference level) for a dummy term, else None."""
        match = _DUMMY.match(term)
        if not match or ":" in term:
            return None
        return self.variable(match["var"]), match["level"], self.reference.get(match["var"], "")


def labels_for(results) -> TermLabels:
    return TermLabels(results.spec, results.data.get("categorical", {}))
