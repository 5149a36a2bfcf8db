"""The exit-status contract of every command, through the installed ``graphtrail``.

0 answered (an empty answer is an answer); 2 usage error, one line on stderr with a
did-you-mean for a near spelling; 1 could not answer. The runs start together (each start of
the command pays its imports) and are checked once all have ended.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess

import pytest

from tests.conftest import GRAPHTRAIL

SEEDED = ("blast-radius", "timeline", "report")


def run_all(plan: dict[str, list[str]], cwd) -> dict[str, subprocess.CompletedProcess]:
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("GRAPHTRAIL_CASE", None)
    procs = {name: subprocess.Popen([GRAPHTRAIL, *args], cwd=cwd, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, args in plan.items()}
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        out[name] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    return out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(scenario, tmp_path_factory):
    store, truth = scenario
    case = ["--case", str(store.case.path)]
    key = truth.leaked_key
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    work = tmp_path_factory.mktemp("contract")
    plan = {
        "version": ["--version"],
        "help": ["chains", "--help"],
        "ingest help": ["ingest", "--help"],
        "no chains": ["chains", "--to", truth.chain[0].role_arn, "--min-hops", "50", *case],
        "empty window": ["blast-radius", "--access-key", key, "--since", "2001-01-01",
                         "--until", "2001-01-02", *case],
        "unknown rule": ["findings", "--rule", "GT-DISC-01", *case],
        "bad severity": ["findings", "--min-severity", "hihg", *case],
        "since after until": ["findings", "--since", "2024-08-02", "--until", "2024-08-01", *case],
        "bad time": ["chains", "--since", "yesterday", *case],
        "chains unknown origin": ["chains", "--from", typo, *case],
        "chains unknown role": ["chains", "--to", truth.chain[0].role_arn + "x", *case],
        "view unknown focus": ["view", "--focus", typo, "--out", str(work / "v.html"), *case],
        "bad format": ["timeline", "--access-key", key, "--format", "xml", *case],
        "unknown option": ["timeline", "--acess-key", key, *case],
        "not a case": ["case", "info", "--case", str(work)],
        "unreachable": ["neo4j", "push", *case, "--uri", f"bolt://127.0.0.1:{_closed_port()}"],
    }
    for cmd in SEEDED:
        plan[f"{cmd} unknown key"] = [cmd, "--access-key", typo, *case]
    return run_all(plan, work), key


def _one_line_error(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_version_and_help(runs):
    out, _ = runs
    from graphtrail import __version__

    assert out["version"].returncode == 0 and out["version"].stdout == f"graphtrail {__version__}\n"
    for name in ("help", "ingest help"):
        assert out[name].returncode == 0
        assert "<bool>" not in out[name].stdout and "--format" in out[name].stdout
    assert "--strict" in out["ingest help"].stdout


def test_an_empty_answer_is_an_answer(runs):
    out, _ = runs
    assert out["no chains"].returncode == 0 and out["no chains"].stdout.strip() == "no chains"
    empty = out["empty window"]
    assert empty.returncode == 0, empty.stderr
    assert "None" not in empty.stdout and "0 calls (0 failed); 0 eventIDs" in empty.stdout


@pytest.mark.parametrize("cmd", SEEDED)
def test_unknown_seed_is_a_usage_error_with_a_suggestion(runs, cmd):
    out, key = runs
    res = out[f"{cmd} unknown key"]
    assert res.returncode == 2
    assert _one_line_error(res).endswith(f"(did you mean {key}?)")


@pytest.mark.parametrize("name, words", [
    ("unknown rule", "(did you mean GT-DISC-001?)"),
    ("bad severity", "(did you mean high?)"),
    ("since after until", "--since 2024-08-02 is later than --until 2024-08-01"),
    ("bad time", "not a time: 'yesterday'"),
    ("chains unknown origin", "(did you mean "),
    ("chains unknown role", "(did you mean arn:aws:iam::"),
    ("view unknown focus", "(did you mean "),
    ("bad format", "'xml' is not one of 'table', 'json', 'csv'"),
    ("unknown option", "No such option: --acess-key"),
    ("not a case", "not a graphtrail case"),
])
def test_usage_errors_exit_2_with_one_line(runs, name, words):
    out, _ = runs
    res = out[name]
    assert res.returncode == 2, (name, res.stderr)
    assert words in _one_line_error(res)
    assert res.stdout == ""


def test_unreachable_server_could_not_answer(runs):
    out, _ = runs
    res = out["unreachable"]
    assert res.returncode == 1
    assert "no Bolt server answers" in _one_line_error(res)


def test_findings_table_fits_80_columns_and_wide_shows_all(scenario):
    from typer.testing import CliRunner

    from graphtrail.cli.main import app

    store, _ = scenario
    args = ["findings", "--case", str(store.case.path)]
    narrow = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "what" in narrow.stdout and not re.search(r"\bT1\d{3}", narrow.stdout)
    assert not re.search(r"\b(None|nan)\b", narrow.stdout)
    wide = CliRunner().invoke(app, [*args, "--wide"], env={"COLUMNS": "80"})
    assert wide.exit_code == 0 and re.search(r"\bT1\d{3}", wide.stdout)
