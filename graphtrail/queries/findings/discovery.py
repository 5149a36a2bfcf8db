"""Discovery: who-am-I checks from new places, enumeration, probing permissions."""

from __future__ import annotations

import pandas as pd

from graphtrail.queries.findings import Context, Hit, rule
from graphtrail.queries.findings._common import DENIED, MINUTE, bursts, by, is_ip
from graphtrail.queries.findings._workload import role_of, workload_kind

__all__: list[str] = []

@rule("GT-DISC-001", "Identity check from a new address", "medium", "Discovery", "T1087.004",
      "Account Discovery: Cloud Account")
def whoami_new_ip(ctx: Context) -> list[Hit]:
    """GetCallerIdentity from an address the principal (a role: any of its sessions) never
    used before, once the case holds ``baseline_warmup_hours`` of its history.

    Workloads (instances, Lambda, ECS, EKS, CI over web identity) get a new address with every
    execution environment: they are left to GT-CRED-003, which judges them per role.
    """
    df = ctx.calls(None, ["event_id", "time", "actor", "identity_arn", "source_ip", "event_name",
                          "recipient_account_id", "error_code"])
    if df.empty or not (df["event_name"] == "GetCallerIdentity").any():
        return []
    arns = df["identity_arn"].dropna().unique()
    principal = {a: role_of(a) for a in arns}
    asking = {principal[a] for a in df.loc[df["event_name"] == "GetCallerIdentity", "identity_arn"].dropna().unique()}
    df = df[df["identity_arn"].isin([a for a in arns if principal[a] in asking])]  # only those who ask
    df = df[is_ip(df["source_ip"])]
    sess = ctx.store.session_info
    df = df.assign(principal=df["identity_arn"].map(principal))
    kinds = {a: workload_kind(sess.get(a), None) for a in df["actor"].dropna().unique()}
    workload_roles = {principal[a] for a in arns if workload_kind(None, a)}
    workload_roles |= set(df.loc[df["actor"].map(kinds).notna(), "principal"])
    df = df[~df["principal"].isin(workload_roles)]
    warmup = ctx.t("baseline_warmup_hours")
    first = df.groupby(["principal", "source_ip"], sort=False)["time"].transform("min")
    history = df.groupby("principal", sort=False)["time"].transform("min")
    hit = df[(df["event_name"] == "GetCallerIdentity") & (df["time"] == first)
             & (first - history >= pd.Timedelta(hours=warmup))]
    hits = []
    for i, r in hit.iterrows():
        seen = sorted(set(df.loc[(df["principal"] == r["principal"]) & (df["time"] < r["time"]),
                                 "source_ip"]))
        hits.append(Hit(hit.loc[[i]], f"{r['principal']} from {r['source_ip']}",
                        key=(r["principal"], r["source_ip"]),
                        why={"new_address": r["source_ip"], "addresses_before": seen[:20],
                             "history_since": history[i], "warmup_hours": warmup}))
    return hits

@rule("GT-DISC-002", "Enumeration burst", "medium", "Discovery", "T1580",
      "Cloud Infrastructure Discovery")
def enumeration_burst(ctx: Context) -> list[Hit]:
    """Many distinct List/Describe/Get calls by one credential in a few minutes."""
    df = ctx.calls(None, ["event_id", "time", "actor", "event_name", "recipient_account_id",
                          "error_code"])
    names = df["event_name"].dropna().unique()
    reads = [n for n in names if n.startswith(("List", "Describe", "Get"))]
    df = df[df["event_name"].isin(reads)]
    window, n = ctx.t("burst_window_minutes"), int(ctx.t("enum_burst"))
    return bursts(df, "actor", int(window * MINUTE), n, distinct="event_name",
                  summary=lambda k, g: f"{g['event_name'].nunique()} distinct calls by {k}",
                  why={"distinct_calls_threshold": n, "window_minutes": window})

@rule("GT-DISC-003", "Access denied burst", "medium", "Discovery", "T1069.003",
      "Permission Groups Discovery: Cloud Groups")
def denied_burst(ctx: Context) -> list[Hit]:
    """One credential hitting AccessDenied again and again: probing its permissions."""
    df = ctx.calls(None, ["event_id", "time", "actor", "event_name", "recipient_account_id",
                          "error_code"])
    df = df[df["error_code"].isin(DENIED)]
    window, n = ctx.t("burst_window_minutes"), int(ctx.t("denied_burst"))
    return bursts(df, "actor", int(window * MINUTE), n,
                  summary=lambda k, g: f"{len(g)} denied calls by {k}",
                  why={"threshold": n, "window_minutes": window})

@rule("GT-DISC-004", "Role assumption denied", "low", "Discovery", "T1078.004",
      "Valid Accounts: Cloud Accounts")
def assume_role_denied(ctx: Context) -> list[Hit]:
    """AssumeRole* that failed: attempts to move into roles the credential may not use."""
    df = ctx.calls(["AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"])
    return by(df[df["error_code"].notna()], "actor",
              lambda k, g: f"{len(g)} denied AssumeRole by {k}: {', '.join(sorted(set(g['resource'].dropna())))}")
