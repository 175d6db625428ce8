# lme4/lmerTest references for a random slope on a variable far from zero, ONE grouping level
# (two-level engine, hlm_analysis/model/lmm.py): calendar years 1990-2020, an id-like number
# around 100,000 and a variable with mean 1e6 and SD 1. Each is fitted by REML (lmerTest,
# Satterthwaite df) as written (uncentred) and again on the variable centred and scaled, the
# latter mapped back to x's coefficients (see below). lme4 stops 8-99 log-likelihood units short
# on every uncentred fit (converged_uncentred false), so tests hold against the centred refit.
# A fourth case, `calendar`, is the verifier's growth file
# (../levels_fuzz/growth_calendar_years.csv: four calendar years, 188 children, ~3 scores each)
# with children as the one level (grp = school/child), y ~ x + (1 + x | grp): there hlm-report stopped 5e-4 log-likelihood short of the
# optimum and called it verified (df 177.0 for 176.2). R 4.2.2, lme4 1.1-31, lmerTest 3.1-3.
# Run from tests/reference/levels:  Rscript make_far_slope_reference.R
# (writes far_slope_{years,ids,million,calendar}.csv and far_slope_reference.json; hlm-report
# refuses the million case as written, and with x grand-centred its slope and z rows are tested)
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})

make <- function(seed, draw, slope_sd) {
  set.seed(seed)
  groups <- 60
  size <- sample(4:12, groups, replace = TRUE)
  g <- rep(sprintf("g%02d", 1:groups), size)
  n <- length(g)
  x <- draw(n)
  s <- sd(x); c0 <- mean(x)
  u <- (x - c0) / s  # the slope and its variance per SD of x, so each file is equally informative
  idx <- rep(1:groups, size)
  z <- round(rnorm(n), 3)
  b0 <- rnorm(groups, 0, 1); b1 <- rnorm(groups, 0, slope_sd)
  y <- round(3 + 0.6 * u + 0.4 * z + b0[idx] + b1[idx] * u + rnorm(n), 4)
  data.frame(grp = g, x = x, z = z, y = y)
}
cases <- list(
  years = make(1990, function(n) sample(1990:2020, n, replace = TRUE), 0.5),
  ids = make(100000, function(n) 100000 + sample(0:2000, n, replace = TRUE), 0.4),
  million = make(1e6, function(n) round(1e6 + rnorm(n), 4), 0.5),
  # from the verifier's file; scores to 8 decimals, so that write.csv below keeps every digit
  calendar = within(read.csv("far_slope_calendar.csv"), y <- round(y, 8))
)
fixed_of <- function(d) if ("z" %in% names(d)) c("x", "z") else "x"

coefs <- function(m) {
  s <- summary(m)$coefficients
  setNames(lapply(seq_len(nrow(s)), function(i) list(estimate = s[i, "Estimate"],
    se = s[i, "Std. Error"], df = s[i, "df"])), rownames(s))
}
# lme4's default stopping rule leaves ~2e-6 SE in the estimates (the criterion is flat to 1e-9
# there); the reference fits stop at tight tolerances so that R's own rounding is below the tests'
TIGHT <- lmerControl(optimizer = "nloptwrap", optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14,
  xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5))
messages <- function(m) as.list(m@optinfo$conv$lme4$messages)

out <- list(meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  formula = "y ~ x + z + (1 + x | grp) (calendar: y ~ x + (1 + x | grp))", reml = TRUE))
for (name in names(cases)) {
  d <- cases[[name]]
  write.csv(d, sprintf("far_slope_%s.csv", name), row.names = FALSE)
  fixed <- fixed_of(d)
  m <- lmer(as.formula(sprintf("y ~ %s + (1 + x | grp)", paste(fixed, collapse = " + "))),
            data = d, REML = TRUE)
  centre <- mean(d$x)
  scale <- sd(d$x)
  # The reference fit is on u = (x - c) / sd(x): x - c alone (SD ~600 for the ids) still leaves
  # theta badly scaled for lme4's optimizer (it stopped at max|grad| 12.9 there), u does not.
  # Its coefficients map to x's by b = A b_u with x = c + sd u, each a contest1D of the u fit
  # (same estimate, SE and Satterthwaite df as the same linear function of x's fit). The REML
  # log-likelihood is NOT invariant to rescaling X: log|X'V^-1 X| moves by 2 log|det A|, so
  # x's REML log-likelihood is the u fit's minus log(sd(x)) (centring alone has det 1).
  d$u <- (d$x - centre) / scale
  mc <- lmer(as.formula(sprintf("y ~ %s + (1 + u | grp)",
                                 paste(sub("^x$", "u", fixed), collapse = " + "))),
             data = d, REML = TRUE, control = TIGHT)
  A <- diag(length(fixed) + 1)
  A[1, 2] <- -centre / scale
  A[2, 2] <- 1 / scale
  mapped <- lapply(seq_len(nrow(A)), function(i) {
    t <- contest1D(mc, A[i, ])
    list(estimate = t$Estimate, se = t[["Std. Error"]], df = t$df)
  })
  names(mapped) <- c("(Intercept)", fixed)
  # the slope's and residual's variance are invariant under the shift; the intercept's is not
  vc <- as.data.frame(VarCorr(mc))  # u's slope variance; x's = it / sd(x)^2
  out[[name]] <- list(
    data = sprintf("far_slope_%s.csv", name), centre = centre, nobs = nrow(d),
    uncentred = list(coefficients = coefs(m), loglik = as.numeric(logLik(m)),
                     messages = messages(m), theta = as.numeric(getME(m, "theta"))),
    centred = list(coefficients = mapped, loglik = as.numeric(logLik(mc)) - log(scale),
                   messages = messages(mc), scale = scale,
                   slope_var = vc$vcov[vc$var1 == "u" & is.na(vc$var2) & vc$grp == "grp"] /
                     scale^2,
                   sigma = sigma(mc)),
    converged_uncentred = length(messages(m)) == 0,
    loglik_gap = as.numeric(logLik(mc)) - log(scale) - as.numeric(logLik(m)))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "far_slope_reference.json")
