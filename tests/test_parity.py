"""One suite, both stores: every question answered on the embedded store and on a real Bolt
server (ArcadeDB started by the tests, or the Neo4j named by NEO4J_URI) must be the same."""

from __future__ import annotations

import pytest

import cypher
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.findings import findings
from graphtrail.queries.inventory import LISTINGS, Window, list_seeds
from graphtrail.queries.seeds import parse_time_bound
from graphtrail.queries.timeline import timeline
from graphtrail.store.cypher_store import CypherStore
from graphtrail.store.neo4j import Neo4jStore
from graphtrail.store.neo4j_case import push_case

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def pushed(scenario, bolt_server):
    memory, truth = scenario
    server = Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, bolt_server.database)
    server.write("MATCH (n) DETACH DELETE n")
    summary = push_case(memory.case, server)
    yield memory, CypherStore(server), truth, summary, server
    server.close()


@pytest.fixture(params=["memory", "neo4j"])
def store(request, pushed):
    memory, neo, truth, _, _ = pushed
    return (memory if request.param == "memory" else neo), truth


def test_blast_radius_is_the_attackers_on_both(store):
    s, truth = store
    br = blast_radius(s, truth.leaked_key)
    assert set(br.event_ids) == set(truth.attacker_event_ids)
    assert br.roles == sorted(h.role_arn for h in truth.chain)


def test_answers_are_equal(pushed):
    memory, neo, truth, _, _ = pushed
    for seed in (truth.leaked_key, truth.benign_principal, truth.attacker_ips[0]):
        a, b = blast_radius(memory, seed).to_dict(), blast_radius(neo, seed).to_dict()
        assert a == b, seed
    ca = [c.to_dict() for c in chains(memory)]
    cb = [c.to_dict() for c in chains(neo)]
    assert ca == cb
    ta = timeline(memory, truth.leaked_key, lineage=True)
    tb = timeline(neo, truth.leaked_key, lineage=True)
    assert list(ta["event_id"]) == list(tb["event_id"])
    assert list(ta["outcome"]) == list(tb["outcome"])
    fa = [(f.rule_id, f.event_ids, f.lineage) for f in findings(memory)]
    fb = [(f.rule_id, f.event_ids, f.lineage) for f in findings(neo)]
    assert fa == fb


@pytest.mark.parametrize("what", sorted(LISTINGS))
def test_seed_listings_are_equal(pushed, what):
    memory, neo, truth, _, _ = pushed
    first = str(list_seeds(memory, what).iloc[0, 0])
    windows = (Window(), Window(account=truth.chain[0].from_account, sort="first_seen"),
               Window(since=parse_time_bound("2024-06-12T09:00:00Z"),
                      until=parse_time_bound("2024-06-12T12:00:00Z"), like=f"*{first[-3:]}",
                      sort="last_seen", limit=20))
    for w in windows:
        a, b = list_seeds(memory, what, w), list_seeds(neo, what, w)
        assert len(a) > 0, (what, w)
        assert a.to_dict("records") == b.to_dict("records"), (what, w)


def test_standalone_cypher_files_agree(pushed):
    """The files an investigator pastes into Neo4j Browser give the same answers."""
    memory, _, truth, _, server = pushed
    rows = server.run(cypher.load("blast_radius"), {"access_key": truth.leaked_key})
    ids = {e for r in rows for e in r["event_ids"]} | {e for r in rows for e in r["issued_by_event_ids"]}
    assert ids == set(truth.attacker_event_ids)
    t = server.run(cypher.load("timeline"), {"access_key": truth.leaked_key})
    assert [r["event_id"] for r in t] == list(timeline(memory, truth.leaked_key)["event_id"])
    ch = server.run(cypher.load("chains"), {"min_hops": 3})
    walked = [h.role_arn for h in truth.chain]
    assert any(r["principals"] == walked and r["origin"] == f"key:{truth.leaked_key}" for r in ch)
    for r in ch:  # never a chain mixing the benign user's sessions with the attacker's
        assert len(set(r["sessions"])) == len(r["sessions"])
    ev = server.run(cypher.load("findings_defense_evasion"),
                    {"event_names": ["StopLogging", "DeleteTrail", "PutEventSelectors", "DeleteDetector"]})
    assert {r["event_id"] for r in ev} >= set(truth.findings["defense_evasion"])


def test_push_is_idempotent_and_incremental(pushed):
    memory, _, _, first, server = pushed
    count = server.run("MATCH (n) RETURN count(n) AS n")[0]["n"]
    rels = server.run("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    again = push_case(memory.case, server)
    assert again.calls_new == 0 and again.calls_unchanged == first.calls_new
    assert server.run("MATCH (n) RETURN count(n) AS n")[0]["n"] == count
    assert server.run("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"] == rels


def test_every_cypher_file_has_a_header_and_runs(pushed):
    *_, server = pushed
    examples = {"access_key": "AKIAEXAMPLE", "min_hops": 2, "ip": "198.51.100.1", "actors": None,
                "event_names": None, "source_ip": None, "since": None, "until": None,
                "account": None}
    for name in cypher.names():
        h = cypher.header(name)
        assert h["answers"] and h["example"].startswith(":params"), name
        server.run(cypher.load(name), {p: examples[p] for p in h["params"]})
