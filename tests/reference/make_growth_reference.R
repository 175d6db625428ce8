# Growth-model references for Satterthwaite df (issue 12): nlme's Oxboys (26 boys, height by
# age, a huge between-subject variance) and Orthodont. R 4.2.2, lme4 1.1-31, lmerTest 3.1-3.
# Run from tests/reference:  Rscript make_growth_reference.R  (writes growth_reference.json,
# oxboys.csv, orthodont.csv)
suppressPackageStartupMessages({library(lmerTest); library(nlme); library(jsonlite)})
data(Oxboys, package = "nlme"); data(Orthodont, package = "nlme")
ox <- data.frame(Subject = as.character(Oxboys$Subject), age = Oxboys$age, height = Oxboys$height)
ort <- data.frame(Subject = as.character(Orthodont$Subject), age = Orthodont$age,
                  distance = Orthodont$distance, Sex = as.character(Orthodont$Sex))
write.csv(ox, "oxboys.csv", row.names = FALSE)
write.csv(ort, "orthodont.csv", row.names = FALSE)
summ <- function(m) {
  s <- summary(m)$coefficients
  list(fixef = as.list(s[, "Estimate"]), se = as.list(s[, "Std. Error"]),
       df = as.list(s[, "df"]), loglik_reml = as.numeric(logLik(m)),
       theta = as.numeric(getME(m, "theta")))
}
out <- list(
  oxboys = summ(lmer(height ~ age + (1 + age | Subject), data = ox)),
  orthodont = summ(lmer(distance ~ age + Sex + (1 + age | Subject), data = ort))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "growth_reference.json")
