"""Read a trail copy for verification: every digest, and the hash of every log file.

Files are read in a thread pool (gzip inflation and SHA-256 release the GIL, S3 reads wait
on the network). A log file's hash is taken over its uncompressed content, as CloudTrail
computes ``hashValue``; a gzip file with bytes after its first gzip member is reported,
since CloudTrail writes one member and appended bytes would otherwise pass unseen. Trail
changes (StopLogging, StartLogging, PutEventSelectors...) are parsed from the files that
mention them; with ``data_events=True`` every record is read to count data events per
bucket and function.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import msgspec

from graphtrail.integrity.digest import DigestFormatError, aws_logs_key, parse_digest
from graphtrail.integrity.evidence import (
    TRAIL_CHANGES,
    DataEvents,
    SeenLog,
    TrailChange,
    TrailEvidence,
)
from loaders.integrity.copies import TrailCopy, kind_of_key
from loaders.sources.base import SourceError
from loaders.sources.s3 import file_time

__all__ = ["read_trail", "inflate"]

_MARKERS = tuple(f'"{name}"'.encode() for name in sorted(TRAIL_CHANGES))
_DATA_KINDS = {"s3.amazonaws.com": "s3-bucket", "lambda.amazonaws.com": "lambda-function"}


def read_trail(copy: TrailCopy, *, workers: int = 8, data_events: bool = False,
               progress: Callable[[int], None] | None = None) -> TrailEvidence:
    """Read every digest and log file of ``copy``.

    Raises :class:`SourceError` when the copy cannot be listed; a file that cannot be read
    is recorded (``problem`` on the log, ``unreadable_digests``), never dropped.
    """
    evidence = TrailEvidence(copy.label, copy.bucket)
    keys = [(k, kind) for k in copy.keys() if (kind := kind_of_key(k)) in ("digest", "log")]

    def one(item: tuple[str, str]):
        key, kind = item
        try:
            data, meta = copy.read(key)
        except (OSError, SourceError) as exc:
            return kind, key, None, f"unreadable: {exc}", 0
        if kind == "digest":
            try:
                inflated, _ = inflate(data)
                return kind, key, parse_digest(inflated, copy.uri(key), meta), None, len(data)
            except (DigestFormatError, zlib.error) as exc:
                return kind, key, None, str(exc), len(data)
        return kind, key, _seen_log(copy, key, data, data_events), None, len(data)

    with ThreadPoolExecutor(workers, thread_name_prefix="verify-read") as pool:
        for n, (kind, key, result, problem, size) in enumerate(pool.map(one, keys), 1):
            evidence.bytes_read += size
            if kind == "digest":
                if result is None:
                    evidence.unreadable_digests.append({"key": aws_logs_key(copy.uri(key)),
                                                        "uri": copy.uri(key), "error": problem})
                else:
                    evidence.digests.append(result)
            elif result is None:
                evidence.logs[aws_logs_key(copy.uri(key))] = _log(copy, key, None, problem)
            else:
                evidence.logs[result.key] = result
            if progress is not None:
                progress(n)
    evidence.digests.sort(key=lambda d: (d.chain, d.end, d.key))
    return evidence


def inflate(data: bytes) -> tuple[bytes, bool]:
    """The content of a gzip file (or the bytes as they are), and whether bytes follow it.

    >>> import gzip
    >>> inflate(gzip.compress(b"{}") + b"x")
    (b'{}', True)
    >>> inflate(b"{}")
    (b'{}', False)
    """
    if data[:2] != b"\x1f\x8b":
        return data, False
    z = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = z.decompress(data)
    if not z.eof:
        raise zlib.error("truncated gzip stream")
    return out, bool(z.unused_data)


def _log(copy: TrailCopy, key: str, sha256: str | None, problem: str | None,
         changes=(), data=()) -> SeenLog:
    norm = aws_logs_key(copy.uri(key))
    parts = norm.split("/")
    account = region = ""
    if len(parts) >= 7:
        account, region = parts[-7], parts[-5]
    stamp = file_time(norm)
    return SeenLog(norm, copy.uri(key), account, region, stamp.timestamp() if stamp else None,
                   sha256, problem, tuple(changes), tuple(data))


def _seen_log(copy: TrailCopy, key: str, data: bytes, data_events: bool) -> SeenLog:
    try:
        inflated, trailing = inflate(data)
    except zlib.error as exc:
        return _log(copy, key, None, f"not a gzip file: {exc}")
    digest = hashlib.sha256(inflated).hexdigest()
    problem = "bytes appended after the gzip stream" if trailing else None
    changes, counts = (), ()
    if data_events or any(m in inflated for m in _MARKERS):
        try:
            changes, counts = _records_of(inflated, copy.uri(key), data_events)
        except (msgspec.DecodeError, TypeError, AttributeError) as exc:
            problem = problem or f"not a CloudTrail log file: {exc}"
    return _log(copy, key, digest, problem, changes, counts)


def _records_of(inflated: bytes, uri: str, data_events: bool):
    records = msgspec.json.decode(inflated).get("Records") or ()
    changes, counts = [], {}
    for rec in records:
        name = rec.get("eventName")
        if name in TRAIL_CHANGES and rec.get("eventSource") == "cloudtrail.amazonaws.com":
            if not rec.get("errorCode"):
                changes.append(_change(rec, uri))
        if data_events and rec.get("eventCategory") == "Data":
            kind = _DATA_KINDS.get(rec.get("eventSource"))
            resource = _data_resource(rec, kind) if kind else None
            if resource:
                acct = rec.get("recipientAccountId") or ""
                counts.setdefault((acct, kind, resource), DataEvents(acct, kind, resource)).add(
                    rec.get("eventTime") or "")
    return changes, list(counts.values())


def _change(rec: dict, uri: str) -> TrailChange:
    params = rec.get("requestParameters")
    params = params if isinstance(params, dict) else {}
    trail = params.get("name") or params.get("trailName") or ""
    return TrailChange(rec.get("eventID") or "", rec["eventName"], rec.get("eventTime") or "",
                       rec.get("recipientAccountId") or "", rec.get("awsRegion") or "",
                       str(trail), params, uri)


def _data_resource(rec: dict, kind: str) -> str | None:
    params = rec.get("requestParameters") or {}
    if kind == "s3-bucket":
        return params.get("bucketName") if isinstance(params, dict) else None
    for res in rec.get("resources") or ():
        if isinstance(res, dict) and res.get("type") == "AWS::Lambda::Function":
            return res.get("ARN")
    return params.get("functionName") if isinstance(params, dict) else None
