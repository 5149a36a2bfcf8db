"""The same records as Amazon Security Lake stores them: OCSF 1.1 API Activity Parquet.

:func:`ocsf_row` follows AWS's published CloudTrail-to-OCSF mapping (class 6003, source
version 2): the explicitly mapped fields go where the mapping puts them, and the top-level
fields outside it (``sharedEventID``, ``readOnly``, ``additionalEventData``...) go to the
``unmapped`` map, as text. Nested fields outside the mapping are not written: the session
issuer keeps only its ARN (no principal id, type or name), ``sourceIdentity`` and
``onBehalfOf`` are dropped. With ``lean=True`` the rows keep only the explicit mapping and no
response data either: a store that kept less, to test what graphtrail says about it.

>>> row = ocsf_row({"eventTime": "2024-03-01T12:00:00Z", "eventName": "ListUsers",
...                 "eventSource": "iam.amazonaws.com", "sourceIPAddress": "198.51.100.7",
...                 "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAALICE"}})
>>> row["api"]["operation"], row["actor"]["user"]["credential_uid"], row["src_endpoint"]["ip"]
('ListUsers', 'AKIAALICE', '198.51.100.7')
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from graphtrail.ids import is_ip

__all__ = ["OCSF_SCHEMA", "ocsf_row", "write_security_lake"]

_S = pa.string()
OCSF_SCHEMA = pa.schema([
    ("class_uid", pa.int32()), ("category_uid", pa.int32()), ("activity_id", pa.int32()),
    ("type_uid", pa.int64()), ("severity_id", pa.int32()), ("status", _S),
    ("time", pa.int64()), ("time_dt", pa.timestamp("ms", tz="UTC")),
    ("metadata", pa.struct([("uid", _S), ("version", _S), ("event_code", _S),
                            ("product", pa.struct([("name", _S), ("vendor_name", _S),
                                                   ("version", _S),
                                                   ("feature", pa.struct([("name", _S)]))]))])),
    ("api", pa.struct([("operation", _S), ("version", _S),
                       ("service", pa.struct([("name", _S)])),
                       ("request", pa.struct([("uid", _S), ("data", _S)])),
                       ("response", pa.struct([("error", _S), ("message", _S), ("data", _S)]))])),
    ("actor", pa.struct([
        ("user", pa.struct([("type", _S), ("name", _S), ("uid", _S), ("uid_alt", _S),
                            ("credential_uid", _S), ("account", pa.struct([("uid", _S)]))])),
        ("session", pa.struct([("issuer", _S), ("created_time", pa.int64()),
                               ("is_mfa", pa.bool_())])),
        ("invoked_by", _S), ("idp", pa.struct([("name", _S)]))])),
    ("src_endpoint", pa.struct([("ip", _S), ("domain", _S), ("uid", _S)])),
    ("http_request", pa.struct([("user_agent", _S)])),
    ("cloud", pa.struct([("provider", _S), ("region", _S), ("account", pa.struct([("uid", _S)]))])),
    ("resources", pa.list_(pa.struct([("uid", _S), ("type", _S),
                                      ("owner", pa.struct([("account", pa.struct([("uid", _S)]))]))]))),
    ("unmapped", pa.map_(_S, _S)),
])

# Top-level CloudTrail fields outside AWS's explicit mapping: kept in ``unmapped``.
_UNMAPPED = ("sharedEventID", "readOnly", "managementEvent", "sessionCredentialFromConsole",
             "additionalEventData", "tlsDetails", "serviceEventDetails")


def ocsf_row(rec: dict, *, lean: bool = False) -> dict:
    """One CloudTrail record as a Security Lake OCSF API Activity row."""
    ui = rec.get("userIdentity") or {}
    ctx = ui.get("sessionContext") or {}
    attrs = ctx.get("attributes") or {}
    ms = _ms(rec["eventTime"])
    src = rec.get("sourceIPAddress")
    mfa = attrs.get("mfaAuthenticated")
    row = {
        "class_uid": 6003, "category_uid": 6, "activity_id": 99, "type_uid": 600399,
        "severity_id": 1, "status": "Failure" if rec.get("errorCode") else "Success",
        "time": ms, "time_dt": ms,
        "metadata": {"uid": rec.get("eventID"), "version": "1.1.0",
                     "event_code": rec.get("eventType"),
                     "product": {"name": "CloudTrail", "vendor_name": "AWS",
                                 "version": rec.get("eventVersion"),
                                 "feature": {"name": rec.get("eventCategory")}}},
        "api": {"operation": rec.get("eventName"), "version": rec.get("apiVersion"),
                "service": {"name": rec.get("eventSource")},
                "request": {"uid": rec.get("requestID"), "data": _text(rec.get("requestParameters"))},
                "response": {"error": rec.get("errorCode"), "message": rec.get("errorMessage"),
                             "data": None if lean else _text(rec.get("responseElements"))}},
        "actor": {
            "user": {"type": ui.get("type"), "name": ui.get("userName"), "uid": ui.get("arn"),
                     "uid_alt": ui.get("principalId"), "credential_uid": ui.get("accessKeyId"),
                     "account": {"uid": ui.get("accountId")}},
            "session": {"issuer": (ctx.get("sessionIssuer") or {}).get("arn"),
                        "created_time": _ms(attrs["creationDate"]) if attrs.get("creationDate") else None,
                        "is_mfa": None if mfa is None else str(mfa).lower() == "true"}
            if ctx else None,
            "invoked_by": ui.get("invokedBy"),
            "idp": _idp(ui, ctx)},
        "src_endpoint": {"ip": src if is_ip(src) else None, "domain": None if is_ip(src) else src,
                         "uid": rec.get("vpcEndpointId")},
        "http_request": {"user_agent": rec.get("userAgent")},
        "cloud": {"provider": "AWS", "region": rec.get("awsRegion"),
                  "account": {"uid": rec.get("recipientAccountId")}},
        "resources": [{"uid": r.get("ARN"), "type": r.get("type"),
                       "owner": {"account": {"uid": r.get("accountId")}}}
                      for r in rec.get("resources") or [] if isinstance(r, dict)] or None,
        "unmapped": None if lean else [(k, _text(rec[k])) for k in _UNMAPPED if rec.get(k) is not None] or None,
    }
    return row


def write_security_lake(path: str | Path, records: list[dict], *, lean: bool = False,
                        row_group_size: int = 1000) -> Path:
    """Write ``records`` as one Security Lake Parquet object (zstd, as Security Lake does)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([ocsf_row(r, lean=lean) for r in records], schema=OCSF_SCHEMA)
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_size)
    return path


def _idp(ui: dict, ctx: dict) -> dict | None:
    name = (ctx.get("webIdFederationData") or {}).get("federatedProvider") or ui.get("identityProvider")
    return {"name": name} if name else None


def _text(v) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)
