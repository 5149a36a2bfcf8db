"""Push a case to Neo4j: its graph, its sessions and its calls. Idempotent and incremental.

* Nodes and edges go through :meth:`graphtrail.store.neo4j.Neo4jStore.push` (MERGE in
  batches); Session nodes carry their session row (issue and expiry in µs, issuer...).
* Calls become ``(:Call)`` nodes, one per group of calls sharing credential, action, resource
  and the rest (:mod:`graphtrail.store.neo4j_calls`: eventIDs and times as lists),
  ``(credential)-[:MADE]->(group)``, indexed by actor, event name, source IP and time span,
  so timelines and findings run in Neo4j too.
* Pushing again sends only groups that are new or changed (a later ingest adds calls, or
  relinks a call to a session it could not name before), and removes nodes and edges the
  case no longer has (a placeholder session that is now known, say). Only nodes labelled
  ``Graphtrail`` are read back, relinked or removed: a database may hold other data.
* Then ``cypher/derived_credentials.cypher`` rewrites the ``DERIVES`` relationships (one per
  step of a blast-radius walk) that ``blast_radius.cypher`` and ``timeline.cypher`` follow.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import pyarrow as pa

import cypher
from graphtrail.model import EdgeKind, NodeKind
from graphtrail.schema import NODE_CORE, ORIGIN_FIELDS, SESSION_PROPERTY
from graphtrail.store.case import Case
from graphtrail.store.neo4j import OWN_LABEL, Neo4jStore
from graphtrail.store.neo4j_calls import call_groups, check_call_model

__all__ = ["push_case", "CasePushSummary", "CALL_INDEXES", "call_index_statements", "session_nodes"]

# What the Cypher files find calls by: who, what, from where; a window skips whole groups.
CALL_INDEXES = ("actor", "event_name", "source_ip", "first_us", "last_us")


@dataclass
class CasePushSummary:
    nodes: int = 0
    relationships: int = 0
    calls_new: int = 0
    calls_relinked: int = 0
    calls_unchanged: int = 0
    stale_nodes_removed: int = 0
    stale_relationships_removed: int = 0
    unsupported: list[str] = field(default_factory=list)
    seconds: float = 0.0
    graph_seconds: float = 0.0
    calls_seconds: float = 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["relationships_per_second"] = round(self.relationships / self.graph_seconds) if self.graph_seconds else None
        d["calls_per_second"] = round((self.calls_new + self.calls_relinked) / self.calls_seconds) if self.calls_seconds else None
        return d


def session_nodes(nodes: pa.Table, sessions: pa.Table) -> pa.Table:
    """Merge each session's row into its node's properties (times as µs integers)."""
    s = sessions.to_pydict()
    for t in ("issued", "expires"):
        s[t] = sessions.column(t).cast(pa.int64()).to_pylist()
    # the session's id and account are the node's own (core) properties
    pushed = [(c, SESSION_PROPERTY.get(c, c)) for c in s if SESSION_PROPERTY.get(c, c) not in NODE_CORE]
    origins = s.get("origin") or [None] * len(s["session"])
    rows = {sid: {**{prop: s[c][i] for c, prop in pushed}, **_origin_fields(origins[i])}
            for i, sid in enumerate(s["session"])}
    props = []
    for nid, kind, text in zip(nodes.column("id").to_pylist(), nodes.column("kind").to_pylist(),
                               nodes.column("props").to_pylist(), strict=True):
        if kind == NodeKind.SESSION.value and nid in rows:
            merged = {**(json.loads(text) if text else {}), **rows[nid]}
            props.append(json.dumps(merged, default=str))
        else:
            props.append(text)
    return nodes.set_column(nodes.schema.get_field_index("props"), "props", pa.array(props, pa.string()))


# Who is behind a federated or service session (the sessions table's ``origin`` JSON), as
# plain properties chains.cypher can read: origin_kind, origin_provider, origin_subject...


def _origin_fields(text: str | None) -> dict:
    o = json.loads(text) if text else {}
    if not isinstance(o, dict):
        return {}
    return {f"origin_{k}": str(o[k]) for k in ORIGIN_FIELDS if o.get(k)}


def push_case(case: Case, server: Neo4jStore, *, batch_size: int = 10_000, calls: bool = True,
              progress=None) -> CasePushSummary:
    """Push ``case`` (its current graph) to ``server``; see the module docstring."""
    t0 = time.perf_counter()
    out = CasePushSummary()
    check_call_model(server)  # before anything is written
    nodes = session_nodes(case.graph_table("nodes"), case.graph_table("sessions"))
    edges = case.graph_table("edges")
    pushed = server.push(nodes, edges, batch_size=batch_size, progress=progress)
    out.nodes, out.relationships = pushed.node_count, pushed.relationship_count
    out.unsupported = list(pushed.unsupported)
    out.graph_seconds = time.perf_counter() - t0
    _remove_stale(server, nodes, edges, out)
    for statement in cypher.statements("derived_credentials"):  # what blast_radius.cypher walks
        server.write(statement)
    if calls:
        t1 = time.perf_counter()
        _push_calls(case, server, batch_size, out, progress)
        out.calls_seconds = time.perf_counter() - t1
    out.seconds = time.perf_counter() - t0
    return out


def _remove_stale(server: Neo4jStore, nodes: pa.Table, edges: pa.Table, out: CasePushSummary) -> None:
    have = set(nodes.column("id").to_pylist())
    # Only graphtrail's own nodes: anything else in the database is someone else's, whatever
    # its labels or the types of its properties.
    there = {r["id"] for r in server.run(
        f"MATCH (n:{OWN_LABEL}) WHERE NOT n:Call AND n.id IS NOT NULL RETURN n.id AS id")}
    stale = sorted(i for i in there - have if isinstance(i, str))
    for i in range(0, len(stale), 5000):
        server.write(f"UNWIND $ids AS id MATCH (n:{OWN_LABEL} {{id: id}}) WHERE NOT n:Call "
                     "DETACH DELETE n", {"ids": stale[i:i + 5000]})
    out.stale_nodes_removed = len(stale)
    want = set(zip(edges.column("src").to_pylist(), edges.column("kind").to_pylist(),
                   edges.column("dst").to_pylist(), strict=True))
    rels = server.run(f"MATCH (a:{OWN_LABEL})-[r]->(b:{OWN_LABEL}) WHERE type(r) <> 'MADE' "
                      "RETURN a.id AS src, type(r) AS kind, b.id AS dst")
    gone = [r for r in rels if (r["src"], r["kind"], r["dst"]) not in want]
    for kind in {r["kind"] for r in gone}:
        if kind not in {k.value for k in EdgeKind}:
            continue  # only graphtrail's own types, never anything else in the database
        pairs = [{"src": r["src"], "dst": r["dst"]} for r in gone if r["kind"] == kind]
        server.write(f"UNWIND $rows AS row MATCH (a:{OWN_LABEL} {{id: row.src}})"
                     f"-[r:{EdgeKind(kind).value}]->(b:{OWN_LABEL} {{id: row.dst}}) DELETE r",
                     {"rows": pairs})
    out.stale_relationships_removed = len(gone)


def _push_calls(case: Case, server: Neo4jStore, batch_size: int, out: CasePushSummary, progress) -> None:
    """Write the groups of calls that are new or changed, remove those the case no longer has.

    A changed group (a later ingest added calls to it, or relinked one of its calls to
    another actor) is deleted and written again: its id stays, its MADE edge may not."""
    for prop, statement in zip(CALL_INDEXES, call_index_statements(), strict=True):
        try:
            server.write(statement)
        except Exception as exc:  # an index the server cannot make only costs speed
            out.unsupported.append(f"index Call.{prop}: {exc}")
    groups = call_groups(case.graph_dir() / "activity.parquet")
    there = {r["id"]: r["digest"] for r in server.run(
        f"MATCH (c:Call:{OWN_LABEL}) RETURN c.id AS id, c.digest AS digest")}
    write, gone = [], set(there) - {g["id"] for g in groups}
    for g in groups:
        if there.get(g["id"]) == g["digest"]:
            out.calls_unchanged += g["count"]
            continue
        if g["id"] in there:
            gone.add(g["id"])
            out.calls_relinked += g["count"]
        else:
            out.calls_new += g["count"]
        write.append(g)
    stale = sorted(gone)
    for i in range(0, len(stale), 5000):
        server.write(f"UNWIND $ids AS id MATCH (c:Call:{OWN_LABEL} {{id: id}}) DETACH DELETE c",
                     {"ids": stale[i:i + 5000]})
    total, done = sum(g["count"] for g in write), 0
    by_kind: dict[str, list[dict]] = {}
    for g in write:
        by_kind.setdefault(g["actor_kind"], []).append(g)
    for kind, rows in sorted(by_kind.items()):
        query = _call_query(kind)
        for batch in _call_batches(rows, batch_size):
            server.write(query, {"rows": [{"id": g["id"], "actor": g["actor"], "props": g["props"]}
                                          for g in batch]})
            done += sum(g["count"] for g in batch)
            if progress:
                progress("calls", done, total)


def _call_batches(groups: list[dict], calls_per_batch: int):
    """Batches of about ``calls_per_batch`` calls (a group counts its calls: its lists are what
    travels), at least one group each."""
    batch, n = [], 0
    for g in groups:
        if batch and n + g["count"] > calls_per_batch:
            yield batch
            batch, n = [], 0
        batch.append(g)
        n += g["count"]
    if batch:
        yield batch


def call_index_statements() -> list[str]:
    """The indexes the push makes on the (:Call) groups (the import's schema file makes them too)."""
    return [f"CREATE INDEX graphtrail_call_{p} IF NOT EXISTS FOR (c:Call) ON (c.{p})" for p in CALL_INDEXES]


def _call_query(actor_kind: str) -> str:
    """CREATE call groups and their MADE edge; the actor's label comes from the model, never input."""
    head = f"UNWIND $rows AS row\nCREATE (c:Call:{OWN_LABEL})\nSET c = row.props, c.id = row.id\n"
    if actor_kind not in {k.value for k in NodeKind}:
        return head
    return head + f"WITH c, row\nMATCH (a:{NodeKind(actor_kind).value} {{id: row.actor}})\nCREATE (a)-[:MADE]->(c)"
