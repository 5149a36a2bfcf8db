"""Time ``findings`` over a generated organization trail of N events.

Usage::

    python benchmarks/bench_findings.py --events 1000000 [--keep /tmp/bench-case] [--json out.json]
    python benchmarks/bench_findings.py --case /tmp/bench-case      # an existing case
    # side by side with another version's source (git archive <commit> graphtrail loaders
    # | tar -x -C /tmp/base): cold runs alternated in fresh processes, same case
    python benchmarks/bench_findings.py --case /tmp/bench-case --against /tmp/base --rounds 3

The trail is graphtrail's benchmark generator (``graphtrail.synth.trails.write_trail``: every
identity type, many accounts and regions). Ingest is timed but is not the point; the numbers
that matter are ``findings`` from a cold start (case opened, nothing cached) and again on the
same store, and how many findings of each severity the catalogue raises on that benign trail.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from graphtrail.cli.ingest import finish_ingest, run_ingest
from graphtrail.queries.findings import RULES, findings
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.trails import write_trail
from loaders.sources.files import list_files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--case", type=Path, help="benchmark an existing case instead")
    ap.add_argument("--keep", type=Path, help="keep the generated case here")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--against", type=Path, help="a source tree of another version to time too")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.against:
        if args.case is None:
            ap.error("--against needs --case")
        out = side_by_side(args.case, args.against, args.rounds)
        print(json.dumps(out, indent=1))
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
        return
    out: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-findings-"))
    try:
        case_dir = args.case
        if case_dir is None:
            t = time.perf_counter()
            write_trail(tmp / "logs", args.events, seed=0)
            out["generate_s"] = round(time.perf_counter() - t, 1)
            case_dir = args.keep or tmp / "case"
            t = time.perf_counter()
            case = Case.open(case_dir, create=True)
            finish_ingest(case, run_ingest(list(list_files([str(tmp / "logs")])), case))
            out["ingest_s"] = round(time.perf_counter() - t, 1)
        store = MemoryStore(Case.open(case_dir))
        out["events"] = store.case.event_count()
        t = time.perf_counter()
        found = findings(store)
        out["findings_cold_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        findings(store)
        out["findings_warm_s"] = round(time.perf_counter() - t, 2)
        out["rules"] = len(RULES)
        out["by_severity"] = dict(Counter(f.severity for f in found))
        out["by_rule"] = dict(Counter(f.rule_id for f in found).most_common())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


_COLD = """
import json, sys, time
t = time.perf_counter()
from graphtrail.queries.findings import findings
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
found = findings(MemoryStore(Case.open(sys.argv[1])))
print(json.dumps({"s": time.perf_counter() - t, "cpu": time.process_time(),
                  "answer": sorted([f.rule_id, f.fingerprint, sorted(f.event_ids)] for f in found)}))
"""


def side_by_side(case: Path, other: Path, rounds: int) -> dict:
    """Cold ``findings`` (imports included) of this tree and of ``other``, alternated: wall
    and CPU seconds (all threads; steadier than wall time on a shared machine)."""
    import os
    import statistics
    import subprocess
    import sys

    here = str(Path(__file__).resolve().parents[1])
    times: dict[str, list[float]] = {"this": [], "other": []}
    cpu: dict[str, list[float]] = {"this": [], "other": []}
    answers = {}
    for _ in range(rounds):
        for name, tree in (("other", str(other)), ("this", here)):
            env = {**os.environ, "PYTHONPATH": tree}
            res = subprocess.run([sys.executable, "-c", _COLD, str(case)], env=env, check=True,
                                 capture_output=True, text=True, cwd=tree)
            r = json.loads(res.stdout)
            times[name].append(round(r["s"], 2))
            cpu[name].append(round(r["cpu"], 2))
            answers[name] = r["answer"]
    return {"this_s": times["this"], "other_s": times["other"],
            "median_this_s": statistics.median(times["this"]),
            "median_other_s": statistics.median(times["other"]),
            "ratio": round(statistics.median(times["other"]) / statistics.median(times["this"]), 2),
            "cpu_this_s": cpu["this"], "cpu_other_s": cpu["other"],
            "median_cpu_this_s": statistics.median(cpu["this"]),
            "median_cpu_other_s": statistics.median(cpu["other"]),
            "same_answer": answers["this"] == answers["other"], "load_average": os.getloadavg()}


if __name__ == "__main__":
    main()
