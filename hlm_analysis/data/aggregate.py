"""The data stage in an SQL engine: files too large for memory (or on a cluster) are reduced to
the design's per-group cross products without the rows ever reaching Python.

The passes over the data, each a streaming aggregation the engine parallelises; only the
design sums group (a GROUP BY costs several plain scans, and its cost grows with the aggregates
it keeps per group), and only when it must does any other:
1. (only for text columns) which text columns are numbers, and the stray tokens if any;
2. one row for the whole data: rows read, cells present per column, each numeric column's
   largest magnitude, complete rows, which numeric columns hold only 0 and 1, and the sums
   grand means need. When Parquet footers say no column used has a null (and no grand mean
   is taken) it waits for pass 3, whose counts, minima and maxima say the same when every row
   is complete; then only the columns that may be 0/1 get a plain pass (after pass 3);
3. per group: every sum of products of two design columns (the DesignSums), with minima and
   maxima (group-level variables, constant predictors), none for a column constant in each
   group (the intercept, a group mean). With group means (group-mean centring, contextual
   effects) the GROUP BY runs over the columns as read and the design's sums follow by algebra
   (group_means.py): no pass for the means first, no join of them onto the rows; only when that
   would be inexact (two level-1 columns multiplied with a centred one, or digits lost to
   cancellation) does a second GROUP BY run with the means joined on;
4. the figures' sample: a seeded hash of each row's values picks the same rows on every run
   and engine-independently of file order (all rows when they fit in memory, which also keeps
   CR2). It rides along with a scan that reads every row anyway and has no GROUP BY: pass 2
   when the Parquet footers give the number of rows, else the 0/1 pass after pass 3 (which
   runs anyway when a column may be 0/1). That scan keeps the rows whose hash is below a
   threshold (about 4x the sample) and the sample is then drawn from those few rows.
So a model over Parquet parts without centring reads the data twice: pass 3's GROUP BY and
one plain scan (pass 2, or the 0/1 check, with the sample). Folding that plain scan into the
GROUP BY as well was measured (DuckDB 2.0, 5M and 50M rows, 20k groups): every aggregate
kept per group costs about as much as a plain scan of the Parquet parts does, so the one-scan
query took twice the CPU of the two scans. Each scan runs inside `engine.scan(label)`, which
times it (`make bench --only scale` prints them).
The design itself (terms, reference levels, interactions) is build_design's, with SQL
expressions for columns (and polynomials in them for the algebra); only the group table
(groups x group means) goes back in, for the figures' rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..results import TermKind
from ..spec import Spec, reads_as_number, shown
from . import group_means
from .columns import (
    check_columns_exist,
    columns_used,
    contextual_name,
    id_order,
    refuse_missing_codes,
)
from .engines import Engine
from .levels import key_sql, single_group
from .outcome import SHOWN_VALUES, BinaryCoding, choose_event
from .prepare import (
    MAX_TERMS,
    MEASURED,
    SAMPLE_ROWS,
    SAMPLE_SEED,
    TOO_LARGE,
    Prepared,
    Rows,
    assemble,
    build_design,
    check_groups,
    design_names,
    design_variables,
    numeric_variables,
    refuse_constant,
    refuse_large_product,
    refuse_large_values,
    refuse_many_levels,
    refuse_wide_design,
    require_numbers,
)
from .source import IN_MEMORY_ROWS, Source
from .sums import CONSTANT_SPREAD, DesignSums
from .variation import refuse_outcome_constant

if TYPE_CHECKING:  # pandas is imported when a frame first comes back (route.py starts it early)
    import pandas as pd

# Designs wider than this count their groups first (one more pass), so that the per-group
# sums of a wide design over many groups are refused before the engine returns them.
WIDE = 100


class SqlAlgebra:
    """Design columns as SQL expressions over the `analysis` view (columns c0.., group means
    m0.. joined from the group table)."""

    def __init__(self, engine: Engine, alias: dict[str, str], centred: dict[str, str]):
        self.engine, self.alias, self.centred = engine, alias, centred

    def ones(self):
        return "1.0"

    def numeric(self, var: str):
        return self.centred.get(var, self.alias[var])

    def dummy(self, var: str, level: str):
        return f"(CASE WHEN {self.alias[var]} = {self.engine.literal(level)} THEN 1.0 ELSE 0.0 END)"

    def product(self, values: list):
        return "(" + " * ".join(f"({v})" for v in values) + ")"


def _number(engine: Engine, text: str) -> str:
    """A text cell as a number, NULL when it is not one (NaN counts as not a number)."""
    cast = f"TRY_CAST({text} AS DOUBLE)"
    # DuckDB reads 1_0 as 10 (digit separators); pandas, in memory, as text
    return f"(CASE WHEN isnan({cast}) OR instr({text}, '_') > 0 THEN NULL ELSE {cast} END)"


def prepare_in_engine(spec: Spec, source: Source, engine: Engine) -> Prepared:
    used = columns_used(spec)
    tokens = list(spec.missing_values)
    check_columns_exist(spec, source.columns)
    kinds = engine.load(source, used)  # src's column s{i} is used[i]
    alias = {c: f"c{i}" for i, c in enumerate(used)}
    token_list = ", ".join(engine.literal(t) for t in tokens)
    numeric_tokens = ", ".join(
        f"CAST('{float(t)!r}' AS DOUBLE)"
        for t in tokens
        if reads_as_number(t) and math.isfinite(float(t))
    )

    def cleaned(column: str) -> str:
        ref, kind = f"s{used.index(column)}", kinds[column]
        if column in spec.levels and kind == "number":
            return ref  # an id: grouped by its own type (faster than text), named as text later
        if column in spec.levels:
            kind = "text"
        if kind == "bool":
            return f"(CASE WHEN {ref} IS NULL THEN NULL WHEN {ref} THEN 'True' ELSE 'False' END)"
        if kind == "number":
            value = f"CAST({ref} AS DOUBLE)"
            missing = f"isnan({value})"
            if numeric_tokens:  # missing_values: ["-99"] empties -99 in a number column too
                missing += f" OR {value} IN ({numeric_tokens})"
            return f"(CASE WHEN {missing} THEN NULL ELSE {value} END)"
        text = f"CAST({ref} AS {engine.text_type})"
        if not tokens:
            return text
        missing = f"{text} IN ({token_list})"
        if numeric_tokens and column not in spec.levels:
            # as pandas reads a number column: a token -99 also makes -99.0 and -99.00 missing
            missing += f" OR TRY_CAST({text} AS DOUBLE) IN ({numeric_tokens})"
        return f"(CASE WHEN {missing} THEN NULL ELSE {text} END)"

    engine.execute(
        "CREATE OR REPLACE TEMPORARY VIEW raw AS SELECT "
        + ", ".join(f"{cleaned(c)} AS {alias[c]}" for c in used)
        + " FROM src"
    )
    binomial = spec.family == "binomial"
    judged = [c for c in used if not (binomial and c == spec.outcome)]
    numeric = _numeric_columns(spec, engine, judged, kinds, alias)
    as_number = {
        c: _number(engine, alias[c]) if kinds[c] != "number" else alias[c] for c in numeric
    }
    coding = None
    if binomial:  # the outcome as 1.0 (the event) and 0.0, whatever it is stored as
        as_number[spec.outcome], coding = _binary_outcome(
            spec, engine, kinds, alias, source.format == "csv"
        )
        numeric.add(spec.outcome)
    require_numbers(spec, numeric.__contains__)
    # text levels and group ids in NFC, as in memory (a number-typed group id is no text)
    texts = engine.nfc(
        {
            c: alias[c]
            for c in used
            if c not in numeric and not (c in spec.levels and kinds[c] == "number")
        },
        "raw",
    )
    if source.format == "csv":
        spelled = [c for c in used if c not in numeric and c not in (*spec.levels, spec.outcome)]
        texts |= _booleans(engine, spelled, alias)
    engine.execute(
        "CREATE OR REPLACE TEMPORARY VIEW analysis AS SELECT "
        + ", ".join(
            f"{as_number[c] if c in numeric else texts.get(c, alias[c])} AS {alias[c]}"
            for c in used
        )
        # several levels: rows are grouped by their cell, the ids joined (levels.py)
        + (", " + key_sql([_whole(engine, c, alias[c]) if c in engine.int_and_float
                           else (texts.get(c, alias[c]), c not in texts) for c in spec.levels],
                          engine.text_type) + " AS gk"
           if spec.multilevel else "")
        + " FROM raw"
    )  # fmt: skip
    complete = " AND ".join(f"{alias[c]} IS NOT NULL" for c in used)
    # the group key: the one SQL expression rows are grouped by (several levels: their cell)
    g, a = "gk" if spec.multilevel else alias[spec.group], alias
    model_numeric = [c for c in used if c in numeric and c not in spec.levels]
    predictors = list(spec.predictors) + [contextual_name(c) for c in spec.contextual]
    mean_predictors = {contextual_name(c) for c in spec.contextual}
    variables = design_variables(spec, predictors)
    # numeric variables whose Variable says whether they hold only 0 and 1 (a centred one never)
    maybe_binary = [
        v
        for v in variables
        if v in numeric and v not in mean_predictors and v not in spec.centering
    ]
    grand_of = [c for c, how in spec.centering.items() if how == "grand"]
    means_of = list(
        dict.fromkeys([*(c for c in spec.centering if c not in grand_of), *spec.contextual])
    )

    def refuse_too_large(column: str) -> None:
        query = f"SELECT COUNT(*) AS bad FROM analysis WHERE abs({a[column]}) > {TOO_LARGE!r}"
        with engine.scan("too-large values"):
            refuse_large_values(column, int(engine.frame(query)["bad"].iloc[0]))

    # the figures' sample (pass 4): the rows with the smallest seeded hash of their values
    row_hash = engine.row_hash([alias[c] for c in used], SAMPLE_SEED)
    analysis_columns = [alias[c] for c in used] + (["gk"] if spec.multilevel else [])
    candidates: list[str] = []  # a relation holding the rows a plain scan kept for the sample

    def plain_scan(
        label: str, parts: dict[str, str], fraction: float | None, relation: str = "analysis"
    ) -> pd.Series:
        """One scan without GROUP BY: the aggregates `parts` (name -> SQL) over every row and,
        given a `fraction`, the complete rows whose hash is below it, kept for the sample."""
        if fraction is None:
            with engine.scan(label):
                return engine.frame(
                    "SELECT " + ", ".join(f"{sql} AS {name}" for name, sql in parts.items())
                    + f" FROM {relation}"
                ).iloc[0]  # fmt: skip
        below = engine.hash_threshold(fraction)
        kept = engine.collect_rows([*analysis_columns, "h"], f"h < {below} AND {complete}")
        selected = [f"{sql} AS {name}" for name, sql in (parts | kept).items()]
        with engine.scan(f"{label} and the sample's rows" if label else "the sample's rows"):
            engine.keep(
                "hlm_checks",
                f"SELECT {', '.join(selected)} FROM (SELECT *, {row_hash} AS h FROM {relation}) "
                "analysis",
            )
        candidates[:] = [f"({engine.unnest_rows('hlm_checks', [*analysis_columns, 'h'])})"]
        if not parts:
            import pandas as pd

            return pd.Series(dtype=float)
        return engine.frame(f"SELECT {', '.join(parts)} FROM hlm_checks").iloc[0]

    def sample_fraction(rows: int | None) -> float | None:
        """What share of `rows` (at least the complete rows) a plain scan keeps for the sample:
        none when every row comes back or the rows are not known."""
        return None if rows is None or rows <= IN_MEMORY_ROWS else 4 * SAMPLE_ROWS / rows

    # pass 2, one row for all the data (no GROUP BY, so about a plain scan): rows read, cells
    # present, each numeric column's largest magnitude, complete rows, whether a column holds
    # anything but 0 and 1 in them (x(1 - x) is 0 only at 0 and 1, and never underflows to
    # 0), and the sums grand means need
    totals: pd.Series | None = None

    def counted() -> pd.Series:
        """Pass 2 (run once) and the checks on it, in the in-memory path's order."""
        nonlocal totals
        if totals is not None:
            return totals
        parts = {"n_read": "COUNT(*)", "n": f"COUNT(CASE WHEN {complete} THEN 1 END)"}
        parts |= {f"has_{a[c]}": f"COUNT({a[c]})" for c in used}
        parts |= {f"top_{a[c]}": f"MAX(abs({a[c]}))" for c in model_numeric}
        # each numeric column's range in the complete rows: beyond memory the design sums read
        # no per-group minimum and maximum of a column that varies within groups (_bounds)
        parts |= {
            f"{side}_{a[c]}": f"{fn}(CASE WHEN {complete} THEN {a[c]} END)"
            for c in model_numeric
            for side, fn in (("lo", "MIN"), ("hi", "MAX"))
        }
        parts |= {
            f"off_{a[c]}": f"MAX(CASE WHEN {complete} THEN abs({a[c]} * (1.0 - {a[c]})) END)"
            for c in maybe_binary
        }
        parts |= {
            f"sum_{a[c]}": f"SUM(CASE WHEN {complete} THEN {a[c]} END)"
            for c in dict.fromkeys([*grand_of, *means_of])
        }
        # the Parquet footers' row count bounds the complete rows: the sample's rows come along
        # CSV parts give no row count: their size over the bytes of a line read at their start
        # says about how many, and twice the usual share is kept (more than four times the
        # sample then, unless the lines there are more than twice as long as the rest: then
        # the sample's own scan follows, as without an estimate), which spares a CSV the scan
        # that parses every cell once more for the sample alone
        rows = source.rows or _csv_rows(source)
        fraction = sample_fraction(rows)
        if source.rows is None and fraction is not None:
            fraction = min(2 * fraction, 1.0)
        totals = plain_scan("counts and checks", parts, fraction)
        if int(totals["n_read"]) == 0:
            raise InputError(f"data file has no rows: {shown(source.label)}")
        for c in model_numeric:
            if float(totals[f"top_{a[c]}"]) > TOO_LARGE:  # NaN (no value at all) is not
                refuse_too_large(c)
        if int(totals["n"]) == 0:
            raise InputError(
                f"data file {shown(spec.data.name)}: every row has a missing value in "
                f"{shown(', '.join(dropped_in(totals)))}; nothing left to analyse"
            )
        return totals

    def off_01(totals: pd.Series, v: str) -> bool:
        name = f"off_{a[v]}"  # (the lean pass asks no column its footers' range rules out)
        return name in totals and float(totals[name]) == 0.0

    def dropped_in(totals: pd.Series) -> dict[str, int]:
        dropped = {c: int(totals["n_read"]) - int(totals[f"has_{a[c]}"]) for c in used}
        return {c: n for c, n in dropped.items() if n}

    # When the Parquet footers say no column used has a null, pass 2 waits: the design sums
    # count the complete rows, and when these are all the rows (no NaN either), what pass 2
    # would say follows from the design sums' counts, minima and maxima (and a plain pass
    # over the 0/1 columns only). Otherwise (or with grand means to take) it runs first.
    deferred = bool(source.rows) and not grand_of and set(used) <= source.footers.null_free
    # Beyond memory a lean pass 2 comes first instead (its checks over every row, no counts:
    # the design sums count, and a NaN they reveal brings the whole pass 2 after all), with
    # the sample's rows: its 0/1 answers and ranges let the design sums leave out the
    # per-group minima and maxima and a 0/1 column's square, each as dear as a sum of products
    # in a GROUP BY, where pass 2's aggregates over all rows cost far less.
    lean: pd.Series | None = None

    def as_stored() -> str:
        """The relation the lean pass and the design sums read: where every column used is
        stored as numbers (one level, a linear model, no missing-value code that is a number),
        the columns as stored, without the CASE that makes a NaN NULL (50M rows, lean pass:
        1.78 -> 1.62 CPU s). When the design sums hold no NaN no cell was one, and the rows,
        hashes, checks and ranges are the analysis view's; else the design sums run again over
        the analysis view, their count falls short, and pass 2 runs in full and keeps the
        sample's rows itself."""
        if spec.multilevel or binomial or numeric_tokens or any(kinds[c] != "number" for c in used):
            return "analysis"
        stored = ", ".join(
            f"{ref} AS {alias[c]}" if c in spec.levels else f"CAST({ref} AS DOUBLE) AS {alias[c]}"
            for c, ref in ((c, f"s{i}") for i, c in enumerate(used))
        )
        return f"(SELECT {stored} FROM src)"

    if deferred and source.rows > IN_MEMORY_ROWS:
        # a column's range: the footers' when they all give it (every row then complete)
        ranged = [c for c in model_numeric if c not in source.footers.bounds]
        parts = {f"lo_{a[c]}": f"MIN({a[c]})" for c in ranged}
        parts |= {f"hi_{a[c]}": f"MAX({a[c]})" for c in ranged}
        # 0/1 or not: asked of a column only when its footers' range allows it (outside
        # [0, 1] is a value of some row, and every row counts once the design sums say all
        # are complete)
        bounds = source.footers.bounds
        parts |= {
            f"off_{a[c]}": f"MAX(abs({a[c]} * (1.0 - {a[c]})))"
            for c in maybe_binary
            if c not in bounds or (bounds[c][0] >= 0 and bounds[c][1] <= 1)
        }
        parts["n"] = "COUNT(*)"
        lean = plain_scan("checks", parts, sample_fraction(source.rows), as_stored())
    if not deferred:
        counted()

    def design_sums(label: str, query) -> pd.DataFrame:
        """The design sums' GROUP BY, `query(relation)`: over the columns as stored when the
        lean pass read them so (no CASE per cell; 5M rows 0.58 -> 0.51 CPU s, medians of 7). A
        NaN among them makes its group's sums NaN: then again over the analysis view, which
        leaves its row out (and the count that falls short brings pass 2)."""
        stored = as_stored() if lean is not None else "analysis"
        with engine.scan(label):
            agg = _frames(engine, query(stored))
        if stored != "analysis" and np.isnan(agg.drop(columns="gv").to_numpy(float)).any():
            with engine.scan(f"{label}, NaN left out"):
                agg = _frames(engine, query("analysis"))
        return agg

    def checked() -> pd.Series | None:
        """Pass 2's answers: whole, or the lean pass's over every row (a superset of the
        complete rows: a column 0/1 there is 0/1 in them)."""
        return totals if totals is not None else lean

    checked_in_rows: list[str] = []  # 0/1 columns the rows fetched for the figures settle
    try:
        centred: dict[str, str] = {}
        mean_column = {c: f"m{i}" for i, c in enumerate(means_of)}
        table = None
        ordered: list[str] = []

        def counted_groups() -> pd.DataFrame:
            with engine.scan("groups counted"):
                return engine.frame(
                    f"SELECT {g} AS g, COUNT(*) AS n FROM analysis WHERE {complete} GROUP BY {g}"
                )

        for c, how in spec.centering.items():
            if how == "group":
                centred[c] = f"({a[c]} - {mean_column[c]})"
            else:
                grand = float(counted()[f"sum_{a[c]}"]) / int(counted()["n"])
                centred[c] = f"({a[c]} - CAST('{grand!r}' AS DOUBLE))"  # exact, not a DECIMAL

        # the design, built by build_design with SQL expressions for columns (built again,
        # the same but for the 0/1 columns, when pass 2 waited)
        algebra = SqlAlgebra(
            engine, alias | {contextual_name(c): mean_column[c] for c in spec.contextual}, centred
        )
        levels_of: dict[str, tuple[str, ...] | None] = {}
        binary = {v: checked() is not None and off_01(checked(), v) for v in maybe_binary}
        for var in variables:
            if var in mean_predictors:  # a group mean: a number, never only 0 and 1 in general
                levels_of[var], binary[var] = None, False
            elif var in numeric:
                levels_of[var] = None
                binary.setdefault(var, False)
            else:
                # no more than a design may hold come back (an id column has millions)
                with engine.scan(f"levels of {var}"):
                    found = engine.frame(
                        f"SELECT DISTINCT {alias[var]} AS level FROM analysis WHERE {complete} "
                        f"LIMIT {MAX_TERMS + 2}"
                    )
                if len(found) > MAX_TERMS + 1:
                    with engine.scan(f"levels of {var} counted"):
                        counted_levels = engine.frame(
                            f"SELECT COUNT(DISTINCT {alias[var]}) AS n FROM analysis "
                            f"WHERE {complete}"
                        )
                    refuse_many_levels(var, int(counted_levels["n"].iloc[0]))
                levels_of[var] = tuple(sorted(str(v) for v in found["level"]))
                refuse_missing_codes(  # -99 among words: a missing-value code, as in memory
                    var,
                    levels_of[var],
                    lambda v, var=var: int(
                        engine.frame(
                            f"SELECT COUNT(*) AS n FROM analysis WHERE {complete} "
                            f"AND {alias[var]} = {engine.literal(v)}"
                        )["n"].iloc[0]
                    ),
                    spec.not_missing.get(var, ()),
                )
        try:
            columns, terms_of, categorical, design = build_design(
                spec, predictors, levels_of, binary, algebra
            )
        except InputError:  # what is wrong with the groups is said first, as in memory
            if totals is None:
                counted()
            _ordered_groups(spec, kinds, engine.int_and_float, counted_groups())
            raise
        expressions = {**columns, **{MEASURED + c: alias[c] for c in spec.centering}}
        names = design_names(spec, columns)
        if len(names) > WIDE:  # per group a square of the columns comes back: count groups
            with engine.scan("groups counted"):
                found = engine.frame(
                    f"SELECT COUNT(DISTINCT {g}) AS n FROM analysis WHERE {complete}"
                )
            refuse_wide_design(spec, predictors, levels_of, groups=int(found["n"].iloc[0]))
        measured_numeric = numeric_variables(spec, predictors, categorical)
        measured_expr = {c: alias.get(c, expressions.get(c)) for c in measured_numeric}
        k = len(names) + 1
        column_sql = [alias[spec.outcome], *(expressions[name] for name in names)]
        as_read = {sql: i for i, sql in reversed(list(enumerate(column_sql)))}
        # numeric columns no design column holds as read (a contextual effect's only)
        unseen = [c for c in model_numeric if a[c] not in as_read]

        # the group table is joined only when columns need group means; otherwise rows are
        # grouped by the group's own value, mapped to codes here (a join per row costs a pass)
        def design_select(relation: str, extra: str = "") -> str:
            join = f" JOIN hlm_groups ON analysis.{g} = hlm_groups.g" if means_of else ""
            return (
                f"SELECT analysis.{g} AS gv, "
                + ", ".join(f"{sql} AS d{i}" for i, sql in enumerate(column_sql))
                + ", "
                + ", ".join(f"{measured_expr[c]} AS v{i}" for i, c in enumerate(measured_numeric))
                + extra
                + f" FROM {relation} analysis{join} WHERE {complete}"
            )

        def read_range(sql: str) -> tuple[float, float] | None:
            """A column's smallest and largest value in the complete rows, when pass 2 gave
            them: a column as read, or one less its grand mean (rounding keeps the order)."""
            # (the lean pass's ranges are the complete rows' once the design sums counted
            # every row: this is asked after they did)
            facts = checked()
            if facts is None:
                return None
            for c in model_numeric:
                if totals is None and c in source.footers.bounds:
                    lo, hi = source.footers.bounds[c]
                else:
                    lo, hi = float(facts[f"lo_{a[c]}"]), float(facts[f"hi_{a[c]}"])
                if sql == a[c]:
                    return lo, hi
                if c in grand_of and sql == centred.get(c):
                    grand = np.float64(float(counted()[f"sum_{a[c]}"]) / int(counted()["n"]))
                    return float(np.float64(lo) - grand), float(np.float64(hi) - grand)
            return None

        def _joined_sums() -> tuple[DesignSums, dict[str, float]]:
            """Pass 4 over the design's own SQL (group means joined on when there are any).
            A column constant in each group (the intercept's ones, a group mean) needs no
            aggregate of its own: its products are its value times the other column's sum (or
            times the count), its minimum and maximum the value. (The intercept's are then
            exactly as summed.) Also each `unseen` column's largest magnitude, when pass 2
            waited."""
            nonlocal ordered, table
            group_mean = {mean_column[c] for c in means_of}
            constant = [sql == algebra.ones() or sql in group_mean for sql in column_sql]
            aggregates: dict[str, str] = {}  # SQL -> its column in the result

            def aggregate(sql: str) -> str:
                return aggregates.setdefault(sql, f"a{len(aggregates)}")

            # beyond memory (pass 2 ran): a 0/1 column's square is itself, and no minimum or
            # maximum per group unless the sums cannot settle it (_bounds)
            slim = checked() is not None and int(checked()["n"]) > IN_MEMORY_ROWS
            zero_one_names = _zero_one_terms(design) if slim else set()
            zero_one = [name in zero_one_names for name in (None, *names)]
            sum_of = {x: aggregate(f"SUM(d{x})") for x in range(k) if not constant[x]}
            cross_of = {
                (x, y): aggregate(f"SUM(d{x} * d{y})")
                for x in range(k)
                for y in range(x, k)
                if not (constant[x] or constant[y] or (x == y and zero_one[x]))
            }
            ranged = [x for x in range(k) if not (constant[x] or slim)]
            low_of = {x: aggregate(f"MIN(d{x})") for x in ranged}
            high_of = {x: aggregate(f"MAX(d{x})") for x in ranged}
            extra, top_of = "", {}
            if totals is None:
                extra = "".join(f", {a[c]} AS r{i}" for i, c in enumerate(unseen))
                top_of = {c: aggregate(f"MAX(abs(r{i}))") for i, c in enumerate(unseen)}
            selected = [
                ", ".join(chunk)
                for chunk in _in_parts([f"{sql} AS {name}" for sql, name in aggregates.items()])
            ]
            agg = design_sums(
                "design sums" + (" (group means joined)" if means_of else ""),
                lambda relation: [
                    f"SELECT gv, COUNT(*) AS n, {part} "
                    f"FROM ({design_select(relation, extra)}) t GROUP BY gv"
                    for part in selected
                ],
            )
            if totals is None and int(agg["n"].sum()) != source.rows:
                counted()  # incomplete rows after all (NaN): pass 2 as without footers
            if table is None:
                ordered, table = _ordered_groups(
                    spec, kinds, engine.int_and_float, agg.rename(columns={"gv": "g"})
                )
            agg["code"] = _codes(agg["gv"], table["g"])
            agg = agg.sort_values("code")
            G = len(ordered)
            counts = agg["n"].to_numpy(np.int64)
            by_code = table.sort_values("code")

            def value(x: int) -> np.ndarray:  # a constant column's value in each group
                sql = column_sql[x]
                return np.ones(G) if sql == algebra.ones() else by_code[sql].to_numpy(float)

            def column_sum(x: int) -> np.ndarray:
                return value(x) * counts if constant[x] else agg[sum_of[x]].to_numpy(float)

            cross = np.empty((G, k, k))
            for x in range(k):
                for y in range(x, k):
                    if (x, y) in cross_of:
                        cross[:, x, y] = agg[cross_of[x, y]].to_numpy(float)
                    elif constant[x]:
                        cross[:, x, y] = value(x) * column_sum(y)
                    elif x == y:  # a 0/1 column: its sum, an exact count of ones
                        cross[:, x, x] = column_sum(x)
                    else:
                        cross[:, x, y] = value(y) * column_sum(x)
                    cross[:, y, x] = cross[:, x, y]

            low, high = np.empty((G, k)), np.empty((G, k))
            unsettled = []
            for x in range(k):
                if constant[x]:
                    low[:, x] = high[:, x] = value(x)
                elif x in low_of:
                    low[:, x] = agg[low_of[x]].to_numpy(float)
                    high[:, x] = agg[high_of[x]].to_numpy(float)
                else:
                    found = _bounds(
                        counts, column_sum(x), cross[:, x, x], zero_one[x],
                        read_range(column_sql[x]),
                    )  # fmt: skip
                    if found is None:
                        unsettled.append(x)
                    else:
                        low[:, x], high[:, x] = found
            if unsettled:  # a column that may be constant within groups: its own minima, maxima
                with engine.scan("group ranges"):
                    ranges = engine.frame(
                        "SELECT gv, "
                        + ", ".join(f"MIN(d{x}) AS lo{x}, MAX(d{x}) AS hi{x}" for x in unsettled)
                        + f" FROM ({design_select('analysis')}) t GROUP BY gv"
                    )
                ranges["code"] = _codes(ranges["gv"], table["g"])
                ranges = ranges.sort_values("code")
                for x in unsettled:
                    low[:, x] = ranges[f"lo{x}"].to_numpy(float)
                    high[:, x] = ranges[f"hi{x}"].to_numpy(float)

            joined = DesignSums(
                names=(spec.outcome, *names),
                counts=counts,
                cross=cross,
                group_low=low,
                group_high=high,
            )
            return joined, {c: float(agg[top_of[c]].max()) for c in top_of}

        def _shift(c: str) -> float:
            """A number near column c's centre, to take its group means about (see
            group_means.py): the grand mean when pass 2 ran, else the Parquet footers'."""
            if totals is not None:
                return float(totals[f"sum_{a[c]}"]) / int(totals["n"])
            return source.footers.centre.get(c, 0.0)

        # pass 3: every per-group sum of products, minima and maxima; with group means, by
        # algebra from the columns as read when it is exact (group_means.py), else joined
        sums = tops = None
        if means_of:
            shift = {c: _shift(c) for c in means_of}
            polynomial = _polynomial_design(
                spec, names, predictors, levels_of, binary, algebra, shift, unseen
            )
            # beyond memory (pass 2 ran) as in _joined_sums: 0/1 monomials' squares and
            # ranges follow from their sums, other ranges from the sums and pass 2 (_bounds);
            # a shifted column's ranges stay asked for (the cancellation check reads them)
            slim = checked() is not None and int(checked()["n"]) > IN_MEMORY_ROWS
            zero_one_sql = {columns[t] for t in _zero_one_terms(design, products=False)}
            zero_one = {
                m for m in polynomial.monomials if slim and all(f in zero_one_sql for f in m)
            }
            asked = {
                m for m in polynomial.ranged
                if not slim or m in polynomial.shifted.values()
            }  # fmt: skip
            agg = design_sums(
                "design sums (group means by algebra)",
                lambda relation: _monomial_query(
                    polynomial.monomials, asked, g, complete, zero_one, relation
                ),
            )
            if totals is None and int(agg["n"].sum()) != source.rows:
                counted()  # incomplete rows after all (NaN): pass 2 as without footers
            ordered, found = _ordered_groups(
                spec, kinds, engine.int_and_float, agg.rename(columns={"gv": "g"})
            )
            monomial_sums = _monomial_sums(found, polynomial.monomials, zero_one)
            settle = [m for m in polynomial.ranged if m not in asked]
            unsettled = []
            for m in settle:
                i = polynomial.monomials.index(m)
                found_bounds = _bounds(
                    monomial_sums.counts, monomial_sums.sums[:, i], monomial_sums.cross[:, i, i],
                    m in zero_one, read_range(m[0]) if len(m) == 1 else None,
                )  # fmt: skip
                if found_bounds is None:
                    unsettled.append(i)
                else:
                    monomial_sums.low[:, i], monomial_sums.high[:, i] = found_bounds
            if unsettled:  # perhaps constant within groups: their own minima and maxima
                expressions = _monomial_sql(polynomial.monomials)
                with engine.scan("group ranges"):
                    ranges = engine.frame(
                        "SELECT gv, "
                        + ", ".join(f"MIN(e{i}) AS lo{i}, MAX(e{i}) AS hi{i}" for i in unsettled)
                        + f" FROM (SELECT analysis.{g} AS gv, "
                        + ", ".join(f"{expressions[i]} AS e{i}" for i in unsettled)
                        + f" FROM analysis WHERE {complete}) t GROUP BY gv"
                    )
                ranges["code"] = _codes(ranges["gv"], found["g"])
                ranges = ranges.sort_values("code")
                for i in unsettled:
                    monomial_sums.low[:, i] = ranges[f"lo{i}"].to_numpy(float)
                    monomial_sums.high[:, i] = ranges[f"hi{i}"].to_numpy(float)
            means = group_means.means(monomial_sums, polynomial.shifted)
            table = found[["g", "code"]].astype({"code": "int64"})
            for c in means_of:
                table[mean_column[c]] = means[c] + shift[c]
            engine.register("hlm_groups", table)  # the figures' rows join it (few rows)
            derived = group_means.derive(polynomial.columns, monomial_sums, polynomial.shifted)
            if derived is not None:
                cross, low, high = derived
                sums = DesignSums(
                    names=(spec.outcome, *names),
                    counts=monomial_sums.counts,
                    cross=cross,
                    group_low=low,
                    group_high=high,
                )
                tops = polynomial.tops(monomial_sums)
        if sums is None:
            sums, tops = _joined_sums()
        provisional = dict(binary)
        if totals is None:  # every row is complete: pass 2's answers from the design sums
            for c in model_numeric:
                if c in tops:
                    top = tops[c]
                else:
                    i = as_read[a[c]]
                    top = max(-sums.group_low[:, i].min(), sums.group_high[:, i].max())
                if top > TOO_LARGE:
                    refuse_too_large(c)
            n_rows_read, dropped = int(source.rows), {}
            # the lean pass settled the 0/1 columns and kept the sample's rows already
            settled, unsure = _binary_from_sums(sums, [] if lean is not None else maybe_binary)
            binary |= settled
            fraction = sample_fraction(sums.n)
            if unsure and fraction is None:  # every row comes back: they answer, no scan
                checked_in_rows = unsure
            elif unsure or (fraction is not None and lean is None):  # 0/1 check, sample's rows
                # x(1 - x) is 0 only at 0 and 1, and never underflows to 0
                off = plain_scan(
                    "0/1 columns" if unsure else "",
                    {f"off_{a[v]}": f"MAX(abs({a[v]} * (1.0 - {a[v]})))" for v in unsure},
                    fraction,
                )
                binary |= {v: float(off[f"off_{a[v]}"]) == 0.0 for v in unsure}
        else:
            n_rows_read, dropped = int(totals["n_read"]), dropped_in(totals)
            binary |= {v: off_01(totals, v) for v in maybe_binary}
        if binary != provisional:  # pass 2 waited: the same design, its 0/1 columns now known
            columns, terms_of, categorical, design = build_design(
                spec, predictors, levels_of, binary, algebra
            )
    except InputError:
        if totals is None:  # pass 2's errors come first, as in memory
            counted()
        raise
    low, high = sums.range(spec.outcome)
    if low == high:
        refuse_outcome_constant(spec, low, sums.n)
    for var in design_variables(spec, predictors):
        if levels_of[var] is None and sums.range(var)[0] == sums.range(var)[1]:
            refuse_constant(spec, var, sums.range(var)[0])
    for interaction in spec.interactions:
        for name in terms_of[interaction]:
            lo, hi = sums.range(name)
            if max(abs(lo), abs(hi)) > TOO_LARGE:
                refuse_large_product(interaction, 1)

    # pass 4: rows for the figures (and every row when they fit in memory)
    n = sums.n
    keep_all = n <= IN_MEMORY_ROWS
    if keep_all:  # a stable order, whatever order the engine's threads or files return rows in
        with engine.scan("every row"):
            fetched = engine.frame(
                f"SELECT * FROM ({design_select('analysis')}) t ORDER BY gv, "
                + ", ".join(f"d{i}" for i in range(k))
            )
    else:
        # The rows with the smallest seeded hash of their values: the same rows on every run,
        # whatever the file order. A cheap filter first keeps about 4x the sample, so only
        # those rows are coded and sorted; a plain scan before kept those (or more) already.
        # When fewer than the sample are below a threshold (improbable), the smallest hashes
        # are not all among them: all rows are read.
        below = engine.hash_threshold(4 * SAMPLE_ROWS / n)

        def sampled(relation: str, condition: str) -> str:
            hashed = f"(SELECT * FROM {relation} x WHERE {condition})"
            return (
                f"SELECT * FROM ({design_select(hashed, ', analysis.h AS h')}) t "
                f"ORDER BY h, gv LIMIT {SAMPLE_ROWS}"
            )

        every = f"(SELECT *, {row_hash} AS h FROM analysis)"
        fetched = engine.frame(sampled(candidates[0], "1 = 1")) if candidates else None
        for condition in (f"h < {below}", "1 = 1"):
            if fetched is not None and len(fetched) >= SAMPLE_ROWS:
                break
            with engine.scan("the sample's rows"):
                fetched = engine.frame(sampled(every, condition))
    if checked_in_rows:  # every row, all complete: x(1 - x) is 0 only at 0 and 1
        for v in checked_in_rows:
            x = fetched[f"d{sums.index([v])[0]}"].to_numpy(float)
            binary[v] = bool(np.all(x * (1.0 - x) == 0.0))
        columns, terms_of, categorical, design = build_design(
            spec, predictors, levels_of, binary, algebra
        )
    fetched["code"] = _codes(fetched["gv"], table["g"])
    if not keep_all:
        fetched = fetched.sort_values(["code", "d0"], kind="stable").reset_index(drop=True)
    codes = fetched["code"].to_numpy(np.int64)
    rows = Rows(
        fetched["d0"].to_numpy(float),
        codes,
        {
            name: fetched[f"d{i + 1}"].to_numpy(float)
            for i, name in enumerate(names)
            if not name.startswith(MEASURED)
        },
        {c: fetched[f"v{i}"].to_numpy(float) for i, c in enumerate(measured_numeric)},
    )
    return assemble(
        spec,
        (columns, terms_of, categorical, design),
        predictors,
        ordered,
        sums,
        rows,
        n_rows_read,
        dropped,
        keep_rows=keep_all,
        coding=coding,
        # a missing-value code the sample found, counted over every row (refusal path only)
        count_code=lambda c, code: int(
            engine.frame(
                f"SELECT COUNT(*) AS n FROM analysis WHERE {complete} "
                f"AND {alias[c]} = CAST('{code!r}' AS DOUBLE)"
            )["n"].iloc[0]
        ),
    )


class _PolyAlgebra:
    """Design columns as polynomials in row-level SQL (group_means.Poly): a group-centred
    column is its shifted SQL minus its group mean's symbol, a contextual mean that symbol plus
    the shift; every other column is SqlAlgebra's expression as it is."""

    def __init__(self, sql: SqlAlgebra, centred: set[str], shifted: dict[str, str], shift):
        self.sql, self.centred, self.shifted, self.shift = sql, centred, shifted, shift
        self.contextual = {contextual_name(c): c for c in shift}

    def ones(self):
        return group_means.constant({(): 1.0})

    def numeric(self, var: str):
        if var in self.contextual:
            c = self.contextual[var]
            return group_means.constant({(c,): 1.0, (): self.shift[c]})
        if var in self.centred:
            return group_means.row_level(self.shifted[var], {(var,): -1.0})
        return group_means.row_level(self.sql.numeric(var))

    def dummy(self, var: str, level: str):
        return group_means.row_level(self.sql.dummy(var, level))

    def product(self, values: list):
        return group_means.product(values)


@dataclass(frozen=True)
class _PolynomialDesign:
    columns: list[group_means.Poly]  # the outcome, then DesignSums' names in order
    monomials: list[tuple[str, ...]]
    shifted: dict[str, tuple[str, ...]]  # averaged column -> its shifted monomial
    magnitude_of: dict[str, tuple[tuple[str, ...], float]]  # unseen column -> (monomial, shift)
    ranged: set[tuple[str, ...]]  # monomials whose per-group minimum and maximum are needed

    def tops(self, sums: group_means.MonomialSums) -> dict[str, float]:
        """The largest magnitude of each column no design column holds as read."""
        index = {m: i for i, m in enumerate(self.monomials)}
        out = {}
        for c, (monomial, shift) in self.magnitude_of.items():
            i = index[monomial]
            out[c] = float(
                max(np.abs(sums.low[:, i] + shift).max(), np.abs(sums.high[:, i] + shift).max())
            )
        return out


def _polynomial_design(
    spec: Spec,
    names: list[str],
    predictors: list[str],
    levels_of: dict,
    binary: dict[str, bool],
    algebra: SqlAlgebra,
    shift: dict[str, float],
    unseen: list[str],
) -> _PolynomialDesign:
    """The design of build_design as polynomials over the columns as read, each averaged column
    shifted by `shift` (a number near its centre: see group_means.py)."""
    alias = algebra.alias
    shifted_sql = {
        c: alias[c] if shift[c] == 0 else f"({alias[c]} - CAST('{shift[c]!r}' AS DOUBLE))"
        for c in shift
    }
    group_centred = {c for c, how in spec.centering.items() if how == "group"}
    poly = _PolyAlgebra(algebra, group_centred, shifted_sql, shift)
    columns, _, _, _ = build_design(spec, predictors, levels_of, binary, poly)
    measured = {
        MEASURED + c: group_means.row_level(shifted_sql[c], {(): shift[c]})
        if c in group_centred
        else group_means.row_level(alias[c])
        for c in spec.centering
    }
    ordered = [group_means.row_level(alias[spec.outcome])]
    ordered += [columns[name] if name in columns else measured[name] for name in names]
    magnitude_of = {
        c: ((shifted_sql[c],), shift[c]) if c in shift else ((alias[c],), 0.0) for c in unseen
    }
    monomials = list(
        dict.fromkeys(
            [
                *(m for p in ordered for m in p.monomials),
                *((shifted_sql[c],) for c in shift),
                *(m for m, _ in magnitude_of.values()),
            ]
        )
    )
    shifted = {c: (shifted_sql[c],) for c in shift}
    ranged = group_means.ranged_monomials(ordered) | set(shifted.values())
    ranged |= {m for m, _ in magnitude_of.values()}
    return _PolynomialDesign(ordered, monomials, shifted, magnitude_of, ranged)


def _monomial_sql(monomials: list[tuple[str, ...]]) -> list[str]:
    return [" * ".join(f"({f})" for f in m) if len(m) > 1 else m[0] for m in monomials]


def _monomial_query(
    monomials: list[tuple[str, ...]],
    ranged: set[tuple[str, ...]],
    g: str,
    complete: str,
    zero_one: set[tuple[str, ...]] = frozenset(),
    relation: str = "analysis",
) -> list[str]:
    """One GROUP BY of `relation` (the analysis view, or its columns as stored): per group,
    rows and each monomial's sum, sums of products (not the square of a `zero_one` one: its
    sum), and the minimum and maximum of the `ranged` ones."""
    expressions = _monomial_sql(monomials)
    K = len(monomials)
    parts = [f"SUM(e{i}) AS s{i}" for i in range(K)]
    parts += [f"MIN(e{i}) AS lo{i}, MAX(e{i}) AS hi{i}" for i in range(K) if monomials[i] in ranged]
    parts += [
        f"SUM(e{i} * e{j}) AS c{i}_{j}"
        for i in range(K)
        for j in range(i, K)
        if not (i == j and monomials[i] in zero_one)
    ]
    inner = ", ".join(f"{sql} AS e{i}" for i, sql in enumerate(expressions))
    return [
        f"SELECT gv, COUNT(*) AS n, {', '.join(chunk)} FROM "
        f"(SELECT analysis.{g} AS gv, {inner} FROM {relation} analysis WHERE {complete}) t "
        "GROUP BY gv"
        for chunk in _in_parts(parts)
    ]


# Aggregates per GROUP BY: DuckDB 2.0 kills the process (SIGFPE, no message) when one group's
# aggregate states outgrow its 256 KiB block (about 16,000 sums: a text predictor of ~180
# levels). A design past this many sums is summed in several GROUP BYs of one relation (8,000
# per query ran past the default 1GB HLM_DUCKDB_MEMORY on a 200-level predictor in 30 groups).
AGGREGATES_PER_QUERY = 2_000


def _in_parts(parts: list[str]) -> list[list[str]]:
    step = AGGREGATES_PER_QUERY
    return [parts[i : i + step] for i in range(0, len(parts), step)] or [[]]


def _frames(engine, queries: str | list[str]) -> pd.DataFrame:
    """One frame of per-group sums from one GROUP BY, or from several over one relation
    (each with its `n`), put side by side by group."""
    queries = [queries] if isinstance(queries, str) else queries
    agg = engine.frame(queries[0])
    for sql in queries[1:]:
        agg = agg.merge(engine.frame(sql).drop(columns="n"), on="gv", validate="one_to_one")
    return agg


def _codes(values, categories) -> np.ndarray:
    """Each value's position among `categories` (-1 when not there)."""
    import pandas as pd

    return pd.Categorical(values, categories=categories).codes


def _csv_rows(source: Source) -> int | None:
    """About how many lines CSV parts hold: their bytes over the mean line of the first part's
    first megabyte (None for Parquet, or when nothing can be read)."""
    if source.format != "csv" or not source.files:
        return None
    try:
        with open(source.files[0], "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return None
    lines = head.count(b"\n")
    if not lines:
        return None
    return int(source.bytes / (len(head) / lines))


def _zero_one_terms(design, products: bool = True) -> set[str]:
    """Design columns holding only 0 and 1: dummies, 0/1 variables (pass 2 checked every
    complete row) and (with `products`) products of these."""
    out = {
        t.name
        for t in design.terms
        if t.kind == TermKind.DUMMY
        or (t.kind == TermKind.NUMERIC and design.variable(t.variable).binary)
    }
    if not products:
        return out
    return out | {
        t.name for t in design.terms if t.kind == TermKind.INTERACTION and set(t.parts) <= out
    }


# unit roundoff of a double
_U = 2.0**-53


def _bounds(
    counts: np.ndarray,
    total: np.ndarray,
    square: np.ndarray,
    zero_one: bool,
    overall: tuple[float, float] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """A column's per-group minimum and maximum without a MIN and a MAX per group (each as
    dear as a sum of products), or None when only those can tell.
    - A 0/1 column: 0 and 1 where the group has both, else the one value (its sum is a count).
    - A column whose sums prove it varies in some group by more than constant_within_groups
      allows: its range over all rows in every group. Those bounds are not the group's own,
      but the two things read of them are what the group's own would give: the range, and
      that the column is not constant within groups. The proof: a group's values span at
      least 2 sqrt(SS / n), SS its within sum of squares, sum(x^2) - sum(x)^2 / n less the
      rounding of both sums (below 3 n u sum(x^2) in any order of addition; 8 (n + 4) u
      sum(x^2) is allowed).
    Otherwise (a column perhaps constant within groups) None."""
    if zero_one:
        return np.where(total == counts, 1.0, 0.0), np.where(total > 0, 1.0, 0.0)
    if overall is None:
        return None
    low, high = overall
    n = counts.astype(float)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        within = square - total * total / n - 8.0 * (n + 4.0) * _U * square
        spread = 2.0 * np.sqrt(np.maximum(within, 0.0) / n)
    scale = max(abs(low), abs(high), 1.0)
    if not np.any(spread > 2 * CONSTANT_SPREAD * scale):  # twice the tolerance: no doubt
        return None
    return np.full(len(counts), low), np.full(len(counts), high)


def _or_nan(found: pd.DataFrame, column: str) -> np.ndarray:
    return found[column].to_numpy(float) if column in found else np.full(len(found), np.nan)


def _monomial_sums(
    found: pd.DataFrame,
    monomials: list[tuple[str, ...]],
    zero_one: set[tuple[str, ...]] = frozenset(),
):
    """The monomial query's answer (one row per group, in the groups' code order) as arrays."""
    K = len(monomials)
    cross = np.empty((len(found), K, K))
    for i in range(K):
        for j in range(i, K):
            column = f"s{i}" if i == j and monomials[i] in zero_one else f"c{i}_{j}"
            cross[:, i, j] = cross[:, j, i] = found[column].to_numpy(float)
    return group_means.MonomialSums(
        monomials=monomials,
        counts=found["n"].to_numpy(np.int64),
        sums=np.column_stack([found[f"s{i}"].to_numpy(float) for i in range(K)]),
        cross=cross,
        low=np.column_stack([_or_nan(found, f"lo{i}") for i in range(K)]),
        high=np.column_stack([_or_nan(found, f"hi{i}") for i in range(K)]),
    )


def _binary_from_sums(sums: DesignSums, variables: list[str]) -> tuple[dict[str, bool], list[str]]:
    """Which numeric variables hold only 0 and 1, when every row is complete, as far as the
    design sums tell: one below 0 or above 1, or whose sum differs from its sum of squares in
    a group (equal for 0s and 1s, whatever the order of the additions), does not; and those
    the sums cannot settle (1e-20 among ones vanishes from both sums), for a plain pass. (An
    aggregate per group in the design sums' GROUP BY would cost more than that pass.)"""
    binary, unsure = {}, []
    for v in variables:
        i = sums.index([v])[0]
        if (
            sums.group_low[:, i].min() < 0
            or sums.group_high[:, i].max() > 1
            or np.any(sums.cross[:, i, i] != sums.group_totals(v))
        ):
            binary[v] = False
        else:
            unsure.append(v)
    return binary, unsure


def _binary_outcome(
    spec: Spec, engine: Engine, kinds: dict[str, str], alias: dict[str, str], csv: bool
) -> tuple[str, BinaryCoding]:
    """The SQL expression of the outcome coded 0/1, from its distinct values (at most a few are
    fetched: more than two is an error however many there are)."""
    column, kind = alias[spec.outcome], kinds[spec.outcome]
    with engine.scan("the outcome's values"):
        found = engine.frame(
            f"SELECT DISTINCT {column} AS v FROM raw WHERE {column} IS NOT NULL "
            f"LIMIT {SHOWN_VALUES + 1}"
        )["v"].tolist()
    if kind == "bool":  # raw holds booleans as the text 'True' / 'False'
        found = [value == "True" for value in found]
    elif csv and found and all(v in (*_TRUE, *_FALSE) for v in found):
        # pandas, in memory, reads these as booleans: the same values, named alike
        event, coding = choose_event(spec, list(dict.fromkeys(v in _TRUE for v in found)))
        spellings = ", ".join(engine.literal(v) for v in (_TRUE if event else _FALSE))
        return (
            f"(CASE WHEN {column} IS NULL THEN NULL WHEN {column} IN ({spellings}) THEN 1.0 "
            "ELSE 0.0 END)"
        ), coding
    elif csv and found and all(reads_as_number(v) and "_" not in v for v in found):
        # pandas reads these as numbers (1 and 1.0 are one value, named 1)
        event, coding = choose_event(spec, list(dict.fromkeys(float(v) for v in found)))
        return (
            f"(CASE WHEN {column} IS NULL THEN NULL WHEN TRY_CAST({column} AS DOUBLE) = "
            f"CAST('{float(event)!r}' AS DOUBLE) THEN 1.0 ELSE 0.0 END)"
        ), coding
    event, coding = choose_event(spec, found)
    literal = (
        engine.literal(str(bool(event))) if kind == "bool"
        else repr(float(event)) if kind == "number"
        else engine.literal(str(event))
    )  # fmt: skip
    expression = (
        f"(CASE WHEN {column} IS NULL THEN NULL WHEN {column} = {literal} THEN 1.0 ELSE 0.0 END)"
    )
    return expression, coding


def _whole(engine: Engine, column: str, ref: str) -> tuple[str, bool]:
    """An id stored as integers in some parts and floats in others, as text: a whole number
    as the integer parts write it ('1', not '1.0')."""
    whole = f"CAST(CAST({ref} AS BIGINT) AS {engine.text_type})"
    return (
        f"CASE WHEN {ref} = floor({ref}) AND abs({ref}) < 9.0e15 THEN {whole} "
        f"ELSE CAST({ref} AS {engine.text_type}) END",
        False,
    )


def _ordered_groups(
    spec: Spec, kinds: dict[str, str], int_and_float: frozenset[str], groups: pd.DataFrame
) -> tuple[list[str], pd.DataFrame]:
    """The groups' labels in the in-memory path's order, and `groups` (g, n, ...: one row per
    group with complete rows) in that order with their codes; refuses too few groups."""
    if groups.empty:
        raise InputError(
            f"data: no row is complete in the columns {shown(', '.join(columns_used(spec)))}"
        )
    values = groups["g"]
    if (
        not spec.multilevel
        and spec.group in int_and_float
        and values.dtype.kind == "f"
        and (values == values.round()).all()
    ):
        # ids stored as integers in some parts and as floats (1.0) in others: one id, named as
        # the integer parts name it ('1', as memory reads the data), not '1.0'
        values = values.astype("int64")
    labels = [str(v) for v in values]
    ordered = id_order(labels)
    if len(ordered) < 2:
        raise single_group(spec, ordered[0])
    code_of = {label: i for i, label in enumerate(ordered)}
    groups = groups.assign(code=[code_of[label] for label in labels])
    groups = groups.sort_values("code").reset_index(drop=True)
    check_groups(spec, groups["n"].to_numpy())
    return ordered, groups


# What pandas reads as booleans in a CSV column (its default true and false values)
_TRUE, _FALSE = ("True", "TRUE", "true"), ("False", "FALSE", "false")


def _booleans(engine: Engine, columns: list[str], alias: dict[str, str]) -> dict[str, str]:
    """Text columns of a CSV whose every cell is a boolean spelling, as the levels 'True' and
    'False': pandas, in memory, reads them as booleans and names them so."""
    if not columns:
        return {}
    spellings = ", ".join(engine.literal(v) for v in (*_TRUE, *_FALSE))
    with engine.scan("yes/no text columns"):
        counts = engine.frame(
            "SELECT "
            + ", ".join(
                f"COUNT({alias[c]}) AS p{i}, "
                f"COUNT(CASE WHEN {alias[c]} IN ({spellings}) THEN 1 END) AS b{i}"
                for i, c in enumerate(columns)
            )
            + " FROM raw"
        ).iloc[0]
    trues = ", ".join(engine.literal(v) for v in _TRUE)
    return {
        c: f"(CASE WHEN {alias[c]} IN ({trues}) THEN 'True' WHEN {alias[c]} IS NOT NULL "
        "THEN 'False' END)"
        for i, c in enumerate(columns)
        if int(counts[f"p{i}"]) and int(counts[f"b{i}"]) == int(counts[f"p{i}"])
    }


def _numeric_columns(
    spec: Spec, engine: Engine, used: list[str], kinds: dict[str, str], alias: dict[str, str]
) -> set[str]:
    """Which used columns are numbers: typed numbers, and text columns whose every cell is one
    (pass 1). A text column of numbers with a few stray tokens is refused as in memory."""
    numeric = {c for c in used if kinds[c] == "number" and c not in spec.levels}
    text = [c for c in used if kinds[c] == "text" and c not in spec.levels]
    if not text:
        return numeric
    # (load.py imports pandas, which route.py imports in a thread while the first scan runs)
    from .load import judge_text_column

    with engine.scan("text columns as numbers"):
        counts = engine.frame(
            "SELECT "
            + ", ".join(
                f"COUNT({alias[c]}) AS present_{alias[c]}, "
                f"COUNT({_number(engine, alias[c])}) AS ok_{alias[c]}"
                for c in text
            )
            + " FROM raw"
        ).iloc[0]
    required = {spec.outcome, *spec.centering, *spec.contextual}
    for c in text:
        present, ok = int(counts[f"present_{alias[c]}"]), int(counts[f"ok_{alias[c]}"])
        if present and ok == present:
            numeric.add(c)
            continue
        if ok == 0:
            continue
        with engine.scan(f"stray tokens in {c}"):
            bad = engine.frame(
                f"SELECT {alias[c]} AS token, COUNT(*) AS n FROM raw WHERE {alias[c]} IS NOT NULL "
                f"AND {_number(engine, alias[c])} IS NULL GROUP BY {alias[c]} "
                f"ORDER BY COUNT(*) DESC, {alias[c]} LIMIT 2"
            )
        total_bad = present - ok
        tokens = list(zip(bad["token"].astype(str), bad["n"].astype(int), strict=True))
        if len(tokens) == 1 and tokens[0][1] < total_bad:
            tokens.append(("", total_bad - tokens[0][1]))
        elif len(tokens) == 2:
            tokens[1] = (tokens[1][0], total_bad - tokens[0][1])
        judge_text_column(c, ok, tokens, c in required)
    return numeric


__all__ = ["IN_MEMORY_ROWS", "prepare_in_engine"]
