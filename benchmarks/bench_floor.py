"""The floor under any ingest of these files, in CPU per event, stage by stage, on one core.

What a lean case format (issue 12, first item) would have to work in: side by side in one
process, alternated ``--rounds`` times, on the same files:

* ``gunzip``: python-isal, the bytes only;
* ``decode``: the same, then msgspec into the narrow struct of ``bench_lean.py`` (what an
  identity edge needs, the request parameters that name a resource, the key an STS call
  issued);
* ``fold_dict``: the same, then every call folded into a dict of edges (``bench_lean.fold_files``:
  count, first and last seen, up to 10 eventIDs, the addresses);
* ``fold_columns``: the same decode, the calls made into Arrow columns, and the edges
  grouped by numpy codes of (actor, service, action, resource): the count, first and last
  seen, the first 10 eventIDs and the distinct addresses of each.

Both folds report the same number of edges (checked). Nothing here is graphtrail's ingest:
no per-event table, no links, no dedup keys.

Usage::

    python benchmarks/bench_floor.py /work/trails/t1m [--files 200] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip
from msgspec.structs import astuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_ingest import emit_result  # noqa: E402
from bench_lean import _DECODE, fold_files  # noqa: E402
from bench_scale import _trail_files  # noqa: E402

from graphtrail.model import EVIDENCE_CAP  # noqa: E402

__all__ = ["main", "fold_columns"]


def _records(path: str) -> list:
    with open(path, "rb") as fh:
        return _DECODE.decode(igzip.decompress(fh.read())).Records


def gunzip(paths: list[str]) -> int:
    size = 0
    for path in paths:
        with open(path, "rb") as fh:
            size += len(igzip.decompress(fh.read()))
    return size


def decode(paths: list[str]) -> int:
    return sum(len(_records(p)) for p in paths)


def fold_columns(paths: list[str]) -> int:
    """The edges of ``paths`` grouped in columns; returns how many edges."""
    cols: dict[str, list] = {k: [] for k in ("actor", "service", "action", "resource", "time",
                                             "event_id", "address")}
    for path in paths:
        recs = _records(path)
        ids = [r.userIdentity for r in recs]
        cols["actor"] += [(u.accessKeyId or u.arn or u.type) if u is not None else None for u in ids]
        cols["service"] += [r.eventSource for r in recs]
        cols["action"] += [r.eventName for r in recs]
        cols["resource"] += [next(filter(None, astuple(p)), None) if p is not None else None
                             for p in (r.requestParameters for r in recs)]
        cols["time"] += [r.eventTime for r in recs]
        cols["event_id"] += [r.eventID for r in recs]
        cols["address"] += [r.sourceIPAddress for r in recs]
    n = len(cols["event_id"])
    t = pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    when = pc.strptime(t.column("time"), "%Y-%m-%dT%H:%M:%SZ", "s").cast(pa.int64()).to_numpy()
    key = np.zeros(n, np.int64)
    for name in ("actor", "service", "action", "resource"):  # mixed radix over the dictionaries
        coded = pc.dictionary_encode(t.column(name)).combine_chunks()
        key = key * (len(coded.dictionary) + 1) + coded.indices.fill_null(-1).to_numpy(
            zero_copy_only=False).astype(np.int64) + 1
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, n])
    # each edge's first and last seen, evidence and addresses: made (that is the cost
    # timed), not kept; only how many edges is returned
    np.minimum.reduceat(when[order], starts)
    np.maximum.reduceat(when[order], starts)
    group = np.repeat(np.arange(len(starts)), sizes)
    t.column("event_id").take(pa.array(order[np.arange(n) - starts[group] < EVIDENCE_CAP]))
    ips = pc.dictionary_encode(t.column("address")).combine_chunks()
    codes = ips.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)[order] + 1
    np.unique(group * (len(ips.dictionary) + 1) + codes)
    return len(starts)


def _fold_dict(paths: list[str]) -> int:
    return len(fold_files(paths)[0])


STAGES = {"gunzip": gunzip, "decode": decode, "fold_dict": _fold_dict, "fold_columns": fold_columns}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", type=Path)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    files = _trail_files(args.trail)[: args.files]
    events = decode(files)
    out: dict = {"files": len(files), "events": events, "rounds": []}
    edges = {}
    for _ in range(args.rounds):
        row = {}
        for name, stage in STAGES.items():
            gc.disable()  # as the workers run: nothing cyclic, millions of small objects
            try:
                t0 = time.process_time()
                result = stage(files)
                row[name] = round((time.process_time() - t0) / events * 1e6, 2)
            finally:
                gc.enable()
            if name.startswith("fold"):
                edges[name] = result
        out["rounds"].append(row)
    if edges["fold_dict"] != edges["fold_columns"]:
        raise SystemExit(f"bench_floor: the folds disagree: {edges}")
    out["edges"] = edges["fold_dict"]
    out["unit"] = "CPU microseconds an event, one core"
    emit_result(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
