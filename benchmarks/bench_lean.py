"""What a lean ingest could reach: a prototype of issue 12's first item, against DuckDB.

Not graphtrail's ingest. A measurement for the case-format decision the issue asks for:
how fast can pure Python go when the workers decode only what the edges need and fold the
calls into edges themselves, keeping no per-event table (the records would stay in the kept
sources, decoded for the events a question returns)? Side by side in one run, on the same
files and the same number of processes/threads:

* ``duckdb``: the issue's yardstick (``bench_scale.duckdb_baseline``): gunzip -> JSON (the
  fields an identity edge needs) -> one edge per call (actor -> action) -> ``GROUP BY`` with
  count, first and last seen and the distinct addresses;
* ``lean``: ``--workers`` processes, each over its share of the files: python-isal gunzip,
  msgspec decode into a narrow struct (the same fields, and the request parameters that
  name a resource, and the key an STS call issued), then a dict of edges keyed by (actor,
  action, resource) holding the count, first and last time, up to
  :data:`graphtrail.model.EVIDENCE_CAP` eventIDs and the addresses; the garbage collector off
  in the hot loop. Each worker hands its edges back as Arrow columns, and the main process
  merges them with numpy and Arrow kernels (:func:`merge_tables`); ``--merge dict`` sends
  pickled dicts merged in a Python loop instead (session 10's figures: that serial merge
  was 2.5-4 s of the run).

Both report the same number of calls (checked). The lean fold keeps more than DuckDB's
(resources and evidence); it keeps no links between credentials (the issuing key's session
is only collected, not resolved), no per-call table, no dedup keys: what it measures is the
floor of the decode-and-fold, the part a lean format could not skip.

Usage::

    python benchmarks/bench_lean.py /work/trails/t1m [--workers 2] [--merge arrow|dict] \\
        [--baseline-python <python with duckdb 1.x>] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import msgspec
from isal import igzip
from msgspec.structs import astuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_ingest import emit_result  # noqa: E402
from bench_scale import _trail_files, duckdb_baseline  # noqa: E402

from graphtrail.model import EVIDENCE_CAP  # noqa: E402
from loaders.facts.resources import RESOURCE_PARAMETERS  # noqa: E402

__all__ = ["main", "fold_files"]

Text = str | None

# the request parameters that name a resource (loaders.facts.resources), as struct fields
Params = msgspec.defstruct("Params", [(k, Text, None) for k in RESOURCE_PARAMETERS])


class Credentials(msgspec.Struct):
    accessKeyId: Text = None


class Response(msgspec.Struct):
    credentials: Credentials | None = None


class Issuer(msgspec.Struct):
    arn: Text = None


class Attributes(msgspec.Struct):
    creationDate: Text = None


class Context(msgspec.Struct):
    sessionIssuer: Issuer | None = None
    attributes: Attributes | None = None


class Identity(msgspec.Struct):
    type: Text = None
    arn: Text = None
    accessKeyId: Text = None
    accountId: Text = None
    sessionContext: Context | None = None


class Call(msgspec.Struct):
    eventTime: Text = None
    eventSource: Text = None
    eventName: Text = None
    eventID: Text = None
    sourceIPAddress: Text = None
    errorCode: Text = None
    recipientAccountId: Text = None
    userIdentity: Identity | None = None
    requestParameters: Params | None = None
    responseElements: Response | None = None


class Delivery(msgspec.Struct):
    Records: list[Call] = []


_DECODE = msgspec.json.Decoder(Delivery)


def fold_files(paths: list[str]) -> tuple[dict, dict, int]:
    """(edges, issued keys, calls) of ``paths``: edges keyed by (actor, service, action, resource)
    -> [count, first, last, eventIDs, addresses]; issued keys -> (issuer, eventID)."""
    edges: dict[tuple, list] = {}
    issued: dict[str, tuple] = {}
    calls = 0
    was = gc.isenabled()
    gc.disable()
    try:
        for path in paths:
            with open(path, "rb") as fh:
                records = _DECODE.decode(igzip.decompress(fh.read())).Records
            calls += len(records)
            for r in records:
                ui = r.userIdentity
                actor = (ui.accessKeyId or ui.arn or ui.type) if ui is not None else None
                rp = r.requestParameters
                # the first parameter naming a resource, found in C (astuple, filter)
                resource = next(filter(None, astuple(rp)), None) if rp is not None else None
                key = (actor, r.eventSource, r.eventName, resource)
                t = r.eventTime
                e = edges.get(key)
                if e is None:
                    edges[key] = [1, t, t, [r.eventID], {r.sourceIPAddress}]
                else:
                    e[0] += 1
                    if t < e[1]:
                        e[1] = t
                    elif t > e[2]:
                        e[2] = t
                    if len(e[3]) < EVIDENCE_CAP:
                        e[3].append(r.eventID)
                    e[4].add(r.sourceIPAddress)
                resp = r.responseElements
                if resp is not None and resp.credentials is not None and resp.credentials.accessKeyId:
                    issued[resp.credentials.accessKeyId] = (actor, r.eventID)
    finally:
        if was:
            gc.enable()
    return edges, issued, calls


_KEYS = ("actor", "service", "action", "resource")


def fold_to_table(paths: list[str]):
    """:func:`fold_files`, its edges handed back as Arrow columns (cheap to send, merged
    with vectorized kernels by :func:`merge_tables`) instead of a pickled dict."""
    import pyarrow as pa
    import pyarrow.compute as pc

    edges, issued, calls = fold_files(paths)
    keys = list(zip(*edges, strict=True)) if edges else [[]] * 4
    vals = list(edges.values())

    def when(col: list) -> pa.Array:  # ISO 8601 text -> epoch seconds, compared as integers
        return pc.strptime(pa.array(col, pa.string()), "%Y-%m-%dT%H:%M:%SZ", "s").cast(pa.int64())

    table = pa.table({
        **{name: pa.array(col, pa.string()) for name, col in zip(_KEYS, keys, strict=True)},
        "calls": pa.array([e[0] for e in vals], pa.int64()),
        "first": when([e[1] for e in vals]),
        "last": when([e[2] for e in vals]),
        "evidence": pa.array([e[3] for e in vals], pa.list_(pa.string())),
        "addresses": pa.array([list(e[4]) for e in vals], pa.list_(pa.string())),
    })
    return table, issued, calls


def merge_tables(tables: list):
    """One row an edge of the workers' ``tables``: the calls added up, the first and last
    times, up to :data:`EVIDENCE_CAP` eventIDs, and how many distinct addresses. Rows are
    grouped by sorting integer codes of the four key columns (numpy), not by hashing their
    text: Arrow's ``group_by`` on four text keys, with string min/max and list aggregates,
    took a second at 1M events."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    both = pa.concat_tables(tables).combine_chunks()
    composite, span = np.zeros(len(both), np.int64), 1
    for name in _KEYS:  # mixed radix over the dictionaries' sizes (-1: missing, as 0)
        coded = pc.dictionary_encode(both.column(name)).combine_chunks()
        codes = coded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        span *= len(coded.dictionary) + 1
        if span >= 2**63:
            raise SystemExit("bench_lean: too many distinct keys for one 64-bit code")
        composite = composite * (len(coded.dictionary) + 1) + codes
    _, group = np.unique(composite, return_inverse=True)
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    at = pa.array(order)

    def summed(name: str, ufunc) -> np.ndarray:
        return ufunc.reduceat(both.column(name).to_numpy()[order], starts)

    lists = both.column("evidence").take(at).combine_chunks()
    lengths = np.add.reduceat(pc.list_value_length(lists).to_numpy(), starts)
    offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32))
    evidence = pc.list_slice(pa.ListArray.from_arrays(offsets, pc.list_flatten(lists)), 0, EVIDENCE_CAP)
    ips = both.column("addresses").combine_chunks()
    pairs = pa.table({"g": group[pc.list_parent_indices(ips).to_numpy()], "ip": pc.list_flatten(ips)})
    addresses = np.bincount(pairs.group_by(["g", "ip"], use_threads=False).aggregate([])
                            .column("g").to_numpy(), minlength=len(starts))
    first_rows = pa.array(order[starts])
    return pa.table({
        **{name: both.column(name).take(first_rows) for name in _KEYS},
        "calls": summed("calls", np.add), "first": summed("first", np.minimum),
        "last": summed("last", np.maximum), "evidence": evidence, "addresses": addresses,
    })


def _merge(into: dict, part: dict) -> None:
    for key, e in part.items():
        cur = into.get(key)
        if cur is None:
            into[key] = e
            continue
        cur[0] += e[0]
        cur[1] = min(cur[1], e[1])
        cur[2] = max(cur[2], e[2])
        cur[3].extend(e[3][:EVIDENCE_CAP - len(cur[3])])
        cur[4] |= e[4]


def lean(files: list[str], workers: int, merge: str = "arrow") -> dict:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    c0 = time.process_time()
    shares = [files[i::workers] for i in range(workers)]  # one task a worker: two folds to merge
    issued: dict = {}
    calls = 0
    edges: dict = {}
    parts = []
    task = fold_to_table if merge == "arrow" else fold_files
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        for part, keys, n in pool.map(task, shares):
            if merge == "arrow":
                parts.append(part)
            else:
                _merge(edges, part)  # the pickled dicts read back and merged: the serial tail
            issued.update(keys)
            calls += n
    edge_count = len(merge_tables(parts)) if merge == "arrow" else len(edges)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, once they have ended
    children = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 2), "events": calls, "edges": edge_count,
            "issued_keys": len(issued), "merge": merge,
            "cpu_seconds": round(time.process_time() - c0 + children, 2),
            "merge_cpu_seconds": round(time.process_time() - c0, 2),  # the main process
            "events_per_second": round(calls / seconds)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--merge", choices=("arrow", "dict"), default="arrow",
                    help="the workers' folds sent as Arrow columns and merged by Arrow's group_by "
                         "(default), or as pickled dicts merged in Python")
    ap.add_argument("--baseline-python", default=sys.executable)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    files = _trail_files(args.trail)
    duck = duckdb_baseline(files, args.workers, args.baseline_python)
    ours = lean(files, args.workers, args.merge)
    if ours["events"] != duck["events"]:
        raise SystemExit(f"bench_lean: {ours['events']} calls folded, DuckDB counted {duck['events']}")
    out = {"files": len(files), "events": ours["events"],
           "duckdb": {"version": duck["version"], "seconds": round(duck["seconds"], 2),
                      "cpu_seconds": round(duck["cpu_seconds"], 2), "edges": duck["edges"],
                      "events_per_second": round(duck["events"] / duck["seconds"])},
           "lean": ours, "ratio_vs_duckdb": round(duck["seconds"] / ours["seconds"], 2)}
    emit_result(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
