"""The parts of the identity graph a report or a view draws.

:func:`lineage_graph` is what the incident report draws: every credential in a seed's lineage
(the blast-radius credentials) and everything one relation away from them: the roles and
users they act as, the addresses they came from, what they touched, created or tried. The
credentials and the principals they stand for are the *highlight*; the rest is context.

:func:`focus_graph` is what ``graphtrail view`` draws: the whole case, or a focus (a key,
principal, session or address) widened to ``depth`` relations, cut to a time window or an
account.

>>> import networkx as nx
>>> g = nx.MultiDiGraph()
>>> for n, k in (("key:AKIA1", "AccessKey"), ("s1", "Session"), ("r", "Role"), ("x", "Resource")):
...     g.add_node(n, kind=k, account="111122223333")
>>> _ = g.add_edge("key:AKIA1", "s1", kind="ISSUED", first_seen=10, last_seen=10)
>>> _ = g.add_edge("s1", "r", kind="OF_ROLE", first_seen=10, last_seen=10)
>>> _ = g.add_edge("s1", "x", kind="ACTED_ON", first_seen=20, last_seen=90)
>>> sorted(within_time(g, since=50).nodes)
['s1', 'x']
>>> sorted(within_time(g, until=15).nodes)
['key:AKIA1', 'r', 's1']
>>> sorted(neighbourhood(g, {"key:AKIA1"}, 1))
['key:AKIA1', 's1']
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import networkx as nx

from graphtrail import ids
from graphtrail.model import EdgeKind, NodeKind
from graphtrail.queries.blast_radius import lineage_of
from graphtrail.queries.seeds import Seed, seed_credentials
from graphtrail.store.protocol import ViewStore

__all__ = ["lineage_graph", "focus_graph", "neighbourhood", "within_time", "in_account",
           "lineage_highlight"]

# Relations that say what a credential *is*: its role or principal, its owner. Those ends
# belong to the lineage as much as the credentials do.
_IDENTITY_EDGES = frozenset({EdgeKind.OF_ROLE.value, EdgeKind.OF_PRINCIPAL.value,
                             EdgeKind.HAS_KEY.value})
_STRUCTURAL = frozenset({EdgeKind.IN_ACCOUNT.value})


def lineage_highlight(g: nx.MultiDiGraph, credentials: Iterable[Hashable]) -> set[Hashable]:
    """The credentials present in ``g`` and the roles, users and owners they stand for."""
    creds = {c for c in credentials if c in g}
    marked = set(creds)
    for c in creds:
        for _, dst, kind in g.out_edges(c, data="kind"):
            if kind in _IDENTITY_EDGES:
                marked.add(dst)
        for src, _, kind in g.in_edges(c, data="kind"):
            if kind == EdgeKind.HAS_KEY.value:
                marked.add(src)
    return marked


def lineage_graph(store: ViewStore, credentials: Iterable[str], *, since: int | None = None,
                  until: int | None = None) -> tuple[nx.MultiDiGraph, set[Hashable]]:
    """The lineage of a seed and what is one relation away from it, for drawing.

    Parameters
    ----------
    store : ViewStore
        The case; its full graph (``store.graph``) is read.
    credentials : iterable of str
        Credential node ids of the lineage (:func:`~graphtrail.queries.blast_radius.lineage_of`).
    since, until : int, optional
        Epoch microseconds: relations seen only outside the window are left out.

    Returns
    -------
    (networkx.MultiDiGraph, set)
        A copy of the subgraph, and the node ids to highlight.
    """
    cut = getattr(store, "neighbourhood_graph", None)
    if cut is not None and since is None and until is None:
        # the same subgraph, without building the whole graph first
        drawn = cut(set(credentials))
        return drawn, lineage_highlight(drawn, credentials)
    g = within_time(store.graph, since, until, keep=credentials)
    keep = neighbourhood(g, set(credentials), 1)
    drawn = g.subgraph(keep).copy()
    return drawn, lineage_highlight(drawn, credentials)


def focus_graph(store: ViewStore, focus: Seed | None = None, *, depth: int = 1, since: int | None = None,
                until: int | None = None,
                account: str | None = None) -> tuple[nx.MultiDiGraph, set[Hashable]]:
    """The whole case, or a focus and its neighbourhood, for ``graphtrail view``.

    Parameters
    ----------
    store : MemoryStore
    focus : Seed, optional
        A key, principal or session: its lineage (the blast-radius credentials) is the
        centre. An address: the address and the lineage of every credential seen calling
        from it. ``None``: the whole case.
    depth : int
        Relations to walk out from the centre, in either direction (0: the centre only).
    since, until : int, optional
        Epoch microseconds: relations seen only outside the window are left out, and nodes
        left with no relation go too (the centre stays).
    account : str, optional
        Keep the nodes of this account, and the account-less nodes (addresses, buckets)
        linked to them.

    Returns
    -------
    (networkx.MultiDiGraph, set)
        The graph to draw and the node ids to highlight (empty without a focus). Without
        a focus, the case's own graph or a view of it: read it, do not modify it.

    Raises
    ------
    SeedError
        When the focus is not in the case.
    """
    centre: set[Hashable] = set()
    creds: set[str] = set()
    if focus is not None:
        start = seed_credentials(store, focus, since, until)
        creds = set(lineage_of(store, start, since, until)[0])
        centre = set(creds)
        if focus.kind == "ip":
            centre.add(ids.ip_id(focus.value))
    g = within_time(store.graph, since, until, keep=centre)
    if account:
        g = in_account(g, account, keep=centre)
    if focus is None:
        # no copy: drawing reads the graph, and a case graph copies in seconds
        return g, set()
    drawn = g.subgraph(neighbourhood(g, centre, max(depth, 0))).copy()
    highlight = lineage_highlight(drawn, creds) | (centre & set(drawn))
    return drawn, highlight


def neighbourhood(g: nx.MultiDiGraph, start: set[Hashable], depth: int) -> set[Hashable]:
    """Nodes within ``depth`` relations of ``start`` (either direction), ``start`` included."""
    seen = {n for n in start if n in g}
    frontier = set(seen)
    for _ in range(depth):
        nxt: set[Hashable] = set()
        for n in frontier:
            nxt.update(g.successors(n))
            nxt.update(g.predecessors(n))
        frontier = nxt - seen
        if not frontier:
            break
        seen |= frontier
    return seen


def within_time(g: nx.MultiDiGraph, since: int | None = None, until: int | None = None, *,
                keep: Iterable[Hashable] = ()) -> nx.MultiDiGraph:
    """``g`` without the relations seen only outside ``[since, until]`` (a view).

    A node stays when a relation inside the window touches it, or when it is in ``keep``;
    account links (IN_ACCOUNT) carry no time of their own and stay between nodes that stay.
    """
    if since is None and until is None:
        return g

    def inside(d: dict) -> bool:
        first, last = d.get("first_seen"), d.get("last_seen")
        if since is not None and last is not None and last < since:
            return False
        return not (until is not None and first is not None and first > until)

    timed = [(u, v, k) for u, v, k, d in g.edges(keys=True, data=True)
             if d.get("kind") not in _STRUCTURAL and inside(d)]
    nodes = {n for u, v, _ in timed for n in (u, v)} | {n for n in keep if n in g}
    edges = set(timed) | {(u, v, k) for u, v, k, d in g.edges(keys=True, data=True)
                          if d.get("kind") in _STRUCTURAL and u in nodes and v in nodes}
    return nx.subgraph_view(g, filter_node=nodes.__contains__,
                            filter_edge=lambda u, v, k: (u, v, k) in edges)


def in_account(g: nx.MultiDiGraph, account: str, *,
               keep: Iterable[Hashable] = ()) -> nx.MultiDiGraph:
    """The nodes of ``account``, the account-less nodes linked to them, and ``keep`` (a view)."""
    own = {n for n, a in g.nodes(data="account") if a == account}
    own |= {n for n in keep if n in g}
    loose = {m for n in own for m in nx.all_neighbors(g, n)
             if not g.nodes[m].get("account") and g.nodes[m].get("kind") != NodeKind.ACCOUNT.value}
    nodes = own | loose
    return nx.subgraph_view(g, filter_node=nodes.__contains__)
