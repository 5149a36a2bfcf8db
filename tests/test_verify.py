"""`graphtrail verify` and `graphtrail coverage` on a signed digest chain, clean and tampered.

The trail: one account, two regions, ten hours from 2024-06-01T00:00Z, log files every 15
minutes, signed hourly digests (our own RSA key, the real layout and fields). Logging is
stopped from 03:59 to 06:02 (StopLogging / StartLogging are in the logs), so hours 04 and
05 have no log files and no digests and the chain restarts at 06:00. Event selectors are
narrowed at 07:10 (management events off, data events off for a bucket). Each tamper is
done on a fresh copy and must be reported exactly, nothing else.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from random import Random

import boto3
import pytest

from graphtrail.queries.integrity import judge
from graphtrail.synth import records as R
from graphtrail.synth.digests import (
    deliver_records,
    public_keys_json,
    signing_key,
    write_signed_digests,
)
from graphtrail.synth.trails import build_world, noise_records
from loaders.integrity.copies import FolderCopy
from loaders.integrity.public_keys import keys_from_file
from loaders.integrity.read import read_trail
from tests.conftest import GRAPHTRAIL, ingest_paths, moto_s3

ACCOUNT = "111111111111"
REGIONS = ("us-east-1", "eu-west-1")
T0 = calendar.timegm(time.strptime("2024-06-01T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ"))
HOURS = 10
STOP, START = T0 + 3 * 3600 + 59 * 60, T0 + 6 * 3600 + 120
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail"
BUCKET = "graphtrail-synthetic-org-trail"


@dataclass
class Trail:
    root: Path
    keys_file: Path
    logs: list[str]
    digests: list[str]
    events: dict[str, str]  # eventName -> eventID of the trail changes
    admin_key: str  # the access key that made the trail changes


def _at(hour: int, minute: int = 0) -> str:
    return R.iso(T0 + hour * 3600 + minute * 60)


@pytest.fixture(scope="module")
def trail(tmp_path_factory) -> Trail:
    base = tmp_path_factory.mktemp("verify")
    root = base / "clean"
    world = build_world(3, (ACCOUNT,), {ACCOUNT: REGIONS}, users_per_account=6,
                        roles_per_account=8)
    records = [r for r in noise_records(world, 600, T0, T0 + HOURS * 3600)
               if not STOP <= calendar.timegm(time.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ")) < START]
    admin = world.accounts[ACCOUNT].users[0][0]
    rng = Random(7)
    changes = {}

    def change(name: str, ts: int, params: dict) -> None:
        rec = R.call(rng, admin, ts, "cloudtrail.amazonaws.com", name, "us-east-1", ACCOUNT,
                     params=params)
        changes[name if name not in changes else name + "#2"] = rec["eventID"]
        records.append(rec)

    selectors = {"trailName": TRAIL_ARN, "eventSelectors": [{
        "readWriteType": "All", "includeManagementEvents": True,
        "dataResources": [{"type": "AWS::S3::Object",
                           "values": [f"arn:aws:s3:::acme-{ACCOUNT[-4:]}-data/"]}]}]}
    change("PutEventSelectors", T0 + 3600 + 600, selectors)
    change("StopLogging", STOP, {"name": TRAIL_ARN})
    change("StartLogging", START, {"name": TRAIL_ARN})
    change("PutEventSelectors", T0 + 7 * 3600 + 600, {"trailName": TRAIL_ARN, "eventSelectors": [
        {"readWriteType": "All", "includeManagementEvents": False, "dataResources": []}]})
    files = deliver_records(root, records)
    key = signing_key()
    signed = write_signed_digests(root, files, key, start=T0, end=T0 + HOURS * 3600,
                                  stopped=[(T0 + 4 * 3600, T0 + 6 * 3600)])
    keys_file = base / "public-keys.json"
    keys_file.write_text(json.dumps(public_keys_json(key, T0 - 86400, T0 + 30 * 86400, cli=1)))
    return Trail(root, keys_file, [f.key for f in files], [s.key for s in signed], changes,
                 admin.key)


def verify(*args: str, cwd: Path | None = None) -> tuple[int, dict]:
    proc = subprocess.run([GRAPHTRAIL, "verify", *args, "--format", "json"], capture_output=True,
                          text=True, cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def tampered(trail: Trail, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(trail.root, copy)
    return copy


def problems(report: dict) -> dict:
    names = ("modified", "missing", "not_in_any_digest", "digest_gaps", "bad_signatures",
             "unsigned", "unreadable")
    return {n: report[n] for n in names if report[n]}


def log_of(trail: Trail, region: str, hour: int, nth: int = 0) -> str:
    stamp = time.strftime("%Y%m%dT%H", time.gmtime(T0 + hour * 3600))
    return sorted(k for k in trail.logs if f"_CloudTrail_{region}_{stamp}" in k)[nth]


def digest_ending(trail: Trail, region: str, hour: int) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0 + hour * 3600))
    return next(k for k in trail.digests if f"/CloudTrail-Digest/{region}/" in k and stamp in k)


# -- clean --------------------------------------------------------------------------------

def test_clean_copy_verifies_with_exit_0(trail):
    code, report = verify(str(trail.root), "--public-keys", str(trail.keys_file))
    assert code == 0 and report["valid"] is True
    assert problems(report) == {}
    s = report["summary"]
    assert s["digests"] == len(trail.digests) == 2 * 8
    assert s["digests_signature_verified"] == 16
    assert s["log_files"] == s["log_files_verified"] == len(trail.logs)
    assert all(d["signature"] == "verified" for d in report["digests"])


def test_logging_stopped_two_hours_is_a_restart_explained_by_its_events(trail):
    _, report = verify(str(trail.root), "--public-keys", str(trail.keys_file))
    restarts = sorted(report["chain_restarts"], key=lambda r: r["region"])
    assert [(r["region"], r["from"], r["to"], r["hours"], r["explained"]) for r in restarts] == [
        ("eu-west-1", _at(4), _at(6), 2, True), ("us-east-1", _at(4), _at(6), 2, True)]
    for r in restarts:
        assert {(e["eventName"], e["eventID"]) for e in r["events"]} == {
            ("StopLogging", trail.events["StopLogging"]),
            ("StartLogging", trail.events["StartLogging"])}


def test_a_restart_without_stop_or_start_logging_is_not_valid(trail):
    evidence = read_trail(FolderCopy(trail.root))
    evidence.logs = {k: replace(v, changes=()) for k, v in evidence.logs.items()}
    keys = keys_from_file(trail.keys_file)
    report = judge(evidence, keys)
    assert report.valid is False
    assert [(r["region"], r["explained"], r["events"]) for r in sorted(
        report.chain_restarts, key=lambda r: r["region"])] == [
        ("eu-west-1", False, []), ("us-east-1", False, [])]
    assert report.summary["chain_restarts_unexplained"] == 2


def test_coverage_unlogged_hours_stopped_window_and_reduced_selectors(trail):
    code, report = verify(str(trail.root), "--public-keys", str(trail.keys_file), "--coverage")
    assert code == 0
    cov = report["coverage"]
    assert cov["summary"]["hours"] == 2 * HOURS
    assert cov["summary"]["unlogged_hours"] == 4
    assert sorted((u["region"], u["from"], u["to"], u["hours"]) for u in cov["unlogged"]) == [
        ("eu-west-1", _at(4), _at(6), 2), ("us-east-1", _at(4), _at(6), 2)]
    assert [(w["from"], w["to"], w["stop_event"], w["start_event"]) for w in cov["stopped"]] == [
        (R.iso(STOP), R.iso(START), trail.events["StopLogging"], trail.events["StartLogging"])]
    reduced = [s for s in cov["selectors"] if s["reduced"]]
    assert [(s["eventID"], s["dropped"]) for s in reduced] == [
        (trail.events["PutEventSelectors#2"],
         ["management events off", f"data events off for arn:aws:s3:::acme-{ACCOUNT[-4:]}-data/"])]
    buckets = {d["resource"]: d["count"] for d in cov["data_events"]}
    assert buckets and all(n > 0 for n in buckets.values())


# -- tampered -----------------------------------------------------------------------------

def test_modified_log_file(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    key = log_of(trail, "us-east-1", 1)
    path = copy / key
    body = json.loads(gzip.decompress(path.read_bytes()))
    body["Records"][0]["sourceIPAddress"] = "198.51.100.66"
    path.write_bytes(gzip.compress(json.dumps(body).encode()))
    code, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert code == 1 and report["valid"] is False
    assert list(problems(report)) == ["modified"]
    assert [m["key"] for m in report["modified"]] == [key]


def test_bytes_appended_after_the_gzip_stream(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    key = log_of(trail, "eu-west-1", 7)
    with open(copy / key, "ab") as fh:
        fh.write(gzip.compress(b'{"Records": [{"eventName": "Forged"}]}'))
    _, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert [(m["key"], m["reason"]) for m in report["modified"]] == [
        (key, "bytes appended after the gzip stream")]


def test_deleted_log_file(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    key = log_of(trail, "eu-west-1", 2)
    (copy / key).unlink()
    code, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert code == 1
    assert list(problems(report)) == ["missing"]
    assert [(m["key"], m["digest"]) for m in report["missing"]] == [
        (key, digest_ending(trail, "eu-west-1", 3))]


def test_two_consecutive_deleted_digests(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    gone = [digest_ending(trail, "eu-west-1", h) for h in (2, 3)]
    for key in gone:
        (copy / key).unlink()
        (copy / (key + ".metadata.json")).unlink()
    code, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert code == 1
    assert list(problems(report)) == ["not_in_any_digest", "digest_gaps"]
    assert [(g["account"], g["region"], g["from"], g["to"], g["missing_digests"])
            for g in report["digest_gaps"]] == [(ACCOUNT, "eu-west-1", _at(1), _at(3), 2)]
    orphaned = sorted(k for k in trail.logs if "_eu-west-1_20240601T01" in k
                      or "_eu-west-1_20240601T02" in k)
    assert sorted(n["key"] for n in report["not_in_any_digest"]) == orphaned


def test_corrupt_digest_is_named_and_its_hour_unverified(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    key = digest_ending(trail, "us-east-1", 8)
    (copy / key).write_bytes(b"not a gzip file")
    code, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert code == 1
    assert list(problems(report)) == ["not_in_any_digest", "digest_gaps", "unreadable"]
    [bad] = report["unreadable"]
    assert bad["key"] == key and str(copy / key) in bad["uri"] and bad["error"]
    assert [(g["from"], g["to"], g["missing_digests"], g["cause"])
            for g in report["digest_gaps"]] == [(_at(7), _at(8), 1, "previous digest unreadable")]
    assert sorted(n["key"] for n in report["not_in_any_digest"]) == sorted(
        k for k in trail.logs if "_CloudTrail_us-east-1_20240601T07" in k)


def test_forged_extra_log_file(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    real = log_of(trail, "us-east-1", 7)
    forged = real.replace("T0744Z_", "T0746Z_").rsplit("_", 1)[0] + "_ForgedForgedFo.json.gz"
    shutil.copy(copy / real, copy / forged)
    code, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert code == 1
    assert list(problems(report)) == ["not_in_any_digest"]
    assert [(n["key"], n["after_last_digest"]) for n in report["not_in_any_digest"]] == [
        (forged, False)]


def test_digest_with_a_bad_signature(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    key = digest_ending(trail, "us-east-1", 2)
    sidecar = copy / (key + ".metadata.json")
    head = json.loads(sidecar.read_text())
    sig = head["Metadata"]["signature"]
    head["Metadata"]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    sidecar.write_text(json.dumps(head))
    code, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert code == 1
    assert list(problems(report)) == ["bad_signatures"]
    assert [b["key"] for b in report["bad_signatures"]] == [key]
    assert "signature does not verify (the digest or its signature changed)" in \
        report["bad_signatures"][0]["reasons"]


def test_rewritten_digest_hiding_a_modified_log(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    log_key = log_of(trail, "us-east-1", 8)
    body = gzip.decompress((copy / log_key).read_bytes()).replace(b"203.0.113", b"198.51.100")
    (copy / log_key).write_bytes(gzip.compress(body))

    key = digest_ending(trail, "us-east-1", 9)
    digest = json.loads(gzip.decompress((copy / key).read_bytes()))
    for entry in digest["logFiles"]:
        if entry["s3Object"] == log_key:
            entry["hashValue"] = hashlib.sha256(body).hexdigest()
    (copy / key).write_bytes(gzip.compress(json.dumps(digest).encode()))
    _, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert list(problems(report)) == ["bad_signatures"]
    [bad] = report["bad_signatures"]
    assert bad["key"] == key and len(bad["reasons"]) == 2  # its signature, the next digest's hash


def test_synced_copy_without_sidecars_signs_all_but_the_newest_digests(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    for sidecar in copy.rglob("*.metadata.json"):
        sidecar.unlink()
    code, report = verify(str(copy), "--public-keys", str(trail.keys_file))
    assert code == 1
    assert list(problems(report)) == ["unsigned"]
    # the last digest before logging stopped and the newest one: no later digest names them
    assert sorted(u["key"] for u in report["unsigned"]) == sorted(
        digest_ending(trail, r, h) for r in REGIONS for h in (4, 10))
    assert report["summary"]["digests_signature_verified"] == 12


def test_public_keys_with_cli_v2_times_and_a_wrong_key(trail, tmp_path):
    v2 = json.loads(trail.keys_file.read_text())
    for k in v2["PublicKeyList"]:
        k["ValidityStartTime"] = "2024-05-31T00:00:00+00:00"
        k["ValidityEndTime"] = "2024-07-01T00:00:00+00:00"
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    assert verify(str(trail.root), "--public-keys", str(tmp_path / "v2.json"))[0] == 0
    other = public_keys_json(signing_key(), T0, T0 + 86400)
    other["PublicKeyList"][0]["Fingerprint"] = v2["PublicKeyList"][0]["Fingerprint"]
    (tmp_path / "other.json").write_text(json.dumps(other))
    code, report = verify(str(trail.root), "--public-keys", str(tmp_path / "other.json"))
    assert code == 1 and len(report["bad_signatures"]) == 16


def test_usage_errors_exit_2(trail, tmp_path):
    proc = subprocess.run([GRAPHTRAIL, "verify", str(tmp_path / "nope")], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "nope" in proc.stderr
    (tmp_path / "keys.json").write_text("{}")
    proc = subprocess.run([GRAPHTRAIL, "verify", str(trail.root), "--public-keys",
                           str(tmp_path / "keys.json")], capture_output=True, text=True)
    assert proc.returncode == 2 and "PublicKeyList" in proc.stderr


def test_table_and_csv_formats(trail, tmp_path):
    copy = tampered(trail, tmp_path)
    (copy / log_of(trail, "eu-west-1", 2)).unlink()
    table = subprocess.run([GRAPHTRAIL, "verify", str(copy), "--public-keys",
                            str(trail.keys_file)], capture_output=True, text=True)
    assert table.returncode == 1 and "NOT VALID" in table.stdout and "missing" in table.stdout
    csv_out = subprocess.run([GRAPHTRAIL, "verify", str(copy), "--public-keys",
                              str(trail.keys_file), "--format", "csv"],
                             capture_output=True, text=True).stdout.splitlines()
    assert csv_out[0] == "finding,key,account,region,from,to,detail"
    findings = [line.split(",")[0] for line in csv_out[1:]]
    assert findings.count("missing") == 1 and "nan" not in "".join(csv_out)
    assert set(findings) == {"missing", "chain_restarts"}


# -- the case -----------------------------------------------------------------------------

def test_case_records_integrity_and_case_info_says_it(trail, tmp_path):
    case = ingest_paths([str(trail.root)], tmp_path / "case", workers=0)
    assert not any(m["uri"].endswith(".metadata.json") for m in case.manifest())
    code, _ = verify("--case", str(case.path), "--public-keys", str(trail.keys_file))
    assert code == 0
    stored = json.loads((case.path / "integrity.json").read_text())
    logs = [m["uri"] for m in case.manifest() if m["kind"] == "trail"]
    assert {stored["objects"][u] for u in logs} == {"verified"}
    info = subprocess.run([GRAPHTRAIL, "case", "info", "--case", str(case.path)],
                          capture_output=True, text=True)
    assert f"{len(logs)} of {len(logs)} files verified against signed digests, 4 hours unlogged" \
        in info.stdout
    cov = subprocess.run([GRAPHTRAIL, "coverage", "--case", str(case.path), "--format", "json"],
                         capture_output=True, text=True)
    assert cov.returncode == 0
    answer = json.loads(cov.stdout)
    assert answer["summary"]["unlogged_hours"] == 4
    assert [w["stop_event"] for w in answer["stopped"]] == [trail.events["StopLogging"]]
    page = tmp_path / "report.html"
    proc = subprocess.run([GRAPHTRAIL, "report", "--access-key", trail.admin_key, "--case",
                           str(case.path), "--out", str(page)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    section = html.split('id="integrity"', 1)[1].split("</section>", 1)[0]
    assert f"{len(logs)} of {len(logs)} files verified against signed digests" in section
    assert "Every log file checked matches a digest whose signature verifies." in section
    files = html.split('aria-label="Source files"', 1)[1].split("</table>", 1)[0]
    assert "<td>verified</td>" in files.replace(' class=""', "") and "not verified" not in files


# -- S3 (moto server over HTTP, digest signatures as object metadata) ----------------------

def _upload(root: Path, bucket: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    items = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith(".metadata.json"):
            meta = {}
            sidecar = path.with_name(path.name + ".metadata.json")
            if sidecar.exists():
                meta = json.loads(sidecar.read_text())["Metadata"]
            items.append((path.relative_to(root).as_posix(), path.read_bytes(), meta))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=i[0], Body=i[1], Metadata=i[2]),
                      items))


def test_s3_clean_tampered_and_copy_trail(trail, tmp_path):
    with moto_s3():
        _upload(trail.root, BUCKET)
        code, report = verify(f"s3://{BUCKET}/", "--public-keys", str(trail.keys_file))
        assert code == 0 and report["summary"]["digests_signature_verified"] == 16
        assert report["summary"]["log_files_verified"] == len(trail.logs)
        dest = tmp_path / "copy"
        proc = subprocess.run([GRAPHTRAIL, "copy-trail", f"s3://{BUCKET}/", str(dest)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert len(list(dest.rglob("*.metadata.json"))) == 16
        assert verify(str(dest), "--public-keys", str(trail.keys_file))[0] == 0
        key = log_of(trail, "us-east-1", 2)
        boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b'{"Records":[]}'))
        boto3.client("s3").delete_object(Bucket=BUCKET, Key=digest_ending(trail, "eu-west-1", 8))
        code, report = verify(f"s3://{BUCKET}/", "--public-keys", str(trail.keys_file))
        assert code == 1
        assert [m["key"] for m in report["modified"]] == [key]
        assert [(g["region"], g["from"], g["to"], g["missing_digests"])
                for g in report["digest_gaps"]] == [("eu-west-1", _at(7), _at(8), 1)]
