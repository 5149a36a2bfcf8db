"""Calls on Neo4j are grouped per credential, action and resource, and a database pushed with one
``(:Call)`` per event is refused rather than answered wrongly.

The answers themselves are checked call by call against the embedded store by
tests/test_parity.py and tests/test_cli_neo4j.py; here: the shape of the groups, what a
re-push rewrites, and the old model.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from graphtrail.cli.main import app
from graphtrail.store.neo4j import Neo4jStore
from graphtrail.store.neo4j_calls import OldCallModel, call_groups, call_groups_of
from graphtrail.store.neo4j_case import push_case
from tests.test_ingest_cli import _runner

KEY = "key:AKIAIOSFODNN7EXAMPLE"


def _call(event_id, time_us, **kw):
    return {"event_id": event_id, "time": time_us, "actor": KEY, "actor_kind": "AccessKey",
            "event_source": "s3.amazonaws.com", "event_name": "GetObject",
            "resource": "arn:aws:s3:::loot", "source_file": "f.json.gz", **kw}


def test_calls_sharing_all_but_id_time_and_detail_are_one_group():
    groups = call_groups_of([_call("e1", 10), _call("e2", 30, detail='{"key": "a"}'),
                             _call("e3", 20), _call("e4", 40, detail='{"key": "b"}'),
                             _call("e5", 50, error_code="AccessDenied")])
    assert [g["props"]["event_ids"] for g in groups] == [["e1", "e3"], ["e2", "e4"], ["e5"]]
    first = groups[0]["props"]
    assert first["times_us"] == [10, 20] and first["source_files"] == ["f.json.gz"] * 2
    assert (first["first_us"], first["last_us"], first["count"]) == (10, 20, 2)
    # a list is there only when every call of the group has a value: list[i] is call i's
    assert "details" not in first and groups[1]["props"]["details"] == ['{"key": "a"}', '{"key": "b"}']
    assert "occurrences" not in first and groups[0]["id"] == "call:e1@10"


def test_calls_sharing_an_event_id_and_time_keep_their_order():
    shared = {("e1", 10)}
    groups = call_groups_of([_call("e1", 10), _call("e1", 10), _call("e2", 11)], shared)
    assert groups[0]["props"]["occurrences"] == [1, 2, 1]
    # ids are those of the first call: another group starting on the 2nd copy is distinct
    other = call_groups_of([_call("e1", 10), _call("e1", 10, region="eu-west-1")], shared)
    assert [g["id"] for g in other] == ["call:e1@10", "call:e1@10#2"]


def test_a_group_changes_digest_when_a_call_joins_or_moves():
    one = call_groups_of([_call("e1", 10)])[0]
    two = call_groups_of([_call("e1", 10), _call("e2", 20)])[0]
    moved = call_groups_of([_call("e1", 10, actor="session:ASIA1@5")])[0]
    assert one["id"] == two["id"] == moved["id"]
    assert len({one["digest"], two["digest"], moved["digest"]}) == 3


@pytest.fixture()
def server(bolt_server):
    s = Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, bolt_server.database)
    s.write("MATCH (n) DETACH DELETE n")
    yield s
    s.close()


@pytest.mark.neo4j
def test_push_writes_one_node_per_group(scenario, server):
    store, _ = scenario
    activity = store.case.graph_dir() / "activity.parquet"
    calls = pq.ParquetFile(activity).metadata.num_rows
    pushed = push_case(store.case, server)
    assert pushed.calls_new == calls
    row = server.run("MATCH (c:Call) RETURN count(c) AS groups, sum(c.count) AS calls, "
                     "sum(size(c.event_ids)) AS ids")[0]
    assert row["groups"] == len(call_groups(activity)) and row["calls"] == row["ids"] == calls
    assert row["groups"] < 0.7 * calls  # the point of it: fewer nodes (the demo: 1,447 for 2,161 calls)
    made = server.run("MATCH (:Graphtrail)-[m:MADE]->(c:Call) RETURN count(m) AS n")[0]["n"]
    assert made == server.run("MATCH (c:Call) WHERE c.actor_kind IS NOT NULL RETURN count(c) AS n")[0]["n"]


@pytest.mark.neo4j
def test_a_database_of_the_old_model_is_refused(scenario, server, bolt_server):
    store, truth = scenario
    push_case(store.case, server)
    # what graphtrail wrote before calls were grouped: one node per event, a single event_id
    server.write("CREATE (:Call:Graphtrail {id: 'call:e1@5', event_id: 'e1', time_us: 5, actor: $a})",
                 {"a": f"key:{truth.leaked_key}"})
    nodes = server.run("MATCH (n) RETURN count(n) AS n")[0]["n"]
    with pytest.raises(OldCallModel, match="fresh"):
        push_case(store.case, server)
    assert server.run("MATCH (n) RETURN count(n) AS n")[0]["n"] == nodes  # nothing written
    env = {"NEO4J_URI": bolt_server.uri, "NEO4J_USERNAME": bolt_server.user,
           "NEO4J_PASSWORD": bolt_server.password, "NEO4J_DATABASE": bolt_server.database or ""}
    case = str(store.case.path)
    for args in (["timeline", "--access-key", truth.leaked_key, "--case", case, "--backend", "neo4j"],
                 ["neo4j", "push", "--case", case]):
        res = _runner().invoke(app, [*args, "--format", "json"], env=env)  # stderr apart
        assert res.exit_code == 1, res.output
        assert "fresh" in res.stderr and "one (:Call) node per event" in " ".join(res.stderr.split())
        assert res.stdout == ""


@pytest.mark.neo4j
def test_a_re_push_rewrites_only_the_groups_that_changed(scenario, server):
    store, _ = scenario
    first = push_case(store.case, server)
    groups = server.run("MATCH (c:Call) RETURN c.id AS id, c.count AS n ORDER BY c.count DESC, c.id LIMIT 3")
    gone, changed, stale = groups
    server.write("MATCH (c:Call {id: $id}) DETACH DELETE c", {"id": gone["id"]})
    server.write("MATCH (c:Call {id: $id}) SET c.digest = 'older', c.event_ids = ['x']", {"id": changed["id"]})
    server.write("MATCH (c:Call {id: $id}) SET c.id = 'call:left-over@1'", {"id": stale["id"]})
    again = push_case(store.case, server)
    assert again.calls_new == gone["n"] + stale["n"] and again.calls_relinked == changed["n"]
    assert again.calls_unchanged == first.calls_new - gone["n"] - changed["n"] - stale["n"]
    row = server.run("MATCH (c:Call) RETURN count(c) AS groups, sum(c.count) AS calls, "
                     "sum(size(c.event_ids)) AS ids")[0]
    assert row["calls"] == row["ids"] == first.calls_new  # the left-over group is gone
    assert not server.run("MATCH (c:Call {id: 'call:left-over@1'}) RETURN c.id AS id")
    made = server.run("MATCH (:Graphtrail)-[m:MADE]->(c:Call {id: $id}) RETURN count(m) AS n", {"id": changed["id"]})
    assert made[0]["n"] == 1
