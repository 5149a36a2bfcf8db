"""Time ``findings`` over a generated organization trail of N events.

Usage::

    python benchmarks/bench_findings.py --events 1000000 [--keep /tmp/bench-case] [--json out.json]
    python benchmarks/bench_findings.py --case /tmp/bench-case      # an existing case

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
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
