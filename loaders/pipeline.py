"""Raw objects -> Parquet parts of normalized events, one worker process per core.

The pipeline groups source objects into tasks of a few MB, and a worker process turns each
task into one Parquet part in a staging folder: read (or receive) the bytes, hash them,
gunzip (python-isal, zlib as fallback), split records (:mod:`loaders.records`), normalize
(:mod:`loaders.events`). The worker returns the part's path, the dedup keys of its events
and a report per object, so the main process only decides what is new; it never touches a
record. Remote objects (S3, APIs) are fetched by a thread pool in the main process and
handed to the workers as bytes. Given a ``keep_sources`` folder, a worker also copies each
object's bytes, as read, there, named by their SHA-256 (the evidence, kept by the case).

Nothing here knows about the case: the caller adopts or drops the parts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import os
import stat
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphtrail.ids import iso
from graphtrail.schema import event_parquet_options
from loaders.bounded import read_bounded
from loaders.events import EventBatch, event_keys
from loaders.facts.observed import first_pass_facts
from loaders.limits import Limits
from loaders.records import split_records
from loaders.securitylake import PARQUET_MAGIC, LinkingGaps, NotOcsf, read_ocsf
from loaders.sources.base import KNOWN, SourceObject

__all__ = ["ObjectReport", "PartResult", "run_pipeline", "read_task", "keep_copy"]

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
    lacks: list[dict] = field(default_factory=list)  # linking fields the source cannot carry
    query: dict | None = None  # the engine's query that returned it (--follow), as evidence
    kept: bool = False  # its bytes were copied into the case (ingest --keep-sources)


@dataclass
class PartResult:
    """One task's output: a Parquet part (or none) and the reports of its objects."""

    events_path: str | None
    insights_path: str | None
    keys: np.ndarray  # (n, 2) uint64, one row per event in the part
    reports: list[ObjectReport]
    # the graph build's first-pass facts of the part (loaders.facts.observed), beside it
    linking_path: str | None = None


def _read_object(obj: SourceObject, raw: bytes | None, known: frozenset[str],
                 batch: EventBatch, limits: Limits, keep: str | None = None,
                 kept: frozenset[str] = frozenset()) -> ObjectReport:
    rep = ObjectReport(uri=obj.uri, etag=obj.etag, kind=obj.kind, size=obj.size or 0,
                       query=obj.query)
    if obj.problem:
        rep.error = obj.problem
        return rep
    if obj.kind == KNOWN:  # listed by a source that knows the case holds it (S3's ETag)
        rep.unchanged = True
        return rep
    if isinstance(raw, FetchFailed):
        rep.error = str(raw)
        return rep
    if obj.kind != "digest" and _is_parquet(obj.path, raw):
        rep = _read_parquet(obj, raw, known, batch, rep)
        if keep and rep.sha256 and rep.sha256 not in kept:
            rep.kept = keep_copy(obj.path, raw, rep.sha256, keep)
        return rep
    try:
        content = read_bounded(obj.path, raw, limits)
    except OSError as exc:
        rep.error = f"cannot read: {exc.strerror or exc}"
        return rep
    data, err = content.data, content.note
    rep.size = content.raw_size
    rep.sha256 = content.sha256
    if keep and rep.sha256 not in kept:  # known content too: the case may hold no copy yet
        rep.kept = keep_copy(obj.path, raw, rep.sha256, keep)
    if rep.sha256 in known:
        rep.unchanged = True
        return rep
    if obj.kind == "digest":
        return rep  # integrity digests hold no events: counted, never parsed as calls
    split = split_records(data, obj.uri, obj.hint)
    del data
    if split.digest:
        rep.kind = "digest"
        return rep
    if split.foreign:
        rep.foreign = split.foreign
        return rep
    rep.error = err or split.error
    rep.problems = split.problems[:20]
    if rep.error is None and split.skipped.get("nested too deep"):
        rep.error = next(p for p in split.problems if "nested deeper" in p)
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


def _is_parquet(path: str | None, raw: bytes | None) -> bool:
    if raw is not None:
        return raw[:4] == PARQUET_MAGIC
    try:  # never blocks on a FIFO swapped in after listing: read_bounded refuses it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # type: ignore[arg-type]
        with os.fdopen(fd, "rb") as fh:
            return stat.S_ISREG(os.fstat(fd).st_mode) and fh.read(4) == PARQUET_MAGIC
    except OSError:
        return False  # read_bounded says why


def _read_parquet(obj: SourceObject, raw: bytes | None, known: frozenset[str],
                  batch: EventBatch, rep: ObjectReport) -> ObjectReport:
    """Security Lake OCSF Parquet, decoded one row group at a time (a local file is never
    read whole; a fetched object's bytes are already in memory)."""
    rep.sha256, rep.size = _file_sha256(obj.path, raw)
    if rep.sha256 in known:
        rep.unchanged = True
        return rep
    source = pa.BufferReader(raw) if raw is not None else obj.path
    gaps = LinkingGaps()
    skipped: Counter = Counter()
    before = Counter(batch.skipped)
    try:
        for part in read_ocsf(source):
            n_events, _ = batch.add_many(part.records, obj.uri)
            rep.events += n_events
            rep.records += len(part.records) + sum(part.skipped.values())
            skipped.update(part.skipped)
            rep.problems.extend(part.problems[: 20 - len(rep.problems)])
            gaps.add(part.records)
    except NotOcsf as exc:
        rep.foreign = str(exc)
    except (OSError, pa.ArrowException) as exc:
        rep.error = f"not readable Parquet after row {rep.records}: {exc}"
    skipped.update(batch.skipped - before)  # rows without a usable eventTime
    rep.skipped = dict(skipped)
    if rep.error is None and rep.problems:
        rep.error = rep.problems[0]
    rep.lacks = gaps.lacks()
    return rep


def _file_sha256(path: str | None, raw: bytes | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    if raw is not None:
        digest.update(raw)
        return digest.hexdigest(), len(raw)
    size = 0
    with open(path, "rb") as fh:  # type: ignore[arg-type]
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def keep_copy(path: str | None, raw: bytes | None, sha256: str, folder: str) -> bool:
    """Copy a source's bytes into ``folder``, named by their SHA-256 (the manifest's).

    A file is read again for the copy and hashed on the way: if it is not the bytes that
    were read (it changed in between), no copy is kept (False). Only a regular file is
    opened, never waiting on a FIFO swapped in since.
    """
    dest = os.path.join(folder, sha256)
    if os.path.exists(dest):
        return True
    os.makedirs(folder, exist_ok=True)
    tmp = f"{dest}.{uuid.uuid4().hex}.tmp"
    try:
        if raw is not None:
            with open(tmp, "wb") as out:
                out.write(raw)
        else:
            digest = hashlib.sha256()
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # type: ignore[arg-type]
            with os.fdopen(fd, "rb") as src, open(tmp, "wb") as out:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError("not a regular file")
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise OSError("changed while it was read")
        os.replace(tmp, dest)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False


def read_task(task: list[tuple[SourceObject, bytes | None]], staging: str,
              known: frozenset[str], limits: Limits | None = None,
              keep_sources: str | None = None, kept: frozenset[str] = frozenset()) -> PartResult:
    """Worker entry point: read a group of objects into one Parquet part (and copy each
    object's bytes into the folder ``keep_sources``, when given, unless its SHA-256 is in
    ``kept``: the case has its copy)."""
    limits = limits or Limits()
    gc.disable()  # millions of short-lived small objects; nothing cyclic
    try:
        batch = EventBatch(limits.max_field_bytes)
        reports = []
        for obj, raw in task:
            try:
                reports.append(_read_object(obj, raw, known, batch, limits, keep_sources, kept))
            except (Exception, RecursionError, MemoryError) as exc:  # one object, never the others
                reports.append(ObjectReport(uri=obj.uri, error=f"unexpected {type(exc).__name__}: {exc}"))
        table = batch.to_table()
        for rep in reports:
            for reason, bad in batch.unreadable_by_file.get(rep.uri, {}).items():
                rep.skipped[reason] = rep.skipped.get(reason, 0) + bad
                rep.events -= bad
            _name_problems(rep, batch.problems_by_file.get(rep.uri, []))
        _time_ranges(table, reports)
        events_path = insights_path = linking_path = None
        keys = np.empty((0, 2), dtype=np.uint64)
        if table.num_rows:
            name = f"events-{uuid.uuid4().hex}.parquet"
            events_path = os.path.join(staging, name)
            pq.write_table(table, events_path, **event_parquet_options())
            keys = event_keys(table)
            # made here, from the columns in hand: the build need not read the part back
            linking_path = os.path.join(staging, f"linking-{name}")
            pq.write_table(first_pass_facts(table), linking_path, compression="zstd")
        ins = batch.insights_table()
        for rep in reports:  # insights details cut to the field limit
            _name_problems(rep, batch.problems_by_file.pop(rep.uri, []))
        if ins.num_rows:
            insights_path = os.path.join(staging, f"insights-{uuid.uuid4().hex}.parquet")
            pq.write_table(ins, insights_path, compression="zstd")
        return PartResult(events_path, insights_path, keys, reports, linking_path)
    finally:
        gc.enable()


def _name_problems(rep: ObjectReport, problems: list[str]) -> None:
    """Records rejected or fields cut while normalizing: the file is named as failed (its
    first problem says where), and the manifest keeps the first 20."""
    new = [p for p in problems if p not in rep.problems]
    if not new:
        return
    rep.problems = (rep.problems + new)[:20]
    if rep.error is None:
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        rep.error = new[0] + more


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
                size += _weight(o, data)
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


# A Parquet object holds ~2.5x the events of gzipped JSON of its size, and each of its rows
# costs ~5x more to turn into a record: counted this much heavier when filling a task, so
# Security Lake objects spread over the workers as trail files do.
PARQUET_WEIGHT = 8


def _weight(obj: SourceObject, data: bytes | None) -> int:
    size = len(data) if isinstance(data, bytes) else (obj.size or 0)
    return size * PARQUET_WEIGHT if obj.uri.endswith(".parquet") else size


class FetchFailed(str):
    """Stands in for the bytes of an object whose download failed; the text says why."""


def run_pipeline(
    objects: Iterable[SourceObject],
    staging: str | Path,
    *,
    workers: int | None = None,
    known_sha256: Iterable[str] = (),
    fetch_threads: int = 16,
    limits: Limits | None = None,
    keep_sources: str | Path | None = None,
    kept_sha256: Iterable[str] = (),
) -> Iterator[PartResult]:
    """Read every object; yield :class:`PartResult` per task, in task order.

    ``workers=0`` reads in this process (for stdin, tests and tiny inputs). A worker that
    dies (killed under a memory limit, say) costs only the object it was reading: its task
    is read again one object at a time, each in a process of its own, and the object that
    kills its reader again is reported as failed.
    """
    staging = str(staging)
    keep_sources = str(keep_sources) if keep_sources else None
    known = frozenset(known_sha256)
    kept = frozenset(kept_sha256)
    limits = limits or Limits()
    n = (os.cpu_count() or 1) if workers is None else workers
    tasks = _tasks(objects, fetch_threads)
    if n <= 0:
        for task in tasks:
            yield read_task(task, staging, known, limits, keep_sources, kept)
        return
    yield from _in_workers(tasks, n, (staging, known, limits, keep_sources, kept))


def _in_workers(tasks: Iterator[list], n: int, args: tuple) -> Iterator[PartResult]:
    """Tasks through a pool of ``n`` processes, results in task order (which copy of a
    duplicate is kept must not depend on which worker is faster)."""
    ctx = get_context("fork") if hasattr(os, "fork") else get_context()
    pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx)
    pending: deque[tuple[list, Future]] = deque()
    try:
        for task in tasks:
            pending.append((task, pool.submit(_read_task_star, (task, *args))))
            while len(pending) > 2 * n:
                pool = yield from _next_result(pending, pool, n, ctx, args)
        while pending:
            pool = yield from _next_result(pending, pool, n, ctx, args)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _next_result(pending: deque, pool: ProcessPoolExecutor, n: int, ctx, args: tuple):
    task, fut = pending.popleft()
    try:
        yield fut.result()
        return pool
    except BrokenProcessPool:
        pass
    # A worker died: every task in flight is lost with the pool. Read this one object by
    # object, each alone, then send the others to a fresh pool.
    pool.shutdown(wait=True, cancel_futures=True)
    for one in task:
        yield _alone([one], ctx, args)
    pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx)
    for i, (t, _) in enumerate(pending):
        pending[i] = (t, pool.submit(_read_task_star, (t, *args)))
    return pool


def _alone(task: list, ctx, args: tuple) -> PartResult:
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as solo:
        try:
            return solo.submit(_read_task_star, (task, *args)).result()
        except BrokenProcessPool:
            obj = task[0][0]
            return PartResult(None, None, np.empty((0, 2), dtype=np.uint64), [ObjectReport(
                uri=obj.uri, kind=obj.kind, size=obj.size or 0,
                error="the process reading this file died (killed, or out of memory); skipped")])


def _read_task_star(args: tuple) -> PartResult:
    return read_task(*args)
