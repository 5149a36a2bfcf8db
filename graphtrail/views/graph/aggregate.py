"""Make a large identity graph drawable, and say exactly what was left out.

Steps applied only while the graph has more than ``max_nodes`` nodes:

1. **Collapse alike leaves.** Resources and IP addresses linked to exactly the same
   neighbours by the same kinds of relation (say, 400 S3 objects read by one session) become
   one summary node, "400 resources", whose edges add up the counts and keep the time span.
2. **Collapse alike sessions.** The same for sessions: "35 sessions" of one role, issued by
   one key, that did nothing else.
3. **Cap.** If that is not enough, the least informative nodes are left out: resources and
   IPs before identities, and within a kind the nodes with the fewest links.

Nodes the caller asks to keep (the highlighted lineage) are never collapsed or dropped.

>>> import networkx as nx
>>> g = nx.MultiDiGraph()
>>> g.add_node("s", kind="Session", label="s", account="1")
>>> for i in range(5):
...     g.add_node(f"r{i}", kind="Resource", label=f"r{i}", account="1")
...     _ = g.add_edge("s", f"r{i}", kind="ACTED_ON", first_seen=i, last_seen=i, count=2,
...                event_ids=[f"e{i}"], event_names=["GetObject"])
>>> small, reduction = reduce_graph(g, max_nodes=3)
>>> small.number_of_nodes(), reduction.collapsed
(2, {'Resource': 5})
>>> [d["count"] for _, _, d in small.edges(data=True)]
[10]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import networkx as nx

from graphtrail.bulk import collector_paused
from graphtrail.model import EVIDENCE_CAP, NodeKind

__all__ = ["Reduction", "reduce_graph", "relation_count", "cap_key", "COLLAPSE_STAGES"]

# Collapsed in this order, each stage only if the graph is still too large.
COLLAPSE_STAGES: tuple[tuple[str, ...], ...] = (
    (NodeKind.RESOURCE.value, NodeKind.IP.value),
    (NodeKind.SESSION.value,),
)

# Left out first when capping: leaves, then containers, then identities and credentials.
_CAP_ORDER = {
    NodeKind.RESOURCE.value: 0,
    NodeKind.IP.value: 1,
    NodeKind.AWS_SERVICE.value: 2,
    NodeKind.POLICY.value: 3,
    NodeKind.LOGIN_PROFILE.value: 3,
    NodeKind.ACCOUNT.value: 4,
}
_IDENTITY_RANK = 5

_PLURALS = {
    NodeKind.RESOURCE.value: "resources",
    NodeKind.IP.value: "IP addresses",
    NodeKind.SESSION.value: "sessions",
}


@dataclass(slots=True)
class Reduction:
    """What :func:`reduce_graph` did, in numbers the page can print.

    Attributes
    ----------
    max_nodes : int
        The drawing limit.
    nodes_before, edges_before : int
        Size of the graph given.
    nodes_after, edges_after : int
        Size of the graph drawn.
    collapsed : dict
        Node kind -> how many nodes of that kind were folded into summary nodes.
    summary_nodes : int
        How many summary nodes were added.
    omitted_nodes, omitted_edges : int
        Left out by the cap (counted after collapsing).
    """

    max_nodes: int
    nodes_before: int
    edges_before: int
    nodes_after: int = 0
    edges_after: int = 0
    collapsed: dict[str, int] = field(default_factory=dict)
    summary_nodes: int = 0
    omitted_nodes: int = 0
    omitted_edges: int = 0

    @property
    def changed(self) -> bool:
        """True when the drawing is not the whole graph."""
        return bool(self.summary_nodes or self.omitted_nodes)


def reduce_graph(
    g: nx.MultiDiGraph, max_nodes: int, keep: Iterable[Hashable] = ()
) -> tuple[nx.MultiDiGraph, Reduction]:
    """Shrink ``g`` to at most ``max_nodes`` nodes (plus any ``keep`` nodes) for drawing.

    Parameters
    ----------
    g : networkx.MultiDiGraph
        The identity graph; it is not modified.
    max_nodes : int
        Graphs with at most this many nodes are returned unchanged.
    keep : iterable
        Node ids that must stay as they are (the highlighted lineage).

    Returns
    -------
    (networkx.MultiDiGraph, Reduction)
        The graph to draw (``g`` itself when it is small enough) and what was done.
        Summary nodes have ``aggregate=True``, ``members`` (a count) and ``sample``
        (up to ten member labels).
    """
    reduction = Reduction(max_nodes, g.number_of_nodes(), relation_count(g))
    if g.number_of_nodes() > max_nodes:
        keep_set = set(keep)
        with collector_paused():  # the copies below are a large case's relations
            for kinds in COLLAPSE_STAGES:
                if g.number_of_nodes() > max_nodes:
                    g = _collapse_alike(g, kinds, keep_set, reduction)
            if g.number_of_nodes() > max_nodes:
                g = _cap(g, max_nodes, keep_set, reduction)
    reduction.nodes_after = g.number_of_nodes()
    reduction.edges_after = relation_count(g)
    return g, reduction


def relation_count(g: nx.MultiDiGraph) -> int:
    """``g.number_of_edges()``, counted on the adjacency: networkx adds up every node's
    degree instead, a tenth of a second on a 1M-event case, and a drawing asks often."""
    if not (g.is_multigraph() and g.is_directed()):
        return g.number_of_edges()
    return sum(len(keyed) for _, nbrs in g.adjacency() for keyed in nbrs.values())


def _collapse_alike(
    g: nx.MultiDiGraph, kinds: tuple[str, ...], keep: set[Hashable], reduction: Reduction
) -> nx.MultiDiGraph:
    groups: dict[tuple, list[Hashable]] = defaultdict(list)
    for node, attrs in g.nodes(data=True):
        kind = attrs.get("kind")
        if node in keep or kind not in kinds or attrs.get("aggregate"):
            continue
        links = frozenset(
            [(u, "in", d.get("kind")) for u, _, d in g.in_edges(node, data=True)]
            + [(v, "out", d.get("kind")) for _, v, d in g.out_edges(node, data=True)]
        )
        if links and all(other != node for other, _, _ in links):
            groups[(kind, links)].append(node)

    collapsing = sorted(((k, m) for k, m in groups.items() if len(m) >= 2), key=lambda kv: -len(kv[1]))
    if not collapsing:  # nothing alike: the graph as it is, not a copy (seconds for a case)
        return g
    gone = {m for _, members in collapsing for m in members}
    # A copy of what stays (the same as copying all, then removing the members): the
    # members are most of a large case's nodes and edges.
    out = _copy_of(g, [n for n in g if n not in gone])
    for (kind, _), members in collapsing:
        summary = _fresh_id(out, f"graphtrail:summary:{kind}:{reduction.summary_nodes}")
        _add_summary(out, g, summary, kind, members)
        # a member an earlier summary linked to came back with that link: it goes, as then
        out.remove_nodes_from([m for m in members if m in out])
        reduction.summary_nodes += 1
        reduction.collapsed[kind] = reduction.collapsed.get(kind, 0) + len(members)
    return out


def _add_summary(
    out: nx.MultiDiGraph, g: nx.MultiDiGraph, summary: str, kind: str, members: list[Hashable]
) -> None:
    labels = sorted(str(g.nodes[m].get("label") or m) for m in members)
    accounts = {g.nodes[m].get("account") for m in members}
    out.add_node(
        summary,
        kind=kind,
        label=f"{len(members):,} {_PLURALS.get(kind, kind)}",
        account=accounts.pop() if len(accounts) == 1 else None,
        aggregate=True,
        members=len(members),
        sample=labels[:10],
    )
    merged: dict[tuple, dict] = {}
    for m in members:
        for u, v, d in list(g.in_edges(m, data=True)) + list(g.out_edges(m, data=True)):
            u2, v2 = (summary if u == m else u), (summary if v == m else v)
            key = (u2, v2, d.get("kind"))
            if key not in merged:
                merged[key] = {
                    "kind": d.get("kind"),
                    "first_seen": d.get("first_seen"),
                    "last_seen": d.get("last_seen"),
                    "count": 0,
                    "event_ids": [],
                    "event_names": [],
                    "links": 0,
                }
            _absorb(merged[key], d)
    for (u, v, _), data in merged.items():
        out.add_edge(u, v, **data)


def _absorb(into: dict, d: dict) -> None:
    first, last = d.get("first_seen"), d.get("last_seen")
    if isinstance(first, int):
        cur = into["first_seen"]
        into["first_seen"] = first if not isinstance(cur, int) else min(cur, first)
    if isinstance(last, int):
        cur = into["last_seen"]
        into["last_seen"] = last if not isinstance(cur, int) else max(cur, last)
    into["count"] += int(d.get("count") or 1)
    into["links"] += 1
    room = EVIDENCE_CAP - len(into["event_ids"])
    if room > 0:
        into["event_ids"].extend(list(d.get("event_ids") or [])[:room])
    for name in d.get("event_names") or []:
        if name not in into["event_names"]:
            into["event_names"].append(name)


def _cap(
    g: nx.MultiDiGraph, max_nodes: int, keep: set[Hashable], reduction: Reduction
) -> nx.MultiDiGraph:
    degree = dict(g.degree())
    ordered = sorted(g.nodes, key=lambda n: cap_key(n, g.nodes[n], degree[n], keep), reverse=True)
    kept = set(ordered[: max(max_nodes, len(keep & set(g.nodes)))])
    out = _copy_of(g, [n for n in g if n in kept])
    reduction.omitted_nodes += g.number_of_nodes() - out.number_of_nodes()
    reduction.omitted_edges += relation_count(g) - relation_count(out)
    return out


def _copy_of(g: nx.MultiDiGraph, nodes: list[Hashable]) -> nx.MultiDiGraph:
    """``g.subgraph(nodes).copy()``, its nodes in the order of ``nodes``.

    networkx walks a subgraph of fewer than half the nodes in the order of a set, which
    the string hash seed changes from one process to the next. A later collapse met its
    members in that order: the order of a summary's evidence, and which of two summaries
    of one size was numbered first, changed from run to run.
    """
    inside = set(nodes)
    out = g.__class__()
    out.graph.update(g.graph)
    out.add_nodes_from((n, g.nodes[n].copy()) for n in nodes)
    if g.is_multigraph():
        out.add_edges_from((u, v, k, d.copy()) for u in nodes for v, keyed in g.adj[u].items()
                           if v in inside for k, d in keyed.items())
    else:
        out.add_edges_from((u, v, d.copy()) for u in nodes for v, d in g.adj[u].items() if v in inside)
    return out


def cap_key(node: Hashable, attrs: dict, degree: int, keep: set[Hashable]) -> tuple:
    """How much ``node`` tells, for the cap (the largest keys are kept): the nodes asked
    for, then by kind, then by relations (``degree``), then by id."""
    kind = attrs.get("kind")
    return (
        node in keep,
        # A summary node stands for many: keep it like an identity.
        _IDENTITY_RANK if attrs.get("aggregate") else _CAP_ORDER.get(kind, _IDENTITY_RANK),
        # Accounts are containers: their IN_ACCOUNT degree says little.
        degree if kind != NodeKind.ACCOUNT.value else 0,
        str(node),
    )


def _fresh_id(g: nx.MultiDiGraph, wanted: str) -> str:
    candidate, n = wanted, 0
    while candidate in g:
        n += 1
        candidate = f"{wanted}~{n}"
    return candidate
