"""`make bench`: how fast, and how close to the optimum, against statsmodels, the mixedlm package
(when installed: the `bench` extra) and lme4 (when R is installed).

Generates seeded nested data at 5,000, 50,000 and 500,000 rows, times `hlm-report fit` (the whole
ladder, as a separate process, start-up and CSV reading included; the median of three runs,
alternating with the mixedlm package's) and its peak memory, fits the
random-intercept and random-slope models with statsmodels MixedLM on the two smaller sizes, and
with lme4 through Rscript where R is installed; prints time ratios and log-likelihood differences.
Then the scale section: seeded Parquet lakes of 5 and 50 million rows (10 parts), `hlm-report fit`
time, CPU time and peak memory (a plain model and the contextual model: group-mean centring, the
group mean, a cross-level interaction) beside the floor, one bare DuckDB query computing the same
per-group sums, with the fit's scans of the data (how many, and the seconds of each);
and 1 million rows fitted with DuckDB and with Spark (local mode), their times and how far their
log-likelihoods and fixed effects are apart. Then binary outcomes (bench_binary.py: 200,000 rows,
logistic RI + RS against glmer and mixedlm). Ends with the warm render time of the hsb2 report in
all three formats.

`python -m hlm_analysis.bench --only scale` (or `make bench BENCH_FLAGS="--only scale"`) runs one
section (ladder, scale, binary or render); `--repeat N` times each scale fit and floor N times,
alternating, and prints medians (the machine may be shared: one run of each can be off by a
factor of two).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from .data import synth
from .data.engines import SCAN_LOG

SIZES = [(5_000, 100), (50_000, 1_000), (500_000, 10_000)]
STATSMODELS_LIMIT = 50_000
# Whole processes on a shared machine vary by tens of percent from run to run: hlm-report and
# the mixedlm package are each timed this many times, alternately, and the medians compared.
REPEATS = 3


def _write(directory: Path, n: int, groups: int) -> Path:
    data = directory / f"nested_{n}.csv"
    synth.nested(n, groups, seed=7).to_csv(data, index=False)
    config = directory / f"nested_{n}.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "title": f"Benchmark {n:,} rows",
                "data": str(data),
                "outcome": "mathach",
                "predictors": ["ses", "female", "sector"],
                "group": "school",
                "random_slopes": ["ses"],
            }
        )
    )
    return config


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _ours_and_mixedlm(config: Path, out: Path):
    """(seconds, peak MB, models) of hlm-report fit and the mixedlm result (or None), each the
    median of REPEATS whole processes run alternately."""
    ours, rust = [], []
    for _ in range(REPEATS):
        ours.append(_ours(config, out))
        rust.append(_mixedlm(config))
    elapsed = _median([t for t, _, _ in ours])
    peak = max(p for _, p, _ in ours)
    mixed = None
    if all(r is not None for r in rust):
        mixed = (_median([r[0] for r in rust]), rust[-1][1], rust[-1][2])
    return elapsed, peak, ours[-1][2], mixed


def _ours(
    config: Path, out: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[float, float, dict]:
    cmd = [
        sys.executable,
        "-c",
        "import resource, sys; from hlm_analysis.cli import main; code = main(sys.argv[1:]); "
        "print('peak-rss-kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
        "sys.exit(code)",
        "fit",
        str(config),
        "--out",
        str(out),
        *extra,
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **env} if env else None
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        # hlm-report's own last line, not the peak line the wrapper prints after it
        said = [s for s in proc.stderr.strip().splitlines() if not s.startswith("peak-rss-kb ")]
        raise SystemExit(f"bench: hlm-report fit failed: {said[-1] if said else proc.returncode}")
    # the last such line (a JVM may write after it); the peak is this process's, not Spark's JVM
    peak = [line for line in proc.stderr.splitlines() if line.startswith("peak-rss-kb ")][-1]
    peak_mb = int(peak.split()[1]) / 1024
    return elapsed, peak_mb, json.loads((out / "results.json").read_text())["models"]


def _statsmodels(config: Path) -> dict[str, tuple[float, float]]:
    import pandas as pd
    import statsmodels.formula.api as smf

    spec = yaml.safe_load(config.read_text())
    frame = pd.read_csv(spec["data"])
    out = {}
    for name, re_formula in (("random_intercept", "1"), ("random_slope", "1 + ses")):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = smf.mixedlm(
                "mathach ~ ses + female + sector",
                frame,
                groups=frame["school"],
                re_formula=re_formula,
            )
            result = model.fit(reml=True)
        out[name] = (time.perf_counter() - started, float(result.llf))
    return out


_R = """
suppressMessages(library(lme4)); d <- read.csv("{data}"); d$school <- factor(d$school)
t0 <- proc.time()[["elapsed"]]; ri <- lmer(mathach ~ ses + female + sector + (1 | school), d)
t1 <- proc.time()[["elapsed"]]; rs <- lmer(mathach ~ ses + female + sector + (1 + ses | school), d)
t2 <- proc.time()[["elapsed"]]
cat(sprintf("%.6f", c(t1 - t0, as.numeric(logLik(ri)), t2 - t1, as.numeric(logLik(rs)))), "\\n")
"""


def _lme4(config: Path) -> dict[str, tuple[float, float]] | None:
    if not shutil.which("Rscript"):
        return None
    data = yaml.safe_load(config.read_text())["data"]
    proc = subprocess.run(["Rscript", "-e", _R.format(data=data)], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    t_ri, ll_ri, t_rs, ll_rs = map(float, proc.stdout.split())
    return {"random_intercept": (t_ri, ll_ri), "random_slope": (t_rs, ll_rs)}


_MIXEDLM = """
import sys, time, pandas as pd, mixedlm
d = pd.read_csv(sys.argv[1])
out = []
for re in ("1", "1 + ses"):
    m = mixedlm.lmer(f"mathach ~ ses + female + sector + ({re} | school)", d)
    out.append(float(m.logLik().value))
print(*out)
"""


def run_mixedlm(script: str, data: str) -> tuple[float, float, float] | str:
    """The mixedlm package (a Rust port of lme4; `pip install '.[bench]'`) running `script` on
    the CSV `data` as one whole process, the script printing the RI and RS logliks:
    (seconds, RI loglik, RS loglik), or why not."""
    import importlib.util

    if importlib.util.find_spec("mixedlm") is None:
        return "not installed (pip install '.[bench]')"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, data], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"cannot fit it ({lines[-1] if lines else proc.returncode})"
    ri, rs = map(float, proc.stdout.split()[-2:])
    return elapsed, ri, rs


def _mixedlm(config: Path) -> tuple[float, float, float] | None:
    """mixedlm fitting RI and RS of the two-level ladder on the config's CSV (None: it cannot)."""
    timed = run_mixedlm(_MIXEDLM, yaml.safe_load(config.read_text())["data"])
    return None if isinstance(timed, str) else timed


def _render_time() -> tuple[float, float]:
    """hsb2 rendered twice in one process: the first render (fit, imports), then the cached
    re-render (the fit reused, the cells run in-process with everything imported)."""
    from .render import render_report

    with tempfile.TemporaryDirectory() as tmp:
        config = Path("report/configs/hsb2.yml")  # make bench runs in the repository root
        started = time.perf_counter()
        render_report(config, output_root=Path(tmp), engine="builtin", progress=lambda m: None)
        first = time.perf_counter() - started
        started = time.perf_counter()
        render_report(config, output_root=Path(tmp), engine="builtin", progress=lambda m: None)
        return first, time.perf_counter() - started


SCALE = [(5_000_000, 20_000), (50_000_000, 20_000)]
SPARK_ROWS = (1_000_000, 20_000)  # Spark against DuckDB (target: within 1e-8 relative)
SCALE_COLUMNS = ["math", "ses", "female", "minority", "sector"]


def _children_cpu() -> float:
    """CPU seconds of the finished child processes so far (user and system): on a shared
    machine a process's CPU time varies far less than its wall time."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass(frozen=True)
class Fit:
    seconds: float
    cpu: float  # CPU seconds, all threads
    peak_mb: float
    models: dict
    scans: list[tuple[str, float]]  # each scan of the data: its label and seconds


def _scanned_fit(config: Path, out: Path, *extra: str) -> Fit:
    """hlm-report fit as a whole process, with the scans of the data it made (HLM_SCAN_LOG)."""
    with tempfile.NamedTemporaryFile("r", suffix=".scans") as log:
        cpu = _children_cpu()
        elapsed, peak, models = _ours(config, out, *extra, env={SCAN_LOG: log.name})
        cpu = _children_cpu() - cpu
        scans = [line.rsplit("\t", 1) for line in log.read().splitlines() if line]
    return Fit(elapsed, cpu, peak, models, [(label, float(s)) for label, s in scans])


def _scan_summary(fits: list[Fit]) -> str:
    """How many scans a fit made, and each one's median seconds over the runs."""
    scans = fits[0].scans
    if any([label for label, _ in f.scans] != [label for label, _ in scans] for f in fits):
        return "scans differ between runs: " + "; ".join(
            ", ".join(label for label, _ in f.scans) for f in fits
        )
    each = [
        f"{label} {statistics.median(f.scans[i][1] for f in fits):.2f} s"
        for i, (label, _) in enumerate(scans)
    ]
    # the rest of the process: start-up, imports, the fits, writing (what no scan explains)
    rest = statistics.median(f.seconds - sum(s for _, s in f.scans) for f in fits)
    return (
        f"{len(scans)} scan{'s' if len(scans) != 1 else ''}: " + ", ".join(each)
        + f"; outside the scans {rest:.2f} s"
    )  # fmt: skip


def _load() -> str:
    """The 1- and 5-minute load averages (2 cores here): how busy the machine was."""
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def _bare_duckdb(glob: str) -> float:
    """The floor: one DuckDB query computing every per-group product sum of the columns (the
    numbers the engine needs), as a whole process."""
    columns = ["1", *SCALE_COLUMNS]
    sums = [f"SUM(({a}) * ({b}))" for i, a in enumerate(columns) for b in columns[i:]]
    query = f"SELECT school, {', '.join(sums)} FROM read_parquet('{glob}') GROUP BY school"
    code = (
        "import duckdb; con = duckdb.connect(); con.execute('SET enable_progress_bar = false'); "
        f"con.execute({query!r}).fetchall()"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


# The contextual model on the same lake: ses centred on its school's mean, the mean as a
# predictor, and a cross-level interaction (its sums follow by algebra, without a join).
CENTRED = {
    "centering": {"ses": "group"},
    "contextual": ["ses"],
    "interactions": ["ses:sector"],
}


def _lake(tmp: Path, n: int, groups: int) -> tuple[Path, Path]:
    lake = tmp / f"lake_{n}"
    synth.write_parquet_parts(lake, n, groups, parts=10)
    return lake, _lake_config(tmp, lake, n)


def _lake_config(tmp: Path, lake: Path, n: int, **extra) -> Path:
    config = tmp / f"lake_{n}{'_centred' if extra else ''}.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "title": f"Scale {n:,} rows",
                "data": f"{lake}/part-*.parquet",
                "outcome": "math",
                "predictors": SCALE_COLUMNS[1:],
                "group": "school",
                "random_slopes": ["ses"],
                **extra,
            }
        )
    )
    return config


def _max_relative_difference(a: dict, b: dict) -> tuple[float, float]:
    """The largest relative difference of the models' log-likelihoods, and of their fixed
    effects, between two results.json `models`."""

    def rel(x: float, y: float) -> float:
        return abs(x - y) / max(abs(x), abs(y), 1e-300)

    loglik = max(rel(a[m]["loglik"], b[m]["loglik"]) for m in a)
    fixed = max(
        rel(fa["estimate"], fb["estimate"])
        for m in a
        for fa, fb in zip(a[m]["fixed_effects"], b[m]["fixed_effects"], strict=True)
    )
    return loglik, fixed


def _scale_section(tmp: Path, sizes=SCALE, repeat: int = 1) -> None:
    print("\nscale: Parquet parts read by DuckDB (hlm-report fit, whole process; peak RSS)")
    print(
        "plain: math ~ ses, female, minority, sector, random slope of ses; contextual: also ses "
        "centred on its school's mean, that mean, and ses:sector"
    )
    if repeat > 1:
        print(f"(medians of {repeat} runs, fit and floor alternating)")
    print(f"load average at the start: {_load()}", flush=True)
    print(
        f"{'rows':>12} {'groups':>7} {'model':>10} {'fit s':>7} {'cpu s':>7} {'peak MB':>8} "
        f"{'floor s':>8} {'cpu s':>7} {'fit/floor':>9} {'cpu/cpu':>8}"
    )
    for n, groups in sizes:
        lake, config = _lake(tmp, n, groups)
        centred = _lake_config(tmp, lake, n, **CENTRED)
        runs: dict[str, list[Fit]] = {"plain": [], "contextual": []}
        floors, floor_cpus = [], []
        for _ in range(repeat):
            runs["plain"].append(_scanned_fit(config, tmp / f"lake_out_{n}"))
            runs["contextual"].append(_scanned_fit(centred, tmp / f"lake_out_{n}_contextual"))
            cpu = _children_cpu()
            floors.append(_bare_duckdb(f"{lake}/part-*.parquet"))
            floor_cpus.append(_children_cpu() - cpu)
        floor, floor_cpu = statistics.median(floors), statistics.median(floor_cpus)
        peak = max(f.peak_mb for fits in runs.values() for f in fits)
        for model, fits in runs.items():
            elapsed = statistics.median(f.seconds for f in fits)
            cpu = statistics.median(f.cpu for f in fits)
            print(
                f"{n:>12,} {groups:>7,} {model:>10} {elapsed:>7.2f} {cpu:>7.2f} {peak:>8.0f} "
                f"{floor:>8.2f} {floor_cpu:>7.2f} {elapsed / floor:>9.2f} {cpu / floor_cpu:>8.2f}",
                flush=True,
            )
        for model, fits in runs.items():
            print(f"{'':>12} {model} fit, {_scan_summary(fits)} (floor: 1 scan)", flush=True)
        print(f"{'':>12} load average after these runs: {_load()}", flush=True)
        shutil.rmtree(lake)
    _spark_line(tmp, *SPARK_ROWS, repeat=repeat)


def _spark_line(tmp: Path, n: int, groups: int, repeat: int = 1) -> None:
    """The same lake fitted with DuckDB and with Spark in local mode (when pyspark and Java are
    there): both times, and how far apart the results are."""
    import importlib.util

    print(f"\nscale: {n:,} rows in {groups:,} groups, DuckDB against Spark (local mode)")
    if importlib.util.find_spec("pyspark") is None or not (
        shutil.which("java") or os.environ.get("JAVA_HOME")
    ):
        print("  Spark not available (pip install '.[spark]' and a Java runtime)")
        return
    lake, config = _lake(tmp, n, groups)
    times: dict[str, list[float]] = {"duckdb": [], "spark": []}
    models = {}
    runs: dict[str, list[Fit]] = {"duckdb": [], "spark": []}
    for _ in range(repeat):
        for engine in times:
            fit = _scanned_fit(config, tmp / f"lake_out_{engine}", "--engine", engine)
            models[engine] = fit.models
            times[engine].append(fit.seconds)
            runs[engine].append(fit)
    loglik, fixed = _max_relative_difference(models["duckdb"], models["spark"])
    duckdb_s, spark_s = (statistics.median(times[e]) for e in ("duckdb", "spark"))
    print(
        f"  fit: DuckDB {duckdb_s:.2f} s, Spark {spark_s:.2f} s; max relative difference: "
        f"log-likelihoods {loglik:.1e}, fixed effects {fixed:.1e} (target 1e-8)",
        flush=True,
    )
    for engine, fits in runs.items():  # Spark: one job per scan
        print(f"  {engine}: {_scan_summary(fits)}", flush=True)
    shutil.rmtree(lake)


SECTIONS = ("ladder", "scale", "levels", "levels-scale", "binary", "render", "profiles")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hlm_analysis.bench", description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="scale section: runs of each fit and floor"
    )
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        help="scale section: lakes of this many rows in 20,000 groups (repeatable; default "
        "5 and 50 million)",
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="levels sections at a hundredth of their size (checks that they run; not timings)",
    )
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)
    failed = []
    print("hlm-report bench (2 cores here; times in seconds, log-likelihoods REML)")
    with tempfile.TemporaryDirectory() as tmp:
        if "ladder" in sections:
            _ladder_section(Path(tmp))
        if "scale" in sections:
            sizes = [(n, 20_000) for n in args.rows] if args.rows else SCALE
            _scale_section(Path(tmp), sizes, repeat=max(args.repeat, 1))
        if "levels" in sections or "levels-scale" in sections:
            from . import bench_levels

            if "levels" in sections:
                rows = (10, 20, 25) if args.small else bench_levels.ROWS
                if not bench_levels.levels_section(Path(tmp), rows):
                    failed.append("levels")
            if "levels-scale" in sections:
                lakes = [(10, 20, 250), (20, 20, 1_250)] if args.small else bench_levels.LAKES
                if not bench_levels.levels_scale_section(
                    Path(tmp), lakes, repeat=max(args.repeat, 1)
                ):
                    failed.append("levels-scale")
        if "binary" in sections:
            from .bench_binary import binary_section  # it reuses _ours from this module

            binary_section(Path(tmp))
    if "profiles" in sections:
        with tempfile.TemporaryDirectory() as tmp:
            _profiles_section(Path(tmp))
    if "render" in sections:
        first, warm = _render_time()
        print(
            f"\nrender of hsb2 (HTML + PDF + Word, one execution): first {first:.1f} s; "
            f"warm, the fit reused (cached re-render): {warm:.1f} s (target < 2 s)"
        )
    if failed:
        print(f"\nbench: FAILED sections: {', '.join(failed)}")
        return 1
    return 0


def _profiles_section(tmp: Path, groups: int = 160) -> None:
    """`hlm-report profiles` for 160 groups as a whole process (issue 23's target: < 60 s),
    on a fitted report of synthetic students in schools with a random slope."""
    import subprocess
    import sys

    import yaml

    from . import layout
    from .data import synth
    from .spec import load_spec

    synth.nested(8_000, groups, seed=23).to_csv(tmp / "profiles.csv", index=False)
    config = tmp / "profiles.yml"
    keys = {
        "title": "Profiles benchmark",
        "data": str(tmp / "profiles.csv"),
        "outcome": "mathach",
        "predictors": ["ses", "female", "sector"],
        "group": "school",
        "random_slopes": ["ses"],
        "unit": "student",
        "group_noun": "school",
    }
    config.write_text(yaml.safe_dump(keys))
    folder = tmp / "_output" / "profiles"
    command = [sys.executable, "-m", "hlm_analysis"]
    subprocess.run(
        [*command, "fit", str(config), "--out", str(folder)], check=True, capture_output=True
    )
    # what `render` would leave: the marker naming this config (no report needed for profiles)
    version = layout.report_version(folder / "results.json")
    inputs = layout.inputs_hash(load_spec(config).to_json())
    (folder / layout.MARKER).write_text(layout.marker_text(folder, config, version, inputs))
    started = time.perf_counter()
    subprocess.run(
        [*command, "profiles", str(config), "--output-root", str(tmp / "_output")],
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    written = len(list((folder / "profiles").glob("*.pdf")))
    print(
        f"\nprofiles: {written} groups (HTML + PDF each, index.json), whole process "
        f"{wall:.1f} s (target < 60 s)"
    )


def _ladder_section(tmp: Path) -> None:
    print()
    header = (
        f"{'rows':>9} {'groups':>7} {'ladder':>7} {'peak MB':>8}  {'model':<17} {'ours':>8} "
        f"{'statsmodels':>11} {'ratio':>6} {'Δ loglik (ours - sm)':>21} {'lme4':>8} {'Δ vs lme4':>10}"
    )
    print(header)
    print("-" * len(header))
    for n, groups in SIZES:
        config = _write(tmp, n, groups)
        elapsed, peak, models, rust = _ours_and_mixedlm(config, tmp / f"out_{n}")
        sm = _statsmodels(config) if n <= STATSMODELS_LIMIT else {}
        r = _lme4(config)
        for i, name in enumerate(("random_intercept", "random_slope")):
            ours_ll = models[name]["loglik"]
            cells = [
                f"{n:>9,}" if i == 0 else " " * 9,
                f"{groups:>7,}" if i == 0 else " " * 7,
                f"{elapsed:>7.2f}" if i == 0 else " " * 7,
                f"{peak:>8.0f}" if i == 0 else " " * 8,
            ]
            line = " ".join(cells) + f"  {name:<17} {ours_ll:>8.1f} "
            if name in sm:
                t, ll = sm[name]
                line += f"{t:>11.2f} {t / elapsed:>6.1f} {ours_ll - ll:>21.2e}"
            else:
                line += f"{'-':>11} {'-':>6} {'-':>21}"
            if r:
                t, ll = r[name]
                line += f" {t:>8.2f} {(ours_ll - ll) / abs(ll):>10.1e}"
            else:
                line += f" {'no R':>8} {'-':>10}"
            print(line, flush=True)
        if r:
            lme4_total = r["random_intercept"][0] + r["random_slope"][0]
            print(
                f"{'':>9} lme4 RI+RS {lme4_total:.2f} s; hlm-report whole ladder {elapsed:.2f} s "
                f"(ratio {elapsed / lme4_total:.3f}: {lme4_total / elapsed:.1f}x lme4's speed)"
            )
        if rust:
            t, ri, rs = rust
            print(
                f"{'':>9} mixedlm RI+RS (whole process, median of {REPEATS}) {t:.2f} s; "
                f"hlm-report whole ladder "
                f"{elapsed:.2f} s (ratio {elapsed / t:.2f}); Δ loglik ours - mixedlm: "
                f"RI {models['random_intercept']['loglik'] - ri:.2e}, "
                f"RS {models['random_slope']['loglik'] - rs:.2e}"
            )
        else:
            print(f"{'':>9} mixedlm not installed (pip install '.[bench]')")
    print(
        "\n'ladder' is one `hlm-report fit` process (median of three): start-up, CSV, OLS, "
        "cluster-robust OLS, null,"
    )
    print("random intercept and random slope (REML, ML refits, Satterthwaite df); 'ratio' is")
    print("statsmodels' time for that one model over the whole ladder's.")


if __name__ == "__main__":
    raise SystemExit(main())
