"""Impact: compute and AI capacity hijacked."""

from __future__ import annotations

import re

import pandas as pd

from graphtrail.queries.findings._common import by, detail, ok
from graphtrail.queries.findings.base import Context, Hit, rule
from graphtrail.words import said

__all__ = ["GPU_FAMILIES"]

GPU_FAMILIES = re.compile(r"^(p2|p3|p4d|p4de|p5|p5e|g3|g4dn|g4ad|g5|g5g|g6|g6e|gr6|inf1|inf2|trn1|trn2|dl1|dl2q)\.")

@rule("GT-IMP-001", "Instances launched in a region the account never used", "high", "Impact",
      "T1496", "Resource Hijacking")
def new_region_instances(ctx: Context) -> list[Hit]:
    """RunInstances in a region where the account had no activity before (with a history elsewhere)."""
    runs = ok(ctx.calls(["RunInstances"]))
    if runs.empty:
        return []
    allc = ctx.calls(None, ["event_id", "time", "recipient_account_id", "region"])
    first_region = allc.groupby(["recipient_account_id", "region"])["time"].min()
    first_account = allc.groupby("recipient_account_id")["time"].min()
    warmup = ctx.t("baseline_warmup_hours")
    hits = []
    for i, r in runs.iterrows():
        acct, region = r["recipient_account_id"], r["region"]
        fr, fa = first_region.get((acct, region)), first_account.get(acct)
        if fr is None or fa is None:
            continue
        if (r["time"] - fr) <= pd.Timedelta(hours=1) and (fr - fa) >= pd.Timedelta(hours=warmup):
            hits.append(Hit(runs.loc[[i]], f"RunInstances in {region}, new for account {acct}",
                            key=(str(acct), str(region)),
                            why={"region_first_seen": fr, "account_history_since": fa,
                                 "warmup_hours": warmup}))
    return hits


@rule("GT-IMP-002", "GPU instances launched", "high", "Impact", "T1496", "Resource Hijacking")
def gpu_instances(ctx: Context) -> list[Hit]:
    """RunInstances of GPU or accelerator instance types (crypto-mining, model abuse); a denied
    attempt is medium."""
    runs = ctx.calls(["RunInstances"])
    if runs.empty:
        return []
    kinds = runs["detail"].map(lambda d: detail(d).get("instanceType"))
    gpu = runs[kinds.map(lambda k: bool(isinstance(k, str) and GPU_FAMILIES.match(k)))]
    return [Hit(gpu.loc[[i]], f"{'denied: ' if isinstance(r['error_code'], str) else ''}"
                f"{said(detail(r['detail']).get('instanceType'))} in {said(r['region'])}",
                severity="medium" if isinstance(r["error_code"], str) else None,
                key=(str(r["event_id"]),))
            for i, r in gpu.iterrows()]


@rule("GT-IMP-003", "Foundation models opened and invoked", "high", "Impact", "T1496.004",
      "Resource Hijacking: Cloud Service Hijacking")
def bedrock_hijack(ctx: Context) -> list[Hit]:
    """Bedrock model access switched on (entitlement, agreement, use case) by a credential,
    and the models it then invoked: paid AI capacity used by someone else (LLMjacking)."""
    opening = ["PutFoundationModelEntitlement", "CreateFoundationModelAgreement",
               "PutUseCaseForModelAccess"]
    df = ok(ctx.calls([*opening, "InvokeModel", "InvokeModelWithResponseStream", "Converse",
                       "ConverseStream"]))
    if df.empty:
        return []
    openers = set(df.loc[df["event_name"].isin(opening), "actor"].dropna())
    df = df[df["actor"].isin(openers)]
    return by(df, "actor", lambda k, g: f"model access opened by {k}; "
              f"{int((~g['event_name'].isin(opening)).sum())} invocation(s)")
