"""Graph facts: nodes and edges with their evidence, and the placeholders that link nothing.

The names they use (node kinds, edge kinds, table columns) are declared once in
:mod:`graphtrail.schema`; this module re-exports them so ``from graphtrail.model import
NodeKind`` keeps working.

* :class:`Node`, :class:`Edge` -- graph facts; every edge carries its evidence
  (first/last seen, count and the eventIDs behind it).

>>> EdgeKind.ISSUED.value
'ISSUED'
>>> event_schema().field("event_id").type
DataType(string)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphtrail.schema import (
    CREDENTIAL_KINDS,
    EVENT_COLUMNS,
    INSIGHT_COLUMNS,
    PRINCIPAL_KINDS,
    EdgeKind,
    NodeKind,
    edge_schema,
    event_schema,
    insight_schema,
    node_schema,
)

__all__ = [
    "EVENT_COLUMNS",
    "INSIGHT_COLUMNS",
    "EVIDENCE_CAP",
    "MASKED_VALUES",
    "NodeKind",
    "EdgeKind",
    "CREDENTIAL_KINDS",
    "PRINCIPAL_KINDS",
    "Node",
    "Edge",
    "event_schema",
    "insight_schema",
    "node_schema",
    "edge_schema",
    "is_masked",
]

# At most this many eventIDs are kept on one edge; ``count`` is always exact and the full list
# is one filter away in the events table.
EVIDENCE_CAP = 20

# Values that are placeholders, never identities: they must not become nodes or links.
MASKED_VALUES = frozenset(
    {
        "",
        "HIDDEN_DUE_TO_SECURITY_REASONS",
        "AKIA****************",
        "ASIA****************",
        "AROA****************",
        "AIDA****************",
        "ANONYMOUS_PRINCIPAL",
        "REDACTED",
        "SAMPLE_ACCESS_KEY",
        "null",
        "None",
    }
)


def is_masked(value: str | None) -> bool:
    """True when ``value`` is empty or a placeholder that must not link anything.

    >>> is_masked("AKIA****************"), is_masked("AKIAIOSFODNN7EXAMPLE"), is_masked(None)
    (True, False, True)
    """
    if not value:
        return True
    return value in MASKED_VALUES or "****" in value


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the identity graph. ``id`` is unique across kinds."""

    id: str
    kind: NodeKind
    label: str
    account: str | None = None
    props: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(slots=True)
class Edge:
    """A relation with its evidence: first/last seen, exact count, sample eventIDs."""

    src: str
    dst: str
    kind: EdgeKind
    first_seen: int  # epoch microseconds, UTC
    last_seen: int
    count: int = 1
    event_ids: list[str] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)
    props: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.src, self.kind.value, self.dst)

    def absorb(self, other: Edge) -> None:
        """Fold another observation of the same relation into this one."""
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.count += other.count
        room = EVIDENCE_CAP - len(self.event_ids)
        if room > 0:
            seen = set(self.event_ids)
            self.event_ids.extend([e for e in other.event_ids if e not in seen][:room])
        for name in other.event_names:
            if name not in self.event_names:
                self.event_names.append(name)
        mine = self.props
        if other.props.get("admin") and not mine.get("admin"):
            # One change that grants everything makes the relation admin, and it is the one
            # shown: its policy, version and event name, not those of a milder first call.
            mine = {**mine, **{k: v for k, v in other.props.items() if not isinstance(v, list)}}
        for k, v in other.props.items():
            cur = mine.get(k)
            if isinstance(cur, list) and isinstance(v, list):
                # accounts a trust let in: every call's, in order of first mention
                mine[k] = cur + [x for x in v if x not in cur]
            else:
                mine.setdefault(k, v)
        self.props = mine


