"""Normalized events: typed records -> the columns of :data:`graphtrail.model.EVENT_COLUMNS`.

:class:`EventBatch` keeps the typed records of a part and turns them into one Arrow table
at the end, column by column; times are parsed in bulk by Arrow and only the odd ones
(``2022-09-27 17:09:18``, Java-style dates) fall back to Python.

>>> b = EventBatch()
>>> from loaders.schema import Record
>>> b.add(Record(eventName="ListUsers", eventSource="iam.amazonaws.com",
...              eventTime="2022-09-27 17:09:18", eventID="e1"), "f.json", 0)
'event'
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
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from msgspec.structs import astuple

from graphtrail.model import EVENT_COLUMNS, INSIGHT_COLUMNS, event_schema, insight_schema
from loaders.schema import (
    OnBehalfOf,
    Record,
    SessionAttributes,
    SessionContext,
    SessionIssuer,
    UserIdentity,
    WebIdFederationData,
    text,
)

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
_ISSUING = pa.array(sorted(ISSUING_EVENTS))
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


_NOTHING: tuple = ()


def _raw_column(values: list) -> pa.Array:
    """Raw JSON fragments -> a string column; absent and ``null`` become nulls.

    One ``bytes.join`` over the fragments' buffers and their lengths as offsets: no Python
    string is made. msgspec has already validated the text as UTF-8 JSON.
    """
    n = len(values)
    if not n:
        return pa.array([], type=pa.string())
    data = b"".join(values)
    lens = np.fromiter(map(len, values), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    valid = lens > 0
    if (lens == 4).any():  # literal null
        starts = offsets[:-1][lens == 4]
        raw = np.frombuffer(data, dtype=np.uint8)
        is_null = np.array([raw[s:s + 4].tobytes() == b"null" for s in starts.tolist()], dtype=bool)
        idx = np.nonzero(lens == 4)[0]
        valid[idx[is_null]] = False
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap,
                                           null_count=int(n - valid.sum()))
    return arr.cast(pa.string()) if len(data) < 2**31 - 1 else arr


def _fields(structs: list, cls) -> dict[str, tuple]:
    """Transpose a list of structs (or Nones) into one tuple per field, in C."""
    names = cls.__struct_fields__
    if not structs:
        return {n: () for n in names}
    empty = (None,) * len(names)
    rows = [astuple(x) if x is not None else empty for x in structs]
    return dict(zip(names, zip(*rows, strict=True), strict=True))


class EventBatch:
    """Accumulates records for one output part and normalizes them column by column.

    Records are kept as typed structs until :meth:`to_table`, which transposes them into
    columns with C-level ``astuple``/``zip`` and lets Arrow parse times: no Python call
    per field per event.
    """

    __slots__ = ("records", "sources", "indexes", "skipped", "unreadable_by_file",
                 "insight_records", "insight_sources")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.sources: list[str] = []
        self.indexes: list[int] = []
        self.insight_records: list[Record] = []
        self.insight_sources: list[str] = []
        self.skipped: Counter = Counter()
        self.unreadable_by_file: Counter = Counter()

    @property
    def n(self) -> int:
        return len(self.records)

    def add(self, r: Record, source: str, index: int) -> str:
        """Take one record. Returns ``"event"``, ``"insight"`` or a skip reason."""
        if r.eventType == "AwsCloudTrailInsight" or len(r.insightDetails):
            self.insight_records.append(r)
            self.insight_sources.append(source)
            return "insight"
        if r.eventTime is None:
            self.skipped["missing eventTime"] += 1
            return "missing eventTime"
        self.records.append(r)
        self.sources.append(source)
        self.indexes.append(index)
        return "event"

    def add_many(self, records: list[Record], source: str) -> tuple[int, int]:
        """Take a file's records at once; returns (events, insights)."""
        plain = [r for r in records if r.eventTime is not None and r.eventType != "AwsCloudTrailInsight"
                 and not len(r.insightDetails)]
        if len(plain) == len(records):
            start = len(self.records)
            self.records.extend(records)
            self.sources.extend([source] * len(records))
            self.indexes.extend(range(len(records)))
            return len(self.records) - start, 0
        ev = ins = 0
        for i, r in enumerate(records):
            what = self.add(r, source, i)
            ev += what == "event"
            ins += what == "insight"
        return ev, ins

    def to_table(self) -> pa.Table:
        """The events as an Arrow table in :func:`graphtrail.model.event_schema` order.

        Rows whose ``eventTime`` cannot be read at all are dropped here and counted in
        :attr:`skipped` as ``unreadable eventTime``.
        """
        recs = self.records
        f = _fields(recs, Record)
        ui = _fields(list(f["userIdentity"]), UserIdentity)
        sc = _fields(list(ui["sessionContext"]), SessionContext)
        iss = _fields(list(sc["sessionIssuer"]), SessionIssuer)
        att = _fields(list(sc["attributes"]), SessionAttributes)
        web = _fields(list(sc["webIdFederationData"]), WebIdFederationData)
        obo = _fields(list(ui["onBehalfOf"]), OnBehalfOf)
        ids = list(f["eventID"])
        for i, eid in enumerate(ids):
            if not eid:
                ids[i] = _synthetic_id(recs[i])
        response = _raw_column(list(f["responseElements"]))
        issued_key, issued_exp = self._issued(f["eventName"], response)
        mfa = pa.array(att["mfaAuthenticated"], type=pa.string())
        web_provider = [w or p for w, p in zip(web["federatedProvider"], ui["identityProvider"], strict=True)]
        cols = {
            "event_id": pa.array(ids, type=pa.string()),
            "time": _times(list(f["eventTime"])),
            "event_version": f["eventVersion"],
            "event_source": f["eventSource"],
            "event_name": f["eventName"],
            "event_type": f["eventType"],
            "event_category": f["eventCategory"],
            "region": f["awsRegion"],
            "account_id": ui["accountId"],
            "recipient_account_id": f["recipientAccountId"],
            "source_ip": f["sourceIPAddress"],
            "user_agent": f["userAgent"],
            "error_code": f["errorCode"],
            "error_message": f["errorMessage"],
            "read_only": f["readOnly"],
            "identity_type": ui["type"],
            "identity_arn": ui["arn"],
            "principal_id": ui["principalId"],
            "access_key_id": ui["accessKeyId"],
            "user_name": ui["userName"],
            "issuer_type": iss["type"],
            "issuer_arn": iss["arn"],
            "issuer_principal_id": iss["principalId"],
            "session_created": _times(list(att["creationDate"])),
            "mfa": pc.equal(pc.utf8_lower(mfa), "true"),
            "source_identity": sc["sourceIdentity"],
            "invoked_by": ui["invokedBy"],
            "on_behalf_of": obo["userId"],
            "web_id_provider": web_provider,
            "from_console": f["sessionCredentialFromConsole"],
            "issued_key": issued_key,
            "issued_expiration": issued_exp,
            "request_parameters": _raw_column(list(f["requestParameters"])),
            "response_elements": response,
            "additional_event_data": _raw_column(list(f["additionalEventData"])),
            "resources": _raw_column(list(f["resources"])),
            "shared_event_id": f["sharedEventID"],
            "request_id": f["requestID"],
            "source_file": pa.array(self.sources, type=pa.string()),
            "record_index": pa.array(self.indexes, type=pa.int32()),
        }
        arrays = []
        for name, typ, _ in EVENT_COLUMNS:
            v = cols[name]
            arrays.append(v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v, type=typ))
        table = pa.Table.from_arrays(arrays, schema=_EVENT_SCHEMA)
        bad = table.column("time").null_count
        if bad:
            self.skipped["unreadable eventTime"] += bad
            dropped = table.filter(pc.is_null(table.column("time"))).column("source_file")
            self.unreadable_by_file.update(dropped.to_pylist())
            table = table.filter(pc.is_valid(table.column("time")))
        return table

    @staticmethod
    def _issued(names: tuple, response: pa.Array) -> tuple[pa.Array, pa.Array]:
        n = len(names)
        keys: list = [None] * n
        exps: list = [None] * n
        if n:
            mask = pc.and_(pc.is_in(pa.array(names, type=pa.string()), _ISSUING),
                           pc.is_valid(response))
            for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
                keys[i], exps[i] = _issued(response[i].as_py())
        return (pa.array(keys, type=pa.string()),
                pa.array([parse_time(v) for v in exps] if any(exps) else exps, type=_TS))

    def insights_table(self) -> pa.Table:
        d: dict[str, list] = {name: [] for name, _, _ in INSIGHT_COLUMNS}
        for r, source in zip(self.insight_records, self.insight_sources, strict=True):
            details = _raw_text(r.insightDetails)
            info = {}
            if details:
                try:
                    info = _DECODE(details)
                except msgspec.DecodeError:
                    info = {}
            info = info if isinstance(info, dict) else {}
            d["event_id"].append(r.eventID or _synthetic_id(r))
            d["time"].append(r.eventTime)
            d["event_source"].append(text(info.get("eventSource")))
            d["event_name"].append(text(info.get("eventName")))
            d["insight_type"].append(text(info.get("insightType")))
            d["state"].append(text(info.get("state")))
            d["recipient_account_id"].append(r.recipientAccountId)
            d["region"].append(r.awsRegion)
            d["details"].append(details)
            d["source_file"].append(source)
        arrays = [_times(d[name]) if typ == _TS else pa.array(d[name], type=typ)
                  for name, typ, _ in INSIGHT_COLUMNS]
        return pa.Table.from_arrays(arrays, schema=_INSIGHT_SCHEMA)


def _raw_text(raw: msgspec.Raw) -> str | None:
    if not len(raw):
        return None
    b = bytes(raw)
    return None if b == b"null" else b.decode("utf-8", "replace")


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
        return text(key), text(exp)
    ak = doc.get("accessKey")
    if isinstance(ak, dict):
        return text(ak.get("accessKeyId")), None
    return None, None


def _synthetic_id(r: Record) -> str:
    """A stable id for a record that has none: the same record always gets the same id,
    however its file was formatted (raw payloads are re-encoded without whitespace)."""
    canon = {}
    for name in r.__struct_fields__:
        v = getattr(r, name)
        if isinstance(v, msgspec.Raw):
            v = _DECODE(bytes(v)) if len(v) else None
        canon[name] = v
    digest = hashlib.blake2b(msgspec.json.encode(canon, order="sorted"), digest_size=12).hexdigest()
    return f"gt-{digest}"


def event_keys(table: pa.Table) -> np.ndarray:
    """Identity of each event for deduplication, as ``(n, 2)`` uint64.

    Two records are the same event when eventID, time and event name agree: real eventIDs
    are UUIDs, but hand-edited fixtures reuse ids like ``"1"`` for different events. UUIDs
    are decoded from hex in bulk (numpy); other ids are hashed one by one.

    >>> import pyarrow as pa
    >>> t = pa.table({"event_id": ["0828c0d2-3589-4390-b954-c78b4a7df44b", "1", "1"],
    ...               "time": pa.array([1, 2, 3], pa.timestamp("us", tz="UTC")),
    ...               "event_name": ["A", "B", "B"]})
    >>> k = event_keys(t); len({tuple(r) for r in k.tolist()})
    3
    """
    n = table.num_rows
    ids = table.column("event_id").combine_chunks()
    times = table.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.uint64)
    names = table.column("event_name").combine_chunks().dictionary_encode()
    name_hash = np.array(
        [int.from_bytes(hashlib.blake2b((v or "").encode(), digest_size=8).digest(), "little")
         for v in names.dictionary.to_pylist()] or [0], dtype=np.uint64)
    name_idx = names.indices.fill_null(0).to_numpy(zero_copy_only=False)
    keys = np.zeros((n, 2), dtype=np.uint64)
    is_uuid = pc.fill_null(pc.match_substring_regex(ids, _UUID_RE), False).to_numpy(zero_copy_only=False)
    if is_uuid.any():
        hexes = pc.replace_substring(ids.filter(pa.array(is_uuid)), "-", "")
        buf = np.frombuffer(hexes.buffers()[2], dtype=np.uint8)[: 32 * len(hexes)].reshape(-1, 32)
        nib = _HEX[buf].astype(np.uint64)
        shifts = np.arange(60, -1, -4, dtype=np.uint64)
        keys[is_uuid, 0] = (nib[:, :16] << shifts).sum(axis=1, dtype=np.uint64)
        keys[is_uuid, 1] = (nib[:, 16:] << shifts).sum(axis=1, dtype=np.uint64)
    for i in np.nonzero(~is_uuid)[0].tolist():
        d = hashlib.blake2b(str(ids[i].as_py()).encode(), digest_size=16).digest()
        keys[i, 0] = int.from_bytes(d[:8], "little")
        keys[i, 1] = int.from_bytes(d[8:], "little")
    with np.errstate(over="ignore"):
        keys[:, 0] ^= times * np.uint64(0x9E3779B97F4A7C15)
        keys[:, 1] ^= name_hash[name_idx] ^ _content_hash(table)
    return keys


# What tells two records with one eventID apart when they are not the same event (a reused
# id in hand-edited fixtures, or tampering): copies of one event agree on all of these.
_CONTENT = ("event_source", "region", "recipient_account_id", "identity_type", "identity_arn",
            "principal_id", "access_key_id", "account_id", "source_ip", "user_agent",
            "error_code", "request_parameters", "response_elements")
_PAYLOADS = ("request_parameters", "response_elements")


def _content_hash(table: pa.Table) -> np.ndarray:
    """A stable 64-bit fingerprint of each row's content (pandas' keyed SipHash).

    Payload whitespace does not count: the same event pretty-printed in one file and
    compact in another is one event.
    """
    n = table.num_rows
    if not n:
        return np.zeros(0, dtype=np.uint64)
    cols = []
    for c in _CONTENT:
        if c not in table.column_names:
            continue
        col = table.column(c).cast(pa.string())
        if c in _PAYLOADS:
            col = pc.replace_substring_regex(col, r"[ \t\r\n]+", "")
        cols.append(col)
    if not cols:
        return np.zeros(n, dtype=np.uint64)
    text = pc.binary_join_element_wise(*cols, "\x1f", null_handling="replace", null_replacement="")
    values = text.to_numpy(zero_copy_only=False).astype(object)
    return pd.util.hash_array(values, categorize=False).astype(np.uint64)


_UUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_HEX = np.zeros(256, dtype=np.uint8)
for _c in range(10):
    _HEX[ord("0") + _c] = _c
for _c in range(6):
    _HEX[ord("a") + _c] = 10 + _c
    _HEX[ord("A") + _c] = 10 + _c
