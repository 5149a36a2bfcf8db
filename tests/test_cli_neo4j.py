"""The Neo4j workflow from the command line: push, the questions with --backend neo4j, query."""

from __future__ import annotations

import json
import re

import pytest

from graphtrail.cli.main import app
from graphtrail.queries.library import (
    BLAST_RADIUS_EMBEDDED_ONLY,
    BLAST_RADIUS_ON_SERVER,
    FINDINGS_IN_CYPHER,
)
from graphtrail.store.neo4j import Neo4jStore
from tests.clirunner import cli_runner
from tests.trails import trail_deleted_rule

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def env(scenario, bolt_server):
    store, truth = scenario
    with Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password,
                    bolt_server.database) as server:
        server.write("MATCH (n) DETACH DELETE n")
    e = {"NEO4J_URI": bolt_server.uri, "NEO4J_USERNAME": bolt_server.user,
         "NEO4J_PASSWORD": bolt_server.password, "NEO4J_DATABASE": bolt_server.database or ""}
    return e, str(store.case.path), truth


def invoke(env, *args):
    res = cli_runner().invoke(app, list(args), env=env)
    assert res.exit_code == 0, res.output
    return res.stdout


def test_push_then_same_answers_then_query(env):
    e, case, truth = env
    first = json.loads(invoke(e, "neo4j", "push", "--case", case, "--format", "json"))
    assert first["calls_new"] > 0 and first["relationships"] > 0
    again = json.loads(invoke(e, "neo4j", "push", "--case", case, "--format", "json"))
    assert again["calls_new"] == 0 and again["stale_nodes_removed"] == 0
    in_cypher = [x for r in FINDINGS_IN_CYPHER for x in ("--rule", r)]
    for cmd, also in ((["blast-radius", "--access-key", truth.leaked_key], []),
                      (["chains", "--cross-account"], []),
                      (["timeline", "--access-key", truth.leaked_key, "--lineage"], []),
                      (["findings"], in_cypher),  # the server runs the rules written in Cypher
                      (["keys"], []), (["roles", "--account", truth.chain[1].to_account], []),
                      (["ips", "--limit", "5"], [])):
        mem = json.loads(invoke(e, *cmd, *also, "--case", case, "--format", "json"))
        neo = json.loads(invoke(e, *cmd, "--case", case, "--format", "json", "--backend", "neo4j"))
        if cmd[0] == "blast-radius":
            assert neo.pop("embedded_only") == list(BLAST_RADIUS_EMBEDDED_ONLY)
            mem = {k: mem[k] for k in BLAST_RADIUS_ON_SERVER}
        assert mem == neo, cmd
    rows = json.loads(invoke(e, "query", "MATCH (s:Session {access_key_id: $k}) RETURN s.principal AS role",
                             "--param", f"k={truth.chain[0].issued_key}", "--format", "json"))
    assert rows == [{"role": truth.chain[0].role_arn}]


def test_wrong_password_is_a_clear_error(env):
    e, case, _ = env
    res = cli_runner().invoke(app, ["neo4j", "push", "--case", case, "--password", "wrong"],
                             env={**e, "NEO4J_PASSWORD": "wrong"})
    assert res.exit_code == 1 and ("authentication" in res.stderr or "Bolt" in res.stderr)
    assert res.stdout == ""  # the error alone, on stderr


def test_questions_without_cypher_are_refused(env):
    """A question the server cannot answer is a usage error (exit 2) that names the way out."""
    e, case, truth = env
    invoke(e, "neo4j", "push", "--case", case)
    for args in (["findings", "--rule", "GT-DISC-002"],
                 ["blast-radius", "--principal", truth.benign_principal],
                 ["timeline", "--ip", truth.attacker_ips[0]]):
        res = cli_runner().invoke(app, [*args, "--case", case, "--backend", "neo4j"], env=e)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith("error: ") and "--backend embedded" in res.stderr, res.stderr
    res = cli_runner().invoke(app, ["findings", "--case", case, "--backend", "neo4j", "--format", "json"], env=e)
    assert res.exit_code == 0 and "note: --backend neo4j ran the 3 rules" in res.stderr
    res = cli_runner().invoke(app, ["chains", "--case", case, "--backend", "nope"], env=e)
    assert res.exit_code == 2 and "embedded or neo4j" in res.stderr


def test_report_and_view_read_the_server(env, tmp_path):
    """report and view take the store protocol: over Bolt they draw what the embedded store draws."""
    e, case, truth = env
    invoke(e, "neo4j", "push", "--case", case)
    for backend in ("embedded", "neo4j"):
        invoke(e, "report", "--access-key", truth.leaked_key, "--case", case, "--backend", backend,
               "--format", "md", "--out", str(tmp_path / f"{backend}.md"))
        out = invoke(e, "view", "--focus", truth.leaked_key, "--case", case, "--backend", backend,
                     "--out", str(tmp_path / f"{backend}.html"))
        assert "nodes" in out
    made = re.compile(r"\S+ by graphtrail")  # when the report was written
    assert made.sub("", (tmp_path / "embedded.md").read_text()) == made.sub("", (tmp_path / "neo4j.md").read_text())


def test_sigma_rules_stay_on_the_embedded_store(env, tmp_path):
    """Sigma rules read the case's events: over Bolt, the config's rules are left out with a
    warning (findings and report alike), and --sigma is refused before any connection."""
    e, case, truth = env
    invoke(e, "neo4j", "push", "--case", case)
    rules = trail_deleted_rule(tmp_path / "sigma")
    cfg = tmp_path / "graphtrail.toml"
    cfg.write_text('[sigma]\nrules = "sigma"\n')
    left_out = f"the Sigma rules of {cfg} are not run with --backend neo4j"
    runner = cli_runner()
    res = runner.invoke(app, ["findings", "--case", case, "--backend", "neo4j", "--config", str(cfg),
                              "--rule", next(iter(FINDINGS_IN_CYPHER)), "--format", "json"], env=e)
    assert res.exit_code == 0 and left_out in " ".join(res.stderr.split()), res.output
    res = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case", case,
                              "--backend", "neo4j", "--config", str(cfg), "--format", "md",
                              "--out", str(tmp_path / "r.md")], env=e)
    assert res.exit_code == 0 and left_out in " ".join(res.stderr.split()), res.output
    res = runner.invoke(app, ["findings", "--case", case, "--backend", "neo4j",
                              "--sigma", str(rules)], env={**e, "NEO4J_URI": "bolt://127.0.0.1:1"})
    assert res.exit_code == 2 and "--sigma reads the case's events" in res.stderr


def test_a_command_closes_its_server_connection(env, monkeypatch):
    """A question over Bolt run in-process (a test runner, a notebook) closes every driver
    it opened when the command ends, answered or refused: none left to the destructor."""
    e, case, truth = env
    invoke(e, "neo4j", "push", "--case", case)
    opened, closed = [], []
    real_init, real_close = Neo4jStore.__init__, Neo4jStore.close
    monkeypatch.setattr(Neo4jStore, "__init__",
                        lambda self, *a, **k: (opened.append(self), real_init(self, *a, **k))[1])
    monkeypatch.setattr(Neo4jStore, "close", lambda self: (closed.append(self), real_close(self))[1])
    for args, code in ((["chains", "--format", "json"], 0),
                       (["timeline", "--access-key", truth.leaked_key, "--format", "json"], 0),
                       (["blast-radius", "--principal", truth.benign_principal], 2)):
        res = cli_runner().invoke(app, [*args, "--case", case, "--backend", "neo4j"], env=e)
        assert res.exit_code == code, (args, res.stderr)
    assert len(opened) >= 2
    assert {id(s) for s in opened} == {id(s) for s in closed}
