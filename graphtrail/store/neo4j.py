"""Push a case's graph to Neo4j (or any Bolt server with Neo4j-compatible Cypher) and query it.

:class:`Neo4jStore` writes the nodes and edges tables of a case (:func:`graphtrail.model.node_schema`,
:func:`graphtrail.model.edge_schema`) with ``UNWIND $rows AS row MERGE ...`` in batches, one
transaction per batch, and runs read queries with plain Python values out.

The Cypher is generated from the schema, never from the data: a label is a
:class:`~graphtrail.model.NodeKind` value, a relationship type an
:class:`~graphtrail.model.EdgeKind` value, and everything read from CloudTrail travels as a
parameter.

How a case maps to the graph
----------------------------
* A node gets its kind as label (``Session``, ``Role``...), the label ``Graphtrail`` (every
  node graphtrail writes has it, and graphtrail deletes no other node: the database may hold
  anything else), and properties ``id`` (unique per label), ``label`` (display name) and
  ``account``.
* An edge ``(src)-[KIND]->(dst)`` is one relationship per (src, kind, dst), with ``first_seen``
  and ``last_seen`` (Neo4j ``DATETIME`` in UTC, and as epoch microseconds in ``first_seen_us``
  and ``last_seen_us``, what the Cypher library compares with ``$since``/``$until``), ``count`` (integer) and ``event_ids`` /
  ``event_names`` (lists of strings): the evidence behind it.
* ``props`` (JSON text) become top-level properties: Neo4j stores scalars and homogeneous lists
  of scalars only, never maps. A nested object, a list of mixed types or with nulls, and an
  integer beyond 64 bits are stored as their JSON text under the same key; a null is skipped; a
  key equal to a core property above is dropped (the core property wins).

Pushing is idempotent and incremental: nodes and relationships are MERGEd on their identity and
their evidence is SET from the table (not added to), so pushing the same case twice gives the
same graph, and pushing it again after a new ingest adds the new nodes and relationships and
updates counts and last-seen times in place. Nothing is deleted.

Datetimes are sent as ISO 8601 text in UTC (``2024-05-01T12:00:00.123456Z``) and stored with
Cypher's ``datetime()``: a ``DATETIME`` in UTC on Neo4j and on ArcadeDB alike. Text packs
several times faster than the driver's datetime values, and ArcadeDB keeps the zone of a parsed
datetime but drops it from a ``datetime`` parameter.

Example (against a running server)::

    store = Neo4jStore("bolt://127.0.0.1:7687", "neo4j", "secret")
    store.push(nodes, edges).relationship_count      # 42
    store.run("MATCH (s:Session) RETURN s.id AS id LIMIT 1", {})   # [{'id': 'session:ASIA...'}]
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import neo4j
import pyarrow as pa
import pyarrow.compute as pc
from neo4j.exceptions import AuthError, ClientError

from graphtrail.schema import EDGE_CORE, NODE_CORE, OWN_LABEL, EdgeKind, NodeKind
from graphtrail.times import iso, micros

__all__ = [
    "Neo4jStore",
    "PushSummary",
    "Progress",
    "NODE_CORE",
    "OWN_LABEL",
    "EDGE_CORE",
    "node_query",
    "edge_query",
    "present_nodes_query",
    "present_edges_query",
    "schema_statements",
    "flatten_props",
]

# Timestamps travel as ISO 8601 text and become DATETIME on the server (see the module docstring).
_DATETIMES = ("first_seen", "last_seen")
_ISO = "%Y-%m-%dT%H:%M:%SZ"  # Arrow prints the microseconds after %S

# Rows per batch are also capped by size: ArcadeDB refuses Bolt messages over 16 MB, and an edge
# carries up to 50 eventIDs.
MAX_BATCH_BYTES = 4 << 20

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_INT64 = (-(2**63), 2**63 - 1)

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: phase is ``"nodes"`` or ``"relationships"``."""


@dataclass
class PushSummary:
    """What a push wrote: rows sent per label and type, what the server created, and timing."""

    nodes: dict[str, int] = field(default_factory=dict)  # label -> rows MERGEd
    relationships: dict[str, int] = field(default_factory=dict)  # type -> rows MERGEd
    nodes_created: int = 0
    relationships_created: int = 0
    properties_set: int = 0
    skipped_edges: int = 0  # an endpoint is missing from the nodes table
    schema: list[str] = field(default_factory=list)  # statements the server ran
    unsupported: list[str] = field(default_factory=list)  # "statement: server's error"
    batches: int = 0
    node_seconds: float = 0.0
    relationship_seconds: float = 0.0

    @property
    def node_count(self) -> int:
        return sum(self.nodes.values())

    @property
    def relationship_count(self) -> int:
        return sum(self.relationships.values())

    @property
    def nodes_per_second(self) -> float:
        return self.node_count / self.node_seconds if self.node_seconds else 0.0

    @property
    def relationships_per_second(self) -> float:
        rels, secs = self.relationship_count, self.relationship_seconds
        return rels / secs if secs else 0.0


def _name(kind: NodeKind | EdgeKind) -> str:
    # Enum values are safe by construction; checking keeps them so if the model ever changes.
    if not _NAME.fullmatch(kind.value):
        raise ValueError(f"{kind!r}: a label or type must match {_NAME.pattern}")
    return kind.value


def schema_statements(kind: NodeKind) -> tuple[str, str]:
    """The uniqueness constraint on ``id`` for a label, and the plain index to fall back on.

    >>> schema_statements(NodeKind.SESSION)[0]
    'CREATE CONSTRAINT graphtrail_session_id IF NOT EXISTS FOR (n:Session) REQUIRE n.id IS UNIQUE'
    """
    label = _name(kind)
    name = f"graphtrail_{kind.name.lower()}_id"
    return (
        f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE",
        f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.id)",
    )


def node_query(kind: NodeKind, verb: str = "MERGE") -> str:
    """The batch write of one label's nodes; rows are ``{id, label, account, props}``.

    ``verb`` is ``MERGE``, ``CREATE`` (the push found the ids absent) or ``MATCH`` (present):
    on ArcadeDB a MERGE on two labels is ten times slower than a CREATE.

    >>> print(node_query(NodeKind.ROLE))
    UNWIND $rows AS row
    MERGE (n:Role:Graphtrail {id: row.id})
    SET n += row.props, n.label = row.label, n.account = row.account
    >>> print(node_query(NodeKind.ROLE, "MATCH").splitlines()[1])
    MATCH (n:Role {id: row.id}) WHERE n:Graphtrail
    """
    sets = ", ".join(f"n.{p} = row.{p}" for p in NODE_CORE if p != "id")
    head = _by_verb(verb, f"MATCH (n:{_name(kind)} {{id: row.id}}) WHERE n:{OWN_LABEL}",
                    f"{verb} (n:{_name(kind)}:{OWN_LABEL} {{id: row.id}})")
    return f"UNWIND $rows AS row\n{head}\nSET n += row.props, {sets}"


def _by_verb(verb: str, match: str, write: str) -> str:
    """``match`` for MATCH, ``write`` for MERGE and CREATE; any other verb is refused."""
    if verb not in ("MERGE", "CREATE", "MATCH"):
        raise ValueError(f"verb: MERGE, CREATE or MATCH, not {verb!r}")
    return match if verb == "MATCH" else write


def present_nodes_query(kind: NodeKind) -> str:
    """Which of ``$ids`` are graphtrail's nodes of this label already."""
    return f"UNWIND $ids AS id MATCH (n:{_name(kind)} {{id: id}}) WHERE n:{OWN_LABEL} RETURN n.id AS id"


def present_edges_query(kind: EdgeKind, src: NodeKind, dst: NodeKind) -> str:
    """Which ``$rows`` (``{src, dst}``) have their relationship already."""
    return (f"UNWIND $rows AS row MATCH (a:{_name(src)} {{id: row.src}})-[:{_name(kind)}]->"
            f"(b:{_name(dst)} {{id: row.dst}}) RETURN DISTINCT row.src AS src, row.dst AS dst")


def edge_query(kind: EdgeKind, src: NodeKind, dst: NodeKind, verb: str = "MERGE") -> str:
    """The batch upsert of one (type, source label, target label); rows carry the evidence.

    The properties go in one map (``count``, ``event_ids`` and ``event_names`` in it): one SET
    item per property was 1.6-1.8x slower on ArcadeDB (benchmarks/bench_neo4j_push.py).
    ``verb``: ``MERGE``, ``CREATE`` (the push found the relationships absent) or ``MATCH``.

    >>> print(edge_query(EdgeKind.OF_ROLE, NodeKind.SESSION, NodeKind.ROLE))
    UNWIND $rows AS row
    MATCH (a:Session {id: row.src})
    MATCH (b:Role {id: row.dst})
    MERGE (a)-[r:OF_ROLE]->(b)
    SET r += row.props, r.first_seen = datetime(row.first_seen), r.last_seen = datetime(row.last_seen)
    """
    sets = ", ".join(f"r.{p} = datetime(row.{p})" for p in _DATETIMES)
    a, b = f"(a:{_name(src)} {{id: row.src}})", f"(b:{_name(dst)} {{id: row.dst}})"
    match = _by_verb(verb, f"MATCH {a}-[r:{_name(kind)}]->{b}",
                     f"MATCH {a}\nMATCH {b}\n{verb} (a)-[r:{_name(kind)}]->(b)")
    return f"UNWIND $rows AS row\n{match}\nSET r += row.props, {sets}"


def flatten_props(text: str | None, reserved: tuple[str, ...] = ()) -> dict[str, Any]:
    """JSON object text -> properties Neo4j can store (see the module docstring).

    >>> flatten_props('{"mfa": true, "tags": ["a", "b"], "doc": {"x": 1}, "gone": null, "id": 1}',
    ...               reserved=("id",))
    {'mfa': True, 'tags': ['a', 'b'], 'doc': '{"x":1}'}
    """
    if not text or text == "{}":
        return {}
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError(f"props: expected a JSON object, got {type(obj).__name__}: {text[:80]!r}")
    return {k: _storable(v) for k, v in obj.items() if v is not None and k not in reserved}


def _storable(value: Any) -> Any:
    if _scalar(value):
        return value
    if isinstance(value, list) and len({type(v) for v in value}) <= 1 and all(map(_scalar, value)):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _scalar(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT64[0] <= value <= _INT64[1]
    return isinstance(value, str | float | bool)


class Neo4jStore:
    """A Bolt server holding a case's graph: :meth:`push` writes it, :meth:`run` reads it.

    ``database=None`` uses the server's default database.
    """

    def __init__(self, uri: str, user: str, password: str, database: str | None = None) -> None:
        self.uri = uri
        self.database = database
        self._driver = neo4j.GraphDatabase.driver(uri, auth=(user, password))

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push(
        self,
        nodes: pa.Table,
        edges: pa.Table,
        *,
        batch_size: int = 10_000,
        progress: Progress | None = None,
    ) -> PushSummary:
        """Create constraints, then MERGE the nodes and the edges, ``batch_size`` rows a batch.

        Edges whose source or target is not in ``nodes`` are skipped and counted: their label
        is unknown, so they cannot be matched.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        _check_kinds(nodes, "kind", NodeKind, "nodes")
        _check_kinds(edges, "kind", EdgeKind, "edges")
        summary = PushSummary()
        self._ensure_schema(summary)

        t0 = time.perf_counter()
        total, done = nodes.num_rows, 0
        created: dict[NodeKind, set] = {}  # a relationship of a node created now is new too
        for kind, table in _split(nodes, "kind", NodeKind):
            for batch in _batches(table, batch_size):
                rows = _node_rows(batch)
                have = {r["id"] for r in self._read(present_nodes_query(kind), ids=[r["id"] for r in rows])}
                created.setdefault(kind, set()).update(self._create_or_set(
                    rows, lambda r: r["id"], have, summary, node_query(kind, "CREATE"),
                    node_query(kind, "MATCH")))
                done += batch.num_rows
                summary.nodes[kind.value] = summary.nodes.get(kind.value, 0) + batch.num_rows
                if progress:
                    progress("nodes", done, total)
        summary.node_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        typed, summary.skipped_edges = _with_endpoint_kinds(edges, nodes)
        total, done = typed.num_rows, 0
        for kind, by_kind in _split(typed, "kind", EdgeKind):
            for src, by_src in _split(by_kind, "src_kind", NodeKind):
                for dst, table in _split(by_src, "dst_kind", NodeKind):
                    present = present_edges_query(kind, src, dst)
                    create, update = edge_query(kind, src, dst, "CREATE"), edge_query(kind, src, dst, "MATCH")
                    for batch in _batches(table, batch_size):
                        rows = _edge_rows(batch)
                        new_a, new_b = created.get(src, set()), created.get(dst, set())
                        ask = [{"src": r["src"], "dst": r["dst"]} for r in rows
                               if r["src"] not in new_a and r["dst"] not in new_b]
                        have = {(r["src"], r["dst"]) for r in self._read(present, rows=ask)} if ask else set()
                        self._create_or_set(rows, lambda r: (r["src"], r["dst"]), have, summary,
                                            create, update)
                        done += batch.num_rows
                        n = summary.relationships.get(kind.value, 0) + batch.num_rows
                        summary.relationships[kind.value] = n
                        if progress:
                            progress("relationships", done, total)
        summary.relationship_seconds = time.perf_counter() - t0
        return summary

    def run(self, cypher: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query; values come back as plain Python.

        Datetimes become text in UTC, spelt as in the case: ``2024-05-01T12:00:00Z``, with the
        microseconds when there are any (:func:`graphtrail.ids.iso`).
        Nodes become ``{"_labels": [...], **properties}``, relationships
        ``{"_type": TYPE, **properties}`` and paths ``{"nodes": [...], "relationships": [...]}``.
        The transaction is opened read-only: Neo4j refuses writes in it (ArcadeDB does not).
        """
        records, _, _ = self._driver.execute_query(
            cypher, params or {}, database_=self.database, routing_=neo4j.RoutingControl.READ
        )
        return [{k: _plain(v) for k, v in record.items()} for record in records]

    def write(self, cypher: str, params: dict[str, Any] | None = None) -> None:
        """Run one write statement in its own transaction (retried on transient errors).

        For statements graphtrail generates (schema, clean-up); data goes in ``params``.
        """
        self._driver.execute_query(cypher, params or {}, database_=self.database)

    def _ensure_schema(self, summary: PushSummary) -> None:
        for kind in NodeKind:
            for statement in schema_statements(kind):
                try:
                    self._driver.execute_query(statement, database_=self.database)
                except AuthError:
                    raise
                except ClientError as exc:  # unsupported, not allowed, or data in the way
                    summary.unsupported.append(f"{statement}: {exc.message}")
                else:
                    summary.schema.append(statement)
                    break

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        records, _, _ = self._driver.execute_query(
            query, params, database_=self.database, routing_=neo4j.RoutingControl.READ)
        return [dict(r) for r in records]

    def _create_or_set(self, rows: list[dict[str, Any]], key: Callable[[dict], Any], have: set,
                       summary: PushSummary, create: str, update: str) -> set:
        """CREATE what the server lacks, SET on what it has: what MERGE does, without paying for
        MERGE (ArcadeDB). One writer per database: nothing else creates graphtrail's nodes
        between the read and the write. A key twice in ``rows`` is written once, its last row
        (as MERGE then SET would leave it)."""
        new = {key(r): r for r in rows if key(r) not in have}
        old = [r for r in rows if key(r) in have]
        if new:
            self._write(create, list(new.values()), summary)
        if old:
            self._write(update, old, summary)
        return set(new)

    def _write(self, query: str, rows: list[dict[str, Any]], summary: PushSummary) -> None:
        # One managed transaction per batch: the driver retries it on transient errors.
        _, result, _ = self._driver.execute_query(query, {"rows": rows}, database_=self.database)
        counters = result.counters
        summary.nodes_created += counters.nodes_created
        summary.relationships_created += counters.relationships_created
        summary.properties_set += counters.properties_set
        summary.batches += 1


def _check_kinds(table: pa.Table, column: str, enum: type[StrEnum], what: str) -> None:
    """Refuse the whole push before writing anything when a kind is not in the model."""
    known = {m.value for m in enum}
    for value in pc.unique(table.column(column)).to_pylist():
        if value not in known:
            rows = pc.sum(pc.equal(table.column(column), value)).as_py() if value else None
            raise ValueError(
                f"{what} table: {rows or 'some'} rows have {column} {value!r}; "
                f"expected one of {', '.join(sorted(known))}"
            )


def _split(table: pa.Table, column: str, enum: type[StrEnum]) -> Iterator[tuple[Any, pa.Table]]:
    """Yield ``(enum member, rows)`` for each distinct value of ``column``, in a stable order."""
    for value in sorted(pc.unique(table.column(column)).to_pylist()):
        yield enum(value), table.filter(pc.equal(table.column(column), value))


def _with_endpoint_kinds(edges: pa.Table, nodes: pa.Table) -> tuple[pa.Table, int]:
    """Edges with ``src_kind`` and ``dst_kind`` looked up in the nodes table; drop the unmatched."""
    ids, kinds = nodes.column("id").combine_chunks(), nodes.column("kind")
    for end in ("src", "dst"):
        where = pc.index_in(edges.column(end), value_set=ids)  # null when absent
        edges = edges.append_column(f"{end}_kind", pc.take(kinds, where))
    matched = pc.and_(pc.is_valid(edges.column("src_kind")), pc.is_valid(edges.column("dst_kind")))
    kept = edges.filter(matched)
    return kept, edges.num_rows - kept.num_rows


def _batches(table: pa.Table, size: int) -> Iterator[pa.Table]:
    start = 0
    while start < table.num_rows:
        n = min(size, table.num_rows - start)
        while n > 1 and table.slice(start, n).nbytes > MAX_BATCH_BYTES:
            n //= 2
        yield table.slice(start, n)
        start += n


def _node_rows(batch: pa.Table) -> list[dict[str, Any]]:
    cols = [batch.column(c).to_pylist() for c in ("id", "label", "account", "props")]
    return [
        {"id": i, "label": label, "account": account, "props": flatten_props(props, NODE_CORE)}
        for i, label, account, props in zip(*cols, strict=True)
    ]


def _edge_rows(batch: pa.Table) -> list[dict[str, Any]]:
    """``{src, dst, first_seen, last_seen, props}``; props hold the other core properties and
    the times as epoch µs (what the Cypher library compares with $since/$until)."""
    names = ("src", "dst", *(c for c in EDGE_CORE if c not in _DATETIMES))
    cols = {c: batch.column(c).to_pylist() for c in names}
    props = [flatten_props(p, EDGE_CORE) for p in batch.column("props").to_pylist()]
    for c in ("event_ids", "event_names"):
        cols[c] = [v or [] for v in cols[c]]
    for c in ("count", "event_ids", "event_names"):
        for p, v in zip(props, cols.pop(c), strict=True):
            p[c] = v
    for c in _DATETIMES:  # Arrow formats them in C++: no datetime objects are built
        utc = batch.column(c).cast(pa.timestamp("us", tz="UTC"))
        cols[c] = pc.strftime(utc, format=_ISO).to_pylist() if len(utc) else []
        for p, us in zip(props, batch.column(c).cast(pa.int64()).to_pylist(), strict=True):
            if us is not None:
                p[f"{c}_us"] = us
    cols["props"] = props
    keys = list(cols)
    return [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def _plain(value: Any) -> Any:
    """A driver value as plain Python: JSON-ready but for ints and floats."""
    if isinstance(value, neo4j.time.DateTime):
        # a zone-less datetime is one graphtrail wrote in UTC
        return iso(micros(value.to_native()))  # the case's spelling of a time
    if isinstance(value, neo4j.time.Date | neo4j.time.Time | neo4j.time.Duration):
        return value.iso_format()
    if isinstance(value, neo4j.graph.Node):
        return {"_labels": sorted(value.labels), **_plain(dict(value))}
    if isinstance(value, neo4j.graph.Relationship):
        return {"_type": value.type, **_plain(dict(value))}
    if isinstance(value, neo4j.graph.Path):
        return {
            "nodes": [_plain(n) for n in value.nodes],
            "relationships": [_plain(r) for r in value.relationships],
        }
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
