"""Interpretation thresholds as named data, each with its source, and every decision made on them.

The model-health verdicts, the tables and the narrative all ask here (never a number or a band
name of their own), and every sentence a rule triggers names it, so a reader can trace a
recommendation back to a number and a citation. Templates receive the decisions as flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Rule:
    name: str
    value: float
    source: str


ALPHA = Rule("significance level", 0.05, "conventional two-sided 5% level")
GROUPS_STRONG_WARNING = Rule(
    "fewer groups than this cannot support a random effect",
    10,
    "McNeish & Stapleton (2016), Educ. Psychol. Rev. 28: variance estimates and their SEs are "
    "badly biased below about 10 clusters",
)
GROUPS_WARNING = Rule(
    "fewer groups than this give imprecise group-level variances",
    30,
    "Maas & Hox (2005), Methodology 1(3): level-2 variance SEs are too small below about 30 groups",
)
TINY_GROUP = Rule(
    "groups smaller than this are 'tiny'", 5, "Clarke (2008), J. Epidemiol. Community Health 62"
)
ICC_NEGLIGIBLE = Rule(
    "ICC below this is negligible",
    0.01,
    "Hox, Moerbeek & van de Schoot (2017), Multilevel Analysis, 3rd ed.",
)
ICC_SMALL = Rule(
    "ICC from here is small",
    0.05,
    "Hox, Moerbeek & van de Schoot (2017): .05/.10/.15 for small/medium/large in education",
)
ICC_MEDIUM = Rule("ICC from here is medium", 0.10, "Hox, Moerbeek & van de Schoot (2017)")
ICC_LARGE = Rule("ICC from here is large", 0.15, "Hox, Moerbeek & van de Schoot (2017)")
DESIGN_EFFECT = Rule(
    "design effect above this means clustering matters for standard errors",
    2.0,
    "Muthén & Satorra (1995), Sociological Methodology 25",
)

EVENTS_PER_PARAMETER = Rule(
    "fewer events (the rarer outcome) per model parameter than this make logistic estimates "
    "unreliable",
    10,
    "Peduzzi et al. (1996), J. Clin. Epidemiol. 49(12): bias and poor coverage below about 10",
)

UNIFORM_GROUPS_SHARE = Rule(
    "from this share of groups whose rows all have the same outcome, the group variance rests "
    "on few informative groups",
    0.5,
    "Moineddin, Matheson & Glazier (2007), BMC Med. Res. Methodol. 7:34: with few events per "
    "group, multilevel logistic variance estimates are biased",
)

R2_GROUP_GAIN = Rule(
    "conditional minus marginal R² below this means group differences add almost nothing",
    0.01,
    "one percentage point of the outcome's variance: below reporting precision",
)
RELIABILITY = Rule(
    "average reliability of group-specific coefficients (intercepts or slopes) from which "
    "groups can be compared",
    0.7,
    "Raudenbush & Bryk (2002), Hierarchical Linear Models, 2nd ed., ch. 3 (reliability λ)",
)


STD_SMALL = Rule(
    "standardized coefficient from which an association is small",
    0.1,
    "Cohen (1988), Statistical Power Analysis, 2nd ed.: .10/.30/.50 for r-type effects",
)
STD_MEDIUM = Rule(
    "standardized coefficient from which an association is medium", 0.3, "Cohen (1988)"
)
STD_LARGE = Rule("standardized coefficient from which an association is large", 0.5, "Cohen (1988)")
D_SMALL = Rule(
    "standardized group difference from which a gap is small",
    0.2,
    "Cohen (1988): d of .20/.50/.80 for small/medium/large differences",
)
D_MEDIUM = Rule("standardized group difference from which a gap is medium", 0.5, "Cohen (1988)")
D_LARGE = Rule("standardized group difference from which a gap is large", 0.8, "Cohen (1988)")


KRAFT_SMALL = Rule(
    "effect in outcome SDs below which an education effect is small",
    0.05,
    "Kraft (2020), Educational Researcher 49(4): <.05 small, .05 to <.20 medium, .20+ large "
    "for effects on achievement in SD units",
)
KRAFT_LARGE = Rule(
    "effect in outcome SDs from which an education effect is large", 0.2, "Kraft (2020)"
)
TINY_GROUPS_SHARE = Rule(
    "share of groups below the tiny size from which they weaken the group-level estimates",
    0.1,
    "Clarke (2008) and Bell, Ferron & Kromrey (2008), JSM Proceedings: a few small groups among "
    "many leave fixed effects and variances unbiased; a large share of them does not",
)


class EffectSize(StrEnum):
    NEGLIGIBLE = "negligible"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


def effect_size(
    std_estimate: float | None, difference: bool, scheme: str = "cohen"
) -> EffectSize | None:
    """Cohen's labels for a coefficient in outcome SDs: per predictor SD (r-type thresholds), or
    for a switch between two groups (`difference`: d-type thresholds). With `scheme="kraft"`
    (config `effect_sizes: kraft`), Kraft's education benchmarks for both: small below .05,
    medium to .20, large from .20 (no 'negligible': Kraft has no such band)."""
    if std_estimate is None:
        return None
    if scheme == "kraft":
        size = abs(std_estimate)
        if size < KRAFT_SMALL.value:
            return EffectSize.SMALL
        return EffectSize.MEDIUM if size < KRAFT_LARGE.value else EffectSize.LARGE
    small, medium, large = (
        (D_SMALL, D_MEDIUM, D_LARGE)
        if difference
        else (
            STD_SMALL,
            STD_MEDIUM,
            STD_LARGE,
        )
    )
    size = abs(std_estimate)
    if size < small.value:
        return EffectSize.NEGLIGIBLE
    if size < medium.value:
        return EffectSize.SMALL
    if size < large.value:
        return EffectSize.MEDIUM
    return EffectSize.LARGE


class IccBand(StrEnum):
    NEGLIGIBLE = "negligible"
    VERY_SMALL = "very small"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class GroupsBand(StrEnum):
    TOO_FEW = "too few"
    FEW = "few"
    ENOUGH = "enough"


def icc_band(icc: float) -> IccBand:
    if icc < ICC_NEGLIGIBLE.value:
        return IccBand.NEGLIGIBLE
    if icc < ICC_SMALL.value:
        return IccBand.VERY_SMALL
    if icc < ICC_MEDIUM.value:
        return IccBand.SMALL
    if icc < ICC_LARGE.value:
        return IccBand.MEDIUM
    return IccBand.LARGE


def groups_band(n_groups: int) -> GroupsBand:
    if n_groups < GROUPS_STRONG_WARNING.value:
        return GroupsBand.TOO_FEW
    if n_groups < GROUPS_WARNING.value:
        return GroupsBand.FEW
    return GroupsBand.ENOUGH


def significant(p_value: float | None) -> bool:
    return p_value is not None and p_value < ALPHA.value


def icc_classifiable(n_groups: int) -> bool:
    """An ICC from fewer groups than can support a random effect is too uncertain to band."""
    return groups_band(n_groups) != GroupsBand.TOO_FEW


def between_groups_matter(icc: float) -> bool:
    return icc_band(icc) in (IccBand.MEDIUM, IccBand.LARGE)


def within_groups_dominate(icc: float) -> bool:
    return icc_band(icc) in (IccBand.NEGLIGIBLE, IccBand.VERY_SMALL)


def icc_near_zero(icc: float) -> bool:
    return icc < ICC_NEGLIGIBLE.value


def tiny_groups_matter(n_tiny: int, n_groups: int) -> bool:
    """Whether the groups below the tiny size are enough of all groups to weaken the group-level
    estimates (a health warning), rather than a few small groups among many (a note)."""
    return n_groups > 0 and n_tiny / n_groups >= TINY_GROUPS_SHARE.value


def design_effect_large(design_effect: float | None) -> bool:
    return (design_effect or 0.0) > DESIGN_EFFECT.value


def reliability_high(reliability: float | None) -> bool:
    return (reliability or 0.0) >= RELIABILITY.value


def slopes_vary(p_value: float | None) -> bool:
    """The final model's test of a random slope rejects a common slope."""
    return significant(p_value)


def group_gain_small(r2_marginal: float | None, r2_conditional: float | None) -> bool:
    return (r2_conditional or 0.0) - (r2_marginal or 0.0) < R2_GROUP_GAIN.value


# Every rule by the short name the templates use (`f.rules.alpha.value`, `.source`, `.name`).
RULES = {
    "alpha": ALPHA,
    "groups_strong": GROUPS_STRONG_WARNING,
    "groups": GROUPS_WARNING,
    "tiny_group": TINY_GROUP,
    "tiny_groups_share": TINY_GROUPS_SHARE,
    "kraft_small": KRAFT_SMALL,
    "kraft_large": KRAFT_LARGE,
    "icc_negligible": ICC_NEGLIGIBLE,
    "icc_small": ICC_SMALL,
    "icc_medium": ICC_MEDIUM,
    "icc_large": ICC_LARGE,
    "design_effect": DESIGN_EFFECT,
    "r2_group_gain": R2_GROUP_GAIN,
    "reliability": RELIABILITY,
    "std_small": STD_SMALL,
    "std_medium": STD_MEDIUM,
    "std_large": STD_LARGE,
    "d_small": D_SMALL,
    "d_medium": D_MEDIUM,
    "d_large": D_LARGE,
    "events_per_parameter": EVENTS_PER_PARAMETER,
    "uniform_groups_share": UNIFORM_GROUPS_SHARE,
}
