"""One CloudTrail record, whatever its envelope.

CloudTrail reaches an investigator in many wrappings: S3 delivery (``{"Records": [...]}``),
JSON arrays, single objects, JSON Lines, concatenated objects (Kinesis Firehose),
``aws cloudtrail lookup-events`` output (the record is a JSON *string* in ``CloudTrailEvent``),
EventBridge (``detail``), and log shippers or SIEM exports (extra keys, the record under a
key, ``@timestamp`` instead of ``eventTime``, lower-cased keys). :func:`split_records`
turns any of them into plain CloudTrail records and says what it could not read.

The common case, S3 delivery and arrays of plain records, is decoded straight into the
typed :class:`loaders.schema.Record` (only the fields graphtrail needs); everything else
goes through a tolerant generic path record by record, so one odd record never costs the
rest of its file.

>>> out = split_records(b'{"Records": [{"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com"}]}', "x.json")
>>> [r.eventName for r in out.records], out.error
(['ListBuckets'], None)
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec

from loaders import cloudwatch
from loaders.schema import (
    Record,
    S3Delivery,
    UserIdentity,
    identity,
    record_from_dict,
    typed_identity,
)

__all__ = ["SplitResult", "split_records", "unwrap"]

_DELIVERY = msgspec.json.Decoder(S3Delivery)


class _RawDelivery(msgspec.Struct):
    Records: list[msgspec.Raw] = []


_RAW_DELIVERY = msgspec.json.Decoder(_RawDelivery)
_RAW_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_ARRAY = msgspec.json.Decoder(list[Record])
_ONE = msgspec.json.Decoder(Record)
_ANY = msgspec.json.Decoder()

# Keys under which shippers and SIEM exports carry the CloudTrail record.
_WRAPPER_KEYS = (
    "detail",
    "_source",
    "message",
    "event",
    "record",
    "data",
    "cloudtrail",
    "json",
    "log",
    "body",
    "Message",
    "raw",
    "hits",  # a saved Elasticsearch / OpenSearch search response
)


@dataclass
class SplitResult:
    """What one raw object held.

    ``records`` are typed records, in file order; ``skipped`` counts records that could not
    be used, by reason; ``error`` says why the object as a whole could not be (fully) read,
    e.g. ``invalid JSON at byte 812``; records before that point are still in ``records``.
    ``digest`` is true for a CloudTrail digest file (no events in it).
    """

    records: list[Record] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    error: str | None = None
    digest: bool = False
    problems: list[str] = field(default_factory=list)
    foreign: str | None = None  # recognised, and not CloudTrail: why it is skipped
    # With ``split_records(..., originals=True)``: one (JSON bytes, exact) per record, in
    # the order of ``records``. ``exact`` when the bytes are the record as the file holds it;
    # else the record unwrapped from its envelope (lookup-events, EventBridge, a shipper)
    # and written back as JSON.
    originals: list[tuple[bytes, bool]] | None = None


def split_records(data: bytes, name: str, hint: str | None = None, *,
                  originals: bool = False) -> SplitResult:
    """Split decompressed bytes into CloudTrail records.

    Parameters
    ----------
    data : bytes
        The object's content, already gunzipped.
    name : str
        Where it came from (for messages, and the ``.jsonl`` suffix hint).
    hint : str, optional
        ``"lookup-events"`` or ``"lake"`` when the source knows the format.
    originals : bool
        Also keep each record's own JSON (:attr:`SplitResult.originals`), for the evidence
        of one event; ingest never asks for it.
    """
    out = SplitResult(originals=[] if originals else None)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # PowerShell's `>` writes UTF-16
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            out.error = "not JSON: a UTF-16 byte order mark, then text that is not UTF-16"
            return out
    start = _first_char(data)
    if start < 0:
        out.error = "empty file"
        return out
    first = data[start : start + 1]
    lines_hint = name.endswith((".jsonl", ".ndjson", ".log", ".jsonl.gz", ".ndjson.gz", ".log.gz"))
    if first == b"{" and not lines_hint:
        doc = _typed(_DELIVERY, data)
        if doc is not None and doc.Records is not None and _plain(doc.Records, data):
            out.records = doc.Records
            if originals:
                out.originals = _exact(_RAW_DELIVERY.decode(data).Records)
            return out
    elif first == b"[":
        records = _typed(_ARRAY, data)
        if records is not None and _plain(records, data):
            out.records = records
            if originals:
                out.originals = _exact(_RAW_ARRAY.decode(data))
            return out
    elif first != b"{":
        if not _logs_text(data, start, out):
            out.error = f"not JSON: starts with {data[start:start + 20]!r}"
        return out
    _generic(data, name, out, lines_hint)
    return out


def _logs_text(data: bytes, start: int, out: SplitResult) -> bool:
    """CloudWatch Logs as text: a log group exported to S3, or Logs Insights CSV."""
    if cloudwatch.is_write_test(data, start):
        out.foreign = "the probe object CloudWatch Logs writes before an export (aws-logs-write-test)"
        return True
    if cloudwatch.is_export(data, start):
        found = cloudwatch.export_lines(data, out)
    elif cloudwatch.is_insights_csv(data, start):
        found = cloudwatch.insights_csv(data, out)
    else:
        return False
    for obj in found:
        _emit(obj, out)
    return True


def _typed(decoder: msgspec.json.Decoder, data: bytes) -> Any:
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # the generic path reads it record by record and says what failed


def _plain(records: list[Record], data: bytes) -> bool:
    """True when the typed records are the whole story: plain API-call records, unwrapped.

    Anything else (EventBridge or lookup-events entries, lower-cased keys, Insights events,
    records whose shipper moved the time, source IP or user agent out of them) is read
    again by the generic path, which knows every envelope. The test looks at the decoded
    records, not the bytes: scanning every file for shipper keys cost more than decoding.
    """
    for r in records:
        if r.eventName is None and r.eventSource is None:
            return False
        if _moved_out(r):
            return False
    # each distinct identity block once (a session's calls share one)
    return all(map(_plain_identity, set(map(bytes, map(_IDENTITY_OF, records)))))


_IDENTITY_OF = attrgetter("userIdentity")


def _moved_out(r: Record) -> bool:
    """Moved out by a shipper (@timestamp, network.client.ip, http.useragent)."""
    return r.eventTime is None or r.sourceIPAddress is None or r.userAgent is None


def _plain_identity(raw: bytes) -> bool:
    """An identity block the strict path reads whole: present, typed, keys not lower-cased."""
    return typed_identity(raw) and not _identity_incomplete(identity(raw))


def _identity_incomplete(ui: UserIdentity | None) -> bool:
    if ui is None:
        return True
    # Lower-cased identity keys leave only ``type`` and ``arn`` (already lower case) readable.
    return ui.principalId is None and ui.accessKeyId is None and (ui.type is None
                                                                  or ui.arn is not None)


def _suspect_line(r: Record) -> bool:
    """Worth a look at the line's bytes: a line is short, so the test can be broader than
    :func:`_identity_incomplete` and catch one lower-cased identity key (``accesskeyid``)."""
    ui = identity(r.userIdentity)  # once: with a key present the identity is not incomplete
    return ui is None or ui.accessKeyId is None or _moved_out(r)


# Keys a log shipper adds when it moves fields out of the record (see _shipper_fixups), and
# identity keys as lower-cased exports spell them. Only searched in a record that already
# looks incomplete (one line), never across whole files.
_GENERIC_HINTS = (b'"@timestamp":', b'"p_event_time":', b'"network":', b'"http":',
                  b'"principalid":', b'"accesskeyid":', b'"sessioncontext":', b'"useridentity":')


def _needs_generic(data: bytes) -> bool:
    return any(k in data for k in _GENERIC_HINTS)


def _first_char(data: bytes) -> int:
    for i, b in enumerate(data[:4096]):
        if b not in b" \t\r\n\xef\xbb\xbf":
            return i
    return -1


def _generic(data: bytes, name: str, out: SplitResult, lines_hint: bool) -> None:
    if not lines_hint:
        try:
            obj = _ANY.decode(data)
        except (msgspec.DecodeError, RecursionError):
            obj = _NOT_JSON
        if obj is not _NOT_JSON:
            _emit(obj, out)
            return
    # Not one JSON document: JSON Lines, concatenated objects, or truncated.
    if _inner_newline(data) and _looks_like_lines(data):
        _lines(data, out)
        return
    _concatenated(data, out)


_NOT_JSON = object()


def _inner_newline(data: bytes) -> bool:
    """A line break between the first and the last non-blank byte (found without a copy).

    >>> _inner_newline(b"  {}\\n  "), _inner_newline(b"{}\\n{}")
    (False, True)
    """
    start = _first_char(data)
    end = len(data)
    while end > 0 and data[end - 1] in b" \t\r\n":
        end -= 1
    return start >= 0 and data.find(b"\n", start, end) >= 0
_TOO_DEEP = "nested deeper than the JSON parser's limit (about 1000 levels); rejected"


def _looks_like_lines(data: bytes) -> bool:
    first = data.lstrip().split(b"\n", 1)[0].strip()
    try:
        _ANY.decode(first)
        return True
    except RecursionError:
        return True  # a line, too deep to read: reported on its own
    except msgspec.DecodeError:
        return False


def _lines(data: bytes, out: SplitResult) -> None:
    for lineno, line in enumerate(data.split(b"\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = _ONE.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            rec = None
        if rec is not None and not typed_identity(rec.userIdentity):
            rec = None  # strict but for its identity block: coerced by the generic path
        if (rec is not None and (rec.eventName or rec.eventSource)
                and not (_suspect_line(rec) and _needs_generic(line))):
            out.records.append(rec)
            if out.originals is not None:
                out.originals.append((line, True))
            continue
        try:
            obj = _ANY.decode(line)
        except msgspec.DecodeError as exc:
            out.skipped["invalid JSON line"] += 1
            out.problems.append(f"line {lineno}: invalid JSON ({exc})")
            continue
        except RecursionError:
            out.skipped["nested too deep"] += 1
            out.problems.append(f"line {lineno}: {_TOO_DEEP}")
            continue
        _emit(obj, out)


def _concatenated(data: bytes, out: SplitResult) -> None:
    """Objects back to back (Firehose), or a document cut off part-way.

    Reads every complete JSON value it can; the first one that does not parse ends the
    object with an error naming the byte offset. Records of an S3 delivery file truncated
    mid-record are salvaged up to the cut.
    """
    text = data.decode("utf-8", errors="replace")
    dec = json.JSONDecoder()
    pos, n, found = 0, len(text), 0
    while True:
        while pos < n and text[pos] in " \t\r\n,\ufeff":
            pos += 1
        if pos >= n:
            break
        try:
            obj, end = dec.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            salvaged, complete, stop = _salvage_array(text, pos, dec, out)
            if isinstance(exc, json.JSONDecodeError):
                out.error = f"invalid JSON at byte {_byte_offset(text, exc.pos)}: {exc.msg}"
            else:
                out.skipped["nested too deep"] += 1
                where = stop if stop is not None else pos
                out.error = (f"record {out.records.__len__() + 1} at byte "
                             f"{_byte_offset(text, where)}: {_TOO_DEEP}")
            if salvaged and complete:
                out.error += f" (records not separated by commas; all {salvaged} records recovered)"
            elif salvaged:
                out.error += f" (truncated or corrupt; the {salvaged} complete records before it kept)"
            return
        _emit(obj, out)
        found += 1
        pos = end
    if not found:
        out.error = "no JSON value in file"


def _salvage_array(text: str, pos: int, dec: json.JSONDecoder,
                   out: SplitResult) -> tuple[int, bool, int | None]:
    """Read the complete elements of a ``Records`` array or top-level array cut short.

    Returns how many elements were read, whether the array's end was reached, and where
    the element that could not be read starts (None if none).
    """
    head = text[pos : pos + 4096]
    if head.startswith("["):
        i = pos + 1
    else:
        key = text.find('"Records"', pos, pos + 4096)
        if key < 0:
            return 0, False, None
        i = text.find("[", key)
        if i < 0:
            return 0, False, None
        i += 1
    kept = 0
    n = len(text)
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n:
            return kept, False, None
        if text[i] == "]":
            return kept, True, None
        try:
            obj, end = dec.raw_decode(text, i)
        except (json.JSONDecodeError, RecursionError):
            return kept, False, i
        i = end
        _emit(obj, out)
        kept += 1


def _byte_offset(text: str, char_pos: int) -> int:
    return len(text[:char_pos].encode("utf-8", errors="replace"))


def _emit(obj: Any, out: SplitResult) -> None:
    for rec in unwrap(obj, out):
        try:
            out.records.append(record_from_dict(rec))
            if out.originals is not None:
                out.originals.append((_as_json(rec), False))
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            out.skipped["unusable record"] += 1
            out.problems.append(f"record {len(out.records) + sum(out.skipped.values())}: {exc}")


def _exact(raws: list) -> list[tuple[bytes, bool]]:
    return [(bytes(r), True) for r in raws]


def _as_json(rec: dict) -> bytes:
    try:
        return msgspec.json.encode(rec)
    except (UnicodeEncodeError, msgspec.EncodeError):  # a lone surrogate: kept escaped
        return json.dumps(rec, default=str).encode()


def unwrap(obj: Any, out: SplitResult, depth: int = 0):
    """Yield the CloudTrail record dicts inside any known envelope.

    >>> res = SplitResult()
    >>> list(unwrap({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "X"}}, res))
    [{'eventName': 'X'}]
    >>> list(unwrap({"EventId": "1", "CloudTrailEvent": '{"eventName": "Y"}'}, res))
    [{'eventName': 'Y'}]
    """
    if depth > 6:
        out.skipped["not a CloudTrail record"] += 1
        return
    if isinstance(obj, list):
        items = cloudwatch.insights_rows(obj, out) if cloudwatch.is_insights_rows(obj) else obj
        for item in items:
            yield from unwrap(item, out, depth + 1)
        return
    if isinstance(obj, str):
        s = obj.strip()
        if s[:1] in ("{", "["):
            try:
                inner = _ANY.decode(s.encode("utf-8", "surrogatepass"))
            except (msgspec.DecodeError, RecursionError):
                inner = _NOT_JSON
            if inner is not _NOT_JSON:
                yield from unwrap(inner, out, depth + 1)
                return
        out.skipped["not a CloudTrail record"] += 1
        return
    if not isinstance(obj, dict):
        out.skipped["not a CloudTrail record"] += 1
        return
    if ("eventName" in obj or "eventSource" in obj or _is_insight(obj)
            or "eventname" in obj or "eventsource" in obj or "insightdetails" in obj):
        yield _shipper_fixups(_canonical_keys(obj), obj)
        return
    records = obj.get("Records")
    if isinstance(records, list):
        yield from unwrap(records, out, depth + 1)
        return
    events = obj.get("Events")
    if isinstance(events, list):  # aws cloudtrail lookup-events, whole response
        yield from unwrap(events, out, depth + 1)
        return
    logs = _logs_envelope(obj, out)
    if logs is not None:  # CloudWatch Logs: filter-log-events, get-log-events, Logs Insights
        for inner in logs:
            yield from unwrap(inner, out, depth + 1)
        return
    ct = obj.get("CloudTrailEvent")
    if ct is not None:  # one LookupEvents entry
        yield from unwrap(ct, out, depth + 1)
        return
    if "digestStartTime" in obj or "logFiles" in obj and "digestS3Bucket" in obj:
        out.digest = True
        return
    for key in _WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, (dict, str, list)):
            found = list(unwrap(inner, _Quiet(), depth + 1))
            if found:
                for rec in found:
                    yield _shipper_fixups(rec, obj)
                return
    out.skipped["not a CloudTrail record"] += 1


def _logs_envelope(obj: dict, out: SplitResult):
    if cloudwatch.is_log_events(obj):
        return cloudwatch.log_events(obj, out)
    if cloudwatch.is_insights_results(obj):
        return cloudwatch.insights_results(obj, out)
    return None


def _is_insight(obj: dict) -> bool:
    """Insights events have no eventName or eventSource of their own."""
    return "insightDetails" in obj or obj.get("eventType") == "AwsCloudTrailInsight"


class _Quiet(SplitResult):
    """A sink for probing wrappers without counting what is not there."""


def _shipper_fixups(rec: dict, wrapper: dict) -> dict:
    """Fill what shippers move out of the record: time, source IP, user agent."""
    if "eventTime" not in rec:
        ts = (wrapper.get("@timestamp") or rec.get("@timestamp") or wrapper.get("p_event_time")
              or rec.get("p_event_time") or wrapper.get("timestamp"))
        if isinstance(ts, str):
            rec = {**rec, "eventTime": ts}
    if "sourceIPAddress" not in rec:
        net = wrapper.get("network")
        ip = net.get("client", {}).get("ip") if isinstance(net, dict) else None
        if isinstance(ip, str):
            rec = {**rec, "sourceIPAddress": ip}
    if "userAgent" not in rec:
        http = wrapper.get("http")
        ua = http.get("useragent") if isinstance(http, dict) else None
        if isinstance(ua, str):
            rec = {**rec, "userAgent": ua}
    return rec


_CANON = {
    k.lower(): k
    for k in (
        "eventVersion eventTime eventSource eventName awsRegion sourceIPAddress userAgent "
        "errorCode errorMessage requestParameters responseElements additionalEventData "
        "resources eventID eventType eventCategory recipientAccountId sharedEventID requestID "
        "readOnly managementEvent sessionCredentialFromConsole userIdentity insightDetails "
        "serviceEventDetails apiVersion vpcEndpointId tlsDetails "
        "type principalId arn accountId accessKeyId userName invokedBy sessionContext "
        "onBehalfOf identityProvider credentialId sessionIssuer attributes creationDate "
        "mfaAuthenticated sourceIdentity webIdFederationData federatedProvider userId "
        "identityStoreArn ec2RoleDelivery"
    ).split()
}
_CANON["acceskeyid"] = "accessKeyId"  # a typo seen in exported fixtures


def _canonical_keys(d: dict) -> dict:
    """Restore CloudTrail's camelCase in records whose keys a data lake lower-cased.

    The payloads (request parameters, response elements) keep their keys as they are.
    """
    out = {}
    for k, v in d.items():
        ck = _CANON.get(k.lower(), k) if isinstance(k, str) else k
        if ck in ("userIdentity", "sessionContext", "sessionIssuer", "attributes",
                  "onBehalfOf", "webIdFederationData") and isinstance(v, dict):
            v = _canonical_keys(v)
        out[ck] = v
    return out
