"""The calls of the case clustered by actor: what a question about one credential reads.

``activity.parquet`` holds the calls in the order they were ingested; the calls of one key
are spread over every row group of it, so reading them means decoding the whole table.
``activity_by_actor.parquet`` holds the same calls (without the request ``detail``) sorted
by actor, in small row groups, and a ``seq`` column (the call's row in
``activity.parquet``). A question about a few credentials reads the few row groups that
hold them; sorting by ``seq`` gives back the ingest order, so an answer read from here is
the one the whole table gives.

The actors are ordered by the credential their lineage starts from (``clusters``: a
session's root key, principal or identity provider), then by id: a lineage's sessions sit
together, beside their key, and a blast radius reads a few row groups, not one per session
(67 row groups against 4 for the busiest key of a million generated events).
``activity_by_actor.index.parquet`` (:func:`index_of`) says which row groups hold each actor. A build made
before it has no index; its calls are sorted by actor alone, and each row group's
statistics say which actors it holds.

It is derived from ``activity.parquet`` when a graph build is committed
(:meth:`graphtrail.store.case.Case.commit_graph`), inside the build's own folder: it is
never older than the calls it indexes.
"""

from __future__ import annotations

import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphtrail.arrays import distinct, plain_text
from graphtrail.background import WriteBehind, prefetch

__all__ = ["BY_ACTOR", "SEQ", "index_of", "write_by_actor", "read_by_actor", "LEFT_OUT"]

BY_ACTOR = "activity_by_actor"  # the graph table's name
SEQ = "seq"  # the call's row in activity.parquet
LEFT_OUT = frozenset({"detail"})  # request parameters: read by detections over every call
ROWS_PER_GROUP = 8192  # a credential's calls in a few groups; the footer stays small
SORT_ROWS = 1_000_000  # calls put in order in memory at once
SPILL_ROWS = 262_144  # calls dealt to the slices before their pieces are written out
_SPILL = pa.ipc.IpcWriteOptions(compression="lz4")
_PLACE = "__place"  # a row's place in its slice, in the spill files
SMALL_DICTIONARY = 4096  # bytes: written whole in every row group, it costs less than compacting


def write_by_actor(activity: Path, out: Path, dictionary_columns: Iterable[str] = (),
                   progress: Callable[[int], None] | None = None,
                   clusters: Mapping[str, str] | None = None) -> int:
    """Write ``out``: the calls of ``activity`` sorted by (cluster, actor, row), ``seq``
    added, and its index beside it (:func:`index_of`). ``clusters``: actor -> the credential
    its lineage starts from (an actor not in it is its own).

    Memory is bounded by :data:`SORT_ROWS` calls, whatever the case holds: the rows are
    ranked by actor from the actor column alone, then put in order and written one slice
    of that ranking at a time (beyond one slice, each read once and dealt to its slice's
    spill file beside ``out``) (``dictionary_columns``, repetitive, are read and written as
    dictionaries: decoding them to strings would cost more than the rest together).
    ``progress(calls)``, if given, is told of the calls of every row group written (from
    the thread that calls this). Returns the number of calls written.
    """
    names = pq.read_schema(activity).names
    pf = pq.ParquetFile(activity, read_dictionary=sorted(set(dictionary_columns) & set(names)))
    columns = [n for n in pf.schema_arrow.names if n not in LEFT_OUT]
    n = pf.metadata.num_rows
    key = _order_key(clusters or {})
    if n <= SORT_ROWS:
        _write_slices([_gather(pf, columns, _actor_order(pf, key))], out, progress)
    else:  # one pass over the calls, whatever their number (a pass per slice was quadratic)
        with _deal(pf, columns, out.parent, key) as dealt:
            _write_slices(dealt.slices(), out, progress)
    return n


def _write_slices(slices: Iterable[pa.Table], out: Path,
                  progress: Callable[[int], None] | None) -> None:
    """The slices, in order, into ``out`` in row groups of :data:`ROWS_PER_GROUP`; the
    index beside it."""
    writer = None
    index = _Index()
    try:
        for part in slices:
            if writer is None:
                # Parquet dictionaries only where the calls repeat a value (not event ids)
                repeated = [f.name for f in part.schema if pa.types.is_dictionary(f.type)]
                writer = pq.ParquetWriter(out, part.schema, compression="zstd",
                                          write_statistics=["actor"], use_dictionary=repeated)
            # each row group compressed behind the making of the next; drained before the
            # next slice is taken
            with WriteBehind(writer.write_table, depth=2) as behind:
                for start in range(0, part.num_rows, ROWS_PER_GROUP):
                    group = _compact(part.slice(start, ROWS_PER_GROUP))
                    index.add(group.column("actor"))
                    behind.put(group)
                    if progress is not None:
                        progress(group.num_rows)
            del part
    finally:
        if writer is not None:
            writer.close()
    pq.write_table(index.table(), index_of(out), compression="zstd")


def index_of(path: Path) -> Path:
    """The index beside a by-actor file: each actor's first and last row group."""
    return path.with_name(f"{path.stem}.index.parquet")


def _order_key(clusters: Mapping[str, str]) -> Callable[[str], tuple[str, str]]:
    """The sort key of an actor: (the credential its lineage starts from, its id)."""
    return lambda actor: (clusters.get(actor, actor), actor)


class _Index:
    """Each actor's first and last row group, as the groups are written in order."""

    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.groups = 0

    def add(self, actor: pa.ChunkedArray) -> None:
        col = actor.combine_chunks() if isinstance(actor, pa.ChunkedArray) else actor
        if pa.types.is_dictionary(col.type):
            col = col.dictionary.take(pc.unique(col.indices.drop_null()))
        for a in pc.unique(col.drop_null()).to_pylist():
            self.first.setdefault(a, self.groups)
            self.last[a] = self.groups
        self.groups += 1

    def table(self) -> pa.Table:
        actors = sorted(self.first)
        return pa.table({"actor": pa.array(actors, pa.string()),
                         "first": pa.array([self.first[a] for a in actors], pa.int32()),
                         "last": pa.array([self.last[a] for a in actors], pa.int32())})


def _actor_order(pf: pq.ParquetFile, key: Callable[[str], tuple] = lambda a: ("", a)) -> pa.Array:
    """Row numbers of ``pf`` sorted by (``key(actor)``, row); calls without an actor last.

    Sorted by each call's rank among the distinct actors, not by the strings: the column
    decoded to strings is 40 bytes a call (400 MB at 10M calls), the ranks are 4.
    """
    import numpy as np

    actor = pf.read(["actor"], use_threads=False).column("actor")
    if not pa.types.is_dictionary(actor.type):
        actor = actor.dictionary_encode()
    actor = pa.table({"actor": actor}).unify_dictionaries().column("actor")  # one dictionary
    if not actor.num_chunks:
        return pa.array([], pa.int64())
    actors = actor.chunk(0).dictionary.to_pylist()
    # the rank of each distinct actor in ``key`` order; a call without one after them all
    rank = np.empty(len(actors) + 1, dtype=np.int32)
    rank[sorted(range(len(actors)), key=lambda i: key(actors[i]))] = np.arange(len(actors), dtype=np.int32)
    rank[-1] = len(actors)
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                            for c in actor.chunks])
    del actor
    # stable: a credential's calls keep their order
    return pa.array(np.argsort(rank[codes], kind="stable"))


def _gather(pf: pq.ParquetFile, columns: list[str], wanted: pa.Array) -> pa.Table:
    """The rows ``wanted`` (in that order), ``seq`` added, read one row group at a time."""
    import numpy as np

    want = wanted.to_numpy()
    keep = np.zeros(pf.metadata.num_rows, dtype=bool)
    keep[want] = True
    parts, start = [], 0
    for i in range(pf.num_row_groups):
        rows = pf.metadata.row_group(i).num_rows
        hit = np.flatnonzero(keep[start:start + rows])
        if len(hit):
            t = pf.read_row_group(i, columns, use_threads=True)
            if len(hit) < rows:
                t = t.take(pa.array(hit))
            parts.append(t.append_column(SEQ, pa.array(hit + start, pa.int64())))
        start += rows
    if not parts:
        return pf.schema_arrow.empty_table().select(columns).append_column(
            SEQ, pa.array([], pa.int64()))
    t = pa.concat_tables(parts).unify_dictionaries()
    # the rows gathered are in file order: their place in ``wanted``
    rank = np.searchsorted(np.sort(want), want)
    return t.take(pa.array(rank))


class _Places:
    """Each call's place in the (actor, row) order, one row group at a time, from how many
    calls each actor has: memory by the distinct actors, not by the calls.

    A call's place is where its actor's calls start in that order (actors in the order of
    their sort key, calls without one last), plus the calls of its actor in the row groups before, plus
    those before it in its own: what a stable sort of every call by actor gives.
    """

    def __init__(self, pf: pq.ParquetFile, key: Callable[[str], tuple] = lambda a: ("", a)) -> None:
        import numpy as np

        counts: dict[str | None, int] = {}
        for i in range(pf.num_row_groups):  # the actor column alone
            values, idx = _codes(pf.read_row_group(i, ["actor"], use_threads=False).column(0))
            per = np.bincount(idx, minlength=len(values) + 1)
            for v, c in zip([*values, None], per.tolist(), strict=True):
                if c:
                    counts[v] = counts.get(v, 0) + c
        named = sorted((v for v in counts if v is not None), key=key)
        self.rank = {v: r for r, v in enumerate(named)}
        self.nobody = len(named)  # calls without an actor: after every actor
        sizes = np.array([counts[v] for v in named] + [counts.get(None, 0)], dtype=np.int64)
        self.start = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(sizes[:-1], out=self.start[1:])
        self.seen = np.zeros(len(sizes), dtype=np.int64)  # calls placed so far, by actor

    def of(self, actor: pa.ChunkedArray):
        """The places of one row group's calls (in the order they are read)."""
        import numpy as np

        values, idx = _codes(actor)
        lut = np.array([self.rank[v] if v is not None else self.nobody for v in values]
                       + [self.nobody], dtype=np.int64)
        ranks = lut[idx]
        by = np.argsort(ranks, kind="stable")
        ordered = ranks[by]
        first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        sizes = np.diff(np.r_[first, len(ordered)])
        before = np.empty(len(ranks), dtype=np.int64)  # same actor earlier in the group
        before[by] = np.arange(len(ranks)) - np.repeat(first, sizes)
        places = self.start[ranks] + self.seen[ranks] + before
        self.seen += np.bincount(ranks, minlength=len(self.seen))
        return places


def _codes(actor: pa.ChunkedArray) -> tuple[list, object]:
    """(the distinct values, an index into them per row; ``len(values)`` where null)."""
    col = actor.combine_chunks() if isinstance(actor, pa.ChunkedArray) else actor
    if not pa.types.is_dictionary(col.type):
        col = col.dictionary_encode()
    values = col.dictionary.to_pylist()
    idx = col.indices.fill_null(len(values)) if col.indices.null_count else col.indices
    return values, idx.to_numpy(zero_copy_only=False).astype("int64")


def _deal(pf: pq.ParquetFile, columns: list[str], folder: Path,
          key: Callable[[str], tuple] = lambda a: ("", a)) -> _Dealt:
    """The rows of ``pf`` dealt to the slices of the (actor, row) order, :data:`SORT_ROWS`
    a slice, reading ``pf`` once (and its actor column once before): each row group's rows
    go to the spill file of their slice (``folder``), with their place in it. Memory: the
    distinct actors, :data:`SPILL_ROWS` calls dealt (and the row groups they came from),
    whatever the number of calls. The next row group is read while one is dealt.

    Dictionary columns go to the spill files as integer codes into one dictionary per
    column for the whole file (:class:`_Dictionaries`): dealt as they are read, each piece
    would carry its row group's whole dictionary (written once per slice it reaches: a
    hundred times over with a hundred slices), and each slice's pieces would be unified
    again when read back.
    """
    import numpy as np

    n = pf.metadata.num_rows
    places = _Places(pf, key)
    dealt = _Dealt(Path(tempfile.mkdtemp(prefix=".by-actor-spill-", dir=folder)),
                  _Dictionaries(pf.schema_arrow, columns), -(-n // SORT_ROWS))
    try:
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        pending: dict[int, list[pa.Table]] = {}
        held = 0  # rows dealt since the last flush

        def flush(s: int) -> None:
            t = pa.concat_tables(pending.pop(s))
            if s not in writers:  # Arrow's own stream
                writers[s] = pa.ipc.new_stream(dealt.path(s), t.schema, options=_SPILL)
            writers[s].write_table(t)

        start = 0
        groups = (pf.read_row_group(i, columns, use_threads=True) for i in range(pf.num_row_groups))
        for t in prefetch(groups):
            rows = t.num_rows
            place = places.of(t.column("actor"))
            t = dealt.dictionaries.encode(t)
            t = t.append_column(SEQ, pa.array(np.arange(start, start + rows, dtype=np.int64)))
            t = t.append_column(_PLACE, pa.array((place % SORT_ROWS).astype(np.int32)))
            which = place // SORT_ROWS
            by = np.argsort(which, kind="stable")
            t = t.take(pa.array(by))
            ranks = which[by]
            present = distinct(ranks)
            bounds = np.searchsorted(ranks, np.append(present, dealt.count))
            for s, lo, hi in zip(present.tolist(), bounds[:-1].tolist(), bounds[1:].tolist(),
                                 strict=True):
                pending.setdefault(s, []).append(t.slice(lo, hi - lo))
            start += rows
            held += rows
            del t
            if held >= SPILL_ROWS:  # every slice's pieces at once: their row groups freed
                for s in list(pending):
                    flush(s)
                held = 0
        for s in list(pending):
            flush(s)
        for w in writers.values():
            w.close()
    except BaseException:
        dealt.close()
        raise
    return dealt


class _Dealt:
    """The calls of an activity table dealt to the slices of their order, in spill files
    (:func:`_deal`); :meth:`slices` reads them back in order. Closing (or leaving it as a
    context) removes the files."""

    def __init__(self, folder: Path, dictionaries: _Dictionaries, count: int) -> None:
        self.folder = folder
        self.dictionaries = dictionaries
        self.count = count  # slices

    def path(self, s: int) -> Path:
        return self.folder / f"{s}.arrows"

    def slices(self) -> Iterator[pa.Table]:
        """Each slice put in order, ``seq`` added, one after the other; the next one is read
        and put in order while this one is written (two slices held, not the calls)."""
        return prefetch(self._ordered(s) for s in range(self.count))

    def _ordered(self, s: int) -> pa.Table:
        import numpy as np

        path = self.path(s)
        with pa.ipc.open_stream(path) as reader:
            t = reader.read_all()
        path.unlink()
        place = t.column(_PLACE).to_numpy()
        at = np.empty(len(place), dtype=np.int64)
        at[place] = np.arange(len(place), dtype=np.int64)
        return self.dictionaries.decode(t.drop_columns([_PLACE]).take(pa.array(at)))

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> _Dealt:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Dictionaries:
    """One dictionary per dictionary column of a whole file, grown as row groups are read:
    :meth:`encode` turns a row group's dictionary columns into codes into it (plain
    integers), :meth:`decode` turns codes back into dictionary columns. Memory: the
    distinct values of those columns (actors, resources, addresses: the graph's nodes),
    not the calls.
    """

    def __init__(self, schema: pa.Schema, columns: list[str]) -> None:
        self.types = {f.name: f.type for f in schema if f.name in columns
                      and pa.types.is_dictionary(f.type)}
        self.codes: dict[str, dict] = {name: {} for name in self.types}  # value -> code
        self._values: dict[str, pa.Array] = {}

    def encode(self, t: pa.Table) -> pa.Table:
        import numpy as np

        for name, codes in self.codes.items():
            i = t.schema.get_field_index(name)
            col = t.column(i).combine_chunks()
            local = col.dictionary.to_pylist()
            lut = np.fromiter((codes.setdefault(v, len(codes)) for v in local),
                              dtype=np.int32, count=len(local))
            idx = col.indices
            at = idx.fill_null(0).to_numpy(zero_copy_only=False) if idx.null_count else idx.to_numpy()
            mask = idx.is_null().to_numpy(zero_copy_only=False) if idx.null_count else None
            mine = lut[at] if len(lut) else np.zeros(len(at), dtype=np.int32)
            t = t.set_column(i, name, pa.array(mine, pa.int32(), mask=mask))
        self._values.clear()  # grown: made again when first decoded
        return t

    def decode(self, t: pa.Table) -> pa.Table:
        for name, typ in self.types.items():
            values = self._values.get(name)
            if values is None:
                values = self._values[name] = pa.array(list(self.codes[name]), typ.value_type)
            i = t.schema.get_field_index(name)
            codes = t.column(i).combine_chunks().cast(typ.index_type)
            t = t.set_column(i, name, pa.DictionaryArray.from_arrays(codes, values))
        return t


def _compact(t: pa.Table) -> pa.Table:
    """One row group's dictionary columns with only the values it holds (the writer puts a
    column's whole dictionary in every row group); small dictionaries are left whole."""
    import numpy as np

    for i, f in enumerate(t.schema):
        if not pa.types.is_dictionary(f.type):
            continue
        col = t.column(i).combine_chunks()
        if col.dictionary.nbytes < SMALL_DICTIONARY:
            continue
        codes = col.indices.fill_null(0).to_numpy()
        used = distinct(codes)  # a sort: np.unique(return_inverse=True) costs half as much again
        inverse = np.searchsorted(used, codes).astype(np.int32)
        missing = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
        small = pa.DictionaryArray.from_arrays(pa.array(inverse, mask=missing),
                                               col.dictionary.take(pa.array(used)))
        t = t.set_column(i, f.name, small)
    return t


def read_by_actor(path: Path, actors: Iterable[str], columns: list[str]) -> pa.Table:
    """The calls of ``actors`` (``columns`` and ``seq``), from the row groups that hold them.

    Row groups are chosen by the index beside the file (a build without one: by the min
    and max actor of each, sorted by actor), then the rows kept are exactly those of
    ``actors``.
    """
    wanted = sorted({a for a in actors if a is not None})
    pf = pq.ParquetFile(path)
    cols = list(dict.fromkeys([*columns, "actor", SEQ]))
    index = index_of(path)
    groups = _indexed_groups(index, wanted) if index.exists() else _groups_by_statistics(pf, wanted)
    if not groups or not wanted:
        t = pf.schema_arrow.empty_table().select(cols)
    else:
        t = pf.read_row_groups(groups, cols, use_threads=False)
    actor = t.column("actor")
    if pa.types.is_dictionary(actor.type):
        actor = actor.cast(actor.type.value_type)
    t = t.filter(pc.is_in(actor, value_set=pa.array(wanted, pa.string())))
    t = plain_text(t)  # stored as dictionaries: the activity table's strings
    return t.select(list(dict.fromkeys([*columns, SEQ])))


def _indexed_groups(index_path: Path, wanted: list[str]) -> list[int]:
    ix = pq.ParquetFile(index_path).read()  # not read_table: it imports pyarrow.dataset
    hit = ix.filter(pc.is_in(ix.column("actor"), value_set=pa.array(wanted, pa.string())))
    groups: set[int] = set()
    for lo, hi in zip(hit.column("first").to_pylist(), hit.column("last").to_pylist(), strict=True):
        groups.update(range(lo, hi + 1))
    return sorted(groups)


def _groups_by_statistics(pf: pq.ParquetFile, wanted: list[str]) -> list[int]:
    """The row groups whose actors' min and max span one of ``wanted`` (calls sorted by actor)."""
    meta = pf.metadata
    index = pf.schema_arrow.get_field_index("actor")
    groups = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(index).statistics
        if stats is None or not stats.has_min_max:
            if stats is not None and stats.null_count == meta.row_group(i).num_rows:
                continue  # calls without an actor: never asked for
            groups.append(i)
            continue
        at = bisect_left(wanted, stats.min)
        if at < len(wanted) and wanted[at] <= stats.max:
            groups.append(i)
    return groups
