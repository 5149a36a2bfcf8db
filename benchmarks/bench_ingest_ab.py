"""``graphtrail ingest`` of one trail by two code trees, alternated, with the cases compared.

Each tree (this checkout, and ``--before`` trees: ``git archive <commit> graphtrail loaders
cypher | tar -x -C /tmp/before``) ingests the trail into a new case, in a process of its
own, ``--rounds`` times, the trees alternated (before, after, after, before...) so a noisy
machine weighs on each alike. Each run gives the wall seconds, the CPU seconds of the
process and its workers (user and system; the system part and the page faults apart), and the load and graph-build seconds the ingest
printed; the graph tables of each tree's last case are compared with this tree's.

Usage::

    python benchmarks/bench_ingest_ab.py TRAIL --before /tmp/before [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rebuild import alternated, emit  # noqa: E402  (a sibling script, not a package)


def ingest(tree: Path, trail: Path, case: Path, workers: int) -> dict:
    shutil.rmtree(case, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "sys.argv = ['graphtrail', 'ingest', sys.argv[2], '--case', sys.argv[3], '--workers', "
         "sys.argv[4], '--format', 'json']; from graphtrail.cli.main import app; app()",
         str(tree), str(trail), str(case), str(workers)],
        check=True, capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(done.stdout)
    return {"wall_seconds": round(wall, 2),
            "cpu_seconds": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2),
            "system_seconds": round(after.ru_stime - before.ru_stime, 2),
            "page_faults": after.ru_minflt - before.ru_minflt,
            "load_seconds": round(summary["seconds"], 2),
            "graph_seconds": summary.get("graph", {}).get("seconds"),
            "events": summary["events_added"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", type=Path, help="a trail (benchmarks/generate_trail.py)")
    ap.add_argument("--before", type=Path, action="append", default=[], help="another tree")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    trees = [HERE, *args.before]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-ab-") as tmp:
        cases = {tree: Path(tmp) / f"case{i}" for i, tree in enumerate(trees)}
        found = alternated(trees, args.rounds,
                           lambda tree, case: ingest(tree, args.trail, case, args.workers),
                           cases, first="before")
    return emit({"trail": str(args.trail), **found}, args.json)

if __name__ == "__main__":
    raise SystemExit(main())
