"""CloudWatch Logs inputs: every shape, made from the scenario's own records, ingests to the
same events as the S3-delivered trail; a damaged event is named; ``logs://`` pages through
moto's FilterLogEvents over real HTTP.

A log event carries the whole record as its message, so nothing is lost: every column of
every event equals the S3 case's, except where it came from (``source_file``,
``record_index``).
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.synth import cloudwatch as cw
from loaders.records import split_records
from loaders.sources.cloudwatch import log_group_pages
from tests.conftest import ingest_paths, moto_s3

PROVENANCE = ("source_file", "record_index")  # where an event was read: differs by shape


@pytest.fixture(scope="module")
def trail(scenario):
    """The scenario's records (each eventID once) and its S3 case's events, by eventID."""
    store, _ = scenario
    logs = store.case.path.parent / "logs"
    return cw.trail_records(logs), by_event_id(store.case.events())


def by_event_id(t: pa.Table) -> pa.Table:
    return t.drop_columns(list(PROVENANCE)).sort_by("event_id")


def _streams(events: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in events:
        out.setdefault(e["logStreamName"], []).append(e)
    return out


def write_shape(shape: str, records: list[dict], folder: Path) -> Path:
    """The records as ``shape``, written as a user would be handed them; returns the path."""
    events = cw.log_events(records)
    folder.mkdir(parents=True, exist_ok=True)
    if shape == "filter-log-events":
        half = len(events) // 2  # two pages, saved one file each (--no-paginate --next-token)
        (folder / "page1.json").write_bytes(cw.filter_log_events_output(events[:half], "tok"))
        (folder / "page2.json").write_bytes(cw.filter_log_events_output(events[half:]))
    elif shape == "get-log-events":
        for name, evs in _streams(events).items():
            (folder / f"{name}.json").write_bytes(cw.get_log_events_output(evs))
    elif shape == "s3-export":  # <prefix>/<task id>/<stream>/000000.gz
        for name, evs in _streams(events).items():
            obj = folder / "exportedlogs" / "0a1b2c3d-task" / name / "000000.gz"
            obj.parent.mkdir(parents=True)
            obj.write_bytes(gzip.compress(cw.export_text(evs)))
    elif shape == "insights-api":
        (folder / "results.json").write_bytes(cw.insights_results(events))
    elif shape == "insights-console-json":
        (folder / "logs-insights-results.json").write_bytes(cw.insights_console_json(events))
    elif shape == "insights-console-csv":
        (folder / "logs-insights-results.csv").write_bytes(cw.insights_console_csv(events))
    return folder


SHAPES = ("filter-log-events", "get-log-events", "s3-export", "insights-api",
          "insights-console-json", "insights-console-csv")


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_ingests_to_the_same_events_as_the_s3_trail(shape, trail, tmp_path):
    records, expected = trail
    case = ingest_paths([str(write_shape(shape, records, tmp_path / "in"))], tmp_path / "case")
    got = by_event_id(case.events())
    assert got.num_rows == expected.num_rows == len(records)
    for col in expected.column_names:
        assert got.column(col).equals(expected.column(col)), col


# What damages one log event in each shape, and how the error names it.
DAMAGE = {
    "filter-log-events": ("page1.json", "event 3 (eventId "),
    "get-log-events": (None, "event 3: "),
    "s3-export": (None, "line 3: "),
    "insights-api": ("results.json", "result 3: "),
    "insights-console-json": ("logs-insights-results.json", "row 3: "),
    "insights-console-csv": ("logs-insights-results.csv", "row 3 (line 4): "),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_a_damaged_log_event_is_named_and_costs_only_itself(shape, trail, tmp_path):
    records, _ = trail
    few = records[:40]
    folder = write_shape(shape, few, tmp_path / "in")
    name, where = DAMAGE[shape]
    target = folder / name if name else max((p for p in folder.rglob("*") if p.is_file()),
                                            key=lambda p: (p.stat().st_size, p.name))
    raw = target.read_bytes()
    text = gzip.decompress(raw) if target.suffix == ".gz" else raw
    third = few[[i for i, r in enumerate(few) if _in(target, r, shape)][2]]
    cut = json.dumps(third["eventID"]).encode()
    for needle in (cut, json.dumps(json.dumps(third["eventID"]))[1:-1].encode(),
                   cut.replace(b'"', b'""')):
        if needle in text:  # the record's own eventID, inside the message: break its JSON
            text = text.replace(needle, needle[:-2], 1)
            break
    else:
        raise AssertionError("eventID not found in the shape")
    target.write_bytes(gzip.compress(text) if target.suffix == ".gz" else text)
    res = CliRunner().invoke(app, ["ingest", str(folder), "--case", str(tmp_path / "case"),
                                   "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    [failed] = summary["files_failed"]
    assert failed["path"] == str(target)
    assert failed["error"].startswith(where), failed["error"]
    assert "not JSON" in failed["error"]
    assert summary["events_added"] == len(few) - 1
    assert summary["skipped"] == {"unreadable log event": 1}


def _in(target: Path, rec: dict, shape: str) -> bool:
    """Whether ``rec`` is in the file ``target`` (a stream's file, for per-stream shapes)."""
    if shape not in ("get-log-events", "s3-export"):
        return True
    stream = f"{rec['recipientAccountId']}_CloudTrail_{rec['awsRegion']}"
    return stream in target.as_posix()


# -- logs://, live, against moto's server ---------------------------------------------------

GROUP = "aws-cloudtrail-logs-111111111111"


def shifted(records: list[dict], to: datetime) -> list[dict]:
    """The records moved whole days later so the first falls on ``to``'s day: CloudWatch
    Logs (and moto) refuse log events older than 14 days. Every date in every field moves."""
    first = datetime.fromisoformat(records[0]["eventTime"]).date()
    days = (to.date() - first).days
    text = json.dumps(records)
    for d in sorted({r["eventTime"][:10] for r in records} | _dates(text), reverse=True):
        new = (datetime.fromisoformat(d) + timedelta(days=days)).date().isoformat()
        text = text.replace(f'"{d}T', f'"{new}T')
    return json.loads(text)


def _dates(text: str) -> set[str]:
    import re

    return set(re.findall(r'"(\d{4}-\d\d-\d\d)T', text))


@pytest.fixture(scope="module")
def log_group(trail, tmp_path_factory):
    """The scenario's records, moved to yesterday, put into a log group on moto's server;
    yields (records, endpoint)."""
    records, _ = trail
    now = datetime.now(UTC)
    moved = shifted(records, now - timedelta(days=1))
    moved = [r for r in moved if datetime.fromisoformat(r["eventTime"]) < now]
    with moto_s3() as url:
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        for name, evs in _streams(cw.log_events(moved)).items():
            logs.create_log_stream(logGroupName=GROUP, logStreamName=name)
            for i in range(0, len(evs), 1000):
                logs.put_log_events(logGroupName=GROUP, logStreamName=name, logEvents=[
                    {"timestamp": e["timestamp"], "message": e["message"]} for e in evs[i:i + 1000]])
        yield moved, url


def test_log_group_pages_through_every_event(log_group, tmp_path):
    records, _ = log_group
    pages = list(log_group_pages(f"logs://{GROUP}", session=boto3.Session(), page_size=250))
    assert len(pages) == -(-len(records) // 250) > 2  # more events than one page
    assert len({p.uri for p in pages}) == len(pages)
    got = [json.loads(e["message"])["eventID"] for p in pages for e in json.loads(p.fetch())["events"]]
    assert sorted(got) == sorted(r["eventID"] for r in records)


def test_logs_uri_ingests_like_the_records_from_disk(log_group, tmp_path):
    records, _ = log_group
    disk = tmp_path / "disk" / "trail.json"
    disk.parent.mkdir()
    disk.write_text(json.dumps({"Records": records}, separators=(",", ":")))  # as CloudTrail writes
    expected = by_event_id(ingest_paths([str(disk)], tmp_path / "disk-case").events())
    res = CliRunner().invoke(app, ["ingest", f"logs://{GROUP}", "--case", str(tmp_path / "live"),
                                   "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["events_added"] == len(records)
    assert any("256 KB" in n for n in summary["notes"])
    from graphtrail.store.case import Case

    got = by_event_id(Case.open(tmp_path / "live").events())
    for col in expected.column_names:
        assert got.column(col).equals(expected.column(col)), col


def test_logs_uri_time_window_and_stream_prefix(log_group, tmp_path):
    records, _ = log_group
    times = sorted(r["eventTime"] for r in records)
    since, until = times[len(times) // 4], times[len(times) // 2]
    account = records[0]["recipientAccountId"]
    res = CliRunner().invoke(app, [
        "ingest", f"logs://{GROUP}", "--since", since, "--until", until,
        "--log-stream-prefix", f"{account}_CloudTrail_", "--case", str(tmp_path / "c"),
        "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    want = [r for r in records if since <= r["eventTime"] <= until
            and r["recipientAccountId"] == account]
    assert 0 < len(want) < len(records) // 4
    assert json.loads(res.stdout)["events_added"] == len(want)


def test_logs_uri_unknown_group_is_a_usage_error_naming_it(log_group, tmp_path):
    res = CliRunner().invoke(app, ["ingest", "logs://no-such-group", "--case", str(tmp_path / "c")])
    assert res.exit_code == 2
    assert "no-such-group" in res.output and "log group" in res.output
    assert not (tmp_path / "c").exists()


def test_log_group_exported_to_s3_by_the_export_task_ingests_from_the_bucket(log_group, tmp_path):
    """moto's own CreateExportTask writes the export (``TIME MESSAGE`` lines, gzipped, one
    object per stream, and its ``aws-logs-write-test`` probe); ``s3://`` reads it back."""
    records, _ = log_group
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="log-exports")
    boto3.client("logs").create_export_task(
        logGroupName=GROUP, fromTime=0, to=int(datetime.now(UTC).timestamp() * 1000) + 60_000,
        destination="log-exports", destinationPrefix="trail")
    res = CliRunner().invoke(app, ["ingest", "s3://log-exports/trail/", "--case",
                                   str(tmp_path / "c"), "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["files_failed"] == [] and summary["files_skipped"] == []
    assert summary["events_added"] == len(records)
    probe = s3.get_object(Bucket="log-exports", Key="aws-logs-write-test")["Body"].read()
    assert "aws-logs-write-test" in split_records(probe, "aws-logs-write-test").foreign


def test_a_recycled_key_that_issues_a_session_long_after_it_expired_is_linked(tmp_path):
    """A key id issued twice, then used hours after both expired to assume a role: the
    issuer pass adds the session of that late use while it walks the sessions (this crashed
    the graph build: "dictionary changed size during iteration", met first on the records
    moved in time for the log group above)."""
    from graphtrail.store.memory import MemoryStore
    from tests import shapes as S

    late = S.assume_role(n=36_000, issued="ASIANEXT00000EXAMPLE", session="late",
                         caller=S.assumed_role_identity(key=S.SESSION_KEY),
                         expiration="Aug 2, 2024 12:40:00 AM")
    records = [S.assume_role(n=10, expiration="Aug 1, 2024 2:40:10 PM"),
               S.assume_role(n=7_210, expiration="Aug 1, 2024 4:40:10 PM"), late,
               S.assumed_role_call(n=36_100, key="ASIANEXT00000EXAMPLE")]
    path = S.write(tmp_path / "t.json", json.dumps({"Records": records}).encode())
    store = MemoryStore(ingest_paths([str(path)], tmp_path / "case"))
    keys = str(store.sessions.to_pylist())
    assert store.sessions.num_rows >= 3 and "ASIANEXT00000EXAMPLE" in keys
