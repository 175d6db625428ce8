# Reference values for issue 21 (model side): profile-likelihood intervals of variance components
# at more than 80 groups and on the boundary (lme4 confint, method = "profile"), glmer's profile
# intervals for a binary model, the uncorrelated random slope (1 + x || g) that stands in for a
# singular correlated one, the share of slope variance a cross-level interaction explains, and
# joint tests of factors (lmerTest anova, type 3, Satterthwaite; Wald chi-square for glmer).
# R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, mlmRev 1.0-8 (Debian bookworm).
# Run from tests/reference:  Rscript make_issue21_reference.R
# (writes hsb82.csv, singular_slope.csv, singular_both.csv, binary_slope.csv and
# issue21_reference.json)
suppressPackageStartupMessages({library(lmerTest); library(mlmRev); library(jsonlite)})

profile_ci <- function(m) {
  # lme4 stops when profiling finds a lower deviance than the fit's: recorded, not fatal
  ci <- tryCatch(suppressWarnings(confint(m, parm = "theta_", method = "profile",
                                          oldNames = FALSE, quiet = TRUE)),
                 error = function(e) conditionMessage(e))
  if (is.character(ci)) return(list(error = ci))
  lapply(split(as.data.frame(ci), rownames(ci)), function(r) list(low = r[[1]], high = r[[2]]))
}
varcorr <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
    var2 = vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
}
coefs <- function(m) {
  s <- summary(m)$coefficients
  lapply(split(as.data.frame(s), rownames(s)), function(r)
    list(estimate = r[[1]], se = r[[2]], df = r[[3]], p = r[[5]]))
}
joint <- function(m) {
  a <- anova(m, type = 3, ddf = "Satterthwaite")
  lapply(split(as.data.frame(a), rownames(a)), function(r)
    list(F = r[["F value"]], df_num = r[["NumDF"]], df_den = r[["DenDF"]], p = r[["Pr(>F)"]]))
}

# 1. 160 schools (High School and Beyond), a random cses slope whose profile reaches zero: the
# boundary case at more than 80 groups; and the slope variance the cross-level terms explain.
data(Hsb82)
hsb <- Hsb82[, c("school", "mAch", "cses", "meanses", "sector")]
hsb$sector <- as.character(hsb$sector)
write.csv(hsb, "hsb82.csv", row.names = FALSE)
hsb$sector <- factor(hsb$sector, levels = c("Catholic", "Public"))
without <- lmer(mAch ~ cses + sector + meanses + (1 + cses | school), hsb, REML = TRUE)
with <- lmer(mAch ~ cses + sector + meanses + cses:sector + cses:meanses + (1 + cses | school),
             hsb, REML = TRUE)
tau11 <- function(m) as.data.frame(VarCorr(m))$vcov[2]
# the intercept variance the level-2 predictors (sector, meanses) explain: random-intercept
# models with the level-1 predictor only and with all of them
ri1 <- lmer(mAch ~ cses + (1 | school), hsb, REML = TRUE)
ri2 <- lmer(mAch ~ cses + sector + meanses + (1 | school), hsb, REML = TRUE)
tau00 <- function(m) as.data.frame(VarCorr(m))$vcov[1]
hsb_out <- list(
  tau00_without = tau00(ri1), tau00_with = tau00(ri2),
  tau00_proportion = (tau00(ri1) - tau00(ri2)) / tau00(ri1),
  formula = deparse(formula(with), width.cutoff = 500),
  varcorr = varcorr(with), loglik_reml = as.numeric(logLik(with)),
  profile_ci = profile_ci(with),
  tau11_without = tau11(without), tau11_with = tau11(with),
  proportion = (tau11(without) - tau11(with)) / tau11(without)
)

# 2. Simulated: 30 groups of 15, a level-1 x, a level-2 yes/no w, NO cross-level interaction (its
# true coefficient is 0) and a true slope SD of 0.25 independent of the intercept. Seed 24 gives a
# correlated fit that is singular (correlation -1) while the uncorrelated one is not; seed 5 one
# where the uncorrelated slope variance is zero too.
sim <- function(seed, G = 30, n = 15, sd1 = 0.25) {
  set.seed(seed)
  g <- rep(seq_len(G), each = n); w <- rep(rbinom(G, 1, 0.5), each = n)
  x <- rnorm(G * n); u0 <- rnorm(G); u1 <- rnorm(G, sd = sd1)
  y <- 1 + 0.5 * x + 0.3 * w + 0 * x * w + u0[g] + u1[g] * x + rnorm(G * n, sd = 1.5)
  data.frame(y = round(y, 4), x = round(x, 4), w = ifelse(w == 1, "yes", "no"),
             g = paste0("g", g))
}
singular <- function(seed, file) {
  d <- sim(seed)
  write.csv(d, file, row.names = FALSE)
  d$w <- factor(d$w, levels = c("no", "yes"))
  corr <- lmer(y ~ x * w + (1 + x | g), d, REML = TRUE)
  diag <- lmer(y ~ x * w + (1 + x || g), d, REML = TRUE)
  ri <- lmer(y ~ x * w + (1 | g), d, REML = TRUE)
  out <- list(
    correlated = list(singular = isSingular(corr), varcorr = varcorr(corr)),
    uncorrelated = list(singular = isSingular(diag), varcorr = varcorr(diag),
                        loglik_reml = as.numeric(logLik(diag)), coefficients = coefs(diag)),
    random_intercept = list(coefficients = coefs(ri))
  )
  if (!isSingular(diag)) out$uncorrelated$profile_ci <- profile_ci(diag)
  out
}
one <- singular(24, "singular_slope.csv")
both <- singular(5, "singular_both.csv")

# 3. Joint tests of factors with three levels: a level-1 factor (vrband) and a level-2 one
# (schgend) with a random slope; and schgend with its cross-level interaction.
exam <- read.csv("exam.csv")
exam$school <- factor(exam$school)
exam$vr <- factor(exam$vr, levels = c("bottom 25%", "mid 50%", "top 25%"))
exam$schgend <- factor(exam$schgend, levels = c("boys", "girls", "mixed"))
j1 <- lmer(normexam ~ standLRT + vr + schgend + (1 + standLRT | school), exam, REML = TRUE)
j2 <- lmer(normexam ~ standLRT + schgend + standLRT:schgend + (1 + standLRT | school), exam,
           REML = TRUE)
joint_out <- list(
  factors = list(formula = deparse(formula(j1), width.cutoff = 500), anova = joint(j1)),
  interaction = list(formula = deparse(formula(j2), width.cutoff = 500), anova = joint(j2))
)

# 4. Binary: MASS's bacteria (in tests/reference), glmer's profile intervals of the random
# intercept SD and of a random slope (on the boundary: correlation 1), and the Wald chi-square of
# the three-level treatment.
bac <- read.csv("bacteria.csv")
bac$y <- as.integer(bac$y == "y")
bac$trt <- factor(bac$trt, levels = c("placebo", "drug", "drug+"))
g1 <- glmer(y ~ trt + week + (1 | ID), bac, family = binomial)
b <- fixef(g1)[2:3]; V <- as.matrix(vcov(g1))[2:3, 2:3]
chisq <- as.numeric(t(b) %*% solve(V, b))
g2 <- glmer(y ~ trt + week + (1 + week | ID), bac, family = binomial)
# bacteria's correlated slope is singular (correlation 1): the uncorrelated form stands in (with
# glmer's default control it stops 6e-4 short of the optimum; bobyqa with a tight tolerance
# reaches it, as test_reference_glmer.py's bacteria random slope)
g2u <- glmer(y ~ trt + week + (1 + week || ID), bac, family = binomial,
             control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13))
binary_out <- list(
  uncorrelated_slope = list(formula = deparse(formula(g2u), width.cutoff = 500),
                            varcorr = varcorr(g2u), singular = isSingular(g2u),
                            loglik = as.numeric(logLik(g2u)),
                            fixef = as.list(fixef(g2u)),
                            se = as.list(sqrt(diag(as.matrix(vcov(g2u)))))),
  random_intercept = list(formula = deparse(formula(g1), width.cutoff = 500),
                          varcorr = varcorr(g1), profile_ci = profile_ci(g1),
                          wald_trt = list(chisq = chisq, df = 2,
                                          p = pchisq(chisq, 2, lower.tail = FALSE))),
  random_slope = list(formula = deparse(formula(g2), width.cutoff = 500),
                      varcorr = varcorr(g2), singular = isSingular(g2),
                      profile_ci = profile_ci(g2))
)

# 5. Binary with a random slope glmer can profile (bacteria's ends on the boundary and lme4's
# profile stops there): simulated, 60 groups of 40, slope SD 0.5 (seed 1).
simb <- function(seed, G = 60, n = 40) {
  set.seed(seed)
  g <- rep(seq_len(G), each = n); x <- rnorm(G * n)
  u0 <- rnorm(G, sd = 0.8); u1 <- rnorm(G, sd = 0.5)
  eta <- -0.3 + 0.6 * x + u0[g] + u1[g] * x
  data.frame(y = rbinom(G * n, 1, plogis(eta)), x = round(x, 4), g = paste0("g", g))
}
bs <- simb(1)
write.csv(bs, "binary_slope.csv", row.names = FALSE)
g3 <- glmer(y ~ x + (1 + x | g), bs, family = binomial)
binary_out$simulated_slope <- list(formula = deparse(formula(g3), width.cutoff = 500),
                                   varcorr = varcorr(g3), singular = isSingular(g3),
                                   profile_ci = profile_ci(g3))

out <- list(hsb82 = hsb_out, singular_slope = one, singular_both = both, joint = joint_out,
            binary = binary_out)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "issue21_reference.json")
