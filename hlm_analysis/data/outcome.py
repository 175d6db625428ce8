"""A yes/no outcome coded 0/1 (config `family: binomial`).

The outcome may be 0/1, true/false or any two-valued text or number column. The value counted
as 1 (the event) is the config's `event:`, else the second value in sorted order (numbers in
numeric order): 1 of 0/1, true of false/true, "yes" of no/yes, as R's factor coding makes it.
Anything that is not exactly two values stops with one line naming the column and its values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..spec import Spec, quoted

if TYPE_CHECKING:  # pandas loads where it is used: the engine path imports it in a thread
    import pandas as pd

SHOWN_VALUES = 5  # values listed in an error message


@dataclass(frozen=True)
class BinaryCoding:
    event: str  # the value counted as 1, as written in the data
    non_event: str


def _written(value) -> str:
    """A value as the user would write it in the config: 1 not 1.0, true not True."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _sort_key(value):
    import pandas as pd

    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return (0, float(number), "") if pd.notna(number) else (1, 0.0, str(value))


def _matches(value, event: str) -> bool:
    if _written(value) == event or str(value) == event:
        return True
    if isinstance(value, bool | np.bool_):
        return event.strip().lower() == _written(value)
    import pandas as pd

    number = pd.to_numeric(pd.Series([event]), errors="coerce").iloc[0]
    try:
        return pd.notna(number) and float(value) == float(number)
    except (TypeError, ValueError):
        return False


def choose_event(spec: Spec, values: list) -> tuple[object, BinaryCoding]:
    """From the outcome's distinct non-missing values (as stored): the value counted as 1, and
    the coding in words; InputError unless there are exactly two."""
    name = quoted(spec.outcome)
    values = sorted(values, key=_sort_key)
    listed = ", ".join(quoted(_written(v)) for v in values[:SHOWN_VALUES])
    if len(values) > SHOWN_VALUES:
        listed += ", ..."
    if len(values) > 2:
        raise InputError(
            f"outcome {name} has {len(values):,} different values ({listed}); "
            "family: binomial needs a yes/no outcome with exactly two"
        )
    if len(values) == 1:
        raise InputError(
            f"outcome {name} has one value only ({listed}); a yes/no outcome needs both"
        )
    if not values:
        raise InputError(f"outcome {name} is missing in every row; nothing left to analyse")
    if spec.event is None:
        event, other = values[1], values[0]
    else:
        hits = [v for v in values if _matches(v, spec.event)]
        if not hits:
            raise InputError(
                f"event: {quoted(spec.event)} does not occur in outcome {name} "
                f"(its values: {listed})"
            )
        event = hits[0]
        other = values[0] if event is values[1] else values[1]
    return event, BinaryCoding(_written(event), _written(other))


def code_binary(spec: Spec, series: pd.Series) -> tuple[pd.Series, BinaryCoding]:
    """The outcome as 1.0 (event), 0.0 or NaN (missing), and which value is which."""
    import pandas as pd

    event, coding = choose_event(spec, list(pd.unique(series.dropna())))
    is_event = (series == event).to_numpy(dtype=bool)
    coded = pd.Series(np.where(series.isna(), np.nan, is_event.astype(float)), index=series.index)
    return coded, coding
