"""Small hand-written CloudTrail trails: record builders and an ingest into a tmp case.

Each test writes the few records its linking case needs, ingests them through the library
(as ``graphtrail ingest`` does) and asks the question. Times are ISO strings; eventIDs are
explicit where their order matters (copies of one STS call are ordered by eventID).
"""

from __future__ import annotations

import json
import uuid
from itertools import count
from pathlib import Path

from graphtrail.store.memory import MemoryStore
from tests.conftest import ingest_paths

ACCT = "111122223333"
OTHER = "444455556666"
USER_ARN = f"arn:aws:iam::{ACCT}:user/dev"
_n = count(1)


def rec(name: str, source: str, t: str, identity: dict, *, params=None, response=None,
        ip: str = "203.0.113.10", account: str = ACCT, event_id: str | None = None,
        extra: dict | None = None) -> dict:
    """One management event; ``account`` is the recipient account."""
    r = {"eventVersion": "1.09", "eventID": event_id or str(uuid.UUID(int=next(_n))),
         "eventTime": t, "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
         "sourceIPAddress": ip, "userAgent": "aws-cli/2.15", "userIdentity": identity,
         "requestParameters": params, "responseElements": response,
         "recipientAccountId": account, "eventType": "AwsApiCall"}
    r.update(extra or {})
    return r


def user(key: str | None, name: str = "dev", account: str = ACCT, **more) -> dict:
    """An IAM user's identity (``key`` None: a console call without a key)."""
    d = {"type": "IAMUser", "principalId": f"AIDAEXAMPLE{name.upper():0<9}",
         "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account, "userName": name}
    if key:
        d["accessKeyId"] = key
    d.update(more)
    return d


def console_user(key: str, created: str, name: str = "dev") -> dict:
    """An IAM user calling from a console session (temporary key, creation date)."""
    return user(key, name, sessionContext={"attributes": {"creationDate": created,
                                                          "mfaAuthenticated": "false"}})


def creds(key: str, exp: str) -> dict:
    return {"accessKeyId": key, "sessionToken": "x", "expiration": exp}


def role_arn(role: str, account: str = ACCT) -> str:
    return f"arn:aws:iam::{account}:role/{role}"


def principal_id(role: str, session: str) -> str:
    return f"AROAEXAMPLE{role.upper()[:6]:0<6}:{session}"


def assumed(role: str, session: str, key: str, created: str | None, account: str = ACCT,
            **more) -> dict:
    """A caller acting as ``role`` (``created`` None: the creation date is missing)."""
    attrs = {"mfaAuthenticated": "false"}
    if created:
        attrs["creationDate"] = created
    d = {"type": "AssumedRole", "principalId": principal_id(role, session),
         "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
         "accessKeyId": key,
         "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn(role, account),
                                              "principalId": "AROAEXAMPLE", "accountId": account,
                                              "userName": role},
                            "attributes": attrs}}
    d.update(more)
    return d


def assume_role(t: str, caller: dict, role: str, session: str, key: str, exp: str, *,
                account: str = ACCT, event_id: str | None = None, duration: int | None = None,
                ip: str = "203.0.113.10") -> dict:
    """The caller's copy of an AssumeRole of ``role`` (in ``account``) issuing ``key``."""
    params = {"roleArn": role_arn(role, account), "roleSessionName": session}
    if duration is not None:
        params["durationSeconds"] = duration
    return rec("AssumeRole", "sts.amazonaws.com", t, caller, params=params,
               response={"credentials": creds(key, exp),
                         "assumedRoleUser": {"arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
                                             "assumedRoleId": principal_id(role, session)}},
               account=caller.get("accountId", ACCT), event_id=event_id, ip=ip)


def owner_copy(caller_copy: dict, caller_principal_id: str, caller_account: str,
               event_id: str) -> dict:
    """The role owner's copy of a cross-account AssumeRole: the caller is only an account."""
    r = json.loads(json.dumps(caller_copy))
    role_account = r["requestParameters"]["roleArn"].split(":")[4]
    r["eventID"] = event_id
    r["recipientAccountId"] = role_account
    r["userIdentity"] = {"type": "AWSAccount", "principalId": caller_principal_id,
                         "accountId": caller_account}
    r["sharedEventID"] = "shared-" + caller_copy["eventID"]
    return r


def call(name: str, t: str, identity: dict, **kw) -> dict:
    """An ordinary read call (the service follows the name)."""
    source = {"ListBuckets": "s3.amazonaws.com", "GetObject": "s3.amazonaws.com",
              "DescribeInstances": "ec2.amazonaws.com", "ListUsers": "iam.amazonaws.com",
              "GetCallerIdentity": "sts.amazonaws.com"}.get(name, "iam.amazonaws.com")
    return rec(name, source, t, identity, **kw)


def ingest(tmp_path: Path, records: list[dict]) -> MemoryStore:
    """Write ``records`` as one trail file, ingest it, and open the case."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "trail.json").write_text(json.dumps({"Records": records}))
    return MemoryStore(ingest_paths([str(logs)], tmp_path / "case"))


def session_of(store: MemoryStore, key: str, **match) -> dict:
    """The one session of ``key`` (whose fields equal ``match``)."""
    found = [s for s in store.session_info.values() if s["access_key_id"] == key
             and all(s.get(k) == v for k, v in match.items())]
    assert len(found) == 1, found
    return found[0]


def actor_of(store: MemoryStore, event_id: str) -> str | None:
    """The credential a call was tied to."""
    import pyarrow.compute as pc

    t = store.activity(["event_id", "actor"], pc.field("event_id") == event_id)
    assert t.num_rows == 1, event_id
    return t.column("actor")[0].as_py()


def trail_deleted_rule(folder: Path) -> Path:
    """``folder`` made, holding one Sigma rule (DeleteTrail, high); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trail.yml").write_text(
        "title: Trail deleted\nid: 3f8d2a1e-9d3b-4a53-8c7e-6f0d8b1c2a40\nstatus: test\n"
        "logsource:\n  product: aws\n  service: cloudtrail\n"
        "detection:\n  selection:\n    eventName: DeleteTrail\n  condition: selection\n"
        "level: high\n")
    return folder
