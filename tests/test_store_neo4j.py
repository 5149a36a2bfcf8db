"""Neo4jStore against a real Bolt server: ArcadeDB from the wheel, or ``NEO4J_URI`` when set.

Each test starts from an empty graph: the server's database is wiped (see tests/bolt_fixture.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pyarrow as pa
import pytest

from graphtrail.model import EdgeKind, NodeKind, edge_schema, node_schema
from graphtrail.store.neo4j import Neo4jStore
from tests.bolt_server import BoltServer

pytestmark = pytest.mark.neo4j

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
HOSTILE = 'it\'s "quoted" `tick` }) DETACH DELETE n // \n {x: $rows} \\ ünï'

USER = "arn:aws:iam::111122223333:user/alice"
KEY = "AKIAIOSFODNN7EXAMPLE"
ROLE = "arn:aws:iam::111122223333:role/admin"
S1 = "ASIAAAAAAAAAAAAAAAA1"
S2 = "ASIAAAAAAAAAAAAAAAA2"
IP = "203.0.113.9"
BUCKET = "arn:aws:s3:::loot"


def _nodes(extra: tuple | list = ()) -> pa.Table:
    rows = [
        (USER, NodeKind.USER, "alice", "111122223333", {"mfa": True, "tags": ["ops", "dev"]}),
        (KEY, NodeKind.ACCESS_KEY, KEY, "111122223333", {}),
        (ROLE, NodeKind.ROLE, "admin", "111122223333", {"trust": {"Principal": "*"}}),
        (S1, NodeKind.SESSION, "alice-session", "111122223333", {"duration": 3600}),
        (S2, NodeKind.SESSION, HOSTILE, None, {"note": HOSTILE}),
        (IP, NodeKind.IP, IP, None, None),
        (BUCKET, NodeKind.RESOURCE, "loot", "111122223333", {"mixed": [1, "a"], "gone": None}),
        *extra,
    ]
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "kind": [r[1].value for r in rows],
            "label": [r[2] for r in rows],
            "account": [r[3] for r in rows],
            "props": [None if r[4] is None else json.dumps(r[4]) for r in rows],
        },
        schema=node_schema(),
    )


def _edges(count: int = 1, extra: tuple | list = ()) -> pa.Table:
    hour = dt.timedelta(hours=1)
    rows = [
        (USER, KEY, EdgeKind.HAS_KEY, 1, ["e-1"], ["CreateAccessKey"], {}),
        (KEY, S1, EdgeKind.ISSUED, 1, ["e-2"], ["GetSessionToken"], {}),
        (S1, S2, EdgeKind.ISSUED, count, ["e-3"], ["AssumeRole"], {"source_identity": "x"}),
        (S1, ROLE, EdgeKind.OF_ROLE, 1, ["e-3"], ["AssumeRole"], {}),
        (S2, ROLE, EdgeKind.OF_ROLE, 1, [HOSTILE], [HOSTILE], {"why": HOSTILE}),
        (S1, IP, EdgeKind.FROM_IP, 2, ["e-2", "e-3"], ["GetSessionToken", "AssumeRole"], {}),
        (S2, BUCKET, EdgeKind.ACTED_ON, 1, ["e-4"], ["GetObject"], {}),
        ("AKIA-NOT-IN-NODES", S1, EdgeKind.ISSUED, 1, ["e-5"], ["AssumeRole"], {}),
        *extra,
    ]
    return pa.table(
        {
            "src": [r[0] for r in rows],
            "dst": [r[1] for r in rows],
            "kind": [r[2].value for r in rows],
            "first_seen": [T0 for _ in rows],
            "last_seen": [T0 + hour * r[3] for r in rows],
            "count": [r[3] for r in rows],
            "event_ids": [r[4] for r in rows],
            "event_names": [r[5] for r in rows],
            "props": [json.dumps(r[6]) for r in rows],
        },
        schema=edge_schema(),
    )


@pytest.fixture
def store(bolt_server: BoltServer) -> Iterator[Neo4jStore]:  # bolt_server: tests/conftest.py
    with Neo4jStore(*bolt_server) as store:
        # The server lives for the session: start each test from an empty graph.
        store._driver.execute_query("MATCH (n) DETACH DELETE n", database_=store.database)
        yield store


def _graph(store: Neo4jStore) -> list[dict]:
    return store.run(
        "MATCH (a)-[r]->(b) RETURN a.id AS src, type(r) AS type, b.id AS dst, r.count AS count,"
        " r.first_seen AS first_seen, r.last_seen AS last_seen, r.event_ids AS event_ids"
        " ORDER BY src, type, dst"
    )


def _labels(store: Neo4jStore) -> dict[str, int]:
    rows = store.run("MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n")
    return {r["label"]: r["n"] for r in rows}


def _types(store: Neo4jStore) -> dict[str, int]:
    rows = store.run("MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS n")
    return {r["type"]: r["n"] for r in rows}


def test_push_writes_every_label_and_type(store: Neo4jStore) -> None:
    summary = store.push(_nodes(), _edges())
    labels = {"User": 1, "AccessKey": 1, "Role": 1, "Session": 2, "IpAddress": 1, "Resource": 1}
    types = {"HAS_KEY": 1, "ISSUED": 2, "OF_ROLE": 2, "FROM_IP": 1, "ACTED_ON": 1}
    assert _labels(store) == {**labels, "Graphtrail": 7}  # every node graphtrail writes
    assert _types(store) == types
    assert summary.nodes == labels
    assert summary.relationships == types
    assert (summary.nodes_created, summary.relationships_created) == (7, 7)
    assert summary.skipped_edges == 1  # its source is not in the nodes table
    assert len(summary.schema) == len(NodeKind)


def test_properties_are_typed(store: Neo4jStore) -> None:
    store.push(_nodes(), _edges())
    [edge] = store.run(
        "MATCH (:Session {id: $s})-[r:FROM_IP]->(:IpAddress) RETURN r.first_seen AS first_seen,"
        " r.count AS count, r.event_ids AS ids, r.event_names AS names,"
        # Compared on the server: a datetime, not a string, and the same instant.
        " r.first_seen = $t0 AS same_instant, r.last_seen > datetime('2024-05-01T12:00:00Z') AS later,"
        " size(r.event_ids) AS n_ids",
        {"s": S1, "t0": T0},
    )
    assert edge == {
        "first_seen": "2024-05-01T12:00:00.123456Z",
        "count": 2,
        "ids": ["e-2", "e-3"],
        "names": ["GetSessionToken", "AssumeRole"],
        "same_instant": True,
        "later": True,
        "n_ids": 2,
    }
    [user] = store.run("MATCH (u:User) RETURN u", {})
    assert user["u"] == {
        "_labels": ["Graphtrail", "User"],
        "id": USER,
        "label": "alice",
        "account": "111122223333",
        "mfa": True,
        "tags": ["ops", "dev"],
    }
    [role] = store.run("MATCH (r:Role) RETURN r.trust AS trust", {})
    assert json.loads(role["trust"]) == {"Principal": "*"}  # a nested map is kept as JSON text
    [bucket] = store.run("MATCH (b:Resource) RETURN b.mixed AS mixed, keys(b) AS keys", {})
    assert bucket["mixed"] == '[1,"a"]' and "gone" not in bucket["keys"]


def test_push_twice_gives_the_same_graph(store: Neo4jStore) -> None:
    store.push(_nodes(), _edges())
    before = (_graph(store), _labels(store), _types(store))
    again = store.push(_nodes(), _edges())
    assert (again.nodes_created, again.relationships_created) == (0, 0)
    assert (_graph(store), _labels(store), _types(store)) == before


def test_incremental_push_updates_in_place(store: Neo4jStore) -> None:
    store.push(_nodes(), _edges())
    s3 = "ASIAAAAAAAAAAAAAAAA3"
    nodes = _nodes(extra=[(s3, NodeKind.SESSION, "s3", "111122223333", {})])
    edges = _edges(count=5, extra=[(S2, s3, EdgeKind.ISSUED, 1, ["e-9"], ["AssumeRole"], {})])
    summary = store.push(nodes, edges)
    assert (summary.nodes_created, summary.relationships_created) == (1, 1)
    assert _types(store)["ISSUED"] == 3
    [edge] = store.run(
        "MATCH (:Session {id: $a})-[r:ISSUED]->(:Session {id: $b})"
        " RETURN r.count AS count, r.last_seen AS last_seen",
        {"a": S1, "b": S2},
    )
    assert edge == {"count": 5, "last_seen": "2024-05-01T17:00:00.123456Z"}


def test_hostile_text_is_stored_verbatim(store: Neo4jStore) -> None:
    store.push(_nodes(), _edges())
    [session] = store.run(
        "MATCH (s:Session {label: $hostile})-[r:OF_ROLE]->(:Role)"
        " RETURN s.id AS id, s.note AS note, r.event_ids AS ids, r.why AS why",
        {"hostile": HOSTILE},
    )
    assert session == {"id": S2, "note": HOSTILE, "ids": [HOSTILE], "why": HOSTILE}
    assert _labels(store)["Graphtrail"] == 7  # nothing was deleted


def test_unknown_kind_is_refused_before_writing(store: Neo4jStore) -> None:
    nodes = _nodes(extra=[("x", NodeKind.USER, "x", None, {})])
    nodes = nodes.set_column(1, "kind", pa.array(["User"] * 7 + ["Robot"]))
    with pytest.raises(ValueError, match="'Robot'"):
        store.push(nodes, _edges())
    assert _labels(store) == {}


def _relationships(store: Neo4jStore) -> list[dict]:
    """Every relationship with all its properties, in a stable order."""
    return store.run(
        "MATCH (a)-[r]->(b) RETURN a.id AS src, type(r) AS type, b.id AS dst, properties(r) AS props"
        " ORDER BY src, type, dst"
    )


@pytest.mark.parametrize("with_props", [True, False], ids=["props", "no-props"])
def test_re_push_leaves_the_properties_a_first_push_created(store: Neo4jStore,
                                                             with_props: bool) -> None:
    # A first push CREATEs the relationships, a re-push SETs on them: two statements, one graph.
    edges = _edges()
    if not with_props:
        edges = edges.set_column(8, "props", pa.array(["{}"] * edges.num_rows))
    store.push(_nodes(), edges)
    first = _relationships(store)
    again = store.push(_nodes(), edges)
    assert again.relationships_created == 0
    assert _relationships(store) == first
    by_key = {(r["src"], r["type"], r["dst"]): r["props"] for r in first}
    issued = by_key[(S1, "ISSUED", S2)]
    assert set(issued) == {"first_seen", "last_seen", "first_seen_us", "last_seen_us", "count",
                           "event_ids", "event_names", *(["source_identity"] if with_props else [])}
    assert issued["first_seen"] == "2024-05-01T12:00:00.123456Z"
    assert issued["first_seen_us"] == int(T0.timestamp()) * 1_000_000 + 123456


def test_times_before_1970_keep_their_microseconds(store: Neo4jStore) -> None:
    # The server builds the datetime from epoch µs; Cypher's division truncates below zero.
    early = [dt.datetime(1969, 12, 31, 23, 59, 58, 500001, tzinfo=dt.UTC),
             dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC)]
    edges = _edges().slice(0, 2)
    edges = edges.set_column(3, "first_seen", pa.array(early, edges.schema.field("first_seen").type))
    store.push(_nodes(), edges)
    got = store.run("MATCH ()-[r]->() RETURN r.first_seen AS t ORDER BY r.first_seen_us")
    assert [r["t"] for r in got] == ["1969-12-31T23:59:58.500001Z", "1969-12-31T23:59:59Z"]
