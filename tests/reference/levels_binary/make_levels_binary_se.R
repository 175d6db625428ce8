# glmer's fixed-effect SEs for the binary models with several levels, from a Laplace deviance
# whose modes are converged to rounding. summary(m)'s SEs (levels_binary_profile.json,
# levels_binary_crossed.json) come from lme4's finite-difference Hessian (deriv12, step 1e-4) of
# its devfun, and that devfun is not the Laplace deviance to better than ~1e-5 away from the fit's
# own optimum: pwrssUpdate returns the deviance with the weights and factor of the iterate before
# its last step (resp$updateWts() follows it), so a point whose last step was ~1e-4 in u reads up
# to 1e-5 high (ScotsSec null model, theta + 0.1 and beta + 0.1: 4574.692810 for 4574.692800),
# and a Hessian over steps of 1e-2 carries that as ~6e-4 relative in the crossed null models'
# SEs. Here each evaluation is lme4's devfun (devFunOnly = TRUE, nAGQ = 1, tolPwrss 1e-13: the
# Laplace deviance over c(theta, beta)) followed by a second pwrssUpdate from the converged modes,
# whose value is then the Laplace deviance at those modes (a third pass changes it by < 1e-11);
# its Hessian over c(theta, beta) is taken by Richardson extrapolation (numDeriv::hessian, first
# step 1% of each parameter, 4 halvings), and the SEs are sqrt(diag(2 H^-1)) for beta, as lme4's
# vcov(m, use.hessian = TRUE) defines them. `se_spread` is the largest relative change of any SE
# when the first step is halved or doubled: the reference's own precision. `loglik` is -1/2 that
# deviance at glmer's optimum.
# Models: the nested ones of make_levels_binary_profile.R (three_level_binary.csv) and the
# crossed ones of make_levels_binary_crossed.R (ScotsSec attain > 5; crossed_binary.csv), the
# same formulas, bobyqa with a large budget. R 4.2.2, lme4 1.1-31, numDeriv 2016.8-1.1.
# Run from tests/reference/levels_binary:  Rscript make_levels_binary_se.R
# (writes levels_binary_se.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(numDeriv)})

ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5))

tight_se <- function(f, d) {
  m <- glmer(f, data = d, family = binomial, control = ctrl)
  lme4_dev <- glmer(f, data = d, family = binomial, control = ctrl, devFunOnly = TRUE)
  e <- environment(lme4_dev)
  dev <- function(pars) {
    lme4_dev(pars)
    eval(quote(pwrssUpdate(pp, resp, tol = tolPwrss, GQmat = GQmat, compDev = compDev,
                           grpFac = fac, maxit = maxit, verbose = 0L)), e)
  }
  x <- c(getME(m, "theta"), fixef(m))
  at_optimum <- dev(x)
  p <- length(fixef(m))
  keep <- length(x) - p + seq_len(p)
  se_at <- function(step) {
    H <- hessian(dev, x, method.args = list(d = step, r = 4))
    sqrt(diag(2 * solve(H)))[keep]
  }
  se <- se_at(0.01)
  spread <- max(abs(c(se_at(0.005), se_at(0.02)) / c(se, se) - 1))
  list(formula = deparse(formula(m)), loglik = -at_optimum / 2,
       loglik_glmer = as.numeric(logLik(m)),
       se = setNames(as.list(se), names(fixef(m))), se_spread = spread,
       se_summary = setNames(as.list(sqrt(diag(as.matrix(vcov(m))))), names(fixef(m))))
}

nested <- read.csv("three_level_binary.csv",
                   colClasses = c(school = "character", class = "character"))
scots <- read.csv("../levels/scotssec.csv")
scots$y <- as.integer(scots$attain > median(scots$attain))
scots$sex <- factor(scots$sex, levels = c("F", "M"))
synthetic <- read.csv("crossed_binary.csv")

timing <- system.time(cases <- list(
  nested = list(
    null = tight_se(y ~ 1 + (1 | school) + (1 | class:school), nested),
    random_intercept = tight_se(y ~ x + w + (1 | school) + (1 | class:school), nested),
    random_slope = tight_se(y ~ x + w + (1 | school) + (1 + x | class:school), nested)),
  scotssec = list(
    null = tight_se(y ~ 1 + (1 | primary) + (1 | second), scots),
    random_intercept = tight_se(y ~ verbal + sex + (1 | primary) + (1 | second), scots)),
  synthetic = list(
    null = tight_se(y ~ 1 + (1 | a) + (1 | b), synthetic),
    random_intercept = tight_se(y ~ x + w + (1 | a) + (1 | b), synthetic),
    random_slope = tight_se(y ~ x + w + (1 | a) + (1 + x | b), synthetic))))
out <- list(meta = list(r = R.version.string, lme4 = as.character(packageVersion("lme4")),
                        numDeriv = as.character(packageVersion("numDeriv")),
                        seconds = unname(timing[["elapsed"]])),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           "levels_binary_se.json")
