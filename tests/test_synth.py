"""The synthetic generators: deterministic, well-formed, and their ground truth holds.

The scenario checks do not trust the generator's bookkeeping: they re-read the files and
recompute every fact (which key issued which session, which copies share an event, which
file sorts first) from the records alone.
"""

from __future__ import annotations

import calendar
import gzip
import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path
from random import Random

import pytest

from graphtrail.synth import records as R
from graphtrail.synth.scenarios import FINDING_CATEGORIES, GroundTruth, build_scenario
from graphtrail.synth.trails import write_trail

LOG_NAME = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<acct>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=acct)_CloudTrail_(?P=region)_"
    r"(?P=y)(?P=m)(?P=d)T\d{4}Z_[A-Za-z0-9]{16}\.json(?:\.gz)?$"
)
DIGEST_NAME = re.compile(
    r"AWSLogs/(?:o-[a-z0-9]+/)?(?P<acct>\d{12})/CloudTrail-Digest/[a-z0-9-]+/\d{4}/\d{2}/\d{2}/"
    r"(?P=acct)_CloudTrail-Digest_[a-z0-9-]+_[\w-]+_[a-z0-9-]+_\d{8}T\d{6}Z\.json\.gz$"
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def read_tree(root: Path) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Every log file's records and every digest, by path relative to ``root``."""
    logs, digests = {}, {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        doc = json.loads(gzip.decompress(data) if rel.endswith(".gz") else data)
        if "CloudTrail-Digest/" in rel:
            assert DIGEST_NAME.search(rel), rel
            digests[rel] = doc
        else:
            assert LOG_NAME.search(rel), rel
            assert set(doc) == {"Records"}, rel
            logs[rel] = doc["Records"]
    return logs, digests


def issued(records: list[dict]) -> dict[str, list[dict]]:
    """STS records that returned credentials, by the key they issued."""
    out = defaultdict(list)
    for r in records:
        creds = (r.get("responseElements") or {}).get("credentials")
        if creds:
            out[creds["accessKeyId"]].append(r)
    return out


def check_session_uses(records: list[dict]) -> None:
    """Each use of a temporary key matches a prior STS record that issued it."""
    by_key = issued(records)
    for r in records:
        ident = r["userIdentity"]
        if ident.get("type") != "AssumedRole" or r.get("sessionCredentialFromConsole"):
            continue
        candidates = [
            s
            for s in by_key[ident["accessKeyId"]]
            if s["responseElements"]["assumedRoleUser"]["arn"] == ident["arn"]
        ]
        # the two copies of a cross-account call are one issuance
        assert len({s.get("sharedEventID") or s["eventID"] for s in candidates}) == 1, r["eventID"]
        sts = candidates[0]
        assert sts["responseElements"]["assumedRoleUser"]["assumedRoleId"] == ident["principalId"]
        assert ident["sessionContext"]["attributes"]["creationDate"] == sts["eventTime"]
        assert sts["eventTime"] <= r["eventTime"]


# -- records --------------------------------------------------------------------------------


def test_ids_and_dates_are_deterministic_and_well_formed():
    a, b = Random(5), Random(5)
    assert [R.uuid4(a), R.key_id(a, "ASIA"), R.unique_id(a)] == [
        R.uuid4(b),
        R.key_id(b, "ASIA"),
        R.unique_id(b),
    ]
    assert UUID.match(R.uuid4(a))
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", R.key_id(a))
    assert R.aws_date(1718222400) == "Jun 12, 2024, 8:00:00 PM"
    assert R.aws_date(1718150400, comma=False) == "Jun 12, 2024 12:00:00 AM"


def test_owner_copy_shares_the_event_and_hides_the_caller():
    rng = Random(1)
    ident = R.assumed_role(
        "111111111111", "A", "AROAAAAAAAAAAAAAAAAAA", "s", "ASIAAAAAAAAAAAAAAAAA", "x"
    )
    caller = R.Actor(ident, "198.51.100.1", "ua", "ASIAAAAAAAAAAAAAAAAA")
    target = R.role_arn("222222222222", "B", "/ops/")
    rec = R.assume_role(
        rng,
        caller,
        1718184000,
        "us-east-1",
        target,
        "AROABBBBBBBBBBBBBBBBB",
        "t",
        "ASIABBBBBBBBBBBBBBBB",
    )
    copy = R.owner_copy(rng, rec, "222222222222")
    assert (
        rec["recipientAccountId"] == "111111111111" and copy["recipientAccountId"] == "222222222222"
    )
    assert rec["sharedEventID"] == copy["sharedEventID"] and rec["eventID"] != copy["eventID"]
    assert copy["userIdentity"] == {
        "type": "AWSAccount",
        "principalId": ident["principalId"],
        "accountId": "111111111111",
    }
    user = rec["responseElements"]["assumedRoleUser"]
    assert user["arn"] == "arn:aws:sts::222222222222:assumed-role/B/t"  # no path in the sts ARN
    assert rec["responseElements"]["credentials"]["expiration"] == "Jun 12, 2024, 10:20:00 AM"
    assert "sharedEventID" not in R.call(rng, caller, 0, "sts.amazonaws.com", "X", "us-east-1", "1")


# -- volume ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_trail(tmp_path_factory):
    out = tmp_path_factory.mktemp("trail")
    stats = write_trail(out, 4000, seed=3, records_per_file=300, workers=1)
    return out, stats


def test_trail_layout_counts_and_digests(small_trail):
    out, stats = small_trail
    logs, digests = read_tree(out)
    records = [r for recs in logs.values() for r in recs]
    assert stats.events == len(records) == 4000
    assert stats.files == len(logs) and stats.digest_files == len(digests) > 0
    assert all(p.startswith("AWSLogs/o-") and p.endswith(".json.gz") for p in logs)
    assert len({r["eventID"] for r in records}) == len(records)
    assert {r["eventVersion"] for r in records} <= {"1.08", "1.09", "1.10", "1.11"}
    listed = {f["s3Object"] for d in digests.values() for f in d["logFiles"]}
    assert listed == set(logs)
    for d in digests.values():
        assert "Records" not in d and {"digestStartTime", "digestEndTime", "awsAccountId"} <= set(d)
    for path, recs in logs.items():
        acct, region = LOG_NAME.search(path).group("acct", "region")
        assert all(r["recipientAccountId"] == acct and r["awsRegion"] == region for r in recs)


def test_trail_sessions_are_issued_then_used(small_trail):
    logs, _ = read_tree(small_trail[0])
    records = [r for recs in logs.values() for r in recs]
    check_session_uses(records)
    kinds = Counter(r["userIdentity"]["type"] for r in records)
    assert {"IAMUser", "AssumedRole", "AWSService", "AWSAccount"} <= set(kinds)
    shared = defaultdict(list)
    for r in records:
        if r.get("sharedEventID") and r["userIdentity"]["type"] != "AWSService":
            shared[r["sharedEventID"]].append(r)
    assert shared and all(len(v) == 2 for v in shared.values())
    assert any(r.get("errorCode") == "AccessDenied" for r in records)
    assert any(r["eventCategory"] == "Data" and r.get("resources") for r in records)
    ec2 = [r for r in records if r["userIdentity"].get("invokedBy") == "ec2.amazonaws.com"]
    assert ec2 and all(r["requestParameters"]["roleSessionName"].startswith("i-") for r in ec2)


def test_trail_bytes_do_not_depend_on_workers(small_trail, tmp_path):
    out, _ = small_trail
    write_trail(tmp_path, 4000, seed=3, records_per_file=300, workers=2)
    mine = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    theirs = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert mine == theirs


# -- scenario -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    truth = build_scenario(out, seed=0, noise_events=1000)
    logs, digests = read_tree(out)
    records = [r for recs in logs.values() for r in recs]
    return out, truth, logs, digests, records, {r["eventID"]: r for r in records}


def test_scenario_is_deterministic(scenario, tmp_path):
    out, truth, *_ = scenario
    again = build_scenario(tmp_path, seed=0, noise_events=1000)
    assert again.to_json() == truth.to_json()
    for rel in truth.files:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes()
    assert (
        build_scenario(tmp_path / "other", seed=1, noise_events=100).leaked_key != truth.leaked_key
    )


def test_scenario_layout(scenario):
    out, truth, logs, digests, records, _ = scenario
    assert sorted(logs) == truth.files and sorted(digests) == truth.digest_files
    assert any(p.endswith(".json") for p in logs) and any(p.endswith(".gz") for p in logs)
    assert any(p.startswith("AWSLogs/o-a1b2c3d4e5/") for p in logs)
    assert any(p.startswith("AWSLogs/111111111111/") for p in logs)
    assert truth.record_count == len(records)
    assert GroundTruth.from_json(truth.to_json()) == truth
    assert set(truth.findings) == set(FINDING_CATEGORIES)


def test_every_session_is_issued_and_used(scenario):
    *_, records, _ = scenario
    check_session_uses(records)


def test_chain_hops(scenario):
    _, truth, _, _, records, by_id = scenario
    assert [h.role_arn for h in truth.chain] == [
        "arn:aws:iam::111111111111:role/DeployRole",
        "arn:aws:iam::222222222222:role/OpsAdmin",
        "arn:aws:iam::333333333333:role/PlatformAdmin",
    ]
    assert truth.chain[0].issued_by_key == truth.leaked_key
    for prev, hop in zip(truth.chain, truth.chain[1:], strict=False):
        assert hop.issued_by_key == prev.issued_key
    keys = issued(records)
    for hop in truth.chain:
        stss = keys[hop.issued_key]  # issued once: one record, or the copies of one call
        assert {s["eventID"] for s in stss} == set(hop.sts_event_ids)
        sts = stss[0]
        assert sts["requestParameters"]["roleArn"] == hop.role_arn_as_written
        assert sts["requestParameters"]["durationSeconds"] == 3600
        uses = [r for r in records if r["userIdentity"].get("accessKeyId") == hop.issued_key]
        assert uses and min(r["eventTime"] for r in uses) > hop.issued_at
        for r in uses:
            ctx = r["userIdentity"]["sessionContext"]
            assert ctx["attributes"]["creationDate"] == hop.issued_at
            assert ctx["sessionIssuer"]["arn"] == hop.role_arn_as_written
        copies = [by_id[e] for e in hop.sts_event_ids]
        if hop.from_account != hop.to_account:
            assert {c["sharedEventID"] for c in copies} == {hop.shared_event_id}
            same = [r for r in records if r.get("sharedEventID") == hop.shared_event_id]
            assert len(same) == len(copies) == (1 if hop.one_sided else 2)
            owner = next(c for c in copies if c["recipientAccountId"] == hop.to_account)
            assert owner["userIdentity"]["type"] == "AWSAccount"
            assert owner["userIdentity"]["accountId"] == hop.from_account
    assert "/ops/" in truth.chain[1].role_arn_as_written
    one = truth.one_sided_hop
    assert truth.chain[one["hop"] - 1].one_sided
    assert by_id[one["present_event_id"]]["recipientAccountId"] == one["logged_in"]
    assert {k["key"] for k in truth.session_keys} == {h.issued_key for h in truth.chain}


def lineage(records: list[dict], leaked_key: str) -> set[str]:
    """Every eventID made by ``leaked_key`` or a credential it led to, found from scratch."""
    creds = {(leaked_key, None)}  # (access key, session ARN or None for long-term keys)
    principals: set[str] = set()
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for r in records:
            ident = r["userIdentity"]
            mine = (
                ident.get("accessKeyId"),
                ident.get("arn") if ident["type"] == "AssumedRole" else None,
            )
            by_copy = ident["type"] == "AWSAccount" and ident["principalId"] in principals
            if mine not in creds and not by_copy:
                continue
            out.add(r["eventID"])
            resp = r.get("responseElements") or {}
            if ident["type"] == "AssumedRole":
                principals.add(ident["principalId"])
            new = set()
            if "credentials" in resp:
                new.add((resp["credentials"]["accessKeyId"], resp["assumedRoleUser"]["arn"]))
            if "accessKey" in resp:
                new.add((resp["accessKey"]["accessKeyId"], None))
            if new - creds:
                creds |= new
                changed = True
    return out


def test_attacker_events_are_exactly_the_lineage(scenario):
    _, truth, _, _, records, by_id = scenario
    assert truth.attacker_event_ids == lineage(records, truth.leaked_key)
    assert {by_id[e]["sourceIPAddress"] for e in truth.attacker_event_ids} == set(
        truth.attacker_ips
    )
    assert all(ip.startswith("198.51.100.") for ip in truth.attacker_ips)
    assert set(truth.failed_assume_role_event_ids) <= truth.attacker_event_ids
    for hop in truth.chain:
        assert set(hop.sts_event_ids) <= truth.attacker_event_ids


def test_alice_overlaps_but_never_joins(scenario):
    _, truth, _, _, records, by_id = scenario
    assert not truth.attacker_event_ids & truth.benign_event_ids
    assert all(truth.benign_principal not in json.dumps(by_id[e]) for e in truth.attacker_event_ids)
    keys = issued(records)
    alice = {}
    for key in truth.benign_keys[1:]:
        sts = keys[key][0]
        assert {s["eventID"] for s in keys[key]} <= truth.benign_event_ids
        role = sts["requestParameters"]["roleArn"]
        alice[role] = (sts["eventTime"], R.iso(epoch(sts["eventTime"]) + 3600))
        assert sts["eventID"] in truth.benign_event_ids
    for hop in truth.chain[:2]:
        start, end = alice[hop.role_arn_as_written]
        assert start < hop.expires_at and hop.issued_at < end  # the sessions overlap in time


def epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def test_recycled_key_is_two_sessions(scenario):
    _, truth, _, _, records, by_id = scenario
    rk = truth.recycled_key
    sts = issued(records)[rk["key"]]
    assert len(sts) == 2
    arns = {s["responseElements"]["assumedRoleUser"]["arn"] for s in sts}
    assert arns == {s["session_arn"] for s in rk["sessions"]} and len(arns) == 2
    first, second = rk["sessions"]
    assert first["expires_at"] < second["issued_at"]
    for s in rk["sessions"]:
        assert s["event_ids"]
        for e in s["event_ids"]:
            assert by_id[e]["userIdentity"]["arn"] == s["session_arn"]
            assert s["issued_at"] < by_id[e]["eventTime"] < s["expires_at"]
    ip = truth.instance_profile_session
    rec = by_id[ip["sts_event_id"]]
    assert rec["userIdentity"] == {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    assert rec["requestParameters"]["roleSessionName"] == ip["instance_id"]


def test_failed_assume_roles(scenario):
    _, truth, _, _, _, by_id = scenario
    assert len(truth.failed_assume_role_event_ids) >= 2
    for e in truth.failed_assume_role_event_ids:
        r = by_id[e]
        assert r["errorCode"] == "AccessDenied" and r["responseElements"] is None
        assert r["requestParameters"]["roleArn"].startswith("arn:aws:iam::444444444444:role/")


def test_out_of_order_and_duplicates(scenario):
    _, truth, logs, *_ = scenario
    ooo = truth.out_of_order_key
    holding = [
        p for p, recs in logs.items() if any(r["eventID"] == ooo["sts_event_id"] for r in recs)
    ]
    first_use = [
        p
        for p, recs in logs.items()
        if any(r["eventID"] == ooo["first_use_event_id"] for r in recs)
    ]
    assert holding == [ooo["sts_file"]] and first_use == [ooo["first_use_file"]]
    assert ooo["first_use_file"] < ooo["sts_file"]
    seen = Counter(r["eventID"] for recs in logs.values() for r in recs)
    assert {e for e, n in seen.items() if n > 1} == truth.duplicate_event_ids
    assert all(seen[e] == 2 for e in truth.duplicate_event_ids)
    assert truth.duplicate_event_ids & truth.attacker_event_ids  # the recon is delivered twice
    assert truth.event_count == len(seen)


def test_persistence_created_and_used(scenario):
    _, truth, _, _, _, by_id = scenario
    kinds = {c["type"]: c for c in truth.created}
    assert {"User", "AccessKey", "LoginProfile", "PolicyVersion", "RoleTrust"} <= set(kinds)
    key = kinds["AccessKey"]
    resp = by_id[key["event_id"]]["responseElements"]["accessKey"]
    assert resp["accessKeyId"] == key["id"].strip() and resp["status"] == "Active"
    for c in truth.created:
        assert c["used_later"] == bool(c["used_event_ids"])
        for e in c["used_event_ids"]:
            assert by_id[e]["eventTime"] > by_id[c["event_id"]]["eventTime"]
    assert {by_id[e]["userIdentity"]["accessKeyId"] for e in key["used_event_ids"]} == {key["id"]}
    assert {by_id[e]["sourceIPAddress"] for e in key["used_event_ids"]} != {
        by_id[key["event_id"]]["sourceIPAddress"]
    }
    assert set(key["used_event_ids"]) <= truth.attacker_event_ids
    assert not truth.external_access_event_ids & truth.attacker_event_ids
    names = {by_id[e]["eventName"] for e in truth.policy_changes}
    assert names == {"AttachUserPolicy", "UpdateAssumeRolePolicy", "CreatePolicyVersion"}
    trust = by_id[kinds["RoleTrust"]["event_id"]]["requestParameters"]["policyDocument"]
    assert "arn:aws:iam::999999999999:root" in trust


def test_findings(scenario):
    _, truth, _, _, records, by_id = scenario
    f = truth.findings
    names = lambda cat: Counter(by_id[e]["eventName"] for e in f[cat])  # noqa: E731
    assert names("credential_access")["GetSecretValue"] >= 10
    assert by_id[f["credential_access"][-1]]["requestParameters"]["withDecryption"] is True
    gets = [by_id[e] for e in f["exfiltration"] if by_id[e]["eventName"] == "GetObject"]
    assert len(gets) >= 50 and len({g["requestParameters"]["bucketName"] for g in gets}) == 1
    assert {"StopLogging", "DeleteDetector"} <= set(names("defense_evasion"))
    assert set(names("defense_evasion")) & {"DeleteTrail", "PutEventSelectors"}
    (run,) = (by_id[e] for e in f["resource_hijacking"])
    assert run["requestParameters"]["instanceType"] == "p3.2xlarge"
    nr = truth.new_region
    before = [
        r
        for r in records
        if r["recipientAccountId"] == nr["account"] and r["awsRegion"] == nr["region"]
    ]
    assert [r["eventID"] for r in before] == [nr["event_id"]]
    (login,) = (by_id[e] for e in f["console_login_without_mfa"])
    assert login["additionalEventData"]["MFAUsed"] == "No"
    no_mfa = [
        r["eventID"] for r in records if (r.get("additionalEventData") or {}).get("MFAUsed") == "No"
    ]
    assert set(no_mfa) == set(f["console_login_without_mfa"])
    roots = [r["eventID"] for r in records if r["userIdentity"].get("type") == "Root"]
    assert sorted(roots) == sorted(f["root_usage"])
    for cat, ids in f.items():
        assert ids, cat
        assert all(e in by_id for e in ids)
