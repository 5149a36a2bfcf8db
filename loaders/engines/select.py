"""Which engine answers ``--follow`` for a SOURCE: the one next to the data.

* local files and folders (S3 layout or not, JSON, JSON Lines, Parquet): DuckDB, embedded,
  or Spark with ``--engine spark``; a local copy of Security Lake (OCSF Parquet): DuckDB
  with the OCSF text;
* ``athena://WORKGROUP/DATABASE.TABLE``: Athena, over the documented CloudTrail table, or
  Security Lake's OCSF table (``amazon_security_lake_table_*``, or ``--ocsf``);
* ``lake://EVENT_DATA_STORE`` (an id or ARN): CloudTrail Lake.
"""

from __future__ import annotations

from loaders.engines import Engine
from loaders.sources.base import SourceError

__all__ = ["engine_for", "ENGINES"]

ENGINES = ("duckdb", "spark", "athena", "lake")


def engine_for(sources: list[str], engine: str | None = None, *, session=None,
               spark_master: str | None = None, athena_output: str | None = None,
               ocsf: bool = False) -> Engine:
    """The engine for ``sources``; a mismatch (two remote sources, ``s3://``) is refused.

    >>> engine_for(["s3://trail-bucket/AWSLogs/"]).name
    Traceback (most recent call last):
    ...
    loaders.sources.base.SourceError: --follow reads s3:// through a query engine next to the data: athena://WORKGROUP/DATABASE.TABLE over the bucket, or a local copy with DuckDB or --engine spark
    """
    remote = [s for s in sources if "://" in s]
    if any(s.startswith("s3://") for s in remote):
        raise SourceError("--follow reads s3:// through a query engine next to the data: "
                          "athena://WORKGROUP/DATABASE.TABLE over the bucket, or a local copy "
                          "with DuckDB or --engine spark")
    if remote:
        if len(sources) != 1:
            raise SourceError(f"--follow queries one remote source at a time, not {len(sources)}")
        uri = remote[0]
        scheme = uri.split("://", 1)[0]
        if engine not in (None, scheme):
            raise SourceError(f"--engine {engine} cannot query {uri}")
        if scheme == "athena":
            from loaders.engines.athena import AthenaEngine

            return AthenaEngine.of_uri(uri, session=session, output=athena_output, ocsf=ocsf)
        if scheme == "lake":
            from loaders.engines.lake import LakeEngine

            return LakeEngine(uri.split("://", 1)[1], session=session)
        raise SourceError(f"--follow cannot query {uri}: give a folder, athena:// or lake://")
    if not sources:
        raise SourceError("--follow needs a SOURCE: a folder, athena://... or lake://...")
    if engine in (None, "duckdb"):
        from loaders.engines.ocsf import OcsfDuckDBEngine, ocsf_parquet

        lake = ocsf_parquet(sources)
        if lake:
            return OcsfDuckDBEngine(lake)
        from loaders.engines.duckdb import DuckDBEngine

        return DuckDBEngine(sources)
    if engine == "spark":
        from loaders.engines.spark import SparkEngine

        return SparkEngine(sources, master=spark_master)
    raise SourceError(f"--engine {engine} queries athena:// or lake:// sources, not local files")
