"""Local files and folders (recursively), and ``-`` for standard input."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from loaders.sources.base import SourceError, SourceObject

__all__ = ["list_files", "kind_of"]

# Suffixes read when walking a folder; a file named explicitly is always read. Files with no
# extension at all are read too: Kinesis Firehose names its S3 objects without one, and a
# file that turns out not to be JSON is reported, never silently passed over.
_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".log",
             ".log.gz", ".gz", ".txt")


def kind_of(path: str) -> str:
    """``digest`` for CloudTrail-Digest files, ``insights`` for Insights, else ``trail``.

    >>> kind_of("AWSLogs/o-1/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/x.json.gz")
    'digest'
    >>> kind_of("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json.gz")
    'trail'
    """
    p = path.replace("\\", "/")
    if "/CloudTrail-Digest/" in p or "_CloudTrail-Digest_" in p:
        return "digest"
    if "/CloudTrail-Insight/" in p or "_CloudTrail-Insight_" in p:
        return "insights"
    return "trail"


def list_files(paths: Iterable[str]) -> Iterator[SourceObject]:
    """Yield every file under ``paths`` in a stable (sorted) order.

    Raises :class:`SourceError` for a path that does not exist.
    """
    for p in paths:
        if p == "-":
            yield SourceObject(uri="<stdin>", fetch=sys.stdin.buffer.read)
            continue
        path = Path(p)
        if path.is_file():
            yield _object(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or not _wanted(name):
                        continue
                    yield _object(Path(root) / name)
        else:
            raise SourceError(f"{p}: no such file or folder")


def _wanted(name: str) -> bool:
    """Whether a file met while walking a folder is read.

    A digest's ``.metadata.json`` sidecar (its S3 metadata, for ``graphtrail verify``) is not
    a log file.

    >>> [_wanted(n) for n in ("x.json.gz", "X.JSONL", "stream-1-2024-08-01-13-45-00-ab12", "notes.md")]
    [True, True, True, False]
    >>> _wanted("1_CloudTrail-Digest_us-east-1_t_us-east-1_20240601T010000Z.json.gz.metadata.json")
    False
    """
    lower = name.lower()
    if lower.endswith(".metadata.json") and "_cloudtrail-digest_" in lower:
        return False
    return lower.endswith(_SUFFIXES) or "." not in name


def _object(path: Path) -> SourceObject:
    s = str(path)
    return SourceObject(uri=s, size=path.stat().st_size, path=s, kind=kind_of(s))
