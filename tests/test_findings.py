"""The detection catalogue against the scenario's ground truth."""

from __future__ import annotations

import re
import shutil

import pytest

from graphtrail.queries.findings import RULES, findings
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore

# ground-truth category -> the rules that must report every one of its events
EXPECTED = {
    "persistence": {"GT-PERS-001", "GT-PERS-002", "GT-PERS-003"},
    "privilege_escalation": {"GT-PERS-004", "GT-PERS-005"},
    "trust_backdoor": {"GT-PERS-006"},
    "defense_evasion": {"GT-DEF-001", "GT-DEF-002", "GT-DEF-003"},
    "credential_access": {"GT-CRED-001"},
    "exfiltration": {"GT-EXF-001", "GT-EXF-002"},
    "resource_hijacking": {"GT-IMP-002"},
    "new_region": {"GT-IMP-001"},
    "failed_assume_role": {"GT-DISC-004"},
    "console_login_without_mfa": {"GT-INIT-002"},
    "root_usage": {"GT-INIT-001"},
}


@pytest.fixture(scope="module")
def found(scenario):
    store, truth = scenario
    return findings(store), truth


@pytest.mark.parametrize("category", sorted(EXPECTED))
def test_every_ground_truth_event_is_found_by_the_right_rule(found, category):
    fs, truth = found
    want = set(truth.findings[category])
    got = {e for f in fs if f.rule_id in EXPECTED[category] for e in f.event_ids}
    assert want and want <= got, (category, want - got)


def test_findings_carry_technique_severity_and_lineage(found):
    fs, truth = found
    assert fs
    for f in fs:
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", f.technique), f
        assert f.severity in ("critical", "high", "medium", "low", "info")
        assert f.event_ids and f.first_seen
        assert f.count >= len(set(f.event_ids)) == len(f.event_ids)
    attacker = set(truth.attacker_event_ids)
    for f in fs:
        if set(f.event_ids) <= attacker and f.rule_id != "GT-EXF-001":
            assert f.lineage and f.lineage[0][0] == truth.leaked_user, f


def test_benign_user_is_never_implicated(found):
    fs, truth = found
    benign = set(truth.benign_event_ids)
    for f in fs:
        if f.severity in ("critical", "high"):
            assert not set(f.event_ids) & benign, f.rule_id


def test_catalogue_is_documented():
    from graphtrail.queries.findings import rules as _  # noqa: F401

    assert len(RULES) >= 20
    for r in RULES.values():
        assert r.doc and r.title and r.tactic and r.technique_name


def test_progress_hears_of_every_rule(scenario, found, tmp_path):
    store, _ = scenario
    copy = tmp_path / "case"  # its own graph build: nothing kept by the runs before
    shutil.copytree(store.case.path, copy, symlinks=True)
    shutil.rmtree(Case.open(copy).graph_dir() / "findings", ignore_errors=True)
    ticks: list[tuple[int, int]] = []
    again = findings(MemoryStore.open(copy), progress=lambda done, total: ticks.append((done, total)))
    assert ticks[0] == (0, len(RULES)) and ticks[-1] == (len(RULES), len(RULES))
    assert [d for d, _ in ticks] == list(range(len(RULES) + 1))
    assert [f.fingerprint for f in again] == [f.fingerprint for f in found[0]]
    ticks.clear()  # asked again: read back, every rule done at once
    findings(MemoryStore.open(copy), progress=lambda done, total: ticks.append((done, total)))
    assert ticks == [(len(RULES), len(RULES))]
