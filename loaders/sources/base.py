"""What every source yields: one raw object (a file, an S3 object, a page of an API).

A source never parses CloudTrail: it only says where bytes come from. The pipeline reads
local files inside its worker processes (``path``) and fetches remote objects in threads
(``fetch``), so both arrive in the same record parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SourceObject", "SourceError", "KNOWN"]

KNOWN = "known"  # a SourceObject's kind: the case holds it (same URI and ETag), not fetched


class SourceError(Exception):
    """A source could not be listed or read; the message names the bucket, path or API."""


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One raw object to ingest.

    Exactly one of ``path`` (read by the worker) and ``fetch`` (called in the main
    process's thread pool, returns the raw bytes, possibly gzip) is set, but for a
    :data:`KNOWN` object.

    ``kind`` is ``"trail"`` for API-call logs, ``"digest"`` for CloudTrail-Digest files
    (counted, never parsed as events), ``"insights"`` for CloudTrail-Insight files and
    :data:`KNOWN` for an object the case already holds, by its URI and ETag (neither
    ``path`` nor ``fetch``: counted as unchanged, never read).
    ``hint`` names the wire format when the source knows it (``"lookup-events"``), else
    the record parser sniffs the content. ``problem`` is set, instead of ``path`` or
    ``fetch``, for what a listing met but must not read: it is reported as a failed object.
    """

    uri: str
    size: int | None = None
    etag: str | None = None
    path: str | None = None
    fetch: Callable[[], bytes] | None = None
    kind: str = "trail"
    hint: str | None = None
    problem: str | None = None  # why it cannot be read (a dangling link...): reported, not read
    query: dict | None = None  # the query that produced it (--follow): kept in the manifest
