"""The figure of a group profile: every group's effect with its interval (unnamed) with one group
highlighted, and that group's rows against all rows.

The figure is drawn once; for each group only the highlighted artists change before it is saved
(160 profiles: one layout pass, 160 saves). No group is named in it: a profile is no league
table, and another group's id in the picture would publish it.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from . import fonts

HIGHLIGHT = "#0b5cad"
OTHERS = "#b9bec5"
BINS = 30


class ProfileFigure:
    """`svg(j, rows)` draws group j highlighted; `rows` are its outcome values (or None)."""

    def __init__(
        self,
        estimate: np.ndarray,
        ci_low: np.ndarray,
        ci_high: np.ndarray,
        all_rows: np.ndarray | None,
        labels: dict[str, str],
    ):
        matplotlib.rcParams["svg.hashsalt"] = "hlm-report"  # the same figure, the same bytes
        self.order = np.argsort(estimate, kind="stable")
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(1, len(estimate) + 1)
        self.estimate, self.low, self.high = estimate, ci_low, ci_high
        panels = 2 if all_rows is not None and all_rows.size else 1
        self.figure = Figure(figsize=(7.0 if panels == 2 else 4.6, 2.9), layout="constrained")
        self.figure.set_constrained_layout_pads(w_pad=0.08, h_pad=0.06)
        families = ["DejaVu Sans", *fonts.matplotlib_families()]
        axes = self.figure.subplots(1, panels, width_ratios=[1.25, 1][:panels], squeeze=False)[0]
        ax = axes[0]
        x = self.position[self.order]
        ax.vlines(x, ci_low[self.order], ci_high[self.order], color=OTHERS, linewidth=0.8)
        ax.plot(x, estimate[self.order], "o", color="#7d848c", markersize=1.8)
        ax.axhline(0, color="#333333", linewidth=0.7, linestyle=(0, (4, 3)))
        (self.bar,) = ax.plot([], [], color=HIGHLIGHT, linewidth=2.4, solid_capstyle="butt")
        (self.dot,) = ax.plot([], [], "o", color=HIGHLIGHT, markersize=6)
        ax.set_xlim(0, len(estimate) + 1)
        ax.set_xticks([])
        ax.set_xlabel(labels["caterpillar_x"], fontsize=8, family=families)
        ax.set_ylabel(labels["caterpillar_y"], fontsize=8, family=families)
        ax.set_title(labels["caterpillar_title"], fontsize=9, loc="left", family=families)
        self._plain(ax)
        self.hist_ax = None
        if panels == 2:
            hx = axes[1]
            finite = all_rows[np.isfinite(all_rows)]
            self.bins = np.histogram_bin_edges(finite, bins=BINS)
            counts, _ = np.histogram(finite, bins=self.bins, density=True)
            hx.stairs(counts, self.bins, fill=True, color=OTHERS, alpha=0.8, label=labels["all"])
            self.stairs = hx.stairs(
                np.zeros(BINS), self.bins, color=HIGHLIGHT, linewidth=1.8, label=labels["here"]
            )
            self.mean_line = hx.axvline(np.nan, color=HIGHLIGHT, linewidth=1, linestyle=":")
            self.top = float(counts.max()) if counts.size else 1.0
            hx.set_yticks([])
            hx.set_xlabel(labels["outcome"], fontsize=8, family=families)
            hx.set_title(labels["hist_title"], fontsize=9, loc="left", family=families)
            legend = hx.legend(fontsize=7, frameon=False, loc="upper left")
            for text in legend.get_texts():
                text.set_family(families)
            self._plain(hx)
            self.hist_ax = hx

    @staticmethod
    def _plain(ax) -> None:
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=7)

    def svg(self, j: int, rows: np.ndarray | None) -> str:
        x = self.position[j]
        self.bar.set_data([x, x], [self.low[j], self.high[j]])
        self.dot.set_data([x], [self.estimate[j]])
        if self.hist_ax is not None:
            values = np.array([]) if rows is None else rows[np.isfinite(rows)]
            counts = (
                np.histogram(values, bins=self.bins, density=True)[0]
                if values.size
                else np.zeros(BINS)
            )
            self.stairs.set_data(counts, self.bins)
            self.mean_line.set_xdata([values.mean()] * 2 if values.size else [np.nan] * 2)
            self.hist_ax.set_ylim(0, max(self.top, float(counts.max(initial=0))) * 1.1)
        buffer = io.StringIO()
        self.figure.savefig(buffer, format="svg", metadata={"Date": None})
        text = buffer.getvalue()
        return text[text.index("<svg") :]  # no XML prolog: the page carries it inline
