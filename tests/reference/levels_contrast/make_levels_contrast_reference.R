# lmerTest's Satterthwaite df of contrasts (contest1D) and of a two-row F test (contestMD) for the
# three-level reference file (tests/reference/levels/three_level.csv), REML, random class slope
# and a school-level predictor. R 4.2.2, lme4 1.1-31, lmerTest 3.1-3.
# Run from tests/reference/levels_contrast:  Rscript make_levels_contrast_reference.R
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
d <- read.csv("../levels/three_level.csv")
d$fsm <- factor(d$fsm, levels = c("no", "yes"))
d$sector <- factor(d$sector, levels = c("maintained", "academy"))
m <- lmer(score ~ prior + fsm + sector + (1 | school) + (1 + prior | class:school), data = d)
# lme4 flags this fit (max|grad| 0.004); as in make_levels_reference.R, a bobyqa refit is kept when
# its criterion is better
if (length(m@optinfo$conv$lme4$messages) > 0) {
  m2 <- update(m, control = lmerControl(optimizer = "bobyqa"))
  if (as.numeric(logLik(m2)) > as.numeric(logLik(m))) m <- m2
}
contrasts <- list(c(0, 0, 1, 1), c(0, 1, 0, 0), c(1, 0, 0, 1), c(0, 10, -1, 0))
rows <- lapply(contrasts, function(L) {
  r <- contest(m, L, joint = FALSE)
  list(L = L, estimate = r$Estimate, se = r[["Std. Error"]], df = r$df)
})
F2 <- contest(m, rbind(c(0, 0, 1, 0), c(0, 0, 0, 1)), joint = TRUE)
out <- list(formula = deparse(formula(m)), loglik = as.numeric(logLik(m)),
            convergence_messages = as.list(m@optinfo$conv$lme4$messages), coefficients = names(fixef(m)), contrasts = rows,
            joint = list(L = list(c(0, 0, 1, 0), c(0, 0, 0, 1)), F = F2[["F value"]],
                         numdf = F2$NumDF, dendf = F2$DenDF))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "levels_contrast_reference.json")
