"""One event by its eventID: every field the case keeps, the credential that made it, and
where the record came from.

Every answer of graphtrail cites eventIDs; this is how an investigator opens one. The case
keeps each event's fields as they were read, and with them the file (or object) and the
record's position in it, and the manifest keeps that file's SHA-256 as it was read: enough
to find the record again in the original and show it is the same file (the wiring reads the
original, :mod:`loaders.originals`; this module never reads a source).

>>> payload({"request_parameters": '{"roleArn": "arn:aws:iam::1:role/x"}'}, "request_parameters")
{'roleArn': 'arn:aws:iam::1:role/x'}
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.times import iso, micros

__all__ = ["RECORD_FIELDS", "PAYLOADS", "EventNotFound", "events_by_id", "payload"]

# The fields of one event, in the order an investigator reads them (JSON keys, CSV columns).
RECORD_FIELDS = (
    "event_id", "time", "event_name", "event_source", "error_code", "error_message",
    "account", "region", "source_ip", "user_agent",
    "credential", "credential_kind", "access_key_id", "identity_type", "identity_arn",
    "principal_id", "account_id", "user_name", "issuer_type", "issuer_arn", "session_created",
    "mfa", "source_identity", "invoked_by", "on_behalf_of", "web_id_provider", "from_console",
    "issued_key", "issued_expiration",
    "request_parameters", "response_elements", "additional_event_data", "resources",
    "read_only", "event_type", "event_category", "event_version", "shared_event_id",
    "request_id", "source_file", "source_record", "source_sha256", "ingested_at",
)
# Raw JSON text in the case; given back as JSON values (text that is not JSON stays text).
PAYLOADS = ("request_parameters", "response_elements", "additional_event_data", "resources")
_TIMES = ("time", "session_created", "issued_expiration")


class EventNotFound(LookupError):
    """No event of the case has this eventID."""


def events_by_id(case, event_ids: list[str]) -> list[dict]:
    """Every stored event whose eventID is one of ``event_ids``, in the order asked.

    One eventID can name more than one record (the two copies CloudTrail writes of some
    cross-account calls share a sharedEventID, not an eventID; but hand-made files reuse
    ids): each is returned, in time order. ``credential`` is the session or key the graph
    linked the call to (``None`` until the graph is built). Raises :class:`EventNotFound`
    naming the first eventID the case does not hold.
    """
    wanted = list(dict.fromkeys(event_ids))
    table = case.events_with_ids(wanted)
    found = set(table.column("event_id").to_pylist())
    missing = [e for e in wanted if e not in found]
    if missing:
        raise EventNotFound(missing[0])
    actors = _actors(case, wanted)
    files = {m["uri"]: m for m in case.manifest() if m.get("uri")}
    rows = []
    for r in table.to_pylist():
        key = (r["event_id"], micros(r["time"]), r["event_name"], r["source_file"])
        credential, kind = actors.get(key, (None, None))
        m = files.get(r["source_file"], {})
        row = {**r, "account": r["recipient_account_id"], "credential": credential,
               "credential_kind": kind,
               "source_record": r["record_index"] + 1 if r["record_index"] is not None else None,
               "source_sha256": m.get("sha256"), "ingested_at": m.get("ingested_at")}
        for p in PAYLOADS:
            row[p] = payload(r, p)
        for t in _TIMES:
            row[t] = iso(micros(r[t])) if r[t] is not None else None
        rows.append({f: row.get(f) for f in RECORD_FIELDS})
    order = {e: i for i, e in enumerate(wanted)}
    rows.sort(key=lambda r: (order[r["event_id"]], r["time"] or "", r["source_file"] or "",
                             r["source_record"] or 0))
    return rows


def payload(row: dict, name: str):
    """A raw JSON column as a JSON value (``None`` when absent; text that is not JSON, as
    a field cut to the size limit may be, stays text)."""
    text = row.get(name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _actors(case, wanted: list[str]) -> dict[tuple, tuple[str | None, str | None]]:
    """(eventID, time, name, file) -> (credential, kind), from the graph's calls table."""
    if not case.graph_is_current():
        return {}
    calls = case.graph_table(
        "activity", ["event_id", "time", "event_name", "source_file", "actor", "actor_kind"],
        filter=pc.field("event_id").isin(wanted))
    times = calls.column("time").cast(pa.int64()).to_pylist()
    return {(e, t, n, f): (a, k) for e, t, n, f, a, k in zip(
        calls.column("event_id").to_pylist(), times, calls.column("event_name").to_pylist(),
        calls.column("source_file").to_pylist(), calls.column("actor").to_pylist(),
        calls.column("actor_kind").to_pylist(), strict=True)}
