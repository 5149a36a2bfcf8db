"""Fixture builders: realistic CloudTrail records, and every envelope they arrive in.

The records tell one small story in account 111122223333: the IAM user ``alice`` (key
``AKIAALICE...``) assumes the role ``deploy``, receives the temporary key ``ASIADEPLOY...``,
and the session uses it; an AWS service assumes a role for itself; ``alice`` creates a new
access key. Every builder returns a plain dict as CloudTrail writes it, and every envelope
builder returns the bytes a user would be handed.

>>> r = iam_user_call("ListUsers", n=3)
>>> r["userIdentity"]["type"], r["eventID"]
('IAMUser', '00000003-0000-4000-8000-000000000003')
>>> json.loads(s3_delivery([r]))["Records"][0]["eventName"]
'ListUsers'
"""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "ACCOUNT",
    "OTHER_ACCOUNT",
    "ORG_ID",
    "ALICE_KEY",
    "SESSION_KEY",
    "NEW_USER_KEY",
    "ROLE_ARN",
    "event_id",
    "at",
    "iam_user_identity",
    "assumed_role_identity",
    "iam_user_call",
    "assume_role",
    "assumed_role_call",
    "service_assume_role",
    "create_access_key",
    "insight_event",
    "digest_document",
    "story",
    "s3_key",
    "s3_delivery",
    "gz",
    "json_array",
    "json_lines",
    "concatenated",
    "lookup_entry",
    "lookup_events_response",
    "lookup_events_lines",
    "eventbridge",
    "lower_keys",
    "datadog_forwarded",
    "write",
    "ingest_into",
    "rows",
]

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ORG_ID = "o-a1b2c3d4e5"
ALICE_KEY = "AKIAALICE0000EXAMPLE"
SESSION_KEY = "ASIADEPLOY000EXAMPLE"
NEW_USER_KEY = "AKIANEWKEY000EXAMPLE"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/deploy"
ROLE_ID = "AROADEPLOYROLEEXAMPLE"
START = datetime(2024, 8, 1, 13, 40, 0, tzinfo=UTC)


def event_id(n: int) -> str:
    """A UUID-shaped eventID, distinct for every ``n``."""
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def at(n: int) -> str:
    """CloudTrail's time format, ``n`` seconds after the story starts."""
    return (START + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_user_identity(user: str = "alice", key: str = ALICE_KEY, account: str = ACCOUNT) -> dict:
    return {
        "type": "IAMUser",
        "principalId": "AIDAALICEEXAMPLE00001",
        "arn": f"arn:aws:iam::{account}:user/{user}",
        "accountId": account,
        "accessKeyId": key,
        "userName": user,
    }


def assumed_role_identity(
    session: str = "alice-deploy",
    key: str = SESSION_KEY,
    created: str | None = None,
    mfa: str = "true",
    source_identity: str | None = "alice",
) -> dict:
    context: dict[str, Any] = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": ROLE_ID,
            "arn": ROLE_ARN,
            "accountId": ACCOUNT,
            "userName": "deploy",
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": created or at(10), "mfaAuthenticated": mfa},
    }
    if source_identity:
        context["sourceIdentity"] = source_identity
    return {
        "type": "AssumedRole",
        "principalId": f"{ROLE_ID}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": context,
    }


def _record(
    name: str,
    source: str,
    n: int,
    identity: dict | None,
    *,
    version: str = "1.08",
    region: str = "us-east-1",
    ip: str = "198.51.100.7",
    agent: str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1",
    **extra: Any,
) -> dict:
    rec: dict[str, Any] = {"eventVersion": version}
    if identity is not None:
        rec["userIdentity"] = copy.deepcopy(identity)
    rec.update(
        {
            "eventTime": at(n),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
            "requestParameters": None,
            "responseElements": None,
            "requestID": f"req-{n:06d}",
            "eventID": event_id(n),
            "readOnly": name.startswith(("List", "Get", "Describe")),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        }
    )
    rec.update(extra)
    return rec


def iam_user_call(
    name: str = "ListBuckets",
    source: str = "s3.amazonaws.com",
    *,
    n: int = 1,
    user: str = "alice",
    key: str = ALICE_KEY,
    **extra: Any,
) -> dict:
    """A call made with an IAM user's long-term key."""
    return _record(name, source, n, iam_user_identity(user, key), **extra)


def assume_role(
    *,
    n: int = 10,
    caller: dict | None = None,
    session: str = "alice-deploy",
    issued: str = SESSION_KEY,
    expiration: str = "Aug 1, 2024 2:42:21 PM",
    name: str = "AssumeRole",
    **extra: Any,
) -> dict:
    """An STS call that hands out a temporary credential in ``responseElements``."""
    params: dict[str, Any] = {
        "roleArn": ROLE_ARN,
        "roleSessionName": session,
        "durationSeconds": 3600,
    }
    if name == "AssumeRole":
        params["sourceIdentity"] = "alice"
    response = {
        "credentials": {
            "accessKeyId": issued,
            "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
            "expiration": expiration,
        },
        "assumedRoleUser": {
            "assumedRoleId": f"{ROLE_ID}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{session}",
        },
    }
    identity = caller if caller is not None else iam_user_identity()
    rec = _record(
        name,
        "sts.amazonaws.com",
        n,
        identity,
        requestParameters=params,
        responseElements=response,
        **extra,
    )
    rec["readOnly"] = True
    return rec


def assumed_role_call(
    name: str = "GetCallerIdentity",
    source: str = "sts.amazonaws.com",
    *,
    n: int = 20,
    key: str = SESSION_KEY,
    **extra: Any,
) -> dict:
    """A call made by the ``deploy`` session, with its session context."""
    return _record(name, source, n, assumed_role_identity(key=key), **extra)


def service_assume_role(*, n: int = 30) -> dict:
    """An AWS service assuming a role: no caller key, ``invokedBy`` and a service source IP."""
    identity = {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}
    rec = assume_role(
        n=n,
        caller=identity,
        session="awslambda_123",
        issued="ASIALAMBDA000EXAMPLE",
        ip="lambda.amazonaws.com",
        agent="lambda.amazonaws.com",
    )
    rec["eventType"] = "AwsServiceEvent"
    rec["sharedEventID"] = "5f1e2d3c-0000-4000-8000-00000000beef"
    return rec


def create_access_key(*, n: int = 40, for_user: str = "bob", new_key: str = NEW_USER_KEY) -> dict:
    response = {
        "accessKey": {
            "accessKeyId": new_key,
            "status": "Active",
            "userName": for_user,
            "createDate": "Aug 1, 2024 1:50:00 PM",
        }
    }
    return iam_user_call(
        "CreateAccessKey",
        "iam.amazonaws.com",
        n=n,
        requestParameters={"userName": for_user},
        responseElements=response,
    )


def insight_event(*, n: int = 50, state: str = "Start") -> dict:
    """A CloudTrail Insights event: no eventName, eventSource or identity of its own."""
    return {
        "eventVersion": "1.08",
        "eventTime": at(n),
        "awsRegion": "us-east-1",
        "eventID": event_id(n),
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": ACCOUNT,
        "sharedEventID": event_id(n + 1),
        "insightDetails": {
            "state": state,
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateAccessKey",
            "insightType": "ApiCallRateInsight",
            "insightContext": {
                "statistics": {"baseline": {"average": 0.01}, "insight": {"average": 5.0}}
            },
        },
        "eventCategory": "Insight",
    }


def digest_document(account: str = ACCOUNT, region: str = "us-east-1") -> dict:
    """The body of a CloudTrail-Digest file: integrity hashes, never API calls."""
    return {
        "awsAccountId": account,
        "digestStartTime": "2024-08-01T13:00:00Z",
        "digestEndTime": "2024-08-01T14:00:00Z",
        "digestS3Bucket": "trail-bucket",
        "digestS3Object": s3_key(account, region, digest=True),
        "digestPublicKeyFingerprint": "0123456789abcdef0123456789abcdef",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": "2024-08-01T13:59:00Z",
        "oldestEventTime": "2024-08-01T13:01:00Z",
        "previousDigestS3Bucket": "trail-bucket",
        "previousDigestHashValue": "aa" * 32,
        "previousDigestHashAlgorithm": "SHA-256",
        "previousDigestSignature": "bb" * 64,
        "logFiles": [
            {
                "s3Bucket": "trail-bucket",
                "s3Object": s3_key(account, region),
                "hashValue": "cc" * 32,
                "hashAlgorithm": "SHA-256",
                "newestEventTime": "2024-08-01T13:59:00Z",
                "oldestEventTime": "2024-08-01T13:01:00Z",
            }
        ],
    }


def story() -> list[dict]:
    """Seven records, in time order: the user, the role session it opens, a service, a new key."""
    return [
        iam_user_call("ListRoles", "iam.amazonaws.com", n=1),
        assume_role(n=10),
        assumed_role_call("GetCallerIdentity", n=20),
        assumed_role_call("ListBuckets", "s3.amazonaws.com", n=21),
        service_assume_role(n=30),
        create_access_key(n=40),
        iam_user_call(
            "GetObject",
            "s3.amazonaws.com",
            n=41,
            eventCategory="Data",
            requestParameters={"bucketName": "finance", "key": "q3.xlsx"},
        ),
    ]


# -- envelopes ----------------------------------------------------------------------------


def s3_key(
    account: str = ACCOUNT,
    region: str = "us-east-1",
    *,
    org: str | None = None,
    day: str = "2024/08/01",
    stamp: str = "20240801T1345Z",
    tag: str = "AbCdEf0123456789",
    digest: bool = False,
    insight: bool = False,
) -> str:
    """Where CloudTrail delivers a file: ``AWSLogs/[<org>/]<account>/CloudTrail/<region>/...``."""
    kind = "CloudTrail-Digest" if digest else "CloudTrail-Insight" if insight else "CloudTrail"
    prefix = f"AWSLogs/{org}/{account}" if org else f"AWSLogs/{account}"
    name = f"{account}_{kind}_{region}_{stamp}_{tag}.json.gz"
    return f"{prefix}/{kind}/{region}/{day}/{name}"


def s3_delivery(records: list[dict]) -> bytes:
    """An S3-delivered trail file's content, before gzip: one line, ``{"Records": [...]}``."""
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def json_array(records: list[Any], *, indent: int | None = 2) -> bytes:
    return json.dumps(records, indent=indent).encode()


def json_lines(items: list[Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in items)


def concatenated(items: list[Any]) -> bytes:
    """Kinesis Firehose: JSON objects back to back, no separator at all."""
    return b"".join(json.dumps(x, separators=(",", ":")).encode() for x in items)


def lookup_entry(record: dict) -> dict:
    """One entry of ``aws cloudtrail lookup-events``: the record is a JSON *string*."""
    t = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    local = t.astimezone(datetime.strptime("+1100", "%z").tzinfo)  # the CLI prints local time
    ident = record.get("userIdentity") or {}
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": str(record.get("readOnly")).lower(),
        "AccessKeyId": ident.get("accessKeyId", ""),
        "EventTime": local.isoformat(sep=" "),
        "EventSource": record["eventSource"],
        "Username": ident.get("userName", ""),
        "Resources": [],
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }


def lookup_events_response(records: list[dict]) -> bytes:
    """The CLI's whole response, as ``aws cloudtrail lookup-events > out.json`` writes it."""
    return json.dumps(
        {"Events": [lookup_entry(r) for r in records], "NextToken": "eyJOZXh0VG9rZW4iOiBudWxsfQ=="},
        indent=4,
    ).encode()


def lookup_events_lines(records: list[dict]) -> bytes:
    return json_lines([lookup_entry(r) for r in records])


def eventbridge(record: dict) -> dict:
    """An EventBridge event for a CloudTrail API call; the record is in ``detail``."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + record["eventSource"].split(".")[0],
        "account": record.get("recipientAccountId", ACCOUNT),
        "time": record["eventTime"],
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }


def lower_keys(record: Any, *, payloads: bool = False) -> Any:
    """Lower-case the keys as data-lake exports do (payloads keep theirs unless asked)."""
    if isinstance(record, list):
        return [lower_keys(x, payloads=payloads) for x in record]
    if not isinstance(record, dict):
        return record
    out = {}
    for k, v in record.items():
        if k in ("requestParameters", "responseElements") and not payloads:
            out[k.lower()] = v
        else:
            out[k.lower()] = lower_keys(v, payloads=payloads)
    return out


def datadog_forwarded(record: dict) -> dict:
    """A record as the Datadog Lambda forwarder writes it: source IP and user agent moved."""
    rec = copy.deepcopy(record)
    ip = rec.pop("sourceIPAddress")
    agent = rec.pop("userAgent")
    rec["network"] = {"ip": {"list": [ip]}, "client": {"ip": ip, "geoip": {"ipAddress": ip}}}
    rec["http"] = {"useragent": agent, "useragent_details": {"os": {"family": "Other"}}}
    rec["evt"] = {"name": rec["eventName"]}
    rec["aws"] = {"function_version": "$LATEST"}
    return rec


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` at ``path``, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def ingest_into(case_dir: Path, *paths: Path | str, workers: int = 0):
    """Ingest ``paths`` into the case at ``case_dir`` as the CLI does; return (summary, case).

    ``workers=0`` reads in this process: library-level tests stay fast and debuggable.
    """
    from graphtrail.cli.ingest import run_ingest
    from graphtrail.store.case import Case
    from loaders.sources.files import list_files

    case = Case.open(case_dir, create=True)
    summary = run_ingest(list(list_files([str(p) for p in paths])), case, workers=workers)
    return summary, Case.open(case_dir)


def rows(case, columns: list[str] | None = None, sort_by: str = "time") -> list[dict]:
    """The case's events as dicts, in a stable order (time, then event id)."""
    table = case.events(columns)
    out = table.to_pylist()
    return sorted(out, key=lambda r: (str(r.get(sort_by)), str(r.get("event_id"))))
