"""Run hlm-report fit and lme4 on one case and compare (verifier's fuzz harness)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE / "cases"  # scratch output, not committed
HLM = str(HERE.parents[3] / ".venv" / "bin" / "hlm-report")


def split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    i = 0
    while i < len(s):
        c = s[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if depth == 0 and s.startswith(" + ", i):
            out.append(cur.strip())
            cur = ""
            i += 3
            continue
        cur += c
        i += 1
    out.append(cur.strip())
    return out


DUMMY = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\[T\.([^\]]+)\]")


def rname(term: str) -> str:
    return DUMMY.sub(lambda m: f"{m.group(1)}__{re.sub('[^A-Za-z0-9]', '_', m.group(2))}", term)


def parse_formula(f: str):
    lhs, rhs = f.split(" ~ ", 1)
    parts = split_top(rhs)
    fixed = [p for p in parts if not p.startswith("(")]
    rand = [p for p in parts if p.startswith("(")]
    return lhs, fixed, rand


def r_formula(lhs, fixed, rand):
    return f"{lhs} ~ " + " + ".join([rname(t) for t in fixed] + [rname(t) for t in rand])


def rand_level(term: str) -> str:
    grp = term.strip("()").split("|")[-1].strip()
    return grp.split(":")[-1]


def drop_slope(term: str, slope: str) -> str | None:
    inner = term.strip("()")
    bar = "||" if "||" in inner else "|"
    lhs, grp = inner.split(bar)
    vars_ = [v.strip() for v in lhs.split("+")]
    vars_ = [v for v in vars_ if v != slope]
    return f"({' + '.join(vars_)} {bar} {grp.strip()})"


def add_dummies(df: pd.DataFrame, formulas: list[str]) -> pd.DataFrame:
    df = df.copy()
    for f in formulas:
        for m in DUMMY.finditer(f):
            col, lev = m.group(1), m.group(2)
            name = f"{col}__{re.sub('[^A-Za-z0-9]', '_', lev)}"
            if name not in df:
                df[name] = (df[col].astype(str) == lev).astype(float)
                df.loc[df[col].isna(), name] = np.nan
    return df


def run_case(name, df, cfg, id_cols, engine_variants=(), family="gaussian", extra_data=None):
    d = ROOT / name
    d.mkdir(parents=True, exist_ok=True)
    csv = d / "data.csv"
    df.to_csv(csv, index=False)
    cfg = dict(cfg)
    cfg.setdefault("title", name)
    cfg["data"] = str(csv)
    (d / "config.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    rep = {"name": name, "problems": [], "notes": []}
    t0 = time.time()
    p = subprocess.run(
        [HLM, "fit", str(d / "config.yml"), "--out", str(d / "out")], capture_output=True, text=True
    )
    rep["seconds"] = round(time.time() - t0, 2)
    rep["rc"] = p.returncode
    if p.returncode != 0:
        rep["problems"].append(f"fit exit {p.returncode}: {p.stderr.strip()[-600:]}")
        return rep
    res = json.loads((d / "out" / "results.json").read_text())
    rep["final"] = res.get("final_model")
    # engines
    for eng in engine_variants:
        other = compare_engine(d, cfg, eng, df, res)
        rep["problems"] += other
    # R
    models = {k: m for k, m in res["models"].items() if m.get("levels")}
    used = set(id_cols)
    for c in [
        cfg["outcome"],
        *cfg.get("predictors", []),
        *(cfg.get("time") and [cfg["time"]] or []),
    ]:
        used.add(c)
    rdf = df.dropna(subset=[c for c in used if c in df]).copy()
    if family == "binomial" and not pd.api.types.is_numeric_dtype(rdf[cfg["outcome"]]):
        ev = cfg.get("event") or sorted(rdf[cfg["outcome"]].unique())[1]
        rdf[cfg["outcome"]] = (rdf[cfg["outcome"]] == ev).astype(int)
    rdf = add_dummies(rdf, [m["formula"] for m in models.values()])
    jobs = []
    for k, m in models.items():
        lhs, fixed, rand = parse_formula(m["formula"])
        reduced = {}
        if k == "null" or k == res.get("final_model"):
            for t in rand:
                lev = rand_level(t)
                others = [u for u in rand if u is not t]
                reduced[f"{lev}|(Intercept)"] = r_formula(lhs, fixed, others)
                inner = t.strip("()")
                slopes = [v.strip() for v in re.split(r"\|\|?", inner)[0].split("+")][1:]
                for s in slopes:
                    reduced[f"{lev}|{s}"] = r_formula(
                        lhs, fixed, [drop_slope(u, s) if u is t else u for u in rand]
                    )
        jobs.append({"name": k, "formula": r_formula(lhs, fixed, rand), "reduced": reduced})
    rcsv = d / "rdata.csv"
    rdf.to_csv(rcsv, index=False)
    levels = cfg["group"] if isinstance(cfg["group"], list) else [cfg["group"]]
    fin = res.get("final_model")
    job = {
        "csv": str(rcsv),
        "id_cols": list(id_cols),
        "levels": levels,
        "crossed": bool(cfg.get("crossed")),
        "family": family,
        "models": jobs,
        "cr2": {"model": fin, "cluster": levels[0]} if fin in models else None,
    }
    (d / "job.json").write_text(json.dumps(job, ensure_ascii=False))
    t0 = time.time()
    p = subprocess.run(
        ["Rscript", str(HERE / "fit_case.R"), str(d / "job.json"), str(d / "r.json")],
        capture_output=True,
        text=True,
    )
    rep["r_seconds"] = round(time.time() - t0, 2)
    if p.returncode != 0:
        rep["problems"].append("R failed: " + p.stderr[-400:])
        return rep
    rr = json.loads((d / "r.json").read_text())
    if len(rdf) != res["models"]["null"]["n_obs"]:
        rep["problems"].append(f"n_obs ours {res['models']['null']['n_obs']} R-data {len(rdf)}")
    compare(res, rr, rep, levels, bool(cfg.get("crossed")), family)
    return rep


def rel(a, b, floor=0.0):
    return abs(a - b) / max(abs(b), floor, 1e-300)


def compare(res, rr, rep, levels, crossed, family):
    P = rep["problems"]
    for k, rm in rr["models"].items():
        m = res["models"][k]
        if "error" in rm:
            rep["notes"].append(f"{k}: R error {rm['error'][:200]}")
            continue
        conv = [x for x in rm["messages"] if "converge" in x.lower() or "gradient" in x.lower()]
        tag = f"{k}"
        dll = m["loglik"] - rm["loglik"]
        if dll < -1e-4:
            P.append(
                f"{tag}: loglik ours {m['loglik']:.6f} < lme4 {rm['loglik']:.6f} (d={dll:.2e}) R msgs={conv}"
            )
        elif dll > 1e-3:
            rep["notes"].append(
                f"{tag}: ours above lme4 by {dll:.2e} (lme4 msgs {conv}, singular {rm['singular']})"
            )
            continue  # lme4 not at the optimum: the rest is not comparable
        fe = {rname(f["term"]): f for f in m["fixed_effects"]}
        for cn, rc in rm["coefficients"].items():
            f = fe.get(cn)
            if f is None:
                P.append(f"{tag}: coefficient {cn} missing in ours ({list(fe)})")
                continue
            if abs(f["estimate"] - rc["estimate"]) > 0.01 * rc["se"]:
                P.append(
                    f"{tag}: {cn} est {f['estimate']:.6g} vs {rc['estimate']:.6g} ({(f['estimate'] - rc['estimate']) / rc['se']:.3f} SE)"
                )
            if rel(f["std_error"], rc["se"]) > 0.02:
                P.append(f"{tag}: {cn} se {f['std_error']:.6g} vs {rc['se']:.6g}")
            if "df" in rc and rc["df"] is not None and f.get("df") is not None:
                if rel(f["df"], rc["df"]) > 0.01:
                    P.append(f"{tag}: {cn} df {f['df']:.6g} vs {rc['df']:.6g}")
            elif "df" in rc and rc["df"] is not None:
                P.append(f"{tag}: {cn} df missing (R {rc['df']:.4g})")
        # variance components
        tot = sum(v["vcov"] for v in rm["varcorr"] if v["var2"] is None)
        ours = {(v["group"], v["term1"], v["term2"]): v for v in m["variance_components"]}
        for v in rm["varcorr"]:
            g = "Residual" if v["grp"] == "Residual" else v["grp"].split(":")[-1]
            key = (g, v["var1"] if g != "Residual" else None, v["var2"])
            if key[1] is None and g != "Residual":
                key = (g, v["var1"], None)
            o = ours.get(key)
            if o is None:
                if v["var2"] is not None and abs(v["sdcor"]) < 1e-12:
                    continue
                if g == "Residual" and family == "binomial":
                    continue
                P.append(f"{tag}: varcomp {key} missing ({list(ours)[:6]})")
                continue
            if v["var2"] is None:
                if rel(o["estimate"], v["vcov"], floor=1e-3 * tot) > 0.02:
                    P.append(f"{tag}: var {key} {o['estimate']:.6g} vs {v['vcov']:.6g}")
            else:
                if (
                    abs(o["sdcor"] - v["sdcor"]) > 0.02
                    and rel(o["estimate"], v["vcov"], 1e-3 * tot) > 0.02
                ):
                    P.append(f"{tag}: cor {key} {o['sdcor']:.4g} vs {v['sdcor']:.4g}")
        # ML loglik
        if "loglik_ml_refit" in rm and k != "null" and m.get("loglik_ml") is not None:
            pass
        # null: shares & LRT
        if k == "null":
            tau = {}
            for v in rm["varcorr"]:
                if v["var2"] is None:
                    tau["Residual" if v["grp"] == "Residual" else v["grp"].split(":")[-1]] = v[
                        "vcov"
                    ]
            if family == "binomial":
                tau["Residual"] = math.pi**2 / 3
            T = sum(tau.values())
            cum = 0.0
            for L in m["levels"]:
                share = tau.get(L["level"], 0.0) / T
                cum += share
                if (
                    L.get("variance_share") is None
                    or abs(L["variance_share"] - share) > 0.005 + 0.02 * share
                ):
                    P.append(f"null: share {L['level']} {L.get('variance_share')} vs {share:.5f}")
                icc = share if crossed else cum
                if L.get("icc") is None or abs(L["icc"]["estimate"] - icc) > 0.005 + 0.02 * icc:
                    P.append(
                        f"null: icc {L['level']} {L.get('icc') and L['icc']['estimate']} vs {icc:.5f}"
                    )
                lr = rm["lrt"].get(f"{L['level']}|(Intercept)")
                if lr is not None and L.get("lrt") is not None:
                    st = max(lr["statistic"], 0)
                    if abs(L["lrt"]["statistic"] - st) > 0.01 + 0.01 * st:
                        P.append(f"null: LRT {L['level']} {L['lrt']['statistic']:.5g} vs {st:.5g}")
                elif L.get("lrt") is None:
                    P.append(f"null: LRT {L['level']} missing in ours")
        if k == res.get("final_model"):
            for ct in res.get("component_tests") or []:
                lab = f"{ct.get('level')}|{ct['term']}"
                lr = rm["lrt"].get(lab)
                if lr is None:
                    rep["notes"].append(f"component test {lab} not in R")
                    continue
                st = max(lr["statistic"], 0)
                if abs(ct["statistic"] - st) > 0.01 + 0.01 * st:
                    P.append(
                        f"final: component LRT {lab} {ct['statistic']:.5g} vs {st:.5g} (R reduced {lr['formula']})"
                    )
            cr2 = rr.get("cr2")
            if cr2 and "error" not in cr2:
                for cn, rc in cr2.items():
                    f = fe.get(cn)
                    if f is None or f.get("robust_se") is None:
                        rep["notes"].append(f"no robust SE for {cn} in ours")
                        continue
                    if rel(f["robust_se"], rc["se"]) > 0.02:
                        P.append(f"final: CR2 se {cn} {f['robust_se']:.6g} vs {rc['se']:.6g}")
                    if (
                        f.get("robust_df") is not None
                        and rc["df"] is not None
                        and rel(f["robust_df"], rc["df"]) > 0.02
                    ):
                        P.append(f"final: CR2 df {cn} {f['robust_df']:.5g} vs {rc['df']:.5g}")
            elif cr2:
                rep["notes"].append(f"clubSandwich error {cr2['error'][:120]}")


def compare_engine(d, cfg, eng, df, res):
    """Fit again through DuckDB (a Parquet directory) or Spark and compare log-likelihoods."""
    probs = []
    pq = d / f"lake_{eng}"
    pq.mkdir(exist_ok=True)
    half = len(df) // 2
    df.iloc[:half].to_parquet(pq / "a.parquet", index=False)
    df.iloc[half:].to_parquet(pq / "b.parquet", index=False)
    c2 = dict(cfg)
    c2["data"] = str(pq)
    if eng == "spark":
        c2["engine"] = "spark"
    (d / f"config_{eng}.yml").write_text(yaml.safe_dump(c2, allow_unicode=True))
    p = subprocess.run(
        [HLM, "fit", str(d / f"config_{eng}.yml"), "--out", str(d / f"out_{eng}")],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        return [f"{eng}: exit {p.returncode}: {p.stderr.strip()[-400:]}"]
    r2 = json.loads((d / f"out_{eng}" / "results.json").read_text())
    for k, m in res["models"].items():
        m2 = r2["models"].get(k)
        if m2 is None:
            probs.append(f"{eng}: model {k} missing")
            continue
        if abs(m["loglik"] - m2["loglik"]) > 1e-6 * max(1, abs(m["loglik"])):
            probs.append(f"{eng}: {k} loglik {m2['loglik']:.6f} vs memory {m['loglik']:.6f}")
        if m.get("n_obs") != m2.get("n_obs"):
            probs.append(f"{eng}: {k} n_obs {m2.get('n_obs')} vs {m.get('n_obs')}")
    if res.get("final_model") != r2.get("final_model"):
        probs.append(f"{eng}: final model {r2.get('final_model')} vs {res.get('final_model')}")
    return probs


def show(rep):
    print(
        f"== {rep['name']}: rc={rep.get('rc')} ours {rep.get('seconds')}s R {rep.get('r_seconds')}s final={rep.get('final')}"
    )
    for p in rep["problems"]:
        print("   PROBLEM", p)
    for n in rep["notes"]:
        print("   note", n)
    sys.stdout.flush()
