"""Memory the Neo4j push holds to match relationships by elementId, measured, not estimated.

``neo4j push`` keeps, for every node it pushed, its graphtrail id -> the server's elementId
(``graphtrail.store.neo4j``: ``elements``), and the elementIds of the nodes it created
(``created``), until the relationships are written. This builds those two structures the
way the push does, for N nodes whose ids have the shapes of a real case's (sessions, keys,
principals, resources, addresses, in the proportions of the 1M generated trail) and
elementIds of Neo4j 5's shape (``4:<database uuid>:<number>``), and reports what
``tracemalloc`` counts for them.

Usage::

    python benchmarks/bench_neo4j_idmap.py [--nodes 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tracemalloc
import uuid

__all__ = ["main", "measure"]

# node kinds of the 1M generated trail, per 8,184 nodes, and an id of each kind's shape
_SHAPES = (
    (6699, "session:ASIA{n:016X}@2024-06-01T00:00:02Z"),
    (565, "ip:203.{a}.{b}.{c}"),
    (349, "s3:301234567890:bucket-{n}"),
    (213, "arn:aws:iam::301234567890:user/user.{n}"),
    (213, "key:AKIA{n:016X}"),
    (120, "arn:aws:iam::503456789012:role/role-{n}"),
    (25, "idp:token.actions.githubusercontent.com/{n}"),
)


def _ids(n: int):
    total = sum(w for w, _ in _SHAPES)
    made = 0
    for i, (weight, shape) in enumerate(_SHAPES):
        count = n - made if i == len(_SHAPES) - 1 else n * weight // total
        for k in range(count):
            yield i, shape.format(n=k, a=k >> 16 & 255, b=k >> 8 & 255, c=k & 255)
        made += count


def measure(n: int) -> dict:
    database = str(uuid.uuid4())
    tracemalloc.start()
    elements: dict[int, dict[str, str]] = {}
    created: set[str] = set()
    for number, (kind, node_id) in enumerate(_ids(n)):
        element = f"4:{database}:{number}"
        elements.setdefault(kind, {})[node_id] = element
        created.add(element)  # a fresh database: every node is created
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    nodes = sum(len(d) for d in elements.values())
    return {"nodes": nodes, "held_mb": round(held / 2**20, 1), "peak_mb": round(peak / 2**20, 1),
            "bytes_per_node": round(held / max(nodes, 1))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.nodes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
