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

What MERGE would do is done in two steps, faster on ArcadeDB: the push reads which ids of a
batch the server holds (with their elementIds), CREATEs the others (getting theirs back) and
SETs on the rest; relationships are then matched by their endpoints' elementIds, not looked up
by ``(label, id)``. That rests on one writer per database while a push runs: a node deleted by
someone else between the read and the write would leave its elementId free for the server to
reuse, and a relationship could land on the wrong node.

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
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import neo4j
import pyarrow as pa
import pyarrow.compute as pc
from neo4j.exceptions import AuthError, ClientError

from graphtrail.schema import EDGE_CORE, EDGE_PUSHED, NODE_CORE, OWN_LABEL, EdgeKind, NodeKind
from graphtrail.times import iso, micros

__all__ = [
    "Neo4jStore",
    "PushSummary",
    "Progress",
    "NODE_CORE",
    "OWN_LABEL",
    "EDGE_CORE",
    "node_query",
    "create_edges_query",
    "update_edges_query",
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
    """The batch write of one label's nodes; rows are lists ``[id, label, account, props]``.

    ``verb`` is ``MERGE``, ``CREATE`` (the push found the ids absent) or ``MATCH`` (present):
    on ArcadeDB a MERGE on two labels is ten times slower than a CREATE. A CREATE returns the
    elementIds of its nodes, what the relationships are then matched by (:func:`create_edges_query`).
    A row is a list, not a map: the driver packs no key per row.

    >>> print(node_query(NodeKind.ROLE))
    UNWIND $rows AS r
    MERGE (n:Role:Graphtrail {id: r[0]})
    SET n += r[3], n.label = r[1], n.account = r[2]
    >>> print(node_query(NodeKind.ROLE, "CREATE"))
    UNWIND $rows AS r
    CREATE (n:Role:Graphtrail {id: r[0], label: r[1], account: r[2]})
    SET n += r[3]
    RETURN collect(r[0]) AS ids, collect(elementId(n)) AS elements
    >>> print(node_query(NodeKind.ROLE, "MATCH").splitlines()[1])
    MATCH (n:Role {id: r[0]}) WHERE n:Graphtrail
    """
    label = _name(kind)
    if verb == "CREATE":
        core = ", ".join(f"{p}: r[{i}]" for i, p in enumerate(NODE_CORE))
        # Both lists come out of one aggregation, so they pair up whatever order it takes.
        return (f"UNWIND $rows AS r\nCREATE (n:{label}:{OWN_LABEL} {{{core}}})\nSET n += r[3]\n"
                "RETURN collect(r[0]) AS ids, collect(elementId(n)) AS elements")
    sets = ", ".join(f"n.{p} = r[{i}]" for i, p in enumerate(NODE_CORE) if p != "id")
    head = _by_verb(verb, f"MATCH (n:{label} {{id: r[0]}}) WHERE n:{OWN_LABEL}",
                    f"{verb} (n:{label}:{OWN_LABEL} {{id: r[0]}})")
    return f"UNWIND $rows AS r\n{head}\nSET n += r[3], {sets}"


def _by_verb(verb: str, match: str, write: str) -> str:
    """``match`` for MATCH, ``write`` for MERGE and CREATE; any other verb is refused."""
    if verb not in ("MERGE", "CREATE", "MATCH"):
        raise ValueError(f"verb: MERGE, CREATE or MATCH, not {verb!r}")
    return match if verb == "MATCH" else write


def present_nodes_query(kind: NodeKind) -> str:
    """Which of ``$ids`` are graphtrail's nodes of this label already, and their elementIds."""
    return (f"UNWIND $ids AS id MATCH (n:{_name(kind)} {{id: id}}) WHERE n:{OWN_LABEL} "
            "RETURN collect(n.id) AS ids, collect(elementId(n)) AS elements")


# A relationship row: its two endpoints' elementIds, then these properties by position, then
# (when some row of the batch has any) the map of the others. The datetimes are built on the
# server from the epoch µs: two integers a row instead of two integers and two ISO texts.
EDGE_ROW = ("count", "event_ids", "event_names", *EDGE_PUSHED)
_EDGE_AT = {p: i for i, p in enumerate(("a", "b", *EDGE_ROW))}
_PROPS_AT = len(_EDGE_AT)
_ENDS = "MATCH (a) WHERE elementId(a) = r[0]\nMATCH (b) WHERE elementId(b) = r[1]"


def _datetime_of(micros: str) -> str:
    """Cypher for the UTC ``DATETIME`` of epoch µs ``micros``; null stays null.

    ``epochSeconds`` with ``nanosecond``: ArcadeDB drops a ``microsecond`` given beside
    ``epochSeconds``. Cypher's integer division truncates, so before 1970 it floors by hand.
    """
    pos = f"datetime({{epochSeconds: {micros} / 1000000, nanosecond: {micros} % 1000000 * 1000}})"
    nanos = f"({micros} % 1000000 + 1000000) % 1000000 * 1000"
    neg = f"datetime({{epochSeconds: ({micros} - 999999) / 1000000, nanosecond: {nanos}}})"
    return f"CASE WHEN {micros} >= 0 THEN {pos} WHEN {micros} < 0 THEN {neg} END"


def _edge_values() -> list[tuple[str, str]]:
    """(property, Cypher value) of the core properties, read from a row by position."""
    values = [(p, f"r[{_EDGE_AT[p]}]") for p in EDGE_ROW]
    return values + [(p, _datetime_of(f"r[{_EDGE_AT[f'{p}_us']}]")) for p in _DATETIMES]


def create_edges_query(kind: EdgeKind, props: bool = False) -> str:
    """The batch CREATE of one type's relationships between nodes given by elementId.

    Rows are lists (:data:`EDGE_ROW` after the two elementIds); the core properties go in the
    CREATE's map, not in a SET after it. ``props``: the rows end with a map of other properties.

    >>> q = create_edges_query(EdgeKind.OF_ROLE)
    >>> print(q.split(", first_seen:")[0])
    UNWIND $rows AS r
    MATCH (a) WHERE elementId(a) = r[0]
    MATCH (b) WHERE elementId(b) = r[1]
    CREATE (a)-[e:OF_ROLE {count: r[2], event_ids: r[3], event_names: r[4], first_seen_us: r[5], last_seen_us: r[6]
    >>> create_edges_query(EdgeKind.OF_ROLE, props=True).splitlines()[-1]
    'SET e += r[7]'
    """
    core = ", ".join(f"{p}: {v}" for p, v in _edge_values())
    query = f"UNWIND $rows AS r\n{_ENDS}\nCREATE (a)-[e:{_name(kind)} {{{core}}}]->(b)"
    return f"{query}\nSET e += r[{_PROPS_AT}]" if props else query


def update_edges_query(kind: EdgeKind) -> str:
    """The batch SET of the evidence on relationships the server holds; rows as for
    :func:`create_edges_query` with ``props=True``: a re-push leaves what a first push made."""
    core = ", ".join(f"e.{p} = {v}" for p, v in _edge_values())
    return (f"UNWIND $rows AS r\n{_ENDS}\nMATCH (a)-[e:{_name(kind)}]->(b)\n"
            f"SET e += r[{_PROPS_AT}], {core}")


def present_edges_query(kind: EdgeKind) -> str:
    """Which ``$rows`` (``[elementId a, elementId b]``) have their relationship already."""
    return (f"UNWIND $rows AS r\n{_ENDS}\nMATCH (a)-[:{_name(kind)}]->(b)\n"
            "RETURN DISTINCT r[0] AS a, r[1] AS b")


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
        # elementId of every node pushed, per label: the relationships are matched by it, not
        # by an index lookup on (label, id). One writer per database: no node graphtrail reads
        # here is deleted before its relationships are written (an elementId may be reused).
        elements: dict[NodeKind, dict[str, str]] = {}
        created: set[str] = set()  # elementIds: a relationship of a node created now is new too
        for kind, table in _split(nodes, "kind", NodeKind):
            found = elements.setdefault(kind, {})
            for batch in _batches(table, batch_size):
                rows = _node_values(batch)
                [have] = self._read(present_nodes_query(kind), ids=[r[0] for r in rows])
                found.update(zip(have["ids"], have["elements"], strict=True))
                new = self._create_or_set(rows, lambda r: r[0], found, summary,
                                          node_query(kind, "CREATE"), node_query(kind, "MATCH"))
                for record in new:
                    found.update(zip(record["ids"], record["elements"], strict=True))
                    created.update(record["elements"])
                done += batch.num_rows
                summary.nodes[kind.value] = summary.nodes.get(kind.value, 0) + batch.num_rows
                if progress:
                    progress("nodes", done, total)
        summary.node_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        typed, summary.skipped_edges = _with_endpoint_kinds(edges, nodes)
        total, done = typed.num_rows, 0
        for kind, by_kind in _split(typed, "kind", EdgeKind):
            present, update = present_edges_query(kind), update_edges_query(kind)
            for batch in _batches(by_kind, batch_size):
                rows, props = _relationship_rows(batch, elements)
                ask = [r[:2] for r in rows if r[0] not in created and r[1] not in created]
                have = {(r["a"], r["b"]) for r in self._read(present, rows=ask)} if ask else set()
                if have and not props:  # the update sets the other properties too
                    rows, props = [[*r, {}] for r in rows], True
                self._create_or_set(rows, lambda r: (r[0], r[1]), have, summary,
                                    create_edges_query(kind, props), update)
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

    def _create_or_set(self, rows: list[list[Any]], key: Callable[[list], Any], have: Container,
                       summary: PushSummary, create: str, update: str) -> list[dict[str, Any]]:
        """CREATE what the server lacks, SET on what it has: what MERGE does, without paying for
        MERGE (ArcadeDB). One writer per database: nothing else creates graphtrail's nodes
        between the read and the write. A key twice in ``rows`` is written once, its last row
        (as MERGE then SET would leave it). Returns what the CREATE returned."""
        new = {key(r): r for r in rows if key(r) not in have}
        old = [r for r in rows if key(r) in have]
        records = self._write(create, list(new.values()), summary) if new else []
        if old:
            self._write(update, old, summary)
        return records

    def _write(self, query: str, rows: list[list[Any]], summary: PushSummary) -> list[dict[str, Any]]:
        # One managed transaction per batch: the driver retries it on transient errors.
        records, result, _ = self._driver.execute_query(query, {"rows": rows}, database_=self.database)
        counters = result.counters
        summary.nodes_created += counters.nodes_created
        summary.relationships_created += counters.relationships_created
        summary.properties_set += counters.properties_set
        summary.batches += 1
        return [dict(r) for r in records]


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


def _node_values(batch: pa.Table) -> list[list[Any]]:
    """``[id, label, account, props]`` a node: what :func:`node_query` reads."""
    cols = [batch.column(c).to_pylist() for c in NODE_CORE]
    cols.append([flatten_props(p, NODE_CORE) for p in batch.column("props").to_pylist()])
    return [list(row) for row in zip(*cols, strict=True)]


def _node_rows(batch: pa.Table) -> list[dict[str, Any]]:
    """``{id, label, account, props}`` a node (the import files)."""
    keys = (*NODE_CORE, "props")
    return [dict(zip(keys, row, strict=True)) for row in _node_values(batch)]


def _relationship_rows(batch: pa.Table, elements: dict[NodeKind, dict[str, str]]
                       ) -> tuple[list[list[Any]], bool]:
    """The rows :func:`create_edges_query` reads, and whether they end with a props map (only
    when some edge of the batch has other properties)."""
    cols = [_element_ids(batch, end, elements) for end in ("src", "dst")]
    cols += [batch.column(c).to_pylist() for c in EDGE_ROW[:3]]
    for c in ("event_ids", "event_names"):  # a null list is stored as an empty one
        at = _EDGE_AT[c]
        cols[at] = [v or [] for v in cols[at]]
    cols += [batch.column(c).cast(pa.int64()).to_pylist() for c in _DATETIMES]
    reserved = (*EDGE_CORE, *EDGE_PUSHED)
    props = [flatten_props(p, reserved) for p in batch.column("props").to_pylist()]
    if any(props):
        cols.append(props)
    return [list(row) for row in zip(*cols, strict=True)], len(cols) > _PROPS_AT


def _element_ids(batch: pa.Table, end: str, elements: dict[NodeKind, dict[str, str]]) -> list[str]:
    ids, kinds = batch.column(end).to_pylist(), batch.column(f"{end}_kind").to_pylist()
    if len(set(kinds)) == 1:
        found = elements[NodeKind(kinds[0])]
        return [found[i] for i in ids]
    return [elements[NodeKind(k)][i] for k, i in zip(kinds, ids, strict=True)]


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
