"""``graphtrail ingest`` and ``graphtrail case info``: the only place loaders meet the case."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graphtrail.cli.common import DEFAULT_CASE, CaseOpt, fail
from graphtrail.cli.output import (
    Format,
    cell,
    console,
    emit_json,
    emit_rows,
    err_console,
    graph_progress,
    rate_column,
)
from graphtrail.safe_text import markup_text, terminal_text
from graphtrail.store.case import Case, CaseError, IngestSummary, NotACaseFolder
from graphtrail.wiring import build_case_graph, link_case, run_ingest
from loaders.engines import QueryFailed
from loaders.limits import Limits
from loaders.sources.base import SourceError
from loaders.sources.files import list_files

__all__ = ["ingest", "case_app", "run_ingest", "finish_ingest", "EXIT_OK", "EXIT_NOTHING_READ",
           "EXIT_USAGE", "exit_status"]

EXIT_OK = 0  # every readable record kept (damaged files are warnings, foreign ones skipped)
EXIT_NOTHING_READ = 1  # no file readable, the case locked or unreadable; --strict: a damaged file
EXIT_USAGE = 2  # bad arguments: a bad time, a path or source that does not exist



def ingest(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files or folders (recursively), s3://BUCKET/PREFIX, logs://LOG_GROUP, or - for stdin.")] = None,
    case: CaseOpt = DEFAULT_CASE,
    fmt: Annotated[Format, typer.Option("--format", help="The summary as table, json or csv.")
                   ] = Format.table,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 when any file is damaged (default: a warning).")] = False,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
    since: Annotated[str | None, typer.Option(help="Live sources: from this time (ISO 8601, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Live sources: up to this time (ISO 8601, UTC).")] = None,
    account: Annotated[list[str] | None, typer.Option("--account", help="S3: only these accounts.")] = None,
    region: Annotated[list[str] | None, typer.Option(
        "--region", help="S3: only these regions; API sources: the regions to query.")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile for live sources.")] = None,
    lookup_events: Annotated[bool, typer.Option(
        "--lookup-events", help="Read the event history with LookupEvents (90 days, management events).")] = False,
    all_regions: Annotated[bool, typer.Option("--all-regions", help="LookupEvents in every region.")] = False,
    event_name: Annotated[str | None, typer.Option(help="LookupEvents: only this event name.")] = None,
    lake: Annotated[str | None, typer.Option(help="CloudTrail Lake event data store id or ARN.")] = None,
    sql: Annotated[str | None, typer.Option(help="CloudTrail Lake: an extra SQL condition.")] = None,
    log_stream_prefix: Annotated[str | None, typer.Option(
        help="logs://: only the log streams whose name starts with this.")] = None,
    follow: Annotated[list[str] | None, typer.Option(
        "--follow", help="Fetch only the lineage of this access key (repeatable), round by "
        "round, through a query engine next to the logs.")] = None,
    follow_principal: Annotated[list[str] | None, typer.Option(
        "--follow-principal", help="--follow: also the calls and lineage of this IAM/STS ARN.")] = None,
    follow_ip: Annotated[list[str] | None, typer.Option(
        "--follow-ip", help="--follow: also the calls made from this address, and their lineage.")] = None,
    engine: Annotated[str | None, typer.Option(
        help="--follow: duckdb (default for files), spark; athena:// and lake:// sources pick "
        "their own.")] = None,
    spark_master: Annotated[str | None, typer.Option(
        "--spark-master", help="--engine spark: the cluster (spark://..., sc://... for Spark "
        "Connect); default local mode.")] = None,
    athena_output: Annotated[str | None, typer.Option(
        "--athena-output", help="athena://: s3:// folder for results, when the workgroup sets none.")] = None,
    ocsf: Annotated[bool, typer.Option(
        "--ocsf", help="athena://: the table is Security Lake's OCSF (found alone when named "
        "amazon_security_lake_table_*).")] = False,
    max_object_mb: Annotated[int | None, typer.Option(
        "--max-object-mb", min=1, help="Most MiB of one object (decompressed) held for parsing "
        "[env GRAPHTRAIL_MAX_OBJECT_MB; default 128].")] = None,
    max_field_kb: Annotated[int | None, typer.Option(
        "--max-field-kb", min=1, help="Longer text fields are kept truncated, marked "
        "[env GRAPHTRAIL_MAX_FIELD_KB; default 64].")] = None,
    keep_sources: Annotated[bool, typer.Option(
        "--keep-sources", help="Keep a copy of every object read in the case (its bytes as "
        "read, named by their SHA-256): `graphtrail event --original` then proves a record "
        "after the logs expire. Costs the sources' size on disk.")] = False,
) -> None:
    """Load CloudTrail into a case: files, folders, S3 trail buckets, LookupEvents, Lake.

    Exit status: 0 every readable record was kept (damaged files are named as warnings,
    files that are not CloudTrail as skipped); 1 no file could be read at all, the case is
    locked or unreadable, a --follow query failed or was cancelled (nothing is written), or
    (--strict) a file was damaged; 2 bad arguments (a bad time, a path or source that does
    not exist); 130 interrupted (the case is as at its last commit).
    """
    try:
        limits = Limits.from_env(max_object_bytes=max_object_mb and max_object_mb << 20,
                                 max_field_bytes=max_field_kb and max_field_kb << 10)
        existing = Case.open(case) if (Path(case) / "case.json").exists() else None
        following = None
        if follow or follow_principal or follow_ip:
            objects, notes, following = select_follow(
                paths or [], keys=follow or [], principals=follow_principal or [],
                ips=follow_ip or [], engine=engine, since=since, until=until, profile=profile,
                region=(region or [None])[0], spark_master=spark_master,
                athena_output=athena_output, ocsf=ocsf)
        else:
            objects, notes = select_sources(existing, paths or [], since=since, until=until,
                                            accounts=account, regions=region, profile=profile,
                                            lookup_events=lookup_events, all_regions=all_regions,
                                            event_name=event_name, lake=lake, sql=sql,
                                            log_stream_prefix=log_stream_prefix,
                                            keep_sources=keep_sources)
        if following is not None:
            objects = _every_round(objects)
        objects = _started(objects)  # a source that cannot be listed fails before any folder is made
        c = existing or Case.open(case, create=True)
        summary = _ingest_with_progress(objects, c, workers, limits, keep_sources)
    except QueryFailed as exc:
        raise fail(str(exc), EXIT_NOTHING_READ) from exc
    except (SourceError, ValueError, NotACaseFolder) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    except CaseError as exc:
        raise fail(str(exc), EXIT_NOTHING_READ) from exc
    summary.notes.extend(notes)
    if following is not None:
        summary.follow = following.as_dict()
        if not following.complete:
            summary.notes.append(f"--follow stopped after {following.rounds} rounds: the lineage "
                                 "may go further")
    finish_ingest(c, summary)
    if fmt == Format.json:
        emit_json(summary.as_dict())
    elif fmt == Format.csv:
        emit_rows([summary_row(summary)], fmt)
    else:
        print_summary(summary)
    where = markup_text(", ".join(paths)) if paths else "the input"
    if summary.read_nothing:
        err_console.print(f"[red]error:[/] nothing readable in {where}", highlight=False)
    elif summary.found_no_events:
        err_console.print(f"[yellow]warning:[/] no CloudTrail events in {where}", highlight=False)
    raise typer.Exit(exit_status(summary, strict=strict))


def exit_status(summary: IngestSummary, *, strict: bool = False) -> int:
    """0 every readable record kept (even none); 1 nothing readable, or (``strict``) damage."""
    if summary.read_nothing or (strict and summary.files_failed):
        return EXIT_NOTHING_READ
    return EXIT_OK


def summary_row(s: IngestSummary) -> dict:
    """The summary as one flat row (``--format csv``): counts, and the files named."""
    d = s.as_dict()
    d["files_failed"] = " ".join(f["path"] for f in s.files_failed)
    d["files_skipped"] = " ".join(f["path"] for f in s.files_skipped)
    d["skipped"] = "; ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items()))
    d["notes"] = "; ".join(s.notes)  # a linking gap's sentence among them
    d["linking_gaps"] = " ".join(g["field"] for g in s.linking_gaps)
    g = d.pop("graph") or {}
    for k in ("nodes", "edges", "sessions"):
        d[f"graph_{k}"] = g.get(k)
    for k, v in (d.pop("follow", None) or {}).items():
        d[f"follow_{k}"] = v
    d.pop("bytes_read", None)
    d["seconds"] = round(s.seconds, 3)
    return d


def select_sources(case: Case | None, paths: list[str], *, since=None, until=None, accounts=None,
                   regions=None, profile=None, lookup_events=False, all_regions=False,
                   event_name=None, lake=None, sql=None, log_stream_prefix=None,
                   keep_sources=False):
    """The objects to read, from the arguments; returns (iterable of SourceObject, notes).

    Its branches are one per kind of source the command line can name (files, s3:// URIs,
    logs:// log groups, --lookup-events, --lake), each a few lines that build that source with
    the shared time bounds and AWS session: read top to bottom, the flat list is the clearer
    shape, so it is kept whole rather than split into one-line helpers.
    """
    lo_dt, hi_dt = _window(since, until)
    local = [p for p in paths if not p.startswith(("s3://", "logs://"))]
    remote = [p for p in paths if p.startswith("s3://")]
    groups = [p for p in paths if p.startswith("logs://")]
    if not (local or remote or groups or lookup_events or lake):
        raise ValueError("nothing to ingest: give files, folders, s3:// URIs, logs:// log groups, "
                         "--lookup-events or --lake")
    notes: list[str] = []
    sources: list = [list(list_files(local))] if local else []
    session = None
    if remote or groups or lookup_events or lake:
        import boto3

        session = boto3.Session(profile_name=profile, region_name=(regions or [None])[0])
    for uri in remote:
        from loaders.sources.s3 import list_s3_objects

        sources.append(list_s3_objects(uri, accounts=accounts, regions=regions, since=lo_dt,
                                       until=hi_dt, session=session,
                                       known_etags=case.known_etags(kept_only=keep_sources)
                                       if case else set()))
    if lookup_events:
        from loaders.sources.lookup_events import LIMITS, lookup_events_pages
        from loaders.sources.lookup_events import all_regions as every_region

        names = every_region(session) if all_regions else (regions or [session.region_name or "us-east-1"])
        sources.append(lookup_events_pages(regions=names, since=lo_dt, until=hi_dt,
                                           event_name=event_name, session=session))
        notes.append("LookupEvents cannot contain: " + "; ".join(LIMITS))
    for uri in groups:
        from loaders.sources import cloudwatch

        sources.append(cloudwatch.log_group_pages(uri, since=lo_dt, until=hi_dt, session=session,
                                                  stream_prefix=log_stream_prefix))
        notes.append(f"{uri} cannot contain: " + "; ".join(cloudwatch.LIMITS))
    if lake:
        from loaders.sources.lake import lake_pages

        sources.append(lake_pages(lake, since=lo_dt, until=hi_dt, sql_filter=sql, session=session))
    if local and not (remote or groups or lookup_events or lake):
        return sources[0], notes  # a list: the progress bar knows the total
    return _chain(sources), notes


def select_follow(paths: list[str], *, keys: list[str], principals: list[str], ips: list[str],
                  engine: str | None, since=None, until=None, profile=None, region=None,
                  spark_master=None, athena_output=None, ocsf=False):
    """The rounds of ``--follow`` as objects to read; returns (objects, notes, stats)."""
    from loaders.engines.select import engine_for
    from loaders.follow.lineage import FollowSet
    from loaders.follow.rounds import FollowStats, follow_objects

    lo_dt, hi_dt = _window(since, until)
    seeds = FollowSet.of(keys=keys, principals=principals, ips=ips)
    session = None
    if any(p.startswith(("athena://", "lake://")) for p in paths):
        import boto3

        session = boto3.Session(profile_name=profile, region_name=region)
    chosen = engine_for(paths, engine, session=session, spark_master=spark_master,
                        athena_output=athena_output, ocsf=ocsf)
    stats = FollowStats(chosen.name)
    notes = [f"--follow: only the lineage of the seeds was fetched, with {chosen.name}"]
    if getattr(chosen, "ocsf", False):
        notes.append("--follow over Security Lake (OCSF): credentials the lineage issued are "
                     "followed through the response data (api.response.data); where the store "
                     "did not keep it the lineage stops at the issuing call (see linking_gaps)")
    return follow_objects(chosen, seeds, stats, since=lo_dt, until=hi_dt), notes, stats


def _window(since, until):
    from graphtrail.queries.seeds import SeedError, parse_time_bound

    try:
        lo, hi = parse_time_bound(since), parse_time_bound(until)
    except SeedError as exc:
        raise ValueError(str(exc)) from exc
    return (datetime.fromtimestamp(lo / 1e6, UTC) if lo is not None else None,
            datetime.fromtimestamp(hi / 1e6, UTC) if hi is not None else None)


def _every_round(objects) -> list:
    """Every round of --follow answered before the case is touched: a query that fails (or
    Ctrl-C) in a later round leaves nothing half-ingested."""
    try:
        return list(objects)
    except KeyboardInterrupt:
        err_console.print("interrupted: the --follow query was stopped, no case was written")
        raise typer.Exit(130) from None


def _started(objects):
    """Pull the first object now (listing errors surface here), then the rest lazily."""
    it = iter(objects)
    try:
        first = next(it)
    except StopIteration:
        return []
    if isinstance(objects, list):
        return objects

    def rest():
        yield first
        yield from it

    return rest()


def _chain(sources):
    for s in sources:
        yield from s


def finish_ingest(c: Case, summary: IngestSummary) -> None:
    """Link credentials over the whole case once the events are in (files arrive out of order)."""
    with graph_progress() as tick:
        link_case(c, summary, tick)


def _ingest_with_progress(objects, c: Case, workers, limits: Limits,
                          keep_sources: bool = False) -> IngestSummary:
    objects = list(objects) if not sys.stderr.isatty() else objects
    total = len(objects) if isinstance(objects, list) else None
    if not sys.stderr.isatty() or (total is not None and total < 20):
        return _guarded(lambda: run_ingest(objects, c, workers=workers, limits=limits,
                                           keep_sources=keep_sources))
    with Progress(TextColumn("[bold]read"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[mb]:,.0f} MB  {task.fields[events]:,} events"),
                  rate_column("events", "events"), rate_column("MB", "mb"), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("objects", total=total, events=0, mb=0.0)

        def tick(part, summary):
            bar.update(task, advance=len(part.reports), mb=summary.bytes_read / 2**20,
                       events=summary.events_added + summary.duplicates)

        return _guarded(lambda: run_ingest(objects, c, workers=workers, progress=tick,
                                           limits=limits, keep_sources=keep_sources))


def _guarded(fn) -> IngestSummary:
    try:
        return fn()
    except CaseError as exc:
        raise fail(str(exc), EXIT_NOTHING_READ) from exc
    except KeyboardInterrupt:
        err_console.print("interrupted: the case is as it was at its last commit")
        raise typer.Exit(130) from None


def print_summary(s: IngestSummary) -> None:
    out = console
    out.print(f"[bold]case[/] {markup_text(s.case)}", highlight=False)
    out.print(f"files read {s.files_read:,}  (unchanged, skipped: {s.files_unchanged:,}; "
              f"digests: {s.digest_files:,}; insights: {s.insights_files:,})")
    out.print(f"records read {s.records_read:,}  events added {s.events_added:,}  "
              f"duplicates {s.duplicates:,}  insights {s.insights_added:,}")
    if s.seconds and s.events_added:
        out.print(f"{s.seconds:.1f} s, {s.events_per_second:,.0f} events/s")
    elif s.seconds:
        out.print(f"{s.seconds:.1f} s")
    if s.graph:
        g = s.graph
        out.print(f"graph: {g['nodes']:,} nodes, {g['edges']:,} edges, {g['sessions']:,} sessions "
                  f"({g['seconds']:.1f} s)")
    if s.follow:
        f = s.follow
        scanned = f"{f['bytes_scanned']:,} bytes scanned" if f["bytes_scanned"] is not None else "bytes scanned not reported"
        out.print(f"follow ({f['engine']}): {f['rounds']} rounds, {f['records_fetched']:,} records "
                  f"fetched, {scanned}")
    if s.skipped:
        out.print(terminal_text("skipped records: " + ", ".join(
                      f"{k}: {v:,}" for k, v in sorted(s.skipped.items()))),
                  highlight=False, markup=False)
    for note in s.notes:
        out.print(terminal_text(f"note: {note}"), highlight=False, markup=False)
    for f in s.files_skipped:
        out.print(f"skipped {markup_text(f['path'])}: {markup_text(f['reason'])}", highlight=False)
    for f in s.files_failed:
        out.print(f"[yellow]warning:[/] damaged {markup_text(f['path'])}: {markup_text(f['error'])}",
                  highlight=False, markup=True)


case_app = typer.Typer(help="Inspect a case.", no_args_is_help=True, rich_markup_mode=None)


@case_app.command("rebuild")
def case_rebuild(case: CaseOpt = DEFAULT_CASE) -> None:
    """Rebuild the graph from the case's events (after upgrading graphtrail, say)."""
    try:
        with graph_progress() as tick:
            meta = build_case_graph(Case.open(case), tick)
    except CaseError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
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
        raise fail(str(exc), EXIT_USAGE) from exc
    if fmt == Format.json:
        emit_json(info)
        return
    if fmt == Format.csv:
        emit_rows([info], fmt)
        return
    for k, v in info.items():
        if isinstance(v, list):
            v = ", ".join(v) if len(v) <= 12 else ", ".join(v[:12]) + f" ... ({len(v)})"
        console.print(f"[bold]{k:>14}[/]  {markup_text(cell(v)) if v not in (None, '') else '-'}",
                      highlight=False)
