"""Three days of a busy organization's trail, with incidents planted in it.

Every identity type works as it does in a real organization: IAM users with keys, instance
profiles (with VPC-endpoint calls from private addresses), Lambda cold starts, ECS tasks, CI
over GitHub OIDC, SAML and Identity Center humans in the console (MFA at the identity
provider), a vendor's cross-account role, an AssumeRoot task session, AWS services. Benign
traps sit in it on purpose: plain ``GetParameter`` storms, decrypted reads below a burst,
trust opened to an account of the organization, snapshots shared inside it.

Incidents (each with the rule that must report it) are planted by :class:`OrgDays`;
:func:`build_org_days` writes the organization trail and returns the ground truth.

>>> import tempfile
>>> t = build_org_days(tempfile.mkdtemp(), seed=1, scale=0.05)
>>> sorted(t.incidents) == sorted(INCIDENTS)
True
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from graphtrail.synth import records as R
from graphtrail.synth.delivery import log_object_key, write_log_file

__all__ = ["build_org_days", "OrgTruth", "INCIDENTS", "ORG_ID", "ACCOUNTS", "OUTSIDE"]

ORG_ID = "o-acme7days01"
MGMT, PROD, DEV, DATA = "100000000001", "200000000002", "300000000003", "400000000004"
ACCOUNTS = (MGMT, PROD, DEV, DATA)
VENDOR = "464622532012"  # a monitoring vendor, outside the organization, trusted on purpose
OUTSIDE = "777788889999"  # the attacker's account
START = 1718150400  # 2024-06-12T00:00:00Z
DAY, HOUR, MINUTE = 86_400, 3_600, 60
ATTACKER_IP = "203.0.113.66"
OFFICE = ["198.51.100.10", "198.51.100.11", "198.51.100.12"]
HOMES = ["192.0.2.21", "192.0.2.22", "192.0.2.23", "192.0.2.24"]
GITHUB_RUNNERS = "20.42.{}.{}"  # a runner's address changes every job
_LAMBDA_IPS = "44.200.{}.{}"  # inside 44.192.0.0/11 (us-east-1 EC2)
_INSTANCE_IPS = ["34.201.10.11", "34.201.10.12", "34.201.10.13", "34.201.10.14"]
_VENDOR_IPS = ["54.145.1.10", "54.145.1.11"]
_BOTO = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 lang/python#3.12"
_CLI = "aws-cli/2.15.30 md/Botocore#1.34.69 ua/2.0 os/macos#23.4 lang/python#3.11"
_CONSOLE = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/125.0"

# incident -> the rule that must report it (and at high or critical)
INCIDENTS = {
    "stolen_instance_credentials": "GT-CRED-003",
    "exfiltration_by_volume": "GT-EXF-001",
    "secrets_burst": "GT-CRED-001",
    "trust_opened_outside": "GT-PERS-006",
    "denied_admin_assume_role": "GT-PRIV-001",
}


@dataclass
class OrgTruth:
    """What the trail holds: incident -> its rule and eventIDs; benign eventIDs; counts."""

    incidents: dict[str, dict[str, Any]]
    benign_event_ids: list[str]
    calls_by_identity_type: dict[str, int]
    files: int
    org_accounts: list[str] = field(default_factory=lambda: list(ACCOUNTS))

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1, sort_keys=True)


class OrgDays:
    """The organization's three days; ``emit`` records every call and what it belongs to."""

    def __init__(self, seed: int, scale: float) -> None:
        self.rng = Random(seed)
        self.scale = scale
        self.records: list[dict] = []
        self.incident: dict[str, list[str]] = defaultdict(list)
        self.benign: list[str] = []
        self.role_ids: dict[str, str] = {}

    # -- emitting -------------------------------------------------------------------------
    def emit(self, rec: dict, incident: str | None = None) -> str:
        self.records.append(rec)
        (self.incident[incident] if incident else self.benign).append(rec["eventID"])
        return rec["eventID"]

    def do(self, actor: R.Actor, ts: int, api: str, region: str = "us-east-1",
           incident: str | None = None, recipient: str | None = None, **kw: Any) -> str:
        svc, name = api.split(":")
        kw.setdefault("read_only", name.startswith(("Get", "List", "Describe")))
        rec = R.call(self.rng, actor, ts, f"{svc}.amazonaws.com", name, region,
                     recipient or actor.account, **kw)
        return self.emit(rec, incident)

    def hop(self, actor: R.Actor, ts: int, target: str, session: str, *, ip: str | None = None,
            ua: str | None = None, name: str = "AssumeRole", ec2: bool = False,
            web_id: dict | None = None, incident: str | None = None,
            duration: int = 3600) -> R.Actor:
        """``actor`` gets a session of role ``target``: the STS record(s), the session's actor."""
        account, role = target.split(":")[4], target.rsplit("/", 1)[1]
        rid = self.role_ids.setdefault(target, R.unique_id(self.rng, "AROA"))
        key = R.key_id(self.rng, "ASIA")
        rec = R.assume_role(self.rng, actor, ts, "us-east-1", target, rid, session, key,
                            duration=duration, name=name)
        if actor.account not in (None, account):
            if actor.account in ACCOUNTS:  # the caller's copy is in another organization's trail
                self.emit(rec, incident)
            self.emit(R.owner_copy(self.rng, rec, account), incident)
        else:
            self.emit(rec, incident)
        ident = R.assumed_role(account, role, rid, session, key, R.iso(ts), ec2=ec2, web_id=web_id)
        return R.Actor(ident, ip or actor.ip, ua or actor.user_agent, key)

    def n(self, base: int) -> int:
        return max(1, round(base * self.scale))

    def when(self, day: int, hour_lo: int = 0, hour_hi: int = 24) -> int:
        return START + day * DAY + self.rng.randrange(hour_lo * HOUR, hour_hi * HOUR)

    # -- benign work ------------------------------------------------------------------------
    def developers(self) -> dict[str, R.Actor]:
        """IAM users with access keys: CLI work from the office, a home address some days."""
        devs = {}
        for i, name in enumerate(["dana", "eli", "farah"]):
            key = R.key_id(self.rng)
            ident = R.iam_user(DEV, name, R.unique_id(self.rng, "AIDA"), key)
            devs[name] = R.Actor(ident, OFFICE[i], _CLI, key)
        for day in range(3):
            for name, dev in devs.items():
                where = [dev.ip] + ([HOMES[day]] if name == "eli" else [])
                for ip in where:
                    a = R.Actor(dev.identity, ip, _CLI, dev.key)
                    self.do(a, self.when(day, 8, 9), "sts:GetCallerIdentity")
                    for _ in range(self.n(420)):
                        self.do(a, self.when(day, 9, 18), self.rng.choice(_DEV_CALLS),
                                region=self.rng.choice(["us-east-1", "eu-west-1"]))
                    for _ in range(self.n(60)):  # configuration, not secrets: no decryption
                        self.do(a, self.when(day, 9, 18), "ssm:GetParameter",
                                params={"name": f"/dev/{name}/feature-flags"})
                    self.do(a, self.when(day, 9, 18), "ssm:GetParameter",
                            params={"name": "/dev/db/password", "withDecryption": True})
        return devs

    def instances(self) -> list[R.Actor]:
        """Instance profiles of four web servers: credentials rotate every six hours; calls
        to S3 and SSM go through VPC endpoints (private address) or the NAT (public)."""
        ec2 = R.Actor(R.aws_service("ec2.amazonaws.com"), "ec2.amazonaws.com", "ec2.amazonaws.com")
        role = R.role_arn(PROD, "web-server")
        sessions = []
        for n, public in enumerate(_INSTANCE_IPS):
            inst = R.instance_id(self.rng)
            private = f"10.0.1.{20 + n}"
            for slot in range(12):  # 3 days x 4 rotations
                t0 = START + slot * 6 * HOUR + self.rng.randrange(0, 300)
                s = self.hop(ec2, t0, role, inst, ip=public, ua=_BOTO, ec2=True, duration=6 * HOUR)
                sessions.append(s)
                inside = R.Actor(s.identity, private, _BOTO, s.key)
                self.do(s, t0 + 30, "sts:GetCallerIdentity")
                for _ in range(self.n(140)):
                    t = t0 + self.rng.randrange(60, 6 * HOUR - 60)
                    obj = R.s3_object("acme-prod-assets", f"img/{self.rng.randrange(10**6)}.png",
                                      PROD, "us-east-1", size=self.rng.randrange(20_000, 400_000))
                    self.do(inside, t, "s3:GetObject", **obj)
                for _ in range(self.n(40)):
                    self.do(s, t0 + self.rng.randrange(60, 6 * HOUR), self.rng.choice(
                        ["ec2:DescribeTags", "cloudwatch:PutMetricData", "logs:PutLogEvents"]))
                self.do(inside, t0 + 40, "secretsmanager:GetSecretValue",
                        params={"secretId": "prod/web/db"})
        return sessions

    def lambdas(self) -> None:
        """Lambda functions: every cold start is a new session from a new address, and asks
        who it is and for its secret once."""
        svc = R.Actor(R.aws_service("lambda.amazonaws.com"), "lambda.amazonaws.com",
                      "lambda.amazonaws.com")
        for fn in ["thumbnailer", "order-events", "nightly-rollup"]:
            role = R.role_arn(PROD, f"lambda-{fn}")
            for _ in range(self.n(40) * 3):
                t0 = START + self.rng.randrange(0, 3 * DAY - HOUR)
                ip = _LAMBDA_IPS.format(self.rng.randrange(256), self.rng.randrange(1, 255))
                s = self.hop(svc, t0, role, fn, ip=ip, ua=_BOTO)
                self.do(s, t0 + 1, "sts:GetCallerIdentity")
                self.do(s, t0 + 2, "secretsmanager:GetSecretValue", params={"secretId": f"prod/{fn}"})
                for j in range(self.n(25)):
                    self.do(s, t0 + 3 + j * 20, self.rng.choice(
                        ["dynamodb:PutItem", "dynamodb:GetItem", "sqs:SendMessage"]))

    def ecs_tasks(self) -> None:
        """A nightly ECS batch task reading its bucket (well under what an export moves)."""
        svc = R.Actor(R.aws_service("ecs-tasks.amazonaws.com"), "ecs-tasks.amazonaws.com",
                      "ecs-tasks.amazonaws.com")
        role = R.role_arn(DATA, "batch-report")
        for day in range(3):
            t0 = START + day * DAY + 2 * HOUR
            task = R.hex_id(self.rng, 32)
            s = self.hop(svc, t0, role, task, ip="10.2.0.15", ua=_BOTO)
            for j in range(self.n(300)):
                obj = R.s3_object("acme-data-lake", f"daily/{day}/part-{j:04d}.parquet", DATA,
                                  "us-east-1", size=1_200_000)
                self.do(s, t0 + 10 + j * 6, "s3:GetObject", **obj)

    def ci(self) -> None:
        """GitHub Actions deploying over OIDC: one session a job, a new runner address each."""
        gh = "token.actions.githubusercontent.com"
        role = R.role_arn(DEV, "github-deploy")
        for k in range(self.n(30) * 3):
            t0 = START + self.rng.randrange(0, 3 * DAY - HOUR)
            ip = GITHUB_RUNNERS.format(self.rng.randrange(256), self.rng.randrange(1, 255))
            who = R.Actor(R.web_identity_user(gh, "sts.amazonaws.com", "repo:acme/shop:ref:refs/heads/main"),
                          ip, "aws-sdk-js/3.540.0")
            s = self.hop(who, t0, role, f"GitHubActions-{k}", name="AssumeRoleWithWebIdentity",
                         web_id={"federatedProvider": f"arn:aws:iam::{DEV}:oidc-provider/{gh}"})
            self.do(s, t0 + 5, "sts:GetCallerIdentity")
            for j in range(self.n(40)):
                self.do(s, t0 + 10 + j * 3, self.rng.choice(
                    ["ecr:PutImage", "ecr:BatchCheckLayerAvailability", "cloudformation:DescribeStacks",
                     "s3:PutObject", "ecs:UpdateService", "ecs:DescribeServices"]))

    def humans(self) -> None:
        """SAML and Identity Center console users: sign-ins say MFAUsed No (the IdP did it)."""
        idp = f"arn:aws:iam::{PROD}:saml-provider/Okta"
        for day in range(3):
            for i, (user, role, acct) in enumerate([
                    ("ana@acme.example", "okta-ops", PROD), ("raj@acme.example", "okta-readonly", PROD),
                    ("mei@acme.example", "AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f", MGMT),
                    ("tom@acme.example", "AWSReservedSSO_ReadOnlyAccess_9f8e7d6c5b4a", DATA)]):
                ip = OFFICE[i % 3]
                who = R.Actor(R.saml_user(user, idp, "acme-okta"), ip, _CONSOLE)
                t0 = self.when(day, 8, 10)
                s = self.hop(who, t0, R.role_arn(acct, role), user, name="AssumeRoleWithSAML")
                login = R.console_login(self.rng, R.Actor(s.identity, ip, _CONSOLE), t0 + 5, acct, mfa=False)
                self.emit(login)
                for _ in range(self.n(300)):
                    self.do(s, self.when(day, 10, 18), self.rng.choice(_CONSOLE_CALLS))

    def vendor(self) -> None:
        """A monitoring vendor's role in its own account reading PROD's inventory hourly."""
        vrole = R.role_arn(VENDOR, "monitoring-collector")
        vid = self.role_ids.setdefault(vrole, R.unique_id(self.rng, "AROA"))
        for hour in range(72):
            t0 = START + hour * HOUR + 120
            vk = R.key_id(self.rng, "ASIA")
            va = R.Actor(R.assumed_role(VENDOR, "monitoring-collector", vid, "collector", vk,
                                        R.iso(t0 - 60)), self.rng.choice(_VENDOR_IPS), _BOTO, vk)
            s = self.hop(va, t0, R.role_arn(PROD, "VendorMonitoringReadOnly"), "collector")
            for j in range(self.n(12)):
                self.do(s, t0 + 5 + j, self.rng.choice(_DEV_CALLS))

    def admin_changes(self, devs: dict[str, R.Actor]) -> None:
        """Benign changes that look alike incidents: trust and snapshots opened to DEV (same
        organization), an AssumeRoot audit session from the management account."""
        ops = R.Actor(R.iam_user(PROD, "ops-admin", R.unique_id(self.rng, "AIDA"), k := R.key_id(self.rng)),
                      OFFICE[0], _CLI, k)
        t = START + DAY + 11 * HOUR
        self.do(ops, t, "iam:UpdateAssumeRolePolicy", params={
            "roleName": "deploy-from-dev", "policyDocument": _trust(DEV)})
        self.do(ops, t + 600, "ec2:ModifySnapshotAttribute", params={
            "snapshotId": "snap-0a1b2c3d4e5f60718", "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"userId": DEV}]}}})
        admin = R.Actor(R.iam_user(MGMT, "org-admin", R.unique_id(self.rng, "AIDA"), k := R.key_id(self.rng)),
                        OFFICE[1], _CLI, k)
        t = START + 2 * DAY + 10 * HOUR
        key = R.key_id(self.rng, "ASIA")
        self.do(admin, t, "sts:AssumeRoot", params={
            "targetPrincipal": DATA, "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"}},
            response={"credentials": R.credentials(self.rng, key, t, 900)})
        task = R.Actor(R.root(DATA, key), OFFICE[1], _CLI, key)
        for j, api in enumerate(["iam:GetLoginProfile", "iam:ListAccessKeys", "iam:ListMFADevices"]):
            self.do(task, t + 30 + j, api, recipient=DATA)

    # -- incidents -------------------------------------------------------------------------
    def incidents(self, devs: dict[str, R.Actor], instance_sessions: list[R.Actor]) -> None:
        day2 = START + DAY
        # 1. an instance-profile key taken through SSRF, used from outside while the
        #    instance keeps using it from its own address
        s = instance_sessions[5]
        stolen = R.Actor(s.identity, ATTACKER_IP, "python-requests/2.31.0", s.key)
        t0 = _created(s) + 2 * HOUR
        for j, api in enumerate(["sts:GetCallerIdentity", "s3:ListBuckets", "iam:ListRoles",
                                 "ec2:DescribeInstances", "iam:ListAttachedRolePolicies",
                                 "s3:ListBuckets", "secretsmanager:ListSecrets", "ec2:DescribeVpcs",
                                 "iam:GetRole", "lambda:ListFunctions", "rds:DescribeDBInstances",
                                 "ec2:DescribeSecurityGroups"]):
            self.do(stolen, t0 + j * 40, api, incident="stolen_instance_credentials")
        # 2. a developer's leaked key: who-am-I, denied admin role, secrets, then an export
        leaked = R.Actor(devs["farah"].identity, ATTACKER_IP, "aws-cli/2.9.0", devs["farah"].key)
        t0 = day2 + 20 * HOUR
        self.do(leaked, t0, "sts:GetCallerIdentity", incident="exfiltration_by_volume")
        target = R.role_arn(MGMT, "OrganizationAccountAccessRole")
        rec = R.assume_role(self.rng, leaked, t0 + 60, "us-east-1", target,
                            self.role_ids.setdefault(target, R.unique_id(self.rng, "AROA")),
                            "x", None, error=("AccessDenied", R.denied_message(
                                leaked.identity["arn"], "sts:AssumeRole", target)))
        self.emit(rec, "denied_admin_assume_role")
        for j in range(8):
            self.do(leaked, t0 + 120 + j * 15, "secretsmanager:GetSecretValue",
                    params={"secretId": f"prod/payments/key-{j}"}, incident="secrets_burst")
        for j in range(30):
            obj = R.s3_object("acme-data-lake", f"customers/export-{j:03d}.csv.gz", DATA,
                              "us-east-1", size=48_300_000 + 1000 * j)
            self.do(leaked, t0 + 600 + j * 20, "s3:GetObject", incident="exfiltration_by_volume",
                    recipient=DATA, **obj)
        # 3. a role's trust opened to the attacker's account, then used from there
        t0 = day2 + 22 * HOUR
        self.do(leaked, t0, "iam:UpdateAssumeRolePolicy", incident="trust_opened_outside",
                recipient=DEV, params={"roleName": "ci-artifacts", "policyDocument": _trust(OUTSIDE)})
        ak = R.key_id(self.rng, "ASIA")
        outsider = R.Actor(R.assumed_role(OUTSIDE, "op", R.unique_id(self.rng, "AROA"), "op", ak,
                                          R.iso(t0)), ATTACKER_IP, "aws-cli/2.9.0", ak)
        s = self.hop(outsider, t0 + 300, R.role_arn(DEV, "ci-artifacts"), "op",
                     incident="trust_opened_outside")
        self.do(s, t0 + 320, "s3:ListBuckets", incident="trust_opened_outside")

    # -- delivery ----------------------------------------------------------------------------
    def deliver(self, root: Path) -> int:
        """One organization trail: a file per account, region and five minutes."""
        slots: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
        for rec in self.records:
            ts = _epoch(rec["eventTime"])
            slots[(rec["recipientAccountId"], rec["awsRegion"], ts // 300)].append(rec)
        for (acct, region, w), recs in sorted(slots.items()):
            recs.sort(key=lambda r: r["eventTime"])
            suffix = "".join(self.rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=16))
            write_log_file(root, log_object_key(acct, region, (w + 1) * 300, suffix, ORG_ID), recs)
        return len(slots)


_DEV_CALLS = ["ec2:DescribeInstances", "ec2:DescribeVolumes", "s3:ListBuckets", "iam:ListRoles",
              "lambda:ListFunctions", "logs:DescribeLogGroups", "cloudformation:DescribeStacks",
              "ecs:ListClusters", "rds:DescribeDBInstances", "dynamodb:ListTables"]
_CONSOLE_CALLS = ["ec2:DescribeInstances", "cloudwatch:GetMetricData", "s3:ListBuckets",
                  "ce:GetCostAndUsage", "iam:ListUsers", "health:DescribeEvents"]


def _trust(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole"}]})


def _created(actor: R.Actor) -> int:
    return _epoch(actor.identity["sessionContext"]["attributes"]["creationDate"])


def _epoch(text: str) -> int:
    import calendar
    import time

    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def build_org_days(root: str | Path, *, seed: int = 0, scale: float = 1.0) -> OrgTruth:
    """Write the organization trail under ``root`` (``AWSLogs/o-.../ACCOUNT/...``).

    ``scale`` multiplies the benign volume (1.0: about 30k calls over three days).
    """
    o = OrgDays(seed, scale)
    devs = o.developers()
    sessions = o.instances()
    o.lambdas()
    o.ecs_tasks()
    o.ci()
    o.humans()
    o.vendor()
    o.admin_changes(devs)
    o.incidents(devs, sessions)
    files = o.deliver(Path(root))
    by_type: dict[str, int] = defaultdict(int)
    benign = set(o.benign)
    for r in o.records:
        if r["eventID"] in benign:
            by_type[r["userIdentity"].get("type", "?")] += 1
    return OrgTruth(
        incidents={k: {"rule": INCIDENTS[k], "event_ids": v} for k, v in o.incident.items()},
        benign_event_ids=o.benign, calls_by_identity_type=dict(by_type), files=files)
