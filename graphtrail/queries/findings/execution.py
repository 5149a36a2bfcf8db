"""Execution: commands run on instances through AWS APIs (SSM, user data)."""

from __future__ import annotations

from graphtrail.queries.findings._common import by, detail, ok
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__: list[str] = []


@rule("GT-EXEC-001", "Commands run on instances through SSM", "medium", "Execution",
      "T1651", "Cloud Administration Command")
def ssm_commands(ctx: Context) -> list[Hit]:
    """SendCommand or StartSession by a person's credential (not an AWS service): a shell on
    the instance, and often the first step to its instance-profile credentials."""
    df = ok(ctx.calls(["SendCommand", "StartSession"]))
    if df.empty:
        return []
    df = df[df["identity_type"] != "AWSService"]

    def targets(g) -> str:
        ids_ = set()
        for d in g["detail"]:
            p = detail(d)
            ids_.update(map(str, p.get("instanceIds") or []))
            if p.get("target"):
                ids_.add(str(p["target"]))
        return ", ".join(sorted(ids_)) or "instances"

    return by(df, "actor", lambda k, g: f"{', '.join(sorted(set(g['event_name'])))} on "
              f"{targets(g)} by {k}")


@rule("GT-EXEC-002", "Instance user data changed", "high", "Execution", "T1059.009",
      "Command and Scripting Interpreter: Cloud API")
def user_data_changed(ctx: Context) -> list[Hit]:
    """ModifyInstanceAttribute setting userData: code that runs as root at the next start."""
    df = ok(ctx.calls(["ModifyInstanceAttribute"]))
    if df.empty:
        return []
    df = df[df["detail"].map(lambda d: "userData" in detail(d))]
    return [Hit(df.loc[[i]], f"user data of {said(detail(r['detail']).get('instanceId'))} changed",
                key=(str(detail(r["detail"]).get("instanceId")), str(r["event_id"])))
            for i, r in df.iterrows()]
