"""``graphtrail report`` and ``graphtrail view``: the incident report and the interactive graph.

Both write one self-contained HTML file that opens offline; ``--png`` also saves a picture
of the graph when a headless Chromium is installed (it is not a dependency).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from graphtrail.bulk import collector_paused
from graphtrail.cli.common import (
    DEFAULT_CASE,
    AccessKeyOpt,
    BackendOpt,
    CaseOpt,
    FindingsConfigOpt,
    IpOpt,
    OrgAccountsOpt,
    PrincipalOpt,
    SessionOpt,
    SinceOpt,
    UntilOpt,
    fail,
    on_server,
    open_store,
    output_file,
    pick_seed,
    skip_pandas_probe,
    time_bounds,
)
from graphtrail.cli.output import console, err_console
from graphtrail.queries.seeds import Seed, SeedError
from graphtrail.views.graph.aggregate import relation_count
from graphtrail.views.graph.case_view import reduced_case
from graphtrail.views.graph.focus import focus_graph
from graphtrail.views.graph.html import render_case_view, render_graph
from graphtrail.views.graph.png import PngError, screenshot, write_graph_png

if TYPE_CHECKING:
    from graphtrail.views.report import Report

__all__ = ["report_cmd", "view_cmd", "write_report", "ReportFormat", "Layout"]

EXIT_NO_PNG = 1  # the HTML was written, the PNG could not be


class ReportFormat(StrEnum):
    html = "html"
    md = "md"


class Layout(StrEnum):
    hierarchical = "hierarchical"
    force = "force"


ReportOutOpt = Annotated[Path | None, typer.Option(
    "--out", help="File to write (default graphtrail-report.html or .md; folders are made).")]
ViewOutOpt = Annotated[Path | None, typer.Option(
    "--out", help="File to write (default graphtrail-graph.html; folders are made).")]
PngOpt = Annotated[Path | None, typer.Option(
    "--png", help="Also save a PNG of the graph (needs headless Chromium).")]
TitleOpt = Annotated[str | None, typer.Option("--title", help="Page title (plain text).")]


@collector_paused()  # but for the findings (see build_report and graphtrail.bulk)
def report_cmd(
    access_key: AccessKeyOpt = None, principal: PrincipalOpt = None, session: SessionOpt = None,
    ip: IpOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    out: ReportOutOpt = None,
    fmt: Annotated[ReportFormat, typer.Option(
        "--format", help="html: one self-contained page; md: Markdown for a ticket.")
    ] = ReportFormat.html,
    png: PngOpt = None, title: TitleOpt = None, case: CaseOpt = DEFAULT_CASE,
    backend: BackendOpt = "embedded", config: FindingsConfigOpt = None,
    org_accounts: OrgAccountsOpt = None,
) -> None:
    """An incident report for a key, principal, session or IP: summary, role chain, graph,
    findings, timeline and evidence, in one HTML file that opens offline. Its findings are
    tuned as `graphtrail findings` tunes them (the same graphtrail.toml)."""
    # here, not at the top: the report's modules import pandas, which `view` does not need
    from graphtrail.cli.detect import sigma_for, tuning
    from graphtrail.views.report import build_report
    from graphtrail.views.report.html import GRAPH_CONTEXT

    seed = pick_seed(access_key, principal, session, ip)
    lo, hi = time_bounds(since, until)
    output_file(out)
    output_file(png, "--png")
    cfg, orgs, community = tuning(config, case, org_accounts, None, None)
    store = open_store(case, backend, seed=seed)
    if store.case is None:  # the server holds the graph; the raw records stay in the case
        raise fail(f"--case {case}: report --backend neo4j reads the evidence (source files, "
                   "digests) from the case folder that was pushed; give it with --case")
    community = sigma_for(backend, cfg, community)
    try:
        report = build_report(store, seed, since=lo, until=hi, title=title, config=cfg,
                              org_accounts=orgs, sigma=community)
    except SeedError as exc:
        raise fail(str(exc)) from exc
    path = write_report(report, out or Path(f"graphtrail-report.{fmt.value}"), fmt)
    br = report.blast
    hidden = (f", {len(report.suppressed):,} suppressed by {report.config_source}"
              if report.suppressed else "")
    console.print(f"report: {path} ({path.stat().st_size / 1024:,.0f} KB; {br.calls:,} calls, "
                  f"{len(report.findings):,} findings{hidden}, severity {report.severity or 'none'})",
                  highlight=False, markup=False, soft_wrap=True)
    if png is not None:
        lineage = len(report.highlight & set(report.graph))
        _png(lambda: write_graph_png(report.graph, png, highlight=report.highlight,
                                     title=report.title, max_nodes=lineage + GRAPH_CONTEXT))


@collector_paused()  # see graphtrail.bulk: a case graph is large and holds no cycles
def view_cmd(
    focus: Annotated[str | None, typer.Option(
        "--focus", help="A key, principal ARN, session id or IP: its lineage and neighbours.")
    ] = None,
    depth: Annotated[int, typer.Option("--depth", min=0,
                                       help="Relations to walk out from the focus.")] = 1,
    since: SinceOpt = None, until: UntilOpt = None,
    account: Annotated[str | None, typer.Option("--account",
                                                help="Only nodes of this account.")] = None,
    out: ViewOutOpt = None,
    layout: Annotated[Layout, typer.Option("--layout", help="hierarchical or force.")
                      ] = Layout.hierarchical,
    max_nodes: Annotated[int, typer.Option("--max-nodes", min=10,
                                           help="Summarise the graph above this many nodes.")
                         ] = 1500,
    png: PngOpt = None, title: TitleOpt = None, case: CaseOpt = DEFAULT_CASE,
    backend: BackendOpt = "embedded",
) -> None:
    """An interactive graph of the case, or of a focus and its neighbourhood, in one HTML file."""
    lo, hi = time_bounds(since, until)
    output_file(out)
    output_file(png, "--png")
    seed = Seed.of(None, focus) if focus else None
    store = open_store(case, backend, seed=seed)
    whole = seed is None and lo is None and hi is None and account is None
    if whole and not on_server(backend):
        skip_pandas_probe()  # a page from the tables makes no frame
    # the whole case cut down on its tables, when that gives the same page (case_view.py)
    reduced = reduced_case(store, max_nodes) if whole else None
    if reduced is None:
        try:
            g, highlight = focus_graph(store, seed, depth=depth, since=lo, until=hi, account=account)
        except SeedError as exc:
            raise fail(str(exc)) from exc
    out = out or Path("graphtrail-graph.html")
    heading = title or (f"graphtrail: {_seed_words(seed)}" if seed else "graphtrail: case graph")
    out.parent.mkdir(parents=True, exist_ok=True)
    if reduced is not None:
        render_case_view(reduced, out, title=heading, layout=layout.value)
        nodes, relations = reduced.nodes, reduced.relations
    else:
        render_graph(g, out, highlight=highlight, title=heading, max_nodes=max_nodes,
                     layout=layout.value)
        nodes, relations = g.number_of_nodes(), relation_count(g)
    drawn = "" if nodes <= max_nodes else f", summarised to {max_nodes:,} at most"
    console.print(f"view: {out} ({nodes:,} nodes, {relations:,} relations{drawn})",
                  highlight=False, markup=False, soft_wrap=True)
    if png is not None:
        _png(lambda: screenshot(out, png))


def write_report(report: Report, out: Path, fmt: ReportFormat = ReportFormat.html) -> Path:
    """Write ``report`` to ``out`` as HTML or Markdown; parent folders are made."""
    from graphtrail.views.report import render_report_html, render_report_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ReportFormat.md:
        render_report_markdown(report, out)
    else:
        render_report_html(report, out)
    return out


def _seed_words(seed: Seed) -> str:
    from graphtrail.views.report.data import seed_words

    return seed_words(seed)


def _png(draw: Callable[[], Path]) -> None:
    try:
        path = draw()
    except PngError as exc:
        err_console.print(f"PNG not written: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_NO_PNG) from exc
    console.print(f"png: {path}", highlight=False, markup=False, soft_wrap=True)
