"""Building blocks for synthetic CloudTrail records.

Everything here is a pure function of its arguments and a :class:`random.Random`, so a
generator seeded the same way writes the same bytes. The shapes follow recorded trails
(eventVersion 1.08-1.11): identity blocks for every ``userIdentity.type``, STS responses
with ``credentials`` and ``assumedRoleUser``, the AWSAccount copy of a cross-account call
with its ``sharedEventID``, console sign-ins, TLS details and request ids.

>>> import random
>>> rng = random.Random(7)
>>> key = key_id(rng, "ASIA")
>>> key.startswith("ASIA"), len(key)
(True, 20)
>>> ident = assumed_role("111111111111", "DeployRole", "AROAEXAMPLEROLEID0001", "s1", key,
...                      iso(1718184000), path="/ops/")
>>> ident["arn"], ident["sessionContext"]["sessionIssuer"]["arn"]
('arn:aws:sts::111111111111:assumed-role/DeployRole/s1', 'arn:aws:iam::111111111111:role/ops/DeployRole')
>>> aws_date(1718184000)
'Jun 12, 2024, 9:20:00 AM'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from random import Random
from typing import Any

__all__ = [
    "Actor",
    "uuid4",
    "key_id",
    "unique_id",
    "hex_id",
    "instance_id",
    "session_token",
    "iso",
    "aws_date",
    "role_arn",
    "session_arn",
    "iam_user",
    "root",
    "assumed_role",
    "aws_service",
    "aws_account",
    "federated_user",
    "saml_user",
    "web_identity_user",
    "identity_center_user",
    "tls",
    "host_for",
    "call",
    "s3_object",
    "credentials",
    "assume_role",
    "owner_copy",
    "console_login",
    "denied_message",
]

# AWS access key ids and unique ids use the RFC 4648 base32 alphabet after the prefix.
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Services whose API is global: CloudTrail logs them in us-east-1 with a global host.
_GLOBAL_HOSTS = {"iam": "iam.amazonaws.com", "signin": "signin.aws.amazon.com"}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a call: the ``userIdentity`` block plus where the call comes from.

    ``key`` is the access key id that signs the call (``None`` for console sign-ins and
    AWS services).
    """

    identity: dict[str, Any]
    ip: str
    user_agent: str
    key: str | None = None

    @property
    def account(self) -> str | None:
        """The caller's account (``userIdentity.accountId``)."""
        return self.identity.get("accountId")


# -- identifiers ---------------------------------------------------------------------------


def uuid4(rng: Random) -> str:
    """A version-4 UUID drawn from ``rng`` (deterministic, unlike :func:`uuid.uuid4`)."""
    h = rng.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def key_id(rng: Random, prefix: str = "AKIA") -> str:
    """An access key id: ``AKIA`` (long-term) or ``ASIA`` (temporary) and 16 characters."""
    return prefix + "".join(rng.choices(_KEY_ALPHABET, k=16))


def unique_id(rng: Random, prefix: str = "AROA") -> str:
    """An IAM unique id: ``AIDA`` (user), ``AROA`` (role)... and 17 characters."""
    return prefix + "".join(rng.choices(_KEY_ALPHABET, k=17))


def hex_id(rng: Random, n: int) -> str:
    """``n`` lower-case hex digits."""
    return f"{rng.getrandbits(4 * n):0{n}x}"


def instance_id(rng: Random) -> str:
    """An EC2 instance id, ``i-`` and 17 hex digits."""
    return "i-0" + hex_id(rng, 16)


def session_token(rng: Random) -> str:
    """A short fake session token: shaped like the real ones, never valid."""
    return "IQoJb3JpZ2luX2Vj" + "".join(rng.choices(_TOKEN_ALPHABET, k=48))


# -- time -----------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def iso(ts: int) -> str:
    """``eventTime`` text for epoch seconds ``ts``: ``2024-06-12T09:20:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def aws_date(ts: int, *, comma: bool = True) -> str:
    """The date text IAM and STS put in responses: ``Jun 12, 2024, 9:20:00 AM``.

    STS ``expiration`` has a comma after the year; IAM ``createDate`` has none.
    """
    t = time.gmtime(ts)
    hour = t.tm_hour % 12 or 12
    sep = ", " if comma else " "
    ampm = "AM" if t.tm_hour < 12 else "PM"
    return (
        f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday}, {t.tm_year}{sep}"
        f"{hour}:{t.tm_min:02d}:{t.tm_sec:02d} {ampm}"
    )


# -- ARNs and identity blocks ---------------------------------------------------------------


def role_arn(account: str, name: str, path: str = "/") -> str:
    """IAM role ARN, with its path: ``arn:aws:iam::111111111111:role/ops/RoleB``."""
    return f"arn:aws:iam::{account}:role{path}{name}"


def session_arn(account: str, role_name: str, session: str) -> str:
    """Assumed-role session ARN (never carries the role path)."""
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}"


def iam_user(account: str, name: str, user_id: str, key: str | None = None) -> dict[str, Any]:
    """``userIdentity`` of an IAM user; ``key`` is absent for console sign-ins."""
    ident = {
        "type": "IAMUser",
        "principalId": user_id,
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
    }
    if key:
        ident["accessKeyId"] = key
    ident["userName"] = name
    return ident


def root(
    account: str, key: str | None = None, *, created: str | None = None, mfa: bool = False
) -> dict[str, Any]:
    """``userIdentity`` of the account root user (console session when ``created`` is set)."""
    ident: dict[str, Any] = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
    }
    if key:
        ident["accessKeyId"] = key
    if created:
        ident["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": created, "mfaAuthenticated": _flag(mfa)},
        }
    return ident


def assumed_role(
    account: str,
    role_name: str,
    role_id: str,
    session: str,
    key: str,
    created: str,
    *,
    path: str = "/",
    mfa: bool = False,
    ec2: bool = False,
    web_id: dict[str, Any] | None = None,
    source_identity: str | None = None,
    invoked_by: str | None = None,
    on_behalf_of: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``userIdentity`` of a role session (``AssumedRole``).

    ``created`` is the issue time (``sessionContext.attributes.creationDate``); ``ec2`` marks
    instance-profile credentials (``ec2RoleDelivery``); ``web_id`` fills
    ``webIdFederationData``; ``on_behalf_of`` is the Identity Center user the session acts for.
    """
    ctx: dict[str, Any] = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": role_arn(account, role_name, path),
            "accountId": account,
            "userName": role_name,
        },
        "webIdFederationData": web_id or {},
        "attributes": {"creationDate": created, "mfaAuthenticated": _flag(mfa)},
    }
    if source_identity:
        ctx["sourceIdentity"] = source_identity
    if ec2:
        ctx["ec2RoleDelivery"] = "2.0"
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": session_arn(account, role_name, session),
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": ctx,
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    if on_behalf_of:
        ident["onBehalfOf"] = on_behalf_of
    return ident


def aws_service(service: str) -> dict[str, Any]:
    """``userIdentity`` of an AWS service acting for the account (``ec2.amazonaws.com``)."""
    return {"type": "AWSService", "invokedBy": service}


def aws_account(caller_account: str, principal_id: str) -> dict[str, Any]:
    """``userIdentity`` in the role owner's copy of a cross-account call."""
    return {"type": "AWSAccount", "principalId": principal_id, "accountId": caller_account}


def federated_user(
    account: str, name: str, key: str, created: str, issuer_name: str, issuer_id: str
) -> dict[str, Any]:
    """``userIdentity`` of a GetFederationToken session issued to IAM user ``issuer_name``."""
    return {
        "type": "FederatedUser",
        "principalId": f"{account}:{name}",
        "arn": f"arn:aws:sts::{account}:federated-user/{name}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "principalId": issuer_id,
                "arn": f"arn:aws:iam::{account}:user/{issuer_name}",
                "accountId": account,
                "userName": issuer_name,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
        },
    }


def saml_user(user: str, provider_arn: str, name_qualifier: str) -> dict[str, Any]:
    """``userIdentity`` of an AssumeRoleWithSAML call (Okta, Identity Center...)."""
    return {
        "type": "SAMLUser",
        "principalId": f"{name_qualifier}:{user}",
        "userName": user,
        "identityProvider": provider_arn,
    }


def web_identity_user(provider: str, audience: str, subject: str) -> dict[str, Any]:
    """``userIdentity`` of an AssumeRoleWithWebIdentity call (OIDC: GitHub, EKS...)."""
    return {
        "type": "WebIdentityUser",
        "principalId": f"{provider}:{audience}:{subject}",
        "userName": subject,
        "identityProvider": provider,
    }


def identity_center_user(
    account: str, user_id: str, store_arn: str, credential_id: str
) -> dict[str, Any]:
    """``userIdentity`` of an IAM Identity Center user, with ``onBehalfOf``."""
    return {
        "type": "IdentityCenterUser",
        "accountId": account,
        "onBehalfOf": {"userId": user_id, "identityStoreArn": store_arn},
        "credentialId": credential_id,
    }


# -- records ----------------------------------------------------------------------------


def tls(host: str) -> dict[str, str]:
    """``tlsDetails`` for a call to ``host`` (a fresh dict)."""
    return {
        "tlsVersion": "TLSv1.3",
        "cipherSuite": "TLS_AES_128_GCM_SHA256",
        "clientProvidedHostHeader": host,
    }


@lru_cache(maxsize=1024)
def host_for(source: str, region: str) -> str:
    """The endpoint a client calls for ``eventSource`` in ``region``."""
    svc = source.split(".", 1)[0]
    return _GLOBAL_HOSTS.get(svc) or f"{svc}.{region}.amazonaws.com"


def call(
    rng: Random,
    actor: Actor,
    ts: int,
    source: str,
    name: str,
    region: str,
    recipient: str,
    *,
    params: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    read_only: bool = False,
    error: tuple[str, str] | None = None,
    resources: list[dict[str, Any]] | None = None,
    category: str = "Management",
    event_type: str = "AwsApiCall",
    version: str = "1.09",
    additional: dict[str, Any] | None = None,
    shared_event_id: str | None = None,
) -> dict[str, Any]:
    """One CloudTrail record of ``actor`` calling ``source``/``name`` at ``ts``.

    ``recipient`` is the account whose trail logs the record; ``error`` is
    ``(errorCode, errorMessage)``. Keys come in the order CloudTrail writes them.
    """
    rec: dict[str, Any] = {
        "eventVersion": version,
        "userIdentity": actor.identity,
        "eventTime": iso(ts),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": actor.ip,
        "userAgent": actor.user_agent,
    }
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = params
    rec["responseElements"] = None if error else response
    if additional is not None:
        rec["additionalEventData"] = additional
    h = rng.randbytes(32).hex()  # both ids from one draw: this runs a million times
    if event_type == "AwsApiCall":
        rec["requestID"] = f"{h[32:40]}-{h[40:44]}-4{h[45:48]}-{_VARIANT[h[48]]}{h[49:52]}-{h[52:]}"
    rec["eventID"] = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"
    rec["readOnly"] = read_only
    if resources:
        rec["resources"] = resources
    rec["eventType"] = event_type
    rec["managementEvent"] = category == "Management"
    rec["recipientAccountId"] = recipient
    if shared_event_id:
        rec["sharedEventID"] = shared_event_id
    rec["eventCategory"] = category
    if not actor.ip.endswith(".amazonaws.com"):  # an AWS service calling has no TLS details
        rec["tlsDetails"] = _shared_tls(source, region)
    return rec


def s3_object(
    bucket: str, key: str, account: str, region: str, *, read: bool = True, size: int = 48213
) -> dict[str, Any]:
    """Keyword arguments of :func:`call` for an S3 object data event (GetObject, PutObject)."""
    return {
        "params": {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "key": key},
        "resources": [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        "additional": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0 if read else size,
            "AuthenticationMethod": "AuthHeader",
            "bytesTransferredOut": size if read else 0,
        },
        "category": "Data",
        "read_only": read,
        "version": "1.10",
    }


def credentials(rng: Random, key: str, ts: int, duration: int = 3600) -> dict[str, str]:
    """``responseElements.credentials`` of an STS call issuing ``key`` at ``ts``."""
    return {
        "accessKeyId": key,
        "sessionToken": session_token(rng),
        "expiration": aws_date(ts + duration),
    }


def assume_role(
    rng: Random,
    actor: Actor,
    ts: int,
    region: str,
    target_arn: str,
    role_id: str,
    session: str,
    key: str | None,
    *,
    duration: int = 3600,
    name: str = "AssumeRole",
    params: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """An STS ``AssumeRole*`` record, logged in the caller's account.

    ``target_arn`` is the role ARN as the caller wrote it (with its path). With ``error``
    there are no credentials. A cross-account call gets a ``sharedEventID``; pair it with
    :func:`owner_copy` for the role owner's record.
    """
    owner = target_arn.split(":")[4]
    role_name = target_arn.rsplit("/", 1)[1]
    caller = actor.account or owner
    request = {"roleArn": target_arn, "roleSessionName": session, "durationSeconds": duration}
    request.update(params or {})
    response = None
    if not error and key:
        response = {
            "credentials": credentials(rng, key, ts, duration),
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:{session}",
                "arn": session_arn(owner, role_name, session),
            },
        }
    shared = uuid4(rng) if caller != owner or actor.identity.get("type") == "AWSService" else None
    return call(
        rng,
        actor,
        ts,
        "sts.amazonaws.com",
        name,
        region,
        caller,
        params=request,
        response=response,
        read_only=True,
        error=error,
        resources=[{"accountId": owner, "type": "AWS::IAM::Role", "ARN": target_arn}],
        version="1.08",
        shared_event_id=shared,
    )


def owner_copy(rng: Random, record: dict[str, Any], owner: str) -> dict[str, Any]:
    """The role owner's copy of a cross-account call: same ``sharedEventID``, new ``eventID``.

    The caller is only an ``AWSAccount`` with the caller's principal id in that copy.
    """
    if "sharedEventID" not in record:
        raise ValueError(f"event {record.get('eventID')} has no sharedEventID to pair a copy with")
    ident = record["userIdentity"]
    copy = dict(record)
    copy["userIdentity"] = aws_account(ident["accountId"], ident["principalId"])
    copy["eventID"] = uuid4(rng)
    copy["recipientAccountId"] = owner
    return copy


def console_login(
    rng: Random, actor: Actor, ts: int, recipient: str, *, mfa: bool, version: str = "1.09"
) -> dict[str, Any]:
    """A successful ``ConsoleLogin`` (``additionalEventData.MFAUsed`` is ``Yes``/``No``)."""
    return call(
        rng,
        actor,
        ts,
        "signin.amazonaws.com",
        "ConsoleLogin",
        "us-east-1",
        recipient,
        response={"ConsoleLogin": "Success"},
        additional={
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "Yes" if mfa else "No",
        },
        event_type="AwsConsoleSignIn",
        version=version,
    )


def denied_message(principal_arn: str, action: str, resource: str) -> str:
    """The ``errorMessage`` of an AccessDenied for ``action`` on ``resource``."""
    return (
        f"User: {principal_arn} is not authorized to perform: {action} on resource: "
        f"{resource} because no identity-based policy allows the {action} action"
    )


@lru_cache(maxsize=1024)
def _shared_tls(source: str, region: str) -> dict[str, str]:
    # One dict per endpoint, shared by every record that calls it: records are written,
    # never edited, and this keeps a million of them cheap.
    return tls(host_for(source, region))


def _flag(value: bool) -> str:
    return "true" if value else "false"
