# Reference values for issue 21 item 6: average predictions of a multilevel logistic model over
# the observed rows (marginaleffects' avg_predictions, computed by hand: marginaleffects is not
# installed here), glmer(y ~ trt + week + (1 | ID), MASS's bacteria, binomial).
# Each average sets one predictor to a value for every row, keeps the rest of each row as
# observed, predicts plogis(X b + u_ID) with each row's own conditional mode (marginaleffects'
# default re.form = NULL) and, for the record, with the random effects at 0 (re.form = NA);
# delta-method SEs over vcov(fixef) (the modes held fixed, as marginaleffects does). Each
# group's average probability: every row as if in that group, plogis(X b + u_g), averaged.
# R 4.2.2, lme4 1.1-31 (Debian bookworm). Run from tests/reference:
#   Rscript make_average_predictions_reference.R   (writes average_predictions_reference.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})

bac <- read.csv("bacteria.csv")
bac$y <- as.integer(bac$y == "y")
bac$trt <- factor(bac$trt, levels = c("placebo", "drug", "drug+"))
m <- glmer(y ~ trt + week + (1 | ID), bac, family = binomial,
           control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13))
b <- fixef(m); V <- as.matrix(vcov(m))
u <- ranef(m)$ID[as.character(bac$ID), 1]

average <- function(data, with_modes = TRUE) {
  X <- model.matrix(~ trt + week, data)
  p <- plogis(drop(X %*% b) + if (with_modes) u else 0)
  g <- colMeans(p * (1 - p) * X)
  list(estimate = mean(p), se = sqrt(drop(t(g) %*% V %*% g)))
}
rows <- list(list(variable = NULL, level = NULL, value = NULL,
                  modes = average(bac), zero = average(bac, FALSE)))
for (level in levels(bac$trt)) {
  d <- bac; d$trt <- factor(level, levels = levels(bac$trt))
  rows[[length(rows) + 1]] <- list(variable = "trt", level = level, value = NULL,
                                   modes = average(d), zero = average(d, FALSE))
}
for (x in seq(min(bac$week), max(bac$week), length.out = 25)) {
  d <- bac; d$week <- x
  rows[[length(rows) + 1]] <- list(variable = "week", level = NULL, value = x,
                                   modes = average(d), zero = average(d, FALSE))
}
X <- model.matrix(~ trt + week, bac)
eta <- drop(X %*% b)
re <- ranef(m, condVar = TRUE)
se_u <- sqrt(attr(re$ID, "postVar")[1, 1, ])
groups <- lapply(seq_len(nrow(re$ID)), function(j) {
  uj <- re$ID[j, 1]
  list(group = rownames(re$ID)[j], estimate = mean(plogis(eta + uj)),
       low = mean(plogis(eta + uj - 1.96 * se_u[j])), high = mean(plogis(eta + uj + 1.96 * se_u[j])))
})
out <- list(formula = deparse(formula(m), width.cutoff = 500), fixef = as.list(b),
            observed_share = mean(bac$y), average_predictions = rows, groups = groups)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "average_predictions_reference.json")
