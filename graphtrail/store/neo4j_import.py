"""Files for ``neo4j-admin database import full``: the graph ``neo4j push`` writes, offline.

A fresh Neo4j database loads a large case far faster from CSV files with the offline importer
than over Bolt. :func:`write_import_files` writes, from a case, the nodes, relationships and
properties :func:`graphtrail.store.neo4j_case.push_case` would leave in an empty database: the
same labels (each kind and ``Graphtrail``; ``Call`` for calls), the same property names and
types (``DATETIME`` times, ``LONG`` counts, string lists), the ``MADE`` edges of the calls and
the ``DERIVES`` edges ``cypher/derived_credentials.cypher`` writes at push, computed here in
Python. The rows come from the functions the push sends (:func:`~graphtrail.store.neo4j._node_rows`,
:func:`~graphtrail.store.neo4j._edge_rows`, :func:`~graphtrail.store.neo4j_calls.call_groups`), so
the two cannot drift apart.

The CSV is strict: every text field quoted (``"`` doubled inside), so commas, quotes and
newlines in CloudTrail values survive; a missing property is an empty unquoted field; an empty
text is ``""``. One file per label (and per relationship type with its end labels), with
neo4j-admin's header: ``id:ID(Session)``, ``:LABEL``, ``count:long``, ``event_ids:string[]``,
``:START_ID(Session)``, ``:END_ID(Role)``, ``:TYPE``. A list cannot escape its delimiter, so
the array delimiter is a character that no listed value contains (``;`` unless one does).

An empty list (the push stores ``[]``: the eventIDs of an ``IN_ACCOUNT`` edge) has no form
that every neo4j-admin reads back as ``[]``: an empty array field is an empty array in some
versions and no property in others (Neo4j 5's CSV reader treats an empty array as an empty
value). So it is written as an empty field, and ``schema.cypher``, run once the database is up,
sets it back: ``SET r.event_ids = []`` where the property is missing, for each label (or type
and end labels) whose every row has that property; where the push leaves it missing on some
rows, the gap cannot be told from an empty list and it is counted in
:attr:`ImportFiles.empty_lists_unrestored` instead. Either way the import leaves the graph the
push leaves.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphtrail.schema import OWN_LABEL, EdgeKind, NodeKind
from graphtrail.store.case import Case
from graphtrail.store.neo4j import (
    _DATETIMES,
    _NAME,
    _batches,
    _edge_rows,
    _node_rows,
    _split,
    _with_endpoint_kinds,
    schema_statements,
)
from graphtrail.store.neo4j_calls import call_groups
from graphtrail.store.neo4j_case import call_index_statements, session_nodes

__all__ = ["ImportFiles", "write_import_files", "import_command", "ARRAY_DELIMITERS"]

ARRAY_DELIMITERS = (";", "|", "^", "~", "\x1f")


class DateTime(str):
    """A property the push stores with ``datetime()``: ISO 8601 text in UTC."""


@dataclass
class ImportFiles:
    """What :func:`write_import_files` wrote: files, counts, the delimiter chosen."""

    out: Path
    nodes: list[Path] = field(default_factory=list)
    relationships: list[Path] = field(default_factory=list)
    node_count: int = 0
    relationship_count: int = 0
    array_delimiter: str = ";"
    skipped_edges: int = 0  # an endpoint is missing from the nodes table, as at push
    empty_lists: int = 0  # written as empty fields; schema.cypher sets them back
    empty_lists_unrestored: int = 0  # in a label whose other rows lack the property
    restore_empty_lists: list[str] = field(default_factory=list)  # the statements in schema.cypher
    schema: Path | None = None


def write_import_files(case: Case, out: Path, *, calls: bool = True, batch_size: int = 10_000) -> ImportFiles:
    """Write the import files of ``case`` into ``out`` (created; must hold no CSV files yet)."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.csv")):
        raise ValueError(f"{out}: already holds CSV files; give an empty folder")
    nodes = session_nodes(case.graph_table("nodes"), case.graph_table("sessions"))
    edges, skipped = _with_endpoint_kinds(case.graph_table("edges"), nodes)
    result = ImportFiles(out, skipped_edges=skipped)

    node_props: dict[NodeKind, dict[str, dict[str, Any]]] = {}
    for kind, table in _split(nodes, "kind", NodeKind):
        node_props[kind] = rows = {}
        for batch in _batches(table, batch_size):
            for r in _node_rows(batch):
                if r["id"] in rows:
                    raise ValueError(f"nodes table: {kind.value} {r['id']!r} appears twice")
                rows[r["id"]] = {**r["props"], "id": r["id"], "label": r["label"], "account": r["account"]}
    rels: dict[tuple[str, NodeKind, NodeKind], list[tuple[str, str, dict]]] = defaultdict(list)
    for kind, by_kind in _split(edges, "kind", EdgeKind):
        for src, by_src in _split(by_kind, "src_kind", NodeKind):
            for dst, table in _split(by_src, "dst_kind", NodeKind):
                for batch in _batches(table, batch_size):
                    for r in _edge_rows(batch):
                        props = dict(r["props"])
                        for p in _DATETIMES:
                            if r[p] is not None:
                                props[p] = DateTime(r[p])
                        rels[(kind.value, src, dst)].append((r["src"], r["dst"], props))
    for key, found in _derived(node_props, rels).items():
        rels[key] = found

    groups = call_groups(case.graph_dir() / "activity.parquet") if calls else []
    listed = [v for rows in node_props.values() for p in rows.values() for v in p.values()]
    listed += [v for found in rels.values() for _, _, p in found for v in p.values()]
    listed += [v for g in groups for v in g["props"].values()]  # a call's detail may hold any text
    result.array_delimiter = _array_delimiter(x for v in listed if isinstance(v, list) for x in v)

    writer = _Writer(result)
    for kind, rows in node_props.items():
        writer.nodes(kind.value, [((i, [kind.value, OWN_LABEL]), p) for i, p in rows.items()])
    for (rel, src, dst), found in rels.items():
        writer.relationships(rel, src.value, dst.value, [((s, d), p) for s, d, p in found])
    if calls:
        _write_calls(groups, writer, node_props)
    result.schema = out / "schema.cypher"
    result.restore_empty_lists = writer.restore_statements()
    result.schema.write_text(";\n".join([*schema_cypher(), *result.restore_empty_lists]) + ";\n",
                             encoding="utf-8")
    return result


def schema_cypher() -> list[str]:
    """The constraints and indexes the push creates, to run once the imported database is up."""
    return [schema_statements(kind)[0] for kind in NodeKind] + call_index_statements()


def import_command(files: ImportFiles, database: str = "neo4j", *, overwrite: bool = False) -> str:
    """The ``neo4j-admin database import full`` command line for ``files`` (POSIX shell quoting)."""
    delim = files.array_delimiter
    shown = "$'\\x1f'" if delim == "\x1f" else f"'{delim}'"
    parts = ["neo4j-admin database import full", f"--array-delimiter={shown}",
             "--multiline-fields=true"]
    if overwrite:
        parts.append("--overwrite-destination=true")
    parts += [f"--nodes={_sh(p)}" for p in files.nodes]
    parts += [f"--relationships={_sh(p)}" for p in files.relationships]
    return " \\\n  ".join([*parts, _sh(database)])


def _sh(text: object) -> str:
    s = str(text)
    if s and all(c.isalnum() or c in "/._-+=:@" for c in s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _write_calls(groups: list[dict], writer: _Writer, node_props: dict) -> None:
    ids = {kind.value: set(rows) for kind, rows in node_props.items()}
    nodes: list = []
    made: dict[str, list] = defaultdict(list)
    for g in groups:
        nodes.append(((g["id"], [NodeKind.CALL.value, OWN_LABEL]), {**g["props"], "id": g["id"]}))
        if g["actor"] in ids.get(g["actor_kind"], ()):  # the push MATCHes the actor first
            made[g["actor_kind"]].append(((g["actor"], g["id"]), {}))
    writer.nodes(NodeKind.CALL.value, nodes)
    for kind, found in sorted(made.items()):
        writer.relationships(EdgeKind.MADE.value, kind, NodeKind.CALL.value, found)


def _derived(nodes: dict[NodeKind, dict[str, dict]], rels: dict) -> dict[tuple, list]:
    """The DERIVES relationships of ``cypher/derived_credentials.cypher``, in Python."""
    kind_of = {i: k for k, rows in nodes.items() for i in rows}
    issued = {i: p.get("issued_us") for i, p in nodes.get(NodeKind.SESSION, {}).items()}
    out_edges: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)  # src -> (kind, dst, props)
    principals_of: dict[str, set[str]] = defaultdict(set)  # node -> its OF_PRINCIPAL targets
    sessions_of: dict[str, set[str]] = defaultdict(set)  # principal -> its sessions
    for (rel, src_kind, _), found in rels.items():
        for s, d, p in found:
            out_edges[s].append((rel, d, p))
            if rel == EdgeKind.OF_PRINCIPAL.value:
                principals_of[s].add(d)
                if src_kind is NodeKind.SESSION:
                    sessions_of[d].add(s)
    steps: dict[tuple[str, str, str], Any] = {}  # (a, via, b) -> time_us; MERGE keeps one

    def step(a: str, via: str, b: str, time_us: Any) -> None:
        steps.setdefault((a, via, b), time_us)

    def console(a: str, r: dict, principal: str) -> None:
        since = r.get("first_seen_us")
        for b in sorted(sessions_of.get(principal, ())):
            t = issued.get(b)
            if t is not None and t != 0 and (since is None or t >= since):
                step(a, "CONSOLE_AFTER_CHANGE", b, t)

    for a in sorted(out_edges):
        for rel, b, r in out_edges[a]:
            if rel == EdgeKind.ISSUED.value:
                step(a, "ISSUED", b, r.get("first_seen_us"))
            elif rel == EdgeKind.CREATED.value and kind_of.get(b) is NodeKind.ACCESS_KEY:
                step(a, "CREATED", b, r.get("first_seen_us"))
            elif rel == EdgeKind.CREATED.value and kind_of.get(b) is NodeKind.USER:
                for rel2, key, _ in out_edges.get(b, ()):
                    if rel2 == EdgeKind.HAS_KEY.value:
                        step(a, "CREATED_USER_KEY", key, r.get("first_seen_us"))
                console(a, r, b)
            elif rel == EdgeKind.CREATED.value and kind_of.get(b) is NodeKind.LOGIN_PROFILE:
                for p in sorted(principals_of.get(b, ())):
                    console(a, r, p)
            elif rel == EdgeKind.CHANGED.value and r.get("change") == "UpdateLoginProfile":
                for p in sorted(principals_of.get(b, ())):
                    console(a, r, p)
    derived: dict[tuple, list] = defaultdict(list)
    for (a, via, b), t in steps.items():
        props = {"via": via} if t is None else {"via": via, "time_us": t}
        derived[(EdgeKind.DERIVES.value, kind_of[a], kind_of[b])].append((a, b, props))
    return derived


def _array_delimiter(values: Iterable[Any]) -> str:
    used = set()
    for v in values:
        if isinstance(v, str):
            used.update(c for c in ARRAY_DELIMITERS if c in v)
            if len(used) == len(ARRAY_DELIMITERS):
                break
    for c in ARRAY_DELIMITERS:
        if c not in used:
            return c
    raise ValueError(f"every array delimiter ({ARRAY_DELIMITERS!r}) occurs in a listed value")


_SCALAR_TYPES = ((bool, "boolean"), (int, "long"), (float, "double"), (DateTime, "datetime"), (str, "string"))


def _type(value: Any) -> str | None:
    """neo4j-admin's type of a property value; None for an empty list (not representable)."""
    if isinstance(value, list):
        if not value:
            return None
        types = {_type(v) for v in value}
        if len(types) != 1 or None in types or next(iter(types)).endswith("[]"):
            raise ValueError(f"a list property must hold scalars of one type: {value[:5]!r}")
        return f"{types.pop()}[]"
    for t, name in _SCALAR_TYPES:
        if isinstance(value, t):
            return name
    raise ValueError(f"no import type for {type(value).__name__} {value!r}")


def _checked(name: str) -> str:
    """A label, type or property name spelt into schema.cypher: a plain identifier, never data."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r}: not a plain name; cannot be written into schema.cypher")
    return name


class _Writer:
    """Writes node and relationship files, one per label (type and end labels), split further
    when a property has different types in two rows (a column has one type)."""

    def __init__(self, result: ImportFiles) -> None:
        self.result = result
        self.delim = result.array_delimiter
        self.names: set[str] = set()
        # (pattern, property) -> (rows with an empty list, rows without the property)
        self.empties: dict[tuple[str, str], tuple[int, int]] = {}

    def nodes(self, label: str, rows: list[tuple[tuple[str, list[str]], dict]]) -> None:
        head = [f"id:ID({label})", ":LABEL"]
        self._note_empty_lists(f"(x:{_checked(label)}:{OWN_LABEL})", [p for _, p in rows])
        for path, n in self._files(f"nodes_{label}", head, rows, drop="id"):
            self.result.nodes.append(path)
            self.result.node_count += n

    def relationships(self, rel: str, src: str, dst: str, rows: list[tuple[tuple[str, str], dict]]) -> None:
        head = [f":START_ID({src})", f":END_ID({dst})", ":TYPE"]
        rows = [((s, d, rel), p) for (s, d), p in rows]
        self._note_empty_lists(f"(:{_checked(src)}:{OWN_LABEL})-[x:{_checked(rel)}]->(:{_checked(dst)}:{OWN_LABEL})",
                               [p for _, p in rows])
        for path, n in self._files(f"rels_{rel}_{src}_{dst}", head, rows):
            self.result.relationships.append(path)
            self.result.relationship_count += n

    def _files(self, stem: str, head: list[str], rows: list, drop: str | None = None) -> Iterator[tuple[Path, int]]:
        typed = []
        for fixed, props in rows:
            kept = {}
            for k, v in props.items():
                if k == drop or v is None:
                    continue
                t = _type(v)
                if t is None:  # an empty list: an empty field (see the module docstring)
                    continue
                kept[k] = (t, v)
            typed.append((fixed, kept))
        types: dict[str, set[str]] = defaultdict(set)
        for _, kept in typed:
            for k, (t, _) in kept.items():
                types[k].add(t)
        mixed = sorted(k for k, ts in types.items() if len(ts) > 1)
        groups: dict[tuple, list] = defaultdict(list)
        for fixed, kept in typed:
            groups[tuple((k, kept[k][0]) for k in mixed if k in kept)].append((fixed, kept))
        for n, (variant, group) in enumerate(sorted(groups.items())):
            columns = {k: next(iter(ts)) for k, ts in types.items() if len(ts) == 1} | dict(variant)
            names = sorted(columns)
            path = self.result.out / (f"{stem}.csv" if n == 0 else f"{stem}_{n + 1}.csv")
            with path.open("w", encoding="utf-8", newline="") as f:
                f.write(",".join([*head, *(f"{k}:{columns[k]}" for k in names)]) + "\n")
                for fixed, kept in group:
                    cells = [self._cell(v) for v in fixed]
                    cells += [self._cell(kept[k][1]) if k in kept else "" for k in names]
                    f.write(",".join(cells) + "\n")
            yield path, len(group)

    def _note_empty_lists(self, pattern: str, rows: list[dict]) -> None:
        """Count, per property, the rows holding an empty list and the rows without it."""
        names = {k for p in rows for k, v in p.items() if v == []}
        for name in sorted(names):
            empty = sum(1 for p in rows if p.get(name) == [])
            absent = sum(1 for p in rows if p.get(name) is None)
            self.empties[(pattern, _checked(name))] = (empty, absent)
            self.result.empty_lists += empty
            if absent:
                self.result.empty_lists_unrestored += empty

    def restore_statements(self) -> list[str]:
        """``SET x.p = []`` where an empty list was written as an empty field and every other
        row of the label (or type) has the property: a missing one can only be an empty list."""
        return [f"MATCH {pattern} WHERE x.{name} IS NULL SET x.{name} = []"
                for (pattern, name), (_, absent) in sorted(self.empties.items()) if not absent]

    def _cell(self, value: Any) -> str:
        if isinstance(value, list):
            text = self.delim.join(self._text(v) for v in value)
        else:
            text = self._text(value)
            if isinstance(value, bool | int | float) and not isinstance(value, str):
                return text
        return '"' + text.replace('"', '""') + '"'

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"a property is {value}: neo4j-admin reads no such number")
            return repr(value)
        return str(value)

