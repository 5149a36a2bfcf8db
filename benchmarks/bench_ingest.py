"""Time ``graphtrail ingest`` and the questions on a generated trail; report ratios.

Machines are noisy, so every number is put next to baselines measured in the same run:

* ``floor``: python-isal gunzip + msgspec decoding of graphtrail's typed record, one core,
  nothing else: the fastest a Python reader of these files can go;
* ``stdlib``: gzip + ``json.loads``, one core: what a naive reader does.

Usage::

    python benchmarks/generate_trail.py /tmp/trail --events 1000000
    python benchmarks/bench_ingest.py /tmp/trail [--workers N] [--json out.json]

It runs the installed ``graphtrail`` as a user would (a subprocess), samples the resident
memory of its whole process tree (workers included) every 20 ms, then opens the case and
times blast radius and chains from a cold start.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    return _tree_sum(pid, "status", "VmRSS:")


def _tree_pss(pid: int) -> int:
    """Proportional set size of a process and its descendants (Linux /proc): a page two
    processes share counts half in each, so forked workers are not counted twice."""
    return _tree_sum(pid, "smaps_rollup", "Pss:")


def _tree_sum(pid: int, name: str, field: str) -> int:
    """The kB figure ``field`` of ``/proc/<pid>/<name>``, added up over the process tree, in bytes."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/{name}") as fh:
                for line in fh:
                    if line.startswith(field):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def graphtrail_command() -> str:
    """The ``graphtrail`` installed beside this interpreter (a venv's bin/ need not be on
    PATH), else the one on PATH."""
    beside = Path(sys.executable).with_name("graphtrail")
    return str(beside) if beside.exists() else (shutil.which("graphtrail") or "graphtrail")


def emit_result(result: dict, path: Path | None) -> None:
    """A benchmark's result as JSON on stdout, and in ``path`` when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        path.write_text(text)


def run_measured(cmd: list[str], watch=None, pss: dict | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return (seconds, peak tree RSS bytes, stdout). ``watch(pid, tree_rss)``,
    if given, is called at every sample. ``pss``, if given, gets ``peak``: the largest
    proportional set size of the tree seen (read at every fifth sample, and whenever the
    RSS reaches a new peak: the kernel walks the page tables to say it)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        n = 0
        while not done.is_set():
            rss = _tree_rss(proc.pid)
            if pss is not None and (rss > peak or n % 5 == 0):
                pss["peak"] = max(pss.get("peak", 0), _tree_pss(proc.pid))
            n += 1
            peak = max(peak, rss)
            if watch is not None:
                watch(proc.pid, rss)
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    done.set()
    th.join()
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return time.perf_counter() - t0, peak, out


def _files(trail: Path, n: int | None = None) -> list[Path]:
    files = sorted(p for p in trail.rglob("*.json.gz") if "CloudTrail-Digest" not in str(p))
    return files[:n] if n else files


def baseline_floor(files: list[Path]) -> float:
    """Events/s on one core: isal gunzip + msgspec typed decode, nothing else."""
    import msgspec
    from isal import igzip

    from loaders.schema import S3Delivery

    dec = msgspec.json.Decoder(S3Delivery)
    n, t0 = 0, time.process_time()
    for f in files:
        n += len(dec.decode(igzip.decompress(f.read_bytes())).Records or [])
    return n / (time.process_time() - t0)


def baseline_stdlib(files: list[Path]) -> float:
    n, t0 = 0, time.process_time()
    for f in files:
        n += len(json.loads(gzip.decompress(f.read_bytes()))["Records"])
    return n / (time.process_time() - t0)


def query_times(case: Path) -> dict:
    """Cold-start blast radius and chains on the case (in a fresh interpreter)."""
    code = f"""
import json, time
t0 = time.perf_counter()
from graphtrail.store.memory import MemoryStore
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
import pyarrow.compute as pc
store = MemoryStore.open({str(case)!r})
act = store.activity(["actor"])
keys = pc.value_counts(act.column("actor")).to_pylist()
seed = max((k for k in keys if (k["values"] or "").startswith("key:")), key=lambda k: k["counts"])
t1 = time.perf_counter()
br = blast_radius(store, seed["values"][4:])
t2 = time.perf_counter()
ch = chains(store, cross_account=True)
t3 = time.perf_counter()
print(json.dumps({{"seed": seed["values"], "seed_calls": seed["counts"], "blast_radius_s": t2 - t1,
                   "blast_radius_events": len(br.event_ids), "chains_s": t3 - t2,
                   "chains": len(ch), "open_s": t1 - t0}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", type=Path)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--sample-files", type=int, default=60, help="files for the baselines")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    sample = _files(args.trail, args.sample_files)
    floor = baseline_floor(sample)
    stdlib = baseline_stdlib(sample)

    case = Path(tempfile.mkdtemp(prefix="gt-bench-")) / "case"
    cmd = [graphtrail_command(), "ingest", str(args.trail), "--case", str(case), "--format", "json"]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    seconds, peak, out = run_measured(cmd)
    summary = json.loads(out)
    events = summary["events_added"] + summary["duplicates"]
    graph_s = summary.get("graph", {}).get("seconds", 0.0)
    load_s = seconds - graph_s
    q = query_times(case)
    cores = os.cpu_count() or 1
    result = {
        "events": events,
        "files": summary["files_read"],
        "cores": cores,
        "ingest_seconds": round(seconds, 2),
        "load_seconds": round(load_s, 2),
        "graph_seconds": round(graph_s, 2),
        "events_per_second_end_to_end": round(events / seconds),
        "events_per_second_load": round(events / load_s),
        "peak_rss_mb": round(peak / 2**20),
        "floor_events_per_second_per_core": round(floor),
        "stdlib_events_per_second_per_core": round(stdlib),
        "ratio_end_to_end_vs_floor_one_core": round(events / seconds / floor, 2),
        "ratio_end_to_end_vs_stdlib_one_core": round(events / seconds / stdlib, 2),
        "ratio_floor_vs_stdlib": round(floor / stdlib, 2),
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in q.items()},
        "graph": summary.get("graph"),
    }
    emit_result(result, args.json)
    shutil.rmtree(case.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
