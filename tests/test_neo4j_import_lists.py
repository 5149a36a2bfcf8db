"""Empty lists in the neo4j-admin import files: written as empty fields, set back by schema.cypher.

neo4j-admin cannot run here. The files are loaded into the test's Bolt server as the least
favourable importer would read them (an empty field: no property, whatever its type), then the
statements of ``schema.cypher`` run, and the graph must be the one ``neo4j push`` leaves,
empty lists included (``tests/test_neo4j_import.py`` compares the files with empty lists left
aside).
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from graphtrail.store.case import Case
from graphtrail.store.neo4j import Neo4jStore
from graphtrail.store.neo4j_case import push_case
from graphtrail.store.neo4j_import import write_import_files
from tests.test_neo4j_import import read_import

pytestmark = pytest.mark.neo4j


def _graph(server: Neo4jStore):
    nodes = {(r["l"], r["p"]["id"]): r["p"] for r in server.run(
        "MATCH (n:Graphtrail) RETURN [x IN labels(n) WHERE x <> 'Graphtrail'][0] AS l, properties(n) AS p")}
    rels = sorted((r["s"], r["t"], r["e"], json.dumps(r["p"], sort_keys=True)) for r in server.run(
        "MATCH (a:Graphtrail)-[r]->(b:Graphtrail) RETURN a.id AS s, type(r) AS t, b.id AS e, properties(r) AS p"))
    return nodes, rels


def _load(server: Neo4jStore, files) -> None:
    """CREATE what the files hold; labels and types come from the files' own headers."""
    nodes = read_import(files.nodes, files.array_delimiter, relationships=False)
    by_label = defaultdict(list)
    for (label, _), (_, props) in nodes.items():
        by_label[label].append(props)
    for label, rows in by_label.items():
        server.write(f"UNWIND $rows AS r CREATE (n:{label}:Graphtrail) SET n = r", {"rows": rows})
    by_type = defaultdict(list)
    for sl, s, t, el, e, props in read_import(files.relationships, files.array_delimiter, relationships=True):
        by_type[(sl, t, el)].append({"s": s, "e": e, "p": json.loads(props)})
    for (sl, t, el), rows in by_type.items():
        server.write(f"UNWIND $rows AS r MATCH (a:{sl} {{id: r.s}}) MATCH (b:{el} {{id: r.e}}) "
                     f"CREATE (a)-[x:{t}]->(b) SET x = r.p", {"rows": rows})


def test_empty_lists_come_back_after_schema_cypher(scenario, bolt_server, tmp_path):
    store, _ = scenario
    server = Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, bolt_server.database)
    try:
        server.write("MATCH (n) DETACH DELETE n")
        push_case(store.case, server)
        want_nodes, want_rels = _graph(server)
        assert any('"event_ids": []' in r[3] for r in want_rels)  # IN_ACCOUNT edges have none

        files = write_import_files(Case.open(store.case.path), tmp_path / "import")
        assert files.empty_lists > 0 and files.empty_lists_unrestored == 0
        text = files.schema.read_text(encoding="utf-8")
        assert all(f"{s};" in text for s in files.restore_empty_lists)
        server.write("MATCH (n) DETACH DELETE n")
        _load(server, files)
        before = _graph(server)[1]
        assert before != want_rels  # the empty lists are missing until schema.cypher runs
        for statement in files.restore_empty_lists:
            server.write(statement)
        got_nodes, got_rels = _graph(server)
    finally:
        server.close()
    # datetimes went in as the files' text; the server gives DATETIMEs back spelt the same way
    assert got_nodes == want_nodes
    assert got_rels == want_rels
