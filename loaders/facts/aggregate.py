"""Streaming and aggregating calls into edges, in Arrow, with bounded memory.

* :func:`prefetch` reads the next batch in a thread while one is processed;
  :func:`rebatch` groups small record batches into ~``BATCH_ROWS`` rows.
* :class:`EdgeFold` folds batches of calls into edges (src, dst, kind) with first and
  last seen, a count, up to EVIDENCE_CAP eventIDs and the event names: integers in numpy
  arrays, without a Python object (or a string) per edge.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.arrays import distinct
from graphtrail.background import prefetch
from graphtrail.model import EVIDENCE_CAP, EdgeKind, edge_schema

__all__ = ["BATCH_ROWS", "EDGE_SLICE", "PARTIALS_BYTES", "prefetch", "rebatch", "Codes", "EdgeFold", "trim_heap"]

_TS = pa.timestamp("us", tz="UTC")

BATCH_ROWS = 131_072
EDGE_SLICE = 65_536  # edges turned into strings (and written) at a time
PARTIALS_BYTES = 32 << 20  # fold partial edges once they hold this much


def trim_heap() -> None:
    """Give the heap pages malloc holds free back to the system (glibc's ``malloc_trim``):
    numpy's temporaries of a fold otherwise stay resident after they are freed. A no-op
    where there is no glibc."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        lib.malloc_trim.argtypes = [ctypes.c_size_t]
        return lib
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def rebatch(batches: Iterator[pa.RecordBatch], rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """Group small record batches into tables of about ``rows`` rows (fewer, larger steps)."""
    pending: list[pa.RecordBatch] = []
    n = 0
    for b in batches:
        pending.append(b)
        n += b.num_rows
        if n >= rows:
            yield pa.Table.from_batches(pending)
            pending, n = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


class Codes:
    """Strings <-> dense integer codes (node ids, event names); as many as distinct strings."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def encode(self, arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The code of each string (int64; -1 for null), new strings given the next codes."""
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        enc = arr.dictionary_encode()
        index, values = self.index, self.values
        mapped = np.empty(len(enc.dictionary) + 1, dtype=np.int64)
        mapped[-1] = -1  # null
        for i, v in enumerate(enc.dictionary.to_pylist()):
            c = index.get(v)
            if c is None:
                c = index[v] = len(values)
                values.append(v)
            mapped[i] = c
        idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return mapped[idx]

    def decode(self, codes: np.ndarray) -> pa.Array:
        return pa.array(self.values, pa.string()).take(pa.array(codes, mask=codes < 0))


_KINDS = [k.value for k in EdgeKind]
_NODE_BITS = 28  # codes of src and dst packed into one int64 key with the kind
_FIELDS = ("key", "first", "last", "count", "ev_len", "ev", "nm_len", "nm")



class EdgeFold:
    """Calls folded into edges (src, dst, kind) with first and last seen, a count, up to
    EVIDENCE_CAP evidence rows and the distinct event names, in numpy arrays of integers.

    Node ids and event names are integer codes; evidence is the call's row number in the
    stream (its eventID is looked up once at the end, :meth:`table`). A few tens of bytes
    an edge, so the fold stays a fraction of the graph it builds, whatever the number of
    events. Edges are listed in order of first appearance: batch by batch, in the order
    ``add`` was called, and within a call in the order of Arrow's grouping. Event names are
    each listed once: within a batch as Arrow's ``distinct`` lists them, then in order of
    first appearance (no longer as a second ``distinct`` over all the batches happened to).
    """

    def __init__(self, budget: int = PARTIALS_BYTES) -> None:
        self.nodes, self.names = Codes(), Codes()
        self.parts: list[dict[str, np.ndarray]] = []
        self.budget = budget
        self._pending = 0  # bytes added since the last fold (0: one row per edge already)

    def add(self, t: pa.Table, src: str, dst: str, kind: EdgeKind) -> None:
        """Fold the rows of ``t`` (``src``, ``dst``, time, row, event_id, event_name)."""
        if not t.num_rows:
            return
        agg = t.group_by([src, dst], use_threads=False).aggregate([
            ("time", "min"), ("time", "max"), ("event_id", "count"),
            ("row", "list"), ("event_name", "distinct"),
        ])
        s, d = self.nodes.encode(agg.column(src)), self.nodes.encode(agg.column(dst))
        if len(self.nodes.values) >= (1 << _NODE_BITS) - 1:
            raise OverflowError(f"more than {1 << _NODE_BITS} nodes in one graph")
        ev = pc.list_slice(agg.column("row_list").combine_chunks(), 0, EVIDENCE_CAP)
        nm = agg.column("event_name_distinct").combine_chunks()
        part = {
            "key": ((s + 1) << (_NODE_BITS + 4)) | ((d + 1) << 4) | _KINDS.index(kind.value),
            "first": _ints(agg.column("time_min")), "last": _ints(agg.column("time_max")),
            "count": _ints(agg.column("event_id_count")),
            "ev_len": _lengths(ev), "ev": _row_numbers(_ints(pc.list_flatten(ev))),
            "nm_len": _lengths(nm), "nm": self.names.encode(pc.list_flatten(nm)).astype(np.int32),
        }
        self.parts.append(part)
        self._pending += sum(a.nbytes for a in part.values())
        if self._pending > self.budget:
            self.fold()

    def fold(self) -> None:
        """Merge the parts into one row per edge, in the order of the class docstring."""
        if self._fold():
            trim_heap()  # once the fold's temporaries are gone

    def _fold(self) -> bool:
        if not self._pending:
            return False
        cat = {f: np.concatenate([p[f] for p in self.parts]) for f in _FIELDS}
        self.parts = []
        # The parts are in order of appearance (the folded one first), so a key's first row
        # is its first appearance: each edge is listed there (see the class), its rank.
        _, earliest, inv = np.unique(cat["key"], return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        order = np.argsort(earliest)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        gid = rank[inv]
        groups = len(order)
        by = np.argsort(gid, kind="stable")  # the rows by edge, each edge's in row order
        gid = gid[by]
        starts = np.flatnonzero(np.r_[True, np.diff(gid) != 0])
        heads = by[starts]
        ev_len, ev = _first_items(cat.pop("ev_len"), cat.pop("ev"), by, gid, starts, EVIDENCE_CAP)
        nm_len, nm = _distinct_items(cat.pop("nm_len"), cat.pop("nm"), by, gid, groups)
        self.parts = [{
            "key": cat["key"][heads],
            "first": np.minimum.reduceat(cat["first"][by], starts),
            "last": np.maximum.reduceat(cat["last"][by], starts),
            "count": np.add.reduceat(cat["count"][by], starts),
            "ev_len": ev_len, "ev": ev, "nm_len": nm_len, "nm": nm,
        }]
        self._pending = 0
        return True

    def table(self, event_ids: Callable[[np.ndarray], pa.Array]) -> pa.Table:
        """The edges as one table (:meth:`slices` concatenated): for small folds and tests."""
        return pa.concat_tables(list(self.slices(event_ids)))

    def slices(self, event_ids: Callable[[np.ndarray], pa.Array],
               rows: int = EDGE_SLICE) -> Iterator[pa.Table]:
        """The edges (graphtrail.model.edge_schema, props null), ``rows`` at a time, in the
        order of the class docstring; ``event_ids(rows)`` gives the eventID of each evidence
        row (called once, with every evidence row, ascending and each once; an array or a
        chunked array, whose chunks are never concatenated).

        Only the eventIDs of the evidence and one slice of strings are held at a time, never
        the whole table of strings: at 10M events the edges with their evidence are 1.7M
        rows, several hundred MB as strings.
        """
        self.fold()
        if not self.parts:
            yield edge_schema().empty_table()
            return
        p = self.parts.pop()
        wanted = distinct(p["ev"])
        ids = event_ids(wanted)
        if isinstance(ids, pa.Array):
            ids = pa.chunked_array([ids])
        ev_at = np.zeros(len(p["ev_len"]) + 1, dtype=np.int64)  # where each edge's lists start
        np.cumsum(p["ev_len"], out=ev_at[1:])
        nm_at = np.zeros(len(p["nm_len"]) + 1, dtype=np.int64)
        np.cumsum(p["nm_len"], out=nm_at[1:])
        kinds = pa.array(_KINDS, pa.string())
        for lo in range(0, len(p["key"]), rows):
            hi = min(lo + rows, len(p["key"]))
            key = p["key"][lo:hi]
            ev = p["ev"][ev_at[lo]:ev_at[hi]]
            yield pa.Table.from_arrays([
                self.nodes.decode(_src(key)), self.nodes.decode(_dst(key)),
                kinds.take(pa.array(key & 15)),
                pa.array(p["first"][lo:hi]).cast(_TS), pa.array(p["last"][lo:hi]).cast(_TS),
                pa.array(p["count"][lo:hi]),
                _lists(p["ev_len"][lo:hi], _take(ids, np.searchsorted(wanted, ev))),
                _lists(p["nm_len"][lo:hi], self.names.decode(p["nm"][nm_at[lo]:nm_at[hi]])),
                pa.nulls(hi - lo, pa.string()),
            ], schema=edge_schema())
        self.nodes, self.names = Codes(), Codes()

    def endpoints(self) -> Iterator[tuple[str | None, int, int]]:
        """Each node at an end of a folded edge, with the least first seen and the greatest
        last seen (µs) of those edges: the sources in order of first appearance among the
        edges, then the destinations (a node at both ends is listed twice)."""
        self.fold()
        if not self.parts:
            return
        p = self.parts[0]
        for code in (_src(p["key"]), _dst(p["key"])):
            nodes, seen, at = np.unique(code, return_index=True, return_inverse=True)
            at = at.reshape(-1)
            lo = np.full(len(nodes), np.iinfo(np.int64).max, dtype=np.int64)
            hi = np.full(len(nodes), np.iinfo(np.int64).min, dtype=np.int64)
            np.minimum.at(lo, at, p["first"])
            np.maximum.at(hi, at, p["last"])
            names = self.nodes.decode(nodes).to_pylist()
            for i in np.argsort(seen).tolist():  # in order of first appearance
                yield names[i], int(lo[i]), int(hi[i])


def _take(values: pa.ChunkedArray, at: np.ndarray) -> pa.Array:
    """``values[at]``, from each chunk apart: a chunked array of strings concatenates its
    chunks to ``take`` (apache/arrow#39565, open as of pyarrow 26): here every evidence
    eventID, a copy of 230 MB at 10M events, for each slice."""
    order = np.argsort(at, kind="stable")
    ascending = at[order]
    parts, lo, start = [], 0, 0
    for chunk in values.chunks:
        hi = int(np.searchsorted(ascending, start + len(chunk), side="left"))
        if hi > lo:
            parts.append(chunk.take(pa.array(ascending[lo:hi] - start)))
        lo, start = hi, start + len(chunk)
    got = pa.concat_arrays(parts) if parts else pa.array([], values.type)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return got.take(pa.array(back))


def _src(key: np.ndarray) -> np.ndarray:
    return (key >> (_NODE_BITS + 4)) - 1


def _dst(key: np.ndarray) -> np.ndarray:
    return ((key >> 4) & ((1 << _NODE_BITS) - 1)) - 1


def _ints(col) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _lengths(lists: pa.Array) -> np.ndarray:
    return pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int32)


def _row_numbers(rows: np.ndarray) -> np.ndarray:
    """Evidence rows in 4 bytes each while they fit (the case's first 2**31 calls); a fold
    mixing both widths concatenates them as int64."""
    return rows.astype(np.int32) if not len(rows) or rows.max() < 2**31 else rows


def _lists(lengths: np.ndarray, values: pa.Array) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _first_items(lengths: np.ndarray, values: np.ndarray, by: np.ndarray, gid: np.ndarray,
                 starts: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the first ``cap`` items of its rows' lists, in row order. ``by``: the rows
    by group (stable), ``gid``: their groups, ``starts``: where each group begins in ``by``.

    The cap is applied per row before any item is copied: only kept items are gathered."""
    lens = lengths[by]
    before = _exclusive_cumsum(lens)  # items in the rows before, all groups
    before -= before[starts][gid]  # ... in the rows before, of the same group
    lens = np.clip(cap - before, 0, lens).astype(lengths.dtype)
    del before
    values = values[_ranges(_exclusive_cumsum(lengths)[by], lens)]
    return np.add.reduceat(lens, starts).astype(lengths.dtype), values


def _distinct_items(lengths: np.ndarray, values: np.ndarray, by: np.ndarray, gid: np.ndarray,
                    groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group, each value of its rows' lists once, in order of first appearance (rows in
    row order); arguments as for :func:`_first_items`."""
    lens = lengths[by]
    values = values[_ranges(_exclusive_cumsum(lengths)[by], lens)]
    owner = np.repeat(gid, lens)
    if len(values):
        pair = owner * (int(values.max()) + 2) + values + 1  # -1: a null name
        _, first = np.unique(pair, return_index=True)
        del pair
        first.sort()
        owner, values = owner[first], values[first]
    return np.bincount(owner, minlength=groups).astype(lengths.dtype), values


def _exclusive_cumsum(a: np.ndarray) -> np.ndarray:
    out = np.zeros(len(a), dtype=np.int64)
    np.cumsum(a[:-1], out=out[1:])
    return out


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every i, concatenated."""
    idx = np.repeat(starts - _exclusive_cumsum(lengths), lengths)
    idx += np.arange(len(idx), dtype=np.int64)
    return idx
