# The exact REML log-likelihood for test_levels_verify32.py's calendar-year fits (egsingle, year
# + 1992.5 and year + 1e5, fixed only): lme4 on year centred at its mean, bobyqa to rhoend 1e-12.
# Moving a fixed-only column's zero leaves the REML criterion unchanged (det A = 1), and lme4
# on calendar years itself moves by 3e-8 (its QR of X meets x near 2000), so the centred fit is
# the one to hold ours to. R 4.2.2, lme4 1.1-31.  Run here:  Rscript make_levels_calendar_centred_reference.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
eg <- read.csv("../levels/egsingle.csv", colClasses = c(schoolid = "character", childid = "character"))
eg$yc <- eg$year - mean(eg$year)
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
m <- lmer(math ~ yc + female + black + lowinc + (1 | schoolid) + (1 | schoolid:childid), eg,
          REML = TRUE, control = ctl)
out <- list(formula = "math ~ yc + female + black + lowinc + (1 | schoolid) + (1 | schoolid:childid)",
            reml_loglik = as.numeric(logLik(m)), ml_loglik = as.numeric(logLik(refitML(m))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "levels_calendar_centred_reference.json")
