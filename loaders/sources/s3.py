"""CloudTrail objects straight from an S3 bucket, listing only the days asked for.

A trail delivers to ``s3://BUCKET/[PREFIX/]AWSLogs/[<org-id>/]<account>/<kind>/<region>/YYYY/MM/DD/``
where ``<kind>`` is ``CloudTrail`` (API calls), ``CloudTrail-Digest`` (integrity digests) or
``CloudTrail-Insight`` (Insights events). :func:`list_s3_objects` walks that layout one level
at a time with ``Delimiter='/'``, pruning accounts and regions before it lists them, and with a
time window lists only the day prefixes the window touches: an organization trail bucket is
never listed whole. Inside a day, objects are kept when the time in their file name
(``<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<rand>.json.gz``) falls within the window
widened by :data:`SLACK` on both sides, because a file is written some minutes after the
events it holds.

Nothing is downloaded while listing: each :class:`~loaders.sources.base.SourceObject` carries a
``fetch`` that reads the object through one shared, thread-safe boto3 client, so the pipeline
downloads in its own thread pool. Digest objects are yielded as ``kind="digest"`` with the
same lazy ``fetch``; the pipeline counts them and need not download them.

Credentials, ``--profile`` and ``--region`` come from the ``boto3.Session`` passed in; an
endpoint in ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` is honoured by boto3 itself.

Examples
--------
>>> parse_s3_uri("s3://org-trail/AWSLogs/o-a1b2c3d4e5/")
('org-trail', 'AWSLogs/o-a1b2c3d4e5/')
>>> file_time("111122223333_CloudTrail_us-east-1_20240102T0315Z_abcd.json.gz")
datetime.datetime(2024, 1, 2, 3, 15, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from loaders.sources.base import KNOWN, SourceError, SourceObject
from loaders.sources.files import kind_of

__all__ = ["list_s3_objects", "parse_s3_uri", "file_time", "SLACK"]

SLACK = timedelta(hours=1)
"""How far outside the window a file's name may be dated and still be read."""

_ORG = re.compile(r"o-[a-z0-9]{10,32}")
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_KINDS = {"CloudTrail": "trail", "CloudTrail-Digest": "digest", "CloudTrail-Insight": "insights"}
_STAMP = re.compile(r"_(\d{8}T\d{4}(?:\d{2})?Z)(?=[_.])")
_FILE = re.compile(r"(\d{12})_(CloudTrail(?:-Digest|-Insight)?)_([a-z0-9-]+)_")
_DATE_PARTS = (re.compile(r"\d{4}"), re.compile(r"\d{2}"), re.compile(r"\d{2}"))

_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)


def list_s3_objects(
    uri: str,
    *,
    accounts: Collection[str] | None = None,
    regions: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    session: boto3.Session | None = None,
    known_etags: Collection[tuple[str, str]] | None = None,
    max_workers: int = 8,
) -> Iterator[SourceObject]:
    """Yield the CloudTrail objects under ``uri`` that the filters and window select.

    Parameters
    ----------
    uri : str
        ``s3://BUCKET/PREFIX``: the bucket root, the trail's prefix (the folder holding
        ``AWSLogs/``), or any folder inside the layout (an organization, an account, a
        region, a day). A prefix outside the layout is listed flat.
    accounts, regions : collection of str, optional
        Keep only these account ids and region names; ``None`` keeps all.
    since, until : datetime, optional
        The window of event times; naive datetimes are UTC. Either may be open.
    session : boto3.Session, optional
        Carries ``--profile`` and ``--region``; a default session when ``None``.
    known_etags : collection of (uri, etag), optional
        Objects already ingested; they are skipped, which makes a second run a no-op.
    max_workers : int
        Day prefixes listed concurrently.

    Yields
    ------
    SourceObject
        ``uri`` is ``s3://bucket/key``, ``etag`` the object's ETag without quotes, ``kind``
        ``"trail"``, ``"digest"`` or ``"insights"``, ``fetch`` downloads the raw bytes.

    Raises
    ------
    SourceError
        The bucket is missing or unreadable, or the credentials are missing or expired;
        the message names the bucket and prefix and what to do.
    """
    bucket, prefix = parse_s3_uri(uri)
    lo, hi = _window(since, until)
    session = session or boto3.Session()
    client = session.client(
        "s3",
        config=Config(
            max_pool_connections=max(32, 2 * max_workers),
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )
    lister = _Lister(client, bucket)
    keep = _Filter(
        frozenset(accounts) if accounts is not None else None,
        frozenset(regions) if regions is not None else None,
        lo,
        hi,
        frozenset(known_etags or ()),
    )
    leaves = _leaves(lister, prefix, keep)
    with ThreadPoolExecutor(max_workers, thread_name_prefix="s3-list") as pool:
        for kind, objects in _ordered_map(pool, lister.objects_of, leaves, 4 * max_workers):
            for key, size, etag in objects:
                obj_uri = f"s3://{bucket}/{key}"
                if not keep.object(key):
                    continue
                if (obj_uri, etag) in keep.known:  # counted as unchanged, not fetched
                    yield SourceObject(uri=obj_uri, size=0, etag=etag, kind=KNOWN)
                else:
                    yield SourceObject(
                        uri=obj_uri,
                        size=size,
                        etag=etag,
                        fetch=partial(_get_object, client, bucket, key),
                        kind=kind or kind_of(key),
                    )


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix; folders end with ``/``.

    >>> parse_s3_uri("s3://trail-bucket")
    ('trail-bucket', '')
    >>> parse_s3_uri("s3://trail-bucket/team/AWSLogs/111122223333")
    ('trail-bucket', 'team/AWSLogs/111122223333/')
    >>> parse_s3_uri("s3://b-1/AWSLogs/x_CloudTrail_us-east-1_20240101T0000Z_a.json.gz")
    ('b-1', 'AWSLogs/x_CloudTrail_us-east-1_20240101T0000Z_a.json.gz')
    """
    if not uri.startswith("s3://"):
        raise SourceError(f"{uri!r} is not an S3 URI; expected s3://BUCKET/PREFIX")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-_]{1,254}", bucket):
        raise SourceError(f"{uri!r}: {bucket!r} is not a valid S3 bucket name")
    prefix = prefix.lstrip("/")
    last = prefix.rsplit("/", 1)[-1]
    if prefix and not prefix.endswith("/") and ".json" not in last:
        prefix += "/"
    return bucket, prefix


def file_time(key: str) -> datetime | None:
    """The UTC time in a CloudTrail file name, or ``None`` when it has none.

    >>> file_time("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/"
    ...           "111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240102T041500Z.json.gz")
    datetime.datetime(2024, 1, 2, 4, 15, tzinfo=datetime.timezone.utc)
    >>> file_time("notes.txt") is None
    True
    """
    match = _STAMP.search(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    stamp = match.group(1)
    fmt = "%Y%m%dT%H%M%SZ" if len(stamp) == 16 else "%Y%m%dT%H%MZ"
    return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Filter:
    """What to keep: accounts, regions, the widened window, objects not yet ingested."""

    accounts: frozenset[str] | None
    regions: frozenset[str] | None
    lo: datetime | None
    hi: datetime | None
    known: frozenset[tuple[str, str]]

    def account(self, name: str) -> bool:
        return self.accounts is None or name in self.accounts

    def region(self, name: str) -> bool:
        return self.regions is None or name in self.regions

    def object(self, key: str) -> bool:
        if key.endswith("/"):
            return False
        named = _FILE.match(key.rsplit("/", 1)[-1])
        if named and not (self.account(named.group(1)) and self.region(named.group(3))):
            return False
        stamp = file_time(key)
        if stamp is None:
            return True
        return (self.lo is None or stamp >= self.lo) and (self.hi is None or stamp <= self.hi)


class _Lister:
    """ListObjectsV2 on one bucket, with errors that say what to do."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def folders(self, prefix: str) -> list[str]:
        """The names of the folders directly under ``prefix``."""
        names = []
        for page in self._pages(prefix, delimiter=True):
            for common in page.get("CommonPrefixes", ()):
                names.append(common["Prefix"][len(prefix) :].rstrip("/"))
        return names

    def objects_of(self, leaf: tuple[str, str | None]) -> tuple[str | None, list]:
        """Every object under a leaf prefix as (key, size, etag), with the leaf's kind."""
        prefix, kind = leaf
        found = []
        for page in self._pages(prefix, delimiter=False):
            for item in page.get("Contents", ()):
                found.append((item["Key"], item.get("Size"), item.get("ETag", "").strip('"')))
        return kind, found

    def _pages(self, prefix: str, *, delimiter: bool) -> Iterator[dict]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = "/"
        try:
            while True:
                page = self.client.list_objects_v2(**params)
                yield page
                if not page.get("IsTruncated"):
                    return
                params["ContinuationToken"] = page["NextContinuationToken"]
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, self.bucket, prefix, "list") from exc


def _leaves(lister: _Lister, prefix: str, keep: _Filter) -> Iterator[tuple[str, str | None]]:
    """The prefixes to list flat, each with its kind (``None``: tell from the key)."""
    parts = [p for p in prefix.split("/") if p]
    if prefix and not prefix.endswith("/"):
        yield prefix, None  # a single object
        return
    if "AWSLogs" in parts:
        at = parts.index("AWSLogs")
        base = "/".join(parts[: at + 1]) + "/"
        pinned = parts[at + 1 :]
        if _fits_layout(pinned):
            yield from _walk(lister, base, pinned, keep)
            return
        yield prefix, None
        return
    if "AWSLogs" in lister.folders(prefix):
        yield from _walk(lister, prefix + "AWSLogs/", [], keep)
        return
    if not prefix:
        top = ", ".join(lister.folders("")[:10]) or "nothing"
        raise SourceError(
            f"s3://{lister.bucket}/ has no AWSLogs/ folder at its root (found: {top}); "
            "pass the trail's prefix, the folder that holds AWSLogs/, e.g. "
            f"s3://{lister.bucket}/PREFIX/"
        )
    yield prefix, None  # not a trail layout: read everything under the prefix


def _fits_layout(pinned: list[str]) -> bool:
    """Whether folders given after AWSLogs/ follow [org/]account/kind/region/YYYY/MM/DD."""
    rest = pinned[1:] if pinned and _ORG.fullmatch(pinned[0]) else pinned
    patterns = [_ACCOUNT, re.compile("|".join(map(re.escape, _KINDS))), _REGION, *_DATE_PARTS]
    return len(rest) <= len(patterns) and all(
        p.fullmatch(name) for p, name in zip(patterns, rest, strict=False)
    )


def _walk(
    lister: _Lister, logs: str, pinned: list[str], keep: _Filter
) -> Iterator[tuple[str, str | None]]:
    """Descend AWSLogs/ level by level, listing only what the filters leave open."""

    def level(prefix: str, pinned: list[str], wanted: Callable[[str], bool]):
        if pinned:
            if wanted(pinned[0]):
                yield prefix + pinned[0] + "/", pinned[0], pinned[1:]
            return
        for name in lister.folders(prefix):
            if wanted(name):
                yield prefix + name + "/", name, []

    def is_account(name: str) -> bool:
        return bool(_ACCOUNT.fullmatch(name)) and keep.account(name)

    def accounts() -> Iterator[tuple[str, list[str]]]:
        def org_or_account(name: str) -> bool:
            return bool(_ORG.fullmatch(name)) or is_account(name)

        for path, name, rest in level(logs, pinned, org_or_account):
            if _ORG.fullmatch(name):
                for account_path, _, account_rest in level(path, rest, is_account):
                    yield account_path, account_rest
            else:
                yield path, rest

    for account_path, rest in accounts():
        for kind_path, kind_name, kind_rest in level(account_path, rest, lambda n: n in _KINDS):
            for region_path, _, dates in level(kind_path, kind_rest, keep.region):
                for day in _days(lister, region_path, dates, keep.lo, keep.hi):
                    yield day, _KINDS[kind_name]


def _days(
    lister: _Lister, region: str, pinned: list[str], lo: datetime | None, hi: datetime | None
) -> Iterator[str]:
    """The date folders under a region that the window touches.

    With both ends known the day prefixes are computed, not listed; with neither, the region
    (or the pinned year, month or day) is listed flat; with one end open, years and months
    are listed and pruned.
    """
    if lo is not None and hi is not None:
        day = lo.date()
        while day <= hi.date():
            parts = [f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"]
            if parts[: len(pinned)] == pinned:
                yield region + "/".join(parts) + "/"
            day += timedelta(days=1)
        return
    if (lo is None and hi is None) or len(pinned) == 3:
        yield region + "".join(p + "/" for p in pinned)
        return
    first = lo.date() if lo is not None else date.min
    last = hi.date() if hi is not None else date.max

    def overlaps(parts: list[str]) -> bool:
        start, end = _span(parts)
        return start <= last and end >= first

    frontier = [(region, pinned, [])]
    while frontier:
        path, rest, parts = frontier.pop(0)
        if len(parts) == 3:
            yield path
            continue
        names = rest[:1] or lister.folders(path)
        for name in names:
            candidate = [*parts, name]
            if _DATE_PARTS[len(parts)].fullmatch(name) and overlaps(candidate):
                frontier.append((path + name + "/", rest[1:], candidate))


def _span(parts: list[str]) -> tuple[date, date]:
    """The first and last day a year, year/month or year/month/day folder can hold."""
    year = int(parts[0])
    if len(parts) == 1:
        return date(year, 1, 1), date(year, 12, 31)
    month = int(parts[1])
    if len(parts) == 2:
        following = date(year + month // 12, month % 12 + 1, 1)
        return date(year, month, 1), following - timedelta(days=1)
    day = date(year, month, int(parts[2]))
    return day, day


def _ordered_map(
    pool: ThreadPoolExecutor,
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    in_flight: int,
) -> Iterator[Any]:
    """``pool.map`` that keeps at most ``in_flight`` calls queued and cancels on exit."""
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _window(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    lo = _utc(since) - SLACK if since is not None else None
    hi = _utc(until) + SLACK if until is not None else None
    if since is not None and until is not None and since > until:
        raise SourceError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
    return lo, hi


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _get_object(client: Any, bucket: str, key: str) -> bytes:
    """Download one object (runs in the pipeline's threads; the client is thread-safe)."""
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, bucket, key, "read") from exc


def _s3_error(exc: Exception, bucket: str, prefix: str, verb: str) -> SourceError:
    """Turn a boto3 failure into a message that names the bucket and says what to do."""
    where = f"s3://{bucket}/{prefix}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return SourceError(
            f"cannot {verb} {where}: no AWS credentials found; pass --profile, run "
            "`aws sso login`, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if not isinstance(exc, ClientError):
        return SourceError(f"cannot {verb} {where}: {exc}")
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return SourceError(
            f"bucket {bucket!r} does not exist (or not in this partition); check {where}"
        )
    if code in {"AccessDenied", "AllAccessDisabled", "403"}:
        return SourceError(
            f"access denied to {verb} {where}; the identity needs s3:ListBucket on "
            f"arn:aws:s3:::{bucket} and s3:GetObject on its AWSLogs/ objects (plus "
            "kms:Decrypt if the trail is KMS-encrypted); see docs/live-sources.md"
        )
    if code in _CREDENTIAL_CODES:
        return SourceError(
            f"cannot {verb} {where}: the AWS credentials are invalid or expired ({code}); "
            "refresh them (`aws sso login`, new session token) or pick another --profile"
        )
    if code in {"NoSuchKey", "404"}:
        return SourceError(f"{where} disappeared between listing and reading it")
    message = exc.response.get("Error", {}).get("Message", "")
    return SourceError(f"cannot {verb} {where}: {code} {message}".strip())
