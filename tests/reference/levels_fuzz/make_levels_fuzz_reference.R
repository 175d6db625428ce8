# R reference values for tests/model/test_levels_fuzz.py (verifier's fuzz cases of issue 22).
# Run here: Rscript make_levels_fuzz_reference.R  -> levels_fuzz_reference.json
# Each case: a CSV (ids read as text), one formula; lmerTest REML fit (Satterthwaite df),
# clubSandwich CR2 on the outermost level (Satterthwaite df) and CR1.
suppressPackageStartupMessages({
  library(jsonlite); library(lme4); library(lmerTest); library(clubSandwich)
})
cases <- list(
  # school variance 9e6 times the residual's: an ICC of 0.99999 (CR2 lost its precision here)
  large_ratio = list(csv = "large_ratio.csv", ids = c("school", "klass"), cluster = "school",
                     formula = "y ~ 1 + x + (1 | school) + (1 | school:klass)"),
  # growth on calendar years 2015-2021 with year slopes at both levels: lme4 itself fails to
  # converge on `year` (4 negative Hessian eigenvalues, log-likelihood 236 short), so the
  # reference writes the same random part on yc = year - 2015 (the same model: the REML
  # criterion, the year coefficient and the intercept at year 0 do not change)
  growth_calendar_years = list(csv = "growth_calendar_years.csv", ids = c("school", "child"),
    cluster = "school",
    formula = "score ~ 1 + year + (1 + yc | school) + (1 + yc | school:child)",
    reduced = list(school = "score ~ 1 + year + (1 + yc | school:child)",
                   child = "score ~ 1 + year + (1 + yc | school)",
                   school_slope = "score ~ 1 + year + (1 | school) + (1 + yc | school:child)",
                   child_slope = "score ~ 1 + year + (1 + yc | school) + (1 | school:child)")),
  # y ~ 1e7 +- 1e5, a class-level slope of x ~ 50,000 +- 1,000 (theta of the slope 3e-4): lme4
  # fails on x as it is (log-likelihood 20 short), so the reference is fitted on
  # xs = (x - 50000) / 1000 (the same model: df and t do not change; the REML log-likelihood
  # is log(1000) higher, the fixed part's determinant)
  slope_units = list(csv = "slope_units.csv", ids = c("school", "klass"), cluster = "school",
    formula = "y ~ 1 + xs + (1 | school) + (1 + xs | school:klass)")
)
out <- list(meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  clubSandwich = as.character(packageVersion("clubSandwich"))))
for (nm in names(cases)) {
  cs <- cases[[nm]]
  cc <- setNames(rep("character", length(cs$ids)), cs$ids)
  d <- read.csv(cs$csv, colClasses = cc, na.strings = "")
  m <- lmerTest::lmer(as.formula(cs$formula), data = d, REML = TRUE)
  co <- coef(summary(m))
  coefs <- lapply(setNames(seq_len(nrow(co)), rownames(co)), function(i)
    list(estimate = co[i, 1], se = co[i, 2], df = co[i, "df"]))
  vc <- as.data.frame(VarCorr(m))
  ct <- coef_test(m, vcov = "CR2", cluster = d[[cs$cluster]], test = "Satterthwaite")
  cr2 <- lapply(setNames(seq_len(nrow(ct)), ct$Coef), function(i) list(se = ct$SE[i], df = ct$df_Satt[i]))
  lrt <- lapply(cs$reduced, function(f) {
    m0 <- lmerTest::lmer(as.formula(f), data = d, REML = TRUE)
    list(formula = f, statistic = 2 * (as.numeric(logLik(m)) - as.numeric(logLik(m0))))
  })
  ml <- lmerTest::lmer(as.formula(cs$formula), data = d, REML = FALSE)
  out[[nm]] <- list(formula = cs$formula, loglik = as.numeric(logLik(m)), coefficients = coefs,
    loglik_ml = as.numeric(logLik(ml)),
    lrt = lrt,
    varcorr = lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
      vcov = vc$vcov[i])), singular = isSingular(m), cr2 = cr2)
}
# binary growth on calendar years 2016-2020: glmer on `year` itself fails to converge (its year
# SE 0.0075); the reference is glmer on yc = year - 2018 (the same model: the year coefficient,
# its SE and the Laplace log-likelihood do not change; the intercept moves by 2018 years)
d <- read.csv("binary_calendar.csv", colClasses = c(school = "character", child = "character"))
m <- glmer(event ~ 1 + yc + (1 | school) + (1 | school:child), data = d, family = binomial)
co <- coef(summary(m))
out$binary_calendar <- list(formula = "event ~ 1 + yc + (1 | school) + (1 | school:child)",
  loglik = as.numeric(logLik(m)),
  coefficients = lapply(setNames(seq_len(nrow(co)), rownames(co)), function(i)
    list(estimate = co[i, 1], se = co[i, 2])),
  varcorr = lapply(split(as.data.frame(VarCorr(m)), seq_len(nrow(as.data.frame(VarCorr(m))))), function(r)
    list(grp = r$grp, vcov = r$vcov)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "levels_fuzz_reference.json")
