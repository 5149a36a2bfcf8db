"""Network exposure: firewall rules opened to the whole internet."""

from __future__ import annotations

from graphtrail.queries.findings._common import detail, ok
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__ = ["ADMIN_PORTS"]

ADMIN_PORTS = {22: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM", 23: "telnet", 3306: "MySQL",
               5432: "PostgreSQL", 1433: "SQL Server", 6379: "Redis", 9200: "Elasticsearch",
               27017: "MongoDB"}


@rule("GT-NET-001", "Security group opened to the internet on an administration port",
      "high", "Defense Evasion", "T1562.007", "Impair Defenses: Disable or Modify Cloud Firewall")
def security_group_open(ctx: Context) -> list[Hit]:
    """AuthorizeSecurityGroupIngress from 0.0.0.0/0 or ::/0 (any ``/0``) to SSH, RDP or a
    database port: a door for remote access or for pulling data out."""
    df = ok(ctx.calls(["AuthorizeSecurityGroupIngress"]))
    hits = []
    for i, r in df.iterrows():
        for cidr, lo, hi in _rules(detail(r["detail"])):
            if not cidr.endswith("/0"):
                continue
            ports = [p for p in ADMIN_PORTS if lo <= p <= hi] if lo >= 0 else list(ADMIN_PORTS)
            if ports:
                names = ", ".join(f"{p} ({ADMIN_PORTS[p]})" for p in ports[:4])
                group = said(detail(r["detail"]).get("groupId") or r["resource"])
                hits.append(Hit(df.loc[[i]], f"{group} open to {cidr} on {names}",
                                key=(str(group), cidr, str(lo), str(hi))))
                break
    return hits


def _rules(d: dict) -> list[tuple[str, int, int]]:
    """(cidr, fromPort, toPort) of every rule of the request, in both request shapes."""
    out = []
    if d.get("cidrIp"):
        out.append((str(d["cidrIp"]), _port(d.get("fromPort"), 0), _port(d.get("toPort"), 65535)))
    perms = d.get("ipPermissions") or {}
    items = perms.get("items", []) if isinstance(perms, dict) else perms
    for p in items if isinstance(items, list) else []:
        if not isinstance(p, dict):
            continue
        lo, hi = _port(p.get("fromPort"), 0), _port(p.get("toPort"), 65535)
        if str(p.get("ipProtocol")) == "-1":
            lo, hi = -1, -1
        for key, field in (("ipRanges", "cidrIp"), ("ipv6Ranges", "cidrIpv6")):
            ranges = p.get(key) or {}
            for rg in (ranges.get("items", []) if isinstance(ranges, dict) else ranges) or []:
                if isinstance(rg, dict) and rg.get(field):
                    out.append((str(rg[field]), lo, hi))
    return out


def _port(v, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default
