"""Which credential made each call, and which credential issued it: the linking rules.

This is what makes graphtrail session-precise. It runs after loading (files arrive out of
order), over the whole case:

1. **Issuances.** Every successful STS call whose response carries
   ``credentials.accessKeyId`` issues one *session*, named by that key and its issue time.
   The two copies of a cross-account AssumeRole (caller's and role owner's, one
   ``sharedEventID``) issue the same key at the same time: they are one session.
2. **Actors.** Calls are grouped by their identity signature (key, identity type, ARN,
   principal id, session creation date, ...). A temporary key links to a session only
   when the key matches, the identity matches the issued session (role and session name,
   or the user for GetSessionToken, or the federated user), the session creation date is
   the issue time, and the call falls inside the credential's validity. A recycled key id
   therefore never merges two sessions; a group spanning two issues of one key is split
   call by call.
3. **Sessions never issued in the logs** become sessions of their own (``...@<creation
   date>``); console sessions of IAM users are tied to the ConsoleLogin that opened them.

Placeholders (``HIDDEN_DUE_TO_SECURITY_REASONS``, ``AKIA****************``, empty) never
link anything: a masked key is treated as no key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail import ids
from graphtrail.model import NodeKind, is_masked

__all__ = ["Issuance", "Lineage", "link_credentials", "STS_ISSUING"]

STS_ISSUING = frozenset(
    {"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetSessionToken",
     "GetFederationToken", "AssumeRoot"}
)
_SECOND = 1_000_000
_HOUR = 3600 * _SECOND
CREATION_SLACK = 120 * _SECOND  # creationDate vs the STS event time
VALIDITY_SLACK = 300 * _SECOND  # clock skew at the edges of a credential's validity
_DEFAULT_TTL = {"AssumeRole": 1 * _HOUR, "AssumeRoleWithSAML": 1 * _HOUR,
                "AssumeRoleWithWebIdentity": 1 * _HOUR, "GetSessionToken": 12 * _HOUR,
                "GetFederationToken": 12 * _HOUR, "AssumeRoot": 900 * _SECOND}
_SIG_COLUMNS = ("access_key_id", "identity_type", "identity_arn", "principal_id",
                "session_created", "invoked_by", "account_id", "issuer_arn", "web_id_provider",
                "user_name", "on_behalf_of", "source_identity")
_SEP = "\x1f"


@dataclass
class Issuance:
    """One temporary credential handed out by STS (one session)."""

    session: str
    key: str
    kind: str  # the STS call: AssumeRole, GetSessionToken, ...
    issued: int  # epoch µs
    expires: int
    principal_kind: str  # Role, User, Root, FederatedUser
    principal: str  # node id of what the session acts as
    session_name: str | None
    account: str | None  # the account the session belongs to
    event_ids: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    source_identity: str | None = None
    issuer: str | None = None  # actor node id, filled once actors are known
    issuer_account: str | None = None
    console: bool = False

    def matches(self, kind: str | None, principal: str | None, session_name: str | None) -> bool:
        """Does a caller identity fit this session?"""
        if principal is None:
            return True  # identity unknown or masked: key and time decide
        if self.principal_kind == NodeKind.ROLE.value:
            return (principal == self.principal
                    and (self.session_name is None or session_name is None
                         or session_name == self.session_name))
        return principal == self.principal


@dataclass
class Lineage:
    """The result of linking: who made each call, and every session."""

    actor: pa.Array  # one actor node id per event row (string; null if unknown)
    actor_kind: pa.Array  # NodeKind value of the actor
    sessions: dict[str, Issuance]
    failed_assume: list[tuple[int, str]]  # (row, role id) of failed AssumeRole* calls


def _dec(text: str | None) -> dict:
    if not text:
        return {}
    try:
        v = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}
    return v if isinstance(v, dict) else {}


def _issuances(ev: pa.Table) -> tuple[dict[str, Issuance], list[tuple[int, str]]]:
    names = ev.column("event_name")
    is_sts = pc.fill_null(pc.is_in(names, pa.array(sorted(STS_ISSUING))), False)
    rows = pc.indices_nonzero(is_sts).to_pylist()
    sessions: dict[str, Issuance] = {}
    by_key: dict[str, list[Issuance]] = {}
    failed: list[tuple[int, str]] = []
    if not rows:
        return sessions, failed
    sub = ev.take(pa.array(rows, pa.int64())).to_pydict()
    times = ev.column("time").cast(pa.int64()).take(pa.array(rows, pa.int64())).to_pylist()
    exp_us = ev.column("issued_expiration").cast(pa.int64()).take(pa.array(rows, pa.int64())).to_pylist()
    for j, row in enumerate(rows):
        name = sub["event_name"][j]
        req = _dec(sub["request_parameters"][j])
        key = sub["issued_key"][j]
        if sub["error_code"][j]:
            role = req.get("roleArn")
            if isinstance(role, str) and name.startswith("AssumeRole"):
                failed.append((row, ids.role_id(role)))
            continue
        if is_masked(key):
            continue
        resp = _dec(sub["response_elements"][j])
        t = times[j]
        kind, principal, sname, acct = _target(name, req, resp, sub, j)
        if principal is None:
            continue
        ttl = _DEFAULT_TTL.get(name, _HOUR)
        dur = req.get("durationSeconds")
        if isinstance(dur, (int, float, str)) and str(dur).isdigit():
            ttl = int(dur) * _SECOND
        expires = exp_us[j] if exp_us[j] is not None else t + ttl
        same = [s for s in by_key.get(key, []) if abs(s.issued - t) <= 5 * _SECOND]
        if same:  # the other copy of a cross-account call
            s = same[0]
            s.event_ids.append(sub["event_id"][j])
            s.rows.append(row)
            continue
        s = Issuance(
            session=ids.session_id(key, t), key=key, kind=name, issued=t, expires=expires,
            principal_kind=kind, principal=principal, session_name=sname, account=acct,
            event_ids=[sub["event_id"][j]], rows=[row],
            source_identity=req.get("sourceIdentity") or resp.get("sourceIdentity"),
        )
        sessions[s.session] = s
        by_key.setdefault(key, []).append(s)
    return sessions, failed


def _target(name: str, req: dict, resp: dict, sub: dict, j: int):
    """(principal kind, principal id, session name, account) a new session acts as."""
    if name.startswith("AssumeRole"):
        role = req.get("roleArn")
        aru = resp.get("assumedRoleUser") or {}
        arn = aru.get("arn") if isinstance(aru, dict) else None
        sname = req.get("roleSessionName")
        if not isinstance(role, str) and isinstance(arn, str):
            p = ids.principal_of_arn(arn)
            role = p[1] if p else None
        if isinstance(arn, str) and not sname:
            p = ids.principal_of_arn(arn)
            sname = p[2] if p else None
        if not isinstance(role, str):
            return None, None, None, None
        rid = ids.role_id(role)
        return NodeKind.ROLE.value, rid, sname, rid.split(":")[4] or None
    if name == "GetFederationToken":
        fu = resp.get("federatedUser") or {}
        arn = fu.get("arn") if isinstance(fu, dict) else None
        acct = sub["recipient_account_id"][j] or sub["account_id"][j]
        if not isinstance(arn, str):
            arn = f"arn:aws:sts::{acct}:federated-user/{req.get('name')}"
        return NodeKind.FEDERATED_USER.value, arn, None, acct
    # GetSessionToken / AssumeRoot: the caller's own principal
    p = ids.principal_of_arn(sub["identity_arn"][j])
    if name == "AssumeRoot":
        target = req.get("targetPrincipal")
        acct = target if isinstance(target, str) and target.isdigit() else None
        return NodeKind.ROOT.value, ids.root_id(acct or ""), None, acct
    if p is None:
        return None, None, None, None
    return p[0], p[1], None, p[1].split(":")[4] or None


def link_credentials(ev: pa.Table) -> Lineage:
    """Resolve the actor of every event row and every session's issuer.

    ``ev`` holds the event columns named in ``_SIG_COLUMNS`` plus ``time``, ``event_id``,
    ``event_name``, ``error_code``, ``issued_key``, ``issued_expiration``,
    ``request_parameters``, ``response_elements``, ``recipient_account_id``, ``source_ip``.
    """
    n = ev.num_rows
    sessions, failed = _issuances(ev)
    by_key: dict[str, list[Issuance]] = {}
    for s in sessions.values():
        by_key.setdefault(s.key, []).append(s)
    for lst in by_key.values():
        lst.sort(key=lambda s: s.issued)

    parts = []
    for c in _SIG_COLUMNS:
        col = ev.column(c)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64()).cast(pa.string())
        parts.append(col)
    sig = pc.binary_join_element_wise(*parts, _SEP, null_handling="replace", null_replacement="")
    enc = sig.combine_chunks().dictionary_encode() if isinstance(sig, pa.ChunkedArray) else sig.dictionary_encode()
    uniq = enc.dictionary.to_pylist()
    codes = enc.indices.to_numpy(zero_copy_only=False)
    times = ev.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False)
    tmin = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
    tmax = np.full(len(uniq), np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(tmin, codes, times)
    np.maximum.at(tmax, codes, times)

    actors: list[str | None] = [None] * len(uniq)
    kinds: list[str | None] = [None] * len(uniq)
    split: list[int] = []
    orphans: dict[str, Issuance] = {}
    for g, text in enumerate(uniq):
        f = dict(zip(_SIG_COLUMNS, text.split(_SEP), strict=True))
        a, k = _resolve(f, int(tmin[g]), int(tmax[g]), by_key, orphans)
        if a == "SPLIT":
            split.append(g)
        actors[g], kinds[g] = a, k

    actor_arr = np.array(actors, dtype=object)[codes] if n else np.array([], dtype=object)
    kind_arr = np.array(kinds, dtype=object)[codes] if n else np.array([], dtype=object)
    for g in split:  # one signature over two issues of a recycled key: call by call
        f = dict(zip(_SIG_COLUMNS, uniq[g].split(_SEP), strict=True))
        cands = by_key.get(f["access_key_id"], [])
        for row in np.nonzero(codes == g)[0].tolist():
            t = int(times[row])
            hit = [s for s in cands if s.issued - VALIDITY_SLACK <= t <= s.expires + VALIDITY_SLACK]
            s = max(hit, key=lambda s: s.issued) if hit else None
            if s is None:
                s = _orphan(f, t, orphans)
            actor_arr[row], kind_arr[row] = s.session, NodeKind.SESSION.value

    sessions.update(orphans)
    _tie_console_sessions(ev, orphans, actor_arr)
    for s in sessions.values():  # the issuer is whoever made the STS call
        if not s.rows:
            continue
        precise = [actor_arr[r] for r in s.rows
                   if actor_arr[r] is not None and kind_arr[r] != NodeKind.ACCOUNT.value]
        placeholder = [actor_arr[r] for r in s.rows if actor_arr[r] is not None]
        s.issuer = precise[0] if precise else (placeholder[0] if placeholder else None)
        accts = [ev.column("account_id")[r].as_py() for r in s.rows]
        s.issuer_account = next((a for a in accts if a), None)
    return Lineage(
        actor=pa.array(actor_arr.tolist(), type=pa.string()),
        actor_kind=pa.array(kind_arr.tolist(), type=pa.string()),
        sessions=sessions,
        failed_assume=failed,
    )


def _resolve(f: dict, tmin: int, tmax: int, by_key: dict[str, list[Issuance]],
             orphans: dict[str, Issuance]) -> tuple[str | None, str | None]:
    key = f["access_key_id"] or None
    itype = f["identity_type"] or None
    if key is not None and is_masked(key):
        key = None
    if key is not None and not ids.is_temporary_key(key, itype):
        return ids.key_id(key), NodeKind.ACCESS_KEY.value
    if key is not None:
        p = ids.principal_of_arn(f["identity_arn"] or None)
        pkind, principal, sname = (p if p else (None, None, None))
        if principal is None and f["principal_id"] and ":" in f["principal_id"]:
            sname = f["principal_id"].split(":", 1)[1]
        created = int(f["session_created"]) if f["session_created"] else None
        cands = [s for s in by_key.get(key, []) if s.matches(pkind, principal, sname)]
        if created is not None:
            # The creation date names the session: no issue at that time means one the
            # logs do not hold, even if the same key id was issued at another time.
            exact = [s for s in cands if abs(s.issued - created) <= CREATION_SLACK]
            if exact:
                return min(exact, key=lambda s: abs(s.issued - created)).session, NodeKind.SESSION.value
            return _orphan(f, created, orphans).session, NodeKind.SESSION.value
        covering = [s for s in cands
                    if s.issued - VALIDITY_SLACK <= tmin and tmax <= s.expires + VALIDITY_SLACK]
        if len(covering) == 1:
            return covering[0].session, NodeKind.SESSION.value
        if cands and any(s.issued - VALIDITY_SLACK <= tmax and tmin <= s.expires + VALIDITY_SLACK
                                  for s in cands):
            return "SPLIT", NodeKind.SESSION.value
        return _orphan(f, None, orphans).session, NodeKind.SESSION.value
    # No usable key: the principal itself, a service, an IdP or an account acts.
    if itype == "AWSService":
        svc = f["invoked_by"] or "aws-service"
        return ids.service_id(svc), NodeKind.AWS_SERVICE.value
    if itype == "AWSAccount":
        acct = f["account_id"] or (f["principal_id"] or "").split(":")[0]
        return (ids.account_id(acct), NodeKind.ACCOUNT.value) if acct else (None, None)
    if itype in ("SAMLUser", "WebIdentityUser"):
        prov = f["web_id_provider"] or f["principal_id"] or f["user_name"] or "identity-provider"
        return ids.idp_id(prov), NodeKind.IDENTITY_PROVIDER.value
    p = ids.principal_of_arn(f["identity_arn"] or None)
    if p is not None:
        return p[1], p[0]
    if itype == "Root" and f["account_id"]:
        return ids.root_id(f["account_id"]), NodeKind.ROOT.value
    if f["invoked_by"]:
        return ids.service_id(f["invoked_by"]), NodeKind.AWS_SERVICE.value
    return None, None


def _orphan(f: dict, created: int | None, orphans: dict[str, Issuance]) -> Issuance:
    """A session used in the logs but never issued in them."""
    key = f["access_key_id"]
    sid = ids.session_id(key, created)
    s = orphans.get(sid)
    if s is None:
        p = ids.principal_of_arn(f["identity_arn"] or None) or ids.principal_of_arn(f["issuer_arn"] or None)
        kind, principal, sname = p if p else (NodeKind.ROLE.value, None, None)
        acct = f["account_id"] or (principal.split(":")[4] if principal else None)
        s = Issuance(
            session=sid, key=key, kind="unknown", issued=created if created is not None else 0,
            expires=(created + 36 * _HOUR) if created is not None else np.iinfo(np.int64).max,
            principal_kind=kind, principal=principal or "", session_name=sname, account=acct,
            source_identity=f["source_identity"] or None,
        )
        orphans[sid] = s
    return s


def _tie_console_sessions(ev: pa.Table, orphans: dict[str, Issuance], actor_arr: np.ndarray) -> None:
    """An IAM user's console session is opened by the ConsoleLogin just before it."""
    user_orphans = [s for s in orphans.values()
                    if s.principal_kind in (NodeKind.USER.value, NodeKind.ROOT.value) and s.issued]
    if not user_orphans:
        return
    mask = pc.fill_null(pc.and_(pc.equal(ev.column("event_name"), "ConsoleLogin"),
                                pc.is_null(ev.column("error_code"))), False)
    rows = pc.indices_nonzero(mask).to_pylist()
    logins: dict[str, list[tuple[int, int, str]]] = {}
    for r in rows:
        p = ids.principal_of_arn(ev.column("identity_arn")[r].as_py())
        if p is None:
            continue
        t = ev.column("time")[r].value
        logins.setdefault(p[1], []).append((t, r, ev.column("event_id")[r].as_py()))
    for s in user_orphans:
        best = None
        for t, r, eid in logins.get(s.principal, []):
            if t - CREATION_SLACK <= s.issued <= t + 12 * _HOUR and (best is None or t > best[0]):
                best = (t, r, eid)
        if best is not None:
            s.kind, s.console = "ConsoleLogin", True
            s.rows, s.event_ids = [best[1]], [best[2]]
            s.expires = s.issued + 12 * _HOUR
