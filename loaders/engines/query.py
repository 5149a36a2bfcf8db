"""The lineage query for one round, in the dialect of the engine that runs it.

The text lives in ``lineage.sql`` (Trino / Athena, over the documented CloudTrail table).
:func:`lineage_query` parses it with sqlglot, puts the round's values in as literals (each
value already matched a strict pattern in :mod:`loaders.follow.lineage`; sqlglot quotes
it again), names the engine's table, and writes it out for the engine's dialect.

>>> from loaders.follow.lineage import FollowSet
>>> sql = lineage_query(FollowSet.of(keys=["AKIAEXAMPLEKEY000001"]), dialect="duckdb")
>>> "useridentity.accesskeyid IN ('AKIAEXAMPLEKEY000001')" in sql
True
>>> "sourceipaddress IN" in sql  # an empty set asks for nothing
False
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import sqlglot
from sqlglot import exp

from loaders.follow.lineage import FIELDS, FollowSet

__all__ = ["lineage_query", "QUERY_DIALECT", "lineage_text"]

QUERY_DIALECT = "trino"  # the dialect lineage.sql is written in
# The table each text names (replaced by the engine's): CloudTrail's, or Security Lake's OCSF.
_TEXTS = {False: ("lineage.sql", "cloudtrail"), True: ("lineage_ocsf.sql", "ocsf")}


@cache
def lineage_text(ocsf: bool = False) -> str:
    """The query as written (``lineage.sql``, or ``lineage_ocsf.sql`` for Security Lake)."""
    return Path(__file__).with_name(_TEXTS[ocsf][0]).read_text()


def lineage_query(values: FollowSet, *, dialect: str, table: str | exp.Expression | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  partitions: bool = True, transform=None, ocsf: bool = False) -> str:
    """One round's SQL for ``dialect`` (``athena``, ``duckdb``, ``spark``, ``trino``).

    ``table`` replaces ``cloudtrail`` (a name, ``db.table``, or an expression).
    ``partitions`` False drops the ``"timestamp"`` partition filter (a table without it).
    ``since``/``until`` bound ``eventtime``; the partition filter is widened by a day each
    side (a file's folder is its delivery day, which can follow the event's).
    ``transform`` (expression -> expression) rewrites what a table spells differently.
    ``ocsf`` asks Security Lake's OCSF table (``lineage_ocsf.sql``) instead of CloudTrail's.
    """
    placeholder = _TEXTS[ocsf][1]
    table = placeholder if table is None else table
    tree = sqlglot.parse_one(lineage_text(ocsf), read=QUERY_DIALECT)
    lists = values.lists()
    bounds = _bounds(since, until)
    if not partitions:
        bounds["since_day"] = bounds["until_day"] = None
        bounds["since_eventday"] = bounds["until_eventday"] = None
    tree = tree.transform(lambda node: _fill(node, lists, bounds))
    target = table if isinstance(table, exp.Expression) else exp.to_table(table, dialect=dialect)
    for t in tree.find_all(exp.Table):
        if t.name == placeholder:
            t.replace(target.copy())
    if transform is not None:
        tree = tree.transform(transform)
    tree = _simplify_truth(tree)
    return tree.sql(dialect=dialect, comments=False)


def _bounds(since: datetime | None, until: datetime | None) -> dict[str, str | int | None]:
    """The window as each text spells it: CloudTrail's ISO text and ``yyyy/MM/dd`` folder
    day, OCSF's milliseconds and ``yyyyMMdd`` event day (days widened by one each side)."""
    out: dict[str, str | int | None] = dict.fromkeys(
        ("since", "until", "since_day", "until_day", "since_ms", "until_ms", "since_eventday",
         "until_eventday"))
    for end, moment, widen in (("since", since, -1), ("until", until, 1)):
        if moment is not None:
            m = _utc(moment)
            day = m + timedelta(days=widen)
            out[end] = m.strftime("%Y-%m-%dT%H:%M:%SZ")
            out[f"{end}_day"] = day.strftime("%Y/%m/%d")
            out[f"{end}_ms"] = int(m.timestamp() * 1000)
            out[f"{end}_eventday"] = day.strftime("%Y%m%d")
    return out


def _fill(node: exp.Expression, lists: dict[str, list[str]],
          bounds: dict[str, str | int | None]):
    if isinstance(node, exp.In):
        names = [e.name for e in node.expressions if isinstance(e, exp.Placeholder)]
        if names:
            if names[0] not in FIELDS:
                raise KeyError(f"lineage.sql names an unknown list :{names[0]}")
            found = lists[names[0]]
            if not found:
                return exp.false()
            return exp.In(this=node.this, expressions=[exp.Literal.string(v) for v in found])
    if isinstance(node, (exp.GTE, exp.LTE)) and isinstance(node.expression, exp.Placeholder):
        value = bounds[node.expression.name]
        if value is None:
            return exp.true()
        literal = exp.Literal.number(value) if isinstance(value, int) else exp.Literal.string(value)
        return node.__class__(this=node.this, expression=literal)
    return node


def _simplify_truth(tree: exp.Expression) -> exp.Expression:
    """Drop ``AND TRUE`` / ``OR FALSE`` left by empty lists and open windows."""

    def fold(node: exp.Expression):
        if isinstance(node, (exp.And, exp.Or)):
            neutral = isinstance(node, exp.And)  # TRUE for AND, FALSE for OR
            left, right = node.this, node.expression
            if _is(left, not neutral) or _is(right, not neutral):
                return exp.Boolean(this=not neutral)
            if _is(left, neutral):
                return right
            if _is(right, neutral):
                return left
        if isinstance(node, exp.Paren) and isinstance(node.this, exp.Boolean):
            return node.this
        return node

    previous = None
    while previous != tree.sql():
        previous = tree.sql()
        tree = tree.transform(fold)
    return tree


def _is(node: exp.Expression, value: bool) -> bool:
    while isinstance(node, exp.Paren):
        node = node.this
    return isinstance(node, exp.Boolean) and node.this is value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
