"""CloudTrail's public keys: from a saved ``list-public-keys`` file, or from the API.

CloudTrail signs digests with a key per region, so the API is asked in every region the
digests come from, for the time span they cover.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from graphtrail.integrity.digest import DigestFormatError, PublicKey, parse_public_keys
from loaders.sources.base import SourceError

__all__ = ["keys_from_file", "keys_from_api"]


def keys_from_file(path: str | Path) -> list[PublicKey]:
    """Keys in the JSON ``aws cloudtrail list-public-keys`` printed (one file, any regions).

    Several outputs may be concatenated in a JSON array of such objects.
    """
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: cannot read public keys: {exc}") from exc
    try:
        if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "PublicKeyList" in obj[0]:
            return [k for part in obj for k in parse_public_keys(part, str(path))]
        return parse_public_keys(obj, str(path))
    except DigestFormatError as exc:
        raise SourceError(str(exc)) from exc


def keys_from_api(regions: Iterable[str], start: float, end: float,
                  session: Any = None) -> list[PublicKey]:
    """``ListPublicKeys`` in each of ``regions`` for [start, end] (epoch seconds)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = session or boto3.Session()
    lo = datetime.fromtimestamp(start, UTC) - timedelta(hours=1)
    hi = datetime.fromtimestamp(end, UTC) + timedelta(hours=1)
    keys: list[PublicKey] = []
    for region in sorted(set(regions)):
        client = session.client("cloudtrail", region_name=region)
        params: dict[str, Any] = {"StartTime": lo, "EndTime": hi}
        try:
            while True:
                page = client.list_public_keys(**params)
                keys.extend(parse_public_keys(page, f"ListPublicKeys in {region}"))
                if not page.get("NextToken"):
                    break
                params["NextToken"] = page["NextToken"]
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cloudtrail:ListPublicKeys in {region} failed: {exc}; "
                              "save `aws cloudtrail list-public-keys` output and pass "
                              "--public-keys FILE instead") from exc
    return keys
