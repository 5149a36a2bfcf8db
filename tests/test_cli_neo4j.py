"""The Neo4j workflow from the command line: push, the questions with --backend neo4j, query."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.store.neo4j import Neo4jStore

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def env(scenario, bolt_server):
    store, truth = scenario
    Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password,
               bolt_server.database).write("MATCH (n) DETACH DELETE n")
    e = {"NEO4J_URI": bolt_server.uri, "NEO4J_USERNAME": bolt_server.user,
         "NEO4J_PASSWORD": bolt_server.password, "NEO4J_DATABASE": bolt_server.database or ""}
    return e, str(store.case.path), truth


def invoke(env, *args):
    res = CliRunner().invoke(app, list(args), env=env)
    assert res.exit_code == 0, res.output
    return res.stdout


def test_push_then_same_answers_then_query(env):
    e, case, truth = env
    first = json.loads(invoke(e, "neo4j", "push", "--case", case, "--format", "json"))
    assert first["calls_new"] > 0 and first["relationships"] > 0
    again = json.loads(invoke(e, "neo4j", "push", "--case", case, "--format", "json"))
    assert again["calls_new"] == 0 and again["stale_nodes_removed"] == 0
    for cmd in (["blast-radius", "--access-key", truth.leaked_key], ["chains", "--cross-account"],
                ["timeline", "--access-key", truth.leaked_key, "--lineage"], ["findings"],
                ["keys"], ["roles", "--account", truth.chain[1].to_account], ["ips", "--limit", "5"]):
        mem = invoke(e, *cmd, "--case", case, "--format", "json")
        neo = invoke(e, *cmd, "--case", case, "--format", "json", "--backend", "neo4j")
        assert json.loads(mem) == json.loads(neo), cmd
    rows = json.loads(invoke(e, "query", "MATCH (s:Session {access_key_id: $k}) RETURN s.principal AS role",
                             "--param", f"k={truth.chain[0].issued_key}", "--format", "json"))
    assert rows == [{"role": truth.chain[0].role_arn}]


def test_wrong_password_is_a_clear_error(env):
    e, case, _ = env
    res = CliRunner().invoke(app, ["neo4j", "push", "--case", case, "--password", "wrong"],
                             env={**e, "NEO4J_PASSWORD": "wrong"})
    assert res.exit_code == 1 and ("authentication" in res.output or "Bolt" in res.output)
