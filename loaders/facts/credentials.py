"""Which credential made each call, and which credential issued it: the linking rules.

This is what makes graphtrail session-precise. It runs after loading (files arrive out of
order), over the whole case:

Memory is bounded by the number of distinct actors, not of events (see :class:`Linker`).

1. **Issuances.** Every successful STS call whose response carries
   ``credentials.accessKeyId`` issues one *session*, named by that key and its issue time.
   The two copies of a cross-account AssumeRole (caller's and role owner's, one
   ``sharedEventID``) issue the same key at the same time: they are one session.
2. **Actors.** Calls are grouped by their identity signature (key, identity type, ARN,
   principal id, session creation date, console flag, MFA, ...). A temporary key links to
   a session only when the key matches, the identity matches the issued session (role and
   session name, or the user for GetSessionToken, or the federated user), the session
   creation date is the issue time, and the call falls inside the credential's validity.
   A key the STS response did not hold (the console and Identity Center mint their own)
   links by the session ARN and creation date alone, inside the validity. A recycled key
   id therefore never merges two sessions; a group spanning two issues of one key is split
   call by call.
3. **Console sessions** (``sessionCredentialFromConsole``) that no issuance explains are one
   credential per sign-in, whatever keys they used: the principal, the creation date and
   the MFA state name it, and the ConsoleLogin at that date opened it.
4. **Other uses never issued in the logs** become sessions of their own (``...@<creation
   date>``) with the reason in ``note``; they are never merged with a known session.
5. **Identity Center**: the user behind an ``AWSReservedSSO_*`` session (``onBehalfOf``)
   and the portal call that handed out its permission set; **origins** of SAML, web
   identity and service-issued sessions (provider and subject, repository and ref...).

Placeholders (``HIDDEN_DUE_TO_SECURITY_REASONS``, ``AKIA****************``, empty) never
link anything: a masked key is treated as no key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphtrail import families, ids
from graphtrail.model import NodeKind, is_masked
from graphtrail.times import micros
from loaders.facts.origins import PORTAL_EVENTS, origin_of_issue, tie_identity_center
from loaders.schema import json_object as _dec

__all__ = ["Issuance", "Linker", "signatures", "STS_ISSUING", "STS_COLUMNS", "STS_NAMES",
           "PORTAL_NAMES", "PORTAL_COLUMNS", "CONSOLE_COLUMNS", "SIG_COLUMNS", "FACT_KINDS"]

STS_ISSUING = families.STS_ISSUING.events
_SECOND = 1_000_000
_HOUR = 3600 * _SECOND
CREATION_SLACK = 120 * _SECOND  # creationDate vs the STS event time
IDENTITY_SLACK = 2 * _SECOND  # the same, when only the session ARN and date link (no key)
VALIDITY_SLACK = 300 * _SECOND  # clock skew at the edges of a credential's validity
_DEFAULT_TTL = {"AssumeRole": 1 * _HOUR, "AssumeRoleWithSAML": 1 * _HOUR,
                "AssumeRoleWithWebIdentity": 1 * _HOUR, "GetSessionToken": 12 * _HOUR,
                "GetFederationToken": 12 * _HOUR, "AssumeRoot": 900 * _SECOND}
CONSOLE_TTL = 12 * _HOUR  # the longest a console session lives
_SEP = "\x1f"  # joins a signature's fields in Arrow (signatures); Identity.of splits it back


class Deferred(Enum):
    """A signature whose actor is decided call by call, not once for all its calls."""

    BY_TIME = "its calls span several issues of one key id: each call's time picks the session"
    BY_PRINCIPAL_ID = "the role owner's copy of a cross-account call: principalId and time"


# (actor node id, its NodeKind value); the id is Deferred until each call's time is known.
ActorRef = tuple[str | Deferred | None, str | None]


@dataclass(frozen=True, slots=True)
class Identity:
    """The identity fields of a call, read back from its signature ("" when absent).

    >>> Identity.of("\x1f".join(["ASIA1", "AssumedRole"] + [""] * 12)).identity_type
    'AssumedRole'
    """

    access_key_id: str
    identity_type: str
    identity_arn: str
    principal_id: str
    session_created: str
    invoked_by: str
    account_id: str
    issuer_arn: str
    web_id_provider: str
    user_name: str
    on_behalf_of: str
    source_identity: str
    from_console: str
    mfa: str

    @classmethod
    def of(cls, sig: str) -> Identity:
        return cls(*sig.split(_SEP))

    @property
    def created(self) -> int | None:
        """The session's creation date (µs), when the call carries one."""
        return int(self.session_created) if self.session_created else None


# the event columns of a signature, in its order
SIG_COLUMNS = tuple(f.name for f in fields(Identity))


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
    calls: list[tuple[str, int]] = field(default_factory=list)  # (signature, time) of STS calls
    event_names: set[str] = field(default_factory=set)
    source_identity: str | None = None
    issuer: str | None = None  # actor node id, filled once actors are known
    issuer_account: str | None = None
    console: bool = False
    issuer_inferred: bool = False  # only the role owner's copy: linked by principalId and time
    keys: list[str] = field(default_factory=list)  # every key id its calls carried
    note: str | None = None  # how it was linked, or why no issuance explains it
    origin: dict | None = None  # the human or workload behind a federated sign-in
    mfa: bool | None = None
    idc_user: str | None = None  # Identity Center user id (onBehalfOf) seen on its calls
    sides: list[dict] = field(default_factory=list)  # console: each address/agent it was used from
    replayed: bool = False  # console: used from a second address or browser

    def add_key(self, key: str | None) -> None:
        if key and key not in self.keys:
            self.keys.append(key)

    def matches(self, kind: str | None, principal: str | None, session_name: str | None) -> bool:
        """Does a caller identity fit this session?"""
        if principal is None:
            return True  # identity unknown or masked: key and time decide
        if self.principal_kind == NodeKind.ROLE.value:
            return (principal == self.principal
                    and (self.session_name is None or session_name is None
                         or session_name == self.session_name))
        return principal == self.principal


STS_NAMES = pa.array(sorted(STS_ISSUING))
PORTAL_NAMES = pa.array(sorted(PORTAL_EVENTS))
STS_COLUMNS = ("event_id", "time", "event_name", "error_code", "request_parameters",
               "response_elements", "issued_key", "issued_expiration", "recipient_account_id",
               "account_id", "identity_arn", "identity_type", "user_name", "principal_id",
               "web_id_provider", "source_identity", "invoked_by")
PORTAL_COLUMNS = ("event_id", "time", "event_name", "request_parameters", "on_behalf_of",
                  "user_name", "recipient_account_id")
CONSOLE_COLUMNS = ("event_id", "time", "identity_arn")
# the kinds of row of pass one's facts (loaders.facts.observed): a signature's span, then
# the rows of the calls pass one keeps whole
SPAN, STS, CONSOLE, PORTAL = FACT_KINDS = ("span", "sts", "console", "portal")


def signatures(batch: pa.Table | pa.RecordBatch) -> pa.Array:
    """The identity signature of each call: every identity field that can tell actors apart."""
    parts = []
    for c in SIG_COLUMNS:
        col = batch.column(c)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64()).cast(pa.string())
        elif pa.types.is_boolean(col.type):
            col = col.cast(pa.string())
        elif pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        parts.append(col)
    sig = pc.binary_join_element_wise(*parts, _SEP, null_handling="replace", null_replacement="")
    return sig.combine_chunks() if isinstance(sig, pa.ChunkedArray) else sig


class Linker:
    """Links calls to credentials in two passes over the events, in batches.

    Pass one (:meth:`observe`) keeps one entry per identity signature (graph-sized) and
    the few rows that issue credentials or open console sessions. :meth:`resolve` then
    decides every signature's actor, and pass two (:meth:`actors`) maps each batch's calls
    to them. Memory is bounded by the number of actors, not of events.
    """

    def __init__(self) -> None:
        self.spans: dict[str, list[int]] = {}
        self.sts_rows: list[dict] = []
        self.console_rows: list[dict] = []
        self.sessions: dict[str, Issuance] = {}
        self.failed_assume: list[dict] = []
        self.by_key: dict[str, list[Issuance]] = {}
        self.actor_of: dict[str, ActorRef] = {}
        self.orphans: dict[str, Issuance] = {}
        self.by_principal_id: dict[tuple[str, str], set[str]] = {}
        self.inferred: set[tuple[str, int]] = set()  # (signature, time) linked by principalId
        self.portal_rows: list[dict] = []
        self.by_identity: dict[tuple[str, str | None], list[Issuance]] = {}

    # -- pass one ------------------------------------------------------------------
    def absorb(self, facts: pa.Table) -> None:
        """Take pass one's facts of a batch or a part
        (:func:`loaders.facts.observed.first_pass_facts`); batches and parts absorbed in
        the case's order, whoever made their facts, leave the same linker."""
        kind = facts.column("kind")
        spans_ = facts.filter(pc.equal(kind, SPAN))
        spans = self.spans
        for k, lo, hi in zip(spans_.column("sig").to_pylist(), spans_.column("lo").to_pylist(),
                             spans_.column("hi").to_pylist(), strict=True):
            cur = spans.get(k)
            if cur is None:
                spans[k] = [lo, hi]
            else:
                cur[0] = min(cur[0], lo)
                cur[1] = max(cur[1], hi)
        if spans_.num_rows == facts.num_rows:
            return
        for what, cols, into in ((STS, (*STS_COLUMNS, "sig"), self.sts_rows),
                                 (CONSOLE, CONSOLE_COLUMNS, self.console_rows),
                                 (PORTAL, PORTAL_COLUMNS, self.portal_rows)):
            rows = facts.filter(pc.equal(kind, what))
            if rows.num_rows:
                into.extend(rows.select(list(cols)).to_pylist())

    # -- between the passes -----------------------------------------------------------
    def resolve(self) -> None:
        self._issuances()
        for lst in self.by_key.values():
            lst.sort(key=lambda s: s.issued)
        self.by_identity = _identities(self.sessions.values())
        ix = _Index(self.by_key, self.by_identity, self.orphans)
        # In order of first use, not of arrival: a session's keys are listed the same way
        # whatever order the files (or a --follow's rounds) came in.
        for sig, (lo, hi) in sorted(self.spans.items(), key=lambda kv: (kv[1][0], kv[0])):
            f = Identity.of(sig)
            self.actor_of[sig] = _resolve(f, lo, hi, ix)
        self.sessions.update(self.orphans)
        self._index_principal_ids()
        _tie_console_sessions(self.console_rows, self.orphans)
        self._identity_center()
        # A copy: looking an issuer up may add the session of a key used outside every
        # validity of its issues (self.actor), and such a session has no STS call to look at.
        for s in list(self.sessions.values()):  # the issuer is whoever made the STS call
            if not s.calls:
                continue
            found = [(self.actor(sig, t), sig, t) for sig, t in s.calls]
            precise = [(a, sig, t) for (a, k), sig, t in found
                       if a is not None and k != NodeKind.ACCOUNT.value]
            loose = [a for (a, _), _, _ in found if a is not None]
            if precise:
                s.issuer = precise[0][0]
                s.issuer_inferred = all((sig, t) in self.inferred for _, sig, t in precise)
            else:
                s.issuer = loose[0] if loose else None
        for row in self.failed_assume:
            row["actor"] = self.actor(row.pop("sig"), micros(row["time"]))[0]

    def _index_principal_ids(self) -> None:
        """principalId (``AROA...:session``) -> the sessions whose calls carried it.

        The role owner's copy of a cross-account call names the caller only as
        ``AWSAccount`` with the caller's principalId. When the caller's own copy is
        missing, that principalId, the account and the time still single out the session.
        """
        by_pid: dict[tuple[str, str], set[str]] = {}
        for sig, (a, k) in self.actor_of.items():
            if k != NodeKind.SESSION.value or a is None or a is Deferred.BY_TIME:
                continue
            f = Identity.of(sig)
            if f.principal_id and ":" in f.principal_id:
                by_pid.setdefault((f.principal_id, f.account_id), set()).add(a)
        self.by_principal_id = by_pid
        for sig, (_, k) in list(self.actor_of.items()):
            if k == NodeKind.ACCOUNT.value:
                f = Identity.of(sig)
                if (f.principal_id, f.account_id) in by_pid:
                    self.actor_of[sig] = (Deferred.BY_PRINCIPAL_ID, k)

    def actor(self, sig: str, t: int) -> tuple[str | None, str | None]:
        """The actor of one call with signature ``sig`` at time ``t`` (µs)."""
        a = self.actor_of.get(sig, (None, None))
        if a[0] is Deferred.BY_PRINCIPAL_ID:
            return self._by_principal_id(sig, t)
        if a[0] is not Deferred.BY_TIME:
            return a
        f = Identity.of(sig)
        pkind, principal, sname = _caller(f)
        created = f.created
        cands = [s for s in self.by_key.get(f.access_key_id, []) if s.matches(pkind, principal, sname)
                 and (created is None or abs(s.issued - created) <= CREATION_SLACK)]
        hit = [s for s in cands if s.issued - VALIDITY_SLACK <= t <= s.expires + VALIDITY_SLACK]
        s = (max(hit, key=lambda s: s.issued) if hit else
             _orphan(f, None, self.orphans, "used outside the validity of every issue of this key id",
                     self.by_key.get(f.access_key_id, [])))
        s.add_key(f.access_key_id)
        if s.session not in self.sessions:
            self.sessions[s.session] = s
        return s.session, NodeKind.SESSION.value

    def _identity_center(self) -> None:
        """The Identity Center user behind each session (``onBehalfOf`` on its calls)."""
        users: dict[str, str] = {}
        for sig, (a, k) in self.actor_of.items():
            if k == NodeKind.SESSION.value and a in self.sessions:
                obo = Identity.of(sig).on_behalf_of
                if obo and not is_masked(obo):
                    users[a] = obo
        tie_identity_center(self.sessions.values(), users, self.portal_rows)

    def _by_principal_id(self, sig: str, t: int) -> tuple[str | None, str | None]:
        f = Identity.of(sig)
        cands = [self.sessions[x] for x in self.by_principal_id.get((f.principal_id, f.account_id), ())
                 if x in self.sessions]
        live = [s for s in cands if s.issued - VALIDITY_SLACK <= t <= s.expires + VALIDITY_SLACK]
        if len(live) == 1:
            self.inferred.add((sig, t))
            return live[0].session, NodeKind.SESSION.value
        acct = f.account_id  # unknown or ambiguous: the account stands in, as logged
        return (ids.account_id(acct), NodeKind.ACCOUNT.value) if acct else (None, None)

    # -- pass two ------------------------------------------------------------------
    def drop_lookups(self) -> None:
        """Let go of what naming actors needs (per identity signature, per STS call) once
        every call is named; the sessions and failed AssumeRole calls stay."""
        self.spans, self.actor_of, self.by_key, self.by_identity = {}, {}, {}, {}
        self.by_principal_id, self.orphans = {}, {}
        self.sts_rows, self.console_rows, self.portal_rows = [], [], []

    def actors(self, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        """Actor node id and kind of every call in ``batch``."""
        sig = signatures(batch)
        enc = sig.dictionary_encode()
        uniq = enc.dictionary.to_pylist()
        found = [self.actor_of.get(u, (None, None)) for u in uniq]
        codes = enc.indices.to_numpy(zero_copy_only=False)
        split = [i for i, (a, _) in enumerate(found) if isinstance(a, Deferred)]
        if not split:  # the batch's few actors spread to its calls by Arrow, not one str a call
            at = pa.array(codes)
            return (pa.array([a for a, _ in found], pa.string()).take(at),
                    pa.array([k for _, k in found], pa.string()).take(at))
        act = np.array([a for a, _ in found], dtype=object)[codes]  # some named per call
        kind = np.array([k for _, k in found], dtype=object)[codes]
        times = batch.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False)
        for g in split:
            for row in np.nonzero(codes == g)[0].tolist():
                act[row], kind[row] = self.actor(uniq[g], int(times[row]))
        return pa.array(act.tolist(), pa.string()), pa.array(kind.tolist(), pa.string())

    def _issuances(self) -> None:
        for row in sorted(self.sts_rows, key=lambda r: (micros(r["time"]), r["event_id"] or "")):
            name = row["event_name"]
            req = _dec(row["request_parameters"])
            key = row["issued_key"]
            t = micros(row["time"])
            if row["error_code"]:
                role = req.get("roleArn")
                if isinstance(role, str) and name.startswith("AssumeRole"):
                    self.failed_assume.append({"sig": row["sig"], "time": row["time"],
                                               "event_id": row["event_id"], "event_name": name,
                                               "error_code": row["error_code"],
                                               "role": ids.role_id(role)})
                continue
            if is_masked(key) or not _plausible_key(key):
                continue
            resp = _dec(row["response_elements"])
            kind, principal, sname, acct = _target(name, req, resp, row)
            if principal is None:
                continue
            ttl = _DEFAULT_TTL.get(name, _HOUR)
            dur = req.get("durationSeconds")
            if isinstance(dur, (int, float, str)) and str(dur).isdigit():
                ttl = int(dur) * _SECOND
            exp = micros(row["issued_expiration"])
            expires = exp if exp is not None else t + ttl
            same = [s for s in self.by_key.get(key, []) if abs(s.issued - t) <= 5 * _SECOND]
            if same:  # the other copy of a cross-account call
                same[0].event_ids.append(row["event_id"])
                same[0].calls.append((row["sig"], t))
                same[0].event_names.add(name)
                continue
            s = Issuance(
                session=ids.session_id(key, t), key=key, kind=name, issued=t, expires=expires,
                principal_kind=kind, principal=principal, session_name=sname, account=acct,
                event_ids=[row["event_id"]], calls=[(row["sig"], t)], event_names={name},
                source_identity=req.get("sourceIdentity") or resp.get("sourceIdentity"),
                issuer_account=row["account_id"], keys=[key],
                origin=origin_of_issue(name, req, resp, row, sname),
            )
            self.sessions[s.session] = s
            self.by_key.setdefault(key, []).append(s)




def _plausible_key(key: str | None) -> bool:
    return bool(key) and len(key) >= 16 and key.replace("_", "").isalnum() and "_" not in key


def _target(name: str, req: dict, resp: dict, row: dict):
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
        acct = row["recipient_account_id"] or row["account_id"]
        if not isinstance(arn, str):
            arn = f"arn:aws:sts::{acct}:federated-user/{req.get('name')}"
        return NodeKind.FEDERATED_USER.value, arn, None, acct
    if name == "AssumeRoot":
        target = req.get("targetPrincipal")
        acct = target if isinstance(target, str) and target.isdigit() else None
        return NodeKind.ROOT.value, ids.root_id(acct or ""), None, acct
    # GetSessionToken: the caller's own principal
    p = ids.principal_of_arn(row["identity_arn"])
    if p is None:
        return None, None, None, None
    return p[0], p[1], None, p[1].split(":")[4] or None


@dataclass
class _Index:
    """What a signature is resolved against."""

    by_key: dict[str, list[Issuance]]
    by_identity: dict[tuple[str, str | None], list[Issuance]]
    orphans: dict[str, Issuance]


def _identities(sessions) -> dict[tuple[str, str | None], list[Issuance]]:
    """Role sessions by (role, session name) and federated users by ARN.

    IAM users (GetSessionToken) are left out: their identity names no single session.
    """
    out: dict[tuple[str, str | None], list[Issuance]] = {}
    for s in sessions:
        if s.principal_kind == NodeKind.ROLE.value and s.session_name:
            out.setdefault((s.principal, s.session_name), []).append(s)
        elif s.principal_kind == NodeKind.FEDERATED_USER.value:
            out.setdefault((s.principal, None), []).append(s)
    return out


def _resolve(f: Identity, tmin: int, tmax: int, ix: _Index) -> ActorRef:
    """The actor of every call with identity ``f``, seen from ``tmin`` to ``tmax`` (µs).

    In order: a long-term key is its own actor; a temporary key names its session (or
    defers to each call's time); a keyless call with a session ARN and creation date names
    its session; otherwise the principal, service, identity provider or account acts.
    """
    key = f.access_key_id or None
    if key is not None and is_masked(key):
        key = None
    if key is not None and not ids.is_temporary_key(key, f.identity_type or None):
        return ids.key_id(key), NodeKind.ACCESS_KEY.value
    if key is not None:
        return _temporary_key_actor(f, key, tmin, tmax, ix)
    s = _keyless_session(f, tmin, tmax, ix)
    if s is not None:
        return s.session, NodeKind.SESSION.value
    return _principal_actor(f)


def _temporary_key_actor(f: Identity, key: str, tmin: int, tmax: int, ix: _Index) -> ActorRef:
    """The session a temporary key's calls belong to, or BY_TIME when they span several."""
    s = _session_of(f, key, f.created, tmin, tmax, ix)
    if s is None:
        return Deferred.BY_TIME, NodeKind.SESSION.value
    s.add_key(key)
    return s.session, NodeKind.SESSION.value


def _keyless_session(f: Identity, tmin: int, tmax: int, ix: _Index) -> Issuance | None:
    """No key at all (a federated ConsoleLogin): the session ARN and creation date name it."""
    if f.created is None or f.identity_type not in ("AssumedRole", "FederatedUser") or f.access_key_id:
        return None
    _, principal, sname = _caller(f)
    return _same_identity(ix, principal, sname, f.created, tmin, tmax)


def _principal_actor(f: Identity) -> ActorRef:
    """No usable key: the principal itself, a service, an identity provider or an account acts."""
    itype = f.identity_type or None
    if itype == "AWSService":
        return ids.service_id(f.invoked_by or "aws-service"), NodeKind.AWS_SERVICE.value
    if itype == "AWSAccount":
        acct = f.account_id or (f.principal_id or "").split(":")[0]
        return (ids.account_id(acct), NodeKind.ACCOUNT.value) if acct else (None, None)
    if itype in ("SAMLUser", "WebIdentityUser"):
        prov = f.web_id_provider or f.principal_id or f.user_name or "identity-provider"
        return ids.idp_id(prov), NodeKind.IDENTITY_PROVIDER.value
    p = ids.principal_of_arn(f.identity_arn or None)
    if p is not None:
        return p[1], p[0]
    if itype == "Root" and f.account_id:
        return ids.root_id(f.account_id), NodeKind.ROOT.value
    if f.on_behalf_of and not is_masked(f.on_behalf_of):  # Identity Center portal calls
        return ids.identity_center_user_id(f.on_behalf_of), NodeKind.IDENTITY_CENTER_USER.value
    if f.invoked_by:
        return ids.service_id(f.invoked_by), NodeKind.AWS_SERVICE.value
    return None, None


def _caller(f: Identity) -> tuple[str | None, str | None, str | None]:
    """(principal kind, principal node id, session name) of a call's identity."""
    p = ids.principal_of_arn(f.identity_arn or None)
    pkind, principal, sname = (p if p else (None, None, None))
    if principal is None and f.principal_id and ":" in f.principal_id:
        sname = f.principal_id.split(":", 1)[1]
    return pkind, principal, sname


def _session_of(f: Identity, key: str, created: int | None, tmin: int, tmax: int,
                ix: _Index) -> Issuance | None:
    """The session a temporary key's calls belong to; None when they span several."""
    pkind, principal, sname = _caller(f)
    issued = ix.by_key.get(key, [])
    cands = [s for s in issued if s.matches(pkind, principal, sname)]
    if created is not None:
        # The creation date names the session: no issue at that time means one the
        # logs do not hold, even if the same key id was issued at another time.
        exact = [s for s in cands if abs(s.issued - created) <= CREATION_SLACK]
        if exact:
            best = min(exact, key=lambda s: abs(s.issued - created))
            if best.issued - VALIDITY_SLACK <= tmin and tmax <= best.expires + VALIDITY_SLACK:
                return best
            return None  # some calls after it expired: decided call by call
        # A key no STS response in the logs held (console keys, Identity Center): the
        # session ARN and its creation date still name the issued session.
        same = None if issued else _same_identity(ix, principal, sname, created, tmin, tmax)
        if same is not None:
            same.console = same.console or f.from_console == "true"
            if same.note is None:
                same.note = "also used with keys not in its STS response (matched by session ARN and creation date)"
            return same
        if f.from_console == "true":
            return _console_session(f, pkind, principal, sname, created, ix.orphans)
        return _orphan(f, created, ix.orphans, _why(issued, cands, created), issued)
    covering = [s for s in cands
                if s.issued - VALIDITY_SLACK <= tmin and tmax <= s.expires + VALIDITY_SLACK]
    if len(covering) == 1:
        return covering[0]
    if cands and any(s.issued - VALIDITY_SLACK <= tmax and tmin <= s.expires + VALIDITY_SLACK
                     for s in cands):
        return None
    return _orphan(f, None, ix.orphans, _why(issued, cands, None), issued)


def _same_identity(ix: _Index, principal: str | None, sname: str | None, created: int,
                   tmin: int, tmax: int) -> Issuance | None:
    """The one issued session with this ARN, created at ``created``, valid over [tmin, tmax].

    Used only for keys no STS response in the logs held, so the creation date must name
    one issue to the second: two sessions of one name in one instant are left apart.
    """
    if principal is None:
        return None
    near = [s for s in ix.by_identity.get((principal, sname), [])
            if abs(s.issued - created) <= IDENTITY_SLACK]
    if len(near) != 1:  # none, or two sessions of one name in one instant: the key cannot tell
        return None
    s = near[0]
    return s if s.issued - VALIDITY_SLACK <= tmin and tmax <= s.expires + VALIDITY_SLACK else None


def _why(issued: list[Issuance], cands: list[Issuance], created: int | None) -> str:
    """Why no issuance in the logs explains a use of a temporary key id."""
    if not issued:
        return "no STS response in the logs issued this key id"
    if not cands:
        who = sorted({s.principal + (f"/{s.session_name}" if s.session_name else "") for s in issued})
        return f"the key id was issued to another identity ({', '.join(who)})"
    when = ", ".join(ids.iso(s.issued) or "" for s in cands)
    if created is not None:
        return (f"the key id was issued at {when}, not at this session's creation date "
                f"{ids.iso(created)} (a recycled id)")
    return f"used outside the validity of the key id's issue at {when} (a recycled id)"


def _console_session(f: Identity, pkind: str | None, principal: str | None, sname: str | None,
                     created: int, orphans: dict[str, Issuance]) -> Issuance:
    """One console sign-in: every short-lived key the console minted for it.

    Grouped by the principal (and session name), the session's creation date and its MFA
    state; tied to the ConsoleLogin that opened it afterwards.
    """
    mfa = f.mfa == "true"
    who = principal or f.identity_arn or f.principal_id or "unknown"
    sid = ids.console_session_id(who + (f"/{sname}" if sname and pkind == NodeKind.ROLE.value else ""),
                                 created, mfa)
    s = orphans.get(sid)
    if s is None:
        acct = f.account_id or (principal.split(":")[4] if principal else None)
        s = Issuance(
            session=sid, key=f.access_key_id, kind="console", issued=created,
            expires=created + CONSOLE_TTL, principal_kind=pkind or NodeKind.ROLE.value,
            principal=principal or "", session_name=sname, account=acct,
            source_identity=f.source_identity or None, console=True, mfa=mfa,
            note="console session: keys minted by the console, no ConsoleLogin found in the logs",
        )
        orphans[sid] = s
    return s


def _orphan(f: Identity, created: int | None, orphans: dict[str, Issuance],
            reason: str = "no STS response in the logs issued this key id",
            issued: list[Issuance] = ()) -> Issuance:
    """A session used in the logs but never issued in them (``issued``: the key id's issues).

    Its id is the key and creation date, unless an issue of the key id or an unexplained use
    by another identity already holds that id: then who it is joins the id, so a recycled
    key id never merges two sessions.
    """
    key = f.access_key_id
    p = ids.principal_of_arn(f.identity_arn or None) or ids.principal_of_arn(f.issuer_arn or None)
    kind, principal, sname = p if p else (NodeKind.ROLE.value, None, None)
    sid = ids.session_id(key, created)
    s = orphans.get(sid)
    if (s is not None and (s.principal, s.session_name) != (principal or "", sname)) or any(
            i.session == sid for i in issued):
        who = (principal + (f"/{sname}" if sname else "") if principal
               else f.identity_arn or f.principal_id or "unknown")
        sid = ids.unexplained_session_id(key, created, who)
        s = orphans.get(sid)
    if s is None:
        acct = f.account_id or (principal.split(":")[4] if principal else None)
        s = Issuance(
            session=sid, key=key, kind="unknown", issued=created if created is not None else 0,
            expires=(created + 36 * _HOUR) if created is not None else np.iinfo(np.int64).max,
            principal_kind=kind, principal=principal or "", session_name=sname, account=acct,
            source_identity=f.source_identity or None, note=reason,
        )
        orphans[sid] = s
    return s


def _tie_console_sessions(logins_rows: list[dict], orphans: dict[str, Issuance]) -> None:
    """A console session is opened by the principal's ConsoleLogin at its creation date."""
    open_ = [s for s in orphans.values()
             if s.issued and (s.console or s.principal_kind in (NodeKind.USER.value, NodeKind.ROOT.value))]
    if not open_:
        return
    logins: dict[tuple[str, str | None], list[tuple[int, str]]] = {}
    for r in logins_rows:
        p = ids.principal_of_arn(r["identity_arn"])
        if p is not None:
            logins.setdefault((p[1], p[2]), []).append((micros(r["time"]), r["event_id"]))
    for s in open_:
        who = (s.principal, s.session_name if s.principal_kind == NodeKind.ROLE.value else None)
        best = None  # the sign-in at the session's creation date (its cookie's birth)
        for t, eid in logins.get(who, []):
            if abs(s.issued - t) <= CREATION_SLACK and (best is None or abs(s.issued - t) < abs(s.issued - best[0])):
                best = (t, eid)
        if best is not None:
            s.kind, s.console = "ConsoleLogin", True
            s.event_ids = [best[1]]
            s.event_names = {"ConsoleLogin"}
            s.issuer = s.principal
            s.expires = s.issued + CONSOLE_TTL
            s.note = "console session opened by its ConsoleLogin" + (
                f"; {len(s.keys)} keys minted by the console" if len(s.keys) > 1 else "")
