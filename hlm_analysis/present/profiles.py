"""The facts of one group's profile, from results.json alone (no data, no refit).

Every number a profile shows is taken or derived here: the group's size and raw mean beside
all groups', its effect on the intercept in the final model (the conditional mode, exactly the
number results.json holds) with its conditional SE and 95% interval, its rank among all groups
with a simulated rank interval (ranks.py), and its own slope for each random slope. The words
come from the report's lexicon; the templates only arrange them.

Privacy: a group with fewer rows than `min_size` (or than the report's `min_cell`, whichever is
larger: a profile shows a raw mean, which min_cell forbids for smaller groups) is suppressed:
its index entry carries its id and `suppressed: true` and no number, and no profile is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..results import INTERCEPT, Results
from . import fmt, lexicon, ranks
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


def group_effects(results: Results):
    """The final model's group effects, refused (exit 2) when it has no random intercept."""
    model = results.final
    effects = model.group_effects
    if effects is None or INTERCEPT not in effects.terms:
        raise InputError(
            f"the final model ({model.name}) has no random intercept, so there are no group "
            "effects to profile"
        )
    return effects


def threshold(results: Results, min_size: int) -> int:
    """Rows a group needs for a profile: min_size, and never fewer than the report's min_cell."""
    return max(int(min_size), min_cell(results))


def index_entries(results: Results, min_size: int = DEFAULT_MIN_SIZE) -> tuple[list[dict], dict]:
    """One entry per group (the order of results.json) with the index.json fields (`files`
    left empty: the writer fills it), and the settings the numbers depend on."""
    effects = group_effects(results)
    k = effects.terms.index(INTERCEPT)
    estimate = [row[k] for row in effects.estimate]
    std_error = [row[k] for row in effects.std_error]
    sizes = dict(zip(results.data.groups.labels, results.data.groups.n, strict=True))
    ranked = ranks.rank_intervals(np.array(estimate), np.array(std_error))
    cut = threshold(results, min_size)
    entries = []
    for j, group in enumerate(effects.groups):
        n = int(sizes.get(group, 0))
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
                rank=int(ranked.rank[j]),
                rank_low=int(ranked.low[j]),
                rank_high=int(ranked.high[j]),
            )
        entries.append(entry)
    settings = {
        "min_size": int(min_size),
        "threshold": cut,
        "n_groups": len(effects.groups),
        "rank_order": "1 = the highest estimate",
        "rank_draws": ranked.draws,
        "rank_seed": ranked.seed,
        "interval": "95%",
        "model": results.final.name,
    }
    return entries, settings


@dataclass(frozen=True)
class Slope:
    """One random slope in one group: its own slope and the average one."""

    label: str
    per: str  # "per unit of Age" or "(Gender = Male against Gender = Female)"
    own: str
    average: str
    verdict: str  # "steeper", "flatter" or "" (its deviation's interval holds zero)


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
    adjusted_for: str  # the predictors' labels, listed ("" without predictors)
    model: str  # the final model's name
    draws: str  # simulated sets behind the rank interval
    slopes: list[Slope] = field(default_factory=list)
    has_rows: bool = False  # the figure shows the group's rows against all
    sampled: bool = False  # ... from a sample of the rows


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
) -> Profile:
    """The profile of one published group (an entry of `index_entries`)."""
    if entry["suppressed"]:
        raise ValueError("a suppressed group has no profile")
    words = words or lexicon.build(results.spec, results.design)
    model = results.final
    effects = model.group_effects
    j = effects.groups.index(entry["id"])
    table = results.data.groups
    i = table.labels.index(entry["id"])
    n = np.array(table.n, dtype=float)
    means = np.array([np.nan if m is None else m for m in table.outcome_mean], dtype=float)
    known = np.isfinite(means)
    mean_all = float(np.sum(n[known] * means[known]) / np.sum(n[known]))
    binomial = model.is_binomial
    digits = _decimals(results)
    if binomial:  # shares as percentages, the effect as an odds ratio
        mean, overall = fmt.pct(means[i], 0), fmt.pct(mean_all, 0)
        difference = fmt.sig(math.exp(entry["estimate"]), 3)
        low, high = fmt.sig(math.exp(entry["ci_low"]), 3), fmt.sig(math.exp(entry["ci_high"]), 3)
    else:
        mean, overall = fmt.num(means[i], digits), fmt.num(mean_all, digits)
        signed = "+" if round(entry["estimate"], digits) > 0 else ""
        difference = signed + fmt.num(entry["estimate"], digits)
        low, high = fmt.num(entry["ci_low"], digits), fmt.num(entry["ci_high"], digits)
    verdict = "above" if entry["ci_low"] > 0 else "below" if entry["ci_high"] < 0 else ""
    g = len(effects.groups)
    width = entry["rank_high"] - entry["rank_low"] + 1
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
        rank=entry["rank"],
        rank_low=entry["rank_low"],
        rank_high=entry["rank_high"],
        rank_share=fmt.pct(width / g),
        adjusted_for=_listed([results.spec.label(v) for v in results.spec.predictors]),
        model=model.label,
        draws=fmt.integer(draws),
        slopes=_slopes(results, j, digits),
        has_rows=has_rows,
        sampled=has_rows and results.sample is not None and results.sample.is_sample,
    )


def _listed(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _slopes(results: Results, j: int, digits: int) -> list[Slope]:
    model = results.final
    effects = model.group_effects
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
        out.append(
            Slope(
                label=_term_label(results, term),
                per=_per(results, term),
                own=fmt.num(own, digits + 1),
                average=fmt.num(average, digits + 1),
                verdict=verdict,
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
