"""Every command over every kind of data, in every format: exit 0 and well-formed output.

The data: each folder of ``../shared/datasets`` (skipped when absent) and two generated
trails (the leaked-key incident and an organization trail). Each is ingested once, by the
installed ``graphtrail`` command, and its seeds are picked from the case itself. Then every
question runs in every ``--format``:

- through the installed command (a subprocess, as a user runs it): the ingest, findings and
  the report on every source, and each command in each format on the generated incident;
- in-process (typer's CliRunner) for the whole command x format matrix on every source,
  which keeps the suite fast (each start of the command costs ~2 s of imports).

Well-formed: JSON parses with a parser that refuses NaN and Infinity; CSV has no ``nan``,
``None`` or ``NaT`` cell; text shows no ``None``, ``nan`` or ``NaT``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphtrail.cli.common import known_names
from graphtrail.cli.main import app
from graphtrail.queries.seeds import Seed, SeedError, seed_credentials
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.scenarios import build_scenario
from graphtrail.synth.trails import write_trail
from tests.conftest import DATASETS, GRAPHTRAIL

GENERATED = ["generated-incident", "generated-org-trail"]
FOLDERS = sorted(p.name for p in DATASETS.iterdir() if p.is_dir()) if DATASETS.is_dir() else []
SOURCES = GENERATED + [f"datasets/{name}" for name in FOLDERS]
FORMATS = ("table", "json", "csv")
MISSING_WORDS = re.compile(r"\b(None|nan|NaN|NaT)\b")
MISSING_CELLS = {"nan", "NaN", "None", "NaT", "<NA>", "inf", "-inf", "Infinity"}


@dataclass
class Source:
    name: str
    case: Path
    ingest: dict
    seeds: dict[str, str] = field(default_factory=dict)  # seed kind -> a value the case holds

    def seed_args(self) -> list[list[str]]:
        flags = {"access_key": "--access-key", "principal": "--principal", "ip": "--ip",
                 "session": "--session"}
        return [[flags[k], v] for k, v in self.seeds.items()]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([GRAPHTRAIL, *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={**os.environ, "COLUMNS": "80"})


def _refuse(constant: str):
    raise ValueError(f"not JSON: {constant}")


def strict_json(text: str):
    """Parse as strict JSON: NaN, Infinity and -Infinity are refused."""
    return json.loads(text, parse_constant=_refuse)


def check_output(fmt: str, text: str, what) -> None:
    """``text`` is well-formed ``fmt`` output with no missing value spelled out."""
    if fmt == "json":
        strict_json(text)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows, (what, "no CSV header")
        bad = {c for r in rows for c in r if c.strip() in MISSING_CELLS}
        assert not bad, (what, bad)
    else:
        found = MISSING_WORDS.search(text)
        assert not found, (what, text[max(0, found.start() - 120):found.end() + 60])


def _generate(name: str, root: Path) -> Path:
    logs = root / "logs"
    if name == "generated-incident":
        build_scenario(logs, seed=3, noise_events=300)
    else:
        write_trail(logs, 1500, seed=5, records_per_file=400, workers=1)
    return logs


def _pick_seeds(case_dir: Path) -> dict[str, str]:
    """One seed of each kind the case holds, the busiest first (stable across runs)."""
    store = MemoryStore(Case.open(case_dir))
    seeds = {}
    calls = store.calls(["actor", "source_ip"]).to_pylist()
    busy: dict[str, int] = {}
    for c in calls:
        for v in (c["actor"], c["source_ip"] and f"ip:{c['source_ip']}"):
            if v:
                busy[v] = busy.get(v, 0) + 1
    for kind in ("access_key", "principal", "ip", "session"):
        names = sorted(known_names(store, kind))
        prefix = {"access_key": "key:", "ip": "ip:"}.get(kind, "")
        names.sort(key=lambda n: -busy.get(prefix + n, 0))
        for value in names[:50]:
            try:
                seed_credentials(store, Seed.of(kind, value))
            except SeedError:
                continue
            seeds[kind] = value
            break
    return seeds


@pytest.fixture(scope="session", params=SOURCES)
def source(request, tmp_path_factory) -> Source:
    """One source ingested by the installed command (once per test session)."""
    name = request.param
    root = tmp_path_factory.mktemp(name.replace("/", "-"))
    if name.startswith("datasets/"):
        if not DATASETS.is_dir():
            pytest.skip(f"{DATASETS} is absent")
        data = DATASETS / name.split("/", 1)[1]
    else:
        data = _generate(name, root)
    res = run("ingest", str(data), "--case", str(root / "case"), "--format", "json",
              "--workers", "1")
    assert res.returncode == 0, (name, res.stderr)
    return Source(name, root / "case", strict_json(res.stdout), _pick_seeds(root / "case"))


def invoke(*args: str) -> str:
    """A command in-process; returns its stdout after checking it answered."""
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"}, catch_exceptions=False)
    assert res.exit_code == 0, (args, res.output)
    return res.stdout


def questions(src: Source) -> list[list[str]]:
    """Every question command, with each seed it takes, without --format."""
    case = ["--case", str(src.case)]
    out = [["case", "info", *case], ["chains", *case], ["chains", "--cross-account", *case],
           ["findings", *case], ["findings", "--list"]]
    for seed in src.seed_args():
        out += [["blast-radius", *seed, *case], ["timeline", *seed, *case]]
    if "access_key" in src.seeds:
        out.append(["timeline", "--access-key", src.seeds["access_key"], "--lineage", *case])
    for kind in ("principal", "access_key"):
        if kind in src.seeds and guessed(kind, src.seeds[kind]):
            out.append(["chains", "--from", src.seeds[kind], *case])
    return out


def guessed(kind: str, value: str) -> bool:
    """Whether a kind-less option (``--from``, ``--focus``) reads ``value`` as ``kind``.

    Hand-edited fixtures hold key ids such as ``0123456789ABCDEFGHIJ`` that only
    ``--access-key`` can name.
    """
    return Seed.of(None, value).kind == kind


# -- ingest -------------------------------------------------------------------------------

def test_ingest_answers_with_a_strict_summary(source):
    s = source.ingest
    assert s["files_read"] >= 1 and s["records_read"] >= 1
    assert all(set(f) == {"path", "error"} for f in s["files_failed"])
    assert all(set(f) == {"path", "reason"} for f in s["files_skipped"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_ingest_again_in_every_format(source, fmt):
    """A second ingest of the same data: nothing new, still an answer, in the format asked."""
    out = invoke("ingest", str(_source_path(source)), "--case", str(source.case),
                 "--format", fmt, "--workers", "0")
    check_output(fmt, out, (source.name, "ingest", fmt))
    if fmt == "json":
        assert strict_json(out)["events_added"] == 0


def _source_path(src: Source) -> Path:
    if src.name.startswith("datasets/"):
        return DATASETS / src.name.split("/", 1)[1]
    return src.case.parent / "logs"


# -- every question, every format, in-process -----------------------------------------------

def test_seeds_are_found_in_the_case(source):
    if source.ingest["events_added"]:
        assert "principal" in source.seeds or "access_key" in source.seeds, source.name


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_question_in_every_format(source, fmt):
    for args in questions(source):
        out = invoke(*args, "--format", fmt)
        check_output(fmt, out, (source.name, args, fmt))


def test_report_and_view_for_every_seed(source, tmp_path):
    for i, seed in enumerate(source.seed_args()):
        for fmt in ("html", "md"):
            out = tmp_path / f"r{i}.{fmt}"
            invoke("report", *seed, "--case", str(source.case), "--format", fmt, "--out", str(out))
            assert out.stat().st_size > 500
            if fmt == "md":
                check_output("text", out.read_text(encoding="utf-8"), (source.name, seed))
        if guessed(seed[0].removeprefix("--").replace("-", "_"), seed[1]):
            view = tmp_path / f"v{i}.html"
            invoke("view", "--focus", seed[1], "--case", str(source.case), "--out", str(view))
            assert view.stat().st_size > 500
    whole = tmp_path / "case.html"
    invoke("view", "--case", str(source.case), "--out", str(whole))
    assert whole.stat().st_size > 500


# -- the installed command ------------------------------------------------------------------

def test_installed_findings(source):
    """GT-DISC-001 and GT-INIT-001 once crashed here on missing source IPs (pandas 3)."""
    res = run("findings", "--case", str(source.case), "--format", "json")
    assert res.returncode == 0, res.stderr
    check_output("json", res.stdout, (source.name, "findings"))


def test_installed_report(source, tmp_path):
    out = tmp_path / "report.md"
    if "principal" not in source.seeds:  # c7n: a record with no identity at all
        res = run("report", "--principal", "arn:aws:iam::000000000000:user/nobody", "--case",
                  str(source.case), "--format", "md", "--out", str(out))
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not out.exists()
        return
    res = run("report", "--principal", source.seeds["principal"], "--case", str(source.case),
              "--format", "md", "--out", str(out))
    assert res.returncode == 0, res.stderr
    check_output("text", out.read_text(encoding="utf-8"), (source.name, "report"))


@pytest.mark.parametrize("source", GENERATED[:1], indirect=True)
def test_installed_every_command_and_format(source, tmp_path):
    """On the generated incident: each command and each format through the installed command
    (every pair runs in-process above; starting the command costs ~2 s of imports)."""
    case = ["--case", str(source.case)]
    seed = source.seed_args()[0]
    commands = [["case", "info", *case], ["blast-radius", *seed, *case], ["chains", *case],
                ["timeline", *seed, "--lineage", *case], ["findings", *case],
                ["ingest", str(_source_path(source)), *case]]
    for i, args in enumerate(commands):
        fmt = FORMATS[i % len(FORMATS)]
        res = run(*args, "--format", fmt)
        assert res.returncode == 0, (args, res.stderr)
        check_output(fmt, res.stdout, (source.name, args, fmt))
    view = tmp_path / "view.html"
    res = run("view", "--focus", seed[1], *case, "--out", str(view))
    assert res.returncode == 0 and view.stat().st_size > 500, res.stderr


@pytest.mark.neo4j
@pytest.mark.parametrize("source", GENERATED[:1], indirect=True)
def test_neo4j_push_and_questions(source, bolt_server):
    from graphtrail.store.neo4j import Neo4jStore

    with Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password,
                    bolt_server.database) as server:
        server.write("MATCH (n) DETACH DELETE n")
    env = {"NEO4J_URI": bolt_server.uri, "NEO4J_USERNAME": bolt_server.user,
           "NEO4J_PASSWORD": bolt_server.password, "NEO4J_DATABASE": bolt_server.database or ""}
    for fmt in FORMATS:
        res = subprocess.run([GRAPHTRAIL, "neo4j", "push", "--case", str(source.case),
                              "--format", fmt], capture_output=True, text=True, timeout=300,
                             env={**os.environ, **env})
        assert res.returncode == 0, res.stderr
        check_output(fmt, res.stdout, ("neo4j push", fmt))
    seed = source.seed_args()[0]
    for fmt in FORMATS:
        res = subprocess.run([GRAPHTRAIL, "blast-radius", *seed, "--case", str(source.case),
                              "--backend", "neo4j", "--format", fmt], capture_output=True,
                             text=True, timeout=300, env={**os.environ, **env})
        assert res.returncode == 0, res.stderr
        check_output(fmt, res.stdout, ("blast-radius neo4j", fmt))
