"""Every Stratus Red Team recording raises the finding of its technique (issue 11, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphtrail.queries.findings import RULES, findings
from graphtrail.store.memory import MemoryStore
from tests.conftest import ingest_paths

STRATUS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "stratus"

# recording -> the rule that must report at least one of its events
EXPECTED = {
    "aws.credential-access.ec2-get-password-data": "GT-CRED-002",
    "aws.credential-access.ec2-steal-instance-credentials": "GT-CRED-003",
    "aws.credential-access.secretsmanager-batch-retrieve-secrets": "GT-CRED-001",
    "aws.credential-access.secretsmanager-retrieve-secrets": "GT-CRED-001",
    "aws.credential-access.ssm-retrieve-securestring-parameters": "GT-CRED-001",
    "aws.defense-evasion.cloudtrail-delete": "GT-DEF-001",
    "aws.defense-evasion.cloudtrail-event-selectors": "GT-DEF-002",
    "aws.defense-evasion.cloudtrail-stop": "GT-DEF-001",
    "aws.defense-evasion.dns-delete-logs": "GT-DEF-003",
    "aws.defense-evasion.organizations-leave": "GT-DEF-004",
    "aws.defense-evasion.vpc-remove-flow-logs": "GT-DEF-003",
    "aws.discovery.ec2-download-user-data": "GT-DISC-003",
    "aws.execution.ec2-launch-unusual-instances": "GT-IMP-002",
    "aws.execution.ec2-user-data": "GT-EXEC-002",
    "aws.execution.ssm-send-command": "GT-EXEC-001",
    "aws.execution.ssm-start-session": "GT-EXEC-001",
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": "GT-NET-001",
    "aws.exfiltration.ec2-share-ami": "GT-EXF-002",
    "aws.exfiltration.ec2-share-ebs-snapshot": "GT-EXF-002",
    "aws.exfiltration.rds-share-snapshot": "GT-EXF-002",
    "aws.impact.bedrock-invoke-model": "GT-IMP-003",
    "aws.initial-access.console-login-without-mfa": "GT-INIT-002",
    "aws.lateral-movement.ec2-instance-connect": "GT-LAT-001",
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": "GT-LAT-001",
    "aws.persistence.iam-backdoor-role": "GT-PERS-006",
    "aws.persistence.iam-backdoor-user": "GT-PERS-001",
    "aws.persistence.iam-create-admin-user": "GT-PERS-004",
    "aws.persistence.iam-create-backdoor-role": "GT-PERS-004",
    "aws.persistence.iam-create-user-login-profile": "GT-PERS-002",
    "aws.persistence.lambda-backdoor-function": "GT-PERS-008",
    "aws.persistence.lambda-layer-extension": "GT-PERS-008",
    "aws.persistence.lambda-overwrite-code": "GT-PERS-008",
    "aws.persistence.rolesanywhere-create-trust-anchor": "GT-PERS-009",
    "aws.persistence.sts-federation-token": "GT-PERS-007",
    "aws.privilege-escalation.iam-update-user-login-profile": "GT-PERS-002",
}


@pytest.fixture(scope="module")
def stratus(tmp_path_factory):
    if not STRATUS.is_dir():
        pytest.skip(f"{STRATUS} is absent")
    case = ingest_paths([str(STRATUS)], tmp_path_factory.mktemp("stratus") / "case")
    return findings(MemoryStore(case))


def test_every_recording_is_listed():
    if not STRATUS.is_dir():
        pytest.skip(f"{STRATUS} is absent")
    assert {p.stem for p in STRATUS.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recording_raises_its_finding(stratus, name):
    event_ids = {r["eventID"] for r in json.loads((STRATUS / f"{name}.json").read_text())}
    rule_id = EXPECTED[name]
    hit = [f for f in stratus if f.rule_id == rule_id and event_ids & set(f.event_ids)]
    raised = sorted({f.rule_id for f in stratus if event_ids & set(f.event_ids)})
    assert hit, f"{name}: {rule_id} did not fire (raised: {raised})"
    tactic = name.split(".")[1].replace("-", " ")
    assert RULES[rule_id].tactic.lower() == tactic or rule_id in _OTHER_TACTIC, (name, rule_id)
    for f in hit:
        assert f.technique and f.event_ids and f.fingerprint


# Rules whose ATT&CK tactic differs from Stratus's folder name, and why (see README).
_OTHER_TACTIC = {
    "GT-CRED-003",  # stealing instance credentials *is* credential access (T1552.005)
    "GT-DISC-003",  # the recording's calls are all denied: probing, a discovery signal
    "GT-IMP-002",  # launching unusual instances: Stratus files it under execution; ATT&CK T1496
    "GT-NET-001",  # opening port 22 to the world: ATT&CK T1562.007 (defense evasion)
    "GT-PERS-004",  # administrator granted: ATT&CK privilege escalation
    "GT-PERS-002",  # UpdateLoginProfile: Stratus files it under privilege escalation
}
