"""Running Sigma rules over a case: matching calls, grouped by credential lineage.

The rules read the case's events table (every column a rule names, the JSON ones only for the
calls the plain columns leave undecided); the matching calls are then taken from the
activity table, which knows the credential that made each call. One finding per rule, origin
of the lineage and account: every call of it as evidence.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.frames import to_frame
from graphtrail.queries.findings.base import Hit, lineage_path
from graphtrail.queries.findings.sigma_eval import Values, evaluate, json_values
from graphtrail.queries.findings.sigma_fields import Field
from graphtrail.queries.findings.sigma_rules import SigmaCheck, SigmaRules
from graphtrail.words import plural

__all__ = ["sigma_hits"]

_ROWS = ["event_id", "time", "actor", "identity_arn", "source_ip", "event_name",
         "recipient_account_id", "account_id", "error_code", "region"]


def sigma_hits(store, rules: SigmaRules, since: int | None = None,
               until: int | None = None) -> list[tuple[SigmaCheck, Hit]]:
    """Every (rule, hit) of ``rules`` over the case behind ``store``."""
    if not rules.checks:
        return []
    case = getattr(store, "case", None)
    if case is None:
        raise ValueError("Sigma rules read the case's events: ask the case folder "
                         "(the embedded store), not a Neo4j server")
    events = _Events(case, since, until, {f.column for c in rules.checks for f in c.fields})
    out = []
    for check in rules.checks:
        matched = events.match(check)
        if len(matched):
            out.extend((check, hit) for hit in _hits(store, check, matched))
    return out


class _Events:
    """The events table, read once: plain columns now, JSON columns when first asked for."""

    def __init__(self, case, since, until, columns: set[str]) -> None:
        self.case = case
        self.filter = _window(since, until)
        self.json_wanted = {c for c in columns if c in _JSON}
        plain = sorted((columns - _JSON) | {"event_id"})
        self.table = case.events(plain, self.filter)
        self.n = self.table.num_rows
        self._values: dict[Field, Values] = {}
        self._json: dict[str, pa.ChunkedArray] = {}

    def match(self, check: SigmaCheck) -> pa.Array:
        """The eventIDs of the calls ``check`` matches."""
        first = evaluate(check.tree, self.n, self._plain, self._may_have)
        undecided = pc.indices_nonzero(pc.is_null(first))
        hits = pc.indices_nonzero(pc.fill_null(first, False))
        if len(undecided):
            sub = _Subset(self, undecided)
            second = evaluate(check.tree, len(undecided), sub.resolve)
            more = undecided.take(pc.indices_nonzero(pc.fill_null(second, False)))
            hits = pc.unique(pa.concat_arrays([hits.cast(pa.uint64()), more.cast(pa.uint64())]))
        return self.table.column("event_id").take(hits)

    def _plain(self, f: Field) -> Values | None:
        if f.path and f.column in _JSON:
            return None
        if f not in self._values:
            col = self.json(f.column) if f.column in _JSON else self.table.column(f.column)
            self._values[f] = Values.of_column(col)
        return self._values[f]

    def _may_have(self, f: Field):
        """Calls whose JSON column holds something (the others have no value at any path)."""
        return self.json(f.column).is_valid().to_numpy(zero_copy_only=False)

    def json(self, column: str) -> pa.ChunkedArray:
        if column not in self._json:
            self._json[column] = self.case.events([column], self.filter).column(column)
        return self._json[column]


class _Subset:
    """The calls a first pass left undecided, with their JSON parsed once per column."""

    def __init__(self, events: _Events, rows: pa.Array) -> None:
        self.events, self.rows = events, rows
        self._texts: dict[str, list] = {}

    def resolve(self, f: Field) -> Values:
        if f.path and f.column in _JSON:
            if f.column not in self._texts:
                self._texts[f.column] = self.events.json(f.column).take(self.rows).to_pylist()
            return Values.of_python(json_values(self._texts[f.column], f.path))
        col = (self.events.json(f.column) if f.column in _JSON
               else self.events.table.column(f.column))
        return Values.of_column(col.take(self.rows))


_JSON = {"request_parameters", "response_elements", "additional_event_data", "resources"}


def _window(since: int | None, until: int | None):
    ts = pa.timestamp("us", tz="UTC")
    flt = None
    for cond in ((pc.field("time") >= pa.scalar(since, ts)) if since is not None else None,
                 (pc.field("time") <= pa.scalar(until, ts)) if until is not None else None):
        if cond is not None:
            flt = cond if flt is None else flt & cond
    return flt


def _hits(store, check: SigmaCheck, event_ids: pa.Array) -> list[Hit]:
    wanted = pc.is_in(pc.field("event_id"), value_set=pc.unique(event_ids))
    rows = to_frame(store.activity(_ROWS, wanted).sort_by([("time", "ascending"),
                                                           ("event_id", "ascending")]))
    if rows.empty:
        return []
    origins = {a: (lineage_path(store, a) or [None])[0] for a in rows["actor"].dropna().unique()}
    rows["origin"] = [origins.get(a) if isinstance(a, str) else None for a in rows["actor"]]
    rows["origin"] = rows["origin"].fillna(rows["identity_arn"]).fillna(rows["source_ip"]).fillna("unknown")
    hits = []
    for (origin, account), g in rows.groupby(["origin", rows["recipient_account_id"].fillna("")],
                                             sort=True, dropna=False):
        names = ", ".join(sorted(set(g["event_name"].dropna())))
        where = f" in {account}" if account else ""
        hits.append(Hit(g.drop(columns=["origin"]),
                        f"{check.title}: {plural(len(g), 'call')} ({names}) by {origin}{where}",
                        why={"sigma_rule": check.file, "description": check.description or None,
                             "origin": origin}))
    return hits
