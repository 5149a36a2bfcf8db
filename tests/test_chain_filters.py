"""``graphtrail chains`` filters on a trail where each filter changes the answer.

Three chains::

    dev  (AKIA..DEV) -> alpha 10:00 -> beta (other account) 11:00 -> gamma 11:30   3 hops, cross
    ops  (AKIA..OPS) -> alpha 10:30                                                1 hop
    GitHub OIDC      -> deploy 09:00                                               1 hop, no account

Ordered longest first, then by the first hop's time. Every test builds its own trail.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphtrail.queries.chains import chains
from graphtrail.queries.seeds import parse_time_bound as at
from tests.test_linking_cases import _github
from tests.trails import (
    ACCT,
    OTHER,
    assume_role,
    assumed,
    console_user,
    ingest,
    owner_copy,
    rec,
    role_arn,
    user,
)

DEV_KEY, OPS_KEY = "AKIAEXAMPLEDEV00001", "AKIAEXAMPLEOPS00001"
DEV_ARN, OPS_ARN = f"arn:aws:iam::{ACCT}:user/dev", f"arn:aws:iam::{ACCT}:user/ops"
ALPHA, BETA, GAMMA = role_arn("alpha"), role_arn("beta", OTHER), role_arn("gamma", OTHER)
D = "2024-05-01T"


def _trail() -> list[dict]:
    a = assumed("alpha", "dev", "ASIAEXAMPLEALP00001", f"{D}10:00:00Z")
    b = assumed("beta", "dev", "ASIAEXAMPLEBET00001", f"{D}11:00:00Z", OTHER)
    return [
        _github(f"{D}09:00:00Z", "deploy", "ASIAEXAMPLEGHA00001", f"{D}10:00:00Z", "h-0-deploy"),
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "alpha", "dev", "ASIAEXAMPLEALP00001",
                    f"{D}13:00:00Z", duration=10800, event_id="h-1-alpha"),
        assume_role(f"{D}10:30:00Z", user(OPS_KEY, "ops"), "alpha", "ops", "ASIAEXAMPLEALP00002",
                    f"{D}11:30:00Z", event_id="h-2-ops-alpha"),
        assume_role(f"{D}11:00:00Z", a, "beta", "dev", "ASIAEXAMPLEBET00001", f"{D}12:00:00Z",
                    account=OTHER, event_id="h-3-beta"),
        assume_role(f"{D}11:30:00Z", b, "gamma", "dev", "ASIAEXAMPLEGAM00001", f"{D}12:30:00Z",
                    account=OTHER, event_id="h-4-gamma"),
    ]


@pytest.fixture
def store(tmp_path):
    return ingest(tmp_path, _trail())


def _paths(found) -> list[list[str]]:
    return [c.path[1:] for c in found]


def test_every_chain_longest_first_then_by_time(store):
    got = chains(store)
    assert _paths(got) == [[ALPHA, BETA, GAMMA], [role_arn("deploy")], [ALPHA]]
    assert got[0].path[0] == DEV_ARN and got[2].path[0] == OPS_ARN
    assert [h["event_id"] for h in got[0].hops] == ["h-1-alpha", "h-3-beta", "h-4-gamma"]
    assert [h["access_key_id"] for h in got[0].hops] == [DEV_KEY, "ASIAEXAMPLEALP00001",
                                                        "ASIAEXAMPLEBET00001"]
    assert [(h["from_account"], h["to_account"]) for h in got[0].hops] == [
        (ACCT, ACCT), (ACCT, OTHER), (OTHER, OTHER)]
    assert [c.cross_account for c in got] == [True, False, False]
    assert got[0].sessions == [h["session"] for h in got[0].hops]
    assert got[0].origin_credential == f"key:{DEV_KEY}"
    d = got[0].to_dict()
    assert d["cross_account"] is True and d["path"] == [DEV_ARN, ALPHA, BETA, GAMMA]
    assert d["sessions"] == got[0].sessions and d["hops"] == got[0].hops


@pytest.mark.parametrize("min_hops, want", [
    (0, 3), (1, 3), (2, 1), (3, 1), (4, 0)])
def test_min_hops(store, min_hops, want):
    got = chains(store, min_hops=min_hops)
    assert len(got) == want
    assert all(len(c.hops) >= min_hops for c in got)


def test_cross_account_needs_two_known_accounts(store):
    got = chains(store, cross_account=True)
    assert _paths(got) == [[ALPHA, BETA, GAMMA]]


def test_to_cuts_the_chain_at_the_role(store):
    (c,) = chains(store, to=BETA)
    assert c.path == [DEV_ARN, ALPHA, BETA]
    assert [h["to"] for h in c.hops] == [ALPHA, BETA] and len(c.sessions) == 2
    assert c.cross_account and c.origin_credential == f"key:{DEV_KEY}"
    got = chains(store, to=ALPHA)
    assert [c.path for c in got] == [[DEV_ARN, ALPHA], [OPS_ARN, ALPHA]]
    assert [len(c.hops) for c in got] == [1, 1]
    assert chains(store, to=role_arn("nobody")) == []


@pytest.mark.parametrize("origin, want", [
    (DEV_KEY, [[ALPHA, BETA, GAMMA]]),
    (DEV_ARN, [[ALPHA, BETA, GAMMA]]),
    (OPS_KEY, [[ALPHA]]),
    ("ASIAEXAMPLEALP00001", []),  # the second hop's key is not where a chain starts
    ("ASIAEXAMPLEBET00001", []),
])
def test_from_matches_the_first_hop_only(store, origin, want):
    assert _paths(chains(store, origin=origin)) == want


def test_since_keeps_chains_with_a_hop_at_or_after_it(store):
    assert _paths(chains(store, since=at(f"{D}10:45:00Z"))) == [[ALPHA, BETA, GAMMA]]
    assert _paths(chains(store, since=at(f"{D}10:30:00Z"))) == [[ALPHA, BETA, GAMMA], [ALPHA]]
    assert chains(store, since=at(f"{D}11:30:01Z")) == []


def test_until_keeps_chains_whose_first_hop_is_before_it(store):
    assert _paths(chains(store, until=at(f"{D}10:15:00Z"))) == [[ALPHA, BETA, GAMMA],
                                                                 [role_arn("deploy")]]
    assert _paths(chains(store, until=at(f"{D}10:30:00Z"))) == [[ALPHA, BETA, GAMMA],
                                                                 [role_arn("deploy")], [ALPHA]]
    assert chains(store, until=at(f"{D}08:59:59Z")) == []


def test_through_keeps_the_chains_with_a_hop_in_a_session(store):
    """What a report asks: the chains through a lineage's sessions, the same as filtering
    every chain, without walking the others."""
    every = chains(store)
    for sessions in ({s for c in every for s in c.sessions}, set(every[0].sessions[1:2]),
                     set(every[2].sessions), {"session:nobody"}, set()):
        want = [c.sessions for c in every if sessions.intersection(c.sessions)]
        assert [c.sessions for c in chains(store, through=sessions)] == want
    assert _paths(chains(store, through=every[0].sessions[2:])) == [[ALPHA, BETA, GAMMA]]


def test_filters_combine(store):
    assert _paths(chains(store, cross_account=True, to=ALPHA)) == []
    assert _paths(chains(store, origin=DEV_KEY, to=BETA, min_hops=2)) == [[ALPHA, BETA]]
    assert _paths(chains(store, origin=DEV_KEY, to=BETA, min_hops=3)) == []


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    return ingest(tmp_path_factory.mktemp("chains"), _trail())


_HOPS = [at(f"{D}{t}") for t in ("09:00:00Z", "10:00:00Z", "10:30:00Z", "11:00:00Z", "11:30:00Z")]
_times = st.one_of(st.none(), st.integers(_HOPS[0] - 3_600_000_000, _HOPS[-1] + 3_600_000_000))


@settings(max_examples=50, deadline=None, derandomize=True)
@given(since=_times, until=_times)
def test_window_on_hops(shared_store, since, until):
    """A chain is kept when a hop is at or after ``since`` and its first hop is not after ``until``."""
    store = shared_store
    every = chains(store)
    got = chains(store, since=since, until=until)
    hop_times = {tuple(c.sessions): [at(h["time"]) for h in c.hops] for c in every}
    want = [c.sessions for c in every
            if (since is None or max(hop_times[tuple(c.sessions)]) >= since)
            and (until is None or hop_times[tuple(c.sessions)][0] <= until)]
    assert [c.sessions for c in got] == want


def _branching(deeper: bool) -> list[dict]:
    """ops -> alpha 10:30, which issues epsilon 10:45 and delta (other account) 10:50."""
    a = assumed("alpha", "ops", "ASIAEXAMPLEALP00002", f"{D}10:30:00Z")
    records = [
        assume_role(f"{D}10:30:00Z", user(OPS_KEY, "ops"), "alpha", "ops", "ASIAEXAMPLEALP00002",
                    f"{D}12:30:00Z", duration=7200, event_id="b-1-alpha"),
        assume_role(f"{D}10:45:00Z", a, "epsilon", "ops", "ASIAEXAMPLEEPS00001", f"{D}11:45:00Z",
                    event_id="b-2-epsilon"),
        assume_role(f"{D}10:50:00Z", a, "delta", "ops", "ASIAEXAMPLEDEL00001", f"{D}11:50:00Z",
                    account=OTHER, event_id="b-3-delta"),
    ]
    if deeper:
        d = assumed("delta", "ops", "ASIAEXAMPLEDEL00001", f"{D}10:50:00Z", OTHER)
        records.append(assume_role(f"{D}11:00:00Z", d, "zeta", "ops", "ASIAEXAMPLEZET00001",
                                   f"{D}12:00:00Z", account=OTHER, event_id="b-4-zeta"))
    return records


EPSILON, DELTA, ZETA = role_arn("epsilon"), role_arn("delta", OTHER), role_arn("zeta", OTHER)


def test_branches_of_one_session_each_filtered_on_their_own(tmp_path):
    """Two chains from one session: same length and first hop, ordered by when they branched."""
    store = ingest(tmp_path, _branching(deeper=False))
    assert _paths(chains(store)) == [[ALPHA, EPSILON], [ALPHA, DELTA]]
    assert _paths(chains(store, to=DELTA)) == [[ALPHA, DELTA]]
    assert _paths(chains(store, to=ALPHA)) == [[ALPHA]]  # both branches cut to one chain
    assert _paths(chains(store, cross_account=True)) == [[ALPHA, DELTA]]
    assert _paths(chains(store, since=at(f"{D}10:48:00Z"))) == [[ALPHA, DELTA]]
    hop = chains(store)[0].hops[0]
    assert set(hop) == {"from", "to", "time", "event_id", "event_ids", "access_key_id",
                        "from_account", "to_account", "session", "via", "session_name",
                        "source_identity"}
    assert (hop["from"], hop["to"], hop["time"], hop["session_name"]) == (
        OPS_ARN, ALPHA, f"{D}10:30:00Z", "ops")


def test_min_hops_on_a_branch(tmp_path):
    store = ingest(tmp_path, _branching(deeper=True))
    assert _paths(chains(store)) == [[ALPHA, DELTA, ZETA], [ALPHA, EPSILON]]
    assert _paths(chains(store, min_hops=3)) == [[ALPHA, DELTA, ZETA]]


def test_chain_origins_an_account_a_console_user_and_a_session_issued_elsewhere(tmp_path):
    """Where a chain starts when no access key did: the account (only the role owner's copy),
    the console user (switch role), the role of a session issued outside the logs."""
    lost = assume_role(f"{D}10:00:00Z", user(DEV_KEY), "audit", "dev", "ASIAEXAMPLEAUD00001",
                       f"{D}11:00:00Z", account=OTHER, event_id="o-1-missing")
    console = console_user("ASIAEXAMPLEBOB00001", f"{D}09:00:00Z", "bob")
    records = [
        owner_copy(lost, "AIDAEXAMPLEDEV000000", ACCT, "o-2-owner-copy"),
        rec("ConsoleLogin", "signin.amazonaws.com", f"{D}09:00:00Z", user(None, "bob"),
            response={"ConsoleLogin": "Success"}, event_id="o-3-login",
            extra={"eventType": "AwsConsoleSignIn"}),
        assume_role(f"{D}09:05:00Z", console, "admin", "bob", "ASIAEXAMPLEADM00001",
                    f"{D}10:05:00Z", event_id="o-4-switch-role"),
        assume_role(f"{D}12:00:00Z", assumed("batch", "job", "ASIAEXAMPLEJOB00001", f"{D}11:30:00Z"),
                    "etl", "job", "ASIAEXAMPLEETL00001", f"{D}13:00:00Z", event_id="o-5-from-orphan"),
    ]
    store = ingest(tmp_path, records)
    got = {c.hops[0]["event_id"]: c for c in chains(store)}
    assert set(got) == {"o-2-owner-copy", "o-4-switch-role", "o-5-from-orphan"}
    c = got["o-2-owner-copy"]
    assert c.path == [ACCT, role_arn("audit", OTHER)] and c.origin_credential == f"account:{ACCT}"
    assert (c.hops[0]["from_account"], c.hops[0]["to_account"]) == (ACCT, OTHER) and c.cross_account
    c = got["o-4-switch-role"]
    assert c.path == [f"arn:aws:iam::{ACCT}:user/bob", role_arn("admin")]
    assert c.hops[0]["from_account"] == ACCT and c.hops[0]["access_key_id"] == "ASIAEXAMPLEBOB00001"
    assert not c.cross_account
    c = got["o-5-from-orphan"]
    assert c.path == [role_arn("batch"), role_arn("etl")] and c.origin_credential is None
    assert c.hops[0]["from"] == role_arn("batch") and c.hops[0]["from_account"] == ACCT
    assert c.hops[0]["access_key_id"] == "ASIAEXAMPLEJOB00001"
