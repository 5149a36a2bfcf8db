"""``graphtrail ingest`` and ``graphtrail case info``: the only place loaders meet the case."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graphtrail.cli.output import Format, console, emit_json, err_console
from graphtrail.cli.wiring import build_case_graph
from graphtrail.store.case import Case, CaseError, IngestSummary
from loaders.pipeline import run_pipeline
from loaders.sources.base import SourceError
from loaders.sources.files import list_files

__all__ = ["ingest", "case_app", "run_ingest", "finish_ingest", "EXIT_OK", "EXIT_PARTIAL",
           "EXIT_FATAL"]

DEFAULT_CASE = Path("graphtrail-case")  # GRAPHTRAIL_CASE overrides, via typer envvar
EXIT_OK = 0  # every input read
EXIT_PARTIAL = 1  # the case was updated, but some input failed (listed in the summary)
EXIT_FATAL = 2  # nothing was ingested: bad arguments, unreadable case, missing input

CaseOpt = Annotated[Path, typer.Option("--case", envvar="GRAPHTRAIL_CASE",
                                       help="Case folder (default ./graphtrail-case).")]


def run_ingest(objects, case: Case, *, workers: int | None = None, progress=None) -> IngestSummary:
    """Read ``objects`` (an iterable of SourceObject) into ``case``; return the summary."""
    with case.ingest() as session:
        for part in run_pipeline(objects, session.staging, workers=workers,
                                 known_sha256=case.known_sha256()):
            session.add(part)
            if progress is not None:
                progress(part, session.summary)
    return session.summary


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files or folders (recursively); - for stdin.")],
    case: CaseOpt = DEFAULT_CASE,
    fmt: Annotated[Format, typer.Option("--format", help="table or json summary.")] = Format.table,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
) -> None:
    """Load CloudTrail from files or folders into a case.

    Exit status: 0 every input was read; 1 the case was updated but some input failed
    (see files_failed); 2 nothing was ingested (bad arguments, case locked or unreadable).
    """
    try:
        c = Case.open(case, create=True)
        objects = list(list_files(paths))
    except (CaseError, SourceError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FATAL) from exc
    summary = _ingest_with_progress(objects, c, workers)
    finish_ingest(c, summary)
    if fmt == Format.json:
        emit_json(summary.as_dict())
    else:
        print_summary(summary)
    raise typer.Exit(EXIT_PARTIAL if summary.files_failed else EXIT_OK)


def finish_ingest(c: Case, summary: IngestSummary) -> None:
    """Link credentials over the whole case once the events are in (files arrive out of order)."""
    if c.graph_is_current():
        return
    meta = build_case_graph(c)
    summary.graph = {k: meta[k] for k in ("nodes", "edges", "sessions", "seconds")}


def _ingest_with_progress(objects, c: Case, workers) -> IngestSummary:
    total = len(objects)
    if not sys.stderr.isatty() or total < 20:
        return _guarded(lambda: run_ingest(objects, c, workers=workers))
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[events]:,} events"), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("files", total=total, events=0)

        def tick(part, summary):
            bar.update(task, advance=len(part.reports),
                       events=summary.events_added + summary.duplicates)

        return _guarded(lambda: run_ingest(objects, c, workers=workers, progress=tick))


def _guarded(fn) -> IngestSummary:
    try:
        return fn()
    except CaseError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FATAL) from exc
    except KeyboardInterrupt:
        err_console.print("interrupted: the case is as it was at its last commit")
        raise typer.Exit(130) from None


def print_summary(s: IngestSummary) -> None:
    out = console
    out.print(f"[bold]case[/] {s.case}", highlight=False)
    out.print(f"files read {s.files_read:,}  (unchanged, skipped: {s.files_unchanged:,}; "
              f"digests: {s.digest_files:,}; insights: {s.insights_files:,})")
    out.print(f"records read {s.records_read:,}  events added {s.events_added:,}  "
              f"duplicates {s.duplicates:,}  insights {s.insights_added:,}")
    if s.seconds:
        out.print(f"{s.seconds:.1f} s, {s.events_per_second:,.0f} events/s")
    if s.graph:
        g = s.graph
        out.print(f"graph: {g['nodes']:,} nodes, {g['edges']:,} edges, {g['sessions']:,} sessions "
                  f"({g['seconds']:.1f} s)")
    if s.skipped:
        out.print("skipped records: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(s.skipped.items())),
                  highlight=False, markup=False)
    for f in s.files_failed:
        out.print(f"[red]FAILED[/] {f['path']}: {f['error']}", highlight=False, markup=True)


case_app = typer.Typer(help="Inspect a case.", no_args_is_help=True)


@case_app.command("rebuild")
def case_rebuild(case: CaseOpt = DEFAULT_CASE) -> None:
    """Rebuild the graph from the case's events (after upgrading graphtrail, say)."""
    try:
        meta = build_case_graph(Case.open(case))
    except CaseError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FATAL) from exc
    console.print(f"graph: {meta['nodes']:,} nodes, {meta['edges']:,} edges, "
                  f"{meta['sessions']:,} sessions ({meta['seconds']:.1f} s)")


@case_app.command("info")
def case_info(
    case: CaseOpt = DEFAULT_CASE,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """What the case holds: events, time range, accounts, regions, files."""
    try:
        info = Case.open(case).info()
    except CaseError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FATAL) from exc
    if fmt == Format.json:
        emit_json(info)
        return
    for k, v in info.items():
        if isinstance(v, list):
            v = ", ".join(v) if len(v) <= 12 else ", ".join(v[:12]) + f" ... ({len(v)})"
        console.print(f"[bold]{k:>14}[/]  {v}", highlight=False)
