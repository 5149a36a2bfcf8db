"""Lateral movement: SSH keys pushed to instances, serial console opened."""

from __future__ import annotations

from graphtrail.queries.findings._common import detail, ok
from graphtrail.queries.findings.base import Context, Hit, rule

__all__: list[str] = []


@rule("GT-LAT-001", "SSH key pushed to instances", "medium", "Lateral Movement", "T1021.007",
      "Remote Services: Cloud Services")
def ssh_key_pushed(ctx: Context) -> list[Hit]:
    """EC2 Instance Connect (SendSSHPublicKey) or serial console (SendSerialConsoleSSHPublicKey,
    EnableSerialConsoleAccess): a login on the instance's operating system through an API.
    Enabling the serial console account-wide is high."""
    df = ok(ctx.calls(["SendSSHPublicKey", "SendSerialConsoleSSHPublicKey",
                       "EnableSerialConsoleAccess"]))
    hits = []
    for actor, g in df.groupby("actor", sort=False):
        inst = sorted({str(detail(d).get("instanceId")) for d in g["detail"] if detail(d).get("instanceId")})
        enabled = (g["event_name"] == "EnableSerialConsoleAccess").any()
        what = ("serial console enabled; " if enabled else "") + \
            f"SSH key pushed to {len(inst)} instance(s) by {actor}"
        hits.append(Hit(g, what, severity="high" if enabled else None, key=(str(actor),),
                        why={"instances": inst}))
    return hits
