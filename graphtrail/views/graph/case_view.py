"""The whole case drawn without the whole case graph in networkx.

``graphtrail view`` of a whole case cuts the graph of every node and relation down to at most
``max_nodes`` (:func:`~graphtrail.views.graph.aggregate.reduce_graph`). At a million events
that graph holds 190,000 relations: building it in networkx took 1.7 s and cutting it down to
1,500 nodes 1.1-1.3 s. :func:`reduced_case` makes the same cut from the case's nodes and
edges tables, in integers: whether any leaves or sessions are alike (the collapse), then
which nodes the cap keeps (by kind, relations and id, :func:`~graphtrail.views.graph.aggregate.cap_key`).
Only the nodes kept become networkx.

It gives ``reduce_graph``'s answer or none: it answers when the case has more nodes than
the drawing and nothing in it is alike (so no summary node is drawn), every relation's ends
are nodes of the case, and no relation's stored props change its kind or times. Otherwise
it returns None and the caller reduces the whole graph as before. A case of S3 objects read
alike, say, takes that road.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.arrays import distinct
from graphtrail.views.graph.aggregate import COLLAPSE_STAGES, Reduction, cap_key

__all__ = ["ReducedCase", "reduced_case"]

# relation fields a stored props text could overwrite that the cut or the page reads
_EDGE_FIELDS = frozenset({"kind", "first_seen", "last_seen"})


@dataclass(frozen=True, slots=True)
class ReducedCase:
    """The drawing of a whole case and what the page says of the case.

    Attributes
    ----------
    drawn : networkx.MultiDiGraph
        The nodes kept and the relations among them, as ``reduce_graph`` leaves them.
    reduction : Reduction
        What was left out.
    nodes, relations : int
        The whole case graph's size.
    accounts : int
        Distinct accounts its nodes name.
    first_seen, last_seen : int or None
        The earliest and latest time (epoch µs, > 0) of any relation.
    """

    drawn: nx.MultiDiGraph
    reduction: Reduction
    nodes: int
    relations: int
    accounts: int
    first_seen: int | None
    last_seen: int | None


def reduced_case(store, max_nodes: int, keep: Iterable[Hashable] = ()) -> ReducedCase | None:
    """``reduce_graph(store.graph, max_nodes, keep)`` and the page's facts of
    ``store.graph``, without building ``store.graph``; None when this cannot be sure of
    giving exactly that (module docstring).

    ``store``: the embedded store, which offers besides the protocol its ``edges`` table,
    ``drawn_nodes()`` and ``graph_of(nodes)`` (any other store: None).
    """
    if any(getattr(type(store), m, None) is None for m in ("drawn_nodes", "graph_of", "edges")):
        return None  # (asked of the class: nothing is read)
    order, attrs = store.drawn_nodes()  # the whole graph's nodes, in its order
    n = len(order)
    if n <= max_nodes:
        return None  # drawn whole: the whole graph is needed
    edges = store.edges
    names = pa.array(order, pa.string())
    src = pc.index_in(edges.column("src"), value_set=names)
    dst = pc.index_in(edges.column("dst"), value_set=names)
    if src.null_count or dst.null_count:
        return None  # a relation to a node the case does not know: drawn bare
    if _props_change_fields(edges.column("props")):
        return None
    s = src.to_numpy().astype(np.int64)
    d = dst.to_numpy().astype(np.int64)
    kinds = pc.dictionary_encode(edges.column("kind").combine_chunks())
    width = len(kinds.dictionary) + 1  # the last code: no kind
    k = kinds.indices.fill_null(width - 1).to_numpy(zero_copy_only=False).astype(np.int64)
    # one relation per (from, to, kind): add_edge merges a repeated one
    if len(distinct((s * n + d) * width + k)) != len(s):
        return None
    keep_set = set(keep)
    for stage in COLLAPSE_STAGES:
        candidate = np.array([a.get("kind") in stage and not a.get("aggregate") and nid not in keep_set
                              for nid, a in zip(order, attrs, strict=True)], dtype=bool)
        if _any_alike(s, d, k, width, n, candidate, attrs):
            return None  # summary nodes: reduce_graph draws them
    degree = np.bincount(s, minlength=n) + np.bincount(d, minlength=n)
    ranked = sorted(range(n), key=lambda i: cap_key(order[i], attrs[i], int(degree[i]), keep_set),
                    reverse=True)
    kept = ranked[: max(max_nodes, len(keep_set & set(order)))]
    inside = np.zeros(n, dtype=bool)
    inside[kept] = True
    relations_kept = int(np.count_nonzero(inside[s] & inside[d]))
    reduction = Reduction(max_nodes, n, len(s), nodes_after=len(kept), edges_after=relations_kept,
                          omitted_nodes=n - len(kept), omitted_edges=len(s) - relations_kept)
    first, last = _span(edges)
    return ReducedCase(drawn=store.graph_of({order[i] for i in kept}), reduction=reduction,
                       nodes=n, relations=len(s), accounts=len({a["account"] for a in attrs if a.get("account")}),
                       first_seen=first, last_seen=last)


def _props_change_fields(props: pa.ChunkedArray) -> bool:
    """True when a relation's stored props hold a field the graph takes from its columns
    (each distinct text parsed once: a case's relations share a few dozen)."""
    for text in pc.unique(props).to_pylist():
        if text and not _EDGE_FIELDS.isdisjoint(json.loads(text)):
            return True
    return False


def _any_alike(s: np.ndarray, d: np.ndarray, k: np.ndarray, width: int, n: int,
               candidate: np.ndarray, attrs: list[dict]) -> bool:
    """True when two ``candidate`` nodes of one kind have the same links: the same set of
    (neighbour, in or out, relation kind), not empty, not to themselves (what
    ``_collapse_alike`` groups)."""
    owner = np.concatenate([d, s])  # a relation is a link of its target ("in"), then of its source
    other = np.concatenate([s, d])
    way = np.concatenate([np.zeros(len(s), np.int64), np.ones(len(s), np.int64)])
    kind = np.concatenate([k, k])
    pick = candidate[owner]
    owner, other, way, kind = owner[pick], other[pick], way[pick], kind[pick]
    if not len(owner):
        return False
    looped = set(owner[other == owner].tolist())
    span = 2 * n * width  # a link as one integer
    links = distinct(owner * span + (other * 2 + way) * width + kind)  # sorted: by node, then link
    node, link = links // span, links % span
    starts = np.r_[0, np.flatnonzero(np.diff(node)) + 1]
    seen: set[tuple] = set()
    for at, end in zip(starts.tolist(), [*starts[1:].tolist(), len(links)], strict=True):
        who = int(node[at])
        if who in looped:
            continue
        key = (attrs[who].get("kind"), link[at:end].tobytes())
        if key in seen:
            return True
        seen.add(key)
    return False


def _span(edges: pa.Table) -> tuple[int | None, int | None]:
    """The earliest first seen and the latest last seen (epoch µs, > 0) of the relations."""
    out = []
    for col, pick in (("first_seen", pc.min), ("last_seen", pc.max)):
        t = edges.column(col).cast(pa.int64())
        t = t.filter(pc.fill_null(pc.greater(t, 0), False))
        out.append(pick(t).as_py() if len(t) else None)
    return out[0], out[1]
