"""Push a case to Neo4j: its graph, its sessions and its calls. Idempotent and incremental.

* Nodes and edges go through :meth:`graphtrail.store.neo4j.Neo4jStore.push` (MERGE in
  batches); Session nodes carry their session row (issue and expiry in µs, issuer...).
* Calls become ``(:Call)`` nodes, ``(credential)-[:MADE]->(call)``, indexed by actor,
  event name, source IP and time, so timelines and findings run in Neo4j too.
* Pushing again sends only calls that are new or whose actor changed (a later ingest can
  relink a call to a session it could not name before), and removes nodes and edges the
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
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq

import cypher
from graphtrail.ids import call_id, iso
from graphtrail.model import EdgeKind, NodeKind
from graphtrail.schema import CALL_COLUMNS, NODE_CORE, ORIGIN_FIELDS, SESSION_PROPERTY, names
from graphtrail.store.case import Case
from graphtrail.store.neo4j import OWN_LABEL, Neo4jStore

__all__ = ["push_case", "CasePushSummary", "CALL_INDEXES", "call_rows", "session_nodes"]

CALL_INDEXES = ("actor", "event_name", "source_ip", "time_us", "event_id")
# A Call node carries the calls table's columns; its time as ``time_us`` (and ``time``).
_CALL_PROPS = tuple(c for c in names(CALL_COLUMNS) if c != "time")


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
    for prop in CALL_INDEXES:
        try:
            server.write(f"CREATE INDEX graphtrail_call_{prop} IF NOT EXISTS FOR (c:Call) ON (c.{prop})")
        except Exception as exc:  # an index the server cannot make only costs speed
            out.unsupported.append(f"index Call.{prop}: {exc}")
    path = case.graph_dir() / "activity.parquet"
    total = pq.ParquetFile(path).metadata.num_rows
    done = 0
    for rows in call_rows(path, batch_size):
        known = {r["id"]: r["actor"] for r in server.run(
            f"UNWIND $ids AS id MATCH (c:Call:{OWN_LABEL} {{id: id}}) "
            "RETURN c.id AS id, c.actor AS actor", {"ids": [r["id"] for r in rows]})}
        by_kind: dict[str, list[dict]] = {}
        relinked = []
        for row in rows:
            cid = row["id"]
            if cid in known and known[cid] == row["actor"]:
                out.calls_unchanged += 1
                continue
            if cid in known:
                relinked.append(cid)
            by_kind.setdefault(row.pop("actor_kind"), []).append(row)
        if relinked:
            server.write(f"UNWIND $ids AS id MATCH (:Call:{OWN_LABEL} {{id: id}})<-[m:MADE]-() "
                         "DELETE m", {"ids": relinked})
            out.calls_relinked += len(relinked)
        for kind, kind_rows in by_kind.items():
            server.write(_call_query(kind), {"rows": kind_rows})
            out.calls_new += len(kind_rows) - sum(1 for r in kind_rows if r["id"] in known)
        done += len(rows)
        if progress:
            progress("calls", done, total)


def call_rows(path, batch_size: int):
    """The rows of the (:Call) nodes, ``batch_size`` calls a list, in the activity table's order:
    ``{id, actor, actor_kind, props, time}`` (``actor_kind`` is ``""`` when the table has none).
    What the push MERGEs and what the bulk import files hold."""
    shared = _shared_call_keys(path)
    seen: dict[str, int] = {}
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=["time", *_CALL_PROPS]):
        t = pa.Table.from_batches([batch])
        times = t.column("time").cast(pa.int64()).to_pylist()
        cols = {c: t.column(c).to_pylist() for c in _CALL_PROPS}
        rows = []
        for i, (event, tm) in enumerate(zip(cols["event_id"], times, strict=True)):
            cid = _call_id(event, tm, shared, seen)
            props = {c: cols[c][i] for c in _CALL_PROPS if cols[c][i] is not None}
            props["time_us"] = tm
            if "#" in cid:  # the order of calls sharing eventID and time, as the case has them
                props["occurrence"] = int(cid.rsplit("#", 1)[1])
            rows.append({"id": cid, "actor": cols["actor"][i], "actor_kind": cols["actor_kind"][i] or "",
                         "props": props, "time": iso(tm)})
        yield rows


def _shared_call_keys(path) -> set[tuple[str, int]]:
    """(eventID, time) pairs that more than one call has: logs written by hand or by tools
    reuse eventIDs, and each call must stay a node of its own."""
    t = pq.read_table(path, columns=["event_id", "time"])
    t = t.set_column(1, "time", t.column("time").cast(pa.int64()))
    counts = t.group_by(["event_id", "time"], use_threads=False).aggregate([("event_id", "count")])
    many = counts.filter(pa.compute.greater(counts.column("event_id_count"), 1))
    return set(zip(many.column("event_id").to_pylist(), many.column("time").to_pylist(), strict=True))


def _call_id(event_id: str | None, time_us: int | None, shared: set, seen: dict[str, int]) -> str:
    """``call:<eventID>@<µs>``; the second and later calls sharing both get ``#2``, ``#3``...
    in the order of the activity table."""
    base = call_id(event_id, time_us)
    if (event_id, time_us) not in shared:
        return base
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}#{seen[base]}"


def _call_query(actor_kind: str) -> str:
    """MERGE calls and their MADE edge; the actor's label comes from the model, never input."""
    head = (f"UNWIND $rows AS row\nMERGE (c:Call:{OWN_LABEL} {{id: row.id}})\n"
            "SET c += row.props, c.time = datetime(row.time)\n")
    if actor_kind not in {k.value for k in NodeKind}:
        return head
    return head + f"WITH c, row\nMATCH (a:{NodeKind(actor_kind).value} {{id: row.actor}})\nMERGE (a)-[:MADE]->(c)"
