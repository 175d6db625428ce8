"""What report/hlm_report.qmd calls: results loaded once, facts computed once, every section one
method away.

The report reads results.json and the row sample beside it, nothing else: the data file and the
model code stay behind the fit step. The .qmd stays a readable outline of the report; the logic
lives in tables, figures and narrative.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..results import Results, read_json
from . import figures, fmt, narrative, tables
from .facts import facts

_TABLES = {
    "descriptives": tables.descriptives,
    "categorical": tables.categorical,
    "groups": tables.groups,
    "ladder": tables.ladder,
    "comparisons": tables.comparisons,
    "selection": tables.selection,
    "attempts": tables.attempts,
    "contextual": tables.contextual,
}


class ReportDocument:
    def __init__(self, results_path: str | Path):
        self.results_path = Path(results_path)
        self.results: Results = read_json(self.results_path)
        self.facts = facts(self.results)

    @property
    def final(self):
        return self.results.final

    @cached_property
    def rows(self) -> pd.DataFrame:
        """The row sample the fit step stored beside results.json."""
        path = self.results_path.parent / self.results.sample.file
        if not path.is_file():
            raise InputError(f"row sample {path} is missing; fit again with 'hlm-report fit'")
        return pd.read_parquet(path)

    # Prose ---------------------------------------------------------------------------------
    def executive_summary(self) -> str:
        return narrative.executive_summary(self.facts)

    def health(self) -> str:
        return narrative.health_section(self.results, self.facts)

    def interpretation(self) -> str:
        return narrative.interpretation(self.facts)

    def recommendations(self) -> str:
        return narrative.recommendations_section(self.facts)

    def implications(self) -> str:
        return narrative.implications_section(self.facts)

    def data_summary(self) -> str:
        return narrative.render("data.md.j2", f=self.facts)

    def methods(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in self.results.software.items())
        return narrative.render(
            "methods.md.j2", f=self.facts, versions=fmt.md_escape(versions), final=self.final
        )

    # Tables --------------------------------------------------------------------------------
    def table(self, name: str) -> str:
        """A table by name; its cross-reference label is `tbl-NAME`."""
        label = f"tbl-{name}"
        r = self.results
        if name == "coefficients":
            return tables.coefficients(r, self.final, label)
        if name == "variance":
            return tables.variance_components(r, self.final, label)
        if name == "categorical" and not r.data.categorical:
            return ""
        return _TABLES[name](r, label)

    def effects_note(self) -> str:
        """What the model-based effects figure would show, when there is nothing to show."""
        if self.results.spec.interactions or self.results.spec.random_slopes:
            return ""
        return (
            "The configuration has no interaction and no random slope, so there are no "
            "model-based lines to draw; the coefficients above describe one common line per predictor."
        )

    # Figures -------------------------------------------------------------------------------
    def figure(self, name: str):
        r = self.results
        builders = {
            "distributions": lambda: figures.plot_distributions(r, self.rows),
            "correlations": lambda: figures.plot_correlations(r),
            "outcome_by_group": lambda: figures.plot_outcome_by_group(r, self.rows),
            "interaction": lambda: figures.plot_interaction(r, self.final),
            "actual_vs_predicted": lambda: figures.plot_actual_vs_predicted(
                r, self.rows, self.final
            ),
            "diagnostics": lambda: figures.plot_diagnostics(r, self.rows, self.final),
            "caterpillar": lambda: figures.plot_caterpillar(r, self.final),
        }
        return builders[name]()
