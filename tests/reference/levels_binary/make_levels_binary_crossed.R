# glmer references for a binary outcome with two CROSSED grouping factors (Laplace, nAGQ = 1):
# ScotsSec (pupils in primary and secondary schools, tests/reference/levels/scotssec.csv) with
# attain dichotomised at its median (attain > 5), and a synthetic file of pupils in 120 "a"
# groups crossed with 30 "b" groups (a "b"-level random slope of x). Per model: logLik, fixed
# effects and SEs, variance components, conditional modes (first five and their SD per factor),
# the profile intervals of every SD and correlation (lme4's confint where it runs, and the exact
# profile from lme4's devfun), and for the null models each factor's latent share by its profile.
# bobyqa with a large budget and tolPwrss 1e-13, so logLik is the Laplace criterion itself.
# R 4.2.2, lme4 1.1-31.  Run from tests/reference/levels_binary:
#   Rscript make_levels_binary_crossed.R  (writes crossed_binary.csv, levels_binary_crossed.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
source("levels_binary_functions.R")

set.seed(2807)
n <- 2400; A <- 120; B <- 30
a <- sample(A, n, replace = TRUE); b <- sample(B, n, replace = TRUE)
w <- round(rnorm(A), 2)                     # an "a"-level characteristic
x <- round(rnorm(n), 2)
eta <- -0.3 + (0.7 + rnorm(B, sd = 0.3)[b]) * x + 0.5 * w[a] + rnorm(A, sd = 0.7)[a] +
  rnorm(B, sd = 0.5)[b]
synthetic <- data.frame(a = sprintf("A%03d", a), b = sprintf("B%02d", b), x = x, w = w[a],
                        y = rbinom(n, 1, plogis(eta)))
write.csv(synthetic, "crossed_binary.csv", row.names = FALSE)

scots <- read.csv("../levels/scotssec.csv")
scots$y <- as.integer(scots$attain > median(scots$attain))
scots$sex <- factor(scots$sex, levels = c("F", "M"))  # reference F, as the report codes it

ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5))
fit <- function(f, d) glmer(f, data = d, family = binomial, control = ctrl)

blups <- function(m) {
  r <- ranef(m, condVar = TRUE)
  lapply(setNames(names(r), names(r)), function(grp) {
    modes <- r[[grp]]; pv <- attr(modes, "postVar")
    list(terms = colnames(modes), n_groups = nrow(modes),
         mode_sd = as.list(sapply(modes, sd)),
         first = lapply(seq_len(5), function(i) list(
           id = rownames(modes)[i],
           mode = setNames(as.list(unlist(modes[i, , drop = TRUE])), colnames(modes)),
           cond_sd = setNames(as.list(sqrt(diag(matrix(pv[, , i], ncol(modes))))),
                              colnames(modes)))))
  })
}
one <- function(m, shares = list()) {
  modes <- blups(m)  # first: the profiles move the fit's modes
  c(summarise(m, shares), list(blups = modes))
}

cases <- list(
  scotssec = list(
    data = "../levels/scotssec.csv", outcome = "attain > 5", levels = c("primary", "second"),
    models = list(
      null = one(fit(y ~ 1 + (1 | primary) + (1 | second), scots),
                 list(primary = 1, second = 2)),
      random_intercept = one(fit(y ~ verbal + sex + (1 | primary) + (1 | second), scots)))),
  synthetic = list(
    data = "crossed_binary.csv", outcome = "y", levels = c("a", "b"),
    models = list(
      null = one(fit(y ~ 1 + (1 | a) + (1 | b), synthetic), list(a = 1, b = 2)),
      random_intercept = one(fit(y ~ x + w + (1 | a) + (1 | b), synthetic)),
      random_slope = one(fit(y ~ x + w + (1 | a) + (1 + x | b), synthetic)))))
out <- list(meta = list(r = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           "levels_binary_crossed.json")
