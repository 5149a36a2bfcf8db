"""Left-to-right positions for an identity graph, computed before the page opens.

An attack reads as a chain: key -> session -> session -> role -> what it touched. The layout
puts each node one level right of what led to it (:func:`hierarchy_levels`) and stacks the
nodes of a level as a tidy tree: every node is centred on the nodes it led to
(:func:`hierarchical_positions`). Doing this here rather than in vis-network's hierarchical
layout makes the drawing deterministic and lets a 5,000-node page open in about a second
instead of spending seconds in the browser.

>>> import networkx as nx
>>> g = nx.MultiDiGraph()
>>> _ = g.add_edge("key", "s1", kind="ISSUED"), g.add_edge("s1", "role", kind="OF_ROLE")
>>> _ = g.add_edge("s1", "bucket", kind="ACTED_ON")
>>> kinds = {"key": "AccessKey", "s1": "Session", "role": "Role", "bucket": "Resource"}
>>> nx.set_node_attributes(g, kinds, "kind")
>>> hierarchical_positions(g)
{'key': (260.0, 32.0), 's1': (520.0, 32.0), 'role': (780.0, 0.0), 'bucket': (780.0, 64.0)}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass

import networkx as nx

from graphtrail.model import EdgeKind, NodeKind

__all__ = ["hierarchy_levels", "hierarchical_positions", "LEVEL_SEPARATION", "NODE_SPACING"]

LEVEL_SEPARATION = 260  # pixels between levels: room for a label such as an access key id
NODE_SPACING = 64  # pixels between nodes of one level: a shape and its label below
LEAF_COLUMN_SPACING = 170  # pixels between columns of a block of sibling leaves
_ASPECT = 0.6  # height / width wanted when a tall forest is stacked into columns
_MIN_COLUMN_ROWS = 40  # never break a drawing shorter than this into columns

_IN_ACCOUNT = EdgeKind.IN_ACCOUNT.value
_ACCOUNT = NodeKind.ACCOUNT.value
# Within a parent, chains continue above, leaves hang below.
_LEAF_RANK = {NodeKind.IP.value: 1, NodeKind.RESOURCE.value: 2}


def hierarchy_levels(g: nx.MultiDiGraph) -> dict[Hashable, int]:
    """Left-to-right levels for a hierarchical drawing: each node right of what led to it.

    Accounts sit in level 0; every other node gets the longest path to it from a node without
    predecessors (cycles are folded first), and a node without predecessors moves right to sit
    just before its nearest successor, so a user appears next to its key rather than far left.
    IN_ACCOUNT links are ignored: they would push each account right of everything in it.

    >>> g = nx.MultiDiGraph()
    >>> g.add_nodes_from(["key", "s1", "s2", "role"], kind="Session")
    >>> _ = g.add_edge("key", "s1", kind="ISSUED"), g.add_edge("s1", "s2", kind="ISSUED")
    >>> _ = g.add_edge("s2", "role", kind="OF_ROLE"), g.add_edge("s2", "s1", kind="ISSUED")
    >>> hierarchy_levels(g)
    {'key': 1, 's1': 2, 's2': 2, 'role': 3}
    """
    h = nx.DiGraph()
    h.add_nodes_from(n for n, k in g.nodes(data="kind") if k != _ACCOUNT)
    h.add_edges_from(
        (u, v)
        for u, v, k in g.edges(data="kind")
        if k != _IN_ACCOUNT and u != v and u in h and v in h
    )
    dag = nx.condensation(h)
    order = list(nx.topological_sort(dag))
    level: dict[int, int] = {}
    for c in order:
        level[c] = max((level[p] + 1 for p in dag.predecessors(c)), default=0)
    for c in reversed(order):
        if dag.in_degree(c) == 0 and dag.out_degree(c) > 0:
            level[c] = min(level[s] for s in dag.successors(c)) - 1
    members = dag.graph["mapping"]
    shift = 1 - min(level.values(), default=0)
    return {n: (0 if n not in h else level[members[n]] + shift) for n in g.nodes}


def hierarchical_positions(g: nx.MultiDiGraph) -> dict[Hashable, tuple[float, float]]:
    """Canvas positions: x by level, y by a tidy tree over the links that go rightwards.

    Each node is reached once, depth first, from the leftmost nodes, which makes a forest.
    In a tree, a node that leads nowhere further takes the next free row; many such siblings
    (the objects a session read) fill a block of rows and columns instead of one long column;
    any other node sits midway between the first and last rows below it. Rows belong to one
    tree branch, so nodes never overlap. When the forest is much taller than wide, its trees
    are stacked into several columns. Accounts go left of the trees they hold.

    Parameters
    ----------
    g : networkx.MultiDiGraph
        The graph to draw.

    Returns
    -------
    dict
        Node -> ``(x, y)`` in canvas pixels.
    """
    levels = hierarchy_levels(g)
    kinds = dict(g.nodes(data="kind"))
    neighbours: dict[Hashable, set[Hashable]] = defaultdict(set)
    for u, v, k in g.edges(data="kind"):
        if k != _IN_ACCOUNT and u != v:
            neighbours[u].add(v)
            neighbours[v].add(u)

    def order(n: Hashable) -> tuple:
        return (_LEAF_RANK.get(kinds.get(n), 0), str(n))

    visited: set[Hashable] = set()
    trees: list[_Tree] = []
    roots = sorted((n for n in g if kinds.get(n) != _ACCOUNT), key=lambda n: (levels[n], *order(n)))
    for root in roots:
        if root not in visited:
            visited.add(root)
            below = _spanning_tree(root, neighbours, levels, visited, order)
            trees.append(_place_tree(root, below, levels))
    spots = _stack_trees(trees)
    _place_accounts(g, spots)
    return {n: (spots[n][0], round(spots[n][1] * NODE_SPACING, 1)) for n in g}


@dataclass(slots=True)
class _Tree:
    """One tree: node -> (x in pixels, row), and its extent."""

    spots: dict[Hashable, tuple[float, float]]
    rows: float
    left: float
    right: float


def _spanning_tree(root, neighbours, levels, visited, order) -> dict[Hashable, list[Hashable]]:
    below: dict[Hashable, list[Hashable]] = defaultdict(list)
    stack = [(root, iter(sorted(neighbours[root], key=order)))]
    while stack:  # iterative: a chain of sessions can be thousands long
        node, pending = stack[-1]
        for nxt in pending:
            if nxt not in visited and levels[nxt] > levels[node]:
                visited.add(nxt)
                below[node].append(nxt)
                stack.append((nxt, iter(sorted(neighbours[nxt], key=order))))
                break
        else:
            stack.pop()
    return below


def _place_tree(root: Hashable, below: dict, levels: dict) -> _Tree:
    row: dict[Hashable, float] = {}
    x: dict[Hashable, float] = {}
    free = 0.0
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        kids = below.get(node, [])
        inner = [k for k in kids if below.get(k)]
        if not expanded:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(inner))
            continue
        x[node] = levels[node] * LEVEL_SEPARATION
        by_level: dict[int, list[Hashable]] = defaultdict(list)
        for k in kids:
            if not below.get(k):
                by_level[levels[k]].append(k)
        for level in sorted(by_level):
            leaves = by_level[level]
            columns = _block_columns(len(leaves))
            for i, leaf in enumerate(leaves):
                row[leaf] = free + i // columns
                x[leaf] = level * LEVEL_SEPARATION + (i % columns) * LEAF_COLUMN_SPACING
            free += -(-len(leaves) // columns)
        if kids:
            first = min(row[k] for k in kids)
            row[node] = (first + max(row[k] for k in kids)) / 2
        else:
            row[node] = free
            free += 1.0
    spots = {n: (x[n], row[n]) for n in row}
    xs = [p[0] for p in spots.values()]
    return _Tree(spots, free, min(xs), max(xs))


def _block_columns(n: int) -> int:
    """Columns for ``n`` sibling leaves: one for a few, a roughly square block for many."""
    if n <= 6:
        return 1
    return max(1, min(16, round(math.sqrt(n * NODE_SPACING / LEAF_COLUMN_SPACING))))


def _stack_trees(trees: list[_Tree]) -> dict[Hashable, tuple[float, float]]:
    """Stack trees top to bottom; start a new column when the drawing gets too tall."""
    area = sum((t.right - t.left + LEVEL_SEPARATION) * t.rows * NODE_SPACING for t in trees)
    tallest = max((t.rows for t in trees), default=0.0)
    limit = max(tallest, math.sqrt(area * _ASPECT) / NODE_SPACING, _MIN_COLUMN_ROWS)
    columns: list[list[_Tree]] = [[]]
    height = 0.0
    for tree in trees:
        if height > 0 and height + tree.rows > limit:
            columns.append([])
            height = 0.0
        columns[-1].append(tree)
        height += tree.rows + 1
    spots: dict[Hashable, tuple[float, float]] = {}
    offset = float(LEVEL_SEPARATION)  # x = 0 is left for the accounts
    for column in columns:
        left = min((t.left for t in column), default=0.0)
        right = max((t.right for t in column), default=0.0)
        top = 0.0
        for tree in column:  # levels line up within a column
            for n, (x, r) in tree.spots.items():
                spots[n] = (x - left + offset, r + top)
            top += tree.rows + 1
        offset += right - left + 2 * LEVEL_SEPARATION
    return spots


def _place_accounts(g: nx.MultiDiGraph, spots: dict[Hashable, tuple[float, float]]) -> None:
    # One column left of everything, each account level with the middle of what it holds.
    x = min((p[0] for p in spots.values()), default=LEVEL_SEPARATION) - LEVEL_SEPARATION
    wanted = []
    for n, k in g.nodes(data="kind"):
        if k == _ACCOUNT:
            held = [spots[m][1] for m in nx.all_neighbors(g, n) if m in spots]
            wanted.append((sum(held) / len(held) if held else 0.0, str(n), n))
    last = float("-inf")
    for y, _, n in sorted(wanted):
        spots[n] = (x, max(y, last + 1))
        last = spots[n][1]
