"""Org-scale benchmark: ``graphtrail ingest`` against a DuckDB baseline, side by side.

Both read the same generated files in the same run, so the ratio holds on a noisy machine:

* ``duckdb``: DuckDB on ``--threads`` threads (default 2) doing gunzip -> JSON (only the
  fields an identity edge needs) -> one edge per call (actor -> action) -> ``GROUP BY`` with
  count, first and last seen. A fast engine doing a small part of graphtrail's work: the
  bar graphtrail's whole ingest (load, link, graph) has to clear.
* ``duckdb_same_load``: the same DuckDB doing the load graphtrail's workers do: every
  field of the events table (:data:`graphtrail.model.EVENT_COLUMNS`, payloads as JSON text,
  the issued key read from the response) into one zstd Parquet file. No dedup keys, no
  links, no graph: a yardstick for the load stage alone (``--no-same-load`` skips it).
* ``graphtrail ingest``: the installed command, as a user runs it (a subprocess); then the
  same command again (``again_seconds``: every file already held, nothing added).

Peak resident memory is sampled for the whole process tree of each (workers included). Then
the questions a user asks of the case are timed, each a cold ``graphtrail`` process as a
user runs it: findings, report, view, blast radius and chains of the busiest access key,
and ``graphtrail --help``. ``findings`` and ``report`` are timed with no findings kept in the
case (each run starts without them), then asked again (``*_kept``: the findings the first
run kept, read back).

Usage::

    python benchmarks/generate_trail.py /tmp/trail --events 1000000
    python benchmarks/bench_scale.py /tmp/trail [--threads 2] [--json out.json]
    # the questions only, on a case already ingested, before and after a change:
    git archive HEAD~1 graphtrail loaders | tar -x -C /tmp/before
    python benchmarks/bench_scale.py /tmp/case --questions-only --before /tmp/before [--rounds 3]

``duckdb`` is a dependency of graphtrail (the ``--follow`` engine). DuckDB versions differ
several-fold on these files (2.0.1 spends 4.5x the CPU of 1.1.0 reading them): quote the
version, or run the baseline with another interpreter's DuckDB (``--baseline-python``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import emit_result, graphtrail_command, run_measured  # noqa: E402  (a sibling script, not a package)

__all__ = ["duckdb_baseline", "main"]


def measured(cmd: list[str], pss: dict | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd``: (wall seconds, CPU seconds of it and every process it waited for, peak
    tree RSS bytes, stdout). On a machine shared with other jobs the wall time follows the
    load; the CPU time much less so. ``pss`` gets the peak proportional set size
    (:func:`bench_ingest.run_measured`)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, peak, out = run_measured(cmd, pss=pss)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, peak, out

_RECORD = ("STRUCT(eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, "
           "eventID VARCHAR, sourceIPAddress VARCHAR, errorCode VARCHAR, "
           "recipientAccountId VARCHAR, userIdentity STRUCT(type VARCHAR, arn VARCHAR, "
           "accessKeyId VARCHAR, accountId VARCHAR))[]")
_EDGES_SQL = f"""
SELECT actor, action, count(*) AS calls, min(t) AS first_seen, max(t) AS last_seen,
       count(DISTINCT ip) AS addresses
FROM (
  SELECT coalesce(r.userIdentity.accessKeyId, r.userIdentity.arn, r.userIdentity.type) AS actor,
         r.eventSource || ':' || r.eventName AS action,
         CAST(r.eventTime AS TIMESTAMP) AS t, r.sourceIPAddress AS ip
  FROM (SELECT unnest(Records) AS r FROM read_json(?, format='auto',
        columns={{'Records': '{_RECORD}'}}, compression='gzip', maximum_object_size=1073741824))
)
GROUP BY actor, action
"""


# The events table's columns as DuckDB reads them from a record (``r``); the load stage of
# graphtrail fills the same columns (graphtrail.model.EVENT_COLUMNS) from the same fields.
_SAME_LOAD_RECORD = (
    "STRUCT(eventVersion VARCHAR, eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, "
    "eventType VARCHAR, eventCategory VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR, "
    "userAgent VARCHAR, errorCode VARCHAR, errorMessage VARCHAR, readOnly BOOLEAN, "
    "eventID VARCHAR, requestID VARCHAR, recipientAccountId VARCHAR, sharedEventID VARCHAR, "
    "sessionCredentialFromConsole BOOLEAN, userIdentity STRUCT(type VARCHAR, "
    "principalId VARCHAR, arn VARCHAR, accountId VARCHAR, accessKeyId VARCHAR, "
    "userName VARCHAR, invokedBy VARCHAR, identityProvider VARCHAR, "
    "sessionContext STRUCT(sessionIssuer STRUCT(type VARCHAR, principalId VARCHAR, "
    "arn VARCHAR), attributes STRUCT(creationDate VARCHAR, mfaAuthenticated VARCHAR), "
    "sourceIdentity VARCHAR, webIdFederationData STRUCT(federatedProvider VARCHAR)), "
    "onBehalfOf STRUCT(userId VARCHAR)), requestParameters JSON, responseElements JSON, "
    "additionalEventData JSON, resources JSON)[]")
_UI = "r.userIdentity"
_SC = f"{_UI}.sessionContext"
SAME_LOAD_COLUMNS = {
    "event_id": "r.eventID", "time": "CAST(r.eventTime AS TIMESTAMPTZ)",
    "event_version": "r.eventVersion", "event_source": "r.eventSource",
    "event_name": "r.eventName", "event_type": "r.eventType",
    "event_category": "r.eventCategory", "region": "r.awsRegion",
    "account_id": f"{_UI}.accountId", "recipient_account_id": "r.recipientAccountId",
    "source_ip": "r.sourceIPAddress", "user_agent": "r.userAgent", "error_code": "r.errorCode",
    "error_message": "r.errorMessage", "read_only": "r.readOnly", "identity_type": f"{_UI}.type",
    "identity_arn": f"{_UI}.arn", "principal_id": f"{_UI}.principalId",
    "access_key_id": f"{_UI}.accessKeyId", "user_name": f"{_UI}.userName",
    "issuer_type": f"{_SC}.sessionIssuer.type", "issuer_arn": f"{_SC}.sessionIssuer.arn",
    "issuer_principal_id": f"{_SC}.sessionIssuer.principalId",
    "session_created": f"TRY_CAST({_SC}.attributes.creationDate AS TIMESTAMPTZ)",
    "mfa": f"lower({_SC}.attributes.mfaAuthenticated) = 'true'",
    "source_identity": f"{_SC}.sourceIdentity", "invoked_by": f"{_UI}.invokedBy",
    "on_behalf_of": f"{_UI}.onBehalfOf.userId",
    "web_id_provider": f"coalesce({_SC}.webIdFederationData.federatedProvider, {_UI}.identityProvider)",
    "from_console": "r.sessionCredentialFromConsole",
    "issued_key": "json_extract_string(r.responseElements, '$.credentials.accessKeyId')",
    "issued_expiration": "json_extract_string(r.responseElements, '$.credentials.expiration')",
    "request_parameters": "CAST(r.requestParameters AS VARCHAR)",
    "response_elements": "CAST(r.responseElements AS VARCHAR)",
    "additional_event_data": "CAST(r.additionalEventData AS VARCHAR)",
    "resources": "CAST(r.resources AS VARCHAR)", "shared_event_id": "r.sharedEventID",
    "request_id": "r.requestID", "source_file": "source_file",
    "record_index": "CAST(record_index AS INTEGER)",
}


def _same_load_sql() -> str:
    """The events table written by DuckDB: ``COPY (SELECT <every column>) TO ?``."""
    from graphtrail.model import EVENT_COLUMNS

    names = [c[0] for c in EVENT_COLUMNS]
    missing = sorted(set(names) - set(SAME_LOAD_COLUMNS))
    if missing:  # the events table grew: say how DuckDB reads the new column
        raise SystemExit(f"bench_scale: SAME_LOAD_COLUMNS lacks {missing}")
    select = ", ".join(f"{SAME_LOAD_COLUMNS[n]} AS {n}" for n in names)
    return (f"COPY (SELECT {select} FROM (SELECT unnest(Records) AS r, "
            f"generate_subscripts(Records, 1) - 1 AS record_index, filename AS source_file "
            f"FROM read_json(?, format='auto', "
            f"columns={{'Records': '{_SAME_LOAD_RECORD}'}}, compression='gzip', "
            f"filename=true, maximum_object_size=1073741824))) TO '{{out}}' "
            f"(FORMAT parquet, COMPRESSION zstd)")


def duckdb_baseline(files: list[str], threads: int, python: str = sys.executable) -> dict:
    """Run the baseline in a subprocess (its own memory); seconds, edges, peak RSS."""
    code = _prelude(threads) + f"""
rows = con.execute({_EDGES_SQL!r}, [files]).fetchall()
calls = sum(r[2] for r in rows)
print(json.dumps({{"seconds": time.perf_counter() - t0, "edges": len(rows), "events": calls,
                  "version": duckdb.__version__}}))
"""
    return _run_duckdb(code, files, python)


def duckdb_same_load(files: list[str], threads: int, python: str = sys.executable) -> dict:
    """DuckDB writing the events table graphtrail's load writes, in a subprocess: seconds,
    events, the Parquet file's size, peak RSS."""
    out = Path(tempfile.mkdtemp(prefix="gt-same-load-"))
    sql = _same_load_sql().replace("{out}", str(out / "events.parquet"))
    code = _prelude(threads) + f"""
con.execute({sql!r}, [files])
seconds = time.perf_counter() - t0
path = {str(out / "events.parquet")!r}
events = con.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchone()[0]
print(json.dumps({{"seconds": seconds, "events": events, "parquet_bytes": os.path.getsize(path),
                  "version": duckdb.__version__}}))
"""
    try:
        return _run_duckdb(code, files, python)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _prelude(threads: int) -> str:
    """The start of a baseline's script: the file list from stdin, a connection, the clock."""
    return f"""
import json, os, sys, time, duckdb
files = json.loads(sys.stdin.read())
con = duckdb.connect()
con.execute("SET threads={threads}")
con.execute("SET enable_progress_bar=false")
t0 = time.perf_counter()
"""


def _run_duckdb(code: str, files: list[str], python: str = sys.executable) -> dict:
    listing = Path(tempfile.mkstemp(suffix=".json")[1])
    listing.write_text(json.dumps(files))
    try:
        cmd = ["sh", "-c", f'"{python}" -c "$0" < "{listing}"', code]
        seconds, cpu, peak, out = measured(cmd)
    finally:
        listing.unlink()
    res = json.loads(out)
    res["wall_seconds"], res["cpu_seconds"], res["peak_rss_mb"] = seconds, cpu, round(peak / 2**20)
    return res


def _trail_files(trail: Path) -> list[str]:
    return sorted(str(p) for p in trail.rglob("*.json.gz") if "CloudTrail-Digest" not in p.name)


def _busiest_key(case: Path) -> str:
    code = f"""
import pyarrow.compute as pc
from graphtrail.store.case import Case
act = Case.open({str(case)!r}).graph_table("activity", ["actor"])
counts = pc.value_counts(act.column("actor")).to_pylist()
keys = [c for c in counts if (c["values"] or "").startswith("key:")]
print(max(keys, key=lambda c: c["counts"])["values"][4:])
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def _timed(cmd: list[str], repeat: int = 1, before=None) -> dict:
    """Best of ``repeat`` runs; the memory peaks of all of them: the tree's summed RSS
    (pages a forked worker shares with its parent counted in each) and its PSS (counted
    once)."""
    best, best_cpu, peak, pss = None, None, 0, {}
    for _ in range(repeat):
        if before is not None:
            before()
        seconds, cpu, rss, _ = measured(cmd, pss=pss)
        best = seconds if best is None else min(best, seconds)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        peak = max(peak, rss)
    return {"seconds": round(best, 3), "cpu_seconds": round(best_cpu, 3),
            "peak_rss_mb": round(peak / 2**20), "peak_pss_mb": round(pss.get("peak", 0) / 2**20)}


# ``findings`` and ``report`` with nothing kept (graphtrail/queries/findings/cache.py), then
# ``findings_kept`` and ``report_kept``: asked again, the findings of the first run read back
# ``*_table``: the same answer printed as the terminal table (the default format), to a pipe
QUESTIONS = ("help", "findings", "report", "findings_kept", "report_kept", "view",
             "blast_radius", "chains", "chains_table", "timeline", "timeline_table", "keys_table",
             "coverage", "coverage_json")


def question_times(case: Path, out: Path, gt: list[str] | None = None, repeat: int = 1,
                   only: tuple[str, ...] = QUESTIONS) -> dict:
    """Each question (of ``only``) a cold ``graphtrail`` process (``gt``: the installed
    command by default), as a user runs it; the best of ``repeat`` runs of each."""
    key = _busiest_key(case)
    gt = gt or [graphtrail_command()]
    c = ["--case", str(case)]
    commands = {
        "help": ([*gt, "--help"], 3),
        "findings": ([*gt, "findings", *c, "--format", "json"], repeat),
        "report": ([*gt, "report", "--access-key", key, *c, "--out", str(out / "r.html")], repeat),
        "view": ([*gt, "view", *c, "--out", str(out / "g.html")], repeat),
        "blast_radius": ([*gt, "blast-radius", "--access-key", key, *c, "--format", "json"], repeat),
        "chains": ([*gt, "chains", *c, "--format", "json"], repeat),
        "chains_table": ([*gt, "chains", *c], repeat),
        "timeline": ([*gt, "timeline", "--access-key", key, "--lineage", *c, "--format", "json"], repeat),
        "timeline_table": ([*gt, "timeline", "--access-key", key, "--lineage", *c], repeat),
        "keys_table": ([*gt, "keys", *c], repeat),
        "coverage": ([*gt, "coverage", *c], repeat),
        "coverage_json": ([*gt, "coverage", *c, "--format", "json"], repeat),
    }
    commands["findings_kept"] = commands["findings"]
    commands["report_kept"] = commands["report"]

    def forget() -> None:  # the findings a run kept: every cold run starts without them
        for kept in case.glob(".graph-*/findings"):
            shutil.rmtree(kept, ignore_errors=True)

    out = {"seed": key}
    for q in QUESTIONS:
        if q in only:
            cold = q in ("findings", "report")
            if q.endswith("_kept"):  # what the cold run of its question keeps, first
                forget()
                measured(commands[q][0])
            out[q] = _timed(*commands[q], before=forget if cold else None)
    return out


def questions_side_by_side(case: Path, before: Path | None, repeat: int = 1,
                           only: tuple[str, ...] = QUESTIONS, rounds: int = 1) -> dict:
    """Time the questions on an existing case, without ingesting; with ``before`` (another
    source tree) also with that graphtrail, in the same run, each on its own copy of the
    case whose graph that graphtrail built (untimed) first: graph formats may differ.

    ``rounds``: the trees alternated that many times (before, after, before, after...), so
    that a change of the machine's speed during the run falls on both; each tree's figures
    are the best of its rounds, and ``rounds`` lists every round's."""
    work = Path(tempfile.mkdtemp(prefix="gt-questions-"))
    try:
        result = {"case": str(case), "load_average_start": os.getloadavg()[0]}
        trees = {"after": [graphtrail_command()]}
        if before is not None:
            trees = {"before": _from_tree(before), **trees}
        for name, gt in trees.items():
            copy = work / name
            shutil.copytree(case, copy, symlinks=True)
            subprocess.run([*gt, "case", "rebuild", "--case", str(copy)], check=True,
                           capture_output=True)
        every = []
        for _ in range(rounds):
            every.append({name: question_times(work / name, work, gt, repeat, only)
                          for name, gt in trees.items()})
        for name in trees:
            result[name] = _best_of([r[name] for r in every])
        if rounds > 1:
            result["rounds"] = every
        result["load_average_end"] = os.getloadavg()[0]
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _best_of(runs: list[dict]) -> dict:
    """Per question: the least seconds and CPU seconds of ``runs``, the largest memory."""
    out = dict(runs[0])
    for q, first in runs[0].items():
        if isinstance(first, dict):
            out[q] = {k: (max if k.startswith("peak") else min)(r[q][k] for r in runs)
                      for k in first}
    return out


def _from_tree(src: Path) -> list[str]:
    """``graphtrail`` run from another source tree with this interpreter's packages."""
    # -P: not the working directory first on sys.path (run from a checkout, it would
    # shadow the tree asked for)
    return ["env", f"PYTHONPATH={src.resolve()}", sys.executable, "-P", "-c",
            "import sys; from graphtrail.cli.main import app; sys.argv[0] = 'graphtrail'; app()"]


def _ingest_figures(run: tuple[float, float, int, str]) -> dict:
    seconds, cpu, peak, out = run
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "events_per_second": round(_events(out) / seconds),
            "graph_seconds": json.loads(out).get("graph", {}).get("seconds"),
            "peak_rss_mb": round(peak / 2**20)}


def _events(summary_json: str) -> int:
    summary = json.loads(summary_json)
    return summary["events_added"] + summary["duplicates"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", type=Path)
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads and graphtrail workers")
    ap.add_argument("--no-questions", action="store_true", help="time ingest only")
    ap.add_argument("--baseline-python", action="append", default=None,
                    help="the Python whose duckdb runs the baseline; repeat it to run several "
                         "DuckDB versions in the same run (the first is `duckdb`, the others "
                         "`duckdb_also`); default: this Python")
    ap.add_argument("--no-same-load", action="store_true",
                    help="skip the second yardstick (DuckDB writing the events table)")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    ap.add_argument("--questions-only", action="store_true",
                    help="TRAIL is an ingested case: time only the questions on it (with "
                         "--before, also those of another source tree)")
    ap.add_argument("--repeat", type=int, default=1, help="questions: best of this many runs")
    ap.add_argument("--only", default=",".join(QUESTIONS),
                    help=f"questions to time, comma-separated (of {', '.join(QUESTIONS)})")
    ap.add_argument("--rounds", type=int, default=1,
                    help="--questions-only: alternate the two trees this many times")
    ap.add_argument("--before", type=Path, default=None,
                    help="also time the ingest of another source tree of graphtrail (say, "
                         "`git archive HEAD~1 graphtrail loaders | tar -x -C /tmp/before`) in the same run")
    args = ap.parse_args(argv)

    if args.questions_only:
        only = tuple(q.strip() for q in args.only.split(",") if q.strip())
        unknown = sorted(set(only) - set(QUESTIONS))
        if unknown:
            ap.error(f"--only: unknown questions {unknown}")
        emit_result(questions_side_by_side(args.trail, args.before, args.repeat, only, args.rounds),
                    args.json)
        return 0
    files = _trail_files(args.trail)
    work = Path(tempfile.mkdtemp(prefix="gt-scale-"))
    try:
        pythons = args.baseline_python or [sys.executable]
        duck, *also = [duckdb_baseline(files, args.threads, py) for py in pythons]
        same = None if args.no_same_load else duckdb_same_load(files, args.threads, pythons[0])
        case = work / "case"
        ingest = ["ingest", str(args.trail), "--format", "json", "--workers", str(args.threads)]
        before = None
        if args.before:
            tree = _from_tree(args.before)
            before = _ingest_figures(measured(tree + ingest + ["--case", str(work / "before")]))
            before["ratio_vs_duckdb"] = round(duck["seconds"] / before["seconds"], 2)
            before["cpu_ratio_vs_duckdb"] = round(duck["cpu_seconds"] / before["cpu_seconds"], 2)
            before["again_seconds"] = round(measured(tree + ingest + ["--case", str(work / "before")])[0], 2)
            shutil.rmtree(work / "before", ignore_errors=True)
        run = measured([graphtrail_command(), *ingest, "--case", str(case)])
        ours = _ingest_figures(run)
        # the same files again: every one already held, no event added
        ours["again_seconds"] = round(measured([graphtrail_command(), *ingest, "--case", str(case)])[0], 2)
        events = _events(run[3])
        result = {
            "events": events, "files": len(files), "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "duckdb": {"version": duck["version"], "seconds": round(duck["seconds"], 2),
                       "process_cpu_seconds": round(duck["cpu_seconds"], 2),
                       "events_per_second": round(duck["events"] / duck["seconds"]),
                       "edges": duck["edges"], "peak_rss_mb": duck["peak_rss_mb"]},
            "graphtrail_ingest": ours,
            "ratio_vs_duckdb": round(duck["seconds"] / ours["seconds"], 2),
            "cpu_ratio_vs_duckdb": round(duck["cpu_seconds"] / ours["cpu_seconds"], 2),
        }
        if also:
            result["duckdb_also"] = [
                {"version": d["version"], "seconds": round(d["seconds"], 2),
                 "process_cpu_seconds": round(d["cpu_seconds"], 2),
                 "events_per_second": round(d["events"] / d["seconds"]), "edges": d["edges"],
                 "ratio_vs_duckdb": round(d["seconds"] / ours["seconds"], 2),
                 "cpu_ratio_vs_duckdb": round(d["cpu_seconds"] / ours["cpu_seconds"], 2)}
                for d in also]
        if same is not None:
            # the load stage alone: the ingest's time without its graph build
            load = ours["seconds"] - (ours["graph_seconds"] or 0)
            result["duckdb_same_load"] = {
                "version": same["version"], "seconds": round(same["seconds"], 2),
                "process_cpu_seconds": round(same["cpu_seconds"], 2),
                "events_per_second": round(same["events"] / same["seconds"]),
                "parquet_mb": round(same["parquet_bytes"] / 2**20, 1),
                "peak_rss_mb": same["peak_rss_mb"],
                "graphtrail_load_seconds": round(load, 2),
                "ratio_vs_graphtrail_load": round(same["seconds"] / load, 2),
                "ratio_vs_graphtrail_ingest": round(same["seconds"] / ours["seconds"], 2)}
        if before is not None:
            result["graphtrail_ingest_before"] = before
        if not args.no_questions:
            result["questions"] = question_times(case, work)
        emit_result(result, args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
