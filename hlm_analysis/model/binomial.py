"""The model ladder for a yes/no outcome (config `family: binomial`).

Ordinary logistic regression (and its cluster-robust twin), then multilevel logistic models
fitted by glmm.py on the exact marginal likelihood (Laplace, or adaptive Gauss-Hermite for a
random intercept alone), as glmer does. Estimates stay on the logit scale, as glmer reports
them; every fixed-effect row also carries its odds ratio and its average marginal effect in
probability, which is what the report leads with. Inference is by z (Wald), as glmer's summary.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .. import distributions
from ..data import Prepared
from ..data.prepare import Rows
from ..results import (
    MODEL_ORDER,
    AveragePrediction,
    ComponentTest,
    FixedEffect,
    GroupEffects,
    Icc,
    MedianOddsRatio,
    Method,
    ModelName,
    ModelResult,
    RobustSE,
    TermKind,
    VariableKind,
)
from . import final, glmm, profile, stats
from .ladder import (
    UNCORRELATED_NOTE,
    Ladder,
    ModelDef,
    Progress,
    _fixed_effects,
    formula,
    ladder,
    variance_components,
)

# The variance of the standard logistic distribution: the level-1 variance on the latent scale
# (Snijders & Bosker 2012, sec. 17.4), used by the latent ICC and Nakagawa's R2 for the logit link.
LATENT_VARIANCE = np.pi**2 / 3
NORMAL = np.inf  # degrees of freedom of a z test
# The latent ICC's profile interval, to 1e-5 in theta (the ICC to better than 1e-5): each point
# re-optimises beta over every row, so the Gaussian 1e-10 would cost seconds at 200,000 rows.
ICC_THETA_TOLERANCE = 1e-5


def expit(eta: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(eta, float)))


def median_odds_ratio(tau00: float) -> float:
    """Merlo et al. (2006): the median odds ratio between two randomly chosen groups for the
    same kind of student, exp(sqrt(2 tau00) * z_0.75)."""
    return float(np.exp(np.sqrt(2.0 * max(tau00, 0.0)) * distributions.norm_ppf(0.75)))


def _tau_of_icc(icc: float) -> float:
    return icc * LATENT_VARIANCE / (1.0 - icc) if icc < 1 else np.inf


# ---------------------------------------------------------------------------------------------
# Odds ratios and average marginal effects


def _term_columns(prepared: Prepared, rows: Rows, terms: list[str], set_to: dict) -> np.ndarray:
    """The fixed design at `rows` with some main-effect terms replaced (`set_to`: term -> array
    or number); interactions are recomputed from their parts, so they follow."""
    design = prepared.design
    n = len(rows.y)

    def value(term: str) -> np.ndarray:
        t = design.term(term)
        if t.kind == TermKind.INTERACTION:
            return np.prod([value(part) for part in t.parts], axis=0)
        if term in set_to:
            return np.broadcast_to(np.asarray(set_to[term], float), (n,))
        return rows.columns[term]

    return np.column_stack([np.asarray(value(term), float) for term in terms])


def _own_effects(rows: Rows, modes: np.ndarray | None) -> np.ndarray:
    """Each row's own group's effects (conditional modes), (n, q); (n, 0) without random terms."""
    return modes[rows.group_codes] if modes is not None else np.zeros((len(rows.y), 0))


def _linear_predictor(
    prepared: Prepared, rows: Rows, terms: list[str], random, beta, own, set_to: dict
) -> tuple[np.ndarray, np.ndarray]:
    """The fixed design with `set_to` applied and each row's linear predictor, its own group's
    effects included (a random slope's column follows `set_to` too)."""
    X = _term_columns(prepared, rows, terms, set_to)
    if not len(random):
        return X, X @ beta
    Z = _term_columns(prepared, rows, list(random), set_to)
    return X, X @ beta + np.einsum("nq,nq->n", Z, own)


def marginal_effects(
    prepared: Prepared,
    rows: Rows,
    terms: list[str],
    beta: np.ndarray,
    cov: np.ndarray,
    random: list[str] = (),
    modes: np.ndarray | None = None,
) -> dict[str, tuple[float, float]]:
    """Average marginal effect of each main-effect term on the probability, with its
    delta-method SE (over beta): for a numeric term the average of dp/dx over the rows; for a
    dummy the average change from the reference level to that level, every row moved. The rest
    of each row stays as observed, and each row keeps its own group's effects (`modes` of the
    `random` terms, a random slope included). Interactions follow their parts."""
    design = prepared.design
    n = len(rows.y)
    own = _own_effects(rows, modes)

    def linear(set_to: dict) -> tuple[np.ndarray, np.ndarray]:
        return _linear_predictor(prepared, rows, terms, random, beta, own, set_to)

    X, eta = linear({})
    p = expit(eta)
    out: dict[str, tuple[float, float]] = {}
    for term in terms:
        t = design.term(term)
        if t.kind == TermKind.NUMERIC:
            # d eta / dx per row: the design is linear in x, so eta at x = 1 minus eta at x = 0
            # (other columns as observed) is each row's slope, the group's own slope included
            X1, eta1 = linear({term: 1.0})
            X0, eta0 = linear({term: 0.0})
            slope, dX = eta1 - eta0, X1 - X0
            w = p * (1 - p)
            estimate = float(np.mean(w * slope))
            gradient = (w * (1 - 2 * p) * slope) @ X / n + w @ dX / n
        elif t.kind == TermKind.DUMMY:
            siblings = design.variable(t.variable).terms
            X1, eta1 = linear({s: float(s == term) for s in siblings})
            X0, eta0 = linear({s: 0.0 for s in siblings})
            p1, p0 = expit(eta1), expit(eta0)
            estimate = float(np.mean(p1 - p0))
            gradient = ((p1 * (1 - p1)) @ X1 - (p0 * (1 - p0)) @ X0) / n
        else:
            continue
        out[term] = (estimate, float(np.sqrt(max(gradient @ cov @ gradient, 0.0))))
    return out


# Points of a numeric predictor's grid of average predictions (min to max): smooth enough for a
# curve of a logistic model's probability, and 25 passes over the rows stay cheap at 500,000 rows.
PREDICTION_POINTS = 25
# Rows each group's average probability is taken over (every k-th row beyond): groups x rows
# evaluations, so 10,000 groups stay near 2e7.
GROUP_AVERAGE_CELLS = 20_000_000
GROUP_AVERAGE_MIN_ROWS = 500


def average_predictions(
    prepared: Prepared,
    rows: Rows,
    terms: list[str],
    beta: np.ndarray,
    cov: np.ndarray,
    random: list[str] = (),
    modes: np.ndarray | None = None,
) -> tuple[AveragePrediction, ...]:
    """marginaleffects' avg_predictions: the predicted probability of every row with one
    predictor set to a value (each level of a categorical, 0 and 1 of a 0/1 indicator, a grid
    from min to max of any other numeric), the rest of each row as observed and each row in its
    own group (the conditional modes, as marginal_effects), averaged over the rows, with its
    delta-method SE over beta; first the data as observed. A 'typical member' with every other
    predictor at its reference level can sit far from every real row (graduation: 15% against
    an observed 39%); the average over the rows cannot."""
    design = prepared.design
    n = len(rows.y)
    own = _own_effects(rows, modes)

    def one(variable, level, value, set_to: dict) -> AveragePrediction:
        X, eta = _linear_predictor(prepared, rows, terms, random, beta, own, set_to)
        p = expit(eta)
        gradient = (p * (1 - p)) @ X / n
        se = float(np.sqrt(max(gradient @ cov @ gradient, 0.0)))
        return AveragePrediction(variable, level, value, float(np.mean(p)), se)

    out = [one(None, None, None, {})]
    for name in design.predictors:
        variable = design.variable(name)
        if not variable.terms or not set(variable.terms) <= set(terms):
            continue
        if variable.kind == VariableKind.CATEGORICAL:
            dummies = [None, *variable.terms]  # the reference level first: every dummy 0
            for level, dummy in zip(variable.levels, dummies, strict=True):
                out.append(one(name, level, None, {s: float(s == dummy) for s in variable.terms}))
            continue
        (term,) = variable.terms
        column = rows.columns[term]
        if variable.binary:
            grid = np.array([0.0, 1.0])
        else:
            grid = np.linspace(float(column.min()), float(column.max()), PREDICTION_POINTS)
        out.extend(one(name, None, float(x), {term: float(x)}) for x in grid)
    return tuple(out)


def group_average_probabilities(
    rows: Rows, terms: list[str], beta: np.ndarray, random: list[str], modes: np.ndarray,
    cond_se: np.ndarray,
) -> tuple[tuple[float, float, float], ...]:  # fmt: skip
    """Each group's probability averaged over the data's rows as if every row were in it (the
    same mix of rows for every group, so groups differ by their effects alone), with the 95%
    interval of its intercept effect, mode +- 1.96 conditional SE, mapped through: the average
    is increasing in the intercept, so the interval's ends are the averages at its ends."""
    n = len(rows.y)
    keep = max(GROUP_AVERAGE_MIN_ROWS, GROUP_AVERAGE_CELLS // max(len(modes), 1))
    index = np.arange(n) if n <= keep else np.linspace(0, n - 1, keep).round().astype(int)
    fixed = rows.matrix(terms)[index] @ beta
    Z = rows.matrix(random)[index]
    out = []
    for g in range(len(modes)):
        eta = fixed + Z @ modes[g]
        half = 1.96 * cond_se[g, 0] * Z[:, 0]  # Z[:, 0] is the intercept's column of ones
        out.append(tuple(float(np.mean(expit(e))) for e in (eta, eta - half, eta + half)))
    return tuple(out)


def _with_odds_ratios(effects, marginal: dict[str, tuple[float, float]]) -> tuple:
    def one(fe: FixedEffect) -> FixedEffect:
        ame = marginal.get(fe.term)
        return replace(
            fe,
            odds_ratio=float(np.exp(fe.estimate)),
            odds_ratio_ci_low=float(np.exp(fe.ci_low)),
            odds_ratio_ci_high=float(np.exp(fe.ci_high)),
            marginal_effect=None if ame is None else ame[0],
            marginal_effect_se=None if ame is None else ame[1],
        )

    return tuple(one(fe) for fe in effects)


# ---------------------------------------------------------------------------------------------
# Single-level models


def fit_logistic(prepared: Prepared, mdef: ModelDef) -> ModelResult:
    rows = prepared.rows
    X = rows.matrix(mdef.fixed)
    res = glmm.logistic(rows.y, X)
    cov = res.cov
    notes: list[str] = []
    robust_se = None
    df_method = "z (Wald)"
    if mdef.name == ModelName.LOGISTIC_CLUSTER:
        cov = glmm.cluster_cr1(rows.y, X, rows.group_codes, res.beta)
        robust_se = RobustSE("CR1", dict(zip(mdef.fixed, map(float, np.sqrt(np.diag(cov))),
                                             strict=True)))  # fmt: skip
        df_method = "cluster (G - 1)"
        notes.append(
            "CR1 cluster-robust standard errors (Stata's logit, vce(cluster)) with G - 1 degrees "
            "of freedom."
        )
    se = np.sqrt(np.diag(cov))
    df = np.full(len(mdef.fixed), prepared.n_groups - 1.0 if robust_se else NORMAL)
    separated = tuple(mdef.fixed[i] for i in res.separated)
    if separated:
        notes.append(
            "Complete or quasi-complete separation: the estimates of "
            + ", ".join(separated)
            + " diverge (some predictor values occur with one outcome only)."
        )
    marginal = marginal_effects(prepared, rows, mdef.fixed, res.beta, cov)
    k = len(mdef.fixed)
    return ModelResult(
        name=mdef.name,
        formula=formula(prepared, mdef),
        method=Method.ML_LOGIT,
        converged=bool(res.converged),
        optimizer="iteratively reweighted least squares",
        loglik=float(res.loglik),
        n_obs=prepared.n_obs,
        n_groups=prepared.n_groups,
        fixed_effects=_with_odds_ratios(_fixed_effects(mdef.fixed, res.beta, se, df), marginal),
        df_method=df_method,
        **stats.likelihood_fields(res.loglik, k, prepared.n_obs),
        fixed_cov=tuple(map(tuple, cov)),
        robust=robust_se,
        notes=tuple(notes),
        family="binomial",
        separation=separated,
    )


# ---------------------------------------------------------------------------------------------
# Multilevel logistic models


def _offset(rows: Rows, random: list[str], modes: np.ndarray) -> np.ndarray:
    Z = rows.matrix(random)
    return np.einsum("nq,nq->n", Z, modes[rows.group_codes])


def fit_mixed(prepared: Prepared, mdef: ModelDef) -> glmm.GlmmFit:
    rows = prepared.rows
    return glmm.fit_glmm(
        rows.y,
        rows.matrix(mdef.fixed),
        rows.matrix(mdef.random),
        rows.group_codes,
        nagq=prepared.spec.nagq,
        diagonal=mdef.diagonal,
    )


def _null_icc(prepared: Prepared, fit: glmm.GlmmFit, mdef: ModelDef) -> tuple[Icc, Icc]:
    """The latent ICC and the median odds ratio with 95% profile-likelihood intervals: the
    deviance with beta re-optimised at each tau00, as the Gaussian ICC's interval."""
    rows = prepared.rows
    problem = glmm.Problem(
        rows.y, rows.matrix(mdef.fixed), rows.matrix(mdef.random), rows.group_codes,
        prepared.spec.nagq,
    )  # fmt: skip
    low, high = stats.icc_interval(
        *glmm.latent_icc_profile(problem, float(fit.theta[0])), xtol=ICC_THETA_TOLERANCE
    )
    theta = float(fit.theta[0])
    tau00 = theta**2
    icc = Icc(glmm.latent_icc(fit.re_cov), low, high, "latent scale, profile likelihood, 95%")
    mor = MedianOddsRatio(
        median_odds_ratio(tau00),
        median_odds_ratio(_tau_of_icc(low)),
        median_odds_ratio(_tau_of_icc(high)),
        "Merlo et al. (2006), from the ICC's profile interval",
    )
    return icc, mor


def _intervals(prepared: Prepared, mdef: ModelDef, fit: glmm.GlmmFit) -> list:
    """glmer's profile intervals of the SDs and correlations of the final model (each profile
    point re-optimises beta and the other variance parameters over every row: bounded by
    profile.MAX_BINARY_ROWS, divided by the squared number of random terms)."""
    q = len(mdef.random)
    m = q + q * (q - 1) // 2
    if not fit.verified:
        why = "the optimum the profile starts from could not be verified"
        return [profile.Interval(None, None, None, why)] * m
    limit = profile.MAX_BINARY_ROWS // (q * q)
    if prepared.n_obs > limit:
        why = (
            f"with {prepared.n_obs:,} rows the profile of a logistic model (every point a fit "
            f"over all rows) is not run (it is up to {limit:,} rows with {q} random terms)"
        )
        return [profile.Interval(None, None, None, why)] * m
    rows = prepared.rows
    problem = glmm.Problem(
        rows.y, rows.matrix(mdef.fixed), rows.matrix(mdef.random), rows.group_codes,
        prepared.spec.nagq,
    )  # fmt: skip
    return profile.binary_intervals(fit.theta, problem, fit.beta, mdef.diagonal)


def mixed_result(
    prepared: Prepared, mdef: ModelDef, fit: glmm.GlmmFit, is_final: bool
) -> ModelResult:
    rows = prepared.rows
    q = len(mdef.random)
    re_cov = fit.re_cov
    se = np.sqrt(np.diag(fit.cov_beta))
    df = np.full(len(mdef.fixed), NORMAL)
    marginal = marginal_effects(
        prepared, rows, mdef.fixed, fit.beta, fit.cov_beta, mdef.random, fit.modes
    )
    Z = rows.matrix(mdef.random)
    mean_zz = Z.T @ Z / len(Z)
    var_fixed = prepared.sums.quadratic_variance(mdef.fixed, fit.beta)
    r2 = stats.nakagawa_r2(var_fixed, re_cov, mean_zz, LATENT_VARIANCE)
    tau00 = float(re_cov[0, 0])
    k = len(mdef.fixed) + len(stats.variance_parameters(q, mdef.diagonal)) - 1  # no sigma
    notes = []
    if mdef.diagonal:
        notes.append(UNCORRELATED_NOTE)
    if not fit.verified:
        notes.append(
            f"The maximum-likelihood optimum could not be verified (a Newton step could gain "
            f"{fit.decrement:.2g}); treat these estimates as provisional."
        )
    if fit.cov_method != "hessian":
        notes.append(
            "Standard errors hold the variance parameters fixed: the Hessian over all parameters "
            "was not positive definite (a boundary fit)."
        )
    icc = mor = None
    if mdef.name == ModelName.NULL:
        icc, mor = _null_icc(prepared, fit, mdef)
    elif q == 1:
        mor = MedianOddsRatio(
            median_odds_ratio(tau00), float("nan"), float("nan"), "Merlo et al. (2006)"
        )
    lines = ()
    intervals = None
    averages = group_averages = ()
    if is_final:
        lines = final.group_lines(prepared, mdef.fixed, fit.beta, mdef.random, fit.modes)
        averages = average_predictions(
            prepared, rows, mdef.fixed, fit.beta, fit.cov_beta, mdef.random, fit.modes
        )
        group_averages = group_average_probabilities(
            rows, mdef.fixed, fit.beta, mdef.random, fit.modes, fit.cond_se
        )
        intervals = _intervals(prepared, mdef, fit)
        missing = [
            i.note for i in intervals if i.method is None and i.note != profile.NOT_A_PARAMETER
        ]
        if missing:
            notes.append(
                "Some intervals for the variance components could not be computed: "
                + "; ".join(dict.fromkeys(missing))
                + "."
            )
    how = "Laplace" if fit.nagq == 1 else f"adaptive Gauss-Hermite, {fit.nagq} points"
    return ModelResult(
        name=mdef.name,
        formula=formula(prepared, mdef),
        method=Method.ML_LOGIT,
        converged=fit.verified,
        optimizer=f"{fit.optimizer} ({how})",
        loglik=float(fit.loglik),
        n_obs=prepared.n_obs,
        n_groups=prepared.n_groups,
        fixed_effects=_with_odds_ratios(_fixed_effects(mdef.fixed, fit.beta, se, df), marginal),
        df_method="z (Wald)",
        variance_components=variance_components(
            prepared.spec.group, mdef.random, re_cov, None, intervals, mdef.diagonal
        ),
        attempts=fit.attempts,
        singular=fit.singular,
        singular_terms=tuple(mdef.random[i] for i in fit.singular_terms),
        max_gradient=fit.max_gradient,
        newton_decrement=fit.decrement,
        ml_verified=fit.verified,
        **stats.likelihood_fields(fit.loglik, k, prepared.n_obs),
        r2_marginal=r2["r2_marginal"],
        r2_conditional=r2["r2_conditional"],
        icc=icc,
        icc_adjusted=r2["icc_adjusted"],
        icc_residual=glmm.latent_icc(re_cov),
        reliability=(reliability := _reliability(mdef.random, re_cov, fit.cond_se)),
        reliability_mean=reliability.get(mdef.random[0]),
        fixed_cov=tuple(map(tuple, fit.cov_beta)),
        random_terms=tuple(mdef.random),
        group_effects=GroupEffects(
            terms=tuple(mdef.random),
            groups=tuple(prepared.group_labels),
            estimate=tuple(map(tuple, fit.modes.tolist())),
            std_error=tuple(map(tuple, fit.cond_se.tolist())),
            covariance=()
            if fit.cond_cov is None
            else tuple(tuple(map(tuple, c)) for c in fit.cond_cov.tolist()),
            lines=lines,
            average_probability=group_averages,
        ),
        notes=tuple(notes),
        family="binomial",
        nagq=fit.nagq,
        median_odds_ratio=mor,
        separation=tuple(mdef.fixed[i] for i in fit.separated),
        uncorrelated=mdef.diagonal,
        average_predictions=averages,
    )


def fitted_probabilities(model: ModelResult, rows: Rows) -> np.ndarray:
    beta = np.array([fe.estimate for fe in model.fixed_effects])
    eta = rows.matrix([fe.term for fe in model.fixed_effects]) @ beta
    if model.is_mixed:
        eta = eta + _offset(rows, list(model.random_terms), np.array(model.group_effects.estimate))
    return expit(eta)


def fit_binomial_ladder(prepared: Prepared, progress: Progress = lambda message: None) -> Ladder:
    """Every model, the final one chosen by the same rule as for Gaussian outcomes."""
    definitions = ladder(prepared)
    progress(
        f"hlm-report: fitting {len(definitions)} logistic models of {prepared.spec.name} "
        f"({prepared.n_obs:,} rows in {prepared.n_groups:,} groups)"
    )
    fits: dict[ModelName, tuple[ModelDef, glmm.GlmmFit]] = {}
    models: dict[ModelName, ModelResult] = {}
    for mdef in definitions:
        started = time.perf_counter()
        if mdef.random:
            fits[mdef.name] = (mdef, fit_mixed(prepared, mdef))
            verified = fits[mdef.name][1].verified
        else:
            models[mdef.name] = fit_logistic(prepared, mdef)
            verified = models[mdef.name].converged
        status = "" if verified else " (optimum NOT verified)"
        progress(f"  {mdef.name.label:<28} {time.perf_counter() - started:6.2f} s{status}")

    def estimability(d: ModelDef, f: glmm.GlmmFit) -> final.Estimability:
        return final.Estimability(
            f.verified, tuple(d.random[i] for i in f.singular_terms), tuple(d.random)
        )

    states = {n: estimability(d, f) for n, (d, f) in fits.items()}
    uncorrelated: dict[ModelName, tuple[ModelDef, glmm.GlmmFit]] = {}
    if final.needs_uncorrelated(states):
        # as for linear models (ladder.py): every slope rung in the uncorrelated form
        for model_name, (mdef, _) in fits.items():
            if len(mdef.random) > 1:
                started = time.perf_counter()
                diagonal = replace(mdef, diagonal=True)
                uncorrelated[model_name] = (diagonal, fit_mixed(prepared, diagonal))
                progress(
                    f"  {model_name.label + ', uncorrelated':<28} "
                    f"{time.perf_counter() - started:6.2f} s"
                )
    full = final.full_model(set(fits))
    choice = final.choose_path(
        states, estimability(*uncorrelated[full]) if full in uncorrelated else None
    )
    if choice.uncorrelated:
        fits.update(uncorrelated)
    name, reason = choice.model, choice.reason
    for model_name, (mdef, fit) in fits.items():
        models[model_name] = mixed_result(prepared, mdef, fit, model_name == name)
    chosen_def, chosen = fits[name]
    cov = np.array(models[name].fixed_cov)
    slopes, regions = final.simple_slopes(
        prepared,
        chosen_def.fixed,
        chosen.beta,
        cov,
        lambda contrasts: np.full(len(np.atleast_2d(contrasts)), NORMAL),
        list(prepared.spec.interactions),
    )
    ordered = {n: models[n] for n in MODEL_ORDER if n in models}
    tests = _slope_tests(models, name)
    joint = final.joint_tests(prepared, chosen_def.fixed, chosen.beta, cov, None)
    return Ladder(
        ordered,
        name,
        reason,
        tests,
        tuple(slopes),
        tuple(regions),
        final.liberal_tests(prepared.spec, choice.slope_dropped),
        tuple(joint),
    )


def _slope_tests(models: dict[ModelName, ModelResult], name: ModelName) -> tuple:
    """The final model's random slope tested against the same model with a random intercept
    only (already fitted): an ML likelihood ratio with a 50:50 chi-bar-square reference. With
    several slopes the one test covers them together, so none is reported per term."""
    full = models[name]
    slopes = full.random_terms[1:]
    reduced = models.get(final.reduced_model(name))
    if len(slopes) != 1 or reduced is None or reduced is full:
        return ()
    df = len(stats.variance_parameters(len(full.random_terms), full.uncorrelated)) - 2
    stat = max(2.0 * (full.loglik - reduced.loglik), 0.0)
    return (
        ComponentTest(
            slopes[0], float(stat), df, stats.chibar_p(stat, df),
            "the same model without this random slope",
        ),
    )  # fmt: skip


def _reliability(terms: list[str], re_cov: np.ndarray, cond_se: np.ndarray) -> dict:
    """Each random coefficient's average reliability, 1 - (conditional variance / its variance)
    over groups: the empirical-Bayes form of HLM's lambda, which for a linear model equals it."""
    out = {}
    for k, term in enumerate(terms):
        tau = re_cov[k, k]
        if tau > 0:
            out[term] = float(np.mean(np.clip(1 - cond_se[:, k] ** 2 / tau, 0, 1)))
    return out


def binary_health_values(prepared: Prepared, n_parameters: int) -> dict[str, float]:
    """Events per parameter (the rarer outcome) and the groups whose rows all share one
    outcome, from the design's sums."""
    sums = prepared.sums
    events = float(sums.group_totals(sums.outcome).sum())
    rarer = min(events, sums.n - events)
    totals = sums.group_totals(sums.outcome)
    uniform = int(np.sum((totals == 0) | (totals == sums.counts)))
    return {
        "events": events,
        "events_per_parameter": rarer / n_parameters,
        "uniform_groups": uniform,
    }


__all__ = ["LATENT_VARIANCE", "binary_health_values", "fit_binomial_ladder", "fitted_probabilities"]
