import sys
import traceback

import numpy as np
from cases import mix, nested, pois
from harness import run_case, show


def random_case(seed):
    rng = np.random.default_rng(1000 + seed)
    L = int(rng.choice([2, 2, 3, 3, 4]))
    names = ["a_lvl", "b_lvl", "c_lvl", "d_lvl"][:L]
    n_outer = int(rng.choice([5, 8, 15, 30, 60]))
    kids = []
    for _ in range(L - 1):
        kids.append(mix(*[int(v) for v in rng.choice([1, 2, 3, 4, 6, 10], 3)]))
    kids.append(pois(float(rng.choice([1, 2, 4, 8, 20])), lo=1))
    sd = [float(rng.choice([0.0, 0.1, 0.5, 1.0, 3.0])) for _ in range(L)]
    slopes = {}
    cfg_slopes = {}
    for lv in range(L):
        if rng.random() < 0.35:
            slopes[lv] = float(rng.choice([0.0, 0.2, 0.6]))
            cfg_slopes[names[lv]] = ["x"]
    df = nested(
        rng, n_outer, kids, names, sd, sigma=float(rng.choice([0.3, 1.0, 2.0])), x_slope_sd=slopes
    )
    df["x"] = df["x"] * float(rng.choice([1, 10, 0.1])) + float(rng.choice([0, 0, 5]))
    df["w"] = rng.normal(size=len(df))
    cfg = {"outcome": "y", "predictors": ["x", "w"], "group": names}
    if cfg_slopes:
        cfg["random_slopes"] = cfg_slopes
    if rng.random() < 0.3:
        cfg["interactions"] = ["x:w"]
    return df, cfg, names


if __name__ == "__main__":
    for s in [int(v) for v in sys.argv[1:]]:
        try:
            df, cfg, names = random_case(s)
            rep = run_case(f"rand{s}", df, cfg, names)
            rep["name"] += f" L={len(names)} n={len(df)} slopes={cfg.get('random_slopes')}"
            show(rep)
        except Exception:  # noqa: BLE001 (a harness error is reported, the run goes on)
            print("HARNESS", s, traceback.format_exc()[-500:])
