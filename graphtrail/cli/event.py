"""``event``: open the events an answer cites, by eventID (thin wiring over
:mod:`graphtrail.queries.event_record` and, with ``--original``, :mod:`loaders.originals`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from graphtrail.cli.common import DEFAULT_CASE, CaseOpt, fail, skip_pandas_probe
from graphtrail.cli.output import Format, cell, console, emit_json, emit_rows, graph_progress
from graphtrail.safe_text import markup_text, terminal_text
from graphtrail.wiring import ensure_graph

__all__ = ["event_cmd", "ORIGINAL_FIELDS"]

FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
# What --original adds to each event (CSV: one column each; JSON: an object "original").
ORIGINAL_FIELDS = ("original_from", "source_unchanged", "source_sha256_now", "original_exact",
                   "original", "original_problem")


def event_cmd(
    event_ids: Annotated[list[str], typer.Argument(
        metavar="EVENT_ID...", help="eventIDs, as the answers cite them.")],
    original: Annotated[bool, typer.Option(
        "--original", help="Read each record again (from the case's copy of its source when "
                           "ingested with --keep-sources, else from its file or S3 object), "
                           "check that the bytes still have the SHA-256 they had when "
                           "ingested, and show the record as the source holds it.")] = False,
    profile: Annotated[str | None, typer.Option(
        help="AWS profile for --original on S3 objects.")] = None,
    case: CaseOpt = DEFAULT_CASE, fmt: FormatOpt = Format.table,
) -> None:
    """The events an answer cites: every field, the credential that made each, and its file.

    Exit status: 0 every eventID found; 2 an eventID the case does not hold (or no case).
    A source that changed since it was ingested is part of the answer (source_unchanged
    false), not an error.
    """
    skip_pandas_probe()
    from graphtrail.queries.event_record import EventNotFound, events_by_id
    from graphtrail.store.case import Case, CaseError

    try:
        opened = Case.open(case)
        with graph_progress() as tick:  # the credential of each call is the graph's answer
            ensure_graph(opened, tick)
        found = events_by_id(opened, event_ids)
    except CaseError as exc:
        raise fail(str(exc)) from exc
    except EventNotFound as exc:
        raise fail(f"eventID {exc.args[0]!r} is not in this case") from exc
    if original:
        _add_originals(found, opened, profile)
    if fmt == Format.json:
        emit_json([_nested(r) for r in found] if original else found)
    elif fmt == Format.csv:
        emit_rows(found, fmt, columns=list(found[0]))
    else:
        for r in found:
            _print_event(r)


def _add_originals(rows: list[dict], case, profile: str | None) -> None:
    from loaders.originals import read_original

    copies = {r["source_sha256"]: case.source_copy(r["source_sha256"]) for r in rows}
    fetch = _s3_fetcher(profile) if any((r["source_file"] or "").startswith("s3://")
                                        and copies[r["source_sha256"]] is None
                                        for r in rows) else None
    for r in rows:
        copy = copies[r["source_sha256"]]
        got = read_original(r["source_file"] or "", (r["source_record"] or 0) - 1,
                            copy=str(copy) if copy else None, fetch_s3=fetch)
        r["original_from"] = ("the case's copy" if copy else "the source") if got.read_from else None
        r["source_unchanged"] = (got.sha256 == r["source_sha256"]) if got.sha256 else None
        r["source_sha256_now"] = got.sha256
        r["original_exact"] = got.exact if got.record is not None else None
        r["original"] = _json(got.record)
        problem = got.problem
        if problem is None and r["source_unchanged"] is False:
            problem = "the source's SHA-256 differs from the one recorded when it was ingested"
        elif problem is None and not _same_event(r, r["original"]):
            problem = "the record at this position is not this event"
        r["original_problem"] = problem


def _same_event(row: dict, original) -> bool:
    if not isinstance(original, dict):
        return False
    if row["event_id"].startswith("gt-"):  # no eventID in the record: graphtrail named it
        return original.get("eventName") == row["event_name"]
    return original.get("eventID") == row["event_id"]


def _s3_fetcher(profile: str | None):
    import boto3

    client = boto3.Session(profile_name=profile).client("s3")

    def fetch(bucket: str, key: str) -> bytes:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()

    return fetch


def _json(raw: bytes | None):
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _nested(r: dict) -> dict:
    out = {k: v for k, v in r.items() if k not in ORIGINAL_FIELDS}
    out["original"] = {"read_from": r["original_from"], "source_unchanged": r["source_unchanged"],
                       "source_sha256_now": r["source_sha256_now"],
                       "exact": r["original_exact"], "record": r["original"],
                       "problem": r["original_problem"]}
    return out


def _print_event(r: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=markup_text(f"event {r['event_id']}"), show_header=False, show_lines=False)
    t.add_column("field", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    for k, v in r.items():
        if v is None or k == "event_id":
            continue
        text = json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else cell(v)
        t.add_row(k, Text(terminal_text(text)))
    console.print(t)
