"""The incident report as one self-contained HTML file.

The file travels as an e-mail attachment and is opened offline, from ``file://``, in any
browser: every script and style is inlined (:func:`~graphtrail.views.html_page.html_page`,
with its strict Content-Security-Policy: scripts only by hash, no request of any kind),
fonts are the system's. Every string from the logs is escaped where it is written
(:mod:`graphtrail.views.report.markup`); the graph's data travels as inline JSON with
``<``, ``>`` and ``&`` escaped and is put into the page with ``textContent`` only.

Sections: summary, role chain, the interactive lineage graph, findings, what changed, the
timeline, the evidence. The layout prints (A4 landscape) without the interactive parts.
"""

from __future__ import annotations

import html
from pathlib import Path

from graphtrail.views.graph.html import graph_fragment
from graphtrail.views.graph.style import account_colours
from graphtrail.views.html_page import html_page, static_text
from graphtrail.views.report.chain import chain_section
from graphtrail.views.report.data import Report, seed_words
from graphtrail.views.report.integrity import integrity_section
from graphtrail.views.report.markup import esc, plural
from graphtrail.views.report.summary import changes_section, summary_section
from graphtrail.views.report.tables import evidence_section, findings_section, timeline_section

__all__ = ["render_report_html", "TIMELINE_ROWS", "EVIDENCE_ROWS", "GRAPH_CONTEXT"]

TIMELINE_ROWS = 1000
EVIDENCE_ROWS = 20_000
# Nodes drawn besides the lineage: past this, alike resources and addresses are summarised.
# The report's drawing is about the lineage; ``graphtrail view --focus`` draws everything.
GRAPH_CONTEXT = 30
_SECTIONS = (("summary", "Summary"), ("chain", "Role chain"), ("graph", "Graph"),
             ("findings", "Findings"), ("changes", "What changed"), ("timeline", "Timeline"),
             ("integrity", "Integrity"), ("evidence", "Evidence"))


def render_report_html(report: Report, out: Path | str | None = None, *,
                       timeline_rows: int = TIMELINE_ROWS, evidence_rows: int = EVIDENCE_ROWS,
                       graph_context: int = GRAPH_CONTEXT) -> str:
    """Render ``report`` as one self-contained HTML document.

    Parameters
    ----------
    report : Report
        From :func:`~graphtrail.views.report.data.build_report`.
    out : path, optional
        Where to write the document (UTF-8).
    timeline_rows, evidence_rows : int
        At most this many timeline calls and evidence eventIDs are listed; the page says
        how many there are and how to list them all.
    graph_context : int
        Nodes drawn besides the highlighted lineage; past that, alike resources and
        addresses are summarised and then the least linked left out (the page says so,
        with counts).

    Returns
    -------
    str
        The document.
    """
    accounts = {a for _, a in report.graph.nodes(data="account") if isinstance(a, str) and a}
    colours = account_colours(accounts | set(report.blast.accounts))
    lineage = len(report.highlight & set(report.graph))
    view = graph_fragment(report.graph, highlight=report.highlight,
                          max_nodes=lineage + graph_context, layout="hierarchical",
                          element_id="gt-lineage")
    body = "\n".join([
        _header(report),
        summary_section(report, colours),
        chain_section(report, colours),
        _graph_section(report, view.body),
        findings_section(report),
        changes_section(report),
        timeline_section(report, timeline_rows),
        integrity_section(report),
        evidence_section(report, evidence_rows),
        _footer(report),
    ])
    page = html_page(
        report.title,
        f'<main class="rp" data-rp-report>{body}</main>',
        styles=(static_text("page.css"), *view.styles, static_text("report.css")),
        scripts=(*view.scripts, static_text("report.js")),
    )
    if out is not None:
        Path(out).write_text(page, encoding="utf-8")
    return page


def _header(report: Report) -> str:
    meta = [f"generated {report.generated_at}", f"case {report.case.get('path', '')}",
            f"{report.case.get('events', 0):,} events from "
            f"{plural(report.case.get('files', 0), 'file')}", "times are UTC"]
    toc = "".join(f'<a href="#{sid}">{html.escape(name)}</a>' for sid, name in _SECTIONS)
    return (
        '<header class="rp-head">'
        '<p class="rp-kicker">graphtrail \u00b7 incident report</p>'
        f"<h1>{esc(report.title)}</h1>"
        f'<p class="gt-meta">{"".join(f"<span>{esc(m)}</span>" for m in meta)}</p>'
        f'<nav class="rp-toc" aria-label="Sections">{toc}</nav></header>'
    )


def _graph_section(report: Report, view_body: str) -> str:
    g = report.graph
    return (
        '<section class="rp-section" id="graph">'
        f'<h2>Lineage graph<span class="rp-count">{g.number_of_nodes():,} nodes, '
        f"{g.number_of_edges():,} relations</span></h2>"
        '<p class="rp-lead">The credentials derived from the '
        f"{esc(seed_words(report.seed))} and the principals they acted as are highlighted; "
        "around them, what they touched, created or tried, and the addresses they came from. "
        "Dashed relations are failed calls. Hover a node or a relation for its evidence; "
        "scroll to zoom. <code>graphtrail view --focus</code> draws the full "
        "neighbourhood.</p>"
        f"{view_body}</section>"
    )


def _footer(report: Report) -> str:
    return (
        '<footer class="rp-foot">'
        f"<p>Generated by graphtrail {esc(report.version)} at {esc(report.generated_at)} from "
        f"the case at {esc(report.case.get('path', ''))}. All times are UTC.</p>"
        "<p>This file is self-contained: it loads nothing from the network and runs only its "
        "own scripts. Text from the logs is shown as text.</p>"
        "<p>ATT&amp;CK technique ids refer to MITRE ATT&amp;CK\u00ae "
        "(attack.mitre.org).</p></footer>"
    )
