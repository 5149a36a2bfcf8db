"""Benchmark :meth:`graphtrail.store.neo4j.Neo4jStore.push`: nodes/s and relationships/s.

Builds a synthetic case (sessions issuing sessions, sessions of roles, calls from IPs and on
resources), starts ArcadeDB from the ``arcadedb-embedded`` wheel on a loopback port (or uses
``NEO4J_URI`` / ``NEO4J_USERNAME`` / ``NEO4J_PASSWORD`` / ``NEO4J_DATABASE`` when set; that
database is wiped first), pushes it into an empty graph, then pushes it again (the idempotent
re-push: every MERGE matches). To say what bounds the rate it reports the client's CPU time (the
Python building rows and the driver packing them) and, for the server it started, the server's
CPU time, both as a share of wall time.

The reference (issue 12): for each batch size, the bare driver first writes the same number of
relationships into the wiped database with plain ``UNWIND $rows AS r CREATE (a {id: r.src})-[:T]->(b
{id: r.dst})`` batches (rows carry the two ids only), then graphtrail pushes the case into the
wiped database; the ratio is graphtrail's relationships/s over the bare driver's.

    python benchmarks/bench_neo4j_push.py --edges 20000 --batch-size 1000 --batch-size 5000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from neo4j._codec.packstream import v1 as packstream

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphtrail.model import EdgeKind, NodeKind, edge_schema, node_schema  # noqa: E402
from graphtrail.store.neo4j import Neo4jStore, _batches, _edge_rows, _node_rows  # noqa: E402
from tests.bolt_fixture import external_bolt_server  # noqa: E402
from tests.bolt_server import BoltServer, arcadedb_server  # noqa: E402

__all__ = ["synthetic_case", "main"]

# (edge kind, source kind, target kind, share of the edges)
_MIX = (
    (EdgeKind.ISSUED, NodeKind.SESSION, NodeKind.SESSION, 0.15),
    (EdgeKind.OF_ROLE, NodeKind.SESSION, NodeKind.ROLE, 0.15),
    (EdgeKind.FROM_IP, NodeKind.SESSION, NodeKind.IP, 0.20),
    (EdgeKind.ACTED_ON, NodeKind.SESSION, NodeKind.RESOURCE, 0.45),
    (EdgeKind.HAS_KEY, NodeKind.USER, NodeKind.ACCESS_KEY, 0.05),
)
_NODE_SHARE = {
    NodeKind.SESSION: 0.55,
    NodeKind.ROLE: 0.05,
    NodeKind.IP: 0.10,
    NodeKind.RESOURCE: 0.20,
    NodeKind.USER: 0.05,
    NodeKind.ACCESS_KEY: 0.05,
}


def synthetic_case(n_nodes: int, n_edges: int, ids_per_edge: int = 3, seed: int = 7):
    """``(nodes, edges)`` tables of the model schemas; edges are unique per (src, kind, dst)."""
    rng = np.random.default_rng(seed)
    ids: dict[NodeKind, np.ndarray] = {}
    for kind, share in _NODE_SHARE.items():
        n = max(1, int(n_nodes * share))
        ids[kind] = np.char.add(f"{kind.value}-", np.arange(n).astype(str))
    node_ids = np.concatenate(list(ids.values()))
    kinds = np.concatenate([np.full(len(v), k.value) for k, v in ids.items()])
    nodes = pa.table(
        {
            "id": node_ids,
            "kind": kinds,
            "label": node_ids,
            "account": np.full(len(node_ids), "111122223333"),
            "props": np.full(len(node_ids), json.dumps({"synthetic": True})),
        },
        schema=node_schema(),
    )
    parts = []
    t0 = np.datetime64("2024-05-01T00:00:00", "us").astype(np.int64)
    for kind, src, dst, share in _MIX:
        n = int(n_edges * share * 1.05)  # a little over: duplicates are dropped below
        s = rng.choice(ids[src], n)
        d = rng.choice(ids[dst], n)
        first = t0 + rng.integers(0, 86_400_000_000, n)
        event = np.char.add("evt-", np.arange(n).astype(str))
        part = pa.table(
            {
                "src": s,
                "dst": d,
                "kind": np.full(n, kind.value),
                "first_seen": pa.array(first, pa.timestamp("us", tz="UTC")),
                "last_seen": pa.array(first + 3_600_000_000, pa.timestamp("us", tz="UTC")),
                "count": rng.integers(1, 20, n),
                "event_ids": [[f"{e}-{j}" for j in range(ids_per_edge)] for e in event],
                "event_names": [["AssumeRole"]] * n,
                "props": np.full(n, "{}"),
            },
            schema=edge_schema(),
        )
        # One relationship per (src, kind, dst), as in a real case; unique() keeps first-seen order.
        key = pc.binary_join_element_wise(part["src"], part["dst"], "\x1f")
        first = pc.index_in(pc.unique(key), value_set=key)
        parts.append(part.take(first).slice(0, int(n_edges * share)))
    return nodes, pa.concat_tables(parts)


@contextlib.contextmanager
def _server(heap: str) -> Iterator[BoltServer]:
    external = external_bolt_server()
    if external is not None:
        yield external
        return
    t0 = time.perf_counter()
    with arcadedb_server(heap=heap) as server:
        print(f"ArcadeDB ready in {time.perf_counter() - t0:.1f} s (pid {server.pid})")
        yield server


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process, 0 when it is not ours to see."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _push(store: Neo4jStore, server: BoltServer, nodes, edges, batch_size: int, what: str):
    wall, cpu, srv = time.perf_counter(), time.process_time(), _cpu_seconds(server.pid)
    summary = store.push(nodes, edges, batch_size=batch_size)
    wall = time.perf_counter() - wall
    cpu, srv = time.process_time() - cpu, _cpu_seconds(server.pid) - srv
    server_share = f"{srv / wall:4.0%}" if server.pid else "  n/a"
    print(
        f"{what:<8} batch {batch_size:>6}: {summary.nodes_per_second:>9,.0f} nodes/s "
        f"{summary.relationships_per_second:>9,.0f} rels/s  wall {wall:6.1f} s  "
        f"client CPU {cpu / wall:4.0%}  server CPU {server_share} (of one core)  "
        f"created {summary.nodes_created:,} nodes {summary.relationships_created:,} rels"
    )
    return summary


def _bare(store: Neo4jStore, edges: pa.Table, batch_size: int) -> float:
    """The bare driver's relationships/s: plain UNWIND CREATE batches, one transaction each."""
    src, dst = edges.column("src").to_pylist(), edges.column("dst").to_pylist()
    query = "UNWIND $rows AS r CREATE (a {id: r.src})-[:T]->(b {id: r.dst})"
    t0 = time.perf_counter()
    for i in range(0, len(src), batch_size):
        rows = [{"src": s, "dst": d} for s, d in zip(src[i:i + batch_size], dst[i:i + batch_size], strict=True)]
        store._driver.execute_query(query, {"rows": rows}, database_=store.database)
    rate = len(src) / (time.perf_counter() - t0)
    print(f"bare     batch {batch_size:>6}: {rate:>9,.0f} rels/s  (UNWIND CREATE, the reference)")
    return rate


def _ship_only(store: Neo4jStore, edges: pa.Table, batch_size: int) -> None:
    """Client and wire ceiling: the same rows sent to a query that only counts them."""
    t0 = time.perf_counter()
    for batch in _batches(edges, batch_size):
        store._driver.execute_query(
            "RETURN size($rows)", {"rows": _edge_rows(batch)}, database_=store.database
        )
    wall = time.perf_counter() - t0
    print(f"ship-only batch {batch_size:>6}: {edges.num_rows / wall:>9,.0f} rows/s (no writes)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--ids-per-edge", type=int, default=3, help="evidence eventIDs per edge")
    parser.add_argument("--batch-size", type=int, action="append", help="repeat to compare")
    parser.add_argument("--heap", default="4g", help="ArcadeDB -Xmx")
    parser.add_argument("--ship-only", action="store_true", help="also time sending rows unwritten")
    parser.add_argument("--re-push", action="store_true", help="also time the idempotent re-push")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every batch size: the server's JVM warms up over the first rounds, "
                             "and the bare driver gains more from it than the push")
    args = parser.parse_args(argv)

    nodes, edges = synthetic_case(args.nodes, args.edges, args.ids_per_edge)
    # A private attribute of the driver: None unless the neo4j-rust-ext wheel is installed.
    rust = getattr(packstream, "_rust_pack", None) is not None
    packer = "neo4j-rust-ext" if rust else "pure Python (pip install neo4j-rust-ext: faster)"
    print(f"driver packstream: {packer}")
    print(f"case: {nodes.num_rows:,} nodes, {edges.num_rows:,} edges, {edges.nbytes >> 20} MiB")
    t0 = time.perf_counter()
    _node_rows(nodes), _edge_rows(edges)
    print(f"building Bolt rows alone (client Python): {time.perf_counter() - t0:.1f} s")

    print(f"machine load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f} "
          f"on {os.cpu_count()} CPUs")
    table = []
    with _server(args.heap) as server, Neo4jStore(*server) as store:
        wipe = "MATCH (n) DETACH DELETE n"
        for round_, batch_size in [(r, b) for r in range(1, args.rounds + 1) for b in args.batch_size or [10_000]]:
            if args.ship_only:
                _ship_only(store, edges, batch_size)
            store._driver.execute_query(wipe, database_=store.database)
            bare = _bare(store, edges, batch_size)
            store._driver.execute_query(wipe, database_=store.database)
            pushed = _push(store, server, nodes, edges, batch_size, "empty")
            if args.re_push:
                _push(store, server, nodes, edges, batch_size, "re-push")
            table.append((round_, batch_size, bare, pushed.relationships_per_second))
    print("\nround  batch    bare rels/s  graphtrail rels/s  ratio (target >= 0.5)")
    for round_, batch_size, bare, ours in table:
        print(f"{round_:>5} {batch_size:>6} {bare:>12,.0f} {ours:>18,.0f}  {ours / bare:5.2f}x")
    print(f"machine load after: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")


if __name__ == "__main__":
    main()
