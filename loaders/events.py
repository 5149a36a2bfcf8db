"""Normalized events: typed records -> the columns of :data:`graphtrail.model.EVENT_COLUMNS`.

:class:`EventBatch` takes records one at a time (cheap appends to Python lists) and turns
them into one Arrow table at the end, where times are parsed in bulk by Arrow and only the
odd ones (``2022-09-27 17:09:18``, Java-style dates) fall back to Python.

>>> b = EventBatch()
>>> from loaders.schema import Record
>>> b.add(Record(eventName="ListUsers", eventSource="iam.amazonaws.com",
...              eventTime="2022-09-27 17:09:18", eventID="e1"), "f.json", 0)
>>> t = b.to_table()
>>> t.column("time")[0].as_py().isoformat(), t.column("event_id")[0].as_py()
('2022-09-27T17:09:18+00:00', 'e1')
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.model import EVENT_COLUMNS, INSIGHT_COLUMNS, event_schema, insight_schema
from loaders.schema import Record

__all__ = ["EventBatch", "parse_time", "event_keys", "ISSUING_EVENTS"]

# Calls whose response carries a new credential.
ISSUING_EVENTS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "GetFederationToken",
        "AssumeRoot",
        "CreateAccessKey",
        "GetRoleCredentials",  # IAM Identity Center portal
    }
)

_TS = pa.timestamp("us", tz="UTC")
_EVENT_SCHEMA = event_schema()
_INSIGHT_SCHEMA = insight_schema()
_DECODE = msgspec.json.decode
_JAVA_FORMATS = ("%b %d, %Y %I:%M:%S %p", "%b %d, %Y, %I:%M:%S %p")


def parse_time(value: object) -> datetime | None:
    """Parse a CloudTrail time in any of the shapes seen in the wild; None if unusable.

    >>> parse_time("2024-08-01T13:42:21Z").isoformat()
    '2024-08-01T13:42:21+00:00'
    >>> parse_time("2022-02-08 09:23:37+11:00").isoformat()
    '2022-02-07T22:23:37+00:00'
    >>> parse_time("Aug 1, 2024 2:42:21 PM").isoformat()
    '2024-08-01T14:42:21+00:00'
    >>> parse_time(1722519741).isoformat(), parse_time("soon")
    ('2024-08-01T13:42:21+00:00', None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        secs = value / 1000 if value > 1e11 else value  # epoch millis or seconds
        try:
            return datetime.fromtimestamp(secs, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    s = str(value).strip()
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        dt = None
        for fmt in _JAVA_FORMATS:
            try:
                dt = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
        if dt is None:
            return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)  # CloudTrail times are UTC; exports drop the zone
    return dt.astimezone(UTC)


def _times(values: list) -> pa.Array:
    """Bulk-parse times in Arrow; rows Arrow cannot read go through :func:`parse_time`."""
    arr = pa.array(values, type=pa.string()) if values else pa.array([], type=pa.string())
    try:
        return arr.cast(_TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([parse_time(v) for v in values], type=_TS)


def _text(v: object) -> str | None:
    if v is None or isinstance(v, str):
        return v or None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _account(v: object) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:012d}"  # a number loses the leading zeros of an account id
    return _text(v)


def _flag(v: object) -> bool | None:
    if isinstance(v, bool) or v is None:
        return v
    s = str(v).strip().lower()
    return True if s == "true" else False if s == "false" else None


def _raw_text(raw: msgspec.Raw) -> str | None:
    if not len(raw):
        return None
    b = bytes(raw)
    return None if b == b"null" else b.decode("utf-8", "replace")


class EventBatch:
    """Accumulates normalized events (and Insights events) for one output part."""

    __slots__ = ("cols", "insights", "skipped", "n", "unreadable_by_file")

    def __init__(self) -> None:
        self.cols: dict[str, list] = {name: [] for name, _, _ in EVENT_COLUMNS}
        self.insights: dict[str, list] = {name: [] for name, _, _ in INSIGHT_COLUMNS}
        self.skipped: Counter = Counter()
        self.unreadable_by_file: Counter = Counter()
        self.n = 0

    def add(self, r: Record, source: str, index: int) -> str | None:
        """Normalize one record. Returns ``"event"``, ``"insight"`` or a skip reason."""
        if r.eventType == "AwsCloudTrailInsight" or len(r.insightDetails):
            self._add_insight(r, source)
            return "insight"
        if r.eventTime is None:
            self.skipped["missing eventTime"] += 1
            return "missing eventTime"
        c = self.cols
        ui = r.userIdentity
        event_id = _text(r.eventID) or _synthetic_id(r)
        c["event_id"].append(event_id)
        c["time"].append(r.eventTime if isinstance(r.eventTime, str) else _iso(r.eventTime))
        c["event_version"].append(_text(r.eventVersion))
        c["event_source"].append(_text(r.eventSource))
        c["event_name"].append(_text(r.eventName))
        c["event_type"].append(_text(r.eventType))
        c["event_category"].append(_text(r.eventCategory))
        c["region"].append(_text(r.awsRegion))
        c["recipient_account_id"].append(_account(r.recipientAccountId))
        c["source_ip"].append(_text(r.sourceIPAddress))
        c["user_agent"].append(_text(r.userAgent))
        c["error_code"].append(_text(r.errorCode))
        c["error_message"].append(_text(r.errorMessage))
        c["read_only"].append(_flag(r.readOnly))
        c["from_console"].append(_flag(r.sessionCredentialFromConsole))
        c["shared_event_id"].append(_text(r.sharedEventID))
        c["request_id"].append(_text(r.requestID))
        c["request_parameters"].append(_raw_text(r.requestParameters))
        response = _raw_text(r.responseElements)
        c["response_elements"].append(response)
        c["additional_event_data"].append(_raw_text(r.additionalEventData))
        c["resources"].append(_raw_text(r.resources))
        c["source_file"].append(source)
        c["record_index"].append(index)
        self._identity(ui)
        key = exp = None
        if response is not None and r.eventName in ISSUING_EVENTS:
            key, exp = _issued(response)
        c["issued_key"].append(key)
        c["issued_expiration"].append(exp)
        self.n += 1
        return "event"

    def _identity(self, ui) -> None:
        c = self.cols
        if ui is None:
            for name in ("identity_type", "identity_arn", "principal_id", "access_key_id",
                         "user_name", "account_id", "invoked_by", "on_behalf_of",
                         "issuer_type", "issuer_arn", "issuer_principal_id", "session_created",
                         "mfa", "source_identity", "web_id_provider"):
                c[name].append(None)
            return
        c["identity_type"].append(_text(ui.type))
        c["identity_arn"].append(_text(ui.arn))
        c["principal_id"].append(_text(ui.principalId))
        c["access_key_id"].append(_text(ui.accessKeyId))
        c["user_name"].append(_text(ui.userName))
        c["account_id"].append(_account(ui.accountId))
        c["invoked_by"].append(_text(ui.invokedBy))
        obo = ui.onBehalfOf
        c["on_behalf_of"].append(_text(obo.userId) if obo is not None else None)
        sc = ui.sessionContext
        iss = sc.sessionIssuer if sc is not None else None
        att = sc.attributes if sc is not None else None
        web = sc.webIdFederationData if sc is not None else None
        c["issuer_type"].append(_text(iss.type) if iss is not None else None)
        c["issuer_arn"].append(_text(iss.arn) if iss is not None else None)
        c["issuer_principal_id"].append(_text(iss.principalId) if iss is not None else None)
        c["session_created"].append(_text(att.creationDate) if att is not None else None)
        c["mfa"].append(_flag(att.mfaAuthenticated) if att is not None else None)
        c["source_identity"].append(_text(sc.sourceIdentity) if sc is not None else None)
        c["web_id_provider"].append(
            _text(web.federatedProvider) if web is not None else _text(ui.identityProvider)
        )

    def _add_insight(self, r: Record, source: str) -> None:
        d = self.insights
        details = _raw_text(r.insightDetails)
        info = {}
        if details:
            try:
                info = _DECODE(details)
            except msgspec.DecodeError:
                info = {}
        info = info if isinstance(info, dict) else {}
        d["event_id"].append(_text(r.eventID) or _synthetic_id(r))
        d["time"].append(_text(r.eventTime))
        d["event_source"].append(_text(info.get("eventSource")))
        d["event_name"].append(_text(info.get("eventName")))
        d["insight_type"].append(_text(info.get("insightType")))
        d["state"].append(_text(info.get("state")))
        d["recipient_account_id"].append(_account(r.recipientAccountId))
        d["region"].append(_text(r.awsRegion))
        d["details"].append(details)
        d["source_file"].append(source)

    def to_table(self) -> pa.Table:
        """The events as an Arrow table in :func:`graphtrail.model.event_schema` order.

        Rows whose ``eventTime`` cannot be read at all are dropped here and counted in
        :attr:`skipped` as ``unreadable eventTime``.
        """
        arrays = []
        for name, typ, _ in EVENT_COLUMNS:
            vals = self.cols[name]
            if name == "issued_expiration":
                arrays.append(pa.array([parse_time(v) for v in vals], type=_TS))
            elif typ == _TS:
                arrays.append(_times(vals))
            else:
                arrays.append(pa.array(vals, type=typ))
        table = pa.Table.from_arrays(arrays, schema=_EVENT_SCHEMA)
        bad = table.column("time").null_count
        if bad:
            self.skipped["unreadable eventTime"] += bad
            dropped = table.filter(pc.is_null(table.column("time"))).column("source_file")
            self.unreadable_by_file.update(dropped.to_pylist())
            table = table.filter(pc.is_valid(table.column("time")))
        return table

    def insights_table(self) -> pa.Table:
        arrays = []
        for name, typ, _ in INSIGHT_COLUMNS:
            vals = self.insights[name]
            arrays.append(_times(vals) if typ == _TS else pa.array(vals, type=typ))
        return pa.Table.from_arrays(arrays, schema=_INSIGHT_SCHEMA)


def _iso(v: object) -> str | None:
    dt = parse_time(v)
    return dt.isoformat() if dt else None


def _issued(response: str) -> tuple[str | None, str | None]:
    """The credential a response hands out: STS ``credentials`` or IAM ``accessKey``."""
    try:
        doc = _DECODE(response)
    except msgspec.DecodeError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    creds = doc.get("credentials") or doc.get("roleCredentials")
    if isinstance(creds, dict):
        key = creds.get("accessKeyId")
        exp = creds.get("expiration")
        return _text(key), _text(exp)
    ak = doc.get("accessKey")
    if isinstance(ak, dict):
        return _text(ak.get("accessKeyId")), None
    return None, None


def _synthetic_id(r: Record) -> str:
    """A stable id for a record that has none: the same record always gets the same id."""
    digest = hashlib.blake2b(msgspec.json.encode(r), digest_size=12).hexdigest()
    return f"gt-{digest}"


def event_keys(table: pa.Table) -> np.ndarray:
    """Identity of each event for deduplication, as ``(n, 2)`` uint64.

    Two records are the same event when eventID, time and event name agree: real eventIDs
    are UUIDs, but hand-edited fixtures reuse ids like ``"1"`` for different events.
    """
    ids = table.column("event_id").to_pylist()
    times = table.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False)
    names = table.column("event_name").to_pylist()
    buf = bytearray(16 * len(ids))
    blake = hashlib.blake2b
    for i, (eid, t, name) in enumerate(zip(ids, times.tolist(), names, strict=True)):
        buf[16 * i : 16 * i + 16] = blake(f"{eid}|{t}|{name}".encode(), digest_size=16).digest()
    return np.frombuffer(bytes(buf), dtype=np.uint64).reshape(-1, 2)
