"""Interpretation thresholds as named data, each with its source.

The narrative and the model-health verdicts both read these, and every sentence they trigger names
the rule that fired, so a reader can trace a recommendation back to a number and a citation.
"""

from __future__ import annotations

from dataclasses import dataclass


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

RELIABILITY = Rule(
    "average reliability of group intercepts from which groups can be compared",
    0.7,
    "Raudenbush & Bryk (2002), Hierarchical Linear Models, 2nd ed., ch. 3 (lambda_j)",
)


def icc_band(icc: float) -> str:
    if icc < ICC_NEGLIGIBLE.value:
        return "negligible"
    if icc < ICC_SMALL.value:
        return "very small"
    if icc < ICC_MEDIUM.value:
        return "small"
    if icc < ICC_LARGE.value:
        return "medium"
    return "large"


def groups_band(n_groups: int) -> str:
    if n_groups < GROUPS_STRONG_WARNING.value:
        return "too few"
    if n_groups < GROUPS_WARNING.value:
        return "few"
    return "enough"


ALL_RULES = (
    ALPHA,
    GROUPS_STRONG_WARNING,
    GROUPS_WARNING,
    TINY_GROUP,
    ICC_NEGLIGIBLE,
    ICC_SMALL,
    ICC_MEDIUM,
    ICC_LARGE,
    DESIGN_EFFECT,
    RELIABILITY,
)
