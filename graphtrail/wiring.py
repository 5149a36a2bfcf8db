"""The composition root: joins the loaders to the case (ingest, link, build the graph).

The only module of the library that imports both sides; the CLI and the Python API
(:mod:`graphtrail.api`) call it, and it imports neither of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import TYPE_CHECKING

from graphtrail.store.case import Case, CaseError, IngestSummary

if TYPE_CHECKING:
    from loaders.limits import Limits

__all__ = ["build_case_graph", "ensure_graph", "run_ingest", "link_case"]


def run_ingest(objects, case: Case, *, workers: int | None = None, progress=None,
               limits: Limits | None = None, keep_sources: bool = False) -> IngestSummary:
    """Read ``objects`` (an iterable of SourceObject) into ``case``; return the summary.

    ``keep_sources``: the case also keeps a copy of each object read (its bytes as read,
    named by their SHA-256), so that the records stay provable when the sources are gone;
    an object the case already holds is copied too, unless its copy is there.
    """
    from loaders.pipeline import run_pipeline

    with case.ingest() as session:
        for part in run_pipeline(objects, session.staging, workers=workers,
                                 known_sha256=case.known_sha256(), limits=limits,
                                 keep_sources=session.kept_sources if keep_sources else None,
                                 kept_sha256=case.kept_sha256() if keep_sources else ()):
            session.add(part)
            if progress is not None:
                progress(part, session.summary)
    return session.summary


def link_case(case: Case, summary: IngestSummary,
              progress: Callable[[int, int], None] | None = None) -> None:
    """Link credentials over the whole case once the events are in (files arrive out of
    order); the build's figures go into ``summary.graph``."""
    meta = ensure_graph(case, progress, wait=True)
    if meta is not None:  # None: current already (another process built it since the commit)
        summary.graph = {k: meta[k] for k in ("nodes", "edges", "sessions", "seconds")}


# Two passes over the events: who issued what (from the facts the ingest kept beside each
# part, or read from the part), then every call.
GRAPH_PASSES = 2
GRAPH_STAGES = GRAPH_PASSES + 1  # and writes the calls clustered by actor


def build_case_graph(case: Case, progress: Callable[[int, int], None] | None = None) -> dict:
    """Link credentials and build the graph from every event of ``case``; store it.

    Runs under the case lock (waiting for a writer to finish), in a folder of its own.
    ``progress(done, total)`` is told of every batch read and of the calls clustered by
    actor as they are written (``total``: events x :data:`GRAPH_STAGES`; a third each).
    """
    with case.writing(wait=True):
        return _build(case, progress)


def _build(case: Case, progress: Callable[[int, int], None] | None = None) -> dict:
    # The loaders are imported here: a question on a current graph never needs them.
    import pyarrow as pa

    from graphtrail.model import edge_schema
    from graphtrail.store.by_actor import SORT_ROWS
    from graphtrail.store.memory import lineage_edges
    from loaders.facts.build import build_graph

    t0 = time.perf_counter()
    work = case.graph_workdir()
    read = case.event_batches
    events = case.event_count()
    tally = _Tally(progress, events * GRAPH_STAGES)
    clustered = tally.stage(2 * events)  # the calls, once the two passes are done
    if progress is not None:
        read = _counted(case.event_batches, tally)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="calls-by-actor") as pool:
        by_actor: list[Future] = []
        roots: dict[str, str] = {}

        def activity_written(rows: int, session_roots: dict[str, str]) -> None:
            roots.update(session_roots)
            # Clustered alongside the nodes and edges only when its sort is one slice:
            # beyond, its slices and the edges' strings together would hold the peak.
            if rows <= SORT_ROWS:
                by_actor.append(pool.submit(case.write_calls_by_actor, work, clustered, roots))

        facts = build_graph(read, work / "activity.parquet", activity_written=activity_written,
                            first_pass=_first_pass(case, tally))
        lineage: list[pa.Table] = []

        def edges() -> Iterator[pa.Table]:  # written a slice at a time; the lineage kept aside
            for part in facts.edges:
                lineage.append(lineage_edges(part))
                yield part

        edge_rows = case.write_graph_slices(work, "edges", edges(), edge_schema())
        seconds = round(time.perf_counter() - t0, 3)  # as before: the clustering not counted
    # leaving the pool waited for the clustering, on an error too (nothing writes in the
    # folder after this); its own error is raised here
    for f in by_actor:
        f.result()
    if not by_actor:  # more calls than one slice: clustered now, the edges' memory freed
        case.write_calls_by_actor(work, clustered, roots)
    tally.finish()
    meta = {"seconds": seconds, "nodes": facts.nodes.num_rows,
            "edges": edge_rows, "sessions": facts.sessions.num_rows,
            "activity": facts.activity_rows}
    case.commit_graph(work, {"nodes": facts.nodes,
                             "lineage": pa.concat_tables(lineage or [edge_schema().empty_table()]),
                             "sessions": facts.sessions}, meta)
    return meta


def ensure_graph(case: Case, progress: Callable[[int, int], None] | None = None, *,
                 wait: bool = False) -> dict | None:
    """Build the graph if the events changed since it was last built; the build's meta, or
    None when there was nothing to build.

    While another process writes the case (an ingest, or a build), a reader answers from the
    last complete graph rather than wait (unless ``wait``, or there is no graph at all).
    """
    if case.graph_is_current():
        return None
    with ExitStack() as held:
        try:
            held.enter_context(case.writing(wait=wait or not case.has_graph()))
        except CaseError:
            return None  # a writer holds the case: read the last complete graph
        if case.graph_is_current():
            return None  # built by the writer we waited for
        return _build(case, progress)


class _Tally:
    """The graph build's progress, counted from the threads that read and cluster:
    ``progress(done, total)`` told of each step, never above ``total``."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        import threading

        self.progress, self.total, self.done = progress, total, 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        if self.progress is None:
            return
        with self._lock:
            self.done += n
            self.progress(min(self.done, self.total), self.total)

    def stage(self, start: int) -> Callable[[int], None]:
        """A counter for a later stage: its first step counts from ``start``."""
        def tick(n: int) -> None:
            with self._lock:
                self.done = max(self.done, start)
            self(n)
        return tick

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


def _first_pass(case: Case, tally: _Tally) -> Iterator:
    """The first pass's facts of every events part, in the case's order: kept beside the
    part by the ingest that wrote it, or made now from the part's events (a part of an
    older case, or one whose duplicates were dropped)."""
    from loaders.facts.aggregate import rebatch
    from loaders.facts.observed import FIRST_PASS_COLUMNS, facts_schema, first_pass_facts, rows_of

    schema = facts_schema()
    for part in case.event_parts():
        facts = case.linking_facts(part)
        if facts is not None and facts.schema.equals(schema):
            tally(rows_of(facts))
            yield facts
            continue
        for batch in rebatch(case.event_batches(FIRST_PASS_COLUMNS, parts=[part])):
            tally(batch.num_rows)
            yield first_pass_facts(batch)


def _counted(read_batches, tally: _Tally):
    def read(columns, *args, **kwargs):
        for batch in read_batches(columns, *args, **kwargs):
            tally(batch.num_rows)
            yield batch

    return read
