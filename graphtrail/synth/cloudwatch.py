"""The same records as a trail sent to a CloudWatch Logs log group hands them over.

CloudTrail puts each record into a log stream named ``<account>_CloudTrail_<region>`` as one
log event: the record's JSON as the message, the event's time as the log event's time.
:func:`log_events` builds those log events; the other functions write them in every shape an
investigator is handed: ``filter-log-events`` and ``get-log-events`` output, the S3 export of
the log group, and Logs Insights results (API, console JSON, console CSV).

>>> ev = log_events([{"eventTime": "2024-03-01T12:00:00Z", "recipientAccountId": "111122223333",
...                   "awsRegion": "us-east-1", "eventName": "ListUsers"}])
>>> ev[0]["logStreamName"], ev[0]["timestamp"]
('111122223333_CloudTrail_us-east-1', 1709294400000)
>>> export_text(ev).decode()
'2024-03-01T12:00:00.000Z {"eventTime":"2024-03-01T12:00:00Z","recipientAccountId":"111122223333","awsRegion":"us-east-1","eventName":"ListUsers"}\\n'
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec

__all__ = ["trail_records", "log_events", "filter_log_events_output", "get_log_events_output",
           "export_text", "insights_results", "insights_console_json", "insights_console_csv"]


def trail_records(root: str | Path) -> list[dict]:
    """Every API-call record of the S3-delivered trail under ``root``, each eventID once,
    in time order (ties in file order)."""
    seen: dict[str, dict] = {}
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or "/CloudTrail/" not in path.as_posix():
            continue
        raw = path.read_bytes()
        doc = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        for rec in doc["Records"]:
            seen.setdefault(rec["eventID"], rec)
    return sorted(seen.values(), key=lambda r: r["eventTime"])


def log_events(records: list[dict]) -> list[dict]:
    """One CloudWatch Logs event per record, as FilterLogEvents returns them."""
    out = []
    for n, rec in enumerate(records):
        ms = _ms(rec["eventTime"])
        out.append({
            "logStreamName": f"{rec['recipientAccountId']}_CloudTrail_{rec['awsRegion']}",
            "timestamp": ms,
            "message": msgspec.json.encode(rec).decode(),
            "ingestionTime": ms + 30_000,
            "eventId": f"{ms:020d}{n:036d}"[:56],
        })
    return out


def filter_log_events_output(events: list[dict], next_token: str | None = None) -> bytes:
    """``aws logs filter-log-events`` output (one page when ``next_token`` is set)."""
    doc: dict = {"events": events, "searchedLogStreams": []}
    if next_token:
        doc["nextToken"] = next_token
    return json.dumps(doc, indent=4).encode()


def get_log_events_output(events: list[dict]) -> bytes:
    """``aws logs get-log-events`` output: one stream's events, without the stream name."""
    plain = [{k: e[k] for k in ("timestamp", "message", "ingestionTime")} for e in events]
    return json.dumps({"events": plain, "nextForwardToken": "f/00000000000000000000000000",
                       "nextBackwardToken": "b/00000000000000000000000000"}, indent=4).encode()


def export_text(events: list[dict]) -> bytes:
    """One stream of a log group exported to S3 (before gzip): ``TIME MESSAGE`` lines."""
    return "".join(f"{_iso_ms(e['timestamp'])} {e['message']}\n" for e in events).encode()


def insights_results(events: list[dict]) -> bytes:
    """``aws logs get-query-results`` output of ``fields @timestamp, @message``."""
    rows = [[{"field": "@timestamp", "value": _insights_time(e["timestamp"])},
             {"field": "@message", "value": e["message"]},
             {"field": "@ptr", "value": f"ptr-{i}"}] for i, e in enumerate(events)]
    return json.dumps({"results": rows, "statistics": {"recordsMatched": float(len(rows)),
                       "recordsScanned": float(len(rows)), "bytesScanned": 1.0},
                       "status": "Complete"}, indent=4).encode()


def insights_console_json(events: list[dict]) -> bytes:
    """The console's "Export results: JSON" of a Logs Insights query."""
    return json.dumps([{"@timestamp": _insights_time(e["timestamp"]), "@message": e["message"]}
                       for e in events], indent=2).encode()


def insights_console_csv(events: list[dict]) -> bytes:
    """The console's "Export results: CSV" of a Logs Insights query."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["@timestamp", "@message"])
    for e in events:
        w.writerow([_insights_time(e["timestamp"]), e["message"]])
    return buf.getvalue().encode()


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _insights_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
