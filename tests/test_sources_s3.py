"""The S3 source against moto's server over real HTTP: layout walk, window, filters, errors.

The trail is an organization trail of 10,080 CloudTrail objects (4 accounts x 3 regions x
7 days, one file every 12 minutes), 504 digests and 28 Insights files, written by a tiny
generator below. Through moto's HTTP front end a PutObject costs ~6 ms on this machine, so
10,000 uploads would take a minute: one account-region-day and a second bucket go up over
HTTP with a thread pool, the rest is written straight into the same in-process moto backend
that the server answers from. Everything the source does (ListObjectsV2, GetObject) goes
over HTTP through boto3, found through ``AWS_ENDPOINT_URL`` as a user's would be.
"""

from __future__ import annotations

import gzip
import json
import random
import socket
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from loaders.sources.base import KNOWN, SourceError
from loaders.sources.s3 import SLACK, file_time, list_s3_objects
from tests.conftest import moto_s3

BUCKET = "org-trail-logs"
ORG = "o-a1b2c3d4e5"
ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
FIRST_DAY = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 7
EVERY = timedelta(minutes=12)
DIGEST_ACCOUNT = "111111111111"
INSIGHT_ACCOUNT, INSIGHT_REGION = "222222222222", "us-east-1"
HTTP_SLICE = ("333333333333", "eu-west-1", "2024/03/02/")
TEAM_ACCOUNT = "999999999999"


@dataclass
class Trail:
    """What the generator wrote: key -> bytes, and the kind of each key."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, body: bytes, kind: str) -> None:
        self.bodies[key] = body
        self.kinds[key] = kind

    def uris(self, predicate=lambda key: True) -> set[str]:
        return {f"s3://{BUCKET}/{key}" for key in self.bodies if predicate(key)}


def _records(rng: random.Random, account: str, region: str, moment: datetime) -> bytes:
    events = []
    for n in range(rng.randint(1, 3)):
        events.append(
            {
                "eventVersion": "1.09",
                "eventTime": (moment - timedelta(minutes=5 + n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": "sts.amazonaws.com",
                "eventName": rng.choice(["AssumeRole", "GetCallerIdentity", "ListRoles"]),
                "awsRegion": region,
                "eventID": f"{rng.getrandbits(128):032x}",
                "recipientAccountId": account,
                "userIdentity": {"type": "IAMUser", "accountId": account, "userName": "ci"},
            }
        )
    return gzip.compress(json.dumps({"Records": events}).encode(), mtime=0)


def _day_path(moment: datetime) -> str:
    return moment.strftime("%Y/%m/%d/")


def generate_trail() -> Trail:
    """An organization trail plus a small account trail under a custom prefix."""
    rng = random.Random(6)
    trail = Trail()
    for account in ACCOUNTS:
        for region in REGIONS:
            base = f"AWSLogs/{ORG}/{account}"
            moment = FIRST_DAY
            while moment < FIRST_DAY + timedelta(days=DAYS):
                stamp = moment.strftime("%Y%m%dT%H%MZ")
                name = f"{account}_CloudTrail_{region}_{stamp}_{rng.getrandbits(40):010x}.json.gz"
                key = f"{base}/CloudTrail/{region}/{_day_path(moment)}{name}"
                trail.add(key, _records(rng, account, region, moment), "trail")
                if account == DIGEST_ACCOUNT and moment.minute == 0:
                    digest = (
                        f"{base}/CloudTrail-Digest/{region}/{_day_path(moment)}{account}_"
                        f"CloudTrail-Digest_{region}_org-trail_us-east-1_{moment:%Y%m%dT%H%M%SZ}.json.gz"
                    )
                    trail.add(digest, gzip.compress(b'{"digestEndTime":"x"}', mtime=0), "digest")
                if (
                    (account, region) == (INSIGHT_ACCOUNT, INSIGHT_REGION)
                    and moment.minute == 0
                    and moment.hour % 6 == 0
                ):
                    insight = (
                        f"{base}/CloudTrail-Insight/{region}/{_day_path(moment)}{account}_"
                        f"CloudTrail-Insight_{region}_{stamp}_{rng.getrandbits(40):010x}.json.gz"
                    )
                    trail.add(insight, _records(rng, account, region, moment), "insights")
                moment += EVERY
    for minute in range(0, 100, 10):
        moment = datetime(2024, 3, 3, 8, minute % 60, tzinfo=UTC) + timedelta(hours=minute // 60)
        name = f"{TEAM_ACCOUNT}_CloudTrail_us-west-2_{moment:%Y%m%dT%H%MZ}_{minute:04d}.json.gz"
        key = f"team/AWSLogs/{TEAM_ACCOUNT}/CloudTrail/us-west-2/{_day_path(moment)}{name}"
        trail.add(key, _records(rng, TEAM_ACCOUNT, "us-west-2", moment), "trail")
    return trail


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    with moto_s3() as url:
        yield url


@pytest.fixture(scope="module")
def trail(endpoint) -> Trail:
    trail = generate_trail()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    over_http = [
        k for k in trail.bodies if all(part in k for part in HTTP_SLICE) or k.startswith("team/")
    ]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=trail.bodies[k]), over_http)
        )
    # the objects the HTTP PUTs made live in moto's S3 backend: keyed "global" in moto 5.0
    # (the declared minimum), by partition ("aws") in later versions
    backends = s3_backends[DEFAULT_ACCOUNT_ID]
    backend = next(backends[k] for k in ("aws", "global") if k in backends)
    for key, body in trail.bodies.items():
        if key not in over_http:
            backend.put_object(BUCKET, key, body)
    return trail


def recording_session() -> tuple[boto3.Session, list[tuple[str, bool]], Counter]:
    """A session that records each ListObjectsV2 (prefix, with delimiter) and counts calls."""
    session = boto3.Session()
    listed: list[tuple[str, bool]] = []
    calls: Counter = Counter()

    def on_list(params, **_):
        listed.append((params.get("Prefix", ""), "Delimiter" in params))

    def on_call(model, **_):
        calls[model.name] += 1

    session.events.register("before-parameter-build.s3.ListObjectsV2", on_list)
    session.events.register("before-call.s3.*", on_call)
    return session, listed, calls


def org(account: str, kind: str = "CloudTrail", region: str = "") -> str:
    return f"AWSLogs/{ORG}/{account}/{kind}/" + (f"{region}/" if region else "")


def test_the_generated_trail_is_an_organization_trail_of_10k_objects(trail):
    kinds = Counter(trail.kinds.values())
    assert kinds["trail"] >= 10_000
    assert kinds["digest"] == 3 * DAYS * 24 and kinds["insights"] == DAYS * 4


def test_whole_trail_is_found_by_walking_the_layout(trail):
    session, listed, calls = recording_session()
    started = time.perf_counter()
    found = list(list_s3_objects(f"s3://{BUCKET}/", session=session))
    elapsed = time.perf_counter() - started

    assert {o.uri for o in found} == trail.uris(lambda k: k.startswith("AWSLogs/"))
    assert len(found) == len({o.uri for o in found})
    assert {o.uri: o.kind for o in found} == {
        f"s3://{BUCKET}/{k}": v for k, v in trail.kinds.items() if k.startswith("AWSLogs/")
    }
    flat = {prefix for prefix, delimited in listed if not delimited}
    expected_leaves = {org(a, "CloudTrail", r) for a in ACCOUNTS for r in REGIONS}
    expected_leaves |= {org(DIGEST_ACCOUNT, "CloudTrail-Digest", r) for r in REGIONS}
    expected_leaves |= {org(INSIGHT_ACCOUNT, "CloudTrail-Insight", INSIGHT_REGION)}
    assert flat == expected_leaves
    # root, AWSLogs/, the org, each account, each (account, kind): nothing deeper is walked
    assert sum(delimited for _, delimited in listed) == 1 + 1 + 1 + len(ACCOUNTS) + 6
    assert calls["GetObject"] == 0, "listing must not download"
    print(
        f"\nwhole trail: {len(found)} objects, {calls['ListObjectsV2']} List calls, {elapsed:.2f}s"
    )


def test_window_lists_only_the_day_prefixes_it_touches(trail):
    since = datetime(2024, 3, 3, 10, 0, tzinfo=UTC)
    until = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)
    session, listed, calls = recording_session()
    started = time.perf_counter()
    found = list(
        list_s3_objects(f"s3://{BUCKET}/AWSLogs/", since=since, until=until, session=session)
    )
    elapsed = time.perf_counter() - started

    flat = [prefix for prefix, delimited in listed if not delimited]
    assert all(p.endswith(("2024/03/03/", "2024/03/04/")) for p in flat), flat
    region_folders = 3 * len(ACCOUNTS) + len(REGIONS) + 1
    assert len(flat) == len(set(flat)) == 2 * region_folders
    assert not any(p.count("/") > 4 for p, delimited in listed if delimited), "no YYYY/MM walk"

    def in_window(key: str) -> bool:
        stamp = file_time(key)
        return key.startswith("AWSLogs/") and since - SLACK <= stamp <= until + SLACK

    assert {o.uri for o in found} == trail.uris(in_window)
    assert 0 < len(found) < len(trail.bodies) / 5
    print(f"\nwindow: {len(found)} objects, {calls['ListObjectsV2']} List calls, {elapsed:.2f}s")


def test_half_open_window_prunes_years_and_months(trail):
    since = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
    session, listed, _ = recording_session()
    found = list(
        list_s3_objects(f"s3://{BUCKET}/", since=since, accounts=["444444444444"], session=session)
    )

    flat = {prefix for prefix, delimited in listed if not delimited}
    assert flat == {
        org("444444444444", "CloudTrail", r) + f"2024/03/{d}/"
        for r in REGIONS
        for d in ("06", "07")
    }

    def wanted(key: str) -> bool:
        return "/444444444444/" in key and file_time(key) >= since - SLACK

    assert {o.uri for o in found} == trail.uris(wanted)


def test_accounts_and_regions_filters_prune_before_listing(trail):
    session, listed, _ = recording_session()
    found = list(
        list_s3_objects(
            f"s3://{BUCKET}/",
            accounts={"222222222222"},
            regions={"eu-west-1", "us-east-1"},
            since=datetime(2024, 3, 5, tzinfo=UTC),
            until=datetime(2024, 3, 5, 23, 59, tzinfo=UTC),
            session=session,
        )
    )
    for prefix, _ in listed:
        assert not any(f"/{a}/" in prefix for a in ACCOUNTS if a != "222222222222"), prefix
        assert "ap-southeast-2" not in prefix
    assert {o.uri.split("/")[7] for o in found} == {"eu-west-1", "us-east-1"}
    assert {o.uri.split("/")[5] for o in found} == {"222222222222"}
    kinds = Counter(o.kind for o in found)
    assert kinds["insights"] >= 4 and kinds["digest"] == 0
    assert kinds["trail"] == 2 * (24 * 60 // 12 + 5 + 5)  # the day and an hour of slack each side


def test_prefix_deep_inside_the_layout_lists_just_that(trail):
    session, listed, calls = recording_session()
    day = org("333333333333", "CloudTrail", "ap-southeast-2") + "2024/03/05/"
    found = list(list_s3_objects(f"s3://{BUCKET}/{day}", session=session))
    assert {o.uri for o in found} == trail.uris(lambda k: k.startswith(day))
    assert listed == [(day, False)] and calls["ListObjectsV2"] == 1


def test_account_trail_under_its_own_prefix(trail):
    found = list(list_s3_objects(f"s3://{BUCKET}/team", regions=["us-west-2"]))
    assert {o.uri for o in found} == trail.uris(lambda k: k.startswith("team/"))
    assert {o.kind for o in found} == {"trail"}


def test_digests_are_listed_as_digest_without_being_downloaded(trail):
    session, _, calls = recording_session()
    found = list(
        list_s3_objects(
            f"s3://{BUCKET}/AWSLogs/{ORG}/{DIGEST_ACCOUNT}/",
            regions=["us-east-1"],
            since=datetime(2024, 3, 2, 6, tzinfo=UTC),
            until=datetime(2024, 3, 2, 8, tzinfo=UTC),
            session=session,
        )
    )
    digests = [o for o in found if "CloudTrail-Digest" in o.uri]
    assert digests and all(o.kind == "digest" for o in digests)
    assert all(o.kind == "trail" for o in found if o not in digests)
    assert calls["GetObject"] == 0
    assert json.loads(gzip.decompress(digests[0].fetch())) == {"digestEndTime": "x"}


def test_fetch_returns_the_exact_bytes_uploaded(trail):
    found = list(
        list_s3_objects(
            f"s3://{BUCKET}/",
            accounts=[HTTP_SLICE[0], DIGEST_ACCOUNT],
            regions=[HTTP_SLICE[1]],
            since=datetime(2024, 3, 2, tzinfo=UTC),
            until=datetime(2024, 3, 2, 23, tzinfo=UTC),
        )
    )
    http_uploaded = [o for o in found if all(part in o.uri for part in HTTP_SLICE)]
    sample = http_uploaded + found[::7]
    assert {o.kind for o in sample} == {"trail", "digest"}
    assert len(http_uploaded) > 100
    with ThreadPoolExecutor(8) as pool:
        fetched = list(pool.map(lambda o: o.fetch(), sample))
    for obj, body in zip(sample, fetched, strict=True):
        key = obj.uri.removeprefix(f"s3://{BUCKET}/")
        assert body == trail.bodies[key]
        assert obj.size == len(body) and obj.etag and '"' not in obj.etag
    assert json.loads(gzip.decompress(fetched[0]))["Records"]


def test_known_etags_make_a_second_run_fetch_nothing_and_a_third_run_incremental(endpoint):
    bucket = "incremental-trail"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    base = "AWSLogs/555555555555/CloudTrail/eu-central-1/2024/04/01/"

    def put(minute: int) -> None:
        name = f"555555555555_CloudTrail_eu-central-1_20240401T10{minute:02d}Z_{minute:04d}.json.gz"
        s3.put_object(
            Bucket=bucket, Key=base + name, Body=gzip.compress(b'{"Records":[]}', mtime=0)
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(0, 50)))
    window = {
        "since": datetime(2024, 4, 1, 9, tzinfo=UTC),
        "until": datetime(2024, 4, 1, 12, tzinfo=UTC),
    }
    first = list(list_s3_objects(f"s3://{bucket}/", **window))
    assert len(first) == 50
    known = {(o.uri, o.etag) for o in first}
    second = list(list_s3_objects(f"s3://{bucket}/", known_etags=known, **window))
    # listed, to be counted as unchanged, but never fetched
    assert {o.uri for o in second} == {o.uri for o in first}
    assert all(o.kind == KNOWN and o.fetch is None and o.path is None for o in second)
    put(55)
    third = [o for o in list_s3_objects(f"s3://{bucket}/", known_etags=known, **window)
             if o.kind != KNOWN]
    assert len(third) == 1 and "_20240401T1055Z_" in third[0].uri and third[0].fetch is not None


def test_missing_bucket_names_the_bucket(endpoint):
    with pytest.raises(SourceError, match="no-such-trail-bucket"):
        list(list_s3_objects("s3://no-such-trail-bucket/AWSLogs/"))


def test_bucket_root_without_awslogs_says_where_to_point(trail):
    boto3.client("s3").create_bucket(Bucket="not-a-trail")
    with pytest.raises(SourceError, match="no AWSLogs/ folder"):
        list(list_s3_objects("s3://not-a-trail/"))


def _moto_auth(endpoint: str, allowed_unauthenticated: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=allowed_unauthenticated.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).read()


def test_access_denied_and_bad_credentials_are_explained(trail, endpoint):
    iam = boto3.client("iam")
    iam.create_user(UserName="no-rights")
    key = iam.create_access_key(UserName="no-rights")["AccessKey"]
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="loose_CloudTrail_us-east-1_20240301T0000Z_x.json.gz", Body=b"{}"
    )
    no_rights = boto3.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    unknown = boto3.Session(
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x" * 40
    )
    _moto_auth(endpoint, "0")
    try:
        # moto checks signatures of S3 requests whose query holds an encoded '/' wrongly,
        # so the denied request here is a listing of a single object at the bucket root.
        with pytest.raises(SourceError, match=f"access denied .*{BUCKET}.*s3:ListBucket"):
            list(
                list_s3_objects(
                    f"s3://{BUCKET}/loose_CloudTrail_us-east-1_20240301T0000Z_x.json.gz",
                    session=no_rights,
                )
            )
        with pytest.raises(SourceError, match=f"s3://{BUCKET}/AWSLogs/.*invalid or expired"):
            list(list_s3_objects(f"s3://{BUCKET}/AWSLogs/", session=unknown))
    finally:
        _moto_auth(endpoint, "inf")


def test_aws_endpoint_url_s3_wins_over_aws_endpoint_url(trail, endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    day = org("111111111111", "CloudTrail", "us-east-1") + "2024/03/01/"
    assert len(list(list_s3_objects(f"s3://{BUCKET}/{day}"))) == 24 * 60 // 12


@pytest.mark.parametrize("uri", ["https://bucket/x", "s3://UPPER/x", "s3://"])
def test_bad_uris_are_refused(uri):
    with pytest.raises(SourceError):
        list(list_s3_objects(uri))


def test_since_after_until_is_refused():
    with pytest.raises(SourceError, match="after"):
        list(
            list_s3_objects("s3://bucket/", since=datetime(2024, 2, 1), until=datetime(2024, 1, 1))
        )
