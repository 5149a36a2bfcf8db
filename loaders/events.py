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
import json
import re
from collections import Counter
from datetime import UTC, datetime

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from msgspec.structs import astuple

from graphtrail.families import CREDENTIAL_ISSUING
from graphtrail.model import EVENT_COLUMNS, INSIGHT_COLUMNS, event_schema, insight_schema
from loaders.limits import truncation_marker
from loaders.schema import (
    OnBehalfOf,
    Record,
    SessionAttributes,
    SessionContext,
    SessionIssuer,
    UserIdentity,
    WebIdFederationData,
    identity,
    text,
)

__all__ = ["EventBatch", "parse_time", "event_keys", "ISSUING_EVENTS", "bound_fields", "clean_text",
           "TIME_RANGE", "issued_credential"]

# Records converted to columns at a time: a file's worth, which stays in the CPU caches.
CONVERT_ROWS = 1000
# Calls whose response carries a new credential.
ISSUING_EVENTS = CREDENTIAL_ISSUING.events

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
    arr = _array(values, pa.string()) if values else pa.array([], type=pa.string())
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
    idx = np.nonzero(lens == 4)[0]
    if len(idx):  # literal null: its four bytes compared in bulk
        starts = offsets[idx]
        raw = np.frombuffer(data, dtype=np.uint8)
        is_null = np.ones(len(idx), dtype=bool)
        for k, byte in enumerate(b"null"):
            is_null &= raw[starts + k] == byte
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
    if None in structs:
        empty = (None,) * len(names)
        rows = [astuple(x) if x is not None else empty for x in structs]
    else:
        rows = list(map(astuple, structs))
    return dict(zip(names, zip(*rows, strict=True), strict=True))


def _identity_columns(blocks: tuple) -> dict[str, pa.Array]:
    """The events table's identity columns from the records' raw ``userIdentity`` blocks.

    A session's calls repeat one block, so the blocks are grouped by their bytes (Arrow),
    each distinct block is decoded once (:func:`loaders.schema.identity`, cached across
    files) and made into columns, and the columns are spread back to the records with one
    ``take``. Field by field for every record, this was a third of the conversion.
    """
    coded = _raw_column(list(blocks)).dictionary_encode()
    distinct = [identity(b) for b in coded.dictionary.cast(pa.binary()).to_pylist()]
    ui = _fields(distinct, UserIdentity)
    sc = _fields(list(ui["sessionContext"]), SessionContext)
    iss = _fields(list(sc["sessionIssuer"]), SessionIssuer)
    att = _fields(list(sc["attributes"]), SessionAttributes)
    web = _fields(list(sc["webIdFederationData"]), WebIdFederationData)
    obo = _fields(list(ui["onBehalfOf"]), OnBehalfOf)
    text_columns = {
        "account_id": ui["accountId"], "identity_type": ui["type"], "identity_arn": ui["arn"],
        "principal_id": ui["principalId"], "access_key_id": ui["accessKeyId"],
        "user_name": ui["userName"], "issuer_type": iss["type"], "issuer_arn": iss["arn"],
        "issuer_principal_id": iss["principalId"], "source_identity": sc["sourceIdentity"],
        "invoked_by": ui["invokedBy"], "on_behalf_of": obo["userId"],
        "web_id_provider": [w or p for w, p in zip(web["federatedProvider"],
                                                   ui["identityProvider"], strict=True)],
    }
    columns = {name: _array(v, pa.string()) for name, v in text_columns.items()}
    columns["session_created"] = _times(list(att["creationDate"]))
    columns["mfa"] = pc.equal(pc.utf8_lower(_array(att["mfaAuthenticated"], pa.string())), "true")
    rows = coded.indices
    return {name: col.take(rows) for name, col in columns.items()}


class EventBatch:
    """Accumulates records for one output part and normalizes them column by column.

    Records are kept as typed structs until :meth:`to_table`, which transposes them into
    columns with C-level ``astuple``/``zip`` and lets Arrow parse times: no Python call
    per field per event.
    """

    __slots__ = ("records", "sources", "indexes", "skipped", "unreadable_by_file",
                 "insight_records", "insight_sources", "max_field_bytes", "problems_by_file",
                 "done", "converted")

    def __init__(self, max_field_bytes: int = 64 << 10) -> None:
        self.max_field_bytes = max_field_bytes
        # file -> what was rejected or truncated there, with the record's position
        self.problems_by_file: dict[str, list[str]] = {}
        self.records: list[Record] = []
        self.sources: list[str] = []
        self.indexes: list[int] = []
        self.insight_records: list[Record] = []
        self.insight_sources: list[str] = []
        self.skipped: Counter = Counter()
        self.unreadable_by_file: dict[str, Counter] = {}  # file -> rows dropped, by reason
        self.converted: list[pa.Table] = []  # records already turned into columns
        self.done = 0  # how many records those hold (before rows were dropped)

    @property
    def n(self) -> int:
        return self.done + len(self.records)

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
            self.records.extend(records)
            self.sources.extend([source] * len(records))
            self.indexes.extend(range(len(records)))
            self._convert_when_full()
            return len(records), 0
        ev = ins = 0
        for i, r in enumerate(records):
            what = self.add(r, source, i)
            ev += what == "event"
            ins += what == "insight"
        self._convert_when_full()
        return ev, ins

    def to_table(self) -> pa.Table:
        """The events as an Arrow table in :func:`graphtrail.model.event_schema` order.

        Rows whose ``eventTime`` cannot be read at all are dropped here and counted in
        :attr:`skipped` as ``unreadable eventTime``.
        """
        if self.records or not self.converted:
            self._convert()
        tables, self.converted = self.converted, []
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        # once a part, not once a conversion: a length check a column is cheap on a part,
        # and costs as much on the few thousand rows of a conversion (0.3-0.6 us an event)
        table = bound_fields(table, self.max_field_bytes, self._note)
        return self._drop_unusable_times(table)

    def _convert_when_full(self) -> None:
        """Turn the records taken so far into columns once there are :data:`CONVERT_ROWS`,
        while their objects are still in the CPU caches (a file's records are decoded just
        before): a quarter less time than one transpose of the whole part."""
        if len(self.records) >= CONVERT_ROWS:
            self._convert()

    def _convert(self) -> None:
        """The pending records -> one table in :attr:`converted` (conversion runs between
        files: a file's records land in one table). Their fields are bounded and their
        times checked by :meth:`to_table`, once for the part, in row order: each file's
        problems keep their order."""
        self.converted.append(self._columns())
        self.done += len(self.records)
        self.records, self.sources, self.indexes = [], [], []

    def _columns(self) -> pa.Table:
        recs = self.records
        f = _fields(recs, Record)
        who = _identity_columns(f["userIdentity"])
        ids = list(f["eventID"])
        for i, eid in enumerate(ids):
            if not eid:
                ids[i] = _synthetic_id(recs[i])
        response = _raw_column(list(f["responseElements"]))
        event_name = _array(f["eventName"], pa.string())
        issued_key, issued_exp = self._issued(event_name, response)
        cols = {
            "event_id": _array(ids, pa.string()),
            "time": _times(list(f["eventTime"])),
            "event_version": f["eventVersion"],
            "event_source": f["eventSource"],
            "event_name": event_name,
            "event_type": f["eventType"],
            "event_category": f["eventCategory"],
            "region": f["awsRegion"],
            "account_id": who["account_id"],
            "recipient_account_id": f["recipientAccountId"],
            "source_ip": f["sourceIPAddress"],
            "user_agent": f["userAgent"],
            "error_code": f["errorCode"],
            "error_message": f["errorMessage"],
            "read_only": f["readOnly"],
            "identity_type": who["identity_type"],
            "identity_arn": who["identity_arn"],
            "principal_id": who["principal_id"],
            "access_key_id": who["access_key_id"],
            "user_name": who["user_name"],
            "issuer_type": who["issuer_type"],
            "issuer_arn": who["issuer_arn"],
            "issuer_principal_id": who["issuer_principal_id"],
            "session_created": who["session_created"],
            "mfa": who["mfa"],
            "source_identity": who["source_identity"],
            "invoked_by": who["invoked_by"],
            "on_behalf_of": who["on_behalf_of"],
            "web_id_provider": who["web_id_provider"],
            "from_console": f["sessionCredentialFromConsole"],
            "issued_key": issued_key,
            "issued_expiration": issued_exp,
            "request_parameters": _raw_column(list(f["requestParameters"])),
            "response_elements": response,
            "additional_event_data": _raw_column(list(f["additionalEventData"])),
            "resources": _raw_column(list(f["resources"])),
            "shared_event_id": f["sharedEventID"],
            "request_id": f["requestID"],
            "source_file": _array(self.sources, pa.string()),
            "record_index": pa.array(self.indexes, type=pa.int32()),
        }
        arrays = []
        for name, typ, _ in EVENT_COLUMNS:
            v = cols[name]
            arrays.append(v if isinstance(v, (pa.Array, pa.ChunkedArray)) else _array(v, typ))
        return pa.Table.from_arrays(arrays, schema=_EVENT_SCHEMA)

    def _note(self, source: str, problem: str) -> None:
        self.problems_by_file.setdefault(source, []).append(problem)

    def _drop_unusable_times(self, table: pa.Table) -> pa.Table:
        """Drop rows whose eventTime is unreadable or outside the years graphtrail can
        compute with (:data:`TIME_RANGE`); other times out of range become unknown."""
        for col in ("session_created", "issued_expiration"):
            t = table.column(col)
            table = table.set_column(table.schema.get_field_index(col), col,
                                     pc.if_else(_in_range(t), t, pa.scalar(None, _TS)))
        time = table.column("time")
        ok = pc.fill_null(_in_range(time), False)
        if pc.all(ok).as_py():
            return table
        rows = table.filter(pc.invert(ok)).select(["source_file", "record_index", "time"])
        for f, i, t in zip(*(rows.column(c).to_pylist() for c in ("source_file", "record_index")),
                           rows.column("time").cast(pa.int64()).to_pylist(), strict=True):
            reason = "unreadable eventTime" if t is None else "eventTime out of range"
            if t is not None:
                self._note(f, f"record {i + 1}: eventTime out of range "
                              f"(outside {TIME_RANGE[0]}..{TIME_RANGE[1]}); rejected")
            self.skipped[reason] += 1
            self.unreadable_by_file.setdefault(f, Counter())[reason] += 1
        return table.filter(ok)

    @staticmethod
    def _issued(names: pa.Array, response: pa.Array) -> tuple[pa.Array, pa.Array]:
        """The credential each call's response hands out, and its expiration: read from
        the few issuing calls only, then put in place (a Python step per issuing call,
        not per call)."""
        n = len(names)
        rows = pc.indices_nonzero(pc.fill_null(pc.and_(pc.is_in(names, _ISSUING),
                                                       pc.is_valid(response)), False))
        if not len(rows):
            return pa.nulls(n, pa.string()), pa.nulls(n, _TS)
        found = [issued_credential(v) for v in response.take(rows).to_pylist()]
        at = np.full(n, -1, dtype=np.int64)  # each call's place among the issuing calls
        at[rows.to_numpy()] = np.arange(len(found))
        place = pa.array(at, mask=at < 0)
        return (_array([k for k, _ in found], pa.string()).take(place),
                pa.array([parse_time(e) for _, e in found], type=_TS).take(place))

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
        arrays = [_times(d[name]) if typ == _TS else _array(d[name], typ)
                  for name, typ, _ in INSIGHT_COLUMNS]
        table = pa.Table.from_arrays(arrays, schema=_INSIGHT_SCHEMA)
        return bound_fields(table, self.max_field_bytes, self._note)


# The years an event may carry: pandas (nanoseconds) and every view compute within these.
TIME_RANGE = ("1900-01-01", "2262-01-01")
_TIME_LO, _TIME_HI = (int(datetime.fromisoformat(v).replace(tzinfo=UTC).timestamp() * 1e6)
                      for v in TIME_RANGE)


def _in_range(times) -> pa.Array:
    us = pc.cast(times, pa.int64())
    return pc.and_(pc.greater_equal(us, _TIME_LO), pc.less(us, _TIME_HI))


def _array(values, typ) -> pa.Array:
    """``pa.array``; text that is not valid Unicode (a lone surrogate, ``"\\ud800"``, which
    JSON allows) has it replaced by U+FFFD, so one such field costs nothing else."""
    try:
        return pa.array(values, type=typ)
    except (UnicodeEncodeError, pa.ArrowInvalid, pa.ArrowTypeError):
        if typ != pa.string():
            raise
        return pa.array([clean_text(v) for v in values], type=typ)


def clean_text(v: str | None) -> str | None:
    """Lone surrogates replaced by U+FFFD (``None`` stays ``None``).

    >>> clean_text("a\\ud800b") == "a\\ufffdb", clean_text(None)
    (True, None)
    """
    if v is None:
        return None
    try:
        v.encode("utf-8")
        return v
    except UnicodeEncodeError:
        return v.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def bound_fields(table: pa.Table, limit: int, note) -> pa.Table:
    """Truncate text longer than ``limit`` bytes, keeping its head and a marker with its size.

    Raw JSON payloads become a JSON object that says so (``{"graphtrail_truncated": ...}``),
    so they stay valid JSON. ``note(source_file, problem)`` hears of every cut. One vectorized
    length check a column: the common case (nothing too long) costs next to nothing.
    """
    for i, f in enumerate(table.schema):
        if not pa.types.is_string(f.type) or f.name == "source_file":
            continue
        col = table.column(i)
        lengths = pc.binary_length(col)
        longest = pc.max(lengths).as_py()
        if longest is None or longest <= limit:
            continue
        over = pc.fill_null(pc.greater(lengths, limit), False)
        idx = pc.indices_nonzero(over).to_pylist()
        values = col.to_pylist()
        sources = table.column("source_file").to_pylist() if "source_file" in table.column_names else []
        positions = table.column("record_index").to_pylist() if "record_index" in table.column_names else []
        for j in idx:
            if _MARKED.search(values[j], len(values[j]) - 60):
                continue  # cut already, while the object was read (loaders.bounded)
            size = len(values[j].encode("utf-8", "surrogatepass"))
            values[j] = _cut(values[j], limit, size, f.name in _RAW_COLUMNS)
            if sources:
                where = f"record {positions[j] + 1}" if positions else "a record"
                note(sources[j], f"{where}: {f.name} of {size:,} bytes truncated to {limit:,}")
        table = table.set_column(i, f.name, _array(values, f.type))
    return table


_MARKED = re.compile(re.escape(truncation_marker(0)).replace("0", "[0-9]+") + "$")
_RAW_COLUMNS = {"request_parameters", "response_elements", "additional_event_data", "resources",
                "details"}


def _cut(v: str, limit: int, size: int, raw_json: bool) -> str:
    head = v.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")
    if raw_json:
        return msgspec.json.encode({"graphtrail_truncated": {"original_bytes": size,
                                                             "head": clean_text(head)}}).decode()
    return head + truncation_marker(size)


def _raw_text(raw: msgspec.Raw) -> str | None:
    if not len(raw):
        return None
    b = bytes(raw)
    return None if b == b"null" else b.decode("utf-8", "replace")


def _iso(v: object) -> str | None:
    dt = parse_time(v)
    return dt.isoformat() if dt else None


def issued_credential(response: str) -> tuple[str | None, str | None]:
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
        if name == "userIdentity":  # hashed as the typed struct it was before it stayed raw
            v = identity(v)
        elif isinstance(v, msgspec.Raw):
            v = _DECODE(bytes(v)) if len(v) else None
        canon[name] = v
    try:
        text = msgspec.json.encode(canon, order="sorted")
    except (UnicodeEncodeError, msgspec.EncodeError):  # a lone surrogate: hashed as escaped
        text = json.dumps(canon, sort_keys=True, default=str).encode()
    digest = hashlib.blake2b(text, digest_size=12).hexdigest()
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
    # as bytes: the same SipHash of the same UTF-8 (every case's stored keys stay valid),
    # without a str made and encoded again per row (0.39 of 1.36 us an event)
    values = text.cast(pa.binary()).to_numpy(zero_copy_only=False)
    return pd.util.hash_array(values, categorize=False).astype(np.uint64)


_UUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_HEX = np.zeros(256, dtype=np.uint8)
for _c in range(10):
    _HEX[ord("0") + _c] = _c
for _c in range(6):
    _HEX[ord("a") + _c] = 10 + _c
    _HEX[ord("A") + _c] = 10 + _c
