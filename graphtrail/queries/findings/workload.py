"""Workload credentials used from elsewhere (GuardDuty's InstanceCredentialExfiltration).

An instance profile, Lambda, ECS task, EKS pod (IRSA) or CI runner (web identity) gets
credentials meant for that workload only. Taken (from the metadata service, an environment,
a log), they are used from another address: a person's laptop, another cloud, another
instance. The case shows it when one workload session calls from more than one address, or
from an address the case's people (IAM users, console and Identity Center sessions) use.
"""

from __future__ import annotations

import ipaddress

from graphtrail import ids
from graphtrail.queries.findings import Context, Hit, rule
from graphtrail.queries.findings._workload import role_of, workload_kind

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
    df = df[df["source_ip"].map(ids.is_ip).astype(bool)]
    sess = ctx.store.session_info
    actors = df[["actor", "identity_arn"]].drop_duplicates("actor")
    kind = {a: workload_kind(sess.get(a), arn) for a, arn in zip(actors["actor"], actors["identity_arn"],
                                                                   strict=True)}
    is_work = df["actor"].map(kind).notna()
    work = df[is_work]
    if work.empty:
        return []
    human_ips = set(df.loc[~is_work & df["identity_type"].isin(_HUMAN_TYPES), "source_ip"])
    ranges = ctx.aws_ranges()
    work = work.assign(role=work["identity_arn"].map(role_of))
    role_ips = work.groupby("role", sort=False)["source_ip"].agg(lambda s: set(s))
    hits = []
    for actor, g in work.groupby("actor", sort=False):
        ips = list(dict.fromkeys(g["source_ip"]))
        own = ips[0]
        strange = []
        for ip in ips:
            outside = ranges.complete and ranges.where(ip) is None
            if ip in human_ips or outside or _second_public(ip, own):
                strange.append((ip, outside))
        if not strange:
            continue
        bad = {ip for ip, _ in strange}
        rows = g[g["source_ip"].isin(bad)]
        high = any(o or ip in human_ips for ip, o in strange)
        role = g["role"].iloc[0]
        sides = {ip: _side(ip, ranges, human_ips) for ip in ips}
        hits.append(Hit(
            rows, f"{kind[actor]} credentials of {role} used from {', '.join(sorted(bad))} "
            f"(workload address {own if own not in bad else 'not seen'})",
            severity=None if high else "medium", key=(str(role), *sorted(bad)),
            why={"workload_kind": kind[actor], "role": role, "session": actor,
                 "addresses": sides,
                 "role_addresses": sorted(role_ips.get(role, set()) - bad)[:20],
                 "aws_ranges": {"source": ranges.source, "date": ranges.date,
                                "complete": ranges.complete}}))
    return hits


def _second_public(ip: str, own: str) -> bool:
    """Another public address for one session. A private address is the workload itself
    calling through a VPC endpoint, so it never counts as elsewhere."""
    try:
        return ip != own and not ipaddress.ip_address(ip).is_private
    except ValueError:
        return False


def _side(ip: str, ranges, human_ips: set[str]) -> str:
    where = ranges.where(ip)
    if ip in human_ips:
        return "also used by a person's credentials" + (f" (AWS {where})" if where else "")
    if where:
        return f"AWS {where}"
    return "outside AWS" if ranges.complete else "not in the AWS ranges subset"
