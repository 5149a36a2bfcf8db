"""Blast radius: everything a credential did, and everything derived from it, forward in time.

From the seed's credentials the walk follows what each credential *produced*:

* sessions it issued (AssumeRole*, GetSessionToken, GetFederationToken), at any depth:
  role chaining, across accounts;
* access keys it created (their later calls are the attacker's too), users it created
  (their keys and console sessions after creation), login profiles it created or reset
  (the user's console sessions after that);
* trust it opened to other accounts is reported with whether anyone used it afterwards
  (``used_later``), but the sessions of those other accounts are not walked into: who
  controls them is a judgement for the investigator, not a fact in the logs.

A benign user who assumes the same roles at the same time has *other* sessions, issued by
*her* key: they are never reached. Every answer carries the eventIDs that prove it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from graphtrail import ids
from graphtrail.model import EdgeKind, NodeKind
from graphtrail.queries.evidence import (
    EVENT_ROW_FIELDS,
    callers,
    console_session,
    event_rows,
    key_changes,
    opening_calls,
)
from graphtrail.queries.plain import plain
from graphtrail.queries.seeds import Seed, SeedError, seed_credentials
from graphtrail.words import plural

__all__ = ["BlastRadius", "blast_radius", "lineage_of", "EVENT_ROW_FIELDS"]


@dataclass
class BlastRadius:
    """The answer; :meth:`to_dict` is the ``--format json`` object."""

    seed: dict
    since: str | None
    until: str | None
    event_ids: list[str]
    access_keys: list[str]
    sessions: list[str]
    roles: list[str]
    attempted_roles: list[str]
    accounts: list[str]
    ips: list[str]
    resources: list[str]
    created: list[dict]
    policy_changes: list[dict]
    principals: list[str] = field(default_factory=list)
    lineage: list[dict] = field(default_factory=list)
    first_seen: str | None = None
    last_seen: str | None = None
    calls: int = 0
    failed_calls: int = 0
    issued_by: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    console_sessions: list[dict] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)
    key_changes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return plain(self)

    def to_frame(self):
        """One row per call of the answer (``events``): time (tz-aware), event name, account,
        region, IP, credential, access key and error code; missing values are None."""
        from graphtrail.frames import records_frame

        return records_frame(self.events, columns=list(EVENT_ROW_FIELDS))

    def __repr__(self) -> str:
        span = f", {self.first_seen} .. {self.last_seen}" if self.first_seen else ""
        return (f"<BlastRadius of {self.seed.get('kind')} {self.seed.get('value')}: "
                f"{plural(self.calls, 'call')}, {plural(len(self.sessions), 'session')}, "
                f"{plural(len(self.roles), 'role')}, {plural(len(self.accounts), 'account')}"
                f"{span}>")


def lineage_of(store, start: set[str], since: int | None = None,
               until: int | None = None) -> tuple[dict[str, dict], list[dict]]:
    """Every credential derived from ``start``, with how it was derived.

    Returns ``(credentials, links)``: credentials maps node id -> {"via": edge kind,
    "parent": node id, "time": µs, "event_ids": [...]}; links lists the derivation edges.
    """
    g = store.lineage
    sess = store.session_info
    creds: dict[str, dict] = {c: {"via": "seed", "parent": None, "time": None, "event_ids": []}
                              for c in start}
    links: list[dict] = []
    queue = deque(start)

    def add(node: str, parent: str, via: str, t: int | None, evid: list[str]) -> None:
        if node in creds:
            return
        if until is not None and t is not None and t > until:
            return
        creds[node] = {"via": via, "parent": parent, "time": t, "event_ids": evid}
        links.append({"from": parent, "to": node, "via": via, "time": ids.iso(t), "event_ids": evid})
        queue.append(node)

    while queue:
        cred = queue.popleft()
        if cred not in g:
            continue
        for _, dst, k, d in g.out_edges(cred, keys=True, data=True):
            t = d.get("first_seen")
            if k == EdgeKind.ISSUED:
                add(dst, cred, "ISSUED", t, d["event_ids"])
            elif k == EdgeKind.CREATED:
                kind = g.nodes[dst].get("kind")
                if kind == NodeKind.ACCESS_KEY:
                    add(dst, cred, "CREATED", t, d["event_ids"])
                elif kind == NodeKind.USER:
                    _user_credentials_after(g, sess, dst, t, cred, d["event_ids"], add)
                elif kind == NodeKind.LOGIN_PROFILE:
                    for _, user, k2 in g.out_edges(dst, keys=True):
                        if k2 == EdgeKind.OF_PRINCIPAL:
                            _console_sessions_after(g, sess, user, t, cred, d["event_ids"], add)
            elif k == EdgeKind.CHANGED:
                if d.get("change") == "UpdateLoginProfile":
                    for _, user, k2 in g.out_edges(dst, keys=True):
                        if k2 == EdgeKind.OF_PRINCIPAL:
                            _console_sessions_after(g, sess, user, t, cred, d["event_ids"], add)
    return creds, links


def _user_credentials_after(g, sess, user, t, parent, evid, add) -> None:
    for _, key, k in g.out_edges(user, keys=True):
        if k == EdgeKind.HAS_KEY:
            add(key, parent, "CREATED_USER_KEY", t, evid)
    _console_sessions_after(g, sess, user, t, parent, evid, add)


def _console_sessions_after(g, sess, user, t, parent, evid, add) -> None:
    if user not in g:
        return
    for sid, _, k in g.in_edges(user, keys=True):
        s = sess.get(sid)
        if k == EdgeKind.OF_PRINCIPAL and s and s["issued"] and (t is None or s["issued"] >= t):
            add(sid, parent, "CONSOLE_AFTER_CHANGE", s["issued"], evid + s["event_ids"])


def blast_radius(store, seed: Seed | str, *, since: int | None = None,
                 until: int | None = None) -> BlastRadius:
    """Everything ``seed`` did and everything derived from it.

    Parameters
    ----------
    store : MemoryStore
    seed : Seed or str
        A key id, principal ARN, session id or IP (kind guessed from the text).
    since, until : int, optional
        Epoch µs bounds for calls and derived credentials.
    """
    if isinstance(seed, str):
        seed = Seed.of(None, seed)
    start, excluded = explained_only(store, seed, seed_credentials(store, seed, since, until))
    creds, links = lineage_of(store, start, since, until)
    br = summarize(store, seed, creds, links, since, until)
    br.excluded = excluded
    return br


def explained_only(store, seed: Seed, start: set[str]) -> tuple[set[str], list[dict]]:
    """A temporary key id: the sessions an issuance (or a sign-in) explains, when there are any.

    A use of the same key id that nothing in the logs issued is a credential of its own
    (a recycled id, or a console key reused by someone else): it is left out of the answer
    and listed, with the reason, in ``excluded``.
    """
    if seed.kind != "access_key" or not ids.is_temporary_key(seed.value):
        return start, []
    sess = store.session_info
    known = {c for c in start if sess.get(c, {}).get("via") != "unknown"}
    if len(known) > 1:  # AWS recycled the id: the key alone does not say which session
        listed = "; ".join(f"{c} ({sess[c]['principal']})" for c in sorted(known, key=lambda c: sess[c]["issued"] or 0))
        raise SeedError(f"access key {seed.value} was issued {len(known)} times in this case (a recycled "
                        f"key id): {listed}. Name one with --session, or narrow with --since/--until")
    if not known or known == start:
        return start, []
    out = [{"session": c, "principal": sess[c]["principal"], "session_name": sess[c]["session_name"],
            "reason": sess[c].get("note") or "no issuance in the logs explains it"}
           for c in sorted(start - known)]
    return known, out


def summarize(store, seed: Seed, creds: dict[str, dict], links: list[dict],
              since: int | None, until: int | None) -> BlastRadius:
    """Turn a set of credentials into the blast-radius answer (shared with other backends).

    Steps: the lineage's calls in the window (:func:`_lineage_calls`), the sessions that
    count (acted or were issued in it), the eventIDs cited (:func:`_cited_events`), the keys
    (:func:`_access_keys`), who and where it reached (:func:`_reach`), what it created and
    changed, and the evidence rows.
    """
    sess = store.session_info
    calls, outside = _lineage_calls(store, creds, since, until)
    active = set(calls.column("actor").to_pylist())
    sessions = sorted(c for c in creds if c in sess and _in_window(c, sess[c], active, since, until))
    issued_by = opening_calls(store, [c for c, v in creds.items() if v["via"] == "seed"], since, until)
    event_ids = _cited_events(calls, creds, sess, sessions, issued_by)
    roles, principals, accounts, attempted = _reach(store, creds, sessions, since, until)
    for col in ("recipient_account_id", "account_id"):
        accounts.update(a for a in pc.unique(calls.column(col)).to_pylist() if a)
    ips = sorted(ip for ip in pc.unique(calls.column("source_ip")).to_pylist() if ids.is_ip(ip))
    ok = calls.filter(pc.is_null(calls.column("error_code")))
    resources = sorted(r for r in pc.unique(ok.column("resource")).to_pylist() if r)
    created, changes = _created_and_changed(store, creds, since, until)
    first_seen, last_seen = _span(calls)
    return BlastRadius(
        seed=seed.as_dict(), since=ids.iso(since), until=ids.iso(until),
        event_ids=sorted(event_ids), access_keys=sorted(_access_keys(creds, sess)), sessions=sessions,
        roles=sorted(roles), attempted_roles=sorted(attempted - roles),
        accounts=sorted(accounts), ips=ips, resources=resources, created=created,
        policy_changes=changes, principals=sorted(principals), lineage=links,
        first_seen=first_seen, last_seen=last_seen,
        calls=calls.num_rows, failed_calls=calls.num_rows - ok.num_rows,
        issued_by=issued_by, events=event_rows(store, calls, event_ids, outside),
        console_sessions=[console_session(sid, sess[sid]) for sid in sessions if sess[sid].get("console")],
        key_changes=key_changes(store, creds, links, since, until),
    )


def _lineage_calls(store, creds: dict, since: int | None, until: int | None) -> tuple[pa.Table, pa.Table | None]:
    """(the lineage's calls, the calls of whoever opened its sessions from outside it).

    One read: the outsiders (a service, an IdP, a portal user) are read with the lineage for
    the opening calls' rows, then split off.
    """
    sess = store.session_info
    openers = sorted(callers(store, [c for c in creds if c in sess]) - set(creds))
    calls = store.calls(["event_id", "time", "actor", "resource", "source_ip", "error_code",
                         "recipient_account_id", "account_id", "event_name", "region",
                         "access_key_id"], actors=sorted(set(creds).union(openers)),
                        since=since, until=until)
    if not openers:
        return calls, None
    mine = pc.is_in(calls.column("actor"), value_set=pa.array(sorted(creds), pa.string()))
    return calls.filter(mine), calls.filter(pc.invert(mine))


def _cited_events(calls: pa.Table, creds: dict, sess, sessions: list[str], issued_by: list[dict]) -> set[str]:
    """The lineage's calls, both copies of each STS call that issued one of its sessions, and
    the calls that opened the seed."""
    event_ids = set(calls.column("event_id").to_pylist())
    for sid in sessions:
        if creds[sid]["via"] != "seed":
            event_ids.update(sess[sid]["event_ids"] or [])
    for item in issued_by:
        event_ids.update(item["event_ids"])
    return event_ids


def _access_keys(creds: dict, sess) -> set[str]:
    """Every key id of the lineage: long-term keys, session keys (a console session has many)."""
    keys = set()
    for c in creds:
        if ids.key_of(c):
            keys.add(ids.key_of(c))
        elif c in sess:
            keys.update(k for k in (sess[c].get("access_key_ids") or [sess[c]["access_key_id"]]) if k)
    return keys


def _reach(store, creds: dict, sessions: list[str], since: int | None,
           until: int | None) -> tuple[set[str], set[str], set[str], set[str]]:
    """(roles, principals, accounts, roles attempted) the lineage's credentials reached."""
    g, sess = store.lineage, store.session_info
    roles, principals, accounts, attempted = set(), set(), set(), set()
    for sid in sessions:
        s = sess[sid]
        if s["principal"]:
            (roles if s["principal_kind"] == NodeKind.ROLE else principals).add(s["principal"])
        if s["account"]:
            accounts.add(s["account"])
    for c in creds:
        if c.startswith("arn:"):
            principals.add(c)
        if c not in g:
            continue
        attempted.update(dst for _, dst, k, d in g.out_edges(c, keys=True, data=True)
                         if k == EdgeKind.ATTEMPTED and g.nodes[dst].get("kind") == NodeKind.ROLE
                         and _overlaps(d, since, until))
        principals.update(src for src, _, k in g.in_edges(c, keys=True) if k == EdgeKind.HAS_KEY)
    return roles, principals, accounts, attempted


def _span(calls: pa.Table) -> tuple[str | None, str | None]:
    """First and last call, to the second."""
    if not calls.num_rows:
        return None, None
    lo, hi = pc.min_max(calls.column("time")).values()
    return (lo.as_py().strftime("%Y-%m-%dT%H:%M:%SZ") if lo.is_valid else None,
            hi.as_py().strftime("%Y-%m-%dT%H:%M:%SZ") if hi.is_valid else None)


def _overlaps(edge: dict, since: int | None, until: int | None) -> bool:
    lo, hi = edge.get("first_seen"), edge.get("last_seen")
    return not ((until is not None and lo is not None and lo > until)
                or (since is not None and hi is not None and hi < since))


def _in_window(sid: str, s: dict, active: set, since: int | None, until: int | None) -> bool:
    """A session counts when it acted in the window or was issued in it."""
    if since is None and until is None:
        return True
    if sid in active:
        return True
    t = s.get("issued")
    return t is not None and (since is None or t >= since) and (until is None or t <= until)


def _created_and_changed(store, creds: dict, since, until) -> tuple[list[dict], list[dict]]:
    g = store.lineage
    created, changes = [], []
    for c in creds:
        if c not in g:
            continue
        for _, dst, k, d in g.out_edges(c, keys=True, data=True):
            t = d.get("first_seen")
            if (since is not None and t is not None and t < since) or (until is not None and t and t > until):
                continue
            if k == EdgeKind.CREATED:
                ctype = d.get("created_type") or g.nodes[dst].get("kind")
                shown = _display(dst) + (f":{d['version']}" if ctype == "PolicyVersion" and d.get("version") else "")
                item = {"type": ctype, "id": shown, "node": dst, "by": c, "time": ids.iso(t),
                        "event_id": d["event_ids"][0] if d["event_ids"] else None,
                        "used_later": used_later(store, dst, t),
                        **{x: d[x] for x in ("admin", "version", "set_as_default") if x in d}}
                created.append(item)
                if ctype in ("PolicyVersion", "Policy"):  # a permission change as well
                    changes.append({"event_name": (d.get("event_names") or ["CreatePolicyVersion"])[0],
                                    "target": _display(dst), "by": c, "time": ids.iso(t),
                                    "event_id": item["event_id"], "event_ids": d["event_ids"],
                                    "used_later": False,
                                    **{x: d[x] for x in ("admin", "version", "set_as_default") if x in d}})
            elif k == EdgeKind.CHANGED:
                changes.append({"event_name": (d.get("event_names") or [d.get("change")])[0],
                                "target": _display(dst), "by": c, "time": ids.iso(t),
                                "event_id": d["event_ids"][0] if d["event_ids"] else None,
                                "event_ids": d["event_ids"],
                                "used_later": used_later(store, dst, t, d),
                                **{x: d[x] for x in ("policy_arn", "admin", "external_accounts",
                                                     "trusted_accounts", "policy_name", "version")
                                   if d.get(x) is not None}})
    created.sort(key=lambda x: (x["time"] or "", x["id"]))
    changes.sort(key=lambda x: (x["time"] or "", x["target"]))
    return created, changes


def _display(node: str) -> str:
    parsed = ids.parse_id(node)
    return parsed.value if parsed.prefix in (ids.IdPrefix.KEY, ids.IdPrefix.LOGIN_PROFILE) else node


def used_later(store, node: str, t: int | None, change: dict | None = None) -> bool:
    """Was a created (or changed) thing used after ``t``?

    A key: any call made with it. A user: any call by its keys or sessions. A login profile:
    a console session of its user. A role: a session of it (from an account the change let
    in, when the change names outside accounts). A policy: no direct use is visible in
    CloudTrail, so False.
    """
    if node not in store.lineage:
        return False
    check = _USED_LATER.get(store.lineage.nodes[node].get("kind"))
    return bool(check and check(store, node, t or 0, change or {}))


def _key_used(store, key: str, t: int, change: dict) -> bool:
    return bool(store.node_info.get(key, {}).get("props", {}).get("calls"))


def _user_used(store, user: str, t: int, change: dict) -> bool:
    g, sess = store.lineage, store.session_info
    if any(k == EdgeKind.HAS_KEY and used_later(store, key, t) for _, key, k in g.out_edges(user, keys=True)):
        return True
    return any(k == EdgeKind.OF_PRINCIPAL and (sess.get(s, {}).get("issued") or 0) >= t
               for s, _, k in g.in_edges(user, keys=True))


def _login_profile_used(store, profile: str, t: int, change: dict) -> bool:
    g, sess = store.lineage, store.session_info
    for _, user, k in g.out_edges(profile, keys=True):
        if k == EdgeKind.OF_PRINCIPAL:
            return any(k2 == EdgeKind.OF_PRINCIPAL and sess.get(s, {}).get("console")
                       and (sess[s]["issued"] or 0) >= t
                       for s, _, k2 in g.in_edges(user, keys=True))
    return False


def _role_used(store, role: str, t: int, change: dict) -> bool:
    external = set(change.get("external_accounts") or [])
    for s, _, k in store.lineage.in_edges(role, keys=True):
        info = store.session_info.get(s)
        if k == EdgeKind.OF_ROLE and info and (info["issued"] or 0) >= t:
            if not external or info["issuer_account"] in external or "*" in external:
                return True
    return False


_USED_LATER = {NodeKind.ACCESS_KEY: _key_used, NodeKind.USER: _user_used,
               NodeKind.LOGIN_PROFILE: _login_profile_used, NodeKind.ROLE: _role_used}
