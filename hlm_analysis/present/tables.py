"""Report tables as pandoc pipe tables (markdown strings with a cross-referenceable caption).

Cells are formatted here and user text is escaped here; the document only places the strings.
"""

from __future__ import annotations

import math
import re

from .. import rules
from ..results import INTERCEPT, MODEL_ORDER, ModelResult, Reference, Results
from . import fmt, levels, lexicon
from .labels import labels_for, plural, slope_point

# A '|' preceded by an even number of backslashes (none, or escaped backslashes) ends a cell.
_UNESCAPED_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")


def _shown(text: str) -> str:
    """The text a reader sees: markdown escapes and emphasis marks removed."""
    return re.sub(r"\\(.)", r"\1", text).replace("**", "").replace("*", "")


def _column_width(header: str, cells: list[str]) -> int:
    """Dashes for a column: enough for its longest header word, for its typical cell (90th
    percentile, capped), and for its longest unbreakable run (intervals are kept together with
    non-breaking spaces, so a narrower column would let them spill into the next one)."""
    words = max((len(w) for w in _shown(header).split()), default=1)
    lengths = sorted(len(_shown(c)) for c in cells if c)
    typical = lengths[math.ceil(0.9 * (len(lengths) - 1))] if lengths else 0
    unbreakable = max((len(w) for c in cells for w in _shown(c).split(" ")), default=0)
    return max(3, words + 1, min(typical, 40) + 1, min(unbreakable, 40) + 1)


def pipe_table(
    header: list[str],
    rows: list[list[str]],
    align: str,
    caption: str,
    label: str,
    limit: int | None = None,
) -> str:
    """align: one letter per column, 'l' or 'r'. Cells arrive formatted; a '|' that is not
    already escaped (user text passed through fmt.md_escape is) gets its backslash here, once.

    The dashes under each header set its share of the width when pandoc wraps the table (HTML,
    PDF and Word alike): each column gets what its longest header word and its typical cell
    need, so headers never break inside a word and short numbers get narrow columns."""
    rows, key = _shortened(rows, align, limit or CELL_LIMIT)
    widths = [_column_width(h, [row[j] for row in rows]) for j, h in enumerate(header)]
    rule = [
        (":" + "-" * (w - 1)) if a == "l" else ("-" * (w - 1) + ":")
        for a, w in zip(align, widths, strict=True)
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += [
        "| " + " | ".join(_UNESCAPED_PIPE.sub(r"\1\\|", c) for c in row) + " |" for row in rows
    ]
    table = "\n".join(lines) + f"\n\n: {caption} {{#{label}}}\n"
    # the key as the table's note: kept with the table on the PDF page (table-notes.lua)
    return table + (f"\n::: {{.table-note}}\n{key}\n:::\n" if key else "")


# A text cell longer than this (a 464-character label) is cut with an ellipsis and a numbered
# key under the table gives it in full: a long label ran off the PDF page or wrapped its cell
# over six lines. 44 characters wrap onto at most three lines of the first column of the
# widest table (the model ladder at A4).
CELL_LIMIT = 44
# The data table's first column has six narrow numeric columns beside it: a label with its level
# ("Low-income students in the school (%) (one value per school)") fits on two lines uncut.
WIDE_CELL_LIMIT = 64
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _shortened(
    rows: list[list[str]], align: str, limit: int = CELL_LIMIT
) -> tuple[list[list[str]], str]:
    """Rows with long text cells (left-aligned columns) cut, and the key that names them."""
    full: dict[str, int] = {}
    out = []
    for row in rows:
        cells = []
        for cell, a in zip(row, align, strict=True):
            if a == "l" and fmt.shorten(cell, limit) != cell:
                number = full.setdefault(cell, len(full) + 1)
                cell = fmt.shorten(cell, limit) + str(number).translate(_SUPERSCRIPT)
            cells.append(cell)
        out.append(cells)
    if not full:
        return out, ""
    names = "; ".join(f"{str(n).translate(_SUPERSCRIPT)} {text}" for text, n in full.items())
    return out, f"Names shortened in the table above: {names}."


def _per_group(results: Results) -> tuple[str, str]:
    """The label suffix and caption clause of variables described at the group level."""
    noun = labels_for(results).group_in_sentence()
    nouns = fmt.md_escape(plural(noun))
    return (
        f" (one value per {noun})",  # escaped with the label it follows
        f"; a variable constant within every {fmt.md_escape(noun)} is described over the "
        f"{nouns}, one value each (N: {nouns})",
    )


def described(results: Results) -> dict:
    """Each numeric variable's summary as the table shows it: per row, or per group for a
    variable constant within every group (results.data.group_level)."""
    level2 = getattr(results.data, "group_level", {})
    return {var: level2.get(var, s) for var, s in results.data.numeric.items()}


def at_levels(results: Results, sample) -> dict:
    """Several levels: each numeric variable constant within an outer level's groups described
    over that level's groups, one value each, from the row sample when it holds every row
    (else as the data summary gives it, per innermost group). {variable: (summary, noun,
    hidden)}: a group with fewer rows than min_cell is left out (its value would be its own
    minimum or maximum), `hidden` counts them."""
    import numpy as np

    from ..results import NumericSummary

    if sample is None or not levels.multilevel(results) or results.sample.is_sample:
        return {}
    cols = levels.columns(results)
    lex = lexicon.build(results.spec, results.design, labels_for(results).raw)
    out = {}
    for var in results.data.numeric:
        column = levels.variable_column(results, var)
        if column is None or var not in sample or column == cols[-1]:
            continue
        keys = [column] if levels.crossed(results) else list(cols[: cols.index(column) + 1])
        grouped = sample.groupby(keys, sort=False)
        values = grouped[var].first().to_numpy(float)
        keep = grouped.size().to_numpy() >= min_cell(results)
        hidden = int((~keep).sum())
        values = values[np.isfinite(values) & keep]
        if not len(values):
            continue
        out[var] = (
            NumericSummary.of_values(values),
            lex.tier(column).noun,
            hidden,
        )
    return out


def _over_shown(results: Results, shown: dict, level2: dict, outer: dict) -> tuple[dict, str]:
    """With groups below min_cell, no minimum or maximum in the data table is a hidden group's
    own value: a variable with one value per group is described over the groups shown, and a
    per-row minimum or maximum that only a hidden group reaches is replaced by the shown groups'
    (results.data.groups keeps each group's range then). The summaries and the caption clause."""
    import numpy as np

    from ..results import NumericSummary

    g = results.data.groups
    n = np.asarray(g.n)
    keep = n >= min_cell(results)
    low, high = getattr(g, "low", {}), getattr(g, "high", {})
    if keep.all() or not low or not keep.any():
        return shown, ""
    per_group = not levels.crossed(results)  # crossed: the cells are not the groups described
    out, grouped, replaced = dict(shown), False, False
    for var, s in shown.items():
        if var not in low or var in outer:
            continue
        lo, hi = np.asarray(low[var])[keep], np.asarray(high[var])[keep]
        if var in level2 and per_group:
            out[var] = NumericSummary.of_values(lo)
            grouped = True
        elif var not in level2 and (lo.min() > s.min or hi.max() < s.max):
            out[var] = NumericSummary(s.n, s.mean, s.sd, float(lo.min()), s.median, float(hi.max()))
            replaced = True
    noun = lexicon.noun(labels_for(results).group_in_sentence())
    hidden = int((~keep).sum())
    shown_groups = f"the {fmt.integer(int(keep.sum()))} {fmt.md_escape(noun.many)} shown"
    clause = (
        f"; {fmt.integer(hidden)} {fmt.md_escape(noun.one if hidden == 1 else noun.many)} with "
        f"{fmt.md_escape(fewer_than(results))} {'is' if hidden == 1 else 'are'} not shown, so a "
        f"variable with one value per {fmt.md_escape(noun.one)} is described over {shown_groups}"
        if grouped
        else ""
    ) + (
        f"; a minimum or maximum that only a hidden {fmt.md_escape(noun.one)} reaches is given "
        f"over the {fmt.md_escape(members(results))} of {shown_groups}"
        if replaced
        else ""
    )
    return out, clause


def descriptives(results: Results, label: str, sample=None) -> str:
    labels = labels_for(results)
    rows = []
    shown = described(results)
    suffix, clause = _per_group(results)
    level2 = getattr(results.data, "group_level", {})
    outer = at_levels(results, sample)
    shown, hidden_clause = _over_shown(results, shown, level2, outer)
    # One number of decimals per table, enough for the variable with the smallest spread.
    d = fmt.decimals_for(min(s.sd for s in shown.values()))
    for var, s in shown.items():
        own = suffix if var in level2 else ""
        if var in outer:  # described at its own level: one value per school
            s, noun, hidden = outer[var]
            own = f" (one value per {noun.one})"
            if hidden:
                hidden_clause += (
                    f"; {fmt.integer(hidden)} {fmt.md_escape(noun.one if hidden == 1 else noun.many)}"
                    f" with {fmt.md_escape(fewer_than(results))} "
                    f"{'is' if hidden == 1 else 'are'} not shown, so "
                    f"{fmt.md_escape(labels.raw(var))} is described over the "
                    f"{fmt.integer(s.n)} {fmt.md_escape(noun.many)} shown"
                )
        rows.append(
            [
                fmt.md_escape(labels.raw(var) + own),
                fmt.integer(s.n),
                *(fmt.num(v, d) for v in (s.mean, s.sd, s.min, s.median, s.max)),
            ]
        )
    return pipe_table(
        ["Variable", "N", "Mean", "SD", "Min", "Median", "Max"],
        rows,
        "lrrrrrr",
        "Numeric variables in the analysis sample"
        + (clause if level2 and set(level2) - set(outer) else "")
        + (
            "; a variable constant within the groups of an outer level is described over "
            "those groups, one value each"
            if outer
            else ""
        )
        + hidden_clause,
        label,
        WIDE_CELL_LIMIT,
    )


def categorical(results: Results, label: str) -> str:
    labels = labels_for(results)
    level2 = getattr(results.data, "group_level_counts", {})
    suffix, clause = _per_group(results)
    rows = []
    multilevel = len(getattr(results.data, "levels", ())) > 1
    lex = lexicon.build(results.spec, results.design, labels.raw) if multilevel else None
    for var, per_row in results.data.categorical.items():
        levels = level2.get(var, per_row)
        n = results.data.n_groups if var in level2 else results.data.n_obs
        name = labels.raw(var) + (suffix if var in level2 else "")
        own = getattr(results.design.variable(var), "level", None) if multilevel else None
        if var in level2 and own:
            # several levels: counted over the groups of its own level (data/describe.py)
            n = next(lv.n_groups for lv in results.data.levels if lv.name == own)
            name = labels.raw(var) + f" (one value per {lex.tier(own).noun.one})"
        for i, level in enumerate(levels):
            rows.append(
                [
                    fmt.md_escape(name) if i == 0 else "",
                    fmt.md_escape(level.level),
                    fmt.integer(level.n),
                    fmt.pct(level.n / n, 1),
                ]
            )
    return pipe_table(
        ["Variable", "Level", "N", "Share"],
        rows,
        "llrr",
        "Categorical variables (the first level is the reference)"
        + (
            "; a variable constant within the groups of a level is described over those "
            "groups, one value each"
            if level2 and multilevel
            else clause
            if level2
            else ""
        ),
        label,
    )


DEFAULT_MIN_CELL = 5


def min_cell(results: Results) -> int:
    """The config's `min_cell:` (results written before it existed: the default)."""
    return int(getattr(results.spec, "min_cell", DEFAULT_MIN_CELL))


def members(results: Results) -> str:
    """What a group's rows are, for the privacy notes ("fewer than 5 students"): the configured
    `unit:` in the plural, measurements for growth data, else "rows" (the default noun,
    "observations", says no more than rows do)."""
    spec = results.spec
    if not (getattr(spec, "unit", None) or getattr(spec, "time", None)):
        return "rows"
    return lexicon.build(spec, results.design, labels_for(results).raw).unit.many


def fewer_than(results: Results) -> str:
    """ "fewer than 5 students": the privacy cut in the rows' own noun (plain text)."""
    return f"fewer than {min_cell(results)} {members(results)}"


def small_groups(results: Results) -> set[str]:
    """Groups with fewer rows than min_cell: no published table or figure shows their rows,
    means or SDs (a group of one student is that student's score). The models use every row."""
    g = results.data.groups
    cut = min_cell(results)
    return {name for name, n in zip(g.labels, g.n, strict=True) if n < cut}


def hidden_sizes(results: Results, column: str | None = None) -> tuple[int, int]:
    """How many groups of a level (default: the one level) have fewer rows than min_cell, and
    the largest size a report may give (0 when every group is below the cut). With any hidden,
    the text says "up to 107": the smallest size would be a hidden group's (the site's public
    copy raises min_cell to profiles: min_size)."""
    if column is not None and levels.multilevel(results):
        sizes = levels.group_summary(results, column).n
    else:
        sizes = results.data.groups.n
    cut = min_cell(results)
    shown = [int(n) for n in sizes if n >= cut]
    return len(sizes) - len(shown), max(shown, default=0)


def suppressed_note(results: Results, count: int, column: str | None = None) -> str:
    """The sentence that says what privacy suppression left out (empty when nothing was);
    `column`: the grouping level whose groups were left out (default: the one level)."""
    if not count:
        return ""
    # the configured noun ("3 schools"), "group" when none is known
    if column is not None and levels.multilevel(results):
        noun = lexicon.build(results.spec, results.design, labels_for(results).raw)
        noun = noun.tier(column).noun
    else:
        noun = lexicon.noun(labels_for(results).group_in_sentence())
    groups_word = fmt.md_escape(noun.one if count == 1 else noun.many)
    verb = "is" if count == 1 else "are"
    return (
        f"{fmt.integer(count)} {groups_word} with {fmt.md_escape(fewer_than(results))} {verb} "
        "not shown, to protect the privacy of their members "
        f"(the models use all {fmt.md_escape(members(results))})."
    )


def _hidden_sizes_cell(results: Results, size: levels.Size) -> str:
    """A level with groups below min_cell: the largest shown size and the mean, no minimum."""
    up_to = hidden_sizes(results, size.column)[1]
    where = f"up to {fmt.integer(up_to)}" if up_to else f"under {min_cell(results)}"
    return f"{where} ({fmt.num(size.size_mean, 1)})"


def levels_table(results: Results, label: str) -> str:
    """Several levels: one row per level (its groups, rows per group, and the null model's
    share of the variance and ICC), the rows within the innermost groups last."""
    if not levels.multilevel(results):
        return ""
    labels = labels_for(results)
    lex = lexicon.build(results.spec, results.design, labels.raw)
    shares = {s.column: s for s in levels.shares(results)}
    rows = []
    for size in levels.sizes(results):
        share = shares.get(size.column)
        rows.append(
            [
                fmt.md_escape(labels.raw(size.column)),
                fmt.integer(size.n_groups),
                ""
                if size.size_min is None
                else _hidden_sizes_cell(results, size)
                if hidden_sizes(results, size.column)[0]
                else fmt.integer(size.size_min)
                if size.size_min == size.size_max
                else f"{fmt.integer(size.size_min)}–{fmt.integer(size.size_max)} "
                f"({fmt.num(size.size_mean, 1)})",
                fmt.pct(share.share) if share else "",
                fmt.num(share.icc, 3) if share and share.icc is not None else "",
            ]
        )
    residual = shares.get(levels.RESIDUAL)
    if residual is not None:
        # the rows themselves (pupils, test scores), counted: they are no groups
        within = lex.tiers[-1].noun.many
        where = "residual" if levels.crossed(results) else f"within {within}"
        rows.append(
            [
                fmt.md_escape(f"{lex.unit.Many} ({where})"),
                fmt.integer(results.data.n_obs),
                "",
                fmt.pct(residual.share),
                "",
            ]
        )
    crossed = levels.crossed(results)
    return pipe_table(
        [
            "Level",
            "Number",
            f"{fmt.md_escape(lex.unit.Many)} per group (mean)",
            "Variance share",
            "ICC",
        ],
        rows,
        "lrrrr",
        (
            "The two crossed grouping factors (neither inside the other)"
            if crossed
            else "The grouping levels, outermost first"
        )
        + f": the number of groups ({fmt.md_escape(lex.unit.many)} on the last line), "
        f"{fmt.md_escape(lex.unit.many)} per group, and the null model's share of the variance "
        "at each level; "
        + (
            "ICC: the correlation of two rows in the same group of that factor"
            if crossed
            else "ICC: the correlation of two rows in the same group of that level "
            "(and so of every level above it)"
        ),
        label,
    )


def groups(results: Results, label: str, limit: int = 25) -> str:
    if levels.multilevel(results):
        return _level_groups(results, levels.columns(results)[0], label, limit)
    g = results.data.groups
    spec = results.spec
    labels = labels_for(results)
    small = small_groups(results)
    shown = [i for i in range(len(g.labels)) if g.labels[i] not in small]
    order = sorted(shown, key=lambda i: -g.n[i])[:limit]
    d = fmt.decimals_for(results.data.numeric[spec.outcome].sd)
    rows = [
        [
            fmt.md_escape(g.labels[i]),
            fmt.integer(g.n[i]),
            fmt.num(g.outcome_mean[i], d),
            fmt.num(g.outcome_sd[i], d),
        ]
        for i in order
    ]
    more = len(shown) - len(order)
    binary = results.spec.family == "binomial"  # a 0/1 outcome's mean is the share of events
    what = "share with" if binary else "mean"
    outcome = fmt.md_escape(labels.variable(spec.outcome))
    event_label = getattr(spec, "event_label", None) if binary else None
    if event_label:  # the configured words: "share of women who use contraception"
        unit = lexicon.build(spec, results.design, labels.raw).unit.many
        what, outcome = "share of", fmt.md_escape(f"{unit} who {of_many(event_label)}")
    noun = labels.group_in_sentence()
    named = noun != lexicon.GROUP  # "Schools (School ID)", else "School ID groups"
    column = labels.variable(spec.group)
    caption = (
        fmt.md_escape(lexicon.upfirst(plural(noun)))
        + ("" if column.lower() == noun.lower() else f" ({fmt.md_escape(column)})")
        if named
        else f"{fmt.md_escape(column)} groups"
    ) + f": size and {what} {outcome}"
    if more:
        caption += _first_of(len(order), [g.n[i] for i in shown], f" {fmt.md_escape(plural(noun))}")
    if binary and not event_label:
        caption += f" (share: {fmt.md_escape(results.design.event)})"
    note = suppressed_note(results, len(small))
    if not rows:  # every group is small: the note alone
        return f"{note}\n" if note else ""
    if note:
        caption += f". {note}"
    # the first column is headed by the configured noun ("School"), else by the id column's label
    head = fmt.md_escape(lexicon.upfirst(noun) if named else column)
    if binary:
        return pipe_table([head, "N", "Share"], [row[:3] for row in rows], "lrr", caption, label)
    return pipe_table([head, "N", "Mean", "SD"], rows, "lrrr", caption, label)


# a clause's verb said of one and of many, where the plural is not the singular less its "s"
_OF_MANY = {"is": "are", "has": "have", "was": "were", "does": "do"}


def of_many(clause: str) -> str:
    """ "uses contraception" said of many ("women who use contraception"): the first word, a
    verb in the third person singular, in the plural; a past tense ("graduated") is both."""
    first, _, rest = clause.partition(" ")
    word = first.lower()
    if word in _OF_MANY:
        many = _OF_MANY[word]
    elif word.endswith("ies") and len(word) > 4:
        many = first[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        many = first[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        many = first[:-1]
    else:
        many = first
    return f"{many} {rest}".strip()


def _first_of(k: int, sizes: list, noun: str = "") -> str:
    """Which groups a cut table shows: the largest, unless every group has one size (a balanced
    design), where "the largest" would be false."""
    if len(set(sizes)) == 1:
        return f" ({k} of {fmt.integer(len(sizes))}{noun}, all of one size)"
    return f" (the {k} largest of {fmt.integer(len(sizes))}{noun})"


def _level_groups(results: Results, column: str, label: str, limit: int) -> str:
    """One level's groups: size and outcome mean and SD (summed from the cells), the largest
    first; groups below min_cell are left out."""
    g = levels.group_summary(results, column)
    labels = labels_for(results)
    cut = min_cell(results)
    shown = [i for i in range(len(g.labels)) if g.n[i] >= cut]
    order = sorted(shown, key=lambda i: -g.n[i])[:limit]
    d = fmt.decimals_for(results.data.numeric[results.spec.outcome].sd)
    rows = [
        [
            fmt.md_escape(g.labels[i]),
            fmt.integer(g.n[i]),
            fmt.num(g.mean[i], d),
            fmt.num(g.sd[i], d),
        ]
        for i in order
    ]
    noun = lexicon.build(results.spec, results.design, labels.raw).tier(column).noun
    named = labels.raw(column)
    caption = (
        fmt.md_escape(noun.Many)
        + ("" if named.lower() == noun.one.lower() else f" ({fmt.md_escape(named)})")
        + f": size and mean {fmt.md_escape(labels.variable(results.spec.outcome))}"
    )
    if len(shown) > len(order):
        caption += _first_of(len(order), [g.n[i] for i in shown], f" {fmt.md_escape(noun.many)}")
    note = suppressed_note(results, len(g.labels) - len(shown), column)
    if not rows:
        return f"{note}\n" if note else ""
    if note:
        caption += f". {note}"
    return pipe_table([fmt.md_escape(noun.One), "N", "Mean", "SD"], rows, "lrrr", caption, label)


def _ladder_models(results: Results) -> list[ModelResult]:
    return [results.models[n] for n in MODEL_ORDER if n in results.models]


def ladder(results: Results, label: str) -> str:
    labels = labels_for(results)
    models = _ladder_models(results)
    terms = list(dict.fromkeys(fe.term for m in models for fe in m.fixed_effects))
    # Short headers (M1, M2, ...) with the names in the caption: full names split mid-word in
    # narrow PDF columns. The final model's header is bold.
    header = [
        "",
        *[
            f"**M{i}**" if m.name == results.final_model else f"M{i}"
            for i, m in enumerate(models, start=1)
        ],
    ]
    rows = []
    for term in terms:
        row = [fmt.md_escape(labels.term(term))]
        for m in models:
            try:
                fe = m.effect(term)
            except KeyError:
                row.append("")
                continue
            star = "*" if rules.significant(fe.p_value) else ""
            row.append(f"{fmt.sig(fe.estimate, 3)}{star} ({fmt.sig(fe.std_error, 2)})")
        rows.append(row)

    def stat_row(name, getter):
        rows.append([name, *[getter(m) for m in models]])

    multilevel = levels.multilevel(results)

    def level_variance(m, column, term):
        for vc in m.variance_components:
            if vc.group == column and vc.term1 == term and vc.term2 is None:
                return fmt.sig(vc.estimate, 3)
        return ""

    random_terms = list(dict.fromkeys(t for m in models for t in m.random_terms))
    # several levels: one variance row per level and term ("Variance: Intercept (School)")
    for column in levels.columns(results) if multilevel else ():
        per_level = list(
            dict.fromkeys(
                t for m in models for t in levels.random_terms(m, results).get(column, [])
            )
        )
        for term in per_level:
            stat_row(
                f"Variance: {fmt.md_escape(labels.term(term, with_reference=False))} "
                f"({fmt.md_escape(labels.raw(column))})",
                lambda m, c=column, t=term: level_variance(m, c, t),
            )
    for term in random_terms if not multilevel else ():
        stat_row(
            f"Variance: {fmt.md_escape(labels.term(term, with_reference=False))}",
            lambda m, t=term: fmt.sig(m.variance(t), 3) if m.variance(t) is not None else "",
        )
    binary = results.spec.family == "binomial"
    if not binary:
        stat_row(
            "Residual variance", lambda m: fmt.sig(m.residual_variance, 3) if m.is_mixed else ""
        )

    def icc_cell(icc) -> str:
        if icc is None:
            return ""
        return fmt.keep_together(
            f"{fmt.num(icc.estimate, 3)} [{fmt.num(icc.ci_low, 3)}, {fmt.num(icc.ci_high, 3)}]"
        )

    if multilevel:  # the ICC of rows sharing each level's group (nested: and those above)
        for column in levels.columns(results):
            stat_row(
                f"ICC: {fmt.md_escape(labels.raw(column))} [95% CI]",
                lambda m, c=column: icc_cell(getattr(levels.level_results(m).get(c), "icc", None)),
            )
    else:
        stat_row(
            "Latent ICC [95% CI]" if binary else "ICC [95% CI]",
            lambda m: icc_cell(m.icc),
        )
    stat_row(
        "ICC after predictors",
        lambda m: fmt.num(m.icc_after, 3) if m.icc is None and m.is_mixed else "",
    )
    if binary:
        stat_row(
            "Median odds ratio",
            lambda m: fmt.num(m.median_odds_ratio.estimate, 2) if m.median_odds_ratio else "",
        )
        stat_row("R² marginal (latent)", lambda m: fmt.num(m.r2_marginal, 3) if m.is_mixed else "")
        stat_row(
            "R² conditional (latent)", lambda m: fmt.num(m.r2_conditional, 3) if m.is_mixed else ""
        )
        stat_row("Log-likelihood (ML)", lambda m: fmt.num(m.loglik, 1))
    else:
        stat_row(
            "R² (OLS) / marginal",
            lambda m: fmt.num(m.r2 if m.r2 is not None else m.r2_marginal, 3),
        )
        stat_row("R² conditional", lambda m: fmt.num(m.r2_conditional, 3) if m.is_mixed else "")
        stat_row("Log-likelihood (REML / OLS)", lambda m: fmt.num(m.loglik, 1))
    stat_row("AIC (ML)", lambda m: fmt.num(m.aic, 1) if m.robust is None else "")
    stat_row("BIC (ML)", lambda m: fmt.num(m.bic, 1) if m.robust is None else "")
    stat_row("Observations", lambda m: fmt.integer(m.n_obs))
    if multilevel:
        for lv in levels.sizes(results):
            stat_row(
                f"Groups: {fmt.md_escape(labels.raw(lv.column))}",
                lambda m, n=lv.n_groups: fmt.integer(n) if m.is_mixed else "",
            )
    else:
        stat_row(
            "Groups",
            lambda m: fmt.integer(m.n_groups) if m.is_mixed or m.robust is not None else "",
        )
    stat_row(
        "Optimum verified", lambda m: ("yes" if m.converged else "**no**") if m.is_mixed else ""
    )
    legend = "; ".join(
        f"M{i}: {m.label}" + (", the final model" if m.name == results.final_model else "")
        for i, m in enumerate(models, start=1)
    )
    caption = (
        f"The model ladder ({legend}): estimates with standard errors in parentheses; * marks "
        + (
            "p < .05 (z tests; t with G − 1 df for the cluster-robust model); estimates are "
            "log-odds of "
            f"{fmt.md_escape(_event(results))}, the ICC and R² are on the latent scale"
            if binary
            else "p < .05 (Satterthwaite t tests for mixed models)"
        )
    )
    if any(len(m.random_terms) > 1 for m in models):
        caption += (
            "; with random slopes, the ICC after predictors is averaged over the data "
            "(Nakagawa's adjusted ICC)"
        )
    return pipe_table(header, rows, "l" + "r" * len(models), caption, label)


def _event(results: Results) -> str:
    """The event of a binary outcome in words: 'passed = yes'."""
    labels = labels_for(results)
    return f"{labels.variable(results.spec.outcome)} = {results.design.event}"


def _percentage_points(value: float | None) -> str:
    return "" if value is None else fmt.num(100 * value, 1)


def odds_coefficients(results: Results, model: ModelResult, label: str) -> str:
    """A logistic model's fixed effects: log-odds with SE and z test, the odds ratio with its
    CI, and the average marginal effect in percentage points, the number a board can read."""
    labels = labels_for(results)
    rows = []
    for fe in model.fixed_effects:
        ame = fe.marginal_effect
        rows.append(
            [
                fmt.md_escape(labels.term(fe.term)),
                fmt.sig(fe.estimate, 3),
                fmt.sig(fe.std_error, 2),
                fmt.pvalue(fe.p_value).removeprefix("p ").removeprefix("= "),
                fmt.keep_together(
                    f"{fmt.sig(fe.odds_ratio, 3)} [{fmt.sig(fe.odds_ratio_ci_low, 3)}, "
                    f"{fmt.sig(fe.odds_ratio_ci_high, 3)}]"
                )
                if fe.term != INTERCEPT
                else "",
                fmt.keep_together(
                    f"{_percentage_points(ame)} [{_percentage_points(ame - 1.96 * fe.marginal_effect_se)}, "
                    f"{_percentage_points(ame + 1.96 * fe.marginal_effect_se)}]"
                )
                if ame is not None
                else "",
            ]
        )
    header = [
        "Term", "Log-odds", "SE", "p", "Odds ratio [95% CI]", "AME, percentage points [95% CI]",
    ]  # fmt: skip
    caption = (
        f"Fixed effects of the {model.label.lower()} model for {fmt.md_escape(_event(results))} "
        "(z tests; AME: the average change in the probability, in percentage points, per unit "
        "of a numeric predictor or for the category against its reference, averaged over the "
        f"{fmt.md_escape(plural(results.spec.unit))} with their own "
        f"{fmt.md_escape(labels_for(results).group_in_sentence())}'s effect)"
    )
    return pipe_table(header, rows, "lrrrrr", caption, label)


def coefficients(results: Results, model: ModelResult, label: str) -> str:
    if model.is_binomial:
        return odds_coefficients(results, model, label)
    labels = labels_for(results)
    robust = any(fe.robust_se is not None for fe in model.fixed_effects)
    rows = []
    for fe in model.fixed_effects:
        row = [
            fmt.md_escape(labels.term(fe.term)),
            fmt.sig(fe.estimate, 3),
            fmt.sig(fe.std_error, 2),
            fmt.df(fe.df),
            fmt.pvalue(fe.p_value).removeprefix("p ").removeprefix("= "),
            fmt.keep_together(f"[{fmt.sig(fe.ci_low, 3)}, {fmt.sig(fe.ci_high, 3)}]"),
            fmt.num(fe.std_estimate, 2) if fe.std_estimate is not None else "",
        ]
        if robust:
            row += [
                fmt.sig(fe.robust_se, 2) if fe.robust_se is not None else "",
                fmt.pvalue(fe.robust_p).removeprefix("p ").removeprefix("= ")
                if fe.robust_p is not None
                else "",
            ]
        rows.append(row)
    header = ["Term", "Estimate", "SE", "df", "p", "95% CI", "Std."]
    caption = (
        f"Fixed effects of the {model.label.lower()} model ({model.df_method} degrees of freedom; "
        "Std.: the estimate in outcome SDs per predictor SD, or per category switch"
    )
    if robust:
        header += ["CR2 SE", "CR2 p"]
        caption += "; CR2: cluster-robust SE and p with Satterthwaite df, as clubSandwich"
    return pipe_table(header, rows, "l" + "r" * (len(header) - 1), caption + ")", label)


def _component_references(tests) -> str:
    """The variance table's words for the p values its tests use (ComponentTest.p_value_method)."""
    used = {getattr(t, "p_value_method", Reference.CHI_BAR) for t in tests}
    mixture = "a 50:50 mixture of χ²(df − 1) and χ²(df)"
    if Reference.CHI_SQUARE_CONSERVATIVE not in used:
        return f", p from {mixture}"
    naive = (
        "a whole level with slopes (several variances at once, no simple mixture): "
        "p from the naive χ²(df), conservative (too large)"
    )
    return f"; {naive}; otherwise p from {mixture}" if Reference.CHI_BAR in used else f"; {naive}"


def variance_components(results: Results, model: ModelResult, label: str) -> str:
    """Variances with SDs, correlations, 95% profile intervals, the reliability of each random
    coefficient and the final model's test of each slope, as HLM 8 and lme4 report them."""
    labels = labels_for(results)
    tests = (
        {t.term: t for t in results.component_tests} if model.name == results.final_model else {}
    )
    rows = []

    def ci(vc) -> str:
        if vc.ci_low is None or vc.ci_high is None:
            return ""
        digits = fmt.num if vc.term2 is not None else fmt.sig
        return fmt.keep_together(f"[{digits(vc.ci_low, 3)}, {digits(vc.ci_high, 3)}]")

    multilevel = levels.multilevel(results)
    by_level = levels.level_results(model)
    if multilevel:
        tests = {
            (getattr(t, "level", None), t.term): t
            for t in (results.component_tests if model.name == results.final_model else ())
        }
    for vc in model.variance_components:
        if vc.group == "Residual":
            rows.append(
                ["Residual", fmt.sig(vc.estimate, 3), fmt.sig(vc.sdcor, 3), "", ci(vc), "", ""]
            )
            continue
        if vc.term2 is None:
            test = tests.get((vc.group, vc.term1)) if multilevel else tests.get(vc.term1)
            # several levels: the Intercept row's test drops the level's whole random term, so
            # when the level has slopes too the row says so (the statistic is not the
            # intercept's alone)
            whole = (
                multilevel
                and test is not None
                and vc.term1 == INTERCEPT
                and len(getattr(by_level.get(vc.group), "terms", ())) > 1
            )
            # the Level column names the level already; "whole level" keeps the cell short
            scope = "whole level: " if whole else ""
            rows.append(
                [
                    fmt.md_escape(labels.term(vc.term1, with_reference=False)),
                    fmt.sig(vc.estimate, 3),
                    fmt.sig(vc.sdcor, 3),
                    "",
                    ci(vc),
                    fmt.num(
                        by_level[vc.group].reliability.get(vc.term1)
                        if multilevel and vc.group in by_level
                        else model.reliability.get(vc.term1),
                        2,
                    ),
                    f"{scope}χ²({test.df}) = {fmt.num(test.statistic, 2)}, "
                    f"{fmt.pvalue(test.p_value)}"
                    if test
                    else "",
                ]
            )
        else:
            pair = f"{labels.term(vc.term1, False)} with {labels.term(vc.term2, False)}"
            rows.append(
                [
                    fmt.md_escape(pair),
                    fmt.sig(vc.estimate, 3),
                    "",
                    fmt.num(vc.sdcor, 2),
                    ci(vc),
                    "",
                    "",
                ]
            )
    if multilevel:
        # the level in front of each row: the level's label, the residual's own
        shown = [
            fmt.md_escape(labels.raw(vc.group)) if vc.group != "Residual" else ""
            for vc in model.variance_components
        ]
        for row, level in zip(rows, shown, strict=True):
            row.insert(0, level)
        header = [
            "Level",
            "Term",
            "Variance / covariance",
            "SD",
            "Correlation",
            "95% CI",
            "Reliability",
            "Test",
        ]
        keep = [i for i in range(len(header)) if i != 5 or any(r[5] for r in rows)]
        return pipe_table(
            [header[i] for i in keep],
            [[r[i] for i in keep] for r in rows],
            "".join("llrrrrrl"[i] for i in keep),
            f"Variance components of the {model.label.lower()} model "
            + (
                "for each crossed factor"
                if levels.crossed(results)
                else "at each level, outermost first"
            )
            + (" on the log-odds scale" if model.is_binomial else "")
            + " (reliability: the average over a level's groups of each random coefficient's "
            "reliability; test: "
            # a yes/no outcome's models are fitted by the Laplace likelihood (glmer's), not REML
            + ("Laplace likelihood ratio" if model.is_binomial else "REML likelihood ratio")
            + " for dropping a slope with its "
            "covariances, or on an Intercept row the level's whole random term"
            + _component_references(tests.values())
            + ")",
            label,
        )
    if model.is_binomial:
        return pipe_table(
            ["Term", "Variance / covariance", "SD", "Correlation"],
            [row[:4] for row in rows],
            "lrrr",
            f"Variance components of the {model.label.lower()} model on the log-odds scale, "
            f"{_between(results)} (the level-1 variance "
            "is fixed at π²/3 ≈ 3.29 on the latent scale)",
            label,
        )
    return pipe_table(
        ["Term", "Variance / covariance", "SD", "Correlation", "95% CI", "Reliability", "Test"],
        rows,
        "lrrrrrl",
        f"Variance components of the {model.label.lower()} model, {_between(results)} (95% CI: "
        "profile likelihood, of the SD or correlation; reliability: HLM's average lambda of "
        f"each {fmt.md_escape(labels.group_in_sentence())}'s own coefficient; test: REML "
        "likelihood ratio for dropping the term, 50:50 chi-bar-square)",
        label,
    )


def _between(results: Results) -> str:
    """Whose variance a one-level table shows: "between schools (School ID)", "between groups
    (SES)"."""
    labels = labels_for(results)
    noun = labels.group_in_sentence()
    column = labels.variable(results.spec.group)
    shown = "" if column.lower() == noun.lower() else f" ({fmt.md_escape(column)})"
    return f"between {fmt.md_escape(plural(noun))}{shown}"


def simple_slopes(results: Results, label: str) -> str:
    if not results.simple_slopes:
        return ""
    labels = labels_for(results)
    rows = []
    for s in results.simple_slopes:
        at = (
            s.moderator_value
            if s.moderator_number is None or s.moderator_value == f"{s.moderator_number:g}"
            else "{} ({})".format(*slope_point(results, s))
        )
        rows.append(
            [
                fmt.md_escape(labels.term(s.focal, with_reference=False)),
                fmt.md_escape(f"{labels.variable(s.moderator)} = {at}"),
                fmt.sig(s.estimate, 3),
                fmt.sig(s.std_error, 2),
                fmt.df(s.df),
                fmt.keep_together(f"[{fmt.sig(s.ci_low, 3)}, {fmt.sig(s.ci_high, 3)}]"),
                fmt.pvalue(s.p_value).removeprefix("p ").removeprefix("= "),
            ]
        )
    return pipe_table(
        ["Slope of", "At", "Estimate", "SE", "df", "95% CI", "p"],
        rows,
        "llrrrrr",
        f"Simple slopes from the {results.final.label.lower()} model: the slope of each focal "
        "predictor at each level (or at the mean and one SD either side) of its moderator "
        "(Satterthwaite df, as lmerTest's contest)",
        label,
    )


def reference_label(method: Reference | str, df: int) -> str:
    """The reference distribution a comparison's p was computed from, in the table's words
    (model/analysis.py picks it: the label says what was computed, for each case)."""
    if method == Reference.CHI_BAR:
        # one variance at its boundary; with df - 1 covariances, Stram & Lee's approximation
        mixture = f"50:50 χ²({df - 1}) and χ²({df})"
        return mixture if df <= 1 else f"{mixture} (Stram & Lee)"
    if method == Reference.CHI_BAR_LEVELS:
        return f"χ²(0) to χ²({df}), binomial weights"
    if method == Reference.CHI_SQUARE_CONSERVATIVE:
        return f"naive χ²({df}), conservative"
    if method == Reference.CHI_SQUARE_ML:
        return f"χ²({df})"
    return str(method)


def _reference_note(method: Reference | str, df: int) -> str | None:
    """What a reference distribution of the table is, for its caption."""
    if method == Reference.CHI_BAR:
        if df <= 1:
            return (
                "50:50 χ²(0) and χ²(1): one added variance, at its boundary of zero under the null"
            )
        return (
            f"50:50 χ²({df - 1}) and χ²({df}): a slope's variance with its covariances, "
            "Stram & Lee's usual approximation"
        )
    if method == Reference.CHI_BAR_LEVELS:
        return (
            f"χ²(0) to χ²({df}), binomial weights: {df} independent intercept variances added at "
            "once, each at its boundary"
        )
    if method == Reference.CHI_SQUARE_CONSERVATIVE:
        return (
            f"naive χ²({df}): several variances added at once, for which no simple mixture "
            "holds; the naive p is larger than the true one (conservative)"
        )
    return None


_MIXTURES = (Reference.CHI_BAR, Reference.CHI_BAR_LEVELS)


def comparisons(results: Results, label: str) -> str:
    rows = []
    for c in results.comparisons:
        # the naive p beside a mixture's: the reader sees what the boundary correction changed
        naive = (
            f" (naive {fmt.pvalue(c.p_value_naive)})"
            if c.p_value_naive is not None and c.p_value_method in _MIXTURES
            else ""
        )
        rows.append(
            [
                f"{results.models[c.model_a].label} vs {results.models[c.model_b].label}",
                fmt.num(c.statistic, 2),
                str(c.df),
                fmt.pvalue(c.p_value) + naive,
                reference_label(c.p_value_method, c.df),
                "ML" if c.refit or results.spec.family == "binomial" else "REML",
            ]
        )
    notes = dict.fromkeys(
        note
        for c in results.comparisons
        if (note := _reference_note(c.p_value_method, c.df)) is not None
    )
    return pipe_table(
        ["Comparison", "χ²", "df", "p", "Reference distribution", "Fitted by"],
        rows,
        "lrrlll",
        "Likelihood-ratio tests between neighbouring models"
        + "".join(
            f". {note[:1].upper()}{note[1:]}" if note[0] != "χ" else f". {note}" for note in notes
        ),
        label,
    )


def selection(results: Results, label: str) -> str:
    rows = [
        [
            results.models[s.model].label,
            fmt.num(s.aic, 1),
            fmt.num(s.bic, 1),
            fmt.num(s.delta_aic, 1),
            fmt.num(s.akaike_weight, 3),
        ]
        for s in sorted(results.selection, key=lambda s: s.aic)
    ]
    return pipe_table(
        ["Model", "AIC", "BIC", "ΔAIC", "Akaike weight"],
        rows,
        "lrrrr",
        "Information criteria from maximum-likelihood fits (smaller is better)",
        label,
    )


def attempts(results: Results, label: str) -> str:
    rows = []
    for m in results.mixed_models:
        for i, a in enumerate(m.attempts):
            claimed = {True: "yes", False: "no", None: ""}[a.converged_reported]
            exact = (
                fmt.num(a.loglik, 4)
                if a.loglik is not None
                else (fmt.md_escape(a.note) or "not finite")
            )
            reported = fmt.num(a.loglik_reported, 4) if a.loglik_reported is not None else ""
            rows.append([m.label if i == 0 else "", a.optimizer, a.start, exact, reported, claimed])
    header = ["Model", "Optimizer", "Start", "Exact log-lik", "Reported", "Claimed converged"]
    align = "lllrrl"
    caption = "Every optimizer attempt, scored with the exact " + (
        "marginal log-likelihood" if results.spec.family == "binomial" else "REML criterion"
    )
    # Only outside optimizers (statsmodels) report their own value and convergence: without
    # one, the last two columns would be empty.
    if any(row[4] or row[5] for row in rows):
        caption += " (reported: the optimizer's own value)"
    else:
        header, align, rows = header[:4], align[:4], [row[:4] for row in rows]
    return pipe_table(header, rows, align, caption, label)


def contextual(results: Results, label: str) -> str:
    if not results.contextual_effects:
        return ""
    labels = labels_for(results)
    rows = []
    for row in results.contextual_effects:
        # several levels: the level whose averages the row is about, e.g. "prior (school)"
        level = f" ({labels.raw(row.level)})" if row.level else ""
        for kind in ("within", "between", "contextual"):
            e = getattr(row, kind)
            rows.append(
                [
                    fmt.md_escape(labels.raw(row.variable) + level) if kind == "within" else "",
                    kind,
                    fmt.sig(e.estimate, 3),
                    fmt.sig(e.std_error, 2),
                ]
            )
    return pipe_table(
        ["Variable", "Effect", "Estimate", "SE"],
        rows,
        "llrr",
        "Within-group, between-group and contextual (between minus within) effects",
        label,
    )
