"""Workload credentials used from elsewhere (GuardDuty's InstanceCredentialExfiltration).

An instance profile, Lambda, ECS task, EKS pod (IRSA) or CI runner (web identity) gets
credentials meant for that workload only. Taken (from the metadata service, an environment,
a log), they are used from another address: a person's laptop, another cloud, another
instance. The case shows it when one workload session calls from more than one address, or
from an address the case's people (IAM users, console and Identity Center sessions) use.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from graphtrail import ids
from graphtrail.queries.findings._workload import role_of, workload_kind
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__: list[str] = []

_HUMAN_TYPES = {"IAMUser", "Root", "FederatedUser", "IdentityCenterUser"}


@rule("GT-CRED-003", "Workload credentials used from elsewhere", "high", "Credential Access",
      "T1552.005", "Unsecured Credentials: Cloud Instance Metadata API")
def workload_credentials_elsewhere(ctx: Context) -> list[Hit]:
    """A workload session (instance profile, Lambda, ECS, EKS/IRSA, web identity CI) used from
    an address its workload never used: high when that address is outside AWS (complete
    ranges only) or is one the case's people call from; medium when it is only a second
    address for one session. The finding names the addresses on both sides."""
    df = ctx.calls(None, ["event_id", "time", "actor", "identity_arn", "identity_type",
                          "source_ip", "event_name", "recipient_account_id", "error_code"])
    if df.empty:
        return []
    sess = ctx.store.session_info
    codes, actors = ctx.codes("actor")  # the whole-case frame's: no string hashing
    first_arn = pd.Series(df["identity_arn"].to_numpy(), dtype=object).groupby(codes).first()
    arn_of = dict(zip(first_arn.index.tolist(), first_arn.tolist(), strict=True))  # a Series.get an actor cost 50 us
    kind = {a: workload_kind(sess.get(a), arn_of.get(i)) for i, a in enumerate(actors)}
    is_work_all = np.array([kind[a] is not None for a in actors] + [False], dtype=bool)[codes]
    ip_codes, ips = ctx.codes("source_ip")
    address = np.array([bool(ids.is_ip(v)) for v in ips] + [False], dtype=bool)[ip_codes]
    work = df[is_work_all & address]
    if work.empty:
        return []
    people = ~is_work_all & address & df["identity_type"].isin(_HUMAN_TYPES).to_numpy()
    human_ips = set(df["source_ip"].to_numpy()[people].tolist())
    ranges = ctx.aws_ranges()
    # the session's own address: where it was first used; every other one is looked at
    own = work.groupby("actor", sort=False)["source_ip"].transform("first")
    ip_kind = {ip: _kind(ip, ranges, human_ips) for ip in work["source_ip"].unique()}
    verdict = work["source_ip"].map(ip_kind)
    strange = (verdict == "human") | (verdict == "outside") | ((work["source_ip"] != own)
                                                               & (verdict == "public"))
    suspects = work.loc[strange, "actor"].unique()
    if not len(suspects):
        return []
    work = work[work["actor"].isin(suspects)].assign(role=lambda w: w["identity_arn"].map(role_of))
    role_ips = work.groupby("role", sort=False)["source_ip"].agg(set)
    hits = []
    for actor, g in work.groupby("actor", sort=False):
        ips = list(dict.fromkeys(g["source_ip"]))
        first = ips[0]
        bad = {ip for ip in ips if ip_kind[ip] in ("human", "outside")
               or (ip != first and ip_kind[ip] == "public")}
        rows = g[g["source_ip"].isin(bad)]
        high = any(ip_kind[ip] in ("human", "outside") for ip in bad)
        role = said(g["role"].iloc[0])
        hits.append(Hit(
            rows, f"{kind[actor]} credentials of {role} used from {', '.join(sorted(bad))} "
            f"(workload address {first if first not in bad else 'not seen'})",
            severity=None if high else "medium", key=(str(role), *sorted(bad)),
            why={"workload_kind": kind[actor], "role": role, "session": actor,
                 "addresses": {ip: _side(ip, ranges, human_ips) for ip in ips},
                 "role_addresses": sorted(role_ips.get(role, set()) - bad)[:20],
                 "aws_ranges": {"source": ranges.source, "date": ranges.date,
                                "complete": ranges.complete}}))
    return hits


def _kind(ip: str, ranges, human_ips: set[str]) -> str:
    """``human`` (a person's credentials call from it), ``private``, ``aws`` (in the ranges),
    ``outside`` (not in complete ranges), or ``public`` (not in the subset: undecided)."""
    if ip in human_ips:
        return "human"
    try:
        if ipaddress.ip_address(ip).is_private:
            return "private"
    except ValueError:
        return "private"
    if ranges.where(ip):
        return "aws"
    return "outside" if ranges.complete else "public"


def _side(ip: str, ranges, human_ips: set[str]) -> str:
    where = ranges.where(ip)
    if ip in human_ips:
        return "also used by a person's credentials" + (f" (AWS {where})" if where else "")
    if where:
        return f"AWS {where}"
    return "outside AWS" if ranges.complete else "not in the AWS ranges subset"
