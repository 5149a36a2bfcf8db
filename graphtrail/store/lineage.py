"""The lineage of a case as a read-only multigraph, without networkx.

Every seeded question walks the lineage (who issued, created or changed which credential).
Built as a :class:`networkx.MultiDiGraph`, it cost a cold question a third of a second at
a million events: a tenth to import networkx, the rest to make a dict of data for every
one of its tens of thousands of relations, when a question reads a few hundred of them.

:class:`Lineage` answers the part of the ``MultiDiGraph`` interface the questions use
(``n in g``, ``g.nodes[n]``, ``out_edges``, ``in_edges``, ``edges``, ``successors``,
``predecessors``) with the same values in the same order: a relation's data is made the
first time it is read. The Neo4j store's lineage stays a ``MultiDiGraph``; the questions
read both the same way (``tests/test_lineage_graph.py`` compares them relation by
relation).

>>> import pyarrow as pa
>>> edges = pa.table({"src": ["key:A", "key:A"], "dst": ["sess:1", "sess:1"],
...                   "kind": ["ISSUED", "ISSUED"], "first_seen": [1, 1], "last_seen": [1, 2],
...                   "count": [1, 1], "event_ids": [["e1"], ["e2"]], "event_names": [None, None],
...                   "props": ['{"via": "AssumeRole"}', None]})
>>> g = Lineage(edges, {})
>>> list(g.out_edges("key:A", keys=True, data=True))[0][3]["event_ids"], "sess:1" in g
(['e2'], True)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import msgspec
import pyarrow as pa

from graphtrail.bulk import collector_paused

__all__ = ["Lineage", "edge_props", "parse_props"]


class _Ordered:
    """The nodes of a lineage, in id order: ``n in``, ``iter``, ``len``."""

    _order: list[str]
    _succ: dict

    def __contains__(self, n: object) -> bool:
        return n in self._succ

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


class Lineage(_Ordered):
    """A read-only directed multigraph of the lineage edges, keyed by edge kind.

    ``edges`` has the columns of :func:`graphtrail.model.edge_schema`; ``info`` maps node
    ids to ``{"kind", "label", "account", "props"}`` (the store's ``node_info``). As the
    ``MultiDiGraph`` the embedded store built before: the nodes are the relations' ends
    in id order, each with its case data (``Resource`` data when the case does not know
    it); two rows of one (source, target, kind) are one relation whose data the later row
    updates; neighbours come in the order of their first relation.
    """

    def __init__(self, edges: pa.Table, info: Mapping[str, dict]) -> None:
        with collector_paused():
            self._cols = _columns(edges)
            src, dst, kinds = self._cols["src"], self._cols["dst"], self._cols["kind"]
            succ: dict[str, dict[str, dict[str, list[int]]]] = {}
            pred: dict[str, dict[str, dict[str, list[int]]]] = {}
            for i in range(len(src)):
                u, v, k = src[i], dst[i], kinds[i]
                out = succ.get(u)
                if out is None:
                    out = succ[u] = {}
                    pred.setdefault(u, {})
                keyed = out.get(v)
                if keyed is None:
                    ins = pred.get(v)
                    if ins is None:
                        ins = pred[v] = {}
                        succ.setdefault(v, {})
                    keyed = out[v] = ins[u] = {}
                rows = keyed.get(k)
                if rows is None:
                    keyed[k] = [i]
                else:
                    rows.append(i)
        self._order = sorted(succ)  # networkx iterated the nodes in the order they were added
        self._succ, self._pred = succ, pred
        self._data: dict[tuple[str, str, str], dict] = {}
        self._parsed: dict[str, tuple[dict, bool]] = {}
        self.nodes = _Nodes(self._order, succ, info)

    # -- nodes (n in g, iter(g), len(g): _Ordered) -----------------------------------------
    def successors(self, n: str) -> Iterator[str]:
        return iter(self._succ[n])

    def predecessors(self, n: str) -> Iterator[str]:
        return iter(self._pred[n])

    # -- relations -----------------------------------------------------------------------
    def out_edges(self, n: str | None = None, keys: bool = False, data: bool = False) -> Iterator[tuple]:
        """``(n, target[, kind][, data])`` of each relation leaving ``n`` (every node's: None)."""
        for u in self._order if n is None else (n,) if n in self._succ else ():
            for v, keyed in self._succ[u].items():
                for k in keyed:
                    yield self._edge(u, v, k, keys, data)

    def in_edges(self, n: str | None = None, keys: bool = False, data: bool = False) -> Iterator[tuple]:
        """``(source, n[, kind][, data])`` of each relation reaching ``n``."""
        for v in self._order if n is None else (n,) if n in self._pred else ():
            for u, keyed in self._pred[v].items():
                for k in keyed:
                    yield self._edge(u, v, k, keys, data)

    def edges(self, keys: bool = False, data: bool = False) -> Iterator[tuple]:
        return self.out_edges(None, keys=keys, data=data)

    def number_of_edges(self) -> int:
        return sum(len(keyed) for out in self._succ.values() for keyed in out.values())

    def _edge(self, u: str, v: str, k: str, keys: bool, data: bool) -> tuple:
        if not data:
            return (u, v, k) if keys else (u, v)
        d = self._data.get((u, v, k))
        if d is None:
            d = self._data[(u, v, k)] = self._make(self._succ[u][v][k])
        return (u, v, k, d) if keys else (u, v, d)

    def _make(self, rows: list[int]) -> dict:
        c = self._cols
        d: dict = {}
        for i in rows:  # as add_edge does for a (source, target, kind) it has: updated
            d.update({"kind": c["kind"][i], "first_seen": c["first_seen"][i],
                      "last_seen": c["last_seen"][i], "count": c["count"][i],
                      "event_ids": c["event_ids"][i] or [], "event_names": c["event_names"][i] or []})
            if c["props"][i]:
                d.update(edge_props(c["props"][i], self._parsed))
        return d


class _Nodes(_Ordered, Mapping):
    """``g.nodes``: node id -> its data, made when first read."""

    def __init__(self, order: list[str], succ: dict, info: Mapping[str, dict]) -> None:
        self._order, self._succ, self._info = order, succ, info
        self._made: dict[str, dict] = {}

    def __getitem__(self, nid: str) -> dict:
        d = self._made.get(nid)
        if d is None:
            if nid not in self._succ:
                raise KeyError(nid)
            if nid in self._info:
                n = self._info[nid]
                d = {"kind": n["kind"], "label": n["label"], "account": n["account"], **n["props"]}
            else:
                d = {"kind": "Resource", "label": nid, "account": None}
            self._made[nid] = d
        return d

    def __call__(self, data: bool = False) -> Iterator:
        return ((n, self[n]) for n in self._order) if data else iter(self._order)


def _columns(edges: pa.Table) -> dict[str, list]:
    cols = {}
    for c in edges.column_names:
        col = edges.column(c)
        if c in ("first_seen", "last_seen"):
            col = col.cast(pa.int64())
        cols[c] = col.to_pylist()
    return cols


def edge_props(text: str, parsed: dict[str, tuple[dict, bool]]) -> dict:
    """A relation's JSON props, parsed once per distinct text; parsed afresh for each
    relation when they hold lists or dicts, so that no two relations share a mutable value."""
    hit = parsed.get(text)
    if hit is None:
        value = parse_props(text)
        hit = parsed[text] = (value, any(isinstance(v, list | dict) for v in value.values()))
    return parse_props(text) if hit[1] else hit[0]


def parse_props(text: str):
    """Stored props, parsed (msgspec: a fifth of the time of ``json``, which still reads what
    only it accepts, such as ``NaN``)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)

