"""The findings' frames: a small slice of a column reads as the whole column does, and the
report's collector pass sets the open case aside only for its block."""

import gc

import numpy as np
import pyarrow as pa

from graphtrail.bulk import collector_paused, collector_resumed
from graphtrail.queries.findings._frames import ColumnCache


def _column() -> pa.ChunkedArray:
    words = [f"arn:aws:iam::1:role/r{i % 7}" if i % 5 else None for i in range(200)]
    return pa.chunked_array([pa.array(words).dictionary_encode()])


def test_a_small_slice_of_a_dictionary_column_is_the_whole_columns_rows():
    rows = np.array([199, 3, 0, 10, 7])  # fewer than an eighth: looked up row by row
    small = ColumnCache({"arn": _column()}.get).frame(["arn"], rows)["arn"]
    whole = ColumnCache({"arn": _column()}.get).frame(["arn"], np.arange(200))["arn"]
    assert small.tolist() == whole[rows].tolist()
    assert small.tolist()[2] is None and str(small.dtype) == "object"


def test_a_small_slice_after_the_whole_column_reads_the_same():
    cache = ColumnCache({"arn": _column()}.get)
    whole = cache.frame(["arn"], np.arange(200))["arn"].tolist()
    assert cache.frame(["arn"], np.array([4, 5]))["arn"].tolist() == whole[4:6]


def test_the_collector_pass_sets_what_is_alive_aside_and_hands_it_back():
    assert gc.get_freeze_count() == 0  # a test process freezes nothing for good
    with collector_paused():
        with collector_resumed():
            inside = gc.get_freeze_count()
    assert inside > 0
    assert gc.get_freeze_count() == 0


def test_an_enumeration_burst_is_only_distinct_reads_of_one_credential(scenario):
    """GT-DISC-002 picks the read calls by the event names' codes: with a low threshold the
    scenario's credentials burst, and every call of a burst is a List/Describe/Get of it."""
    from graphtrail.queries.findings import findings
    from graphtrail.queries.findings.config import DEFAULT_THRESHOLDS, Config

    store, _ = scenario
    config = Config(thresholds=dict(DEFAULT_THRESHOLDS) | {"enum_burst": 3})
    bursts = findings(store, rules=["GT-DISC-002"], config=config)
    assert bursts
    calls = store.case.graph_table("activity", ["event_id", "event_name", "actor"]).to_pylist()
    of = {c["event_id"]: c for c in calls}
    for f in bursts:
        names = {of[e]["event_name"] for e in f.event_ids}
        assert len(names) >= 3 and all(n.startswith(("List", "Describe", "Get")) for n in names)
        assert {of[e]["actor"] for e in f.event_ids} == set(f.actors) and len(f.actors) == 1
