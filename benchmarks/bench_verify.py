"""Benchmark: `graphtrail verify` over a signed trail of ~10,000 log files, disk and S3.

    python benchmarks/bench_verify.py [--files 10000] [--workers 16] [--out DIR]

Writes an organization trail (5 accounts, 11 account-regions, one log file per
account-region every 15 minutes, hourly digests signed with a fresh RSA key and their
``.metadata.json`` sidecars), then times the verification (list, read, inflate, SHA-256
every file, check every signature and the chain) from the folder and from moto's S3 server
(its own process) over HTTP on 127.0.0.1, with the digest signatures as object metadata;
``get_only_seconds`` is the same listing and GETs with nothing checked, the server's floor.
Prints JSON.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import socket
import tempfile
import time
from pathlib import Path

from graphtrail.integrity.digest import parse_public_keys
from graphtrail.queries.integrity import judge
from graphtrail.synth.digests import (
    deliver_records,
    public_keys_json,
    signing_key,
    write_signed_digests,
)
from graphtrail.synth.trails import DEFAULT_ORG_ID, build_world, noise_records
from loaders.integrity.copies import FolderCopy, S3Copy
from loaders.integrity.read import read_trail

__all__ = ["main"]

T0 = calendar.timegm(time.strptime("2024-06-01T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ"))
BUCKET = "bench-org-trail"


def write(root: Path, files: int, records_per_file: int):
    world = build_world(0)
    pairs = sum(len(a.regions) for a in world.accounts.values())
    hours = math.ceil(files / (pairs * 4))
    began = time.perf_counter()
    records = noise_records(world, files * records_per_file, T0, T0 + hours * 3600)
    logs = deliver_records(root, records, DEFAULT_ORG_ID)
    key = signing_key()
    signed = write_signed_digests(root, logs, key, org_id=DEFAULT_ORG_ID, bucket=BUCKET,
                                  start=T0, end=T0 + hours * 3600)
    keys = parse_public_keys(public_keys_json(key, T0 - 86400, T0 + 400 * 86400), "bench")
    return logs, signed, keys, time.perf_counter() - began


def timed_verify(copy, keys, workers: int) -> dict:
    began = time.perf_counter()
    evidence = read_trail(copy, workers=workers)
    read = time.perf_counter() - began
    report = judge(evidence, keys)
    total = time.perf_counter() - began
    s = report.summary
    return {"valid": report.valid, "seconds": round(total, 2), "read_seconds": round(read, 2),
            "log_files": s["log_files"], "log_files_verified": s["log_files_verified"],
            "digests": s["digests"], "signatures_verified": s["digests_signature_verified"],
            "mb_read": round(evidence.bytes_read / 2**20, 1)}


def _serve(root: str, signed: list[tuple[str, dict]], port: int, ready, stop) -> None:
    """moto's S3 server in its own process (as S3 would be), loaded straight into its backend."""
    import logging

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(BUCKET, "us-east-1")
    metadata = dict(signed)
    for path in Path(root).rglob("*.json.gz"):
        key = path.relative_to(root).as_posix()
        obj = backend.put_object(BUCKET, key, path.read_bytes())
        if key in metadata:  # what an upload with x-amz-meta-* headers stores
            obj.set_metadata({f"x-amz-meta-{k}": v for k, v in metadata[key].items()})
    ready.set()
    stop.wait()
    server.stop()


def _get_only(workers: int) -> float:
    """The floor: list and GET every object with the same threads, nothing checked."""
    from concurrent.futures import ThreadPoolExecutor

    copy = S3Copy(f"s3://{BUCKET}/")
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(copy.read, list(copy.keys())))
    return round(time.perf_counter() - began, 2)


def s3_run(root: Path, signed, keys, workers: int) -> dict:
    import multiprocessing
    import os

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    began = time.perf_counter()
    child = ctx.Process(target=_serve, args=(str(root), [(d.key, d.metadata) for d in signed],
                                             port, ready, stop))
    child.start()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                       "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        if not ready.wait(600):
            raise RuntimeError("moto server did not start")
        upload = time.perf_counter() - began
        result = timed_verify(S3Copy(f"s3://{BUCKET}/"), keys, workers)
        result["upload_seconds"] = round(upload, 1)
        result["get_only_seconds"] = _get_only(workers)
        return result
    finally:
        stop.set()
        child.join(30)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="log files to write")
    parser.add_argument("--records-per-file", type=int, default=10)
    parser.add_argument("--workers", type=int, default=16, help="files read at once")
    parser.add_argument("--out", help="folder for the trail (default: a temporary one)")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp) / "trail"
        logs, signed, keys, gen = write(root, args.files, args.records_per_file)
        out = {"log_files_written": len(logs), "digests_written": len(signed),
               "generate_seconds": round(gen, 1),
               "disk": timed_verify(FolderCopy(root), keys, args.workers)}
        if not args.no_s3:
            out["s3"] = s3_run(root, signed, keys, args.workers)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
