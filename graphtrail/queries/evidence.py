"""The evidence rows of an answer: the calls that opened its credentials, and every event.

* :func:`opening_calls` -- ``issued_by``: the call that opened each seed credential, whoever
  made it (a service, an identity provider, a person, the console sign-in, the portal).
* :func:`event_rows` -- ``events``: per eventID, when, what, where, from which address, with
  which credential and key, and how it ended.
* :func:`console_session` and :func:`key_changes` -- console sign-ins as the answer shows them,
  and keys deactivated or deleted with the sessions that outlived them.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from graphtrail import ids
from graphtrail.families import CREDENTIAL_OPENING
from graphtrail.model import EdgeKind

__all__ = ["EVENT_FIELDS", "EVENT_ROW_FIELDS", "opening_calls", "event_rows", "console_session",
           "key_changes", "callers", "between"]

EVENT_FIELDS = ("time", "event_name", "recipient_account_id", "account_id", "region", "source_ip",
                "actor", "access_key_id", "error_code", "event_id")
# One row of ``events`` (``--format json`` and ``csv``).
EVENT_ROW_FIELDS = ("time", "event_name", "account", "region", "source_ip", "credential",
                    "access_key_id", "error_code", "event_id")
_OPENING = tuple(CREDENTIAL_OPENING)


def opening_calls(store, seeds: list[str], since: int | None = None,
                  until: int | None = None) -> list[dict]:
    """The call that opened each seed credential, whoever made it (``issued_by``).

    A session: its STS call (both copies), or the ConsoleLogin of a console session, or the
    Identity Center portal call with the service's AssumeRoleWithSAML. A long-term key: the
    CreateAccessKey that made it, when the logs hold it.
    """
    g = store.lineage
    sess = store.session_info
    out = []
    for c in sorted(seeds):
        s = sess.get(c)
        if s is not None:
            if s["event_ids"] and between(s["issued"], since, until):
                out.append({"credential": c, "via": s["via"], "issuer": s["issuer"],
                            "time": ids.iso(s["issued"]), "event_ids": list(s["event_ids"])})
        elif c in g:
            for src, _, k, d in g.in_edges(c, keys=True, data=True):
                if k == EdgeKind.CREATED and between(d.get("first_seen"), since, until):
                    out.append({"credential": c, "via": (d.get("event_names") or ["CreateAccessKey"])[0],
                                "issuer": src, "time": ids.iso(d.get("first_seen")),
                                "event_ids": list(d["event_ids"])})
    return out


def between(t: int | None, since: int | None, until: int | None) -> bool:
    return t is None or ((since is None or t >= since) and (until is None or t <= until))


def event_rows(store, calls, event_ids: set[str], outside=None) -> list[dict]:
    """One row per eventID of the answer: when, what, where, from which address, with which
    credential, and how it ended.

    ``outside`` holds calls of the lineage's openers from outside it; an opening call found
    in neither (one outside the window) is looked up among every opening call.
    """
    missing = event_ids - set(calls.column("event_id").to_pylist())
    tables = [calls.select(list(EVENT_FIELDS))]
    for extra in (outside, None):
        if not missing:
            break
        if extra is None:
            extra = store.calls(list(EVENT_FIELDS), event_names=_OPENING)
        extra = extra.select(list(EVENT_FIELDS)).filter(
            pc.is_in(extra.column("event_id"), value_set=pa.array(sorted(missing), pa.string())))
        tables.append(extra)
        missing = missing - set(extra.column("event_id").to_pylist())
    t = pa.concat_tables(tables).sort_by([("time", "ascending"), ("event_id", "ascending")])
    cols = {c: t.column(c).to_pylist() for c in EVENT_FIELDS if c != "time"}
    times = iso_times(t.column("time"))
    rows, seen = [], set()
    for i, e in enumerate(cols["event_id"]):
        if e in seen:
            continue
        seen.add(e)
        rows.append({"time": times[i], "event_name": cols["event_name"][i],
                     "account": cols["recipient_account_id"][i] or cols["account_id"][i],
                     "region": cols["region"][i], "source_ip": cols["source_ip"][i],
                     "credential": cols["actor"][i], "access_key_id": cols["access_key_id"][i],
                     "error_code": cols["error_code"][i], "event_id": e})
    return rows


def iso_times(col) -> list[str | None]:
    """A time column as :func:`graphtrail.ids.iso` writes it, formatted in Arrow.

    >>> iso_times(pa.array([0, 1_500_000, None], pa.timestamp("us", tz="UTC")))
    ['1970-01-01T00:00:00Z', '1970-01-01T00:00:01.500000Z', None]
    >>> iso_times(pa.array([-1_500_000, -1_000_000], pa.timestamp("us", tz="UTC")))
    ['1969-12-31T23:59:58.500000Z', '1969-12-31T23:59:59Z']
    """
    if len(col) == 0:
        return []  # (pyarrow 17's strftime crashes on an empty array)
    us = col.cast(pa.int64())
    exact = us.cast(pa.timestamp("us", tz="UTC"))
    whole = exact.cast(pa.timestamp("s", tz="UTC"), safe=False)  # truncated to the second
    secs = pc.strftime(whole, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    # the times with a fraction, written by ids.iso; no Python scalar (a divisor, a fill
    # value) is made: pyarrow 17 imports pandas to convert one
    frac = pc.not_equal(exact, whole.cast(pa.timestamp("us", tz="UTC")))
    for i in pc.indices_nonzero(frac).to_pylist():  # nulls are not "nonzero"
        secs[i] = ids.iso(us[i].as_py())
    return secs


def callers(store, sessions: list[str]) -> set[str]:
    """Who made the calls that opened ``sessions``: their issuers, Identity Center users, and
    the caller's account where the role owner's copy of a cross-account call names no more."""
    out = set()
    for sid in sessions:
        s = store.session_info[sid]
        if s["event_ids"]:
            if s["issuer"]:
                out.add(s["issuer"])
            origin = json.loads(s["origin"]) if s.get("origin") else {}
            if origin.get("user_id"):
                out.add(ids.identity_center_user_id(origin["user_id"]))
            if s["issuer_account"] and s["account"] and s["issuer_account"] != s["account"]:
                out.add(ids.account_id(s["issuer_account"]))  # the role owner's copy, if unlinked
    return out


def console_session(sid: str, s: dict) -> dict:
    """A console sign-in as the answer shows it: who, when, MFA, its keys, where from."""
    sides = json.loads(s["sides"]) if s.get("sides") else []
    return {"session": sid, "principal": s["principal"], "session_name": s["session_name"],
            "created": ids.iso(s["issued"]), "mfa": s.get("mfa"), "opened_by": list(s["event_ids"] or []),
            "access_key_ids": list(s.get("access_key_ids") or []),
            "replayed": bool(s.get("replayed")), "sides": sides}


def key_changes(store, creds: dict, links: list[dict], since, until) -> list[dict]:
    """Keys of the lineage deactivated or deleted, and the sessions they had issued that
    outlived them (a GetFederationToken session lives on after its key is deleted)."""
    g = store.lineage
    sess = store.session_info
    out = []
    for c in sorted(creds):
        if not ids.key_of(c) or c not in g:
            continue
        for src, _, k, d in g.in_edges(c, keys=True, data=True):
            if k != EdgeKind.CHANGED or not between(d.get("first_seen"), since, until):
                continue
            change = d.get("change")
            if change != "DeleteAccessKey" and not (change == "UpdateAccessKey" and d.get("status") == "Inactive"):
                continue
            t = d.get("first_seen")
            outlived = [x["to"] for x in links if x["from"] == c and x["to"] in sess
                        and (sess[x["to"]]["expires"] or 0) > (t or 0)]
            out.append({"access_key_id": ids.key_of(c), "event_name": change,
                        "status": "Deleted" if change == "DeleteAccessKey" else "Inactive",
                        "time": ids.iso(t), "by": src, "event_ids": list(d["event_ids"]),
                        "sessions_outliving_it": sorted(outlived)})
    return out
