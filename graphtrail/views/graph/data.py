"""Turn an identity graph into the data a vis-network page draws.

Everything here is plain data: node and edge dicts with vis-network options, and tooltips as
lists of ``[field, value]`` text pairs. The page script turns each tooltip into DOM nodes with
``textContent``, so text from the logs is never parsed as HTML.

>>> import networkx as nx
>>> g = nx.MultiDiGraph()
>>> g.add_node("AKIA1", kind="AccessKey", label="AKIA1", account="111122223333")
>>> g.add_node("ASIA1", kind="Session", label="ASIA1", account="111122223333",
...            user_agent="<b>aws-cli</b>")
>>> g.add_edge("AKIA1", "ASIA1", kind="ISSUED", first_seen=1_700_000_000_000_000,
...            last_seen=1_700_000_000_000_000, count=1, event_ids=["ev-1"],
...            event_names=["GetSessionToken"])
0
>>> data = vis_data(g)
>>> [(n["x"], n["y"]) for n in data["nodes"]]
[(260.0, 0.0), (520.0, 0.0)]
>>> dict(data["edges"][0]["tip"])["First seen"]
'2023-11-14T22:13:20Z'
>>> dict(data["nodes"][1]["tip"])["User agent"]
'<b>aws-cli</b>'
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Literal

import networkx as nx

from graphtrail.model import EdgeKind, NodeKind
from graphtrail.views.graph.layout import hierarchical_positions
from graphtrail.views.graph.style import (
    EDGE_STYLES,
    HIGHLIGHT_GLOW,
    NO_ACCOUNT_BORDER,
    account_colours,
    edge_style,
    node_style,
)
from graphtrail.views.graph.tooltips import edge_head, edge_tip, node_head, node_tip

__all__ = ["vis_data", "account_only_nodes", "force_iterations", "Layout", "canonical_order"]

Layout = Literal["hierarchical", "force"]

_IN_ACCOUNT = EdgeKind.IN_ACCOUNT.value
# Above this many nodes the force layout starts from the tidy left-to-right positions: too
# few physics iterations are affordable to untangle a random start.
FORCE_SEED_ABOVE = 300
_LABEL_MAX = 34


def account_only_nodes(g: nx.MultiDiGraph) -> set[Hashable]:
    """Account nodes linked by nothing but IN_ACCOUNT: drawn only on request.

    Membership is already shown by border colour, and an account linked to every node it
    holds crosses the whole drawing. Accounts that act (cross-account trust, say) stay.

    >>> g = nx.MultiDiGraph()
    >>> g.add_node("1", kind="Account"); g.add_node("2", kind="Account")
    >>> g.add_node("u", kind="User")
    >>> _ = g.add_edge("u", "1", kind="IN_ACCOUNT"), g.add_edge("2", "u", kind="ISSUED")
    >>> sorted(account_only_nodes(g))
    ['1']
    """
    return {
        n
        for n, k in g.nodes(data="kind")
        if k == NodeKind.ACCOUNT.value
        and all(d == _IN_ACCOUNT for *_, d in g.in_edges(n, data="kind"))
        and all(d == _IN_ACCOUNT for *_, d in g.out_edges(n, data="kind"))
    }


def vis_data(
    g: nx.MultiDiGraph,
    *,
    highlight: Iterable[Hashable] = (),
    layout: Layout = "hierarchical",
) -> dict[str, Any]:
    """Build the vis-network payload for ``g``.

    Parameters
    ----------
    g : networkx.MultiDiGraph
        The graph to draw, already reduced to a drawable size.
    highlight : iterable
        Node ids drawn prominently; an edge is highlighted when both its ends are. When empty
        nothing is faded.
    layout : {"hierarchical", "force"}
        Left-to-right levels computed here (no physics in the page), or a force layout
        stabilised for :func:`force_iterations` steps then frozen.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (dicts with vis-network options plus ``tip``: tooltip rows and
        ``head``: tooltip heading), ``edgeKinds`` (style per relation), ``options`` (the
        vis-network options) and ``accounts`` (account id -> border colour). IN_ACCOUNT
        edges and :func:`account_only_nodes` are ``hidden`` and marked ``accountLink``: the
        page draws them on request.
    """
    if layout not in ("hierarchical", "force"):
        raise ValueError(f"layout must be 'hierarchical' or 'force', not {layout!r}")
    g = canonical_order(g)
    marked = set(highlight) & set(g.nodes)
    colours = account_colours(a for _, a in g.nodes(data="account") if isinstance(a, str))
    account_index = {a: i for i, a in enumerate(sorted(colours))}
    tidy = layout == "hierarchical" or g.number_of_nodes() > FORCE_SEED_ABOVE
    positions = hierarchical_positions(g) if tidy else {}
    containers = account_only_nodes(g)

    groups: dict[str, dict] = {}
    nodes = [_vis_node(node, attrs, groups, colours, account_index, positions, containers, marked)
             for node, attrs in g.nodes(data=True)]
    pair_seen: dict[frozenset, int] = {}
    edges = [_vis_edge(g, i, u, v, attrs, pair_seen, marked)
             for i, (u, v, attrs) in enumerate(g.edges(data=True))]

    return {
        "nodes": nodes,
        "edges": edges,
        "edgeKinds": {
            k.value: {"color": _edge_colour(s.colour), "width": s.width, "dashes": s.dashes}
            for k, s in EDGE_STYLES.items()
        },
        "options": _options(groups, len(nodes), layout),
        "accounts": colours,
    }


def canonical_order(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` with its nodes, and each node's relations, in the order of their ids: the same
    drawing and the same page bytes for the same case, whatever order the graph was built
    in (a subgraph of a set of nodes comes out in the set's order, which Python's hash seed
    changes from one process to the next).

    >>> g = nx.MultiDiGraph([("b", "a", "k"), ("a", "c", "k"), ("a", "b", "j")])
    >>> list(canonical_order(g).nodes), list(canonical_order(g).edges(keys=True))
    (['a', 'b', 'c'], [('a', 'b', 'j'), ('a', 'c', 'k'), ('b', 'a', 'k')])
    """
    out = g.__class__()
    out.graph.update(g.graph)
    out.add_nodes_from(sorted(g.nodes(data=True), key=lambda nd: str(nd[0])))
    out.add_edges_from(sorted(g.edges(keys=True, data=True),
                              key=lambda e: (str(e[0]), str(e[1]), str(e[2]))))
    return out


def _vis_node(node, attrs: dict, groups: dict[str, dict], colours: dict, account_index: dict,
              positions: dict, containers: set, marked: set) -> dict[str, Any]:
    """One node of the payload; registers its group (kind and account colour) in ``groups``."""
    kind = str(attrs.get("kind") or "")
    account = attrs.get("account") if isinstance(attrs.get("account"), str) else None
    group = f"{kind}|{account_index[account]}" if account else f"{kind}|-"
    if group not in groups:
        groups[group] = _group(kind, colours.get(account) if account else None)
    item: dict[str, Any] = {
        "id": str(node),
        "label": _short(str(attrs.get("label") or node)),
        "group": group,
        "head": node_head(node, attrs),
        "tip": node_tip(node, attrs),
    }
    if positions:
        item["x"], item["y"] = positions[node]
    if node in containers:
        item["hidden"] = True
        item["accountLink"] = True
    if marked:
        item.update(_emphasis(node in marked, node_style(kind).size))
    return item


def _vis_edge(g: nx.MultiDiGraph, i: int, u, v, attrs: dict, pair_seen: dict[frozenset, int],
              marked: set) -> dict[str, Any]:
    """One edge of the payload; ``pair_seen`` counts relations per pair so parallels bend apart."""
    kind = str(attrs.get("kind") or "")
    count = _int(attrs.get("count"), 1)
    item: dict[str, Any] = {
        "id": f"e{i}",
        "from": str(u),
        "to": str(v),
        "kind": kind,
        "label": kind if count == 1 else f"{kind} \u00d7{count:,}",
        "head": edge_head(g, u, v, kind),
        "tip": edge_tip(attrs),
    }
    if kind == _IN_ACCOUNT:
        item["hidden"] = True
        item["accountLink"] = True
    parallel = pair_seen.get(frozenset((u, v)), 0)
    pair_seen[frozenset((u, v))] = parallel + 1
    if parallel:
        # Parallel relations between one pair would overlap: bend each a little more.
        item["smooth"] = {"enabled": True, "type": "curvedCW", "roundness": 0.2 * parallel}
    if marked:
        lit = u in marked and v in marked
        style = edge_style(kind)
        item["width"] = style.width * 2 if lit else style.width
        if not lit:
            item["color"] = {**_edge_colour(style.colour), "opacity": 0.18}
    return item


def _group(kind: str, border: str | None) -> dict:
    style = node_style(kind)
    border = border or NO_ACCOUNT_BORDER
    colour = {
        "background": style.colour,
        "border": border,
        "highlight": {"background": style.colour, "border": "#000000"},
        "hover": {"background": style.colour, "border": "#000000"},
    }
    group: dict[str, Any] = {
        "shape": style.shape,
        "size": style.size,
        "color": colour,
        "borderWidth": 3 if border != NO_ACCOUNT_BORDER else 1,
        "font": {"color": style.font_colour},
    }
    if style.shape == "box":
        group.update(margin=8, shapeProperties={"borderRadius": 3}, font={"size": 13})
    return group


def _emphasis(lit: bool, size: int) -> dict:
    if lit:
        return {
            "size": round(size * 1.5),
            "borderWidth": 3,
            "shadow": {"enabled": True, "color": HIGHLIGHT_GLOW, "size": 22, "x": 0, "y": 0},
            "font": {"size": 15, "color": "#000000", "strokeWidth": 4},
        }
    return {"opacity": 0.25, "font": {"color": "#B3B3B3"}}


def _edge_colour(colour: str) -> dict:
    # Hover and selection widen an edge but keep its colour: the colour says what it is.
    return {"color": colour, "highlight": colour, "hover": colour, "inherit": False}


def force_iterations(n_nodes: int) -> int:
    """Physics iterations for the force layout: fewer for bigger graphs, within 10..400.

    >>> force_iterations(100), force_iterations(1500), force_iterations(5000)
    (400, 40, 12)
    """
    return max(10, min(400, 60_000 // max(n_nodes, 1)))


def _options(groups: dict[str, dict], n_nodes: int, layout: Layout) -> dict:
    big = n_nodes > 800
    face = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"
    options: dict[str, Any] = {
        "autoResize": True,
        "groups": {"useDefaultGroups": False, **groups},
        "nodes": {"font": {"size": 12, "face": face, "strokeWidth": 3, "strokeColor": "#FFFFFF"}},
        "edges": {
            "arrows": {"to": {"enabled": True, "scaleFactor": 0.55}},
            "font": {
                "size": 10,
                "face": face,
                "color": "#4D4D4D",
                "align": "horizontal",
                "strokeWidth": 3,
                "strokeColor": "#FFFFFF",
            },
            "selectionWidth": 2.5,
            "hoverWidth": 2,
        },
        "interaction": {
            "hover": True,
            "tooltipDelay": 120,
            "hideEdgesOnDrag": big,
            "navigationButtons": False,
            "keyboard": False,
            "multiselect": True,
        },
    }
    if layout == "hierarchical":
        # Positions come with the nodes (graph_layout): nothing to compute in the browser.
        options["layout"] = {"improvedLayout": False, "hierarchical": {"enabled": False}}
        options["physics"] = {"enabled": False}
        options["edges"]["smooth"] = (
            {"enabled": False} if big else {"type": "cubicBezier", "forceDirection": "horizontal"}
        )
    else:
        options["layout"] = {"improvedLayout": n_nodes <= 150, "randomSeed": 7}
        options["physics"] = {
            "enabled": True,
            "solver": "forceAtlas2Based",
            "forceAtlas2Based": {"gravitationalConstant": -60, "springLength": 90},
            # One iteration costs ~0.1 s at 5,000 nodes in a laptop-class browser: bound the
            # work so the page settles in seconds; big graphs start from the tidy layout.
            "adaptiveTimestep": False,
            "stabilization": {
                "enabled": True,
                "iterations": force_iterations(n_nodes),
                "updateInterval": 10,
                "fit": True,
            },
        }
        options["edges"]["smooth"] = {"enabled": False} if big else {"type": "continuous"}
    return options


def _short(label: str) -> str:
    if len(label) <= _LABEL_MAX:
        return label
    return label[: _LABEL_MAX - 13] + "\u2026" + label[-12:]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
