"""Columns of calls as a DataFrame, fast: the findings' half of :func:`graphtrail.frames.to_frame`.

The result is what ``to_frame`` gives (text as ``object`` holding ``str`` or ``None``, times
timezone-aware) but a dictionary-encoded column is turned into Python strings once per
distinct value, not once per call: a million calls of a few thousand principals cost a
numpy take, not a million string objects.

>>> import pyarrow as pa
>>> ips = pa.array(["198.51.100.7", None, "198.51.100.7"]).dictionary_encode()
>>> df = arrow_frame({"ip": pa.chunked_array([ips])})
>>> df["ip"].tolist(), str(df["ip"].dtype)
(['198.51.100.7', None, '198.51.100.7'], 'object')
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from graphtrail.frames import is_text, to_frame

__all__ = ["arrow_frame", "ColumnCache"]


def arrow_frame(columns: dict[str, pa.ChunkedArray]) -> pd.DataFrame:
    """A DataFrame of these (equally long) columns, as :func:`graphtrail.frames.to_frame`."""
    out = {}
    for name, col in columns.items():
        if is_text(col.type):
            out[name] = pd.Series(_objects(col), dtype=object)
        else:
            out[name] = to_frame(pa.table({name: col}))[name]
    return pd.DataFrame(out)


class ColumnCache:
    """Columns turned into numpy once, then any slice of rows is a numpy take.

    ``read(name)`` gives the Arrow column; text becomes an ``object`` array (one Python string
    a distinct value), anything else the values ``to_frame`` gives.
    """

    def __init__(self, read) -> None:
        self.read = read
        self._values: dict[str, object] = {}

    def frame(self, names: list[str], rows: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({n: self._series(n, rows) for n in names})

    def _series(self, name: str, rows: np.ndarray) -> pd.Series:
        if name not in self._values:
            col = self.read(name)
            if is_text(col.type):
                self._values[name] = _objects(col)
            else:  # times stay a tz-aware array (to_numpy would make Timestamp objects)
                self._values[name] = to_frame(pa.table({name: col}))[name].array
        values = self._values[name]
        if isinstance(values, np.ndarray):
            return pd.Series(values[rows], dtype=object)
        return pd.Series(values.take(rows))


def _objects(col: pa.ChunkedArray) -> np.ndarray:
    parts = []
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            values = np.array([*chunk.dictionary.to_pylist(), None], dtype=object)
            idx = chunk.indices
            idx = idx.fill_null(len(values) - 1) if idx.null_count else idx
            parts.append(values[idx.to_numpy(zero_copy_only=False)])
        else:
            parts.append(np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=object))
    return np.concatenate(parts) if parts else np.array([], dtype=object)
