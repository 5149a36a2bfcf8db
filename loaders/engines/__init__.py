"""Query engines next to the data, behind one small protocol (:class:`Engine`).

``graphtrail ingest --follow`` asks an engine for one round of the lineage query at a time
(``lineage.sql``, transpiled by :mod:`loaders.engines.query`); the engine answers with whole
CloudTrail records and what the query cost. DuckDB (:mod:`.duckdb`, embedded, the default),
Athena (:mod:`.athena`), CloudTrail Lake (:mod:`.lake`) and Spark (:mod:`.spark`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from loaders.follow.lineage import FollowSet
from loaders.sources.base import SourceError

__all__ = ["Engine", "QueryFailed", "QueryResult"]


class QueryFailed(SourceError):
    """The engine ran the query and it ended without an answer (failed, cancelled): the
    command could not answer (exit 1), which is not a usage error."""


@dataclass
class QueryResult:
    """One round's query and its answer: the evidence kept in the case manifest."""

    engine: str
    query_id: str
    sql: str
    records: list[dict] = field(default_factory=list)
    rows_scanned: int | None = None  # rows the engine read to answer (None: not reported)
    bytes_scanned: int | None = None  # bytes read from storage (Athena: what is billed)
    seconds: float = 0.0
    document: bytes | None = None  # the rows in the store's own format (OCSF Parquet), if not records

    def evidence(self) -> dict:
        """What the manifest keeps of the query (the records are the object itself)."""
        return {"engine": self.engine, "query_id": self.query_id, "sql": self.sql,
                "rows": len(self.records), "rows_scanned": self.rows_scanned,
                "bytes_scanned": self.bytes_scanned, "seconds": round(self.seconds, 3)}


class Engine(Protocol):
    """Runs one round of the lineage query where the logs are."""

    name: str

    def run(self, values: FollowSet, since: datetime | None,
            until: datetime | None) -> QueryResult:
        """The records matching ``values`` (one round), with the query's evidence."""
        ...

    def close(self) -> None:
        """Release what the engine holds (a session, a temporary database)."""
        ...
