"""Peak memory of ``graphtrail ingest`` as the events grow: one row per generated trail.

Each trail is ingested into a fresh case by the installed ``graphtrail`` (a subprocess, as a
user runs it). The resident memory of its process tree is sampled every 20 ms, the main
process and the worker processes apart, so the table says which stage holds the peak:
``load`` (workers reading the files while the main process dedups and adopts parts) or
``graph`` (the main process alone, linking credentials and building the graph).

Usage::

    python benchmarks/generate_trail.py /tmp/t1m --events 1000000 --workers 1
    python benchmarks/generate_trail.py /tmp/t10m --events 10000000 --workers 1
    python benchmarks/bench_memory.py 1M=/tmp/t1m 10M=/tmp/t10m [--workers 2] [--json out.json]

Prints one JSON object, then the table as Markdown. RSS counts pages a forked worker shares
with the main process twice: the figure is an upper bound of what the tree holds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import graphtrail_command, run_measured  # noqa: E402  (a sibling script)

__all__ = ["main", "measure"]


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _has_children(pid: int) -> bool:
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                if fh.read().strip():
                    return True
    except (FileNotFoundError, ProcessLookupError):
        pass
    return False


def measure(cmd: list[str]) -> dict:
    """Run ``cmd``: wall and CPU seconds, stdout, and peak RSS (MB) of the tree, of the main
    process, and of the tree while workers run (``load``) and after (``graph``)."""
    peak = {"main": 0, "load": 0, "graph": 0}
    workers_seen = False

    def watch(pid: int, tree: int) -> None:
        nonlocal workers_seen
        busy = _has_children(pid)
        workers_seen |= busy
        stage = "load" if busy or not workers_seen else "graph"
        peak["main"] = max(peak["main"], _rss(pid))
        peak[stage] = max(peak[stage], tree)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, tree_peak, out = run_measured(cmd, watch)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu_seconds": cpu, "out": out, "peak_tree_mb": round(tree_peak / 2**20),
            **{f"peak_{k}_mb": round(v / 2**20) for k, v in peak.items()}}


def _files(trail: Path) -> int:
    return sum(1 for p in trail.rglob("*.json.gz") if "CloudTrail-Digest" not in p.name)


def row(label: str, trail: Path, workers: int, work: Path) -> dict:
    case = work / f"case-{label}"
    m = measure([graphtrail_command(), "ingest", str(trail), "--format", "json",
                 "--workers", str(workers), "--case", str(case)])
    summary = json.loads(m.pop("out"))
    graph = summary.get("graph") or {}
    shutil.rmtree(case, ignore_errors=True)
    return {"label": label, "events": summary["events_added"] + summary["duplicates"],
            "files": _files(trail), "nodes": graph.get("nodes"), "edges": graph.get("edges"),
            "seconds": round(m["seconds"], 1), "cpu_seconds": round(m["cpu_seconds"], 1),
            "graph_seconds": graph.get("seconds"),
            **{k: v for k, v in m.items() if k.startswith("peak_")},
            "load_average": round(os.getloadavg()[0], 2)}


def markdown(rows: list[dict]) -> str:
    head = ("| events | files | graph nodes / edges | wall s | CPU s | peak RSS MB (load / graph) "
            "| load avg |\n|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in sorted(rows, key=lambda r: r["events"]):
        lines.append(f"| {r['events']:,} | {r['files']:,} | {r['nodes']:,} / {r['edges']:,} "
                     f"| {r['seconds']:,} | {r['cpu_seconds']:,} | **{r['peak_tree_mb']:,}** "
                     f"({r['peak_load_mb']:,} / {r['peak_graph_mb']:,}) | {r['load_average']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trails", nargs="+", help="LABEL=PATH of a generated trail")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    pairs = []
    for t in args.trails:
        label, sep, path = t.partition("=")
        if not sep or not Path(path).is_dir():
            ap.error(f"{t}: expected LABEL=PATH of a trail folder")
        pairs.append((label, Path(path)))
    work = Path(tempfile.mkdtemp(prefix="gt-memory-"))
    rows = []
    try:
        for label, path in pairs:
            rows.append(row(label, path, args.workers, work))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            if args.json:  # each row as soon as it is measured: a long run keeps what it has
                args.json.write_text(json.dumps(rows, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(rows, indent=2))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
