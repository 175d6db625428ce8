# lme4/lmerTest references for centring at a level (`centering: {x: level}`): each variable is
# centred in R on its level's group means with ave() over that level's rows (nested levels are
# scoped by the outer ones: ave(x, school, class)), then the model is fitted by lmer on the
# centred column under the variable's own name, so the coefficient names are hlm-report's.
# Cases (CSV files of make_levels_reference.R, read as written):
# - three_level.csv (= data/pupils.csv; group [school, class]):
#   school_centred: prior centred at school; intercepts at both levels.
#   school_slope: the same with prior's random slope at class.
#   school_context: prior centred at school, its school mean (contextual: {school: [prior]}),
#     prior:sector (a product with the centred column), slope at class.
#   class_centred: prior centred at class (the innermost level, by its name).
# - egsingle.csv (growth, group [schoolid, childid], time year):
#   growth: year centred at childid (innermost), female centred at schoolid (outer), lowinc,
#     random year slopes at both levels.
# - scotssec.csv (crossed primary x second): crossed: verbal centred at second (the mean of
#   each secondary school's pupils), sex; intercepts for both factors.
# Fits: REML (coefficients with Satterthwaite df, log-likelihood, variance components) and ML
# (log-likelihood), each at tight optimizer tolerances so that R's own stopping error is below
# the tests' (estimates 1e-6 of an SE). R 4.2.2, lme4 1.1-31, lmerTest 3.1-3.
# Run from tests/reference/levels:  Rscript make_levels_centring_reference.R
# (writes levels_centring_reference.json)
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})

TIGHT <- lmerControl(optimizer = "nloptwrap", optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14,
  xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5))

read <- function(file, ids) {
  d <- read.csv(file, colClasses = setNames(rep("character", length(ids)), ids))
  d
}
# x minus the mean of x over the rows of its group at `level` (nested: scoped by the outer ones)
centre <- function(d, x, scope) d[[x]] - ave(d[[x]], interaction(d[scope], drop = TRUE))

fit_one <- function(formula, d, reml) {
  lmer(as.formula(formula), data = d, REML = reml, control = TIGHT)
}
coefs <- function(m) {
  s <- summary(m)$coefficients
  setNames(lapply(seq_len(nrow(s)), function(i) list(estimate = s[i, "Estimate"],
    se = s[i, "Std. Error"], df = s[i, "df"])), rownames(s))
}
varcorr <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
    var2 = vc$var2[i], vcov = vc$vcov[i]))
}
case <- function(d, file, group, crossed, time, config, formula) {
  m <- fit_one(formula, d, TRUE)
  ml <- fit_one(formula, d, FALSE)
  list(data = file, group = group, crossed = crossed, time = time, config = config,
       formula = formula,
       reml = list(coefficients = coefs(m), loglik = as.numeric(logLik(m)), varcorr = varcorr(m),
                   messages = as.list(m@optinfo$conv$lme4$messages)),
       ml = list(loglik = as.numeric(logLik(ml)), messages = as.list(ml@optinfo$conv$lme4$messages)))
}

out <- list(meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest"))))

p <- read("three_level.csv", c("school", "class"))
p$fsm <- factor(p$fsm, levels = c("no", "yes"))
p$sector <- factor(p$sector, levels = c("academy", "maintained"))
raw <- p$prior
p$prior <- centre(p, "prior", "school")
out$school_centred <- case(p, "three_level.csv", c("school", "class"), FALSE, NULL,
  list(predictors = c("prior", "fsm"), centering = list(prior = "school")),
  "score ~ prior + fsm + (1 | school) + (1 | class:school)")
out$school_slope <- case(p, "three_level.csv", c("school", "class"), FALSE, NULL,
  list(predictors = c("prior", "fsm"), centering = list(prior = "school"),
       random_slopes = list(class = list("prior"))),
  "score ~ prior + fsm + (1 | school) + (1 + prior | class:school)")
p$prior_school_mean <- ave(raw, p$school)
out$school_context <- case(p, "three_level.csv", c("school", "class"), FALSE, NULL,
  list(predictors = c("prior", "fsm", "sector"), centering = list(prior = "school"),
       contextual = list(school = list("prior")), interactions = list("prior:sector"),
       random_slopes = list(class = list("prior"))),
  "score ~ prior + fsm + sector + prior_school_mean + prior:sector + (1 | school) + (1 + prior | class:school)")
p$prior <- centre(data.frame(prior = raw, school = p$school, class = p$class), "prior",
                  c("school", "class"))
out$class_centred <- case(p, "three_level.csv", c("school", "class"), FALSE, NULL,
  list(predictors = c("prior", "fsm"), centering = list(prior = "class")),
  "score ~ prior + fsm + (1 | school) + (1 | class:school)")

g <- read("egsingle.csv", c("schoolid", "childid"))
g$year <- centre(g, "year", c("schoolid", "childid"))
g$female <- centre(g, "female", "schoolid")
out$growth <- case(g, "egsingle.csv", c("schoolid", "childid"), FALSE, "year",
  list(predictors = c("year", "female", "lowinc"),
       centering = list(year = "childid", female = "schoolid"),
       random_slopes = list(schoolid = list("year"), childid = list("year"))),
  "math ~ year + female + lowinc + (1 + year | schoolid) + (1 + year | childid:schoolid)")

s <- read("scotssec.csv", c("primary", "second"))
s$sex <- factor(s$sex, levels = c("F", "M"))
s$verbal <- centre(s, "verbal", "second")
out$crossed <- case(s, "scotssec.csv", c("primary", "second"), TRUE, NULL,
  list(predictors = c("verbal", "sex"), centering = list(verbal = "second")),
  "attain ~ verbal + sex + (1 | primary) + (1 | second)")

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "levels_centring_reference.json")
