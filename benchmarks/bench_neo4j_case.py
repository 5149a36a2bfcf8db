"""Push a real case to a Bolt server: nodes/s, relationships/s and events covered/s, whole case.

    python benchmarks/bench_neo4j_case.py CASE_DIR [--calls-limit N] [--batch-size N]
        [--before SRC_TREE] [--rounds 2]

Starts ArcadeDB from the ``arcadedb-embedded`` wheel on a loopback port (or uses NEO4J_URI,
whose database is wiped first). Each push is ``push_case`` into the wiped database, run in a
fresh process whose ``PYTHONPATH`` is a source tree: this one, and with ``--before`` another
(``git -C /work/main archive main graphtrail loaders cypher | tar -x -C DIR``), the two
alternated ``--rounds`` times in one run on the same server, so the JVM's warming favours
neither. Rates are over the whole push (graph, stale clean-up, DERIVES, calls): nodes and
relationships counted on the server afterwards, events covered = the calls of the case.
``--calls-limit`` keeps only the first calls of the activity table. Beside it, the offline
path: the same case written as neo4j-admin import files (``neo4j export-import``), timed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_neo4j_push import _cpu_seconds, _server  # noqa: E402
from graphtrail.store.case import Case  # noqa: E402
from graphtrail.store.neo4j_import import write_import_files  # noqa: E402

# Run in the child process, with the tree under test first on sys.path.
_PUSH = """
import json, os, sys, time
from graphtrail.store.case import Case
from graphtrail.store.neo4j import Neo4jStore
from graphtrail.store.neo4j_case import push_case
s = Neo4jStore(os.environ["NEO4J_URI"], os.environ["NEO4J_USERNAME"], os.environ["NEO4J_PASSWORD"],
               os.environ.get("NEO4J_DATABASE") or None)
s.write("MATCH (n) DETACH DELETE n")
cpu, wall = time.process_time(), time.perf_counter()
out = push_case(Case.open(sys.argv[1]), s, batch_size=int(sys.argv[2]))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
one = lambda q: s.run(q)[0]["n"]
print(json.dumps({"wall": wall, "client_cpu": cpu, "nodes": one("MATCH (n) RETURN count(n) AS n"),
                  "relationships": one("MATCH ()-[r]->() RETURN count(r) AS n"),
                  "call_nodes": one("MATCH (c:Call) RETURN count(c) AS n"),
                  "events": out.calls_new + out.calls_relinked + out.calls_unchanged,
                  "graph_seconds": out.graph_seconds, "calls_seconds": out.calls_seconds}))
s.close()
"""


def _push(tree: Path, case: Path, batch_size: int, server) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "NEO4J_URI": server.uri, "NEO4J_USERNAME": server.user,
           "NEO4J_PASSWORD": server.password, "NEO4J_DATABASE": server.database or ""}
    srv = _cpu_seconds(server.pid)
    res = subprocess.run([sys.executable, "-c", _PUSH, str(case), str(batch_size)], env=env, cwd=tree,
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"push with {tree} failed:\n{res.stderr[-3000:]}")
    d = json.loads(res.stdout.strip().splitlines()[-1])
    d["server_cpu"] = _cpu_seconds(server.pid) - srv
    return d


def _limited(case: Case, limit: int | None, tmp: Path) -> Path:
    """A copy of the case's graph whose activity table holds only the first ``limit`` calls."""
    shutil.copytree(case.path, tmp / "case", ignore=shutil.ignore_patterns("events", "insights"))
    if limit:
        act = pq.ParquetFile(case.path / "graph" / "activity.parquet")
        first = next(act.iter_batches(batch_size=limit))
        pq.write_table(pa.Table.from_batches([first]), tmp / "case" / "graph" / "activity.parquet")
    return tmp / "case"


def _line(name: str, d: dict) -> str:
    w = d["wall"]
    return (f"{name:<7} {d['nodes']:>8,} nodes {d['relationships']:>8,} rels ({d['call_nodes']:>7,} Call nodes) "
            f"{d['events']:>8,} events  {w:6.1f} s: {d['nodes'] / w:>7,.0f} nodes/s {d['relationships'] / w:>7,.0f} "
            f"rels/s {d['events'] / w:>7,.0f} events/s  client CPU {d['client_cpu']:5.1f} s, "
            f"server CPU {d['server_cpu']:5.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", type=Path)
    ap.add_argument("--calls-limit", type=int, default=None, help="only the first N calls (default: all)")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--before", type=Path, help="another source tree, pushed alternately in the same run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--heap", default="4g", help="ArcadeDB -Xmx")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gt-push-"))
    try:
        case = _limited(Case.open(args.case), args.calls_limit, tmp)
        trees = [("after", ROOT)] + ([("before", args.before.resolve())] if args.before else [])
        print(f"machine load: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        results: dict[str, list[dict]] = {name: [] for name, _ in trees}
        with _server(args.heap) as server:
            for r in range(args.rounds):
                for name, tree in trees if r % 2 == 0 else trees[::-1]:
                    d = _push(tree, case, args.batch_size, server)
                    results[name].append(d)
                    print(_line(name, d), flush=True)
        for name, runs in results.items():
            best = min(runs, key=lambda d: d["wall"])
            print(f"best of {len(runs)}: {_line(name, best)}")
        t0 = time.perf_counter()
        files = write_import_files(Case.open(case), tmp / "import")
        export = time.perf_counter() - t0
        print(f"import files: {files.node_count:,} nodes, {files.relationship_count:,} relationships in "
              f"{export:.1f} s ({(files.node_count + files.relationship_count) / export:,.0f} rows/s)")
        print(f"machine load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
