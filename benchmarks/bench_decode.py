"""Decoding trail files into the events' columns: graphtrail's path against C parsers.

The load stage turns each decompressed trail file into Arrow columns. graphtrail decodes the
records with msgspec into typed structs (only the fields it keeps), transposes them and
hands the values to ``pa.array`` (:class:`loaders.events.EventBatch`). Would a parser
written in C, building the columns without a Python object per value, do it for less?
This times, in one process on the same files, with the garbage collector off as in the
workers, the CPU per event of:

* ``graphtrail``: ``split_records`` + ``EventBatch`` to the events table (every column:
  times parsed, the issued key read, text bounded, bad times dropped);
* ``pyarrow_json``: pyarrow's JSON reader (C++) with an explicit schema of the same record
  fields, fed one file's records as JSON Lines (msgspec splits the ``Records`` array into
  raw byte slices, without decoding them); it builds the columns, nothing else;
* ``pyarrow_json_payloads``: the same, plus the four payload columns as text (msgspec's raw
  slices, as graphtrail keeps them) and the times cast to timestamps;
* ``polars`` (when installed; not a dependency): ``polars.read_ndjson`` with the same
  schema, on one thread (``POLARS_MAX_THREADS=1`` is set before it is imported).

Each is run ``--repeat`` times, interleaved; the best is kept. The C readers do less than
graphtrail's path (no times, no issued key, no bounds, payloads kept as parsed text or
dropped), so a ratio below 1 means graphtrail is faster even so.

Usage::

    python benchmarks/bench_decode.py /work/trails/t1m --files 60 [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.json as pj  # noqa: E402
from bench_ingest import emit_result  # noqa: E402
from isal import igzip  # noqa: E402

from loaders.events import EventBatch  # noqa: E402
from loaders.records import split_records  # noqa: E402

__all__ = ["main"]

_S = pa.string()
_ISSUER = pa.struct([("type", _S), ("principalId", _S), ("arn", _S), ("accountId", _S),
                     ("userName", _S)])
_CONTEXT = pa.struct([("sessionIssuer", _ISSUER),
                      ("attributes", pa.struct([("creationDate", _S), ("mfaAuthenticated", _S)])),
                      ("sourceIdentity", _S),
                      ("webIdFederationData", pa.struct([("federatedProvider", _S)]))])
_IDENTITY = pa.struct([("type", _S), ("principalId", _S), ("arn", _S), ("accountId", _S),
                       ("accessKeyId", _S), ("userName", _S), ("invokedBy", _S),
                       ("identityProvider", _S), ("sessionContext", _CONTEXT),
                       ("onBehalfOf", pa.struct([("userId", _S), ("identityStoreArn", _S)]))])
_TEXT_FIELDS = ("eventVersion", "eventTime", "eventSource", "eventName", "eventType",
                "eventCategory", "awsRegion", "sourceIPAddress", "userAgent", "errorCode",
                "errorMessage", "eventID", "requestID", "recipientAccountId", "sharedEventID")
# the record fields loaders.schema.Record reads, as pyarrow's reader types them
RECORD_SCHEMA = pa.schema([*((n, _S) for n in _TEXT_FIELDS), ("readOnly", pa.bool_()),
                           ("sessionCredentialFromConsole", pa.bool_()),
                           ("userIdentity", _IDENTITY)])


class _RawRecords(msgspec.Struct):
    Records: list[msgspec.Raw] = []


_SPLIT = msgspec.json.Decoder(_RawRecords)


def _lines(data: bytes) -> bytes:
    """One trail file's records as JSON Lines (their bytes as the file holds them)."""
    return b"\n".join(_SPLIT.decode(data).Records)


def graphtrail(files: list[tuple[str, bytes]]) -> int:
    batch = EventBatch()
    for name, data in files:
        batch.add_many(split_records(data, name).records, name)
    return batch.to_table().num_rows


def pyarrow_json(files: list[tuple[str, bytes]]) -> int:
    opts = pj.ParseOptions(explicit_schema=RECORD_SCHEMA, unexpected_field_behavior="ignore")
    read = pj.ReadOptions(use_threads=False, block_size=16 << 20)
    tables = [pj.read_json(io.BytesIO(_lines(data)), read_options=read, parse_options=opts)
              for _, data in files]
    return sum(t.num_rows for t in tables)


class _Payloads(msgspec.Struct):
    requestParameters: msgspec.Raw = msgspec.Raw()
    responseElements: msgspec.Raw = msgspec.Raw()
    additionalEventData: msgspec.Raw = msgspec.Raw()
    resources: msgspec.Raw = msgspec.Raw()


class _PayloadRecords(msgspec.Struct):
    Records: list[_Payloads] = []


_PAYLOADS = msgspec.json.Decoder(_PayloadRecords)


def pyarrow_json_payloads(files: list[tuple[str, bytes]]) -> int:
    """``pyarrow_json``, and what its columns lack to be the events table's: the payloads as
    text (msgspec's raw slices, as graphtrail keeps them) and the times as timestamps."""
    from loaders.events import _raw_column

    opts = pj.ParseOptions(explicit_schema=RECORD_SCHEMA, unexpected_field_behavior="ignore")
    read = pj.ReadOptions(use_threads=False, block_size=16 << 20)
    rows = 0
    for _, data in files:
        t = pj.read_json(io.BytesIO(_lines(data)), read_options=read, parse_options=opts)
        recs = _PAYLOADS.decode(data).Records
        for name in _Payloads.__struct_fields__:
            t = t.append_column(name, _raw_column([getattr(r, name) for r in recs]))
        t = t.set_column(t.schema.get_field_index("eventTime"), "eventTime",
                         t.column("eventTime").cast(pa.timestamp("us", tz="UTC")))
        rows += t.num_rows
    return rows


def _polars():
    try:
        import polars as pl
    except ImportError:
        return None
    schema = pl.Schema.from_arrow(RECORD_SCHEMA) if hasattr(pl.Schema, "from_arrow") else \
        pl.DataFrame(RECORD_SCHEMA.empty_table()).schema

    def run(files: list[tuple[str, bytes]]) -> int:
        return sum(pl.read_ndjson(io.BytesIO(_lines(data)), schema=schema).height
                   for _, data in files)

    run.__name__ = "polars"
    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", type=Path)
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    paths = sorted(p for p in args.trail.rglob("*.json.gz") if "CloudTrail-Digest" not in p.name)
    files = [(str(p), igzip.decompress(p.read_bytes())) for p in paths[:args.files]]
    readers = [graphtrail, pyarrow_json, pyarrow_json_payloads]
    if (pl := _polars()) is not None:
        readers.append(pl)
    best: dict[str, float] = {}
    events: dict[str, int] = {}
    gc.disable()  # as in the ingest workers
    try:
        for _ in range(args.repeat):
            for fn in readers:
                t0 = time.process_time()
                events[fn.__name__] = fn(files)
                cpu = time.process_time() - t0
                best[fn.__name__] = min(cpu, best.get(fn.__name__, cpu))
    finally:
        gc.enable()
    n = events["graphtrail"]
    out = {"files": len(files), "events": n,
           "megabytes": round(sum(len(d) for _, d in files) / 2**20, 1),
           "us_per_event": {k: round(v / n * 1e6, 2) for k, v in best.items()},
           "ratio_graphtrail_over": {k: round(best["graphtrail"] / v, 2)
                                     for k, v in best.items() if k != "graphtrail"},
           "events_read": events, "pyarrow": pa.__version__}
    emit_result(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
