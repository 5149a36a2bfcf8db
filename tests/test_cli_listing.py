"""``graphtrail keys|principals|roles|ips|accounts`` run as a user runs them: every format,
filters, exit codes."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess

import pytest

from graphtrail.cli.main import app
from graphtrail.queries.inventory import LISTINGS
from tests.clirunner import cli_runner
from tests.conftest import GRAPHTRAIL

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class Done:
    """What a command run printed and returned."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(case, *args: str) -> Done:
    """In this process (fast); :func:`run_installed` runs the installed command."""
    result = cli_runner().invoke(app, [*args, "--case", str(case)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Done(result.exit_code, result.stdout, result.stderr)


def run_installed(case, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GRAPHTRAIL, *args, "--case", str(case)], capture_output=True,
                          text=True, timeout=300)


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def case(scenario):
    return scenario[0].case.path


@pytest.mark.parametrize("what", sorted(LISTINGS))
def test_every_listing_in_every_format(case, what):
    rows = _strict(run(case, what, "--format", "json").stdout)
    assert rows and all(r["calls"] >= r["errors"] >= 0 for r in rows)
    for r in rows:
        for col in ("first_seen", "last_seen", "issued"):
            if r.get(col) is not None:
                assert ISO_Z.match(r[col]), (col, r[col])
    done = run(case, what, "--format", "csv")
    assert done.returncode == 0
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(table) == len(rows)
    assert not any(v in ("nan", "NaN", "None", "NaT") for r in table for v in r.values())
    assert [r[next(iter(r))] for r in table] == [str(r[next(iter(r))]) for r in rows]
    text = run(case, what)
    assert text.returncode == 0 and f"{what} ({len(rows)})" in text.stdout
    assert "None" not in text.stdout and "nan" not in text.stdout


def test_filters_from_the_command_line(case, scenario):
    _, truth = scenario
    done = run_installed(case, "keys", "--like", truth.leaked_key, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = _strict(done.stdout)
    assert [r["owner"] for r in rows] == [truth.leaked_user]
    assert rows[0]["type"] == "long-term" and rows[0]["session"] is None
    hop = truth.chain[1]
    rows = _strict(run(case, "keys", "--like", hop.issued_key, "--format", "json").stdout)
    assert sorted(rows[0]["issued_by"]) == sorted(hop.sts_event_ids)
    assert rows[0]["issued"] == hop.issued_at
    ips = _strict(run(case, "ips", "--since", "2024-06-12T09:00:00Z", "--until",
                      "2024-06-12T11:00:00Z", "--sort", "first_seen", "--limit", "2",
                      "--format", "json").stdout)
    assert len(ips) == 2 and ips[0]["first_seen"] <= ips[1]["first_seen"]
    acct = _strict(run(case, "accounts", "--account", hop.to_account, "--format", "json").stdout)
    assert [a["account"] for a in acct] == [hop.to_account]


@pytest.mark.parametrize("what", sorted(LISTINGS))
def test_nothing_matches_is_an_empty_answer(case, what):
    done = run(case, what, "--since", "2031-01-01", "--format", "json")
    assert done.returncode == 0 and _strict(done.stdout) == []
    done = run(case, what, "--like", "no-such-thing-*", "--format", "csv")
    assert done.returncode == 0 and len(done.stdout.strip().splitlines()) == 1  # the header


@pytest.mark.parametrize("args", [
    ["--sort", "bogus"], ["--limit", "0"], ["--since", "yesterday"], ["--account", "12345"],
    ["--since", "2024-06-13", "--until", "2024-06-12"], ["--format", "xml"],
    ["--backend", "oracle"],
])
def test_bad_options_are_usage_errors(case, args):
    done = (run_installed if args[0] == "--since" else run)(case, "keys", *args)
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert done.stderr.strip() and "Traceback" not in done.stderr
