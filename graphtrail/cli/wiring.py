"""Joins the loaders to the case: the only code besides the CLI that imports both sides."""

from __future__ import annotations

import time

from graphtrail.store.case import Case
from graphtrail.store.memory import lineage_edges
from loaders.facts.build import build_graph

__all__ = ["build_case_graph", "ensure_graph"]


def build_case_graph(case: Case) -> dict:
    """Link credentials and build the graph from every event of ``case``; store it."""
    t0 = time.perf_counter()
    work = case.graph_workdir()
    facts = build_graph(case.event_batches, work / "activity.parquet")
    meta = {"seconds": round(time.perf_counter() - t0, 3), "nodes": facts.nodes.num_rows,
            "edges": facts.edges.num_rows, "sessions": facts.sessions.num_rows,
            "activity": facts.activity_rows}
    case.commit_graph(work, {"nodes": facts.nodes, "edges": facts.edges,
                             "lineage": lineage_edges(facts.edges),
                             "sessions": facts.sessions}, meta)
    return meta


def ensure_graph(case: Case) -> None:
    """Build the graph if the events changed since it was last built."""
    if not case.graph_is_current():
        build_case_graph(case)
