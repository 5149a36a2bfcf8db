"""Seconds per seed listing (keys, principals, roles, ips, accounts) on a case.

    python benchmarks/generate_trail.py /tmp/trail --events 1000000
    graphtrail ingest /tmp/trail --case /tmp/case1m
    python benchmarks/bench_listing.py /tmp/case1m

For each listing: the library call on a freshly opened case (``list_seeds``, the case's
tables read from disk each time), and the command a user runs (``graphtrail keys --format
json``), a new process each time, interpreter start and imports included. The best of
``--repeat`` runs is reported, as machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from graphtrail.queries.inventory import LISTINGS, list_seeds
from graphtrail.store.memory import MemoryStore

__all__ = ["main"]


def library_seconds(case: Path, what: str) -> tuple[float, int]:
    t = time.perf_counter()
    rows = len(list_seeds(MemoryStore.open(case), what))
    return time.perf_counter() - t, rows


def command_seconds(case: Path, what: str) -> float:
    exe = Path(sys.executable).with_name("graphtrail")
    cmd = [str(exe) if exe.exists() else (shutil.which("graphtrail") or "graphtrail"),
           what, "--case", str(case), "--format", "json"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    store = MemoryStore.open(args.case)
    out = {"case": str(args.case), "events": store.case.event_count(), "listings": {}}
    for what in LISTINGS:
        lib = [library_seconds(args.case, what) for _ in range(args.repeat)]
        cli = [command_seconds(args.case, what) for _ in range(args.repeat)]
        out["listings"][what] = {"rows": lib[0][1], "library_s": round(min(s for s, _ in lib), 2),
                                 "command_s": round(min(cli), 2)}
        print(what, out["listings"][what], file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
