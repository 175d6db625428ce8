# lme4/lmerTest references for tests/model/test_two_level_calendar.py: the two-level engine
# (ladder.optimize_mixed) with a fixed-only predictor far from zero (year, 1990-2010, and
# year + 1e5) and no random slope on it. R 4.2.2, lme4 1.1-31, lmerTest 3.1-3.
# Run here:  Rscript make_two_level_calendar_reference.R
# calendar.csv: 147 rows, 24 groups of 3-9 (numpy default_rng(20261207)); y depends on year, x,
# a group intercept and a group slope on x.
# The exact fit is the one on year centred (yc = year - mean): moving a fixed-only column's zero
# is a reparametrisation of the fixed part alone (beta = A beta_c, theta and the REML criterion
# unchanged, det A = 1). Each coefficient on year's own scale (year + shift) is a contrast of the
# centred fit, with its SE and Satterthwaite df by lmerTest's contest1D. bobyqa is run to
# rhoend 1e-12 so the log-likelihoods hold the 1e-9 the test asks (here the defaults agree to
# 15 digits).
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
d <- read.csv("calendar.csv", colClasses = c(grp = "character"))
centre <- mean(d$year)
d$yc <- d$year - centre
models <- list(random_intercept = y ~ yc + x + (1 | grp), random_slope = y ~ yc + x + (1 + x | grp))
out <- list(centre = centre)
for (name in names(models)) {
  m <- lmer(models[[name]], d, REML = TRUE, control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
  ml <- refitML(m)
  cases <- list()
  for (shift in c(0, 1e5)) {
    coefs <- list()
    terms <- c("(Intercept)", "year", "x")
    for (j in 1:3) {
      L <- c(0, 0, 0); L[j] <- 1
      # year = yc + centre + ... : b0 = b0_c - (centre + shift) b_year
      if (j == 1) L[2] <- -(centre + shift)
      ct <- contest1D(m, L)
      coefs[[terms[j]]] <- list(estimate = ct$Estimate, se = ct$`Std. Error`, df = ct$df)
    }
    cases[[format(shift, scientific = FALSE)]] <- coefs
  }
  vc <- as.data.frame(VarCorr(m))
  out[[name]] <- list(formula = deparse(models[[name]]), shifts = cases,
    reml_loglik = as.numeric(logLik(m)), ml_loglik = as.numeric(logLik(ml)),
    sigma = sigma(m), messages = m@optinfo$conv$lme4$messages)
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "two_level_calendar_reference.json")
