"""CloudTrail records as CloudWatch Logs hands them over.

A trail sent to a log group becomes one log event per record, the record a JSON string in
the event's message. It reaches an investigator as:

- ``aws logs filter-log-events`` or ``get-log-events`` output: ``{"events": [{"logStreamName",
  "timestamp", "message", "ingestionTime", "eventId"}, ...], "nextToken": ...}``;
- a log group exported to S3 (``aws logs create-export-task``): gzipped text, one log event a
  line, the event's time then a space then the message
  (``2024-03-01T12:00:00.000Z {"eventVersion": ...}``);
- Logs Insights results: ``aws logs get-query-results`` (``{"results": [[{"field": "@message",
  "value": ...}, ...], ...]}``), and the console's JSON (``[{"@timestamp", "@message"}]``) and
  CSV exports (a header naming ``@message``).

The functions here yield the decoded message of every log event (the caller unwraps it as
any other record) and name, in the :class:`~loaders.records.SplitResult`, every event they
could not read: which event, and why. A log event that is not a CloudTrail record at all is
left to the caller to count.

>>> from loaders.records import SplitResult
>>> out = SplitResult()
>>> list(log_events({"events": [{"eventId": "1", "message": '{"eventName": "X"}'},
...                             {"eventId": "2", "message": '{"eventName": '}]}, out))
[{'eventName': 'X'}]
>>> out.error
'event 2 (eventId 2): the message is not JSON (Input data was truncated)'
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any, Protocol

import msgspec

__all__ = [
    "is_log_events",
    "log_events",
    "is_insights_results",
    "insights_results",
    "is_insights_rows",
    "insights_rows",
    "is_write_test",
    "is_export",
    "export_lines",
    "is_insights_csv",
    "insights_csv",
]

_ANY = msgspec.json.Decoder()
# An exported log event: its time as CloudWatch Logs writes it (ISO 8601, milliseconds, Z).
_EXPORT_LINE = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")


class _Sink(Protocol):
    skipped: Any
    problems: list[str]
    error: str | None


def is_log_events(obj: dict) -> bool:
    """``filter-log-events`` / ``get-log-events`` output: an ``events`` list of log events."""
    events = obj.get("events")
    return (isinstance(events, list) and bool(events) and isinstance(events[0], dict)
            and "message" in events[0])


def log_events(obj: dict, out: _Sink) -> Iterator[Any]:
    """The decoded message of every log event of a ``filter-log-events`` response."""
    for i, ev in enumerate(obj["events"], 1):
        where = f"event {i}"
        if isinstance(ev, dict) and ev.get("eventId"):
            where += f" (eventId {ev['eventId']})"
        msg = ev.get("message") if isinstance(ev, dict) else None
        yield from _message(msg, where, out)


def is_insights_results(obj: dict) -> bool:
    """``get-query-results`` output: ``results``, rows of ``{"field", "value"}`` cells."""
    results = obj.get("results")
    if not isinstance(results, list) or not results:
        return False
    row = results[0]
    return (isinstance(row, list) and bool(row) and isinstance(row[0], dict)
            and "field" in row[0] and "value" in row[0])


def insights_results(obj: dict, out: _Sink) -> Iterator[Any]:
    """The ``@message`` of every row of a Logs Insights ``get-query-results`` response."""
    for i, row in enumerate(obj["results"], 1):
        cells = {c.get("field"): c.get("value") for c in row if isinstance(c, dict)} \
            if isinstance(row, list) else {}
        yield from _message(cells.get("@message"), f"result {i}", out)


def is_insights_rows(obj: list) -> bool:
    """The console's JSON export of Logs Insights results: objects with ``@message``."""
    return bool(obj) and isinstance(obj[0], dict) and "@message" in obj[0]


def insights_rows(rows: list, out: _Sink) -> Iterator[Any]:
    """The ``@message`` of every row of the console's JSON export."""
    for i, row in enumerate(rows, 1):
        yield from _message(row.get("@message") if isinstance(row, dict) else None,
                            f"row {i}", out)


def is_write_test(data: bytes, start: int) -> bool:
    """The ``aws-logs-write-test`` object an export task writes first to check it may."""
    return data[start:].rstrip() == b"Permission Check Successful"


def is_export(data: bytes, start: int) -> bool:
    """A log group exported to S3: the first line is ``TIME MESSAGE``."""
    return _EXPORT_LINE.match(data, start) is not None


def export_lines(data: bytes, out: _Sink) -> Iterator[Any]:
    """The decoded message of every line of an exported log group (``TIME MESSAGE``).

    >>> from loaders.records import SplitResult
    >>> out = SplitResult()
    >>> list(export_lines(b'2024-03-01T12:00:00.000Z {"eventName": "X"}\\nnot an event\\n', out))
    [{'eventName': 'X'}]
    >>> out.error
    'line 2: not TIME MESSAGE (an exported log event starts with its ISO 8601 time)'
    """
    for lineno, line in enumerate(data.split(b"\n"), 1):
        line = line.strip()
        if not line:
            continue
        m = _EXPORT_LINE.match(line)
        if m is None:
            _damaged(out, f"line {lineno}", "not TIME MESSAGE (an exported log event starts "
                                            "with its ISO 8601 time)")
            continue
        yield from _message(line[m.end():], f"line {lineno}", out)


def is_insights_csv(data: bytes, start: int) -> bool:
    """The console's CSV export of Logs Insights results: a header naming ``@message``."""
    end = data.find(b"\n", start, start + 4096)
    header = data[start: end if end >= 0 else start + 4096]
    return b"@message" in header and data[start:start + 1] in (b"@", b'"')


def insights_csv(data: bytes, out: _Sink) -> Iterator[Any]:
    """The ``@message`` column of every row of the console's CSV export."""
    text = data.decode("utf-8", errors="replace")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for i, row in enumerate(reader, 1):
            yield from _message(row.get("@message"), f"row {i} (line {reader.line_num})", out)
    except csv.Error as exc:
        _damaged(out, f"line {reader.line_num}", f"not CSV ({exc})")


def _message(msg: Any, where: str, out: _Sink) -> Iterator[Any]:
    if isinstance(msg, str):
        msg = msg.encode("utf-8", "surrogatepass")
    if not isinstance(msg, bytes) or not msg.strip():
        _damaged(out, where, "no message (the log event's @message is what holds the record)")
        return
    try:
        yield _ANY.decode(msg)
    except msgspec.DecodeError as exc:
        _damaged(out, where, f"the message is not JSON ({exc})")
    except RecursionError:
        _damaged(out, where, "the message is nested deeper than the JSON parser's limit")


def _damaged(out: _Sink, where: str, why: str) -> None:
    """One log event unreadable: counted, named, and the first one names the file as damaged."""
    problem = f"{where}: {why}"
    out.skipped["unreadable log event"] += 1
    out.problems.append(problem)
    if out.error is None:
        out.error = problem
