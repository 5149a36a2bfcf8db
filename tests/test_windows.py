"""``--since`` / ``--until``: the windowed answer is the unwindowed one restricted to the window.

What the window means (graphtrail/queries/blast_radius.py), for a seed that is a long-term
key (its credentials do not depend on the window):

* a credential is in the windowed lineage when every derivation on its way from the seed
  happened at or before ``until`` (``since`` cuts no derivation: a session issued before
  the window still acts in it);
* the calls are the calls of those credentials with ``since <= time <= until``, in time
  order: the timeline of the windowed question is exactly those rows;
* a session is in the answer when it made one of those calls or was issued in the window;
  ``event_ids`` are the calls plus the STS calls that issued those sessions (how each came
  to be), and ``access_keys`` are the keys of every credential in the windowed lineage.

Checked with Hypothesis on a hand-written trail that derives every kind of credential and
on the demo scenario.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.seeds import Seed, seed_credentials
from graphtrail.queries.seeds import parse_time_bound as at
from graphtrail.queries.timeline import timeline
from tests.test_linking_cases import _console_call, _login, _two_hops
from tests.trails import assumed, call, ingest, rec, user

DEV_KEY = "AKIAEXAMPLEDEV00001"
BACKDOOR = "AKIAEXAMPLEBKD00001"
D = "2024-05-01T"
SECOND = 1_000_000
WINDOWED = settings(max_examples=50, deadline=None, derandomize=True)


def _trail() -> list[dict]:
    """dev -> alpha -> beta; beta creates a key; alpha resets bob's password; bob signs in."""
    a = assumed("alpha", "dev", "ASIAEXAMPLEALP00001", f"{D}10:00:00Z")
    b = assumed("beta", "dev", "ASIAEXAMPLEBET00001", f"{D}12:00:00Z")
    return _two_hops() + [
        rec("UpdateLoginProfile", "iam.amazonaws.com", f"{D}10:30:00Z", a,
            params={"userName": "bob"}, event_id="w-6-reset-bob"),
        _login(f"{D}11:00:00Z", "bob", "w-7-bob-login"),
        _console_call(f"{D}11:01:00Z", "bob", "ASIAEXAMPLEBOB00001", f"{D}11:00:00Z", "w-8-bob-call"),
        rec("CreateAccessKey", "iam.amazonaws.com", f"{D}12:10:00Z", b,
            params={"userName": "backdoor"},
            response={"accessKey": {"accessKeyId": BACKDOOR, "userName": "backdoor",
                                    "status": "Active"}}, event_id="w-9-create-key"),
        call("ListBuckets", f"{D}12:30:00Z", user(BACKDOOR, "backdoor"), event_id="w-10-backdoor"),
        call("ListUsers", f"{D}13:00:00Z", user(BACKDOOR, "backdoor"), event_id="w-11-backdoor"),
    ]


@pytest.fixture(scope="module")
def trail_store(tmp_path_factory):
    return ingest(tmp_path_factory.mktemp("windows"), _trail())


def restricted(store, seed: str, since: int | None, until: int | None) -> dict:
    """The unwindowed answer restricted to [since, until], as the module docstring says."""
    full = blast_radius(store, seed)
    parent = {link["to"]: (link["from"], link["time"]) for link in full.lineage}
    start = seed_credentials(store, Seed.of(None, seed))

    def derived_in_window(c: str) -> bool:
        while c in parent and c not in start:
            c, t = parent[c]
            if until is not None and t is not None and at(t) > until:
                return False
        return True

    creds = {c for c in set(start) | set(parent) if derived_in_window(c)}
    rows = timeline(store, seed, lineage=True)
    times = [at(t) for t in rows["time"]]
    keep = [r.actor in creds and (since is None or t >= since) and (until is None or t <= until)
            for r, t in zip(rows.itertuples(), times, strict=True)]
    rows = rows[keep]
    sess = store.session_info
    active = set(rows["actor"])
    sessions = sorted(c for c in creds if c in sess and (
        since is None and until is None or c in active
        or (sess[c]["issued"] is not None and (since is None or sess[c]["issued"] >= since)
            and (until is None or sess[c]["issued"] <= until))))
    issued_by = {e for s in sessions if s not in start for e in sess[s]["event_ids"] or []}
    keys = {c[4:] for c in creds if c.startswith("key:")}
    keys |= {sess[c]["access_key_id"] for c in creds if c in sess and sess[c]["access_key_id"]}
    return {"timeline": list(rows["event_id"]), "sessions": sessions,
            "event_ids": sorted(set(rows["event_id"]) | issued_by), "calls": len(rows),
            "access_keys": sorted(keys),
            "lineage": [link for link in full.lineage if link["to"] in creds]}


def check_window(store, seed: str, since: int | None, until: int | None) -> None:
    want = restricted(store, seed, since, until)
    got_rows = timeline(store, seed, lineage=True, since=since, until=until)
    assert list(got_rows["event_id"]) == want["timeline"]
    assert list(got_rows["time"]) == sorted(got_rows["time"])
    br = blast_radius(store, seed, since=since, until=until)
    assert br.sessions == want["sessions"]
    assert br.event_ids == want["event_ids"]
    assert br.calls == want["calls"]
    assert br.access_keys == want["access_keys"]
    assert br.lineage == want["lineage"]
    if want["timeline"]:
        assert (br.first_seen, br.last_seen) == (got_rows["time"].iloc[0], got_rows["time"].iloc[-1])
    else:
        assert (br.first_seen, br.last_seen) == (None, None)


_T0, _T1 = at(f"{D}09:30:00Z") // SECOND, at(f"{D}13:30:00Z") // SECOND
_bound = st.one_of(st.none(), st.integers(_T0, _T1).map(lambda s: s * SECOND))


@WINDOWED
@given(since=_bound, until=_bound)
def test_windowed_answer_is_the_restricted_answer(trail_store, since, until):
    check_window(trail_store, DEV_KEY, since, until)


@pytest.mark.parametrize("since, until", [
    (None, None),
    (None, f"{D}10:45:00Z"),  # bob's console session derived at 11:00: cut
    (f"{D}11:00:00Z", f"{D}12:05:00Z"),  # beta issued, alpha active; no backdoor key yet
    (f"{D}12:20:00Z", None),  # only the backdoor key's calls (derived before the window)
    (f"{D}10:40:00Z", f"{D}10:50:00Z"),  # nothing happens
])
def test_window_edges(trail_store, since, until):
    check_window(trail_store, DEV_KEY, at(since), at(until))


def test_window_cuts_the_derived_key(trail_store):
    """The backdoor key made in the window counts; made after ``until``, it is not the seed's yet."""
    assert BACKDOOR in blast_radius(trail_store, DEV_KEY, until=at(f"{D}12:10:00Z")).access_keys
    early = blast_radius(trail_store, DEV_KEY, until=at(f"{D}12:09:59Z"))
    assert BACKDOOR not in early.access_keys and "w-9-create-key" not in early.event_ids
    late = blast_radius(trail_store, DEV_KEY, since=at(f"{D}12:20:00Z"))
    assert late.event_ids == ["w-10-backdoor", "w-11-backdoor"] and late.sessions == []
