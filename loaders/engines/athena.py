"""Athena: the lineage query over the CloudTrail table of the AWS documentation.

``athena://WORKGROUP/DATABASE.TABLE``: one query per round (``StartQueryExecution`` in the
workgroup, the database as context), polled with ``GetQueryExecution`` until it ends, its
rows paged with ``GetQueryResults`` (``NextToken``, 1,000 a page; the first row of the first
page is the header). A failed or cancelled query is :class:`~loaders.engines.QueryFailed`
(exit 1) naming the query id, Athena's reason and the SQL; Ctrl-C while it runs stops it
(``StopQueryExecution``): a query left running keeps scanning, and billing. ``DataScannedInBytes`` (what Athena bills) is reported per round.

The table must be the documented one (partition projection on ``timestamp``,
``yyyy/MM/dd``): ``--since/--until`` become a filter on that partition, so only the days
of the window are scanned. Rows come back as text; :mod:`loaders.engines.rows` rebuilds
each record (structs in Athena's ``{key=value}`` notation). The table does not carry every
field of a record (``userIdentity.sessionContext.sourceIdentity``, ``onBehalfOf`` beyond
its two fields...): those are lost, as they are for any Athena query of that table.

Security Lake's OCSF tables (``amazon_security_lake_table_*``, or any table with ``--ocsf``)
are asked ``lineage_ocsf.sql`` instead, with ``eventday`` as the partition filter; their rows
are read back with :mod:`loaders.securitylake`'s mapping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from loaders.engines import QueryFailed, QueryResult
from loaders.engines.ocsf import SECURITY_LAKE_TABLE, ocsf_text_records
from loaders.engines.query import lineage_query
from loaders.engines.rows import records_of_rows
from loaders.follow.lineage import FollowSet
from loaders.sources.base import SourceError

__all__ = ["AthenaEngine"]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}


class AthenaEngine:
    """The lineage query in Athena.

    >>> AthenaEngine.of_uri("athena://primary/security.cloudtrail_logs_pp", session=None).table
    'security.cloudtrail_logs_pp'
    >>> AthenaEngine.of_uri("athena://primary/x; DROP TABLE y", session=None)
    Traceback (most recent call last):
    ...
    loaders.sources.base.SourceError: 'athena://primary/x; DROP TABLE y' is not athena://WORKGROUP/DATABASE.TABLE
    """

    name = "athena"

    def __init__(self, workgroup: str, database: str, table: str, *, session=None,
                 output: str | None = None, poll_interval: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, ocsf: bool = False) -> None:
        self.workgroup, self.database, self.table_name = workgroup, database, table
        # Security Lake's OCSF table (--ocsf, or named as Security Lake names its tables)
        self.ocsf = ocsf or table.lower().startswith(SECURITY_LAKE_TABLE)
        self.table = f"{database}.{table}"
        self.session = session
        self.output = output
        self.poll_interval = poll_interval
        self.sleep = sleep
        self._client = None

    @classmethod
    def of_uri(cls, uri: str, *, session=None, output: str | None = None,
               ocsf: bool = False) -> AthenaEngine:
        rest = uri.removeprefix("athena://")
        workgroup, _, qualified = rest.partition("/")
        database, _, table = qualified.partition(".")
        if not (_NAME.fullmatch(workgroup) and _IDENT.fullmatch(database)
                and _IDENT.fullmatch(table)):
            raise SourceError(f"{uri!r} is not athena://WORKGROUP/DATABASE.TABLE")
        return cls(workgroup, database, table, session=session, output=output, ocsf=ocsf)

    def run(self, values: FollowSet, since: datetime | None,
            until: datetime | None) -> QueryResult:
        t0 = time.perf_counter()
        client = self._athena()
        sql = lineage_query(values, dialect="athena", table=self.table, since=since, until=until,
                            ocsf=self.ocsf)
        params: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.workgroup,
                                  "QueryExecutionContext": {"Database": self.database}}
        if self.output:
            params["ResultConfiguration"] = {"OutputLocation": self.output}
        query_id = self._call(client.start_query_execution, "StartQueryExecution",
                              **params)["QueryExecutionId"]
        try:
            execution = self._wait(client, query_id)
        except KeyboardInterrupt:
            self._stop(client, query_id)
            raise
        state = execution["Status"]["State"]
        if state != "SUCCEEDED":
            reason = execution["Status"].get("StateChangeReason") or "no reason given"
            raise QueryFailed(f"Athena query {query_id} in workgroup {self.workgroup} ended "
                              f"{state}: {reason}; query was: {sql}")
        names, rows = self._rows(client, query_id)
        return QueryResult(engine=self.name, query_id=query_id, sql=sql,
                           records=(ocsf_text_records if self.ocsf else records_of_rows)(
                               names, rows), rows_scanned=None,
                           bytes_scanned=execution.get("Statistics", {}).get("DataScannedInBytes"),
                           seconds=time.perf_counter() - t0)

    def close(self) -> None:
        self._client = None

    def _athena(self):
        if self._client is None:
            import boto3

            self._client = (self.session or boto3.Session()).client("athena")
        return self._client

    def _wait(self, client, query_id: str) -> dict:
        while True:
            execution = self._call(client.get_query_execution, "GetQueryExecution",
                                   QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] in _DONE:
                return execution
            self.sleep(self.poll_interval)

    def _rows(self, client, query_id: str) -> tuple[list[str], list[list[str | None]]]:
        names: list[str] = []
        rows: list[list[str | None]] = []
        token = None
        first = True
        while True:
            params: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
            if token:
                params["NextToken"] = token
            page = self._call(client.get_query_results, "GetQueryResults", **params)
            result = page.get("ResultSet", {})
            if first:
                names = [c["Name"] for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
            data = [[cell.get("VarCharValue") for cell in row.get("Data", [])]
                    for row in result.get("Rows", [])]
            if first and data and data[0] == names:
                data = data[1:]  # the header row
            rows.extend(r for r in data if len(r) == len(names))
            first = False
            token = page.get("NextToken")
            if not token:
                return names, rows

    def _stop(self, client, query_id: str) -> None:
        try:
            client.stop_query_execution(QueryExecutionId=query_id)
        except (ClientError, BotoCoreError):
            pass  # best effort: the interrupt is what the user asked for

    def _call(self, method, api: str, **params) -> dict:
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"Athena {api} failed (workgroup {self.workgroup}, table "
                              f"{self.table}): {exc}") from exc
