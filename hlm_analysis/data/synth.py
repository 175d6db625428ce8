"""Seeded generators of nested data: the shipped `schools.csv` and benchmark data.

`schools()` imitates the seed notebook's mlm2 data (600 students in 20 schools) with the structure
its models assume: school intercepts and school-specific gender gaps, so the random-slope model has
something real to find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def schools(seed: int = 2024, n_schools: int = 20, per_school: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), per_school)
    quality = rng.normal(3.0, 0.8, n_schools)
    intercept = rng.normal(0.0, 2.0, n_schools)
    gender_gap = rng.normal(0.0, 2.5, n_schools)
    male = rng.random(len(school)) < 0.5
    age = rng.uniform(11.0, 18.0, len(school))
    score = (
        55.3
        + 4.5 * quality[school]
        - 0.74 * age
        + intercept[school]
        + (-0.4 + gender_gap[school]) * male
        + rng.normal(0.0, 10.0, len(school))
    )
    return pd.DataFrame(
        {
            "SchoolID": school,
            "StudentID": np.arange(len(school)),
            "SchoolQuality": quality[school].round(6),
            "StudentGender": np.where(male, "Male", "Female"),
            "StudentAge": age.round(6),
            "ExamScore": score.round(6),
        }
    )


def nested(n_rows: int, n_groups: int, seed: int = 1) -> pd.DataFrame:
    """Benchmark data: students in schools with a random intercept and a random slope for ses."""
    rng = np.random.default_rng(seed)
    group = np.sort(rng.integers(0, n_groups, n_rows))
    u0 = rng.normal(0, 0.5, n_groups)
    u1 = 0.3 * u0 + rng.normal(0, 0.2, n_groups)
    ses = rng.normal(0, 1, n_rows) + rng.normal(0, 0.5, n_groups)[group]
    female = rng.random(n_rows) < 0.5
    sector = np.where(rng.random(n_groups) < 0.4, "Catholic", "Public")[group]
    y = (
        12
        + u0[group]
        + (2.0 + u1[group]) * ses
        + 1.2 * female
        + 1.5 * (sector == "Catholic")
        + rng.normal(0, 3, n_rows)
    )
    return pd.DataFrame(
        {
            "school": group,
            "ses": ses.round(5),
            "female": female.astype(int),
            "sector": sector,
            "mathach": y.round(5),
        }
    )


if __name__ == "__main__":
    import sys

    schools().to_csv(sys.argv[1] if len(sys.argv) > 1 else "data/schools.csv", index=False)
