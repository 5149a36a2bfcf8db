"""The attacker's story in the scenario: the leaked key, the role chain across accounts,
persistence, defense evasion, theft, and the return with the backdoor key.

:class:`AttackStory` is a mixin of the scenario (``graphtrail.synth.scenarios``), which
supplies the record plumbing (``emit``, ``do``, ``hop``); the accounts, addresses, user
agents and time helpers here are shared with the rest of the scenario.
"""

from __future__ import annotations

import calendar
import json
import time
from random import Random
from typing import Any

from graphtrail.synth import records as R

__all__ = ["AttackStory", "ORG_ID", "EXTERNAL", "DAY", "WINDOW"]

ORG_ID = "o-a1b2c3d4e5"
A1, A2, A3, A4 = "111111111111", "222222222222", "333333333333", "444444444444"
EXTERNAL = "999999999999"
DAY = calendar.timegm((2024, 6, 12, 0, 0, 0))  # the attack day, 00:00 UTC
WINDOW = 900  # seconds of events per delivered file

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


def _t(when: str) -> int:
    """Epoch seconds of ``HH:MM[:SS]`` on the attack day."""
    h, m, *s = (int(x) for x in when.split(":"))
    return DAY + h * 3600 + m * 60 + (s[0] if s else 0)


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _user(rng: Random, account: str, name: str, ip: str, user_agent: str) -> R.Actor:
    """An IAM user calling with its own long-term key."""
    ident = R.iam_user(account, name, R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA"))
    return R.Actor(ident, ip, user_agent, ident["accessKeyId"])


def _iam_date(when: str) -> str:
    return R.aws_date(_t(when), comma=False)


def _policy(*statements: dict[str, Any]) -> str:
    """A policy document as IAM logs it: JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


class AttackStory:
    """The attack, written against the scenario's plumbing (see the module docstring)."""

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
            obj = R.s3_object(  # ~1.5 GB in 15 minutes: an export, not a report run
                _EXPORTS, f"exports/2024/06/customers-{i:03d}.csv.gz", A3, "us-west-2",
                size=24_613_000 + 977 * i,
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
