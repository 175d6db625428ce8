# lme4/lmerTest references for the verify32 levels checks (tests/model/test_levels_verify32.py).
# R 4.2.2, lme4 1.1-31, lmerTest 3.1-3. Run here:  Rscript make_levels_verify32_reference.R
# a. egsingle (../levels/egsingle.csv) with year as a calendar year (year + 1992.5: 1990-1995)
#    and only random intercepts, so year is a fixed-only column far from zero. lmer works on the
#    rows (QR), so the scale of year does not touch its numbers; the df of the other
#    coefficients and the REML log-likelihood are those of year centred.
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
coefs <- function(m) {
  s <- summary(m)$coefficients
  setNames(lapply(seq_len(nrow(s)), function(i) list(estimate = s[i, "Estimate"],
    se = s[i, "Std. Error"], df = s[i, "df"])), rownames(s))
}
eg <- read.csv("../levels/egsingle.csv", colClasses = c(schoolid = "character", childid = "character"))
eg$year <- eg$year + 1992.5
m <- lmer(math ~ year + female + black + lowinc + (1 | schoolid) + (1 | schoolid:childid), eg,
          REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
vc <- as.data.frame(VarCorr(m))
out <- list(calendar_fixed = list(
  shift = 1992.5, formula = "math ~ year + female + black + lowinc + (1 | schoolid) + (1 | schoolid:childid)",
  coefficients = coefs(m), loglik = as.numeric(logLik(m)),
  varcorr = setNames(as.list(vc$vcov), ifelse(vc$grp == "schoolid:childid", "childid", vc$grp))))
# b. The same file's final growth model without the school level: one level left, with a slope
#    on year. The REML criterion is the same for year and year + 1992.5 (a shift of a column
#    that the intercept spans), and lme4 stops short on the calendar form, so it is fitted on
#    year as written in egsingle.csv.
eg$year <- eg$year - 1992.5
r <- lmer(math ~ year + female + black + lowinc + (1 + year | childid), eg, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa"))
out$reduced_child_slope <- list(shift = 1992.5,
  formula = "math ~ year + female + black + lowinc + (1 + year | childid)",
  reml_criterion = REMLcrit(r), loglik = as.numeric(logLik(r)))
# c. growth_dropout.csv (made by the verifier's seeded generator, /work/notes/verify32-levels.md):
#    763 visits of 210 persons at 3 sites, times 0, .25, 1, 2.5, 5 (jittered), monotone dropout
#    and missed visits; t slopes at both levels. The profile (ML deviance, lme4's devfun2) of the
#    site intercept SD, each point minimised over the other parameters by nlminb within their
#    bounds (correlations in [-1, 1]), and its lower 95% limit by uniroot. confint()'s own
#    limit (spline interpolation of a coarse profile) is recorded beside it: it is 1.3% off.
gd <- read.csv("growth_dropout.csv", colClasses = c(site = "character", person = "character"))
m <- lmer(y ~ 1 + t + trt + (1 + t | site) + (1 + t | site:person), gd, REML = TRUE)
mm <- refitML(m)
dev2 <- lme4:::devfun2(mm, useSc = TRUE, signames = FALSE)
opt <- attr(dev2, "optimum")[1:7]  # sd, cor, sd of site:person; sd, cor, sd of site; sigma
k <- 4                             # sd_(Intercept)|site
lo <- c(0, -1, 0, 0, -1, 0, 1e-6)[-k]; hi <- c(Inf, 1, Inf, Inf, 1, Inf, Inf)[-k]
base <- dev2(opt)
rise <- function(v) {
  g <- function(z) { p <- opt; p[-k] <- z; p[k] <- v; r <- dev2(p); if (is.finite(r)) r else 1e10 }
  o <- nlminb(opt[-k], g, lower = lo, upper = hi,
              control = list(rel.tol = 1e-15, eval.max = 5000, iter.max = 3000))
  o$objective - base
}
low <- uniroot(function(v) rise(v) - qchisq(0.95, 1), c(0.09, opt[k]), tol = 1e-10)$root
ci <- confint(m, parm = "sd_(Intercept)|site", method = "profile", oldNames = FALSE)
out$growth_dropout <- list(
  formula = "y ~ 1 + t + trt + (1 + t | site) + (1 + t | site:person)",
  ml_loglik = as.numeric(logLik(mm)), site_sd_ml = unname(opt[k]),
  site_sd_profile_low = low, site_sd_confint_low = ci[1, 1],
  rise_at = list(value = 0.1062141, rise = rise(0.1062141)))
# d. two_branch.csv (seeded generator, case fz3301): 147 rows, 5 outer groups x 4 inner, an x
#    slope at the inner level. Held high, the inner intercept SD's profile has two branches
#    (inner correlation about -0.7 and about +0.96); the profile is their minimum. Exact limits
#    as in c, from several starts (correlation drawn in (-1, 1)).
tb <- read.csv("two_branch.csv", colClasses = c(outer = "character", inner = "character"))
m <- lmer(y ~ 1 + x + z + t + (1 | outer) + (1 + x | outer:inner), tb, REML = TRUE)
mm <- refitML(m)
dev2 <- lme4:::devfun2(mm, useSc = TRUE, signames = FALSE)
opt <- attr(dev2, "optimum")[1:5]  # sd, cor, sd of outer:inner; sd of outer; sigma
base <- dev2(opt)
LO <- c(0, -1, 0, 0, 1e-6); HI <- c(Inf, 1, Inf, Inf, Inf)
rise2 <- function(k, v) {
  g <- function(z) { p <- opt; p[-k] <- z; p[k] <- v; r <- dev2(p); if (is.finite(r)) r else 1e10 }
  best <- Inf
  set.seed(2)
  for (s in 1:6) {
    st <- opt[-k]
    if (s > 1) st <- st * (1 + 0.3 * rnorm(length(st)))
    if (s > 3 && k != 2) st[if (k == 1) 1 else 2] <- runif(1, -0.99, 0.99)  # the correlation
    st <- pmin(pmax(st, LO[-k] + 1e-6), HI[-k] - 1e-6)
    o <- nlminb(st, g, lower = LO[-k], upper = HI[-k],
                control = list(rel.tol = 1e-15, eval.max = 5000, iter.max = 3000))
    best <- min(best, o$objective)
  }
  best - base
}
ci <- confint(m, parm = c("sd_(Intercept)|outer:inner", "sigma"), method = "profile", oldNames = FALSE)
out$two_branch <- list(
  formula = "y ~ 1 + x + z + t + (1 | outer) + (1 + x | outer:inner)",
  ml_loglik = as.numeric(logLik(mm)),
  inner_sd_high = uniroot(function(v) rise2(1, v) - qchisq(0.95, 1), c(0.5, 0.8), tol = 1e-10)$root,
  sigma_low = uniroot(function(v) rise2(5, v) - qchisq(0.95, 1), c(0.7, opt[5]), tol = 1e-10)$root,
  confint = list(inner_sd_high = ci[1, 2], sigma_low = ci[2, 1]))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "levels_verify32_reference.json")
