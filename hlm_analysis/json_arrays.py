"""JSON text of large float arrays, formatted in C++ rather than one float at a time.

results.json holds per-group arrays (random effects, their standard errors, reliabilities, group
lines, group means): at 10,000 groups some 200,000 numbers. json.dumps formats each with
float.__repr__, which took 0.13 s of a 0.8 s fit process. Arrow's cast of float64 to text
writes shortest round-trip digits (they read back bit for bit) for the whole array at once;
numpy then places the digits and the separators. Non-finite values become null, as results.json
writes them everywhere.
"""

from __future__ import annotations

import numpy as np

# Written as text of their own, each four bytes: non-finite values (JSON has none) and -0.0,
# which Arrow writes "-0", an integer to JSON readers, so the sign would be lost.
_NULL = b"null"
_NEGATIVE_ZERO = b"-0.0"


def _digits(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shortest round-trip text of each float: the byte buffer and each text's offset in it
    (len + 1 offsets)."""
    import pyarrow as pa  # loaded by whoever writes results.json large enough to need this

    from .arrow_arrays import float_array

    text = float_array(flat).cast(pa.string())
    _, offsets, data = text.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int32, count=len(flat) + 1).astype(np.int64)
    return np.frombuffer(data, dtype=np.uint8, count=int(offsets[-1])), offsets


def dumps(values: np.ndarray) -> str:
    """A non-empty 1-d or 2-d float array as JSON text: json.dumps(values.tolist()) with NaN and
    infinities as null, a 2-d array as a list of rows."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim not in (1, 2) or values.size == 0:
        raise ValueError("json_arrays.dumps takes a non-empty 1-d or 2-d array")
    flat = np.ascontiguousarray(values).ravel()
    n = len(flat)
    negative_zero = (flat == 0.0) & np.signbit(flat)
    finite = np.isfinite(flat) & ~negative_zero  # those with Arrow's digits
    digits, offsets = _digits(np.where(finite, flat, 1.0))
    length = np.where(finite, np.diff(offsets), 4)
    width = values.shape[1] if values.ndim == 2 else n
    row_end = np.arange(n) % width == width - 1
    # what follows each number: "," within a row, "],[" between rows, "]" or "]]" at the end
    after = np.where(row_end, 3, 1) if values.ndim == 2 else np.ones(n, dtype=np.int64)
    after[-1] = values.ndim
    opening = values.ndim  # "[" or "[["
    ends = opening + np.cumsum(length + after)
    starts = ends - after - length
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    out[:opening] = ord("[")
    # every byte of every finite number's digits, from the buffer to its place
    kept = np.nonzero(finite)[0]
    sizes = length[kept]
    before = np.cumsum(sizes) - sizes  # digits of earlier finite numbers
    byte = np.arange(int(sizes.sum()))
    out[byte + np.repeat(starts[kept] - before, sizes)] = digits[
        byte + np.repeat(offsets[kept] - before, sizes)
    ]
    for text, where in ((_NULL, ~np.isfinite(flat)), (_NEGATIVE_ZERO, negative_zero)):
        for k, char in enumerate(text):
            out[starts[where] + k] = char
    follows = starts + length
    out[follows] = ord(",")
    if values.ndim == 2:
        between = np.nonzero(row_end)[0][:-1]
        out[follows[between]] = ord("]")
        out[follows[between] + 1] = ord(",")
        out[follows[between] + 2] = ord("[")
    out[ends[-1] - values.ndim :] = ord("]")
    return out.tobytes().decode("ascii")
