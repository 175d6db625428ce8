# lme4/lmerTest references for several random-effect levels (issue 22): nested growth data
# (mlmRev's egsingle: years in children in schools, random year slopes at both levels), a crossed
# design (mlmRev's ScotsSec: pupils in primary x secondary schools) and synthetic pupils in classes
# in schools whose class ids repeat in every school (class "1" in each), with a class-level random
# slope, a school-level predictor and a file whose school variance is at the boundary.
# Each model is fitted by REML and by ML. R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, performance
# 0.10.2, mlmRev 1.0-8, clubSandwich 0.5.8 (Debian bookworm).
# Run from tests/reference/levels:  Rscript make_levels_reference.R
# (writes egsingle.csv, scotssec.csv, three_level.csv, three_level_singular.csv,
# levels_reference.json and the example data ../../../data/{egsingle,scotssec,pupils}.csv; the structure of the JSON is described in /work/notes/LEVELS.md and at
# the end of this script)
suppressPackageStartupMessages({library(lmerTest); library(mlmRev); library(performance)
  library(clubSandwich); library(jsonlite)})

N_BLUPS <- 5  # conditional modes recorded per level (lme4's order: sorted ids)

# A model: fixed part, one random term per level (level column -> "1" or "1 + x"), and the
# grouping expression lme4 is given for each level (nested inner levels: "class:school").
model <- function(fixed, terms, grp) list(fixed = fixed, terms = terms, grp = grp)
formula_of <- function(mod) {
  re <- vapply(names(mod$terms), function(l) sprintf("(%s | %s)", mod$terms[[l]], mod$grp[[l]]), "")
  paste(mod$fixed, paste(re, collapse = " + "), sep = " + ")
}
fit <- function(mod, data, reml) {
  m <- lmer(as.formula(formula_of(mod)), data = data, REML = reml)
  # a fit lme4 flags as not converged is refitted with bobyqa; the better criterion is kept
  if (length(m@optinfo$conv$lme4$messages) > 0) {
    m2 <- update(m, control = lmerControl(optimizer = "bobyqa"))
    if (as.numeric(logLik(m2)) > as.numeric(logLik(m))) m <- m2
  }
  m
}
level_of <- function(mod, grp) names(mod$grp)[match(grp, unlist(mod$grp))]

coefficients_of <- function(m) {
  s <- summary(m)$coefficients
  setNames(lapply(seq_len(nrow(s)), function(i) list(estimate = s[i, "Estimate"],
    se = s[i, "Std. Error"], df = s[i, "df"], t = s[i, "t value"], p = s[i, "Pr(>|t|)"])),
    rownames(s))
}
varcorr_of <- function(m, mod) {
  vc <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i],
    level = if (vc$grp[i] == "Residual") "Residual" else level_of(mod, vc$grp[i]),
    var1 = vc$var1[i], var2 = vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
}
blups_of <- function(m, mod) {
  r <- ranef(m, condVar = TRUE)
  out <- list()
  for (grp in names(r)) {
    level <- level_of(mod, grp)
    modes <- r[[grp]]
    pv <- attr(modes, "postVar")
    parts <- strsplit(grp, ":", fixed = TRUE)[[1]]  # column names in lme4's grouping expression
    rows <- lapply(seq_len(min(N_BLUPS, nrow(modes))), function(i) {
      ids <- strsplit(rownames(modes)[i], ":", fixed = TRUE)[[1]]
      cv <- matrix(pv[, , i], ncol(modes))
      list(id = rownames(modes)[i], ids = setNames(as.list(ids), parts),
           mode = as.list(unlist(modes[i, , drop = TRUE])) |> setNames(colnames(modes)),
           cond_sd = setNames(as.list(sqrt(diag(cv))), colnames(modes)),
           cond_cov = lapply(seq_len(nrow(cv)), function(k) cv[k, ]))
    })
    out[[level]] <- list(grp = grp, terms = colnames(modes), n_groups = nrow(modes),
                         mode_sd = as.list(sapply(modes, sd)), first = rows)
  }
  out
}
variance_shares <- function(m, mod) {
  vc <- as.data.frame(VarCorr(m))
  v <- setNames(vc$vcov, ifelse(vc$grp == "Residual", "Residual", level_of(mod, vc$grp)))
  total <- sum(v)
  levels <- names(mod$terms)  # outermost first
  # ICC of "same <level>" for nested levels: units sharing that level and every level above
  cumulative <- setNames(as.list(cumsum(v[levels]) / total), levels)
  out <- list(vpc = as.list(v / total), icc_same = cumulative)
  # performance refuses a singular fit (a variance at 0): its values are then left out
  if (!isSingular(m)) {
    pi <- performance::icc(m, by_group = TRUE)
    out$performance_icc_by_group <- setNames(as.list(pi$ICC), level_of(mod, pi$Group))
    out$performance_icc_adjusted <- performance::icc(m)$ICC_adjusted
  }
  out
}
# LRT of each level's variance: the model without that level's random term (and, for a level
# with slopes, the model with only its intercept) refitted with the same criterion; REML models
# compared with anova(refit = FALSE) as lmerTest's ranova does, ML ones with anova.
# p_mixture: the 50:50 mixture of chi2(df - 1) and chi2(df) (Self & Liang; chi2(0) = point mass).
lrt_of <- function(m, mod, data, reml) {
  out <- list()
  for (level in names(mod$terms)) {
    reduced <- list(term = mod)
    reduced$term$terms[[level]] <- NULL
    if (mod$terms[[level]] != "1") {
      reduced$slopes <- mod
      reduced$slopes$terms[[level]] <- "1"
    }
    out[[level]] <- list()
    for (kind in names(reduced)) {
      r <- reduced[[kind]]
      if (length(r$terms) == 0) next
      m0 <- fit(r, data, reml)
      a <- suppressMessages(anova(m0, m, refit = FALSE))
      stat <- a$Chisq[2]; df <- a$Df[2]
      lower <- if (df > 1) pchisq(stat, df - 1, lower.tail = FALSE) else as.numeric(stat <= 0)
      out[[level]][[kind]] <- list(formula = formula_of(r), statistic = stat, df = df,
        p = a[["Pr(>Chisq)"]][2],
        p_mixture = 0.5 * pchisq(stat, df, lower.tail = FALSE) + 0.5 * lower,
        loglik_reduced = as.numeric(logLik(m0)))
    }
  }
  out
}
# Cluster-robust SEs clustered on the outermost level (nested cases, REML fits): clubSandwich's
# CR2 with its Satterthwaite df, and CR1 (its SE; df are G - 1 by definition).
robust_of <- function(m, cluster, level) {
  ct <- coef_test(m, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  cr1 <- sqrt(diag(as.matrix(vcovCR(m, cluster = cluster, type = "CR1"))))
  list(cluster = level, n_clusters = length(unique(cluster)),
       cr2 = setNames(lapply(seq_len(nrow(ct)), function(i) list(se = ct$SE[i],
         df = ct$df_Satt[i], p = ct$p_Satt[i])), ct$Coef),
       cr1_se = as.list(cr1))
}
summarise <- function(m, mod, data, reml, null = FALSE, cluster = NULL) {
  V <- as.matrix(vcov(m))
  th <- getME(m, "theta")
  out <- list(
    formula = formula_of(mod), reml = reml, nobs = nobs(m),
    ngrps = setNames(as.list(as.numeric(ngrps(m))), level_of(mod, names(ngrps(m)))),
    coefficients = coefficients_of(m),
    vcov = list(names = rownames(V), matrix = lapply(seq_len(nrow(V)), function(i) V[i, ])),
    varcorr = varcorr_of(m, mod),
    theta = as.numeric(th), theta_names = names(th), sigma = sigma(m),
    loglik = as.numeric(logLik(m)),
    loglik_reml = if (reml) as.numeric(logLik(m)) else NULL,
    loglik_ml = as.numeric(logLik(m, REML = FALSE)),
    deviance = as.numeric(deviance(m, REML = FALSE)),
    reml_criterion = if (reml) REMLcrit(m) else NULL,
    aic = AIC(m), bic = BIC(m), singular = isSingular(m),
    convergence_messages = as.list(m@optinfo$conv$lme4$messages),
    blups = blups_of(m, mod),
    lrt = lrt_of(m, mod, data, reml))
  if (null) out$variance_shares <- variance_shares(m, mod)
  if (reml && !is.null(cluster)) out$robust <- robust_of(m, data[[cluster]], cluster)
  out
}
case <- function(file, levels, crossed, models, data, time = NULL) {
  fits <- lapply(names(models), function(name) {
    mod <- models[[name]]
    list(formula = formula_of(mod), grp = mod$grp,
         reml = summarise(fit(mod, data, TRUE), mod, data, TRUE, null = name == "null",
                          cluster = if (crossed) NULL else levels[1]),
         ml = summarise(fit(mod, data, FALSE), mod, data, FALSE, null = name == "null"))
  })
  list(data = file, levels = levels, crossed = crossed, time = time,
       models = setNames(fits, names(models)))
}

# a. Growth: egsingle (7,230 scores of 1,721 children in 60 schools; childid unique over schools).
# Yes/no predictors written as 0/1 (female = 1 for girls).
eg <- data.frame(schoolid = as.character(egsingle$schoolid),
                 childid = as.character(egsingle$childid), year = egsingle$year,
                 math = egsingle$math, female = as.integer(egsingle$female == "Female"),
                 black = as.integer(egsingle$black == "1"),
                 hispanic = as.integer(egsingle$hispanic == "1"), lowinc = egsingle$lowinc)
write.csv(eg, "egsingle.csv", row.names = FALSE)
g_eg <- list(schoolid = "schoolid", childid = "childid:schoolid")
fx_eg <- "math ~ year + female + black + hispanic + lowinc"
growth <- case("egsingle.csv", c("schoolid", "childid"), FALSE, time = "year", data = eg, list(
  null = model("math ~ 1", list(schoolid = "1", childid = "1"), g_eg),
  random_intercept = model(fx_eg, list(schoolid = "1", childid = "1"), g_eg),
  random_slope = model(fx_eg, list(schoolid = "1 + year", childid = "1 + year"), g_eg)))

# b. Crossed: ScotsSec (3,435 pupils, 148 primary x 19 secondary schools).
sc <- data.frame(primary = as.character(ScotsSec$primary), second = as.character(ScotsSec$second),
                 attain = ScotsSec$attain, verbal = ScotsSec$verbal, sex = as.character(ScotsSec$sex),
                 social = ScotsSec$social)
write.csv(sc, "scotssec.csv", row.names = FALSE)
sc$sex <- factor(sc$sex, levels = c("M", "F"))
g_sc <- list(primary = "primary", second = "second")
crossed <- case("scotssec.csv", c("primary", "second"), TRUE, data = sc, list(
  null = model("attain ~ 1", list(primary = "1", second = "1"), g_sc),
  predictors = model("attain ~ verbal + sex", list(primary = "1", second = "1"), g_sc)))

# c. Synthetic pupils in classes in schools; class ids 1-6 repeat in every school. prior: pupil
# prior attainment in points from the national average (its effect varies between classes;
# centred so that lme4 converges cleanly), fsm: free school meals (yes/no), sector: school level
# (academy / maintained). Score in points.
three_level <- function(seed, schools, classes, pupils, sd_school, sd_class, sd_slope) {
  set.seed(seed)
  s <- rep(seq_len(schools), each = classes * pupils)
  c <- rep(seq_len(schools * classes), each = pupils)
  sector <- rbinom(schools, 1, 0.4)
  u_school <- rnorm(schools, sd = sd_school)
  u_class <- rnorm(schools * classes, sd = sd_class)
  u_slope <- rnorm(schools * classes, sd = sd_slope)
  n <- schools * classes * pupils
  prior <- round(rnorm(n, 0, 10) + 0.5 * u_school[s], 1)
  fsm <- rbinom(n, 1, plogis(-1.2 - 0.06 * prior))
  score <- 50 + (0.5 + u_slope[c]) * prior - 3 * fsm + 2.5 * sector[s] + u_school[s] +
    u_class[c] + rnorm(n, sd = 8)
  data.frame(school = sprintf("S%03d", s), class = as.character((c - 1) %% classes + 1),
             pupil = seq_len(n), prior = prior, fsm = ifelse(fsm == 1, "yes", "no"),
             sector = ifelse(sector[s] == 1, "academy", "maintained"), score = round(score, 1))
}
prepare <- function(d) {
  d$fsm <- factor(d$fsm, levels = c("no", "yes"))
  d$sector <- factor(d$sector, levels = c("maintained", "academy"))
  d
}
g_3 <- list(school = "school", class = "class:school")
tl <- three_level(2201, 100, 6, 12, sd_school = 4, sd_class = 3, sd_slope = 0.15)
write.csv(tl, "three_level.csv", row.names = FALSE)
tl <- prepare(tl)
synthetic <- case("three_level.csv", c("school", "class"), FALSE, data = tl, list(
  null = model("score ~ 1", list(school = "1", class = "1"), g_3),
  random_intercept = model("score ~ prior + fsm", list(school = "1", class = "1"), g_3),
  random_slope = model("score ~ prior + fsm", list(school = "1", class = "1 + prior"), g_3),
  school_predictor = model("score ~ prior + fsm + sector", list(school = "1", class = "1 + prior"),
                           g_3)))

# c'. No school variance (a smaller file, 30 schools x 4 classes x 8 pupils): seed 40 is the first
# whose null and random-intercept REML fits both put the school variance at 0 (singular).
SINGULAR_SEED <- 40
ts <- three_level(SINGULAR_SEED, 30, 4, 8, sd_school = 0, sd_class = 3, sd_slope = 0)
write.csv(ts, "three_level_singular.csv", row.names = FALSE)
ts <- prepare(ts)
singular <- case("three_level_singular.csv", c("school", "class"), FALSE, data = ts, list(
  null = model("score ~ 1", list(school = "1", class = "1"), g_3),
  random_intercept = model("score ~ prior + fsm", list(school = "1", class = "1"), g_3)))

# Example data for the reports (data/, described in data/README.md): the same files, egsingle
# with grade (0-5; year is mostly grade - 1.5, not for pupils held back) and retained (0/1) besides.
eg_data <- cbind(eg, grade = egsingle$grade, retained = as.integer(egsingle$retained == "1"))
write.csv(eg_data, "../../../data/egsingle.csv", row.names = FALSE)
file.copy("scotssec.csv", "../../../data/scotssec.csv", overwrite = TRUE)
file.copy("three_level.csv", "../../../data/pupils.csv", overwrite = TRUE)

out <- list(
  meta = list(r = R.version.string, lme4 = as.character(packageVersion("lme4")),
              lmerTest = as.character(packageVersion("lmerTest")),
              performance = as.character(packageVersion("performance")),
              mlmRev = as.character(packageVersion("mlmRev")),
              clubSandwich = as.character(packageVersion("clubSandwich")),
              blups_per_level = N_BLUPS),
  growth = growth, crossed = crossed, three_level = synthetic, three_level_singular = singular)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           "levels_reference.json")
