"""LookupEvents and CloudTrail Lake against a small CloudTrail look-alike over real HTTP.

moto implements neither API, so the tests start an ``http.server`` on loopback that speaks
CloudTrail's JSON 1.1 protocol (``X-Amz-Target: ...CloudTrail_20131101.<Operation>``), with
pagination tokens and ``ThrottlingException`` answers, plus EC2's ``DescribeRegions``. The
real boto3 client finds it through ``AWS_ENDPOINT_URL`` and runs its own signing, parsing
and retries against it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest

from loaders.sources.base import SourceError
from loaders.sources.lake import build_query, lake_pages, parse_lake_value, record_from_row
from loaders.sources.lookup_events import all_regions, lookup_events_pages
from tests.conftest import fake_aws_env

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
DAY = datetime(2024, 5, 1, tzinfo=UTC)


# --- the fake service -------------------------------------------------------------------


@dataclass
class Call:
    operation: str
    region: str
    body: dict[str, Any]
    at: float
    answered: int = 200


@dataclass
class FakeCloudTrail:
    """What the fake answers, and every request it saw."""

    events: dict[str, list[dict]] = field(default_factory=dict)
    throttle: set[int] = field(default_factory=set)  # 1-based numbers of calls to refuse
    denied_regions: set[str] = field(default_factory=set)
    lake_rows: list[list[dict[str, str]]] = field(default_factory=list)
    lake_page_size: int = 2
    lake_statuses: list[str] = field(default_factory=lambda: ["QUEUED", "RUNNING", "FINISHED"])
    lake_error: str = ""
    deny: set[str] = field(default_factory=set)  # operations answered AccessDenied
    regions: list[str] = field(default_factory=lambda: ["us-east-1", "eu-west-1", "sa-east-1"])
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, operation: str, answered: int | None = 200) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.operation == operation and (answered is None or c.answered == answered)
        ]

    def answer(self, operation: str, region: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            call = Call(operation, region, body, time.monotonic())
            self.calls.append(call)
            number = len(self.calls)
        if number in self.throttle:
            call.answered = 400
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        if operation in self.deny or region in self.denied_regions:
            call.answered = 400
            return 400, {"__type": "AccessDeniedException", "message": f"not allowed: {operation}"}
        return 200, getattr(self, operation)(region, body)

    def LookupEvents(self, region: str, body: dict) -> dict:
        start, end = body["StartTime"], body["EndTime"]
        wanted = {a["AttributeValue"] for a in body.get("LookupAttributes", [])}
        matching = [
            e
            for e in self.events.get(region, [])
            if start <= e["EventTime"] <= end and (not wanted or e["EventName"] in wanted)
        ]
        matching.sort(key=lambda e: e["EventTime"], reverse=True)
        offset = int(body.get("NextToken", "tok-0").removeprefix("tok-"))
        size = body["MaxResults"]
        answer: dict[str, Any] = {"Events": matching[offset : offset + size]}
        if offset + size < len(matching):
            answer["NextToken"] = f"tok-{offset + size}"
        return answer

    def StartQuery(self, region: str, body: dict) -> dict:
        return {"QueryId": "0b9a9e0c-5f0e-4a8c-9d3e-0c1e2f3a4b5c"}

    def DescribeQuery(self, region: str, body: dict) -> dict:
        polls = len(self.of("DescribeQuery"))
        status = self.lake_statuses[min(polls, len(self.lake_statuses)) - 1]
        answer = {"QueryId": body["QueryId"], "QueryStatus": status}
        if status == "FAILED":
            answer["ErrorMessage"] = self.lake_error
        return answer

    def GetQueryResults(self, region: str, body: dict) -> dict:
        offset = int(body.get("NextToken", "page-0").removeprefix("page-"))
        size = self.lake_page_size
        answer: dict[str, Any] = {
            "QueryStatus": "FINISHED",
            "QueryResultRows": self.lake_rows[offset : offset + size],
        }
        if offset + size < len(self.lake_rows):
            answer["NextToken"] = f"page-{offset + size}"
        return answer

    def CancelQuery(self, region: str, body: dict) -> dict:
        return {"QueryId": body["QueryId"], "QueryStatus": "CANCELLED"}


def _handler(fake: FakeCloudTrail) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            scope = self.headers.get("Authorization", "").split("Credential=")[1].split("/")
            region = scope[2]
            target = self.headers.get("X-Amz-Target", "")
            if target.startswith(TARGET):
                status, answer = fake.answer(
                    target.removeprefix(TARGET), region, json.loads(raw or b"{}")
                )
                self._send(status, json.dumps(answer).encode(), "application/x-amz-json-1.1")
            elif parse_qs(raw.decode()).get("Action") == ["DescribeRegions"]:
                self._describe_regions()
            else:
                self._send(
                    400, b'{"__type":"UnknownOperationException"}', "application/x-amz-json-1.1"
                )

        def _describe_regions(self) -> None:
            if "DescribeRegions" in fake.deny:
                error = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>"
                self._send(403, error.encode(), "text/xml")
                return
            items = "".join(
                f"<item><regionName>{r}</regionName><regionEndpoint>ec2.{r}.amazonaws.com</regionEndpoint></item>"
                for r in fake.regions
            )
            body = f'<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><regionInfo>{items}</regionInfo></DescribeRegionsResponse>'
            self._send(200, body.encode(), "text/xml")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", "fake-request")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def server():
    fake_box: dict[str, FakeCloudTrail] = {"fake": FakeCloudTrail()}

    class Router:
        def __getattr__(self, name):
            return getattr(fake_box["fake"], name)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Router()))  # type: ignore[arg-type]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake_box, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake(server, monkeypatch) -> FakeCloudTrail:
    box, url = server
    box["fake"] = FakeCloudTrail()
    fake_aws_env(monkeypatch, url, key="AKIAIOSFODNN7EXAMPLE")
    return box["fake"]


# --- LookupEvents -----------------------------------------------------------------------


def lookup_event(region: str, n: int, name: str) -> dict:
    moment = DAY + timedelta(minutes=7 * n)
    record = {
        "eventVersion": "1.09",
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventName": name,
        "eventSource": "sts.amazonaws.com",
        "awsRegion": region,
        "eventID": f"{region}-{n:04d}",
        "userIdentity": {"type": "IAMUser", "userName": "ci"},
    }
    return {
        "EventId": record["eventID"],
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": moment.timestamp(),
        "EventSource": "sts.amazonaws.com",
        "Username": "ci",
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }


def with_events(fake: FakeCloudTrail, counts: dict[str, int]) -> None:
    for region, count in counts.items():
        names = ["AssumeRole", "GetCallerIdentity", "ListRoles"]
        fake.events[region] = [lookup_event(region, n, names[n % 3]) for n in range(count)]


def page_events(obj) -> list[dict]:
    document = json.loads(obj.fetch())
    assert set(document) == {"Events"}
    return document["Events"]


def test_all_pages_of_every_region_arrive_in_order_despite_throttling(fake):
    with_events(fake, {"us-east-1": 130, "eu-west-1": 20})
    fake.throttle = {2, 5}
    pages = list(
        lookup_events_pages(
            regions=["us-east-1", "eu-west-1"],
            since=DAY,
            until=DAY + timedelta(days=1),
            max_rate=50,
        )
    )

    assert all(p.hint == "lookup-events" and p.kind == "trail" for p in pages)
    by_region: dict[str, list[str]] = {}
    for page in pages:
        region = page.uri.split("/")[2]
        by_region.setdefault(region, []).extend(e["EventId"] for e in page_events(page))
    newest_first = {
        r: [e["EventId"] for e in sorted(evs, key=lambda e: e["EventTime"], reverse=True)]
        for r, evs in fake.events.items()
    }
    assert by_region == newest_first
    assert [len(page_events(p)) for p in pages if "/us-east-1/" in p.uri] == [50, 50, 30]
    assert len({p.uri for p in pages}) == len(pages) == 4

    refused = fake.of("LookupEvents", answered=400)
    assert len(refused) == 2, "the two throttled calls were made"
    assert len(fake.of("LookupEvents")) == 4, "and retried until every page came back"
    for throttled in refused:
        retry = next(c for c in fake.calls if c.at > throttled.at and c.region == throttled.region)
        assert retry.body == throttled.body, "the retry asks for the same page"
    record = json.loads(page_events(pages[0])[0]["CloudTrailEvent"])
    assert record["eventID"] == "us-east-1-0129", "newest first, us-east-1 asked first"


def test_event_name_and_window_are_sent_as_the_api_expects(fake):
    with_events(fake, {"eu-west-1": 120})
    since, until = DAY + timedelta(hours=2), DAY + timedelta(hours=9, minutes=30)
    pages = list(
        lookup_events_pages(
            regions=["eu-west-1"], since=since, until=until, event_name="AssumeRole", max_rate=50
        )
    )

    calls = fake.of("LookupEvents")
    assert calls and all(c.region == "eu-west-1" for c in calls)
    for call in calls:
        assert call.body["LookupAttributes"] == [
            {"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}
        ]
        assert (
            call.body["StartTime"] == since.timestamp()
            and call.body["EndTime"] == until.timestamp()
        )
        assert call.body["MaxResults"] == 50
    events = [e for p in pages for e in page_events(p)]
    assert events and {e["EventName"] for e in events} == {"AssumeRole"}
    assert all(
        since.timestamp() <= datetime.fromisoformat(e["EventTime"]).timestamp() <= until.timestamp()
        for e in events
    )
    assert all(e["EventTime"].endswith("Z") for e in events), "EventTime is JSON, not a datetime"


def test_calls_to_one_region_are_paced_to_two_per_second(fake):
    with_events(fake, {"us-east-1": 160})
    started = time.monotonic()
    pages = list(
        lookup_events_pages(regions=["us-east-1"], since=DAY, until=DAY + timedelta(days=1))
    )
    elapsed = time.monotonic() - started

    assert len(pages) == 4
    starts = [c.at for c in fake.of("LookupEvents")]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.45, gaps
    assert elapsed >= 1.4


def test_regions_are_interleaved_so_each_spends_its_own_budget(fake):
    with_events(fake, {"us-east-1": 100, "eu-west-1": 100, "sa-east-1": 100})
    started = time.monotonic()
    pages = list(
        lookup_events_pages(
            regions=["us-east-1", "eu-west-1", "sa-east-1"],
            since=DAY,
            until=DAY + timedelta(days=1),
        )
    )
    elapsed = time.monotonic() - started
    assert len(pages) == 6
    assert [p.uri.split("/")[2] for p in pages[:3]] == ["us-east-1", "eu-west-1", "sa-east-1"]
    assert elapsed < 1.5, "six calls over three regions need one pause, not five"


def test_denied_region_says_which_permission_is_missing(fake):
    with_events(fake, {"us-east-1": 10})
    fake.denied_regions = {"ap-south-1"}
    with pytest.raises(SourceError, match=r"LookupEvents in ap-south-1.*cloudtrail:LookupEvents"):
        list(lookup_events_pages(regions=["ap-south-1"], since=DAY, until=DAY + timedelta(days=1)))


def test_since_after_until_is_refused_before_any_call(fake):
    with pytest.raises(SourceError, match="after"):
        list(lookup_events_pages(regions=["us-east-1"], since=DAY, until=DAY - timedelta(days=1)))
    assert fake.calls == []


def test_all_regions_asks_ec2_then_falls_back_to_botocore(fake):
    assert all_regions(boto3.Session()) == ["eu-west-1", "sa-east-1", "us-east-1"]
    fake.deny = {"DescribeRegions"}
    fallback = all_regions(boto3.Session())
    assert "us-east-1" in fallback and len(fallback) > 10


# --- CloudTrail Lake --------------------------------------------------------------------

STORE = "EXAMPLEf-852e-4e8f-8bd1-bcf6cEXAMPLE"
STRUCT_COLUMNS = {"userIdentity", "resources", "addendum", "tlsDetails"}
MAP_COLUMNS = {"requestParameters", "responseElements", "additionalEventData"}


def lake_text(value: Any, lower_keys: bool) -> str:
    """How Lake renders a struct (keys lower-cased) or a map (values are strings)."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        inner = ", ".join(
            f"{k.lower() if lower_keys else k}={lake_text(v, lower_keys)}" for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(lake_text(v, lower_keys) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    return text.replace("T", " ").replace("Z", ".000") if _looks_like_time(text) else text


def _looks_like_time(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def lake_row(record: dict, json_identity: bool = False) -> list[dict[str, str]]:
    row = []
    for name, value in record.items():
        if name in STRUCT_COLUMNS:
            text = (
                json.dumps(value)
                if json_identity and name == "userIdentity"
                else lake_text(value, lower_keys=True)
            )
        elif name in MAP_COLUMNS:
            strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
            text = "{" + ", ".join(f"{k}={v}" for k, v in strings.items()) + "}"
        else:
            text = lake_text(value, lower_keys=False)
        row.append({name.lower() if name != "eventTime" else name: text})
    return row


def assumed_role_record(n: int) -> dict:
    session_name = "alice=admin,ops" if n % 2 else f"ci-{n}"
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE:{session_name}",
            "arn": f"arn:aws:sts::111122223333:assumed-role/Deployer/{session_name}",
            "accountId": "111122223333",
            "accessKeyId": f"ASIAEXAMPLE{n:05d}",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": "arn:aws:iam::111122223333:role/Deployer",
                    "accountId": "111122223333",
                    "userName": "Deployer",
                },
                "attributes": {"creationDate": "2024-05-01T09:59:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": (DAY + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11 Linux, botocore/1.34",
        "requestParameters": {
            "roleArn": "arn:aws:iam::444455556666:role/Admin",
            "roleSessionName": f"hop-{n}",
            "durationSeconds": "3600",
            "tags": [{"key": "team", "value": "red"}],
        },
        "responseElements": {
            "credentials": {
                "accessKeyId": f"ASIANEXT{n:05d}",
                "expiration": "May 1, 2024, 11:00:00 AM",
            },
            "assumedRoleUser": {"arn": f"arn:aws:sts::444455556666:assumed-role/Admin/hop-{n}"},
        },
        "requestID": f"req-{n}",
        "eventID": f"lake-{n:04d}",
        "readOnly": False,
        "resources": [
            {
                "accountId": "444455556666",
                "type": "AWS::IAM::Role",
                "ARN": "arn:aws:iam::444455556666:role/Admin",
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "sts.amazonaws.com",
        },
    }


def test_lake_query_is_polled_paged_and_rows_become_records(fake):
    records = [assumed_role_record(n) for n in range(5)]
    fake.lake_rows = [lake_row(r, json_identity=(i == 4)) for i, r in enumerate(records)]
    fake.throttle = {3}  # the second DescribeQuery
    since, until = DAY, DAY + timedelta(hours=1)
    pages = list(
        lake_pages(
            STORE,
            since=since,
            until=until,
            sql_filter="eventSource = 'sts.amazonaws.com'",
            poll_interval=0.01,
        )
    )

    start = fake.of("StartQuery")
    assert len(start) == 1
    assert start[0].body["QueryStatement"] == build_query(
        STORE, since, until, "eventSource = 'sts.amazonaws.com'"
    )
    assert (
        f"FROM {STORE} WHERE eventTime >= '2024-05-01 00:00:00'" in start[0].body["QueryStatement"]
    )
    assert [c.body["QueryId"] for c in fake.of("DescribeQuery")] == [
        "0b9a9e0c-5f0e-4a8c-9d3e-0c1e2f3a4b5c"
    ] * 3
    assert len(fake.of("DescribeQuery", answered=400)) == 1, "a throttled poll is retried"
    assert [c.body.get("NextToken") for c in fake.of("GetQueryResults")] == [
        None,
        "page-2",
        "page-4",
    ]

    assert [p.hint for p in pages] == ["lake"] * 3
    assert [p.uri for p in pages] == [
        f"lake://{STORE}/0b9a9e0c-5f0e-4a8c-9d3e-0c1e2f3a4b5c/page-{n:05d}" for n in (1, 2, 3)
    ]
    got = [r for p in pages for r in json.loads(p.fetch())["Records"]]
    assert got == records


def test_lake_notation_reader_handles_the_awkward_cases():
    text = "{type=AssumedRole, principalid=AROA:a=b,c, sessioncontext={attributes={creationdate=2024-05-01 09:59:00.000, mfaauthenticated=true}, sessionissuer=null}, ok=[]}"
    assert parse_lake_value(text) == {
        "type": "AssumedRole",
        "principalid": "AROA:a=b,c",
        "sessioncontext": {
            "attributes": {"creationdate": "2024-05-01 09:59:00.000", "mfaauthenticated": "true"},
            "sessionissuer": None,
        },
        "ok": [],
    }
    row = [
        {"useridentity": text},
        {"eventtime": "2024-05-01 10:00:00.000"},
        {"errorcode": ""},
        {"requestparameters": "{broken"},
    ]
    record = record_from_row(row)
    assert record["userIdentity"]["sessionContext"]["attributes"] == {
        "creationDate": "2024-05-01T09:59:00Z",
        "mfaAuthenticated": "true",
    }
    assert record["userIdentity"]["principalId"] == "AROA:a=b,c"
    assert record["eventTime"] == "2024-05-01T10:00:00Z"
    assert "errorCode" not in record
    assert record["requestParameters"] == "{broken", "unreadable text is kept, not lost"


def test_failed_query_reports_lakes_message(fake):
    fake.lake_statuses = ["RUNNING", "FAILED"]
    fake.lake_error = "Column 'nosuch' cannot be resolved"
    with pytest.raises(SourceError, match="ended FAILED: Column 'nosuch' cannot be resolved"):
        list(
            lake_pages(
                STORE,
                since=DAY,
                until=DAY + timedelta(hours=1),
                sql_filter="nosuch = 1",
                poll_interval=0.01,
            )
        )
    assert fake.of("GetQueryResults") == []


def test_query_abandoned_while_running_is_cancelled(fake):
    fake.lake_statuses = ["RUNNING"]
    fake.deny = {"DescribeQuery"}
    with pytest.raises(SourceError, match="DescribeQuery.*access denied"):
        list(lake_pages(STORE, since=DAY, until=DAY + timedelta(hours=1), poll_interval=0.01))
    assert [c.body["QueryId"] for c in fake.of("CancelQuery")] == [
        "0b9a9e0c-5f0e-4a8c-9d3e-0c1e2f3a4b5c"
    ]


def test_store_arn_picks_the_region_and_only_the_id_goes_into_sql(fake):
    arn = f"arn:aws:cloudtrail:eu-central-1:111122223333:eventdatastore/{STORE}"
    fake.lake_statuses = ["FINISHED"]
    assert (
        list(lake_pages(arn, since=DAY, until=DAY + timedelta(hours=1), poll_interval=0.01)) == []
    )
    start = fake.of("StartQuery")[0]
    assert start.region == "eu-central-1"
    assert (
        f"FROM {STORE} WHERE" in start.body["QueryStatement"]
        and "arn:" not in start.body["QueryStatement"]
    )


@pytest.mark.parametrize(
    ("store", "sql_filter"),
    [
        ("eds; DROP TABLE x", None),
        ("arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/a b", None),
        (STORE, "1=1; SELECT * FROM other"),
    ],
)
def test_unsafe_store_ids_and_filters_are_refused_before_any_call(fake, store, sql_filter):
    with pytest.raises(SourceError):
        list(lake_pages(store, since=DAY, until=DAY + timedelta(hours=1), sql_filter=sql_filter))
    assert fake.calls == []


def test_lake_without_a_window_is_refused_before_any_call(fake):
    with pytest.raises(SourceError, match="--since and --until"):
        list(lake_pages(STORE, since=None, until=DAY))  # type: ignore[arg-type]
    assert fake.calls == []
