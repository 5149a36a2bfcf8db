"""Athena's API flow against the tests' Athena look-alike (tests/athena_server.py) over HTTP.

What moto's Athena cannot do: results over several pages (``NextToken``), a query that ends
``FAILED`` with Athena's reason, one that is cancelled while it runs. The rows served are the
generated incident's records as rows of the documented CloudTrail table, rendered as Athena
renders them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime

import boto3
import pytest

from graphtrail.cli.main import app
from loaders.engines import QueryFailed
from loaders.engines.athena import AthenaEngine
from loaders.follow.lineage import FollowSet
from tests.athena_server import FakeAthena, Script, Table, athena_server
from tests.clirunner import cli_runner
from tests.conftest import GRAPHTRAIL, fake_aws_env
from tests.test_follow_engines import athena_text, documented_row, incident_logs, raw_records  # noqa: F401

SINCE, UNTIL = datetime(2024, 6, 12, tzinfo=UTC), datetime(2024, 6, 13, tzinfo=UTC)
URI = "athena://primary/security.cloudtrail_logs_pp"
REASON = "HIVE_BAD_DATA: Error parsing field value for field 7: line 1:1: malformed JSON"


def as_table(records: list[dict]) -> Table:
    rows = [documented_row(r) for r in records]
    columns = list(rows[0])
    return Table(columns, [[athena_text(row[c]) for c in columns] for row in rows])


@pytest.fixture
def athena(monkeypatch):
    fake = FakeAthena()
    with athena_server(fake) as url:
        fake_aws_env(monkeypatch, url)
        yield fake


@pytest.fixture(scope="module")
def seed_records(incident_logs):  # noqa: F811
    _, truth, logs = incident_logs
    mine = [r for r in raw_records(logs)
            if (r.get("userIdentity") or {}).get("accessKeyId") == truth.leaked_key]
    assert len(mine) >= 10  # enough rows for several pages
    return truth.leaked_key, mine


def _engine(sleep=lambda _: None) -> AthenaEngine:
    return AthenaEngine("primary", "security", "cloudtrail_logs_pp",
                        session=boto3.Session(region_name="us-east-1"),
                        output="s3://athena-results/follow/", poll_interval=0, sleep=sleep)


def _run(engine: AthenaEngine, key: str):
    return engine.run(FollowSet.of(keys=[key]), SINCE, UNTIL)


def test_results_over_many_pages_are_the_single_pages_records(athena, seed_records):
    key, mine = seed_records
    athena.scripts = [Script(table=as_table(mine), data_scanned=123_456)]
    one_page = _run(_engine(), key)
    assert len(athena.of("GetQueryResults")) == 1
    athena.page_size = 4  # header + 3 rows, then 4 rows a page
    paged = _run(_engine(), key)
    asked = athena.of("GetQueryResults")[1:]
    pages = -(-(len(mine) + 1) // 4)
    assert len(asked) == pages >= 3
    assert "NextToken" not in asked[0].body
    assert [c.body["NextToken"] for c in asked[1:]] == [f"row-{4 * n}" for n in range(1, pages)]
    assert {c.body["QueryExecutionId"] for c in asked} == {paged.query_id}
    assert paged.records == one_page.records
    assert sorted(r["eventID"] for r in paged.records) == sorted(r["eventID"] for r in mine)
    assert paged.bytes_scanned == 123_456
    # polled until it ended: QUEUED, RUNNING, SUCCEEDED
    assert sum(c.body["QueryExecutionId"] == paged.query_id
               for c in athena.of("GetQueryExecution")) == 3


def test_the_server_saw_the_sql_and_the_window_as_partitions(athena, seed_records):
    key, mine = seed_records
    athena.scripts = [Script(table=as_table(mine[:2]))]
    result = _run(_engine(), key)
    (start,) = athena.of("StartQueryExecution")
    assert start.body["QueryString"] == result.sql
    assert key in result.sql and "cloudtrail_logs_pp" in result.sql
    assert "\"timestamp\" >= '2024/06/11'" in result.sql  # a day of margin each side
    assert "\"timestamp\" <= '2024/06/14'" in result.sql
    assert start.body["WorkGroup"] == "primary"
    assert start.body["QueryExecutionContext"] == {"Database": "security"}
    assert start.body["ResultConfiguration"] == {"OutputLocation": "s3://athena-results/follow/"}


def test_a_failed_query_is_an_error_naming_it_and_athenas_reason(athena):
    athena.scripts = [Script(states=["QUEUED", "RUNNING", "FAILED"], reason=REASON)]
    with pytest.raises(QueryFailed) as failed:
        _run(_engine(), "AKIAEXAMPLEKEY000001")
    (query_id,) = athena.executions
    assert query_id in str(failed.value) and REASON in str(failed.value)
    assert "ended FAILED" in str(failed.value) and not athena.of("GetQueryResults")


def test_a_query_cancelled_elsewhere_is_an_error_naming_it(athena):
    """Someone stops the query in the console while graphtrail polls: an error, not rows."""
    athena.scripts = [Script(states=["QUEUED", "RUNNING", "CANCELLED"])]
    with pytest.raises(QueryFailed, match=r"ended CANCELLED.*query was: SELECT") as cancelled:
        _run(_engine(), "AKIAEXAMPLEKEY000001")
    (query_id,) = athena.executions
    assert query_id in str(cancelled.value) and not athena.of("GetQueryResults")


def test_ctrl_c_stops_the_query_on_the_server(athena):
    athena.scripts = [Script(states=["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"])]

    def interrupted(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(_engine(sleep=interrupted), "AKIAEXAMPLEKEY000001")
    (stop,) = athena.of("StopQueryExecution")
    (execution,) = athena.executions.values()
    assert stop.body == {"QueryExecutionId": execution.query_id}
    assert execution.state == "CANCELLED"


def test_cli_a_query_failing_in_round_two_ingests_nothing(athena, seed_records, tmp_path):
    """Round one answers (the seed's calls), round two (what they issued) fails: exit 1,
    Athena's reason and the query named, and no case folder left half-filled."""
    key, mine = seed_records
    athena.scripts = [Script(states=["SUCCEEDED"], table=as_table(mine)),
                      Script(states=["RUNNING", "FAILED"], reason=REASON)]
    case = tmp_path / "case"
    result = cli_runner().invoke(app, ["ingest", URI, "--follow", key, "--case", str(case),
                                      "--athena-output", "s3://athena-results/follow/"])
    assert result.exit_code == 1, result.output
    first, second = athena.executions
    assert len(athena.of("StartQueryExecution")) == 2
    message = " ".join(result.stderr.split())
    assert second in message and REASON in message and first not in message
    assert not case.exists()


def test_cli_follow_over_pages_ingests_every_record(athena, seed_records, tmp_path):
    key, mine = seed_records
    athena.scripts = [Script(states=["SUCCEEDED"], table=as_table(mine)),
                      Script(states=["SUCCEEDED"], table=Table(as_table(mine).columns, []))]
    athena.page_size = 5
    result = cli_runner().invoke(app, ["ingest", URI, "--follow", key, "--case",
                                      str(tmp_path / "case"), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["follow"]["engine"] == "athena"
    assert summary["follow"]["records_fetched"] == len(mine)
    # the trail delivers some events twice (as CloudTrail does): each is kept once
    assert summary["events_added"] == len({r["eventID"] for r in mine})
    assert summary["events_added"] + summary["duplicates"] == len(mine)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_ctrl_c_stops_the_query_and_writes_no_case(athena, seed_records, tmp_path):
    """SIGINT to the command while Athena runs round two: StopQueryExecution, exit 130, and
    round one's records are not left in a case."""
    key, mine = seed_records
    athena.scripts = [Script(states=["SUCCEEDED"], table=as_table(mine)),
                      Script(states=["QUEUED", "RUNNING"])]  # runs until stopped
    case = tmp_path / "case"
    # Ctrl-C as at a terminal: a job started in the background (CI scripts, `cmd &`) has
    # SIGINT ignored, and a Python started that way never turns it into KeyboardInterrupt
    command = subprocess.Popen([GRAPHTRAIL, "ingest", URI, "--follow", key,
                                "--case", str(case)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    try:
        # a slow start on a loaded machine must not send the signal before round two polls
        deadline = time.monotonic() + 180
        while len(athena.of("GetQueryExecution")) < 2 and time.monotonic() < deadline:
            assert command.poll() is None, command.communicate()
            time.sleep(0.05)
        assert len(athena.of("GetQueryExecution")) >= 2, "round two never polled"
        command.send_signal(signal.SIGINT)
        try:
            _, stderr = command.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            command.kill()
            _, stderr = command.communicate()
            raise AssertionError(f"still running 120 s after Ctrl-C; stderr: {stderr}") from None
    finally:
        command.kill()
    assert command.returncode == 130, stderr
    first, second = athena.executions.values()
    assert [c.body for c in athena.of("StopQueryExecution")] == [
        {"QueryExecutionId": second.query_id}]
    assert first.state == "SUCCEEDED" and second.state == "CANCELLED"
    assert not case.exists()
