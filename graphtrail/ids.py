"""Node ids: one spelling per thing, whichever log or user input names it.

A role is ``arn:aws:iam::<account>:role/<name>`` whether it is seen as a session issuer
(which carries the role's path), in an assumed-role ARN (which does not), or in
``requestParameters.roleArn``. Users likewise lose their path: names are unique per account.

>>> role_id("arn:aws:iam::222222222222:role/ops/RoleB")
'arn:aws:iam::222222222222:role/RoleB'
>>> principal_of_arn("arn:aws:sts::111111111111:assumed-role/RoleA/attacker")
('Role', 'arn:aws:iam::111111111111:role/RoleA', 'attacker')
>>> principal_of_arn("arn:aws:iam::111111111111:user/dev/ci-deploy")
('User', 'arn:aws:iam::111111111111:user/ci-deploy', None)
>>> session_id("ASIAEXAMPLE", 1722519741000000)
'session:ASIAEXAMPLE@2024-08-01T13:42:21Z'

Ids that are not ARNs carry a prefix (:class:`IdPrefix`): the grammar is built by the
``*_id`` functions and read back by :func:`parse_id` (never by ``startswith`` elsewhere).

>>> parse_id("key:AKIAEXAMPLE")
NodeId(prefix=<IdPrefix.KEY: 'key'>, value='AKIAEXAMPLE')
>>> key_of("key:AKIAEXAMPLE"), key_of("session:ASIA1@x"), parse_id("arn:aws:iam::1:root").prefix
('AKIAEXAMPLE', None, None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from graphtrail.model import NodeKind, is_masked
from graphtrail.times import iso

__all__ = [
    "IdPrefix",
    "NodeId",
    "parse_id",
    "key_of",
    "ip_of",
    "account_of",
    "is_service_like",
    "login_profile_id",
    "call_id",
    "account_id",
    "role_id",
    "user_id",
    "root_id",
    "principal_of_arn",
    "session_id",
    "unexplained_session_id",
    "console_session_id",
    "key_id",
    "service_id",
    "idp_id",
    "ip_id",
    "identity_center_user_id",
    "iso",
    "is_ip",
    "is_temporary_key",
    "normalize_seed",
]

_ARN = re.compile(r"^arn:(aws[\w-]*):(iam|sts)::(\d*):(.+)$")
_IP4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_IP6 = re.compile(r"^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$")


class IdPrefix(StrEnum):
    """The prefixes of node ids that are not ARNs; ``prefix:value`` is the id."""

    KEY = "key"  # key:AKIA... a long-term access key
    SESSION = "session"  # session:ASIA...@issued, session:console:who@created[+mfa]
    ACCOUNT = "account"  # account:111122223333
    SERVICE = "service"  # service:ec2.amazonaws.com
    IDP = "idp"  # idp:arn:aws:iam::1:saml-provider/Okta
    IDC_USER = "idc-user"  # idc-user:<identity store user id>
    IP = "ip"  # ip:198.51.100.7
    LOGIN_PROFILE = "login-profile"  # login-profile:<user id>
    CALL = "call"  # call:<eventID>@<time µs> (Neo4j only)

    @property
    def mark(self) -> str:
        """The id's head, ``key:``."""
        return f"{self.value}:"


@dataclass(frozen=True, slots=True)
class NodeId:
    """A parsed node id: its prefix (None for an ARN or a resource) and what follows it."""

    prefix: IdPrefix | None
    value: str


_PREFIXES = {p.value: p for p in IdPrefix}


def parse_id(nid: str) -> NodeId:
    """Read a node id back into its prefix and value.

    >>> parse_id("login-profile:arn:aws:iam::1:user/bob").value
    'arn:aws:iam::1:user/bob'
    >>> parse_id("s3:bucket/key")
    NodeId(prefix=None, value='s3:bucket/key')
    """
    head, sep, rest = nid.partition(":")
    prefix = _PREFIXES.get(head) if sep else None
    return NodeId(prefix, rest) if prefix is not None else NodeId(None, nid)


def _value(nid: str | None, prefix: IdPrefix) -> str | None:
    if not nid or not nid.startswith(prefix.mark):
        return None
    return nid[len(prefix.mark):]


def key_of(nid: str | None) -> str | None:
    """The access key id of a ``key:`` node; None for any other id."""
    return _value(nid, IdPrefix.KEY)


def ip_of(nid: str | None) -> str | None:
    """The address of an ``ip:`` node; None for any other id."""
    return _value(nid, IdPrefix.IP)


def account_of(nid: str | None) -> str | None:
    """The account number of an ``account:`` node; None for any other id."""
    return _value(nid, IdPrefix.ACCOUNT)


def is_service_like(nid: str | None) -> bool:
    """An AWS service, identity provider or Identity Center user: not an IAM principal.

    >>> is_service_like("service:ec2.amazonaws.com"), is_service_like("arn:aws:iam::1:root")
    (True, False)
    """
    return bool(nid) and parse_id(nid).prefix in (IdPrefix.SERVICE, IdPrefix.IDP, IdPrefix.IDC_USER)


def account_id(acct: str) -> str:
    return IdPrefix.ACCOUNT.mark + acct


def role_id(arn_or_name: str, account: str | None = None) -> str:
    """The role's id; accepts a role ARN (with or without path), or a name and account."""
    m = _ARN.match(arn_or_name)
    if m:
        part, acct, rest = m.group(1), m.group(3), m.group(4)
        name = rest.split("/")[-1] if rest.startswith("role/") else rest.split("/")[1]
        return f"arn:{part}:iam::{acct}:role/{name}"
    return f"arn:aws:iam::{account or ''}:role/{arn_or_name.split('/')[-1]}"


def user_id(arn_or_name: str, account: str | None = None) -> str:
    m = _ARN.match(arn_or_name)
    if m:
        return f"arn:{m.group(1)}:iam::{m.group(3)}:user/{m.group(4).split('/')[-1]}"
    return f"arn:aws:iam::{account or ''}:user/{arn_or_name.split('/')[-1]}"


def root_id(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def principal_of_arn(arn: str | None) -> tuple[str, str, str | None] | None:
    """(kind, node id, session name) for an identity ARN; None if not an IAM/STS ARN."""
    if is_masked(arn):
        return None
    m = _ARN.match(arn)  # type: ignore[arg-type]
    if not m:
        return None
    part, service, acct, rest = m.groups()
    if service == "sts" and rest.startswith("assumed-role/"):
        bits = rest.split("/")
        role = bits[1] if len(bits) > 1 else ""
        return (NodeKind.ROLE.value, f"arn:{part}:iam::{acct}:role/{role}",
                "/".join(bits[2:]) or None)
    if service == "sts" and rest.startswith("federated-user/"):
        return (NodeKind.FEDERATED_USER.value, f"arn:{part}:sts::{acct}:{rest}", None)
    if rest == "root":
        return (NodeKind.ROOT.value, f"arn:{part}:iam::{acct}:root", None)
    if rest.startswith("user/"):
        return (NodeKind.USER.value, f"arn:{part}:iam::{acct}:user/{rest.split('/')[-1]}", None)
    if rest.startswith("role/"):
        return (NodeKind.ROLE.value, f"arn:{part}:iam::{acct}:role/{rest.split('/')[-1]}", None)
    return None


def session_id(access_key: str, issued_us: int | None) -> str:
    """A session is one issued temporary credential: its key and when it was issued.

    Temporary key ids are recycled by AWS, so the key alone never names a session.
    """
    return f"{IdPrefix.SESSION.mark}{access_key}@{iso(issued_us) if issued_us is not None else 'unknown'}"


def unexplained_session_id(access_key: str, created_us: int | None, who: str) -> str:
    """A use no issue explains, whose key and creation date already name another session.

    Another identity used the key id at an issued session's own instant, or two identities
    used a key id the logs never issued: each is its own session, told apart by who it is
    (``~`` appears in no IAM name or session name).

    >>> unexplained_session_id("ASIAEXAMPLE", None, "arn:aws:iam::1:role/x/s")
    'session:ASIAEXAMPLE@unknown~arn:aws:iam::1:role/x/s'
    """
    return f"{session_id(access_key, created_us)}~{who}"


def console_session_id(who: str, created_us: int, mfa: bool) -> str:
    """A console sign-in: who signed in, when, and whether with MFA (its keys are many).

    >>> console_session_id("arn:aws:iam::1:user/dev", 1722519741000000, True)
    'session:console:arn:aws:iam::1:user/dev@2024-08-01T13:42:21Z+mfa'
    """
    return f"{IdPrefix.SESSION.mark}console:{who}@{iso(created_us)}{'+mfa' if mfa else ''}"


def key_id(access_key: str) -> str:
    return IdPrefix.KEY.mark + access_key


def service_id(service: str) -> str:
    return IdPrefix.SERVICE.mark + service


def idp_id(provider: str) -> str:
    return IdPrefix.IDP.mark + provider


def identity_center_user_id(user: str) -> str:
    return IdPrefix.IDC_USER.mark + user


def ip_id(ip: str) -> str:
    return IdPrefix.IP.mark + ip


def login_profile_id(user: str) -> str:
    """The console password of a user (its node id)."""
    return IdPrefix.LOGIN_PROFILE.mark + user


def call_id(event_id: str, time_us: int) -> str:
    """One API call as Neo4j holds it: eventIDs repeat across copies, so the time is part of it."""
    return f"{IdPrefix.CALL.mark}{event_id}@{time_us}"


def is_ip(value: str | None) -> bool:
    """An address, not an AWS service name or ``AWS Internal``.

    >>> is_ip("198.51.100.7"), is_ip("ec2.amazonaws.com"), is_ip("2001:db8::1"), is_ip("AWS Internal")
    (True, False, True, False)
    >>> is_ip(None), is_ip(float("nan"))
    (False, False)
    """
    if not isinstance(value, str) or not value:
        return False
    return bool(_IP4.match(value) or (":" in value and _IP6.match(value)))


def is_temporary_key(key: str | None, identity_type: str | None = None) -> bool:
    """ASIA keys are temporary; AKIA long-term. Odd prefixes fall back on the identity type."""
    if not key:
        return False
    if key.startswith("ASIA"):
        return True
    if key.startswith("AKIA"):
        return False
    return identity_type in ("AssumedRole", "FederatedUser", "WebIdentityUser", "SAMLUser")


def normalize_seed(value: str) -> tuple[str, str]:
    """What an investigator typed -> (kind, node id or key).

    >>> normalize_seed("AKIAIOSFODNN7EXAMPLE")
    ('access_key', 'AKIAIOSFODNN7EXAMPLE')
    >>> normalize_seed("arn:aws:iam::1:role/x/RoleB")
    ('principal', 'arn:aws:iam::1:role/RoleB')
    >>> normalize_seed("198.51.100.7")
    ('ip', '198.51.100.7')
    """
    v = value.strip()
    if parse_id(v).prefix is IdPrefix.SESSION:
        return "session", v
    if re.match(r"^(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}$", v):
        return "access_key", v
    if is_ip(v):
        return "ip", v
    p = principal_of_arn(v)
    if p is not None:
        return "principal", p[1]
    if re.match(r"^\d{12}$", v):
        return "account", v
    return "principal", v
