"""DuckDB, embedded: the lineage query over local folders, S3-layout trees and Parquet.

The first round reads every trail file once (``{"Records": [...]}`` documents, arrays, JSON
Lines, gzipped or not; digests and Insights left out) into a temporary DuckDB database as
the documented CloudTrail table, each row keeping its raw record (``_record``). Every round
then runs the transpiled ``lineage.sql`` on that table. Parquet files with the documented
columns (an Athena CTAS or UNLOAD of the trail, say) are read as they are.

A damaged file is skipped by DuckDB (``ignore_errors``); a plain ``graphtrail ingest`` of
the same folder names it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import duckdb

from loaders.engines import QueryResult
from loaders.engines.query import lineage_query
from loaders.engines.rows import records_of_rows
from loaders.engines.schema import CLOUDTRAIL_COLUMNS, RECORD_COLUMN, table_select
from loaders.follow.lineage import FollowSet
from loaders.sources.base import SourceError
from loaders.sources.files import list_files

__all__ = ["DuckDBEngine"]

_MAX_OBJECT = 256 << 20  # one JSON value (a whole delivered file) DuckDB may hold


class DuckDBEngine:
    """The lineage query over local files, in an embedded DuckDB.

    >>> DuckDBEngine(["/nonexistent/trail"]).run(FollowSet(), None, None)
    Traceback (most recent call last):
    ...
    loaders.sources.base.SourceError: /nonexistent/trail: no such file or folder
    """

    name = "duckdb"

    def __init__(self, paths: list[str], *, threads: int | None = None,
                 memory_limit: str | None = None) -> None:
        self.paths = list(paths)
        self.threads = threads
        self.memory_limit = memory_limit
        self._con: duckdb.DuckDBPyConnection | None = None
        self._dir: str | None = None
        self.rows = 0
        self.source_bytes = 0

    def run(self, values: FollowSet, since: datetime | None,
            until: datetime | None) -> QueryResult:
        t0 = time.perf_counter()
        first = self._con is None
        con = self._connect()
        sql = (f"SELECT {RECORD_COLUMN}, * EXCLUDE ({RECORD_COLUMN}) FROM ("
               f"{lineage_query(values, dialect='duckdb', since=since, until=until)}) AS lineage")
        try:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        except duckdb.Error as exc:
            raise SourceError(f"DuckDB lineage query failed: {exc}; query was: {sql}") from exc
        scanned = self.source_bytes if first else Path(self._dir, "follow.duckdb").stat().st_size
        return QueryResult(engine=self.name, query_id=f"duckdb-{uuid.uuid4()}", sql=sql,
                           records=records_of_rows(names, rows), rows_scanned=self.rows,
                           bytes_scanned=scanned, seconds=time.perf_counter() - t0)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._con is not None:
            return self._con
        json_files, parquet = self._files()
        self._dir = tempfile.mkdtemp(prefix="graphtrail-follow-")
        con = duckdb.connect(str(Path(self._dir, "follow.duckdb")))
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        if self.memory_limit:
            con.execute("SET memory_limit = ?", [self.memory_limit])
        con.execute(f"SET temp_directory = '{Path(self._dir, 'spill')}'")
        con.execute(f"CREATE TABLE cloudtrail AS SELECT {table_select('duckdb')} FROM (\n"
                    f"{_records_of_files(len(json_files))}) WHERE r IS NOT NULL "
                    "AND json_extract_string(r, '$.eventID') IS NOT NULL", [json_files] if json_files else None)
        if parquet:
            names = ", ".join(c.name for c in CLOUDTRAIL_COLUMNS)
            con.execute(f'INSERT INTO cloudtrail SELECT {names}, replace(substr(eventtime, 1, 10), '
                        f"'-', '/'), NULL FROM read_parquet(?, union_by_name = true)", [parquet])
        self.rows = con.execute("SELECT count(*) FROM cloudtrail").fetchone()[0]
        self._con = con
        return con

    def _files(self) -> tuple[list[str], list[str]]:
        json_files, parquet = [], []
        for p in self.paths:
            if not Path(p).exists():
                raise SourceError(f"{p}: no such file or folder")
            for obj in list_files([p]):  # one walk: Parquet holds the documented table
                if obj.path and obj.problem is None and obj.kind == "trail":
                    (parquet if obj.path.endswith(".parquet") else json_files).append(obj.path)
        self.source_bytes = sum(Path(f).stat().st_size for f in json_files + parquet)
        if not (json_files or parquet):
            raise SourceError(f"no trail files under {', '.join(self.paths)}")
        return json_files, parquet


def _records_of_files(n: int) -> str:
    """One row ``r`` per record of the files (bound as ``?``), whatever the envelope."""
    if n == 0:
        return "SELECT NULL::JSON AS r"
    return (
        "SELECT unnest(CASE WHEN json_type(json, '$.Records') = 'ARRAY' "
        "THEN CAST(json_extract(json, '$.Records') AS JSON[]) "
        "WHEN json_type(json) = 'ARRAY' THEN CAST(json AS JSON[]) ELSE [json] END) AS r "
        f"FROM read_json_objects(?, format = 'auto', ignore_errors = true, "
        f"maximum_object_size = {_MAX_OBJECT})"
    )
