"""``graphtrail ingest`` and ``graphtrail case info`` as a user runs them.

In-process through typer's CliRunner for the summary and exit statuses, and the installed
``graphtrail`` command in subprocesses (started together, since each pays the import time)
for stdin, ``GRAPHTRAIL_CASE`` and worker processes.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.store.case import Case
from tests import shapes as S
from tests.conftest import GRAPHTRAIL

STORY = S.story()
SUMMARY_KEYS = {
    "files_read",
    "files_failed",
    "records_read",
    "events_added",
    "duplicates",
    "skipped",
}
EXE = GRAPHTRAIL


def _bulk(n: int) -> list[dict]:
    recs = [
        S.iam_user_call(
            "GetObject",
            n=10_000 + n * 3 + i,
            requestParameters={"bucketName": "finance", "key": f"r/{n}/{i}"},
        )
        for i in range(3)
    ]
    for r in recs:
        r["recipientAccountId"] = S.OTHER_ACCOUNT
    return recs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """Good files in S3 layout (enough for several worker tasks), and one of each failure."""
    root = tmp_path_factory.mktemp("cli") / "logs"
    S.write(root / S.s3_key(tag="story"), S.gz(S.s3_delivery(STORY)))
    for n in range(80):
        S.write(
            root / S.s3_key(S.OTHER_ACCOUNT, org=S.ORG_ID, tag=f"bulk{n:03d}"),
            S.gz(S.s3_delivery(_bulk(n))),
        )
    S.write(root / S.s3_key(digest=True), S.gz(json.dumps(S.digest_document()).encode()))
    big = S.gz(
        S.s3_delivery(
            [S.iam_user_call(n=20_000 + i, requestParameters={"k": "v" * 300}) for i in range(300)]
        )
    )
    bad = root / "bad"
    truncated = S.write(bad / "truncated.json.gz", big[: len(big) // 2])
    # Two records of its own, then one with a comma missing.
    own = [S.iam_user_call("DeleteBucket", n=30_000 + i) for i in range(2)]
    invalid_text = S.s3_delivery(own)[:-2] + b',{"eventName": "X" "eventSource": "y"}]}'
    invalid = S.write(bad / "invalid.json", invalid_text)
    try:
        json.loads(invalid_text)
    except json.JSONDecodeError as exc:
        invalid_at = exc.pos  # ASCII: characters are bytes
    foreign = S.write(
        bad / "metrics.jsonl", S.json_lines([{"metric": "cpu", "value": i} for i in range(5)])
    )
    good_files = 1 + 80
    good_events = len(STORY) + 80 * 3
    return {
        "root": root,
        "truncated": truncated,
        "invalid": invalid,
        "invalid_at": invalid_at,
        "foreign": foreign,
        "good_files": good_files,
        "good_events": good_events,
    }


def _flat(text: str) -> str:
    """A message on one line: rich wraps it at the terminal width."""
    return " ".join(text.split())


def _runner() -> CliRunner:
    """stdout and stderr apart: click < 8.2 mixes them unless told not to."""
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+: always apart, and the argument is gone
        return CliRunner()


def _cli(*args: str, env: dict | None = None):
    return _runner().invoke(app, list(args), env=env, catch_exceptions=False)


# -- the summary -------------------------------------------------------------------------


def test_json_summary_names_every_failure(inputs, tmp_path):
    res = _cli(
        "ingest",
        str(inputs["root"]),
        "--case",
        str(tmp_path / "case"),
        "--format",
        "json",
        "--workers",
        "0",
    )
    assert res.exit_code == 0, res.output  # every readable record kept: damage is a warning
    s = json.loads(res.stdout)
    assert SUMMARY_KEYS <= set(s)
    failed = {f["path"]: f["error"] for f in s["files_failed"]}
    assert all(set(f) >= {"path", "error"} for f in s["files_failed"])
    assert set(failed) == {str(inputs[k]) for k in ("truncated", "invalid")}
    skipped = {f["path"]: f["reason"] for f in s["files_skipped"]}
    assert set(skipped) == {str(inputs["foreign"])}
    assert failed[str(inputs["truncated"])].startswith("truncated gzip")
    assert failed[str(inputs["invalid"])].startswith(
        f"invalid JSON at byte {inputs['invalid_at']}:"
    )
    assert skipped[str(inputs["foreign"])].startswith("not CloudTrail")
    assert s["files_read"] == inputs["good_files"] + 1 + 3  # + the digest + the three failures
    assert s["digest_files"] == 1
    salvaged = s["events_added"] - inputs["good_events"] - 2  # the invalid file's two records
    assert 0 < salvaged < 300  # what the truncated gzip held before the cut
    assert s["duplicates"] == 0
    assert s["records_read"] == inputs["good_events"] + 2 + salvaged + 5
    assert s["skipped"] == {"not a CloudTrail record": 5}


def test_all_good_exits_zero_and_a_second_run_adds_nothing(tmp_path):
    f = S.write(tmp_path / "in" / "a.json", S.s3_delivery(STORY))
    args = (
        "ingest",
        str(f.parent),
        "--case",
        str(tmp_path / "case"),
        "--format",
        "json",
        "--workers",
        "0",
    )
    first = _cli(*args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["events_added"] == len(STORY)
    second = _cli(*args)
    assert second.exit_code == 0
    s = json.loads(second.stdout)
    assert (s["events_added"], s["files_read"], s["files_unchanged"]) == (0, 0, 1)


def test_skipped_reasons_in_the_summary(tmp_path):
    no_time = S.iam_user_call(n=2)
    del no_time["eventTime"]
    recs = [S.iam_user_call(n=1), no_time, {**S.iam_user_call(n=3), "eventTime": "soon"}, {"x": 1}]
    f = S.write(tmp_path / "a.jsonl", S.json_lines(recs))
    res = _cli(
        "ingest", str(f), "--case", str(tmp_path / "case"), "--format", "json", "--workers", "0"
    )
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["skipped"] == {
        "missing eventTime": 1,
        "unreadable eventTime": 1,
        "not a CloudTrail record": 1,
    }
    assert (s["records_read"], s["events_added"]) == (4, 1)
    m = Case.open(tmp_path / "case").manifest()[0]
    assert m["skipped"] == s["skipped"] and m["events_added"] == 1


def test_table_summary(inputs, tmp_path):
    res = _cli("ingest", str(inputs["root"]), "--case", str(tmp_path / "case"), "--workers", "0")
    assert res.exit_code == 0
    out = " ".join(res.stdout.split())
    assert "files read" in out and "events added" in out
    assert f"warning: damaged {inputs['truncated']}: truncated gzip" in out
    assert f"skipped {inputs['foreign']}: not CloudTrail" in out
    assert "FAILED" not in out and "None" not in out


def test_strict_makes_damage_fatal(inputs, tmp_path):
    res = _cli("ingest", str(inputs["root"]), "--case", str(tmp_path / "case"), "--workers", "0",
               "--strict", "--format", "json")
    assert res.exit_code == 1
    assert len(json.loads(res.stdout)["files_failed"]) == 2  # the case still got the rest


def test_input_without_cloudtrail_is_an_answer(inputs, tmp_path):
    res = _cli("ingest", str(inputs["foreign"]), "--case", str(tmp_path / "case"), "--workers", "0")
    assert res.exit_code == 0
    assert f"warning: no CloudTrail events in {inputs['foreign']}" in _flat(res.stderr)
    assert f"skipped {inputs['foreign']}: not CloudTrail" in _flat(res.stdout)


def test_nothing_readable_could_not_answer(tmp_path):
    junk = S.write(tmp_path / "junk.json.gz", b"\x1f\x8b\x08\x00 not gzip at all")
    res = _cli("ingest", str(junk), "--case", str(tmp_path / "case"), "--workers", "0")
    assert res.exit_code == 1
    assert f"error: nothing readable in {junk}" in _flat(res.stderr)


def test_csv_summary_is_one_row(inputs, tmp_path):
    import csv
    import io

    res = _cli("ingest", str(inputs["root"]), "--case", str(tmp_path / "case"), "--workers", "0",
               "--format", "csv")
    assert res.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 1 and int(rows[0]["events_added"]) > inputs["good_events"]
    assert rows[0]["files_skipped"] == str(inputs["foreign"])


def test_missing_path_is_fatal(tmp_path):
    res = _cli(
        "ingest", str(tmp_path / "nope"), "--case", str(tmp_path / "case"), "--format", "json"
    )
    assert res.exit_code == 2
    assert "no such file" in _flat(res.stderr) and res.stdout == ""


def test_missing_path_leaves_no_case_behind(tmp_path):
    res = _cli("ingest", str(tmp_path / "nope"), "--case", str(tmp_path / "case"))
    assert res.exit_code == 2
    assert not (tmp_path / "case").exists()


def test_case_info(inputs, tmp_path):
    _cli("ingest", str(inputs["root"]), "--case", str(tmp_path / "case"), "--workers", "0")
    res = _cli("case", "info", "--case", str(tmp_path / "case"), "--format", "json")
    assert res.exit_code == 0
    info = json.loads(res.stdout)
    assert info == json.loads(json.dumps(Case.open(tmp_path / "case").info()))
    assert (info["files"], info["files_failed"], info["files_skipped"], info["digest_files"]) == (
        inputs["good_files"] + 4,
        2,
        1,
        1,
    )
    assert info["accounts"] == [S.ACCOUNT, S.OTHER_ACCOUNT]
    table = _cli("case", "info", "--case", str(tmp_path / "case"))
    assert table.exit_code == 0 and S.OTHER_ACCOUNT in table.stdout


def test_case_info_on_what_is_not_a_case_is_fatal(tmp_path):
    res = _cli("case", "info", "--case", str(tmp_path), "--format", "json")
    assert res.exit_code == 2 and "not a graphtrail case" in _flat(res.stderr)


def test_graphtrail_case_environment_variable(tmp_path):
    f = S.write(tmp_path / "a.json", S.s3_delivery(STORY))
    env = {"GRAPHTRAIL_CASE": str(tmp_path / "from-env")}
    assert _cli("ingest", str(f), "--workers", "0", env=env).exit_code == 0
    assert Case.open(tmp_path / "from-env").event_count() == len(STORY)
    res = _cli("case", "info", "--format", "json", env=env)
    assert json.loads(res.stdout)["events"] == len(STORY)


# -- the installed command ---------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(inputs, tmp_path_factory) -> dict:
    """Start the independent runs of the installed command at once, then wait for them all.

    (Exit statuses are covered in-process above; here one fatal run is enough.)
    """
    work = tmp_path_factory.mktemp("runs")
    env = {k: v for k, v in os.environ.items() if k != "GRAPHTRAIL_CASE"}
    root = str(inputs["root"])
    stdin_data = S.gz(S.json_lines(STORY))
    plan = {
        "env, 2 workers": (
            ["ingest", root, "--format", "json", "--workers", "2"],
            {"GRAPHTRAIL_CASE": str(work / "case-w2")},
            None,
        ),
        "stdin": (
            [
                "ingest",
                "-",
                "--case",
                str(work / "case-stdin"),
                "--format",
                "json",
                "--workers",
                "0",
            ],
            {},
            stdin_data,
        ),
        "missing": (["ingest", str(work / "nope"), "--case", str(work / "case-x")], {}, None),
    }
    procs = {}
    for name, (args, extra, data) in plan.items():
        procs[name] = (
            subprocess.Popen(
                [EXE, *args],
                cwd=work,
                env={**env, **extra},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
            data,
        )
    out = {}
    for name, (p, data) in procs.items():
        stdout, stderr = p.communicate(data, timeout=120)
        out[name] = subprocess.CompletedProcess(
            p.args, p.returncode, stdout.decode(), stderr.decode()
        )
    info = subprocess.run(
        [EXE, "case", "info", "--format", "json"],
        cwd=work,
        capture_output=True,
        text=True,
        env={**env, "GRAPHTRAIL_CASE": str(work / "case-w2")},
        timeout=120,
    )
    out["info"] = info
    out["work"] = work
    return out


def test_installed_cli_ingest_and_case_info(runs, inputs):
    w2 = runs["env, 2 workers"]
    assert w2.returncode == 0, w2.stderr
    s = json.loads(w2.stdout)
    assert SUMMARY_KEYS <= set(s) and len(s["files_failed"]) == 2 and len(s["files_skipped"]) == 1
    assert s["case"] == str(runs["work"] / "case-w2")  # GRAPHTRAIL_CASE honoured
    info = runs["info"]
    assert info.returncode == 0, info.stderr
    i = json.loads(info.stdout)
    assert i["events"] == s["events_added"] and i["files"] == s["files_read"]


def test_workers_0_and_2_give_the_same_case(runs, inputs):
    w0 = _cli("ingest", str(inputs["root"]), "--case", str(runs["work"] / "case-w0"), "--workers", "0")
    assert w0.exit_code == 0
    a, b = Case.open(runs["work"] / "case-w0"), Case.open(runs["work"] / "case-w2")
    key = ("event_id", "source_file", "record_index")
    ev_a = sorted(a.events().to_pylist(), key=lambda r: tuple(str(r[k]) for k in key))
    ev_b = sorted(b.events().to_pylist(), key=lambda r: tuple(str(r[k]) for k in key))
    assert len(ev_a) > 250 and ev_a == ev_b

    def manifest(case):
        return sorted(
            ({k: v for k, v in m.items() if k != "ingested_at"} for m in case.manifest()),
            key=lambda m: m["uri"],
        )

    assert manifest(a) == manifest(b)
    info_a, info_b = a.info(), b.info()
    for k in ("case", "updated", "generation"):
        info_a.pop(k), info_b.pop(k)
    assert info_a == info_b


def test_installed_cli_reads_stdin(runs):
    r = runs["stdin"]
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert (s["files_read"], s["events_added"], s["files_failed"]) == (1, len(STORY), [])
    assert Case.open(runs["work"] / "case-stdin").manifest()[0]["uri"] == "<stdin>"


def test_installed_cli_fatal_statuses(runs):
    assert runs["missing"].returncode == 2
    assert "no such file" in _flat(runs["missing"].stderr)
