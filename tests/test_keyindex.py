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


def _new_rows(part: np.ndarray, seen: set) -> list[int]:
    """What a plain set says is new in ``part`` (and it takes them)."""
    want = []
    for i, k in enumerate(map(tuple, part.tolist())):
        if k not in seen:
            seen.add(k)
            want.append(i)
    return want


def test_new_rows_match_a_set_part_after_part():
    for seed in range(3):
        idx, seen = KeyIndex(), set()
        for part in _parts(seed):
            assert idx.add_new(part).tolist() == _new_rows(part, seen)
            assert len(idx) == len(seen)
        stored = idx.merged()
        assert sorted(map(tuple, stored.tolist())) == sorted(seen)
        again = KeyIndex(stored)
        assert len(again) == len(seen)
        assert again.contains(np.array(sorted(seen), dtype=np.uint64)).all()
        assert not again.contains(np.array([[1, 2], [3, 4]], dtype=np.uint64)).any()


def test_growth_reload_and_crafted_keys_match_a_set():
    """Many parts through several doublings of the table, keys whose high word is 0 (the
    empty-slot mark), and keys crowded at the table's end (probing wraps round): a reloaded
    index answers as the one it was saved from."""
    rng = np.random.default_rng(7)
    pool = rng.integers(1, 2**64 - 1, size=(60_000, 2), dtype=np.uint64)
    pool[:50, 0] = 0  # high word 0, distinct low words
    pool[50:100, 0] = 0
    pool[50:100, 1] = pool[:50, 1]  # ... and repeats of them
    idx, seen = KeyIndex(), set()
    for _ in range(12):
        part = pool[rng.integers(0, len(pool), size=9_000)]
        assert idx.add_new(part).tolist() == _new_rows(part, seen)
    assert len(idx) == len(seen)
    again = KeyIndex(idx.merged())
    assert len(again) == len(seen)
    held = np.array(sorted(seen), dtype=np.uint64)
    assert again.contains(held).all()
    unseen = np.array([k for k in map(tuple, pool.tolist()) if k not in seen][:500], dtype=np.uint64)
    assert not again.contains(unseen.reshape(-1, 2)).any()
    assert again.add_new(held).tolist() == []


def test_keys_crowded_at_the_end_wrap_round():
    """Keys whose home is the last slots: the bulk fill pushes some past the end."""
    idx = KeyIndex()
    bits = idx._bits
    # hi ^ lo = v with (v * MIX) >> (64 - bits) == last slot: search a few
    found = []
    mix, v = 0x9E3779B97F4A7C15, 1
    while len(found) < 40:
        if ((v * mix) % 2**64) >> (64 - bits) == (1 << bits) - 1:
            found.append(v)
        v += 1
    keys = np.array([[k, 0] for k in found], dtype=np.uint64)
    again = KeyIndex(keys)
    assert len(again) == 40 and again.contains(keys).all()
    assert again.add_new(keys).tolist() == []
    assert idx.add_new(keys).tolist() == list(range(40))
    assert idx.contains(keys).all()


def test_the_content_fingerprint_stays_what_cases_stored():
    """Every case stores its events' dedup keys (eventkeys-*.npy); a re-ingest finds its
    duplicates only if the keys come out the same. Pinned values (made by the code of
    session 8, which hashed Python strings; now bytes): payload whitespace ignored, nulls,
    non-ASCII text."""
    import pyarrow as pa

    from loaders.events import _content_hash

    t = pa.table({"event_source": ["s3.amazonaws.com", None, "iam.amazonaws.com"],
                  "identity_arn": ["arn:aws:iam::1:user/é", "x", None],
                  "request_parameters": ['{"a": 1,\n "b": "c d"}', None, "{}"]})
    assert _content_hash(t).tolist() == [14791140701553145347, 1729848318920627794,
                                         5877244933602571869]
    compact = t.set_column(2, "request_parameters", pa.array(['{"a":1,"b":"cd"}', None, "{}"]))
    assert _content_hash(compact).tolist() == _content_hash(t).tolist()
