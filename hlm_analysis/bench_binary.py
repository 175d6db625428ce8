"""`make bench`, binary outcomes: 200,000 rows in 4,000 groups, a logistic random intercept and
random slope, timed as whole processes on the same CSV: `hlm-report fit` (the whole binomial
ladder) against glmer's two fits (lme4, where R is installed) and the mixedlm package's glmer
(the `bench` extra). Prints the ratios and the marginal log-likelihood differences.

Runs on its own with `python -m hlm_analysis.bench_binary`.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .bench import _ours
from .data import synth

SIZE = (200_000, 4_000)
FORMULAS = {
    "random_intercept": "passed ~ ses + female + sector + (1 | school)",
    "random_slope": "passed ~ ses + female + sector + (1 + ses | school)",
}

_R = """
suppressMessages(library(lme4)); d <- read.csv("{data}"); d$school <- factor(d$school)
t0 <- proc.time()[["elapsed"]]
ri <- glmer({ri}, d, family = binomial)
t1 <- proc.time()[["elapsed"]]
rs <- glmer({rs}, d, family = binomial)
t2 <- proc.time()[["elapsed"]]
cat(sprintf("%.6f", c(t1 - t0, as.numeric(logLik(ri)), t2 - t1, as.numeric(logLik(rs)))), "\\n")
"""

_MIXEDLM = """
import sys, pandas as pd, mixedlm
d = pd.read_csv(sys.argv[1])
out = [float(mixedlm.glmer(f, d, family=mixedlm.families.Binomial()).logLik().value)
       for f in sys.argv[2:]]
print(*out)
"""


def _write(directory: Path, n: int, groups: int) -> Path:
    data = directory / f"binary_{n}.csv"
    synth.nested_binary(n, groups).to_csv(data, index=False)
    config = directory / f"binary_{n}.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "title": f"Binary benchmark {n:,} rows",
                "data": str(data),
                "outcome": "passed",
                "family": "binomial",
                "predictors": ["ses", "female", "sector"],
                "group": "school",
                "random_slopes": ["ses"],
            }
        )
    )
    return config


def _glmer(data: Path) -> tuple[float, float, float, float] | None:
    """glmer's RI and RS fit times (inside R, reading excluded) and log-likelihoods."""
    if not shutil.which("Rscript"):
        return None
    script = _R.format(data=data, ri=FORMULAS["random_intercept"], rs=FORMULAS["random_slope"])
    proc = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    t_ri, ll_ri, t_rs, ll_rs = map(float, proc.stdout.split())
    return t_ri, ll_ri, t_rs, ll_rs


def _mixedlm(data: Path) -> tuple[float, float, float] | None:
    if importlib.util.find_spec("mixedlm") is None:
        return None
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MIXEDLM, str(data), *FORMULAS.values()],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        return None
    ri, rs = map(float, proc.stdout.split()[-2:])
    return elapsed, ri, rs


def binary_section(tmp: Path, size: tuple[int, int] = SIZE) -> None:
    n, groups = size
    print(f"\nbinary outcome: {n:,} rows in {groups:,} groups, logistic RI + RS (Laplace)")
    config = _write(tmp, n, groups)
    data = Path(yaml.safe_load(config.read_text())["data"])
    elapsed, peak, models = _ours(config, tmp / f"binary_out_{n}")
    ours = {name: models[name]["loglik"] for name in FORMULAS}
    print(f"  hlm-report fit (whole binomial ladder, one process): {elapsed:.2f} s, {peak:.0f} MB")
    r = _glmer(data)
    if r:
        t_ri, ll_ri, t_rs, ll_rs = r
        print(
            f"  glmer RI {t_ri:.2f} s + RS {t_rs:.2f} s = {t_ri + t_rs:.2f} s "
            f"(ratio glmer / hlm-report {(t_ri + t_rs) / elapsed:.1f}x, target >= 3x); "
            f"Δ loglik ours - glmer: RI {ours['random_intercept'] - ll_ri:.2e}, "
            f"RS {ours['random_slope'] - ll_rs:.2e}"
        )
    else:
        print("  glmer: R with lme4 not installed")
    rust = _mixedlm(data)
    if rust:
        t, ri, rs = rust
        print(
            f"  mixedlm glmer RI + RS (whole process) {t:.2f} s (ratio {t / elapsed:.1f}x); "
            f"Δ loglik ours - mixedlm: RI {ours['random_intercept'] - ri:.2e}, "
            f"RS {ours['random_slope'] - rs:.2e}"
        )
    else:
        print("  mixedlm: not installed or failed (pip install '.[bench]')")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        binary_section(Path(folder))
