"""CloudTrail Insights events as findings, tied to the principals and calls they name.

Ingest keeps Insights events apart (the case's ``insights/`` table). A Start and its End
(same account, region, API, type and error code; the End that follows) are one finding with
their window; the principals the End (else the Start) attributes the unusual activity to
(``attributions`` of ``userIdentityArn``) are matched to the case's callers (an assumed role
is attributed as ``arn:aws:sts::<account>:assumed-role/<role>``, any of its sessions), and
every call they made in that account during the window is the evidence, beside the two
Insights eventIDs. A Start without its End (the unusual activity still going on when the
logs end) lasts ``insightDuration`` minutes when it says, else to the last call in the case.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphtrail import ids
from graphtrail.queries.findings._common import MINUTE, detail, micros
from graphtrail.queries.findings.base import Context, Hit, rule

__all__ = ["api_call_rate", "api_error_rate"]

_COLUMNS = ["event_id", "time", "actor", "identity_arn", "source_ip", "event_name",
            "recipient_account_id", "account_id", "error_code", "region"]


@rule("GT-INSIGHT-001", "Unusual rate of API calls (CloudTrail Insights)", "medium",
      "Initial Access", "T1078.004", "Valid Accounts: Cloud Accounts")
def api_call_rate(ctx: Context) -> list[Hit]:
    """CloudTrail Insights saw an API's write-call rate far above its baseline (an
    ApiCallRateInsight); the principals it names and their calls in the window are the
    evidence. A stolen key driving an API hard looks like this."""
    return _insight_hits(ctx, "ApiCallRateInsight")


@rule("GT-INSIGHT-002", "Unusual rate of API errors (CloudTrail Insights)", "medium",
      "Discovery", "T1069.003", "Permission Groups Discovery: Cloud Groups")
def api_error_rate(ctx: Context) -> list[Hit]:
    """CloudTrail Insights saw an API fail with one error code far more often than its
    baseline (an ApiErrorRateInsight), e.g. AccessDenied while probing permissions."""
    return _insight_hits(ctx, "ApiErrorRateInsight")


def _insight_hits(ctx: Context, insight_type: str) -> list[Hit]:
    table = _insights(ctx)
    if table is None or table.empty:
        return []
    mine = table[table["insight_type"] == insight_type]
    if mine.empty:
        return []
    calls = ctx.calls(columns=_COLUMNS)
    hits = []
    for pair in _pairs(mine):
        hit = _hit(pair, calls)
        if hit is not None and _in_bounds(hit, ctx):
            hits.append(hit)
    return hits


def _in_bounds(hit: Hit, ctx: Context) -> bool:
    """The insight's window meets the question's ``--since``/``--until``."""
    start, end = hit.why["window"]
    lo = ctx.since is None or end is None or ids.iso(ctx.since) <= end
    return lo and (ctx.until is None or start <= ids.iso(ctx.until))


def _insights(ctx: Context) -> pd.DataFrame | None:
    case = getattr(ctx.store, "case", None)
    if case is None:  # a Neo4j store holds no Insights events
        return None
    t = case.insights()
    if t.num_rows == 0:
        return None
    from graphtrail.frames import to_frame

    df = to_frame(t)
    df["detail"] = [detail(d) for d in df["details"]]
    df["error"] = [d.get("errorCode") for d in df["detail"]]
    return df.sort_values(["time", "event_id"], kind="stable")


def _pairs(df: pd.DataFrame) -> list[dict]:
    """Start and End records joined: the End that follows its Start for the same API."""
    out = []
    keys = ["recipient_account_id", "region", "event_source", "event_name", "insight_type"]
    for _, g in df.assign(error=df["error"].fillna("")).groupby([*keys, "error"], dropna=False, sort=True):
        open_start = None
        for _, r in g.iterrows():
            if r["state"] == "Start":
                if open_start is not None:
                    out.append({"start": open_start, "end": None})
                open_start = r
            else:
                out.append({"start": open_start, "end": r})
                open_start = None
        if open_start is not None:
            out.append({"start": open_start, "end": None})
    return out


def _hit(pair: dict, calls: pd.DataFrame) -> Hit | None:
    start, end = pair["start"], pair["end"]
    first = start if start is not None else end
    stats_of = end if end is not None else start
    stats = (stats_of["detail"].get("insightContext") or {}).get("statistics") or {}
    duration = _number(stats.get("insightDuration"))
    t_end = _us(end["time"]) if end is not None else None
    t_start = _us(start["time"]) if start is not None else None
    if t_start is None:
        t_start = t_end - int((duration or 1) * MINUTE)
    if t_end is None:
        t_end = t_start + int(duration * MINUTE) if duration else None
    attributed = _attributions(stats_of["detail"])
    arns = attributed.get("userIdentityArn", [])
    account = first["recipient_account_id"]
    evidence = _calls_of(calls, arns, account, t_start, t_end)
    records = [r for r in (start, end) if r is not None]
    head = pd.DataFrame({"event_id": [r["event_id"] for r in records],
                         "time": [r["time"] for r in records],
                         "recipient_account_id": [r["recipient_account_id"] for r in records],
                         "actor": [None] * len(records)})
    rows = pd.concat([head, evidence], ignore_index=True) if not evidence.empty else head
    api = f"{first['event_source']} {first['event_name']}"
    base, seen = _average(stats, "baseline"), _average(stats, "insight")
    error = first["error"] if isinstance(first["error"], str) else None
    what = (f"{first['insight_type']} on {api}{' (' + error + ')' if error else ''} in "
            f"{account} {first['region']}: {_rate(seen)}/min against a baseline of "
            f"{_rate(base)}/min; {len(evidence)} call(s) of {', '.join(arns) or 'no attributed principal'}")
    return Hit(rows, what, key=(first["insight_type"], api, first["region"] or "", error or "",
                                str(first["event_id"])),
               why={"insight_event_ids": [r["event_id"] for r in records],
                    "window": [ids.iso(t_start), ids.iso(t_end) if t_end else None],
                    "still_open": end is None,
                    "error_code": error, "baseline_per_minute": base,
                    "insight_per_minute": seen, "insight_minutes": duration,
                    "baseline_minutes": _number(stats.get("baselineDuration")),
                    "attributed": attributed,
                    "principals_in_case": sorted(set(evidence["identity_arn"].dropna()))
                    if not evidence.empty else []})


def _calls_of(calls: pd.DataFrame, arns: list[str], account, t_start: int, t_end: int | None) -> pd.DataFrame:
    """Calls of the attributed principals in ``account`` within the window."""
    if not arns or calls.empty:
        return calls.iloc[0:0]
    t = micros(calls["time"])
    inside = t >= t_start
    if t_end is not None:
        inside &= t <= t_end
    sub = calls[inside & (calls["recipient_account_id"] == account).to_numpy()]
    arn = sub["identity_arn"].fillna("")
    named = np.zeros(len(sub), dtype=bool)
    for a in arns:  # a role is attributed without its session name
        named |= ((arn == a) | arn.str.startswith(a + "/")).to_numpy()
    return sub[named]


def _attributions(detail: dict) -> dict[str, list[str]]:
    """attribute -> the values Insights attributes the unusual activity to."""
    out: dict[str, list[str]] = {}
    for a in (detail.get("insightContext") or {}).get("attributions") or []:
        if not isinstance(a, dict) or not a.get("attribute"):
            continue
        vals = [v.get("value") for v in a.get("insight") or [] if isinstance(v, dict)]
        out[str(a["attribute"])] = [str(v) for v in vals if v not in (None, "", "null")]
    return out


def _average(stats: dict, side: str):
    v = stats.get(side)
    return _number(v.get("average")) if isinstance(v, dict) else None


def _number(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None


def _rate(v) -> str:
    return "?" if v is None else f"{v:g}"


def _us(ts) -> int:
    return int(pd.Timestamp(ts).value // 1000)
