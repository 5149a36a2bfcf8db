"""Helpers the tactic modules share: filters, request parameters, grouping into hits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from graphtrail import ids
from graphtrail.queries.findings.base import Context, Hit

MINUTE = 60_000_000
HOUR = 60 * MINUTE
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
          "Client.UnauthorizedOperation", "UnauthorizedAccess", "AuthorizationError")


def micros(times: pd.Series) -> np.ndarray:
    """Event times as epoch microseconds, whatever unit pandas holds them in (Arrow's
    timestamps arrive as ``datetime64[us]``; older pandas made them nanoseconds)."""
    return times.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64").to_numpy()


def is_ip(col: pd.Series) -> pd.Series:
    """True where the source is an address (not ``lambda.amazonaws.com`` or ``AWS Internal``);
    decided once per distinct value, so it costs little on a million calls."""
    codes, values = pd.factorize(col)
    known = np.array([bool(ids.is_ip(v)) for v in values] + [False], dtype=bool)
    return pd.Series(known[codes], index=col.index)  # code -1 (missing) reads the last: False


def per_value(col: pd.Series, fn) -> pd.Series:
    """``fn`` of each value of ``col``, computed once per distinct value."""
    codes, values = pd.factorize(col)
    out = np.array([fn(v) for v in values] + [None], dtype=object)
    return pd.Series(out[codes], index=col.index, dtype=object)  # never re-inferred as text


def ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["error_code"].isna()]


def detail(v) -> dict:
    if not isinstance(v, str):
        return {}
    try:
        d = json.loads(v)
    except json.JSONDecodeError:
        return {}
    return d if isinstance(d, dict) else {}


def each(df: pd.DataFrame, summary) -> list[Hit]:
    """One hit a call (its eventID identifies it across re-ingests)."""
    return [Hit(df.loc[[i]], summary(r), key=(str(r["event_id"]),)) for i, r in df.iterrows()]


def by(df: pd.DataFrame, key: str, summary) -> list[Hit]:
    return [Hit(g, summary(k, g), key=(str(k),)) for k, g in df.groupby(key, sort=False, dropna=True)]


def bursts(df: pd.DataFrame, key: str, window: int, threshold: int, *, distinct: str | None = None,
           summary, why: dict | None = None, codes: tuple[np.ndarray, list] | None = None,
           rows: np.ndarray | None = None) -> list[Hit]:
    """Rows of ``key`` groups that have ``threshold`` calls (or distinct values) in ``window``.

    Linear in the calls: windows are found with a binary search per row, marked with a
    difference array, and distinct values counted with two pointers.

    ``codes``: the ``key`` column as integer codes aligned with ``df``'s rows (-1: missing)
    and the values they stand for (:meth:`Context.codes`), which spares hashing a million
    strings; ``rows``: a boolean mask of the rows that count (the others as if filtered
    out, without copying the frame). The hits are the same either way.
    """
    # positions, not frames: only the columns the windows read are filtered and put in
    # order; a hit's rows are taken from ``df`` at the end (copying every column of a
    # million calls, twice, cost more than the windows)
    all_keys = df[key].to_numpy()
    if codes is None:
        wanted = pd.notna(all_keys)
    else:
        wanted = codes[0] >= 0
    if rows is not None:
        wanted = wanted & rows
    present = np.flatnonzero(wanted)
    if len(present) < threshold:
        return []
    all_times = micros(df["time"])
    # sorted by key, then time (stable), on integer codes ranked in the keys' order:
    # sorting a million strings costs seconds
    if codes is None:
        ranks, _ = pd.factorize(all_keys[present], sort=True)
    else:
        values = codes[1]
        rank_of = np.empty(len(values), dtype=np.int64)
        rank_of[sorted(range(len(values)), key=values.__getitem__)] = np.arange(len(values))
        ranks = rank_of[codes[0][present]]
    perm = np.lexsort((all_times[present], ranks))
    order, ranks = present[perm], ranks[perm]
    times = all_times[order]
    seen = df[distinct].to_numpy() if distinct else None
    bounds = np.flatnonzero(ranks[1:] != ranks[:-1]) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(order)]])
    big = np.flatnonzero(stops - starts >= threshold)  # a smaller group never has enough
    hits = []
    for s, e in zip(starts[big].tolist(), stops[big].tolist(), strict=True):
        t = times[s:e]
        end = np.searchsorted(t, t + window, side="right")
        idx = np.arange(len(t))
        cand = np.flatnonzero(end - idx >= threshold)
        if seen is not None and len(cand):
            values = seen[order[s:e]]
            if len(set(values.tolist())) < threshold:  # never enough distinct values
                continue
            cand = _distinct_windows(values, end, cand, threshold)
        if not len(cand):
            continue
        mark = np.zeros(len(t) + 1, dtype=np.int64)
        np.add.at(mark, cand, 1)
        np.add.at(mark, end[cand], -1)
        keep = np.cumsum(mark[:-1]) > 0
        hit_rows = df.iloc[order[s:e][keep]]
        k = all_keys[order[s]]
        hits.append(Hit(hit_rows, summary(k, hit_rows), key=(str(k),), why=dict(why or {})))
    return hits


def _distinct_windows(values, end: np.ndarray, cand: np.ndarray, threshold: int) -> np.ndarray:
    """The window starts (among ``cand``) holding at least ``threshold`` distinct values."""
    counts: dict = {}
    right = 0
    ok = []
    wanted = set(cand.tolist())
    for i in range(len(values)):
        while right < end[i]:
            counts[values[right]] = counts.get(values[right], 0) + 1
            right += 1
        if i in wanted and len(counts) >= threshold:
            ok.append(i)
        v = values[i]
        counts[v] -= 1
        if not counts[v]:
            del counts[v]
    return np.array(ok, dtype=np.int64)


def caller_user(arn) -> str | None:
    p = ids.principal_of_arn(arn if isinstance(arn, str) else None)
    return p[1].rsplit("/", 1)[-1] if p and p[0] == "User" else None


def for_another_user(ctx: Context, names: list[str]) -> pd.DataFrame:
    """Successful calls among ``names`` whose ``userName`` parameter is not the caller."""
    df = ok(ctx.calls(names))
    target = df["detail"].map(lambda d: detail(d).get("userName"))
    return df[target.notna() & (target != df["identity_arn"].map(caller_user))]

