"""What was not logged: hours without delivery, logging stopped, trails and selectors changed.

An answer of zero events means something only if the trail was recording. :func:`coverage`
says, for every account x region x hour of the span, whether CloudTrail delivered anything
(log files, or a digest, which CloudTrail writes every hour logging is on, even with no
log files), and lists the windows when logging was stopped (StopLogging .. StartLogging),
the trails deleted, created or updated, the event selectors that narrowed what is recorded
(management events off, data events off for a bucket or function, insights off), and the
data events seen per bucket and function, or their absence for a resource a selector names.
Every row carries the eventIDs behind it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from graphtrail.arrays import plain_text
from graphtrail.families import EVENT_SELECTORS
from graphtrail.integrity.digest import epoch
from graphtrail.integrity.evidence import TRAIL_CHANGES, DataEvents, TrailChange, TrailEvidence

__all__ = ["Coverage", "coverage", "coverage_of_trail", "coverage_of_case", "hour_of",
           "selector_changes", "bucket_names"]

_HOUR = 3600


@dataclass
class Coverage:
    """The answer; ``as_dict()`` is the ``--format json`` object."""

    span: dict = field(default_factory=dict)
    unlogged: list[dict] = field(default_factory=list)
    stopped: list[dict] = field(default_factory=list)
    trail_changes: list[dict] = field(default_factory=list)
    selectors: list[dict] = field(default_factory=list)
    data_events: list[dict] = field(default_factory=list)
    hours: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # (hours delivered per account x region, first hour, last hour): what every_hour lists
        self._delivered: tuple[dict, int, int] | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def every_hour(self) -> Iterator[dict]:
        """The rows of :attr:`hours` (every account x region x hour of the span), made one
        at a time whether or not :attr:`hours` holds them: a case spanning years in many
        accounts and regions has millions."""
        if self._delivered is None:
            return
        seen, first, last = self._delivered
        stamps = [hour_of(hour * _HOUR) for hour in range(first, last + 1)]
        for (account, region), per in sorted(seen.items()):
            for hour, stamp in zip(range(first, last + 1), stamps, strict=True):
                how = per.get(hour)
                yield {"account": account, "region": region, "hour": stamp, "delivered": bool(how),
                       "evidence": ", ".join(sorted(how)) if how else ""}


def hour_of(moment: float) -> str:
    """The UTC hour of an epoch second.

    >>> hour_of(1717203600.0)
    '2024-06-01T01:00:00Z'
    """
    return datetime.fromtimestamp(moment - moment % _HOUR, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def coverage(delivered: Iterable[tuple[str, str, float, str]], changes: Iterable[TrailChange],
             data_events: Iterable[DataEvents] = (), *, every_hour: bool = True) -> Coverage:
    """Coverage from ``delivered`` (account, region, epoch, how) and the trail changes.

    ``how`` says what proves the hour was logged (``log files``, ``digest``, ``events``).
    ``every_hour``: list every account x region x hour of the span in ``hours`` (the
    ``--format json`` and CSV answer); without it ``hours`` stays empty (``every_hour()``
    makes its rows on demand) and the rest is the same. The unlogged windows and the
    counts come from the hours delivered alone, so a case spanning years in many accounts
    and regions (millions of account-region-hours) costs what it delivered, not what its
    span holds.

    >>> c = coverage([("1", "r", 0.0, "log files"), ("1", "r", 7200.0, "log files")], [])
    >>> c.summary["unlogged_hours"], c.unlogged[0]["from"], len(c.hours)
    (1, '1970-01-01T01:00:00Z', 3)
    >>> coverage([("1", "r", 0.0, "log files"), ("1", "r", 7200.0, "log files")], [],
    ...          every_hour=False).hours
    []
    """
    seen: dict[tuple[str, str], dict[int, set[str]]] = {}
    for account, region, moment, how in delivered:
        hour = int(moment // _HOUR)
        seen.setdefault((account, region), {}).setdefault(hour, set()).add(how)
    result = Coverage()
    changes = sorted(changes, key=lambda c: (c.time, c.event_id))
    span_hours = delivered_hours = 0
    if seen:
        first = min(min(per) for per in seen.values())
        last = max(max(per) for per in seen.values())
        span_hours = len(seen) * (last - first + 1)
        delivered_hours = sum(len(per) for per in seen.values())
        result.span = {"from": hour_of(first * _HOUR), "to": hour_of((last + 1) * _HOUR),
                       "accounts": sorted({a for a, _ in seen}),
                       "regions": sorted({r for _, r in seen})}
        for (account, region), per in sorted(seen.items()):
            before = first - 1  # the last hour delivered (or the hour before the span)
            for hour in [*sorted(per), last + 1]:  # each gap between them is a window
                if hour - before > 1:
                    result.unlogged.append({"account": account, "region": region,
                                            "from": hour_of((before + 1) * _HOUR),
                                            "to": hour_of(hour * _HOUR), "hours": hour - before - 1})
                before = hour
        result._delivered = (seen, first, last)
        if every_hour:
            result.hours = list(result.every_hour())
    result.stopped = _stopped(changes)
    result.trail_changes = [_row(c) for c in changes
                            if c.event_name in ("DeleteTrail", "CreateTrail", "UpdateTrail")]
    result.selectors = selector_changes(changes)
    result.data_events = _data_rows(data_events, result.selectors)
    result.summary = {
        "hours": span_hours,
        "unlogged_hours": span_hours - delivered_hours,
        "stopped_windows": len(result.stopped),
        "trail_changes": len(result.trail_changes),
        "selector_reductions": sum(1 for s in result.selectors if s["reduced"]),
        "resources_with_data_events": sum(1 for d in result.data_events if d["count"]),
        "resources_without_data_events": sum(1 for d in result.data_events if not d["count"]),
    }
    return result


def _row(c: TrailChange) -> dict:
    return {"eventID": c.event_id, "eventName": c.event_name, "time": c.time,
            "account": c.account, "region": c.region, "trail": c.trail}


def _stopped(changes: list[TrailChange]) -> list[dict]:
    """StopLogging .. the next StartLogging of the same trail (open when none follows)."""
    out, open_stops = [], {}
    for c in changes:
        trail = (c.account, _trail_name(c.trail))
        if c.event_name == "StopLogging" and trail not in open_stops:
            open_stops[trail] = c
        elif c.event_name == "StartLogging" and trail in open_stops:
            stop = open_stops.pop(trail)
            out.append(_window(stop, c))
    out.extend(_window(stop, None) for stop in open_stops.values())
    return sorted(out, key=lambda w: w["from"])


def _window(stop: TrailChange, start: TrailChange | None) -> dict:
    hours = None
    if start is not None:
        hours = round(((epoch(start.time) or 0) - (epoch(stop.time) or 0)) / _HOUR, 2)
    return {"account": stop.account, "trail": stop.trail, "from": stop.time,
            "to": start.time if start else None, "hours": hours,
            "stop_event": stop.event_id, "start_event": start.event_id if start else None}


def _trail_name(trail: str) -> str:
    """A trail named by ARN or by name is the same trail."""
    return trail.rsplit("/", 1)[-1] if trail.startswith("arn:") else trail


def selector_changes(changes: Iterable[TrailChange]) -> list[dict]:
    """Each PutEventSelectors / PutInsightSelectors: what it records now, what it dropped.

    >>> c = TrailChange("e1", "PutEventSelectors", "2024-06-01T00:00:00Z", "1", "us-east-1",
    ...     "t", {"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": False,
    ...                               "dataResources": []}]})
    >>> selector_changes([c])[0]["dropped"]
    ['management events off']
    """
    out, before = [], {}
    for c in changes:
        if c.event_name not in EVENT_SELECTORS:
            continue
        trail = (c.account, _trail_name(c.trail))
        if c.event_name == "PutInsightSelectors":
            kinds = sorted(s.get("insightType", "") for s in c.parameters.get("insightSelectors") or ()
                           if isinstance(s, dict))
            dropped = ["insights off"] if not kinds else []
            out.append({**_row(c), "records": ", ".join(kinds) or "no insights",
                        "dropped": dropped, "reduced": bool(dropped)})
            continue
        now = _selection(c.parameters)
        prev = before.get(trail)
        dropped = []
        if not now["management"] and (prev is None or prev["management"]):
            dropped.append("management events off")
        if now["management"] and now["read_write"] != "All" and (
                prev is None or prev["read_write"] == "All"):
            dropped.append(f"management events {now['read_write']} only")
        if prev is not None:  # without an earlier selection, no data events is the default
            dropped += [f"data events off for {r}" for r in sorted(prev["data"] - now["data"])]
        before[trail] = now
        records = ["management events" if now["management"] else "no management events",
                   *sorted(now["data"])]
        out.append({**_row(c), "records": ", ".join(records), "dropped": dropped,
                    "reduced": bool(dropped)})
    return out


def _selection(params: dict) -> dict:
    """Management on/off, read/write, and the data resources a selector set records."""
    management, read_write, data = False, "All", set()
    for s in params.get("eventSelectors") or ():
        if not isinstance(s, dict):
            continue
        if s.get("includeManagementEvents", True):
            management = True
            read_write = s.get("readWriteType", "All")
        for res in s.get("dataResources") or ():
            for value in res.get("values") or ():
                data.add(value)
    for s in params.get("advancedEventSelectors") or ():
        fields = {f.get("field"): f for f in s.get("fieldSelectors") or () if isinstance(f, dict)}
        category = (fields.get("eventCategory") or {}).get("equals") or []
        if "Management" in category:
            management = True
        if "Data" in category:
            arns = (fields.get("resources.ARN") or {})
            values = arns.get("startsWith") or arns.get("equals") or []
            kind = ((fields.get("resources.type") or {}).get("equals") or ["all"])[0]
            data.update(values or [f"all {kind}"])
    return {"management": management, "read_write": read_write, "data": data}


def _data_rows(data_events: Iterable[DataEvents], selectors: list[dict]) -> list[dict]:
    rows = {(d.account, d.kind, d.resource): asdict(d) for d in data_events}
    named = {(s["account"], r) for s in selectors for r in s["records"].split(", ")
             if r.startswith("arn:aws:s3:::")}
    for account, arn in named:
        bucket = arn[len("arn:aws:s3:::"):].split("/", 1)[0]
        if bucket and not any(k[2] == bucket for k in rows):
            rows[(account, "s3-bucket", bucket)] = {"account": account, "kind": "s3-bucket",
                                                    "resource": bucket, "count": 0,
                                                    "first": "", "last": ""}
    return [rows[k] for k in sorted(rows)]


def parse_parameters(text: str | None) -> dict:
    """requestParameters as stored in the case (JSON text) back to a dict."""
    if not text:
        return {}
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


def coverage_of_trail(evidences: Iterable[TrailEvidence], *, every_hour: bool = True) -> Coverage:
    """Coverage from trail copies read for verification (log files, digests, changes);
    ``every_hour`` as for :func:`coverage`."""
    delivered, changes, data = [], set(), {}
    for ev in evidences:
        for log in ev.logs.values():
            if log.delivered is not None:
                delivered.append((log.account, log.region, log.delivered, "log files"))
            changes.update(log.changes)
            for d in log.data_events:
                into = data.setdefault((d.account, d.kind, d.resource),
                                       DataEvents(d.account, d.kind, d.resource))
                into.count += d.count
                into.first = min(into.first or d.first, d.first)
                into.last = max(into.last, d.last)
        for dg in ev.digests:
            end = epoch(dg.end)
            if end is not None and not dg.backfill:
                delivered.append((dg.account, dg.region, end - _HOUR / 2, "digest"))
    return coverage(delivered, changes, data.values(), every_hour=every_hour)


def coverage_of_case(events, stored: dict | None = None, *, every_hour: bool = True) -> Coverage:
    """Coverage from a case's events and its stored digest hours; ``every_hour`` as for
    :func:`coverage`.

    ``events``: an Arrow table, or an iterable of tables or record batches (a case's
    :meth:`~graphtrail.store.case.Case.event_batches`: memory bounded by a batch, not the
    events), with the columns time, recipient_account_id, account_id, region, event_source,
    event_name, event_category, error_code, event_id, request_parameters. The hours with
    events are found in Arrow (one row a distinct account x region x hour, not one a call),
    and the S3 data events are counted per bucket from integer times, only the bucket name
    of their parameters decoded. A ``bucketName`` that is not text (hostile input) names no
    bucket.
    """
    import pyarrow as pa

    seen: set[tuple[str, str, int]] = set()
    changes: list[TrailChange] = []
    per_bucket: dict[tuple[str, str], list[int]] = {}  # (account, bucket) -> [calls, first, last]
    for batch in ([events] if isinstance(events, pa.Table) else events):
        _take_batch(plain_text(batch), seen, changes, per_bucket)
    delivered = [(a, r, float(h), "events") for a, r, h in seen]
    delivered += [tuple(row) for row in (stored or {}).get("delivered", ())]
    data = [DataEvents(acct, "s3-bucket", bucket, n, _iso_micros(lo), _iso_micros(hi))
            for (acct, bucket), (n, lo, hi) in per_bucket.items()]
    return coverage(delivered, changes, data, every_hour=every_hour)


def _take_batch(events, seen: set, changes: list, per_bucket: dict) -> None:
    """One batch of events into the hours seen, the trail changes and the buckets read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    hours = pc.divide(pc.cast(events.column("time"), "int64"), 3_600_000_000)
    recipient = pc.coalesce(events.column("recipient_account_id"), events.column("account_id"))
    logged = pa.table({"a": recipient, "r": events.column("region"), "h": hours})
    logged = logged.filter(pc.is_valid(hours)).group_by(["a", "r", "h"], use_threads=False).aggregate([])
    seen.update((a or "", r or "", h * _HOUR) for a, r, h in zip(
        logged.column("a").to_pylist(), logged.column("r").to_pylist(),
        logged.column("h").to_pylist(), strict=True))
    is_change = pc.and_(pc.equal(events.column("event_source"), "cloudtrail.amazonaws.com"),
                        pc.is_in(events.column("event_name"), pa.array(sorted(TRAIL_CHANGES))))
    is_change = pc.and_(pc.fill_null(is_change, False), pc.is_null(events.column("error_code")))
    for row in events.filter(is_change).to_pylist():
        params = parse_parameters(row["request_parameters"])
        changes.append(TrailChange(row["event_id"], row["event_name"], _iso(row["time"]),
                                   row["recipient_account_id"] or row["account_id"] or "",
                                   row["region"] or "",
                                   str(params.get("name") or params.get("trailName") or ""),
                                   params))
    is_data = pc.fill_null(pc.and_(pc.equal(events.column("event_category"), "Data"),
                                   pc.equal(events.column("event_source"), "s3.amazonaws.com")),
                           False)
    reads = events.filter(is_data)
    for acct, bucket, t in zip(reads.column("recipient_account_id").to_pylist(),
                               bucket_names(reads.column("request_parameters").to_pylist()),
                               pc.cast(reads.column("time"), pa.int64()).to_pylist(), strict=True):
        if bucket and isinstance(bucket, str):
            seen_bucket = per_bucket.get(key := (acct or "", bucket))
            if seen_bucket is None:
                per_bucket[key] = [1, t, t]
            else:
                seen_bucket[0] += 1
                seen_bucket[1] = min(seen_bucket[1], t)
                seen_bucket[2] = max(seen_bucket[2], t)


class _Bucket(msgspec.Struct):
    bucketName: Any = None  # noqa: N815  (the request parameter's name)


_BUCKET = msgspec.json.Decoder(_Bucket)


def bucket_names(texts: list[str | None]) -> list:
    """``requestParameters.bucketName`` of each stored parameters text, as
    :func:`parse_parameters` reads it (None where absent or unreadable).

    msgspec reads only that field, a text at a time (never joined: a text is not trusted
    to be one JSON value); a text it does not read the way :mod:`json` does (not an
    object, NaN, a lone surrogate, a number out of range) goes to :func:`parse_parameters`.

    >>> bucket_names(['{"bucketName": "logs", "key": "a"}', None, "[1]", '{"bucketName": "b", "n": NaN}'])
    ['logs', None, None, 'b']
    """
    out = []
    for text in texts:
        if not text:
            out.append(None)
            continue
        try:
            out.append(_BUCKET.decode(text).bucketName)
        except msgspec.DecodeError:
            out.append(parse_parameters(text).get("bucketName"))
    return out


def _iso_micros(us: int) -> str:
    """An epoch microsecond as :func:`_iso` writes its moment."""
    return _iso(_EPOCH + timedelta(microseconds=us))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""
