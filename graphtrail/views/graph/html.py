"""Interactive identity graph as one self-contained HTML file.

:func:`render_graph` writes a page an investigator can attach to a ticket or e-mail: it opens
offline from ``file://``, loads nothing, draws node kinds as distinct shapes and colours with a
legend, shows the evidence of every node and relation in its tooltip, and says so on the page
when a large graph had to be summarised. :func:`graph_fragment` gives the same view as parts
for embedding in a larger page (the incident report).

>>> import networkx as nx
>>> g = nx.MultiDiGraph()
>>> g.add_node("AKIAEXAMPLE", kind="AccessKey", label="AKIAEXAMPLE", account="111122223333")
>>> g.add_node("ASIAEXAMPLE", kind="Session", label="ASIAEXAMPLE", account="111122223333",
...            user_agent="<img src=x onerror=alert(1)>")
>>> _ = g.add_edge("AKIAEXAMPLE", "ASIAEXAMPLE", kind="ISSUED", first_seen=0, last_seen=0,
...                count=1, event_ids=["e1"], event_names=["GetSessionToken"])
>>> page = render_graph(g)
>>> "<img src=x" in page, "<script src" in page, page.count("data-graphtrail=")
(False, False, 1)
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from graphtrail import __version__
from graphtrail.model import EdgeKind, NodeKind
from graphtrail.views.graph.aggregate import Reduction, reduce_graph, relation_count
from graphtrail.views.graph.data import Layout, vis_data
from graphtrail.views.graph.style import edge_style, node_style
from graphtrail.views.graph.tooltips import iso_utc
from graphtrail.views.html_page import html_page, inline_json, static_text, vis_network_assets

if TYPE_CHECKING:
    from graphtrail.views.graph.case_view import ReducedCase

__all__ = ["GraphFragment", "graph_fragment", "render_graph", "render_case_view"]

_KIND_ORDER = {k.value: i for i, k in enumerate(NodeKind)}
_EDGE_ORDER = {k.value: i for i, k in enumerate(EdgeKind)}


@dataclass(frozen=True, slots=True)
class GraphFragment:
    """A graph view ready to place in a page.

    Attributes
    ----------
    body : str
        Markup: the size note, toolbar, canvas, legend and the JSON data block.
    styles : tuple of str
        Stylesheets the view needs (vis-network's and graphtrail's).
    scripts : tuple of str
        Scripts to inline after ``body``, in order.
    reduction : Reduction
        What was summarised or left out to keep the drawing usable.
    """

    body: str
    styles: tuple[str, ...]
    scripts: tuple[str, ...]
    reduction: Reduction


def render_graph(
    g: nx.MultiDiGraph,
    out: Path | None = None,
    *,
    highlight: set[str] | None = None,
    title: str = "graphtrail: identity graph",
    max_nodes: int = 1500,
    layout: Layout = "hierarchical",
) -> str:
    """Render ``g`` as a self-contained interactive HTML page.

    Parameters
    ----------
    g : networkx.MultiDiGraph
        Identity graph: node attributes ``kind``, ``label``, ``account`` and any properties;
        edge attributes ``kind``, ``first_seen``, ``last_seen`` (epoch microseconds),
        ``count``, ``event_ids``, ``event_names`` and any properties.
    out : pathlib.Path, optional
        Where to write the page (UTF-8). Parent folders must exist.
    highlight : set of str, optional
        Node ids to draw prominently (the attack lineage); other nodes and edges are faded.
        An edge is highlighted when both its ends are.
    title : str
        Page heading and title, plain text.
    max_nodes : int
        Above this many nodes, leaf resources and IPs are collapsed into summary nodes and,
        if still needed, the least connected nodes are left out; the page says what and how
        many.
    layout : {"hierarchical", "force"}
        Left-to-right levels (best for chains; no physics, settles at once) or a force
        layout that is stabilised and then frozen.

    Returns
    -------
    str
        The HTML document.
    """
    view = graph_fragment(g, highlight=highlight, max_nodes=max_nodes, layout=layout)
    return _page(view, _meta(g), title, out)


def render_case_view(reduced: ReducedCase, out: Path | None = None, *,
                     title: str = "graphtrail: identity graph",
                     layout: Layout = "hierarchical") -> str:
    """The page :func:`render_graph` makes of a whole case graph, from the reduction
    :func:`~graphtrail.views.graph.case_view.reduced_case` made on the case's tables."""
    keep: set[str] = set()
    view = _fragment(reduced.drawn, reduced.reduction, keep, layout, "gt-graph")
    meta = _meta_text(reduced.nodes, reduced.relations, reduced.accounts,
                      reduced.first_seen, reduced.last_seen)
    return _page(view, meta, title, out)


def _page(view: GraphFragment, meta: str, title: str, out: Path | None) -> str:
    header = (
        '<header class="gt-header">'
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="gt-meta">{meta}</p>'
        "</header>"
    )
    footer = (
        f'<footer class="gt-footer">Drawn by graphtrail {html.escape(__version__)} with '
        "vis-network. Times are UTC. Hover a node or a relation for its evidence.</footer>"
    )
    page = html_page(
        title,
        f'<div class="gt-page">{header}\n{view.body}\n{footer}</div>',
        styles=(static_text("page.css"), *view.styles),
        scripts=view.scripts,
    )
    if out is not None:
        Path(out).write_text(page, encoding="utf-8")
    return page


def graph_fragment(
    g: nx.MultiDiGraph,
    *,
    highlight: set[str] | None = None,
    max_nodes: int = 1500,
    layout: Layout = "hierarchical",
    element_id: str = "gt-graph",
) -> GraphFragment:
    """The graph view of :func:`render_graph` without the page around it.

    Parameters
    ----------
    g, highlight, max_nodes, layout
        As for :func:`render_graph`.
    element_id : str
        HTML id of the canvas element; distinct per view when a page holds several.

    Returns
    -------
    GraphFragment
    """
    keep = set(highlight or ())
    drawn, reduction = reduce_graph(g, max_nodes, keep)
    return _fragment(drawn, reduction, keep, layout, element_id)


def _fragment(drawn: nx.MultiDiGraph, reduction: Reduction, keep: set, layout: Layout,
              element_id: str) -> GraphFragment:
    data = vis_data(drawn, highlight=keep, layout=layout)
    data["container"] = element_id
    vis_js, vis_css = vis_network_assets()
    eid = html.escape(element_id, quote=True)
    body = (
        f"{_note(reduction)}"
        '<section class="gt-view">'
        '<div class="gt-toolbar">'
        '<input type="search" data-gt-search placeholder="Find a node by id or label, Enter" '
        'aria-label="Find a node">'
        "<span data-gt-search-status></span>"
        '<button type="button" data-gt-action="fit">Fit to view</button>'
        f"{_account_toggle(drawn)}"
        '<span class="gt-hint">Scroll to zoom, drag to pan, hover for evidence</span>'
        "</div>"
        '<div class="gt-stage">'
        f'<div id="{eid}" class="gt-graph"></div>'
        f'<div class="gt-loading">Laying out {drawn.number_of_nodes():,} nodes\u2026</div>'
        "</div>"
        f"{_legend(drawn, data['accounts'], bool(keep & set(drawn.nodes)))}"
        "</section>"
        f'<script type="application/json" data-graphtrail="{eid}">{inline_json(data)}</script>'
    )
    return GraphFragment(
        body=body,
        styles=(vis_css, static_text("graph.css")),
        scripts=(vis_js, static_text("graph.js")),
        reduction=reduction,
    )


def _account_toggle(g: nx.MultiDiGraph) -> str:
    links = sum(1 for *_, k in g.edges(data="kind") if k == EdgeKind.IN_ACCOUNT.value)
    if not links:
        return ""
    return (
        '<label class="gt-check"><input type="checkbox" data-gt-toggle="accounts"> '
        f"Draw account nodes and links ({links:,})</label>"
    )


def _meta(g: nx.MultiDiGraph) -> str:
    accounts = {a for _, a in g.nodes(data="account") if a}
    first, last = _evidence_span(g)
    return _meta_text(g.number_of_nodes(), relation_count(g), len(accounts), first, last)


def _meta_text(nodes: int, relations: int, accounts: int, first: int | None,
               last: int | None) -> str:
    parts = [
        f"{nodes:,} nodes",
        f"{relations:,} relations",
        f"{accounts:,} account{'s' if accounts != 1 else ''}",
    ]
    if first is not None and last is not None:
        parts.append(f"evidence {iso_utc(first)} to {iso_utc(last)}")
    return "".join(f"<span>{html.escape(p)}</span>" for p in parts)


def _evidence_span(g: nx.MultiDiGraph) -> tuple[int | None, int | None]:
    """The earliest first_seen and the latest last_seen of the relations (times > 0), in
    one walk of the adjacency (a whole case has hundreds of thousands of relations)."""
    first = last = None
    for _, nbrs in g.adjacency():
        for keyed in nbrs.values():
            for d in keyed.values():
                t = d.get("first_seen")
                if isinstance(t, int) and t > 0 and (first is None or t < first):
                    first = t
                t = d.get("last_seen")
                if isinstance(t, int) and t > 0 and (last is None or t > last):
                    last = t
    return first, last


def _note(r: Reduction) -> str:
    if not r.nodes_before:
        return '<div class="gt-note" role="note">Nothing to draw: the graph has no nodes.</div>'
    if not r.changed:
        return ""
    text = [
        f"<strong>Summarised for readability.</strong> It has {r.nodes_before:,} nodes and "
        f"{r.edges_before:,} relations, more than the {r.max_nodes:,} drawn at once."
    ]
    if r.summary_nodes:
        folded = " and ".join(_count_of(k, n) for k, n in sorted(r.collapsed.items()))
        text.append(
            f"{folded} with the same links were collapsed into {r.summary_nodes:,} "
            "summary nodes (hover one for examples)."
        )
    if r.omitted_nodes:
        text.append(
            f"{r.omitted_nodes:,} nodes and {r.omitted_edges:,} relations were left out, "
            "the least connected resources and IPs first."
        )
    text.append(
        f"Drawn: {r.nodes_after:,} nodes and {r.edges_after:,} relations. "
        "Focus on a key, session or IP to see everything."
    )
    return f'<div class="gt-note" role="note" data-gt-reduced>{" ".join(text)}</div>'


def _count_of(kind: str, n: int) -> str:
    """'1 session', '12 IP addresses'."""
    name = node_style(kind).name
    name = name if name[:2].isupper() else name[:1].lower() + name[1:]
    if n != 1:
        name += "es" if name.endswith("s") else "s"
    return f"{n:,} {name}"


def _legend(g: nx.MultiDiGraph, accounts: dict[str, str], highlighted: bool) -> str:
    kinds = Counter(str(k) for _, k in g.nodes(data="kind"))
    relations = Counter(str(k) for *_, k in g.edges(data="kind"))
    in_account = Counter(a for _, a in g.nodes(data="account") if isinstance(a, str) and a)
    parts = ['<aside class="gt-legend" aria-label="Legend">']
    if highlighted:
        parts.append(
            "<h2>Highlight</h2><ul><li>"
            f"{_shape_icon('dot', '#F0E442', glow=True)}"
            "<span>the lineage asked for; everything else is faded</span></li></ul>"
        )
    parts.append("<h2>Nodes</h2><ul>")
    for kind in sorted(kinds, key=lambda k: (_KIND_ORDER.get(k, 99), k)):
        style = node_style(kind)
        parts.append(
            f"<li>{_shape_icon(style.shape, style.colour)}"
            f'<span><span class="gt-name">{html.escape(style.name)}</span> '
            f'<span class="gt-what">{html.escape(style.meaning)}</span></span>'
            f'<span class="gt-count">{kinds[kind]:,}</span></li>'
        )
    parts.append("</ul><h2>Relations</h2><ul>")
    for kind in sorted(relations, key=lambda k: (_EDGE_ORDER.get(k, 99), k)):
        style = edge_style(kind)
        parts.append(
            f"<li>{_line_icon(style.colour, style.width, style.dashes)}"
            f'<span><span class="gt-name">{html.escape(kind)}</span> '
            f'<span class="gt-what">{html.escape(style.meaning)}</span></span>'
            f'<span class="gt-count">{relations[kind]:,}</span></li>'
        )
    parts.append("</ul>")
    if accounts:
        parts.append("<h2>Accounts (node border)</h2><ul>")
        for account, colour in sorted(accounts.items()):
            name = g.nodes[account].get("label") if account in g else None
            name = f" {name}" if name and name != account else ""
            parts.append(
                f"<li>{_shape_icon('dot', '#FFFFFF', border=colour)}"
                f'<span><span class="gt-mono">{html.escape(account)}</span>'
                f'<span class="gt-what">{html.escape(name)}</span></span>'
                f'<span class="gt-count">{in_account[account]:,}</span></li>'
            )
        parts.append("</ul>")
    parts.append("</aside>")
    return "".join(parts)


_SHAPES = {
    "dot": '<circle cx="9" cy="9" r="6.5"/>',
    "square": '<rect x="3" y="3" width="12" height="12"/>',
    "diamond": '<polygon points="9,1.5 16.5,9 9,16.5 1.5,9"/>',
    "triangle": '<polygon points="9,2 16.5,15.5 1.5,15.5"/>',
    "triangleDown": '<polygon points="1.5,2.5 16.5,2.5 9,16"/>',
    "hexagon": '<polygon points="5,2.1 13,2.1 17,9 13,15.9 5,15.9 1,9"/>',
    "star": '<polygon points="9,1 11.1,6.3 16.6,6.5 12.3,10 13.8,15.5 9,12.4 4.2,15.5 '
    '5.7,10 1.4,6.5 6.9,6.3"/>',
    "box": '<rect x="1.5" y="4" width="15" height="10" rx="2"/>',
}


def _shape_icon(shape: str, fill: str, border: str = "#4D4D4D", glow: bool = False) -> str:
    width = 2.5 if border != "#4D4D4D" else 1
    halo = '<circle cx="9" cy="9" r="8.5" fill="#D55E00" opacity="0.35"/>' if glow else ""
    return (
        '<svg width="18" height="18" viewBox="0 0 18 18" aria-hidden="true">'
        f'{halo}<g fill="{fill}" stroke="{border}" stroke-width="{width}">'
        f"{_SHAPES.get(shape, _SHAPES['dot'])}</g></svg>"
    )


def _line_icon(colour: str, width: float, dashes: bool) -> str:
    dash = ' stroke-dasharray="4 3"' if dashes else ""
    return (
        '<svg width="26" height="12" viewBox="0 0 26 12" aria-hidden="true">'
        f'<line x1="1" y1="6" x2="19" y2="6" stroke="{colour}" '
        f'stroke-width="{max(width, 1.2)}"{dash}/>'
        f'<polygon points="18,2 25,6 18,10" fill="{colour}"/></svg>'
    )
