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
  in the hot loop. The main process merges the workers' dicts.

Both report the same number of calls (checked). The lean fold keeps more than DuckDB's
(resources and evidence); it keeps no links between credentials (the issuing key's session
is only collected, not resolved), no per-call table, no dedup keys: what it measures is the
floor of the decode-and-fold, the part a lean format could not skip.

Usage::

    python benchmarks/bench_lean.py /work/trails/t1m [--workers 2] \\
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


def lean(files: list[str], workers: int) -> dict:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    c0 = time.process_time()
    shares = [files[i::workers] for i in range(workers)]  # one task a worker: two folds to merge
    issued: dict = {}
    calls = 0
    edges: dict = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        for part, keys, n in pool.map(fold_files, shares):
            _merge(edges, part)  # the pickled dicts read back and merged: the serial tail
            issued.update(keys)
            calls += n
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, once they have ended
    children = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 2), "events": calls, "edges": len(edges),
            "issued_keys": len(issued),
            "cpu_seconds": round(time.process_time() - c0 + children, 2),
            "merge_cpu_seconds": round(time.process_time() - c0, 2),  # the main process
            "events_per_second": round(calls / seconds)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-python", default=sys.executable)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    files = _trail_files(args.trail)
    duck = duckdb_baseline(files, args.workers, args.baseline_python)
    ours = lean(files, args.workers)
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
