"""Every envelope CloudTrail arrives in, down to the same plain records.

The unit tests call :func:`loaders.records.split_records` on bytes; the folder tests run the
whole ingest (``workers=0``) on files laid out as S3 delivers them and read the case back.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
import zlib
from pathlib import Path

import pytest

from loaders.records import split_records
from loaders.schema import identity
from loaders.sources.base import SourceError
from loaders.sources.files import kind_of, list_files
from tests import shapes as S

STORY = S.story()
STORY_IDS = [r["eventID"] for r in STORY]
STORY_NAMES = [r["eventName"] for r in STORY]


def _names(split) -> list[str]:
    return [r.eventName for r in split.records]


def _ids(split) -> list[str]:
    return [r.eventID for r in split.records]


# -- one file, every envelope ----------------------------------------------------------

ENVELOPES = {
    "s3 delivery": ("x.json", lambda recs: S.s3_delivery(recs)),
    "s3 delivery, pretty": (
        "x.json",
        lambda recs: json.dumps({"Records": recs}, indent=2).encode(),
    ),
    "json array": ("x.json", lambda recs: S.json_array(recs)),
    "json array, one line": ("x.json", lambda recs: S.json_array(recs, indent=None)),
    "json lines .jsonl": ("x.jsonl", S.json_lines),
    "json lines .ndjson": ("x.ndjson", S.json_lines),
    "json lines .log": ("x.log", S.json_lines),
    "json lines named .json": ("x.json", S.json_lines),
    "firehose, no separator": ("x", S.concatenated),
    "firehose, s3 documents back to back": (
        "x",
        lambda recs: S.concatenated([{"Records": recs[:3]}, {"Records": recs[3:]}]),
    ),
    "lookup-events response": ("x.json", S.lookup_events_response),
    "lookup-events, one per line": ("x.jsonl", S.lookup_events_lines),
    "eventbridge, one per line": (
        "x.jsonl",
        lambda recs: S.json_lines([S.eventbridge(r) for r in recs]),
    ),
    "eventbridge, array": ("x.json", lambda recs: S.json_array([S.eventbridge(r) for r in recs])),
    "shipper: message as a JSON string": (
        "x.jsonl",
        lambda recs: S.json_lines(
            [
                {"@timestamp": r["eventTime"], "host": "fwd-1", "message": json.dumps(r)}
                for r in recs
            ]
        ),
    ),
    "shipper: elasticsearch _source": (
        "x.json",
        lambda recs: json.dumps(
            {
                "hits": {
                    "hits": [
                        {"_index": "ct", "_id": str(i), "_source": r} for i, r in enumerate(recs)
                    ]
                }
            }
        ).encode(),
    ),
    "shipper: extra top-level keys": (
        "x.jsonl",
        lambda recs: S.json_lines(
            [
                {**r, "p_log_type": "AWS.CloudTrail", "p_row_id": f"row{i}"}
                for i, r in enumerate(recs)
            ]
        ),
    ),
    "lower-cased keys, lines": (
        "x.jsonl",
        lambda recs: S.json_lines([S.lower_keys(r) for r in recs]),
    ),
    "lower-cased keys, s3 delivery": (
        "x.json",
        lambda recs: S.s3_delivery([S.lower_keys(r) for r in recs]),
    ),
    "lower-cased keys, array": (
        "x.json",
        lambda recs: S.json_array([S.lower_keys(r) for r in recs]),
    ),
}


@pytest.mark.parametrize("shape", list(ENVELOPES))
def test_every_envelope_gives_the_same_records_in_order(shape):
    name, build = ENVELOPES[shape]
    out = split_records(build(STORY), name)
    assert out.error is None
    assert not out.skipped, out.problems
    assert _ids(out) == STORY_IDS
    assert _names(out) == STORY_NAMES
    # The identity and the payloads survive every envelope.
    first = out.records[1]
    assert first.eventTime == STORY[1]["eventTime"]
    assert identity(first.userIdentity).arn == STORY[1]["userIdentity"]["arn"]
    assert json.loads(bytes(first.responseElements)) == STORY[1]["responseElements"]
    assert identity(out.records[2].userIdentity).sessionContext.sessionIssuer.arn == S.ROLE_ARN


def test_single_object_file():
    rec = S.assume_role()
    for data in (json.dumps(rec).encode(), json.dumps(rec, indent=4).encode()):
        out = split_records(data, "one.json")
        assert (out.error, _ids(out)) == (None, [rec["eventID"]])


def test_lookup_events_string_is_the_record_not_the_summary():
    """The lookup-events summary fields (local time, ReadOnly as text) are not the record."""
    rec = S.assume_role()
    entry = S.lookup_entry(rec)
    assert entry["EventTime"].endswith("+11:00")
    out = split_records(json.dumps(entry).encode(), "one.json")
    assert out.records[0].eventTime == rec["eventTime"]
    assert out.records[0].requestID == rec["requestID"]


def test_eventbridge_envelope_is_recognised():
    out = split_records(json.dumps(S.eventbridge(S.create_access_key())).encode(), "eb.json")
    assert _names(out) == ["CreateAccessKey"]
    assert identity(out.records[0].userIdentity).userName == "alice"


def test_shipper_timestamp_fills_a_missing_event_time():
    recs = []
    for r in STORY[:3]:
        r = dict(r)
        ts = r.pop("eventTime")
        recs.append({"@timestamp": ts.replace("Z", ".000Z"), **r})
    for name, data in (
        ("a.jsonl", S.json_lines(recs)),
        ("a.json", S.s3_delivery(recs)),
        ("a.json", S.json_array(recs)),
        (
            "a.jsonl",
            S.json_lines(
                [
                    {
                        "@timestamp": x["@timestamp"],
                        "message": json.dumps({k: v for k, v in x.items() if k != "@timestamp"}),
                    }
                    for x in recs
                ]
            ),
        ),
    ):
        out = split_records(data, name)
        assert [r.eventTime for r in out.records] == [x["@timestamp"] for x in recs], name


def test_event_time_wins_over_shipper_timestamp():
    rec = {**S.iam_user_call(), "@timestamp": "2030-01-01T00:00:00Z"}
    out = split_records(S.json_lines([rec, rec]), "x.jsonl")
    assert {r.eventTime for r in out.records} == {rec["eventTime"]}


@pytest.mark.parametrize("container", ["s3 delivery", "lines", "array"])
def test_datadog_forwarder_source_ip_and_user_agent_restored(container):
    recs = [S.datadog_forwarded(r) for r in STORY]
    data = {"s3 delivery": S.s3_delivery, "lines": S.json_lines, "array": S.json_array}[container](
        recs
    )
    out = split_records(data, "dd.jsonl" if container == "lines" else "dd.json")
    assert [r.sourceIPAddress for r in out.records] == [r["sourceIPAddress"] for r in STORY]
    assert [r.userAgent for r in out.records] == [r["userAgent"] for r in STORY]


def test_lower_cased_identity_is_restored():
    rec = S.lower_keys(S.assumed_role_call())
    assert "useridentity" in rec and "sessioncontext" in rec["useridentity"]
    r = split_records(json.dumps(rec).encode(), "x.json").records[0]
    assert r.eventName == "GetCallerIdentity"
    assert identity(r.userIdentity).accessKeyId == S.SESSION_KEY
    assert identity(r.userIdentity).sessionContext.sessionIssuer.arn == S.ROLE_ARN
    assert identity(r.userIdentity).sessionContext.attributes.mfaAuthenticated == "true"


@pytest.mark.parametrize("name,build", [("m.json", S.s3_delivery), ("m.jsonl", S.json_lines)])
def test_identity_alone_lower_cased(name, build):
    """Hand-edited fixtures keep camelCase at the top and lower-case the identity's keys."""
    recs = [dict(r) for r in STORY[1:3]]
    for r in recs:
        r["userIdentity"] = S.lower_keys(r["userIdentity"])
    out = split_records(build(recs), name)
    assert [identity(r.userIdentity).accessKeyId for r in out.records] == [S.ALICE_KEY, S.SESSION_KEY]
    assert [identity(r.userIdentity).principalId for r in out.records] == [
        "AIDAALICEEXAMPLE00001", "AROADEPLOYROLEEXAMPLE:alice-deploy"]
    assert identity(out.records[1].userIdentity).sessionContext.sessionIssuer.arn == S.ROLE_ARN


def test_lower_cased_keys_keep_payload_keys():
    rec = S.lower_keys(S.assume_role())
    r = split_records(json.dumps(rec).encode(), "x.json").records[0]
    assert json.loads(bytes(r.requestParameters))["roleSessionName"] == "alice-deploy"


def test_digest_is_recognised_by_content():
    out = split_records(json.dumps(S.digest_document()).encode(), "somewhere.json")
    assert out.digest and not out.records and out.error is None


@pytest.mark.parametrize(
    "name,build", [("i.json", S.s3_delivery), ("i.jsonl", S.json_lines), ("i.json", S.json_array)]
)
def test_insights_events_are_records_not_junk(name, build):
    out = split_records(build([S.insight_event(n=50), S.insight_event(n=52, state="End")]), name)
    assert not out.skipped
    assert [r.eventType for r in out.records] == ["AwsCloudTrailInsight"] * 2
    assert json.loads(bytes(out.records[1].insightDetails))["state"] == "End"


def test_non_cloudtrail_values_are_counted_not_kept():
    data = S.json_lines([{"rule": "x", "line": 1}, S.iam_user_call(), {"other": [1, 2]}, "text"])
    out = split_records(data, "m.jsonl")
    assert _names(out) == ["ListBuckets"]
    assert out.skipped["not a CloudTrail record"] == 3


def test_invalid_json_line_is_skipped_with_its_line_number():
    data = S.json_lines(STORY[:2]) + b'{"eventName": "Cut\n' + S.json_lines(STORY[2:3])
    out = split_records(data, "x.jsonl")
    assert _ids(out) == STORY_IDS[:3]
    assert out.skipped == {"invalid JSON line": 1}
    assert out.problems and out.problems[0].startswith("line 3:")


def test_invalid_json_names_the_byte():
    good = S.s3_delivery(STORY[:2])
    data = good[:-2] + b",{oops}]}"
    out = split_records(data, "bad.json")
    assert _ids(out) == STORY_IDS[:2]
    assert out.error.startswith(f"invalid JSON at byte {len(good)}:")


def test_objects_without_commas_are_all_recovered():
    pretty = [json.dumps(r, indent=2) for r in STORY[:3]]
    data = ('{"Records": [\n' + "\n".join(pretty) + "\n]}").encode()
    out = split_records(data, "nocomma.json")
    assert _ids(out) == STORY_IDS[:3]
    assert "all 3 records recovered" in out.error


def test_not_json_and_empty():
    assert split_records(b"", "e.json").error == "empty file"
    assert split_records(b"  \n ", "e.json").error == "empty file"
    assert split_records(b"timestamp,event\n1,2\n", "e.log").error.startswith("not JSON")


def test_byte_order_mark_is_ignored():
    out = split_records(b"\xef\xbb\xbf" + S.s3_delivery(STORY[:1]), "bom.json")
    assert _ids(out) == STORY_IDS[:1]


# -- folders as S3 delivers them --------------------------------------------------------


def _trail_tree(root):
    """A single-account trail and an organization trail, with digests and Insights."""
    a, b = STORY[:4], STORY[4:]
    S.write(root / S.s3_key(stamp="20240801T1340Z"), S.gz(S.s3_delivery(a)))
    S.write(root / S.s3_key(stamp="20240801T1345Z").removesuffix(".gz"), S.s3_delivery(b))
    org_recs = [S.iam_user_call("DescribeInstances", "ec2.amazonaws.com", n=60, region="eu-west-1")]
    org_recs[0]["recipientAccountId"] = S.OTHER_ACCOUNT
    S.write(
        root / S.s3_key(S.OTHER_ACCOUNT, "eu-west-1", org=S.ORG_ID), S.gz(S.s3_delivery(org_recs))
    )
    S.write(root / S.s3_key(digest=True), S.gz(json.dumps(S.digest_document()).encode()))
    S.write(
        root / S.s3_key(S.OTHER_ACCOUNT, org=S.ORG_ID, digest=True),
        S.gz(json.dumps(S.digest_document(S.OTHER_ACCOUNT)).encode()),
    )
    S.write(root / S.s3_key(insight=True), S.gz(S.s3_delivery([S.insight_event()])))
    S.write(root / "AWSLogs" / ".hidden.json", S.s3_delivery(STORY))
    S.write(root / "AWSLogs" / "notes.md", b"# not a trail")
    return len(STORY) + len(org_recs)


def test_awslogs_layouts_single_account_and_organization(tmp_path):
    expected = _trail_tree(tmp_path / "logs")
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "logs")
    assert summary.files_failed == []
    assert summary.files_read == 6  # 3 trail files, 2 digests, 1 Insights; no hidden, no .md
    assert summary.digest_files == 2
    assert summary.insights_files == 1
    assert summary.events_added == expected == case.event_count()
    assert summary.insights_added == 1
    files = {r["source_file"] for r in S.rows(case, ["source_file", "time", "event_id"])}
    assert any(f"/AWSLogs/{S.ORG_ID}/{S.OTHER_ACCOUNT}/CloudTrail/eu-west-1/" in f for f in files)
    assert any(f.endswith(".json") for f in files) and any(f.endswith(".json.gz") for f in files)
    ins = case.insights().to_pylist()
    assert [(i["event_name"], i["insight_type"], i["state"]) for i in ins] == [
        ("CreateAccessKey", "ApiCallRateInsight", "Start")
    ]
    kinds = {
        m["uri"].split("/AWSLogs/")[1].split("/")[-5]: m["kind"]
        for m in case.manifest()
        if "Digest" in m["uri"] or "Insight" in m["uri"]
    }
    assert set(kinds.values()) <= {"digest", "insights"}
    info = case.info()
    assert info["digest_files"] == 2 and info["insights"] == 1


def test_digest_files_are_never_events(tmp_path):
    S.write(
        tmp_path / "logs" / S.s3_key(digest=True), S.gz(json.dumps(S.digest_document()).encode())
    )
    # A digest outside its folder is still recognised by its content.
    S.write(tmp_path / "logs" / "copied-digest.json", json.dumps(S.digest_document()).encode())
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "logs")
    assert (summary.digest_files, summary.events_added, summary.files_failed) == (2, 0, [])
    assert case.event_count() == 0
    assert sorted(m["kind"] for m in case.manifest()) == ["digest", "digest"]


def test_insights_go_to_their_own_table(tmp_path):
    recs = [S.insight_event(n=50), S.insight_event(n=52, state="End")] + STORY[:2]
    S.write(tmp_path / "mixed.jsonl", S.json_lines(recs))
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "mixed.jsonl")
    assert summary.files_failed == []
    assert summary.insights_added == 2
    assert case.event_count() == 2
    assert "AwsCloudTrailInsight" not in {r["event_type"] for r in S.rows(case)}
    assert sorted(i["state"] for i in case.insights().to_pylist()) == ["End", "Start"]


def test_gzip_with_several_members(tmp_path):
    data = S.gz(S.json_lines(STORY[:3])) + S.gz(S.json_lines(STORY[3:]))
    S.write(tmp_path / "multi.jsonl.gz", data)
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "multi.jsonl.gz")
    assert summary.files_failed == []
    assert [r["event_id"] for r in S.rows(case)] == STORY_IDS


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path):
    records = [
        S.iam_user_call("GetObject", n=1000 + i, requestParameters={"key": f"k{i:05d}" * 20})
        for i in range(400)
    ]
    body = S.s3_delivery(records)
    raw = gzip.compress(body, compresslevel=1, mtime=0)
    cut = raw[: len(raw) // 2]
    # What a reader can decompress from the prefix, and which records end inside it.
    d = zlib.decompressobj(wbits=47)
    prefix_len = len(d.decompress(cut))
    ends, pos = [], len(b'{"Records":[')
    for r in records:
        pos += len(json.dumps(r, separators=(",", ":")))
        ends.append(pos)
        pos += 1
    expected = sum(1 for e in ends if e <= prefix_len)
    assert 0 < expected < len(records)
    S.write(tmp_path / "logs" / "cut.json.gz", cut)
    S.write(tmp_path / "logs" / "fine.json.gz", S.gz(S.s3_delivery(STORY)))
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "logs")
    assert [f["path"] for f in summary.files_failed] == [str(tmp_path / "logs" / "cut.json.gz")]
    assert summary.files_failed[0]["error"].startswith("truncated gzip")
    assert summary.events_added == expected + len(STORY) == case.event_count()
    kept = [r["event_id"] for r in S.rows(case) if r["source_file"].endswith("cut.json.gz")]
    assert sorted(kept) == sorted(r["eventID"] for r in records[:expected])


@pytest.fixture
def stdin_pipe(monkeypatch):
    """Feed standard input as a shell pipe does: a real file over a pipe, not a BytesIO."""
    opened = []

    def feed(data: bytes) -> None:
        r, w = os.pipe()
        os.write(w, data)  # small enough for the pipe's buffer
        os.close(w)
        opened.append(open(r, encoding="utf-8"))
        monkeypatch.setattr(sys, "stdin", opened[-1])

    yield feed
    for f in opened:
        f.close()


def test_stdin_dash(tmp_path, stdin_pipe):
    stdin_pipe(S.gz(S.json_lines(STORY)))
    summary, case = S.ingest_into(tmp_path / "case", "-")
    assert summary.events_added == len(STORY)
    assert {r["source_file"] for r in S.rows(case)} == {"<stdin>"}
    assert [m["uri"] for m in case.manifest()] == ["<stdin>"]


def test_stdin_dash_with_worker_processes(tmp_path, stdin_pipe):
    stdin_pipe(S.json_lines(STORY))
    summary, _ = S.ingest_into(tmp_path / "case", "-", workers=1)
    assert summary.events_added == len(STORY)


def test_one_file_per_shape_in_one_folder(tmp_path):
    """Every envelope as a file in one folder: each file gives the same seven events."""
    folder = tmp_path / "handed-over"
    for i, (shape, (name, build)) in enumerate(ENVELOPES.items()):
        suffix = "".join(Path(name).suffixes) or ""
        S.write(folder / f"{i:02d}-{shape.replace(' ', '_').replace(':', '')}{suffix}", build(STORY))
    summary, case = S.ingest_into(tmp_path / "case", folder)
    assert summary.files_failed == [] and summary.skipped == {}
    assert summary.files_read == len(ENVELOPES)
    assert summary.events_added == len(STORY)
    assert summary.duplicates == len(STORY) * (len(ENVELOPES) - 1)
    for m in case.manifest():
        assert (m["records"], m["events_added"] + m["duplicates"]) == (len(STORY), len(STORY)), m["uri"]
    got = S.rows(case)
    assert [r["event_id"] for r in got] == STORY_IDS
    assert sorted(filter(None, (r["issued_key"] for r in got))) == sorted(
        ["ASIADEPLOY000EXAMPLE", "ASIALAMBDA000EXAMPLE", S.NEW_USER_KEY])


def test_firehose_objects_without_an_extension(tmp_path):
    prefix = tmp_path / "firehose" / "2024" / "08" / "01" / "13"
    S.write(prefix / "ct-stream-1-2024-08-01-13-45-00-6f1e", S.concatenated(STORY[:4]))
    S.write(prefix / "ct-stream-1-2024-08-01-13-50-00-9c2d", S.gz(S.concatenated(STORY[4:])))
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "firehose")
    assert (summary.files_read, summary.files_failed) == (2, [])
    assert [r["event_id"] for r in S.rows(case)] == STORY_IDS


def test_empty_deliveries_are_not_failures(tmp_path):
    """CloudTrail delivers ``{"Records":[]}`` files; exports write empty arrays and files."""
    S.write(tmp_path / "in" / "a.json.gz", S.gz(b'{"Records":[]}'))
    S.write(tmp_path / "in" / "b.json", b"[]")
    S.write(tmp_path / "in" / "c.json", S.s3_delivery(STORY[:1]))
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "in")
    assert (summary.files_read, summary.files_failed, summary.events_added) == (3, [], 1)


def test_utf16_from_powershell(tmp_path):
    """``aws cloudtrail lookup-events > out.json`` in Windows PowerShell 5 writes UTF-16."""
    text = S.lookup_events_response(STORY).decode()
    S.write(tmp_path / "out.json", text.encode("utf-16"))
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "out.json")
    assert (summary.files_failed, summary.events_added) == ([], len(STORY))


def test_corrupt_gzip_is_reported_and_the_rest_kept(tmp_path):
    raw = bytearray(S.gz(S.s3_delivery([S.iam_user_call(n=500 + i, requestParameters={"i": i})
                                        for i in range(200)])))
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the deflate stream
    S.write(tmp_path / "in" / "corrupt.json.gz", bytes(raw))
    S.write(tmp_path / "in" / "fine.json.gz", S.gz(S.s3_delivery(STORY)))
    summary, case = S.ingest_into(tmp_path / "case", tmp_path / "in")
    assert [f["path"] for f in summary.files_failed] == [str(tmp_path / "in" / "corrupt.json.gz")]
    assert "gzip" in summary.files_failed[0]["error"] or "JSON" in summary.files_failed[0]["error"]
    assert set(STORY_IDS) <= {r["event_id"] for r in S.rows(case)}


def test_corrupt_gzip_keeps_the_records_before_the_damage(tmp_path):
    rng = random.Random(7)
    recs = [S.iam_user_call(n=500 + i, requestParameters={"i": i, "pad": rng.randbytes(40).hex()})
            for i in range(1500)]
    raw = bytearray(S.gz(S.s3_delivery(recs)))
    raw[len(raw) // 2] ^= 0xFF
    S.write(tmp_path / "corrupt.json.gz", bytes(raw))
    summary, _ = S.ingest_into(tmp_path / "case", tmp_path / "corrupt.json.gz")
    assert len(summary.files_failed) == 1
    assert summary.events_added > 500  # about half the file decompresses before the damage


# -- walking files ----------------------------------------------------------------------


def test_list_files_walks_sorted_and_skips_hidden_and_foreign(tmp_path):
    for rel in (
        "b/2.json.gz",
        "b/1.json",
        "a/x.jsonl",
        "a/y.ndjson",
        "a/z.log",
        "a/w.txt",
        "a/.hidden.json",
        ".git/objects.json",
        "a/readme.md",
        "a/data.csv",
        "a/firehose-1-2024-08-01-13-45-00-0a1b2c",
    ):
        S.write(tmp_path / rel, b"{}")
    got = [o.uri for o in list_files([str(tmp_path)])]
    assert got == [
        str(tmp_path / p)
        for p in ("a/firehose-1-2024-08-01-13-45-00-0a1b2c", "a/w.txt", "a/x.jsonl", "a/y.ndjson",
                  "a/z.log", "b/1.json", "b/2.json.gz")
    ]
    # A file named explicitly is read whatever its name.
    assert [o.uri for o in list_files([str(tmp_path / "a/data.csv")])] == [
        str(tmp_path / "a/data.csv")
    ]
    assert list(list_files(["-"]))[0].uri == "<stdin>"
    with pytest.raises(SourceError, match="no such file"):
        list(list_files([str(tmp_path / "missing")]))


def test_kind_of_paths():
    assert kind_of(S.s3_key(digest=True)) == "digest"
    assert kind_of(S.s3_key(org=S.ORG_ID, digest=True)) == "digest"
    assert kind_of(S.s3_key(insight=True)) == "insights"
    assert kind_of(S.s3_key(org=S.ORG_ID)) == "trail"
