"""Raw objects -> Parquet parts of normalized events, one worker process per core.

The pipeline groups source objects into tasks of a few MB, and a worker process turns each
task into one Parquet part in a staging folder: read (or receive) the bytes, hash them,
gunzip (python-isal, zlib as fallback), split records (:mod:`loaders.records`), normalize
(:mod:`loaders.events`). The worker returns the part's path, the dedup keys of its events
and a report per object, so the main process only decides what is new; it never touches a
record. Remote objects (S3, APIs) are fetched by a thread pool in the main process and
handed to the workers as bytes.

Nothing here knows about the case: the caller adopts or drops the parts.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import os
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphtrail.ids import iso
from loaders.events import EventBatch, event_keys
from loaders.records import split_records
from loaders.sources.base import SourceObject

try:  # python-isal: ~3x faster gunzip than zlib
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - zlib fallback
    _igzip = None

__all__ = ["ObjectReport", "PartResult", "run_pipeline", "read_task"]

TASK_BYTES = 4 << 20  # group objects until ~4 MB of raw input per task
TASK_OBJECTS = 64


@dataclass
class ObjectReport:
    """What one source object gave: the case manifest keeps one per object."""

    uri: str
    size: int = 0
    sha256: str | None = None
    etag: str | None = None
    kind: str = "trail"
    records: int = 0
    events: int = 0
    insights: int = 0
    first_time: str | None = None
    last_time: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # damaged: what was wrong, where (the records before it are kept)
    foreign: str | None = None  # not CloudTrail at all: why the object was skipped
    problems: list[str] = field(default_factory=list)
    unchanged: bool = False  # same content as an object the case already holds


@dataclass
class PartResult:
    """One task's output: a Parquet part (or none) and the reports of its objects."""

    events_path: str | None
    insights_path: str | None
    keys: np.ndarray  # (n, 2) uint64, one row per event in the part
    reports: list[ObjectReport]


def gunzip(raw: bytes) -> tuple[bytes, str | None]:
    """Decompress gzip (all members); on a truncated or corrupt stream keep what decoded.

    >>> import gzip
    >>> gunzip(gzip.compress(b"abc"))
    (b'abc', None)
    >>> data, err = gunzip(gzip.compress(b"x" * 5000)[:-12]); err.startswith("truncated gzip")
    True
    """
    if raw[:2] != b"\x1f\x8b":
        return raw, None
    if _igzip is not None:
        try:
            return _igzip.decompress(raw), None
        except (OSError, EOFError, ValueError, zlib.error):
            pass
    chunks: list[bytes] = []
    data = raw
    step = 1 << 16  # fed in pieces, so a corrupt stream keeps what decoded before the damage
    try:
        while data:
            d = zlib.decompressobj(wbits=47)
            pos = 0
            while pos < len(data) and not d.eof:
                chunks.append(d.decompress(data[pos:pos + step]))
                pos += step
            if not d.eof:
                chunks.append(d.flush())
                return b"".join(chunks), f"truncated gzip: stream ends after {sum(map(len, chunks))} decompressed bytes"
            data = d.unused_data.lstrip(b"\x00")
    except zlib.error as exc:
        return b"".join(chunks), f"corrupt gzip after {sum(map(len, chunks))} decompressed bytes: {exc}"
    return b"".join(chunks), None


def _read_object(obj: SourceObject, raw: bytes | None, known: frozenset[str],
                 batch: EventBatch) -> ObjectReport:
    rep = ObjectReport(uri=obj.uri, etag=obj.etag, kind=obj.kind, size=obj.size or 0)
    if isinstance(raw, FetchFailed):
        rep.error = str(raw)
        return rep
    if raw is None:
        try:
            with open(obj.path, "rb") as fh:  # type: ignore[arg-type]
                raw = fh.read()
        except OSError as exc:
            rep.error = f"cannot read: {exc.strerror or exc}"
            return rep
    rep.size = len(raw)
    rep.sha256 = hashlib.sha256(raw).hexdigest()
    if rep.sha256 in known:
        rep.unchanged = True
        return rep
    if obj.kind == "digest":
        return rep  # integrity digests hold no events: counted, never parsed as calls
    data, err = gunzip(raw)
    split = split_records(data, obj.uri, obj.hint)
    if split.digest:
        rep.kind = "digest"
        return rep
    rep.error = err or split.error
    rep.problems = split.problems[:20]
    skipped = Counter(split.skipped)
    before_skips = Counter(batch.skipped)
    n_events, n_insights = batch.add_many(split.records, obj.uri)
    skipped.update(batch.skipped - before_skips)
    rep.records = len(split.records) + sum(split.skipped.values())
    rep.events = n_events
    rep.insights = n_insights
    if n_insights and not n_events:
        rep.kind = "insights"
    rep.skipped = dict(skipped)
    if (rep.error is None and rep.records and not (n_events or n_insights)
            and set(skipped) == {"not a CloudTrail record"}):
        rep.foreign = f"not CloudTrail: {rep.records} JSON values, none a CloudTrail record"
    return rep


def read_task(task: list[tuple[SourceObject, bytes | None]], staging: str,
              known: frozenset[str]) -> PartResult:
    """Worker entry point: read a group of objects into one Parquet part."""
    gc.disable()  # millions of short-lived small objects; nothing cyclic
    try:
        batch = EventBatch()
        reports = []
        for obj, raw in task:
            try:
                reports.append(_read_object(obj, raw, known, batch))
            except Exception as exc:  # one broken object must never cost the others
                reports.append(ObjectReport(uri=obj.uri, error=f"unexpected {type(exc).__name__}: {exc}"))
        table = batch.to_table()
        for rep in reports:
            bad = batch.unreadable_by_file.get(rep.uri, 0)
            if bad:
                rep.skipped["unreadable eventTime"] = rep.skipped.get("unreadable eventTime", 0) + bad
                rep.events -= bad
        _time_ranges(table, reports)
        events_path = insights_path = None
        keys = np.empty((0, 2), dtype=np.uint64)
        if table.num_rows:
            events_path = os.path.join(staging, f"events-{uuid.uuid4().hex}.parquet")
            pq.write_table(table, events_path, compression="zstd")
            keys = event_keys(table)
        ins = batch.insights_table()
        if ins.num_rows:
            insights_path = os.path.join(staging, f"insights-{uuid.uuid4().hex}.parquet")
            pq.write_table(ins, insights_path, compression="zstd")
        return PartResult(events_path, insights_path, keys, reports)
    finally:
        gc.enable()


def _time_ranges(table, reports: list[ObjectReport]) -> None:
    if not table.num_rows:
        return
    by_file = table.select(["source_file", "time"]).group_by("source_file").aggregate(
        [("time", "min"), ("time", "max")]
    )
    ranges = {
        f: (iso(lo), iso(hi))  # as CloudTrail writes times
        for f, lo, hi in zip(
            by_file.column("source_file").to_pylist(),
            by_file.column("time_min").cast(pa.int64()).to_pylist(),
            by_file.column("time_max").cast(pa.int64()).to_pylist(),
            strict=True,
        )
    }
    for rep in reports:
        if rep.uri in ranges:
            rep.first_time, rep.last_time = ranges[rep.uri]


def _tasks(objects: Iterable[SourceObject], fetch_threads: int) -> Iterator[list[tuple[SourceObject, bytes | None]]]:
    """Group objects into tasks; fetch remote ones concurrently, keep order per task."""
    pool = ThreadPoolExecutor(max_workers=fetch_threads) if fetch_threads else None
    pending: list[tuple[SourceObject, Future | None]] = []
    task: list[tuple[SourceObject, bytes | None]] = []
    size = 0

    def resolve(obj: SourceObject, fut: Future | None) -> tuple[SourceObject, bytes | None]:
        if fut is None:
            return obj, None
        # The fetch callable stays here: worker processes get the bytes, never the callable
        # (stdin's reader, a boto3 client, ... cannot be pickled).
        plain = dataclasses.replace(obj, fetch=None)
        try:
            return plain, fut.result()
        except Exception as exc:  # surfaced in the report of this object
            return plain, FetchFailed(f"cannot fetch: {exc}")

    try:
        for obj in objects:
            fut = None
            if obj.path is None and obj.fetch is not None:
                assert pool is not None
                fut = pool.submit(obj.fetch)
            pending.append((obj, fut))
            while pending and (len(pending) > 4 * max(fetch_threads, 1) or pending[0][1] is None
                               or pending[0][1].done()):
                o, data = resolve(*pending.pop(0))
                task.append((o, data))
                size += (o.size or 0) if not isinstance(data, bytes) else len(data)
                if size >= TASK_BYTES or len(task) >= TASK_OBJECTS:
                    yield task
                    task, size = [], 0
        for pair in pending:
            o, data = resolve(*pair)
            task.append((o, data))
        if task:
            yield task
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class FetchFailed(str):
    """Stands in for the bytes of an object whose download failed; the text says why."""


def run_pipeline(
    objects: Iterable[SourceObject],
    staging: str | Path,
    *,
    workers: int | None = None,
    known_sha256: Iterable[str] = (),
    fetch_threads: int = 16,
) -> Iterator[PartResult]:
    """Read every object; yield one :class:`PartResult` per task as workers finish.

    ``workers=0`` reads in this process (for stdin, tests and tiny inputs).
    """
    staging = str(staging)
    known = frozenset(known_sha256)
    n = (os.cpu_count() or 1) if workers is None else workers
    tasks = _tasks(objects, fetch_threads)
    if n <= 0:
        for task in tasks:
            yield read_task(task, staging, known)
        return
    ctx = get_context("fork") if hasattr(os, "fork") else get_context()
    with ctx.Pool(processes=n) as pool:
        # In order: which copy of a duplicate is kept must not depend on which worker is faster.
        results = pool.imap(_read_task_star, ((t, staging, known) for t in tasks))
        yield from results


def _read_task_star(args: tuple) -> PartResult:
    return read_task(*args)
