"""Small multilevel configs for the command tests (issue 22): cut from the shipped example data,
so every command runs on the shapes users have in a few seconds.

- `pupils`: pupils in classes in schools (class ids 1-6 repeat in every school), a class-level
  random slope, a school-level lever; 12 schools.
- `growth`: test scores in children in schools (`time: year`, slopes at both levels); 8 schools.
- `crossed`: pupils in primary x secondary schools (`crossed: true`); 6 secondary schools.
- `binary`: the pupils data with a yes/no outcome (`passed`, score >= 50), nested levels.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from helpers import write_config

DATA = Path(__file__).parent.parent / "data"
CONFIGS = ("pupils", "growth", "crossed", "binary")


def _pupils(root: Path, schools: int = 12) -> Path:
    frame = pd.read_csv(DATA / "pupils.csv", dtype={"school": str, "class": str})
    keep = sorted(frame["school"].unique())[:schools]
    frame = frame[frame["school"].isin(keep)].copy()
    frame["passed"] = (frame["score"] >= 50).map({True: "yes", False: "no"})
    path = root / f"pupils_{schools}.csv"
    frame.to_csv(path, index=False)
    return path


def write(root: Path, which: str, name: str | None = None, schools: int = 12, **extra) -> Path:
    """Write the data and config of one small multilevel example into `root` (`schools`: how
    many schools the pupils examples keep)."""
    name = name or which
    if which == "pupils":
        keys = dict(
            data=_pupils(root, schools),
            outcome="score",
            predictors=["prior", "fsm", "sector"],
            group=["school", "class"],
            random_slopes={"class": ["prior"]},
            unit="pupil",
            group_noun={"school": "school", "class": "class"},
            levers=["sector"],
            labels={"score": "Attainment score", "prior": "Prior attainment"},
            profiles={"min_size": 10},
        )
    elif which == "binary":
        keys = dict(
            data=_pupils(root, schools),
            outcome="passed",
            family="binomial",
            event="yes",
            predictors=["prior", "fsm"],
            group=["school", "class"],
            unit="pupil",
            group_noun={"school": "school", "class": "class"},
            event_label="passed",
            labels={"passed": "Passed", "prior": "Prior attainment"},
        )
    elif which == "growth":
        frame = pd.read_csv(DATA / "egsingle.csv", dtype={"schoolid": str, "childid": str})
        keep = sorted(frame["schoolid"].unique())[:8]
        path = root / "growth_small.csv"
        frame[frame["schoolid"].isin(keep)].to_csv(path, index=False)
        keys = dict(
            data=path,
            outcome="math",
            time="year",
            predictors=["year", "lowinc"],
            group=["schoolid", "childid"],
            random_slopes={"childid": ["year"], "schoolid": ["year"]},
            unit="test score",
            group_noun={"schoolid": "school", "childid": "child"},
            labels={"math": "Mathematics score", "year": "Year"},
        )
    elif which == "crossed":
        frame = pd.read_csv(DATA / "scotssec.csv", dtype={"primary": str, "second": str})
        seconds = sorted(frame["second"].unique(), key=int)[:6]
        path = root / "crossed_small.csv"
        frame[frame["second"].isin(seconds)].to_csv(path, index=False)
        keys = dict(
            data=path,
            outcome="attain",
            predictors=["verbal", "sex"],
            group=["primary", "second"],
            crossed=True,
            unit="pupil",
            group_noun={"primary": "primary school", "second": "secondary school"},
            labels={"attain": "Attainment at 16", "verbal": "Verbal reasoning"},
            profiles={"min_size": 5},
        )
    else:
        raise ValueError(which)
    keys.update(title=f"Small {which} example", **extra)
    return write_config(root, name, **keys)
