"""What a store offers the questions. Both stores implement it; one test suite runs on both.

The questions (graphtrail.queries) only use these members, so they run unchanged on the
embedded store (networkx + Arrow) and on Neo4j (each member one file of cypher/).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:  # the graphs' type only: a question that walks no graph (chains) never imports it
    import networkx as nx

    from graphtrail.store.lineage import Lineage

__all__ = ["GraphStore", "ViewStore", "CALL_SUMMARY_SCHEMA"]

CALL_SUMMARY_SCHEMA = pa.schema([
    ("actor", pa.string()), ("source_ip", pa.string()), ("recipient_account_id", pa.string()),
    ("region", pa.string()), ("first", pa.int64()), ("last", pa.int64()), ("calls", pa.int64()),
    ("errors", pa.int64()),
])


@runtime_checkable
class GraphStore(Protocol):
    backend: str

    @property
    def lineage(self) -> nx.MultiDiGraph | Lineage:
        """Credentials, principals and the edges deriving one from another (LINEAGE_EDGES).

        Read only as a ``MultiDiGraph`` is: ``n in g``, ``g.nodes[n]``, ``out_edges``,
        ``in_edges``, ``edges``, ``successors``, ``predecessors`` (what
        :class:`graphtrail.store.lineage.Lineage` answers)."""

    @property
    def session_info(self) -> Mapping[str, dict]:
        """Session id -> its row of graphtrail.store.memory's sessions table (times in µs)."""

    @property
    def node_info(self) -> Mapping[str, dict]:
        """Node id -> {id, kind, label, account, props}."""

    def calls(self, columns: list[str], *, actors: Iterable[str] | None = None,
              event_names: Iterable[str] | None = None, source_ip: str | None = None,
              since: int | None = None, until: int | None = None) -> pa.Table:
        """Calls (activity rows) matching every filter given, in time order."""

    def call_summary(self, *, since: int | None = None, until: int | None = None,
                     account: str | None = None) -> pa.Table:
        """Calls in the window (recorded in or made from ``account``, when given) grouped by
        actor, source_ip, recipient_account_id and region, with first and last (epoch µs),
        calls and errors (calls with an error code): :data:`CALL_SUMMARY_SCHEMA`."""

    def actors_from_ip(self, ip: str) -> set[str]:
        """Credentials seen calling from ``ip``."""


@runtime_checkable
class ViewStore(GraphStore, Protocol):
    """What the views read beyond the questions' protocol: the whole graph to draw, and the
    case whose files are the evidence a report cites (source files, SHA-256, integrity).

    The report and the graph view take a ViewStore (graphtrail.views.report.build_report,
    graphtrail.views.graph.focus); nothing else of a store.
    """

    @property
    def graph(self) -> nx.MultiDiGraph:
        """Every node and relation of the case (IN_ACCOUNT, FROM_IP, ACTED_ON... included)."""

    @property
    def case(self):
        """The case folder (:class:`graphtrail.store.case.Case`) the answers come from."""
