"""Ingest a folder of full-size hostile files beside good ones; measure time and memory.

The folder holds good S3 delivery files and, beside them, each attack of issue 16 at full
size: a 4 MB ``.json.gz`` that unpacks to 4 GiB, a record with a 1 GiB ``userAgent``,
``zero.json -> /dev/zero``, a FIFO, a lone surrogate, ten good records then one nested 100k
deep, events dated 9999/0001/2300, a dangling symbolic link and a symbolic link loop.
Compressed files are built from gzip members (a member of 1 MiB of zeros is ~1 KB), so the
folder takes seconds to make and a few MB on disk.

Usage::

    python benchmarks/bench_hostile.py [--workers N] [--json out.json]

It runs the installed ``graphtrail ingest`` as a user would, samples the resident memory of
its whole process tree every 20 ms (as ``bench_ingest.py`` does), and checks the outcome:
every good record kept, every bad file named, and the peak under 1 GB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_ingest import run_measured  # noqa: E402
from tests import shapes as S  # noqa: E402

GOOD_FILES = 50
RECORDS_PER_FILE = 200
BAD = {"bomb.json.gz", "huge-agent.json.gz", "zero.json", "pipe.json", "deep.json",
       "times.json", "dangling.json", "loop.json"}


def _repeat_member(chunk: bytes, times: int) -> bytes:
    return gzip.compress(chunk, 9) * times


def build(folder: Path) -> int:
    """Write the hostile folder; return how many good records it holds."""
    good = 0
    for f in range(GOOD_FILES):
        recs = [S.iam_user_call("ListUsers", n=f * RECORDS_PER_FILE + i) for i in range(RECORDS_PER_FILE)]
        S.write(folder / f"good-{f:03d}.json.gz", gzip.compress(S.s3_delivery(recs)))
        good += len(recs)
    mib = bytes(1 << 20)
    S.write(folder / "bomb.json.gz", gzip.compress(b'{"Records": [') + _repeat_member(mib, 4096))
    head = json.dumps({"Records": [dict(S.iam_user_call("GetCallerIdentity", n=10**6),
                                        userAgent="@@UA@@")]}).encode()
    before, after = head.split(b"@@UA@@")
    S.write(folder / "huge-agent.json.gz", gzip.compress(before)
            + _repeat_member(b"A" * (1 << 20), 1024) + gzip.compress(after))
    good += 1  # kept, its user agent truncated
    os.symlink("/dev/zero", folder / "zero.json")
    os.mkfifo(folder / "pipe.json")
    surrogate = dict(S.iam_user_call("ListRoles", n=10**6 + 1), userAgent="x\ud800y")
    S.write(folder / "surrogate.json", json.dumps({"Records": [surrogate]}).encode())
    good += 1  # normalized
    ten = [S.iam_user_call("ListGroups", n=10**6 + 10 + i) for i in range(10)]
    deep = '{"eventName": "X", "requestParameters": ' + "[" * 100_000 + "]" * 100_000 + "}"
    S.write(folder / "deep.json", (json.dumps({"Records": ten})[:-2] + ", " + deep + "]}").encode())
    good += 10
    odd = [dict(S.iam_user_call("ListKeys", n=10**6 + 30 + i), eventTime=f"{y}-01-01T00:00:00Z")
           for i, y in enumerate(("9999", "0001", "2300"))]
    S.write(folder / "times.json", S.s3_delivery([*odd, S.iam_user_call("ListKeys", n=10**6 + 40)]))
    good += 1
    os.symlink(folder / "nowhere.json", folder / "dangling.json")
    os.symlink("loop.json", folder / "loop.json")
    return good


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gt-hostile-"))
    try:
        expected = build(work / "in")
        on_disk = sum(p.lstat().st_size for p in (work / "in").iterdir())
        cmd = ["graphtrail", "ingest", str(work / "in"), "--case", str(work / "case"),
               "--format", "json"]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        seconds, peak, out = run_measured(cmd)
        summary = json.loads(out)
        named = {Path(f["path"]).name for f in summary["files_failed"]}
        result = {
            "input_bytes_on_disk": on_disk,
            "seconds": round(seconds, 1),
            "peak_tree_rss_mb": round(peak / 2**20),
            "largest_child_maxrss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            "good_records": expected,
            "events_added": summary["events_added"],
            "bad_files_named": sorted(named),
            "bad_files_missed": sorted(BAD - named),
            "errors": {Path(f["path"]).name: f["error"] for f in summary["files_failed"]},
            "ok": summary["events_added"] == expected and BAD <= named and peak < 2**30,
        }
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        sys.exit(0 if result["ok"] else 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
