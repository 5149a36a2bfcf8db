"""Where a question starts: an access key, a principal, a session or an address.

A seed resolves to the *credentials* it stands for (actor node ids): a long-term key is
one credential; a temporary key id is every session issued with it (use ``--session`` or
a time window when AWS recycled the id); a principal is its keys, its sessions and itself
where it acted without a key; an address is every credential seen calling from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphtrail import ids
from graphtrail.model import EdgeKind, NodeKind
from graphtrail.times import micros

__all__ = ["Seed", "SeedError", "seed_credentials", "parse_time_bound"]


class SeedError(ValueError):
    """The seed is not in the case."""


@dataclass(frozen=True)
class Seed:
    kind: str  # access_key, principal, session, ip, account
    value: str

    @classmethod
    def of(cls, kind: str | None, value: str) -> Seed:
        if kind is None:
            kind, value = ids.normalize_seed(value)
        elif kind == "principal":
            p = ids.principal_of_arn(value)
            value = p[1] if p else value
        return cls(kind, value)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value}


def parse_time_bound(value: str | None) -> int | None:
    """``2024-08-01``, ``2024-08-01T13:00:00Z`` ... -> epoch µs (UTC)."""
    if not value:
        return None
    from datetime import UTC, datetime

    v = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError as exc:
        raise SeedError(f"not a time: {value!r} (use ISO 8601, e.g. 2024-08-01T13:00:00Z)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return micros(dt)


# The longest a temporary credential lives (GetSessionToken, 36 hours): a session whose
# expiry is not known may have been used this long after it was issued.
_LONGEST_SESSION_US = 36 * 3600 * 1_000_000


def _active_in(s: dict, since: int | None, until: int | None) -> bool:
    """Whether a session could act inside the window: issued before its end, and not
    expired before its start. The window filters the calls, never the seed: a key issued
    before ``since`` and used inside the window is found.

    >>> h = 3600 * 10**6
    >>> _active_in({"issued": 0, "expires": h}, since=h // 2, until=None)
    True
    >>> _active_in({"issued": 0, "expires": h}, since=2 * h, until=None)
    False
    >>> _active_in({"issued": None, "expires": None}, since=2 * h, until=3 * h)
    True
    """
    issued, expires = s.get("issued"), s.get("expires")
    if issued is None:
        return True  # an unknown issue time is in every window
    if until is not None and issued > until:
        return False
    end = expires if expires is not None else issued + _LONGEST_SESSION_US
    return since is None or end >= since


def seed_credentials(store, seed: Seed, since: int | None = None, until: int | None = None) -> set[str]:
    """The actor node ids a seed stands for. Raises :class:`SeedError` when none exist."""
    g = store.lineage
    info = store.node_info
    out: set[str] = set()
    if seed.kind == "access_key":
        if ids.is_temporary_key(seed.value):
            for sid, s in store.session_info.items():
                keys = s.get("access_key_ids") or [s["access_key_id"]]  # a console session has many
                if seed.value in keys and _active_in(s, since, until):
                    out.add(sid)
        else:
            kid = ids.key_id(seed.value)
            if kid in info or kid in g:
                out.add(kid)
    elif seed.kind == "session":
        if seed.value in store.session_info:
            out.add(seed.value)
    elif seed.kind in ("principal", "account"):
        pid = seed.value if seed.kind == "principal" else ids.account_id(seed.value)
        if pid in info:
            out.add(pid)
        if pid in g:
            for src, _, k in g.in_edges(pid, keys=True):
                if k in (EdgeKind.OF_ROLE, EdgeKind.OF_PRINCIPAL) and g.nodes[src].get("kind") == NodeKind.SESSION:
                    if _active_in(store.session_info.get(src, {}), since, until):
                        out.add(src)
            for _, dst, k in g.out_edges(pid, keys=True):
                if k == EdgeKind.HAS_KEY:
                    out.add(dst)
    elif seed.kind == "ip":
        out |= store.actors_from_ip(seed.value)
    if not out:
        raise SeedError(f"{seed.kind} {seed.value!r} is not in this case")
    return out
