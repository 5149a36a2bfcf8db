"""The burst windows (``_common.bursts``): the road on integer codes and a row mask gives the
hits the road on strings over a filtered frame gives, row for row, in the same order."""

import numpy as np
import pandas as pd
import pytest

from graphtrail.queries.findings._common import MINUTE, bursts


def _calls(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    actors = np.array([f"arn:aws:sts::1:assumed-role/r/{c}" for c in "qbzahm"] + [None], dtype=object)
    names = np.array(["ListUsers", "GetObject", "DescribeInstances", "PutObject", "ListRoles",
                      "GetUser", "DeleteBucket"], dtype=object)
    t0 = pd.Timestamp("2026-01-01", tz="UTC").value // 1000
    times = np.sort(t0 + rng.integers(0, 90 * MINUTE, n))  # crowded: many windows qualify
    return pd.DataFrame({
        "event_id": [f"e{i}" for i in range(n)],
        "time": pd.to_datetime(times, unit="us", utc=True),
        "actor": actors[rng.integers(0, len(actors), n)],
        "event_name": names[rng.integers(0, len(names), n)],
        "error_code": np.where(rng.random(n) < 0.3, "AccessDenied", None),
    })


def _seen(hits) -> list:
    return [(h.key, h.summary, h.rows["event_id"].tolist(), h.rows.index.tolist()) for h in hits]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("distinct", [None, "event_name"])
def test_codes_and_a_row_mask_give_the_hits_of_a_filtered_frame(seed, distinct):
    df = _calls(seed)
    mask = df["error_code"].isna().to_numpy() if distinct else df["error_code"].notna().to_numpy()
    threshold = 5 if distinct else 12
    summary = lambda k, g: f"{len(g)} calls by {k}"  # noqa: E731
    strings = bursts(df[mask], "actor", 5 * MINUTE, threshold, distinct=distinct, summary=summary)
    codes, values = pd.factorize(df["actor"])  # not in the keys' order: ranked by bursts
    coded = bursts(df, "actor", 5 * MINUTE, threshold, distinct=distinct, summary=summary,
                   codes=(codes.astype(np.int64), list(values)), rows=mask)
    assert strings, "the trail is crowded enough for bursts"
    assert _seen(coded) == _seen(strings)
    # the keys come out in their sorted order, as before
    assert [h.key for h in coded] == sorted(h.key for h in coded)


def test_too_few_calls_give_no_hit():
    df = _calls(0, n=30)
    assert bursts(df, "actor", MINUTE, 100, summary=str) == []
    codes, values = pd.factorize(df["actor"])
    assert bursts(df, "actor", MINUTE, 3, summary=str, codes=(codes.astype(np.int64), list(values)),
                  rows=np.zeros(len(df), dtype=bool)) == []
