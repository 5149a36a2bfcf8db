"""Ingest the same generated records as the S3 trail, as CloudWatch Logs shapes and as
Security Lake Parquet, side by side in one run: seconds, events/s, peak memory.

Usage::

    python benchmarks/bench_inputs.py --events 200000 [--workers N] [--json out.json]

Every shape is written from the records of one generated organization trail
(:func:`graphtrail.synth.write_trail`), then ingested by the installed ``graphtrail`` in a
subprocess whose whole process tree's resident memory is sampled (see bench_ingest.py).
Security Lake objects are written one per account and region, in row groups of 10,000 rows
(the reader decodes one row group at a time).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import run_measured  # noqa: E402

from graphtrail.synth import cloudwatch as cw  # noqa: E402
from graphtrail.synth import write_trail  # noqa: E402
from graphtrail.synth.securitylake import write_security_lake  # noqa: E402


def write_shapes(trail: Path, out: Path) -> dict[str, Path]:
    """The trail's records as each shape; returns shape -> folder."""
    records = cw.trail_records(trail)
    events = cw.log_events(records)
    streams: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        streams[e["logStreamName"]].append(e)
    shapes = {name: out / name for name in ("filter-log-events", "s3-export", "security-lake")}
    for folder in shapes.values():
        folder.mkdir(parents=True)
    for i in range(0, len(events), 10_000):  # FilterLogEvents pages of 10,000 events
        (shapes["filter-log-events"] / f"page-{i // 10_000:05d}.json").write_bytes(
            cw.filter_log_events_output(events[i:i + 10_000]))
    for name, evs in streams.items():
        obj = shapes["s3-export"] / "task" / name / "000000.gz"
        obj.parent.mkdir(parents=True)
        obj.write_bytes(gzip.compress(cw.export_text(evs), compresslevel=6))
    parts: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        parts[(r["recipientAccountId"], r["awsRegion"])].append(r)
    for (account, region), recs in parts.items():
        write_security_lake(shapes["security-lake"] / f"region={region}" / f"accountId={account}"
                            / "part-0.zstd.parquet", recs, row_group_size=10_000)
    return shapes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("graphtrail"))
    with tempfile.TemporaryDirectory(prefix="bench-inputs-") as tmp:
        root = Path(tmp)
        write_trail(root / "trail", args.events)
        inputs = {"s3-files": root / "trail", **write_shapes(root / "trail", root / "shapes")}
        rows = []
        for name, folder in inputs.items():
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            cmd = [exe, "ingest", str(folder), "--case", str(root / f"case-{name}"), "--format", "json"]
            if args.workers is not None:
                cmd += ["--workers", str(args.workers)]
            seconds, peak, out = run_measured(cmd)
            got = json.loads(out)
            rows.append({"input": name, "mb_on_disk": round(size / 2**20, 1),
                         "events": got["events_added"], "seconds": round(seconds, 2),
                         "events_per_s": round(got["events_added"] / seconds),
                         "peak_rss_mb": round(peak / 2**20)})
    base = rows[0]["seconds"]
    for r in rows:
        r["vs_s3_files"] = round(r["seconds"] / base, 2)
        print(f"{r['input']:>18}  {r['mb_on_disk']:>7} MB  {r['events']:>9,} events  "
              f"{r['seconds']:>7.2f} s  {r['events_per_s']:>8,}/s  peak {r['peak_rss_mb']:>5} MB  "
              f"x{r['vs_s3_files']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
