"""Every kind of identity links the way the issue says, on small hand-written trails."""

from __future__ import annotations

import json
import uuid

import pytest

from graphtrail.queries.blast_radius import blast_radius
from graphtrail.store.memory import MemoryStore
from tests.conftest import ingest_paths

ACCT = "111122223333"
USER_ARN = f"arn:aws:iam::{ACCT}:user/dev"
_n = iter(range(1, 10_000))


def rec(name: str, source: str, t: str, identity: dict, *, params=None, response=None,
        ip: str = "203.0.113.10", extra: dict | None = None) -> dict:
    r = {"eventVersion": "1.09", "eventID": str(uuid.UUID(int=next(_n))), "eventTime": t,
         "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
         "sourceIPAddress": ip, "userAgent": "aws-cli/2.15", "userIdentity": identity,
         "requestParameters": params, "responseElements": response,
         "recipientAccountId": ACCT, "eventType": "AwsApiCall"}
    r.update(extra or {})
    return r


def user(key: str | None, **more) -> dict:
    d = {"type": "IAMUser", "principalId": "AIDAEXAMPLEDEV000001", "arn": USER_ARN,
         "accountId": ACCT, "userName": "dev"}
    if key:
        d["accessKeyId"] = key
    d.update(more)
    return d


def creds(key: str, exp: str) -> dict:
    return {"accessKeyId": key, "sessionToken": "x", "expiration": exp}


def assumed(role: str, session: str, key: str, created: str, **more) -> dict:
    d = {"type": "AssumedRole", "principalId": f"AROAEXAMPLE{role.upper()[:6]}:{session}",
         "arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{session}", "accountId": ACCT,
         "accessKeyId": key,
         "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCT}:role/{role}",
                                              "principalId": "AROAEXAMPLE", "accountId": ACCT,
                                              "userName": role},
                            "attributes": {"creationDate": created, "mfaAuthenticated": "false"}}}
    d.update(more)
    return d


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    records = [
        # GetSessionToken: the user keeps type IAMUser but calls with an ASIA key
        rec("GetSessionToken", "sts.amazonaws.com", "2024-05-01T10:00:00Z", user("AKIAEXAMPLEDEV000001"),
            params={"durationSeconds": 3600},
            response={"credentials": creds("ASIAEXAMPLEGST00001", "May 1, 2024 11:00:00 AM")}),
        rec("ListBuckets", "s3.amazonaws.com", "2024-05-01T10:05:00Z",
            user("ASIAEXAMPLEGST00001", sessionContext={"attributes": {"creationDate": "2024-05-01T10:00:00Z",
                                                                       "mfaAuthenticated": "true"}})),
        # GetFederationToken: a federated user
        rec("GetFederationToken", "sts.amazonaws.com", "2024-05-01T10:10:00Z", user("AKIAEXAMPLEDEV000001"),
            params={"name": "bob", "durationSeconds": 3600},
            response={"credentials": creds("ASIAEXAMPLEFED00001", "2024-05-01T11:10:00Z"),
                      "federatedUser": {"arn": f"arn:aws:sts::{ACCT}:federated-user/bob",
                                        "federatedUserId": f"{ACCT}:bob"}}),
        rec("GetCallerIdentity", "sts.amazonaws.com", "2024-05-01T10:12:00Z",
            {"type": "FederatedUser", "principalId": f"{ACCT}:bob",
             "arn": f"arn:aws:sts::{ACCT}:federated-user/bob", "accountId": ACCT,
             "accessKeyId": "ASIAEXAMPLEFED00001",
             "sessionContext": {"sessionIssuer": {"type": "IAMUser", "arn": USER_ARN},
                                "attributes": {"creationDate": "2024-05-01T10:10:00Z"}}}),
        # SAML federation into an Identity Center role, then calls on behalf of a directory user
        rec("AssumeRoleWithSAML", "sts.amazonaws.com", "2024-05-01T11:00:00Z",
            {"type": "SAMLUser", "principalId": "AWSSSO:alice@corp.example", "userName": "alice@corp.example",
             "identityProvider": f"arn:aws:iam::{ACCT}:saml-provider/AWSSSO_abc_DO_NOT_DELETE"},
            params={"roleArn": f"arn:aws:iam::{ACCT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_abc",
                    "principalArn": f"arn:aws:iam::{ACCT}:saml-provider/AWSSSO_abc_DO_NOT_DELETE"},
            response={"credentials": creds("ASIAEXAMPLESSO00001", "2024-05-01T12:00:00Z"),
                      "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/AWSReservedSSO_Admin_abc/alice@corp.example"}},
            ip="198.51.100.50"),
        rec("DescribeInstances", "ec2.amazonaws.com", "2024-05-01T11:05:00Z",
            assumed("AWSReservedSSO_Admin_abc", "alice@corp.example", "ASIAEXAMPLESSO00001", "2024-05-01T11:00:00Z",
                    onBehalfOf={"userId": "94482488-3041-7026-18f3-be45837cd0e4",
                                "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1"})),
        # console sign-in, then console calls with a temporary key nobody issued in the logs
        rec("ConsoleLogin", "signin.amazonaws.com", "2024-05-01T12:00:00Z", user(None),
            response={"ConsoleLogin": "Success"}, extra={"eventType": "AwsConsoleSignIn",
                                                         "additionalEventData": {"MFAUsed": "Yes"}}),
        rec("ListUsers", "iam.amazonaws.com", "2024-05-01T12:01:00Z",
            user("ASIAEXAMPLECON00001", sessionContext={"attributes": {"creationDate": "2024-05-01T12:00:00Z",
                                                                       "mfaAuthenticated": "true"}}),
            extra={"sessionCredentialFromConsole": "true"}),
        # one temporary key id, never issued in the logs, used by two sessions days apart
        rec("ListBuckets", "s3.amazonaws.com", "2024-05-02T09:00:00Z",
            assumed("Batch", "job-1", "ASIAEXAMPLEREUSED01", "2024-05-02T08:59:00Z")),
        rec("ListBuckets", "s3.amazonaws.com", "2024-05-05T09:00:00Z",
            assumed("Batch", "job-2", "ASIAEXAMPLEREUSED01", "2024-05-05T08:59:00Z")),
        # masked values link nothing
        rec("ListRoles", "iam.amazonaws.com", "2024-05-03T09:00:00Z",
            {"type": "IAMUser", "principalId": "HIDDEN_DUE_TO_SECURITY_REASONS",
             "arn": "HIDDEN_DUE_TO_SECURITY_REASONS", "accountId": ACCT,
             "accessKeyId": "AKIA****************"}),
        # an EC2 instance profile: the service assumes the role, the instance calls from its IP
        rec("AssumeRole", "sts.amazonaws.com", "2024-05-03T10:00:00Z",
            {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
            params={"roleArn": f"arn:aws:iam::{ACCT}:role/web-instance", "roleSessionName": "i-0abc123def4567890"},
            response={"credentials": creds("ASIAEXAMPLEEC200001", "2024-05-03T16:00:00Z")},
            ip="ec2.amazonaws.com"),
        rec("GetObject", "s3.amazonaws.com", "2024-05-03T10:30:00Z",
            assumed("web-instance", "i-0abc123def4567890", "ASIAEXAMPLEEC200001", "2024-05-03T10:00:00Z"),
            params={"bucketName": "assets", "key": "a.png"}, ip="10.0.1.23"),
    ]
    (root / "logs").mkdir()
    (root / "logs" / "trail.json").write_text(json.dumps(records))
    return MemoryStore(ingest_paths([str(root / "logs")], root / "case"))


def _session(store, key):
    found = [s for s in store.session_info.values() if s["access_key_id"] == key]
    assert len(found) == 1, found
    return found[0]


def test_get_session_token(store):
    s = _session(store, "ASIAEXAMPLEGST00001")
    assert s["via"] == "GetSessionToken" and s["principal"] == USER_ARN
    assert s["issuer"] == "key:AKIAEXAMPLEDEV000001"
    br = blast_radius(store, "AKIAEXAMPLEDEV000001")
    assert s["session"] in br.sessions


def test_get_federation_token(store):
    s = _session(store, "ASIAEXAMPLEFED00001")
    assert s["via"] == "GetFederationToken"
    assert s["principal"] == f"arn:aws:sts::{ACCT}:federated-user/bob"
    assert s["issuer"] == "key:AKIAEXAMPLEDEV000001"


def test_saml_and_identity_center(store):
    s = _session(store, "ASIAEXAMPLESSO00001")
    assert s["via"] == "AssumeRoleWithSAML" and s["issuer"].startswith("idp:")
    assert s["principal"] == f"arn:aws:iam::{ACCT}:role/AWSReservedSSO_Admin_abc"
    g = store.lineage
    users = [d for _, d, k in g.out_edges(s["session"], keys=True) if d.startswith("idc-user:")]
    assert users == ["idc-user:94482488-3041-7026-18f3-be45837cd0e4"]
    assert g.nodes[users[0]]["kind"] == "IdentityCenterUser"


def test_console_session_is_opened_by_its_sign_in(store):
    s = _session(store, "ASIAEXAMPLECON00001")
    assert s["via"] == "ConsoleLogin" and s["console"]
    assert s["principal"] == USER_ARN and s["issuer"] == USER_ARN


def test_recycled_key_without_issuance_is_two_sessions(store):
    found = [s for s in store.session_info.values() if s["access_key_id"] == "ASIAEXAMPLEREUSED01"]
    assert len(found) == 2
    assert {s["session_name"] for s in found} == {"job-1", "job-2"}


def test_masked_values_link_nothing(store):
    assert not any("****" in n or "HIDDEN" in n for n in store.graph.nodes)


def test_instance_profile(store):
    s = _session(store, "ASIAEXAMPLEEC200001")
    assert s["issuer"] == "service:ec2.amazonaws.com" and s["session_name"] == "i-0abc123def4567890"
    assert "ip:ec2.amazonaws.com" not in store.graph
    assert "ip:10.0.1.23" in store.graph


def test_identity_center_chain_starts_at_the_directory_user(store):
    """The SSO session's chain names the Identity Center user behind it; --from takes the
    user id or the sign-in name."""
    from graphtrail.queries.chains import chains

    user_id = "94482488-3041-7026-18f3-be45837cd0e4"
    sso = [c for c in chains(store) if c.hops[0]["to"].endswith("AWSReservedSSO_Admin_abc")]
    assert [c.path[0] for c in sso] == [f"idc-user:{user_id}"]
    assert sso[0].origin["kind"] == "identity_center"
    for name in (user_id, "alice@corp.example"):
        assert [c.path for c in chains(store, origin=name)] == [sso[0].path], name
