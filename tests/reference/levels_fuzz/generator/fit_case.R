# Fit one fuzz case with lme4/lmerTest (glmer for binary) and write its figures as JSON.
# usage: Rscript fit_case.R job.json out.json
# job: {csv, id_cols: [...], levels: [...outermost first], crossed, family,
#       models: [{name, formula, reduced: {label: formula}}], cr2: {model, cluster} | null}
suppressPackageStartupMessages({
  library(jsonlite); library(lme4); library(lmerTest); library(clubSandwich)
})
args <- commandArgs(trailingOnly = TRUE)
job <- fromJSON(args[1], simplifyVector = FALSE)
cc <- setNames(rep("character", length(job$id_cols)), unlist(job$id_cols))
d <- read.csv(job$csv, colClasses = cc, na.strings = c(""), check.names = FALSE,
              encoding = "UTF-8")
for (v in unlist(job$id_cols)) d[[v]] <- factor(d[[v]])
binary <- identical(job$family, "binomial")
ctrl <- lmerControl(check.conv.singular = "ignore")
gctrl <- glmerControl(check.conv.singular = "ignore")

fit1 <- function(f, reml = TRUE) {
  msgs <- character(0)
  m <- withCallingHandlers(
    if (binary) glmer(as.formula(f), data = d, family = binomial, control = gctrl, nAGQ = 1)
    else lmerTest::lmer(as.formula(f), data = d, REML = reml, control = ctrl),
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleMessage") })
  conv <- m@optinfo$conv$lme4$messages
  list(m = m, msgs = c(msgs, conv))
}

describe <- function(m, msgs) {
  s <- summary(m)
  co <- coef(s)
  coefs <- list()
  for (i in seq_len(nrow(co))) {
    r <- list(estimate = co[i, 1], se = co[i, 2])
    if (!binary) r$df <- co[i, "df"]
    coefs[[rownames(co)[i]]] <- r
  }
  vc <- as.data.frame(VarCorr(m))
  vcl <- lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
      var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  list(coefficients = coefs, varcorr = vcl, loglik = as.numeric(logLik(m)),
       theta = unname(getME(m, "theta")), singular = isSingular(m), messages = as.list(msgs),
       nobs = nobs(m), ngrps = as.list(ngrps(m)))
}

out <- list(models = list(), meta = list(lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  clubSandwich = as.character(packageVersion("clubSandwich")), R = R.version.string))
fits <- list()
for (mj in job$models) {
  r <- tryCatch({
    f <- fit1(mj$formula, TRUE)
    fits[[mj$name]] <- f$m
    res <- describe(f$m, f$msgs)
    res$formula <- mj$formula
    if (!binary) {
      g <- fit1(mj$formula, FALSE)
      res$loglik_ml_refit <- as.numeric(logLik(g$m))
    }
    lrts <- list()
    for (lab in names(mj$reduced)) {
      fr <- mj$reduced[[lab]]
      m0 <- tryCatch(
        if (grepl("\\|", fr)) fit1(fr, TRUE)$m
        else if (binary) glm(as.formula(fr), data = d, family = binomial)
        else lm(as.formula(fr), data = d),
        error = function(e) NULL)
      if (is.null(m0)) next
      ll0 <- if (inherits(m0, "lm") && !binary) as.numeric(logLik(m0, REML = TRUE)) else as.numeric(logLik(m0))
      lrts[[lab]] <- list(formula = fr, statistic = 2 * (res$loglik - ll0), loglik_reduced = ll0)
    }
    res$lrt <- lrts
    res
  }, error = function(e) list(error = conditionMessage(e)))
  out$models[[mj$name]] <- r
}
if (!is.null(job$cr2) && !binary && !is.null(fits[[job$cr2$model]])) {
  m <- fits[[job$cr2$model]]
  ct <- tryCatch({
    t <- coef_test(m, vcov = "CR2", cluster = d[[job$cr2$cluster]], test = "Satterthwaite")
    lapply(setNames(seq_len(nrow(t)), t$Coef), function(i) list(se = t$SE[i], df = t$df_Satt[i]))
  }, error = function(e) list(error = conditionMessage(e)))
  out$cr2 <- ct
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null"), args[2])
