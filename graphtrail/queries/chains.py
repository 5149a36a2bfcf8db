"""Role chains: paths walked by real sessions, one issuing the next.

A chain is a lineage of sessions: each hop is an STS call made *with the previous hop's
credential* while it was valid (the linker only ties a call to a session inside the
session's validity). Two roles that merely connect in the trust graph, or two sessions of
different people that happen to use the same roles, never make a chain together.

``path`` lists principals: the origin (the IAM ARN behind the first credential, or the
external account id, service or identity provider that started it), then each role
assumed, as ``arn:aws:iam::<account>:role/<name>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from graphtrail import ids
from graphtrail.model import EdgeKind, NodeKind
from graphtrail.queries.plain import plain
from graphtrail.words import plural

__all__ = ["Chain", "chains", "origin_of", "session_origin"]


@dataclass
class Chain:
    path: list[str]
    hops: list[dict]
    sessions: list[str]
    origin_credential: str | None
    origin: dict | None = None  # who is behind the first hop: a user, an IdP subject, a workload

    @property
    def cross_account(self) -> bool:
        return any(h["from_account"] and h["to_account"] and h["from_account"] != h["to_account"]
                   for h in self.hops)

    def to_dict(self) -> dict:
        d = plain(self)
        d["cross_account"] = self.cross_account
        return d

    def to_frame(self):
        """One row per hop, in order: from, to, via, time (tz-aware), eventIDs, key, accounts."""
        from graphtrail.frames import records_frame

        return records_frame([{"hop": i, **h} for i, h in enumerate(self.hops, 1)])

    def __repr__(self) -> str:
        tag = ", cross-account" if self.cross_account else ""
        return (f"<Chain {' -> '.join(self.path)} ({plural(len(self.hops), 'hop')}{tag})>")


def origin_of(store, issuer: str | None) -> tuple[str | None, str | None]:
    """(origin principal as the chain names it, its account) for a root issuer."""
    if issuer is None:
        return None, None
    info = store.node_info.get(issuer, {})
    parsed = ids.parse_id(issuer)
    if parsed.prefix is ids.IdPrefix.KEY:
        user = info.get("props", {}).get("user")
        if user is None and issuer in store.lineage:
            user = next((s for s, _, k in store.lineage.in_edges(issuer, keys=True)
                         if k == EdgeKind.HAS_KEY), None)
        return (user or parsed.value), (user.split(":")[4] if user else info.get("account"))
    if parsed.prefix is ids.IdPrefix.ACCOUNT:
        return parsed.value, parsed.value
    if ids.is_service_like(issuer):
        return parsed.value, None
    if issuer.startswith("arn:"):
        return issuer, issuer.split(":")[4] or None
    return issuer, info.get("account")


def session_origin(s: dict) -> tuple[str, dict] | None:
    """(name, details) of the human or workload behind a federated or service session.

    Identity Center: the directory user (``idc-user:<user id>``, else the user name); SAML:
    the provider ARN and the subject; web identity: the provider and the subject claim
    (GitHub: the repository and ref); a service: the service and the session name (an
    instance id, a function name).

    >>> session_origin({"origin": '{"kind": "saml", "provider": "arn:aws:iam::1:saml-provider/Okta", '
    ...                           '"subject": "ana@example.com"}'})[0]
    'arn:aws:iam::1:saml-provider/Okta/ana@example.com'
    """
    raw = s.get("origin")
    if not raw:
        return None
    o = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if o.get("kind") == "identity_center":
        who = o.get("user_id") or o.get("user_name") or o.get("subject")
        return ids.identity_center_user_id(str(who)), o
    provider, subject = o.get("provider"), o.get("subject")
    if not provider:
        return None
    return (f"{provider}/{subject}" if subject else str(provider)), o


def _key_of(store, cred: str | None) -> str | None:
    if cred is None:
        return None
    if ids.key_of(cred):
        return ids.key_of(cred)
    s = store.session_info.get(cred)
    return s["access_key_id"] if s else None


def chains(store, *, cross_account: bool = False, origin: str | None = None, to: str | None = None,
           min_hops: int = 1, since: int | None = None, until: int | None = None,
           through: Iterable[str] | None = None) -> list[Chain]:
    """Every role chain in the case, filtered.

    Parameters
    ----------
    cross_account : only chains with a hop between accounts.
    origin : an ARN (the origin principal) or an access key id (the first hop's key).
    to : a role ARN: chains that reach it, cut there.
    min_hops : at least this many role assumptions.
    since, until : epoch µs bounds on hop times.
    through : session ids: only chains with a hop in one of them.
    """
    sess = store.session_info
    children, roots = _session_tree(sess)
    wanted = None if through is None else set(through)
    if wanted is not None:
        # a chain lies in the tree of one root session: walk only the trees holding a wanted
        # session (a report asks about one lineage of thousands)
        trees = {_root_of(sess, s) for s in wanted if s in sess}
        roots = [r for r in roots if r in trees]
    to_id = ids.role_id(to) if to else None
    keep = _Filters(cross_account, max(min_hops, 1), since, until, _origin_filter(origin))
    out: list[Chain] = []
    seen: set[tuple[str, ...]] = set()
    for root in roots:
        issuer = sess[root]["issuer"]
        org, org_acct, named = _root_origin(store, sess[root])
        for lineage in _walk(root, children):
            chain = _chain(store, lineage, org, org_acct, issuer)
            if chain is None:
                continue
            chain.origin = named
            if to_id is not None:
                if to_id not in chain.path[1:]:
                    continue
                chain = _truncate(chain, chain.path.index(to_id, 1))
            if wanted is not None and wanted.isdisjoint(chain.sessions):
                continue  # the cheap test first: never seen, never kept
            if tuple(chain.sessions) in seen or not keep(chain, lambda i=issuer: _key_of(store, i)):
                continue
            seen.add(tuple(chain.sessions))
            out.append(chain)
    for c in out:
        for h in c.hops:
            h.pop("time_us", None)
    out.sort(key=lambda c: (-len(c.hops), c.hops[0]["time"] if c.hops else ""))
    return out


def _session_tree(sess) -> tuple[dict[str, list[str]], list[str]]:
    """(session -> the sessions it issued, the sessions no session issued), in issue order."""
    children: dict[str, list[str]] = {}
    for sid, s in sess.items():
        if s["issuer"] in sess:
            children.setdefault(s["issuer"], []).append(sid)
    for lst in children.values():
        lst.sort(key=lambda x: (sess[x]["issued"] or 0, x))
    roots = sorted((sid for sid, s in sess.items() if s["issuer"] not in sess),
                   key=lambda x: (sess[x]["issued"] or 0, x))
    return children, roots


def _root_of(sess, sid: str) -> str:
    """The session at the top of ``sid``'s tree: the first of its issuers not a session."""
    seen = {sid}
    while sess[sid]["issuer"] in sess and sess[sid]["issuer"] not in seen:
        sid = sess[sid]["issuer"]
        seen.add(sid)
    return sid


def _root_origin(store, s0: dict) -> tuple[str | None, str | None, dict | None]:
    """(origin as the chain names it, its account, the federated origin's details if any)."""
    named = session_origin(s0)
    if named is not None:
        return named[0], None, named[1]
    org, org_acct = origin_of(store, s0["issuer"])
    return org, org_acct, None


@dataclass(frozen=True, slots=True)
class _Filters:
    """Which chains an investigator asked for (see :func:`chains`)."""

    cross_account: bool
    min_hops: int
    since: int | None
    until: int | None
    origin: Callable[[Chain, str | None], bool] | None

    def __call__(self, chain: Chain, first_key: Callable[[], str | None]) -> bool:
        if len(chain.hops) < self.min_hops or (self.cross_account and not chain.cross_account):
            return False
        if self.origin and not self.origin(chain, first_key()):
            return False
        if self.since is not None and all(h["time_us"] < self.since for h in chain.hops):
            return False
        return not (self.until is not None and chain.hops and chain.hops[0]["time_us"] > self.until)


def _origin_filter(origin: str | None):
    if not origin:
        return None
    kind, value = ids.normalize_seed(origin)
    if kind == "access_key":
        return lambda chain, key: key == value or any(h["access_key_id"] == value for h in chain.hops[:1])
    return lambda chain, key: (chain.path[0] in (value, origin)
                               or origin in _origin_names(chain.origin))


def _origin_names(o: dict | None) -> set[str]:
    """What an investigator may type to name an origin: the user, the subject, the repository."""
    if not o:
        return set()
    return {str(o[k]) for k in ("subject", "user_name", "user_id", "repository", "provider",
                                "source_identity") if o.get(k)}


def _walk(root: str, children: dict[str, list[str]]):
    """Every root-to-leaf lineage (sessions), depth first, cycles impossible by time."""
    stack = [(root, [root])]
    while stack:
        node, path = stack.pop()
        kids = [k for k in children.get(node, []) if k not in path]
        if not kids:
            yield path
        for k in reversed(kids):
            stack.append((k, path + [k]))


def _chain(store, lineage: list[str], origin: str | None, origin_account: str | None,
           issuer: str | None) -> Chain | None:
    sess = store.session_info
    path: list[str] = []
    hops: list[dict] = []
    prev_principal = origin
    prev_account = origin_account
    prev_cred = issuer
    first = sess[lineage[0]]
    if origin is None:  # issued outside the logs: the chain starts at the session's principal
        prev_principal, prev_account = first["principal"], first["account"]
        path.append(first["principal"])
        prev_cred = lineage[0]
        lineage = lineage[1:]
    else:
        path.append(origin)
    for sid in lineage:
        s = sess[sid]
        principal = s["principal"]
        if s["principal_kind"] == NodeKind.ROLE and principal:
            evid = s["event_ids"] or []
            hops.append({
                "from": prev_principal, "to": principal, "time": ids.iso(s["issued"]),
                "time_us": s["issued"] or 0,
                "event_id": evid[0] if evid else None, "event_ids": evid,
                "access_key_id": _key_of(store, prev_cred), "from_account": prev_account,
                "to_account": s["account"], "session": sid, "via": s["via"],
                "session_name": s["session_name"], "source_identity": s["source_identity"],
                **({"linked_by": "caller principalId and time (the caller's copy is missing)"}
                   if s.get("issuer_inferred") else {}),
            })
            path.append(principal)
            prev_principal, prev_account = principal, s["account"]
        prev_cred = sid
    if not hops:
        return None
    return Chain(path=path, hops=hops, sessions=[h["session"] for h in hops],
                 origin_credential=issuer)


def _truncate(chain: Chain, cut: int) -> Chain:
    """Keep the path up to element ``cut`` (a role) and the hops that reach it."""
    return Chain(path=chain.path[: cut + 1], hops=chain.hops[:cut],
                 sessions=chain.sessions[:cut], origin_credential=chain.origin_credential,
                 origin=chain.origin)
