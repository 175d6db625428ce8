# R references for the least-squares rungs (ols, ols_cluster) of tests/model/
# test_two_level_calendar.py on calendar.csv with year and year + 1e5. R 4.2.2, clubSandwich.
# Run here:  Rscript make_ols_calendar_reference.R
# The exact fit is lm on year centred (yc = year - mean; the log-likelihood does not depend on
# the centre). Each coefficient on year's own scale (year + shift) is a contrast of the centred
# fit: b0 = b0_c - (centre + shift) b_year, its SE from vcov (and from clubSandwich's CR1S,
# Stata's G/(G-1) (n-1)/(n-p), for the cluster rung's CR1).
suppressPackageStartupMessages({library(clubSandwich); library(jsonlite)})
d <- read.csv("calendar.csv", colClasses = c(grp = "character"))
centre <- mean(d$year)
d$yc <- d$year - centre
m <- lm(y ~ yc + x, d)
cr1 <- as.matrix(vcovCR(m, cluster = d$grp, type = "CR1S"))
terms <- c("(Intercept)", "year", "x")
cases <- list()
for (shift in c(0, 1e5)) {
  coefs <- list()
  for (j in 1:3) {
    L <- c(0, 0, 0); L[j] <- 1
    if (j == 1) L[2] <- -(centre + shift)
    coefs[[terms[j]]] <- list(estimate = sum(L * coef(m)), se = sqrt(drop(L %*% vcov(m) %*% L)),
                              cr1_se = sqrt(drop(L %*% cr1 %*% L)))
  }
  cases[[format(shift, scientific = FALSE)]] <- coefs
}
out <- list(centre = centre, loglik = as.numeric(logLik(m)), shifts = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "ols_calendar_reference.json")
