# glmer references for a binary outcome with nested levels (issue 22): synthetic pupils in classes
# in schools (class ids 1-5 repeat in every school), random intercepts at both levels, then a
# class-level random slope. Laplace (nAGQ = 1), bobyqa with a large budget so the optimum is
# tight and the modes converged to rounding (tolPwrss). R 4.2.2, lme4 1.1-31.
# Run from tests/reference/levels_binary:  Rscript make_levels_binary_reference.R
# (writes three_level_binary.csv and levels_binary_reference.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})

set.seed(2207)
schools <- 60; classes <- 5; pupils <- 12
s <- rep(seq_len(schools), each = classes * pupils)
c <- rep(seq_len(schools * classes), each = pupils)
n <- length(s)
w <- rbinom(schools, 1, 0.5)            # school level (e.g. sector)
u_s <- rnorm(schools, sd = 0.8)
u_c <- rnorm(schools * classes, sd = 0.6)
v_c <- rnorm(schools * classes, sd = 0.4)
x <- round(rnorm(n), 2)                  # pupil level, centred
eta <- -0.4 + (0.8 + v_c[c]) * x - 0.6 * w[s] + u_s[s] + u_c[c]
y <- rbinom(n, 1, plogis(eta))
d <- data.frame(school = sprintf("S%02d", s), class = as.character((c - 1) %% classes + 1),
                x = x, w = w[s], y = y)
write.csv(d, "three_level_binary.csv", row.names = FALSE)

# tolPwrss: the modes converged to rounding, so logLik is the Laplace criterion itself (the
# default 1e-7 leaves it ~0.002-0.03 below the criterion at the same parameters)
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5))
fits <- list(
  random_intercept = glmer(y ~ x + w + (1 | school) + (1 | class:school), data = d,
                           family = binomial, control = ctrl),
  random_slope = glmer(y ~ x + w + (1 | school) + (1 + x | class:school), data = d,
                       family = binomial, control = ctrl))
level_of <- function(grp) if (grp == "school") "school" else "class"
summarise <- function(m) {
  s <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  r <- ranef(m, condVar = TRUE)
  blups <- list()
  for (grp in names(r)) {
    modes <- r[[grp]]; pv <- attr(modes, "postVar")
    rows <- lapply(seq_len(5), function(i) {
      ids <- strsplit(rownames(modes)[i], ":", fixed = TRUE)[[1]]
      list(id = rownames(modes)[i], ids = setNames(as.list(ids), strsplit(grp, ":")[[1]]),
           mode = setNames(as.list(unlist(modes[i, , drop = TRUE])), colnames(modes)),
           cond_sd = setNames(as.list(sqrt(diag(matrix(pv[, , i], ncol(modes))))),
                              colnames(modes)))
    })
    blups[[level_of(grp)]] <- list(grp = grp, terms = colnames(modes), n_groups = nrow(modes),
                                   mode_sd = as.list(sapply(modes, sd)), first = rows)
  }
  list(formula = deparse(formula(m)), nobs = nobs(m),
       coefficients = setNames(lapply(seq_len(nrow(s)), function(i)
         list(estimate = s[i, 1], se = s[i, 2])), rownames(s)),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i],
         level = level_of(vc$grp[i]), var1 = vc$var1[i], var2 = vc$var2[i], vcov = vc$vcov[i])),
       theta = as.numeric(getME(m, "theta")), theta_names = names(getME(m, "theta")),
       loglik = as.numeric(logLik(m)), singular = isSingular(m),
       convergence_messages = as.list(m@optinfo$conv$lme4$messages), blups = blups)
}
out <- list(meta = list(r = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            data = "three_level_binary.csv", levels = c("school", "class"),
            models = lapply(fits, summarise))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           "levels_binary_reference.json")
