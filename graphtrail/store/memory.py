"""The embedded store: the case's graph in networkx, its calls in Arrow. No server.

Loading is lazy and proportional to what a question needs: the *lineage* graph (sessions,
keys, principals and the edges that derive one credential from another) is small even
for millions of calls, and is what blast radius and chains walk (a
:class:`~graphtrail.store.lineage.Lineage`, whose relations' data is made as it is read);
the full graph (every resource and address) is loaded in networkx only for views.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from graphtrail import ids
from graphtrail.bulk import collector_paused
from graphtrail.model import EdgeKind
from graphtrail.store.case import Case
from graphtrail.store.lineage import Lineage, edge_props, parse_props
from graphtrail.store.protocol import CALL_SUMMARY_SCHEMA

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["MemoryStore", "LINEAGE_EDGES", "lineage_edges"]

# Edges that carry one credential to another (or to what it acts as).
LINEAGE_EDGES = frozenset({EdgeKind.ISSUED, EdgeKind.OF_ROLE, EdgeKind.OF_PRINCIPAL,
                           EdgeKind.HAS_KEY, EdgeKind.CREATED, EdgeKind.CHANGED,
                           EdgeKind.ATTEMPTED})


def lineage_edges(edges: pa.Table) -> pa.Table:
    """The edges that carry one credential to another: stored apart, because they are few."""
    kinds = pa.array(sorted(k.value for k in LINEAGE_EDGES))
    return edges.filter(pc.is_in(edges.column("kind"), kinds))


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

    def call_summary(self, *, since: int | None = None, until: int | None = None,
                     account: str | None = None) -> pa.Table:
        """Calls grouped by who, from where, in which account and region (see the protocol).

        Grouped on the dictionary codes of the stored columns: a million calls in well
        under a second.
        """
        ts = pa.timestamp("us", tz="UTC")
        flt = None
        for cond in ((pc.field("time") >= pa.scalar(since, ts)) if since is not None else None,
                     (pc.field("time") <= pa.scalar(until, ts)) if until is not None else None,
                     ((pc.field("recipient_account_id") == account) | (pc.field("account_id") == account))
                     if account else None):
            if cond is not None:
                flt = cond if flt is None else flt & cond
        keys = [f.name for f in CALL_SUMMARY_SCHEMA][:4]
        t = self.case.graph_table("activity", [*keys, "time", "error_code"], flt, decode=False)
        t = t.unify_dictionaries()
        codes, values = {}, {}
        for k in keys:
            codes[k], values[k] = _codes(t.column(k))
        g = pa.table({**codes, "us": t.column("time").cast(pa.int64()),
                      "failed": pc.cast(pc.is_valid(t.column("error_code")), pa.int64())})
        g = g.group_by(keys, use_threads=False).aggregate(
            [("us", "min"), ("us", "max"), ("us", "count"), ("failed", "sum")])
        cols = [values[k].take(g.column(k)) if values[k] is not None else g.column(k).cast(pa.string())
                for k in keys]
        cols += [g.column(c) for c in ("us_min", "us_max", "us_count", "failed_sum")]
        return pa.Table.from_arrays([c.cast(f.type) for c, f in zip(cols, CALL_SUMMARY_SCHEMA, strict=True)],
                                    schema=CALL_SUMMARY_SCHEMA)

    def actors_from_ip(self, ip: str) -> set[str]:
        t = self.case.graph_table("edges", ["src", "dst", "kind"])
        hit = pc.and_(pc.equal(t.column("kind"), EdgeKind.FROM_IP.value),
                      pc.equal(t.column("dst"), ids.ip_id(ip)))
        return set(t.column("src").filter(pc.fill_null(hit, False)).to_pylist())

    def calls(self, columns: list[str], *, actors=None, event_names=None, source_ip=None,
              since: int | None = None, until: int | None = None) -> pa.Table:
        """Calls matching every filter given (None: no filter), in time order.

        The one way questions read calls, on every store (see graphtrail.store.protocol).
        """
        cols = list(dict.fromkeys([*columns, "time", "event_id"]))
        if actors is not None and event_names is None and source_ip is None:
            t = self.case.calls_of(actors, cols)
            if t is not None:  # the few row groups holding these actors' calls
                t = t.filter(_in_window(t.column("time"), since, until))
                # ``seq`` breaks ties as the activity table's order does
                t = t.sort_by([("time", "ascending"), ("event_id", "ascending"), ("seq", "ascending")])
                return t.select(list(columns))
        flt = None

        def both(e):
            return e if flt is None else flt & e

        if actors is not None:
            flt = both(pc.is_in(pc.field("actor"), value_set=pa.array(sorted(actors), pa.string())))
        if event_names is not None:
            flt = both(pc.is_in(pc.field("event_name"), value_set=pa.array(sorted(event_names), pa.string())))
        if source_ip is not None:
            flt = both(pc.field("source_ip") == source_ip)
        ts = pa.timestamp("us", tz="UTC")
        if since is not None:
            flt = both(pc.field("time") >= pa.scalar(since, ts))
        if until is not None:
            flt = both(pc.field("time") <= pa.scalar(until, ts))
        t = self.activity(cols, flt).sort_by([("time", "ascending"), ("event_id", "ascending")])
        return t.select(list(columns))

    @cached_property
    def node_info(self) -> _NodeInfo:
        """Node id -> {id, kind, label, account, props}; props parsed when first asked for."""
        return _NodeInfo(self.nodes)

    # -- graphs --------------------------------------------------------------------------
    @cached_property
    def lineage(self) -> Lineage:
        """Credentials and principals, and the edges that derive one from another (read
        as a networkx ``MultiDiGraph`` is, without networkx: :mod:`graphtrail.store.lineage`)."""
        return Lineage(self.case.graph_table("lineage"), self.node_info)

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The whole case graph (for views)."""
        return self._graph(self.edges, only_edge_nodes=False)

    def neighbourhood_graph(self, centre: Iterable[str]) -> nx.MultiDiGraph:
        """``centre``, every node one relation away and every relation among them: the
        subgraph of :attr:`graph` a report draws, read from the edges table without
        building the whole graph (a large case has hundreds of thousands of relations)."""
        if "graph" in self.__dict__:  # built already: cut it
            g = self.graph
            seen = {n for n in centre if n in g}
            keep = set(seen)
            for n in seen:
                keep.update(g.successors(n))
                keep.update(g.predecessors(n))
            return g.subgraph(keep).copy()
        ends = self.case.graph_table("edges", ["src", "dst"])
        src, dst = ends.column("src"), ends.column("dst")
        wanted = pa.array(sorted(set(centre)), pa.string())
        touch = pc.or_(pc.is_in(src, value_set=wanted), pc.is_in(dst, value_set=wanted))
        touching = set(src.filter(touch).to_pylist()) | set(dst.filter(touch).to_pylist())
        info = self.node_info
        # a centre node is in the graph when the case knows it or a relation names it
        return self.graph_of(touching | {n for n in wanted.to_pylist() if n in info})

    def drawn_nodes(self) -> tuple[list[str], list[dict]]:
        """The nodes of :attr:`graph` the case knows, in the graph's order, and their data
        there (for a drawing cut down on the tables: graphtrail.views.graph.case_view)."""
        info = self.node_info
        order = sorted(info.keys())  # _fill_graph's order
        return order, [_drawn_node(info[nid]) for nid in order]

    def graph_of(self, nodes: set[str]) -> nx.MultiDiGraph:
        """``nodes`` and every relation among them, as in :attr:`graph`, read from the edges
        table without building the whole graph."""
        edges = self.edges
        kept = pa.array(sorted(nodes), pa.string())
        inside = pc.and_(pc.is_in(edges.column("src"), value_set=kept),
                         pc.is_in(edges.column("dst"), value_set=kept))
        # as in the whole graph: nodes the case knows with their data, the others bare
        info = self.node_info
        return self._graph(edges.filter(inside), only_edge_nodes=False,
                           nodes={n for n in nodes if n in info})

    def _graph(self, edges: pa.Table, *, only_edge_nodes: bool,
               nodes: set[str] | None = None) -> nx.MultiDiGraph:
        """The graph of ``edges`` (and every node of the case unless ``only_edge_nodes``).

        What ``add_node`` and ``add_edge`` would build, one call each, written into the
        graph's adjacency dicts directly: a case's lineage is tens of thousands of edges,
        and the calls were most of a cold question's time.
        """
        with collector_paused():
            return self._fill_graph(edges, only_edge_nodes, nodes)

    def _fill_graph(self, edges: pa.Table, only_edge_nodes: bool,
                    nodes: set[str] | None) -> nx.MultiDiGraph:
        import networkx as nx  # a tenth of a second: not for the questions that walk no graph (chains)

        g = nx.MultiDiGraph()
        info = self.node_info
        cols = {c: edges.column(c) for c in edges.column_names}
        for c in ("first_seen", "last_seen"):
            cols[c] = cols[c].cast(pa.int64())
        cols = {c: v.to_pylist() for c, v in cols.items()}
        src, dst = cols["src"], cols["dst"]
        wanted = nodes if nodes is not None else set(src) | set(dst) if only_edge_nodes else set(info.keys())
        node, succ, pred = g._node, g._succ, g._pred
        for nid in sorted(wanted):  # a set's order changes with every process's hash seed
            if nid in info:
                node[nid] = _drawn_node(info[nid])
            else:
                node[nid] = {"kind": "Resource", "label": nid, "account": None}
            succ[nid], pred[nid] = {}, {}
        parsed: dict[str, tuple[dict, bool]] = {}  # a case's edges share a few dozen props texts
        kinds, props, first, last = cols["kind"], cols["props"], cols["first_seen"], cols["last_seen"]
        counts, evids, names = cols["count"], cols["event_ids"], cols["event_names"]
        for i in range(len(src)):
            u, v, k = src[i], dst[i], kinds[i]
            for n in (u, v):
                if n not in succ:  # add_edge makes a node it has not seen, with no data
                    node[n], succ[n], pred[n] = {}, {}, {}
            d = {"kind": k, "first_seen": first[i], "last_seen": last[i], "count": counts[i],
                 "event_ids": evids[i] or [], "event_names": names[i] or []}
            if props[i]:
                d.update(edge_props(props[i], parsed))
            keyed = succ[u].get(v)
            if keyed is None:
                keyed = succ[u][v] = pred[v][u] = {}
            if k in keyed:  # add_edge on an existing key updates its data
                keyed[k].update(d)
            else:
                keyed[k] = d
        clear = getattr(nx, "_clear_cache", None)  # networkx >= 3.3 caches views of _succ
        if clear is not None:
            clear(g)
        return g

    @cached_property
    def session_info(self) -> dict[str, dict]:
        t = self.sessions
        cols = {c: (t.column(c).cast(pa.int64()) if c in ("issued", "expires") else t.column(c)).to_pylist()
                for c in t.column_names}
        names = list(cols)
        return {row[0]: dict(zip(names, row, strict=True))
                for row in zip(*(cols[c] for c in names), strict=True)}


def _drawn_node(n: dict) -> dict:
    """A node's data in the case graph (:attr:`MemoryStore.graph`), from its
    :attr:`MemoryStore.node_info` row."""
    return {"kind": n["kind"], "label": n["label"], "account": n["account"], **n["props"]}


class _NodeInfo(dict):
    """A dict of node rows whose JSON props are parsed lazily (most are never read)."""

    def __init__(self, nodes: pa.Table) -> None:
        super().__init__()
        self._raw = {}
        for nid, kind, label, acct, props in zip(*(nodes.column(c).to_pylist() for c in
                                                   ("id", "kind", "label", "account", "props")),
                                                 strict=True):
            self._raw[nid] = (kind, label, acct, props)

    def __missing__(self, nid: str) -> dict:
        kind, label, acct, props = self._raw[nid]
        row = {"id": nid, "kind": kind, "label": label, "account": acct,
               "props": parse_props(props) if props else {}}
        self[nid] = row
        return row

    def __contains__(self, nid: object) -> bool:
        return nid in self._raw

    def get(self, nid, default=None):
        return self[nid] if nid in self._raw else default

    def keys(self):
        return self._raw.keys()

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def _in_window(time: pa.ChunkedArray, since: int | None, until: int | None) -> pa.ChunkedArray:
    """True for the calls at or after ``since`` and at or before ``until`` (epoch µs), as
    the dataset filter of :meth:`MemoryStore.calls` keeps them (a call without a time: only
    when there is no bound)."""
    us = time.cast(pa.int64())
    keep = pc.is_valid(us) if since is not None or until is not None else pc.or_(pc.is_valid(us), pc.is_null(us))
    if since is not None:
        keep = pc.and_(keep, pc.greater_equal(us, since))
    if until is not None:
        keep = pc.and_(keep, pc.less_equal(us, until))
    return pc.fill_null(keep, False)


def _codes(col: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.Array | None]:
    """A column as (integer codes, the values they stand for); plain columns as they are."""
    if not pa.types.is_dictionary(col.type):
        return col, None
    if col.num_chunks == 0:
        return pa.chunked_array([], pa.int32()), pa.array([], pa.string())
    return (pa.chunked_array([c.indices for c in col.chunks], col.type.index_type),
            col.chunk(0).dictionary)
