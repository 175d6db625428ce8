"""Report figures: each `plot_x(results, ...) -> Figure`, drawn on a fresh Figure (no pyplot state).

No statistics are computed here beyond binning for display; predictions, quantiles and intervals
come from predictions.py. Figures that need rows draw the row sample the fit step stored beside
results.json (`rows`: every row up to 50,000, a seeded sample beyond).
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..results import ModelResult, Results, RowSample
from . import fmt, fonts, level_facts, levels, lexicon
from .labels import labels_for
from .predictions import (
    _baseline,
    _row,
    binned_residuals,
    calibration,
    group_probabilities,
    group_slope_lines,
    interaction_lines,
    linear_prediction,
    predictor_probabilities,
    probability_curve,
    qq_points,
)
from .tables import fewer_than, min_cell, small_groups

PALETTE = "#0b5cad"
MANY_POINTS = 3000  # above this, scatter plots become hexbin densities
LABELLED_GROUPS = 40  # caterpillar plots name each group up to this many


def _figure(width: float, height: float) -> Figure:
    # DejaVu Sans first, then Noto faces for what it lacks (CJK, emoji, other scripts):
    # matplotlib falls back glyph by glyph down font.family (one face per entry, so the faces
    # are listed there, not under font.sans-serif).
    sans = ["DejaVu Sans", *fonts.matplotlib_families()]
    sns.set_theme(
        style="whitegrid",
        context="notebook",
        font_scale=0.9,
        rc={"axes.titleweight": "bold", "font.family": sans},
    )
    return Figure(figsize=(width, height), layout="constrained")


def _literal(text: str) -> str:
    """User text drawn as itself: a '$' would otherwise start matplotlib's mathtext. Bidi
    controls are dropped: matplotlib applies no bidi algorithm and draws them as boxes."""
    return fmt.BIDI_CONTROLS.sub("", str(text)).replace("$", r"\$")


def _short(text: str, limit: int = 28) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return _literal(text)


def _wrapped(text: str, width: int = 18, lines: int = 3) -> str:
    """Long names wrapped onto lines, not cut: cut names can become identical stubs."""
    parts = textwrap.wrap(text, width) or [""]
    if len(parts) > lines:
        # The last line cut by characters: textwrap.shorten drops a word longer than the line
        # whole (an unbroken 464-character label became a bare "…").
        rest = " ".join(parts[lines - 1 :])
        parts = [*parts[: lines - 1], rest[: width - 1].rstrip() + "…"]
    return _literal("\n".join(parts))


def _suppression_title(ax, results: Results, hidden: int) -> None:
    if hidden:
        word = "group" if hidden == 1 else "groups"
        ax.set_title(
            f"{hidden:,} {word} with {_literal(fewer_than(results))} not shown", fontsize=8
        )


def _bins(values: np.ndarray):
    """Whole-number edges for whole-number data (test scores), so no bin catches two values
    and its neighbour none (a comb); otherwise about sqrt(n) bins, between 10 and 40."""
    count = min(40, max(10, int(np.sqrt(len(values)))))
    if len(values) and np.all(values == np.round(values)):
        low, high = float(values.min()), float(values.max())
        width = max(1.0, np.ceil((high - low + 1) / count))
        return np.arange(low - 0.5, high + width + 0.5, width)
    return count


def _plain_log_axis(axis) -> None:
    """Group sizes on a log axis read 10, 20, 50, not 2 x 10^1. Call after plotting: a range
    within two decades (sizes 32 to 107) gets ticks at 1, 2 and 5 times each power of ten, as
    powers of ten alone would leave it one labelled tick."""
    low, high = sorted(axis.get_view_interval())
    if low > 0 and high / low < 100:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.set_minor_formatter(NullFormatter())


def plot_distributions(results: Results, rows: pd.DataFrame) -> Figure:
    labels = labels_for(results)
    variables = list(results.data.numeric)[:9]
    cols = min(3, len(variables))
    n_rows = math.ceil(len(variables) / cols)
    fig = _figure(8, 2.3 * n_rows + 0.3)
    for i, var in enumerate(variables):
        ax = fig.add_subplot(n_rows, cols, i + 1)
        per_group = var in getattr(results.data, "group_level", {})
        # a group's own value once, not once per row (the groups in the row sample); several
        # levels: once per group of the level it is constant at (nested ids: with the parents')
        keys = list(levels.columns(results))
        noun = labels.group_in_sentence()
        at = levels.variable_column(results, var) if levels.multilevel(results) else None
        if at is not None:
            per_group = True
            keys = [at] if levels.crossed(results) else keys[: keys.index(at) + 1]
            noun = lexicon.build(results.spec, results.design, labels.raw).tier(at).noun.one
        column = rows.groupby(keys, sort=False)[var].first() if per_group else rows[var]
        values = column.dropna()
        if i == 0 and results.spec.family == "binomial":  # a yes/no outcome: two bars
            design = results.design
            counts = [int((values == 0).sum()), int((values == 1).sum())]
            bars = [_wrapped(design.non_event, 20, 2), _wrapped(design.event, 20, 2)]
            ax.bar(bars, counts, color="#b3471d")
        else:
            sns.histplot(
                values,
                ax=ax,
                color=PALETTE if i else "#b3471d",
                bins=_bins(values.to_numpy(float)),
            )
        title = labels.raw(var) + (" (outcome)" if i == 0 else "")
        if per_group:
            title += f" (one value per {noun})"
        ax.set_title(_wrapped(title, {1: 60, 2: 40}.get(cols, 26), 2), fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("Count" if i % cols == 0 else "")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def plot_correlations(results: Results) -> Figure | None:
    """The lower triangle of the correlations; None for fewer than three variables: one
    correlation drawn as a heatmap took a third of a PDF page (the data section says it in a
    sentence instead: document.ReportDocument.data_summary)."""
    labels = labels_for(results)
    corr = results.data.correlations
    names = [_wrapped(labels.raw(v)) for v in corr.variables]
    k = len(names)
    if k < 3:
        return None
    fig = _figure(min(8, 2.2 + 0.75 * k), min(6.5, 1.6 + 0.6 * k))
    ax = fig.add_subplot()
    matrix = pd.DataFrame(corr.matrix, index=names, columns=names)
    mask = np.triu(np.ones((k, k), dtype=bool), 1)
    sns.heatmap(
        matrix,
        mask=mask,
        annot=k <= 10,
        fmt=".2f",
        vmin=-1,
        vmax=1,
        cmap="RdBu_r",
        square=True,
        ax=ax,
        cbar_kws={"shrink": 0.7, "label": "Pearson r"},
        annot_kws={"size": 8},
    )
    ax.tick_params(axis="x", rotation=35)
    # seaborn turns labels it finds overlapping upright; wrapped names (two or three lines)
    # then ran into each other ("Low-income students in the school (%)" over "Year")
    ax.tick_params(axis="y", rotation=0)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    return fig


def plot_group_boxes(results: Results, rows: pd.DataFrame) -> Figure | None:
    """Every student's outcome by group, for up to 30 groups (None for more)."""
    spec = results.spec
    labels = labels_for(results)
    # several levels: the outermost level's groups (their rows' own column)
    column = levels.columns(results)[0]
    summary = levels.group_summary(results, column)
    n_groups = len(summary.labels)
    if n_groups > 30 or results.spec.family == "binomial":  # boxes of 0s and 1s say nothing
        return None
    fig = _figure(8, 3.2 if n_groups <= 12 else 4.2)
    ax = fig.add_subplot()
    # Privacy: a small group's points and box are its members' own scores.
    cut = min_cell(results)
    small = {g for g, n in zip(summary.labels, summary.n, strict=True) if n < cut}
    keep = ~rows[column].astype(str).isin(small)
    data = pd.DataFrame(
        {"group": rows[column][keep].astype(str).map(_literal), "y": rows[spec.outcome][keep]}
    )
    _suppression_title(ax, results, len(small))
    order = data.groupby("group")["y"].mean().sort_values().index.tolist()
    sns.boxplot(
        data=data, x="group", y="y", order=order, ax=ax, color="#cfe0f3", fliersize=0,
        linewidth=0.8, boxprops={"alpha": 0.6},
    )  # fmt: skip
    # Every student as a point, jittered with a seeded generator (seaborn's jitter draws from
    # numpy's global state, so the figure would change from run to run).
    position = data["group"].map({g: i for i, g in enumerate(order)}).to_numpy(float)
    jitter = np.random.default_rng(1).uniform(-0.25, 0.25, len(position))
    ax.scatter(
        position + jitter, data["y"], s=4, alpha=0.35, color=PALETTE, linewidths=0, zorder=3
    )  # above the boxes, so no student is hidden
    ax.set_xlabel(_wrapped(labels.raw(column) + " (ordered by mean)", 80, 2))
    if n_groups > 12:
        ax.tick_params(axis="x", rotation=90, labelsize=7)
    ax.set_ylabel(_wrapped(labels.raw(spec.outcome), 30, 2))
    return fig


def plot_group_means(results: Results) -> Figure | None:
    """Each group's mean outcome against its size, for more than 30 groups (None for fewer)."""
    spec = results.spec
    labels = labels_for(results)
    if levels.multilevel(results):
        return plot_level_sizes(results)
    groups = results.data.groups
    n_groups = len(groups.labels)
    if n_groups <= 30:
        return None
    fig = _figure(8, 3.2)
    ax = fig.add_subplot()
    sizes = np.array(groups.n)
    shown = sizes >= min_cell(results)  # privacy: no mean of a group below min_cell
    means = np.array(groups.outcome_mean)[shown]
    sizes = sizes[shown]
    ax.scatter(sizes, means, s=8, alpha=0.4 if n_groups > 500 else 0.8, color=PALETTE, linewidths=0)
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.set_xlabel(_wrapped(f"{labels.raw(spec.group)} size (log scale)", 80, 2))
    noun = lexicon.build(spec, results.design, labels.raw).group
    many = _literal(noun.many)
    title = (
        f"Mean per {_literal(noun.one)} ({int(shown.sum()):,} {many}): small {many} scatter more"
    )
    hidden = n_groups - int(shown.sum())
    if hidden:
        title += f"\n{hidden:,} {_literal(noun.one if hidden == 1 else noun.many)} with {_literal(fewer_than(results))} not shown"
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(_wrapped(labels.raw(spec.outcome), 30, 2))
    return fig


def plot_interaction(results: Results, model: ModelResult) -> Figure | None:
    """The first configured interaction as fitted in `model` (the final model): predicted
    outcome against the focal predictor, one line per moderator value, with 95% bands."""
    for term in results.spec.interactions:
        lines = interaction_lines(results, model, term)
        if lines is None:
            continue
        fig = _figure(7, 3.6)
        ax = fig.add_subplot()
        colours = sns.color_palette("deep", len(lines["lines"]))
        for line, colour in zip(lines["lines"], colours, strict=True):
            ax.plot(
                lines["x"],
                line["fit"],
                color=colour,
                label=_wrapped(line["name"], 30, 2),
                linewidth=2,
            )
            ax.fill_between(
                lines["x"], line["low"], line["high"], color=colour, alpha=0.18, linewidth=0
            )
        ax.set_xlabel(_wrapped(lines["x_label"], 70, 2))
        ax.set_ylabel(_wrapped(lines["y_label"], 30, 2))
        ax.legend(
            title=_wrapped(lines["moderator_label"], 30, 2),
            fontsize=8,
            title_fontsize=8,
            frameon=False,
        )
        return fig
    return None


def plot_group_slopes(results: Results, model: ModelResult) -> Figure | None:
    """Each group's own line for the first random slope of `model`, around the average line."""
    slopes = group_slope_lines(results, model)
    if slopes is None:
        return None
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    for line in slopes["groups"]:
        ax.plot(slopes["x"], line, color="#9fb3c8", linewidth=0.8, alpha=0.8)
    # With the slope in an interaction there is no single average: one per moderator value.
    slope_variable = results.design.term(model.random_terms[1]).variable
    moderated = next(
        (
            lines
            for term in results.spec.interactions
            if slope_variable in term.split(":")
            and (lines := interaction_lines(results, model, term)) is not None
        ),
        None,
    )
    if moderated is not None:
        colours = sns.color_palette("deep", len(moderated["lines"]))
        for line, colour in zip(moderated["lines"], colours, strict=True):
            label = f"average, {_short(moderated['moderator_label'], 20)} {_literal(line['name'])}"
            ax.plot(moderated["x"], line["fit"], color=colour, linewidth=2.5, label=label)
            ax.fill_between(
                moderated["x"], line["low"], line["high"], color=colour, alpha=0.2, linewidth=0
            )
    elif slopes["ticks"]:
        # a slope of a category or yes/no: the average at its two levels, points with their
        # intervals (a band between them would claim values no row can take)
        ax.errorbar(slopes["x"], slopes["fit"],
                    yerr=[slopes["fit"] - slopes["low"], slopes["high"] - slopes["fit"]],
                    fmt="o", color=PALETTE, markersize=7, capsize=5, linewidth=2, zorder=3,
                    label="average (95% CI)")  # fmt: skip
        ax.set_xlim(-0.3, 1.3)
    else:
        ax.plot(
            slopes["x"], slopes["fit"], color=PALETTE, linewidth=2.5, label="average (95% band)"
        )
        ax.fill_between(
            slopes["x"], slopes["low"], slopes["high"], color=PALETTE, alpha=0.2, linewidth=0
        )
    if slopes["ticks"]:
        ax.set_xticks([0, 1], [_wrapped(t, 30, 2) for t in slopes["ticks"]])
    ax.set_xlabel(_wrapped(slopes["x_label"], 70, 2))
    ax.set_ylabel(_wrapped(slopes["y_label"], 30, 2))
    shown = slopes["n_groups_shown"]
    note = "" if shown == slopes["n_groups"] else f" ({shown} of {slopes['n_groups']:,} shown)"
    # the model's group effects: with several levels, the outermost level's groups
    noun = (
        lexicon.build(results.spec, results.design, labels_for(results).raw)
        .tier(levels.columns(results)[0])
        .noun
    )
    ax.plot([], [], color="#9fb3c8", label=f"one line per {_literal(noun.one)}{note}")
    ax.legend(fontsize=8, frameon=False)
    return fig


def _scatter(ax, x, y, many: bool) -> None:
    if many:
        ax.hexbin(x, y, gridsize=45, cmap="Blues", mincnt=1, linewidths=0)
    else:
        ax.scatter(x, y, s=10, alpha=0.55, color=PALETTE, linewidths=0)


def _observed_fitted(results: Results, rows: pd.DataFrame, model: ModelResult):
    observed = rows[results.spec.outcome].to_numpy(float)
    fitted = rows[RowSample.fitted_column(model.name)].to_numpy(float)
    return observed, fitted


def plot_actual_vs_predicted(
    results: Results, rows: pd.DataFrame, model: ModelResult
) -> Figure | None:
    if model.is_binomial:
        return None  # plot_calibration instead
    observed, fitted = _observed_fitted(results, rows, model)
    fig = _figure(4.8, 4.2)
    ax = fig.add_subplot()
    _scatter(ax, fitted, observed, len(observed) > MANY_POINTS)
    lo, hi = min(observed.min(), fitted.min()), max(observed.max(), fitted.max())
    ax.plot(
        [lo, hi], [lo, hi], color="#b3471d", linewidth=1, linestyle="--", label="perfect prediction"
    )
    ax.set_xlabel("Predicted (fixed + group effects)")
    ax.set_ylabel("Observed")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def plot_diagnostics(results: Results, rows: pd.DataFrame, model: ModelResult) -> Figure | None:
    if model.is_binomial:
        return None  # residuals of 0/1 data are not normal: plot_binned_residuals instead
    observed, fitted = _observed_fitted(results, rows, model)
    residual = observed - fitted
    fig = _figure(8, 2.9)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    _scatter(ax1, fitted, residual, len(fitted) > MANY_POINTS)
    ax1.axhline(0, color="#b3471d", linewidth=1)
    ax1.set(xlabel="Fitted", ylabel="Residual", title="Residuals vs fitted")
    for ax, values, title in (
        (ax2, residual, "Residuals"),
        (ax3, np.array(model.group_effects.estimate)[:, 0], "Group intercepts"),
    ):
        theoretical, sample = qq_points(values)
        ax.scatter(
            theoretical,
            sample,
            s=8 if len(values) < 2000 else 2,
            color=PALETTE,
            alpha=0.6,
            linewidths=0,
        )
        lim = [theoretical.min(), theoretical.max()]
        ax.plot(lim, lim, color="#b3471d", linewidth=1)
        ax.set(xlabel="Normal quantile", ylabel="Standardised value", title=f"Normal QQ: {title}")
    return fig


def plot_level_sizes(results: Results) -> Figure:
    """Several levels: for each level, its groups' mean outcome against their size (rows per
    group, log scale when sizes spread): means of small groups scatter more by chance."""
    labels = labels_for(results)
    cols = levels.columns(results)
    fig = _figure(8, 2.9)
    axes = fig.subplots(1, len(cols), squeeze=False)[0]
    cut = min_cell(results)
    for ax, column in zip(axes, cols, strict=True):
        g = levels.group_summary(results, column)
        sizes = np.array(g.n)
        shown = sizes >= cut  # privacy: no mean of a group below min_cell
        many = len(sizes) > 500
        if sizes.min() == sizes.max():  # one size: the spread of the means is the picture
            means = np.array(g.mean)[shown]
            sns.histplot(means, ax=ax, color=PALETTE, bins=_bins(means))
            noun = lexicon.build(results.spec, results.design, labels.raw).tier(column).noun
            ax.set_title(
                _wrapped(
                    f"{labels.raw(column)}: {len(sizes):,} {noun.many} of {sizes[0]:,}", 40, 3
                ),
                fontsize=9,
            )
            ax.set_xlabel(_wrapped(f"Mean {labels.raw(results.spec.outcome)}", 40, 2), fontsize=8)
            ax.set_ylabel(_literal(noun.Many), fontsize=8)
            continue
        jitter = np.random.default_rng(2).uniform(-0.15, 0.15, int(shown.sum()))
        ax.scatter(
            sizes[shown] * (1 + 0.1 * jitter)
            if sizes.min() != sizes.max()
            else sizes[shown] + jitter,
            np.array(g.mean)[shown],
            s=6 if many else 10,
            alpha=0.35 if many else 0.75,
            color=PALETTE,
            linewidths=0,
        )
        if sizes.max() > 3 * max(sizes.min(), 1):
            ax.set_xscale("log")
            _plain_log_axis(ax.xaxis)
        lex = lexicon.build(results.spec, results.design, labels.raw)
        noun = lex.tier(column).noun
        title = f"{labels.raw(column)}: {len(sizes):,} {noun.many}"
        hidden = int((~shown).sum())
        if hidden:
            # its own line: _wrapped joins lines, so "148 groups 20 with ..." ran together
            title = (
                _wrapped(title, 40, 2)
                + "\n"
                + _wrapped(f"({hidden:,} with {fewer_than(results)} not shown)", 40, 2)
            )
        else:
            title = _wrapped(title, 40, 3)
        ax.set_title(title, fontsize=9)
        # the configured nouns ("Students per school"), as the text says them
        ax.set_xlabel(_literal(f"{lex.unit.Many} per {noun.one}"), fontsize=8)
    if any(len(set(levels.group_summary(results, c).n)) > 1 for c in cols[:1]):
        axes[0].set_ylabel(_wrapped(f"Mean {labels.raw(results.spec.outcome)}", 30, 2))
    return fig


def _level_effects(results: Results, model: ModelResult):
    """Each level's group effects with readable labels ("S001 / 1" for class 1 of school
    S001), outermost first; a two-level model's one level."""
    if not levels.multilevel(results):
        effects = level_facts.effects_in_data(results, model.group_effects)[0]
        return [(levels.columns(results)[0], effects, list(effects.groups))]
    out = []
    named: list[str] = []
    for lv in getattr(model, "levels", ()):
        # a slope's variable far from 0: intercepts at its mean, as in plot_caterpillar
        effects = level_facts.effects_in_data(results, lv.group_effects)[0]
        if effects is None:
            continue
        names = [str(g) for g in effects.groups]
        if lv.parents and named and len(lv.parents) == len(names):
            names = [f"{named[p]} / {n}" for p, n in zip(lv.parents, names, strict=True)]
        out.append((lv.level, effects, names))
        named = names
    return out


def plot_caterpillar(results: Results, model: ModelResult) -> Figure:
    """Group effects sorted, with 95% intervals; named groups when few, a ranked band when many.
    With several levels, one row of panels per level, outermost first."""
    if levels.multilevel(results):
        return _caterpillar_levels(results, model)
    # intercepts where the data are (age 16.5, the average), not at a slope variable's far 0
    effects, where = level_facts.effects_in_data(results, model.group_effects)
    labels = labels_for(results)
    est = np.array(effects.estimate)
    se = np.array(effects.std_error)
    k = len(effects.terms)
    names_all = [str(g) for g in effects.groups]
    hidden = 0
    if len(names_all) <= LABELLED_GROUPS:
        # Privacy: named rows of groups below min_cell would publish their members' scores.
        small = small_groups(results)
        keep = np.array([name not in small for name in names_all], dtype=bool)
        hidden = int((~keep).sum())
        est, se = est[keep], se[keep]
        names_all = [name for name, kept in zip(names_all, keep, strict=True) if kept]
    n = est.shape[0]
    height = min(9.0, 1.4 + 0.16 * n) if n <= LABELLED_GROUPS else 3.2
    fig = _figure(8 if k > 1 else 6, height)
    axes = fig.subplots(1, k, squeeze=False)[0]
    for j, ax in enumerate(axes):
        # Named rows keep one order (by intercept) in every panel so a row is one group throughout;
        # unnamed ranked bands sort each panel by its own effect.
        order = np.argsort(est[:, 0] if n <= LABELLED_GROUPS else est[:, j])
        e, s = est[order, j], se[order, j]
        rank = np.arange(n)
        if n <= LABELLED_GROUPS:
            ax.errorbar(
                e,
                rank,
                xerr=1.96 * s,
                fmt="o",
                color=PALETTE,
                ecolor="#9fb3c8",
                markersize=4,
                capsize=0,
            )
            names = [_short(names_all[i], 18) for i in order]  # escaped in _short
            ax.set_yticks(rank, names if j == 0 else [""] * n, fontsize=7)
            ax.axvline(0, color="#b3471d", linewidth=1)
        else:
            ax.fill_between(
                rank,
                e - 1.96 * s,
                e + 1.96 * s,
                color="#9fb3c8",
                alpha=0.6,
                linewidth=0,
                label="95% interval",
            )
            ax.plot(rank, e, color=PALETTE, linewidth=1.2, label="estimate")
            ax.axhline(0, color="#b3471d", linewidth=1)
            noun = lexicon.build(results.spec, results.design, labels.raw).group
            ax.set_xlabel(f"{_literal(noun.Many)} ranked by effect (n = {n:,})")
            ax.legend(fontsize=8, frameon=False, loc="upper left")
        title = labels.term(effects.terms[j], with_reference=False)
        if j == 0 and where:
            title = f"{title} (at {where})"
        ax.set_title(_wrapped(title, 36, 2), fontsize=9)
    if hidden:
        note = f"{hidden:,} {'group' if hidden == 1 else 'groups'} with {_literal(fewer_than(results))} not shown"
        fig.supxlabel(note, fontsize=8)
    return fig


def _caterpillar_levels(results: Results, model: ModelResult) -> Figure:
    labels = labels_for(results)
    per_level = _level_effects(results, model)
    width = max(len(e.terms) for _, e, _ in per_level)
    cut = min_cell(results)
    heights = []
    for _column, _effects, names in per_level:
        n = len(names)
        heights.append(min(6.0, 1.0 + 0.14 * n) if n <= LABELLED_GROUPS else 2.4)
    fig = _figure(8 if width > 1 else 6, sum(heights) + 0.4)
    grid = fig.add_gridspec(len(per_level), width, height_ratios=heights)
    effect_axes: dict[str, list] = {}  # term -> (panel, its effect axis) at every level
    for row, (column, effects, names_all) in enumerate(per_level):
        est = np.array(effects.estimate)
        se = np.array(effects.std_error)
        sizes = dict(
            zip(*(lambda g: (g.labels, g.n))(levels.group_summary(results, column)), strict=True)
        )
        hidden = 0
        if len(names_all) <= LABELLED_GROUPS:
            # Privacy: named rows of groups below min_cell would publish their members' scores.
            keep = np.array([sizes.get(name, cut) >= cut for name in names_all], dtype=bool)
            hidden = int((~keep).sum())
            est, se = est[keep], se[keep]
            names_all = [name for name, kept in zip(names_all, keep, strict=True) if kept]
        n = est.shape[0]
        for j, term in enumerate(effects.terms):
            ax = fig.add_subplot(grid[row, j])
            order = np.argsort(est[:, 0] if n <= LABELLED_GROUPS else est[:, j])
            e, s = est[order, j], se[order, j]
            rank = np.arange(n)
            if n <= LABELLED_GROUPS:
                ax.errorbar(e, rank, xerr=1.96 * s, fmt="o", color=PALETTE, ecolor="#9fb3c8",
                            markersize=4, capsize=0)  # fmt: skip
                names = [_short(names_all[i], 18) for i in order]
                ax.set_yticks(rank, names if j == 0 else [""] * n, fontsize=7)
                ax.axvline(0, color="#b3471d", linewidth=1)
                effect_axes.setdefault(term, []).append((ax, "x"))
            else:
                effect_axes.setdefault(term, []).append((ax, "y"))
                ax.fill_between(rank, e - 1.96 * s, e + 1.96 * s, color="#9fb3c8", alpha=0.6,
                                linewidth=0, label="95% interval")  # fmt: skip
                ax.plot(rank, e, color=PALETTE, linewidth=1.2, label="estimate")
                ax.axhline(0, color="#b3471d", linewidth=1)
                ax.set_xlabel(f"Ranked by effect (n = {n:,})", fontsize=8)
                if row == 0 and j == 0:
                    ax.legend(fontsize=7, frameon=False, loc="upper left")
            title = f"{labels.raw(column)}: {labels.term(term, with_reference=False)}"
            if hidden and j == 0:
                title += f" ({hidden:,} small groups not shown)"
            ax.set_title(_wrapped(title, 44, 2), fontsize=9)
    # One scale per term across levels: on free scales a level with little variation (SD 0.08)
    # looks as spread as one with much (SD 0.6), and the figure is read level against level.
    for panels in effect_axes.values():
        limits = [ax.get_xlim() if axis == "x" else ax.get_ylim() for ax, axis in panels]
        low, high = min(lo for lo, _ in limits), max(hi for _, hi in limits)
        for ax, axis in panels:
            (ax.set_xlim if axis == "x" else ax.set_ylim)(low, high)
    return fig


def plot_trajectories(results: Results, rows: pd.DataFrame, model: ModelResult) -> Figure | None:
    """Growth data (`time:`): the observed trajectories of a sample of individuals (the
    innermost level) around the average curve with its 95% band; then the average curve with the
    own curves of a few groups of the outermost level (lowest, middle and highest effects)."""
    time = levels.time_column(results)
    if time is None or time not in rows or model.is_binomial:
        return None
    labels = labels_for(results)
    spec = results.spec
    cols = list(levels.columns(results))
    terms = [fe.term for fe in model.fixed_effects]
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    cov = np.array(model.fixed_cov)
    base = _baseline(results)
    t = rows[time].to_numpy(float)
    grid = np.linspace(np.nanmin(t), np.nanmax(t), 40)
    design = np.array([_row(results.design, terms, {**base, time: x}) for x in grid])
    fit, low, high = linear_prediction(design, beta, cov)
    fig = _figure(8, 3.4)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    # individuals: every level's id together names one (nested inner ids repeat)
    who = rows[cols].astype(str).agg("\x1f".join, axis=1) if len(cols) > 1 else rows[cols[0]]
    ids = pd.unique(who)
    chosen = set(np.random.default_rng(3).choice(ids, size=min(40, len(ids)), replace=False))
    for _, one in rows[who.isin(chosen)].assign(_who=who).groupby("_who", sort=False):
        one = one.sort_values(time)
        ax1.plot(one[time], one[spec.outcome], color="#9fb3c8", linewidth=0.8, alpha=0.8)
    ax1.plot(grid, fit, color=PALETTE, linewidth=2.5, label="average (95% band)")
    ax1.fill_between(grid, low, high, color=PALETTE, alpha=0.2, linewidth=0)
    inner = lexicon.build(spec, results.design, labels.raw).tier(cols[-1]).noun
    ax1.plot([], [], color="#9fb3c8", label=f"{len(chosen)} {_literal(inner.many)} (observed)")
    ax1.legend(fontsize=7, frameon=False, loc="upper left")
    ax1.set_title(f"{labels.raw(cols[-1])}: a random sample", fontsize=9)
    ax1.set_xlabel(_wrapped(labels.raw(time), 40, 2))
    ax1.set_ylabel(_wrapped(labels.raw(spec.outcome), 30, 2))
    # groups of the outermost level: their own intercept and growth around the average
    column, effects, names = _level_effects(results, model)[0]
    ax2.plot(grid, fit, color=PALETTE, linewidth=2.5, label="average")
    if effects is not None and len(cols) > 1:
        est = np.array(effects.estimate)
        slope = list(effects.terms).index(time) if time in effects.terms else None
        order = np.argsort(est[:, 0])
        picks = [order[0], order[len(order) // 4], order[len(order) // 2],
                 order[3 * len(order) // 4], order[-1]]  # fmt: skip
        colours = sns.color_palette("deep", len(picks))
        for g, colour in zip(dict.fromkeys(picks), colours, strict=False):
            line = fit + est[g, 0] + (est[g, slope] * grid if slope is not None else 0.0)
            ax2.plot(grid, line, color=colour, linewidth=1.2, label=_short(names[g], 16))
        ax2.legend(fontsize=7, frameon=False, loc="upper left", ncol=2)
    ax2.set_title(f"{labels.raw(column)}: five, lowest to highest effect", fontsize=9)
    ax2.set_xlabel(_wrapped(labels.raw(time), 40, 2))
    return fig


# ---------------------------------------------------------------------------------------------
# Binary outcomes (None for a Gaussian final model)


def plot_calibration(results: Results, rows: pd.DataFrame, model: ModelResult) -> Figure | None:
    """Observed share of events against the predicted probability, by decile of prediction."""
    if not model.is_binomial:
        return None
    observed, fitted = _observed_fitted(results, rows, model)
    c = calibration(observed, fitted)
    fig = _figure(4.8, 4.2)
    ax = fig.add_subplot()
    ax.plot(
        [0, 1], [0, 1], color="#b3471d", linewidth=1, linestyle="--", label="perfect calibration"
    )
    ax.errorbar(c["predicted"], c["observed"], yerr=[c["observed"] - c["low"], c["high"] - c["observed"]],
                fmt="o", color=PALETTE, ecolor="#9fb3c8", markersize=5, capsize=0,
                label="observed share, 95% CI")  # fmt: skip
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted probability (decile mean)",
           ylabel="Observed share")  # fmt: skip
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def plot_binned_residuals(
    results: Results, rows: pd.DataFrame, model: ModelResult
) -> Figure | None:
    if not model.is_binomial:
        return None
    observed, fitted = _observed_fitted(results, rows, model)
    b = binned_residuals(observed, fitted)
    fig = _figure(6, 3.4)
    ax = fig.add_subplot()
    order = np.argsort(b["fitted"])
    ax.plot(b["fitted"][order], b["bound"][order], color="#9fb3c8", linewidth=1, label="±2 SE")
    ax.plot(b["fitted"][order], -b["bound"][order], color="#9fb3c8", linewidth=1)
    ax.scatter(b["fitted"], b["residual"], s=12, color=PALETTE, linewidths=0)
    ax.axhline(0, color="#b3471d", linewidth=1)
    ax.set(xlabel="Predicted probability (bin mean)", ylabel="Mean residual (observed − predicted)")
    ax.set_title(f"{b['inside']:.0%} of bins within ±2 SE (about 95% expected)", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    return fig


def plot_probabilities(results: Results, model: ModelResult) -> Figure | None:
    """Predicted probabilities: each group's averaged over the data's rows (sorted, 95%
    intervals), and the average prediction over the observed rows at each value of up to three
    predictors: categorical and 0/1 ones as points with 95% intervals, numeric ones as a curve
    with its band."""
    if not model.is_binomial:
        return None
    groups = group_probabilities(results, model)
    panels = predictor_probabilities(results, model)[:3]
    if not panels and (curve := probability_curve(results, model)) is not None:
        # results written before average predictions: the typical member's curve
        panels = [{"kind": "curve", **curve}]
    count = 1 + len(panels)
    columns = 2 if count > 1 else 1
    n_rows = -(-count // columns)
    fig = _figure(8, 3.4 * n_rows)
    axes = fig.subplots(n_rows, columns, squeeze=False).ravel()
    ax = axes[0]
    # the configured nouns ("Schools ranked", "all students"), as the text says them
    lex = lexicon.build(results.spec, results.design, labels_for(results).raw)
    group, unit = lex.group, lex.unit
    rank = np.arange(len(groups["fit"]))
    ax.fill_between(rank, groups["low"], groups["high"], color="#9fb3c8", alpha=0.6, linewidth=0,
                    label="95% interval")  # fmt: skip
    ax.plot(rank, groups["fit"], "o-" if len(rank) <= LABELLED_GROUPS else "-", color=PALETTE,
            markersize=3, linewidth=1, label=_literal(group.one))  # fmt: skip
    average = (
        _literal(f"average prediction (all {unit.many})")
        if groups["averaged"]
        else _literal(f"average {group.one}")
    )
    ax.axhline(groups["average"], color="#b3471d", linewidth=1, label=average)
    ax.set(ylim=(0, 1), xlabel=_literal(f"{group.Many} ranked (n = {len(rank):,})"))
    ax.set_ylabel("Probability")
    title = _literal(
        f"Each {group.one}, all {unit.many} placed in it"
        if groups["averaged"]
        else f"A typical {unit.one} in each {group.one}"
    )
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    for ax, panel in zip(axes[1:], panels, strict=False):
        if panel["kind"] == "points":
            position = np.arange(len(panel["fit"]))
            ax.errorbar(position, panel["fit"],
                        yerr=[panel["fit"] - panel["low"], panel["high"] - panel["fit"]],
                        fmt="o", color=PALETTE, ecolor=PALETTE, markersize=6, capsize=4,
                        linewidth=1.5, label="average prediction, 95% CI")  # fmt: skip
            ax.set_xticks(position, [_wrapped(str(v), 14, 2) for v in panel["levels"]])
            ax.set_xlim(-0.6, len(position) - 0.4)
        else:
            ax.plot(
                panel["x"], panel["fit"], color=PALETTE, linewidth=2, label="average prediction"
            )
            ax.fill_between(panel["x"], panel["low"], panel["high"], color=PALETTE, alpha=0.2,
                            linewidth=0, label="95% band")  # fmt: skip
        ax.set(ylim=(0, 1), xlabel=_wrapped(panel["x_label"], 40, 2), ylabel="Probability")
        ax.set_title("Average over the rows" if "variable" in panel else "Typical member, average group",
                     fontsize=9)  # fmt: skip
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig
