"""The Python API for notebooks: open a case, ask the questions, get objects and DataFrames.

Example (after ``graphtrail demo``)::

    import graphtrail
    inv = graphtrail.open_case("graphtrail-demo/case")
    inv.blast_radius(access_key="AKIA52CAMQMUDNLGK7SQ").roles
    inv.timeline(access_key="AKIA52CAMQMUDNLGK7SQ", lineage=True).head()
    inv.findings_df()
    inv.event("3f1c9a62-0d5e-4b1e-9c1a-7d2f0e8b4a11")  # an eventID an answer cites
    inv.seeds("keys", account="111111111111", sort="last_seen")

Like the CLI, this module wires the loaders to the core: it ingests, and (re)builds the
graph when the case's events changed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from graphtrail.frames import records_frame
from graphtrail.queries.blast_radius import BlastRadius, blast_radius
from graphtrail.queries.chains import Chain, chains
from graphtrail.queries.event_record import events_by_id
from graphtrail.queries.findings import Finding, findings
from graphtrail.queries.inventory import Window, list_seeds
from graphtrail.queries.seeds import Seed, parse_time_bound
from graphtrail.queries.timeline import timeline
from graphtrail.store.case import DEFAULT_CASE, Case, IngestSummary
from graphtrail.store.memory import MemoryStore
from graphtrail.wiring import ensure_graph, link_case, run_ingest
from loaders.sources.files import list_files

__all__ = ["Investigation", "open_case"]


def open_case(path: str | Path = DEFAULT_CASE, *, create: bool = False) -> Investigation:
    """Open (or with ``create=True`` start) a case for questions."""
    return Investigation(Case.open(path, create=create))


def _seed(access_key=None, principal=None, session=None, ip=None) -> Seed:
    given = [(k, v) for k, v in (("access_key", access_key), ("principal", principal),
                                 ("session", session), ("ip", ip)) if v]
    if len(given) != 1:
        raise ValueError("give exactly one of access_key, principal, session, ip")
    return Seed.of(*given[0])


class Investigation:
    """One case, and the questions graphtrail answers about it."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self._store: MemoryStore | None = None

    @property
    def store(self) -> MemoryStore:
        if self._store is None or not self.case.graph_is_current():
            ensure_graph(self.case)
            self._store = MemoryStore(self.case)
        return self._store

    def ingest(self, *paths: str, workers: int | None = None) -> IngestSummary:
        """Add files or folders to the case (deduplicated), then relink."""
        summary = run_ingest(list(list_files(paths)), self.case, workers=workers)
        link_case(self.case, summary)
        self._store = None
        return summary

    def blast_radius(self, access_key=None, principal=None, session=None, ip=None, *,
                     since: str | None = None, until: str | None = None) -> BlastRadius:
        return blast_radius(self.store, _seed(access_key, principal, session, ip),
                            since=parse_time_bound(since), until=parse_time_bound(until))

    def chains(self, *, cross_account: bool = False, origin: str | None = None,
               to: str | None = None, min_hops: int = 1) -> list[Chain]:
        return chains(self.store, cross_account=cross_account, origin=origin, to=to,
                      min_hops=min_hops)

    def chains_df(self, **kw) -> pd.DataFrame:
        """One row per hop, with the chain it belongs to (times tz-aware, missing None)."""
        rows = [{"chain": i, "origin": c.path[0], **h} for i, c in enumerate(self.chains(**kw))
                for h in c.hops]
        return records_frame(rows)

    def timeline(self, access_key=None, principal=None, session=None, ip=None, *,
                 since: str | None = None, until: str | None = None,
                 lineage: bool = False) -> pd.DataFrame:
        """One row per call, in time order: ``time`` tz-aware (UTC), missing values None."""
        df = timeline(self.store, _seed(access_key, principal, session, ip),
                      since=parse_time_bound(since), until=parse_time_bound(until),
                      lineage=lineage)
        return records_frame(df.to_dict("records"), list(df.columns))

    def findings(self, **kw) -> list[Finding]:
        return findings(self.store, **kw)

    def findings_df(self, **kw) -> pd.DataFrame:
        """One row per finding: first/last seen tz-aware, missing values None."""
        return records_frame([f.to_dict() for f in self.findings(**kw)],
                             list(Finding.__dataclass_fields__))

    def seeds(self, what: str, *, account: str | None = None, since: str | None = None,
              until: str | None = None, like: str | None = None, sort: str = "calls",
              limit: int | None = None) -> pd.DataFrame:
        """What to ask about: ``"keys"``, ``"principals"``, ``"roles"``, ``"ips"`` or ``"accounts"``
        (see graphtrail.queries.inventory), one row each, times as UTC Timestamps."""
        return list_seeds(self.store, what, Window(
            since=parse_time_bound(since), until=parse_time_bound(until), account=account,
            like=like, sort=sort, limit=limit))

    def events(self, columns=None) -> pd.DataFrame:
        """The normalized events (all of them, or only ``columns``)."""
        return self.case.events_df(columns)

    def event(self, *event_ids: str) -> list[dict]:
        """The events an answer cites, by eventID: every field, the credential the graph
        tied each to, and its source (see ``graphtrail event``)."""
        ensure_graph(self.case)
        return events_by_id(self.case, list(event_ids))

    @property
    def graph(self):
        """The whole case graph as a networkx MultiDiGraph."""
        return self.store.graph

    def info(self) -> dict:
        return self.case.info()
