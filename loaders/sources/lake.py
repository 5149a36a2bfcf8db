"""Whole CloudTrail events out of a CloudTrail Lake event data store.

:func:`lake_pages` runs one query (``StartQuery``), polls ``DescribeQuery`` until it ends,
then pages ``GetQueryResults`` (up to 1,000 rows a page). The query selects every column
(``SELECT *``) between ``since`` and ``until``, plus the investigator's ``--sql`` condition.

Lake answers with rows of ``{column: string}``. Scalar columns are plain strings; struct,
map and array columns (``userIdentity``, ``requestParameters``, ``resources``, ...) come
back rendered as text in the engine's ``{key=value, other={...}}`` / ``[{...}, {...}]``
notation, with struct field names lower-cased, ``null`` for absent fields and timestamps
as ``2024-05-01 12:00:00.000``. :func:`record_from_row` turns a row back into a CloudTrail
record: column and struct field names get their CloudTrail spelling back (``principalid``
-> ``principalId``, ``resources[].arn`` -> ``ARN``), timestamps become ISO 8601, ``readOnly``
and ``managementEvent`` booleans. A nested value that is already JSON is taken as JSON.

Limits of the round trip: values inside ``requestParameters``, ``responseElements`` and
``additionalEventData`` are strings in Lake (a map of string to string), so numbers and
booleans there stay strings, and nested objects arrive as JSON text and are decoded; a
value containing ``", name="`` is ambiguous in the text notation and may be split.

Each page becomes one :class:`~loaders.sources.base.SourceObject` with ``hint="lake"`` whose
bytes are an S3-delivery document, ``{"Records": [...]}``, the one envelope every record
parser path already reads. Rows are turned into records inside ``fetch``, in the pipeline's
threads.

Examples
--------
>>> from datetime import datetime
>>> build_query("EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE", datetime(2024, 5, 1),
...             datetime(2024, 5, 2), "eventSource = 'sts.amazonaws.com'")
"SELECT * FROM EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE WHERE eventTime >= '2024-05-01 00:00:00' AND eventTime <= '2024-05-02 00:00:00' AND (eventSource = 'sts.amazonaws.com')"
>>> record_from_row([{"eventName": "AssumeRole"}, {"readOnly": "false"},
...                  {"userIdentity": "{type=IAMUser, accountid=111122223333, invokedby=null}"}])
{'eventName': 'AssumeRole', 'readOnly': False, 'userIdentity': {'type': 'IAMUser', 'accountId': '111122223333'}}
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from loaders.sources.base import SourceError, SourceObject
from loaders.sources.lookup_events import api_error, cloudtrail_client

__all__ = ["lake_pages", "build_query", "record_from_row", "parse_lake_value", "run_query",
           "store_of"]

_EDS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,127}")
_EDS_ARN = re.compile(
    r"arn:aws[a-z-]*:cloudtrail:(?P<region>[a-z0-9-]+):\d{12}:eventdatastore/(?P<id>[^/]+)"
)
_DONE = {"FINISHED", "FAILED", "CANCELLED", "TIMED_OUT"}

# Lake column (lower-cased) -> CloudTrail record field.
_COLUMNS = {
    name.lower(): name
    for name in (
        "eventVersion userIdentity eventTime eventSource eventName awsRegion sourceIPAddress "
        "userAgent errorCode errorMessage requestParameters responseElements "
        "additionalEventData requestID eventID readOnly resources eventType apiVersion "
        "managementEvent recipientAccountId sharedEventID annotation vpcEndpointId "
        "vpcEndpointAccountId serviceEventDetails addendum edgeDeviceDetails insightDetails "
        "eventCategory tlsDetails sessionCredentialFromConsole"
    ).split()
}
# Struct columns: Lake lower-cases their field names, so they are spelled back.
_STRUCTS = {"userIdentity", "resources", "addendum", "tlsDetails"}
# Map columns: keys keep their case, values are strings (nested objects as JSON text).
_MAPS = {
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "edgeDeviceDetails",
    "insightDetails",
}
_BOOLEANS = {"readOnly", "managementEvent"}
_FIELDS = {
    name.lower(): name
    for name in (
        "principalId accountId accessKeyId userName sessionContext creationDate "
        "mfaAuthenticated sessionIssuer webIdFederationData federatedProvider sourceIdentity "
        "ec2RoleDelivery ec2IssuedInVPC assumedRoot onBehalfOf userId identityStoreArn "
        "inScopeOf sourceArn sourceAccount issuerType credentialsIssuedTo invokedBy "
        "identityProvider credentialId updatedFields originalRequestID originalEventID "
        "tlsVersion cipherSuite clientProvidedHostHeader"
    ).split()
}
# Only in resources[] is the ARN spelled in capitals; userIdentity.arn stays lower case.
_RESOURCE_FIELDS = {**_FIELDS, "arn": "ARN", "arnprefix": "ARNPrefix"}
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?Z?")
_JSON = json.JSONDecoder()


def lake_pages(
    event_data_store: str,
    *,
    since: datetime,
    until: datetime,
    sql_filter: str | None = None,
    session: boto3.Session | None = None,
    poll_interval: float = 1.0,
) -> Iterator[SourceObject]:
    """Run one Lake query over the window and yield its result pages.

    Parameters
    ----------
    event_data_store : str
        The event data store's ARN (its region is then used) or ID.
    since, until : datetime
        The window of ``eventTime`` (naive means UTC), both ends included.
    sql_filter : str, optional
        An extra ``WHERE`` condition, ANDed in parentheses, e.g.
        ``"userIdentity.arn LIKE '%ci-deployer%'"``. It is the investigator's own SQL and
        runs with their rights (Lake runs only SELECT); a ``;`` is refused.
    session : boto3.Session, optional
        Carries ``--profile`` and ``--region``.
    poll_interval : float
        Seconds between ``DescribeQuery`` calls.

    Yields
    ------
    SourceObject
        One per non-empty result page, ``hint="lake"``, ``fetch`` returning
        ``{"Records": [...]}`` JSON bytes.

    Raises
    ------
    SourceError
        Bad event data store id, refused filter, the query failed, was cancelled or timed
        out (the message carries Lake's own error), or the call was denied.
    """
    store_id, store_region = _store(event_data_store)
    statement = build_query(store_id, since, until, sql_filter)
    session = session or boto3.Session()
    region = store_region or session.region_name
    client = cloudtrail_client(session, region)
    query_id = _call(client.start_query, "StartQuery", region, QueryStatement=statement)["QueryId"]
    finished = False
    try:
        status = _wait(client, query_id, region, poll_interval)
        finished = True
        if status["QueryStatus"] != "FINISHED":
            raise SourceError(
                f"CloudTrail Lake query {query_id} on {store_id} ended {status['QueryStatus']}: "
                f"{status.get('ErrorMessage') or 'no reason given'}; query was: {statement}"
            )
        page, token = 0, None
        while True:
            params = {"QueryId": query_id, "MaxQueryResults": 1000}
            if token:
                params["NextToken"] = token
            response = _call(client.get_query_results, "GetQueryResults", region, **params)
            rows = response.get("QueryResultRows") or []
            if rows:
                page += 1
                yield SourceObject(
                    uri=f"lake://{store_id}/{query_id}/page-{page:05d}",
                    fetch=partial(_records_document, rows),
                    hint="lake",
                )
            token = response.get("NextToken")
            if not token:
                return
    finally:
        if not finished:
            _cancel(client, query_id)


def build_query(
    store_id: str, since: datetime, until: datetime, sql_filter: str | None = None
) -> str:
    """The SQL that selects whole events of the window from one event data store.

    The store id cannot be a bound parameter, so it must match the id pattern; the window
    is formatted from datetimes, never from text.

    >>> build_query("x; DROP", datetime(2024, 1, 1), datetime(2024, 1, 2))
    Traceback (most recent call last):
    ...
    loaders.sources.base.SourceError: 'x; DROP' is not an event data store id or ARN
    """
    if not _EDS_ID.fullmatch(store_id):
        raise SourceError(f"{store_id!r} is not an event data store id or ARN")
    if since is None or until is None:
        raise SourceError("--lake needs --since and --until: a query is billed by what it scans")
    start, end = _utc(since), _utc(until)
    if start > end:
        raise SourceError(f"--since {start.isoformat()} is after --until {end.isoformat()}")
    sql = (
        f"SELECT * FROM {store_id} WHERE eventTime >= '{start:%Y-%m-%d %H:%M:%S}' "
        f"AND eventTime <= '{end:%Y-%m-%d %H:%M:%S}'"
    )
    if sql_filter is not None and sql_filter.strip():
        if ";" in sql_filter:
            raise SourceError(f"--sql must be one condition without ';': {sql_filter!r}")
        sql += f" AND ({sql_filter.strip()})"
    return sql


def record_from_row(row: list[dict[str, str]]) -> dict[str, Any]:
    """One CloudTrail record from one Lake result row (a list of one-column dicts)."""
    record: dict[str, Any] = {}
    for cell in row:
        for column, raw in cell.items():
            name = _COLUMNS.get(column.lower(), column)
            if raw is None or raw == "" or raw == "null":
                continue
            value: Any = raw
            if name in _STRUCTS or name in _MAPS:
                value = _nested(name, raw)
            elif name in _BOOLEANS:
                value = raw.lower() == "true"
            elif name == "eventTime":
                value = _iso(raw)
            if value is not None:
                record[name] = value
    return record


def parse_lake_value(text: str) -> Any:
    """Parse a nested value as Lake renders it: JSON, or ``{k=v, ...}`` / ``[a, b]`` text.

    >>> parse_lake_value("{type=Role, arn=arn:aws:iam::1:role/a=b,c, tags=[x, y], ext=null}")
    {'type': 'Role', 'arn': 'arn:aws:iam::1:role/a=b,c', 'tags': ['x', 'y'], 'ext': None}
    >>> parse_lake_value('{policy={"Version":"2012-10-17"}, name=p}')
    {'policy': {'Version': '2012-10-17'}, 'name': 'p'}
    """
    text = text.strip()
    value, end = _Notation(text).value(0, "")
    if text[end:].strip():
        raise ValueError(f"unexpected text after position {end}: {text[end : end + 20]!r}")
    return value


class _Notation:
    """A recursive-descent reader for the ``{k=v, k2={...}}`` / ``[..]`` notation."""

    _KEY = re.compile(r"([^=,{}\[\]]+?)=")
    _SCALAR_END = {
        "}": re.compile(r", (?=[^=,{}\[\]\s]+=)|\}(?=$|, |\}|\])"),
        "]": re.compile(r", |\](?=$|, |\}|\])"),
        "": re.compile(r"$"),
    }

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self, at: int, closing: str) -> tuple[Any, int]:
        text = self.text
        if text.startswith(("{", "["), at):
            try:
                return _JSON.raw_decode(text, at)
            except ValueError:
                pass
            return self.struct(at) if text[at] == "{" else self.array(at)
        end = self._SCALAR_END[closing].search(text, at)
        stop = end.start() if end else len(text)
        scalar = text[at:stop]
        return (None if scalar == "null" else scalar), stop

    def struct(self, at: int) -> tuple[dict[str, Any], int]:
        text, found = self.text, {}
        at += 1
        if text.startswith("}", at):
            return found, at + 1
        while True:
            key = self._KEY.match(text, at)
            if key is None:
                raise ValueError(f"expected key=value at position {at}: {text[at : at + 20]!r}")
            found[key.group(1).strip()], at = self.value(key.end(), "}")
            if text.startswith(", ", at):
                at += 2
            elif text.startswith("}", at):
                return found, at + 1
            else:
                raise ValueError(f"expected ', ' or '}}' at position {at}")

    def array(self, at: int) -> tuple[list[Any], int]:
        text, found = self.text, []
        at += 1
        if text.startswith("]", at):
            return found, at + 1
        while True:
            item, at = self.value(at, "]")
            found.append(item)
            if text.startswith(", ", at):
                at += 2
            elif text.startswith("]", at):
                return found, at + 1
            else:
                raise ValueError(f"expected ', ' or ']' at position {at}")


def _nested(name: str, raw: str) -> Any:
    """A struct or map column as CloudTrail spells it; unparseable text is kept as is."""
    try:
        value = parse_lake_value(raw)
    except ValueError:
        return raw
    if name in _STRUCTS:
        return _spell(value, _RESOURCE_FIELDS if name == "resources" else _FIELDS)
    if isinstance(value, dict):
        return {k: _decode_json_text(v) for k, v in value.items() if v is not None}
    return value


def _spell(value: Any, fields: dict[str, str]) -> Any:
    """Give struct field names their CloudTrail spelling, drop nulls, fix timestamps."""
    if isinstance(value, list):
        return [_spell(item, fields) for item in value]
    if not isinstance(value, dict):
        return value
    spelled = {}
    for key, item in value.items():
        if item is None:
            continue
        name = fields.get(key.lower(), key)
        if name == "creationDate" and isinstance(item, str):
            item = _iso(item)
        spelled[name] = _spell(item, fields)
    return spelled


def _decode_json_text(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _iso(text: str) -> str:
    """``2024-05-01 12:00:00.000`` -> ``2024-05-01T12:00:00Z``; other text unchanged."""
    match = _TIMESTAMP.fullmatch(text.strip())
    return f"{match.group(1)}T{match.group(2)}Z" if match else text


def _records_document(rows: list[list[dict[str, str]]]) -> bytes:
    return json.dumps({"Records": [record_from_row(row) for row in rows]}).encode()


def run_query(client: Any, statement: str, store_id: str, region: str | None,
              poll_interval: float = 1.0) -> tuple[str, list[list[dict[str, str]]], dict]:
    """Run one statement to the end: (query id, every row, DescribeQuery's statistics).

    Cancelled if interrupted while it runs; a query that did not finish is an error.
    """
    query_id = _call(client.start_query, "StartQuery", region, QueryStatement=statement)["QueryId"]
    finished = False
    try:
        status = _wait(client, query_id, region, poll_interval)
        finished = True
    finally:
        if not finished:
            _cancel(client, query_id)
    if status["QueryStatus"] != "FINISHED":
        raise SourceError(
            f"CloudTrail Lake query {query_id} on {store_id} ended {status['QueryStatus']}: "
            f"{status.get('ErrorMessage') or 'no reason given'}; query was: {statement}"
        )
    rows: list[list[dict[str, str]]] = []
    token = None
    while True:
        params = {"QueryId": query_id, "MaxQueryResults": 1000}
        if token:
            params["NextToken"] = token
        response = _call(client.get_query_results, "GetQueryResults", region, **params)
        rows.extend(response.get("QueryResultRows") or [])
        token = response.get("NextToken")
        if not token:
            return query_id, rows, status.get("QueryStatistics") or {}


def store_of(event_data_store: str) -> tuple[str, str | None]:
    """The store id for SQL, and the region when an ARN names it."""
    return _store(event_data_store)


def _store(event_data_store: str) -> tuple[str, str | None]:
    """The store id for SQL, and the region when an ARN names it."""
    arn = _EDS_ARN.fullmatch(event_data_store)
    store_id = arn.group("id") if arn else event_data_store
    if not _EDS_ID.fullmatch(store_id):
        raise SourceError(f"{event_data_store!r} is not an event data store id or ARN")
    return store_id, arn.group("region") if arn else None


def _wait(client: Any, query_id: str, region: str | None, poll_interval: float) -> dict:
    while True:
        status = _call(client.describe_query, "DescribeQuery", region, QueryId=query_id)
        if status.get("QueryStatus") in _DONE:
            return status
        time.sleep(poll_interval)


def _call(method: Any, api: str, region: str | None, **params: Any) -> dict:
    try:
        return method(**params)
    except (ClientError, BotoCoreError) as exc:
        raise api_error(exc, api, region) from exc


def _cancel(client: Any, query_id: str) -> None:
    """Best effort: a query abandoned mid-way (Ctrl-C) should not keep scanning, and billing."""
    try:
        client.cancel_query(QueryId=query_id)
    except (ClientError, BotoCoreError):
        pass


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
