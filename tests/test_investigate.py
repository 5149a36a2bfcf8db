"""Blast radius, chains and timeline against scenarios whose ground truth is known."""

from __future__ import annotations

import shutil

import pytest

from graphtrail.model import EdgeKind
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.seeds import SeedError
from graphtrail.queries.timeline import timeline
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.scenarios import build_scenario
from tests.conftest import ingest_paths


def test_blast_radius_of_leaked_key_is_exactly_the_attackers(scenario):
    store, truth = scenario
    br = blast_radius(store, truth.leaked_key)
    assert set(br.event_ids) == set(truth.attacker_event_ids)
    assert not set(br.event_ids) & set(truth.benign_event_ids)
    assert br.roles == sorted(h.role_arn for h in truth.chain)
    assert {k["key"] for k in truth.session_keys} <= set(br.access_keys)
    assert set(truth.attacker_ips) >= set(br.ips) and br.ips
    assert {"111111111111", "222222222222", "333333333333"} <= set(br.accounts)


def test_failed_assume_role_is_attempted_never_a_hop(scenario):
    store, truth = scenario
    br = blast_radius(store, truth.leaked_key)
    assert br.attempted_roles and all(":444444444444:" in r for r in br.attempted_roles)
    assert not set(br.attempted_roles) & set(br.roles)
    assert set(truth.failed_assume_role_event_ids) <= set(br.event_ids)
    for c in chains(store):
        assert not any(":444444444444:" in p for p in c.path)


def test_persistence_created_and_used_later(scenario):
    store, truth = scenario
    br = blast_radius(store, truth.leaked_key)
    got = {(c["type"], c["id"]): c for c in br.created}
    for want in truth.created:
        if want["type"] == "RoleTrust":  # a trust change: reported among policy changes
            change = next(c for c in br.policy_changes if c["target"] == want["id"])
            assert change["used_later"] is want["used_later"]
            assert change["event_id"] == want["event_id"]
            continue
        item = got[(want["type"], want["id"])]
        assert item["event_id"] == want["event_id"]
        assert item["used_later"] is want["used_later"], want
    assert set(truth.policy_changes) <= {c["event_id"] for c in br.policy_changes}


def test_the_cross_account_chain_is_the_one_walked(scenario):
    store, truth = scenario
    found = chains(store, origin=truth.leaked_key, cross_account=True)
    assert len(found) == 1
    c = found[0]
    assert c.path == [truth.leaked_user] + [h.role_arn for h in truth.chain]
    for hop, want in zip(c.hops, truth.chain, strict=True):
        assert hop["event_id"] in want.sts_event_ids
        assert set(hop["event_ids"]) <= set(want.sts_event_ids)
        assert hop["access_key_id"] == want.issued_by_key
        assert (hop["from_account"], hop["to_account"]) == (want.from_account, want.to_account)


def test_benign_user_on_the_same_roles_is_a_separate_chain(scenario):
    store, truth = scenario
    all_chains = chains(store)
    attacker_sessions = {
        h["session"] for c in chains(store, origin=truth.leaked_key) for h in c.hops
    }
    for c in all_chains:
        if c.path[0] == truth.benign_principal:
            assert not set(c.sessions) & attacker_sessions
    # every hop is made with the credential the previous hop issued: one lineage per chain
    for c in all_chains:
        for prev, nxt in zip(c.hops, c.hops[1:], strict=False):
            assert nxt["access_key_id"] == store.session_info[prev["session"]]["access_key_id"]
    benign = blast_radius(store, truth.benign_principal)
    assert not set(benign.event_ids) & set(truth.attacker_event_ids)


def test_to_cuts_chains_at_the_role(scenario):
    store, truth = scenario
    target = truth.chain[1].role_arn
    found = chains(store, to=target)
    assert found and all(c.path[-1] == target for c in found)
    origins = {c.path[0] for c in found}
    assert truth.leaked_user in origins and truth.benign_principal in origins
    assert all(len(c.hops) >= 2 for c in chains(store, min_hops=2))


def test_one_sided_hop_is_linked_by_principal_id(scenario):
    store, truth = scenario
    hop = truth.one_sided_hop
    c = chains(store, origin=truth.leaked_key)[0]
    linked = next(h for h in c.hops if hop["present_event_id"] in h["event_ids"])
    assert linked["to"] == truth.chain[hop["hop"] - 1].role_arn
    g = store.lineage
    issued = [
        d
        for _, _, k, d in g.in_edges(linked["session"], keys=True, data=True)
        if k == EdgeKind.ISSUED
    ]
    assert issued and "linked_by" in issued[0]
    # the chain says so for that hop, and only for it
    assert "linked_by" in linked
    assert not any("linked_by" in h for h in c.hops if h is not linked)


def test_recycled_temporary_key_makes_two_sessions(scenario):
    store, truth = scenario
    key = truth.recycled_key["key"]
    sessions = [
        s
        for s in store.session_info.values()
        if s["access_key_id"] == key and s["via"] != "unknown"
    ]
    assert len(sessions) == 2
    for want in truth.recycled_key["sessions"]:
        sid = next(s["session"] for s in sessions if want["sts_event_id"] in s["event_ids"])
        br = blast_radius(store, sid)
        assert set(want["event_ids"]) <= set(br.event_ids) | {want["sts_event_id"]}
        others = [w for w in truth.recycled_key["sessions"] if w is not want]
        assert not set(others[0]["event_ids"]) & set(br.event_ids)


def test_out_of_order_key_is_linked(scenario):
    store, truth = scenario
    ooo = truth.out_of_order_key
    assert ooo["first_use_file"] < ooo["sts_file"]
    row = timeline(store, ooo["key"])
    assert ooo["first_use_event_id"] in set(row["event_id"])
    actors = set(row[row["event_id"] == ooo["first_use_event_id"]]["actor"])
    sess = store.session_info[actors.pop()]
    assert ooo["sts_event_id"] in sess["event_ids"]


def test_duplicated_trails_are_counted_once(scenario):
    store, truth = scenario
    events = store.case.events(["event_id"])
    assert events.num_rows == truth.event_count
    assert set(truth.duplicate_event_ids) <= set(events.column("event_id").to_pylist())


def test_instance_profile_session(scenario):
    store, truth = scenario
    info = truth.instance_profile_session
    name = info.get("session_name") or info.get("instance_id")
    s = [x for x in store.session_info.values() if x["session_name"] == name]
    assert s and s[0]["issuer"] == "service:ec2.amazonaws.com"
    assert "ip:ec2.amazonaws.com" not in store.graph


def test_timeline_is_ordered_with_outcomes(scenario):
    store, truth = scenario
    df = timeline(store, truth.leaked_key, lineage=True)
    got, want = set(df["event_id"]), set(truth.attacker_event_ids)
    # everything but the role owners' copies of STS calls (evidence logged as AWSAccount)
    assert got <= want and want - got <= _sts_copies(truth)
    assert list(df["time"]) == sorted(df["time"])
    assert {"success"} < set(df["outcome"])
    ip_rows = timeline(store, truth.attacker_ips[0])
    assert (ip_rows["source_ip"] == truth.attacker_ips[0]).all()


def _sts_copies(truth) -> set[str]:
    return {e for h in truth.chain for e in h.sts_event_ids}


def test_time_window(scenario):
    store, truth = scenario
    from graphtrail.queries.seeds import parse_time_bound

    hop = truth.chain[1]
    since = parse_time_bound(hop.issued_at)
    br = blast_radius(store, truth.leaked_key, since=since)
    assert br.calls and br.first_seen >= hop.issued_at
    assert set(br.event_ids) < set(truth.attacker_event_ids)


def test_unknown_seed_is_a_clear_error(scenario):
    store, _ = scenario
    with pytest.raises(SeedError, match="not in this case"):
        blast_radius(store, "AKIAAAAAAAAAAAAAAAAA")


def test_answers_do_not_depend_on_file_order(tmp_path, scenario):
    _, truth = scenario
    logs = tmp_path / "logs"
    build_scenario(logs, seed=0, noise_events=2000)
    files = sorted(str(p) for p in logs.rglob("*") if p.is_file())
    a = ingest_paths(list(reversed(files)), tmp_path / "a")
    b = tmp_path / "b"
    half = len(files) // 2
    ingest_paths(files[half:], b)  # later files first, in two ingests
    ingest_paths(files[:half], b)
    for case in (a,):
        br = blast_radius(MemoryStore(case), truth.leaked_key)
        assert set(br.event_ids) == set(truth.attacker_event_ids)
    from graphtrail.store.case import Case

    br = blast_radius(MemoryStore(Case.open(b)), truth.leaked_key)
    assert set(br.event_ids) == set(truth.attacker_event_ids)
    shutil.rmtree(tmp_path, ignore_errors=True)


# -- real datasets -----------------------------------------------------------------------------
def test_stratus_issued_then_used_keys_are_linked(datasets_case):
    store = datasets_case
    ev = store.case.events_df(["event_id", "time", "event_name", "access_key_id", "issued_key",
                               "error_code", "source_file"])
    sts = ev[ev["source_file"].str.contains("/stratus/") & ev["issued_key"].notna()
             & ev["event_name"].isin(["AssumeRole", "GetFederationToken", "GetSessionToken"])]
    assert len(sts) == 9  # the datasets README: 9 STS calls return credentials
    act = store.activity(["event_id", "actor"]).to_pandas().set_index("event_id")["actor"]
    used = 0
    for _, row in sts.iterrows():
        uses = ev[(ev["access_key_id"] == row["issued_key"]) & (ev["time"] >= row["time"])]
        if uses.empty:
            continue
        used += 1
        actors = {act[e] for e in uses["event_id"]}
        assert len(actors) == 1
        session = store.session_info[actors.pop()]
        assert row["event_id"] in session["event_ids"], row["issued_key"]
    assert used == 5  # ... and 5 of those keys are used later


def test_traildiscover_masked_keys_link_nothing(datasets_case):
    store = datasets_case
    assert "key:AKIA****************" not in store.graph
    assert not any("****" in s for s in store.session_info)
    act = store.activity(["actor", "source_file"]).to_pandas()
    td = act[act["source_file"].str.contains("traildiscover")]
    assert not td["actor"].fillna("").str.contains(r"\*\*\*\*").any()


def test_answers_as_frames_and_reprs(scenario):
    """In Python, answers read as tables: tz-aware times, None for missing, a readable repr."""
    store, truth = scenario
    br = blast_radius(store, truth.leaked_key)
    df = br.to_frame()
    assert len(df) == len(br.events) and set(df["event_id"]) <= set(br.event_ids)
    assert str(df["time"].dt.tz) == "UTC" and df["time"].is_monotonic_increasing
    assert df["error_code"].map(lambda v: v is None or isinstance(v, str)).all()
    text = repr(br)
    assert truth.leaked_key in text and f"{br.calls:,} call" in text and "None" not in text
    found = [c for c in chains(store, cross_account=True) if len(c.hops) >= 2]
    assert found
    hops = found[0].to_frame()
    assert list(hops["hop"]) == list(range(1, len(found[0].hops) + 1))
    assert list(hops["to"]) == found[0].path[1:] and str(hops["time"].dt.tz) == "UTC"
    assert repr(found[0]).startswith("<Chain ") and "cross-account" in repr(found[0])
