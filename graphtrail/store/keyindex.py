"""A compact set of 128-bit event keys, for deduplication at millions of events.

Keys are ``(hi, lo)`` uint64 pairs in an open-addressing hash table (linear probing, two
uint64 arrays, 16 bytes a slot, at most :data:`MAX_LOAD` full), probed for a whole part at
once with numpy: adding N keys costs O(N), with no Python object per key and no sorted copy
to merge into (a sorted array cost 13 s of CPU at 10M events, stolen from the readers).

>>> import numpy as np
>>> idx = KeyIndex()
>>> k = np.array([[1, 2], [3, 4], [1, 2]], dtype=np.uint64)
>>> idx.add_new(k).tolist()
[0, 1]
>>> idx.add_new(np.array([[3, 4], [5, 6]], dtype=np.uint64)).tolist()
[1]
>>> len(idx)
3
"""

from __future__ import annotations

import numpy as np

__all__ = ["KeyIndex"]

_EMPTY = np.empty((0, 2), dtype=np.uint64)
MAX_LOAD = 0.7  # grown (doubled) beyond this share of full slots
_MIN_BITS = 12
_MIX = np.uint64(0x9E3779B97F4A7C15)
_ONE = np.uint64(1)


def _first_occurrences(keys: np.ndarray) -> np.ndarray:
    """Row numbers (ascending) of the first occurrence of each distinct key."""
    order = np.argsort(keys[:, 0], kind="stable")
    hi = keys[order, 0]
    same_hi = np.flatnonzero(hi[1:] == hi[:-1]) + 1
    if not len(same_hi):
        return np.arange(len(keys))
    drop = set()
    # rare: several rows share a high word; compare whole keys within each run
    for i in same_hi.tolist():
        j = i - 1
        while j >= 0 and hi[j] == hi[i]:
            if order[j] not in drop and keys[order[j], 1] == keys[order[i], 1]:
                drop.add(int(order[i]))
                break
            j -= 1
    keep = np.ones(len(keys), dtype=bool)
    keep[list(drop)] = False
    return np.flatnonzero(keep)


class KeyIndex:
    """A hash set of (hi, lo) keys. An empty slot holds hi = 0; the keys whose hi is 0 (one
    in 2**64 by chance, or a crafted one) are kept apart in a Python set."""

    def __init__(self, keys: np.ndarray | None = None) -> None:
        self._bits = _MIN_BITS
        self._hi = np.zeros(1 << self._bits, dtype=np.uint64)
        self._lo = np.zeros(1 << self._bits, dtype=np.uint64)
        self._count = 0
        self._zero_hi: set[int] = set()  # lo words of the keys whose hi word is 0
        if keys is not None and len(keys):  # what the case stored: distinct keys
            keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 2)
            self._room_for(len(keys))
            self._fill(keys[:, 0], keys[:, 1])

    def __len__(self) -> int:
        return self._count + len(self._zero_hi)

    def _home(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        return ((hi ^ lo) * _MIX) >> np.uint64(64 - self._bits)

    def _begin(self, hi: np.ndarray, lo: np.ndarray, *, add: bool):
        """Keys whose high word is 0 are answered from the side set (and put in it when
        ``add``): a mask of those held, or when adding, of those new. Then the rows of the
        other keys, every key's home slot, and the slot mask."""
        out = np.zeros(len(hi), dtype=bool)
        zero = hi == 0
        for i in np.flatnonzero(zero).tolist():
            v = int(lo[i])
            out[i] = (v in self._zero_hi) != add
            if add:
                self._zero_hi.add(v)
        return out, np.flatnonzero(~zero), self._home(hi, lo), np.uint64(len(self._hi) - 1)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``keys`` are already held."""
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 2)
        hi, lo = keys[:, 0], keys[:, 1]
        found, act, slot, mask = self._begin(hi, lo, add=False)
        while act.size:
            s = slot[act]
            th = self._hi[s]
            occupied = th != 0
            same = occupied & (th == hi[act]) & (self._lo[s] == lo[act])
            found[act[same]] = True
            move = occupied & ~same
            act = act[move]
            slot[act] = (s[move] + _ONE) & mask
        return found

    def add_new(self, keys: np.ndarray) -> np.ndarray:
        """Add ``keys``; return the row numbers (ascending) that were new.

        A key repeated within ``keys`` counts as new once, at its first row.
        """
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 2)
        if not len(keys):
            return np.empty(0, dtype=np.int64)
        first = _first_occurrences(keys)
        cand = keys[first]
        self._room_for(len(cand))
        return first[self._place(cand[:, 0].copy(), cand[:, 1].copy())]

    def _room_for(self, more: int) -> None:
        if self._count + more <= MAX_LOAD * len(self._hi):
            return
        bits = self._bits
        while self._count + more > MAX_LOAD * (1 << bits):
            bits += 1
        held = self._hi != 0
        hi, lo = self._hi[held], self._lo[held]
        del held
        self._hi = self._lo = None  # type: ignore[assignment]  # freed before the new table
        self._bits = bits
        self._hi = np.zeros(1 << bits, dtype=np.uint64)
        self._lo = np.zeros(1 << bits, dtype=np.uint64)
        self._count = 0
        self._fill(hi, lo)

    def _fill(self, hi: np.ndarray, lo: np.ndarray) -> None:
        """Put distinct keys into an empty table in one pass: in order of home slot, each
        key takes its home or the slot after the previous key's, whichever is later (what
        inserting them one by one would do). Keys pushed past the end go round by
        :meth:`_place`."""
        zero = hi == 0
        if zero.any():
            self._zero_hi.update(int(v) for v in lo[zero].tolist())
            hi, lo = hi[~zero], lo[~zero]
        n = len(hi)
        home = self._home(hi, lo).astype(np.int64)
        order = np.argsort(home, kind="stable")
        steps = np.arange(n)
        pos = np.maximum.accumulate(home[order] - steps) + steps
        fits = pos < len(self._hi)
        placed = order[fits]
        self._hi[pos[fits]] = hi[placed]
        self._lo[pos[fits]] = lo[placed]
        self._count += len(placed)
        rest = order[~fits]
        if len(rest):
            self._place(hi[rest], lo[rest])

    def _place(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Insert distinct keys; a mask of those not held before. Each round, every key still
        placing looks at its slot: its own key there ends it, another key moves it on, an
        empty slot is taken by the first key (lowest row) that wants it; the others look at
        that slot again next round (it may now hold their own key)."""
        new, act, slot, mask = self._begin(hi, lo, add=True)
        while act.size:
            s = slot[act]
            th = self._hi[s]
            free = th == 0
            move = ~free & ((th != hi[act]) | (self._lo[s] != lo[act]))
            fs = s[free]
            taken, firsts = np.unique(fs, return_index=True)
            winners = act[free][firsts]
            self._hi[taken] = hi[winners]
            self._lo[taken] = lo[winners]
            new[winners] = True
            self._count += len(winners)
            slot[act[move]] = (s[move] + _ONE) & mask
            lost = np.ones(len(fs), dtype=bool)
            lost[firsts] = False
            move[np.flatnonzero(free)[lost]] = True  # now: every key still placing
            act = act[move]
        return new

    def merged(self) -> np.ndarray:
        """All keys in one array (what the case stores), in the order of the table's slots:
        no sort, and reloaded nearly in order of home slot (:meth:`_fill`)."""
        held = self._hi != 0
        z = len(self._zero_hi)
        out = np.empty((int(held.sum()) + z, 2), dtype=np.uint64)
        out[:z, 0] = 0
        out[:z, 1] = sorted(self._zero_hi)
        out[z:, 0] = self._hi[held]
        out[z:, 1] = self._lo[held]
        return out if len(out) else _EMPTY
