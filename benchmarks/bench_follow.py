"""``ingest --follow`` against a full ingest, side by side, on one generated trail.

    python benchmarks/bench_follow.py WORK_DIR --events 1000000 [--engine duckdb|spark]

Writes the trail (``benchmarks/generate_trail.py``; reused when WORK_DIR/trail holds it),
chooses the seed (the long-term key whose lineage is the largest: the worst case for
following), ingests everything into one case and only the seed's lineage into another,
checks that both give the same blast radius and chains for the seed, and prints rounds,
records fetched, seconds and the fraction of the trail fetched, as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphtrail.queries.blast_radius import blast_radius  # noqa: E402
from graphtrail.queries.chains import chains  # noqa: E402
from graphtrail.store.case import Case  # noqa: E402
from graphtrail.store.memory import MemoryStore  # noqa: E402
from graphtrail.synth.trails import write_trail  # noqa: E402
from graphtrail.wiring import link_case, run_ingest  # noqa: E402
from loaders.engines.select import engine_for  # noqa: E402
from loaders.follow.lineage import FollowSet  # noqa: E402
from loaders.follow.rounds import FollowStats, follow_objects  # noqa: E402
from loaders.sources.files import list_files  # noqa: E402

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    trail = work / "trail"
    if not (trail / "AWSLogs").exists():
        write_trail(trail, args.events, seed=args.seed)
    key = largest_user_key(trail)

    full_case = _fresh(work / "full-case")
    t0 = time.perf_counter()
    summary = run_ingest(list(list_files([str(trail)])), full_case, workers=args.workers)
    link_case(full_case, summary)
    full_seconds = time.perf_counter() - t0

    follow_case = _fresh(work / "follow-case")
    stats = FollowStats(args.engine)
    t0 = time.perf_counter()
    engine = engine_for([str(trail)], args.engine)
    objects = follow_objects(engine, FollowSet.of(keys=[key]), stats)
    summary_f = run_ingest(objects, follow_case, workers=args.workers)
    link_case(follow_case, summary_f)
    follow_seconds = time.perf_counter() - t0

    full, followed = MemoryStore(full_case), MemoryStore(follow_case)
    same = _answer(full, key) == _answer(followed, key)
    records = summary.records_read
    print(json.dumps({
        "events": records, "seed": key, "engine": args.engine,
        "rounds": stats.rounds, "records_fetched": stats.records_fetched,
        "events_kept": summary_f.events_added,
        "fraction_fetched": round(stats.records_fetched / records, 5) if records else None,
        "rows_scanned": stats.rows_scanned, "bytes_scanned": stats.bytes_scanned,
        "follow_seconds": round(follow_seconds, 1), "full_ingest_seconds": round(full_seconds, 1),
        "same_blast_radius_and_chains": same,
    }, indent=2))
    return 0 if same else 1


def largest_user_key(trail: Path) -> str:
    """The long-term key with the most calls and sessions issued: the largest lineage."""
    con = duckdb.connect()
    row = con.execute(
        "SELECT r->>'$.userIdentity.accessKeyId' AS k, count(*) AS n FROM ("
        "SELECT unnest(CAST(json->'$.Records' AS JSON[])) AS r FROM read_json_objects(?, "
        "format='auto', maximum_object_size=268435456)) WHERE k LIKE 'AKIA%' "
        "GROUP BY k ORDER BY n DESC, k LIMIT 1",
        [[o.path for o in list_files([str(trail)]) if o.path and o.kind == "trail"]]).fetchone()
    return row[0]


def _answer(store, key):
    br = blast_radius(store, key).to_dict()
    return br, [c.to_dict() for c in chains(store) if set(c.sessions) & set(br["sessions"])]


def _fresh(path: Path) -> Case:
    shutil.rmtree(path, ignore_errors=True)
    return Case.open(path, create=True)


if __name__ == "__main__":
    raise SystemExit(main())
