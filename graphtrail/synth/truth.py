"""What a generated scenario is known to contain: the answers a correct analyzer must give."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["FINDING_CATEGORIES", "Hop", "GroundTruth"]

FINDING_CATEGORIES = {
    "persistence": "CreateUser, CreateAccessKey and CreateLoginProfile by the attacker",
    "privilege_escalation": "AttachUserPolicy AdministratorAccess; CreatePolicyVersion setAsDefault",
    "trust_backdoor": "UpdateAssumeRolePolicy trusting external account 999999999999",
    "defense_evasion": "StopLogging, PutEventSelectors, DeleteTrail, GuardDuty DeleteDetector",
    "credential_access": "the burst of 12 GetSecretValue; SSM GetParameter WithDecryption",
    "exfiltration": "the burst of 60 GetObject on one bucket; a snapshot shared externally",
    "resource_hijacking": "RunInstances of a GPU instance type",
    "new_region": "a call in a region the account did not use in the 21 h of noise before",
    "failed_assume_role": "AssumeRole denied (no credentials issued)",
    "console_login_without_mfa": "ConsoleLogin with additionalEventData.MFAUsed = No",
    "root_usage": "every record whose caller is the root user",
}


@dataclass
class Hop:
    """One step of a role chain: who assumed which role, with which key, and the evidence."""

    index: int
    role_arn: str  # arn:aws:iam::<acct>:role/<name>, without the path
    role_arn_as_written: str  # requestParameters.roleArn and sessionIssuer.arn: with the path
    from_account: str
    to_account: str
    issued_by_key: str  # the access key id that called STS ("" for an AWS service)
    issued_key: str  # the ASIA key it returned
    session_arn: str
    principal_id: str
    issued_at: str
    expires_at: str
    sts_event_ids: list[str]  # every copy written: one when same-account or a side is missing
    shared_event_id: str | None
    one_sided: bool


@dataclass
class GroundTruth:
    """What a correct analyzer must find in the files :func:`build_scenario` wrote.

    ``attacker_event_ids`` is the lineage of the leaked key: every record of a call made with
    it or with a credential it led to (sessions, the backdoor key), failed attempts and both
    copies of cross-account calls included. The external account's later use of the opened
    trust is not lineage: it is ``external_access_event_ids`` (and in ``created``).
    Sets are written as sorted lists by :meth:`to_json`.
    """

    seed: int
    org_id: str
    leaked_key: str
    leaked_user: str
    attacker_ips: list[str]
    attacker_user_agents: list[str]
    chain: list[Hop]
    session_keys: list[dict[str, Any]]
    attacker_event_ids: set[str]
    benign_principal: str
    benign_keys: list[str]
    benign_event_ids: set[str]
    recycled_key: dict[str, Any]
    created: list[dict[str, Any]]
    policy_changes: list[str]
    findings: dict[str, list[str]]
    one_sided_hop: dict[str, Any]
    duplicate_event_ids: set[str]
    failed_assume_role_event_ids: list[str]
    out_of_order_key: dict[str, Any]
    instance_profile_session: dict[str, Any]
    external_access_event_ids: set[str]
    new_region: dict[str, str]
    files: list[str] = field(default_factory=list)
    digest_files: list[str] = field(default_factory=list)
    record_count: int = 0  # records in files, duplicates included
    event_count: int = 0  # distinct eventIDs

    def to_json(self, indent: int | None = 2) -> str:
        """The ground truth as JSON text."""
        data = asdict(self)
        for k, v in data.items():
            if isinstance(v, set):
                data[k] = sorted(v)
        return json.dumps(data, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        """Read back what :meth:`to_json` wrote."""
        data = json.loads(text)
        for f in fields(cls):
            if f.type == "set[str]":
                data[f.name] = set(data[f.name])
        data["chain"] = [Hop(**h) for h in data["chain"]]
        return cls(**data)
