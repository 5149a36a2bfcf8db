"""DuckDB over a local copy of Amazon Security Lake: the lineage query on OCSF Parquet.

``graphtrail ingest ./security-lake-download/ --follow KEY``: when the Parquet under SOURCE
is OCSF API Activity (``api`` and ``actor`` columns), every round runs ``lineage_ocsf.sql``
(the Trino text Athena runs on Security Lake's own tables, transpiled to DuckDB) over the
files as they are, nothing copied. The rows come back as OCSF and are handed on as OCSF
Parquet, so the ingest reads them with :mod:`loaders.securitylake` like any Security Lake
file: the same mapping back to CloudTrail, and the same linking gaps where the store did not
keep the response data (then the issued credentials are unknown and the rounds stop at the
issuing call, which the summary's notes say).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from loaders.engines import QueryResult
from loaders.engines.query import lineage_query
from loaders.follow.lineage import FollowSet
from loaders.schema import json_object
from loaders.securitylake import ocsf_to_cloudtrail
from loaders.sources.base import SourceError
from loaders.sources.lake import parse_lake_value

__all__ = ["OcsfDuckDBEngine", "ocsf_parquet", "ocsf_records", "ocsf_text_records",
           "SECURITY_LAKE_TABLE"]

SECURITY_LAKE_TABLE = "amazon_security_lake_table_"  # how Security Lake names its tables

_JSON_TEXT = ("requestParameters", "responseElements", "additionalEventData")


def ocsf_parquet(paths: list[str]) -> list[str]:
    """The OCSF Parquet files under ``paths`` ([] when the Parquet there is not OCSF, or
    there is none); Parquet of another shape beside OCSF is refused.

    >>> ocsf_parquet(["/nonexistent/lake"])
    []
    """
    files: list[str] = []
    for p in map(Path, paths):
        found = sorted(p.rglob("*.parquet")) if p.is_dir() else [p] if p.suffix == ".parquet" else []
        files.extend(str(f) for f in found)
    ocsf = [f for f in files if _is_ocsf(f)]
    if ocsf and len(ocsf) != len(files):
        other = next(f for f in files if f not in set(ocsf))
        raise SourceError(f"{other}: Parquet, but not OCSF API Activity, beside Security Lake "
                          "files: --follow reads one kind of table at a time")
    return ocsf


def _is_ocsf(path: str) -> bool:
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(f"{path}: not readable Parquet: {exc}") from exc
    return {"api", "actor"} <= names


def ocsf_records(rows: list[dict]) -> list[dict]:
    """CloudTrail records of OCSF rows (``loaders.securitylake``'s mapping); rows of another
    OCSF class (no API operation) are left out."""
    out = []
    for d in rows:
        if (d.get("api") or {}).get("operation"):
            rec = ocsf_to_cloudtrail(d)
            for name in _JSON_TEXT:  # OCSF keeps them as JSON text; the rounds read objects
                if isinstance(rec.get(name), str):
                    rec[name] = json_object(rec[name]) or rec[name]
            out.append(rec)
    return out


def ocsf_text_records(names: list[str], rows: list[list[str | None]]) -> list[dict]:
    """CloudTrail records of OCSF rows as Athena returns them: text, structs and maps in
    its ``{key=value}`` notation (read with the CloudTrail Lake parser), ``time`` as digits.

    >>> ocsf_text_records(["time", "api", "actor"], [["1718193600000",
    ...     "{operation=ListUsers, service={name=iam.amazonaws.com}, response={data=null}}",
    ...     "{user={credential_uid=AKIAEXAMPLE, uid=arn:aws:iam::1:user/a}}"]])[0]["userIdentity"]
    {'arn': 'arn:aws:iam::1:user/a', 'accessKeyId': 'AKIAEXAMPLE'}
    """
    out = []
    for row in rows:
        d: dict = {}
        for name, text in zip(names, row, strict=True):
            d[name.lower()] = _athena_value(name.lower(), text)
        if isinstance(d.get("time"), int):
            d.pop("time_dt", None)  # rendered as text in Athena's own format: time is exact
        out.append(d)
    return ocsf_records(out)


def _athena_value(name: str, text: str | None):
    if text is None or text == "null":
        return None
    if name == "time" and text.isdigit():
        return int(text)
    if text[:1] in ("{", "["):
        try:
            return parse_lake_value(text)
        except ValueError:
            return None
    return text


class OcsfDuckDBEngine:
    """``lineage_ocsf.sql`` in an embedded DuckDB over OCSF Parquet files.

    >>> OcsfDuckDBEngine([]).run(FollowSet(), None, None)
    Traceback (most recent call last):
    ...
    loaders.sources.base.SourceError: no Security Lake (OCSF) Parquet to follow in
    """

    name = "duckdb"
    ocsf = True  # reads Security Lake's OCSF columns (the summary's notes say what they lack)

    def __init__(self, files: list[str]) -> None:
        self.files = list(files)
        self._con: duckdb.DuckDBPyConnection | None = None
        self.rows = 0
        self.source_bytes = 0

    def run(self, values: FollowSet, since: datetime | None,
            until: datetime | None) -> QueryResult:
        t0 = time.perf_counter()
        con = self._connect()
        # the files carry no eventday column unless their folders are read as partitions
        sql = lineage_query(values, dialect="duckdb", ocsf=True, partitions=False,
                            since=since, until=until)
        try:
            table = con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise SourceError(f"DuckDB lineage query failed: {exc}; query was: {sql}") from exc
        return QueryResult(engine=self.name, query_id=f"duckdb-{uuid.uuid4()}", sql=sql,
                           records=ocsf_records(table.to_pylist()), rows_scanned=self.rows,
                           bytes_scanned=self.source_bytes, seconds=time.perf_counter() - t0,
                           document=_parquet(table))

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._con is not None:
            return self._con
        if not self.files:
            raise SourceError("no Security Lake (OCSF) Parquet to follow in")
        con = duckdb.connect()
        files = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files)  # a view binds no ?
        con.execute(f"CREATE VIEW ocsf AS SELECT * FROM read_parquet([{files}], "
                    "union_by_name = true, hive_partitioning = false)")
        self.rows = con.execute("SELECT count(*) FROM ocsf").fetchall()[0][0]
        self.source_bytes = sum(Path(f).stat().st_size for f in self.files)
        self._con = con
        return con


def _parquet(table: pa.Table) -> bytes:
    """The round's OCSF rows as one Parquet file, read back by the ingest as Security Lake."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
