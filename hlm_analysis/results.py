"""Frozen results: one dataclass per fitted model, tidy tables with fixed names, a JSON round trip.

Everything downstream of fitting (tables, figures, narrative, email, site) reads these objects or
the results.json written from them; nothing downstream touches a statsmodels object.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from . import atomic

MODEL_ORDER = ("ols", "ols_cluster", "null", "random_intercept", "random_slope", "interaction")
MODEL_LABELS = {
    "ols": "OLS",
    "ols_cluster": "OLS, cluster-robust SE",
    "null": "Null (intercept only)",
    "random_intercept": "Random intercept",
    "random_slope": "Random slopes",
    "interaction": "Interactions",
}


@dataclass(frozen=True)
class FixedEffect:
    term: str
    estimate: float
    std_error: float
    statistic: float
    df: float | None
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class VarianceComponent:
    group: str
    term1: str | None
    term2: str | None
    estimate: float  # a variance when term2 is None, else a covariance (lme4's vcov column)
    sdcor: float  # standard deviation or correlation (lme4's sdcor column)


@dataclass(frozen=True)
class Attempt:
    optimizer: str
    start: str
    loglik: float | None
    loglik_reported: float | None = None
    converged_reported: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class GroupEffects:
    """Conditional modes of the random effects with conditional standard errors, per group."""

    terms: tuple[str, ...]
    groups: tuple[str, ...]
    estimate: tuple[tuple[float, ...], ...]  # [group][term]
    std_error: tuple[tuple[float, ...], ...]
    reliability: tuple[float, ...] = ()  # HLM's lambda_j for the intercept, per group


@dataclass(frozen=True)
class ModelResult:
    name: str
    label: str
    formula: str
    method: str  # REML, ML or OLS
    converged: bool
    optimizer: str
    loglik: float
    n_obs: int
    n_groups: int
    fixed_effects: tuple[FixedEffect, ...]
    df_method: str
    variance_components: tuple[VarianceComponent, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    singular: bool = False
    singular_terms: tuple[str, ...] = ()
    max_gradient: float | None = None
    newton_decrement: float | None = None  # deviance a Newton step could still gain at the optimum
    loglik_ml: float | None = None
    aic: float | None = None
    bic: float | None = None
    n_parameters: int = 0
    r2: float | None = None
    r2_marginal: float | None = None
    r2_conditional: float | None = None
    icc: dict[str, Any] | None = None
    icc_adjusted: float | None = None
    variance_explained_level1: float | None = None  # proportional reduction vs the null model
    variance_explained_level2: float | None = None
    reliability_mean: float | None = None  # HLM 8's average lambda_j of the intercept
    design_effect: float | None = None
    fixed_cov: tuple[tuple[float, ...], ...] = ()
    random_terms: tuple[str, ...] = ()
    group_effects: GroupEffects | None = None
    robust: dict[str, Any] | None = None  # ols_cluster: CR1 beside CR2, and which one is reported
    notes: tuple[str, ...] = ()

    @property
    def is_mixed(self) -> bool:
        return self.method in ("REML", "ML")

    def effect(self, term: str) -> FixedEffect:
        for fe in self.fixed_effects:
            if fe.term == term:
                return fe
        raise KeyError(term)

    def variance(self, term1: str | None) -> float | None:
        for vc in self.variance_components:
            if (
                vc.term1 == term1
                and vc.term2 is None
                and (term1 is not None or vc.group == "Residual")
            ):
                return vc.estimate
        return None

    @property
    def residual_variance(self) -> float | None:
        for vc in self.variance_components:
            if vc.group == "Residual":
                return vc.estimate
        return None


@dataclass(frozen=True)
class Comparison:
    model_a: str
    model_b: str
    statistic: float
    df: int
    p_value: float
    p_value_method: str
    refit: bool
    p_value_naive: float | None = None
    aic_a: float | None = None
    aic_b: float | None = None


@dataclass(frozen=True)
class Results:
    spec: dict[str, Any]
    data: dict[str, Any]
    models: dict[str, ModelResult]
    comparisons: tuple[Comparison, ...] = ()
    health: tuple[dict[str, Any], ...] = ()
    selection: tuple[dict[str, Any], ...] = ()  # AIC, BIC, delta AIC and Akaike weight per model
    contextual_effects: tuple[dict[str, Any], ...] = ()  # within, between, contextual per variable
    diagnostics: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)

    def model(self, name: str) -> ModelResult:
        return self.models[name]

    @property
    def mixed_models(self) -> list[ModelResult]:
        return [m for m in self.models.values() if m.is_mixed]

    @property
    def main_model(self) -> ModelResult:
        """The model the report leads with: random slopes if verified, else random intercept.

        The interaction model is reported beside it, not instead of it: with an interaction in the
        model, main effects become conditional effects at zero of the other variable.
        """
        for name in ("random_slope", "random_intercept"):
            if name in self.models and self.models[name].converged:
                return self.models[name]
        return self.models["random_intercept"]


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and numpy scalars to JSON types in one pass; NaN and inf become null
    (JSON has neither). dataclasses.asdict deep-copies first, which is slow at 10,000 groups."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return value


def to_dict(results: Results) -> dict[str, Any]:
    return _plain(results)


def write_json(results: Results, path: Path) -> None:
    # No indentation: at 10,000 groups the file is megabytes and indenting doubles the time.
    atomic.write_text(path, json.dumps(to_dict(results), allow_nan=False))


def _tuple(values):
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)


def _model_from_dict(raw: dict[str, Any]) -> ModelResult:
    raw = dict(raw)
    raw["fixed_effects"] = tuple(FixedEffect(**fe) for fe in raw["fixed_effects"])
    raw["variance_components"] = tuple(VarianceComponent(**vc) for vc in raw["variance_components"])
    raw["attempts"] = tuple(Attempt(**a) for a in raw["attempts"])
    raw["singular_terms"] = tuple(raw["singular_terms"])
    raw["random_terms"] = tuple(raw["random_terms"])
    raw["notes"] = tuple(raw["notes"])
    raw["fixed_cov"] = _tuple(raw["fixed_cov"])
    if raw.get("group_effects") is not None:
        ge = raw["group_effects"]
        raw["group_effects"] = GroupEffects(
            terms=tuple(ge["terms"]),
            groups=tuple(ge["groups"]),
            estimate=_tuple(ge["estimate"]),
            std_error=_tuple(ge["std_error"]),
            reliability=tuple(ge.get("reliability", ())),
        )
    known = {f.name for f in fields(ModelResult)}
    return ModelResult(**{k: v for k, v in raw.items() if k in known})


def from_dict(raw: dict[str, Any]) -> Results:
    return Results(
        spec=raw["spec"],
        data=raw["data"],
        models={name: _model_from_dict(m) for name, m in raw["models"].items()},
        comparisons=tuple(Comparison(**c) for c in raw.get("comparisons", [])),
        health=tuple(raw.get("health", [])),
        selection=tuple(raw.get("selection", [])),
        contextual_effects=tuple(raw.get("contextual_effects", [])),
        diagnostics=raw.get("diagnostics", {}),
        software=raw.get("software", {}),
    )


def read_json(path: Path) -> Results:
    return from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
