"""Report tables (present/tables.py): pipe-table structure and the builders on fixed results.

Numbers in the cells are parsed back and compared with the Results they came from (within the
rounding the cell shows); escaping is checked by letting pandoc read the tables.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import pypandoc
import pytest
from helpers import fixture_results

from hlm_analysis import rules
from hlm_analysis.present import fmt, lexicon, tables
from hlm_analysis.present.labels import labels_for
from hlm_analysis.results import MODEL_ORDER, ModelName

MINUS = "\u2212"
READER = "markdown+pipe_tables+fenced_divs+bracketed_spans+implicit_figures+link_attributes"
NUMBER = r"[\u2212\d.,]+"


# ---------------------------------------------------------------------------------------------
# helpers


def parse_table(text: str):
    """(header, align row, body rows, caption line) of a pipe table written by pipe_table."""
    lines = text.split("\n")
    blank = lines.index("")
    table, rest = lines[:blank], lines[blank + 1 :]

    def cells(line: str) -> list[str]:
        assert line.startswith("| ") and line.endswith(" |"), line
        return line[2:-2].split(" | ")

    header, align, body = cells(table[0]), table[1], [cells(line) for line in table[2:]]
    return header, align, body, rest[0]


def aligned(align: str, letters: str) -> bool:
    """The alignment row says `letters` ('l' ':---', 'r' '---:'), whatever the dash counts
    (they set the relative column widths)."""
    patterns = {"l": r":-+", "r": r"-+:"}
    return re.fullmatch(r"\|" + "".join(patterns[a] + r"\|" for a in letters), align) is not None


def number(text: str) -> float:
    return float(text.replace(MINUS, "-").replace(",", ""))


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def assert_shows(text: str, value: float, figures: int | None = None) -> None:
    """`text` is `value` rounded to the decimals it shows (and, with `figures`, to at least that
    many significant figures)."""
    tolerance = 0.5 * 10 ** -decimals(text)
    assert abs(number(text) - value) <= tolerance * (1 + 1e-9) + 1e-12, (text, value)
    if figures is not None and value != 0 and abs(value) < 10**figures:
        assert tolerance <= 0.5 * 10 ** (math.floor(math.log10(abs(value))) - figures + 1) * (
            1 + 1e-9
        ), (text, value, figures)


def _text(node) -> str:
    if isinstance(node, dict):
        if node["t"] == "Str":
            return node["c"]
        if node["t"] in ("Space", "SoftBreak", "LineBreak"):
            return " "
        return _text(node.get("c", []))
    if isinstance(node, list):
        return "".join(_text(n) for n in node)
    return ""


def _kinds(node, found: set) -> set:
    if isinstance(node, dict) and "t" in node:
        found.add(node["t"])
        _kinds(node.get("c", []), found)
    elif isinstance(node, list):
        for n in node:
            _kinds(n, found)
    return found


def pandoc_table(markdown: str) -> dict:
    """The single table pandoc reads from `markdown`: id, caption, header and body cell texts,
    and every AST node kind inside the cells (to spot markup)."""
    blocks = json.loads(pypandoc.convert_text(markdown, "json", format=READER))["blocks"]
    assert [b["t"] for b in blocks] == ["Table"]
    attr, caption, colspecs, head, bodies, _foot = blocks[0]["c"]

    def row_cells(row):
        return [cell[4] for cell in row[1]]

    head_rows = [row_cells(r) for r in head[1]]
    body_rows = [row_cells(r) for body in bodies for r in body[3]]
    return {
        "id": attr[0],
        "caption": _text(caption[1]),
        "align": [c[0]["t"] for c in colspecs],
        "header": [_text(c) for c in head_rows[0]],
        "rows": [[_text(c) for c in row] for row in body_rows],
        "kinds": _kinds(body_rows, set()) | _kinds(head_rows, set()),
    }


def with_labels(results, labels: dict[str, str]):
    return replace(results, spec=results.spec.model_copy(update={"labels": labels}))


def ladder_models(results):
    return [results.models[n] for n in MODEL_ORDER if n in results.models]


# ---------------------------------------------------------------------------------------------
# pipe_table


def test_pipe_table_layout():
    text = tables.pipe_table(
        ["Name", "N", "Mean"], [["a", "1", "2.0"], ["b", "3", "4.5"]], "lrr", "A caption", "tbl-x"
    )
    assert text == (
        "| Name | N | Mean |\n"
        "|:----|--:|----:|\n"  # dashes: the longest header word + 1 (pandoc's relative widths)
        "| a | 1 | 2.0 |\n"
        "| b | 3 | 4.5 |\n"
        "\n"
        ": A caption {#tbl-x}\n"
    )


def test_pipe_table_is_read_by_pandoc_with_caption_label_and_alignment():
    text = tables.pipe_table(
        ["Name", "N"], [["a|b", "1"], ["c", "2"]], "lr", "Sizes of things", "tbl-sizes"
    )
    table = pandoc_table(text)
    assert table["id"] == "tbl-sizes"
    assert table["caption"] == "Sizes of things"
    assert table["align"] == ["AlignLeft", "AlignRight"]
    assert table["header"] == ["Name", "N"]
    assert table["rows"] == [["a|b", "1"], ["c", "2"]]  # a raw pipe in a cell stays in its cell


def test_column_widths_follow_content_and_never_split_header_words():
    text = tables.pipe_table(
        ["Term", "Reliability"],
        [["A rather long predictor label", "0.81"], ["Short", "0.5"]],
        "lr",
        "c",
        "t",
    )
    _, align, _, _ = parse_table(text)
    term, reliability = align.strip("|").split("|")
    assert len(term) == len("A rather long predictor label") + 1
    assert len(reliability) == len("Reliability") + 1  # wider than its cells: no split header


def test_pipe_table_without_rows():
    header, align, body, caption = parse_table(tables.pipe_table(["A"], [], "l", "Empty", "t"))
    assert header == ["A"] and aligned(align, "l") and body == [] and caption == ": Empty {#t}"


# ---------------------------------------------------------------------------------------------
# descriptives


@pytest.mark.parametrize("name", ["hsb2", "schools"])
def test_descriptives_rows_equal_the_numeric_summaries(name, request):
    results = request.getfixturevalue(name)
    header, align, body, caption = parse_table(tables.descriptives(results, "tbl-desc"))
    assert header == ["Variable", "N", "Mean", "SD", "Min", "Median", "Max"]
    assert aligned(align, "lrrrrrr")
    assert caption.endswith("{#tbl-desc}")
    # per row, but a variable constant within every group over the groups (issue 21, item 7)
    numeric = {**results.data.numeric, **results.data.group_level}
    assert len(body) == len(numeric)
    smallest_sd = min(s.sd for s in numeric.values())
    d = int(min(4, max(0, 2 - math.floor(math.log10(smallest_sd)))))  # 3 significant figures
    for row, (var, s) in zip(body, numeric.items(), strict=True):
        per_group = " (one value per school)" if var in results.data.group_level else ""
        assert row[0] == fmt.md_escape(results.spec.labels.get(var, var) + per_group)
        assert number(row[1]) == (results.data.n_groups if per_group else results.data.n_obs)
        assert number(row[1]) == s.n
        for cell, value in zip(row[2:], (s.mean, s.sd, s.min, s.median, s.max), strict=True):
            assert decimals(cell) == d, cell
            assert_shows(cell, value)


def test_categorical_counts_and_shares(schools):
    header, _, body, _ = parse_table(tables.categorical(schools, "tbl-cat"))
    assert header == ["Variable", "Level", "N", "Share"]
    levels = schools.data.categorical["StudentGender"]
    assert len(body) == len(levels)
    assert body[0][0] == fmt.md_escape(schools.spec.labels["StudentGender"])
    assert all(row[0] == "" for row in body[1:])
    for row, level in zip(body, levels, strict=True):
        assert row[1] == level.level
        assert number(row[2]) == level.n
        assert_shows(row[3].removesuffix("%"), 100 * level.n / schools.data.n_obs)
    assert sum(number(row[2]) for row in body) == schools.data.n_obs


def test_groups_largest_first_with_a_limit(schools):
    g = schools.data.groups
    _, _, body, caption = parse_table(tables.groups(schools, "tbl-g", limit=5))
    assert len(body) == 5
    sizes = [number(row[1]) for row in body]
    assert sizes == sorted(g.n, reverse=True)[:5]
    for row in body:
        i = g.labels.index(row[0].replace("\\", ""))
        assert number(row[1]) == g.n[i]
        assert_shows(row[2], g.outcome_mean[i])
    # a balanced design has no "largest" groups: the caption says so instead of claiming it
    assert len(set(g.n)) == 1
    assert f"(5 of {len(g.labels)} schools, all of one size)" in caption  # the lexicon's noun
    assert "largest" not in caption


def test_level_groups_cut_to_the_largest_when_sizes_differ():
    growth = fixture_results("levels_growth")
    _, _, body, caption = parse_table(tables.groups(growth, "tbl-g", limit=5))
    sizes = [number(row[1]) for row in body]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) > 1
    assert "(the 5 largest of 60 schools)" in caption
    assert caption.startswith(": Schools: size and mean")  # the level's noun


def test_a_level_s_hidden_groups_are_named_by_that_level_s_noun():
    # ScotsSec: 20 primary schools (not secondary schools) have fewer than 5 pupils
    scotssec = fixture_results("levels_scotssec")
    _, _, _, caption = parse_table(tables.groups(scotssec, "tbl-g"))
    assert "20 primary schools with fewer than 5 pupils are not shown" in caption  # unit: pupil
    assert "(the models use all pupils)" in caption
    assert "(the 25 largest of 128 primary schools)" in caption


# ---------------------------------------------------------------------------------------------
# ladder

LADDER_CELL = re.compile(rf"^(?P<est>{NUMBER})(?P<star>\*?) \((?P<se>{NUMBER})\)$")


@pytest.mark.parametrize("name", ["hsb2", "schools"])
def test_ladder_has_one_column_per_model_in_model_order(name, request):
    results = request.getfixturevalue(name)
    header, align, body, caption = parse_table(tables.ladder(results, "tbl-ladder"))
    models = ladder_models(results)
    assert header[0] == ""
    # short headers, the final model in bold, the names in the caption
    assert header[1:] == [
        f"**M{i}**" if m.name == results.final_model else f"M{i}"
        for i, m in enumerate(models, start=1)
    ]
    assert all(f"M{i}: {m.label}" in caption for i, m in enumerate(models, start=1))
    assert [m.name for m in models] == [n for n in MODEL_ORDER if n in results.models]
    assert len(models) == len(results.models) >= 5
    assert aligned(align, "l" + "r" * len(models))
    assert all(len(row) == 1 + len(models) for row in body)
    assert caption.endswith("{#tbl-ladder}")


@pytest.mark.parametrize("name", ["hsb2", "schools"])
def test_ladder_cells_are_the_fixed_effects_with_stars_by_alpha(name, request):
    results = request.getfixturevalue(name)
    _, _, body, _ = parse_table(tables.ladder(results, "tbl-ladder"))
    models = ladder_models(results)
    terms = list(dict.fromkeys(fe.term for m in models for fe in m.fixed_effects))
    labels = labels_for(results)
    rows = {row[0]: row[1:] for row in body}
    stars = 0
    for term in terms:
        cells = rows[fmt.md_escape(labels.term(term))]
        for cell, model in zip(cells, models, strict=True):
            effects = {fe.term: fe for fe in model.fixed_effects}
            if term not in effects:
                assert cell == ""
                continue
            fe = effects[term]
            match = LADDER_CELL.match(cell)
            assert match, cell
            assert_shows(match["est"], fe.estimate, figures=3)
            assert_shows(match["se"], fe.std_error, figures=2)
            assert (match["star"] == "*") == (fe.p_value < rules.ALPHA.value), (term, cell)
            stars += match["star"] == "*"
    assert stars > 0  # the fixtures have significant effects


def test_ladder_stars_follow_rules_alpha(hsb2, monkeypatch):
    def star_cells():
        _, _, body, _ = parse_table(tables.ladder(hsb2, "t"))
        return [c for row in body for c in row[1:] if LADDER_CELL.match(c)]

    cells = star_cells()
    assert any(c for c in cells if "*" in c) and any(c for c in cells if "*" not in c)
    monkeypatch.setattr(rules, "ALPHA", rules.Rule("test", 1.01, "every p"))
    assert all("*" in c for c in star_cells())
    monkeypatch.setattr(rules, "ALPHA", rules.Rule("test", 0.0, "no p"))
    assert not any("*" in c for c in star_cells())


def test_ladder_statistics_rows(schools):
    _, _, body, _ = parse_table(tables.ladder(schools, "t"))
    rows = {row[0]: row[1:] for row in body}
    models = ladder_models(schools)
    assert [number(c) for c in rows["Observations"]] == [m.n_obs for m in models]
    for cell, m in zip(rows["Variance: Intercept"], models, strict=True):
        if m.variance("(Intercept)") is None:
            assert cell == ""
        else:
            assert_shows(cell, m.variance("(Intercept)"), figures=3)
    for cell, m in zip(rows["Log-likelihood (REML / OLS)"], models, strict=True):
        assert_shows(cell, m.loglik)
    for cell, m in zip(rows["Optimum verified"], models, strict=True):
        assert cell == ("" if not m.is_mixed else "yes" if m.converged else "**no**")


# ---------------------------------------------------------------------------------------------
# coefficients, comparisons, selection


@pytest.mark.parametrize("name", ["hsb2", "schools"])
def test_coefficients_rows_are_the_model_fixed_effects(name, request):
    results = request.getfixturevalue(name)
    labels = labels_for(results)
    for model in results.models.values():
        header, _, body, caption = parse_table(tables.coefficients(results, model, "tbl-coef"))
        robust = any(fe.robust_se is not None for fe in model.fixed_effects)
        assert header == ["Term", "Estimate", "SE", "df", "p", "95% CI", "Std."] + (
            ["CR2 SE", "CR2 p"] if robust else []
        )
        assert model.df_method in caption and model.label.lower() in caption
        assert caption.endswith("{#tbl-coef}")
        assert len(body) == len(model.fixed_effects)
        for row, fe in zip(body, model.fixed_effects, strict=True):
            assert row[0] == fmt.md_escape(labels.term(fe.term))
            assert_shows(row[1], fe.estimate, figures=3)
            assert_shows(row[2], fe.std_error, figures=2)
            if fe.df is None:
                assert row[3] == "n/a"
            else:
                assert_shows(row[3], fe.df)
            if fe.p_value < 0.001:
                assert row[4] == "< .001"
            else:
                assert row[4].startswith(".") or row[4] == "1.00"
                assert_shows(row[4], fe.p_value)
            ci = row[5].replace("\u00a0", " ")  # kept on one line by non-breaking spaces
            low, high = re.fullmatch(rf"\[({NUMBER}), ({NUMBER})\]", ci).groups()
            if fe.std_estimate is None:
                assert row[6] == ""
            else:
                assert_shows(row[6], fe.std_estimate)
            if robust and fe.robust_se is not None:
                assert_shows(row[7], fe.robust_se, figures=2)
            assert_shows(low, fe.ci_low, figures=3)
            assert_shows(high, fe.ci_high, figures=3)
            assert number(low) < number(high)


@pytest.mark.parametrize("name", ["hsb2", "schools"])
def test_comparisons_use_model_labels(name, request):
    results = request.getfixturevalue(name)
    header, _, body, _ = parse_table(tables.comparisons(results, "tbl-lrt"))
    assert header[0] == "Comparison" and header[2] == "df"
    assert len(body) == len(results.comparisons) > 0
    for row, c in zip(body, results.comparisons, strict=True):
        assert row[0] == f"{c.model_a.label} vs {c.model_b.label}"
        assert_shows(row[1], c.statistic)
        assert row[2] == str(c.df)
        assert row[3].startswith(fmt.pvalue(c.p_value))
        assert ("naive" in row[3]) == (c.p_value_naive is not None)
        assert row[5] == ("ML" if c.refit else "REML")


@pytest.mark.parametrize("name", ["hsb2", "schools"])
def test_selection_sorted_by_aic_with_model_labels(name, request):
    results = request.getfixturevalue(name)
    header, _, body, _ = parse_table(tables.selection(results, "tbl-sel"))
    assert header == ["Model", "AIC", "BIC", "ΔAIC", "Akaike weight"]
    by_label = {results.models[s.model].label: s for s in results.selection}
    assert sorted(row[0] for row in body) == sorted(by_label)
    aics = [number(row[1]) for row in body]
    assert aics == sorted(aics)
    for row in body:
        s = by_label[row[0]]
        assert_shows(row[1], s.aic)
        assert_shows(row[2], s.bic)
        assert_shows(row[3], s.delta_aic)
        assert_shows(row[4], s.akaike_weight)
    assert number(body[0][3]) == 0
    assert sum(number(row[4]) for row in body) == pytest.approx(1, abs=0.0005 * len(body))


# ---------------------------------------------------------------------------------------------
# user text is escaped

HOSTILE = {
    "write": "<script>alert('w')</script>",
    "read": "*Reading* _score_ [link](http://x.org)",
    "math": "$math$ @cite ^sup^ ~sub~",
    "science": "# Science: 1. {#id} `code`",
    "socst": "<b>Social</b> \\studies\\ & -- more",
    "ses": "SES **bold**",
}


def test_hostile_labels_are_escaped_in_table_cells(hsb2):
    results = with_labels(hsb2, HOSTILE)
    descriptives = tables.descriptives(results, "tbl-d")
    ladder = tables.ladder(results, "tbl-l")
    coefficients = tables.coefficients(results, results.models[ModelName.RANDOM_INTERCEPT], "tbl-c")
    for text in (descriptives, ladder, coefficients):
        assert "<script>" not in text and "<b>" not in text and "*Reading*" not in text
    for var in ("write", "read", "math", "science", "socst"):
        assert f"| {fmt.md_escape(HOSTILE[var])} |" in descriptives
    for var in ("read", "math", "science", "socst"):
        assert f"| {fmt.md_escape(HOSTILE[var])} |" in ladder
        assert f"| {fmt.md_escape(HOSTILE[var])} |" in coefficients
    assert f"{fmt.md_escape(HOSTILE['read'])} × {fmt.md_escape(HOSTILE['math'])}" in ladder


def test_hostile_labels_reach_pandoc_as_plain_text(hsb2):
    results = with_labels(hsb2, HOSTILE)
    table = pandoc_table(tables.descriptives(results, "tbl-d"))
    assert table["id"] == "tbl-d"
    assert [row[0] for row in table["rows"]] == [HOSTILE[v] for v in results.data.numeric]
    assert all(len(row) == 7 for row in table["rows"])
    assert table["kinds"] <= {"Plain", "Str", "Space"}  # no emphasis, link, math, code, raw HTML
    # The interaction's name is longer than a cell holds: cut, and given in full in the key.
    text = tables.ladder(results, "tbl-l")
    ladder = pandoc_table(text.split("\n\n::: {.table-note}")[0])
    full = f"{HOSTILE['read']} × {HOSTILE['math']}"
    cut = [row[0][:-2] for row in ladder["rows"] if row[0].endswith("…¹")]
    assert len(cut) == 1 and full.startswith(cut[0]) and len(cut[0]) == tables.CELL_LIMIT - 1
    key = json.loads(pypandoc.convert_text(text.split("\n\n")[-1], "json", format=READER))
    assert full in _text(key["blocks"])


def test_hostile_group_labels_are_escaped(schools):
    g = schools.data.groups
    hostile = tuple(f"<i>{label}</i> *{label}* [{label}]" for label in g.labels)
    results = replace(schools, data=replace(schools.data, groups=replace(g, labels=hostile)))
    text = tables.groups(results, "tbl-g", limit=3)
    assert "<i>" not in text
    table = pandoc_table(text)
    order = sorted(range(len(g.n)), key=lambda i: -g.n[i])[:3]
    assert [row[0] for row in table["rows"]] == [hostile[i] for i in order]
    assert table["kinds"] <= {"Plain", "Str", "Space"}


def test_a_pipe_in_a_label_stays_in_its_cell(hsb2):
    results = with_labels(hsb2, {**hsb2.spec.labels, "read": "Reading | writing"})
    table = pandoc_table(tables.descriptives(results, "tbl-d"))
    assert all(len(row) == 7 for row in table["rows"])
    assert "Reading | writing" in [row[0] for row in table["rows"]]


def test_an_unbreakable_interval_gets_a_column_wide_enough():
    interval = "0.117\u00a0[0.093,\u00a00.148]"
    text = tables.pipe_table(["", "M1"], [["ICC", interval]] + [["x", "1.0"]] * 20, "lr", "c", "t")
    _, align, _, _ = parse_table(text)
    assert len(align.strip("|").split("|")[1]) > len(interval)


def test_attempts_show_reported_columns_only_when_an_optimizer_reported(hsb2):
    # Our own optimizers report nothing of their own: the two columns would be empty
    plain = tables.attempts(replace_attempts(hsb2, reported=None), "tbl-attempts")
    assert "Claimed converged" not in plain and "Reported" not in plain
    assert "Exact log-lik" in plain
    outside = tables.attempts(replace_attempts(hsb2, reported=-123.5), "tbl-attempts")
    assert "Claimed converged" in outside and "123.5000" in outside


def replace_attempts(results, reported):
    models = {}
    for name, m in results.models.items():
        attempts = tuple(
            replace(
                a, loglik_reported=reported, converged_reported=None if reported is None else True
            )
            for a in m.attempts
        )
        models[name] = replace(m, attempts=attempts)
    return replace(results, models=models)


# ---------------------------------------------------------------------------------------------
# privacy: groups below min_cell (issue 25)


def with_small_groups(results, sizes: dict[int, int], min_cell: int | None = None):
    """`results` with the groups at the given positions shrunk to the given sizes."""
    g = results.data.groups
    n = tuple(sizes.get(i, size) for i, size in enumerate(g.n))
    data = replace(results.data, groups=replace(g, n=n))
    spec = (
        results.spec if min_cell is None else results.spec.model_copy(update={"min_cell": min_cell})
    )
    return replace(results, data=data, spec=spec)


@pytest.mark.parametrize("min_cell", [2, 5, 30])
@pytest.mark.parametrize("name", ["schools", "graduation"])
def test_groups_below_min_cell_have_no_row_mean_or_sd_and_the_note_says_so(name, min_cell, request):
    results = with_small_groups(request.getfixturevalue(name), {0: 1, 3: 2, 7: 4}, min_cell)
    g = results.data.groups
    small = [i for i, size in enumerate(g.n) if size < min_cell]
    text = tables.groups(results, "tbl-groups", limit=1000)
    shown = [i for i in range(len(g.labels)) if i not in small]
    if not shown:
        assert "|" not in text  # no table at all, only the note
    else:
        _, _, body, caption = parse_table(text)
        names = [row[0].replace("\\", "") for row in body]
        assert sorted(names) == sorted(g.labels[i] for i in shown)
    noun = lexicon.noun(labels_for(results).group_in_sentence())  # the configured noun
    groups_word = noun.one if len(small) == 1 else noun.many
    assert f"{len(small)} {groups_word} with fewer than {min_cell} students" in text  # unit:
    for i in small:
        assert f"| {fmt.md_escape(g.labels[i])} |" not in text


def test_min_cell_defaults_to_five_and_nothing_is_said_when_nothing_is_hidden(schools):
    assert schools.spec.min_cell == 5 and tables.min_cell(schools) == 5
    assert min(schools.data.groups.n) >= 5
    assert "fewer than" not in tables.groups(schools, "tbl-groups")


# ---------------------------------------------------------------------------------------------
# long labels (issue 25): cut with an ellipsis, named in full in a key under the table


@pytest.mark.parametrize("length", [45, 120, 464])
def test_long_labels_are_cut_in_cells_and_given_in_full_in_a_key(hsb2, length):
    long = ("Socio-economic status index " * 40)[:length] if length < 400 else "L" * length
    results = with_labels(hsb2, {**hsb2.spec.labels, "read": long})
    for builder, limit in (
        (tables.ladder, tables.CELL_LIMIT),
        (tables.descriptives, tables.WIDE_CELL_LIMIT),
    ):
        text = builder(results, "tbl-x")
        if length <= limit:
            continue
        table = pandoc_table(text.split("\n\n::: {.table-note}")[0])
        cells = [c for row in table["rows"] for c in row]
        assert all(len(c.replace("\u200b", "")) <= limit + 1 for c in cells), cells
        cut = [c for c in cells if "…" in c]
        assert cut and all(c.rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹").endswith("…") for c in cut)
        assert all(not c.rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹").endswith(" …") for c in cut)
        key = text.split("Names shortened in the table above: ", 1)[1]
        assert fmt.md_escape(long).replace("\u200b", "") in key.replace("\u200b", "")


def test_short_labels_get_no_key(hsb2):
    assert "Names shortened" not in tables.ladder(hsb2, "tbl-x")
