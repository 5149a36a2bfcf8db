"""``graphtrail verify``, ``graphtrail coverage`` and ``graphtrail copy-trail``: wiring only.

Exit status of verify: 0 everything verified; 1 something is not valid (modified, missing,
unlisted, gaps, bad or unchecked signatures); 2 usage error (no such folder, no case,
unreadable public-key file, a bucket that cannot be listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from graphtrail.cli.common import DEFAULT_CASE
from graphtrail.cli.common import CaseOpt as CaseFolderOpt
from graphtrail.cli.output import (
    Format,
    console,
    emit_json,
    emit_json_streaming,
    emit_rows,
    err_console,
)
from graphtrail.integrity.digest import epoch
from graphtrail.queries.coverage import Coverage, coverage_of_case, coverage_of_trail
from graphtrail.queries.integrity import IntegrityReport, judge, merge, object_statuses
from graphtrail.store.case import Case, CaseError
from graphtrail.store.integrity import load_integrity, save_integrity
from loaders.integrity.copies import open_copy
from loaders.integrity.public_keys import keys_from_api, keys_from_file
from loaders.integrity.read import read_trail
from loaders.sources.base import SourceError

__all__ = ["verify_cmd", "coverage_cmd", "copy_trail_cmd", "case_roots"]

SourcesArg = Annotated[list[str] | None, typer.Argument(
    help="Trail copies: folders holding AWSLogs/, or s3://BUCKET/PREFIX.")]
CaseOpt = Annotated[Path | None, typer.Option(
    "--case", help="A case: verify its own source objects (no SOURCE) and record the result.")]
FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
ProfileOpt = Annotated[str | None, typer.Option(help="AWS profile for S3 and ListPublicKeys.")]
WorkersOpt = Annotated[int, typer.Option(help="Files read at once.")]

_PROBLEMS = ("modified", "missing", "not_in_any_digest", "digest_gaps", "chain_restarts",
             "bad_signatures", "unsigned", "unreadable")
_CSV_COLUMNS = ["finding", "key", "account", "region", "from", "to", "detail"]


def verify_cmd(
    sources: SourcesArg = None,
    case: CaseOpt = None,
    public_keys: Annotated[Path | None, typer.Option(
        "--public-keys", help="JSON of `aws cloudtrail list-public-keys` (all regions in one file).")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Do not call ListPublicKeys: signatures are left unchecked.")] = False,
    with_coverage: Annotated[bool, typer.Option(
        "--coverage", help="Also say which hours were logged and what changed the trail.")] = False,
    fmt: FormatOpt = Format.table,
    profile: ProfileOpt = None,
    workers: WorkersOpt = 16,
) -> None:
    """Check a trail copy against CloudTrail's signed digest files.

    Verifies each digest's signature (SHA256withRSA, the public key its fingerprint names),
    the chain of digests, and each log file's SHA-256; reports modified, missing and
    unlisted log files, gaps of missing digests, chain restarts (with the StopLogging /
    StartLogging calls that explain them), bad signatures and digests whose signature was
    not available. Exit 0 all valid, 1 something is not, 2 usage error.
    """
    try:
        case_obj = Case.open(case) if case is not None else None
        roots = list(sources or []) or case_roots(case_obj.manifest() if case_obj else [])
        if not roots:
            raise _usage("nothing to verify: give folders or s3:// URIs, or --case DIR "
                         "whose sources are in the AWSLogs/ layout")
        session = _session(profile) if any(r.startswith("s3://") for r in roots) else None
        evidences = [read_trail(open_copy(r, session), workers=workers,
                                data_events=with_coverage) for r in roots]
        keys, note = _keys(evidences, public_keys, offline, profile)
    except (CaseError, SourceError) as exc:
        raise _usage(str(exc)) from exc
    report = merge([judge(e, keys) for e in evidences])
    if not report.summary.get("digests"):
        note = "no digest files found: log file validation was off, or the digests were not copied"
    if note:
        report.summary["note"] = note
    cov = coverage_of_trail(evidences, every_hour=False) if (with_coverage or case_obj) else None
    if case_obj is not None:
        _record(case_obj, report, evidences, cov)
    _print_report(report, cov if with_coverage else None, fmt)
    raise typer.Exit(0 if report.valid else 1)


def coverage_cmd(
    sources: SourcesArg = None,
    case: CaseFolderOpt = DEFAULT_CASE,
    fmt: FormatOpt = Format.table,
    profile: ProfileOpt = None,
    workers: WorkersOpt = 16,
) -> None:
    """Which account x region x hours were logged, when logging stopped, what narrowed it.

    From trail copies (SOURCE) or, by default, from the case's events and the digests
    recorded by `graphtrail verify --case`.
    """
    try:
        if sources:
            session = _session(profile) if any(s.startswith("s3://") for s in sources) else None
            cov = coverage_of_trail([read_trail(open_copy(s, session), workers=workers,
                                                data_events=True) for s in sources],
                                    every_hour=False)
        else:
            c = Case.open(case)
            columns = ["time", "recipient_account_id", "account_id", "region", "event_source",
                       "event_name", "event_category", "error_code", "event_id",
                       "request_parameters"]
            # a batch at a time: memory bounded by a batch, whatever the case holds
            cov = coverage_of_case(c.event_batches(columns), load_integrity(c.path),
                                   every_hour=False)
    except (CaseError, SourceError) as exc:
        raise _usage(str(exc)) from exc
    _print_coverage(cov, fmt)


def copy_trail_cmd(
    source: Annotated[str, typer.Argument(help="s3://BUCKET/PREFIX of the trail.")],
    dest: Annotated[Path, typer.Argument(help="Folder to copy into.")],
    profile: ProfileOpt = None,
    workers: WorkersOpt = 16,
) -> None:
    """Copy a trail from S3 with each digest's signature in a .metadata.json sidecar.

    `aws s3 sync` drops S3 object metadata, where CloudTrail keeps the digest signatures;
    this copy keeps them, so `graphtrail verify DEST` checks signatures offline.
    """
    from loaders.integrity.copy_trail import copy_trail

    if not source.startswith("s3://"):
        raise _usage(f"{source!r}: copy-trail reads from s3://BUCKET/PREFIX")
    try:
        counts = copy_trail(source, dest, session=_session(profile), workers=workers)
    except SourceError as exc:
        raise _usage(str(exc)) from exc
    console.print(f"copied {counts['objects']:,} objects ({counts['bytes']:,} bytes), "
                  f"{counts['digests']:,} digests with signature sidecars; "
                  f"{counts['skipped']:,} already there", highlight=False)


def case_roots(manifest: list[dict]) -> list[str]:
    """The trail copies a case was read from: each source's ``.../AWSLogs/[org/]account/``.

    >>> case_roots([{"uri": "s3://b/p/AWSLogs/o-abcdefghij/111122223333/CloudTrail/x.json.gz"},
    ...             {"uri": "/cases/logs/AWSLogs/111122223333/CloudTrail/us-east-1/y.json.gz"},
    ...             {"uri": "/tmp/notes.json"}])
    ['/cases/logs/AWSLogs/111122223333/', 's3://b/p/AWSLogs/o-abcdefghij/111122223333/']
    """
    roots = set()
    for m in manifest:
        uri = str(m.get("uri", ""))
        at = uri.find("AWSLogs/")
        if at < 0:
            continue
        parts = uri[at:].split("/")
        depth = 3 if len(parts) > 2 and parts[1].startswith("o-") else 2
        roots.add("/".join(parts[:depth]).join((uri[:at], "/")))
    return sorted(roots)


def _session(profile: str | None):
    import boto3

    return boto3.Session(profile_name=profile)


def _keys(evidences, public_keys: Path | None, offline: bool, profile: str | None):
    """The public keys: from the file, else ListPublicKeys; (keys or None, note)."""
    if public_keys is not None:
        return keys_from_file(public_keys), None
    digests = [d for e in evidences for d in e.digests]
    if not digests:
        return [], None
    if offline:
        return None, "--offline: signatures not checked"
    times = [t for d in digests for t in (epoch(d.start), epoch(d.end)) if t is not None]
    try:
        return keys_from_api({d.region for d in digests}, min(times), max(times),
                             _session(profile)), None
    except SourceError as exc:
        err_console.print(f"[yellow]warning:[/] {escape(str(exc))}", highlight=False)
        return None, f"signatures not checked: {exc}"


def _record(case: Case, report: IntegrityReport, evidences, cov: Coverage | None) -> None:
    uris = [m["uri"] for m in case.manifest()]
    delivered = []
    for e in evidences:
        for d in e.digests:
            if (end := epoch(d.end)) is not None and not d.backfill:
                delivered.append([d.account, d.region, float(end - end % 3600 - 3600), "digest"])
    save_integrity(case.path, {
        "objects": object_statuses(report, uris),
        "summary": report.summary,
        "valid": report.valid,
        "problems": {k: getattr(report, k) for k in _PROBLEMS},
        "coverage": cov.summary if cov else {},
        "unlogged": cov.unlogged if cov else [],
        "delivered": delivered,
    })


def _usage(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _print_report(report: IntegrityReport, cov: Coverage | None, fmt: Format) -> None:
    if fmt == Format.json:
        out = report.as_dict()
        if cov is None:
            emit_json(out)
        else:  # every account x region x hour of the span, written as made
            out["coverage"] = cov.as_dict()
            emit_json_streaming(out, ("coverage", "hours"), cov.hours or cov.every_hour())
        return
    if fmt == Format.csv:
        emit_rows(_finding_rows(report), fmt, columns=_CSV_COLUMNS)
        return
    s = report.summary
    verdict = "[green]VALID[/]" if report.valid else "[red]NOT VALID[/]"
    console.print(f"{verdict}  {escape(report.source)}", highlight=False)
    console.print(f"digests {s.get('digests', 0):,} ({s.get('digests_signature_verified', 0):,} "
                  f"signatures verified); log files {s.get('log_files', 0):,} "
                  f"({s.get('log_files_verified', 0):,} verified against signed digests, "
                  f"{s.get('log_files_hash_matched', 0):,} hash matched, signature unchecked)",
                  highlight=False)
    if s.get("note"):
        console.print(f"note: {escape(s['note'])}", highlight=False)
    rows = _finding_rows(report)
    if rows:
        emit_rows(rows, fmt, title="What is not valid", columns=_CSV_COLUMNS)
    if cov is not None:
        _print_coverage(cov, fmt)


def _finding_rows(report: IntegrityReport) -> list[dict]:
    """One flat row per problem (the table and CSV view of the report)."""
    rows = []
    for name in _PROBLEMS:
        for item in getattr(report, name):
            detail = (item.get("reason") or "; ".join(item.get("reasons", ())) or item.get("cause")
                      or item.get("error") or "")
            if name == "digest_gaps":
                detail = f"{item.get('missing_digests') or 'unknown'} digest(s): {detail}"
            elif name == "chain_restarts":
                events = ", ".join(f"{e['eventName']} {e['eventID']}" for e in item["events"])
                detail = ("explained by " + events) if item["explained"] else "no StopLogging/StartLogging found"
            elif name == "missing":
                detail = f"listed in {item['digest']}"
            elif name == "not_in_any_digest" and item.get("after_last_digest"):
                detail = "delivered after the newest digest"
            rows.append({"finding": name, "key": item.get("key") or item.get("last_before") or "",
                         "account": item.get("account", ""), "region": item.get("region", ""),
                         "from": item.get("from") or item.get("delivered") or item.get("end") or "",
                         "to": item.get("to") or "", "detail": detail})
    return rows


def _print_coverage(cov: Coverage, fmt: Format) -> None:
    # every account x region x hour: written as made (millions for a case of years)
    if fmt == Format.json:
        emit_json_streaming(cov.as_dict(), "hours", cov.hours or cov.every_hour())
        return
    if fmt == Format.csv:
        emit_rows(cov.hours or cov.every_hour(), fmt,
                  columns=["account", "region", "hour", "delivered", "evidence"])
        return
    span = cov.span
    s = cov.summary
    console.print(f"coverage {span.get('from', '-')} .. {span.get('to', '-')}: "
                  f"{s['hours']:,} account-region-hours, {s['unlogged_hours']:,} unlogged",
                  highlight=False)
    for title, rows, cols in (
            ("Hours with nothing delivered", cov.unlogged, ["account", "region", "from", "to", "hours"]),
            ("Logging stopped", cov.stopped, ["account", "trail", "from", "to", "hours",
                                              "stop_event", "start_event"]),
            ("Trails deleted, created or changed", cov.trail_changes,
             ["time", "eventName", "account", "trail", "eventID"]),
            ("Event selectors", cov.selectors, ["time", "eventName", "account", "trail",
                                                "records", "dropped", "eventID"]),
            ("Data events per resource", cov.data_events, ["account", "kind", "resource",
                                                           "count", "first", "last"])):
        if rows:
            emit_rows(rows, fmt, title=title, columns=cols)
