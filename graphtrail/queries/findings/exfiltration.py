"""Exfiltration: bytes read from buckets beyond their history; snapshots and images shared."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail import ids
from graphtrail.queries.findings._common import HOUR, micros, ok
from graphtrail.queries.findings.base import Context, Hit, lineage_path, rule
from graphtrail.words import said

__all__ = ["bytes_out"]


def bytes_out(details: pd.Series) -> pd.Series:
    """``additionalEventData.bytesTransferredOut`` of GetObject calls (NaN: not logged).

    A pattern, not a JSON parse a call: the value is a plain integer where CloudTrail logs it.

    >>> bytes_out(pd.Series(['{"bytesTransferredIn":0,"bytesTransferredOut":48213}', None, '{}'])).tolist()
    [48213.0, nan, nan]
    """
    text = pa.array(details.astype(object).where(details.notna(), None).tolist(), pa.string())
    found = pc.struct_field(pc.extract_regex(text, r'"bytesTransferredOut"\s*:\s*(?P<n>\d+(?:\.\d+)?)'),
                            [0])  # null where the pattern is absent
    return pd.Series(found.cast(pa.float64()).to_numpy(zero_copy_only=False), index=details.index,
                     dtype="float64")


def _origin(ctx: Context, actor: str) -> str:
    root = (lineage_path(ctx.store, actor) or [actor])[0]
    # Every instance profile starts at the EC2 service: group those per session instead.
    return actor if root.endswith(".amazonaws.com") or ids.parse_id(root).prefix is ids.IdPrefix.SERVICE else root


@rule("GT-EXF-001", "Data read from a bucket far beyond its history", "high", "Exfiltration",
      "T1530", "Data from Cloud Storage")
def object_reads(ctx: Context) -> list[Hit]:
    """Bytes read (``bytesTransferredOut`` of GetObject) by one credential lineage from one
    bucket within an hour, at least ``exfil_bytes`` and ``exfil_over_history`` times the
    largest hour that bucket served any other lineage, and that this lineage read before.
    Where the trail logs no byte counts, ``object_reads`` objects in an hour stand in."""
    df = ok(ctx.calls(["GetObject"], ["event_id", "time", "actor", "resource",
                                      "recipient_account_id", "error_code", "detail"]))
    if df.empty:
        return []
    roots = {a: _origin(ctx, a) for a in df["actor"].dropna().unique()}
    df = df.assign(origin=df["actor"].map(roots), bytes=bytes_out(df["detail"]),
                   hour=micros(df["time"]) // HOUR)
    hourly = (df.groupby(["resource", "origin", "hour"], sort=False)
              .agg(bytes=("bytes", "sum"), known=("bytes", "count"), calls=("event_id", "size"))
              .reset_index())
    limit, factor = ctx.t("exfil_bytes"), ctx.t("exfil_over_history")
    max_objects = int(ctx.t("object_reads"))
    big = hourly[((hourly["known"] > 0) & (hourly["bytes"] >= limit))
                 | ((hourly["known"] == 0) & (hourly["calls"] >= max_objects))]
    hits = []
    for _, h in big.iterrows():
        by_bytes = h["known"] > 0
        if by_bytes and h["bytes"] < limit or not by_bytes and h["calls"] < max_objects:
            continue
        same = hourly[hourly["resource"] == h["resource"]]
        others = same[same["origin"] != h["origin"]]["bytes"].max() if by_bytes else np.nan
        before = same[(same["origin"] == h["origin"]) & (same["hour"] < h["hour"])]["bytes"].max() \
            if by_bytes else np.nan
        baseline = np.nanmax([others, before, 0.0]) if by_bytes else 0.0
        if by_bytes and h["bytes"] < factor * baseline:
            continue
        rows = df[(df["resource"] == h["resource"]) & (df["origin"] == h["origin"])
                  & (df["hour"] == h["hour"])]
        what = (f"{_size(h['bytes'])} in {h['calls']} objects" if by_bytes
                else f"{h['calls']} objects (byte counts not logged)")
        hits.append(Hit(rows, f"{what} from {h['resource']} by the lineage of {h['origin']}",
                        key=(str(h["resource"]), str(h["origin"])),
                        why={"bytes": float(h["bytes"]) if by_bytes else "data events not logged",
                             "bucket_largest_hour_other_lineages": _num(others),
                             "lineage_largest_hour_before": _num(before),
                             "threshold_bytes": limit, "over_history": factor}))
    return hits


def _num(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n}"


@rule("GT-EXF-002", "Snapshot or image shared outside the account", "critical", "Exfiltration",
      "T1537", "Transfer Data to Cloud Account")
def shared_snapshot(ctx: Context) -> list[Hit]:
    """EBS/RDS snapshots or AMIs made public or shared with another account. Shared only
    with accounts of the organization: medium."""
    df = ok(ctx.calls(["ModifySnapshotAttribute", "ModifyImageAttribute",
                       "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"]))
    hits = []
    for i, r in df.iterrows():
        text = r["detail"] if isinstance(r["detail"], str) else ""
        accounts = {a for a in re.findall(r'"(\d{12})"', text) if a != r["recipient_account_id"]}
        public = '"all"' in text.lower()
        if accounts or public:
            outside = sorted(a for a in accounts if not ctx.internal(a))
            who = "public" if public else ", ".join(sorted(accounts))
            sev = None if public or outside else "medium"
            hits.append(Hit(df.loc[[i]], f"{said(r['event_name'])} {said(r['resource'])} shared with {who}",
                            severity=sev, key=(str(r["resource"]), who),
                            why={"outside_organization": outside, "public": public}))
    return hits
