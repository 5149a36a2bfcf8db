"""One suite, both implementations: every question of the library that has Cypher is answered
by the embedded code (networkx and Arrow, :mod:`graphtrail.queries`) and by its
``cypher/<id>.cypher`` file run as written on a real Bolt server (ArcadeDB started by the
tests, or the Neo4j named by NEO4J_URI), on the same cases, and the answers must be equal:
the demo incident, two more generated scenarios and the shared datasets (one case).

The server's answers come from :mod:`graphtrail.queries.on_server`, which runs the Cypher and
only shapes rows; ``test_the_server_path_runs_no_embedded_question`` proves it by breaking
the embedded questions and asking the server again.
"""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

import cypher
from graphtrail.queries import library
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.findings import findings, lineage_path
from graphtrail.queries.inventory import LISTINGS, Window, list_seeds
from graphtrail.queries.on_server import (
    blast_radius_on_server,
    chains_on_server,
    findings_on_server,
    lineage_paths_on_server,
    timeline_on_server,
)
from graphtrail.queries.seeds import Seed, SeedError, parse_time_bound
from graphtrail.queries.timeline import timeline
from graphtrail.store.cypher_store import CypherStore
from graphtrail.store.memory import MemoryStore
from graphtrail.store.neo4j import Neo4jStore
from graphtrail.store.neo4j_case import push_case
from graphtrail.synth.scenarios import build_scenario
from tests.conftest import DATASETS, ingest_paths
from tests.goldens import seeds_of

pytestmark = pytest.mark.neo4j

CASES = ["demo", "scenario-seed1", "scenario-seed2", "datasets"]
# the adapter's files (the store protocol over Bolt, for views and listings) and the push's
ADAPTER_FILES = {"nodes", "lineage", "sessions", "calls", "actors_from_ip", "graph",
                 "derived_credentials"}


@pytest.fixture(scope="module")
def server(bolt_server):
    s = Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, bolt_server.database)
    yield s
    s.close()


@pytest.fixture(scope="module", params=CASES)
def case(request, server, scenario, tmp_path_factory):
    """(embedded store, the server holding the same case pushed, keys to ask about, truth)."""
    truth = None
    if request.param == "demo":
        memory, truth = scenario
    elif request.param == "datasets":
        if not DATASETS.is_dir():
            pytest.skip(f"{DATASETS} is absent")
        memory = request.getfixturevalue("datasets_case")
    else:
        root = tmp_path_factory.mktemp(request.param)
        truth = build_scenario(root / "logs", seed=int(request.param[-1]), noise_events=300)
        memory = MemoryStore(ingest_paths([str(root / "logs")], root / "case"))
    server.write("MATCH (n) DETACH DELETE n")
    summary = push_case(memory.case, server)
    also = [truth.leaked_key] if truth else []
    keys = seeds_of(memory, *also)
    # and long-term keys that issued nothing (at most 10: the datasets hold hundreds)
    keys += sorted(k[4:] for k in memory.node_info.keys() if k.startswith("key:") and k[4:] not in keys)[:10]
    return memory, server, [Seed("access_key", k) for k in keys], truth, summary


def _window(memory) -> tuple[int, int]:
    """The middle of the case's calls: from 40% to 75% of its time span."""
    t = memory.calls(["time"]).column("time").cast("int64")
    lo, hi = pc.min_max(t).values()
    span = hi.as_py() - lo.as_py()
    return lo.as_py() + span * 2 // 5, lo.as_py() + span * 3 // 4


def _embedded_blast_radius(memory, key, **window):
    try:
        d = blast_radius(memory, key, **window).to_dict()
    except SeedError as exc:
        return ("error", str(exc))
    return {f: d[f] for f in library.BLAST_RADIUS_ON_SERVER}


def _server_blast_radius(server, key, **window):
    try:
        return blast_radius_on_server(server, key, **window)
    except SeedError as exc:
        return ("error", str(exc))


def _records(df) -> list[dict]:
    return df.astype(object).where(df.notna(), None).to_dict("records")


def test_blast_radius(case):
    memory, server, keys, _, _ = case
    lo, hi = _window(memory)
    windows = [({}, keys), ({"since": lo, "until": hi}, keys), ({"since": lo}, keys[:6]),
               ({"until": lo}, keys[:6])]
    for window, some in windows:
        for key in some:
            a = _embedded_blast_radius(memory, key, **window)
            b = _server_blast_radius(server, key, **window)
            assert a == b, (key, window)


def test_timeline(case):
    memory, server, keys, _, _ = case
    lo, hi = _window(memory)
    for window, lineages, some in (({}, (True, False), keys), ({"since": lo, "until": hi}, (True,), keys[:8])):
        for key in some:
            for lineage in lineages:
                a = _records(timeline(memory, key, lineage=lineage, **window))
                b = _records(timeline_on_server(server, key, lineage=lineage, **window))
                assert a == b, (key, lineage, window)


def test_chains(case):
    memory, server, keys, truth, _ = case
    lo, hi = _window(memory)
    every = chains(memory)
    reached = sorted({p for c in every for p in c.path[1:]})
    origins = sorted({c.path[0] for c in every})
    filters = [{}, {"cross_account": True}, {"min_hops": 2}, {"min_hops": 3}, {"since": lo},
               {"until": hi}, {"since": lo, "until": hi, "cross_account": True}]
    filters += [{"to": r} for r in reached] + [{"origin": o} for o in origins]
    filters += [{"origin": k.value} for k in keys[:10]]
    if truth:
        filters.append({"origin": truth.leaked_key, "to": truth.chain[-1].role_arn, "min_hops": 2})
    for f in filters:
        a = [c.to_dict() for c in chains(memory, **f)]
        b = [c.to_dict() for c in chains_on_server(server, **f)]
        assert a == b, f


def test_findings_written_in_cypher(case):
    memory, server, _, _, _ = case
    rules = list(library.FINDINGS_IN_CYPHER)
    lo, hi = _window(memory)
    for window in ({}, {"since": lo, "until": hi}):
        a = [f.to_dict() for f in findings(memory, rules=rules, **window)]
        b = [f.to_dict() for f in findings_on_server(server, rules=rules, **window)]
        assert a == b, window


def test_lineage_paths(case):
    memory, server, _, _, _ = case
    actors = sorted(set(memory.calls(["actor"]).column("actor").drop_null().to_pylist()))
    got = lineage_paths_on_server(server, actors)
    assert {a: lineage_path(memory, a) for a in actors} == got


@pytest.mark.parametrize("what", sorted(LISTINGS))
def test_seed_listings(case, what):
    """The listings group the calls on the server (call_summary.cypher)."""
    memory, server, _, truth, _ = case
    neo = CypherStore(server)
    first = str(list_seeds(memory, what).iloc[0, 0])
    lo, hi = _window(memory)
    windows = [Window(), Window(since=lo, until=hi, sort="last_seen", limit=20),
               Window(like=f"*{first[-3:]}", sort="first_seen"),
               # a window that holds nothing in some cases, with a name filter (it crashed once)
               Window(since=parse_time_bound("2024-06-12T09:00:00Z"), like=f"*{first[-3:]}",
                      until=parse_time_bound("2024-06-12T12:00:00Z"), sort="last_seen", limit=20)]
    if truth:
        windows.append(Window(account=truth.chain[0].from_account, sort="first_seen"))
    for w in windows:
        a, b = list_seeds(memory, what, w), list_seeds(neo, what, w)
        assert a.to_dict("records") == b.to_dict("records"), (what, w)


@pytest.mark.parametrize("case", [c for c in CASES if c != "datasets"], indirect=True)
def test_the_cypher_files_find_the_attacker(case):
    """Run as an investigator pastes them (the files' own text, their parameters), the
    blast radius and chains find what the generated incident says happened (the generated
    cases: the datasets have no ground truth)."""
    memory, server, _, truth, _ = case
    row = server.run(cypher.load("blast_radius"), {"access_key": truth.leaked_key, "since": None,
                                                   "until": None})[0]
    assert set(row["event_ids"]) == set(truth.attacker_event_ids)
    assert sorted(set(row["roles"])) == sorted(h.role_arn for h in truth.chain)
    params = {p: None for p in cypher.header("chains")["params"]}
    rows = server.run(cypher.load("chains"), {**params, "cross_account": False, "min_hops": 3,
                                              "from_key": truth.leaked_key})
    assert [h["to"] for h in rows[0]["hops"]] == [h.role_arn for h in truth.chain]


def test_the_server_path_runs_no_embedded_question(case, monkeypatch):
    """With the embedded questions broken, the server still answers: its answers are its own."""
    memory, server, keys, _, _ = case
    key = keys[0]
    want = (_server_blast_radius(server, key), [c.to_dict() for c in chains_on_server(server)],
            _records(timeline_on_server(server, key, lineage=True)))

    def broken(*a, **k):
        raise AssertionError("the server path called embedded question code")

    import graphtrail.queries.blast_radius as br
    import graphtrail.queries.chains as ch
    import graphtrail.queries.findings as fi
    import graphtrail.queries.seeds as se
    import graphtrail.queries.timeline as tl

    for mod, name in ((br, "blast_radius"), (br, "lineage_of"), (br, "summarize"), (ch, "chains"),
                      (ch, "origin_of"), (tl, "timeline"), (se, "seed_credentials"),
                      (fi, "findings"), (fi, "lineage_path")):
        monkeypatch.setattr(mod, name, broken)
    assert (_server_blast_radius(server, key), [c.to_dict() for c in chains_on_server(server)],
            _records(timeline_on_server(server, key, lineage=True))) == want
    findings_on_server(server)


def test_push_is_idempotent_and_incremental(case):
    memory, server, _, _, first = case
    count = server.run("MATCH (n) RETURN count(n) AS n")[0]["n"]
    rels = server.run("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    again = push_case(memory.case, server)
    assert again.calls_new == 0 and again.calls_unchanged == first.calls_new
    assert server.run("MATCH (n) RETURN count(n) AS n")[0]["n"] == count
    assert server.run("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"] == rels


def test_every_cypher_file_has_a_header_and_runs(case):
    """Each file says what it answers, its parameters and a ``:params`` line, and runs with them."""
    _, server, keys, _, _ = case
    examples = {"access_key": keys[0].value, "min_hops": 1, "ip": "198.51.100.1",
                "actors": [f"key:{keys[0].value}"],
                "event_names": None, "source_ip": None, "since": None, "until": None, "account": None,
                "lineage": True, "cross_account": False, "from_key": None, "from_principal": None,
                "from_text": None, "to": None}
    for name in cypher.names():
        h = cypher.header(name)
        assert h["answers"] and h["example"].startswith(":params"), name
        for statement in cypher.statements(name):
            (server.write if name == "derived_credentials" else server.run)(
                statement, {p: examples[p] for p in h["params"]})


def test_the_library_names_every_file():
    """Each question with Cypher has its file, whose header names the question; every other file
    is the adapter's (store protocol) or the push's."""
    from graphtrail.queries.findings import RULES
    from graphtrail.queries.findings import rules as _rules  # noqa: F401

    questions = [*library.QUESTIONS.values(), *(library.finding_question(r) for r in RULES)]
    files = {q.cypher for q in questions if q.cypher}
    assert files <= set(cypher.names())
    assert set(cypher.names()) - files <= ADAPTER_FILES
    for q in questions:
        if q.cypher:
            assert cypher.header(q.cypher)["id"] == q.id, q.cypher
    assert {q.id for q in questions if q.cypher is None} >= {"finding:GT-DISC-002", "blast_radius:created"}
    with pytest.raises(library.EmbeddedOnly, match="has no Cypher"):
        library.server_side("finding:GT-PERS-006")
