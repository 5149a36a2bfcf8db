"""Every public dataset in ../shared/datasets ingests, checked against an independent count.

The expected numbers are computed here with nothing but the stdlib ``json`` module, file by
file, so a record the loaders drop or invent shows up as a difference. Skipped cleanly when
the datasets folder is absent (a fresh clone has no ``../shared``).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import shapes as S

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
if not DATASETS.is_dir():
    pytest.skip(f"{DATASETS} is absent", allow_module_level=True)

INVALID = {  # damaged: named as warnings, the records before the damage kept
    "cloudgrep/bad_cloudtrail.json": "invalid JSON at byte",
    "ct2sightings/aws.execution.ec2-user-data.json": "all 3 records recovered",
}
FOREIGN = {"panther/rule_tests.meta.jsonl": "not CloudTrail"}  # skipped, not failed
SUFFIXES = (".json", ".json.gz", ".jsonl", ".ndjson", ".log", ".gz", ".txt")


# -- the independent reading ---------------------------------------------------------------

def _values(text: str) -> list:
    """Every top-level JSON value of a file: one document, JSON Lines, or values back to back
    (with or without commas between them), stopping at the first that does not parse."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        pass
    dec, pos, out = json.JSONDecoder(), 0, []
    opening = re.match(r'\s*\{\s*"Records"\s*:\s*\[', text)
    if opening:  # a Records array whose elements lack commas: read the elements
        pos = opening.end()
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,]}":
            pos += 1
        if pos >= len(text):
            return out
        try:
            value, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            return out
        out.append(value)


def _records(value) -> list:
    """The CloudTrail-looking dicts inside one value (S3 delivery, lookup-events string)."""
    if isinstance(value, list):
        return [r for v in value for r in _records(v)]
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        return _records(value["Records"])
    if isinstance(value, dict) and isinstance(value.get("CloudTrailEvent"), str):
        return [json.loads(value["CloudTrailEvent"])]
    return [value]


def _get(rec: dict, key: str):
    """A field whatever the case of its key (data-lake exports lower-case them)."""
    if key in rec:
        return rec[key]
    low = key.lower()
    for k, v in rec.items():
        if k.lower() == low:
            return v
    return None


def _time(rec: dict) -> datetime | None:
    value = _get(rec, "eventTime") or rec.get("p_event_time") or rec.get("@timestamp")
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _is_cloudtrail(rec) -> bool:
    return isinstance(rec, dict) and (_get(rec, "eventName") is not None
                                      or _get(rec, "eventSource") is not None)


def _payload(v):
    if isinstance(v, str) and v[:1] in "{[":
        v = json.loads(v)
    return None if v is None else json.dumps(v, sort_keys=True)


def _fingerprint(rec: dict) -> tuple:
    ident = _get(rec, "userIdentity") or {}
    ip = _get(rec, "sourceIPAddress")
    if ip is None and isinstance(rec.get("network"), dict):
        ip = rec["network"].get("client", {}).get("ip")
    agent = _get(rec, "userAgent")
    if agent is None and isinstance(rec.get("http"), dict):
        agent = rec["http"].get("useragent")
    return (_get(rec, "eventID"), _time(rec), _get(rec, "eventName"), _get(rec, "eventSource"),
            _get(rec, "awsRegion"), _get(ident, "arn"), _get(ident, "accessKeyId"), ip, agent,
            _get(rec, "errorCode"), _payload(_get(rec, "requestParameters")),
            _payload(_get(rec, "responseElements")))


def _row_fingerprint(row: dict) -> tuple:
    eid = None if row["event_id"].startswith("gt-") else row["event_id"]
    return (eid, row["time"], row["event_name"], row["event_source"], row["region"],
            row["identity_arn"], row["access_key_id"], row["source_ip"], row["user_agent"],
            row["error_code"],
            _payload(row["request_parameters"]), _payload(row["response_elements"]))


def _read(path: Path) -> list:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return [r for v in _values(raw.decode("utf-8")) for r in _records(v)]


@pytest.fixture(scope="module")
def expected() -> dict:
    """Per file (relative path): every record found, and which are usable events."""
    files = {}
    for path in sorted(DATASETS.rglob("*")):
        if not path.is_file() or not path.name.endswith(SUFFIXES):
            continue
        recs = _read(path)
        ct = [r for r in recs if _is_cloudtrail(r)]
        files[str(path.relative_to(DATASETS))] = {
            "records": len(recs),
            "cloudtrail": ct,
            "events": [r for r in ct if _time(r) is not None],
            "no_time": [r for r in ct if _get(r, "eventTime") is None and _time(r) is None],
            "bad_time": [r for r in ct if _get(r, "eventTime") is not None and _time(r) is None],
        }
    return files


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    summary, case = S.ingest_into(tmp_path_factory.mktemp("datasets") / "case", DATASETS)
    rows = case.events().to_pylist()
    return {"summary": summary, "case": case, "rows": rows,
            "manifest": {str(Path(m["uri"]).relative_to(DATASETS)): m for m in case.manifest()}}


def _rows_from(ingested, folder: str) -> list[dict]:
    return [r for r in ingested["rows"] if f"/{folder}/" in r["source_file"]]


# -- every file ----------------------------------------------------------------------------

def test_every_file_is_read(expected, ingested):
    s = ingested["summary"]
    assert len(expected) > 600
    assert s.files_read == len(expected)
    assert set(ingested["manifest"]) == set(expected)


def test_only_the_invalid_files_are_reported_by_name(ingested):
    failed = {str(Path(f["path"]).relative_to(DATASETS)): f["error"]
              for f in ingested["summary"].files_failed}
    assert set(failed) == set(INVALID)
    for name, words in INVALID.items():
        assert words in failed[name], (name, failed[name])
    skipped = {str(Path(f["path"]).relative_to(DATASETS)): f["reason"]
               for f in ingested["summary"].files_skipped}
    assert set(skipped) == set(FOREIGN)
    for name, words in FOREIGN.items():
        assert words in skipped[name], (name, skipped[name])


def test_the_commaless_file_keeps_all_three_records(expected, ingested):
    name = "ct2sightings/aws.execution.ec2-user-data.json"
    assert len(expected[name]["events"]) == 3
    m = ingested["manifest"][name]
    assert m["records"] == 3 and m["events_added"] + m["duplicates"] == 3


def test_every_record_of_every_file_is_accounted_for(expected, ingested):
    """Per file: records read, events kept (added or duplicate) and skips, as counted here."""
    for name, want in expected.items():
        m = ingested["manifest"][name]
        assert m["records"] == want["records"], name
        assert m["events_added"] + m["duplicates"] == len(want["events"]), name
        skipped = Counter({k: v for k, v in (m["skipped"] or {}).items() if v})
        expect = Counter({"not a CloudTrail record": want["records"] - len(want["cloudtrail"]),
                          "missing eventTime": len(want["no_time"]),
                          "unreadable eventTime": len(want["bad_time"])})
        assert skipped == +expect, name


def test_totals(expected, ingested):
    s = ingested["summary"]
    n_events = sum(len(w["events"]) for w in expected.values())
    assert s.records_read == sum(w["records"] for w in expected.values())
    assert s.events_added + s.duplicates == n_events
    assert s.events_added == ingested["case"].event_count() == len(ingested["rows"])
    # The lookup-events, S3 and fixture files overlap (the same examples in several files).
    assert s.duplicates > 0


def test_every_distinct_record_is_kept(expected, ingested):
    want = {_fingerprint(r) for w in expected.values() for r in w["events"]}
    got = {_row_fingerprint(r) for r in ingested["rows"]}
    assert got == want, (len(want - got), sorted(want - got, key=str)[:3])


def test_identical_copies_are_kept_once(ingested):
    """No two stored events are the same in every column (where they were read aside)."""
    where = {"source_file", "record_index"}
    seen = Counter(tuple(sorted((k, str(v)) for k, v in r.items() if k not in where))
                   for r in ingested["rows"])
    assert max(seen.values()) == 1


# -- what each dataset teaches -------------------------------------------------------------

def test_plaso_lookup_events_lines_with_their_offset(expected, ingested):
    lines = [json.loads(line) for line in (DATASETS / "plaso" / "aws_cloudtrail.jsonl").read_text().splitlines()
             if line.strip()]
    assert lines and all(line["EventTime"].endswith("+11:00") for line in lines)
    rows = {r["event_id"]: r for r in _rows_from(ingested, "plaso")}
    assert len(rows) == len(lines) == 6
    for line in lines:
        local = datetime.fromisoformat(line["EventTime"])
        assert rows[line["EventId"]]["time"] == local.astimezone(UTC), line["EventId"]
        assert rows[line["EventId"]]["event_name"] == line["EventName"]


def test_panther_lower_cased_records_load(expected, ingested):
    lowered = [r for name, w in expected.items() if name.startswith("panther/")
               for r in w["events"] if "eventname" in r]
    assert len(lowered) >= 6
    by_id = {}
    for r in _rows_from(ingested, "panther"):
        by_id.setdefault(r["event_id"], []).append(r)
    for rec in lowered:
        rows = by_id.get(rec["eventid"], [])
        assert any(r["event_name"] == rec["eventname"] and r["event_source"] == rec["eventsource"]
                   and r["time"] == _time(rec) for r in rows), rec["eventid"]


def test_panther_shipper_time_is_used_when_event_time_is_missing(ingested):
    rows = [r for r in _rows_from(ingested, "panther")
            if r["event_name"] == "CreateUser" and r["time"] == datetime(2021, 8, 31, 15, 46, 2, tzinfo=UTC)]
    assert rows  # carried only as p_event_time "2021-08-31 15:46:02.000000000"


def test_ct2sightings_source_ip_from_the_forwarder(expected, ingested):
    rows = _rows_from(ingested, "ct2sightings")
    assert len(rows) == sum(len(w["events"]) for n, w in expected.items() if n.startswith("ct2sightings/"))
    for r in rows:
        assert r["source_ip"] == "62.167.105.104", r["event_id"]
        assert r["user_agent"].startswith("stratus-red-team_"), r["event_id"]


def test_stratus_sts_credentials_are_extracted(expected, ingested):
    issued = {}
    for name, w in expected.items():
        if not name.startswith("stratus/"):
            continue
        for r in w["events"]:
            key = ((r.get("responseElements") or {}).get("credentials") or {}).get("accessKeyId")
            if key:
                issued[r["eventID"]] = (name, r["eventName"], key)
    assert len(issued) == 9  # as the datasets README says
    rows = {r["event_id"]: r for r in _rows_from(ingested, "stratus")}
    for eid, (_, name, key) in issued.items():
        assert rows[eid]["issued_key"] == key, (eid, name)
        assert rows[eid]["event_source"] == "sts.amazonaws.com"
        assert rows[eid]["issued_expiration"] is not None
    # Five of those temporary keys make later calls (one of them is kept from panther's copy
    # of the same record: the dedup keeps the first file read).
    used = set()
    for eid, (_, _, key) in issued.items():
        if any(r["access_key_id"] == key and r["time"] >= rows[eid]["time"] for r in ingested["rows"]):
            used.add(key)
    assert len(used) == 5


def test_traildiscover_masked_keys_are_stored_as_they_are(expected, ingested):
    masked = {r["eventID"] for n, w in expected.items() if n.startswith("traildiscover/")
              for r in w["events"] if (r.get("userIdentity") or {}).get("accessKeyId") == "AKIA****************"}
    assert len(masked) > 100
    rows = {r["event_id"]: r for r in ingested["rows"] if r["event_id"] in masked}
    assert set(rows) == masked
    assert {r["access_key_id"] for r in rows.values()} == {"AKIA****************"}


def test_c7n_record_without_time_is_skipped_with_its_reason(ingested):
    m = ingested["manifest"]["c7n/event-cloud-trail-ec2-create-tags.json"]
    assert (m["records"], m["events_added"], m["error"]) == (1, 0, None)
    assert m["skipped"] == {"missing eventTime": 1}


def test_case_info_on_the_datasets(expected, ingested):
    info = ingested["case"].info()
    assert info["events"] == len(ingested["rows"])
    assert info["files"] == len(expected) and info["files_failed"] == len(INVALID)
    assert info["files_skipped"] == len(FOREIGN)
    times = [_time(r) for w in expected.values() for r in w["events"]]
    assert info["first_event"] == min(times).isoformat().replace("+00:00", "Z")
    assert info["last_event"] == max(times).isoformat().replace("+00:00", "Z")
