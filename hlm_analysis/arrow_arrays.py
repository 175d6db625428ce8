"""Arrays into and out of Arrow through their buffers.

pa.array() asks pandas whether its argument is a Series, and Array.to_numpy() asks it how to
convert: either imports pandas, 0.3 s of a `hlm-report fit` process that otherwise needs none.
Numbers and text cross by their buffers instead (reading clean files, writing rows.parquet,
formatting results.json's large arrays).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def float_array(values: np.ndarray) -> pa.Array:
    """A numpy column of numbers as an Arrow float64 array (no missing values)."""
    numbers = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(numbers), [None, pa.py_buffer(numbers)])


def text_array(values) -> pa.Array:
    """Any sequence of values as an Arrow string array of their text."""
    encoded = [str(text).encode() for text in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    if offsets[-1] >= 2**31:  # beyond 32-bit offsets
        raise ValueError("arrow_arrays.text_array: text columns hold under 2 GB")
    return pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))],
    )


def numbers(array: pa.Array, kind: pa.DataType | None = None):
    """The values of a fixed-width Arrow array (cast to `kind` first) as numpy, integers widened
    to int64 or uint64 (ids keep their values past 2**63), and where they are valid (None when
    none is missing)."""
    if kind is not None:
        array = array.cast(kind, safe=False)  # integers beyond 2**53 round, as in pandas
    dtype = np.dtype(array.type.to_pandas_dtype())
    validity, data = array.buffers()
    values = np.frombuffer(data, dtype=dtype, count=array.offset + len(array))[array.offset :]
    wide = {"i": np.int64, "u": np.uint64}.get(dtype.kind)
    values = values if wide is None else values.astype(wide)
    if not array.null_count:
        return values, None
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    return values, bits[array.offset : array.offset + len(array)].astype(bool)
