"""An attack across an AWS organization, delivered as S3 receives it, with its answer key.

:func:`build_scenario` writes one day of CloudTrail for accounts 111111111111, 222222222222
and 333333333333 and returns a :class:`GroundTruth`: what a correct analyzer must find, each
fact separately testable.

The story. A long-term key of ``user/ci-deploy`` leaks. From TEST-NET addresses with a Kali
user agent it runs ``GetCallerIdentity`` and some listing, fails to assume roles in
444444444444, then chains ``DeployRole`` (111) -> ``ops/OpsAdmin`` (222) -> ``PlatformAdmin``
(333). The third session creates a ``backdoor`` user with an admin key, a login profile for
``bob``, opens a role's trust to 999999999999 and makes a new default policy version; it stops
and deletes trails, deletes the GuardDuty detector, reads secrets and SSM parameters, copies a
bucket, shares a snapshot and starts a GPU instance in a region the account never used. Hours
later the backdoor key is used, and the external account assumes the opened role.

What makes it hard, on purpose: ``alice`` assumes the same two roles at the same time from the
corporate network; one temporary key id is issued twice to unrelated sessions; the caller's
copy of one cross-account hop is missing; the STS record of the first hop is delivered in a
file that sorts after the file where its key is first used; an account trail and the
organization trail deliver some events twice; some files are plain ``.json``.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as out:
...     truth = build_scenario(out, seed=0, noise_events=300)
>>> [hop.role_arn for hop in truth.chain]  # doctest: +NORMALIZE_WHITESPACE
['arn:aws:iam::111111111111:role/DeployRole', 'arn:aws:iam::222222222222:role/OpsAdmin',
 'arn:aws:iam::333333333333:role/PlatformAdmin']
>>> truth.one_sided_hop["hop"], len(truth.findings["credential_access"])
(3, 13)
"""

from __future__ import annotations

import calendar
import json
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from random import Random
from typing import Any

from graphtrail.synth import records as R
from graphtrail.synth.trails import (
    LogFile,
    build_world,
    log_object_key,
    noise_records,
    write_digests,
    write_log_file,
)

__all__ = ["ORG_ID", "FINDING_CATEGORIES", "Hop", "GroundTruth", "build_scenario"]

ORG_ID = "o-a1b2c3d4e5"
A1, A2, A3, A4 = "111111111111", "222222222222", "333333333333", "444444444444"
EXTERNAL = "999999999999"
DAY = calendar.timegm((2024, 6, 12, 0, 0, 0))  # the attack day, 00:00 UTC
WINDOW = 900  # seconds of events per delivered file

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

_KALI_UA = (
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.6.9-kali1-amd64 md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11"
)
_PARROT_UA = "aws-cli/1.22.34 Python/3.9.2 Linux/6.1.0-1parrot1-amd64 botocore/1.23.34"
_CLI_UA = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off"
_BROWSER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1"
_IP_LEAK, _IP_BACKDOOR, _IP_ALICE = "198.51.100.23", "198.51.100.77", "203.0.113.10"
_EXPORTS = "acme-prod-customer-exports"
_GPU_REGION = "ap-northeast-3"
_INSTANCE = "i-0123456789abcdef0"
_VERSIONS = {"sts": "1.08", "iam": "1.09", "ec2": "1.10"}
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


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


def build_scenario(
    out_dir: str | os.PathLike[str], seed: int = 0, noise_events: int = 2000
) -> GroundTruth:
    """Write the scenario under ``out_dir/AWSLogs/`` and return its ground truth.

    ``noise_events`` ordinary records (users, role sessions, instance profiles) surround the
    attack, from 12 h before the attack day to its end. The same seed writes the same bytes.
    """
    story = _Scenario(seed)
    story.noise(noise_events)
    story.recycled_key()
    story.console_and_root()
    story.alice()
    story.attack()
    return story.deliver(Path(out_dir))


def _t(when: str) -> int:
    """Epoch seconds of ``HH:MM[:SS]`` on the attack day."""
    h, m, *s = (int(x) for x in when.split(":"))
    return DAY + h * 3600 + m * 60 + (s[0] if s else 0)


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


class _Scenario:
    """Accumulates records and what each one means; :meth:`deliver` writes them."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = Random(f"scenario/{seed}")
        self.records: list[dict[str, Any]] = []
        self.tag = "noise"  # the story being told: every record emitted gets this tag
        self.tags: dict[str, list[str]] = defaultdict(list)
        self.findings: dict[str, list[str]] = defaultdict(list)
        self.facts: dict[str, Any] = {}
        self.role_ids: dict[str, str] = {}

    # -- emitting -------------------------------------------------------------------------

    def emit(self, rec: dict[str, Any], finding: str | None = None) -> str:
        self.records.append(rec)
        self.tags[self.tag].append(rec["eventID"])
        if finding:
            self.findings[finding].append(rec["eventID"])
        return rec["eventID"]

    def do(
        self,
        actor: R.Actor,
        when: str | int,
        api: str,
        region: str = "us-east-1",
        finding: str | None = None,
        **kw: Any,
    ) -> str:
        """``actor`` calls ``api`` (``"iam:CreateUser"``) at ``when`` (``"09:55"`` or epoch)."""
        svc, name = api.split(":")
        ts = _t(when) if isinstance(when, str) else when
        kw.setdefault("read_only", name.startswith(("Get", "List", "Describe")))
        kw.setdefault("version", _VERSIONS.get(svc, "1.11"))
        rec = R.call(self.rng, actor, ts, f"{svc}.amazonaws.com", name, region, actor.account, **kw)
        return self.emit(rec, finding)

    def hop(
        self,
        actor: R.Actor,
        when: str,
        target: str,
        session: str,
        *,
        one_sided: bool = False,
        key: str | None = None,
        ip: str | None = None,
        duration: int = 3600,
    ) -> tuple[R.Actor, Hop]:
        """``actor`` assumes role ``target``: the STS record(s), the new session's actor."""
        account, name = target.split(":")[4], target.rsplit("/", 1)[1]
        path = target.split(":role", 1)[1][: -len(name)]  # "/ops/" in ...:role/ops/OpsAdmin
        rid = self.role_ids.setdefault(f"{account}/{name}", R.unique_id(self.rng, "AROA"))
        ts, key = _t(when), key or R.key_id(self.rng, "ASIA")
        rec = R.assume_role(
            self.rng, actor, ts, "us-east-1", target, rid, session, key, duration=duration
        )
        ids = []
        if actor.account not in (None, account):  # cross-account: the caller's copy and the owner's
            owner = R.owner_copy(self.rng, rec, account)
            ids += [] if one_sided else [self.emit(rec)]
            ids.append(self.emit(owner))
        else:
            ids.append(self.emit(rec))
        ec2 = actor.identity.get("invokedBy") == "ec2.amazonaws.com"
        ident = R.assumed_role(account, name, rid, session, key, R.iso(ts), path=path, ec2=ec2)
        hop = Hop(
            index=0,
            role_arn=R.role_arn(account, name),
            role_arn_as_written=target,
            from_account=actor.account or account,
            to_account=account,
            issued_by_key=actor.key or "",
            issued_key=key,
            session_arn=ident["arn"],
            principal_id=ident["principalId"],
            issued_at=R.iso(ts),
            expires_at=R.iso(ts + duration),
            sts_event_ids=ids,
            shared_event_id=rec.get("sharedEventID"),
            one_sided=one_sided,
        )
        return R.Actor(ident, ip or actor.ip, actor.user_agent, key), hop

    # -- the story ------------------------------------------------------------------------

    def noise(self, count: int) -> None:
        regions = {
            A1: ("us-east-1", "us-west-2"),
            A2: ("us-east-1", "eu-west-1"),
            A3: ("us-east-1", "us-west-2"),
        }
        world = build_world(
            self.rng,
            (A1, A2, A3),
            regions,
            users_per_account=8,
            roles_per_account=10,
            no_mfa_rate=0,
        )
        world.add_user(A3, "bob", self.rng, "203.0.113.77", _CLI_UA)  # gets a login profile later
        self.role_ids[f"{A3}/AuditReadOnly"] = world.add_role(A3, "AuditReadOnly", self.rng)
        for rec in noise_records(world, count, DAY - 12 * 3600, DAY + 24 * 3600, self.seed):
            self.emit(rec)

    def recycled_key(self) -> None:
        """One ASIA key id issued twice, ten hours apart, to unrelated sessions."""
        key = R.key_id(self.rng, "ASIA")
        self.tag = "recycled1"
        runner = _user(
            self.rng, A1, "report-runner", "192.0.2.50", "Boto3/1.34.69 Botocore/1.34.69"
        )
        report, first = self.hop(
            runner, "03:00", R.role_arn(A1, "ReportingRole"), "nightly-report", key=key
        )
        for i in range(6):
            obj = R.s3_object(
                "acme-1111-reports", f"daily/2024-06-11/part-{i}.csv", A1, "us-east-1"
            )
            self.do(report, _t("03:02") + 300 * i, "s3:GetObject", **obj)
        self.tag = "recycled2"  # EC2 hands the same key id to an instance profile session
        ec2 = R.Actor(R.aws_service("ec2.amazonaws.com"), "ec2.amazonaws.com", "ec2.amazonaws.com")
        web, second = self.hop(
            ec2,
            "13:00",
            R.role_arn(A1, "WebAppRole"),
            _INSTANCE,
            key=key,
            ip="54.210.12.34",
            duration=6 * 3600,
        )
        web = R.Actor(web.identity, web.ip, "aws-sdk-java/1.12.701 Linux/5.10 java/17.0.11", key)
        for i, name in enumerate(("DescribeInstances", "DescribeTags", "DescribeVolumes")):
            self.do(web, _t("13:02") + 600 * i, f"ec2:{name}", params={"filterSet": {}})
        params = {"name": "/webapp/config/feature-flags", "withDecryption": False}
        self.do(web, "13:40", "ssm:GetParameter", params=params)
        sessions = []
        for hop, tag in ((first, "recycled1"), (second, "recycled2")):
            sessions.append(
                {
                    "session_arn": hop.session_arn,
                    "principal_id": hop.principal_id,
                    "role_arn": hop.role_arn,
                    "sts_event_id": hop.sts_event_ids[0],
                    "issued_at": hop.issued_at,
                    "expires_at": hop.expires_at,
                    "event_ids": [e for e in self.tags[tag] if e not in hop.sts_event_ids],
                }
            )
        self.facts["recycled_key"] = {"key": key, "sessions": sessions}
        self.facts["instance_profile_session"] = {
            "key": key,
            "instance_id": _INSTANCE,
            "role_arn": second.role_arn,
            "session_arn": second.session_arn,
            "sts_event_id": second.sts_event_ids[0],
        }

    def console_and_root(self) -> None:
        """carol signs in without MFA; the root user of 222222222222 signs in and looks around."""
        self.tag, rng = "console", self.rng
        carol = R.Actor(
            R.iam_user(A1, "carol", R.unique_id(rng, "AIDA")), "203.0.113.45", _BROWSER_UA
        )
        self.emit(
            R.console_login(rng, carol, _t("08:30"), A1, mfa=False), "console_login_without_mfa"
        )
        signin = R.Actor(R.root(A2), "203.0.113.60", _BROWSER_UA)
        self.emit(R.console_login(rng, signin, _t("11:00"), A2, mfa=True), "root_usage")
        ident = R.root(A2, R.key_id(rng, "ASIA"), created=R.iso(_t("11:00")), mfa=True)
        console = R.Actor(ident, "203.0.113.60", "AWS Internal", ident["accessKeyId"])
        for when, api in (("11:02", "iam:GetAccountSummary"), ("11:03", "iam:ListUsers")):
            self.do(console, when, api, finding="root_usage")
            self.records[-1]["sessionCredentialFromConsole"] = "true"

    def alice(self) -> None:
        """alice assumes DeployRole then ops/OpsAdmin, overlapping the attacker's sessions."""
        self.tag = "benign"
        alice = _user(self.rng, A1, "alice", _IP_ALICE, _CLI_UA)
        self.do(alice, "08:55", "sts:GetCallerIdentity")
        a, hop_a = self.hop(alice, "09:12", R.role_arn(A1, "DeployRole"), "alice")
        for i in range(13):
            self.do(
                a,
                _t("09:13") + 240 * i,
                "ec2:DescribeInstances",
                ("us-east-1", "us-west-2")[i % 2],
                params={"instancesSet": {}, "filterSet": {}},
            )
        b, hop_b = self.hop(a, "09:40", R.role_arn(A2, "OpsAdmin", "/ops/"), "alice")
        for i in range(12):
            api = ("s3:ListBuckets", "ec2:DescribeInstances", "sts:GetCallerIdentity")[i % 3]
            self.do(b, _t("09:41") + 240 * i, api, "eu-west-1")
        self.facts["benign"] = (
            alice.identity["arn"],
            [alice.key, hop_a.issued_key, hop_b.issued_key],
        )

    def attack(self) -> None:
        self.tag = "attacker"
        leak = _user(self.rng, A1, "ci-deploy", _IP_LEAK, _KALI_UA)
        self.facts["leak"] = leak
        self.do(leak, "09:00:05", "sts:GetCallerIdentity")
        self.do(leak, "09:01", "iam:ListUsers")
        self.do(leak, "09:02", "iam:ListRoles")
        self.do(leak, "09:03", "iam:ListAttachedUserPolicies", params={"userName": "ci-deploy"})
        self.do(leak, "09:04", "iam:ListPolicies", params={"scope": "Local"})
        self.do(leak, "09:05", "s3:ListBuckets")
        for when, role in (
            ("09:08", "OrganizationAccountAccessRole"),
            ("09:09", "OrganizationAccountAccessRole"),
            ("09:10", "Admin"),
        ):
            target = R.role_arn(A4, role)
            denied = (
                "AccessDenied",
                R.denied_message(leak.identity["arn"], "sts:AssumeRole", target),
            )
            rec = R.assume_role(
                self.rng,
                leak,
                _t(when),
                "us-east-1",
                target,
                "",
                f"botocore-session-{_t(when)}",
                None,
                error=denied,
            )
            del rec["sharedEventID"]  # the role owner logs nothing: only the caller's copy exists
            self.emit(rec, "failed_assume_role")
        s1, h1 = self.hop(
            leak, "09:20:10", R.role_arn(A1, "DeployRole"), f"botocore-session-{_t('09:20')}"
        )
        self.facts["late_sts"] = h1.sts_event_ids[0]
        self.do(s1, "09:20:40", "sts:GetCallerIdentity")
        self.do(s1, "09:22", "iam:ListRoles")
        self.do(s1, "09:23", "iam:GetRole", params={"roleName": "DeployRole"})
        s2, h2 = self.hop(
            s1, "09:35", R.role_arn(A2, "OpsAdmin", "/ops/"), f"botocore-session-{_t('09:35')}"
        )
        self.do(s2, "09:36", "sts:GetCallerIdentity")
        self.do(s2, "09:38", "s3:ListBuckets")
        self.do(
            s2,
            "09:40",
            "ec2:DescribeInstances",
            "eu-west-1",
            params={"instancesSet": {}, "filterSet": {}},
        )
        self.do(s2, "09:45", "iam:ListRoles")
        s3, h3 = self.hop(
            s2,
            "09:50",
            R.role_arn(A3, "PlatformAdmin"),
            f"botocore-session-{_t('09:50')}",
            one_sided=True,
        )
        for i, hop in enumerate((h1, h2, h3), 1):
            hop.index = i
        self.facts["chain"] = [h1, h2, h3]
        self.do(s3, "09:51", "sts:GetCallerIdentity")
        self.do(s3, "09:52", "iam:ListUsers")
        self._persist(s3)
        self._evade_and_steal(s3)
        self._come_back()

    def _persist(self, s3: R.Actor) -> None:
        rng = self.rng
        user_id, key = R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA")
        user_arn, bob = f"arn:aws:iam::{A3}:user/backdoor", f"arn:aws:iam::{A3}:user/bob"
        policy = f"arn:aws:iam::{A3}:policy/DataPipelineAccess"
        made = _iam_date
        e_user = self.do(
            s3,
            "09:55",
            "iam:CreateUser",
            finding="persistence",
            params={"userName": "backdoor"},
            response={
                "user": {
                    "path": "/",
                    "userName": "backdoor",
                    "userId": user_id,
                    "arn": user_arn,
                    "createDate": made("09:55"),
                }
            },
        )
        e_key = self.do(
            s3,
            "09:56",
            "iam:CreateAccessKey",
            finding="persistence",
            params={"userName": "backdoor"},
            response={
                "accessKey": {
                    "userName": "backdoor",
                    "accessKeyId": key,
                    "status": "Active",
                    "createDate": made("09:56"),
                }
            },
        )
        e_attach = self.do(
            s3,
            "09:56:30",
            "iam:AttachUserPolicy",
            finding="privilege_escalation",
            params={
                "userName": "backdoor",
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
            },
        )
        e_login = self.do(
            s3,
            "09:58",
            "iam:CreateLoginProfile",
            finding="persistence",
            params={"userName": "bob", "passwordResetRequired": False},
            response={
                "loginProfile": {
                    "userName": "bob",
                    "createDate": made("09:58"),
                    "passwordResetRequired": False,
                }
            },
        )
        trust = _policy(
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{EXTERNAL}:root"},
                "Action": "sts:AssumeRole",
            },
        )
        e_trust = self.do(
            s3,
            "10:00",
            "iam:UpdateAssumeRolePolicy",
            finding="trust_backdoor",
            params={"roleName": "AuditReadOnly", "policyDocument": trust},
        )
        e_version = self.do(
            s3,
            "10:02",
            "iam:CreatePolicyVersion",
            finding="privilege_escalation",
            params={
                "policyArn": policy,
                "setAsDefault": True,
                "policyDocument": _policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
            },
            response={
                "policyVersion": {
                    "versionId": "v3",
                    "isDefaultVersion": True,
                    "createDate": made("10:02"),
                }
            },
        )
        self.facts["policy_changes"] = [e_attach, e_trust, e_version]
        self.facts["created"] = [
            {"type": "User", "id": user_arn, "event_id": e_user},
            {"type": "AccessKey", "id": key, "event_id": e_key},
            {"type": "LoginProfile", "id": bob, "event_id": e_login},
            {"type": "PolicyVersion", "id": f"{policy}:v3", "event_id": e_version},
            {"type": "RoleTrust", "id": R.role_arn(A3, "AuditReadOnly"), "event_id": e_trust},
        ]
        self.facts["backdoor"] = R.Actor(
            R.iam_user(A3, "backdoor", user_id, key), _IP_BACKDOOR, _PARROT_UA, key
        )

    def _evade_and_steal(self, s3: R.Actor) -> None:
        trail = f"arn:aws:cloudtrail:us-east-1:{A3}:trail/management-events"
        selectors = [
            {
                "readWriteType": "All",
                "includeManagementEvents": False,
                "dataResources": [],
                "excludeManagementEventSources": [],
            }
        ]
        evade = "defense_evasion"
        self.do(s3, "10:05", "cloudtrail:StopLogging", finding=evade, params={"name": trail})
        self.do(
            s3,
            "10:05:30",
            "cloudtrail:PutEventSelectors",
            finding=evade,
            params={"trailName": trail, "eventSelectors": selectors},
            response={"trailARN": trail, "eventSelectors": selectors},
        )
        self.do(
            s3, "10:06", "cloudtrail:DeleteTrail", finding=evade, params={"name": "security-audit"}
        )
        self.do(
            s3,
            "10:07",
            "guardduty:DeleteDetector",
            "us-west-2",
            finding=evade,
            params={"detectorId": R.hex_id(self.rng, 32)},
        )
        for i in range(12):
            secret = f"arn:aws:secretsmanager:us-west-2:{A3}:secret:prod/db-{i:02d}-{R.hex_id(self.rng, 6)}"
            self.do(
                s3,
                _t("10:10") + 15 * i,
                "secretsmanager:GetSecretValue",
                "us-west-2",
                finding="credential_access",
                params={"secretId": secret},
            )
        self.do(
            s3,
            "10:14",
            "ssm:GetParameter",
            "us-west-2",
            finding="credential_access",
            params={"name": "/prod/payments/api-key", "withDecryption": True},
        )
        for i in range(60):
            obj = R.s3_object(
                _EXPORTS, f"exports/2024/06/customers-{i:03d}.csv.gz", A3, "us-west-2"
            )
            self.do(
                s3, _t("10:15") + 15 * i, "s3:GetObject", "us-west-2", finding="exfiltration", **obj
            )
        share = {
            "snapshotId": f"snap-0{R.hex_id(self.rng, 16)}",
            "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"userId": EXTERNAL}]}},
        }
        self.do(
            s3,
            "10:32",
            "ec2:ModifySnapshotAttribute",
            "us-west-2",
            finding="exfiltration",
            params=share,
            response={"_return": True},
        )
        launched = {
            "instanceId": R.instance_id(self.rng),
            "instanceType": "p3.2xlarge",
            "instanceState": {"code": 0, "name": "pending"},
        }
        run = self.do(
            s3,
            "10:40",
            "ec2:RunInstances",
            _GPU_REGION,
            finding="resource_hijacking",
            params={
                "instanceType": "p3.2xlarge",
                "instancesSet": {
                    "items": [{"imageId": "ami-0a1b2c3d4e5f67890", "minCount": 1, "maxCount": 1}]
                },
            },
            response={"instancesSet": {"items": [launched]}},
        )
        self.findings["new_region"].append(run)
        self.facts["new_region"] = {"account": A3, "region": _GPU_REGION, "event_id": run}

    def _come_back(self) -> None:
        """Hours later the backdoor key is used, and the external account uses the opened trust."""
        bd = self.facts["backdoor"]
        used = [
            self.do(bd, "14:30", "sts:GetCallerIdentity"),
            self.do(bd, "14:31", "s3:ListBuckets"),
            self.do(bd, "14:33", "ec2:DescribeInstances", "us-west-2"),
        ]
        for i in range(3):
            obj = R.s3_object(_EXPORTS, f"exports/2024/06/orders-{i:03d}.csv.gz", A3, "us-west-2")
            used.append(self.do(bd, _t("14:35") + 60 * i, "s3:GetObject", "us-west-2", **obj))
        self.tag = "external"
        outsider = _user(self.rng, EXTERNAL, "ops", _IP_BACKDOOR, _PARROT_UA)
        # 999999999999's own copy of the call is in its trail, not ours: only the owner's side
        ext, hop = self.hop(
            outsider, "15:10", R.role_arn(A3, "AuditReadOnly"), "audit", one_sided=True
        )
        external = [
            *hop.sts_event_ids,
            self.do(ext, "15:11", "s3:ListBuckets"),
            self.do(ext, "15:12", "sts:GetCallerIdentity"),
        ]
        later = {"User": used, "AccessKey": used, "RoleTrust": external}
        for item in self.facts["created"]:
            item["used_event_ids"] = later.get(item["type"], [])
            item["used_later"] = bool(item["used_event_ids"])

    # -- delivery -------------------------------------------------------------------------

    def deliver(self, root: Path) -> GroundTruth:
        """Group records into files the way the trails would, with the planned anomalies."""
        late = self.facts["late_sts"]
        org: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
        account_trail: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
        for rec in self.records:
            ts = _epoch(rec["eventTime"])
            slot = (rec["recipientAccountId"], rec["awsRegion"], ts // WINDOW)
            if rec["eventID"] == late:
                late_rec = rec
                continue
            org[slot].append(rec)
            # the account trail of 111111111111 ran in us-east-1 between 08:00 and 09:15 only
            if slot[:2] == (A1, "us-east-1") and _t("08:00") <= ts < _t("09:15"):
                account_trail[slot].append(rec)
        files, where = [], {}
        for n, (slot, recs) in enumerate(sorted(org.items())):
            recs.sort(key=lambda r: r["eventTime"])  # stable: same-second records keep their order
            files.append(write_log_file(root, self._key(slot, ORG_ID, gz=n % 4 > 0), recs))
            where.update((r["eventID"], files[-1].key) for r in recs)
        slot = (A1, "us-east-1", _epoch(late_rec["eventTime"]) // WINDOW + 2)  # 30 min late, alone
        files.append(write_log_file(root, self._key(slot, ORG_ID, gz=True), [late_rec]))
        where[late] = files[-1].key
        for n, (slot, recs) in enumerate(sorted(account_trail.items())):
            recs.sort(key=lambda r: r["eventTime"])
            files.append(write_log_file(root, self._key(slot, None, gz=n % 2 == 0), recs))
        mine = f"AWSLogs/{ORG_ID}/{A1}/CloudTrail/us-east-1/"
        digests = write_digests(root, [f for f in files if f.key.startswith(mine)], ORG_ID)
        duplicates = {r["eventID"] for recs in account_trail.values() for r in recs}
        return self._truth(files, digests, where, duplicates)

    def _key(self, slot: tuple[str, str, int], org: str | None, *, gz: bool) -> str:
        account, region, w = slot
        suffix = "".join(self.rng.choices(_ALNUM, k=16))
        return log_object_key(account, region, (w + 1) * WINDOW, suffix, org, gz=gz)

    def _truth(
        self, files: list[LogFile], digests: list[str], where: dict[str, str], duplicates: set[str]
    ) -> GroundTruth:
        f, chain = self.facts, self.facts["chain"]
        by_id = {r["eventID"]: r for r in self.records}
        attacker = set(self.tags["attacker"])
        first_use = min(
            (
                r
                for r in self.records
                if r["userIdentity"].get("accessKeyId") == chain[0].issued_key
            ),
            key=lambda r: r["eventTime"],
        )
        principal, keys = f["benign"]
        hop = next(h for h in chain if h.one_sided)
        return GroundTruth(
            seed=self.seed,
            org_id=ORG_ID,
            leaked_key=f["leak"].key,
            leaked_user=f["leak"].identity["arn"],
            attacker_ips=sorted({by_id[e]["sourceIPAddress"] for e in attacker}),
            attacker_user_agents=sorted({by_id[e]["userAgent"] for e in attacker}),
            chain=chain,
            session_keys=[
                {
                    "key": h.issued_key,
                    "role_arn": h.role_arn,
                    "session_arn": h.session_arn,
                    "principal_id": h.principal_id,
                    "issued_at": h.issued_at,
                    "expires_at": h.expires_at,
                    "sts_event_ids": h.sts_event_ids,
                }
                for h in chain
            ],
            attacker_event_ids=attacker,
            benign_principal=principal,
            benign_keys=keys,
            benign_event_ids=set(self.tags["benign"]),
            recycled_key=f["recycled_key"],
            created=f["created"],
            policy_changes=f["policy_changes"],
            findings={k: list(self.findings[k]) for k in FINDING_CATEGORIES},
            one_sided_hop={
                "hop": hop.index,
                "shared_event_id": hop.shared_event_id,
                "present_event_id": hop.sts_event_ids[0],
                "logged_in": hop.to_account,
                "missing_in": hop.from_account,
            },
            duplicate_event_ids=duplicates,
            failed_assume_role_event_ids=list(self.findings["failed_assume_role"]),
            out_of_order_key={
                "key": chain[0].issued_key,
                "sts_event_id": f["late_sts"],
                "sts_file": where[f["late_sts"]],
                "first_use_event_id": first_use["eventID"],
                "first_use_file": where[first_use["eventID"]],
            },
            instance_profile_session=f["instance_profile_session"],
            external_access_event_ids=set(self.tags["external"]),
            new_region=f["new_region"],
            files=sorted(x.key for x in files),
            digest_files=sorted(digests),
            record_count=sum(x.records for x in files),
            event_count=len(by_id),
        )


def _user(rng: Random, account: str, name: str, ip: str, user_agent: str) -> R.Actor:
    """An IAM user calling with its own long-term key."""
    ident = R.iam_user(account, name, R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA"))
    return R.Actor(ident, ip, user_agent, ident["accessKeyId"])


def _iam_date(when: str) -> str:
    return R.aws_date(_t(when), comma=False)


def _policy(*statements: dict[str, Any]) -> str:
    """A policy document as IAM logs it: JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)
