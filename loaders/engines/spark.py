"""Spark (pyspark): the lineage query over the same trail files, local or on a cluster.

Local mode by default (``local[*]``); ``--spark-master spark://HOST:7077`` (or ``yarn``...)
for a cluster, ``sc://HOST:15002`` for Spark Connect. The trail files are read once
(``{"Records": [...]}`` documents, gzipped or not; each record kept as JSON text), the
documented CloudTrail table is built from them with the same column declaration as DuckDB
(:func:`~loaders.engines.schema.table_select`) and cached; every round runs the transpiled
``lineage.sql`` on it. The files must be reachable by the executors at the same paths (a
shared file system, or ``s3a://`` URIs given as SOURCE on a cluster set up for them).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path

from loaders.engines import QueryResult
from loaders.engines.query import lineage_query
from loaders.engines.rows import records_of_rows
from loaders.engines.schema import RECORD_COLUMN, table_columns
from loaders.follow.lineage import FollowSet
from loaders.sources.base import SourceError
from loaders.sources.files import list_files

__all__ = ["SparkEngine", "spark_session"]

_VIEW = "graphtrail_cloudtrail"
# Many small files: pack them into few tasks, and list them in the driver.
_CONFIG = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.files.openCostInBytes": "65536",
    "spark.sql.files.maxPartitionBytes": str(64 << 20),
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
}


def spark_session(master: str | None = None):
    """The active session, or a new one (local mode unless ``master`` says otherwise)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SourceError("--engine spark needs pyspark: pip install 'graphtrail[spark]'") from exc
    builder = SparkSession.builder.appName("graphtrail-follow")
    if master and master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = builder.master(master or "local[*]")
        for k, v in _CONFIG.items():
            builder = builder.config(k, v)
    spark = builder.getOrCreate()
    if not (master or "").startswith("sc://"):
        spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkEngine:
    """The lineage query over trail files, in Spark."""

    name = "spark"

    def __init__(self, paths: list[str], *, master: str | None = None, session=None) -> None:
        self.paths = list(paths)
        self.master = master
        self._spark = session
        self._table = None
        self.rows = 0
        self.source_bytes = 0

    def run(self, values: FollowSet, since: datetime | None,
            until: datetime | None) -> QueryResult:
        t0 = time.perf_counter()
        first = self._table is None
        spark = self._load()
        sql = (f"SELECT {RECORD_COLUMN} FROM ("
               f"{lineage_query(values, dialect='spark', table=_VIEW, since=since, until=until)}"
               ") AS lineage")
        try:
            rows = spark.sql(sql).collect()
        except Exception as exc:  # noqa: BLE001 - py4j/Spark raise many kinds; name the query
            raise SourceError(f"Spark lineage query failed: {exc}; query was: {sql}") from exc
        return QueryResult(engine=self.name, query_id=f"spark-{uuid.uuid4()}", sql=sql,
                           records=records_of_rows([RECORD_COLUMN], [tuple(r) for r in rows]),
                           rows_scanned=self.rows,
                           bytes_scanned=self.source_bytes if first else 0,
                           seconds=time.perf_counter() - t0)

    def close(self) -> None:
        if self._table is not None:
            self._table.unpersist()
            self._table = None

    def _load(self):
        if self._spark is None:
            self._spark = spark_session(self.master)
        if self._table is not None:
            return self._spark
        files = self._files()
        docs = (self._spark.read.schema("Records array<string>").option("multiLine", True)
                .json(files))
        records = docs.selectExpr("explode(Records) AS r").where("r IS NOT NULL")
        table = records.selectExpr(*table_columns("spark"))
        table = table.where("eventid IS NOT NULL").cache()
        self.rows = table.count()
        table.createOrReplaceTempView(_VIEW)
        self._table = table
        return self._spark

    def _files(self) -> list[str]:
        remote = [p for p in self.paths if "://" in p]
        files = list(remote)
        for p in (p for p in self.paths if "://" not in p):
            if not Path(p).exists():
                raise SourceError(f"{p}: no such file or folder")
            files.extend(o.path for o in list_files([p])
                         if o.path and o.problem is None and o.kind == "trail")
        self.source_bytes = sum(Path(f).stat().st_size for f in files if "://" not in f)
        if not files:
            raise SourceError(f"no trail files under {', '.join(self.paths)}")
        return files
