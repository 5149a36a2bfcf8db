"""The calls as Neo4j holds them: one ``(:Call)`` node per group of calls, not per event.

A group is every call of the activity table that shares who made it, what it did and on what
(``actor``, ``event_source``, ``event_name``, ``resource``) and everything else the questions
read as one value (outcome, address, user agent, region, accounts, identity): the columns of
:data:`GROUP_KEY`. The node holds those once and, in parallel lists in the activity table's
order, what differs per call: ``event_ids``, ``times_us`` and, when a group has them,
``occurrences`` (the 2nd, 3rd... call sharing an eventID and time), ``source_files``,
``details`` and ``shared_event_ids``. A list is there only when each call of the group has a
value (whether a column is null is part of the key), so ``list[i]`` is the i-th call's value
and a missing list reads as null, as the one-node-per-call model did. The Cypher files unwind
a group back into single calls (``range(0, size(g.event_ids) - 1)``), so every answer is the
one the per-call nodes gave; ``first_us``/``last_us`` let a window skip a whole group.

A node's id is the id of its first call (``call:<eventID>@<µs>``, ``#n`` for the n-th call
sharing both: unique, since a call is in one group), ``digest`` a hash of the key and the
lists: a re-push rewrites a group only when its digest changed.

>>> groups = call_groups_of([
...     {"event_id": "e1", "time": 5, "actor": "key:AKIA1", "event_name": "ListBuckets"},
...     {"event_id": "e2", "time": 9, "actor": "key:AKIA1", "event_name": "ListBuckets"}])
>>> [(g["id"], g["props"]["event_ids"], g["props"]["times_us"]) for g in groups]
[('call:e1@5', ['e1', 'e2'], [5, 9])]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphtrail.ids import call_id
from graphtrail.schema import CALL_COLUMNS, CALL_GROUP_LISTS, names

__all__ = ["GROUP_KEY", "call_groups", "call_groups_of", "OldCallModel", "check_call_model",
           "OLD_CALLS_QUERY"]

# What a group's calls share: every column of the calls table but the per-call ones.
GROUP_KEY = tuple(c for c in names(CALL_COLUMNS) if c not in ("event_id", "time", *CALL_GROUP_LISTS))
_READ = ("time", *(c for c in names(CALL_COLUMNS) if c != "time"))

# A database pushed by graphtrail before calls were grouped holds one (:Call) per event, with
# a single ``event_id``; the Cypher files read ``event_ids`` and would answer as if it had none.
OLD_CALLS_QUERY = "MATCH (c:Call:Graphtrail) WHERE c.event_id IS NOT NULL RETURN c.id AS id LIMIT 1"


class OldCallModel(ValueError):
    """The database holds calls pushed one node per event (graphtrail before grouped calls)."""


def check_call_model(server) -> None:
    """Raise :class:`OldCallModel` when ``server`` holds per-event ``(:Call)`` nodes."""
    if server.run(OLD_CALLS_QUERY):
        raise OldCallModel(
            f"{server.uri}: this database holds calls pushed one (:Call) node per event by an older "
            "graphtrail; the questions read calls grouped per credential, action and resource and "
            "would answer wrongly. Push the case into a fresh (empty) database, or delete the old "
            "calls first: MATCH (c:Call:Graphtrail) DETACH DELETE c")


def call_groups(path, batch_size: int = 65_536) -> list[dict]:
    """The groups of ``graph/activity.parquet``, in the order of their first call."""
    return call_groups_of(_calls(path, batch_size), _shared_call_keys(path))


def call_groups_of(calls: Iterable[dict], shared: set | None = None) -> list[dict]:
    """Group call rows (the calls table's columns, ``time`` in µs): ``{id, actor, actor_kind,
    count, digest, props}`` per group; ``shared`` holds the (eventID, time) pairs of more than
    one call (their ids and occurrences count them in order)."""
    shared = shared or set()
    seen: dict[str, int] = {}
    groups: dict[tuple, dict] = {}
    for call in calls:
        event, tm = call.get("event_id"), call.get("time")
        occurrence = 1
        cid = call_id(event, tm)
        if (event, tm) in shared:  # the order of calls sharing eventID and time, as the case has them
            occurrence = seen[cid] = seen.get(cid, 0) + 1
            cid = cid if occurrence == 1 else f"{cid}#{occurrence}"
        key = (*(call.get(c) for c in GROUP_KEY), tm is None, *(call.get(c) is None for c in CALL_GROUP_LISTS))
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"id": cid, "event_ids": [], "times_us": [], "occurrences": [],
                               **{c: [] for c in CALL_GROUP_LISTS}}
        g["event_ids"].append(event)
        g["times_us"].append(tm)
        g["occurrences"].append(occurrence)
        for c in CALL_GROUP_LISTS:
            g[c].append(call.get(c))
    return [_group(key, g) for key, g in groups.items()]


def _group(key: tuple, g: dict) -> dict:
    props = {c: v for c, v in zip(GROUP_KEY, key, strict=False) if v is not None}
    props["event_ids"] = g["event_ids"]
    if g["times_us"][0] is not None:  # all or none, as below
        props["times_us"] = g["times_us"]
    if any(o != 1 for o in g["occurrences"]):
        props["occurrences"] = g["occurrences"]
    for c in CALL_GROUP_LISTS:
        if g[c][0] is not None:  # all or none: null-ness is part of the key
            props[CALL_GROUP_LISTS[c]] = g[c]
    if "times_us" in props:
        props["first_us"], props["last_us"] = min(g["times_us"]), max(g["times_us"])
    props["count"] = len(g["event_ids"])
    text = json.dumps([g["id"], sorted(props.items())], default=str, separators=(",", ":"))
    props["digest"] = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    return {"id": g["id"], "actor": props.get("actor"), "actor_kind": props.get("actor_kind") or "",
            "count": props["count"], "digest": props["digest"], "props": props}


def _calls(path, batch_size: int) -> Iterator[dict]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=list(_READ)):
        t = pa.Table.from_batches([batch])
        cols = {c: t.column(c).to_pylist() for c in _READ if c != "time"}
        cols["time"] = t.column("time").cast(pa.int64()).to_pylist()
        keys = list(cols)
        for row in zip(*cols.values(), strict=True):
            yield dict(zip(keys, row, strict=True))


def _shared_call_keys(path) -> set[tuple[str, int]]:
    """(eventID, time) pairs that more than one call has: logs written by hand or by tools
    reuse eventIDs, and each call must stay a call of its own."""
    t = pq.read_table(path, columns=["event_id", "time"])
    t = t.set_column(1, "time", t.column("time").cast(pa.int64()))
    counts = t.group_by(["event_id", "time"], use_threads=False).aggregate([("event_id", "count")])
    many = counts.filter(pc.greater(counts.column("event_id_count"), 1))
    return set(zip(many.column("event_id").to_pylist(), many.column("time").to_pylist(), strict=True))
