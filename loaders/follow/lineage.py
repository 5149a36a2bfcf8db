"""Which records to ask for next: the lineage of the seeds, as sets of values a query can match.

:class:`FollowSet` holds what one round of ``graphtrail ingest --follow`` asks the engine
for (the ``IN (:name)`` lists of ``loaders/engines/lineage.sql``). :func:`grow` reads the
records fetched so far and returns the set for the next round; the rounds stop when it no
longer grows. Pure: no engine, no I/O.

What a record adds, when it is a call of the lineage (its key, principal, user or address
is followed):

* its key, its session's ARN and creation date, its ``sharedEventID`` (the other copy of a
  cross-account call);
* the key an STS response issued (``credentials.accessKeyId``) or CreateAccessKey created;
* the user it created or whose login profile it made or reset (their sign-ins and keys);
* the role whose trust it changed (who assumed it afterwards).

And, whoever made it:

* the STS call that issued a followed key: its caller's key, so that the linker knows the
  issuer's own session (``issued_by``), but not that caller's other calls;
* an STS response naming a followed session ARN at that session's creation date: the key it
  issued (a console or Identity Center key belongs to that session).

Every value must match a strict pattern before it can reach SQL; anything else a log holds
(masked keys, odd text) is dropped.

>>> start = FollowSet.of(keys=["AKIAEXAMPLEKEY000001"])
>>> issue = {"eventID": "e1", "eventName": "AssumeRole", "eventTime": "2024-05-01T10:00:00Z",
...          "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAEXAMPLEKEY000001"},
...          "responseElements": {"credentials": {"accessKeyId": "ASIAEXAMPLESESSION01"}}}
>>> sorted(grow(start, [issue]).keys)
['AKIAEXAMPLEKEY000001', 'ASIAEXAMPLESESSION01']
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime

from graphtrail.families import LOGIN_PROFILE, STS_ISSUING
from loaders.facts.origins import PORTAL_EVENTS

__all__ = ["FollowSet", "grow", "FIELDS"]

_KEY = re.compile(r"[A-Z0-9]{16,128}")
_ARN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9_+=,.@/:-]{1,512}")
_USER = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")
_EVENT_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
_PRINCIPAL_ID = re.compile(r"[A-Z0-9]{16,128}:[A-Za-z0-9_+=,.@-]{2,64}")
SESSION_HOURS = 36  # the longest a role session lives (and then some): a copy naming its
                    # principalId later than that is another session of the same name
_STS = STS_ISSUING.events
_USER_CHANGES = {"CreateUser"} | LOGIN_PROFILE.events
CREATION_SLACK = 120  # seconds between a session's creationDate and its STS call (the linker's)


@dataclass
class FollowSet:
    """The values one round asks for; each field is one ``IN (:name)`` list of the query."""

    keys: set[str] = field(default_factory=set)
    ancestor_keys: set[str] = field(default_factory=set)
    opened_keys: set[str] = field(default_factory=set)
    session_arns: set[str] = field(default_factory=set)
    principals: set[str] = field(default_factory=set)
    principal_ids: set[str] = field(default_factory=set)
    ancestor_principal_ids: set[str] = field(default_factory=set)
    console_arns: set[str] = field(default_factory=set)
    console_created: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    portal_events: set[str] = field(default_factory=set)
    shared_event_ids: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, keys: Iterable[str] = (), principals: Iterable[str] = (),
           ips: Iterable[str] = ()) -> FollowSet:
        """The seeds; a value that is not a key id, an IAM/STS ARN or an address is refused.

        >>> FollowSet.of(keys=["x' OR 1=1 --"])
        Traceback (most recent call last):
        ...
        ValueError: --follow "x' OR 1=1 --" is not an access key id
        """
        s = cls()
        for k in keys:
            if not _KEY.fullmatch(k):
                raise ValueError(f"--follow {k!r} is not an access key id")
            s.keys.add(k)
            s.opened_keys.add(k)
        for p in principals:
            if not _ARN.fullmatch(p):
                raise ValueError(f"--follow-principal {p!r} is not an IAM or STS ARN")
            s.principals.add(p)
            if ":role/" in p:
                s.roles.add(p)
        for ip in ips:
            try:
                s.ips.add(str(ipaddress.ip_address(ip)))
            except ValueError as exc:
                raise ValueError(f"--follow-ip {ip!r} is not an IP address") from exc
        return s

    def lists(self) -> dict[str, list[str]]:
        """Each set as a sorted list, by the query's parameter name."""
        return {f.name: sorted(getattr(self, f.name)) for f in fields(self)}

    def size(self) -> int:
        return sum(len(getattr(self, f.name)) for f in fields(self))

    def minus(self, other: FollowSet) -> FollowSet:
        """What this set asks for that ``other`` did not (the next round's query)."""
        return FollowSet(**{f.name: getattr(self, f.name) - getattr(other, f.name)
                            for f in fields(self)})

    def union(self, other: FollowSet) -> FollowSet:
        return FollowSet(**{f.name: getattr(self, f.name) | getattr(other, f.name)
                            for f in fields(self)})


FIELDS = tuple(f.name for f in fields(FollowSet))


def grow(current: FollowSet, records: Iterable[dict]) -> FollowSet:
    """The set after reading ``records`` (all fetched so far), to a fixed point.

    Records are read again until nothing changes: a record fetched for one reason (the
    other copy of a call) may be a call of the lineage once a later record adds its key.
    """
    records = [r for r in records if isinstance(r, dict)]
    s = FollowSet(**{n: set(getattr(current, n)) for n in FIELDS})
    created: dict[str, set[int]] = {}
    while True:
        before = s.size()
        for r in records:
            _read(r, s, created)
        for r in records:
            _session_of_arn(r, s, created)
        if s.size() == before:
            return s


def _read(r: dict, s: FollowSet, created: dict[str, set[int]]) -> None:
    ui = r.get("userIdentity") if isinstance(r.get("userIdentity"), dict) else {}
    key = _text(ui.get("accessKeyId"))
    if _opens_followed_key(r, s):
        _add_ancestor(ui, key, s)
    elif _of_ancestor(ui, key, s) and not _of_lineage(r, ui, key, s, created):
        _add_ancestor(ui, key, s)
        shared = _text(r.get("sharedEventID"))
        if shared and _EVENT_ID.fullmatch(shared):
            s.shared_event_ids.add(shared)
        return
    if not _of_lineage(r, ui, key, s, created):
        return
    issued = _issued_key(r)
    if key and _KEY.fullmatch(key):
        s.keys.add(key)
        s.opened_keys.add(key)
    arn = _text(ui.get("arn"))
    if ui.get("type") == "AssumedRole" and arn and _ARN.fullmatch(arn):
        s.session_arns.add(arn)
        when = _epoch(_text(_dig(ui, "sessionContext", "attributes", "creationDate")))
        pid = _text(ui.get("principalId"))
        if when is not None:
            created.setdefault(arn, set()).add(when)
            if pid and _PRINCIPAL_ID.fullmatch(pid):
                s.principal_ids.add(pid)
                created.setdefault(pid, set()).add(when)
    shared = _text(r.get("sharedEventID"))
    if shared and _EVENT_ID.fullmatch(shared):
        s.shared_event_ids.add(shared)
    _console_session(r, ui, arn, s)
    issuer = _text(_dig(ui, "sessionContext", "sessionIssuer", "arn"))
    if issuer and "/AWSReservedSSO_" in issuer and _ARN.fullmatch(issuer):
        # An Identity Center session: the portal calls that opened it, and the other
        # sessions of its permission set (the linker pairs each with one portal call)
        s.roles.add(issuer)
        s.portal_events.update(PORTAL_EVENTS)
    if r.get("errorCode"):
        return
    for new in (issued, _text(_dig(r, "responseElements", "accessKey", "accessKeyId"))):
        if new and _KEY.fullmatch(new):
            s.keys.add(new)
            s.opened_keys.add(new)
    name = r.get("eventName")
    user = _text(_dig(r, "requestParameters", "userName"))
    if name in _USER_CHANGES and user and _USER.fullmatch(user):
        s.users.add(user)
    if name == "UpdateAssumeRolePolicy":
        role = _text(_dig(r, "requestParameters", "roleName"))
        account = _text(r.get("recipientAccountId"))
        for res in r.get("resources") or []:
            arn = _text(res.get("ARN")) if isinstance(res, dict) else None
            if arn and ":role/" in arn and _ARN.fullmatch(arn):
                s.roles.add(arn)
        if role and account and _USER.fullmatch(role) and account.isdigit():
            s.roles.add(f"arn:aws:iam::{account}:role/{role}")


def _console_session(r: dict, ui: dict, arn: str | None, s: FollowSet) -> None:
    """A console key is one of many the console mints for one sign-in: the linker makes
    them one session (principal, creation date), opened by its ConsoleLogin."""
    if str(r.get("sessionCredentialFromConsole")).lower() != "true" or not arn:
        return
    created = _text(_dig(ui, "sessionContext", "attributes", "creationDate"))
    if _ARN.fullmatch(arn) and created and _CREATED.fullmatch(created):
        s.console_arns.add(arn)
        s.console_created.add(created)


def _of_console_session(r: dict, ui: dict, s: FollowSet) -> bool:
    if str(r.get("sessionCredentialFromConsole")).lower() != "true":
        return False
    created = _text(_dig(ui, "sessionContext", "attributes", "creationDate"))
    return _text(ui.get("arn")) in s.console_arns and created in s.console_created


def _opens_followed_key(r: dict, s: FollowSet) -> bool:
    """The STS call or CreateAccessKey that opened a followed (or ancestor) key."""
    if r.get("errorCode"):
        return False
    opened = _issued_key(r)
    if opened is None and r.get("eventName") == "CreateAccessKey":
        opened = _text(_dig(r, "responseElements", "accessKey", "accessKeyId"))
    return opened is not None and opened in s.opened_keys


def _add_ancestor(ui: dict, key: str | None, s: FollowSet) -> None:
    """Whoever opened a followed credential: followed upwards (its calls and its own
    opening, for ``issued_by`` and the chain's first hops), never into its other
    descendants."""
    if key and _KEY.fullmatch(key):
        if key not in s.keys:
            s.ancestor_keys.add(key)
        s.opened_keys.add(key)
    pid = _text(ui.get("principalId"))
    if pid and _PRINCIPAL_ID.fullmatch(pid) and ui.get("type") in ("AWSAccount", "AssumedRole"):
        s.ancestor_principal_ids.add(pid)


def _of_ancestor(ui: dict, key: str | None, s: FollowSet) -> bool:
    if key and key in s.ancestor_keys:
        return True
    return ui.get("type") == "AssumedRole" and _text(ui.get("principalId")) in s.ancestor_principal_ids


def _session_of_arn(r: dict, s: FollowSet, created: dict[str, set[int]]) -> None:
    """An STS response naming a followed session ARN at its creation date: that session."""
    arn = _text(_dig(r, "responseElements", "assumedRoleUser", "arn"))
    issued = _issued_key(r)
    if not arn or arn not in created or issued is None or r.get("errorCode"):
        return
    when = _epoch(_text(r.get("eventTime")))
    if when is not None and any(abs(when - c) <= CREATION_SLACK for c in created[arn]):
        s.keys.add(issued)
        s.opened_keys.add(issued)


def _on_behalf_of_session(r: dict, ui: dict, s: FollowSet, created: dict[str, set[int]]) -> bool:
    """The role owner's copy of a cross-account call names the caller by principalId only:
    it is the lineage's when a followed session of that principalId was alive then."""
    pid = _text(ui.get("principalId"))
    when = _epoch(_text(r.get("eventTime")))
    if pid not in s.principal_ids or when is None:
        return False
    return any(0 <= when - c <= SESSION_HOURS * 3600 for c in created.get(pid, ()))


def _of_lineage(r: dict, ui: dict, key: str | None, s: FollowSet,
                created: dict[str, set[int]]) -> bool:
    if key and key in s.keys:
        return True
    arn = _text(ui.get("arn"))
    if arn and arn in s.principals:
        return True
    if _text(_dig(ui, "sessionContext", "sessionIssuer", "arn")) in s.principals:
        return True
    if ui.get("type") == "IAMUser" and _text(ui.get("userName")) in s.users:
        return True
    if ui.get("type") == "AWSAccount" and _on_behalf_of_session(r, ui, s, created):
        return True
    if _of_console_session(r, ui, s):
        return True
    return _text(r.get("sourceIPAddress")) in s.ips


def _issued_key(r: dict) -> str | None:
    if r.get("eventName") not in _STS or r.get("errorCode"):
        return None
    key = _text(_dig(r, "responseElements", "credentials", "accessKeyId"))
    return key if key and _KEY.fullmatch(key) else None


def _dig(d, *path):
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _text(v) -> str | None:
    return v if isinstance(v, str) and v else None


def _epoch(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None
