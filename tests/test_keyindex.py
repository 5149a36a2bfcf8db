"""The dedup index against a plain set of tuples: same new rows, part after part."""

from __future__ import annotations

import numpy as np

from graphtrail.store.keyindex import KeyIndex


def _parts(seed: int) -> list[np.ndarray]:
    """Parts of keys with repeats inside a part, across parts, and distinct keys sharing a
    high word (the rare case the index resolves by a scan)."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2**64 - 1, size=(3000, 2), dtype=np.uint64)
    pool[100:200, 0] = pool[0:100, 0]  # same high word, other low word
    sizes = [1, 700, 50, 1200, 5, 900, 2000, 3, 600]
    return [pool[rng.integers(0, len(pool), size=n)] for n in sizes]


def test_new_rows_match_a_set_part_after_part():
    for seed in range(3):
        idx, seen = KeyIndex(), set()
        for part in _parts(seed):
            want = []
            for i, k in enumerate(map(tuple, part.tolist())):
                if k not in seen:
                    seen.add(k)
                    want.append(i)
            assert idx.add_new(part).tolist() == want
            assert len(idx) == len(seen)
        stored = idx.merged()
        assert sorted(map(tuple, stored.tolist())) == sorted(seen)
        assert (stored[1:, 0] >= stored[:-1, 0]).all()  # what the case stores is sorted
        again = KeyIndex(stored)
        assert again.contains(np.array(sorted(seen), dtype=np.uint64)).all()
        assert not again.contains(np.array([[1, 2], [3, 4]], dtype=np.uint64)).any()
