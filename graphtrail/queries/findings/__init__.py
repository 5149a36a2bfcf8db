"""Findings: a catalogue of detections, each with evidence and the credential lineage.

A rule is one function decorated with :func:`rule` (id, title, severity, ATT&CK tactic and
technique) that receives a :class:`Context` and returns groups of calls; the engine turns
each group into a :class:`Finding` with every eventID, the actors and, for each actor, the
lineage of credentials that led to it (origin principal first). Adding a detection is one
function in :mod:`graphtrail.queries.findings.rules` (``grep -n '@rule' ...`` lists them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pandas as pd

from graphtrail import ids
from graphtrail.frames import to_frame
from graphtrail.queries.chains import origin_of
from graphtrail.words import plural

__all__ = ["Finding", "Rule", "RULES", "rule", "findings", "Context", "lineage_path", "SEVERITIES"]

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

    def __init__(self, store, since: int | None = None, until: int | None = None) -> None:
        self.store = store
        self.since, self.until = since, until
        self._frames: dict[tuple, pd.DataFrame] = {}

    def calls(self, names: list[str] | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """Calls (optionally only these event names), time-ordered, as a DataFrame."""
        key = (tuple(names) if names else None, tuple(columns) if columns else None)
        if key not in self._frames:
            t = self.store.calls(columns or self.COLUMNS, event_names=names, since=self.since,
                                 until=self.until)
            self._frames[key] = to_frame(t)
        return self._frames[key]


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


def findings(store, *, since: int | None = None, until: int | None = None,
             rules: list[str] | None = None, min_severity: str | None = None) -> list[Finding]:
    """Run the catalogue (or the named ``rules``) over a case; most severe first."""
    from graphtrail.queries.findings import rules as _rules  # noqa: F401  (registers the catalogue)

    ctx = Context(store, since, until)
    out: list[Finding] = []
    cutoff = SEVERITIES.index(min_severity) if min_severity else len(SEVERITIES)
    for r in RULES.values():
        if rules and r.id not in rules:
            continue
        if SEVERITIES.index(r.severity) > cutoff:
            continue
        for hit in r.fn(ctx):
            rows = hit.rows
            if rows.empty:
                continue
            actors = sorted({a for a in rows["actor"] if isinstance(a, str)})
            accts = sorted({a for a in rows["recipient_account_id"] if isinstance(a, str)})
            times = rows["time"]
            out.append(Finding(
                rule_id=r.id, title=r.title, severity=r.severity, tactic=r.tactic,
                technique=r.technique, technique_name=r.technique_name, summary=hit.summary,
                event_ids=list(dict.fromkeys(rows["event_id"])), actors=actors,
                lineage=[lineage_path(store, a) for a in actors[:5]], accounts=accts,
                first_seen=_iso(times.min()), last_seen=_iso(times.max()), count=len(rows)))
    out.sort(key=lambda f: (SEVERITIES.index(f.severity), f.first_seen or "", f.rule_id))
    return out


def _iso(ts) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return ids.iso(int(pd.Timestamp(ts).value // 1000))
