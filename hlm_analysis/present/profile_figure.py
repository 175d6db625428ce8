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
GRID = 160  # points of the density curves
RASTER_ABOVE = 200  # groups beyond which the others' intervals are drawn as an image


class ProfileFigure:
    """`svg(j, rows)` is the figure with group j highlighted; `rows` are its outcome values.

    matplotlib draws everything common to all profiles once (axes, every group unnamed, all
    rows); a profile's own marks (its interval, its rows' histogram and mean) are written into
    a copy of that SVG in the axes' coordinates. Text layout is most of matplotlib's time: laid
    out per profile, 160 profiles spent 80 s of a loaded 2-core machine in savefig alone.
    """

    def __init__(
        self,
        estimate: np.ndarray,
        ci_low: np.ndarray,
        ci_high: np.ndarray,
        all_rows: np.ndarray | None,
        labels: dict[str, str],
        group_rows: list[np.ndarray] | None = None,
    ):
        matplotlib.rcParams["svg.hashsalt"] = "hlm-report"  # the same figure, the same bytes
        self.order = np.argsort(estimate, kind="stable")
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(1, len(estimate) + 1)
        self.estimate, self.low, self.high = estimate, ci_low, ci_high
        panels = 2 if all_rows is not None and np.isfinite(all_rows).any() else 1
        # 72 dpi: the SVG's own unit (points), so display coordinates are SVG coordinates
        self.figure = Figure(
            figsize=(7.0 if panels == 2 else 4.6, 2.6), dpi=72, layout="constrained"
        )
        self.figure.get_layout_engine().set(w_pad=0.08, h_pad=0.06)
        families = ["DejaVu Sans", *fonts.matplotlib_families()]
        axes = self.figure.subplots(1, panels, width_ratios=[1.25, 1][:panels], squeeze=False)[0]
        ax = self.cat_ax = axes[0]
        x = self.position[self.order]
        # many groups: the unnamed intervals as one embedded image, not a vector path each
        # (1,351 schools made every page's SVG 394 KB; the site holds one per profile)
        many = len(estimate) > RASTER_ABOVE
        ax.vlines(
            x, ci_low[self.order], ci_high[self.order], color=OTHERS, linewidth=0.8, rasterized=many
        )
        ax.plot(x, estimate[self.order], "o", color="#7d848c", markersize=1.8, rasterized=many)
        ax.axhline(0, color="#333333", linewidth=0.7, linestyle=(0, (4, 3)))
        ax.set_xlim(0, len(estimate) + 1)
        ax.set_xticks([])
        ax.set_xlabel(labels["caterpillar_x"], fontsize=8, family=families)
        ax.set_ylabel(labels["caterpillar_y"], fontsize=8, family=families)
        ax.set_title(labels["caterpillar_title"], fontsize=9, loc="left", family=families)
        self._plain(ax)
        self.hist_ax = None
        if panels == 2:
            hx = self.hist_ax = axes[1]
            finite = all_rows[np.isfinite(all_rows)]
            low, high = np.quantile(finite, [0.001, 0.999]) if finite.size else (0.0, 1.0)
            pad = 0.05 * (high - low or 1.0)
            self.grid = np.linspace(low - pad, high + pad, GRID)
            density = self._density(finite)
            hx.fill_between(self.grid, density, color=OTHERS, alpha=0.8, label=labels["all"])
            hx.plot([], [], color=HIGHLIGHT, linewidth=1.8, label=labels["here"])  # legend only
            # one scale for every profile: the highest curve of any group fits
            top = float(density.max(initial=0))
            for values in group_rows or []:
                if values.size:
                    top = max(top, float(self._density(values).max(initial=0)))
            hx.set_xlim(self.grid[0], self.grid[-1])
            hx.set_ylim(0, (top or 1.0) * 1.25)  # room for the legend above the curves
            hx.set_yticks([])
            hx.set_xlabel(labels["outcome"], fontsize=8, family=families)
            hx.set_title(labels["hist_title"], fontsize=9, loc="left", family=families)
            legend = hx.legend(fontsize=7, frameon=False, loc="upper left")
            for text in legend.get_texts():
                text.set_family(families)
            self._plain(hx)
        buffer = io.StringIO()
        # an image of the intervals (many groups) at 3x the points: sharp when printed
        self.figure.savefig(buffer, format="svg", metadata={"Date": None}, dpi=216)
        self.figure.set_layout_engine("none")  # the axes stay where the saved drawing has them
        text = buffer.getvalue()
        text = text[text.index("<svg") :]  # no XML prolog: pages carry the figure inline
        self.head, self.tail = text[: text.rindex("</svg>")], text[text.rindex("</svg>") :]
        self.height = self.figure.bbox.height

    @staticmethod
    def _plain(ax) -> None:
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=7)

    def _density(self, values: np.ndarray) -> np.ndarray:
        """A Gaussian kernel density on the grid, Scott's bandwidth (a histogram of a
        group's 20 rows is mostly noise: its spikes set the scale and flattened the rest)."""
        values = values[np.isfinite(values)]
        if values.size < 2 or np.ptp(values) == 0:
            return np.zeros_like(self.grid)
        bandwidth = 1.06 * np.std(values, ddof=1) * values.size ** (-1 / 5)
        out = np.zeros_like(self.grid)
        for start in range(0, values.size, 4096):  # bounded memory for large samples
            z = (self.grid[:, None] - values[None, start : start + 4096]) / bandwidth
            out += np.exp(-0.5 * z * z).sum(axis=1)
        return out / (values.size * bandwidth * np.sqrt(2 * np.pi))

    def _points(self, ax, xs, ys) -> str:
        """Data coordinates of `ax` as SVG points (y down from the top)."""
        xy = ax.transData.transform(np.column_stack([xs, ys]))
        return " ".join(f"{x:.2f},{self.height - y:.2f}" for x, y in xy)

    def svg(self, j: int, rows: np.ndarray | None) -> str:
        x = self.position[j]
        line = self._points(self.cat_ax, [x, x], [self.low[j], self.high[j]])
        (cx, cy) = self._points(self.cat_ax, [x], [self.estimate[j]]).split(",")
        marks = [
            f'<polyline points="{line}" fill="none" stroke="{HIGHLIGHT}" stroke-width="2.4"/>',
            f'<circle cx="{cx}" cy="{cy}" r="3" fill="{HIGHLIGHT}"/>',
        ]
        if self.hist_ax is not None and rows is not None:
            values = rows[np.isfinite(rows)]
            if values.size:
                curve = self._points(self.hist_ax, self.grid, self._density(values))
                marks.append(
                    f'<polyline points="{curve}" fill="none" stroke="{HIGHLIGHT}" '
                    'stroke-width="1.8" stroke-linejoin="round"/>'
                )
                mean = float(values.mean())
                bottom, top = self.hist_ax.get_ylim()
                dotted = self._points(self.hist_ax, [mean, mean], [bottom, top])
                marks.append(
                    f'<polyline points="{dotted}" fill="none" stroke="{HIGHLIGHT}" '
                    'stroke-width="1" stroke-dasharray="1.5,2.5"/>'
                )
        return self.head + '<g id="this-group">' + "".join(marks) + "</g>\n" + self.tail
