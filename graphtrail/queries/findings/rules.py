"""The detection catalogue. One function a detection; ``@rule`` registers it.

Each rule reads calls through :class:`~graphtrail.queries.findings.Context` and returns
:class:`~graphtrail.queries.findings.Hit` groups. Thresholds are module constants so an
investigator can read (and tune) what "a burst" means.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from graphtrail import ids
from graphtrail.policy import ADMIN_POLICY_ARNS, is_admin_document, trusted_accounts
from graphtrail.queries.findings import Context, Hit, rule
from graphtrail.words import plural, said

__all__ = ["BURST_WINDOW_US", "SECRET_BURST", "ENUM_BURST", "DENIED_BURST", "OBJECT_READS",
           "SIGNIN_FAILURES", "GPU_FAMILIES"]

MINUTE = 60_000_000
BURST_WINDOW_US = 10 * MINUTE
SECRET_BURST = 5  # secrets or decrypted parameters read by one credential within the window
ENUM_BURST = 25  # distinct List/Describe/Get calls by one credential within the window
DENIED_BURST = 10  # AccessDenied-type errors by one credential within the window
OBJECT_READS = 50  # object reads by one lineage within an hour
SIGNIN_FAILURES = 5  # failed console sign-ins for one user or from one IP within the window
GPU_FAMILIES = re.compile(r"^(p2|p3|p4d|p4de|p5|p5e|g3|g4dn|g4ad|g5|g5g|g6|g6e|gr6|inf1|inf2|trn1|trn2|dl1|dl2q)\.")
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
           "Client.UnauthorizedOperation", "UnauthorizedAccess", "AuthorizationError")


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["error_code"].isna()]


def _detail(v) -> dict:
    if not isinstance(v, str):
        return {}
    try:
        d = json.loads(v)
    except json.JSONDecodeError:
        return {}
    return d if isinstance(d, dict) else {}


def _each(df: pd.DataFrame, summary) -> list[Hit]:
    return [Hit(df.loc[[i]], summary(r)) for i, r in df.iterrows()]


def _by(df: pd.DataFrame, key: str, summary) -> list[Hit]:
    return [Hit(g, summary(k, g)) for k, g in df.groupby(key, sort=False, dropna=True)]


def _bursts(df: pd.DataFrame, key: str, window: int, threshold: int, *, distinct: str | None = None,
            summary) -> list[Hit]:
    """Rows of ``key`` groups that have ``threshold`` calls (or distinct values) in ``window``.

    Linear in the calls: windows are found with a binary search per row, marked with a
    difference array, and distinct values counted with two pointers.
    """
    df = df[df[key].notna()]
    if len(df) < threshold:
        return []
    df = df.sort_values([key, "time"], kind="stable")
    times = df["time"].astype("int64").to_numpy() // 1000
    keys = df[key].to_numpy()
    values = df[distinct].to_numpy() if distinct else None
    bounds = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(keys)]])
    hits = []
    for s, e in zip(starts.tolist(), stops.tolist(), strict=True):
        if e - s < threshold:
            continue
        t = times[s:e]
        end = np.searchsorted(t, t + window, side="right")
        idx = np.arange(len(t))
        cand = np.flatnonzero(end - idx >= threshold)
        if values is not None and len(cand):
            cand = _distinct_windows(values[s:e], end, cand, threshold)
        if not len(cand):
            continue
        mark = np.zeros(len(t) + 1, dtype=np.int64)
        np.add.at(mark, cand, 1)
        np.add.at(mark, end[cand], -1)
        keep = np.cumsum(mark[:-1]) > 0
        rows = df.iloc[s:e][keep]
        hits.append(Hit(rows, summary(keys[s], rows)))
    return hits


def _distinct_windows(values, end: np.ndarray, cand: np.ndarray, threshold: int) -> np.ndarray:
    """The window starts (among ``cand``) holding at least ``threshold`` distinct values."""
    counts: dict = {}
    right = 0
    ok = []
    wanted = set(cand.tolist())
    for i in range(len(values)):
        while right < end[i]:
            counts[values[right]] = counts.get(values[right], 0) + 1
            right += 1
        if i in wanted and len(counts) >= threshold:
            ok.append(i)
        v = values[i]
        counts[v] -= 1
        if not counts[v]:
            del counts[v]
    return np.array(ok, dtype=np.int64)


def _caller_user(arn) -> str | None:
    p = ids.principal_of_arn(arn if isinstance(arn, str) else None)
    return p[1].rsplit("/", 1)[-1] if p and p[0] == "User" else None


def _for_another_user(ctx: Context, names: list[str]) -> pd.DataFrame:
    """Successful calls among ``names`` whose ``userName`` parameter is not the caller."""
    df = _ok(ctx.calls(names))
    target = df["detail"].map(lambda d: _detail(d).get("userName"))
    return df[target.notna() & (target != df["identity_arn"].map(_caller_user))]


# -- persistence ---------------------------------------------------------------------------
@rule("GT-PERS-001", "Access key created for another user", "high", "Persistence",
      "T1098.001", "Account Manipulation: Additional Cloud Credentials")
def access_key_for_other_user(ctx: Context) -> list[Hit]:
    """CreateAccessKey naming a user other than the caller: a second way in."""
    return _each(_for_another_user(ctx, ["CreateAccessKey"]),
                 lambda r: f"key created for {said(_detail(r['detail']).get('userName'))} by {said(r['actor'])}")


@rule("GT-PERS-002", "Console password set for another user", "high", "Persistence",
      "T1098", "Account Manipulation")
def login_profile_for_other_user(ctx: Context) -> list[Hit]:
    """CreateLoginProfile / UpdateLoginProfile on someone else's user."""
    return _each(_for_another_user(ctx, ["CreateLoginProfile", "UpdateLoginProfile"]),
                 lambda r: f"{said(r['event_name'])} for {said(_detail(r['detail']).get('userName'))}")


@rule("GT-PERS-003", "IAM user created", "medium", "Persistence", "T1136.003",
      "Create Account: Cloud Account")
def user_created(ctx: Context) -> list[Hit]:
    """CreateUser: new identities are a classic foothold."""
    df = _ok(ctx.calls(["CreateUser"]))
    return _each(df, lambda r: f"user {said(_detail(r['detail']).get('userName'))} created by {said(r['actor'])}")


@rule("GT-PERS-004", "Administrator permissions granted", "critical", "Privilege Escalation",
      "T1098.003", "Account Manipulation: Additional Cloud Roles")
def admin_policy_attached(ctx: Context) -> list[Hit]:
    """An administrator managed policy attached, or an inline policy allowing * on *."""
    df = _ok(ctx.calls(["AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy",
                        "PutUserPolicy", "PutRolePolicy", "PutGroupPolicy"]))

    def admin(r) -> bool:
        d = _detail(r["detail"])
        return d.get("policyArn") in ADMIN_POLICY_ARNS or is_admin_document(d.get("policyDocument"))

    mask = df.apply(admin, axis=1) if len(df) else pd.Series([], dtype=bool)
    return _each(df[mask], lambda r: f"{said(r['event_name'])} on "
                 f"{_detail(r['detail']).get('userName') or _detail(r['detail']).get('roleName') or _detail(r['detail']).get('groupName')}")


@rule("GT-PERS-005", "Managed policy rewritten (new default version)", "high", "Privilege Escalation",
      "T1098.003", "Account Manipulation: Additional Cloud Roles")
def policy_version_changed(ctx: Context) -> list[Hit]:
    """CreatePolicyVersion with setAsDefault, or SetDefaultPolicyVersion."""
    df = _ok(ctx.calls(["CreatePolicyVersion", "SetDefaultPolicyVersion"]))
    mask = df.apply(lambda r: r["event_name"] == "SetDefaultPolicyVersion"
                    or bool(_detail(r["detail"]).get("setAsDefault")), axis=1) if len(df) else []
    return _each(df[mask] if len(df) else df,
                 lambda r: f"{said(r['event_name'])} {said(_detail(r['detail']).get('policyArn'))}")


@rule("GT-PERS-006", "Role trust opened to another account", "critical", "Persistence",
      "T1098.003", "Account Manipulation: Additional Cloud Roles")
def trust_opened(ctx: Context) -> list[Hit]:
    """UpdateAssumeRolePolicy or CreateRole trusting an account other than the role's own (or *)."""
    df = _ok(ctx.calls(["UpdateAssumeRolePolicy", "CreateRole"]))
    hits = []
    for i, r in df.iterrows():
        d = _detail(r["detail"])
        doc = d.get("policyDocument") or d.get("assumeRolePolicyDocument")
        own = r["recipient_account_id"]
        external = [a for a in trusted_accounts(doc) if a != own]
        if external:
            hits.append(Hit(df.loc[[i]], f"role {said(d.get('roleName') or r['resource'])} now trusts {', '.join(external)}"))
    return hits


# -- defense evasion --------------------------------------------------------------------------
@rule("GT-DEF-001", "CloudTrail logging stopped or trail deleted", "critical", "Defense Evasion",
      "T1562.008", "Impair Defenses: Disable or Modify Cloud Logs")
def trail_stopped(ctx: Context) -> list[Hit]:
    """StopLogging or DeleteTrail."""
    return _each(_ok(ctx.calls(["StopLogging", "DeleteTrail"])),
                 lambda r: f"{said(r['event_name'])} {said(r['resource'])}")


@rule("GT-DEF-002", "Trail logging reduced", "high", "Defense Evasion", "T1562.008",
      "Impair Defenses: Disable or Modify Cloud Logs")
def trail_reduced(ctx: Context) -> list[Hit]:
    """PutEventSelectors excluding management events or writing none; UpdateTrail."""
    df = _ok(ctx.calls(["PutEventSelectors", "UpdateTrail"]))
    hits = []
    for i, r in df.iterrows():
        d = _detail(r["detail"])
        if r["event_name"] == "UpdateTrail":
            hits.append(Hit(df.loc[[i]], f"UpdateTrail {d.get('name')}"))
            continue
        text = json.dumps(d)
        reduced = ('"includeManagementEvents": false' in text or '"readWriteType": "ReadOnly"' in text
                   or "excludeManagementEventSources" in text or '"eventSelectors": []' in text
                   or ("advancedEventSelectors" in text and "Management" not in text))
        if reduced:
            hits.append(Hit(df.loc[[i]], f"PutEventSelectors on {d.get('trailName')} reduces logging"))
    return hits


@rule("GT-DEF-003", "Security monitoring disabled", "high", "Defense Evasion", "T1562.001",
      "Impair Defenses: Disable or Modify Tools")
def monitoring_disabled(ctx: Context) -> list[Hit]:
    """GuardDuty, Config, flow logs, Security Hub or DNS query logs switched off."""
    names = ["DeleteDetector", "DisassociateFromMasterAccount", "DisassociateFromAdministratorAccount",
             "StopMonitoringMembers", "DeleteMembers", "StopConfigurationRecorder",
             "DeleteConfigurationRecorder", "DeleteDeliveryChannel", "DeleteFlowLogs",
             "DisableSecurityHub", "DeleteResolverQueryLogConfig", "UpdateDetector"]
    df = _ok(ctx.calls(names))
    if len(df):
        df = df[(df["event_name"] != "UpdateDetector")
                | df["detail"].map(lambda d: _detail(d).get("enable") is False)]
    return _each(df, lambda r: f"{said(r['event_name'])} ({said(r['event_source'])})")


@rule("GT-DEF-004", "Account left its organization", "critical", "Defense Evasion", "T1666",
      "Modify Cloud Resource Hierarchy")
def left_organization(ctx: Context) -> list[Hit]:
    """LeaveOrganization removes the account from the organization's guardrails."""
    return _each(_ok(ctx.calls(["LeaveOrganization"])), lambda r: f"account {said(r['recipient_account_id'])} left")


# -- credential access ----------------------------------------------------------------------
@rule("GT-CRED-001", "Secrets read in a burst", "high", "Credential Access", "T1555.006",
      "Credentials from Password Stores: Cloud Secrets Management Stores")
def secrets_burst(ctx: Context) -> list[Hit]:
    """Secrets Manager values or SSM SecureString parameters read repeatedly by one credential."""
    df = _ok(ctx.calls(["GetSecretValue", "BatchGetSecretValue", "GetParameter", "GetParameters",
                        "GetParametersByPath"]))
    if len(df):
        ssm = df["event_source"] == "ssm.amazonaws.com"
        decrypt = df["detail"].map(lambda d: bool(_detail(d).get("withDecryption")))
        df = df[~ssm | decrypt]
    return _bursts(df, "actor", BURST_WINDOW_US, SECRET_BURST,
                   summary=lambda k, g: f"{plural(len(g), 'secret read')} by {k}")


@rule("GT-CRED-002", "Windows password data retrieved", "high", "Credential Access", "T1552",
      "Unsecured Credentials")
def password_data(ctx: Context) -> list[Hit]:
    """GetPasswordData returns an instance's encrypted administrator password."""
    return _each(_ok(ctx.calls(["GetPasswordData"])), lambda r: f"GetPasswordData {said(r['resource'])}")


# -- discovery --------------------------------------------------------------------------------
@rule("GT-DISC-001", "Identity check from a new address", "medium", "Discovery", "T1087.004",
      "Account Discovery: Cloud Account")
def whoami_new_ip(ctx: Context) -> list[Hit]:
    """GetCallerIdentity from an IP the principal had never called from before."""
    df = ctx.calls(None, ["event_id", "time", "actor", "identity_arn", "source_ip", "event_name",
                          "recipient_account_id", "error_code"])
    if df.empty:
        return []
    df = df[df["source_ip"].map(ids.is_ip).astype(bool) & df["identity_arn"].notna()]
    first = df.groupby(["identity_arn", "source_ip"], sort=False)["time"].transform("min")
    history = df.groupby("identity_arn", sort=False)["time"].transform("min")
    hit = df[(df["event_name"] == "GetCallerIdentity") & (df["time"] == first) & (history < first)]
    return _each(hit, lambda r: f"{said(r['identity_arn'])} from {said(r['source_ip'])}")


@rule("GT-DISC-002", "Enumeration burst", "medium", "Discovery", "T1580",
      "Cloud Infrastructure Discovery")
def enumeration_burst(ctx: Context) -> list[Hit]:
    """Many distinct List/Describe/Get calls by one credential in a few minutes."""
    df = ctx.calls(None, ["event_id", "time", "actor", "event_name", "recipient_account_id",
                          "error_code"])
    df = df[df["event_name"].str.match(r"^(List|Describe|Get)", na=False)]
    return _bursts(df, "actor", BURST_WINDOW_US, ENUM_BURST, distinct="event_name",
                   summary=lambda k, g: f"{g['event_name'].nunique()} distinct calls by {k}")


@rule("GT-DISC-003", "Access denied burst", "medium", "Discovery", "T1069.003",
      "Permission Groups Discovery: Cloud Groups")
def denied_burst(ctx: Context) -> list[Hit]:
    """One credential hitting AccessDenied again and again: probing its permissions."""
    df = ctx.calls(None, ["event_id", "time", "actor", "event_name", "recipient_account_id",
                          "error_code"])
    df = df[df["error_code"].isin(_DENIED)]
    return _bursts(df, "actor", BURST_WINDOW_US, DENIED_BURST,
                   summary=lambda k, g: f"{plural(len(g), 'denied call')} by {k}")


@rule("GT-DISC-004", "Role assumption denied", "low", "Discovery", "T1078.004",
      "Valid Accounts: Cloud Accounts")
def assume_role_denied(ctx: Context) -> list[Hit]:
    """AssumeRole* that failed: attempts to move into roles the credential may not use."""
    df = ctx.calls(["AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"])
    return _by(df[df["error_code"].notna()], "actor",
               lambda k, g: f"{plural(len(g), 'denied AssumeRole', 'denied AssumeRole')} by {k}: {', '.join(sorted({said(x) for x in g['resource']}))}")


# -- impact -------------------------------------------------------------------------------------
@rule("GT-IMP-001", "Instances launched in a region the account never used", "high", "Impact",
      "T1496", "Resource Hijacking")
def new_region_instances(ctx: Context) -> list[Hit]:
    """RunInstances in a region where the account had no activity before (with a history elsewhere)."""
    runs = _ok(ctx.calls(["RunInstances"]))
    if runs.empty:
        return []
    allc = ctx.calls(None, ["event_id", "time", "recipient_account_id", "region"])
    first_region = allc.groupby(["recipient_account_id", "region"])["time"].min()
    first_account = allc.groupby("recipient_account_id")["time"].min()
    hits = []
    for i, r in runs.iterrows():
        acct, region = r["recipient_account_id"], r["region"]
        fr, fa = first_region.get((acct, region)), first_account.get(acct)
        if fr is None or fa is None:
            continue
        if (r["time"] - fr) <= pd.Timedelta(hours=1) and (fr - fa) >= pd.Timedelta(hours=6):
            hits.append(Hit(runs.loc[[i]], f"RunInstances in {region}, new for account {acct}"))
    return hits


@rule("GT-IMP-002", "GPU instances launched", "high", "Impact", "T1496", "Resource Hijacking")
def gpu_instances(ctx: Context) -> list[Hit]:
    """RunInstances of GPU or accelerator instance types (crypto-mining, model abuse)."""
    runs = _ok(ctx.calls(["RunInstances"]))
    kinds = runs["detail"].map(lambda d: _detail(d).get("instanceType")) if len(runs) else runs["detail"]
    mask = kinds.map(lambda k: bool(isinstance(k, str) and GPU_FAMILIES.match(k))) if len(runs) else []
    return _each(runs[mask] if len(runs) else runs,
                 lambda r: f"{said(_detail(r['detail']).get('instanceType'))} in {said(r['region'])}")


# -- exfiltration -------------------------------------------------------------------------------
@rule("GT-EXF-001", "Objects read in volume by one lineage", "high", "Exfiltration", "T1530",
      "Data from Cloud Storage")
def object_reads(ctx: Context) -> list[Hit]:
    """Many GetObject calls from one credential lineage within an hour."""
    from graphtrail.queries.findings import lineage_path

    df = _ok(ctx.calls(["GetObject"]))
    if df.empty:
        return []
    def origin(a: str) -> str:
        root = (lineage_path(ctx.store, a) or [a])[0]
        # Every instance profile starts at the EC2 service: group those per session instead.
        return a if root.endswith(".amazonaws.com") or root.startswith("service:") else root

    roots = {a: origin(a) for a in df["actor"].dropna().unique()}
    df = df.assign(origin=df["actor"].map(roots))
    return _bursts(df, "origin", 60 * MINUTE, OBJECT_READS,
                   summary=lambda k, g: f"{len(g)} objects read from {g['resource'].nunique()} "
                   f"bucket(s) by the lineage of {k}")


@rule("GT-EXF-002", "Snapshot or image shared outside the account", "critical", "Exfiltration",
      "T1537", "Transfer Data to Cloud Account")
def shared_snapshot(ctx: Context) -> list[Hit]:
    """EBS/RDS snapshots or AMIs made public or shared with another account."""
    df = _ok(ctx.calls(["ModifySnapshotAttribute", "ModifyImageAttribute",
                        "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"]))
    hits = []
    for i, r in df.iterrows():
        text = r["detail"] if isinstance(r["detail"], str) else ""
        accounts = {a for a in re.findall(r'"(\d{12})"', text) if a != r["recipient_account_id"]}
        public = '"all"' in text.lower()
        if accounts or public:
            who = "public" if public else ", ".join(sorted(accounts))
            hits.append(Hit(df.loc[[i]], f"{said(r['event_name'])} {said(r['resource'])} shared with {who}"))
    return hits


# -- initial access ---------------------------------------------------------------------------
@rule("GT-INIT-001", "Root user activity", "high", "Initial Access", "T1078.004",
      "Valid Accounts: Cloud Accounts")
def root_use(ctx: Context) -> list[Hit]:
    """Calls made as the account's root user (not by an AWS service on its behalf)."""
    df = ctx.calls(None, ["event_id", "time", "actor", "identity_type", "event_name", "source_ip",
                          "recipient_account_id", "error_code"])
    if df.empty:
        return []
    df = df[(df["identity_type"] == "Root") & df["source_ip"].map(ids.is_ip).astype(bool)]
    return _by(df, "recipient_account_id", lambda k, g: f"{plural(len(g), 'root call')} in {k}")


@rule("GT-INIT-002", "Console sign-in without MFA", "medium", "Initial Access", "T1078.004",
      "Valid Accounts: Cloud Accounts")
def console_without_mfa(ctx: Context) -> list[Hit]:
    """A successful ConsoleLogin whose additionalEventData says MFAUsed: No."""
    df = _ok(ctx.calls(["ConsoleLogin"]))
    mask = df["detail"].map(lambda d: _detail(d).get("MFAUsed") == "No") if len(df) else []
    return _each(df[mask] if len(df) else df,
                 lambda r: f"{said(r['identity_arn'])} signed in without MFA from {said(r['source_ip'])}")


@rule("GT-INIT-003", "Failed console sign-in burst", "medium", "Credential Access", "T1110",
      "Brute Force")
def signin_failures(ctx: Context) -> list[Hit]:
    """Several failed ConsoleLogin for one user (or from one address) in a few minutes."""
    df = ctx.calls(["ConsoleLogin"])
    df = df[df["error_code"].notna()]
    df = df.assign(who=df["identity_arn"].fillna(df["source_ip"]))
    return _bursts(df, "who", BURST_WINDOW_US, SIGNIN_FAILURES,
                   summary=lambda k, g: f"{plural(len(g), 'failed sign-in')} for {k}")
