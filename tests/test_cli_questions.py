"""The question commands as a user runs them: the installed ``graphtrail`` and CliRunner."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from tests.conftest import GRAPHTRAIL

BR_KEYS = {"seed", "event_ids", "access_keys", "sessions", "roles", "attempted_roles", "accounts",
           "ips", "resources", "created", "policy_changes"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GRAPHTRAIL, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def case_dir(scenario):
    store, truth = scenario
    return str(store.case.path), truth


def test_blast_radius_json_has_the_promised_fields(case_dir):
    case, truth = case_dir
    res = run("blast-radius", "--access-key", truth.leaked_key, "--case", case, "--format", "json")
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert BR_KEYS <= set(d)
    assert set(d["event_ids"]) == set(truth.attacker_event_ids)
    assert all({"type", "id", "event_id", "used_later"} <= set(c) for c in d["created"])


def test_chains_json_shape(case_dir):
    case, truth = case_dir
    res = run("chains", "--cross-account", "--from", truth.leaked_key, "--case", case, "--format", "json")
    d = json.loads(res.stdout)
    (chain,) = d["chains"]
    assert chain["path"][0] == truth.leaked_user
    for hop in chain["hops"]:
        assert {"from", "to", "time", "event_id", "access_key_id", "from_account", "to_account"} <= set(hop)


def test_timeline_csv_and_env_case(case_dir):
    case, truth = case_dir
    res = subprocess.run([GRAPHTRAIL, "timeline", "--access-key", truth.leaked_key, "--format", "csv"],
                         capture_output=True, text=True, env={**os.environ, "GRAPHTRAIL_CASE": case})
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows and rows[0]["time"] <= rows[-1]["time"]
    assert {"event_id", "event_name", "source_ip", "outcome"} <= set(rows[0])


def test_findings_json_and_table(case_dir):
    case, _ = case_dir
    d = json.loads(run("findings", "--case", case, "--format", "json").stdout)
    f = d["findings"][0]
    assert {"rule_id", "severity", "technique", "event_ids", "lineage"} <= set(f)
    table = run("findings", "--case", case, "--min-severity", "critical")
    assert "T1562.008" in table.stdout
    assert "│ critical" in table.stdout and "│ high " not in table.stdout and "│ low " not in table.stdout


def test_user_mistakes_are_clear(case_dir, tmp_path):
    case, _ = case_dir
    r = CliRunner().invoke(app, ["blast-radius", "--case", case])
    assert r.exit_code == 2 and "exactly one of" in r.output
    r = CliRunner().invoke(app, ["blast-radius", "--access-key", "AKIANOTINTHISCASE000", "--case", case])
    assert r.exit_code == 2 and "not in this case" in r.output
    r = CliRunner().invoke(app, ["chains", "--case", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "not a graphtrail case" in r.output
    r = CliRunner().invoke(app, ["timeline", "--ip", "198.51.100.23", "--since", "yesterday", "--case", case])
    assert r.exit_code == 2 and "not a time" in r.output


def test_demo_runs_as_the_readme_says(tmp_path):
    res = run("demo", "--dir", str(tmp_path / "demo"))
    assert res.returncode == 0, res.stderr
    assert "cross-account" in res.stdout and "GT-DEF-001" in res.stdout
