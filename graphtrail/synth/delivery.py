"""Delivering a trail as CloudTrail does: object keys in the AWSLogs layout, gzipped
``{"Records": [...]}`` log files, and the hourly digest files that chain them."""

from __future__ import annotations

import calendar
import hashlib
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from graphtrail.synth import records as R

try:  # python-isal: faster gzip
    from isal.igzip import compress as _gzip
except ImportError:  # pragma: no cover
    from gzip import compress as _gzip

__all__ = ["BUCKET", "TRAIL_NAME", "LogFile", "log_object_key", "write_log_file", "write_digests"]

BUCKET = "graphtrail-synthetic-org-trail"
TRAIL_NAME = "org-trail"


@dataclass(frozen=True, slots=True)
class LogFile:
    """One log file written: object key (relative path), what is in it and its hash."""

    key: str
    account: str
    region: str
    records: int
    oldest: str
    newest: str
    sha256: str
    size: int



def log_object_key(
    account: str,
    region: str,
    delivered: int,
    suffix: str,
    org_id: str | None = None,
    *,
    gz: bool = True,
) -> str:
    """The S3 object key CloudTrail uses for a log file delivered at epoch ``delivered``.

    >>> log_object_key("111111111111", "us-east-1", 1718184000, "AbCdEfGhIjKlMnOp", "o-abc")
    'AWSLogs/o-abc/111111111111/CloudTrail/us-east-1/2024/06/12/111111111111_CloudTrail_us-east-1_20240612T0920Z_AbCdEfGhIjKlMnOp.json.gz'
    """
    prefix = f"AWSLogs/{org_id}/{account}" if org_id else f"AWSLogs/{account}"
    day = time.strftime("%Y/%m/%d", time.gmtime(delivered))
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
    ext = ".json.gz" if gz else ".json"
    return f"{prefix}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_{suffix}{ext}"


def write_log_file(root: str | os.PathLike[str], key: str, records: list[dict]) -> LogFile:
    """Write ``{"Records": records}`` at ``root/key``, gzipped when ``key`` ends in ``.gz``."""
    data = msgspec.json.encode({"Records": records})
    path = Path(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = _gzip(data, 1, mtime=0) if key.endswith(".gz") else data
    path.write_bytes(blob)
    times = [r["eventTime"] for r in records]
    parts = key.split("/")
    return LogFile(
        key,
        parts[-7],
        parts[-5],
        len(records),
        min(times, default=""),
        max(times, default=""),
        hashlib.sha256(data).hexdigest(),
        len(blob),
    )


def write_digests(
    root: str | os.PathLike[str], files: Sequence[LogFile], org_id: str | None
) -> list[str]:
    """Write one CloudTrail-Digest file per account, region and hour of ``files``.

    Digest files hold no ``Records``; an ingester must recognise and skip them.
    """
    groups: dict[tuple[str, str, str], list[LogFile]] = defaultdict(list)
    for f in files:
        groups[(f.account, f.region, f.newest[:13])].append(f)
    written, previous = [], {}
    for (acct, region, hour), group in sorted(groups.items()):
        end = calendar.timegm(time.strptime(hour, "%Y-%m-%dT%H")) + 3600
        prefix = f"AWSLogs/{org_id}/{acct}" if org_id else f"AWSLogs/{acct}"
        day, stamp = (
            time.strftime("%Y/%m/%d", time.gmtime(end)),
            time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(end)),
        )
        key = f"{prefix}/CloudTrail-Digest/{region}/{day}/{acct}_CloudTrail-Digest_{region}_{TRAIL_NAME}_us-east-1_{stamp}.json.gz"
        prev_key, prev_sig = previous.get((acct, region), (None, None))
        digest = {
            "awsAccountId": acct,
            "digestStartTime": R.iso(end - 3600),
            "digestEndTime": R.iso(end),
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": hashlib.md5(acct.encode()).hexdigest(),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": max(f.newest for f in group),
            "oldestEventTime": min(f.oldest for f in group),
            "previousDigestS3Bucket": BUCKET if prev_key else None,
            "previousDigestS3Object": prev_key,
            "previousDigestHashValue": hashlib.sha256(prev_key.encode()).hexdigest()
            if prev_key
            else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev_key else None,
            "previousDigestSignature": prev_sig,
            "logFiles": [
                {
                    "s3Bucket": BUCKET,
                    "s3Object": f.key,
                    "hashValue": f.sha256,
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": f.newest,
                    "oldestEventTime": f.oldest,
                }
                for f in group
            ],
        }
        data = msgspec.json.encode(digest)
        path = Path(root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_gzip(data, 1, mtime=0))
        previous[(acct, region)] = (key, hashlib.sha256(data).hexdigest() * 4)
        written.append(key)
    return written


# -- planning: who holds which credential when -----------------------------------------
