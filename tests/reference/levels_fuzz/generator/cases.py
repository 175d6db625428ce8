"""Awkward but legitimate multilevel datasets and configs."""

from __future__ import annotations

import sys
import traceback

import numpy as np
import pandas as pd
from harness import run_case, show


def nested(
    rng,
    n_outer,
    children,
    names,
    sd_int,
    sigma=1.0,
    x_slope_sd=None,
    beta_x=0.5,
    id_fmt=None,
    x_level=None,
):
    """Rows of a nested design. children[l](rng) = number of children of a group at level l
    (for l < L-1 groups; the last = rows per innermost group). sd_int[l]: random-intercept SD.
    x_slope_sd[l]: SD of a random slope of x at level l. id_fmt[l](i_within_parent, global_i)."""
    L = len(names)
    rows = []

    def rec(level, path, eff_int, eff_slope, gidx):
        n = n_outer if level == 0 else children[level - 1](rng)
        for i in range(n):
            gidx[level] += 1
            ident = id_fmt[level](i, gidx[level]) if id_fmt else f"{names[level][0]}{gidx[level]}"
            u0 = rng.normal(0, sd_int[level])
            u1 = rng.normal(0, (x_slope_sd or {}).get(level, 0.0))
            p = path + [ident]
            if level == L - 1:
                m = children[L - 1](rng)
                for _ in range(m):
                    rows.append((*p, eff_int + u0, eff_slope + u1))
            else:
                rec(level + 1, p, eff_int + u0, eff_slope + u1, gidx)

    rec(0, [], 0.0, 0.0, [0] * L)
    df = pd.DataFrame(rows, columns=[*names, "_u0", "_u1"])
    n = len(df)
    df["x"] = rng.normal(0, 1, n)
    if x_level is not None:
        # x constant within groups of level x_level (a group-level predictor)
        key = df[names[: x_level + 1]].astype(str).agg("/".join, axis=1)
        vals = {k: rng.normal() for k in key.unique()}
        df["x"] = key.map(vals)
    df["y"] = 1.0 + (beta_x + df["_u1"]) * df["x"] + df["_u0"] + rng.normal(0, sigma, n)
    return df.drop(columns=["_u0", "_u1"])


def const(k):
    return lambda rng: k


def pois(lam, lo=1):
    return lambda rng: max(lo, int(rng.poisson(lam)))


def mix(*ks):
    return lambda rng: int(rng.choice(ks))


CASES = {}


def case(f):
    CASES[f.__name__] = f
    return f


@case
def unbalanced3():
    rng = np.random.default_rng(1)
    # schools of 1 class, classes of 1 pupil
    df = nested(rng, 40, [mix(1, 1, 2, 5, 8), mix(1, 1, 2, 3, 20)], ["school", "klass"], [1.0, 0.7])
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {}


@case
def boundary_outer():
    rng = np.random.default_rng(2)
    df = nested(rng, 30, [const(4), const(6)], ["school", "klass"], [0.0, 0.8])
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {}


@case
def boundary_inner():
    rng = np.random.default_rng(3)
    df = nested(rng, 30, [const(4), const(6)], ["school", "klass"], [1.0, 0.0])
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {}


@case
def singular_slope_inner():
    rng = np.random.default_rng(4)
    df = nested(rng, 30, [const(5), const(8)], ["school", "klass"], [1.0, 0.6], x_slope_sd={0: 0.4})
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "random_slopes": {"klass": ["x"], "school": ["x"]},
    }
    return df, cfg, ["school", "klass"], {}


@case
def slope_outer_only():
    rng = np.random.default_rng(5)
    df = nested(rng, 40, [const(4), pois(8)], ["school", "klass"], [1.0, 0.6], x_slope_sd={0: 0.5})
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "random_slopes": {"school": ["x"]},
    }
    return df, cfg, ["school", "klass"], {}


@case
def slopes_two_levels():
    rng = np.random.default_rng(6)
    df = nested(
        rng, 40, [pois(5), pois(10)], ["school", "klass"], [1.0, 0.6], x_slope_sd={0: 0.4, 1: 0.3}
    )
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "random_slopes": {"school": ["x"], "klass": ["x"]},
    }
    return df, cfg, ["school", "klass"], {}


@case
def four_levels():
    rng = np.random.default_rng(7)
    df = nested(
        rng,
        12,
        [pois(3), pois(3), pois(4), pois(2)],
        ["district", "school", "klass", "pupil"],
        [0.8, 0.6, 0.5, 0.7],
    )
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["district", "school", "klass", "pupil"]}
    return df, cfg, ["district", "school", "klass", "pupil"], {"engines": ["duckdb", "spark"]}


@case
def leading_zero_ids():
    rng = np.random.default_rng(8)
    fmt = [lambda i, g: f"{g:04d}", lambda i, g: f"{i + 1:02d}"]
    df = nested(rng, 25, [mix(2, 3, 4), pois(6)], ["school", "klass"], [1.0, 0.6], id_fmt=fmt)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {"engines": ["duckdb", "spark"]}


@case
def zero_vs_nozero_ids():
    rng = np.random.default_rng(9)
    # '01' and '1' are two different classes in one school
    fmt = [lambda i, g: str(g), lambda i, g: ["1", "01", "001", "10"][i]]
    df = nested(rng, 25, [mix(2, 3, 4), pois(6)], ["school", "klass"], [1.0, 0.6], id_fmt=fmt)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {}


@case
def unicode_ids():
    rng = np.random.default_rng(10)
    names_ = [
        "Zürich",
        "Köln",
        "Łódź",
        "東京",
        "Ελλάδα",
        "São Paulo",
        "Ñandú",
        "İzmir",
        "Åre",
        "Ørsted",
        "Škola",
        "école",
        "Ölçek",
        "Þór",
        "Ærø",
        "naïve",
        "Café",
        "Δ",
        "Я",
        "ß",
    ]
    fmt = [lambda i, g: names_[g - 1], lambda i, g: ["α", "β", "γ", "δ", "ε"][i]]
    df = nested(rng, 20, [mix(2, 3, 5), pois(7)], ["school", "klass"], [1.0, 0.6], id_fmt=fmt)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {"engines": ["duckdb", "spark"]}


@case
def missing_level_values():
    rng = np.random.default_rng(11)
    df = nested(rng, 30, [pois(4), pois(6)], ["school", "klass"], [1.0, 0.6])
    df = df.astype({"school": object, "klass": object})
    idx = rng.choice(len(df), 25, replace=False)
    df.loc[idx[:12], "school"] = None
    df.loc[idx[12:], "klass"] = None
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {"engines": ["duckdb", "spark"]}


def growth(rng, n_school, kids, times, sd0=(1.0, 1.5), sd1=(0.3, 0.5), start=3.0, miss=0.2):
    rows = []
    cid = 0
    for s in range(n_school):
        a0, a1 = rng.normal(0, sd0[0]), rng.normal(0, sd1[0])
        for _ in range(kids(rng)):
            cid += 1
            b0, b1 = rng.normal(0, sd0[1]), rng.normal(0, sd1[1])
            for t in times:
                if rng.random() < miss:
                    continue
                rows.append(
                    (
                        f"S{s}",
                        f"C{cid}",
                        t,
                        10 + a0 + b0 + (2 + a1 + b1) * (t - start) + rng.normal(0, 1.0),
                    )
                )
    df = pd.DataFrame(rows, columns=["school", "child", "year", "score"])
    return df


@case
def growth_uneven_time():
    rng = np.random.default_rng(12)
    df = growth(rng, 25, pois(8), [3.0, 3.5, 5.0, 8.0, 8.25])
    df["female"] = (df["child"].str[1:].astype(int) % 2).astype(int)
    cfg = {
        "outcome": "score",
        "time": "year",
        "predictors": ["female"],
        "group": ["school", "child"],
        "random_slopes": {"child": ["year"], "school": ["year"]},
    }
    return df, cfg, ["school", "child"], {"engines": ["duckdb", "spark"]}


@case
def mid_level_predictor():
    rng = np.random.default_rng(13)
    df = nested(rng, 30, [pois(5), pois(8)], ["school", "klass"], [1.0, 0.6])
    key = df["school"].astype(str) + "/" + df["klass"].astype(str)
    size = {k: rng.normal() for k in key.unique()}
    df["teacher_exp"] = key.map(size)
    df["y"] += 0.4 * df["teacher_exp"]
    cfg = {
        "outcome": "y",
        "predictors": ["x", "teacher_exp"],
        "group": ["school", "klass"],
        "random_slopes": {"klass": ["x"]},
        "interactions": ["x:teacher_exp"],
    }
    return df, cfg, ["school", "klass"], {}


@case
def categorical_cross_level():
    rng = np.random.default_rng(14)
    df = nested(rng, 30, [pois(4), pois(9)], ["school", "klass"], [1.0, 0.6], x_slope_sd={1: 0.3})
    n = len(df)
    df["grp3"] = rng.choice(["low", "mid", "high"], n)
    sch = {s: rng.choice(["public", "private"]) for s in df["school"].unique()}
    df["sector"] = df["school"].map(sch)
    df["y"] += (df["grp3"] == "high") * 0.5 + (df["sector"] == "public") * 0.3 * df["x"]
    cfg = {
        "outcome": "y",
        "predictors": ["x", "grp3", "sector"],
        "group": ["school", "klass"],
        "random_slopes": {"klass": ["x"]},
        "interactions": ["x:sector"],
    }
    return df, cfg, ["school", "klass"], {"engines": ["duckdb", "spark"]}


def crossed_data(rng, n1, n2, n, sd=(1.0, 0.7), sparse=None):
    a = rng.integers(0, n1, n)
    if sparse:
        # each primary feeds into a few secondaries only
        feeds = {i: rng.choice(n2, size=min(sparse, n2), replace=False) for i in range(n1)}
        b = np.array([rng.choice(feeds[i]) for i in a])
    else:
        b = rng.integers(0, n2, n)
    ua, ub = rng.normal(0, sd[0], n1), rng.normal(0, sd[1], n2)
    x = rng.normal(0, 1, n)
    y = 2 + 0.5 * x + ua[a] + ub[b] + rng.normal(0, 1, n)
    return pd.DataFrame(
        {"primary": [f"P{i}" for i in a], "second": [f"Q{j}" for j in b], "x": x, "y": y}
    )


@case
def crossed_sparse():
    rng = np.random.default_rng(15)
    df = crossed_data(rng, 120, 25, 1500, sparse=2)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["primary", "second"], "crossed": True}
    return df, cfg, ["primary", "second"], {"engines": ["duckdb", "spark"]}


@case
def crossed_few():
    rng = np.random.default_rng(16)
    df = crossed_data(rng, 60, 3, 900)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["primary", "second"], "crossed": True}
    return df, cfg, ["primary", "second"], {}


@case
def crossed_two_groups():
    rng = np.random.default_rng(17)
    df = crossed_data(rng, 50, 2, 600, sd=(1.0, 0.1))
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["second", "primary"], "crossed": True}
    return df, cfg, ["primary", "second"], {}


@case
def binary_rare():
    rng = np.random.default_rng(18)
    df = nested(rng, 40, [pois(4), pois(12)], ["school", "klass"], [0.8, 0.5])
    eta = -3.5 + 0.6 * df["x"] + (df["y"] - 1 - 0.5 * df["x"]) * 0.7
    df["event"] = (rng.random(len(df)) < 1 / (1 + np.exp(-eta))).astype(int)
    cfg = {
        "outcome": "event",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "family": "binomial",
    }
    return df, cfg, ["school", "klass"], {"family": "binomial"}


@case
def large_ratio():
    rng = np.random.default_rng(19)
    df = nested(rng, 30, [pois(4), pois(8)], ["school", "klass"], [30.0, 0.05], sigma=0.01)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {}


@case
def few_outer():
    rng = np.random.default_rng(20)
    df = nested(rng, 5, [pois(6), pois(10)], ["school", "klass"], [1.0, 0.6], x_slope_sd={1: 0.3})
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "random_slopes": {"klass": ["x"]},
    }
    return df, cfg, ["school", "klass"], {}


@case
def numeric_ids_repeat():
    rng = np.random.default_rng(21)
    fmt = [lambda i, g: str(g * 7), lambda i, g: str(i + 1)]
    df = nested(rng, 30, [mix(3, 4, 5), pois(6)], ["school", "klass"], [1.0, 0.6], id_fmt=fmt)
    df["school"] = df["school"].astype(int)
    df["klass"] = df["klass"].astype(int)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {"engines": ["duckdb", "spark"]}


@case
def tiny_scale_slopes():
    rng = np.random.default_rng(22)
    df = nested(
        rng, 30, [pois(5), pois(8)], ["school", "klass"], [1.0, 0.6], x_slope_sd={0: 0.4, 1: 0.3}
    )
    df["y"] = df["y"] * 1e-3
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "random_slopes": {"school": ["x"], "klass": ["x"]},
    }
    return df, cfg, ["school", "klass"], {}


@case
def huge_scale():
    rng = np.random.default_rng(23)
    df = nested(rng, 30, [pois(5), pois(8)], ["school", "klass"], [1.0, 0.6], x_slope_sd={1: 0.3})
    df["y"] = df["y"] * 1e5 + 1e7
    df["x"] = df["x"] * 1000 + 50000
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "random_slopes": {"klass": ["x"]},
    }
    return df, cfg, ["school", "klass"], {}


@case
def growth_calendar_years():
    rng = np.random.default_rng(24)
    df = growth(rng, 20, pois(10), [2015.0, 2016.0, 2018.0, 2021.0], start=2015.0)
    cfg = {
        "outcome": "score",
        "time": "year",
        "group": ["school", "child"],
        "random_slopes": {"child": ["year"], "school": ["year"]},
    }
    return df, cfg, ["school", "child"], {}


@case
def binary_slopes():
    rng = np.random.default_rng(25)
    df = nested(rng, 35, [pois(4), pois(15)], ["school", "klass"], [0.9, 0.6], x_slope_sd={1: 0.5})
    eta = -0.5 + (df["y"] - 1) * 0.8
    df["pass"] = np.where(rng.random(len(df)) < 1 / (1 + np.exp(-eta)), "yes", "no")
    cfg = {
        "outcome": "pass",
        "predictors": ["x"],
        "group": ["school", "klass"],
        "family": "binomial",
        "random_slopes": {"klass": ["x"]},
    }
    return df, cfg, ["school", "klass"], {"family": "binomial"}


@case
def binary_three_level_few():
    rng = np.random.default_rng(26)
    df = nested(rng, 6, [pois(5), pois(4), pois(6)], ["region", "school", "klass"], [0.5, 0.8, 0.4])
    eta = -1.5 + (df["y"] - 1) * 0.9
    df["event"] = (rng.random(len(df)) < 1 / (1 + np.exp(-eta))).astype(int)
    cfg = {
        "outcome": "event",
        "predictors": ["x"],
        "group": ["region", "school", "klass"],
        "family": "binomial",
    }
    return df, cfg, ["region", "school", "klass"], {"family": "binomial"}


@case
def crossed_slope():
    rng = np.random.default_rng(27)
    df = crossed_data(rng, 40, 12, 1200)
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["primary", "second"],
        "crossed": True,
        "random_slopes": {"second": ["x"]},
    }
    return df, cfg, ["primary", "second"], {}


@case
def four_outer_three_levels():
    rng = np.random.default_rng(28)
    df = nested(
        rng,
        4,
        [pois(6), pois(5), pois(6)],
        ["district", "school", "klass"],
        [0.8, 0.6, 0.4],
        x_slope_sd={1: 0.3},
    )
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["district", "school", "klass"],
        "random_slopes": {"school": ["x"]},
    }
    return df, cfg, ["district", "school", "klass"], {"engines": ["duckdb"]}


@case
def school_level_predictor_slope_outer():
    rng = np.random.default_rng(29)
    df = nested(rng, 25, [pois(4), pois(7)], ["school", "klass"], [1.0, 0.6], x_slope_sd={0: 0.4})
    sch = {s: rng.normal() for s in df["school"].unique()}
    df["z"] = df["school"].map(sch)
    df["y"] += 0.5 * df["z"] + 0.3 * df["z"] * df["x"]
    cfg = {
        "outcome": "y",
        "predictors": ["x", "z"],
        "group": ["school", "klass"],
        "random_slopes": {"school": ["x"]},
        "interactions": ["x:z"],
    }
    return df, cfg, ["school", "klass"], {"engines": ["duckdb"]}


@case
def crossed_but_nested():
    rng = np.random.default_rng(30)
    df = crossed_data(rng, 60, 12, 900, sparse=1)  # each primary feeds one secondary only
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["primary", "second"], "crossed": True}
    return df, cfg, ["primary", "second"], {"engines": ["duckdb"]}


@case
def growth_time_missing():
    rng = np.random.default_rng(31)
    df = growth(rng, 15, pois(8), [0.5, 1.0, 2.5, 4.0])
    idx = rng.choice(len(df), 20, replace=False)
    df.loc[idx, "year"] = np.nan
    cfg = {
        "outcome": "score",
        "time": "year",
        "group": ["school", "child"],
        "random_slopes": {"child": ["year"]},
    }
    return df, cfg, ["school", "child"], {"engines": ["duckdb"]}


@case
def float_ids():
    rng = np.random.default_rng(32)
    fmt = [lambda i, g: f"{g}.5", lambda i, g: f"{i + 1}.0"]
    df = nested(rng, 20, [mix(2, 3), pois(6)], ["school", "klass"], [1.0, 0.6], id_fmt=fmt)
    cfg = {"outcome": "y", "predictors": ["x"], "group": ["school", "klass"]}
    return df, cfg, ["school", "klass"], {"engines": ["duckdb"]}


@case
def three_level_slopes_everywhere():
    rng = np.random.default_rng(33)
    df = nested(
        rng,
        15,
        [pois(4), pois(4), pois(8)],
        ["district", "school", "klass"],
        [0.8, 0.6, 0.4],
        x_slope_sd={0: 0.3, 1: 0.3, 2: 0.3},
    )
    cfg = {
        "outcome": "y",
        "predictors": ["x"],
        "group": ["district", "school", "klass"],
        "random_slopes": {"district": ["x"], "school": ["x"], "klass": ["x"]},
    }
    return df, cfg, ["district", "school", "klass"], {}


@case
def binary_calendar_slope():
    rng = np.random.default_rng(34)
    df = growth(rng, 25, pois(12), [2016.0, 2017.0, 2018.0, 2019.0, 2020.0], start=2018.0, miss=0.1)
    eta = -0.5 + (df["score"] - 10) * 0.5
    df["event"] = (rng.random(len(df)) < 1 / (1 + np.exp(-eta))).astype(int)
    df = df.drop(columns=["score"])
    cfg = {
        "outcome": "event",
        "time": "year",
        "group": ["school", "child"],
        "family": "binomial",
        "random_slopes": {"school": ["year"]},
    }
    return df, cfg, ["school", "child"], {"family": "binomial"}


if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    for nm in names:
        try:
            df, cfg, ids, opts = CASES[nm]()
            rep = run_case(
                nm,
                df,
                cfg,
                ids,
                engine_variants=opts.get("engines", ()),
                family=opts.get("family", "gaussian"),
            )
        except Exception:  # noqa: BLE001 (a harness error is reported, the run goes on)
            print("== HARNESS ERROR", nm, traceback.format_exc()[-800:])
            continue
        show(rep)
