"""Normalization: one typed event per record, whatever its version, shape or oddities.

Records go through the same two steps as the pipeline: :func:`split_records` (typed fast
path for clean S3 files, tolerant path for the rest) and :class:`EventBatch`. The columns
are checked one rule at a time, and both paths must agree.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from loaders.events import EventBatch, parse_time
from loaders.records import split_records
from tests import shapes as S


def normalize(records: list[dict], *, data: bytes | None = None, name: str = "x.jsonl"):
    """Rows of the event table for ``records`` (as JSON Lines unless ``data`` is given)."""
    split = split_records(data if data is not None else S.json_lines(records), name)
    batch = EventBatch()
    batch.add_many(split.records, name)
    table = batch.to_table()
    return table.to_pylist(), batch, split


def one(record: dict, **kw) -> dict:
    got, batch, split = normalize([record], **kw)
    assert len(got) == 1, (batch.skipped, split.skipped, split.problems)
    return got[0]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- time ---------------------------------------------------------------------------------

TIMES = {
    "2024-08-01T13:42:21Z": utc(2024, 8, 1, 13, 42, 21),
    "2024-08-01T13:42:21.250Z": utc(2024, 8, 1, 13, 42, 21, 250000),
    "2024-08-01T13:42:21.123456789Z": utc(2024, 8, 1, 13, 42, 21, 123456),
    "2024-08-02T00:42:21+11:00": utc(2024, 8, 1, 13, 42, 21),
    "2024-08-01T08:42:21-05:00": utc(2024, 8, 1, 13, 42, 21),
    "2024-08-01T13:42:21+00:00": utc(2024, 8, 1, 13, 42, 21),
    "2022-09-27 17:09:18": utc(2022, 9, 27, 17, 9, 18),
    "2022-09-27 17:09:18.5": utc(2022, 9, 27, 17, 9, 18, 500000),
    "2022-02-08 09:23:37+11:00": utc(2022, 2, 7, 22, 23, 37),
    "2024-08-01T13:42:21": utc(2024, 8, 1, 13, 42, 21),
    "Aug 1, 2024 2:42:21 PM": utc(2024, 8, 1, 14, 42, 21),
    "Aug 1, 2024 9:05:00 AM": utc(2024, 8, 1, 9, 5, 0),
}


@pytest.mark.parametrize("value", list(TIMES))
def test_every_time_shape_alone(value):
    """Alone, so the bulk Arrow cast is tried on this shape and falls back if it must."""
    assert one({**S.iam_user_call(), "eventTime": value})["time"] == TIMES[value]


def test_every_time_shape_in_one_batch():
    recs = [{**S.iam_user_call(n=i), "eventTime": v} for i, v in enumerate(TIMES)]
    got, batch, _ = normalize(recs)
    assert [r["time"] for r in got] == list(TIMES.values())
    assert not batch.skipped


def test_parse_time_rejects_what_is_not_a_time():
    for v in ("soon", "", "redacted", "...", None, True):
        assert parse_time(v) is None, v


def test_unreadable_event_time_is_dropped_and_counted_the_rest_loads():
    recs = [
        S.iam_user_call(n=1),
        {**S.iam_user_call(n=2), "eventTime": "redacted"},
        S.iam_user_call(n=3),
    ]
    got, batch, _ = normalize(recs)
    assert [r["event_id"] for r in got] == [S.event_id(1), S.event_id(3)]
    assert batch.skipped == {"unreadable eventTime": 1}
    assert batch.unreadable_by_file == {"x.jsonl": {"unreadable eventTime": 1}}


def test_missing_event_time_is_skipped_with_its_reason_the_rest_loads():
    rec = S.iam_user_call(n=2)
    del rec["eventTime"]
    got, batch, _ = normalize([S.iam_user_call(n=1), rec, S.iam_user_call(n=3)])
    assert [r["event_id"] for r in got] == [S.event_id(1), S.event_id(3)]
    assert batch.skipped == {"missing eventTime": 1}


def test_session_creation_date_and_issued_expiration_are_times():
    r = one(S.assume_role(caller=S.assumed_role_identity(created="2024-08-01T13:00:05Z")))
    assert r["session_created"] == utc(2024, 8, 1, 13, 0, 5)
    assert r["issued_expiration"] == utc(2024, 8, 1, 14, 42, 21)  # "Aug 1, 2024 2:42:21 PM"
    iso = one(S.assume_role(expiration="2024-08-01T14:42:21Z"))
    assert iso["issued_expiration"] == utc(2024, 8, 1, 14, 42, 21)


# -- scalars of another type ---------------------------------------------------------------


def test_account_ids_written_as_numbers_keep_twelve_digits():
    rec = S.assumed_role_call()
    rec["recipientAccountId"] = 12345678901  # "012345678901" with its zero lost
    rec["userIdentity"]["accountId"] = 111122223333
    rec["userIdentity"]["sessionContext"]["sessionIssuer"]["accountId"] = 9876543210
    r = one(rec)
    assert r["recipient_account_id"] == "012345678901"
    assert r["account_id"] == "111122223333"


def test_other_numbers_are_not_padded_like_account_ids():
    rec = {**S.iam_user_call(), "errorCode": 404, "errorMessage": 12}
    r = one(rec)
    assert (r["error_code"], r["error_message"]) == ("404", "12")


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("true", True),
        ("false", False),
        ("TRUE", True),
        (True, True),
        (False, False),
        ("maybe", None),
    ],
)
def test_read_only_as_string_or_bool(raw, expected):
    r = one({**S.iam_user_call(), "readOnly": raw, "sessionCredentialFromConsole": raw})
    assert r["read_only"] is expected
    assert r["from_console"] is expected


def test_epoch_event_time_from_an_export():
    ms = int(utc(2024, 8, 1, 13, 42, 21).timestamp() * 1000)
    assert one({**S.iam_user_call(), "eventTime": ms})["time"] == utc(2024, 8, 1, 13, 42, 21)
    assert one({**S.iam_user_call(), "eventTime": ms // 1000})["time"] == utc(
        2024, 8, 1, 13, 42, 21
    )


# -- identity -----------------------------------------------------------------------------


def test_iam_user_identity():
    r = one(S.iam_user_call("ListRoles", "iam.amazonaws.com"))
    assert (
        r["identity_type"],
        r["identity_arn"],
        r["principal_id"],
        r["access_key_id"],
        r["user_name"],
        r["account_id"],
    ) == (
        "IAMUser",
        f"arn:aws:iam::{S.ACCOUNT}:user/alice",
        "AIDAALICEEXAMPLE00001",
        S.ALICE_KEY,
        "alice",
        S.ACCOUNT,
    )
    assert r["issuer_arn"] is None and r["session_created"] is None and r["mfa"] is None


def test_assumed_role_identity_with_session_context():
    r = one(S.assumed_role_call(n=20))
    assert r["identity_type"] == "AssumedRole"
    assert r["identity_arn"] == f"arn:aws:sts::{S.ACCOUNT}:assumed-role/deploy/alice-deploy"
    assert r["principal_id"] == "AROADEPLOYROLEEXAMPLE:alice-deploy"
    assert r["access_key_id"] == S.SESSION_KEY
    assert (r["issuer_type"], r["issuer_arn"], r["issuer_principal_id"]) == (
        "Role",
        S.ROLE_ARN,
        "AROADEPLOYROLEEXAMPLE",
    )
    assert r["session_created"] == utc(2024, 8, 1, 13, 40, 10)
    assert r["mfa"] is True
    assert r["source_identity"] == "alice"


def test_mfa_false_and_absent():
    no = S.assumed_role_call()
    no["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] = "false"
    assert one(no)["mfa"] is False
    absent = S.assumed_role_call()
    del absent["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"]
    assert one(absent)["mfa"] is None


def test_aws_service_caller_invoked_by_and_shared_event_id():
    r = one(S.service_assume_role())
    assert r["identity_type"] == "AWSService"
    assert r["invoked_by"] == "lambda.amazonaws.com"
    assert r["source_ip"] == "lambda.amazonaws.com"
    assert r["shared_event_id"] == "5f1e2d3c-0000-4000-8000-00000000beef"
    assert r["event_type"] == "AwsServiceEvent"


def test_identity_center_on_behalf_of():
    rec = S.iam_user_call("ListApplications", "sso.amazonaws.com")
    rec["userIdentity"] = {
        "type": "IdentityCenterUser",
        "accountId": S.ACCOUNT,
        "onBehalfOf": {
            "userId": "94482488-3041-7026-18f3-be45837cd0e4",
            "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-9067642ac7",
        },
        "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE",
    }
    r = one(rec)
    assert r["identity_type"] == "IdentityCenterUser"
    assert r["on_behalf_of"] == "94482488-3041-7026-18f3-be45837cd0e4"


def test_web_identity_federation_data():
    provider = f"arn:aws:iam::{S.ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    rec = S.assumed_role_call("GetCallerIdentity")
    rec["userIdentity"]["sessionContext"]["webIdFederationData"] = {
        "federatedProvider": provider,
        "attributes": {},
    }
    assert one(rec)["web_id_provider"] == provider
    # WebIdentityUser, the caller of AssumeRoleWithWebIdentity, names it identityProvider.
    caller = {
        "type": "WebIdentityUser",
        "principalId": "repo:acme/infra:ref:refs/heads/main",
        "userName": "repo:acme/infra:ref:refs/heads/main",
        "identityProvider": "token.actions.githubusercontent.com",
    }
    r = one(S.assume_role(name="AssumeRoleWithWebIdentity", caller=caller))
    assert r["web_id_provider"] == "token.actions.githubusercontent.com"
    assert r["user_name"] == "repo:acme/infra:ref:refs/heads/main"


def test_no_identity_at_all():
    rec = S.iam_user_call()
    del rec["userIdentity"]
    r = one(rec)
    assert (
        r["identity_type"] is None
        and r["identity_arn"] is None
        and r["event_name"] == "ListBuckets"
    )


# -- credentials issued in the response ---------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "AssumeRole",
        "GetSessionToken",
        "GetFederationToken",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
    ],
)
def test_sts_issued_key_and_expiration(name):
    r = one(S.assume_role(name=name, issued="ASIAISSUED0000000001"))
    assert r["issued_key"] == "ASIAISSUED0000000001"
    assert r["issued_expiration"] == utc(2024, 8, 1, 14, 42, 21)


def test_create_access_key_issues_the_new_key():
    r = one(S.create_access_key(new_key="AKIANEWKEY000EXAMPLE"))
    assert r["issued_key"] == "AKIANEWKEY000EXAMPLE"
    assert r["issued_expiration"] is None


def test_failed_or_foreign_calls_issue_nothing():
    denied = S.assume_role()
    denied.update(errorCode="AccessDenied", errorMessage="not authorized", responseElements=None)
    other = S.iam_user_call(
        "ListUsers",
        "iam.amazonaws.com",
        responseElements={"credentials": {"accessKeyId": "ASIANOTISSUED0000000"}},
    )
    got, _, _ = normalize([denied, other])
    assert [r["issued_key"] for r in got] == [None, None]
    assert got[0]["error_code"] == "AccessDenied"


def test_issued_key_in_every_envelope():
    rec = S.assume_role()
    for data, name in (
        (S.s3_delivery([rec]), "a.json"),
        (S.json_lines([rec]), "a.jsonl"),
        (S.lookup_events_response([rec]), "a.json"),
        (S.json_lines([S.eventbridge(rec)]), "a.jsonl"),
        (S.json_lines([S.lower_keys(rec)]), "a.jsonl"),
    ):
        assert one(rec, data=data, name=name)["issued_key"] == S.SESSION_KEY, name


def test_payloads_as_json_strings_from_a_data_lake_export():
    """Athena-style exports lower-case the keys and carry payloads as JSON text."""
    rec = S.lower_keys(S.assume_role())
    rec["requestparameters"] = json.dumps(rec["requestparameters"])
    rec["responseelements"] = json.dumps(rec["responseelements"])
    r = one(rec)
    assert r["issued_key"] == S.SESSION_KEY
    assert json.loads(r["request_parameters"])["roleArn"] == S.ROLE_ARN


# -- payloads -----------------------------------------------------------------------------


def test_request_parameters_kept_as_json_text():
    params = {"bucketName": "finance", "key": "q3 résumé.xlsx", "nested": {"list": [1, 2.5, None]}}
    for data, name in (
        (S.s3_delivery([S.iam_user_call(requestParameters=params)]), "a.json"),
        (
            json.dumps({"Records": [S.iam_user_call(requestParameters=params)]}, indent=2).encode(),
            "a.json",
        ),
        (S.json_lines([S.iam_user_call(requestParameters=params)]), "a.jsonl"),
    ):
        r = one({}, data=data, name=name)
        assert json.loads(r["request_parameters"]) == params
        assert r["response_elements"] is None  # JSON null is no payload


def test_resources_and_additional_event_data_kept():
    rec = S.iam_user_call(
        resources=[{"ARN": "arn:aws:s3:::finance", "type": "AWS::S3::Bucket"}],
        additionalEventData={"bytesTransferredOut": 2048},
    )
    r = one(rec)
    assert json.loads(r["resources"])[0]["ARN"] == "arn:aws:s3:::finance"
    assert json.loads(r["additional_event_data"]) == {"bytesTransferredOut": 2048}


def test_scalar_columns():
    rec = S.iam_user_call(
        "GetObject", "s3.amazonaws.com", n=41, region="eu-west-1", eventCategory="Data"
    )
    r = one(rec)
    assert (
        r["event_source"],
        r["event_name"],
        r["region"],
        r["source_ip"],
        r["user_agent"],
        r["event_category"],
        r["event_type"],
        r["request_id"],
        r["event_version"],
    ) == (
        "s3.amazonaws.com",
        "GetObject",
        "eu-west-1",
        "198.51.100.7",
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1",
        "Data",
        "AwsApiCall",
        "req-000041",
        "1.08",
    )
    assert (r["source_file"], r["record_index"]) == ("x.jsonl", 0)


# -- every eventVersion --------------------------------------------------------------------

# Fields that later versions added, so older records lack them (roughly as CloudTrail grew).
_ADDED_IN = {
    "eventID": "1.01",
    "requestID": "1.01",
    "eventType": "1.02",
    "recipientAccountId": "1.02",
    "readOnly": "1.05",
    "managementEvent": "1.06",
    "sharedEventID": "1.06",
    "eventCategory": "1.07",
    "sessionCredentialFromConsole": "1.08",
    "tlsDetails": "1.08",
}
VERSIONS = [
    "1.0",
    "1.01",
    "1.02",
    "1.03",
    "1.04",
    "1.05",
    "1.06",
    "1.07",
    "1.08",
    "1.09",
    "1.10",
    "1.11",
]


def _as_of(version: str, n: int) -> dict:
    rec = S.assumed_role_call("DescribeInstances", "ec2.amazonaws.com", n=n, version=version)
    for key, since in _ADDED_IN.items():
        if float(version) < float(since):
            rec.pop(key, None)
    if float(version) < 1.04:  # no sessionContext yet
        rec["userIdentity"].pop("sessionContext")
    return rec


@pytest.mark.parametrize("envelope", ["s3 delivery", "json lines"])
def test_every_event_version_loads(envelope):
    recs = [_as_of(v, i) for i, v in enumerate(VERSIONS)]
    data = S.s3_delivery(recs) if envelope == "s3 delivery" else S.json_lines(recs)
    got, batch, split = normalize(
        recs, data=data, name="v.json" if envelope == "s3 delivery" else "v.jsonl"
    )
    assert not batch.skipped and not split.skipped
    assert [r["event_version"] for r in got] == VERSIONS  # "1.10" stays "1.10"
    assert all(r["identity_arn"] and r["event_name"] == "DescribeInstances" for r in got)
    old = got[0]
    assert old["event_id"].startswith("gt-") and old["request_id"] is None
    assert old["issuer_arn"] is None and old["read_only"] is None
    assert got[-1]["event_id"] == S.event_id(11) and got[-1]["issuer_arn"] == S.ROLE_ARN


def test_missing_event_id_gets_a_stable_synthetic_id():
    a, b = S.iam_user_call(n=1), S.iam_user_call(n=2)
    for r in (a, b):
        del r["eventID"]
    first, _, _ = normalize([a, b])
    again, _, _ = normalize([b, a], name="elsewhere.jsonl")
    ids = [r["event_id"] for r in first]
    assert ids[0] != ids[1] and all(i.startswith("gt-") for i in ids)
    assert [r["event_id"] for r in again] == ids[::-1]


def test_missing_event_id_is_the_same_in_a_pretty_file_and_a_compact_one():
    """The same record handed over twice, pretty-printed and compact, is one event."""
    rec = S.iam_user_call(n=1, requestParameters={"bucketName": "finance"})
    del rec["eventID"]
    compact = one(rec, data=S.s3_delivery([rec]), name="a.json")
    pretty = one(rec, data=json.dumps({"Records": [rec]}, indent=2).encode(), name="b.json")
    lines = one(rec, data=S.json_lines([rec]), name="c.jsonl")
    assert compact["event_id"] == pretty["event_id"] == lines["event_id"]


# -- odd records do not sink their file ---------------------------------------------------


def test_odd_types_in_one_record_do_not_sink_the_file():
    odd = S.assumed_role_call("PutObject", "s3.amazonaws.com", n=2)
    odd["userIdentity"]["sessionContext"]["sessionIssuer"] = "deploy"  # should be an object
    odd["sourceIPAddress"] = ["198.51.100.7"]
    odd["userAgent"] = {"name": "boto3"}
    odd["readOnly"] = "yes"
    odd["requestParameters"] = "bucketName=finance"
    recs = [S.iam_user_call(n=1), odd, S.iam_user_call(n=3)]
    for data, name in (
        (S.s3_delivery(recs), "odd.json"),
        (S.json_lines(recs), "odd.jsonl"),
        (S.json_array(recs), "odd.json"),
    ):
        got, batch, split = normalize(recs, data=data, name=name)
        assert [r["event_id"] for r in got] == [S.event_id(i) for i in (1, 2, 3)], name
        assert not batch.skipped and not split.skipped and split.error is None
        r = got[1]
        # The rest of the odd record is intact: the identity, not just the field that was odd.
        assert r["identity_arn"] == f"arn:aws:sts::{S.ACCOUNT}:assumed-role/deploy/alice-deploy"
        assert r["access_key_id"] == S.SESSION_KEY
        assert r["mfa"] is True
        assert r["issuer_arn"] is None
        assert r["read_only"] is None
        assert r["source_ip"] == '["198.51.100.7"]'
        assert json.loads(r["request_parameters"]) == "bucketName=finance"


def test_a_record_that_is_not_an_object_is_counted():
    data = (
        S.json_lines([S.iam_user_call(n=1)])
        + b'"just text"\n42\n'
        + S.json_lines([S.iam_user_call(n=3)])
    )
    got, batch, split = normalize([], data=data)
    assert len(got) == 2 and split.skipped == {"not a CloudTrail record": 2}


def test_typed_and_tolerant_paths_agree():
    """A clean S3 file (typed path) and the same records as JSON Lines with one odd scalar
    (tolerant path) give the same rows."""
    recs = S.story()
    typed, _, _ = normalize(recs, data=S.s3_delivery(recs), name="f")
    odd = copy.deepcopy(recs)
    odd[0]["readOnly"] = "true"  # forces the tolerant path for that record
    tolerant, _, _ = normalize(odd, data=S.json_array(odd), name="f")
    tolerant[0]["read_only"] = typed[0]["read_only"]
    for a, b in zip(typed, tolerant, strict=True):
        for col in ("request_parameters", "response_elements"):
            a[col] = a[col] and json.loads(a[col])
            b[col] = b[col] and json.loads(b[col])
        assert a == b


# -- conversion a file at a time ------------------------------------------------------------

def _mixed_files() -> list[tuple[str, list]]:
    """Three files, each with calls, an issued key, a bad time and a field over the limit."""
    files = []
    for f in range(3):
        recs = [S.iam_user_call(n=f * 1000 + i) for i in range(700)]
        recs[5] = {**recs[5], "eventTime": "redacted"}
        recs[7] = {**recs[7], "userAgent": "x" * 300}
        recs[9] = {**recs[9], "requestParameters": {"policy": "p" * 300}}
        recs.append(S.create_access_key(n=f * 1000 + 800))
        name = f"f{f}.jsonl"
        files.append((name, split_records(S.json_lines(recs), name).records))
    return files


def test_files_converted_as_they_come_give_the_table_of_one_conversion(monkeypatch):
    import loaders.events as events

    def load(convert_rows: int):
        monkeypatch.setattr(events, "CONVERT_ROWS", convert_rows)
        batch = EventBatch(max_field_bytes=200)
        for name, records in _mixed_files():
            assert batch.add_many(records, name) == (701, 0)
        parts = len(batch.converted)
        return batch, parts, batch.to_table()

    (at_once, parts_once, one_table), (by_file, parts, table) = load(10**9), load(500)
    assert (parts_once, parts) == (0, 3) and by_file.n == 3 * 701
    assert table.num_rows == 3 * 700
    assert table.equals(one_table)
    assert by_file.skipped == at_once.skipped == {"unreadable eventTime": 3}
    assert by_file.unreadable_by_file == at_once.unreadable_by_file
    assert by_file.problems_by_file == at_once.problems_by_file
    assert [p.split(":")[0] for p in by_file.problems_by_file["f1.jsonl"]] == ["record 8", "record 10"]
    assert table.column("issued_key").drop_null().to_pylist() == [S.NEW_USER_KEY] * 3
