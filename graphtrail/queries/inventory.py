"""What is in a case: the keys, principals, roles, addresses and accounts to start from.

Every listing is computed from the calls grouped once by the store (credential, address,
account and region: ``call_summary``, a few thousand cells for a million calls), and from
the sessions table (who issued each temporary credential, with which STS call). Only the
store protocol is used, so the listings answer the same on Neo4j.

A row's ``first_seen``/``last_seen``/``calls``/``errors`` count call records in the
window; a call AWS logged in two accounts (cross-account) is two records, one in each
account's trail. ``errors`` are calls that returned an error code (and failed console
sign-ins, which log none).

>>> sorted(LISTINGS)
['accounts', 'ips', 'keys', 'principals', 'roles']
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import pandas as pd

from graphtrail import ids
from graphtrail.model import EdgeKind, NodeKind

__all__ = ["Window", "LISTINGS", "SORTS", "list_seeds", "keys", "principals", "roles", "ips",
           "accounts"]

Sort = Literal["calls", "first_seen", "last_seen"]
SORTS = ("calls", "first_seen", "last_seen")


@dataclass(frozen=True)
class Window:
    """Which calls a listing counts and which rows it keeps.

    ``since``/``until`` are epoch µs (UTC) or None; ``account`` keeps calls recorded in or
    made from that account; ``like`` keeps rows whose name contains it (case-insensitive)
    or, with ``*``, ``?`` or ``[``, matches it as a glob.
    """

    since: int | None = None
    until: int | None = None
    account: str | None = None
    like: str | None = None
    sort: Sort = "calls"
    limit: int | None = None


def list_seeds(store, what: str, window: Window = Window()) -> pd.DataFrame:
    """The listing named ``what`` (one of :data:`LISTINGS`) as a DataFrame."""
    try:
        fn = LISTINGS[what]
    except KeyError:
        raise ValueError(f"unknown listing {what!r}: one of {', '.join(sorted(LISTINGS))}") from None
    return fn(store, window)


# -- the listings ----------------------------------------------------------------------------

def keys(store, window: Window = Window()) -> pd.DataFrame:
    """Every credential: long-term keys (AKIA) and each session of a temporary key (ASIA).

    A temporary key id AWS recycled is one row per session. ``owner`` is the IAM user (or
    root) of a long-term key, the role (or user) of a session; ``issuer`` the principal
    behind the credential (or the service or identity provider) that obtained a session;
    ``issued_by`` the eventIDs of the STS call (both copies when cross-account) or of the
    CreateAccessKey that made the key.
    """
    ctx = _Context(store, window)
    per = _aggregate(ctx.cells, "actor")
    creds = ctx.credentials()
    rows = creds.merge(per, on="actor", how="left")
    rows = rows[rows["calls"].notna() | rows["in_window"]].drop(columns="in_window")
    rows = _fill_counts(rows)
    return _finish(rows, window, "access_key", [
        "access_key", "type", "session", "owner", "owner_type", "account", "issued", "issued_via",
        "issuer", "issued_by", "first_seen", "last_seen", "calls", "errors", "accounts"])


def principals(store, window: Window = Window()) -> pd.DataFrame:
    """Every identity that made calls: users, roles, root, federated users, services, providers."""
    ctx = _Context(store, window)
    cells = ctx.cells.assign(principal=ctx.cells["actor"].map(ctx.owner_of))
    cells = cells[cells["principal"].notna()]
    rows = _aggregate(cells, "principal")
    creds = _sets(cells["principal"], cells["actor"])
    rows["keys"] = rows["principal"].map(lambda p: len({ctx.key_of.get(a) for a in creds[p]} - {None}))
    rows["sessions"] = rows["principal"].map(
        lambda p: sum(1 for a in creds[p] if ctx.node_kind(a) == NodeKind.SESSION))
    rows["type"] = rows["principal"].map(ctx.node_kind)
    rows["account"] = rows["principal"].map(ctx.account_of)
    return _finish(rows, window, "principal", [
        "principal", "type", "account", "first_seen", "last_seen", "calls", "errors", "accounts",
        "keys", "sessions"])


def roles(store, window: Window = Window()) -> pd.DataFrame:
    """Every role with sessions: how many, who assumed it (the issuers' principals), its calls.

    ``first_seen``/``last_seen`` span its sessions' issue times and calls.
    """
    ctx = _Context(store, window)
    sess = ctx.sessions_in_window()
    sess = sess[sess["principal_kind"] == NodeKind.ROLE.value]
    cells = ctx.cells[ctx.cells["actor"].map(ctx.node_kind) == NodeKind.SESSION]
    cells = cells.assign(role=cells["actor"].map(ctx.owner_of))
    cells = cells[cells["role"].map(ctx.node_kind) == NodeKind.ROLE]
    used = _aggregate(cells, "role").set_index("role")
    issued = sess.groupby("principal").agg(sessions=("session", "nunique"),
                                           first_issued=("issued", "min"),
                                           last_issued=("issued", "max"))
    issuers = _sets(sess["principal"], sess["issuer"])
    issued["assumed_by"] = [sorted({ctx.owner_of(i) or i for i in issuers.get(r, ())})
                            for r in issued.index]
    issued.index.name = "role"
    rows = issued.join(used, how="outer")
    rows["first_seen"] = rows[["first_seen", "first_issued"]].min(axis=1)
    rows["last_seen"] = rows[["last_seen", "last_issued"]].max(axis=1)
    rows["sessions"] = rows["sessions"].fillna(0).astype("int64")
    rows["assumed_by"] = [v if isinstance(v, list) else [] for v in rows["assumed_by"]]
    rows = _fill_counts(rows.reset_index())
    rows["account"] = rows["role"].map(ctx.account_of)
    return _finish(rows, window, "role", [
        "role", "account", "sessions", "assumed_by", "first_seen", "last_seen", "calls", "errors",
        "accounts"])


def ips(store, window: Window = Window()) -> pd.DataFrame:
    """Every source address: when, how many calls, and the principals and keys seen from it."""
    ctx = _Context(store, window)
    cells = ctx.cells[ctx.cells["source_ip"].notna()].rename(columns={"source_ip": "ip"})
    rows = _aggregate(cells, "ip")
    actors = _sets(cells["ip"], cells["actor"])
    rows["principals"] = rows["ip"].map(lambda i: sorted({ctx.owner_of(a) for a in actors.get(i, ())} - {None}))
    rows["keys"] = rows["ip"].map(lambda i: sorted({ctx.key_of.get(a) for a in actors.get(i, ())} - {None}))
    return _finish(rows, window, "ip", [
        "ip", "first_seen", "last_seen", "calls", "errors", "accounts", "principals", "keys"])


def accounts(store, window: Window = Window()) -> pd.DataFrame:
    """Every account calls were recorded in: principals calling into it, calls, regions."""
    ctx = _Context(store, window)
    cells = ctx.cells[ctx.cells["recipient_account_id"].notna()]
    cells = cells.assign(account=cells["recipient_account_id"])
    rows = _aggregate(cells, "account").drop(columns="accounts")
    actors = _sets(cells["account"], cells["actor"])
    regions = _sets(cells["account"], cells["region"])
    rows["principals"] = rows["account"].map(
        lambda a: len({ctx.owner_of(x) for x in actors.get(a, ())} - {None}))
    rows["regions"] = rows["account"].map(lambda a: sorted(regions.get(a, ())))
    if window.account:
        rows = rows[rows["account"] == window.account]
    return _finish(rows, window, "account", [
        "account", "first_seen", "last_seen", "calls", "errors", "principals", "regions"])


LISTINGS = {"keys": keys, "principals": principals, "roles": roles, "ips": ips,
            "accounts": accounts}


# -- steps -----------------------------------------------------------------------------------

class _Context:
    """The window's calls grouped into cells, and who owns each credential."""

    def __init__(self, store, window: Window) -> None:
        self.store = store
        self.window = window
        self.info = store.node_info
        self.session_info = store.session_info
        w = window
        self.cells = store.call_summary(since=w.since, until=w.until, account=w.account).to_pandas()
        self.key_of = {a: self._access_key(a) for a in self.cells["actor"].dropna().unique()}

    @cached_property
    def _key_owner(self) -> dict[str, str]:
        """Long-term key -> its user (or root), as the graph build recorded it on the key."""
        out = {}
        for nid in self.info.keys():
            if ids.key_of(nid):
                user = self.info[nid]["props"].get("user")
                if user:
                    out[nid] = user
        return out

    @cached_property
    def created_by(self) -> dict[str, list[str]]:
        """Long-term key -> the eventIDs of the CreateAccessKey that made it (from the lineage)."""
        out: dict[str, list[str]] = {}
        for src, dst, k, data in self.store.lineage.edges(keys=True, data=True):
            if k == EdgeKind.CREATED and ids.key_of(dst):
                out.setdefault(dst, []).extend(data.get("event_ids") or [])
            elif k == EdgeKind.HAS_KEY:
                self._key_owner.setdefault(dst, src)  # a key the build did not tie to a caller
        return out

    def node_kind(self, nid: str | None) -> str | None:
        if not isinstance(nid, str):
            return None
        if nid in self.session_info:
            return NodeKind.SESSION.value
        n = self.info.get(nid)
        if n is not None:
            return n["kind"]
        return NodeKind.ACCESS_KEY.value if ids.key_of(nid) else None

    def owner_of(self, actor: str | None) -> str | None:
        """The principal a credential acts as; a principal is its own owner."""
        if not isinstance(actor, str):
            return None
        s = self.session_info.get(actor)
        if s is not None:
            return s["principal"]
        if self.node_kind(actor) == NodeKind.ACCESS_KEY:
            return self._key_owner.get(actor)
        return actor

    def account_of(self, nid: str) -> str | None:
        n = self.info.get(nid)
        if n is not None and n.get("account"):
            return n["account"]
        parts = nid.split(":")
        return parts[4] if nid.startswith("arn:") and len(parts) > 4 and parts[4] else None

    def _access_key(self, actor: str) -> str | None:
        s = self.session_info.get(actor)
        if s is not None:
            return s["access_key_id"]
        return ids.key_of(actor)

    def sessions_in_window(self) -> pd.DataFrame:
        """Sessions issued in the window (in or by the account, when one is given)."""
        cols = ["session", "access_key_id", "via", "issued", "principal_kind", "principal",
                "account", "issuer", "issuer_account", "event_ids"]
        df = pd.DataFrame([{c: s.get(c) for c in cols} for s in self.session_info.values()],
                          columns=cols)
        w = self.window
        issued = df["issued"]
        keep = pd.Series(True, index=df.index)
        if w.since is not None:
            keep &= issued.isna() | (issued >= w.since)
        if w.until is not None:
            keep &= issued.isna() | (issued <= w.until)
        if w.account:
            keep &= (df["account"] == w.account) | (df["issuer_account"] == w.account)
        return df[keep]

    def credentials(self) -> pd.DataFrame:
        """One row per credential: the window's callers, sessions issued and keys created in it."""
        sess = self.sessions_in_window()
        seen = set(self.cells["actor"].dropna())
        in_window = set(sess["session"])
        created = {k for k in self.created_by if self._created_in_window(k)}
        actors = sorted(a for a in seen | in_window | created
                        if self.node_kind(a) in (NodeKind.SESSION, NodeKind.ACCESS_KEY))
        rows = []
        for a in actors:
            s = self.session_info.get(a)
            owner = self.owner_of(a)
            if s is not None:
                rows.append({"actor": a, "access_key": s["access_key_id"], "type": "temporary",
                             "session": a, "owner": owner, "owner_type": s["principal_kind"],
                             "account": s["account"], "issued": s["issued"], "issued_via": s["via"],
                             "issuer": self.owner_of(s["issuer"]) or s["issuer"],
                             "issued_by": list(s["event_ids"] or [])})
            else:
                rows.append({"actor": a, "access_key": ids.key_of(a), "type": "long-term", "session": None,
                             "owner": owner, "owner_type": self.node_kind(owner),
                             "account": self.account_of(a) or (self.account_of(owner) if owner else None),
                             "issued": self._created_at(a),
                             "issued_via": "CreateAccessKey" if a in self.created_by else None,
                             "issuer": None,
                             "issued_by": list(dict.fromkeys(self.created_by.get(a, [])))})
            rows[-1]["in_window"] = a in in_window or a in created
        return pd.DataFrame(rows, columns=["actor", "access_key", "type", "session", "owner",
                                           "owner_type", "account", "issued", "issued_via",
                                           "issuer", "issued_by", "in_window"])

    def _created_at(self, key: str) -> int | None:
        times = [d.get("first_seen") for _, _, k, d in self.store.lineage.in_edges(key, keys=True, data=True)
                 if k == EdgeKind.CREATED]
        times = [t for t in times if t is not None]
        return min(times) if times else None

    def _created_in_window(self, key: str) -> bool:
        t = self._created_at(key)
        w = self.window
        if t is None or (w.since is not None and t < w.since) or (w.until is not None and t > w.until):
            return False
        return not w.account or w.account in (self.account_of(key), self.account_of(self.owner_of(key) or ""))


def _aggregate(cells: pd.DataFrame, by: str) -> pd.DataFrame:
    """Cells -> one row per ``by``: first/last seen, calls, errors, accounts (a column ``by``)."""
    rows = cells.groupby(by, sort=False).agg(first_seen=("first", "min"), last_seen=("last", "max"),
                                             calls=("calls", "sum"), errors=("errors", "sum"))
    accts = _sets(cells[by], cells["recipient_account_id"])
    rows["accounts"] = [sorted(accts.get(k, ())) for k in rows.index]
    rows.index.name = by
    return rows.reset_index()


def _sets(keys: Iterable, values: Iterable) -> dict[str, set[str]]:
    """key -> the distinct values beside it (missing values left out); plain Python is fastest
    here: a few thousand cells."""
    out: dict[str, set[str]] = {}
    for k, v in zip(keys, values, strict=True):
        if isinstance(v, str):
            out.setdefault(k, set()).add(v)
    return out


def _fill_counts(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    for c in ("calls", "errors"):
        rows[c] = rows[c].fillna(0).astype("int64")
    rows["accounts"] = [v if isinstance(v, list) else [] for v in rows["accounts"]]
    return rows


def _matches(names: pd.Series, like: str) -> pd.Series:
    if any(ch in like for ch in "*?["):
        pat = like.lower()
        # (bool: an empty object Series would select columns, not rows)
        return names.map(lambda n: fnmatch.fnmatchcase(str(n).lower(), pat)).astype(bool)
    return names.astype(str).str.contains(like, case=False, regex=False).astype(bool)


def _finish(rows: pd.DataFrame, window: Window, name: str, columns: list[str]) -> pd.DataFrame:
    """Filter by name, sort, cut, and turn µs into UTC timestamps."""
    rows = rows.reset_index(drop=True)
    if window.like:
        rows = rows[_matches(rows[name], window.like)]
    for c in ("calls", "errors"):
        rows[c] = rows[c].astype("int64")
    ascending = window.sort == "first_seen"
    by = [window.sort, name] if window.sort != "calls" else ["calls", "last_seen", name]
    rows = rows.sort_values(by, ascending=[ascending] + [ascending if b != name else True for b in by[1:]],
                            na_position="last", kind="stable")
    if window.limit is not None:
        rows = rows.head(window.limit)
    for c in ("first_seen", "last_seen", "issued"):
        if c in rows:
            rows[c] = pd.to_datetime(rows[c].astype("Int64"), unit="us", utc=True)
    out = rows[columns].reset_index(drop=True)
    for c in columns:  # text and lists as Python objects, missing as None (never NaN)
        if not (pd.api.types.is_numeric_dtype(out[c]) or isinstance(out[c].dtype, pd.DatetimeTZDtype)):
            out[c] = pd.Series([None if _missing(v) else v for v in out[c]], dtype=object)
    return out


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)
