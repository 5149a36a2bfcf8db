"""The evidence behind a report: each eventID cited, the file it came from, that file's SHA-256.

A report cites eventIDs in its chain, timeline, findings and lists of what was created. Each
one is looked up in the case: when it happened, what it was, which source file holds it
(the first copy ingested; the case keeps one copy of each event) and the SHA-256, size and
address of that file as the case manifest recorded them at ingest. Anyone holding the
original logs can check a report against them.

The same lookup reads each call's request parameters (shown in the timeline, compacted)
and sums up the data the lineage touched: buckets and objects, secrets, parameters, keys,
snapshots.

>>> request_text('{"bucketName": "b", "key": "a/b.csv", "Host": "b.s3.amazonaws.com", "x": null}')
'bucketName=b key=a/b.csv'
>>> request_text('{"policyDocument": "{\\\\n \\\\"Version\\\\": \\\\"2012-10-17\\\\"}"}')
'policyDocument={"Version":"2012-10-17"}'
>>> resource_service("arn:aws:s3:::acme-exports"), resource_service("ssm:111122223333:/p/k")
('s3', 'ssm')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail import ids
from graphtrail.store.integrity import load_integrity, object_status
from graphtrail.times import micros

__all__ = ["EvidenceFile", "EvidenceEvent", "DataTouched", "Evidence", "gather_evidence",
           "data_touched", "request_text", "resource_service", "DATA_SERVICES"]

# Services whose resources hold data (as opposed to identities, logging or compute).
DATA_SERVICES = frozenset({"s3", "secretsmanager", "ssm", "kms", "dynamodb", "rds", "ebs",
                           "glacier", "redshift", "backup", "efs", "elasticfilesystem",
                           "athena", "glue"})
_EC2_DATA = ("snap-", "vol-")
_REQUEST_MAX = 320
_SAMPLES = 5
_NOISE = frozenset({"Host"})  # S3's Host header repeats the bucket name


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A source file that holds cited events, as the case manifest recorded it."""

    label: str  # F1, F2 ... in the order the files first hold a cited event
    uri: str
    sha256: str | None
    size: int | None
    events: int  # cited events this file holds
    integrity: str = "not verified"  # against CloudTrail's signed digests (graphtrail verify)


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """One cited eventID and where it is written."""

    event_id: str
    time: str | None
    event_name: str | None
    source_file: str | None
    file_label: str | None
    cited_in: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DataTouched:
    """One data resource the lineage used successfully."""

    service: str
    resource: str
    actions: tuple[str, ...]
    calls: int
    first_seen: str | None
    last_seen: str | None
    objects: int = 0  # distinct S3 object keys
    samples: tuple[str, ...] = ()  # a few object keys


@dataclass(frozen=True, slots=True)
class Evidence:
    """Every cited event, the files holding them, and each event's request parameters."""

    events: list[EvidenceEvent]
    files: list[EvidenceFile]
    requests: dict[str, str] = field(default_factory=dict)
    object_keys: dict[str, str] = field(default_factory=dict)  # eventID -> S3 object key
    missing: list[str] = field(default_factory=list)  # cited but not in the case


def gather_evidence(case, cited: Mapping[str, Iterable[str]]) -> Evidence:
    """Look every cited eventID up in ``case``.

    Parameters
    ----------
    case : Case
        The case the report was built from.
    cited : mapping
        eventID -> where the report cites it ("timeline", "chain", a rule id ...).

    Returns
    -------
    Evidence
        Events in time order; files labelled F1, F2 ... in that order.
    """
    wanted = pa.array(sorted(cited), pa.string())
    cols = ["event_id", "time", "event_name", "source_file", "request_parameters"]
    rows = case.events(cols, pc.is_in(pc.field("event_id"), value_set=wanted)).to_pylist()
    rows.sort(key=lambda r: (r["time"] is None, r["time"] or 0, r["event_id"]))
    manifest = {m.get("uri"): m for m in case.manifest()}
    labels: dict[str, str] = {}
    per_file: dict[str, int] = {}
    events, requests, object_keys, seen = [], {}, {}, set()
    for r in rows:
        if r["event_id"] in seen:
            continue
        seen.add(r["event_id"])
        src = r["source_file"]
        if src is not None:
            labels.setdefault(src, f"F{len(labels) + 1}")
            per_file[src] = per_file.get(src, 0) + 1
        when = r["time"]
        events.append(EvidenceEvent(
            event_id=r["event_id"],
            time=ids.iso(micros(when)) if when is not None else None,
            event_name=r["event_name"], source_file=src,
            file_label=labels.get(src) if src is not None else None,
            cited_in=tuple(dict.fromkeys(cited[r["event_id"]]))))
        params = _parse(r["request_parameters"])
        text = request_text(params)
        if text:
            requests[r["event_id"]] = text
        if isinstance(params, dict) and params.get("bucketName") and params.get("key"):
            object_keys[r["event_id"]] = str(params["key"])
    stored = load_integrity(case.path)
    files = [EvidenceFile(label=label, uri=uri, sha256=manifest.get(uri, {}).get("sha256"),
                          size=manifest.get(uri, {}).get("size"), events=per_file[uri],
                          integrity=object_status(stored, uri))
             for uri, label in labels.items()]
    return Evidence(events=events, files=files, requests=requests, object_keys=object_keys,
                    missing=sorted(set(cited) - seen))


def request_text(raw: Any, limit: int = _REQUEST_MAX) -> str:
    """Request parameters as one line, ``name=value`` pairs, nulls left out, clipped."""
    value = _parse(raw)
    if value is None or value == "":
        return ""
    if not isinstance(value, dict):
        return _clip(_compact(value), limit)
    parts = [f"{k}={_compact(v)}" for k, v in value.items() if v is not None and k not in _NOISE]
    return _clip(" ".join(parts), limit)


def data_touched(timeline: pd.DataFrame, object_keys: Mapping[str, str]) -> list[DataTouched]:
    """Data resources the timeline's successful calls used, most used first.

    Parameters
    ----------
    timeline : pandas.DataFrame
        :func:`~graphtrail.queries.timeline.timeline` rows.
    object_keys : mapping
        eventID -> S3 object key (:attr:`Evidence.object_keys`).
    """
    ok = timeline[timeline["outcome"] == "success"]
    groups: dict[str, dict] = {}
    for row in ok[["event_id", "time", "event_name", "resource"]].itertuples(index=False):
        resource = row.resource
        if not isinstance(resource, str) or resource.endswith(":*"):
            continue
        service = resource_service(resource)
        if service not in DATA_SERVICES and not (service == "ec2" and _ec2_data(resource)):
            continue
        item = groups.setdefault(resource, {"service": service, "actions": {}, "calls": 0,
                                            "first": row.time, "last": row.time, "keys": {}})
        item["actions"][row.event_name] = None
        item["calls"] += 1
        item["last"] = row.time
        if service == "s3":
            key = object_keys.get(row.event_id)
            if key:
                item["keys"][key] = None
    out = [DataTouched(service=v["service"], resource=k, actions=tuple(v["actions"]),
                       calls=v["calls"], first_seen=v["first"], last_seen=v["last"],
                       objects=len(v["keys"]), samples=tuple(list(v["keys"])[:_SAMPLES]))
           for k, v in groups.items()]
    out.sort(key=lambda d: (-d.calls, d.resource))
    return out


def resource_service(resource: str) -> str:
    """The AWS service of a resource id: ``arn:aws:<svc>:...`` or graphtrail's ``<svc>:...``."""
    parts = resource.split(":")
    if parts[0] == "arn" and len(parts) > 2:
        return parts[2]
    return parts[0]


def _ec2_data(resource: str) -> bool:
    tail = resource.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return tail.startswith(_EC2_DATA)


def _parse(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # not JSON: shown as it is


def _compact(value: Any) -> str:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and len(stripped) > 1:
            try:  # a policy document written as a string: one line, no padding
                return json.dumps(json.loads(stripped), separators=(",", ":"), ensure_ascii=False)
            except json.JSONDecodeError:
                return value
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())  # newlines and runs of spaces from the logs: one space
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
