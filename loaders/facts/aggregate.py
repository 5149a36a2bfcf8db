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
import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.model import EVIDENCE_CAP, EdgeKind, edge_schema

__all__ = ["BATCH_ROWS", "PARTIALS_BYTES", "prefetch", "rebatch", "Codes", "EdgeFold", "trim_heap"]

_TS = pa.timestamp("us", tz="UTC")

BATCH_ROWS = 131_072
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


def prefetch(batches: Iterator[pa.Table], depth: int = 1) -> Iterator[pa.Table]:
    """Read the next batch in a thread while this one is processed (Parquet decoding and
    Arrow compute release the GIL); ``depth`` batches ahead at most, so memory stays bounded."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for b in batches:
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # surfaced in the consumer
            q.put(exc)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


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
_FIELDS = ("key", "order", "first", "last", "count", "ev_len", "ev", "nm_len", "nm")



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
        self._pending = 0
        self._seq = 0  # partial rows so far: the order of first appearance

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
            "order": np.arange(self._seq, self._seq + agg.num_rows, dtype=np.int64),
            "first": _ints(agg.column("time_min")), "last": _ints(agg.column("time_max")),
            "count": _ints(agg.column("event_id_count")),
            "ev_len": _lengths(ev), "ev": _ints(pc.list_flatten(ev)),
            "nm_len": _lengths(nm), "nm": self.names.encode(pc.list_flatten(nm)),
        }
        self._seq += agg.num_rows
        self.parts.append(part)
        self._pending += sum(a.nbytes for a in part.values())
        if self._pending > self.budget:
            self.fold()

    def fold(self) -> None:
        """Merge the parts into one row per edge, in the order of the class docstring."""
        self._fold()
        trim_heap()  # once the fold's temporaries are gone

    def _fold(self) -> None:
        if not self.parts:
            return
        cat = {f: np.concatenate([p[f] for p in self.parts]) for f in _FIELDS}
        self.parts = []
        _, inv = np.unique(cat["key"], return_inverse=True)
        inv = inv.reshape(-1)
        # each edge listed at its first appearance (see the class); group number = its rank
        earliest = np.full(inv.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, inv, cat["order"])
        order = np.argsort(earliest, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        gid = rank[inv]
        groups = len(order)
        by = np.argsort(gid, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(gid[by]) != 0])
        heads = by[starts]
        ev_len, ev = _regroup(cat["ev_len"], cat["ev"], gid, groups, EVIDENCE_CAP, distinct=False)
        nm_len, nm = _regroup(cat["nm_len"], cat["nm"], gid, groups, None, distinct=True)
        self.parts = [{
            "key": cat["key"][heads], "order": earliest[order],
            "first": np.minimum.reduceat(cat["first"][by], starts),
            "last": np.maximum.reduceat(cat["last"][by], starts),
            "count": np.add.reduceat(cat["count"][by], starts),
            "ev_len": ev_len, "ev": ev, "nm_len": nm_len, "nm": nm,
        }]
        self._pending = 0

    def table(self, event_ids: Callable[[np.ndarray], pa.Array]) -> pa.Table:
        """The edges (graphtrail.model.edge_schema, props null); ``event_ids(rows)`` gives the
        eventID of each evidence row."""
        self.fold()
        if not self.parts:
            return edge_schema().empty_table()
        p = self.parts.pop()  # each array let go of once its column is built
        key = p.pop("key")
        mask = (1 << _NODE_BITS) - 1
        n = len(key)
        src = self.nodes.decode((key >> (_NODE_BITS + 4)) - 1)
        dst = self.nodes.decode(((key >> 4) & mask) - 1)
        kind = pa.array(_KINDS, pa.string()).take(pa.array(key & 15))
        del key
        self.nodes = Codes()
        evidence = _lists(p.pop("ev_len"), event_ids(p.pop("ev")))
        names = _lists(p.pop("nm_len"), self.names.decode(p.pop("nm")))
        return pa.Table.from_arrays([
            src, dst, kind, pa.array(p["first"]).cast(_TS), pa.array(p["last"]).cast(_TS),
            pa.array(p["count"]), evidence, names, pa.nulls(n, pa.string()),
        ], schema=edge_schema())


def _ints(col) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _lengths(lists: pa.Array) -> np.ndarray:
    return pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)


def _lists(lengths: np.ndarray, values: pa.Array) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _regroup(lengths: np.ndarray, values: np.ndarray, gid: np.ndarray, groups: int,
             cap: int | None, distinct: bool) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the lists of rows sharing a group id, in row order: capped at ``cap``
    items, or each value once (its first appearance)."""
    owner = np.repeat(gid, lengths)
    if distinct and len(values):
        pair = owner * (int(values.max()) + 2) + values + 1  # -1: a null name
        _, first = np.unique(pair, return_index=True)
        first.sort()
        owner, values = owner[first], values[first]
    by = np.argsort(owner, kind="stable")
    owner, values = owner[by], values[by]
    counts = np.bincount(owner, minlength=groups)
    if cap is not None:
        starts = np.zeros(groups, dtype=np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        keep = (np.arange(len(owner)) - starts[owner]) < cap
        values = values[keep]
        counts = np.minimum(counts, cap)
    return counts.astype(np.int64), values
