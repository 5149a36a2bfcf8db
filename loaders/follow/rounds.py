"""The rounds of ``--follow``: ask, read what came back, ask for what is new, until nothing is.

Each round asks the engine only for the values it has not asked for yet (every condition
of ``lineage.sql`` is ``column IN (set)``, so the rounds together return what one query
with the whole set would). What came back is kept, and :func:`~loaders.follow.lineage.grow`
reads all of it again for the next set. Every round's answer is yielded as it arrives, so
the pipeline ingests it like any other object, its query kept as evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from loaders.engines import Engine, QueryResult
from loaders.follow.lineage import FollowSet, grow
from loaders.sources.base import SourceObject

__all__ = ["FollowStats", "follow_rounds", "follow_objects", "MAX_ROUNDS"]

MAX_ROUNDS = 64  # a lineage deeper than this is cut, and the summary says so


@dataclass
class FollowStats:
    """The summary's ``follow`` object."""

    engine: str
    rounds: int = 0
    records_fetched: int = 0
    rows_scanned: int | None = None
    bytes_scanned: int | None = None
    complete: bool = False  # the set stopped growing (not cut at MAX_ROUNDS)

    def add(self, result: QueryResult) -> None:
        self.rounds += 1
        self.records_fetched += len(result.records)
        if result.rows_scanned is not None:
            self.rows_scanned = (self.rows_scanned or 0) + result.rows_scanned
        if result.bytes_scanned is not None:
            self.bytes_scanned = (self.bytes_scanned or 0) + result.bytes_scanned

    def as_dict(self) -> dict:
        return {"engine": self.engine, "rounds": self.rounds,
                "records_fetched": self.records_fetched, "rows_scanned": self.rows_scanned,
                "bytes_scanned": self.bytes_scanned, "complete": self.complete}


def follow_rounds(engine: Engine, seeds: FollowSet, *, since: datetime | None = None,
                  until: datetime | None = None, stats: FollowStats | None = None,
                  max_rounds: int = MAX_ROUNDS) -> Iterator[QueryResult]:
    """Run rounds until the lineage stops growing; yield each round's result."""
    stats = stats or FollowStats(engine.name)
    asked, current = FollowSet(), seeds
    fetched: list[dict] = []
    while stats.rounds < max_rounds:
        ask = current.minus(asked)
        if ask.size() == 0:
            stats.complete = True
            return
        result = engine.run(ask, since, until)
        stats.add(result)
        yield result
        asked = asked.union(ask)
        fetched.extend(result.records)
        current = grow(current, fetched)


def follow_objects(engine: Engine, seeds: FollowSet, stats: FollowStats, *,
                   since: datetime | None = None, until: datetime | None = None,
                   close: bool = True) -> Iterator[SourceObject]:
    """Each round as one object for the pipeline: ``{"Records": [...]}``, its query as
    evidence. The engine is closed once the rounds end or the ingest stops (unless
    ``close`` is False: another follow will use it)."""
    try:
        for result in follow_rounds(engine, seeds, since=since, until=until, stats=stats):
            if not result.records:
                continue
            yield SourceObject(uri=f"follow://{result.engine}/{result.query_id}",
                               fetch=partial(_document, result.records, result.document),
                               query=result.evidence())
    finally:
        if close:
            engine.close()


def _document(records: list[dict], native: bytes | None = None) -> bytes:
    """What the ingest reads: the engine's own rows when it kept them (Security Lake's
    OCSF Parquet, read with its mapping and linking gaps), else the records."""
    return native if native is not None else json.dumps({"Records": records}).encode()
