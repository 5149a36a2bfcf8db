"""A compact set of 128-bit event keys, for deduplication at millions of events.

Keys are ``(hi, lo)`` uint64 pairs kept in a few sorted levels (16 bytes an event, no
Python object per key), merged geometrically so adding N keys costs O(N log N) in all.

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


def _sorted(keys: np.ndarray) -> np.ndarray:
    # By the high word only (one fast integer sort): keys sharing it are found by a scan.
    return keys[np.argsort(keys[:, 0])]


def _merged(levels: list[np.ndarray]) -> np.ndarray:
    """Sorted levels as one, as a stable sort of them end to end would order them. Each level
    is inserted where it belongs (a linear merge), from the last: the merge holds the result
    and one copy, never the whole concatenation, its sort order and the result at once."""
    out = levels[-1]
    for lv in reversed(levels[:-1]):  # an earlier level's keys go before equal later ones
        out = np.insert(out, np.searchsorted(out[:, 0], lv[:, 0], side="left"), lv, axis=0)
    return out


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
    """Sorted levels of (hi, lo) keys."""

    def __init__(self, keys: np.ndarray | None = None) -> None:
        self.levels: list[np.ndarray] = []
        if keys is not None and len(keys):
            self.levels.append(_sorted(np.asarray(keys, dtype=np.uint64).reshape(-1, 2)))

    def __len__(self) -> int:
        return sum(len(lv) for lv in self.levels)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``keys`` are already held."""
        if self.levels and len(keys) > 1:
            # Looked up in ascending order, each search starts where the last one ended:
            # a walk through each level rather than a random probe per key.
            order = np.argsort(keys[:, 0], kind="quicksort")
            found = np.empty(len(keys), dtype=bool)
            found[order] = self._contains(keys[order])
            return found
        return self._contains(keys)

    def _contains(self, keys: np.ndarray) -> np.ndarray:
        found = np.zeros(len(keys), dtype=bool)
        for lv in self.levels:
            hi = lv[:, 0]
            idx = np.searchsorted(hi, keys[:, 0], side="left")
            inside = idx < len(hi)
            idx_c = np.where(inside, idx, 0)
            same_hi = inside & (hi[idx_c] == keys[:, 0])
            hit = same_hi & (lv[idx_c, 1] == keys[:, 1])
            found |= hit
            # Distinct keys sharing a hi word are vanishingly rare; check their runs exactly.
            for i in np.nonzero(same_hi & ~hit)[0]:
                j = idx_c[i]
                while j < len(hi) and hi[j] == keys[i, 0]:
                    if lv[j, 1] == keys[i, 1]:
                        found[i] = True
                        break
                    j += 1
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
        fresh = first[~self.contains(cand)]
        if len(fresh):
            self.levels.append(_sorted(keys[fresh]))
            self._compact()
        return fresh

    def _compact(self) -> None:
        while len(self.levels) > 1 and len(self.levels[-1]) * 2 >= len(self.levels[-2]):
            b = self.levels.pop()
            a = self.levels.pop()
            self.levels.append(_merged([a, b]))

    def merged(self) -> np.ndarray:
        """All keys in one sorted array (what the case stores)."""
        if not self.levels:
            return _EMPTY
        if len(self.levels) > 1:
            self.levels = [_merged(self.levels)]
        return self.levels[0]
