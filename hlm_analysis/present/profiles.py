"""The facts of one group's profile, from results.json alone (no data, no refit).

Every number a profile shows is taken or derived here: the group's size and raw mean beside
all groups', its effect on the intercept in the final model (the conditional mode, exactly the
number results.json holds) with its conditional SE and 95% interval, its rank among all groups
with a simulated rank interval (ranks.py), and its own slope for each random slope. The words
come from the report's lexicon; the templates only arrange them.

Several levels: the groups of one level get profiles (`profile_level`: the outermost by
default, `profiles: {level: ...}` another), each with that level's own sizes, means and effects
and words naming the level, what its groups hold, and for an inner level its parent.

Privacy: a group with fewer rows than `min_size` (or than the report's `min_cell`, whichever is
larger: a profile shows a raw mean, which min_cell forbids for smaller groups) is suppressed:
its index entry carries its id and `suppressed: true` and no number, and no profile is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .. import rules
from ..errors import InputError
from ..results import INTERCEPT, GroupEffects, Results
from . import fmt, levels, lexicon, ranks
from .tables import min_cell

DEFAULT_MIN_SIZE = 10
Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal
INDEX_FIELDS = (
    "id",
    "n",
    "suppressed",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "rank",
    "rank_low",
    "rank_high",
    "files",
)


@dataclass(frozen=True)
class Level:
    """The grouping level whose groups get profiles: one level, or with several the outermost
    by default (a school's principal reads a school's page) or `profiles: {level: ...}`.

    `ids` are the groups as the report names them: an inner level's with its parents' ids
    ("S001 / 1", class 1 of school S001, the ids a stakeholder's `group:` gives), `n` and `mean`
    their rows and raw outcome means (summed from the cells), `inner` how many groups of the
    next level each holds (nested) or how many groups of the other factor its rows meet
    (crossed), None for the innermost level of nested data."""

    column: str
    position: int  # 0 = outermost
    effects: GroupEffects
    ids: tuple[str, ...]
    n: dict[str, int]
    mean: dict[str, float]
    inner: dict[str, int] | None = None
    inner_column: str | None = None
    within: str | None = None  # nested inner level: the column of the level just outside it
    multilevel: bool = False
    crossed: bool = False
    # the level's intercept variance is estimated at zero (a singular fit): every group's
    # effect is 0 with no uncertainty, so there is no difference to state and no order to rank
    singular: bool = False
    # the average reliability of the level's intercepts (HLM's lambda): below the rule's .7 the
    # report calls rankings of these groups noise, so no page may state a point rank
    reliability: float | None = None


def _no_intercept(results: Results, where: str = "") -> InputError:
    return InputError(
        f"the final model ({results.final.name}) has no random intercept{where}, so there are "
        "no group effects to profile"
    )


def profile_level(results: Results, column: str | None = None) -> Level:
    """The level to profile (`column`, default the outermost) with its groups' effects, ids,
    sizes and means; an unknown level or one without a random intercept: exit 2."""
    model = results.final
    columns = levels.columns(results)
    if not levels.multilevel(results):
        effects = model.group_effects
        if effects is None or INTERCEPT not in effects.terms:
            raise _no_intercept(results)
        if column is not None and column != columns[0]:
            raise InputError(
                f"profiles: level {column!r} is not the grouping column {columns[0]!r}"
            )
        g = results.data.groups
        return Level(
            columns[0],
            0,
            effects,
            tuple(effects.groups),
            dict(zip(g.labels, g.n, strict=True)),
            dict(zip(g.labels, g.outcome_mean, strict=True)),
            singular=INTERCEPT in (model.singular_terms or ()),
            reliability=(model.reliability or {}).get(INTERCEPT),
        )
    column = columns[0] if column is None else column
    if column not in columns:
        raise InputError(
            f"profiles: level {column!r} is not a grouping level ({', '.join(columns)})"
        )
    k = columns.index(column)
    crossed = levels.crossed(results)
    by_level = {lv.level: lv for lv in model.levels}
    result = by_level.get(column)
    effects = result.group_effects if result is not None else None
    if effects is None or INTERCEPT not in effects.terms:
        raise _no_intercept(results, f" at the {column} level")
    # an inner group is named with its parents' ids, as the report names it
    ids = list(effects.groups) if crossed else _named(by_level, columns, k)
    summary = levels.group_summary(results, column)
    inner, inner_column = None, None
    if crossed:
        inner_column = columns[1 - k]
        inner = _crossed_partners(results, k)
    elif k + 1 < len(columns):
        inner_column = columns[k + 1]
        inner = {}
        for label in levels.group_summary(results, inner_column).labels:
            key = label.rsplit(" / ", 1)[0]
            inner[key] = inner.get(key, 0) + 1
    return Level(
        column,
        k,
        effects,
        tuple(ids),
        dict(zip(summary.labels, summary.n, strict=True)),
        dict(zip(summary.labels, summary.mean, strict=True)),
        inner,
        inner_column,
        within=columns[k - 1] if k > 0 and not crossed else None,
        multilevel=True,
        crossed=crossed,
        singular=INTERCEPT in (result.singular_terms or ()),
        reliability=(result.reliability or {}).get(INTERCEPT),
    )


def _named(by_level, columns, j: int) -> list[str]:
    """Level j's groups with every outer id ("S001 / 1")."""
    names = list(by_level[columns[j]].group_effects.groups)
    if j == 0:
        return names
    outer = _named(by_level, columns, j - 1)
    return [f"{outer[p]} / {n}" for p, n in zip(by_level[columns[j]].parents, names, strict=True)]


def _crossed_partners(results: Results, k: int) -> dict[str, int]:
    """Crossed factors: how many groups of the other factor each group's rows meet."""
    seen: dict[str, set[str]] = {}
    for label in results.data.groups.labels:
        parts = levels.cell_parts(label, 2)
        seen.setdefault(parts[k], set()).add(parts[1 - k])
    return {key: len(value) for key, value in seen.items()}


def threshold(results: Results, min_size: int) -> int:
    """Rows a group needs for a profile: min_size, and never fewer than the report's min_cell."""
    return max(int(min_size), min_cell(results))


def index_entries(
    results: Results, min_size: int = DEFAULT_MIN_SIZE, level: str | None = None
) -> tuple[list[dict], dict]:
    """One entry per group of the profiled level (the order of results.json) with the
    index.json fields (`files` left empty: the writer fills it), and the settings the numbers
    depend on."""
    at = profile_level(results, level)
    effects = at.effects
    k = effects.terms.index(INTERCEPT)
    estimate = [row[k] for row in effects.estimate]
    std_error = [row[k] for row in effects.std_error]
    cut = threshold(results, min_size)
    shown = [j for j, group in enumerate(at.ids) if int(at.n.get(group, 0)) >= cut]
    # ranked among the groups with a profile only: ranks among all would leave gaps (rank 6
    # missing between two published pages) that place each suppressed group's effect among
    # the published ones, the lowest of all when the last place is missing
    ranked = ranks.rank_intervals(
        np.array(estimate)[shown].reshape(-1), np.array(std_error)[shown].reshape(-1)
    )
    place = {j: i for i, j in enumerate(shown)}
    entries = []
    for j, group in enumerate(at.ids):
        n = int(at.n.get(group, 0))
        entry = dict.fromkeys(INDEX_FIELDS)
        entry.update(id=group, suppressed=n < cut, files=[])
        if n >= cut:
            est, se = estimate[j], std_error[j]
            entry.update(
                n=n,
                estimate=est,  # the very float results.json holds
                std_error=se,
                ci_low=est - Z95 * se,
                ci_high=est + Z95 * se,
            )
            if not at.singular:  # a singular level's groups are all tied at 0: no order
                entry.update(
                    rank=int(ranked.rank[place[j]]),
                    rank_low=int(ranked.low[place[j]]),
                    rank_high=int(ranked.high[place[j]]),
                )
        entries.append(entry)
    settings = {
        "min_size": int(min_size),
        "threshold": cut,
        "n_groups": len(effects.groups),
        "n_ranked": len(shown),  # ranks are places among the groups with a profile
        "rank_order": "1 = the highest estimate",
        "rank_draws": ranked.draws,
        "rank_seed": ranked.seed,
        "interval": "95%",
        "model": results.final.name,
    }
    if at.multilevel:  # which level's groups these are (one level: the only one)
        settings["level"] = at.column
    if at.singular:
        settings["singular"] = True  # the level's variance is estimated at zero: no ranks
    return entries, settings


@dataclass(frozen=True)
class Slope:
    """One random slope in one group: its own slope and the average one."""

    label: str
    per: str  # "per unit of Age" or "(Gender = Male against Gender = Female)"
    own: str
    average: str
    verdict: str  # "steeper", "flatter" or "" (its deviation's interval holds zero)
    # the final model's test rejects one common slope; else the page may not say it differs
    # between groups (the report says "no clear evidence that it varies")
    varies: bool = True


@dataclass(frozen=True)
class Profile:
    """What one group's profile says: formatted numbers and the words around them."""

    group_id: str
    words: lexicon.Lexicon
    title: str
    outcome: str
    n: str
    n_all: str
    n_groups: str
    mean: str
    mean_all: str
    difference: str  # signed, outcome units (binomial: an odds ratio)
    ci_low: str
    ci_high: str
    binomial: bool
    no_difference: str  # "0", or "1" for an odds ratio
    verdict: str  # "above", "below" or "" (indistinguishable)
    rank: int
    rank_low: int
    rank_high: int
    rank_share: str  # the interval's width as a share of all places
    n_ranked: str  # the groups ranked (those with a profile): the rank is a place among them
    adjusted_for: str  # the predictors' labels, listed ("" without predictors)
    model: str  # the final model's name
    draws: str  # simulated sets behind the rank interval
    slopes: list[Slope] = field(default_factory=list)
    has_rows: bool = False  # the figure shows the group's rows against all
    sampled: bool = False  # ... from a sample of the rows
    # several levels: which level this page is about and what its groups hold
    levels: str = ""  # "pupils in classes in schools" ("" with one level)
    inner: str = ""  # ", in 6 classes" / ", in school S001" / ", spread over 3 secondary schools"
    within: str = ""  # an inner level's parent noun ("school"): compared within it
    crossed_with: str = ""  # crossed: the other factor's plural noun
    # who the rows are about: the unit, or with growth data (`time:`) the individuals whose
    # measurements the rows are ("children"), so the page never says "whose test scores are"
    people: str = ""
    People: str = ""
    at_time: str = ""  # growth: where the intercept difference is measured (" where Year is 0")
    singular: bool = False  # the level's variance is estimated at zero: no difference, no rank
    # a random slope's variable whose 0 lies outside the data ("Age 0 (they span 15.0 to 18.0)"):
    # the intercept difference is an extrapolation there, so no verdict, no rank
    far: str = ""
    # groups drawn in the figure when some have no profile (suppressed: left out), else ""
    n_drawn: str = ""
    # predictors constant within the profiled groups (a school's programme): said of the group,
    # not of its rows; adjusted_for then lists the rows' own
    adjusted_group: str = ""
    # the level's intercepts are reliable enough to order groups (rules.RELIABILITY); else the
    # page gives the rank interval only, and says why
    rankable: bool = True
    reliability: str = ""
    # fewer groups than rules.GROUPS_STRONG_WARNING (the report's "too few for a random
    # effect"): the page says its between-group variance, and so this comparison, is rough
    few_groups: str = ""
    few_below: str = fmt.integer(rules.GROUPS_STRONG_WARNING.value)


def _decimals(results: Results) -> int:
    sd = results.data.groups.outcome_sd
    finite = [s for s in sd if s is not None and math.isfinite(s)]
    return fmt.decimals_for(float(np.median(finite)) if finite else 1.0)


def profile(
    results: Results,
    entry: dict,
    words: lexicon.Lexicon | None = None,
    draws: int = ranks.DRAWS,
    has_rows: bool = False,
    level: Level | None = None,
    ranked: int | None = None,
) -> Profile:
    """The profile of one published group (an entry of `index_entries`) of the profiled
    level (`level`, default the outermost); `ranked`: the groups its rank is a place among
    (index.json's `n_ranked`, the groups with a profile; default all)."""
    if entry["suppressed"]:
        raise ValueError("a suppressed group has no profile")
    level = level or profile_level(results)
    words = level_words(words or lexicon.build(results.spec, results.design), level)
    model = results.final
    effects = level.effects
    j = level.ids.index(entry["id"])
    table = results.data.groups
    n = np.array(table.n, dtype=float)
    means = np.array([np.nan if m is None else m for m in table.outcome_mean], dtype=float)
    known = np.isfinite(means)
    mean_all = float(np.sum(n[known] * means[known]) / np.sum(n[known]))
    own_mean = level.mean.get(entry["id"])
    own_mean = np.nan if own_mean is None else float(own_mean)
    binomial = model.is_binomial
    digits = _decimals(results)
    if binomial:  # shares as percentages, the effect as an odds ratio
        mean, overall = fmt.pct(own_mean, 0), fmt.pct(mean_all, 0)
        difference = fmt.sig(math.exp(entry["estimate"]), 3)
        low, high = (_off_zero(math.exp(entry[k]), 3, 1.0, fmt.sig) for k in ("ci_low", "ci_high"))
    else:
        mean, overall = fmt.num(own_mean, digits), fmt.num(mean_all, digits)
        signed = "+" if round(entry["estimate"], digits) > 0 else ""
        difference = signed + fmt.num(entry["estimate"], digits)
        low, high = (_off_zero(entry[k], digits, 0.0, fmt.num) for k in ("ci_low", "ci_high"))
    verdict = "above" if entry["ci_low"] > 0 else "below" if entry["ci_high"] < 0 else ""
    where, far = _intercept_point(results, effects, level)
    own, of_group = _adjusted(results, level)
    if far:
        verdict = ""
    g = len(effects.groups)
    places = ranked or g
    singular = entry["rank"] is None
    width = places if singular else entry["rank_high"] - entry["rank_low"] + 1
    return Profile(
        group_id=str(entry["id"]),
        words=words,
        title=results.spec.title,
        outcome=words.outcome,
        n=fmt.integer(entry["n"]),
        n_all=fmt.integer(results.data.n_obs),
        n_groups=fmt.integer(g),
        mean=mean,
        mean_all=overall,
        difference=difference,
        ci_low=low,
        ci_high=high,
        binomial=binomial,
        no_difference="1" if binomial else "0",
        verdict=verdict,
        rank=entry["rank"] or 0,
        rank_low=entry["rank_low"] or 0,
        rank_high=entry["rank_high"] or 0,
        singular=singular,
        rankable=level.reliability is None or rules.reliability_high(level.reliability),
        reliability=""
        if level.reliability is None
        else f"{fmt.num(level.reliability, 2)}, below {rules.RELIABILITY.value}",
        rank_share=fmt.pct(width / places),
        n_ranked=fmt.integer(places),
        few_groups=fmt.integer(g) if rules.groups_band(g) == rules.GroupsBand.TOO_FEW else "",
        # growth: time is where the difference is read (at_time), not an intake to match on
        adjusted_for=_listed([results.spec.label(v) for v in own]),
        adjusted_group=_listed([results.spec.label(v) for v in of_group]),
        model=model.label,
        draws=fmt.integer(draws),
        slopes=_slopes(results, effects, j, digits, level),
        has_rows=has_rows,
        sampled=has_rows and results.sample is not None and results.sample.is_sample,
        **_level_words(results, words, level, entry["id"]),
        **({"at_time": where} if where else {}),
        far=far,
    )


def _off_zero(value: float, digits: int, zero: float, write) -> str:
    """`value` written with `digits`, or more when that would print the no-difference value
    (0, or 1 for an odds ratio) for a bound that is not it: "0.004", never "0.00" beside "the
    whole interval lies above 0"."""
    shown = digits
    while value != zero and write(value, shown) == write(zero, shown) and shown < digits + 5:
        shown += 1
    return write(value, shown)


def level_words(words: lexicon.Lexicon, level: Level) -> lexicon.Lexicon:
    """The lexicon with `group` the profiled level's noun (the school, not the class), so every
    sentence and the figure name the level the page is about."""
    if not level.multilevel:
        return words
    tier = words.tier(level.column)
    return replace(words, group=tier.noun, group_named=tier.named, groups_counted=tier.counted)


def _level_words(
    results: Results, words: lexicon.Lexicon, level: Level, group: str
) -> dict[str, str]:
    out = {"people": words.unit.many, "People": words.unit.Many}
    if not level.multilevel:
        return out
    tiers = words.tiers
    time = getattr(results.spec, "time", None)
    if time and not level.crossed and level.position < len(tiers) - 1:
        person = tiers[-1].noun  # the innermost groups are the individuals measured over time
        out.update(people=person.many, People=person.Many)
    if time:
        out["at_time"] = f" (where {results.spec.label(time)} is 0)"
    if level.crossed:
        chain = f"{words.unit.many} in {tiers[0].noun.many} crossed with {tiers[1].noun.many}"
    else:
        chain = " in ".join([words.unit.many, *(t.noun.many for t in reversed(tiers))])
    out["levels"] = chain
    if level.inner_column is not None and level.inner is not None:
        other = words.tier(level.inner_column).noun
        count = level.inner.get(group, 0)
        noun = other.one if count == 1 else other.many
        spread = "spread over " if level.crossed else "from " if time else "in "
        out["inner"] = f", {spread}{fmt.integer(count)} {noun}"
        if level.crossed:
            out["crossed_with"] = other.many
    if level.within is not None:
        parent = words.tier(level.within).noun
        out["within"] = parent.one
        if "inner" not in out:
            out["inner"] = f", in {parent.one} {group.rsplit(' / ', 1)[0]}"
    return out


def _adjusted(results: Results, level: Level) -> tuple[list[str], list[str]]:
    """The predictors the comparison holds alike: the rows' own, and those constant within the
    profiled level's groups (one level: group-level; several: constant within this level or an
    outer one), which describe the group, not its rows. Time is neither (where it is read)."""
    columns = levels.columns(results)
    own, of_group = [], []
    for name in results.spec.predictors:
        if name == getattr(results.spec, "time", None):
            continue
        try:
            v = results.design.variable(name)
        except (KeyError, ValueError):
            own.append(name)
            continue
        if level.multilevel:
            at = columns.index(v.level) if v.level in columns else None
            group_level = at is not None and at <= level.position and not level.crossed
        else:
            group_level = v.group_level
        (of_group if group_level else own).append(name)
    return own, of_group


def _intercept_point(results: Results, effects: GroupEffects, level: Level) -> tuple[str, str]:
    """Where a group's intercept difference holds when the level has random slopes (it changes
    with their variables: " (where Age is 0)", a category's reference " (where Gender is
    Female)"), and, when a numeric one's 0 lies outside its observed values, that point ("Age 0
    (they span 15 to 18)"); ("", "") without random slopes."""
    spec, design = results.spec, results.design
    time = getattr(spec, "time", None)
    points, far = ([f"{spec.label(time)} is 0"] if time else []), []
    for term in effects.terms:
        if term == INTERCEPT:
            continue
        try:
            t = design.term(term)
            v = design.variable(t.variable) if t.variable is not None else None
        except (KeyError, ValueError):
            continue
        if v is None:
            continue
        name = spec.label(v.name)
        if t.level is not None and v.reference is not None:
            point = f"{name} is {v.reference}"
        else:
            point = f"{name} is 0"
            data = results.data
            seen = data.model_scale.get(v.name) or data.numeric.get(v.name)
            if seen is not None and not seen.min <= 0 <= seen.max:
                far.append(f"{name} 0 (they span {fmt.sig(seen.min)} to {fmt.sig(seen.max)})")
        if point not in points:
            points.append(point)
    if len(points) == int(bool(time)):  # no random slope: growth keeps its time point
        return "", ""
    return f" (where {_listed(points)})", " or ".join(far)


def _listed(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _slopes(
    results: Results, effects: GroupEffects, j: int, digits: int, level: Level
) -> list[Slope]:
    model = results.final
    # the final model's test of each slope, at this level (one level: tests carry no level)
    tests = {(t.level, t.term): t for t in results.component_tests}
    out = []
    for k, term in enumerate(effects.terms):
        if term == INTERCEPT:
            continue
        average = model.effect(term).estimate
        deviation, se = effects.estimate[j][k], effects.std_error[j][k]
        own = average + deviation
        # the first random slope's own line holds the group's level-2 values too (interactions)
        if k == 1 and effects.lines:
            own = effects.lines[j][1]
        verdict = ""
        if se and math.isfinite(se):
            if deviation - Z95 * se > 0:
                verdict = "steeper" if average >= 0 else "flatter"
            elif deviation + Z95 * se < 0:
                verdict = "flatter" if average >= 0 else "steeper"
        test = tests.get((level.column, term)) or tests.get((None, term))
        out.append(
            Slope(
                label=_term_label(results, term),
                per=_per(results, term),
                own=fmt.num(own, digits + 1),
                average=fmt.num(average, digits + 1),
                verdict=verdict,
                varies=rules.slopes_vary(test.p_value if test else None),
            )
        )
    return out


def _per(results: Results, term: str) -> str:
    """What one slope is a change over: a unit of a number, or a level against the reference
    (in log-odds for a yes/no outcome)."""
    scale = " (in log-odds)" if results.final.is_binomial else ""
    try:
        t = results.design.term(term)
        v = results.design.variable(t.variable) if t.variable is not None else None
    except (KeyError, ValueError):
        return f"per unit of {results.spec.label(term)}{scale}"
    if v is not None and t.level is not None:
        name = results.spec.label(v.name)
        against = f" against {name} = {v.reference}" if v.reference is not None else ""
        return f"({name} = {t.level}{against}){scale}"
    return f"per unit of {_term_label(results, term)}{scale}"


def _term_label(results: Results, term: str) -> str:
    try:
        t = results.design.term(term)
    except (KeyError, ValueError):
        return results.spec.label(term)
    if t.variable is None:
        return results.spec.label(term)
    return results.spec.label(t.variable)
