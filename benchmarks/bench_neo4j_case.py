"""Push a real case to a Bolt server and report rows/s (graph, then calls).

    python benchmarks/bench_neo4j_case.py CASE_DIR [--calls-limit N] [--batch-size N]

Starts ArcadeDB from the ``arcadedb-embedded`` wheel on a loopback port (or uses NEO4J_URI,
whose database is wiped first). Calls are pushed for the first ``--calls-limit`` rows of the
activity table (a 1M-call push takes minutes on ArcadeDB: the rate is what matters). Beside it,
the offline path: the same case written as neo4j-admin import files (``neo4j export-import``),
timed, into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphtrail.store.case import Case  # noqa: E402
from graphtrail.store.neo4j import Neo4jStore  # noqa: E402
from graphtrail.store.neo4j_case import push_case  # noqa: E402
from graphtrail.store.neo4j_import import write_import_files  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", type=Path)
    ap.add_argument("--calls-limit", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=5_000)
    args = ap.parse_args()
    case = Case.open(args.case)
    # a copy of the case whose activity holds only the first calls
    tmp = Path(tempfile.mkdtemp(prefix="gt-push-"))
    shutil.copytree(case.path, tmp / "case", ignore=shutil.ignore_patterns("events", "insights"))
    act = pq.ParquetFile(case.path / "graph" / "activity.parquet")
    first = next(act.iter_batches(batch_size=args.calls_limit))
    pq.write_table(__import__("pyarrow").Table.from_batches([first]), tmp / "case" / "graph" / "activity.parquet")
    small = Case(tmp / "case", case.state)

    from tests.bolt_server import arcadedb_server

    ctx = arcadedb_server() if not os.environ.get("NEO4J_URI") else None
    server_info = ctx.__enter__() if ctx else None
    uri = server_info.uri if server_info else os.environ["NEO4J_URI"]
    user = server_info.user if server_info else os.environ.get("NEO4J_USERNAME", "neo4j")
    pw = server_info.password if server_info else os.environ.get("NEO4J_PASSWORD", "")
    db = server_info.database if server_info else os.environ.get("NEO4J_DATABASE")
    try:
        server = Neo4jStore(uri, user, pw, db)
        server.write("MATCH (n) DETACH DELETE n")
        c0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        s = push_case(small, server, batch_size=args.batch_size)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        t1 = time.perf_counter()
        again = push_case(small, server, batch_size=args.batch_size)
        second = time.perf_counter() - t1
        t2 = time.perf_counter()
        files = write_import_files(small, tmp / "import")
        export = time.perf_counter() - t2
        d = s.as_dict()
        print(json.dumps({
            "server": uri.split("@")[-1], "nodes": d["nodes"], "relationships": d["relationships"],
            "graph_seconds": round(d["graph_seconds"], 1),
            "relationships_per_second": d["relationships_per_second"],
            "calls": d["calls_new"], "calls_seconds": round(d["calls_seconds"], 1),
            "calls_per_second": d["calls_per_second"],
            "client_cpu_share_of_wall": round(client_cpu / wall, 2),
            "second_push_seconds": round(second, 1),
            "second_push_new_calls": again.calls_new,
            "import_files_seconds": round(export, 1),
            "import_files_rows_per_second": round((files.node_count + files.relationship_count) / export),
            "import_files_nodes": files.node_count, "import_files_relationships": files.relationship_count,
            "load_average": [round(x, 1) for x in os.getloadavg()],
        }, indent=2))
        server.close()
    finally:
        if ctx:
            ctx.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
