"""CloudTrail event history through the LookupEvents API, one page at a time, politely.

What this source cannot contain, and the investigator must be told:

- **management events only**: no S3 object-level or Lambda invoke data events, no network
  activity events;
- **the last 90 days only**, whatever ``since`` asks for;
- **one region per call**: global-service events (IAM, STS without regional endpoints,
  sign-in) are recorded in us-east-1, so include it;
- **2 requests per second per account and region**, 50 events per request: about 100 events
  a second per region at best.

Each page of 50 events becomes one :class:`~loaders.sources.base.SourceObject` with
``hint="lookup-events"`` whose bytes are the API's own shape,
``{"Events": [{"EventId": ..., "CloudTrailEvent": "<the record as a JSON string>", ...}]}``,
so the record parser reads them like ``aws cloudtrail lookup-events`` output. Regions are
paged round-robin, each paced to its own limit, and botocore's adaptive retry mode backs off
on ``ThrottlingException`` when someone else spends the same budget.

The CloudTrail client plumbing here (:func:`cloudtrail_client`, :func:`api_error`) is shared
with :mod:`loaders.sources.lake`.

Examples
--------
>>> from datetime import datetime
>>> page_uri("us-east-1", datetime(2024, 5, 1), datetime(2024, 5, 2), "AssumeRole", 3)
'lookup-events://us-east-1/20240501T000000Z-20240502T000000Z/AssumeRole/page-00003'
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from loaders.sources.base import SourceError, SourceObject

__all__ = [
    "lookup_events_pages",
    "all_regions",
    "page_uri",
    "cloudtrail_client",
    "api_error",
    "RETENTION",
    "LIMITS",
]

log = logging.getLogger(__name__)

RETENTION = timedelta(days=90)
"""How far back LookupEvents can see."""

LIMITS = (
    "management events only: no data events (S3 objects, Lambda invokes, ...), "
    "no network activity events",
    "the last 90 days only",
    "only the regions asked for; IAM, STS global-endpoint and sign-in events are in us-east-1",
)
"""What an ingest from LookupEvents cannot contain, for the summary to say."""

_PAGE_SIZE = 50
_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})
_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
    }
)


def lookup_events_pages(
    *,
    regions: Iterable[str],
    since: datetime | None,
    until: datetime | None,
    event_name: str | None = None,
    session: boto3.Session | None = None,
    max_rate: float = 2.0,
) -> Iterator[SourceObject]:
    """Yield every page of LookupEvents in ``regions`` between ``since`` and ``until``.

    Parameters
    ----------
    regions : iterable of str
        One client each; see :func:`all_regions` for ``--all-regions``.
    since, until : datetime or None
        The window (naive means UTC). ``None`` means 90 days ago and now.
    event_name : str, optional
        Only this API call (``LookupAttributes`` ``EventName``), e.g. ``"AssumeRole"``.
    session : boto3.Session, optional
        Carries ``--profile``; a default session when ``None``.
    max_rate : float
        Requests per second per region; the API allows 2.

    Yields
    ------
    SourceObject
        One per non-empty page, ``hint="lookup-events"``; pages of one region come in the
        API's order (newest first), regions interleave.
    """
    now = datetime.now(UTC)
    start = _utc(since) if since is not None else now - RETENTION
    end = _utc(until) if until is not None else now
    if start > end:
        raise SourceError(f"--since {start.isoformat()} is after --until {end.isoformat()}")
    if start < now - RETENTION:
        log.warning("LookupEvents keeps 90 days: nothing before %s can come back", now - RETENTION)
    if isinstance(regions, str):
        regions = [regions]
    session = session or boto3.Session()
    request: dict[str, Any] = {"StartTime": start, "EndTime": end, "MaxResults": _PAGE_SIZE}
    if event_name:
        request["LookupAttributes"] = [{"AttributeKey": "EventName", "AttributeValue": event_name}]
    cursors = [
        _Cursor(region, cloudtrail_client(session, region)) for region in dict.fromkeys(regions)
    ]
    interval = 1.0 / max_rate
    while cursors:
        cursor = min(cursors, key=lambda c: c.not_before)
        time.sleep(max(0.0, cursor.not_before - time.monotonic()))
        params = dict(request, NextToken=cursor.token) if cursor.token else request
        try:
            response = cursor.client.lookup_events(**params)
        except (ClientError, BotoCoreError) as exc:
            raise api_error(exc, "LookupEvents", cursor.region) from exc
        finally:
            cursor.not_before = time.monotonic() + interval
        cursor.token = response.get("NextToken")
        if not cursor.token:
            cursors.remove(cursor)
        events = response.get("Events") or []
        if events:
            cursor.page += 1
            body = json.dumps({"Events": [_plain(e) for e in events]}).encode()
            yield SourceObject(
                uri=page_uri(cursor.region, start, end, event_name, cursor.page),
                size=len(body),
                fetch=partial(bytes, body),
                hint="lookup-events",
            )


def all_regions(session: boto3.Session | None = None) -> list[str]:
    """The regions to query for ``--all-regions``.

    The account's enabled regions from EC2 ``DescribeRegions`` when allowed (opt-in regions
    not enabled would refuse the credentials), else every region botocore knows CloudTrail in.
    """
    session = session or boto3.Session()
    try:
        ec2 = session.client("ec2", region_name=session.region_name or "us-east-1")
        found = ec2.describe_regions()["Regions"]
        return sorted(r["RegionName"] for r in found)
    except (ClientError, BotoCoreError) as exc:
        log.warning("ec2:DescribeRegions failed (%s); trying every CloudTrail region", exc)
    regions = session.get_available_regions("cloudtrail")
    if not regions:
        raise SourceError("no CloudTrail regions known; pass --region explicitly")
    return sorted(regions)


def page_uri(region: str, start: datetime, end: datetime, event_name: str | None, page: int) -> str:
    """Where a page came from, for the manifest and for error messages."""
    window = f"{_utc(start):%Y%m%dT%H%M%SZ}-{_utc(end):%Y%m%dT%H%M%SZ}"
    return f"lookup-events://{region}/{window}/{event_name or 'all'}/page-{page:05d}"


def cloudtrail_client(session: boto3.Session, region: str | None) -> Any:
    """A CloudTrail client for one region with adaptive retries (backs off on throttling)."""
    if not region:
        raise SourceError("no AWS region: pass --region or set one in the --profile")
    return session.client("cloudtrail", region_name=region, config=_RETRIES)


def api_error(exc: Exception, api: str, region: str | None) -> SourceError:
    """Turn a boto3 failure of a CloudTrail call into a message that says what to do."""
    where = f"CloudTrail {api} in {region or 'the default region'}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return SourceError(
            f"{where}: no AWS credentials found; pass --profile, run `aws sso login`, "
            "or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, EndpointConnectionError):
        return SourceError(f"{where}: cannot reach the endpoint ({exc}); check --region")
    if not isinstance(exc, ClientError):
        return SourceError(f"{where}: {exc}")
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    if code in {"AccessDenied", "AccessDeniedException"}:
        action = f"cloudtrail:{api}"
        return SourceError(f"{where}: access denied; the identity needs {action} ({message})")
    if code in _CREDENTIAL_CODES:
        return SourceError(
            f"{where}: the AWS credentials are invalid, expired, or not valid in this region "
            f"({code}); refresh them (`aws sso login`) or check the region is enabled"
        )
    if code in {"ThrottlingException", "Throttling", "TooManyRequestsException"}:
        return SourceError(
            f"{where}: still throttled after retries (LookupEvents allows 2 requests/s per "
            "account and region, shared with every other caller); try again later"
        )
    return SourceError(f"{where}: {code}: {message}".rstrip(": "))


@dataclass(slots=True)
class _Cursor:
    """Where one region's paging stands."""

    region: str
    client: Any
    token: str | None = None
    page: int = 0
    not_before: float = 0.0


def _plain(event: dict[str, Any]) -> dict[str, Any]:
    """An Event as JSON types: boto3 parsed ``EventTime`` into a datetime."""
    plain = dict(event)
    if isinstance(plain.get("EventTime"), datetime):
        plain["EventTime"] = _utc(plain["EventTime"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    return plain


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
