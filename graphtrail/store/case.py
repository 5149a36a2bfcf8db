"""A case on disk: normalized events in Parquet, a manifest of every source object, and the
graph facts derived from them. Ingest once, query many times, add more later.

Layout of a case folder::

    .graphtrail-case       marks the folder as a case: graphtrail writes only in its own folders
    case.json              the committed state: which parts, manifest and key files count
    manifest-<gen>.jsonl   one line per source object (uri, size, sha256, records, errors...)
    eventkeys-<gen>.npy    sorted dedup keys of every event held
    events/*.parquet       normalized events (graphtrail.model.EVENT_COLUMNS)
    insights/*.parquet     CloudTrail Insights events, kept apart from API calls
    linking/*.parquet      beside each events part (same name) what the graph build's first
                           pass keeps of it (loaders.facts.observed); optional, derived
    graph -> .graph-<id>/  nodes and edges built from the events (see graphtrail.store.facts):
                           a link to the last complete build, swapped atomically

``case.json`` is replaced atomically, last: an ingest that is interrupted leaves the case as
it was at the previous commit, and parts it wrote but never committed are removed the next
time the case is opened for writing.

Writers (an ingest, a graph build) hold the case lock; a graph is built in a folder of its
own and the ``graph`` link moved to it when complete, so a reader always sees one complete
build, never a half-written one, and a reader that opened the previous build keeps it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphtrail.arrays import plain_text
from graphtrail.background import WriteBehind
from graphtrail.model import event_schema, insight_schema
from graphtrail.schema import event_parquet_options
from graphtrail.store.by_actor import BY_ACTOR, read_by_actor, write_by_actor
from graphtrail.store.integrity import integrity_line, load_integrity
from graphtrail.store.keyindex import KeyIndex

__all__ = ["Case", "CaseError", "IngestSummary", "IngestSession", "default_case_dir", "DEFAULT_CASE",
           "CASE_ENV", "linking_gaps", "gap_sentence"]

DEFAULT_CASE = Path("graphtrail-case")  # where a case lives when nobody says
CASE_ENV = "GRAPHTRAIL_CASE"  # ... and the variable that says it

FORMAT = 1
LINKING = "linking"  # the first pass's facts of each events part, by the part's name
SOURCES = "kept-sources"  # copies of the sources read (ingest --keep-sources), by SHA-256
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
GRAPH_FORMAT = 8  # bump when the graph tables change: older graphs are rebuilt, not misread
# Columns with few distinct values: read as dictionaries they cost a few bytes an event.
_DICTIONARY_COLUMNS = {"event_source", "event_name", "event_type", "event_category", "region",
                       "account_id", "recipient_account_id", "user_agent", "error_code",
                       "identity_type", "issuer_type", "issuer_arn", "source_file",
                       "event_version", "invoked_by"}


class CaseError(Exception):
    """The case folder is missing, locked or not a graphtrail case."""


class NotACaseFolder(CaseError):
    """``--case`` names a file, or a folder of someone else's: a usage error."""


def default_case_dir() -> Path:
    """``$GRAPHTRAIL_CASE`` or ``./graphtrail-case``."""
    return Path(os.environ.get(CASE_ENV, DEFAULT_CASE))


@dataclass
class IngestSummary:
    """What one ingest did. ``as_dict()`` is the ``--format json`` summary."""

    files_read: int = 0
    files_unchanged: int = 0
    files_failed: list[dict] = field(default_factory=list)  # damaged: [{path, error}]
    files_skipped: list[dict] = field(default_factory=list)  # not CloudTrail: [{path, reason}]
    digest_files: int = 0
    insights_files: int = 0
    records_read: int = 0
    events_added: int = 0
    duplicates: int = 0
    insights_added: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    seconds: float = 0.0
    case: str = ""
    notes: list[str] = field(default_factory=list)
    graph: dict = field(default_factory=dict)
    # Linking fields some sources could not carry (Security Lake's OCSF), summed over files.
    linking_gaps: list[dict] = field(default_factory=list)
    follow: dict | None = None  # --follow: engine, rounds, records_fetched, rows/bytes_scanned

    def as_dict(self) -> dict:
        d = asdict(self)
        if d["follow"] is None:
            del d["follow"]
        return d

    @property
    def read_nothing(self) -> bool:
        """Every object was damaged beyond recovery: not one record could be read, none known."""
        return bool(self.files_read and not self.records_read and not self.files_unchanged
                    and len(self.files_failed) == self.files_read)

    @property
    def found_no_events(self) -> bool:
        """The input held no CloudTrail event (it may have held records of something else)."""
        return not (self.events_added or self.duplicates or self.insights_added
                    or self.digest_files or self.files_unchanged)

    @property
    def events_per_second(self) -> float:
        return (self.events_added + self.duplicates) / self.seconds if self.seconds else 0.0


def linking_gaps(per_file: Iterable[list[dict]]) -> list[dict]:
    """The linking fields the sources lack, summed over their files (``files``: how many),
    those that cut a credential's lineage first.

    >>> g = {"field": "sharedEventID", "missing": 2, "of": 2, "of_what": "calls", "consequence": "c"}
    >>> linking_gaps([[g], [dict(g, missing=1, of=3)]])[0]["missing"], gap_sentence(linking_gaps([[g]])[0])
    (3, 'sharedEventID missing in 2 of 2 calls (1 file): c')
    """
    total: dict[str, dict] = {}
    for gaps in per_file:
        for g in gaps:
            t = total.setdefault(g["field"], {**g, "missing": 0, "of": 0, "files": 0})
            t["missing"] += g["missing"]
            t["of"] += g["of"]
            t["files"] += 1
    # Those that cut a lineage first; the same order whatever order the files came in.
    return sorted(total.values(), key=lambda g: (not g.get("lineage"), g["field"]))


def gap_sentence(g: dict) -> str:
    """One linking gap in words, for the summary's notes and the answers' notes."""
    files = f"{g['files']} file" + ("s" if g["files"] != 1 else "")
    return f"{g['field']} missing in {g['missing']} of {g['of']} {g['of_what']} ({files}): {g['consequence']}"


class Case:
    """An opened case folder.

    >>> import tempfile
    >>> c = Case.open(tempfile.mkdtemp(), create=True)
    >>> c.event_count()
    0
    """

    def __init__(self, path: Path, state: dict) -> None:
        self.path = path
        self.state = state
        self._graph_dir: Path | None = None

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> Case:
        path = Path(path)
        state_file = path / "case.json"
        if path.exists() and not path.is_dir():
            raise NotACaseFolder(f"{path}: a file, not a case folder")
        if not state_file.exists():
            if not create:
                raise CaseError(
                    f"{path}: not a graphtrail case (no case.json). "
                    "Run `graphtrail ingest PATH --case DIR` first."
                )
            _claim(path)
            (path / "events").mkdir(exist_ok=True)
            (path / "insights").mkdir(exist_ok=True)
            state = {"format": FORMAT, "generation": 0, "events": [], "insights": [],
                     "manifest": None, "keys": None, "created": _now(), "updated": _now()}
            _atomic_json(state_file, state)
        state = _read_state(state_file)
        if state.get("format") != FORMAT:
            raise CaseError(f"{state_file}: case format {state.get('format')} is not {FORMAT}")
        return cls(path, state)

    def reload(self) -> None:
        """Read the committed state again (another process may have committed since)."""
        self.state = _read_state(self.path / "case.json")
        self._graph_dir = None

    # -- reading ---------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return int(self.state["generation"])

    def event_parts(self) -> list[Path]:
        return [self.path / "events" / p for p in self.state["events"]]

    def events(self, columns: Iterable[str] | None = None, filter=None) -> pa.Table:
        """The events as one Arrow table (only ``columns`` if given)."""
        parts = self.event_parts()
        cols = list(columns) if columns is not None else None
        if not parts:
            schema = event_schema()
            if cols is not None:
                schema = pa.schema([schema.field(c) for c in cols])
            return schema.empty_table()
        import pyarrow.dataset as ds

        dataset = ds.dataset([str(p) for p in parts], schema=event_schema(), format="parquet")
        return dataset.to_table(columns=cols, filter=filter)

    def source_copy(self, sha256: str | None) -> Path | None:
        """The case's copy of a source (``ingest --keep-sources``), or None."""
        if not sha256:
            return None
        path = self.path / SOURCES / sha256
        return path if path.is_file() else None

    def events_with_ids(self, event_ids: Iterable[str]) -> pa.Table:
        """The events whose eventID is one of ``event_ids`` (every column).

        Only the eventID column of each row group is read, then the row groups that hold a
        match: eventIDs are random, so no statistics can skip a row group, but decoding one
        column of a million events is a fraction of decoding all of them.
        """
        wanted = pa.array(sorted(set(event_ids)), pa.string())
        schema = event_schema()
        found = []
        for part in self.event_parts():
            pf = pq.ParquetFile(part, pre_buffer=False)
            for rg in range(pf.num_row_groups):
                ids = pf.read_row_group(rg, columns=["event_id"], use_threads=False).column(0)
                hit = pc.is_in(ids, value_set=wanted)
                if pc.any(hit).as_py():
                    rows = pf.read_row_group(rg, use_threads=False).filter(hit)
                    found.append(pa.table([rows.column(f.name) if f.name in rows.column_names
                                           else pa.nulls(rows.num_rows, f.type) for f in schema],
                                          schema=schema))
        return pa.concat_tables(found) if found else schema.empty_table()

    def event_batches(self, columns: Iterable[str], batch_size: int = 65_536,
                      parts: Iterable[Path] | None = None):
        """Stream the events in record batches (repetitive text columns dictionary-encoded),
        of every part or of ``parts``.

        One part file at a time, no read-ahead: memory stays bounded by a batch, not the case.
        """
        cols = list(columns)
        for part in self.event_parts() if parts is None else parts:
            pf = pq.ParquetFile(part, read_dictionary=sorted(_DICTIONARY_COLUMNS & set(cols)),
                                pre_buffer=False)
            yield from pf.iter_batches(batch_size=batch_size, columns=cols, use_threads=False)

    def linking_facts(self, part: Path) -> pa.Table | None:
        """What the graph build's first pass keeps of one events part, as the ingest that
        wrote the part left it beside it (:data:`LINKING`; see
        :mod:`loaders.facts.observed`); None when there is none, or it cannot be read (the
        build then reads the part itself)."""
        path = self.path / LINKING / part.name
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowException):
            return None

    def events_df(self, columns: Iterable[str] | None = None, filter=None):
        """The events as a pandas DataFrame."""
        from graphtrail.frames import to_frame

        return to_frame(self.events(columns, filter))

    def insights(self) -> pa.Table:
        parts = [str(self.path / "insights" / p) for p in self.state["insights"]]
        if not parts:
            return insight_schema().empty_table()
        import pyarrow.dataset as ds

        return ds.dataset(parts, schema=insight_schema(), format="parquet").to_table()

    def event_count(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.event_parts())

    def manifest(self) -> list[dict]:
        name = self.state.get("manifest")
        if not name:
            return []
        with open(self.path / name, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def linking_gaps(self, manifest: list[dict] | None = None) -> list[dict]:
        """What the case's sources could not carry to link credentials (see :func:`linking_gaps`)."""
        man = self.manifest() if manifest is None else manifest
        return linking_gaps(m["lacks"] for m in man if m.get("lacks"))

    def known_sha256(self) -> set[str]:
        return {m["sha256"] for m in self.manifest() if m.get("sha256") and not m.get("error")}

    def known_etags(self, kept_only: bool = False) -> set[tuple[str, str]]:
        """(uri, ETag) of the objects an ingest need not fetch again; ``kept_only``: only
        those whose copy the case keeps (``ingest --keep-sources`` fetches the others)."""
        kept = self.kept_sha256() if kept_only else None
        return {(m["uri"], m["etag"]) for m in self.manifest() if m.get("etag") and not m.get("error")
                and (kept is None or m.get("sha256") in kept)}

    def kept_sha256(self) -> set[str]:
        """The SHA-256 of every source whose copy the case keeps (``kept-sources/``)."""
        folder = self.path / SOURCES
        return {m["sha256"] for m in self.manifest()
                if m.get("kept") and m.get("sha256") and (folder / m["sha256"]).is_file()}

    def key_index(self) -> KeyIndex:
        import numpy as np

        name = self.state.get("keys")
        if not name:
            return KeyIndex()
        return KeyIndex(np.load(self.path / name))

    def info(self) -> dict:
        """What the case holds: events, time range, accounts, regions, files.

        The events are read a batch at a time (their text as dictionaries): memory bounded
        by a batch, not by the events."""
        events, spans = 0, []
        seen: dict[str, set] = {c: set() for c in ("account_id", "recipient_account_id", "region",
                                                   "event_source")}
        for batch in self.event_batches(["time", *seen]):
            if not batch.num_rows:
                continue
            events += batch.num_rows
            spans.append([v.as_py() for v in pc.min_max(batch.column("time")).values()])
            for name, values in seen.items():
                values.update(_distinct_values(batch.column(name)))
        man = self.manifest()
        info = {
            "case": str(self.path),
            "events": events,
            "insights": self.insights().num_rows,
            "first_event": None,
            "last_event": None,
            "accounts": [],
            "regions": [],
            "event_sources": 0,
            "files": len(man),
            "files_failed": sum(1 for m in man if m.get("error")),
            "files_skipped": sum(1 for m in man if m.get("foreign")),
            "digest_files": sum(1 for m in man if m.get("kind") == "digest"),
            "bytes": sum(m.get("size") or 0 for m in man),
            "sources_kept": sum(1 for m in man if m.get("kept")),  # ingest --keep-sources
            "generation": self.generation,
            "updated": self.state.get("updated"),
            "integrity": integrity_line(load_integrity(self.path), man),
            "linking_gaps": [gap_sentence(g) for g in self.linking_gaps(man)],
        }
        if events:
            info["first_event"] = _iso_z(min(lo for lo, _ in spans))
            info["last_event"] = _iso_z(max(hi for _, hi in spans))
            accts = seen["recipient_account_id"] | seen["account_id"]
            info["accounts"] = sorted(a for a in accts if a)
            info["regions"] = sorted(r for r in seen["region"] if r)
            info["event_sources"] = len(seen["event_source"])  # a missing one counts, as before
        return info

    # -- the graph -------------------------------------------------------------------
    GRAPH_TABLES = ("nodes", "edges", "lineage", "sessions", "activity", BY_ACTOR)
    # Repetitive columns of graph tables, read as dictionaries (fast filters, little memory).
    GRAPH_DICTIONARY_COLUMNS = {"actor", "actor_kind", "resource", "source_ip", "event_name",
                                "event_source", "recipient_account_id", "account_id", "region",
                                "identity_type", "identity_arn", "user_agent", "error_code",
                                "source_file", "kind"}

    def graph_dir(self) -> Path:
        """The folder of the graph build this object reads: resolved once, so every table
        read comes from one build even while a newer one is committed."""
        if self._graph_dir is None:
            self._graph_dir = Path(os.path.realpath(self.path / "graph"))
        return self._graph_dir

    def graph_is_current(self) -> bool:
        """True when the stored graph was built from the events the case holds now: the
        same generation, or the same event and Insights parts (an ingest that read only
        files the case holds, or added no event, leaves the graph as it was)."""
        m = self.graph_meta()
        if m.get("graph_format") != GRAPH_FORMAT:
            return False
        return m.get("generation") == self.generation or m.get("contents") == self._contents()

    def _contents(self) -> str:
        """What a graph is built from, hashed: the event and Insights parts, in order."""
        parts = json.dumps([self.state["events"], self.state["insights"]]).encode()
        return hashlib.sha256(parts).hexdigest()

    def has_graph(self) -> bool:
        """True when a complete graph of this graphtrail's format is stored (maybe older)."""
        return self.graph_meta().get("graph_format") == GRAPH_FORMAT

    def graph_workdir(self) -> Path:
        """A new empty folder to build the next graph in; :meth:`commit_graph` adopts it.

        Call with the case lock held (:meth:`writing`)."""
        return Path(tempfile.mkdtemp(prefix=".graph-build-", dir=self.path))

    def write_graph_slices(self, workdir: Path, name: str, slices: Iterable[pa.Table],
                           schema: pa.Schema) -> int:
        """Write one graph table of the build in ``workdir`` a slice at a time (a row group
        or more each), for a table too big to hold whole; :meth:`commit_graph` adopts it.
        Returns the rows written."""
        rows = 0
        with pq.ParquetWriter(workdir / f"{name}.parquet", schema, compression="zstd") as writer, \
                WriteBehind(writer.write_table, depth=1) as behind:
            for part in slices:  # the next slice made while this one is compressed
                behind.put(part)
                rows += part.num_rows
                del part
        return rows

    def write_calls_by_actor(self, workdir: Path, progress: Callable[[int], None] | None = None,
                             roots: Mapping[str, str] | None = None) -> int:
        """Write the build's calls clustered by actor (:mod:`graphtrail.store.by_actor`),
        from its ``activity.parquet``; :meth:`commit_graph` writes them if this was not
        called. Safe in a thread of its own while the rest of the build is written.
        ``progress(calls)``: told of the calls as they are written; ``roots``: session ->
        the credential its lineage starts from (a lineage's calls together). Returns the
        calls written."""
        return write_by_actor(workdir / "activity.parquet", workdir / f"{BY_ACTOR}.parquet",
                              self.GRAPH_DICTIONARY_COLUMNS, progress, roots)

    def commit_graph(self, workdir: Path, tables: dict[str, pa.Table], meta: dict) -> None:
        """Write ``tables`` next to what the builder already wrote, then swap atomically."""
        for name, table in tables.items():
            pq.write_table(table, workdir / f"{name}.parquet", compression="zstd")
        if (workdir / "activity.parquet").exists() and not (workdir / f"{BY_ACTOR}.parquet").exists():
            # derived from this build's calls, in this build's folder: never stale
            self.write_calls_by_actor(workdir)
        missing = [n for n in self.GRAPH_TABLES if not (workdir / f"{n}.parquet").exists()]
        if missing:
            raise CaseError(f"{workdir}: graph tables missing: {missing}")
        (workdir / "meta.json").write_text(json.dumps(
            {"generation": self.generation, "graph_format": GRAPH_FORMAT, "built": _now(),
             "contents": self._contents(), **meta},
            indent=1, default=str))
        built = self.path / f".graph-{self.generation}-{uuid.uuid4().hex[:12]}"
        os.rename(workdir, built)
        gdir = self.path / "graph"
        previous = os.path.realpath(gdir)
        if gdir.is_dir() and not gdir.is_symlink():  # a case made before graph links
            previous = str(self.path / f".graph-old-{uuid.uuid4().hex[:12]}")
            os.rename(gdir, previous)
        link = self.path / f".graph-link-{uuid.uuid4().hex[:12]}"
        os.symlink(built.name, link)
        os.replace(link, gdir)  # atomic: readers see the old build or the new one
        self._graph_dir = None
        keep = {built.name, os.path.basename(previous)}
        for d in self.path.glob(".graph-*"):
            if d.name not in keep and not d.is_symlink():
                shutil.rmtree(d, ignore_errors=True)

    def graph_table(self, name: str, columns: Iterable[str] | None = None, filter=None, *,
                    decode: bool = True) -> pa.Table:
        """One stored graph table: nodes, edges, sessions or activity.

        Repetitive columns are read as dictionaries; ``decode=False`` keeps them so.
        """
        path = self.graph_dir() / f"{name}.parquet"
        if not path.exists():
            raise CaseError(f"{self.path}: the graph has not been built; run `graphtrail ingest` "
                            "or `graphtrail case rebuild`")
        cols = list(columns) if columns is not None else None
        if filter is None:  # no dataset (its import alone costs a cold command a second)
            if decode:
                return pq.ParquetFile(path).read(cols, use_threads=False)
            names = pq.read_schema(path).names
            pf = pq.ParquetFile(path, read_dictionary=sorted(self.GRAPH_DICTIONARY_COLUMNS & set(names)))
            table = pf.read(cols, use_threads=False)
        else:
            import pyarrow.dataset as ds

            fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(
                dictionary_columns=self.GRAPH_DICTIONARY_COLUMNS))
            table = ds.dataset(str(path), format=fmt).to_table(columns=cols, filter=filter)
        return plain_text(table) if decode else table

    def calls_of(self, actors: Iterable[str], columns: list[str]) -> pa.Table | None:
        """The calls of ``actors`` (``columns``, and ``seq``: their order in the activity
        table), read from the build's calls clustered by actor; None when the build has no
        such table or it lacks a column asked for (read the activity table then)."""
        path = self.graph_dir() / f"{BY_ACTOR}.parquet"
        if not path.exists():
            return None
        names = set(pq.read_schema(path).names)
        if not set(columns) <= names:
            return None
        return read_by_actor(path, actors, list(columns))

    def graph_meta(self) -> dict:
        try:
            m = json.loads((self.graph_dir() / "meta.json").read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return m if isinstance(m, dict) else {}

    # -- writing ---------------------------------------------------------------------
    def ingest(self) -> IngestSession:
        """Begin an ingest: ``with case.ingest() as s: s.add(part) ...`` commits on success."""
        return IngestSession(self)

    def commit(self, events: list[str], insights: list[str], manifest: list[dict],
               keys: KeyIndex) -> None:
        gen = self.generation + 1
        man_name = f"manifest-{gen}.jsonl"
        keys_name = f"eventkeys-{gen}.npy"
        tmp = self.path / f".{man_name}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            for m in manifest:
                fh.write(json.dumps(m, sort_keys=True) + "\n")
        os.replace(tmp, self.path / man_name)
        import numpy as np

        tmpk = self.path / f".{keys_name}.tmp.npy"
        np.save(tmpk, keys.merged())
        os.replace(tmpk, self.path / keys_name)
        old = (self.state.get("manifest"), self.state.get("keys"))
        state = {**self.state, "generation": gen, "events": events, "insights": insights,
                 "manifest": man_name, "keys": keys_name, "updated": _now()}
        _atomic_json(self.path / "case.json", state)
        self.state = state
        for name in old:
            if name:
                (self.path / name).unlink(missing_ok=True)

    def _lock(self, wait: bool = False, purpose: str = "ingest"):
        """The case lock. Without ``wait``, a writer that holds it is a :class:`CaseError`,
        unless it only builds the graph (seconds): then this waits for it."""
        fh = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            fh.seek(0)
            if fh.read().strip() != "graph":
                fh.close()
                raise CaseError(f"{self.path}: another graphtrail process is writing this case") from exc
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(purpose)
        fh.flush()
        return fh

    @contextmanager
    def writing(self, wait: bool = True, purpose: str = "graph"):
        """Hold the case lock (waiting for it, or :class:`CaseError` if ``wait`` is false);
        the state is read again once it is held."""
        fh = self._lock(wait, purpose)
        try:
            self.reload()
            yield self
        finally:
            fh.close()

    def _collect_garbage(self) -> None:
        """Remove what an interrupted ingest left: uncommitted parts and staging files."""
        keep = {"events": set(self.state["events"]), "insights": set(self.state["insights"]),
                LINKING: set(self.state["events"])}
        for sub, names in keep.items():
            for p in (self.path / sub).glob("*.parquet"):
                if p.name not in names:
                    p.unlink()
        for p in self.path.glob("manifest-*.jsonl"):
            if p.name != self.state.get("manifest"):
                p.unlink()
        for p in self.path.glob("eventkeys-*.npy"):
            if p.name != self.state.get("keys"):
                p.unlink()
        if (self.path / SOURCES).is_dir():  # copies adopted by an ingest that never committed
            kept = {m["sha256"] for m in self.manifest() if m.get("kept")}
            for p in (self.path / SOURCES).iterdir():  # only what an ingest names so
                if _SHA256_NAME.fullmatch(p.name) and p.name not in kept and p.is_file():
                    p.unlink()
        shutil.rmtree(self.path / ".staging", ignore_errors=True)
        for d in self.path.glob(".graph-build-*"):  # a graph build that was killed
            shutil.rmtree(d, ignore_errors=True)


class IngestSession:
    """Adopts the pipeline's parts into a case: dedup, move, manifest, commit."""

    COMMIT_EVERY = 60.0  # seconds: a long ingest keeps what it has read if stopped

    def __init__(self, case: Case) -> None:
        self.case = case
        self.summary = IngestSummary(case=str(case.path))
        self._skipped: Counter = Counter()
        self._lacks: list[list[dict]] = []

    def __enter__(self) -> IngestSession:
        self._lock = self.case._lock()
        self.case._collect_garbage()
        self.staging = self.case.path / ".staging"
        self.staging.mkdir(exist_ok=True)
        self.kept_sources = self.staging / SOURCES  # where the readers copy sources to
        self.keys = self.case.key_index()
        self.events = list(self.case.state["events"])
        self.insights = list(self.case.state["insights"])
        self.manifest = {m["uri"]: m for m in self.case.manifest()}
        self._by_sha256: dict[str, list[str]] | None = None  # built when first needed
        self._t0 = time.perf_counter()
        self._last_commit = self._t0
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
            # On error or Ctrl-C the last commit stands; uncommitted parts are dropped.
            self.case._collect_garbage()
        finally:
            self.summary.seconds = time.perf_counter() - self._t0
            self.summary.skipped = dict(self._skipped)
            self.summary.linking_gaps = linking_gaps(self._lacks)
            self.summary.notes.extend(gap_sentence(g) for g in self.summary.linking_gaps)
            self._lock.close()

    def commit(self) -> None:
        self.case.commit(self.events, self.insights, list(self.manifest.values()), self.keys)
        self._last_commit = time.perf_counter()

    def add(self, part) -> tuple[int, int]:
        """Adopt one :class:`loaders.pipeline.PartResult`. Returns (added, duplicates)."""
        added, dupes, per_file = self._adopt_events(part)
        if part.insights_path:
            name = Path(part.insights_path).name
            os.replace(part.insights_path, self.case.path / "insights" / name)
            self.insights.append(name)
            self.summary.insights_added += pq.ParquetFile(self.case.path / "insights" / name).metadata.num_rows
        s = self.summary
        for rep in part.reports:
            s.bytes_read += rep.size or 0
            if rep.unchanged:
                s.files_unchanged += 1
                if rep.kept:  # known content, copied now (--keep-sources on a later ingest)
                    self._adopt_source(rep.sha256)
                    self._mark_kept(rep.sha256)
                continue
            s.files_read += 1
            s.records_read += rep.records
            self._skipped.update(rep.skipped)
            if rep.kind == "digest":
                s.digest_files += 1
            elif rep.kind == "insights":
                s.insights_files += 1
            if rep.error:
                s.files_failed.append({"path": rep.uri, "error": rep.error})
            if rep.foreign:
                s.files_skipped.append({"path": rep.uri, "reason": rep.foreign})
            if rep.lacks:
                self._lacks.append(rep.lacks)
            entry = {k: v for k, v in asdict(rep).items()
                     if k != "unchanged" and not (k == "query" and v is None)
                     and not (k == "kept" and not v)}
            if rep.kept:
                self._adopt_source(rep.sha256)
            entry["events_added"], entry["duplicates"] = per_file.get(rep.uri, (rep.events, 0))
            entry["ingested_at"] = _now()
            self.manifest[rep.uri] = entry
            if self._by_sha256 is not None and entry.get("sha256"):
                self._by_sha256.setdefault(entry["sha256"], []).append(rep.uri)
        s.events_added += added
        s.duplicates += dupes
        if time.perf_counter() - self._last_commit > self.COMMIT_EVERY:
            self.commit()
        return added, dupes

    def _mark_kept(self, sha256: str) -> None:
        """Every manifest entry with this content now has its copy in the case (looked up
        by content: a re-ingest of thousands of known files is not a scan each)."""
        if self._by_sha256 is None:
            self._by_sha256 = {}
            for uri, m in self.manifest.items():
                if m.get("sha256"):
                    self._by_sha256.setdefault(m["sha256"], []).append(uri)
        for uri in self._by_sha256.get(sha256, ()):
            entry = self.manifest[uri]
            if entry.get("sha256") == sha256 and not entry.get("error"):
                entry["kept"] = True

    def _adopt_source(self, sha256: str) -> None:
        """Move a source's copy from staging into the case's :data:`SOURCES` folder
        (content-addressed: a copy the case already holds is the same bytes)."""
        staged = self.kept_sources / sha256
        dest = self.case.path / SOURCES / sha256
        if dest.exists():
            staged.unlink(missing_ok=True)
            return
        dest.parent.mkdir(exist_ok=True)
        os.replace(staged, dest)

    def _adopt_events(self, part) -> tuple[int, int, dict[str, tuple[int, int]]]:
        if not part.events_path:
            return 0, 0, {}
        keys = part.keys
        n = len(keys)
        new_rows = self.keys.add_new(keys)
        name = Path(part.events_path).name
        dest = self.case.path / "events" / name
        linking = getattr(part, "linking_path", None)
        if len(new_rows) == n:
            if linking:  # the first pass's facts of the part, beside it (before it is listed)
                (self.case.path / LINKING).mkdir(exist_ok=True)
                os.replace(linking, self.case.path / LINKING / name)
            os.replace(part.events_path, dest)
            self.events.append(name)
            return n, 0, {}
        if linking:  # made from rows some of which are dropped here: the build reads the part
            os.unlink(linking)
        table = pq.read_table(part.events_path)
        os.unlink(part.events_path)
        import numpy as np

        keep = np.zeros(n, dtype=bool)
        keep[new_rows] = True
        files = table.column("source_file")
        per_file: dict[str, tuple[int, int]] = {}
        counts_new = Counter(pc.filter(files, pa.array(keep)).to_pylist())
        counts_all = Counter(files.to_pylist())
        for f, total in counts_all.items():
            per_file[f] = (counts_new.get(f, 0), total - counts_new.get(f, 0))
        if len(new_rows):
            pq.write_table(table.filter(pa.array(keep)), dest, **event_parquet_options())
            self.events.append(name)
        return len(new_rows), n - len(new_rows), per_file


def _distinct_values(col) -> set:
    """The distinct values of a column (None among them where one is missing); a dictionary
    column's from the codes its rows use, without decoding every row."""
    if pa.types.is_dictionary(col.type):
        idx = col.indices
        found = set(col.dictionary.take(pc.unique(idx.drop_null())).to_pylist())
        return found | {None} if idx.null_count else found
    return set(pc.unique(col).to_pylist())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MARKER = ".graphtrail-case"


def _claim(path: Path) -> None:
    """Make ``path`` a case folder: new, or empty. A folder of someone else's is refused,
    so that nothing graphtrail later writes or cleans up is anyone else's."""
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).exists():
        raise NotACaseFolder(f"{path}: a folder that is not empty and not a graphtrail case; "
                        "give --case a new or empty folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / MARKER).write_text("A graphtrail case: graphtrail writes and cleans up here.\n")
    except OSError as exc:
        raise CaseError(f"{path}: cannot make the case folder: {exc.strerror or exc}") from exc


def _read_state(state_file: Path) -> dict:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaseError(f"{state_file}: unreadable case state: {exc}") from exc
    if not isinstance(state, dict):
        raise CaseError(f"{state_file}: not a graphtrail case state")
    return state


def _iso_z(t: datetime) -> str:
    """A UTC time as CloudTrail writes it, ``2024-08-01T13:42:21Z``."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _atomic_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)
