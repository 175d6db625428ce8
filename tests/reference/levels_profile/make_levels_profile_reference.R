# lme4 profile-likelihood intervals of the variance components (confint(method = "profile"))
# for the final models of several grouping levels (issue 22): ML fits of the three-level pupils
# data (class ids repeat in every school), the growth data (years in children in schools, year
# slopes at both levels) and the crossed design (primary x secondary schools). lme4 profiles the
# ML deviance over each SD, correlation and the residual SD on their own scale; the 95% limits
# are where the signed root crosses +-1.96 (an SD whose profile stays inside down to 0 gets 0).
# R 4.2.2, lme4 1.1-31 (Debian bookworm).
# Run from tests/reference/levels_profile:  Rscript make_levels_profile_reference.R
# (reads ../../../data/{pupils,egsingle,scotssec}.csv and ../levels/three_level_singular.csv; writes levels_profile_reference.json)
# JSON: {meta, cases: {name: {data, formula, levels (outermost first), grp {level: lme4 grouping
# expression}, loglik (ML), seconds (confint's), rows: [{parm (lme4 name with oldNames = FALSE),
# level (plain column or "Residual"), kind ("sd" | "cor"), var1, var2, estimate, low, high}]}}}
suppressPackageStartupMessages({library(lme4); library(jsonlite)})

data_dir <- "../../../data"
cases <- list(
  three_level = list(
    data = "pupils.csv",
    formula = "score ~ prior + fsm + (1 | school) + (1 + prior | class:school)",
    grp = list(school = "school", class = "class:school")),
  growth = list(
    data = "egsingle.csv",
    formula = paste("math ~ year + female + black + hispanic + lowinc +",
                    "(1 + year | schoolid) + (1 + year | childid:schoolid)"),
    grp = list(schoolid = "schoolid", childid = "childid:schoolid")),
  # the class level uncorrelated (lme4 splits `||` into one term per column, grp "class:school"
  # and "class:school.1"): its correlation is no parameter, no row
  three_level_uncorrelated = list(
    data = "pupils.csv",
    formula = "score ~ prior + fsm + (1 | school) + (1 + prior || class:school)",
    grp = list(school = "school", class = "class:school")),
  # the school variance is estimated at zero (lme4: singular): its lower limit is 0
  three_level_singular = list(
    data = "../tests/reference/levels/three_level_singular.csv",
    formula = "score ~ prior + fsm + (1 | school) + (1 | class:school)",
    grp = list(school = "school", class = "class:school")),
  crossed = list(
    data = "scotssec.csv",
    formula = "attain ~ verbal + sex + (1 | primary) + (1 | second)",
    grp = list(primary = "primary", second = "second"))
)

level_of <- function(grp, case) {
  if (grp == "Residual") return("Residual")
  if (!(grp %in% unlist(case$grp))) {
    # a `||` model's terms: as.data.frame(VarCorr) names them "class.school", "class.school.1"
    grp <- gsub(".", ":", sub("\\.[0-9]+$", "", grp), fixed = TRUE)
  }
  names(case$grp)[match(grp, unlist(case$grp))]
}

out <- list()
for (name in names(cases)) {
  case <- cases[[name]]
  d <- read.csv(file.path(data_dir, case$data), colClasses = "character")
  for (col in names(d)) {  # numbers as numbers, ids and codes as text
    if (!(col %in% c(names(case$grp), "childid", "schoolid", "school", "class", "primary",
                     "second", "fsm", "sex", "sector"))) d[[col]] <- as.numeric(d[[col]])
  }
  if (name == "crossed") d$sex <- factor(d$sex, levels = c("M", "F"))
  m <- lmer(as.formula(case$formula), data = d, REML = FALSE)
  if (length(m@optinfo$conv$lme4$messages) > 0) {
    m2 <- update(m, control = lmerControl(optimizer = "bobyqa"))
    if (as.numeric(logLik(m2)) > as.numeric(logLik(m))) m <- m2
  }
  vc <- as.data.frame(VarCorr(m), order = "lower.tri")
  began <- Sys.time()
  ci <- confint(m, parm = "theta_", method = "profile", oldNames = FALSE)
  secs <- as.numeric(difftime(Sys.time(), began, units = "secs"))
  # confint's rows follow as.data.frame(VarCorr(m), order = "lower.tri")
  stopifnot(nrow(ci) == nrow(vc))
  rows <- lapply(seq_len(nrow(vc)), function(i) list(
    parm = rownames(ci)[i], level = level_of(vc$grp[i], case), grp = vc$grp[i],
    kind = if (is.na(vc$var2[i])) "sd" else "cor",
    var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i],
    var2 = if (is.na(vc$var2[i])) NULL else vc$var2[i],
    estimate = vc$sdcor[i], low = unname(ci[i, 1]), high = unname(ci[i, 2])))
  out[[name]] <- list(data = case$data, formula = case$formula, levels = names(case$grp),
                      grp = case$grp, loglik = as.numeric(logLik(m)), seconds = secs,
                      rows = rows)
  cat(name, "done in", round(secs, 1), "s\n")
  print(ci)
}
meta <- list(r = R.version.string, lme4 = as.character(packageVersion("lme4")),
             call = 'confint(m, parm = "theta_", method = "profile", oldNames = FALSE)',
             fit = "lmer(..., REML = FALSE)")
writeLines(toJSON(list(meta = meta, cases = out), auto_unbox = TRUE, digits = NA, pretty = TRUE,
                  null = "null"), "levels_profile_reference.json")
