"""Volume generator: an organization trail as S3 receives it, at any size.

A seeded :class:`World` (users with long-term keys, roles, instance profiles, SAML, Identity
Center and GitHub OIDC roles across a few accounts) is planned into delivery slots, one per
account, region and five minutes. Every temporary key is issued by an STS record in the slot
where its session starts and is used only inside its lifetime; cross-account sessions are
logged twice with one ``sharedEventID``. Each slot becomes one ``{"Records": [...]}`` file,
gzipped, and each hour of files gets a CloudTrail-Digest file. Slots carry their own seed, so
they are written in parallel and the bytes do not depend on the number of workers.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as out:
...     stats = write_trail(out, 600, seed=1, workers=1)
>>> stats.events, stats.files > 0, stats.digest_files > 0
(600, True, True)
"""

from __future__ import annotations

import calendar
import os
import time
from bisect import bisect
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from random import Random
from typing import Any

from graphtrail.synth import records as R
from graphtrail.synth.delivery import (  # noqa: F401  (re-exported)
    BUCKET,
    TRAIL_NAME,
    LogFile,
    log_object_key,
    write_digests,
    write_log_file,
)

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_ORG_ID",
    "BUCKET",
    "TrailStats",
    "LogFile",
    "World",
    "build_world",
    "noise_records",
    "write_trail",
    "log_object_key",
    "write_log_file",
    "write_digests",
]

DEFAULT_ACCOUNTS = ("301234567890", "402345678901", "503456789012", "604567890123", "705678901234")
DEFAULT_ORG_ID = "o-7k2m9x4q1z"
_SPOKE_REGIONS = ("us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")

_FIRST = "maria james wei aisha lucas sofia omar yuki nina pedro lena ravi chloe ivan fatima noah emma arjun zoe mateo hana leo sara tariq mia kofi elena sam ines tom".split()
_LAST = "garcia smith chen khan muller rossi ito silva novak patel brown kim haddad olsen mensah dubois".split()
_SERVICE_USERS = "svc-backup svc-metrics svc-billing-export svc-etl terraform jenkins svc-datadog svc-splunk build-agent svc-mailer".split()
_WORDS = "app api etl batch web worker ingest analytics payments search billing ml catalog backup monitoring orders".split()
_PERMISSION_SETS = ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "Billing")
_UAS = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off",
    "aws-cli/2.17.32 md/awscrt#0.21.2 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.215-203.850.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.156.0",
    "APN/1.0 HashiCorp/1.0 Terraform/1.8.2 (+https://www.terraform.io) terraform-provider-aws/5.47.0 aws-sdk-go-v2/1.26.1 ua/2.0 os/linux lang/go#1.22.2",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
)
_SDK_UA = "aws-sdk-java/1.12.701 Linux/5.10.215-203.850.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS java/17.0.11 vendor/Amazon.com_Inc. cfg/retry-mode/standard"
_GITHUB_UA = (
    "aws-sdk-nodejs/2.1498.0 linux/v20.10.0 configure-aws-credentials-for-github-actions promise"
)
_GITHUB = "token.actions.githubusercontent.com"

# (eventSource, eventName, readOnly, request kind, weight); iam is global: us-east-1 only.
_CALLS = (
    ("ec2.amazonaws.com", "DescribeInstances", True, "ec2", 8),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", True, "ec2", 4),
    ("ec2.amazonaws.com", "DescribeVolumes", True, "ec2", 3),
    ("ec2.amazonaws.com", "DescribeVpcs", True, "ec2", 2),
    ("ec2.amazonaws.com", "CreateTags", False, "tags", 1),
    ("s3.amazonaws.com", "GetObject", True, "s3", 14),
    ("s3.amazonaws.com", "PutObject", False, "s3", 6),
    ("s3.amazonaws.com", "ListBuckets", True, "none", 2),
    ("s3.amazonaws.com", "GetBucketLocation", True, "bucket", 2),
    ("sts.amazonaws.com", "GetCallerIdentity", True, "none", 4),
    ("kms.amazonaws.com", "Decrypt", True, "kms", 6),
    ("kms.amazonaws.com", "GenerateDataKey", True, "kms", 3),
    ("logs.amazonaws.com", "DescribeLogGroups", True, "none", 2),
    ("logs.amazonaws.com", "CreateLogStream", False, "logs", 2),
    ("monitoring.amazonaws.com", "DescribeAlarms", True, "none", 2),
    ("lambda.amazonaws.com", "ListFunctions20150331", True, "none", 2),
    ("lambda.amazonaws.com", "GetFunction20150331v2", True, "function", 1),
    ("dynamodb.amazonaws.com", "DescribeTable", True, "table", 3),
    ("ssm.amazonaws.com", "GetParameter", True, "param", 3),
    ("ssm.amazonaws.com", "DescribeInstanceInformation", True, "none", 1),
    ("secretsmanager.amazonaws.com", "GetSecretValue", True, "secret", 1),
    ("cloudformation.amazonaws.com", "DescribeStacks", True, "none", 1),
    ("ecr.amazonaws.com", "GetAuthorizationToken", True, "none", 2),
    ("rds.amazonaws.com", "DescribeDBInstances", True, "none", 1),
    ("iam.amazonaws.com", "GetRole", True, "role", 2),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", True, "role", 1),
    ("iam.amazonaws.com", "ListRoles", True, "none", 1),
    ("iam.amazonaws.com", "GetUser", True, "none", 1),
)
_WHOAMI = ("sts.amazonaws.com", "GetCallerIdentity", True, "none", 0)
_VERSIONS = {
    "sts": "1.08",
    "iam": "1.09",
    "kms": "1.09",
    "lambda": "1.08",
    "ec2": "1.10",
    "s3": "1.10",
}


@dataclass(slots=True)
class _Role:
    account: str
    name: str
    path: str
    role_id: str
    kind: str  # user | ec2 | saml | sso | web

    @property
    def arn(self) -> str:
        return R.role_arn(self.account, self.name, self.path)


@dataclass(slots=True)
class _Account:
    id: str
    regions: tuple[str, ...]
    users: list[tuple[R.Actor, bool]] = field(default_factory=list)  # (actor, console user)
    roles: list[_Role] = field(default_factory=list)
    instances: list[tuple[str, str]] = field(default_factory=list)  # (instance id, public IP)
    buckets: list[str] = field(default_factory=list)
    extras: list[tuple[R.Actor, str, str, dict]] = field(default_factory=list)  # rare callers
    secrets: list[str] = field(default_factory=list)
    kms_key: str = ""


@dataclass(slots=True)
class World:
    """Who exists in a synthetic organization: accounts, users, roles and instances.

    ``hub`` is the account most people sign in to; ``no_mfa_rate`` is the share of console
    logins without MFA.
    """

    accounts: dict[str, _Account]
    hub: str
    no_mfa_rate: float = 0.1

    @property
    def principals(self) -> int:
        """Number of IAM users and roles."""
        return sum(len(a.users) + len(a.roles) for a in self.accounts.values())

    def add_user(self, account: str, name: str, rng: Random, ip: str, user_agent: str) -> R.Actor:
        """Add an IAM user with a long-term key; returns the actor that signs its calls."""
        ident = R.iam_user(account, name, R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA"))
        actor = R.Actor(ident, ip, user_agent, ident["accessKeyId"])
        self.accounts[account].users.append((actor, True))
        return actor

    def add_role(self, account: str, name: str, rng: Random, path: str = "/") -> str:
        """Add a role that users of the organization assume; returns its ``AROA`` id."""
        role = _Role(account, name, path, R.unique_id(rng, "AROA"), "user")
        self.accounts[account].roles.append(role)
        return role.role_id


@dataclass(slots=True)
class _Session:
    actor: R.Actor
    account: str
    region: str
    issued: int
    expires: int


@dataclass(slots=True)
class _Slot:
    index: int
    account: str
    region: str
    start: int
    end: int
    count: int
    fixed: list[tuple[int, dict]] = field(default_factory=list)
    active: list[int] = field(default_factory=list)  # indexes into the session list


@dataclass(frozen=True, slots=True)
class TrailStats:
    """What :func:`write_trail` wrote."""

    out_dir: str
    events: int
    files: int
    digest_files: int
    bytes: int
    accounts: int
    regions: int
    principals: int
    sessions: int
    start: str
    end: str
    seconds: float


def build_world(
    seed: int | Random = 0,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    regions: dict[str, Sequence[str]] | None = None,
    *,
    users_per_account: int = 40,
    roles_per_account: int = 24,
    no_mfa_rate: float = 0.1,
) -> World:
    """A seeded organization: ``accounts[0]`` is the hub where most people sign in.

    ``regions`` maps an account to the regions it works in (us-east-1 first: IAM and
    sign-in are logged there); by default the hub uses three and the others two.
    """
    rng = seed if isinstance(seed, Random) else Random(f"world/{seed}")
    regions = regions or {
        a: ("us-east-1", "us-west-2", "eu-west-1")
        if i == 0
        else ("us-east-1", _SPOKE_REGIONS[i % 4])
        for i, a in enumerate(accounts)
    }
    world = World({}, accounts[0], no_mfa_rate)
    for acct in accounts:
        a = _Account(acct, tuple(regions[acct]))
        names = {
            f"{f}.{g}"
            for f, g in zip(
                rng.choices(_FIRST, k=users_per_account),
                rng.choices(_LAST, k=users_per_account),
                strict=True,
            )
        }
        names.update(rng.sample(_SERVICE_USERS, 4))
        for name in sorted(names):
            person = "." in name
            ip = (
                f"203.0.113.{rng.randrange(2, 250)}"
                if person
                else f"192.0.2.{rng.randrange(2, 250)}"
            )
            ident = R.iam_user(acct, name, R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA"))
            a.users.append((R.Actor(ident, ip, rng.choice(_UAS), ident["accessKeyId"]), person))
        kinds = ["ec2"] * 4 + ["sso"] * 2 + ["saml", "web"]
        kinds += ["user"] * max(roles_per_account - len(kinds), 0)
        for i, kind in enumerate(kinds):
            word = _WORDS[i % len(_WORDS)]
            name, path = f"{word}-{rng.choice(('prod', 'stage', 'shared'))}-role-{i}", "/"
            if kind == "ec2":
                name = f"{word}-instance-role-{i}"
            elif kind == "sso":
                ps = _PERMISSION_SETS[i % len(_PERMISSION_SETS)]
                name, path = (
                    f"AWSReservedSSO_{ps}_{R.hex_id(rng, 16)}",
                    "/aws-reserved/sso.amazonaws.com/",
                )
            elif kind == "saml":
                name = f"okta-{word}-{i}"
            elif kind == "web":
                name = f"github-actions-{word}-{i}"
            elif rng.random() < 0.3:
                path = rng.choice(("/service-role/", "/app/", "/ops/"))
            a.roles.append(_Role(acct, name, path, R.unique_id(rng, "AROA"), kind))
        a.instances = [
            (
                R.instance_id(rng),
                f"54.{rng.randrange(64, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            )
            for _ in range(6)
        ]
        a.buckets = [f"acme-{acct[-4:]}-{w}" for w in ("data", "logs", "artifacts")]
        a.secrets = [f"prod/{w}/credentials" for w in rng.sample(_WORDS, 4)]
        a.kms_key = R.uuid4(rng)
        if acct == world.hub:  # Identity Center users and CloudTrail itself live in the hub
            store = f"arn:aws:identitystore::{acct}:identitystore/d-{R.hex_id(rng, 10)}"
            for _ in range(2):
                ident = R.identity_center_user(acct, R.uuid4(rng), store, R.uuid4(rng))
                actor = R.Actor(ident, f"203.0.113.{rng.randrange(2, 250)}", _UAS[-1])
                a.extras.append(
                    (actor, "sso.amazonaws.com", "ListAccountRoles", {"accountId": acct})
                )
            trail = R.Actor(
                R.aws_service("cloudtrail.amazonaws.com"),
                "cloudtrail.amazonaws.com",
                "cloudtrail.amazonaws.com",
            )
            acl = {"bucketName": BUCKET, "Host": f"{BUCKET}.s3.amazonaws.com", "acl": ""}
            a.extras.append((trail, "s3.amazonaws.com", "GetBucketAcl", acl))
        world.accounts[acct] = a
    return world


def noise_records(world: World, count: int, start: int, end: int, seed: int = 0) -> list[dict]:
    """``count`` ordinary records from ``world`` between epoch seconds ``start`` and ``end``.

    The same model as :func:`write_trail`: sessions issued by STS records, then used.
    """
    pairs = sum(len(a.regions) for a in world.accounts.values())
    window = max(300, (end - start) * 25 * pairs // max(1, count))  # about 25 events a slot
    slots, sessions = _plan(world, count, start, end, window, Random(f"noise/{seed}"), every=50)
    out: list[dict] = []
    for slot in slots:
        out.extend(_slot_records(world, sessions, slot, f"noise/{seed}")[1])
    return out


def write_trail(
    out_dir: str | os.PathLike[str],
    events: int,
    seed: int = 0,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    records_per_file: int = 1000,
    org_id: str = DEFAULT_ORG_ID,
    *,
    start: str = "2024-06-01T00:00:00Z",
    workers: int | None = None,
) -> TrailStats:
    """Write ``events`` records as an organization trail under ``out_dir/AWSLogs/<org_id>/``.

    Files hold about ``records_per_file`` records, one file per account, region and five
    minutes from ``start``, plus a CloudTrail-Digest file per account, region and hour.
    ``workers`` processes write them (default: one per CPU); the bytes do not depend on it.
    """
    began = time.perf_counter()
    root = Path(out_dir)
    world = build_world(seed, accounts)
    t0 = calendar.timegm(time.strptime(start, "%Y-%m-%dT%H:%M:%SZ"))
    pairs = sum(len(a.regions) for a in world.accounts.values())
    windows = max(1, -(-events // (records_per_file * pairs)))
    slots, sessions = _plan(world, events, t0, t0 + windows * 300, 300, Random(f"plan/{seed}"))
    args = (str(root), org_id, seed, world, sessions, slots)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(slots) < 4:
        _init_worker(*args)
        files = [_write_slot(i) for i in range(len(slots))]
    else:
        ctx = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=args
        ) as pool:
            files = list(pool.map(_write_slot, range(len(slots)), chunksize=8))
    files = [f for f in files if f is not None]
    digests = write_digests(root, files, org_id)
    return TrailStats(
        out_dir=str(root),
        events=sum(f.records for f in files),
        files=len(files),
        digest_files=len(digests),
        bytes=sum(f.size for f in files),
        accounts=len(world.accounts),
        regions=len({r for a in world.accounts.values() for r in a.regions}),
        principals=world.principals,
        sessions=len(sessions),
        start=R.iso(t0),
        end=R.iso(t0 + windows * 300),
        seconds=round(time.perf_counter() - began, 3),
    )


def _plan(
    world: World, events: int, start: int, end: int, window: int, rng: Random, every: int = 150
) -> tuple[list[_Slot], list[_Session]]:
    """Cut ``events`` into slots and issue sessions: each STS record lands in its slot."""
    pairs = [(a.id, r) for a in world.accounts.values() for r in a.regions]
    weights = [1.5 if r == "us-east-1" else 1.0 for _, r in pairs]
    nwin = max(1, -(-(end - start) // window))
    total = sum(weights) * nwin
    slots, where, acc = [], {}, 0.0
    for w in range(nwin):
        for (acct, region), weight in zip(pairs, weights, strict=True):
            before = int(acc)
            acc = events if len(slots) == nwin * len(pairs) - 1 else acc + events * weight / total
            s0 = start + w * window
            slot = _Slot(len(slots), acct, region, s0, min(s0 + window, end), int(acc) - before)
            where[(acct, region, w)] = slot
            slots.append(slot)
    sessions: list[_Session] = []
    for slot in slots:
        expected = slot.count / every
        n = int(expected) + (rng.random() < expected % 1)
        w = (slot.start - start) // window
        for _ in range(n):
            if len(slot.fixed) >= slot.count:
                break
            hub_slot = where.get((world.hub, slot.region, w))
            session = _issue(world, slot, hub_slot, rng)
            sessions.append(session)
            for w2 in range(w, min(nwin, (session.expires - start) // window + 1)):
                where[(slot.account, slot.region, w2)].active.append(len(sessions) - 1)
        if (
            slot.account == world.hub
            and slot.region == "us-east-1"
            and len(slot.fixed) < slot.count
        ):
            if rng.random() < min(1.0, slot.count / 400):
                actor = rng.choice([u for u, person in world.accounts[world.hub].users if person])
                signin = R.Actor(
                    {k: v for k, v in actor.identity.items() if k != "accessKeyId"},
                    actor.ip,
                    _UAS[-1],
                )
                ts = slot.start + rng.randrange(slot.end - slot.start)
                mfa = rng.random() >= world.no_mfa_rate
                slot.fixed.append((ts, R.console_login(rng, signin, ts, world.hub, mfa=mfa)))
    return slots, sessions


def _issue(world: World, slot: _Slot, hub_slot: _Slot | None, rng: Random) -> _Session:
    """Start one role session in ``slot``: its STS record(s) and the identity it will use."""
    acct = world.accounts[slot.account]
    role = rng.choice(acct.roles)
    ts = slot.start + rng.randrange(max(1, (slot.end - slot.start) // 2))
    key, created, region = R.key_id(rng, "ASIA"), R.iso(ts), slot.region
    duration, extra, name = 3600, {}, "AssumeRole"
    if role.kind == "ec2":
        session, ip = rng.choice(acct.instances)
        issuer = R.Actor(
            R.aws_service("ec2.amazonaws.com"), "ec2.amazonaws.com", "ec2.amazonaws.com"
        )
        ident = R.assumed_role(
            role.account, role.name, role.role_id, session, key, created, path=role.path, ec2=True
        )
        ua, duration = _SDK_UA, 6 * 3600
    elif role.kind in ("saml", "sso"):
        user = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}@acme.example"
        provider = f"arn:aws:iam::{role.account}:saml-provider/" + (
            "Okta" if role.kind == "saml" else f"AWSSSO_{role.role_id[-8:].lower()}_DO_NOT_DELETE"
        )
        issuer = R.Actor(
            R.saml_user(user, provider, R.hex_id(rng, 12)),
            f"203.0.113.{rng.randrange(2, 250)}",
            _UAS[-1],
        )
        session, ip, ua, name, extra = (
            user,
            issuer.ip,
            _UAS[-1],
            "AssumeRoleWithSAML",
            {"principalArn": provider},
        )
        ident = R.assumed_role(
            role.account, role.name, role.role_id, session, key, created, path=role.path
        )
    elif role.kind == "web":
        sub = f"repo:acme/{rng.choice(_WORDS)}:ref:refs/heads/main"
        issuer = R.Actor(
            R.web_identity_user(_GITHUB, "sts.amazonaws.com", sub),
            f"20.{rng.randrange(1, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            _GITHUB_UA,
        )
        session, ip, ua, name = "GitHubActions", issuer.ip, _GITHUB_UA, "AssumeRoleWithWebIdentity"
        fed = {
            "federatedProvider": f"arn:aws:iam::{role.account}:oidc-provider/{_GITHUB}",
            "attributes": {},
        }
        ident = R.assumed_role(
            role.account, role.name, role.role_id, session, key, created, path=role.path, web_id=fed
        )
    else:
        cross = hub_slot is not None and slot.account != world.hub and rng.random() < 0.35
        cross = cross and len(hub_slot.fixed) < hub_slot.count
        issuer = rng.choice(world.accounts[world.hub if cross else slot.account].users)[0]
        stem = issuer.identity["userName"].split(".")[0]
        session = rng.choice(
            (stem, f"botocore-session-{ts}", f"{stem}-{R.hex_id(rng, 6)}", f"terraform-{ts}")
        )
        ip, ua = issuer.ip, issuer.user_agent
        ident = R.assumed_role(
            role.account, role.name, role.role_id, session, key, created, path=role.path
        )
    rec = R.assume_role(
        rng,
        issuer,
        ts,
        region,
        role.arn,
        role.role_id,
        session,
        key,
        duration=duration,
        name=name,
        params=extra,
    )
    if issuer.account and issuer.account != role.account:  # caller's copy, then the owner's
        hub_slot.fixed.append((ts, rec))
        rec = R.owner_copy(rng, rec, role.account)
    slot.fixed.append((ts, rec))
    return _Session(R.Actor(ident, ip, ua, key), role.account, region, ts, ts + duration)


# -- filling a slot ---------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init_worker(
    root: str, org_id: str, seed: int, world: World, sessions: list, slots: list
) -> None:
    _STATE.update(root=root, org_id=org_id, seed=seed, world=world, sessions=sessions, slots=slots)


def _write_slot(index: int) -> LogFile | None:
    st = _STATE
    slot = st["slots"][index]
    suffix, recs = _slot_records(st["world"], st["sessions"], slot, f"trail/{st['seed']}")
    if not recs:
        return None
    key = log_object_key(slot.account, slot.region, slot.end + 60, suffix, st["org_id"])
    return write_log_file(st["root"], key, recs)


_TOTAL_WEIGHT = sum(c[4] for c in _CALLS)
_CUM = [sum(c[4] for c in _CALLS[: i + 1]) / _TOTAL_WEIGHT for i in range(len(_CALLS))]
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _slot_records(
    world: World, sessions: list[_Session], slot: _Slot, seed: str
) -> tuple[str, list[dict]]:
    """The records of one slot, in time order, and the random suffix of its file name."""
    rng = Random(f"{seed}/{slot.index}")
    suffix = "".join(rng.choices(_ALNUM, k=16))
    acct = world.accounts[slot.account]
    active = [sessions[i] for i in slot.active]
    users = [u for u, _ in acct.users]
    span = slot.end - slot.start
    out = list(slot.fixed)
    for _ in range(slot.count - len(slot.fixed)):
        r = rng.random()
        actor, ts = None, 0
        if r > 0.99 and acct.extras and slot.region == "us-east-1":
            actor, source, name, params = acct.extras[int(rng.random() * len(acct.extras))]
            ts = slot.start + int(rng.random() * span)
            out.append(
                (
                    ts,
                    R.call(
                        rng,
                        actor,
                        ts,
                        source,
                        name,
                        slot.region,
                        acct.id,
                        params=params,
                        read_only=True,
                    ),
                )
            )
            continue
        if active and r < 0.62:
            s = active[int(rng.random() * len(active))]
            lo, hi = max(slot.start, s.issued + 1), min(slot.end, s.expires)
            if lo < hi:
                actor, ts = s.actor, lo + int(rng.random() * (hi - lo))
        if actor is None:
            actor, ts = users[int(rng.random() * len(users))], slot.start + int(rng.random() * span)
        call = _CALLS[bisect(_CUM, rng.random() * 0.99999)]
        if call[0] == "iam.amazonaws.com" and slot.region != "us-east-1":
            call = _WHOAMI  # IAM is global: its calls are logged in us-east-1 only
        out.append((ts, _fill(rng, actor, ts, call, acct, slot.region)))
    out.sort(key=lambda p: p[0])
    return suffix, [rec for _, rec in out]


def _fill(rng: Random, actor: R.Actor, ts: int, call: tuple, acct: _Account, region: str) -> dict:
    """One ordinary call, with request parameters that look like the real ones."""
    source, name, read_only, kind, _ = call
    svc = source.split(".", 1)[0]
    kw: dict[str, Any] = {"read_only": read_only, "version": _VERSIONS.get(svc, "1.11")}
    resource = "*"
    if kind == "s3":
        bucket = acct.buckets[int(rng.random() * 3)]
        obj = f"{rng.choice(_WORDS)}/{ts // 86400}/part-{rng.randrange(10000):05d}.parquet"
        size = rng.randrange(1, 1 << 24)
        kw.update(R.s3_object(bucket, obj, acct.id, region, read=read_only, size=size))
        resource = f"arn:aws:s3:::{bucket}/{obj}"
    elif kind == "kms":
        resource = f"arn:aws:kms:{region}:{acct.id}:key/{acct.kms_key}"
        kw["resources"] = [{"accountId": acct.id, "type": "AWS::KMS::Key", "ARN": resource}]
        kw["params"] = {"keyId": resource, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    elif kind != "none":
        kw["params"] = _PARAMS[kind](rng, acct, name, region)
    if rng.random() < (0.01 if read_only else 0.05):
        code = "Client.UnauthorizedOperation" if svc == "ec2" else "AccessDenied"
        message = R.denied_message(actor.identity.get("arn", ""), f"{svc}:{name}", resource)
        kw["error"] = (code, message)
    return R.call(rng, actor, ts, source, name, region, acct.id, **kw)


def _bucket(rng: Random, acct: _Account, name: str, region: str) -> dict[str, str]:
    bucket = acct.buckets[int(rng.random() * 3)]
    return {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "location": ""}


def _tags(rng: Random, acct: _Account, name: str, region: str) -> dict[str, Any]:
    iid = acct.instances[int(rng.random() * len(acct.instances))][0]
    return {
        "resourcesSet": {"items": [{"resourceId": iid}]},
        "tagSet": {"items": [{"key": "owner", "value": rng.choice(_WORDS)}]},
    }


# request parameters by kind: (rng, account, eventName, region) -> requestParameters
_PARAMS = {
    "ec2": lambda rng, a, name, region: (
        {"instancesSet": {}, "filterSet": {}} if name == "DescribeInstances" else {"filterSet": {}}
    ),
    "tags": _tags,
    "bucket": _bucket,
    "logs": lambda rng, a, name, region: {
        "logGroupName": f"/aws/lambda/{rng.choice(_WORDS)}",
        "logStreamName": R.hex_id(rng, 32),
    },
    "function": lambda rng, a, name, region: {"functionName": f"{rng.choice(_WORDS)}-handler"},
    "table": lambda rng, a, name, region: {"tableName": f"{rng.choice(_WORDS)}-table"},
    "param": lambda rng, a, name, region: {
        "name": f"/app/{rng.choice(_WORDS)}/config",
        "withDecryption": False,
    },
    "secret": lambda rng, a, name, region: {"secretId": rng.choice(a.secrets)},
    "role": lambda rng, a, name, region: {"roleName": rng.choice(a.roles).name},
}
