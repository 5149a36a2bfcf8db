"""A trail's CloudWatch Logs log group, read live with FilterLogEvents (``logs://LOG_GROUP``).

When a trail sends its events to a log group, each CloudTrail record is one log event whose
message is the record's JSON. :func:`log_group_pages` pages through ``FilterLogEvents``
(``nextToken``) over the window (``startTime``/``endTime``, milliseconds, the log events'
times: CloudTrail sets them to the event's time) and optionally only the streams whose name
starts with a prefix (CloudTrail names them ``<account>_CloudTrail_<region>``). Each page
becomes one :class:`~loaders.sources.base.SourceObject` whose bytes are the API's own shape,
``{"events": [...]}``, so the record parser reads it like ``aws logs filter-log-events``
output. Policy: ``logs:FilterLogEvents`` on the log group.

What the log group cannot hold, and the investigator must be told: events over CloudWatch
Logs' 256 KB event size (CloudTrail does not send them), and anything older than the log
group's retention.

>>> parse_logs_uri("logs://CloudTrail/DefaultLogGroup")
('CloudTrail/DefaultLogGroup', None)
>>> parse_logs_uri("logs:///aws/cloudtrail/org?stream=111122223333_CloudTrail_")
('/aws/cloudtrail/org', '111122223333_CloudTrail_')
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from loaders.sources.base import SourceError, SourceObject
from loaders.sources.lookup_events import api_error

__all__ = ["log_group_pages", "parse_logs_uri", "LIMITS"]

LIMITS = (
    "log events over 256 KB (CloudTrail does not send them to CloudWatch Logs)",
    "anything older than the log group's retention",
)
"""What an ingest from a log group cannot contain, for the summary to say."""

_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


def parse_logs_uri(uri: str) -> tuple[str, str | None]:
    """``logs://LOG_GROUP[?stream=PREFIX]`` as (log group, stream name prefix)."""
    if not uri.startswith("logs://"):
        raise SourceError(f"{uri}: not a logs://LOG_GROUP URI")
    rest, _, query = uri[len("logs://"):].partition("?")
    if not rest:
        raise SourceError(f"{uri}: no log group (logs://LOG_GROUP)")
    prefix = parse_qs(query).get("stream", [None])[0]
    return rest, prefix


def log_group_pages(
    uri: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    stream_prefix: str | None = None,
    session: boto3.Session | None = None,
    page_size: int | None = None,
) -> Iterator[SourceObject]:
    """Yield every page of ``FilterLogEvents`` over the log group of ``uri``.

    Parameters
    ----------
    uri : str
        ``logs://LOG_GROUP``, optionally ``?stream=PREFIX`` (only those log streams).
    since, until : datetime or None
        The window, inclusive (naive means UTC); ``None`` leaves that side open.
    stream_prefix : str, optional
        Only log streams whose name starts with it (overrides ``?stream=``).
    session : boto3.Session, optional
        Carries ``--profile`` and ``--region``.
    page_size : int, optional
        Events per request (the API's ``limit``; its default and maximum is 10,000).
    """
    group, prefix = parse_logs_uri(uri)
    prefix = stream_prefix or prefix
    session = session or boto3.Session()
    region = session.region_name
    if not region:
        raise SourceError(f"{uri}: no AWS region: pass --region or set one in the --profile")
    client = session.client("logs", region_name=region, config=_RETRIES)
    request: dict[str, Any] = {"logGroupName": group}
    if since is not None:
        request["startTime"] = _ms(since)
    if until is not None:
        request["endTime"] = _ms(until)
    if prefix:
        request["logStreamNamePrefix"] = prefix
    if page_size:
        request["limit"] = page_size
    window = "-".join(f"{_utc(t):%Y%m%dT%H%M%SZ}" if t else "open" for t in (since, until))
    token: str | None = None
    page = 0
    while True:
        params = dict(request, nextToken=token) if token else request
        try:
            response = client.filter_log_events(**params)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, group, region) from exc
        events = response.get("events") or []
        if prefix:  # a server that ignores the prefix (moto does) costs transfer, not answers
            events = [e for e in events if str(e.get("logStreamName", "")).startswith(prefix)]
        if events:
            page += 1
            body = json.dumps({"events": events}).encode()
            yield SourceObject(uri=f"logs://{group}/{window}/{prefix or 'all'}/page-{page:05d}",
                               size=len(body),
                               fetch=partial(bytes, body))
        token = response.get("nextToken")
        if not token:
            return


def _error(exc: Exception, group: str, region: str) -> SourceError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return SourceError(f"CloudWatch Logs in {region}: no log group {group!r} "
                               "(check the name and --region)")
        if code in {"AccessDeniedException", "AccessDenied"}:
            return SourceError(f"CloudWatch Logs FilterLogEvents on {group!r} in {region}: access "
                               "denied; the identity needs logs:FilterLogEvents on the log group")
    generic = api_error(exc, "FilterLogEvents", region)
    return SourceError(str(generic).replace("CloudTrail FilterLogEvents",
                                            f"CloudWatch Logs FilterLogEvents on {group!r}", 1))


def _ms(moment: datetime) -> int:
    return int(_utc(moment).timestamp() * 1000)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
