"""Streaming and aggregating calls into edges, in Arrow, with bounded memory.

* :func:`prefetch` reads the next batch in a thread while one is processed;
  :func:`rebatch` groups small record batches into ~``BATCH_ROWS`` rows.
* :func:`grouped` folds a batch of calls into partial edges (src, dst, kind) with first and
  last seen, a count and up to EVIDENCE_CAP eventIDs; :func:`merge_partials` folds the
  partials of many batches into one row an edge, without a Python object per edge.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.model import EVIDENCE_CAP, EdgeKind, edge_schema

__all__ = ["BATCH_ROWS", "PARTIALS_BYTES", "prefetch", "rebatch", "grouped", "merge_partials",
           "finish_partials", "PARTIAL_SCHEMA"]

_TS = pa.timestamp("us", tz="UTC")

BATCH_ROWS = 131_072
PARTIALS_BYTES = 96 << 20  # fold partial edges once they hold this much


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


PARTIAL_SCHEMA = pa.schema([("src", pa.string()), ("dst", pa.string()), ("kind", pa.string()),
                      ("first_seen", _TS), ("last_seen", _TS), ("count", pa.int64()),
                      ("event_ids", pa.list_(pa.string())), ("event_names", pa.list_(pa.string()))])


def grouped(t: pa.Table, src: str, dst: str, kind: EdgeKind) -> pa.Table:
    """Aggregate a batch's rows into partial edges (src, dst): times, count, evidence."""
    if not t.num_rows:
        return PARTIAL_SCHEMA.empty_table()
    agg = t.group_by([src, dst], use_threads=False).aggregate([
        ("time", "min"), ("time", "max"), ("event_id", "count"),
        ("event_id", "list"), ("event_name", "distinct"),
    ])
    return pa.Table.from_arrays([
        agg.column(src), agg.column(dst), pa.array([kind.value] * agg.num_rows, pa.string()),
        agg.column("time_min"), agg.column("time_max"), agg.column("event_id_count").cast(pa.int64()),
        pc.list_slice(agg.column("event_id_list"), 0, EVIDENCE_CAP),
        agg.column("event_name_distinct").cast(pa.list_(pa.string())),
    ], schema=PARTIAL_SCHEMA)


def _regroup_lists(lists: pa.Array, gid: np.ndarray, groups: int, cap: int | None,
                   distinct: bool) -> pa.Array:
    """Concatenate the lists of rows sharing a group id, in row order (optionally capped)."""
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    values = pc.list_flatten(lists)
    owner = np.repeat(gid, lengths)
    order = np.argsort(owner, kind="stable")
    values = values.take(pa.array(order))
    counts = np.bincount(owner, minlength=groups)
    offsets = np.zeros(groups + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    if distinct:  # in Arrow: no Python list per edge
        t = pa.table({"g": pa.array(owner[order]), "v": values})
        agg = t.group_by("g", use_threads=False).aggregate([("v", "distinct")])
        by_group = agg.column("v_distinct").take(
            pa.array(np.argsort(agg.column("g").to_numpy(), kind="stable")))
        present = np.zeros(groups, dtype=bool)
        present[agg.column("g").to_numpy()] = True
        if present.all():
            return by_group.combine_chunks().cast(pa.list_(pa.string()))
        full = [None] * groups
        lists = by_group.to_pylist()
        for k, g in enumerate(np.flatnonzero(present).tolist()):
            full[g] = lists[k]
        return pa.array([x or [] for x in full], pa.list_(pa.string()))
    out = pa.LargeListArray.from_arrays(pa.array(offsets), values).cast(pa.list_(pa.string()))
    return pc.list_slice(out, 0, cap) if cap else out


def merge_partials(partials: list[pa.Table]) -> pa.Table:
    """Fold partial edges of several batches into one row per (src, dst, kind), in Arrow."""
    t = pa.concat_tables(partials).combine_chunks()
    if not t.num_rows:
        return PARTIAL_SCHEMA.empty_table()
    key = pc.binary_join_element_wise(t.column("src"), t.column("kind"), t.column("dst"), "\x1f")
    key = key.combine_chunks() if isinstance(key, pa.ChunkedArray) else key
    enc = key.dictionary_encode()
    gid = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    groups = len(enc.dictionary)
    first_row = np.full(groups, len(gid), dtype=np.int64)
    np.minimum.at(first_row, gid, np.arange(len(gid)))
    lo = t.column("first_seen").cast(pa.int64()).to_numpy(zero_copy_only=False)
    hi = t.column("last_seen").cast(pa.int64()).to_numpy(zero_copy_only=False)
    first = np.full(groups, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(groups, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, gid, lo)
    np.maximum.at(last, gid, hi)
    count = np.bincount(gid, weights=t.column("count").to_numpy(zero_copy_only=False),
                        minlength=groups).astype(np.int64)
    take = pa.array(first_row)
    return pa.Table.from_arrays([
        t.column("src").take(take), t.column("dst").take(take), t.column("kind").take(take),
        pa.array(first).cast(_TS), pa.array(last).cast(_TS), pa.array(count),
        _regroup_lists(t.column("event_ids").combine_chunks(), gid, groups, EVIDENCE_CAP, False),
        _regroup_lists(t.column("event_names").combine_chunks(), gid, groups, None, True),
    ], schema=PARTIAL_SCHEMA)


def finish_partials(t: pa.Table) -> pa.Table:
    return pa.table({**{c: t.column(c) for c in PARTIAL_SCHEMA.names},
                     "props": pa.nulls(t.num_rows, pa.string())}, schema=edge_schema())

