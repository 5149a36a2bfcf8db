"""Copy a trail out of S3 keeping what ``aws s3 sync`` drops: the digests' signatures.

Each object under ``s3://BUCKET/PREFIX`` lands at ``DEST/<key>``; each digest also gets a
sidecar ``<name>.metadata.json`` with what ``aws s3api head-object`` prints for it (its
``Metadata`` holds ``signature`` and ``signature-algorithm``), so ``graphtrail verify DEST``
can check signatures offline. Objects already copied (same size) are not fetched again.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loaders.integrity.copies import SIDECAR, S3Copy, kind_of_key
from loaders.sources.base import SourceError

__all__ = ["copy_trail"]


def copy_trail(uri: str, dest: str | os.PathLike[str], *, session: Any = None,
               workers: int = 16) -> dict[str, int]:
    """Copy every object under ``uri`` into ``dest``; returns counts of what was written."""
    from botocore.exceptions import BotoCoreError, ClientError

    from loaders.sources.s3 import _s3_error

    source = S3Copy(uri, session, max_workers=workers)
    root = Path(dest)
    counts = {"objects": 0, "digests": 0, "sidecars": 0, "skipped": 0, "bytes": 0}

    def one(item: tuple[str, int]) -> tuple[str, int, bool]:
        key, size = item
        path = root / key
        kind = kind_of_key(key)
        sidecar = path.with_name(path.name + SIDECAR)
        if path.exists() and path.stat().st_size == size and (kind != "digest" or sidecar.exists()):
            return kind, 0, False
        try:
            resp = source.client.get_object(Bucket=source.bucket, Key=key)
            body = resp["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, source.bucket, key, "read") from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        if kind == "digest":
            sidecar.write_text(json.dumps(_head(resp), indent=4, default=str))
        return kind, len(body), True

    listing = [(k, n) for k, n in source.objects() if kind_of_key(k) != "sidecar"]
    if not listing:
        raise SourceError(f"{uri}: no objects to copy")
    with ThreadPoolExecutor(workers, thread_name_prefix="copy-trail") as pool:
        for kind, size, written in pool.map(one, listing):
            if not written:
                counts["skipped"] += 1
                continue
            counts["objects"] += 1
            counts["bytes"] += size
            if kind == "digest":
                counts["digests"] += 1
                counts["sidecars"] += 1
    return counts


def _head(resp: dict) -> dict:
    """The fields of a GetObject answer that head-object prints."""
    keep = ("AcceptRanges", "LastModified", "ContentLength", "ETag", "VersionId",
            "ContentType", "ContentEncoding", "ServerSideEncryption", "SSEKMSKeyId",
            "Metadata")
    return {k: resp[k] for k in keep if k in resp}
