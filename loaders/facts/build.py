"""Events -> the identity graph: nodes, edges with evidence, sessions, and who did what.

:func:`build_graph` runs after loading, over every event of a case:

1. :class:`loaders.facts.credentials.Linker` names the actor of every call (a session, a
   long-term key, or a principal acting without a key) and every session: first from what
   its first pass keeps of each part (:mod:`loaders.facts.observed`, made by the ingest
   workers), then call by call in the second pass.
2. Session facts: ``ISSUED`` (issuer -> session, evidence: every copy of the STS call),
   ``OF_ROLE`` / ``OF_PRINCIPAL``, failed AssumeRole as ``ATTEMPTED`` (never a hop).
3. Family facts from the registry (:mod:`loaders.facts.registry`): CREATED, CHANGED,
   HAS_KEY for IAM calls.
4. Activity facts, aggregated in Arrow: ``ACTED_ON`` / ``ATTEMPTED`` per (actor, resource),
   ``FROM_IP`` per (actor, address), ``HAS_KEY`` per (user, key), ``IN_ACCOUNT``.

Every edge carries first_seen, last_seen, an exact count and up to
:data:`graphtrail.model.EVIDENCE_CAP` eventIDs.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphtrail import families, ids
from graphtrail.background import WriteBehind
from graphtrail.model import (
    EVIDENCE_CAP,
    Edge,
    EdgeKind,
    Node,
    NodeKind,
    edge_schema,
    node_schema,
)
from graphtrail.schema import CALL_COLUMNS, call_schema, names, session_schema
from graphtrail.times import micros
from loaders.facts import iam  # noqa: F401  (registers its handlers)
from loaders.facts.aggregate import BATCH_ROWS, EdgeFold, prefetch, rebatch, trim_heap
from loaders.facts.credentials import STS_ISSUING, Issuance, Linker
from loaders.facts.observed import FIRST_PASS_COLUMNS, first_pass_facts
from loaders.facts.registry import HANDLERS, Call
from loaders.facts.resources import resource_ids
from loaders.schema import json_object as _dec

__all__ = ["GraphFacts", "build_graph", "session_roots", "EVENT_INPUT_COLUMNS", "ACTIVITY_COLUMNS",
           "session_schema"]

EVENT_INPUT_COLUMNS = (  # what the builder reads from the events table
    "event_id", "time", "event_source", "event_name", "error_code", "account_id",
    "recipient_account_id", "region", "source_ip", "user_agent", "read_only", "identity_type",
    "identity_arn", "principal_id", "access_key_id", "user_name", "issuer_arn",
    "session_created", "invoked_by", "on_behalf_of", "web_id_provider", "source_identity",
    "issued_key", "issued_expiration", "request_parameters", "response_elements", "resources",
    "shared_event_id", "source_file", "additional_event_data", "from_console", "mfa",
)
ACTIVITY_COLUMNS = names(CALL_COLUMNS)  # the calls table, declared in graphtrail.schema
# Calls whose request parameters detections read; ``detail`` keeps them in the activity table.
DETAIL_EVENTS = families.KEY_CREATION | families.LOGIN_PROFILE | families.POLICY_CHANGE \
    | families.POLICY_VERSION | families.TRUST_CHANGE | frozenset({
    "CreateRole", "PutEventSelectors", "UpdateTrail", "ModifySnapshotAttribute", "ModifyImageAttribute",
    "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute", "RunInstances",
    "GetParameter", "GetParameters", "GetParametersByPath", "UpdateDetector", "CreateUser",
    "PutBucketPolicy", "PutBucketAcl", "DeleteBucketPolicy",
    # read by the Stratus-coverage and semantics rules (issue 11)
    "GetSecretValue", "AssumeRoot", "GetFederationToken", "AuthorizeSecurityGroupIngress",
    "ModifyInstanceAttribute", "SendCommand", "StartSession", "SendSSHPublicKey",
    "SendSerialConsoleSSHPublicKey", "AddPermission", "AddPermission20150331v2",
    "CreateFunctionUrlConfig20211031", "UpdateFunctionUrlConfig20211031",
    "UpdateFunctionConfiguration", "UpdateFunctionConfiguration20150331v2",
    "UpdateFunctionCode", "UpdateFunctionCode20150331v2", "CreateTrustAnchor", "CreateProfile",
    "CreateAccount", "InviteAccountToOrganization",
})
_TS = pa.timestamp("us", tz="UTC")
_DETAIL = pa.array(sorted(DETAIL_EVENTS))
_EXTRA_DETAIL = pa.array(["ConsoleLogin", "GetObject"])
_IP_RE = r"^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F]*:[0-9a-fA-F:.]*$"


@dataclass
class GraphFacts:
    nodes: pa.Table  # graphtrail.model.node_schema()
    # graphtrail.model.edge_schema(), a slice at a time (once: write them as they come); the
    # whole table of strings is never held, it would be the build's peak
    edges: Iterator[pa.Table]
    sessions: pa.Table  # session_schema()
    activity_rows: int  # calls written to the activity file (ACTIVITY_COLUMNS)


class _Graph:
    """Accumulates facts; graph-sized, whatever the number of events."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self.actors: dict[str, dict] = {}

    def node(self, n: Node) -> None:
        old = self.nodes.get(n.id)
        if old is None or (old.kind == NodeKind.RESOURCE and n.kind != NodeKind.RESOURCE):
            self.nodes[n.id] = n
        else:
            for k, v in n.props.items():
                old.props.setdefault(k, v)

    def edge(self, e: Edge) -> None:
        old = self.edges.get(e.key)
        if old is None:
            self.edges[e.key] = e
        else:
            old.absorb(e)


BatchReader = Callable[[list[str]], Iterator[pa.RecordBatch]]


def build_graph(read_batches: BatchReader, activity_path: str | Path, *,
                activity_written: Callable[[int, dict[str, str]], None] | None = None,
                first_pass: Iterable[pa.Table] | None = None) -> GraphFacts:
    """Build the identity graph from the events ``read_batches(columns)`` yields.

    Two passes over the events, batch by batch; the per-call activity table is written to
    ``activity_path`` as it is made, so memory is bounded by the graph, not the events.
    ``first_pass``: what the first pass keeps of the events, part by part in their order
    (:func:`loaders.facts.observed.first_pass_facts`), when the caller has it; made from
    ``read_batches`` otherwise. ``activity_written(rows, roots)``, if given, is called once
    that file is complete, while the nodes and edges are still to be made (to start what
    reads it alongside); ``roots`` maps each session to the credential its lineage starts
    from (:func:`session_roots`).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        linker = Linker()
        if first_pass is None:
            first_pass = (first_pass_facts(b)
                          for b in rebatch(read_batches(list(FIRST_PASS_COLUMNS))))
        for facts in prefetch(iter(first_pass)):
            linker.absorb(facts)
            pa.default_memory_pool().release_unused()
        linker.resolve()
        console = pa.array(sorted(s.session for s in linker.sessions.values() if s.console), pa.string())
        sides: dict[tuple[str, str | None, str | None], list] = {}
        g = _Graph()
        fold = EdgeFold()
        rows = _second_pass(read_batches, linker, activity_path, g, fold, console, sides)
        if activity_written is not None:
            activity_written(rows, session_roots(linker.sessions.values()))
        _replayed_sessions(sides, linker.sessions)
        _session_facts(linker, g)
        _actor_nodes(linker.sessions, g)
        linker.drop_lookups()
        pa.default_memory_pool().release_unused()
        trim_heap()
        ends = list(fold.endpoints())
        for nid, _, _ in ends:
            if nid not in g.nodes:
                g.nodes[nid] = _implied_node(nid)
        nodes = _nodes_table(g, _spans(g, ends))
        edges = _edge_slices(_edges_table(g.edges.values()), fold, activity_path)
        return GraphFacts(nodes=nodes, edges=edges,
                          sessions=_sessions_table(linker.sessions), activity_rows=rows)
    finally:
        if was:
            gc.enable()


def session_roots(sessions: Iterable[Issuance]) -> dict[str, str]:
    """Each session -> the credential its lineage starts from: its issuer's root, up the
    chain of sessions to a key, a principal or an identity provider (a session with no
    issuer is its own root).

    >>> from types import SimpleNamespace as S
    >>> session_roots([S(session="s:1", issuer="key:A"), S(session="s:2", issuer="s:1"),
    ...                S(session="s:3", issuer=None)])
    {'s:1': 'key:A', 's:2': 'key:A', 's:3': 's:3'}
    """
    issuer = {s.session: s.issuer for s in sessions}
    roots: dict[str, str] = {}
    for sid in issuer:
        path, cur = [], sid
        while cur not in roots and issuer.get(cur) and cur not in path:
            path.append(cur)
            cur = issuer[cur]
        root = roots.get(cur, cur)
        for p in path:
            roots[p] = root
        roots.setdefault(sid, root)
    return {sid: roots[sid] for sid in issuer}


def _second_pass(read_batches: BatchReader, linker: Linker, activity_path: str | Path,
                 g: _Graph, fold: EdgeFold, console: pa.Array, sides: dict) -> int:
    """Every call named and folded into ``g`` and ``fold``; the calls written to
    ``activity_path``. Returns the number of calls.

    Three threads, each in order: the reader also names the actors of each batch (the
    linker is only read by then, but for the sessions its orphan calls add, and nothing
    else touches it until this pass ends), this thread folds, and the activity table is
    compressed and written behind it.
    """
    def named():
        for batch in rebatch(read_batches(list(EVENT_INPUT_COLUMNS))):
            yield batch, _activity_batch(batch, linker)

    rows = 0
    schema = _activity_schema()
    with pq.ParquetWriter(str(activity_path), schema, compression="zstd",
                          use_dictionary=_repeated(schema)) as writer, \
            WriteBehind(writer.write_table, depth=1) as behind:
        for batch, act in prefetch(named()):
            behind.put(act)
            handled = _family_facts(batch, act.column("actor"), g)
            _identity_center_users(batch, act, g)
            _activity_edges(act, handled, g, fold, rows)
            rows += act.num_rows
            _actor_stats(act, g)
            _console_sides(act, console, sides)
            del batch, act
            pa.default_memory_pool().release_unused()
            trim_heap()
    return rows


def _activity_schema() -> pa.Schema:
    return call_schema()


# Columns of the calls table that hold a value per call: a Parquet dictionary of them is
# built, found too large and dropped in every row group (0.2-0.3 s of CPU at 1M calls).
_ONE_PER_CALL = frozenset({"event_id", "time", "detail", "shared_event_id"})


def _repeated(schema: pa.Schema) -> list[str]:
    """The columns whose values repeat from call to call: written as Parquet dictionaries."""
    return [f.name for f in schema if f.name not in _ONE_PER_CALL]


def _activity_batch(batch: pa.RecordBatch, linker: Linker) -> pa.Table:
    t = _table(batch)
    actor, kind = linker.actors(t)
    names = _plain(t.column("event_name"))
    login = pc.fill_null(pc.equal(names, "ConsoleLogin"), False)
    # ConsoleLogin's MFA and GetObject's bytesTransferredOut live in additionalEventData
    extra = pc.fill_null(pc.is_in(names, _EXTRA_DETAIL), False)
    detail = pc.if_else(pc.fill_null(pc.is_in(names, _DETAIL), False),
                        t.column("request_parameters"),
                        pc.if_else(extra, t.column("additional_event_data"), pa.scalar(None, pa.string())))
    # A failed console sign-in logs no errorCode, only responseElements.ConsoleLogin=Failure
    # (the responses of the sign-ins only are searched, not every call's).
    failed_login = login = _flat(login)
    if pc.any(login).as_py():
        failure = pc.fill_null(pc.match_substring(
            _flat(t.column("response_elements")).filter(login), "Failure"), False)
        failed_login = pc.replace_with_mask(login, login, failure)
    error = pc.if_else(pc.and_(failed_login, pc.is_null(_plain(t.column("error_code")))),
                       pa.scalar("ConsoleLoginFailure"), _plain(t.column("error_code")))
    cols = {"actor": actor, "actor_kind": kind, "resource": resource_ids(t), "detail": detail,
            "error_code": error}
    schema = _activity_schema()
    arrays = [cols[c] if c in cols else _plain(t.column(c)) for c in ACTIVITY_COLUMNS]
    return pa.Table.from_arrays(arrays, schema=schema)


def _table(batch) -> pa.Table:
    return batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])


def _plain(col):
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def _session_facts(linker: Linker, g: _Graph) -> None:
    for s in linker.sessions.values():
        props = {"access_key_id": s.key, "issued_at": ids.iso(s.issued) if s.issued else None,
                 "expires_at": ids.iso(s.expires) if s.kind != "unknown" else None,
                 "via": s.kind, "session_name": s.session_name, "principal": s.principal,
                 "source_identity": s.source_identity, "console": s.console,
                 "issuer": s.issuer, "issue_event_ids": s.event_ids,
                 "access_key_ids": s.keys, "note": s.note, "origin": s.origin, "mfa": s.mfa,
                 "replayed": s.replayed}
        short = s.principal.rsplit("/", 1)[-1] if s.principal else "?"
        name = "console sign-in" if s.kind in ("ConsoleLogin", "console") else (s.session_name or s.key)
        g.node(Node(s.session, NodeKind.SESSION, f"{name} ({short})", s.account, props))
        if s.principal:
            kind = NodeKind(s.principal_kind)
            acct = s.principal.split(":")[4] or None if s.principal.startswith("arn:") else None
            g.node(Node(s.principal, kind, s.principal.rsplit("/", 1)[-1], acct))
            rel = EdgeKind.OF_ROLE if kind == NodeKind.ROLE else EdgeKind.OF_PRINCIPAL
            t = s.issued or 0
            g.edge(Edge(s.session, s.principal, rel, t, t, 1, list(s.event_ids[:EVIDENCE_CAP])))
        if s.issuer and s.event_ids:
            g.edge(Edge(s.issuer, s.session, EdgeKind.ISSUED, s.issued, s.issued, 1, list(s.event_ids),
                        sorted(s.event_names) or [s.kind],
                        {"via": s.kind, "to_account": s.account, "from_account": s.issuer_account,
                         **({"linked_by": "principalId and time (caller's copy missing)"}
                            if s.issuer_inferred else {})}))
    for row in linker.failed_assume:
        a = row.get("actor")
        if a is None:
            continue
        role = row["role"]
        t = micros(row["time"])
        g.node(Node(role, NodeKind.ROLE, role.rsplit("/", 1)[-1], role.split(":")[4] or None))
        g.edge(Edge(a, role, EdgeKind.ATTEMPTED, t, t, 1, [row["event_id"]], [row["event_name"]],
                    {"error_code": row["error_code"]}))


def _family_facts(batch: pa.RecordBatch, actor: pa.Array, g: _Graph) -> pa.Array:
    """Run the registry's handlers on successful calls; returns the rows handled elsewhere."""
    names = _plain(batch.column("event_name"))
    mask = pc.fill_null(pc.and_(pc.is_in(names, pa.array(sorted(HANDLERS))),
                                pc.is_null(batch.column("error_code"))), False)
    rows = pc.indices_nonzero(mask)
    if len(rows):
        sub = _table(batch).take(rows).select(
            ["event_id", "event_name", "identity_arn", "recipient_account_id", "account_id",
             "request_parameters", "response_elements"]).to_pydict()
        acts = actor.take(rows).to_pylist()
        times = batch.column("time").cast(pa.int64()).take(rows).to_pylist()
        for j in range(len(rows)):
            if acts[j] is None:
                continue
            call = Call(event_id=sub["event_id"][j], time=times[j], event_name=sub["event_name"][j],
                        actor=acts[j], caller_arn=sub["identity_arn"][j],
                        account=sub["recipient_account_id"][j] or sub["account_id"][j],
                        request=_dec(sub["request_parameters"][j]),
                        response=_dec(sub["response_elements"][j]))
            for fact in HANDLERS[call.event_name](call):
                for n in fact.nodes:
                    g.node(n)
                g.edge(Edge(fact.src, fact.dst, fact.kind, call.time, call.time, 1, [call.event_id],
                            [call.event_name], dict(fact.props)))
    sts = pc.fill_null(pc.is_in(names, pa.array(sorted(STS_ISSUING))), False)
    return _flat(pc.or_(mask, sts))


def _flat(a):
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a




def _activity_edges(act: pa.Table, handled: pa.Array, g: _Graph, fold: EdgeFold,
                    first_row: int) -> None:
    """ACTED_ON / ATTEMPTED / FROM_IP edges of one batch into ``fold`` (evidence: row numbers
    in the activity table, from ``first_row``); HAS_KEY into ``g``."""
    has_actor = pc.is_valid(act.column("actor"))
    ok = pc.is_null(act.column("error_code"))
    names = act.column("event_name")
    sts = pc.fill_null(pc.is_in(names, pa.array(sorted(STS_ISSUING))), False)
    # only the columns each fold reads are filtered, not every column of the calls
    row = pa.array(np.arange(first_row, first_row + act.num_rows))
    calls = act.select(["actor", "resource", "time", "event_id", "event_name"]).append_column("row", row)
    fold.add(calls.filter(pc.and_(pc.and_(has_actor, ok), pc.invert(handled))),
             "actor", "resource", EdgeKind.ACTED_ON)
    # failed AssumeRole* are ATTEMPTED edges to the role (see _session_facts)
    fold.add(calls.filter(pc.and_(pc.and_(has_actor, pc.invert(ok)), pc.invert(sts))),
             "actor", "resource", EdgeKind.ATTEMPTED)
    ip_ok = pc.fill_null(pc.match_substring_regex(act.column("source_ip"), _IP_RE), False)
    ips = act.select(["actor", "source_ip", "time", "event_id", "event_name"]).append_column("row", row)
    ips = ips.filter(pc.and_(has_actor, ip_ok))
    # grouped as node ids, call by call: grouped bare, Arrow lists the same edges in another
    # order (measured), and the edges table's order is part of the answer
    ips = ips.set_column(1, "source_ip",
                         pc.binary_join_element_wise(ids.IdPrefix.IP.mark, ips.column("source_ip"), ""))
    fold.add(ips, "actor", "source_ip", EdgeKind.FROM_IP)
    keyed = act.select(["actor", "identity_arn", "time", "event_id"])
    keyed = keyed.filter(pc.fill_null(pc.starts_with(keyed.column("actor"), ids.IdPrefix.KEY.mark), False))
    if keyed.num_rows:  # HAS_KEY: the user (or root) a long-term key belongs to
        agg = keyed.group_by(["actor", "identity_arn"], use_threads=False).aggregate(
            [("time", "min"), ("time", "max"), ("event_id", "count"), ("event_id", "first")])
        for r in agg.to_pylist():
            p = ids.principal_of_arn(r["identity_arn"])
            if p is None or p[0] not in (NodeKind.USER.value, NodeKind.ROOT.value):
                continue
            g.node(Node(p[1], NodeKind(p[0]), p[1].rsplit("/", 1)[-1] if p[0] == "User" else "root",
                        p[1].split(":")[4]))
            g.edge(Edge(p[1], r["actor"], EdgeKind.HAS_KEY, micros(r["time_min"]), micros(r["time_max"]),
                        r["event_id_count"], [r["event_id_first"]], [], {"seen_in_use": True}))
            g.actors.setdefault(r["actor"], {}).setdefault("user", p[1])


def _edge_slices(first: pa.Table, fold: EdgeFold, activity_path: str | Path) -> Iterator[pa.Table]:
    """The edges made one by one (``first``), then the folded ones a slice at a time."""
    yield first
    del first
    yield from fold.slices(lambda rows: _event_ids_at(rows, activity_path))


def _event_ids_at(rows: np.ndarray, activity_path: str | Path) -> pa.ChunkedArray:
    """The eventID of each of ``rows`` (row numbers of the activity table, ascending, each
    once), read back one batch at a time: only the evidence is ever held, never every
    event's id, and it is not concatenated (a copy of all of it)."""
    found: list[pa.Array] = []
    base = i = 0
    # no pre-buffering: it would read the whole column's pages up front (+210 MB at 10M)
    activity = pq.ParquetFile(str(activity_path), pre_buffer=False)
    for b in activity.iter_batches(columns=["event_id"], batch_size=BATCH_ROWS, use_threads=False):
        j = int(np.searchsorted(rows, base + b.num_rows, side="left"))
        if j > i:
            found.append(b.column(0).take(pa.array(rows[i:j] - base)))
        i, base = j, base + b.num_rows
    pa.default_memory_pool().release_unused()  # the batches read
    return pa.chunked_array(found, pa.string())


def _identity_center_users(batch, act: pa.Table, g: _Graph) -> None:
    """IAM Identity Center: a session acting for a directory user (``onBehalfOf.userId``)."""
    obo = _plain(_table(batch).column("on_behalf_of"))
    has = pc.and_(pc.is_valid(obo), pc.is_valid(act.column("actor")))
    if not pc.any(has).as_py():
        return
    t = pa.table({"actor": act.column("actor"), "user": obo, "time": act.column("time"),
                  "event_id": act.column("event_id")}).filter(has)
    agg = t.group_by(["actor", "user"], use_threads=False).aggregate(
        [("time", "min"), ("time", "max"), ("event_id", "count"), ("event_id", "first")])
    for r in agg.to_pylist():
        uid = ids.identity_center_user_id(r["user"])
        if r["actor"] == uid:  # the user's own portal calls
            continue
        g.node(Node(uid, NodeKind.IDENTITY_CENTER_USER, r["user"], None, {"user_id": r["user"]}))
        g.edge(Edge(r["actor"], uid, EdgeKind.OF_PRINCIPAL, micros(r["time_min"]), micros(r["time_max"]),
                    r["event_id_count"], [r["event_id_first"]], [], {"via": "onBehalfOf"}))


def _console_sides(act: pa.Table, console: pa.Array, sides: dict) -> None:
    """Per console session: each (address, user agent) it was used from, with its span."""
    if not len(console):
        return
    t = act.select(["actor", "source_ip", "user_agent", "time", "event_id"])
    t = t.filter(pc.fill_null(pc.is_in(t.column("actor"), console), False))
    if not t.num_rows:
        return
    # "first" in order of time (then id), not of arrival: the side's earliest call
    t = t.sort_by([("time", "ascending"), ("event_id", "ascending")])
    agg = t.group_by(["actor", "source_ip", "user_agent"], use_threads=False).aggregate(
        [("time", "min"), ("time", "max"), ("event_id", "count"), ("event_id", "first")])
    for r in agg.to_pylist():
        k = (r["actor"], r["source_ip"], r["user_agent"])
        lo, hi = micros(r["time_min"]), micros(r["time_max"])
        old = sides.get(k)
        if old is None:
            sides[k] = [lo, hi, r["event_id_count"], r["event_id_first"]]
        else:
            if (lo, r["event_id_first"]) < (old[0], old[3]):
                old[0], old[3] = lo, r["event_id_first"]
            old[1] = max(old[1], hi)
            old[2] += r["event_id_count"]


def _replayed_sessions(sides: dict, sessions: dict[str, Issuance]) -> None:
    """A console session used from a second address or browser: a replayed session cookie.

    Calls the console makes for itself (``AWS Internal``, AWS service hosts as the address
    or agent) tell nobody apart and are left out. Each side is kept with its span, calls
    and first eventID, so both are shown.
    """
    by_session: dict[str, dict[tuple[str, str | None], list]] = {}
    for (actor, ip, ua), (lo, hi, n, first) in sides.items():
        if not ids.is_ip(ip):
            continue
        agent = None if _internal_agent(ua) else ua
        cur = by_session.setdefault(actor, {}).setdefault((ip, agent), [lo, hi, 0, first])
        if (lo, first) < (cur[0], cur[3]):  # the earliest call; at one instant, the least id
            cur[0], cur[3] = lo, first
        cur[1] = max(cur[1], hi)
        cur[2] += n
    for actor, found in by_session.items():
        s = sessions.get(actor)
        if s is None:
            continue
        agents = {a for _, a in found if a}
        by_ip: dict[str, set[str]] = {}
        for ip, agent in found:
            if agent:
                by_ip.setdefault(ip, set()).add(agent)
        merged: dict[tuple[str, str | None], list] = {}
        for (ip, agent), v in found.items():  # one browser at an address: its internal calls join it
            seen = by_ip.get(ip, set())
            agent = agent or (next(iter(seen)) if len(seen) == 1 else None)
            cur = merged.setdefault((ip, agent), [v[0], v[1], 0, v[3]])
            if (v[0], v[3]) < (cur[0], cur[3]):
                cur[0], cur[3] = v[0], v[3]
            cur[1], cur[2] = max(cur[1], v[1]), cur[2] + v[2]
        s.replayed = len({ip for ip, _ in merged}) > 1 or len(agents) > 1
        s.sides = [{"source_ip": ip, "user_agent": ua, "first_seen": ids.iso(lo),
                    "last_seen": ids.iso(hi), "calls": n, "first_event_id": first}
                   for (ip, ua), (lo, hi, n, first) in sorted(merged.items(), key=lambda kv: kv[1][0])]


def _internal_agent(ua: str | None) -> bool:
    if not ua:
        return True
    low = ua.lower()
    return low.startswith(("aws internal", "aws-internal")) or low.endswith(".amazonaws.com")


def _actor_stats(act: pa.Table, g: _Graph) -> None:
    """When each actor was active, how often, with which user agents."""
    t = act.select(["actor", "actor_kind", "time", "event_id", "user_agent", "account_id",
                    "recipient_account_id"])
    t = t.filter(pc.is_valid(t.column("actor")))
    if not t.num_rows:
        return
    agg = t.group_by(["actor", "actor_kind"], use_threads=False).aggregate([
        ("time", "min"), ("time", "max"), ("event_id", "count"), ("user_agent", "distinct"),
        ("account_id", "first"), ("recipient_account_id", "first"),
    ]).to_pylist()
    for r in agg:
        st = g.actors.setdefault(r["actor"], {})
        lo, hi = micros(r["time_min"]), micros(r["time_max"])
        st["kind"] = r["actor_kind"]
        st["first"] = min(st.get("first", lo), lo)
        st["last"] = max(st.get("last", hi), hi)
        st["calls"] = st.get("calls", 0) + r["event_id_count"]
        agents = st.setdefault("user_agents", [])
        for u in r["user_agent_distinct"] or []:
            if u and u not in agents and len(agents) < 5:
                agents.append(u)
        st.setdefault("account", r["account_id_first"] or r["recipient_account_id_first"])


def _actor_nodes(sessions: dict[str, Issuance], g: _Graph) -> None:
    for a, st in g.actors.items():
        if "kind" not in st:
            continue
        kind = NodeKind(st["kind"])
        props = {"first_seen": ids.iso(st["first"]), "last_seen": ids.iso(st["last"]),
                 "calls": st["calls"], "user_agents": st["user_agents"]}
        if "user" in st:
            props["user"] = st["user"]
        acct = st.get("account")
        if kind == NodeKind.SESSION:
            s = sessions.get(a)
            g.node(Node(a, kind, a, s.account if s else acct, props))
        elif kind == NodeKind.ACCESS_KEY:
            key = ids.key_of(a)
            props["access_key_id"] = key
            g.node(Node(a, kind, key, acct, props))
        elif kind == NodeKind.ACCOUNT:
            g.node(Node(a, kind, ids.account_of(a), ids.account_of(a), props))
        else:
            label = a.rsplit("/", 1)[-1] if a.startswith("arn:") else a.split(":", 1)[-1]
            acct = a.split(":")[4] if a.startswith("arn:") else acct
            g.node(Node(a, kind, label, acct or None, props))


def _spans(g: _Graph, ends: list[tuple[str | None, int, int]]) -> dict[str, tuple[int, int]]:
    """When each node was first and last seen on any of its edges (µs); ``ends``: the folded
    edges' (node, first, last), from :meth:`EdgeFold.endpoints`."""
    spans: dict[str, tuple[int, int]] = {}

    def see(nid: str, lo: int, hi: int) -> None:
        old = spans.get(nid)
        spans[nid] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))

    for e in g.edges.values():
        see(e.src, e.first_seen, e.last_seen)
        see(e.dst, e.first_seen, e.last_seen)
    for nid, lo, hi in ends:
        see(nid, lo, hi)
    return spans


def _nodes_table(g: _Graph, spans: dict[str, tuple[int, int]]) -> pa.Table:
    nodes = dict(g.nodes)
    for src, _, dst in list(g.edges):
        for nid in (src, dst):
            if nid not in nodes:
                nodes[nid] = _implied_node(nid)
    # sorted: the table's row order must not depend on the string hash seed
    for a in sorted({n.account for n in nodes.values() if n.account}):
        aid = ids.account_id(a)
        if aid not in nodes:
            nodes[aid] = Node(aid, NodeKind.ACCOUNT, a, a)
    in_acct = []
    for n in list(nodes.values()):
        if n.account and n.kind in (NodeKind.USER, NodeKind.ROLE, NodeKind.ROOT,
                                    NodeKind.FEDERATED_USER, NodeKind.RESOURCE, NodeKind.POLICY):
            lo, hi = spans.get(n.id, (None, None))
            if lo is None:
                continue  # seen on no relation: nothing dates its membership
            in_acct.append(Edge(n.id, ids.account_id(n.account), EdgeKind.IN_ACCOUNT, lo, hi, 1))
    g.edges.update({e.key: e for e in in_acct})
    return pa.table({
        "id": [n.id for n in nodes.values()],
        "kind": [n.kind.value for n in nodes.values()],
        "label": [n.label for n in nodes.values()],
        "account": [n.account for n in nodes.values()],
        "props": [json.dumps(n.props, default=str) if n.props else None for n in nodes.values()],
    }, schema=node_schema())


def _implied_node(nid: str) -> Node:
    """A node known only as the end of an aggregated edge: an address or a resource."""
    if ids.ip_of(nid):
        return Node(nid, NodeKind.IP, ids.ip_of(nid))
    p = ids.principal_of_arn(nid)
    if p is not None and p[0] in (NodeKind.USER.value, NodeKind.ROLE.value, NodeKind.ROOT.value):
        return Node(p[1], NodeKind(p[0]), p[1].rsplit("/", 1)[-1], p[1].split(":")[4] or None)
    if nid.startswith("arn:"):
        parts = nid.split(":")
        acct = parts[4] if len(parts) > 4 and parts[4] else None
        return Node(nid, NodeKind.RESOURCE, parts[-1] if len(parts) > 5 else nid, acct,
                    {"service": parts[2] if len(parts) > 2 else None})
    bits = nid.split(":")
    acct = bits[1] if len(bits) > 2 and bits[1] != "unknown" else None
    label = f"{bits[0]} (all)" if bits[-1] == "*" else bits[-1]
    return Node(nid, NodeKind.RESOURCE, label, acct, {"service": bits[0]})


def _edges_table(edges) -> pa.Table:
    edges = list(edges)
    return pa.table({
        "src": [e.src for e in edges], "dst": [e.dst for e in edges],
        "kind": [e.kind.value for e in edges],
        "first_seen": pa.array([e.first_seen for e in edges], pa.int64()).cast(_TS),
        "last_seen": pa.array([e.last_seen for e in edges], pa.int64()).cast(_TS),
        "count": [e.count for e in edges],
        "event_ids": [e.event_ids[:EVIDENCE_CAP] for e in edges],
        "event_names": [e.event_names for e in edges],
        "props": [json.dumps(e.props, default=str) if e.props else None for e in edges],
    }, schema=edge_schema())


def _sessions_table(sessions: dict[str, Issuance]) -> pa.Table:
    ss = list(sessions.values())
    big = 2**62
    return pa.table({
        "session": [s.session for s in ss], "access_key_id": [s.key for s in ss],
        "via": [s.kind for s in ss],
        "issued": pa.array([s.issued if s.issued else None for s in ss], pa.int64()).cast(_TS),
        "expires": pa.array([s.expires if s.expires < big and s.kind != "unknown" else None
                             for s in ss], pa.int64()).cast(_TS),
        "principal_kind": [s.principal_kind for s in ss], "principal": [s.principal for s in ss],
        "session_name": [s.session_name for s in ss], "account": [s.account for s in ss],
        "issuer": [s.issuer for s in ss], "issuer_account": [s.issuer_account for s in ss],
        "event_ids": [s.event_ids for s in ss], "source_identity": [s.source_identity for s in ss],
        "console": [s.console for s in ss],
        "issuer_inferred": [s.issuer_inferred for s in ss],
        "access_key_ids": [s.keys or ([s.key] if s.key else []) for s in ss],
        "note": [s.note for s in ss],
        "origin": [json.dumps(s.origin, sort_keys=True) if s.origin else None for s in ss],
        "mfa": [s.mfa for s in ss],
        "sides": [json.dumps(s.sides) if s.sides else None for s in ss],
        "replayed": [s.replayed for s in ss],
    }, schema=session_schema())
