# glmer references for the intervals of a binary outcome with nested levels: profile-likelihood
# intervals of every SD and correlation (lme4's confint(method = "profile") where it runs, and the
# exact profile from lme4's own devfun), the latent-scale ICC of each level and the class level's
# own variance share (VPC) by the profile of that share, the median odds ratio per level from the
# SD's limits, and CR1 cluster-robust SEs of the ordinary logistic regression clustered on the
# outermost level (sandwich::vcovCL, HC0 with the G / (G - 1) adjustment: Stata's logit,
# vce(cluster)). Laplace (nAGQ = 1), bobyqa, tolPwrss 1e-13 (levels_binary_functions.R).
# Data: three_level_binary.csv (make_levels_binary_reference.R). R 4.2.2, lme4 1.1-31,
# sandwich 3.0-2.
# Run from tests/reference/levels_binary:  Rscript make_levels_binary_profile.R
# (writes levels_binary_profile.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(sandwich)})
source("levels_binary_functions.R")

d <- read.csv("three_level_binary.csv", colClasses = c(school = "character", class = "character"))
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5))
fit <- function(f) glmer(f, data = d, family = binomial, control = ctrl)

# theta's order is lme4's (innermost first): class, then school. The ICC of "same school" is the
# school's share; of "same class" (hence school) the two shares summed; class_share the class
# level's own share.
timing <- system.time(models <- list(
  null = summarise(fit(y ~ 1 + (1 | school) + (1 | class:school)),
                   list(school = 2, class = c(1, 2), class_share = 1)),
  random_intercept = summarise(fit(y ~ x + w + (1 | school) + (1 | class:school))),
  random_slope = summarise(fit(y ~ x + w + (1 | school) + (1 + x | class:school)))))
logistic <- glm(y ~ x + w, data = d, family = binomial)
cr1 <- vcovCL(logistic, cluster = ~school, type = "HC0", cadjust = TRUE)
out <- list(meta = list(r = R.version.string, lme4 = as.character(packageVersion("lme4")),
                        sandwich = as.character(packageVersion("sandwich")),
                        seconds = unname(timing[["elapsed"]])),
            data = "three_level_binary.csv", levels = c("school", "class"), models = models,
            logistic_cluster = list(
              n_clusters = length(unique(d$school)),
              coefficients = setNames(lapply(names(coef(logistic)), function(t)
                list(estimate = coef(logistic)[[t]], se = sqrt(cr1[t, t]))), names(coef(logistic)))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           "levels_binary_profile.json")
