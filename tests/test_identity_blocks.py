"""The identity block stays raw until the events table is made: each distinct block is
decoded once and spread back to its records (loaders.schema.identity,
loaders.events._identity_columns). These tests pin what must not move with it: every row
gets its own record's identity, odd scalar types are coerced as before, the file takes the
same path (strict or tolerant) as before, and the ids made for records without an eventID
are the ids earlier versions stored (re-ingest into an older case stays exact)."""

from __future__ import annotations

import json

import pytest

from loaders.events import EventBatch
from loaders.records import split_records
from loaders.schema import identity, record_from_dict, typed_identity

ROLE = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/r/s",
        "principalId": "AROAEXAMPLE:s", "accessKeyId": "ASIAEXAMPLE", "accountId": "111122223333",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/r"},
                           "attributes": {"creationDate": "2024-06-01T09:00:00Z",
                                          "mfaAuthenticated": "true"}}}
USER = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a", "principalId": "AIDAEX",
        "accessKeyId": "AKIAEX", "accountId": "111122223333", "userName": "a"}
CENTER = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_x/bob",
          "principalId": "AROAX:bob", "accountId": "111122223333",
          "onBehalfOf": {"userId": "9067-bob", "identityStoreArn": "arn:aws:identitystore::1:identitystore/d-1"}}


def _call(n: int, who: dict | None, **extra) -> dict:
    rec = {"eventTime": f"2024-06-01T10:00:{n:02d}Z", "eventSource": "s3.amazonaws.com",
           "eventName": "ListBuckets", "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli",
           **extra}
    if who is not None:
        rec["userIdentity"] = who
    return rec


def _table(records: list[dict], *, indent: int | None = None):
    out = split_records(json.dumps({"Records": records}, indent=indent).encode(), "t.json")
    batch = EventBatch()
    batch.add_many(out.records, "t.json")
    return out, batch.to_table()


def test_each_row_gets_its_own_records_identity():
    order = [ROLE, USER, ROLE, CENTER, USER, ROLE, None, CENTER]
    _, t = _table([_call(i, w, eventID=f"e{i}") for i, w in enumerate(order)])
    assert t.column("event_id").to_pylist() == [f"e{i}" for i in range(len(order))]
    assert t.column("access_key_id").to_pylist() == [
        "ASIAEXAMPLE", "AKIAEX", "ASIAEXAMPLE", None, "AKIAEX", "ASIAEXAMPLE", None, None]
    assert t.column("issuer_arn").to_pylist() == [
        ROLE["sessionContext"]["sessionIssuer"]["arn"], None, ROLE["sessionContext"]["sessionIssuer"]["arn"],
        None, None, ROLE["sessionContext"]["sessionIssuer"]["arn"], None, None]
    assert t.column("on_behalf_of").to_pylist() == [None, None, None, "9067-bob", None, None, None, "9067-bob"]
    assert t.column("mfa").to_pylist() == [True, None, True, None, None, True, None, None]
    assert [v and v.isoformat() for v in t.column("session_created").to_pylist()] == [
        "2024-06-01T09:00:00+00:00", None, "2024-06-01T09:00:00+00:00", None, None,
        "2024-06-01T09:00:00+00:00", None, None]
    assert t.column("user_name").to_pylist() == [None, "a", None, None, "a", None, None, None]


def test_the_same_block_written_two_ways_gives_the_same_columns():
    """Pretty-printed and compact bytes of one block are two distinct keys, one identity."""
    _, compact = _table([_call(i, ROLE, eventID=f"e{i}") for i in range(3)])
    _, pretty = _table([_call(i, ROLE, eventID=f"e{i}") for i in range(3)], indent=2)
    assert compact.equals(pretty)


def test_an_identity_with_numbers_sends_the_file_down_the_tolerant_path_as_before():
    odd = dict(USER, accountId=111122223333)
    out, t = _table([_call(0, odd, eventID="e0",
                           requestParameters='{"bucketName": "b"}')])  # JSON text: unwrapped
    assert t.column("account_id").to_pylist() == ["111122223333"]
    # the tolerant path reads a payload written as JSON text as the JSON it holds
    assert json.loads(t.column("request_parameters")[0].as_py()) == {"bucketName": "b"}
    assert not typed_identity(b'{"accountId": 111122223333}')
    assert identity(b'{"accountId": 111122223333}').accountId == "111122223333"


@pytest.mark.parametrize("block", [{"arn": "a\ud800b", "type": "IAMUser"}, "?", [1], None])
def test_blocks_the_strict_path_cannot_read_are_coerced_or_dropped(block):
    r = record_from_dict({"eventName": "X", "userIdentity": block})
    ui = identity(r.userIdentity)
    if isinstance(block, dict):
        assert (ui.arn, ui.type) == (block["arn"], "IAMUser")
    else:
        assert ui is None


def test_ids_made_for_records_without_an_eventid_are_those_earlier_versions_stored():
    """Computed by the tree before the identity stayed raw (407eb3b): a record's made-up id
    is part of the case's dedup keys, so it must not change."""
    for numeric in (False, True):  # strict path, and the tolerant one
        user = dict(USER, accountId=111122223333) if numeric else USER
        _, t = _table([_call(0, dict(ROLE, sessionContext={**ROLE["sessionContext"], "attributes": {
            "creationDate": "2024-06-01T09:00:00Z", "mfaAuthenticated": "false"}})),
            _call(1, dict(user, userName="a"))])
        assert t.column("event_id").to_pylist() == ["gt-133559a8fe7e2b4a24417926",
                                                    "gt-a16881b4ce8fda96b1ce5290"]
