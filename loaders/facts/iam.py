"""IAM: what a credential created (keys, users, login profiles, roles, policy versions) and
which permissions or trust it changed.

>>> from loaders.facts.registry import Call
>>> c = Call("e1", 0, "CreateAccessKey", "session:ASIA1@x", None, "111122223333",
...          {"userName": "backdoor"}, {"accessKey": {"accessKeyId": "AKIANEW", "userName": "backdoor"}})
>>> [(f.kind.value, f.src, f.dst) for f in create_access_key(c)]
[('CREATED', 'session:ASIA1@x', 'key:AKIANEW'), ('HAS_KEY', 'arn:aws:iam::111122223333:user/backdoor', 'key:AKIANEW')]
"""

from __future__ import annotations

from typing import Any

from graphtrail import ids
from graphtrail.families import (
    INLINE_POLICY,
    KEY_CHANGE,
    KEY_CREATION,
    LOGIN_PROFILE,
    POLICY_ATTACH,
    TRUST_CHANGE,
)
from graphtrail.model import EdgeKind, Node, NodeKind
from graphtrail.policy import (
    ADMIN_POLICY_ARNS,
    is_admin_document,
    trusted_accounts,
)
from loaders.facts.registry import Call, Fact, handles

__all__ = ["create_access_key"]

ADMIN_POLICIES = ADMIN_POLICY_ARNS


def _user(c: Call, name: Any = None) -> tuple[str, Node]:
    """The user a call is about: the named one, else the caller itself."""
    if isinstance(name, str) and name:
        uid = ids.user_id(name, c.account)
    else:
        p = ids.principal_of_arn(c.caller_arn)
        uid = p[1] if p and p[0] == NodeKind.USER.value else ids.user_id("unknown", c.account)
    return uid, Node(uid, NodeKind.USER, uid.rsplit("/", 1)[-1], uid.split(":")[4])


@handles(*KEY_CREATION)
def create_access_key(c: Call) -> list[Fact]:
    ak = c.response.get("accessKey") or {}
    key = ak.get("accessKeyId") if isinstance(ak, dict) else None
    if not isinstance(key, str) or not key:
        return []
    uid, user = _user(c, ak.get("userName") or c.request.get("userName"))
    knode = Node(ids.key_id(key), NodeKind.ACCESS_KEY, key, user.account,
                 {"access_key_id": key, "user": uid, "created": c.time})
    return [Fact(c.actor, knode.id, EdgeKind.CREATED, [knode, user], {"created_type": "AccessKey"}),
            Fact(uid, knode.id, EdgeKind.HAS_KEY, [knode, user])]


@handles("CreateUser")
def create_user(c: Call) -> list[Fact]:
    u = c.response.get("user") or {}
    arn = u.get("arn") if isinstance(u, dict) else None
    uid, user = _user(c, arn or c.request.get("userName"))
    return [Fact(c.actor, uid, EdgeKind.CREATED, [user], {"created_type": "User"})]


@handles(*LOGIN_PROFILE)
def login_profile(c: Call) -> list[Fact]:
    uid, user = _user(c, c.request.get("userName"))
    lp = Node(ids.login_profile_id(uid), NodeKind.LOGIN_PROFILE, f"login profile of {user.label}",
              user.account, {"user": uid})
    kind = EdgeKind.CREATED if c.event_name == "CreateLoginProfile" else EdgeKind.CHANGED
    return [Fact(c.actor, lp.id, kind, [lp, user], {"created_type": "LoginProfile", "change": c.event_name}),
            Fact(lp.id, uid, EdgeKind.OF_PRINCIPAL, [lp, user])]


@handles("CreateRole")
def create_role(c: Call) -> list[Fact]:
    name = c.request.get("roleName")
    if not isinstance(name, str):
        return []
    rid = ids.role_id(name, c.account)
    trust = trusted_accounts(c.request.get("assumeRolePolicyDocument"))
    role = Node(rid, NodeKind.ROLE, name, c.account)
    return [Fact(c.actor, rid, EdgeKind.CREATED, [role],
                 {"created_type": "Role", "trusted_accounts": trust})]


def _policy_node(arn: str) -> Node:
    return Node(arn, NodeKind.POLICY, arn.rsplit("/", 1)[-1], arn.split(":")[4] or None)


@handles("CreatePolicy")
def create_policy(c: Call) -> list[Fact]:
    p = c.response.get("policy") or {}
    arn = p.get("arn") if isinstance(p, dict) else None
    if not isinstance(arn, str):
        name = c.request.get("policyName")
        if not isinstance(name, str):
            return []
        arn = f"arn:aws:iam::{c.account}:policy/{name}"
    admin = is_admin_document(c.request.get("policyDocument"))
    return [Fact(c.actor, arn, EdgeKind.CREATED, [_policy_node(arn)],
                 {"created_type": "Policy", "admin": admin})]


@handles("CreatePolicyVersion")
def create_policy_version(c: Call) -> list[Fact]:
    arn = c.request.get("policyArn")
    if not isinstance(arn, str):
        return []
    pv = c.response.get("policyVersion") or {}
    version = pv.get("versionId") if isinstance(pv, dict) else None
    admin = is_admin_document(c.request.get("policyDocument"))
    return [Fact(c.actor, arn, EdgeKind.CREATED, [_policy_node(arn)],
                 {"created_type": "PolicyVersion", "version": version, "admin": admin,
                  "set_as_default": bool(c.request.get("setAsDefault"))})]


@handles("SetDefaultPolicyVersion")
def set_default_policy_version(c: Call) -> list[Fact]:
    arn = c.request.get("policyArn")
    if not isinstance(arn, str):
        return []
    return [Fact(c.actor, arn, EdgeKind.CHANGED, [_policy_node(arn)],
                 {"change": c.event_name, "version": c.request.get("versionId")})]


def _principal_target(c: Call) -> tuple[str, Node] | None:
    if isinstance(c.request.get("userName"), str):
        return _user(c, c.request["userName"])
    if isinstance(c.request.get("roleName"), str):
        rid = ids.role_id(c.request["roleName"], c.account)
        return rid, Node(rid, NodeKind.ROLE, c.request["roleName"], c.account)
    if isinstance(c.request.get("groupName"), str):
        gid = f"arn:aws:iam::{c.account}:group/{c.request['groupName']}"
        return gid, Node(gid, NodeKind.RESOURCE, c.request["groupName"], c.account, {"type": "IAMGroup"})
    return None


@handles(*POLICY_ATTACH,
         "DetachUserPolicy", "DetachRolePolicy", "DetachGroupPolicy")
def attach_policy(c: Call) -> list[Fact]:
    target = _principal_target(c)
    if target is None:
        return []
    arn = c.request.get("policyArn")
    return [Fact(c.actor, target[0], EdgeKind.CHANGED, [target[1]],
                 {"change": c.event_name, "policy_arn": arn,
                  "admin": arn in ADMIN_POLICIES and c.event_name.startswith("Attach")})]


@handles(*INLINE_POLICY,
         "PutUserPermissionsBoundary", "PutRolePermissionsBoundary",
         "DeleteUserPolicy", "DeleteRolePolicy", "DeleteRolePermissionsBoundary",
         "DeleteUserPermissionsBoundary", "AddUserToGroup", "RemoveUserFromGroup")
def inline_policy(c: Call) -> list[Fact]:
    target = _principal_target(c)
    if target is None:
        return []
    return [Fact(c.actor, target[0], EdgeKind.CHANGED, [target[1]],
                 {"change": c.event_name, "policy_name": c.request.get("policyName"),
                  "group": c.request.get("groupName") if c.event_name.endswith("Group") else None,
                  "admin": is_admin_document(c.request.get("policyDocument"))})]


@handles(*TRUST_CHANGE)
def update_trust(c: Call) -> list[Fact]:
    name = c.request.get("roleName")
    if not isinstance(name, str):
        return []
    rid = ids.role_id(name, c.account)
    trust = trusted_accounts(c.request.get("policyDocument"))
    external = [a for a in trust if a != c.account]
    return [Fact(c.actor, rid, EdgeKind.CHANGED, [Node(rid, NodeKind.ROLE, name, c.account)],
                 {"change": c.event_name, "trusted_accounts": trust, "external_accounts": external})]


@handles(*KEY_CHANGE)
def update_access_key(c: Call) -> list[Fact]:
    key = c.request.get("accessKeyId")
    if not isinstance(key, str) or not key:
        return []
    node = Node(ids.key_id(key), NodeKind.ACCESS_KEY, key, c.account, {"access_key_id": key})
    return [Fact(c.actor, node.id, EdgeKind.CHANGED, [node],
                 {"change": c.event_name, "status": c.request.get("status")})]
