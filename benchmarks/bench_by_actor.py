"""The calls clustered by actor, written from one case's ``activity.parquet``, before and after.

``activity_by_actor.parquet`` is written at the end of every graph build. Each code tree
given (this checkout, and ``--before`` trees, e.g. ``git archive <commit> graphtrail loaders
| tar -x -C /tmp/before``) writes it from the same ``activity.parquet`` in a process of its
own; the trees are alternated ``--rounds`` times, so a noisy machine weighs on each alike.
Each run prints wall seconds, CPU seconds and the peak RSS of the process; the files
written are compared row for row with the first tree's.

Usage::

    python benchmarks/bench_by_actor.py CASE/graph/activity.parquet --before /tmp/before \\
        [--rounds 2] [--sort-rows 250000] [--placement] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))  # this checkout's graphtrail (plain_text), not an installed one

_CODE = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from graphtrail.store.by_actor import write_by_actor
from graphtrail.store.case import Case
from graphtrail.store import by_actor
if sys.argv[4] != "0":
    by_actor.SORT_ROWS = int(sys.argv[4])  # more slices, as a bigger case would have
t0 = time.perf_counter()
if sys.argv[5] == "placement":  # only each call's place in the actor order, as the tree does it
    import numpy as np
    import pyarrow.parquet as pq
    path = __import__("pathlib").Path(sys.argv[2])
    pf = pq.ParquetFile(path, read_dictionary=sorted(set(Case.GRAPH_DICTIONARY_COLUMNS)
                                                     & set(pq.read_schema(path).names)))
    if hasattr(by_actor, "_Places"):  # from the actors' counts, a row group at a time
        places = by_actor._Places(pf)
        for i in range(pf.num_row_groups):
            places.of(pf.read_row_group(i, ["actor"]).column(0))
    else:  # the whole order, then each row's place in it
        order = by_actor._actor_order(pf).to_numpy()
        where = np.empty(len(order), dtype=np.int32)
        where[order] = np.arange(len(order), dtype=np.int32)
    print(json.dumps({"rows": pf.metadata.num_rows, "seconds": time.perf_counter() - t0,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
    sys.exit(0)
n = write_by_actor(__import__("pathlib").Path(sys.argv[2]), __import__("pathlib").Path(sys.argv[3]),
                   Case.GRAPH_DICTIONARY_COLUMNS)
print(json.dumps({"rows": n, "seconds": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def run(tree: Path, activity: Path, out: Path, sort_rows: int = 0, what: str = "write") -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CODE, str(tree), str(activity), str(out),
                           str(sort_rows), what],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{tree}: failed\n{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = json.loads(proc.stdout)
    return {"tree": str(tree), "rows": res["rows"], "write_seconds": round(res["seconds"], 2),
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
            "peak_rss_mb": res["peak_mb"]}


def same_rows(a: Path, b: Path) -> bool:
    """The same rows in the same order (dictionaries compared by their values)."""
    import pyarrow.parquet as pq

    from graphtrail.arrays import plain_text

    fa, fb = pq.ParquetFile(a), pq.ParquetFile(b)
    if fa.metadata.num_rows != fb.metadata.num_rows:
        return False
    # the two files' batches need not line up (their row groups may differ in size):
    # compare the rows both have read so far, a window at a time
    ra, rb = fa.iter_batches(65_536), fb.iter_batches(65_536)
    wa = wb = None
    while True:
        if wa is None or not wa.num_rows:
            x = next(ra, None)
            wa = None if x is None else plain_text(x)
        if wb is None or not wb.num_rows:
            y = next(rb, None)
            wb = None if y is None else plain_text(y)
        if wa is None or wb is None:
            return wa is None and wb is None
        n = min(wa.num_rows, wb.num_rows)
        if not wa.slice(0, n).equals(wb.slice(0, n)):
            return False
        wa, wb = wa.slice(n), wb.slice(n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("activity", type=Path, help="a case's graph/activity.parquet")
    ap.add_argument("--before", type=Path, action="append", default=[],
                    help="a code tree to compare (holds graphtrail/)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--placement", action="store_true",
                    help="time only how each tree places the calls in the actor order (its "
                         "memory is what grows with the calls)")
    ap.add_argument("--sort-rows", type=int, default=0,
                    help="calls put in order at once (default: the code's SORT_ROWS); fewer "
                         "make as many slices as a case that many times bigger")
    args = ap.parse_args(argv)
    trees = [HERE, *args.before]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-by-actor-") as tmp:
        first: Path | None = None
        for r in range(args.rounds):
            for tree in trees if r % 2 == 0 else trees[::-1]:
                out = Path(tmp) / f"{trees.index(tree)}-{r}" / "by_actor.parquet"
                out.parent.mkdir()
                res = run(tree, args.activity, out, args.sort_rows,
                          "placement" if args.placement else "write")
                res["round"] = r + 1
                if args.placement:
                    pass  # nothing written to compare
                elif first is None:
                    first = out  # the reference every other run is compared with
                else:
                    res["same_rows_as_first"] = same_rows(first, out)
                    out.unlink()
                rows.append(res)
                print(json.dumps(res), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r.get("same_rows_as_first", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
