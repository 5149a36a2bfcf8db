"""Findings kept beside the graph build they read: the same answer, never a stale one."""

from __future__ import annotations

import json
import shutil

import pytest

from graphtrail.cli.main import app
from graphtrail.queries.findings import findings
from graphtrail.queries.findings.cache import FOLDER
from graphtrail.queries.findings.config import load_config
from graphtrail.store.memory import MemoryStore
from tests.clirunner import cli_runner
from tests.conftest import ingest_paths
from tests.trails import trail_deleted_rule

runner = cli_runner()


@pytest.fixture
def case(demo_case_copy):
    return demo_case_copy


def _kept(case) -> list:
    folder = MemoryStore.open(case).case.graph_dir() / FOLDER
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _dicts(found) -> list[dict]:
    return [f.to_dict() for f in found]


def test_a_second_run_reads_what_the_first_kept_and_answers_the_same(case):
    first = findings(MemoryStore.open(case))
    assert first and len(_kept(case)) == 1
    again = findings(MemoryStore.open(case))
    assert _dicts(again) == _dicts(first)
    assert all(a is not b for a, b in zip(again, first, strict=True))
    # what is kept is what a run computes: a damaged file is computed again, same answer
    _kept(case)[0].write_bytes(b'[{"rule_id": "GT-FAKE-001"}]')
    assert _dicts(findings(MemoryStore.open(case))) == _dicts(first)
    _kept(case)[0].write_text("not json")
    assert _dicts(findings(MemoryStore.open(case))) == _dicts(first)


def test_the_cli_answers_alike_cold_and_warm_and_report_reads_the_same(case, scenario):
    _, truth = scenario

    def listed():
        res = runner.invoke(app, ["findings", "--case", str(case), "--format", "json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    cold = listed()
    assert len(_kept(case)) == 1
    assert listed() == cold
    res = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case", str(case),
                              "--format", "md", "--out", str(case.parent / "r.md")])
    assert res.exit_code == 0, res.output
    assert len(_kept(case)) == 1  # the report asked the same question: nothing new kept


def test_tuning_window_and_rules_are_part_of_the_question(case, tmp_path):
    store = MemoryStore.open(case)
    base = findings(store)
    cfg = tmp_path / "graphtrail.toml"
    cfg.write_text('[thresholds]\nsecret_burst = 1000\n[severity]\nGT-PERS-003 = "low"\n')
    tuned = findings(MemoryStore.open(case), config=load_config(cfg))
    assert not [f for f in tuned if f.rule_id == "GT-CRED-001"]
    assert [f for f in base if f.rule_id == "GT-CRED-001"]
    assert {f.severity for f in tuned if f.rule_id == "GT-PERS-003"} == {"low"}
    one = findings(MemoryStore.open(case), rules=["GT-PERS-003"])
    assert {f.rule_id for f in one} == {"GT-PERS-003"}
    times = sorted(f.first_seen for f in base if f.first_seen)
    from graphtrail.times import micros

    late = findings(MemoryStore.open(case), since=micros(times[len(times) // 2]))
    assert len(late) < len(base)
    assert len(_kept(case)) == 4
    # and each read back as computed
    assert _dicts(findings(MemoryStore.open(case), config=load_config(cfg))) == _dicts(tuned)


def test_suppressions_and_min_severity_apply_to_what_is_kept(case, tmp_path):
    base = findings(MemoryStore.open(case))
    target = next(f for f in base if f.lineage and f.lineage[0])
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'[[suppress]]\nrule = "{target.rule_id}"\nprincipal = "{target.lineage[0][0]}"\n'
                   f'reason = "INC-1"\nexpires = "2030-01-01"\n')
    import datetime as dt

    before = findings(MemoryStore.open(case), config=load_config(cfg), today=dt.date(2029, 1, 1))
    after = findings(MemoryStore.open(case), config=load_config(cfg), today=dt.date(2031, 1, 1))
    assert len(_kept(case)) == 1  # a suppression filters: it does not change what is computed
    assert {f.suppressed for f in before if f.fingerprint == target.fingerprint} == {"INC-1"}
    assert {f.suppressed for f in after if f.fingerprint == target.fingerprint} == {None}
    high = findings(MemoryStore.open(case), min_severity="high")
    assert high and {f.severity for f in high} <= {"critical", "high"}
    assert [f.fingerprint for f in high] == [f.fingerprint for f in base
                                            if f.severity in ("critical", "high")]


def test_a_new_build_is_never_answered_from_an_older_one(case, scenario, tmp_path):
    _, truth = scenario
    findings(MemoryStore.open(case))
    old = _kept(case)
    # more of the trail: a new generation, a new graph build, nothing kept in it yet
    record = {"eventVersion": "1.08", "eventTime": "2024-06-12T10:59:00Z",
              "eventSource": "cloudtrail.amazonaws.com", "eventName": "DeleteTrail",
              "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.77",
              "userAgent": "aws-cli/2.15.0", "eventID": "00000000-0000-4000-8000-00000000abcd",
              "recipientAccountId": "111111111111", "requestParameters": {"name": "org-trail"},
              "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                               "arn": "arn:aws:iam::111111111111:user/ci-deploy",
                               "accountId": "111111111111", "accessKeyId": truth.leaked_key,
                               "userName": "ci-deploy"}}
    more = tmp_path / "more"
    more.mkdir()
    (more / "more.json").write_text(json.dumps({"Records": [record]}))
    ingest_paths([str(more)], case)
    newer = MemoryStore.open(case)
    assert newer.case.graph_dir() != old[0].parent.parent
    found = findings(newer)
    assert "00000000-0000-4000-8000-00000000abcd" in {e for f in found for e in f.event_ids}


def test_a_case_that_cannot_keep_them_still_answers(case):
    store = MemoryStore.open(case)
    first = findings(store)
    folder = store.case.graph_dir() / FOLDER
    shutil.rmtree(folder)
    folder.write_text("a file where the folder would be")  # as read-only media: not writable
    assert _dicts(findings(MemoryStore.open(case))) == _dicts(first)
    assert folder.is_file()


def test_runs_with_sigma_rules_are_not_kept(case, tmp_path):
    rules = trail_deleted_rule(tmp_path / "sigma")
    found = findings(MemoryStore.open(case), sigma=[rules])
    assert found is not None and _kept(case) == []
