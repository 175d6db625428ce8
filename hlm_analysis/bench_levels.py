"""`make bench`, three levels (issue 22): pupils in classes in schools, class ids repeated in every
school, a class-level random slope of prior attainment.

Section `levels`: 500,000 rows (1,000 schools x 20 classes x 25 pupils) in a CSV; the whole
`hlm-report fit` process (the ladder: OLS, null, random intercept, random slope with REML and ML
refits and Satterthwaite df; median of three) against lme4's lmer fitting the random-intercept
and random-slope models of the same CSV (one Rscript process; its lmer calls timed inside R and
the whole process), and against the mixedlm package when it can fit the model.

Section `levels-scale`: seeded Parquet lakes of 5 and 50 million rows (10 parts, every class's
pupils spread over all parts), `hlm-report fit` beside the floor: one bare DuckDB query computing
the per-class sums the engine needs.

A fit that fails is reported as FAILED with hlm-report's last line and the bench exits 1: a
number is never printed for a model that was not fitted.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

# schools, classes per school, pupils per class
ROWS = (1_000, 20, 25)
LAKES = [(1_000, 20, 250), (2_000, 20, 1_250)]  # 5M and 50M rows
REPEATS = 3
COLUMNS = ["score", "prior", "fsm", "academy"]
FIXED = "score ~ prior + fsm + academy"


class Failed(Exception):
    """A fit in the section did not produce results: the message says which and why."""


def _effects(rng: np.random.Generator, schools: int, classes: int):
    """School intercepts (SD 4), school sector (academy 40%), class intercepts (SD 3) and class
    slopes of prior (SD 0.15, correlated 0.3 with the class intercept)."""
    u_school = rng.normal(0, 4, schools)
    academy = (rng.random(schools) < 0.4).astype(float)
    u_class = rng.normal(0, 3, schools * classes)
    slope = 0.15 * (0.3 * u_class / 3 + np.sqrt(1 - 0.09) * rng.normal(0, 1, schools * classes))
    return u_school, academy, u_class, slope


def _rows(rng, cell: np.ndarray, classes: int, effects) -> dict[str, np.ndarray]:
    u_school, academy, u_class, slope = effects
    school = cell // classes
    n = len(cell)
    prior = np.round(rng.normal(0, 10, n) + 0.5 * u_school[school], 1)
    fsm = (rng.random(n) < 1 / (1 + np.exp(1.2 + 0.06 * prior))).astype(float)
    score = (
        50
        + (0.5 + slope[cell]) * prior
        - 3 * fsm
        + 2.5 * academy[school]
        + u_school[school]
        + u_class[cell]
        + rng.normal(0, 8, n)
    )
    return {
        "school": school.astype(np.int64) + 1,
        "class": (cell % classes).astype(np.int64) + 1,  # 1..classes again in every school
        "score": np.round(score, 2),
        "prior": prior,
        "fsm": fsm,
        "academy": academy[school],
    }


def write_csv(path: Path, schools: int, classes: int, pupils: int, seed: int = 22) -> None:
    """A balanced file: every class has `pupils` pupils."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    effects = _effects(rng, schools, classes)
    cell = np.repeat(np.arange(schools * classes), pupils)
    pd.DataFrame(_rows(rng, cell, classes, effects)).to_csv(path, index=False)


def write_lake(
    directory: Path, schools: int, classes: int, pupils: int, parts: int = 10, seed: int = 22
) -> None:
    """`parts` Parquet files generated one at a time (memory stays at one part); each row's class
    drawn at random, so a class's pupils are spread over every part, as in an append-only lake."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    effects = _effects(rng, schools, classes)
    n_rows = schools * classes * pupils
    directory.mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        n = n_rows // parts + (1 if part < n_rows % parts else 0)
        cell = rng.integers(0, schools * classes, n)
        pq.write_table(
            pa.table(_rows(rng, cell, classes, effects)), directory / f"part-{part:04d}.parquet"
        )


def _config(tmp: Path, data: str, name: str) -> Path:
    config = tmp / f"{name}.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "title": f"Three-level benchmark {name}",
                "data": data,
                "outcome": "score",
                "predictors": COLUMNS[1:],
                "group": ["school", "class"],
                "random_slopes": {"class": ["prior"]},
            }
        )
    )
    return config


def _ours(config: Path, out: Path) -> tuple[float, float, dict]:
    from .bench import _ours as whole_process

    try:
        return whole_process(config, out)
    except SystemExit as failed:  # bench._ours exits with hlm-report's last line
        raise Failed(str(failed)) from None


_R = """
t_start <- proc.time()[["elapsed"]]
suppressMessages(library(lme4)); d <- read.csv("{data}")
d$school <- factor(d$school); d$class <- factor(d$class)
t0 <- proc.time()[["elapsed"]]
ri <- lmer({fixed} + (1 | school) + (1 | school:class), d)
t1 <- proc.time()[["elapsed"]]
rs <- lmer({fixed} + (1 | school) + (1 + prior | school:class), d)
t2 <- proc.time()[["elapsed"]]
cat(sprintf("%.6f", c(t1 - t0, as.numeric(logLik(ri)), t2 - t1, as.numeric(logLik(rs)))), "\\n")
cat(gsub("\\n", " ", c(ri@optinfo$conv$lme4$messages, rs@optinfo$conv$lme4$messages)), sep = "\\n")
"""


def _lme4(data: Path) -> dict | str:
    """lme4's random-intercept and random-slope fits of the CSV in one Rscript process: the lmer
    times (inside R), the whole process (start-up and read.csv included) and the
    log-likelihoods and lme4's convergence warnings; or why there are none."""
    if not shutil.which("Rscript"):
        return "no Rscript on PATH"
    started = time.perf_counter()
    proc = subprocess.run(
        ["Rscript", "-e", _R.format(data=data, fixed=FIXED)], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"Rscript failed: {lines[-1] if lines else proc.returncode}"
    first, *warned = proc.stdout.strip().splitlines()
    t_ri, ll_ri, t_rs, ll_rs = map(float, first.split())
    return {
        "ri": t_ri,
        "ri_loglik": ll_ri,
        "rs": t_rs,
        "rs_loglik": ll_rs,
        "process": elapsed,
        "warned": warned,
    }


_MIXEDLM = """
import sys, pandas as pd, mixedlm
d = pd.read_csv(sys.argv[1])
out = []
for re in ("(1 | school) + (1 | school:class)", "(1 | school) + (1 + prior | school:class)"):
    m = mixedlm.lmer(f"{fixed} + {{re}}", d)
    out.append(float(m.logLik().value))
print(*out)
"""


def _mixedlm(data: Path) -> tuple[float, float, float] | str:
    """The mixedlm package fitting the same two models as one whole process: (seconds, RI
    loglik, RS loglik), or why not."""
    from .bench import run_mixedlm

    return run_mixedlm(_MIXEDLM.format(fixed=FIXED), str(data))


def levels_section(tmp: Path, rows: tuple[int, int, int] = ROWS, repeats: int = REPEATS) -> bool:
    """Prints the three-level comparison; False when hlm-report's fit failed."""
    schools, classes, pupils = rows
    n = schools * classes * pupils
    print(
        f"\nlevels: {n:,} rows, {schools:,} schools x {classes} classes x {pupils} pupils "
        "(class ids repeat in every school)"
    )
    print(f"  model: {FIXED} + (1 | school) + (1 + prior | school:class)")
    data = tmp / f"levels_{n}.csv"
    write_csv(data, schools, classes, pupils)
    config = _config(tmp, str(data), f"levels_{n}")
    # hlm-report and mixedlm alternate, as in the ladder section (a shared machine drifts)
    ours, peaks, rust = [], [], []
    models: dict = {}
    try:
        for _ in range(repeats):
            elapsed, peak, models = _ours(config, tmp / f"levels_out_{n}")
            ours.append(elapsed)
            peaks.append(peak)
            rust.append(_mixedlm(data))
    except Failed as failed:
        print(f"  FAILED: {failed}", flush=True)
        return False
    elapsed = statistics.median(ours)
    rs = models["random_slope"]["loglik"]
    print(
        f"  hlm-report fit (whole ladder, whole process, median of {repeats}): {elapsed:.2f} s, "
        f"peak {max(peaks):.0f} MB; REML loglik RI {models['random_intercept']['loglik']:.3f}, "
        f"RS {rs:.3f}",
        flush=True,
    )
    r = _lme4(data)
    if isinstance(r, str):
        print(f"  lme4: {r}")
    else:
        lmer = r["ri"] + r["rs"]
        print(
            f"  lme4 lmer RI {r['ri']:.2f} s + RS {r['rs']:.2f} s = {lmer:.2f} s (Rscript process "
            f"{r['process']:.2f} s); hlm-report is {lmer / elapsed:.1f}x lme4's lmer time "
            f"(target >= 10x); Δ loglik ours - lme4: "
            f"RI {models['random_intercept']['loglik'] - r['ri_loglik']:.2e}, "
            f"RS {rs - r['rs_loglik']:.2e}",
            flush=True,
        )
        for message in r["warned"]:
            print(f"  lme4 warned: {message}")
    if all(not isinstance(x, str) for x in rust):
        t = statistics.median(x[0] for x in rust)
        _, ri, rs_rust = rust[-1]
        print(
            f"  mixedlm RI+RS (whole process, median of {repeats}) {t:.2f} s (ratio ours/mixedlm "
            f"{elapsed / t:.2f}); Δ loglik ours - mixedlm: "
            f"RI {models['random_intercept']['loglik'] - ri:.2e}, RS {rs - rs_rust:.2e}"
        )
    else:
        print(f"  mixedlm: {next(x for x in rust if isinstance(x, str))}")
    print("  statsmodels: not run (no random slope at an inner nested level; the ladder section")
    print("  also stops it at 50,000 rows)")
    data.unlink()
    return True


def _floor(glob: str) -> float:
    """One DuckDB query computing every per-class product sum of the columns (the numbers the
    engine needs), as a whole process."""
    columns = ["1", *COLUMNS]
    sums = [f"SUM(({a}) * ({b}))" for i, a in enumerate(columns) for b in columns[i:]]
    query = (
        f"SELECT school, class, {', '.join(sums)} FROM read_parquet('{glob}') "
        "GROUP BY school, class"
    )
    code = (
        "import duckdb; con = duckdb.connect(); con.execute('SET enable_progress_bar = false'); "
        f"con.execute({query!r}).fetchall()"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def levels_scale_section(tmp: Path, lakes=LAKES, repeat: int = 1) -> bool:
    """Prints hlm-report fit on three-level Parquet lakes beside the DuckDB floor; False when a
    fit failed."""
    print(
        "\nlevels scale: Parquet parts read by DuckDB (hlm-report fit, whole process; peak RSS); "
        "three levels, class slope of prior"
    )
    if repeat > 1:
        print(f"(medians of {repeat} runs, fit and floor alternating)")
    one, five, _ = os.getloadavg()
    print(f"load average at the start: {one:.1f} (1 min), {five:.1f} (5 min)")
    print(
        f"{'rows':>12} {'schools':>8} {'classes':>8} {'fit s':>7} {'peak MB':>8} {'floor s':>8} "
        f"{'fit/floor':>9}"
    )
    for schools, classes, pupils in lakes:
        n = schools * classes * pupils
        lake = tmp / f"levels_lake_{n}"
        write_lake(lake, schools, classes, pupils)
        glob = f"{lake}/part-*.parquet"
        config = _config(tmp, glob, f"levels_lake_{n}")
        fits, peaks, floors = [], [], []
        try:
            for _ in range(repeat):
                elapsed, peak, _ = _ours(config, tmp / f"levels_lake_out_{n}")
                fits.append(elapsed)
                peaks.append(peak)
                floors.append(_floor(glob))
        except Failed as failed:
            print(f"{n:>12,} FAILED: {failed}", flush=True)
            shutil.rmtree(lake)
            return False
        elapsed, floor = statistics.median(fits), statistics.median(floors)
        print(
            f"{n:>12,} {schools:>8,} {schools * classes:>8,} {elapsed:>7.2f} {max(peaks):>8.0f} "
            f"{floor:>8.2f} {elapsed / floor:>9.1f}  (target <= 3)",
            flush=True,
        )
        shutil.rmtree(lake)
    return True
