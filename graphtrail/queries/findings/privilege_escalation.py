"""Privilege escalation: administrator rights granted, policies rewritten, and the denied
attempts at those same critical actions."""

from __future__ import annotations

from graphtrail.families import (
    KEY_CREATION,
    LOGIN_PROFILE,
    POLICY_CHANGE,
    POLICY_VERSION,
    TRUST_CHANGE,
)
from graphtrail.policy import ADMIN_POLICY_ARNS, is_admin_document
from graphtrail.queries.findings._common import DENIED, caller_user, detail, each, ok
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__ = ["CRITICAL_ACTIONS"]

_POLICY_CALLS = list(POLICY_CHANGE)
# Critical actions whose *denied* attempt is worth a finding of its own (a denied
# LeaveOrganization is GT-DEF-004's, a denied GPU launch GT-IMP-002's).
CRITICAL_ACTIONS = ["AssumeRole", *KEY_CREATION, *LOGIN_PROFILE, *TRUST_CHANGE, *POLICY_VERSION,
                    "StopLogging", "DeleteTrail", *_POLICY_CALLS]
_ADMIN_ROLE_WORDS = ("admin", "administrator", "poweruser", "organizationaccountaccessrole",
                     "break-glass", "breakglass")


def _grants_admin(d: dict) -> bool:
    return d.get("policyArn") in ADMIN_POLICY_ARNS or is_admin_document(d.get("policyDocument"))


@rule("GT-PERS-004", "Administrator permissions granted", "critical", "Privilege Escalation",
      "T1098.003", "Account Manipulation: Additional Cloud Roles")
def admin_policy_attached(ctx: Context) -> list[Hit]:
    """An administrator managed policy attached, or an inline policy allowing * on *."""
    df = ok(ctx.calls(_POLICY_CALLS))
    mask = df["detail"].map(lambda v: _grants_admin(detail(v))) if len(df) else []
    return each(df[mask] if len(df) else df, lambda r: f"{said(r['event_name'])} on {_target(r)}")


def _target(r) -> str:
    d = detail(r["detail"])
    return said(d.get("userName") or d.get("roleName") or d.get("groupName") or r["resource"])


@rule("GT-PERS-005", "Managed policy rewritten (new default version)", "high", "Privilege Escalation",
      "T1098.003", "Account Manipulation: Additional Cloud Roles")
def policy_version_changed(ctx: Context) -> list[Hit]:
    """CreatePolicyVersion with setAsDefault, or SetDefaultPolicyVersion."""
    df = ok(ctx.calls(list(POLICY_VERSION)))
    if df.empty:
        return []
    mask = (df["event_name"] == "SetDefaultPolicyVersion") | df["detail"].map(
        lambda v: bool(detail(v).get("setAsDefault")))
    return each(df[mask], lambda r: f"{said(r['event_name'])} {said(detail(r['detail']).get('policyArn'))}")


@rule("GT-PRIV-001", "Denied attempt at a critical action", "medium", "Privilege Escalation",
      "T1098", "Account Manipulation")
def denied_critical(ctx: Context) -> list[Hit]:
    """A denied AssumeRole into an administrator role, CreateAccessKey / CreateLoginProfile for
    another user, an administrator policy attached, a trust policy rewritten, logging stopped,
    the organization left. Denied means the attacker is still looking for the way: high when
    the target is an administrator role or policy, medium otherwise."""
    df = ctx.calls(CRITICAL_ACTIONS)
    df = df[df["error_code"].isin(DENIED)]
    hits = []
    for i, r in df.iterrows():
        why = _critical(r)
        if why:
            what, admin = why
            hits.append(Hit(df.loc[[i]], f"denied {said(r['event_name'])}: {what}",
                            severity="high" if admin else None,
                            key=(r["event_name"], what), why={"error": r["error_code"]}))
    return hits


def _critical(r) -> tuple[str, bool] | None:
    """What the denied call aimed at and whether that is administrator power (None: benign)."""
    name, d = r["event_name"], detail(r["detail"])
    if name == "AssumeRole":
        role = said(r["resource"])
        admin = any(w in role.lower().rsplit("/", 1)[-1] for w in _ADMIN_ROLE_WORDS)
        return (f"into {role}", True) if admin else None
    if name in KEY_CREATION or name in LOGIN_PROFILE:
        user = d.get("userName")
        if user and user != caller_user(r["identity_arn"]):
            return f"for user {user}", True
        return None if d else (f"on {said(r['resource'])}", False)
    if name in _POLICY_CALLS:
        return (f"on {_target(r)}", True) if _grants_admin(d) or not d else None
    return f"on {said(r['resource'] or r['recipient_account_id'])}", False


@rule("GT-PRIV-002", "Root task session (AssumeRoot)", "low", "Privilege Escalation",
      "T1078.004", "Valid Accounts: Cloud Accounts")
def assume_root(ctx: Context) -> list[Hit]:
    """AssumeRoot from the management account: a short root session limited by a task policy.

    Rated by that policy: recreating a root password or unlocking a bucket or queue policy is
    high, deleting root credentials medium, auditing them low.
    """
    df = ok(ctx.calls(["AssumeRoot"]))
    hits = []
    for i, r in df.iterrows():
        d = detail(r["detail"])
        task = str((d.get("taskPolicyArn") or {}).get("arn") if isinstance(d.get("taskPolicyArn"), dict)
                   else d.get("taskPolicyArn") or "")
        sev = _task_severity(task)
        hits.append(Hit(df.loc[[i]], f"root task session on {said(d.get('targetPrincipal'))} "
                        f"({task.rsplit('/', 1)[-1] or 'task policy not logged'})",
                        severity=sev, key=(str(d.get("targetPrincipal")), task),
                        why={"task_policy": task or None}))
    return hits


def _task_severity(task: str) -> str:
    t = task.rsplit("/", 1)[-1]
    if t in ("IAMCreateRootUserPassword", "S3UnlockBucketPolicy", "SQSUnlockQueuePolicy"):
        return "high"
    if t == "IAMDeleteRootUserCredentials":
        return "medium"
    if t == "IAMAuditRootUserCredentials":
        return "low"
    return "medium"

