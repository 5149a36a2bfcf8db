"""The window property of tests/test_windows.py on the demo scenario (kept out of the fast
mutation selection: the scenario takes seconds to build)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from graphtrail.queries.seeds import parse_time_bound as at
from graphtrail.queries.timeline import timeline
from tests.test_windows import SECOND, WINDOWED, check_window


@WINDOWED
@given(data=st.data())
def test_windowed_demo_answer_is_the_restricted_answer(scenario, data):
    store, truth = scenario
    rows = timeline(store, truth.leaked_key, lineage=True)
    lo, hi = at(rows["time"].iloc[0]) // SECOND - 600, at(rows["time"].iloc[-1]) // SECOND + 600
    bound = st.one_of(st.none(), st.integers(lo, hi).map(lambda s: s * SECOND))
    check_window(store, truth.leaked_key, data.draw(bound, "since"), data.draw(bound, "until"))
