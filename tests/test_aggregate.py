"""EdgeFold: calls folded into edges in integer arrays give the edges a plain fold gives,
however often the fold merges (its memory budget), with evidence looked up at the end."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from graphtrail.model import EVIDENCE_CAP, EdgeKind
from loaders.facts.aggregate import Codes, EdgeFold

_T0 = 1_717_200_000_000_000


def _calls(seed: int, n: int) -> pa.Table:
    rng = random.Random(seed)
    actors = [f"session:ASIA{i:04d}@2024" for i in range(12)] + [None]
    resources = [f"arn:aws:s3:::bucket-{i}" for i in range(9)] + ["ec2:1:*", None]
    names = ["GetObject", "PutObject", "ListBuckets", "DescribeInstances", None]
    rows = {"actor": [], "resource": [], "time": [], "event_id": [], "event_name": []}
    for i in range(n):
        rows["actor"].append(rng.choice(actors))
        rows["resource"].append(rng.choice(resources))
        rows["time"].append(_T0 + rng.randrange(10**9))
        rows["event_id"].append(None if rng.random() < 0.05 else f"ev-{i:06d}")
        rows["event_name"].append(rng.choice(names))
    t = pa.table(rows)
    return t.set_column(2, "time", t.column("time").cast(pa.timestamp("us", tz="UTC")))


def _fold(calls: pa.Table, batch: int, budget: int) -> pa.Table:
    fold = EdgeFold(budget=budget)
    calls = calls.append_column("row", pa.array(np.arange(calls.num_rows)))
    for start in range(0, calls.num_rows, batch):
        part = calls.slice(start, batch)
        part = part.filter(pc.is_valid(part.column("actor")))
        fold.add(part, "actor", "resource", EdgeKind.ACTED_ON)
        fold.add(part.filter(pc.is_valid(part.column("resource"))), "resource", "actor",
                 EdgeKind.FROM_IP)
    ids = calls.column("event_id").combine_chunks()
    return fold.table(lambda rows: ids.take(pa.array(rows)))


def _expected(calls: pa.Table) -> dict:
    """Each edge as a plain fold over the calls in order gives it."""
    out: dict = {}
    for r in calls.to_pylist():
        if r["actor"] is None:
            continue
        t = int(pa.scalar(r["time"]).cast(pa.int64()).as_py())
        pairs = [(r["actor"], r["resource"], "ACTED_ON")]
        if r["resource"] is not None:
            pairs.append((r["resource"], r["actor"], "FROM_IP"))
        for key in pairs:
            e = out.setdefault(key, {"first": t, "last": t, "count": 0, "ids": [], "names": []})
            e["first"], e["last"] = min(e["first"], t), max(e["last"], t)
            e["count"] += r["event_id"] is not None
            if len(e["ids"]) < EVIDENCE_CAP:
                e["ids"].append(r["event_id"])
            if r["event_name"] is not None and r["event_name"] not in e["names"]:
                e["names"].append(r["event_name"])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fold_matches_a_plain_fold_whatever_the_budget(seed: int) -> None:
    calls = _calls(seed, 3000)
    once = _fold(calls, batch=3000, budget=1 << 40)
    often = _fold(calls, batch=250, budget=0)  # merges after every batch
    rarely = _fold(calls, batch=250, budget=1 << 40)  # merges once, at the end
    assert often.equals(rarely)
    expected = _expected(calls)
    for got in (once, often):
        assert got.num_rows == len(expected)
        for row in got.to_pylist():
            e = expected[(row["src"], row["dst"], row["kind"])]
            assert int(pa.scalar(row["first_seen"]).cast(pa.int64()).as_py()) == e["first"]
            assert int(pa.scalar(row["last_seen"]).cast(pa.int64()).as_py()) == e["last"]
            assert row["count"] == e["count"]
            assert row["event_ids"] == e["ids"]
            # distinct, in Arrow's order within a batch, then first appearance across batches
            assert sorted(row["event_names"]) == sorted(e["names"])
            assert row["props"] is None


def test_empty_fold_is_an_empty_edge_table() -> None:
    t = EdgeFold().table(lambda rows: pa.array([], pa.string()))
    assert t.num_rows == 0 and "event_ids" in t.column_names


def test_codes_round_trip_with_nulls() -> None:
    codes = Codes()
    a = codes.encode(pa.array(["x", None, "y", "x"]))
    b = codes.encode(pa.chunked_array([pa.array(["y", "z"])]))
    assert a.tolist() == [0, -1, 1, 0] and b.tolist() == [1, 2]
    assert codes.decode(np.concatenate([a, b])).to_pylist() == ["x", None, "y", "x", "y", "z"]


@pytest.mark.parametrize("rows", [1, 7, 64, 100_000])
def test_edges_in_slices_are_the_whole_table(rows: int) -> None:
    """Written a slice at a time, the edges are the rows (and order) of the whole table; the
    eventIDs are asked for once, every evidence row once and ascending."""
    calls = _calls(3, 1500)
    whole = _fold(calls, batch=200, budget=0)
    fold = EdgeFold(budget=0)
    calls = calls.append_column("row", pa.array(np.arange(calls.num_rows)))
    for start in range(0, calls.num_rows, 200):
        part = calls.slice(start, 200)
        part = part.filter(pc.is_valid(part.column("actor")))
        fold.add(part, "actor", "resource", EdgeKind.ACTED_ON)
        fold.add(part.filter(pc.is_valid(part.column("resource"))), "resource", "actor",
                 EdgeKind.FROM_IP)
    ids = calls.column("event_id").combine_chunks()
    asked = []

    def event_ids(wanted):  # in chunks, as read back from the activity table
        asked.append(wanted.tolist())
        got = ids.take(pa.array(wanted))
        return pa.chunked_array([got.slice(0, 5), got.slice(5, 300), got.slice(305)])

    ends = list(fold.endpoints())
    slices = list(fold.slices(event_ids, rows=rows))
    assert all(s.num_rows <= rows for s in slices)
    assert pa.concat_tables(slices).equals(whole)
    assert len(asked) == 1 and asked[0] == sorted(set(asked[0]))
    # the ends of the edges: the sources by first appearance, then the destinations, each
    # with the least first seen and the greatest last seen of its edges
    expected = []
    for col in ("src", "dst"):
        agg = whole.group_by(col, use_threads=False).aggregate(
            [("first_seen", "min"), ("last_seen", "max")])
        span = {r[col]: (r["first_seen_min"], r["last_seen_max"]) for r in agg.to_pylist()}
        expected += [(n, *span[n]) for n in pc.unique(whole.column(col)).to_pylist()]
    assert [(n, lo, hi) for n, lo, hi in ends] == [
        (n, int(pa.scalar(lo).cast(pa.int64()).as_py()), int(pa.scalar(hi).cast(pa.int64()).as_py()))
        for n, lo, hi in expected]


def test_prefetch_keeps_order_and_reads_at_most_depth_ahead():
    import threading

    from loaders.facts.aggregate import prefetch

    started: list[int] = []
    lock = threading.Lock()

    def source():
        for i in range(30):
            with lock:
                started.append(i)
            yield i

    got = []
    for depth in (1, 3):
        started.clear()
        got.clear()
        for i in prefetch(source(), depth=depth):
            got.append(i)
            # give the reader time to run ahead as far as it may
            threading.Event().wait(0.02)
            with lock:
                ahead = len(started) - 1 - i
            assert ahead <= depth, (depth, i, ahead)
        assert got == list(range(30))


def test_prefetch_raises_the_readers_error_in_the_consumer():
    from loaders.facts.aggregate import prefetch

    def source():
        yield 1
        raise OSError("damaged batch")

    with pytest.raises(OSError, match="damaged batch"):
        list(prefetch(source()))
