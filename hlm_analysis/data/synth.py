"""Seeded generators of nested data: the shipped `schools.csv` and benchmark data.

`schools()` imitates the seed notebook's mlm2 data (600 students in 20 schools) with the structure
its models assume: school intercepts and school-specific gender gaps, so the random-slope model has
something real to find.
"""

from __future__ import annotations

from pathlib import Path

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


def graduation(seed: int = 2026, n_schools: int = 40) -> pd.DataFrame:
    """On-time graduation (yes/no) of students in high schools of varying size: school
    intercepts (SD 0.7 on the log-odds scale) and school-specific effects of absences (SD 0.06),
    a school-level mentoring programme and a student-level free-lunch indicator."""
    rng = np.random.default_rng(seed)
    size = rng.integers(30, 110, n_schools)
    school = np.repeat(np.arange(n_schools), size)
    mentoring = rng.random(n_schools) < 0.45
    intercept = rng.normal(0.0, 0.7, n_schools)
    absence_effect = rng.normal(0.0, 0.06, n_schools)
    n = len(school)
    free_lunch = rng.random(n) < 0.25 + 0.3 * rng.random(n_schools)[school]
    absences = rng.gamma(2.0, 4.0, n).round()
    eta = (
        1.6
        + intercept[school]
        + (-0.11 + absence_effect[school]) * (absences - 8)
        + 0.45 * mentoring[school]
        - 0.55 * free_lunch
    )
    graduated = rng.random(n) < 1 / (1 + np.exp(-eta))
    return pd.DataFrame(
        {
            "School": [f"HS-{s + 101}" for s in school],
            "StudentID": np.arange(n) + 5001,
            "Mentoring": np.where(mentoring[school], "yes", "no"),
            "FreeLunch": np.where(free_lunch, "yes", "no"),
            "Absences": absences.astype(int),
            "Graduated": np.where(graduated, "yes", "no"),
        }
    )


def nested_binary(n_rows: int, n_groups: int, seed: int = 3) -> pd.DataFrame:
    """Benchmark data for logistic models: a random intercept and a random slope for ses."""
    rng = np.random.default_rng(seed)
    group = np.sort(rng.integers(0, n_groups, n_rows))
    u0 = rng.normal(0, 0.6, n_groups)
    u1 = rng.normal(0, 0.25, n_groups)
    ses = rng.normal(0, 1, n_rows) + rng.normal(0, 0.5, n_groups)[group]
    female = rng.random(n_rows) < 0.5
    sector = np.where(rng.random(n_groups) < 0.4, "Catholic", "Public")[group]
    eta = 0.3 + u0[group] + (0.8 + u1[group]) * ses + 0.3 * female + 0.4 * (sector == "Catholic")
    return pd.DataFrame(
        {
            "school": group,
            "ses": ses.round(5),
            "female": female.astype(int),
            "sector": sector,
            "passed": (rng.random(n_rows) < 1 / (1 + np.exp(-eta))).astype(int),
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


def write_parquet_parts(
    directory: Path, n_rows: int, n_groups: int, parts: int = 10, seed: int = 7
) -> list[Path]:
    """A data lake for the scale benchmark: `parts` Parquet files (part-0000.parquet, ...) of
    students in schools, six numeric columns, generated one part at a time so memory stays at
    one part. A school's students are spread over every part, as in an append-only lake. The
    model: a random intercept and a random slope for ses, school-level sector and a 0/1 female."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    u0 = rng.normal(0, 0.5, n_groups)
    u1 = 0.3 * u0 + rng.normal(0, 0.2, n_groups)
    school_ses = rng.normal(0, 0.5, n_groups)
    catholic = (rng.random(n_groups) < 0.4).astype(float)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for part in range(parts):
        n = n_rows // parts + (1 if part < n_rows % parts else 0)
        group = rng.integers(0, n_groups, n)
        ses = rng.normal(0, 1, n) + school_ses[group]
        female = (rng.random(n) < 0.5).astype(float)
        minority = (rng.random(n) < 0.3).astype(float)
        y = (
            12
            + u0[group]
            + (2.0 + u1[group]) * ses
            + 1.2 * female
            - 0.8 * minority
            + 1.5 * catholic[group]
            + rng.normal(0, 3, n)
        )
        table = pa.table(
            {
                "school": group.astype(np.int64),
                "math": y,
                "ses": ses,
                "female": female,
                "minority": minority,
                "sector": catholic[group],
            }
        )
        path = directory / f"part-{part:04d}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths


SHIPPED = {"schools": schools, "graduation": graduation}

if __name__ == "__main__":
    import sys

    # python -m hlm_analysis.data.synth PATH [schools|graduation]
    which = sys.argv[2] if len(sys.argv) > 2 else "schools"
    SHIPPED[which]().to_csv(sys.argv[1] if len(sys.argv) > 1 else f"data/{which}.csv", index=False)
