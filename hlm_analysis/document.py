"""What report/hlm_report.qmd calls: results loaded once, every section one method away.

The .qmd stays a readable outline of the report; the logic lives in tables, figures and narrative.
"""

from __future__ import annotations

from pathlib import Path

from . import figures, fmt, narrative, tables
from .data import prepare
from .labels import labels_for
from .results import Results, read_json
from .spec import REPO_ROOT, load_spec


class ReportDocument:
    def __init__(self, config: str | Path, results_path: str | Path | None = None):
        config = Path(config)
        if not config.is_absolute() and not config.exists():
            config = REPO_ROOT / config  # Quarto runs cells in report/, not in the repository root
        self.spec = load_spec(config)
        if results_path:
            self.results: Results = read_json(Path(results_path))
        else:
            from .analysis import run_analysis

            self.results = run_analysis(self.spec)
        self.frame = prepare(self.spec).frame
        self.labels = labels_for(self.results)

    @property
    def final(self):
        return self.results.main_model

    # Prose ---------------------------------------------------------------------------------
    def executive_summary(self) -> str:
        return narrative.executive_summary(self.results)

    def health(self) -> str:
        return narrative.health_section(self.results)

    def interpretation(self) -> str:
        return narrative.interpretation(self.results)

    def recommendations(self) -> str:
        return narrative.recommendations_section(self.results)

    def implications(self) -> str:
        return narrative.implications_section(self.results)

    def data_summary(self) -> str:
        return narrative.render("data.md.j2", f=narrative.facts(self.results))

    def methods(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in self.results.software.items())
        return narrative.render(
            "methods.md.j2",
            f=narrative.facts(self.results),
            versions=fmt.md_escape(versions),
            final=self.final,
        )

    # Tables --------------------------------------------------------------------------------
    def table(self, name: str) -> str:
        r = self.results
        builders = {
            "descriptives": lambda: tables.descriptives(r),
            "categorical": lambda: tables.categorical(r) if r.data["categorical"] else "",
            "groups": lambda: tables.groups(r),
            "ladder": lambda: tables.ladder(r),
            "coefficients": lambda: tables.coefficients(r, self.final, "tbl-coefficients"),
            "variance": lambda: tables.variance_components(r, self.final, "tbl-variance"),
            "comparisons": lambda: tables.comparisons(r),
            "selection": lambda: tables.selection(r),
            "attempts": lambda: tables.attempts(r),
            "contextual": lambda: tables.contextual(r),
        }
        return builders[name]()

    def effects_note(self) -> str:
        """What the model-based effects figure would show, when there is nothing to show."""
        if self.results.spec.get("interactions") or self.results.spec.get("random_slopes"):
            return ""
        return (
            "The configuration has no interaction and no random slope, so there are no "
            "model-based lines to draw; the coefficients above describe one common line per predictor."
        )

    # Figures -------------------------------------------------------------------------------
    def figure(self, name: str):
        r = self.results
        builders = {
            "distributions": lambda: figures.plot_distributions(r, self.frame),
            "correlations": lambda: figures.plot_correlations(r),
            "outcome_by_group": lambda: figures.plot_outcome_by_group(r, self.frame),
            "interaction": lambda: figures.plot_interaction(r, self.final),
            "actual_vs_predicted": lambda: figures.plot_actual_vs_predicted(r),
            "diagnostics": lambda: figures.plot_diagnostics(r, self.final),
            "caterpillar": lambda: figures.plot_caterpillar(r, self.final),
        }
        return builders[name]()
