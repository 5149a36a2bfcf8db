"""``graphtrail event``: an eventID an answer cites, opened: its fields, the credential the
graph tied it to, its file, record and SHA-256, and (``--original``) the record read again
from its file or S3 object, with the check that the source did not change since ingest."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json

import boto3
import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.store.memory import MemoryStore
from tests import trails as T
from tests.conftest import ingest_paths, moto_s3

KEY = "AKIAEVENTRECORD0001"
ASIA = "ASIAEVENTRECORD0001"


def _records() -> list[dict]:
    me = T.user(KEY)
    return [
        T.assume_role("2024-08-01T10:00:00Z", me, "ops", "s1", ASIA, "2024-08-01T11:00:00Z",
                      event_id="ev-assume"),
        T.call("ListBuckets", "2024-08-01T10:05:00Z",
               T.assumed("ops", "s1", ASIA, "2024-08-01T10:00:00Z"), event_id="ev-list"),
        T.call("GetObject", "2024-08-01T10:06:00Z",
               T.assumed("ops", "s1", ASIA, "2024-08-01T10:00:00Z"), event_id="ev-get",
               params={"bucketName": "b", "key": "secret.csv"}),
    ]


def _run(*args: str):
    return CliRunner().invoke(app, ["event", *args], catch_exceptions=False)


@pytest.fixture
def trail_case(tmp_path):
    """The records pretty-printed in an S3 delivery file, gzipped, and ingested."""
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "111122223333_CloudTrail_us-east-1_x.json.gz"
    body = json.dumps({"Records": _records()}, indent=2).encode()
    path.write_bytes(gzip.compress(body))
    case = ingest_paths([str(logs)], tmp_path / "case")
    return case, path


def test_an_event_is_opened_with_its_credential_and_its_file(trail_case):
    case, path = trail_case
    result = _run("ev-get", "ev-assume", "--case", str(case.path), "--format", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert [e["event_id"] for e in got] == ["ev-get", "ev-assume"]  # in the order asked
    get, assume = got
    session = T.session_of(MemoryStore(case), ASIA)
    assert get["credential"] == session["session"] and get["credential_kind"] == "Session"
    assert assume["credential"].endswith(KEY)  # the user's long-term key made the AssumeRole
    assert get["request_parameters"] == {"bucketName": "b", "key": "secret.csv"}
    assert assume["issued_key"] == ASIA and assume["time"] == "2024-08-01T10:00:00Z"
    assert get["source_file"] == str(path) and get["source_record"] == 3
    assert get["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_python_api_opens_events_too(trail_case):
    import graphtrail

    case, _ = trail_case
    (get,) = graphtrail.open_case(case.path).event("ev-get")
    assert get["credential"] == T.session_of(MemoryStore(case), ASIA)["session"]
    assert get["source_record"] == 3


def test_original_is_the_record_as_the_file_holds_it(trail_case):
    case, path = trail_case
    result = _run("ev-get", "--case", str(case.path), "--format", "json", "--original")
    assert result.exit_code == 0, result.output
    (get,) = json.loads(result.output)
    original = get["original"]
    assert original["source_unchanged"] is True and original["problem"] is None
    assert original["exact"] is True
    assert original["record"] == _records()[2]  # every field, those graphtrail drops too


def test_a_changed_source_is_said_and_not_trusted(trail_case):
    case, path = trail_case
    changed = _records()
    changed[2]["requestParameters"]["key"] = "innocent.txt"
    path.write_bytes(gzip.compress(json.dumps({"Records": changed}).encode()))
    result = _run("ev-get", "--case", str(case.path), "--format", "json", "--original")
    assert result.exit_code == 0, result.output
    original = json.loads(result.output)[0]["original"]
    assert original["source_unchanged"] is False
    assert "SHA-256 differs" in original["problem"]
    path.unlink()
    result = _run("ev-get", "--case", str(case.path), "--format", "json", "--original")
    original = json.loads(result.output)[0]["original"]
    assert original["record"] is None and "cannot read" in original["problem"]


def test_an_unknown_event_id_is_a_usage_error(trail_case):
    case, _ = trail_case
    result = CliRunner().invoke(app, ["event", "ev-get", "ev-nope", "--case", str(case.path)])
    assert result.exit_code == 2
    assert "ev-nope" in result.output and "not in this case" in result.output


def test_csv_and_table_hold_no_none_or_nan(trail_case):
    case, _ = trail_case
    out = _run("ev-list", "--case", str(case.path), "--format", "csv", "--original").output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and rows[0]["event_name"] == "ListBuckets"
    assert rows[0]["source_unchanged"] == "true" and rows[0]["error_code"] == ""
    assert json.loads(rows[0]["original"])["eventID"] == "ev-list"
    for text in (out, _run("ev-list", "--case", str(case.path)).output):
        assert "None" not in text and "nan" not in text.lower().replace("management", "")


def test_json_lines_and_envelopes(tmp_path):
    """A JSON Lines record comes back byte for byte; one inside lookup-events output comes
    back unwrapped (not exact), and still is the event."""
    logs = tmp_path / "logs"
    logs.mkdir()
    recs = _records()
    lines = [json.dumps(r) for r in recs]
    (logs / "shipped.jsonl").write_text("\n".join(lines) + "\n")
    lookup = {"Events": [{"EventId": "ev-lookup", "EventName": "ListUsers",
                          "CloudTrailEvent": json.dumps(T.call(
                              "ListUsers", "2024-08-01T10:07:00Z",
                              T.assumed("ops", "s1", ASIA, "2024-08-01T10:00:00Z"),
                              event_id="ev-lookup"))}]}
    (logs / "lookup.json").write_text(json.dumps(lookup))
    case = ingest_paths([str(logs)], tmp_path / "case")
    got = json.loads(_run("ev-list", "ev-lookup", "--case", str(case.path), "--format", "json",
                          "--original").output)
    listed, looked_up = (g["original"] for g in got)
    assert listed["exact"] is True and listed["record"] == json.loads(lines[1])
    assert looked_up["exact"] is False and looked_up["problem"] is None
    assert looked_up["record"]["eventID"] == "ev-lookup"


def test_original_of_an_s3_object(tmp_path):
    """Ingested from S3 (moto's server over HTTP), read again from S3 with boto3."""
    body = gzip.compress(json.dumps({"Records": _records()}).encode())
    with moto_s3():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="trail")
        key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/x.json.gz"
        s3.put_object(Bucket="trail", Key=key, Body=body)
        case = tmp_path / "case"
        done = CliRunner().invoke(app, ["ingest", "s3://trail/AWSLogs/", "--case", str(case)])
        assert done.exit_code == 0, done.output
        got = json.loads(_run("ev-assume", "--case", str(case), "--format", "json",
                              "--original").output)[0]
        assert got["source_file"] == f"s3://trail/{key}"
        assert got["original"]["source_unchanged"] is True
        assert got["original"]["record"]["eventID"] == "ev-assume"


def test_kept_sources_prove_a_record_after_the_logs_are_gone(tmp_path):
    """ingest --keep-sources: the case holds each object as read, named by its SHA-256;
    once the log file is deleted, --original reads the record from the case's copy. A
    second ingest of the same file adds no copy; stdin is kept too."""
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "trail.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": _records()}, indent=1).encode()))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    case = tmp_path / "case"
    for _ in range(2):
        done = CliRunner().invoke(app, ["ingest", str(logs), "--case", str(case),
                                        "--keep-sources", "--workers", "1"])
        assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (case / "kept-sources").iterdir()) == [sha]
    assert (case / "kept-sources" / sha).read_bytes() == path.read_bytes()
    info = json.loads(CliRunner().invoke(app, ["case", "info", "--case", str(case),
                                              "--format", "json"]).output)
    assert info["sources_kept"] == 1
    path.unlink()
    got = json.loads(_run("ev-get", "--case", str(case), "--format", "json",
                          "--original").output)[0]["original"]
    assert got["read_from"] == "the case's copy" and got["source_unchanged"] is True
    assert got["exact"] is True and got["record"] == _records()[2]

    stdin_body = json.dumps({"Records": [T.call("ListUsers", "2024-08-01T11:00:00Z",
                                                T.user(KEY), event_id="ev-stdin")]})
    done = CliRunner().invoke(app, ["ingest", "-", "--case", str(case), "--keep-sources"],
                              input=stdin_body)
    assert done.exit_code == 0, done.output
    got = json.loads(_run("ev-stdin", "--case", str(case), "--format", "json",
                          "--original").output)[0]
    assert got["source_file"] == "<stdin>"
    assert got["original"]["record"]["eventID"] == "ev-stdin"
    assert got["original"]["source_unchanged"] is True


def test_keep_sources_on_a_later_ingest_copies_what_the_case_already_holds(trail_case):
    """A case ingested without --keep-sources: ingesting the same file again with it adds
    no event but keeps its copy (the file is known, not yet kept); once more, nothing new."""
    case, path = trail_case
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for _ in range(2):
        done = CliRunner().invoke(app, ["ingest", str(path), "--case", str(case.path),
                                        "--keep-sources", "--workers", "1", "--format", "json"])
        assert done.exit_code == 0, done.output
        summary = json.loads(done.output)
        assert summary["events_added"] == 0 and summary["files_unchanged"] == 1
        assert sorted(p.name for p in (case.path / "kept-sources").iterdir()) == [sha]
    info = json.loads(CliRunner().invoke(app, ["case", "info", "--case", str(case.path),
                                              "--format", "json"]).output)
    assert info["sources_kept"] == 1
    path.unlink()
    got = json.loads(_run("ev-get", "--case", str(case.path), "--format", "json",
                          "--original").output)[0]["original"]
    assert got["read_from"] == "the case's copy" and got["record"] == _records()[2]


def test_keep_sources_fetches_an_s3_object_known_by_its_etag_but_not_kept(tmp_path):
    """An S3 object the case knows by its ETag is not fetched again (it is counted as
    unchanged), unless --keep-sources asks for a copy the case does not have (moto's
    server over HTTP)."""
    body = gzip.compress(json.dumps({"Records": _records()}).encode())
    key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/x.json.gz"
    case = tmp_path / "case"
    with moto_s3():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="trail")
        s3.put_object(Bucket="trail", Key=key, Body=body)
        runs = []
        for extra in ([], [], ["--keep-sources"], ["--keep-sources"]):
            done = CliRunner().invoke(app, ["ingest", "s3://trail/AWSLogs/", "--case", str(case),
                                            "--format", "json", *extra])
            assert done.exit_code == 0, done.output
            assert "no CloudTrail events" not in done.output  # known, not empty
            runs.append(json.loads(done.output))
    assert [(r["files_read"], r["files_unchanged"], r["bytes_read"]) for r in runs] == [
        (1, 0, len(body)),
        (0, 1, 0),  # known by its ETag: not fetched
        (0, 1, len(body)),  # fetched for its copy, its events known
        (0, 1, 0),  # known and kept
    ]
    assert [p.name for p in (case / "kept-sources").iterdir()] == [hashlib.sha256(body).hexdigest()]
    info = json.loads(CliRunner().invoke(app, ["case", "info", "--case", str(case),
                                              "--format", "json"]).output)
    assert info["sources_kept"] == 1


def test_without_keep_sources_nothing_is_copied_and_stray_copies_are_collected(trail_case):
    case, path = trail_case
    assert not (case.path / "kept-sources").exists()
    stray = case.path / "kept-sources" / ("0" * 64)  # adopted by an ingest that never committed
    stray.parent.mkdir()
    stray.write_bytes(b"x")
    theirs = stray.parent / "notes.txt"  # not a name an ingest gives: never touched
    theirs.write_text("mine")
    done = CliRunner().invoke(app, ["ingest", str(path), "--case", str(case.path)])
    assert done.exit_code == 0, done.output
    assert not stray.exists() and theirs.read_text() == "mine"


def test_a_copy_is_kept_only_of_the_bytes_that_were_read(tmp_path):
    from loaders.pipeline import keep_copy

    src = tmp_path / "f.json"
    src.write_bytes(b'{"Records": []}')
    folder = tmp_path / "kept"
    assert keep_copy(str(src), None, hashlib.sha256(b"other bytes").hexdigest(), str(folder)) is False
    assert list(folder.iterdir()) == []  # no copy, no temporary file left
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    assert keep_copy(str(src), None, good, str(folder)) is True
    assert (folder / good).read_bytes() == src.read_bytes()


def test_a_source_given_as_a_relative_path_is_read_from_the_folder_ingest_ran_in(tmp_path,
                                                                                   monkeypatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "trail.json").write_text(json.dumps({"Records": _records()}))
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["ingest", "logs", "--case", "case"])
    assert done.exit_code == 0, done.output
    got = json.loads(_run("ev-list", "--case", "case", "--format", "json", "--original").output)[0]
    assert got["source_file"] == "logs/trail.json"
    assert got["original"]["record"]["eventID"] == "ev-list"
    assert got["original"]["source_unchanged"] is True
    monkeypatch.chdir(logs)
    got = json.loads(_run("ev-list", "--case", "../case", "--format", "json",
                          "--original").output)[0]["original"]
    assert got["record"] is None and "relative path" in got["problem"]
