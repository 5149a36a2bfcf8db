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

import os
from collections import defaultdict
from pathlib import Path
from random import Random
from typing import Any

from graphtrail.synth import records as R
from graphtrail.synth.attack import (
    _ALNUM,
    _BROWSER_UA,
    _CLI_UA,
    _INSTANCE,
    _IP_ALICE,
    _VERSIONS,
    A1,
    A2,
    A3,
    DAY,
    ORG_ID,
    WINDOW,
    AttackStory,
    _epoch,
    _t,
    _user,
)
from graphtrail.synth.trails import (
    LogFile,
    build_world,
    log_object_key,
    noise_records,
    write_digests,
    write_log_file,
)
from graphtrail.synth.truth import FINDING_CATEGORIES, GroundTruth, Hop

__all__ = ["ORG_ID", "FINDING_CATEGORIES", "Hop", "GroundTruth", "build_scenario"]

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


class _Scenario(AttackStory):
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


