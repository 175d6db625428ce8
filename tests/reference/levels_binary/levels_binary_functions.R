# glmer's intervals of a binary outcome with several levels (lme4 1.1-31), for random intercepts
# and slopes (sourced by make_levels_binary_profile.R and make_levels_binary_crossed.R). The
# deviance is the fit's own (getME(m, "devfun"), as lme4's profile and vcov use it): getME builds
# it with PIRLS to tolPwrss 1e-7 (not the fit's control), which leaves it up to ~0.004 off the
# Laplace deviance away from the optimum (ScotsSec null model, secondary-school theta + 0.1: 4572.5788 where
# the modes converged to 1e-13 give 4572.5748, as hlm-report does): the profile limits and SEs
# below carry that (the tests' tolerances say how much). Calling it moves the fit's modes, so
# read anything that depends on them (ranef) first.
latent <- pi^2 / 3
mor <- function(sd) exp(sqrt(2) * sd * qnorm(0.75))
level_of <- function(grp) sub(":.*", "", grp)  # "class:school" -> class (the level's column)

# Parameter names as confint(oldNames = FALSE) gives them: "sd_(Intercept)|class:school",
# "cor_x.(Intercept)|class:school", ...; each row names its level and terms.
describe <- function(name) {
  parts <- strsplit(name, "|", fixed = TRUE)[[1]]
  kind <- sub("_.*", "", parts[1]); terms <- sub("^[a-z]+_", "", parts[1])
  if (kind == "cor") {
    # "x.(Intercept)": the two terms joined by a dot (the data's terms hold none)
    pair <- strsplit(sub(".(Intercept)", "\x1f(Intercept)", terms, fixed = TRUE), "\x1f")[[1]]
    list(level = level_of(parts[2]), var1 = pair[2], var2 = pair[1], kind = kind)
  } else list(level = level_of(parts[2]), var1 = terms, var2 = NULL, kind = kind)
}
with_mor <- function(row) {
  if (row$kind == "sd" && row$var1 == "(Intercept)")
    row$mor <- list(estimate = mor(row$estimate), low = mor(row$low), high = mor(row$high))
  row
}

# The sd/cor parameters at the optimum in confint's order (lme4's Cv_to_Sv of theta).
profile_names <- function(m) {
  rownames(suppressMessages(confint(m, parm = "theta_", method = "Wald", oldNames = FALSE)))
}
exact_estimates <- function(m) {
  v <- lme4:::Cv_to_Sv(getME(m, "theta"), n = lengths(m@cnms))
  setNames(as.list(v), profile_names(m))
}

# lme4's confint: a spline through its profile points, so its limits carry that error. lme4
# 1.1-31 refuses some random-slope models' profiles (its devfun at the optimum differs from the
# fit's deviance by more than 1e-5 relative: "Profiling over both the residual variance and
# fixed effects is not numerically consistent"): null then, and only the exact profile is kept.
confint_rows <- function(m) {
  ci <- tryCatch(confint(m, parm = "theta_", method = "profile", oldNames = FALSE),
                 error = function(e) NULL)
  if (is.null(ci)) return(NULL)
  est <- exact_estimates(m)
  lapply(rownames(ci), function(r) with_mor(c(describe(r), list(name = r, estimate = est[[r]],
                                                                 low = ci[r, 1], high = ci[r, 2]))))
}

# The minimum of f over w: nlminb polished by Nelder-Mead, restarted from the best point until a
# round gains less than 1e-9 (one round from a far start can stop ~0.01 short at a profile point
# away from the optimum).
minimise <- function(start, f) {
  best <- list(par = start, value = f(start))
  for (round in 1:6) {
    o <- nlminb(best$par, f, control = list(rel.tol = 1e-14, eval.max = 5000, iter.max = 2000))
    o2 <- optim(o$par, f, method = "Nelder-Mead", control = list(reltol = 1e-15, maxit = 600))
    found <- if (o2$value < o$objective) list(par = o2$par, value = o2$value)
             else list(par = o$par, value = o$objective)
    gain <- best$value - found$value
    if (found$value < best$value) best <- found
    if (gain < 1e-9) break
  }
  best
}

# The 95% limits where the signed root of the profile reaches 1.96 (uniroot, tol 1e-9); a side
# whose profile stays inside the region up to the edge gets the edge.
limits <- function(zeta, estimate, low_edge, high_edge) {
  side <- function(a, b, edge) if (zeta(edge) < 0) edge else uniroot(zeta, c(a, b), tol = 1e-9)$root
  c(side(low_edge, estimate, low_edge), side(estimate, high_edge, high_edge))
}

# The exact profile of each sd/cor parameter (lme4's devfun2 construction: the Laplace devfun
# over c(theta, beta), sd/cor mapped to theta by Sv_to_Cv): at each value the deviance minimised
# over the other parameters (log SD, atanh correlation) and beta.
exact_rows <- function(m) {
  dev <- getME(m, "devfun")
  base <- -2 * as.numeric(logLik(m))
  vlist <- lengths(m@cnms)
  est <- unlist(exact_estimates(m)); names <- names(est)
  is_cor <- startsWith(names, "cor_")
  beta <- unname(fixef(m))
  to_free <- function(v, cor) ifelse(cor, atanh(v), log(v))
  from_free <- function(z, cor) ifelse(cor, tanh(z), exp(z))
  lapply(seq_along(est), function(k) {
    others <- setdiff(seq_along(est), k)
    start <- c(to_free(est[others], is_cor[others]), beta)
    zeta <- function(value) {
      obj <- function(w) {
        v <- est; v[k] <- value
        v[others] <- from_free(w[seq_along(others)], is_cor[others])
        out <- dev(c(lme4:::Sv_to_Cv(v, n = vlist), w[-seq_along(others)]))
        if (is.finite(out)) out else 1e10
      }
      sqrt(max(minimise(start, obj)$value - base, 0)) - qnorm(0.975)
    }
    edges <- if (is_cor[k]) c(-0.999999, 0.999999) else c(est[[k]] * 1e-3, est[[k]] * 4)
    ci <- limits(zeta, est[[k]], edges[1], edges[2])
    with_mor(c(describe(names[k]), list(name = names[k], estimate = est[[k]], low = ci[1],
                                        high = ci[2])))
  })
}

# The profile of a latent variance share of a model with random intercepts only: with `inside`
# the positions (in theta's order) of the levels whose variances are summed (one, or two for a
# nested ICC of the inner level), sum(tau[inside]) / (sum(tau) + pi^2/3) held at c, the Laplace
# deviance minimised over the other variances (log SD), the split of the share between two
# levels (logit) and beta.
share_profile <- function(m, inside) {
  dev <- getME(m, "devfun")
  base <- -2 * as.numeric(logLik(m))
  tau <- getME(m, "theta")^2; beta <- unname(fixef(m))
  outside <- setdiff(seq_along(tau), inside)
  value <- sum(tau[inside]) / (sum(tau) + latent)
  taus <- function(c, w) {
    t <- numeric(length(tau)); t[outside] <- exp(2 * w[seq_along(outside)])
    s <- c * (latent + sum(t[outside])) / (1 - c)
    if (length(inside) == 1) t[inside] <- s
    else { f <- plogis(w[length(outside) + 1]); t[inside] <- c(f, 1 - f) * s }
    t
  }
  free <- c(log(sqrt(tau[outside])),
            if (length(inside) == 2) qlogis(tau[inside[1]] / sum(tau[inside])))
  start <- c(free, beta)
  nv <- length(free)
  zeta <- function(c) {
    obj <- function(w) { out <- dev(c(sqrt(taus(c, w[seq_len(nv)])), w[-seq_len(nv)]))
                         if (is.finite(out)) out else 1e10 }
    sqrt(max(minimise(start, obj)$value - base, 0)) - qnorm(0.975)
  }
  ci <- limits(zeta, value, 1e-4, 0.95)
  list(estimate = value, low = ci[1], high = ci[2])
}

# The fixed effects' SEs from the Hessian of that devfun over c(theta, beta) by Richardson
# extrapolation (numDeriv). Kept for the record, not tested: the 1e-7 modes make the small steps
# noise (up to 6e-3 from vcov(m), NaN for the nested random-slope model).
richardson_se <- function(m) {
  dev <- getME(m, "devfun")
  x <- c(getME(m, "theta"), fixef(m))
  H <- numDeriv::hessian(dev, x)
  p <- length(fixef(m))
  se <- sqrt(diag(2 * solve(H)))[length(x) - p + seq_len(p)]
  setNames(as.list(se), names(fixef(m)))
}

summarise <- function(m, shares = list()) {
  s <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  out <- list(formula = deparse(formula(m)), loglik = as.numeric(logLik(m)),
              theta = as.numeric(getME(m, "theta")), theta_names = names(getME(m, "theta")),
              coefficients = setNames(lapply(seq_len(nrow(s)), function(i)
                list(estimate = s[i, 1], se = s[i, 2])), rownames(s)),
              varcorr = lapply(seq_len(nrow(vc)), function(i) list(level = level_of(vc$grp[i]),
                var1 = vc$var1[i], var2 = vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
              se_richardson = richardson_se(m),
              confint = confint_rows(m), exact = exact_rows(m))
  if (length(shares)) out$shares <- lapply(shares, function(inside) share_profile(m, inside))
  out
}
