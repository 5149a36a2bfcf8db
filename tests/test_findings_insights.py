"""CloudTrail Insights events become findings tied to principals and calls (issue 11, item 9)."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from graphtrail.cli.main import app
from graphtrail.queries.findings import findings
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.insights import build_insights
from tests.conftest import ingest_paths
from tests.test_ingest_cli import _runner

runner = _runner()  # stdout and stderr apart whatever click


@pytest.fixture(scope="module")
def insights_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("insights")
    truth = build_insights(root / "logs")
    case = ingest_paths([str(root / "logs")], root / "case")
    return MemoryStore(case), truth, root


def test_ingest_keeps_the_insights_apart(insights_case):
    store, truth, _ = insights_case
    assert store.case.insights().num_rows == 4
    ids = set(store.case.events(["event_id"]).column("event_id").to_pylist())
    assert not ids & {e for i in truth.insights.values() for e in i["insight_event_ids"]}


@pytest.mark.parametrize("rule_id, insight_type", [("GT-INSIGHT-001", "ApiCallRateInsight"),
                                                   ("GT-INSIGHT-002", "ApiErrorRateInsight")])
def test_a_start_end_pair_is_one_finding_with_its_window_and_calls(insights_case, rule_id, insight_type):
    store, truth, _ = insights_case
    want = truth.insights[insight_type]
    got = [f for f in findings(store, rules=[rule_id])]
    assert len(got) == 1
    f = got[0]
    assert set(f.event_ids) == want["insight_event_ids"] | want["calls"]
    assert not set(f.event_ids) & truth.benign_in_window
    assert f.why["window"] == [want["start"], want["end"]] and f.why["still_open"] is False
    assert set(f.why["attributed"]["userIdentityArn"]) == want["principals"]
    assert set(f.why["principals_in_case"]) == want["principals"]
    assert f.lineage and f.lineage[0][0] in want["principals"]  # the leaked key's user
    assert f.first_seen == want["start"] and f.fingerprint
    if insight_type == "ApiErrorRateInsight":
        assert f.why["error_code"] == "AccessDenied" and "(AccessDenied)" in f.summary
    else:
        assert f.why["insight_per_minute"] == 4.0 and f.why["baseline_per_minute"] == 0.0083


def test_a_start_without_its_end_is_open(insights_case, tmp_path):
    store, truth, root = insights_case
    logs = tmp_path / "logs"
    shutil.copytree(root / "logs", logs)
    want = truth.insights["ApiCallRateInsight"]
    for p in logs.rglob("*_CloudTrail-Insight_*.json.gz"):
        rec = json.loads(gzip.decompress(p.read_bytes()))["Records"][0]
        if rec["insightDetails"]["state"] == "End" and rec["eventID"] in want["insight_event_ids"]:
            p.unlink()
    store = MemoryStore(ingest_paths([str(logs)], tmp_path / "case"))
    (f,) = findings(store, rules=["GT-INSIGHT-001"])
    assert f.why["still_open"] is True and f.why["window"][1] is None
    assert want["calls"] <= set(f.event_ids)  # the window runs on to the end of the logs


def test_cli_explain_and_window_bounds(insights_case):
    store, truth, _ = insights_case
    case = str(store.case.path)
    res = runner.invoke(app, ["findings", "--case", case, "--rule", "GT-INSIGHT-002", "--format", "json"])
    assert res.exit_code == 0, res.output
    (f,) = json.loads(res.stdout)["findings"]
    res = runner.invoke(app, ["findings", "--case", case, "--explain", f["fingerprint"]])
    assert res.exit_code == 0 and "attributed" in res.stdout and "window" in res.stdout
    # a question about the morning does not see the afternoon's insight
    res = runner.invoke(app, ["findings", "--case", case, "--rule", "GT-INSIGHT-002",
                              "--until", "2024-06-12T12:00:00Z", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["findings"] == []
