"""``graphtrail ingest`` from live sources, end to end over real HTTP.

S3: the scenario's trail uploaded to moto's server; ingesting ``s3://`` must give the same
case (and the same answers) as ingesting the files from disk, and a second run must fetch
and add nothing. LookupEvents: the local CloudTrail API server of test_sources_api.
"""

from __future__ import annotations

import json
from datetime import datetime

import boto3
import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.scenarios import build_scenario
from tests.conftest import moto_s3
from tests.test_sources_api import fake, server  # noqa: F401  (fixtures)

BUCKET = "org-trail"


@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_s3() as url:
        yield url


@pytest.fixture(scope="module")
def uploaded(moto_endpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    truth = build_scenario(root / "logs", seed=0, noise_events=2000)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    from concurrent.futures import ThreadPoolExecutor

    files = [p for p in (root / "logs").rglob("*") if p.is_file()]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: s3.put_object(Bucket=BUCKET, Key=str(p.relative_to(root / "logs")),
                                              Body=p.read_bytes()), files))
    return root, truth, len(files)


def _ingest(args: list[str]) -> dict:
    try:  # the summary alone on stdout: click < 8.2 mixes stderr in unless told not to
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+: always apart, and the argument is gone
        runner = CliRunner()
    res = runner.invoke(app, ["ingest", *args, "--format", "json", "--workers", "0"])
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


def test_s3_ingest_equals_disk_ingest_and_reruns_add_nothing(uploaded, tmp_path):
    root, truth, n_files = uploaded
    disk = _ingest([str(root / "logs"), "--case", str(tmp_path / "disk")])
    live = _ingest([f"s3://{BUCKET}/AWSLogs/", "--case", str(tmp_path / "s3")])
    assert live["events_added"] == disk["events_added"] == truth.event_count
    assert live["duplicates"] == disk["duplicates"]
    assert live["digest_files"] == disk["digest_files"] > 0
    a = blast_radius(MemoryStore(Case.open(tmp_path / "disk")), truth.leaked_key)
    b = blast_radius(MemoryStore(Case.open(tmp_path / "s3")), truth.leaked_key)
    assert a.event_ids == b.event_ids == sorted(truth.attacker_event_ids)
    again = _ingest([f"s3://{BUCKET}/AWSLogs/", "--case", str(tmp_path / "s3")])
    assert again["events_added"] == 0 and again["files_read"] == 0
    manifest = Case.open(tmp_path / "s3").manifest()
    assert all(m["uri"].startswith(f"s3://{BUCKET}/") and m["etag"] for m in manifest)
    text = json.dumps(manifest)
    assert "testing" not in text  # no credential lands in the case


def test_s3_window_and_account_filters(uploaded, tmp_path):
    root, truth, _ = uploaded
    hop = truth.chain[2]
    got = _ingest([f"s3://{BUCKET}/AWSLogs/", "--case", str(tmp_path / "w"),
                   "--account", hop.to_account, "--since", hop.issued_at[:10],
                   "--until", hop.issued_at[:10] + "T23:59:59Z"])
    assert 0 < got["events_added"] < truth.event_count
    accts = Case.open(tmp_path / "w").info()["accounts"]
    assert hop.to_account in accts


def test_missing_bucket_is_a_clear_fatal_error(moto_endpoint, tmp_path):
    res = CliRunner().invoke(app, ["ingest", "s3://no-such-bucket-here/AWSLogs/", "--case",
                                   str(tmp_path / "c")])
    assert res.exit_code == 2
    assert "no-such-bucket-here" in res.output


def test_lookup_events_ingest_says_what_it_cannot_contain(fake, tmp_path):  # noqa: F811
    records = [{"eventVersion": "1.08", "eventID": f"00000000-0000-4000-8000-{i:012d}",
                "eventTime": f"2024-05-01T10:{i:02d}:00Z", "eventName": "ListBuckets",
                "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1",
                "recipientAccountId": "111122223333", "sourceIPAddress": "198.51.100.9",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/x",
                                 "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLEKEY000001"}}
               for i in range(60)]
    fake.events["us-east-1"] = [
        {"EventId": r["eventID"], "EventName": r["eventName"],
         "EventTime": datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")).timestamp(),
         "CloudTrailEvent": json.dumps(r)} for r in records]
    fake.throttle = {2}
    got = _ingest(["--lookup-events", "--region", "us-east-1", "--since", "2024-05-01",
                   "--until", "2024-05-02", "--case", str(tmp_path / "le")])
    assert got["events_added"] == 60
    assert any("90 days" in n for n in got["notes"])
    assert len(fake.of("LookupEvents")) >= 2
