"""CloudTrail Lake: the lineage query over an event data store, ``lake://EVENT_DATA_STORE``.

Lake's table is not the Athena one: columns keep CloudTrail's names, ``eventTime`` is a
timestamp, and ``requestParameters`` / ``responseElements`` are maps of strings whose
nested objects are JSON text. The one query text is rewritten for it (:func:`for_lake`):
``json_extract_scalar(responseelements, '$.credentials.accessKeyId')`` becomes
``json_extract_scalar(element_at(responseElements, 'credentials'), '$.accessKeyId')``, the
partition filter goes, the window is written as Lake's timestamps. Start, poll, page and
cancel, and the rows back into records, are :mod:`loaders.sources.lake`'s.

>>> from loaders.follow.lineage import FollowSet
>>> from sqlglot import exp
>>> sql = lineage_query(FollowSet.of(keys=["AKIAEXAMPLEKEY000001"]), dialect="trino",
...                     table=exp.Table(this=exp.to_identifier("EXAMPLE-eds", quoted=False)),
...                     partitions=False, transform=for_lake)
>>> "JSON_EXTRACT_SCALAR(ELEMENT_AT(responseelements, 'credentials'), '$.accessKeyId')" in sql
True
>>> sql.startswith("SELECT * FROM EXAMPLE-eds WHERE")
True
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlglot import exp

from loaders.engines import QueryResult
from loaders.engines.query import lineage_query
from loaders.follow.lineage import FollowSet
from loaders.sources import lake as lake_api

__all__ = ["LakeEngine", "for_lake"]


def for_lake(node: exp.Expression) -> exp.Expression:
    """Rewrite what Lake's table spells differently (a sqlglot transform)."""
    if isinstance(node, exp.JSONExtractScalar) and isinstance(node.this, exp.Column):
        path = node.expression.sql(dialect="trino").strip("'")
        if path.startswith("$."):
            first, _, rest = path[2:].partition(".")
            value = exp.func("element_at", node.this.copy(), exp.Literal.string(first))
            if not rest:
                return value
            return exp.JSONExtractScalar(this=value, expression=exp.Literal.string(f"$.{rest}"))
    if (isinstance(node, (exp.GTE, exp.LTE)) and isinstance(node.this, exp.Column)
            and node.this.name.lower() == "eventtime" and isinstance(node.expression, exp.Literal)):
        text = node.expression.name.replace("T", " ").removesuffix("Z")
        return node.__class__(this=node.this.copy(), expression=exp.Literal.string(text))
    return node


class LakeEngine:
    """The lineage query in a CloudTrail Lake event data store."""

    name = "lake"

    def __init__(self, event_data_store: str, *, session=None, poll_interval: float = 1.0) -> None:
        self.store_id, self.region = lake_api.store_of(event_data_store)
        self.session = session
        self.poll_interval = poll_interval

    def run(self, values: FollowSet, since: datetime | None,
            until: datetime | None) -> QueryResult:
        import boto3

        t0 = time.perf_counter()
        sql = lineage_query(values, dialect="trino", table=exp.Table(this=exp.to_identifier(self.store_id, quoted=False)),
                            since=since, until=until, partitions=False, transform=for_lake)
        session = self.session or boto3.Session()
        region = self.region or session.region_name
        query_id, rows, stats = lake_api.run_query(
            lake_api.cloudtrail_client(session, region), sql, self.store_id, region,
            self.poll_interval)
        return QueryResult(engine=self.name, query_id=query_id, sql=sql,
                           records=[lake_api.record_from_row(r) for r in rows],
                           rows_scanned=stats.get("EventsScanned"),
                           bytes_scanned=stats.get("BytesScanned"),
                           seconds=time.perf_counter() - t0)

    def close(self) -> None:
        pass

