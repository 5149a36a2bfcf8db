"""Columns of calls as DataFrames, fast: the findings' half of :func:`graphtrail.frames.to_frame`.

The result is what ``to_frame`` gives (text as ``object`` holding ``str`` or ``None``, times
timezone-aware) but a dictionary-encoded column is turned into Python strings once per
distinct value, not once per call: a million calls of a few thousand principals cost a
numpy take, not a million string objects.

>>> import numpy as np, pyarrow as pa
>>> ips = pa.chunked_array([pa.array(["198.51.100.7", None, "10.0.0.1"]).dictionary_encode()])
>>> df = ColumnCache({"ip": ips}.get).frame(["ip"], np.array([2, 0, 1]))
>>> df["ip"].tolist(), str(df["ip"].dtype)
(['10.0.0.1', '198.51.100.7', None], 'object')
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from graphtrail.frames import is_text, to_frame

__all__ = ["ColumnCache"]


class ColumnCache:
    """Columns turned into numpy once, then any slice of rows is a numpy take.

    ``read(name)`` gives the Arrow column; text becomes an ``object`` array (one Python string
    a distinct value), anything else the values ``to_frame`` gives.
    """

    def __init__(self, read) -> None:
        self.read = read
        self._values: dict[str, object] = {}
        self._words: dict[str, np.ndarray] = {}

    def frame(self, names: list[str], rows: np.ndarray) -> pd.DataFrame:
        if not names:
            return pd.DataFrame({})
        # one block a column, not one stacked block: a rule's choice of columns of the
        # whole-case frame (a million calls) is then a selection, not a copy of each
        return pd.concat([self._series(n, rows) for n in names], axis=1, keys=names)

    def codes(self, name: str) -> tuple[np.ndarray, list]:
        """(an integer per stored row, -1 where missing; the values they stand for)."""
        col = self.read(name)
        if col.num_chunks == 1 and pa.types.is_dictionary(col.type):
            chunk = col.chunk(0)
            idx = chunk.indices.fill_null(-1) if chunk.indices.null_count else chunk.indices
            return idx.to_numpy(zero_copy_only=False).astype(np.int64), chunk.dictionary.to_pylist()
        codes, values = pd.factorize(pd.Series(_objects(col), dtype=object))
        return codes.astype(np.int64), list(values)

    def _series(self, name: str, rows: np.ndarray) -> pd.Series:
        if name not in self._values:
            col = self.read(name)
            small = len(rows) * 8 < len(col)
            if small and self._one_dictionary(col):  # a small slice: look up only its rows
                idx = col.chunk(0).indices.take(pa.array(rows, pa.int64()))
                return pd.Series(self._lookup(name, col, idx), dtype=object, copy=False)
            if small:  # convert only its rows
                part = col.take(pa.array(rows, pa.int64()))
                if is_text(col.type):
                    return pd.Series(_objects(part), dtype=object)
                return to_frame(pa.table({name: part}))[name]
            if self._one_dictionary(col):
                self._values[name] = self._lookup(name, col, col.chunk(0).indices)
            elif is_text(col.type):
                self._values[name] = _objects(col)
            else:  # times stay a tz-aware array (to_numpy would make Timestamp objects)
                self._values[name] = to_frame(pa.table({name: col}))[name].array
        values = self._values[name]
        # the take is already a fresh array: copy=False spares pandas copying it again
        # (a million calls a column, hundreds of columns over the catalogue)
        if isinstance(values, np.ndarray):
            return pd.Series(values[rows], dtype=object, copy=False)
        return pd.Series(values.take(rows), copy=False)

    @staticmethod
    def _one_dictionary(col: pa.ChunkedArray) -> bool:
        return col.num_chunks == 1 and pa.types.is_dictionary(col.type)

    def _lookup(self, name: str, col: pa.ChunkedArray, idx: pa.Array) -> np.ndarray:
        """Dictionary indices as the Python strings they stand for. The dictionary becomes
        Python once a column: rules ask for small slices of a column again and again, and
        the dictionary of addresses, resources or user agents of a million calls is large."""
        if name not in self._words:
            self._words[name] = np.array([*col.chunk(0).dictionary.to_pylist(), None], dtype=object)
        words = self._words[name]
        idx = idx.fill_null(len(words) - 1) if idx.null_count else idx
        return words[idx.to_numpy(zero_copy_only=False)]


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
