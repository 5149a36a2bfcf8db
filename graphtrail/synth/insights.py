"""CloudTrail Insights events, and a small trail whose Insights have a known answer.

An Insights event is a pair of records sharing a ``sharedEventID``: ``state: Start`` at the
first unusual minute and ``state: End`` when the rate is back to its baseline. Their
``insightDetails`` name the API (``eventSource``, ``eventName``), the ``insightType``
(``ApiCallRateInsight``: write calls a minute; ``ApiErrorRateInsight``: calls ending in one
``errorCode`` a minute), ``insightContext.statistics`` (``baseline``/``insight`` averages a
minute, ``insightDuration`` and ``baselineDuration`` in minutes) and
``insightContext.attributions``: for ``userIdentityArn``, ``userAgent`` and ``errorCode`` the
top values with their averages, in the insight and in the baseline. An assumed role is
attributed as ``arn:aws:sts::<account>:assumed-role/<role>`` (without the session name).

:func:`insight_pair` computes such a pair from the calls it describes; :func:`build_insights`
writes a trail with an unusual burst of ``RunInstances`` and one of denied
``AttachUserPolicy`` calls, both with their Insights, and returns the answer.
"""

from __future__ import annotations

import calendar
import gzip
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from graphtrail.synth import records as R
from graphtrail.synth.digests import deliver_records

__all__ = ["insight_pair", "write_insights", "build_insights", "InsightTruth"]

MINUTE = 60
ACCOUNT = "111122223333"
REGION = "us-east-1"
DAY = 1_718_150_400  # 2024-06-12T00:00:00Z


def insight_pair(rng: Random, calls: list[dict], *, insight_type: str, start: int, end: int,
                 baseline_average: float, source: str, name: str, account: str, region: str,
                 error_code: str | None = None, baseline_duration: int = 10_080) -> list[dict]:
    """The Start and End records of one Insights event over ``calls`` (those of the API in
    ``[start, end)``, epoch seconds, minute-aligned)."""
    minutes = max(1, (end - start) // MINUTE)
    first = [c for c in calls if _epoch(c["eventTime"]) < start + MINUTE]
    shared = R.uuid4(rng)
    details = {"eventSource": source, "eventName": name, "insightType": insight_type}
    if error_code:
        details["errorCode"] = error_code

    def record(state: str, ts: int, insight_avg: float, over: list[dict], n_minutes: int) -> dict:
        stats: dict[str, Any] = {"baseline": {"average": baseline_average},
                                 "insight": {"average": insight_avg}}
        if state == "End":
            stats["insightDuration"] = minutes
        stats["baselineDuration"] = baseline_duration
        return {
            "eventVersion": "1.08", "eventTime": R.iso(ts), "awsRegion": region,
            "eventID": R.uuid4(rng), "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": account, "sharedEventID": shared,
            "insightDetails": {"state": state, **details, "insightContext": {
                "statistics": stats, "attributions": _attributions(over, n_minutes, baseline_average)}},
            "eventCategory": "Insight",
        }

    return [record("Start", start, round(len(first) / 1, 4), first, 1),
            record("End", end, round(len(calls) / minutes, 4), calls, minutes)]


def _attributions(calls: list[dict], minutes: int, baseline: float) -> list[dict]:
    out = []
    for attribute, of in (("userIdentityArn", _attributed_arn), ("userAgent", lambda c: c["userAgent"]),
                          ("errorCode", lambda c: c.get("errorCode") or "null")):
        counts = Counter(of(c) for c in calls)
        out.append({"attribute": attribute,
                    "insight": [{"value": v, "average": round(n / minutes, 4)}
                                for v, n in counts.most_common(5)],
                    "baseline": [{"value": v, "average": baseline} for v, _ in counts.most_common(1)]})
    return out


def _attributed_arn(call: dict) -> str:
    arn = call["userIdentity"].get("arn", "")
    if ":assumed-role/" in arn:  # Insights name the role, not the session
        return arn.rsplit("/", 1)[0]
    return arn


def write_insights(root: str | Path, records: list[dict]) -> list[Path]:
    """Write Insights records as CloudTrail delivers them (``CloudTrail-Insight`` prefix)."""
    out = []
    for rec in records:
        ts = _epoch(rec["eventTime"])
        acct, region = rec["recipientAccountId"], rec["awsRegion"]
        day = time.strftime("%Y/%m/%d", time.gmtime(ts))
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(ts + 300))
        key = (f"AWSLogs/{acct}/CloudTrail-Insight/{region}/{day}/"
               f"{acct}_CloudTrail-Insight_{region}_{stamp}_{rec['eventID'][:16]}.json.gz")
        p = Path(root) / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(json.dumps({"Records": [rec]}).encode()))
        out.append(p)
    return out


@dataclass
class InsightTruth:
    """What the Insights findings of :func:`build_insights` must say."""

    # insight type -> (insight eventIDs, attributed principal ARNs, window start, end, the
    # eventIDs of every call of those principals in the window)
    insights: dict[str, dict] = field(default_factory=dict)
    benign_in_window: set[str] = field(default_factory=set)  # calls that must stay out


def build_insights(root: str | Path, seed: int = 0) -> InsightTruth:
    """A day of one account: a CI role deploying now and then, an admin, and from 10:00 a
    leaked key launching 40 instances in 10 minutes (ApiCallRateInsight on RunInstances);
    from 14:00 the same key denied 30 AttachUserPolicy calls (ApiErrorRateInsight)."""
    rng = Random(seed)
    root = Path(root)
    ci_key = R.key_id(rng)
    ci = R.Actor(R.iam_user(ACCOUNT, "ci-deploy", "AIDACIDEPLOYEXAMPLE0", ci_key), "198.51.100.10",
                 "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64", ci_key)
    admin_key = R.key_id(rng)
    admin = R.Actor(R.iam_user(ACCOUNT, "admin", "AIDAADMINEXAMPLE00", admin_key), "203.0.113.5",
                    "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0", admin_key)
    leaked_key = R.key_id(rng)
    leaked = R.Actor(R.iam_user(ACCOUNT, "svc-reports", "AIDASVCREPORTSEXAMPL", leaked_key),
                     "192.0.2.66", "Boto3/1.34.11 Python/3.11.8 Linux/6.6.9-kali1-amd64", leaked_key)
    calls: list[dict] = []

    def add(actor, ts, source, name, **kw):
        rec = R.call(rng, actor, ts, source, name, REGION, ACCOUNT, **kw)
        calls.append(rec)
        return rec

    for hour in range(0, 24, 2):  # the baseline: a launch every two hours, a few reads
        add(ci, DAY + hour * 3600 + 120, "ec2.amazonaws.com", "RunInstances",
            params={"instanceType": "t3.micro"})
        add(admin, DAY + hour * 3600 + 900, "iam.amazonaws.com", "ListUsers", read_only=True)
    burst_start, burst_end = DAY + 10 * 3600, DAY + 10 * 3600 + 10 * MINUTE
    burst = [add(leaked, burst_start + i * 15, "ec2.amazonaws.com", "RunInstances",
                 params={"instanceType": "p4d.24xlarge"}) for i in range(40)]
    leaked_other = [add(leaked, burst_start + 30 + i * 120, "ec2.amazonaws.com", "DescribeInstances",
                        read_only=True) for i in range(5)]
    benign = [add(admin, burst_start + 200 + i * 60, "iam.amazonaws.com", "ListRoles", read_only=True)
              for i in range(3)]
    before = add(leaked, burst_start - 3 * MINUTE, "sts.amazonaws.com", "GetCallerIdentity",
                 read_only=True)
    denied_start, denied_end = DAY + 14 * 3600, DAY + 14 * 3600 + 5 * MINUTE
    denied = [add(leaked, denied_start + i * 10, "iam.amazonaws.com", "AttachUserPolicy",
                  params={"userName": "svc-reports",
                          "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                  error=("AccessDenied", "not authorized")) for i in range(30)]
    deliver_records(root, calls)
    rate = insight_pair(rng, burst, insight_type="ApiCallRateInsight", start=burst_start,
                        end=burst_end, baseline_average=0.0083, source="ec2.amazonaws.com",
                        name="RunInstances", account=ACCOUNT, region=REGION)
    errors = insight_pair(rng, denied, insight_type="ApiErrorRateInsight", start=denied_start,
                          end=denied_end, baseline_average=0.0, source="iam.amazonaws.com",
                          name="AttachUserPolicy", account=ACCOUNT, region=REGION,
                          error_code="AccessDenied")
    write_insights(root, rate + errors)
    arn = leaked.identity["arn"]
    truth = InsightTruth(benign_in_window={c["eventID"] for c in [*benign, before]})
    truth.insights["ApiCallRateInsight"] = {
        "insight_event_ids": {r["eventID"] for r in rate}, "principals": {arn},
        "start": R.iso(burst_start), "end": R.iso(burst_end),
        "calls": {c["eventID"] for c in [*burst, *leaked_other]}}
    truth.insights["ApiErrorRateInsight"] = {
        "insight_event_ids": {r["eventID"] for r in errors}, "principals": {arn},
        "start": R.iso(denied_start), "end": R.iso(denied_end),
        "calls": {c["eventID"] for c in denied}}
    return truth


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
