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
from ..results import Reference, Results, read_json
from . import alt_text, captions, figures, fmt, narrative, tables
from .facts import facts
from .labels import labels_for

_TABLES = {
    "descriptives": tables.descriptives,
    "categorical": tables.categorical,
    "groups": tables.groups,
    "levels": tables.levels_table,
    "ladder": tables.ladder,
    "comparisons": tables.comparisons,
    "selection": tables.selection,
    "attempts": tables.attempts,
    "contextual": tables.contextual,
    "simple_slopes": tables.simple_slopes,
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
        text = narrative.render("data.md.j2", f=self.facts)
        return text + self._one_correlation()

    def _one_correlation(self) -> str:
        """With two numeric variables the one correlation is a sentence (figures.plot_correlations
        draws no heatmap for it)."""
        corr = self.results.data.correlations
        if corr is None or len(corr.variables) != 2:
            return ""
        a, b = (fmt.md_escape(labels_for(self.results).raw(v)) for v in corr.variables)
        r = fmt.num(corr.matrix[0][1], 2)
        return f"{a} and {b} correlate at r = {r} (Pearson).\n"

    def methods(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in self.results.software.items())
        # The fit step notes where the final model's robust SEs or variance intervals are not
        # the default ones (CR1 from group sums, Wald beyond 80 groups, none with few groups):
        # the methods then say what was done instead of the default sentence.
        notes = self.final.notes
        return narrative.render(
            "methods.md.j2",
            f=self.facts,
            versions=fmt.md_escape(versions),
            final=self.final,
            robust_noted=any("cluster-robust" in n.lower() for n in notes),
            intervals_noted=any(
                "intervals for the variance components" in n.lower()
                or "intervals of the variance components" in n.lower()
                for n in notes
            ),
            final_notes=fmt.md_escape(" ".join(notes)),
            # a ladder step tested against the naive chi2 (several variances added at once)
            conservative_lrt=any(
                c.p_value_method == Reference.CHI_SQUARE_CONSERVATIVE
                for c in self.results.comparisons
            ),
            # a whole level with slopes dropped in the variance table's test (naive chi2 too)
            conservative_level=any(
                t.p_value_method == Reference.CHI_SQUARE_CONSERVATIVE
                for t in self.results.component_tests
            ),
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
        if name == "descriptives" and len(getattr(r.spec, "levels", ())) > 1:
            return tables.descriptives(r, label, self.rows)  # outer levels' own variables
        if name == "categorical" and not r.data.categorical:
            return ""
        return _TABLES[name](r, label)

    def effects_note(self) -> str:
        """What the model-based effects figures would show, when there is nothing to show."""
        if self.results.spec.interactions or len(self.final.random_terms) > 1:
            return ""
        return (
            "The final model has no interaction and no random slope, so there are no "
            "model-based lines to draw; the coefficients above describe one common line per predictor."
        )

    def diagnostics_intro(self) -> str:
        if self.final.is_binomial:
            return (
                "@fig-calibration compares predicted probabilities with observed shares; "
                "@fig-binned checks the fit across the range of predictions (for a yes/no "
                "outcome, residuals are not expected to be normal, so there are no QQ plots)."
            )
        return (
            "@fig-observed compares predictions with observed values; @fig-diagnostics checks "
            "the assumptions of the reported model."
        )

    def sample_note(self) -> str:
        """Said when figures that need rows draw a sample rather than every row."""
        sample = self.results.sample
        if not sample.is_sample:
            return ""
        return (
            f"Figures that show individual {self.facts['units']} draw a random sample of "
            f"{fmt.integer(sample.n_rows)} of the {fmt.integer(sample.n_obs)} rows (seed "
            f"{sample.seed}); every estimate and test uses all rows (only the medians of the data "
            "table come from the sample)."
        )

    # Figures -------------------------------------------------------------------------------
    def figure(self, name: str):
        r = self.results
        builders = {
            "distributions": lambda: figures.plot_distributions(r, self.rows),
            "correlations": lambda: figures.plot_correlations(r),
            "group_boxes": lambda: figures.plot_group_boxes(r, self.rows),
            "group_means": lambda: figures.plot_group_means(r),
            "interaction": lambda: figures.plot_interaction(r, self.final),
            "group_slopes": lambda: figures.plot_group_slopes(r, self.final),
            "actual_vs_predicted": lambda: figures.plot_actual_vs_predicted(
                r, self.rows, self.final
            ),
            "diagnostics": lambda: figures.plot_diagnostics(r, self.rows, self.final),
            "caterpillar": lambda: figures.plot_caterpillar(r, self.final),
            "trajectories": lambda: figures.plot_trajectories(r, self.rows, self.final),
            "calibration": lambda: figures.plot_calibration(r, self.rows, self.final),
            "binned_residuals": lambda: figures.plot_binned_residuals(r, self.rows, self.final),
            "probabilities": lambda: figures.plot_probabilities(r, self.final),
        }
        figure = builders[name]()
        if figure is None:
            return None
        # shown as PNG with the alt text that states what it shows and its key numbers, and the
        # caption that says what this report's figure shows (levels, nouns, outcome type)
        return alt_text.Described(
            figure,
            alt_text.describe(name, r, self.final, self.rows),
            captions.caption(name, r, self.final),
        )
