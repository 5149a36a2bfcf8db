"""One ingest worker task (``loaders.pipeline.read_task``), before and after, in CPU per event.

The load stage of ``graphtrail ingest`` is its workers: each task reads a group of files
(gunzip, decode, normalize into the events' columns, dedup keys, the Parquet part). This
times that task alone, on the same files, in a fresh process per run, for this checkout and
for ``--before`` trees (``git archive <commit> graphtrail loaders | tar -x -C /tmp/before``),
alternated ``--rounds`` times so a noisy machine weighs on each alike; it reports the
process CPU time per event of the task (best of ``--repeat`` inside each process) and checks
that every tree wrote the same events and the same dedup keys.

Usage::

    python benchmarks/bench_worker.py /work/trails/t1m --files 100 --before /tmp/before \\
        [--rounds 3] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]

HERE = Path(__file__).resolve().parent.parent

# Run in the tree under test (its own loaders on sys.path first): prints one JSON line.
_TASK = r"""
import hashlib, json, os, resource, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import pyarrow.parquet as pq
import loaders.pipeline as pipeline
from loaders.sources.base import SourceObject
assert pipeline.__file__.startswith(sys.argv[1]), pipeline.__file__
files = json.loads(sys.argv[2])
repeat = int(sys.argv[3])
task = [(SourceObject(uri=f, size=os.path.getsize(f), path=f), None) for f in files]
best = None
with tempfile.TemporaryDirectory() as staging:
    for _ in range(repeat):
        t0 = time.process_time()
        res = pipeline.read_task(task, staging, frozenset())
        cpu = time.process_time() - t0
        best = cpu if best is None else min(best, cpu)
    table = pq.read_table(res.events_path)
    events = table.num_rows
    ids = hashlib.sha256("\n".join(sorted(table.column("event_id").to_pylist())).encode()).hexdigest()
    keys = hashlib.sha256(np.ascontiguousarray(np.sort(res.keys, axis=0)).tobytes()).hexdigest()
    size = os.path.getsize(res.events_path)
print(json.dumps({"events": events, "cpu_seconds": round(best, 4),
                  "us_per_event": round(best / events * 1e6, 3), "part_bytes": size,
                  "events_sha256": ids, "keys_sha256": keys,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def run(tree: Path, files: list[str], repeat: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _TASK, str(tree), json.dumps(files), str(repeat)],
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trail", type=Path, help="a folder of CloudTrail files (generate_trail.py)")
    ap.add_argument("--files", type=int, default=100, help="files in the task")
    ap.add_argument("--before", type=Path, action="append", default=[], help="another tree")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="task runs in each process (best)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    files = sorted(str(p) for p in args.trail.rglob("*.json.gz"))[: args.files]
    if not files:
        print(f"error: no *.json.gz under {args.trail}", file=sys.stderr)
        return 2
    trees = [HERE, *args.before]
    rows = []
    for r in range(1, args.rounds + 1):
        order = trees if r % 2 else trees[::-1]
        for tree in order:
            row = {"tree": str(tree), "round": r, **run(tree, files, args.repeat)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    first = [x for x in rows if x["tree"] == str(HERE)][0]
    for x in rows:
        x["same_events_as_first"] = x["events_sha256"] == first["events_sha256"]
        x["same_keys_as_first"] = x["keys_sha256"] == first["keys_sha256"]
    print("\n| tree | us an event (CPU, one core) | part bytes | same events | same keys |")
    print("|---|---|---|---|---|")
    for tree in trees:
        mine = [x for x in rows if x["tree"] == str(tree)]
        us = sorted(x["us_per_event"] for x in mine)
        print(f"| {tree} | {us[0]:.2f}-{us[-1]:.2f} | {mine[0]['part_bytes']:,} "
              f"| {all(x['same_events_as_first'] for x in mine)} "
              f"| {all(x['same_keys_as_first'] for x in mine)} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
