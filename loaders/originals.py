"""The record as its source holds it: read again for the evidence of one event.

The case keeps where each event was read (a file or an S3 object, and the record's position
in it) and the SHA-256 of that source as it was read. :func:`read_original` reads the source
again, says whether it is still the same bytes, and gives back the record at that position:
byte for byte as the file holds it (S3 delivery files, JSON arrays, JSON Lines), or, for a
record inside an envelope (lookup-events output, EventBridge, a log shipper), the record as
it was unwrapped. Sources that cannot be read twice (stdin, API pages) say so.

>>> import gzip, json, os, tempfile
>>> one = {"eventTime": "2024-08-01T13:42:21Z", "eventName": "ListUsers",
...        "eventSource": "iam.amazonaws.com", "sourceIPAddress": "203.0.113.9",
...        "userAgent": "aws-cli", "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIA1"}}
>>> path = os.path.join(tempfile.mkdtemp(), "t.json.gz")
>>> with gzip.open(path, "wb") as fh:
...     _ = fh.write(b'{"Records": [' + json.dumps(one).encode() + b',\\n  '
...                  + json.dumps(one, indent=1).encode() + b']}')
>>> got = read_original(path, 1)
>>> got.record == json.dumps(one, indent=1).encode(), got.exact, got.problem
(True, True, None)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from loaders.bounded import read_bounded
from loaders.limits import Limits
from loaders.records import split_records
from loaders.securitylake import PARQUET_MAGIC

__all__ = ["Original", "read_original"]


@dataclass
class Original:
    """One record read again from its source.

    ``sha256`` is the source's hash now (compare it with the manifest's); ``record`` the
    record's JSON (``None`` with ``problem`` saying why); ``exact`` when those are the bytes
    the source holds, not a record unwrapped from an envelope and written back as JSON.
    """

    sha256: str | None = None
    record: bytes | None = None
    exact: bool = False
    problem: str | None = None
    read_from: str | None = None  # the source, or the case's copy of it


def read_original(uri: str, position: int, *, copy: str | None = None, hint: str | None = None,
                  limits: Limits | None = None, fetch_s3=None) -> Original:
    """Record number ``position`` (from 0, as the case counts them) of the source ``uri``.

    ``copy``: the case's own copy of that source (``ingest --keep-sources``), read instead
    of the source. ``fetch_s3(bucket, key) -> bytes`` reads an ``s3://`` object (boto3's
    ``get_object`` in the wiring); without it such a source is not read.
    """
    limits = limits or Limits()
    if copy is not None:
        try:
            content = read_bounded(copy, None, limits)
        except OSError as exc:
            return Original(problem=f"cannot read the case's copy {copy}: {exc.strerror or exc}")
        got = _from(content, uri, position, hint)
        got.read_from = copy
        return got
    s3 = uri.startswith("s3://")
    if not s3 and ("://" in uri or uri.startswith("<")):
        return Original(problem="read from an API or stdin: the source cannot be read again")
    if s3 and fetch_s3 is None:
        return Original(problem="an S3 object: not fetched")
    raw = None
    if s3:
        bucket, _, key = uri[5:].partition("/")
        try:
            raw = fetch_s3(bucket, key)
        except Exception as exc:  # the reason is the answer: no access, gone, no network
            return Original(problem=f"cannot fetch {uri}: {exc}")
    if (raw[:4] == PARQUET_MAGIC) if raw is not None else uri.endswith(".parquet"):
        return Original(problem="Security Lake Parquet: the case keeps the fields it read, "
                                "not the row")
    try:
        content = read_bounded(None if s3 else uri, raw, limits)
    except OSError as exc:
        where = "" if s3 or os.path.isabs(uri) else (
            " (a relative path, as it was given to ingest: run from the folder it ran in)")
        return Original(problem=f"cannot read {uri}: {exc.strerror or exc}{where}")
    got = _from(content, uri, position, hint)
    got.read_from = uri
    return got


def _from(content, uri: str, position: int, hint: str | None) -> Original:
    split = split_records(content.data, uri, hint, originals=True)
    out = Original(sha256=content.sha256)
    if not 0 <= position < len(split.originals or ()):
        out.problem = (f"the source holds {len(split.records):,} records now; "
                       f"record {position + 1:,} is not there")
        return out
    out.record, out.exact = split.originals[position]
    return out
