"""Defense evasion: the trail, the detectors and the organization's guardrails."""

from __future__ import annotations

import json

import pandas as pd

from graphtrail.queries.findings._common import detail, each, ok
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__: list[str] = []

@rule("GT-DEF-001", "CloudTrail logging stopped or trail deleted", "critical", "Defense Evasion",
      "T1562.008", "Impair Defenses: Disable or Modify Cloud Logs")
def trail_stopped(ctx: Context) -> list[Hit]:
    """StopLogging or DeleteTrail."""
    return each(ok(ctx.calls(["StopLogging", "DeleteTrail"])),
                 lambda r: f"{said(r['event_name'])} {said(r['resource'])}")


@rule("GT-DEF-002", "Trail logging reduced", "high", "Defense Evasion", "T1562.008",
      "Impair Defenses: Disable or Modify Cloud Logs")
def trail_reduced(ctx: Context) -> list[Hit]:
    """PutEventSelectors excluding management events or writing none; UpdateTrail."""
    df = ok(ctx.calls(["PutEventSelectors", "UpdateTrail"]))
    hits = []
    for i, r in df.iterrows():
        d = detail(r["detail"])
        if r["event_name"] == "UpdateTrail":
            hits.append(Hit(df.loc[[i]], f"UpdateTrail {said(d.get('name'))}"))
            continue
        text = json.dumps(d)
        reduced = ('"includeManagementEvents": false' in text or '"readWriteType": "ReadOnly"' in text
                   or "excludeManagementEventSources" in text or '"eventSelectors": []' in text
                   or ("advancedEventSelectors" in text and "Management" not in text))
        if reduced:
            hits.append(Hit(df.loc[[i]], f"PutEventSelectors on {said(d.get('trailName'))} reduces logging"))
    return hits


@rule("GT-DEF-003", "Security monitoring disabled", "high", "Defense Evasion", "T1562.001",
      "Impair Defenses: Disable or Modify Tools")
def monitoring_disabled(ctx: Context) -> list[Hit]:
    """GuardDuty, Config, flow logs, Security Hub or DNS query logs switched off."""
    names = ["DeleteDetector", "DisassociateFromMasterAccount", "DisassociateFromAdministratorAccount",
             "StopMonitoringMembers", "DeleteMembers", "StopConfigurationRecorder",
             "DeleteConfigurationRecorder", "DeleteDeliveryChannel", "DeleteFlowLogs",
             "DisableSecurityHub", "DeleteResolverQueryLogConfig", "UpdateDetector"]
    df = ok(ctx.calls(names))
    if len(df):
        df = df[(df["event_name"] != "UpdateDetector")
                | df["detail"].map(lambda d: detail(d).get("enable") is False)]
    return each(df, lambda r: f"{said(r['event_name'])} ({said(r['event_source'])})")


@rule("GT-DEF-004", "Account left its organization", "critical", "Defense Evasion", "T1666",
      "Modify Cloud Resource Hierarchy")
def left_organization(ctx: Context) -> list[Hit]:
    """LeaveOrganization removes the account from the organization's guardrails.

    A denied attempt is a finding too (medium): someone tried to escape the guardrails.
    """
    df = ctx.calls(["LeaveOrganization"])
    hits = []
    for i, r in df.iterrows():
        if pd.isna(r["error_code"]):
            hits.append(Hit(df.loc[[i]], f"account {said(r['recipient_account_id'])} left"))
        else:
            hits.append(Hit(df.loc[[i]], f"denied attempt to leave the organization from "
                            f"{said(r['recipient_account_id'])} ({said(r['error_code'])})", severity="medium",
                            key=("denied",)))
    return hits
