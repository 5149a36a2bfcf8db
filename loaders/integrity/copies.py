"""Where a trail's log and digest files are read from: a folder copy or the S3 bucket.

Both kinds of copy answer the same three things: which objects there are (by key), the
bytes of one object, and the S3 user metadata of a digest. S3 returns the metadata with
the object; ``aws s3 sync`` drops it, so a folder copy reads it from a sidecar
``<digest file name>.metadata.json`` holding what ``aws s3api head-object`` printed for
that digest (``graphtrail copy-trail`` writes them). Sidecars are never logs or digests.

>>> kind_of_key("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/06/01/x.json.gz.metadata.json")
'sidecar'
>>> kind_of_key("AWSLogs/1/CloudTrail/us-east-1/2024/06/01/1_CloudTrail_us-east-1_20240601T0005Z_a.json.gz")
'log'
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from loaders.sources.base import SourceError

__all__ = ["SIDECAR", "TrailCopy", "FolderCopy", "S3Copy", "open_copy", "kind_of_key"]

SIDECAR = ".metadata.json"


def kind_of_key(key: str) -> str:
    """``digest``, ``log``, ``sidecar`` or ``other`` (Insights, notes, anything else)."""
    key = key.replace("\\", "/")
    if key.endswith(SIDECAR):
        return "sidecar"
    name = key.rsplit("/", 1)[-1]
    if "/CloudTrail-Digest/" in key or "_CloudTrail-Digest_" in name:
        return "digest" if ".json" in name else "other"
    if ("/CloudTrail/" in key or "_CloudTrail_" in name) and ".json" in name:
        return "log"
    return "other"


class TrailCopy(Protocol):
    """A place holding a trail's objects."""

    label: str
    bucket: str | None  # the S3 bucket, when the copy is the bucket itself

    def keys(self) -> Iterator[str]: ...
    def read(self, key: str) -> tuple[bytes, dict[str, str] | None]: ...
    def uri(self, key: str) -> str: ...


class FolderCopy:
    """A local folder with the trail's ``AWSLogs/`` tree somewhere inside it."""

    bucket = None

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.label = str(self.root)
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: no such folder")

    def keys(self) -> Iterator[str]:
        for top, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel = os.path.relpath(top, self.root)
            for name in sorted(files):
                if not name.startswith("."):
                    yield name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")

    def read(self, key: str) -> tuple[bytes, dict[str, str] | None]:
        path = self.root / key
        data = path.read_bytes()
        if kind_of_key(key) != "digest":
            return data, None
        return data, read_sidecar(path.with_name(path.name + SIDECAR))

    def uri(self, key: str) -> str:
        return str(self.root / key)


def read_sidecar(path: Path) -> dict[str, str] | None:
    """The user metadata in a head-object sidecar, or ``None`` when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: not the JSON of `aws s3api head-object`: {exc}") from exc
    meta = obj.get("Metadata", obj) if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        raise SourceError(f"{path}: no Metadata object in the head-object output")
    return {str(k).lower(): str(v) for k, v in meta.items()}


class S3Copy:
    """The trail's bucket (or a prefix of it) read through boto3."""

    def __init__(self, uri: str, session: Any = None, *, max_workers: int = 16) -> None:
        import boto3
        from botocore.config import Config

        from loaders.sources.s3 import parse_s3_uri

        self.bucket, self.prefix = parse_s3_uri(uri)
        self.label = uri
        session = session or boto3.Session()
        self.client = session.client("s3", config=Config(
            max_pool_connections=max(32, 2 * max_workers),
            retries={"mode": "standard", "max_attempts": 5}))

    def keys(self) -> Iterator[str]:
        return (key for key, _ in self.objects())

    def objects(self) -> Iterator[tuple[str, int]]:
        """Every object under the prefix as (key, size)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from loaders.sources.s3 import _s3_error

        params = {"Bucket": self.bucket, "Prefix": self.prefix}
        try:
            while True:
                page = self.client.list_objects_v2(**params)
                for item in page.get("Contents", ()):
                    if not item["Key"].endswith("/"):
                        yield item["Key"], item.get("Size", 0)
                if not page.get("IsTruncated"):
                    return
                params["ContinuationToken"] = page["NextContinuationToken"]
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, self.bucket, self.prefix, "list") from exc

    def read(self, key: str) -> tuple[bytes, dict[str, str] | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        from loaders.sources.s3 import _s3_error

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
            data = resp["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, self.bucket, key, "read") from exc
        meta = {str(k).lower(): str(v) for k, v in (resp.get("Metadata") or {}).items()}
        return data, meta

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def open_copy(source: str, session: Any = None) -> FolderCopy | S3Copy:
    """A folder path or an ``s3://BUCKET/PREFIX`` URI as a :class:`TrailCopy`."""
    if source.startswith("s3://"):
        return S3Copy(source, session)
    return FolderCopy(source)
