# A random slope of an uncentred variable (issue 12, item 2): years around 2005, so the
# intercept's variance at x = 0 is enormous (theta ~ 500) and nearly collinear with the slope's.
# R 4.2.2, lme4 1.1-31. Run from tests/reference:  Rscript make_uncentred_reference.R
# (writes uncentred.csv and uncentred_reference.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
set.seed(2005)
groups <- 40; size <- 7
grp <- rep(sprintf("g%02d", 1:groups), each = size)
x <- round(rnorm(groups * size, 2005, 3), 3)
z <- rep(round(rnorm(groups), 3), each = size)
b0 <- rnorm(groups, 0, 1); b1 <- rnorm(groups, 0, 0.3)
g <- rep(1:groups, each = size)
y <- round(1 + 0.5 * x + 0.3 * z + b0[g] + b1[g] * (x - 2005) + rnorm(groups * size), 4)
d <- data.frame(grp = grp, x = x, z = z, y = y)
write.csv(d, "uncentred.csv", row.names = FALSE)
fit <- function(optimizer) {
  m <- suppressWarnings(suppressMessages(
    lmer(y ~ x + z + (1 + x | grp), d, control = lmerControl(optimizer = optimizer))))
  list(loglik_reml = as.numeric(logLik(m)), theta = as.numeric(getME(m, "theta")))
}
out <- list(bobyqa = fit("bobyqa"), nloptwrap = fit("nloptwrap"), Nelder_Mead = fit("Nelder_Mead"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "uncentred_reference.json")
