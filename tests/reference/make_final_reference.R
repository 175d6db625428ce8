# Reference values for the final-model statistics (issue 10): Satterthwaite simple slopes
# (lmerTest::contest1D), profile-likelihood CIs of variance components (lme4 confint, profile),
# CR2 cluster-robust SEs with Satterthwaite df (clubSandwich::coef_test), random-slope tests
# (lmerTest::ranova). R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, clubSandwich 0.5.8 (Debian bookworm).
# Run from tests/reference:  Rscript make_final_reference.R  (writes final_reference.json)
suppressPackageStartupMessages({library(lmerTest); library(clubSandwich); library(jsonlite)})

exam <- read.csv("exam.csv")
exam$school <- factor(exam$school)
exam$standLRT_group_mean <- ave(exam$standLRT, exam$school)
exam$standLRT_c <- exam$standLRT - exam$standLRT_group_mean
sleep <- read.csv("sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)

summarise <- function(m, contrasts) {
  out <- list(
    fixef = as.list(fixef(m)),
    se = as.list(sqrt(diag(as.matrix(vcov(m))))),
    loglik_reml = as.numeric(logLik(m))
  )
  ci <- confint(m, method = "profile", oldNames = FALSE, quiet = TRUE)
  ci <- ci[!grepl("^\\(Intercept\\)|^[a-zA-Z]", rownames(ci)) | grepl("^sd_|^cor_|^sigma", rownames(ci)), ]
  ci <- ci[grepl("^sd_|^cor_|^sigma", rownames(ci)), , drop = FALSE]
  out$profile_ci <- lapply(split(ci, rownames(ci)), function(r) list(low = r[1], high = r[2]))
  ct <- coef_test(m, vcov = "CR2", test = "Satterthwaite")
  out$cr2 <- setNames(lapply(seq_len(nrow(ct)), function(i)
    list(se = ct$SE[i], df = ct$df_Satt[i], p = ct$p_Satt[i])), ct$Coef)
  rv <- ranova(m)
  out$ranova <- list(statistic = rv$LRT[2], df = rv$Df[2])
  out$contrasts <- lapply(contrasts, function(L) {
    r <- contest1D(m, L)
    list(L = L, estimate = r$Estimate, se = r[["Std. Error"]], df = r$df, p = r[["Pr(>|t|)"]])
  })
  out
}

# A: cross-level interaction with a three-level school-type moderator, centring, context.
a <- lmer(normexam ~ standLRT_c + sex + schgend + standLRT_group_mean + standLRT_c:schgend +
            (1 + standLRT_c | school), data = exam, REML = TRUE)
# slope of standLRT_c in boys', girls' and mixed schools (coefficient order as fixef(a))
La <- list(boys = c(0, 1, 0, 0, 0, 0, 0, 0), girls = c(0, 1, 0, 0, 0, 0, 1, 0),
           mixed = c(0, 1, 0, 0, 0, 0, 0, 1))
# B: a continuous level-2 moderator.
b <- lmer(normexam ~ standLRT + schavg + standLRT:schavg + (1 + standLRT | school),
          data = exam, REML = TRUE)
m <- mean(exam$schavg); s <- sd(exam$schavg)
Lb <- list(low = c(0, 1, 0, m - s), mid = c(0, 1, 0, m), high = c(0, 1, 0, m + s))
# C: a growth model.
c <- lmer(Reaction ~ Days + (1 + Days | Subject), data = sleep, REML = TRUE)

out <- list(
  exam_crosslevel = c(summarise(a, La), list(formula = deparse(formula(a), width.cutoff = 500))),
  exam_continuous = c(summarise(b, Lb), list(formula = deparse(formula(b), width.cutoff = 500),
                                              moderator_mean = m, moderator_sd = s)),
  sleepstudy = c(summarise(c, list()), list(formula = deparse(formula(c), width.cutoff = 500)))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "final_reference.json")
