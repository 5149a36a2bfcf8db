"""The questions on Neo4j: the store protocol answered by the Cypher files in ``cypher/``.

:class:`CypherStore` implements :class:`graphtrail.store.protocol.GraphStore` over a Bolt
server holding a pushed case (see :mod:`graphtrail.store.neo4j_case`): the lineage graph
from ``lineage.cypher``, sessions from ``sessions.cypher``, nodes from ``nodes.cypher``,
calls from ``calls.cypher``, grouped for the listings by ``call_summary.cypher``, and the
whole graph for the views from ``graph.cypher``.

This adapter is what the views (``report`` and ``view`` with ``--backend neo4j``) and the seed
listings read. The questions themselves do not run over it with ``--backend neo4j``: each runs
its own Cypher file on the server (:mod:`graphtrail.queries.on_server`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property

import networkx as nx
import pyarrow as pa

import cypher
from graphtrail import schema
from graphtrail.model import NodeKind
from graphtrail.schema import names
from graphtrail.store.neo4j import Neo4jStore
from graphtrail.store.protocol import CALL_SUMMARY_SCHEMA
from graphtrail.times import micros

__all__ = ["CypherStore", "CALL_COLUMNS"]

CALL_COLUMNS = names(schema.CALL_COLUMNS)
_EDGE_CORE = set(schema.EDGE_CORE) | set(schema.EDGE_PUSHED)
# mfa is unknown when the logs do not say; the other flags are false unless set
_TRI_STATE = {"mfa"}
_KINDS = {k.value for k in NodeKind}


class CypherStore:
    """A pushed case on a Bolt server, answering the store protocol with ``cypher/*.cypher``."""

    backend = "neo4j"

    def __init__(self, server: Neo4jStore, case=None) -> None:
        self.server = server
        self.case = case  # the local case, when there is one: the views read raw evidence from it

    def _run(self, name: str, **params) -> list[dict]:
        return self.server.run(cypher.load(name), params)

    @cached_property
    def node_info(self) -> dict[str, dict]:
        out = {}
        for r in self._run("nodes"):
            props = dict(r["props"])
            kind = next((lb for lb in r["labels"] if lb in _KINDS), r["labels"][0] if r["labels"] else None)
            label, account = props.pop("label", None), props.pop("account", None)
            props.pop("id", None)
            out[r["id"]] = {"id": r["id"], "kind": kind, "label": label, "account": account,
                            "props": {k: _json_back(v) for k, v in props.items()}}
        return out

    @cached_property
    def lineage(self) -> nx.MultiDiGraph:
        return self._graph("lineage")

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The whole identity graph (for views), every node included."""
        return self._graph("graph", every_node=True)

    def _graph(self, name: str, every_node: bool = False) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph()
        info = self.node_info
        for nid, n in info.items() if every_node else ():
            g.add_node(nid, kind=n["kind"], label=n["label"], account=n["account"], **n["props"])
        for r in self._run(name):
            for nid in (r["src"], r["dst"]):
                if nid not in g:
                    n = info.get(nid, {"kind": "Resource", "label": nid, "account": None, "props": {}})
                    g.add_node(nid, kind=n["kind"], label=n["label"], account=n["account"], **n["props"])
            p = dict(r["props"])
            extra = {k: _json_back(v) for k, v in p.items() if k not in _EDGE_CORE}
            g.add_edge(r["src"], r["dst"], key=r["kind"], kind=r["kind"],
                       first_seen=micros(p.get("first_seen")), last_seen=micros(p.get("last_seen")),
                       count=p.get("count", 1), event_ids=list(p.get("event_ids") or []),
                       event_names=list(p.get("event_names") or []), **extra)
        return g

    @cached_property
    def session_info(self) -> dict[str, dict]:
        out = {}
        for r in self._run("sessions"):
            s = r["session"]
            out[s["id"]] = {c.name: _session_value(c, s.get(schema.SESSION_PROPERTY.get(c.name, c.name)))
                            for c in schema.SESSION_COLUMNS}
        return out

    def calls(self, columns: list[str], *, actors: Iterable[str] | None = None,
              event_names: Iterable[str] | None = None, source_ip: str | None = None,
              since: int | None = None, until: int | None = None) -> pa.Table:
        rows = self._run("calls", actors=list(actors) if actors is not None else None,
                         event_names=list(event_names) if event_names is not None else None,
                         source_ip=source_ip, since=since, until=until)
        cols: dict[str, list] = {c: [] for c in columns}
        for r in rows:
            c = r["call"]
            for name in columns:
                cols[name].append(c.get("time_us") if name == "time" else c.get(name))
        declared = schema.call_schema()
        arrays = []
        for name in columns:
            typ = declared.field(name).type if name in declared.names else pa.string()
            if pa.types.is_timestamp(typ):  # a Call node holds its time in µs (time_us)
                arrays.append(pa.array(cols[name], pa.int64()).cast(typ))
            else:
                arrays.append(pa.array(cols[name], typ))
        return pa.Table.from_arrays(arrays, names=list(columns))

    def call_summary(self, *, since: int | None = None, until: int | None = None,
                     account: str | None = None) -> pa.Table:
        rows = self._run("call_summary", since=since, until=until, account=account)
        return pa.Table.from_pylist(rows, schema=CALL_SUMMARY_SCHEMA)

    def actors_from_ip(self, ip: str) -> set[str]:
        return {r["actor"] for r in self._run("actors_from_ip", ip=ip)}


def _session_value(column: schema.Column, v):
    """A Session node's property back as the sessions table holds it."""
    if pa.types.is_list(column.type):
        return list(v or [])
    if pa.types.is_boolean(column.type) and column.name not in _TRI_STATE:
        return bool(v)
    return _text(v) if pa.types.is_string(column.type) else v


def _text(v):
    """A JSON text column as the sessions table holds it (the push may have parsed it)."""
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def _json_back(v):
    """Nested values were stored as JSON text (Neo4j has no map properties)."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v
