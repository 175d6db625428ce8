# Contextual effects at two levels at once (issue 22): lmer fits of the three-level example data
# (data/pupils.csv: pupils in classes in schools, class ids 1-6 repeated in every school) with the
# class means and the school means of prior attainment, and lmerTest's contest() of the
# within / between / contextual contrasts at each level (Satterthwaite df).
# R 4.2.2, lme4 1.1-31, lmerTest 3.1-3. Run here: Rscript make_levels_contextual_reference.R
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
d <- read.csv("../../../data/pupils.csv", colClasses = c(school = "character", class = "character"))
d$fsm <- factor(d$fsm, levels = c("no", "yes"))
d$sector <- factor(d$sector, levels = c("academy", "maintained"))
d$cls <- interaction(d$school, d$class, drop = TRUE)
d$prior_cm <- ave(d$prior, d$cls)  # the class's mean (classes scoped by school)
d$prior_sm <- ave(d$prior, d$school)  # the school's mean
d$prior_cwc <- d$prior - d$prior_cm  # centred within its class

fit <- function(f) {
  m <- lmer(f, data = d, REML = TRUE)
  if (length(m@optinfo$conv$lme4$messages) > 0) {  # as the other references: keep a better bobyqa fit
    m2 <- update(m, control = lmerControl(optimizer = "bobyqa"))
    if (as.numeric(logLik(m2)) > as.numeric(logLik(m))) m <- m2
  }
  m
}
one <- function(m, contrasts) {
  s <- coef(summary(m))
  list(
    formula = paste(deparse(formula(m)), collapse = " "),
    loglik = as.numeric(logLik(m)),
    convergence_messages = as.list(m@optinfo$conv$lme4$messages),
    coefficients = lapply(setNames(seq_len(nrow(s)), rownames(s)), function(i)
      list(estimate = s[i, "Estimate"], se = s[i, "Std. Error"], df = s[i, "df"])),
    contrasts = lapply(contrasts, function(r) {
      k <- contest(m, r$L, joint = FALSE)
      list(level = r$level, effect = r$effect, L = r$L, estimate = k$Estimate,
           se = k[["Std. Error"]], df = k$df)
    })
  )
}
# coefficients: (Intercept), prior, fsmyes, sectormaintained, prior_cm, prior_sm
a <- fit(score ~ prior + fsm + sector + prior_cm + prior_sm + (1 | school) +
           (1 + prior | school:cls))
A <- list(
  list(level = "class", effect = "within", L = c(0, 1, 0, 0, 0, 0)),
  list(level = "class", effect = "between", L = c(0, 1, 0, 0, 1, 0)),
  list(level = "class", effect = "contextual", L = c(0, 0, 0, 0, 1, 0)),
  list(level = "school", effect = "within", L = c(0, 1, 0, 0, 1, 0)),
  list(level = "school", effect = "between", L = c(0, 1, 0, 0, 1, 1)),
  list(level = "school", effect = "contextual", L = c(0, 0, 0, 0, 0, 1)))
# prior centred within classes, only the school mean: (Intercept), prior_cwc, fsmyes,
# sectormaintained, prior_sm
b <- fit(score ~ prior_cwc + fsm + sector + prior_sm + (1 | school) + (1 + prior_cwc | school:cls))
B <- list(
  list(level = "school", effect = "within", L = c(0, 1, 0, 0, 0)),
  list(level = "school", effect = "between", L = c(0, 0, 0, 0, 1)),
  list(level = "school", effect = "contextual", L = c(0, -1, 0, 0, 1)))
out <- list(meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                        lmerTest = as.character(packageVersion("lmerTest"))),
            both_means = one(a, A), centred_school_mean = one(b, B))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "levels_contextual_reference.json")
