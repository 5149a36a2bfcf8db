"""Discovery: who-am-I checks from new places, enumeration, probing permissions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphtrail import ids
from graphtrail.arrays import distinct
from graphtrail.families import ROLE_ASSUMPTION
from graphtrail.queries.findings._common import (
    DENIED,
    HOUR,
    MINUTE,
    bursts,
    by,
    micros,
)
from graphtrail.queries.findings._workload import role_of, workload_kind
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

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
    if df.empty:
        return []
    # integer codes of the whole-case frame: each value is judged once, never each call
    arn_codes, arn_values = ctx.codes("identity_arn")
    name_codes, name_values = ctx.codes("event_name")
    ip_codes, ip_values = ctx.codes("source_ip")
    asks = np.isin(name_codes, [i for i, v in enumerate(name_values) if v == "GetCallerIdentity"])
    if not asks.any():
        return []
    arns = [arn_values[i] for i in distinct(arn_codes[arn_codes >= 0])]
    principal = {a: role_of(a) for a in arns}
    sess = ctx.store.session_info
    workload_roles = {principal[a] for a in arns if workload_kind(None, a)}
    workload_roles |= {principal[arn] for a, arn in _asking_actors(df, asks)
                       if workload_kind(sess.get(a), None)}
    asked = arn_codes[asks]
    asking = {principal[arn_values[i]] for i in distinct(asked[asked >= 0])} - workload_roles
    labels: dict = {}
    of_arn = np.array([labels.setdefault(principal.get(v), len(labels))
                       if principal.get(v) in asking else -1 for v in arn_values] + [-1])
    address = np.array([bool(ids.is_ip(v)) for v in ip_values] + [False], dtype=bool)
    keep = (of_arn[arn_codes] >= 0) & address[ip_codes]
    # positions of the calls judged, not a filtered copy of the frame (most of a million
    # calls): a new address's one row is taken from ``df`` when it is found
    kept = np.flatnonzero(keep)
    if not len(kept):
        return []
    who, where = of_arn[arn_codes[kept]], ip_codes[kept]
    warmup = ctx.t("baseline_warmup_hours")
    t = micros(df["time"])[kept]
    first = pd.Series(t).groupby(who.astype(np.int64) * (where.max() + 1) + where).transform("min").to_numpy()
    since = pd.Series(t).groupby(who).transform("min").to_numpy()
    new = asks[kept] & (t == first) & (first - since >= int(warmup * HOUR))
    hits = []
    ips = df["source_ip"].to_numpy()[kept]
    for pos in np.flatnonzero(new):
        row = df.iloc[kept[pos]]
        mine = who == who[pos]
        seen = sorted(set(ips[mine & (t < t[pos])].tolist()))
        p = principal[row["identity_arn"]]
        hits.append(Hit(df.iloc[[kept[pos]]], f"{p} from {said(row['source_ip'])}", key=(p, row["source_ip"]),
                        why={"new_address": row["source_ip"], "addresses_before": seen[:20],
                             "history_since": pd.Timestamp(int(since[pos]), unit="us", tz="UTC"),
                             "warmup_hours": warmup}))
    return hits


def _asking_actors(df: pd.DataFrame, asks) -> list[tuple[str, str]]:
    """(session, identity ARN) of every credential that asked who it is."""
    pairs = df.loc[asks, ["actor", "identity_arn"]].dropna().drop_duplicates()
    return list(zip(pairs["actor"], pairs["identity_arn"], strict=True))


@rule("GT-DISC-002", "Enumeration burst", "medium", "Discovery", "T1580",
      "Cloud Infrastructure Discovery")
def enumeration_burst(ctx: Context) -> list[Hit]:
    """Many distinct List/Describe/Get calls by one credential in a few minutes."""
    df = ctx.calls(None, ["event_id", "time", "actor", "event_name", "recipient_account_id",
                          "error_code"])
    # judged on the event names' codes (once a name), not by hashing a million strings
    codes, names = ctx.codes("event_name")
    reads = [i for i, n in enumerate(names) if isinstance(n, str)
             and n.startswith(("List", "Describe", "Get"))]
    window, n = ctx.t("burst_window_minutes"), int(ctx.t("enum_burst"))
    # the reads as a mask of the whole-case frame, not a copy of most of its rows
    return bursts(df, "actor", int(window * MINUTE), n, distinct="event_name",
                  codes=ctx.codes("actor"), rows=np.isin(codes, reads),
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
    df = ctx.calls(list(ROLE_ASSUMPTION))
    return by(df[df["error_code"].notna()], "actor",
              lambda k, g: f"{len(g)} denied AssumeRole by {k}: {', '.join(sorted(set(g['resource'].dropna())))}")
