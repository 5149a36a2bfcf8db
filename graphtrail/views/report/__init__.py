"""The incident report: what one credential did, as a self-contained HTML file or Markdown.

:func:`build_report` gathers the answers for a seed (an access key, principal, session or
address): blast radius, role chains, the lineage's timeline, the findings that involve it,
the subgraph to draw and the evidence (eventIDs, their source files and the files' SHA-256).
:func:`render_report_html` writes one HTML file that opens offline from an e-mail
attachment; :func:`render_report_markdown` the summary and tables for a ticket.
:func:`write_graph_png` saves a picture of the lineage graph with headless Chromium, when
one is installed.

Example (after ``graphtrail demo``)::

    from graphtrail.store.memory import MemoryStore
    r = build_report(MemoryStore.open("graphtrail-demo/case"), "AKIA52CAMQMUDNLGK7SQ")
    render_report_html(r, "report.html")
"""

from __future__ import annotations

from graphtrail.views.graph.png import PngError, find_chromium, screenshot, write_graph_png
from graphtrail.views.report.data import Report, build_report
from graphtrail.views.report.html import render_report_html
from graphtrail.views.report.markdown import render_report_markdown

__all__ = [
    "Report",
    "build_report",
    "render_report_html",
    "render_report_markdown",
    "write_graph_png",
    "screenshot",
    "find_chromium",
    "PngError",
]
