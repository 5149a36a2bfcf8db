"""The embedded store: the case's graph in networkx, its calls in Arrow. No server.

Loading is lazy and proportional to what a question needs: the *lineage* graph (sessions,
keys, principals and the edges that derive one credential from another) is small even
for millions of calls, and is what blast radius and chains walk; the full graph (every
resource and address) is loaded only for views.
"""

from __future__ import annotations

import json
from functools import cached_property

import networkx as nx
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.model import EdgeKind
from graphtrail.store.case import Case

__all__ = ["MemoryStore", "LINEAGE_EDGES"]

# Edges that carry one credential to another (or to what it acts as).
LINEAGE_EDGES = frozenset({EdgeKind.ISSUED, EdgeKind.OF_ROLE, EdgeKind.OF_PRINCIPAL,
                           EdgeKind.HAS_KEY, EdgeKind.CREATED, EdgeKind.CHANGED,
                           EdgeKind.ATTEMPTED})


class MemoryStore:
    """A case opened for questions, on networkx.

    >>> MemoryStore.backend
    'memory'
    """

    backend = "memory"

    def __init__(self, case: Case) -> None:
        self.case = case

    @classmethod
    def open(cls, path) -> MemoryStore:
        return cls(Case.open(path))

    # -- tables ------------------------------------------------------------------------
    @cached_property
    def nodes(self) -> pa.Table:
        return self.case.graph_table("nodes")

    @cached_property
    def edges(self) -> pa.Table:
        return self.case.graph_table("edges")

    @cached_property
    def sessions(self) -> pa.Table:
        return self.case.graph_table("sessions")

    def activity(self, columns=None, filter=None) -> pa.Table:
        """Calls with their resolved actor (read on demand, filtered in Arrow)."""
        return self.case.graph_table("activity", columns, filter)

    @cached_property
    def node_info(self) -> dict[str, dict]:
        out = {}
        for r in self.nodes.to_pylist():
            r["props"] = json.loads(r["props"]) if r["props"] else {}
            out[r["id"]] = r
        return out

    # -- graphs --------------------------------------------------------------------------
    @cached_property
    def lineage(self) -> nx.MultiDiGraph:
        """Credentials and principals, and the edges that derive one from another."""
        kinds = pa.array(sorted(k.value for k in LINEAGE_EDGES))
        edges = self.edges.filter(pc.is_in(self.edges.column("kind"), kinds))
        return self._graph(edges, only_edge_nodes=True)

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The whole case graph (for views)."""
        return self._graph(self.edges, only_edge_nodes=False)

    def _graph(self, edges: pa.Table, *, only_edge_nodes: bool) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph()
        info = self.node_info
        rows = edges.to_pylist()
        wanted = {r["src"] for r in rows} | {r["dst"] for r in rows} if only_edge_nodes else info.keys()
        for nid in wanted:
            n = info.get(nid)
            if n is None:
                g.add_node(nid, kind="Resource", label=nid, account=None)
            else:
                g.add_node(nid, kind=n["kind"], label=n["label"], account=n["account"], **n["props"])
        for r in rows:
            props = json.loads(r["props"]) if r["props"] else {}
            g.add_edge(r["src"], r["dst"], key=r["kind"], kind=r["kind"],
                       first_seen=_us(r["first_seen"]), last_seen=_us(r["last_seen"]),
                       count=r["count"], event_ids=r["event_ids"] or [],
                       event_names=r["event_names"] or [], **props)
        return g

    @cached_property
    def session_info(self) -> dict[str, dict]:
        out = {}
        for r in self.sessions.to_pylist():
            r["issued"] = _us(r["issued"])
            r["expires"] = _us(r["expires"])
            out[r["session"]] = r
        return out


def _us(v) -> int | None:
    if v is None:
        return None
    return int(v.timestamp() * 1_000_000) if hasattr(v, "timestamp") else int(v)
