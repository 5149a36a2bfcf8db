"""The findings engine: rules register here, a :class:`Context` hands them the case's calls,
and each :class:`Hit` becomes a :class:`Finding` with its evidence and lineage.

Rule modules import this module (never the package, which imports them all: see
:mod:`graphtrail.queries.findings`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pandas as pd
import pyarrow as pa

from graphtrail import ids
from graphtrail.frames import to_frame
from graphtrail.queries.chains import origin_of
from graphtrail.queries.findings._frames import ColumnCache
from graphtrail.queries.findings.config import Config
from graphtrail.words import plural

__all__ = ["Finding", "Rule", "RULES", "rule", "Context", "lineage_path", "SEVERITIES",
           "Hit", "fingerprint", "finding_of", "suppressed_by"]

SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    tactic: str
    technique: str  # ATT&CK id, e.g. T1098.001
    technique_name: str
    fn: Callable = field(compare=False, repr=False)
    doc: str = ""


RULES: dict[str, Rule] = {}


def rule(id: str, title: str, severity: str, tactic: str, technique: str, technique_name: str):
    """Register a detection. The function returns a list of :class:`Hit`."""
    def register(fn):
        if id in RULES:
            raise ValueError(f"rule {id} registered twice")
        RULES[id] = Rule(id, title, severity, tactic, technique, technique_name, fn,
                         (fn.__doc__ or "").strip())
        return fn
    return register


@dataclass
class Hit:
    """One occurrence a rule found: the calls that prove it and a line that says what it is."""

    rows: pd.DataFrame
    summary: str
    severity: str | None = None  # overrides the rule's own (e.g. rated by a task policy)
    key: tuple[str, ...] = ()  # what identifies this occurrence, beyond its actors and accounts
    why: dict = field(default_factory=dict)  # thresholds, baselines, addresses behind it


@dataclass
class Finding:
    rule_id: str
    title: str
    severity: str
    tactic: str
    technique: str
    technique_name: str
    summary: str
    event_ids: list[str]
    actors: list[str]
    lineage: list[list[str]]
    accounts: list[str]
    first_seen: str | None
    last_seen: str | None
    count: int
    fingerprint: str = ""
    why: dict = field(default_factory=dict)
    suppressed: str | None = None  # the reason, when a suppression of the config matched

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self):
        """The finding's calls, one row per eventID (the actors' lineage beside it)."""
        from graphtrail.frames import records_frame

        return records_frame([{"rule_id": self.rule_id, "event_id": e,
                               "first_seen": self.first_seen, "last_seen": self.last_seen}
                              for e in self.event_ids])

    def __repr__(self) -> str:
        return (f"<Finding {self.rule_id} {self.severity}: {self.summary} "
                f"({plural(self.count, 'call')}, first {self.first_seen})>")


class Context:
    """What rules read: the case's calls (lazily, only the columns asked for) and the graph."""

    COLUMNS = ["event_id", "time", "actor", "actor_kind", "resource", "event_source", "event_name",
               "error_code", "source_ip", "user_agent", "region", "recipient_account_id",
               "account_id", "identity_type", "identity_arn", "detail"]

    def __init__(self, store, since: int | None = None, until: int | None = None,
                 config: Config | None = None, org_accounts: set[str] | None = None) -> None:
        self.store = store
        self.since, self.until = since, until
        self.config = config or Config()
        self.org_accounts = set(org_accounts or ()) | self.config.org_accounts
        self._frames: dict[tuple, pd.DataFrame] = {}
        self.aws_ranges_file: str | None = None
        self._ranges = None
        self._arrow = None
        self._wide: pd.DataFrame | None = None
        self._cols: dict[str, pa.ChunkedArray] = {}
        self._in_window = None
        self._sorted = None
        self._numpy = ColumnCache(self._column)

    def t(self, name: str) -> float:
        """A threshold of the config (see :mod:`graphtrail.queries.findings.config`)."""
        return self.config.t(name)

    def aws_ranges(self):
        """AWS's published address ranges (the ``aws_ranges`` given, else the snapshot)."""
        if self._ranges is None:
            from graphtrail.queries.findings.aws_ranges import load_aws_ranges

            self._ranges = load_aws_ranges(self.aws_ranges_file)
        return self._ranges

    def internal(self, account: str | None) -> bool:
        """True for an account of the case's organization (see :func:`organization_accounts`)."""
        return bool(account) and account in self.org_accounts

    def calls(self, names: list[str] | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """Calls (optionally only these event names), time-ordered, as a DataFrame.

        Each column is read once, when a rule first asks for it, and kept dictionary-encoded;
        a rule's slice is chosen on the event names' dictionary and only that slice becomes
        pandas. Whole-case questions share one frame of the narrow columns (:attr:`WIDE`).
        """
        key = (tuple(names) if names else None, tuple(columns) if columns else None)
        if key in self._frames:
            return self._frames[key]
        if names is None and set(columns or self.COLUMNS) <= set(self.WIDE):
            return self._everything()[list(columns or self.WIDE)]
        cols = list(columns or self.COLUMNS)
        if not self._columnar():
            t = self._table()
            if names is not None:
                import pyarrow.compute as pc

                t = t.filter(pc.is_in(t.column("event_name"), value_set=pa.array(sorted(set(names)), pa.string())))
            self._frames[key] = to_frame(_time_ordered(t.select(cols)))
            return self._frames[key]
        rows = self._order() if names is None else self._rows_named(set(names))
        self._frames[key] = self._numpy.frame(cols, rows)
        return self._frames[key]

    # the columns whole-case rules read (no free text: cheap to hold as pandas for every call)
    WIDE = ["event_id", "time", "actor", "identity_arn", "identity_type", "source_ip", "event_name",
            "recipient_account_id", "account_id", "error_code", "region"]

    def warm(self) -> None:
        """Build the whole-case frame of :attr:`WIDE` now. Called before the rules are shared
        with a forked worker (``both_cores``): the worker reads the parent's frame, its pages
        shared until written, instead of converting the same columns again. At 1M events
        that took about 15% off both the memory and the CPU of the two processes."""
        self._everything()

    def codes(self, column: str):
        """A column of the whole-case frame (:meth:`calls` without names) as integer codes
        aligned with its rows (-1: missing) and the values they stand for: what
        ``pd.factorize`` gives, without hashing a million strings."""
        import numpy as np

        if not self._columnar():
            codes, values = pd.factorize(self._everything()[column])
            return codes.astype(np.int64), list(values)
        codes, values = self._numpy.codes(column)
        return codes[self._order()], values

    def distinct(self, column: str) -> list:
        """The distinct values of one column over the case's calls (in the time bounds)."""
        import pyarrow.compute as pc

        col = self._column(column) if self._columnar() else self._table().column(column)
        return pc.unique(col).to_pylist()

    def _columnar(self) -> bool:
        """The embedded store: columns read one by one from the case's activity table."""
        return hasattr(getattr(self.store, "case", None), "graph_table")

    def _column(self, name: str) -> pa.ChunkedArray:
        """One column of the activity table in the time bounds, as stored (dictionaries kept)."""
        if name not in self._cols:
            t = self.store.case.graph_table("activity", [name], decode=False)
            window = self._window()
            if window is not None:
                t = t.filter(window)
            # one chunk (one dictionary): every slice is then one take, not one per row group
            self._cols[name] = t.unify_dictionaries().combine_chunks().column(0)
        return self._cols[name]

    def _window(self):
        """Which stored rows fall in ``since``/``until`` (None: all of them)."""
        if self.since is None and self.until is None:
            return None
        if self._in_window is None:
            import pyarrow.compute as pc

            t = self.store.case.graph_table("activity", ["time"], decode=False)
            ts, keep = pa.timestamp("us", tz="UTC"), None
            for cond in ((pc.greater_equal(t.column(0), pa.scalar(self.since, ts)))
                         if self.since is not None else None,
                         (pc.less_equal(t.column(0), pa.scalar(self.until, ts)))
                         if self.until is not None else None):
                if cond is not None:
                    keep = cond if keep is None else pc.and_(keep, cond)
            self._in_window = pc.fill_null(keep, False)
        return self._in_window

    def _order(self) -> pa.Array:
        """Every row, in time order (stable: ties keep the case's order)."""
        if self._sorted is None:
            import pyarrow.compute as pc

            self._sorted = pc.sort_indices(self._column("time")).to_numpy()
        return self._sorted

    def _rows_named(self, names: set[str]):
        """The rows of these event names, in time order (a numpy array of positions)."""
        import numpy as np
        import pyarrow.compute as pc

        mask = np.concatenate([_in_values(c, names) for c in self._column("event_name").chunks]
                              or [np.zeros(0, dtype=bool)])
        rows = np.flatnonzero(mask)
        times = self._column("time").take(pa.array(rows, pa.int64()))
        return rows[pc.sort_indices(times).to_numpy()]

    def _table(self):
        """Every column rules read (stores without a case folder: Neo4j)."""
        if self._arrow is None:
            cols = list(dict.fromkeys([*self.COLUMNS, *self.WIDE, "source_file"]))
            self._arrow = self.store.calls(cols, since=self.since, until=self.until)
        return self._arrow

    def _everything(self) -> pd.DataFrame:
        if self._wide is None:
            if self._columnar():
                self._wide = self._numpy.frame(self.WIDE, self._order())
            else:
                self._wide = to_frame(_time_ordered(self._table().select(self.WIDE)))
        return self._wide


def _in_values(chunk: pa.Array, names: set[str]):
    """A boolean mask of ``chunk`` (dictionary-encoded or plain) holding one of ``names``."""
    import numpy as np
    import pyarrow.compute as pc

    value_set = pa.array(sorted(names), pa.string())
    if pa.types.is_dictionary(chunk.type):
        hit = pc.is_in(chunk.dictionary, value_set=value_set).to_numpy(zero_copy_only=False)
        idx = chunk.indices.fill_null(len(hit)).to_numpy(zero_copy_only=False) if chunk.null_count \
            else chunk.indices.to_numpy(zero_copy_only=False)
        return np.append(hit, False)[idx]
    return pc.fill_null(pc.is_in(chunk, value_set=value_set), False).to_numpy(zero_copy_only=False)


def _time_ordered(t: pa.Table) -> pa.Table:
    """Calls in time order; ties keep the case's order (a stable sort on the timestamp)."""
    import pyarrow.compute as pc

    return t.take(pc.sort_indices(t, [("time", "ascending")]))


def lineage_path(store, actor: str | None) -> list[str]:
    """Origin principal first, then each credential down to ``actor``."""
    if actor is None:
        return []
    sess = store.session_info
    path = [actor]
    cur = actor
    seen = {actor}
    while cur in sess and sess[cur]["issuer"] and sess[cur]["issuer"] not in seen:
        cur = sess[cur]["issuer"]
        seen.add(cur)
        path.append(cur)
    origin, _ = origin_of(store, cur) if cur not in sess else (None, None)
    if cur in sess and not sess[cur]["issuer"]:
        origin = sess[cur]["principal"]
    if origin and origin != path[-1]:
        path.append(origin)
    return list(reversed(path))


def finding_of(store, r: Rule, hit: Hit, config: Config) -> Finding | None:
    rows = hit.rows
    if rows.empty:
        return None
    actors = sorted({a for a in rows["actor"] if isinstance(a, str)})
    accts = sorted({a for a in rows["recipient_account_id"] if isinstance(a, str)})
    times = rows["time"]
    lineage = [lineage_path(store, a) for a in actors[:5]]
    severity = config.severities.get(r.id) or hit.severity or r.severity
    origins = sorted({p[0] for p in lineage if p})
    return Finding(
        rule_id=r.id, title=r.title, severity=severity, tactic=r.tactic,
        technique=r.technique, technique_name=r.technique_name, summary=hit.summary,
        event_ids=list(dict.fromkeys(rows["event_id"])), actors=actors,
        lineage=lineage, accounts=accts,
        first_seen=_iso(times.min()), last_seen=_iso(times.max()), count=len(rows),
        fingerprint=fingerprint(r.id, origins, accts, hit.key), why=_jsonable(hit.why))


def fingerprint(rule_id: str, origins: list[str], accounts: list[str], key: tuple = ()) -> str:
    """A short hash of what identifies a finding: rule, origin principals, accounts, key.

    Session ids, counts and times are left out on purpose: they change when more of the same
    activity is ingested, and a suppression or a note must still find the finding.

    >>> fingerprint("GT-X", ["arn:aws:iam::1:user/a"], ["1"]) == fingerprint("GT-X", ["arn:aws:iam::1:user/a"], ["1"])
    True
    """
    text = "\x1e".join([rule_id, *sorted(origins), "|", *sorted(accounts), "|", *map(str, key)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def suppressed_by(f: Finding, config: Config, today: dt.date) -> str | None:
    principals = {p for path in f.lineage for p in path}
    for s in config.suppressions:
        if s.active(today) and s.matches(f.rule_id, principals, set(f.accounts)):
            return s.reason
    return None


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [_jsonable(x) for x in (sorted(v) if isinstance(v, set) else v)]
    if isinstance(v, float) and v != v:  # NaN never reaches JSON
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    if isinstance(v, pd.Timestamp):
        return _iso(v)
    return v


def _iso(ts) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return ids.iso(int(pd.Timestamp(ts).value // 1000))
