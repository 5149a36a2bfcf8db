"""The seed listings (keys, principals, roles, ips, accounts) against the scenario's ground
truth and against an independent pandas reading of the case's events."""

from __future__ import annotations

import pandas as pd
import pytest

from graphtrail.queries.inventory import LISTINGS, Window, list_seeds
from graphtrail.queries.seeds import parse_time_bound


def _calls(events: pd.DataFrame) -> pd.DataFrame:
    """The events as calls, with ``failed`` computed from the raw fields: an error code, or a
    console sign-in answered ``Failure`` (which logs no error code)."""
    login_failed = (events["event_name"] == "ConsoleLogin") & events["response_elements"].fillna("").str.contains(
        "Failure", regex=False)
    return events.assign(failed=events["error_code"].notna() | login_failed,
                         us=events["time"].astype("int64"))


@pytest.fixture(scope="module")
def events(scenario) -> pd.DataFrame:
    store, _ = scenario
    return _calls(store.case.events_df(["event_id", "time", "event_name", "error_code",
                                        "response_elements", "source_ip", "recipient_account_id",
                                        "account_id", "region", "access_key_id", "identity_type"]))


def _expected(events: pd.DataFrame, by: str) -> pd.DataFrame:
    e = events[events[by].notna()]
    return e.groupby(by).agg(calls=("event_id", "size"), errors=("failed", "sum"),
                             first=("us", "min"), last=("us", "max"),
                             accounts=("recipient_account_id", lambda a: sorted(set(a.dropna()))))


def _us(ts: pd.Series) -> pd.Series:
    return ts.map(lambda t: t.value // 1000 if not pd.isna(t) else None)


# -- exact values, independently -----------------------------------------------------------

def test_ips_match_a_count_of_the_events(scenario, events):
    store, _ = scenario
    got = list_seeds(store, "ips").set_index("ip")
    want = _expected(events, "source_ip")
    assert sorted(got.index) == sorted(want.index)
    assert (got["calls"] == want.loc[got.index, "calls"]).all()
    assert (got["errors"] == want.loc[got.index, "errors"]).all()
    assert (_us(got["first_seen"]) == want.loc[got.index, "first"]).all()
    assert (_us(got["last_seen"]) == want.loc[got.index, "last"]).all()
    assert list(got["accounts"]) == list(want.loc[got.index, "accounts"])


def test_accounts_match_a_count_of_the_events(scenario, events):
    store, _ = scenario
    got = list_seeds(store, "accounts").set_index("account")
    want = _expected(events, "recipient_account_id")
    regions = events.groupby("recipient_account_id")["region"].agg(lambda r: sorted(set(r)))
    assert sorted(got.index) == sorted(want.index)
    for acct in got.index:
        assert got.loc[acct, "calls"] == want.loc[acct, "calls"]
        assert got.loc[acct, "errors"] == want.loc[acct, "errors"]
        assert got.loc[acct, "regions"] == regions[acct]
    assert got["calls"].sum() == len(events)


def test_key_calls_match_the_events_that_name_the_key(scenario, events):
    """Summed over sessions (a recycled key id is one row per session), each key's calls are
    the events signed with that key, plus the role owner's copies of cross-account calls
    (``userIdentity.type: AWSAccount``, no key) that linking tied to one of its sessions."""
    store, _ = scenario
    got = list_seeds(store, "keys")
    per_key = got.groupby("access_key").agg(calls=("calls", "sum"), errors=("errors", "sum"))
    want = _expected(events[events["identity_type"] != "AWSAccount"], "access_key_id")
    linked = events[events["identity_type"] == "AWSAccount"].merge(
        store.activity(["event_id", "actor"]).to_pandas(), on="event_id")
    linked = linked[linked["actor"].str.startswith("session:", na=False)]
    copies = linked["actor"].str.slice(8, 28).value_counts()
    assert len(copies) >= 2  # the scenario's cross-account hops
    want["calls"] += copies.reindex(want.index, fill_value=0)
    assert sorted(per_key.index[per_key["calls"] > 0]) == sorted(want.index)
    assert per_key.loc[want.index, "calls"].to_dict() == want["calls"].to_dict()
    assert per_key.loc[want.index, "errors"].to_dict() == want["errors"].to_dict()


# -- against the ground truth --------------------------------------------------------------

def test_the_leaked_key_its_sessions_and_the_backdoor_key(scenario, events):
    store, truth = scenario
    keys = list_seeds(store, "keys").set_index("session", drop=False)
    leaked = keys[keys["access_key"] == truth.leaked_key].iloc[0]
    assert leaked["type"] == "long-term" and leaked["owner"] == truth.leaked_user
    assert leaked["owner_type"] == "User" and leaked["session"] is None
    assert leaked["calls"] == (events["access_key_id"] == truth.leaked_key).sum()
    for s in truth.session_keys:
        row = keys[keys["access_key"] == s["key"]].iloc[0]
        assert row["type"] == "temporary" and row["owner"] == s["role_arn"]
        assert row["owner_type"] == "Role" and row["issued_via"] == "AssumeRole"
        assert sorted(row["issued_by"]) == sorted(s["sts_event_ids"])
        assert row["issued"] == pd.Timestamp(s["issued_at"])
    backdoor = next(c for c in truth.created if c["type"] == "AccessKey")
    row = keys[keys["access_key"] == backdoor["id"]].iloc[0]
    assert row["issued_by"] == [backdoor["event_id"]] and row["issued_via"] == "CreateAccessKey"
    assert row["owner"] == next(c["id"] for c in truth.created if c["type"] == "User")
    assert row["calls"] == len(backdoor["used_event_ids"])


def test_a_recycled_key_is_one_row_per_session(scenario):
    store, truth = scenario
    rk = truth.recycled_key
    rows = list_seeds(store, "keys", Window(like=rk["key"]))
    assert len(rows) == len(rk["sessions"]) == 2
    by_role = {r["owner"]: r for r in rows.to_dict("records")}
    for s in rk["sessions"]:
        row = by_role[s["role_arn"]]
        assert row["calls"] == len(s["event_ids"]) and row["issued_by"] == [s["sts_event_id"]]
        assert row["first_seen"] >= pd.Timestamp(s["issued_at"])


def test_roles_say_who_assumed_them(scenario):
    store, truth = scenario
    roles = list_seeds(store, "roles").set_index("role")
    hops = truth.chain
    assert truth.leaked_user in roles.loc[hops[0].role_arn, "assumed_by"]
    for prev, hop in zip(hops, hops[1:], strict=False):
        assert prev.role_arn in roles.loc[hop.role_arn, "assumed_by"]
    instance = truth.instance_profile_session
    assert "service:ec2.amazonaws.com" in roles.loc[instance["role_arn"], "assumed_by"]
    sessions = pd.DataFrame(store.session_info.values())
    counts = sessions[sessions["principal_kind"] == "Role"].groupby("principal")["session"].nunique()
    assert roles["sessions"].to_dict() == counts.to_dict()


def test_the_attackers_addresses(scenario):
    store, truth = scenario
    ips = list_seeds(store, "ips").set_index("ip")
    first = ips.loc[truth.attacker_ips[0]]
    assert truth.leaked_key in first["keys"] and truth.leaked_user in first["principals"]
    assert {s["key"] for s in truth.session_keys} <= set(first["keys"])
    backdoor = next(c["id"] for c in truth.created if c["type"] == "AccessKey")
    assert backdoor in ips.loc[truth.attacker_ips[1], "keys"]


def test_principals_count_their_keys_and_sessions(scenario, events):
    store, truth = scenario
    rows = list_seeds(store, "principals").set_index("principal")
    leaked = rows.loc[truth.leaked_user]
    assert leaked["type"] == "User" and leaked["keys"] == 1 and leaked["sessions"] == 0
    assert leaked["calls"] == (events["access_key_id"] == truth.leaked_key).sum()
    benign = rows.loc[truth.benign_principal]
    own = [k for k in truth.benign_keys if k.startswith("AKIA")]
    assert benign["keys"] == len(own) == 1
    # The benign user's temporary keys are sessions of roles she (or her sessions) assumed.
    keys = list_seeds(store, "keys").set_index("access_key")
    roles = list_seeds(store, "roles").set_index("role")
    temporary = set(truth.benign_keys) - set(own)
    lineage = {truth.benign_principal} | {keys.loc[k, "owner"] for k in temporary}
    issuers = {keys.loc[k, "issuer"] for k in temporary}
    assert truth.benign_principal in issuers and issuers <= lineage
    for k in temporary:
        assert keys.loc[k, "issuer"] in roles.loc[keys.loc[k, "owner"], "assumed_by"]


# -- filters -------------------------------------------------------------------------------

def test_window_account_like_sort_limit(scenario, events):
    store, truth = scenario
    hop = truth.chain[0]
    lo, hi = parse_time_bound("2024-06-12T09:00:00Z"), parse_time_bound("2024-06-12T10:00:00Z")
    got = list_seeds(store, "ips", Window(since=lo, until=hi)).set_index("ip")
    inside = events[(events["us"] >= lo) & (events["us"] <= hi)]
    assert got["calls"].to_dict() == inside.groupby("source_ip").size().to_dict()
    acct = hop.from_account
    mine = list_seeds(store, "accounts", Window(account=acct))
    assert list(mine["account"]) == [acct]
    keys = list_seeds(store, "keys", Window(account=acct))
    issued_from = {s["session"] for s in store.session_info.values() if s["issuer_account"] == acct}
    for row in keys.to_dict("records"):  # its own, used in it, or issued by a caller from it
        assert row["account"] == acct or acct in row["accounts"] or row["session"] in issued_from, row
    assert list_seeds(store, "roles", Window(like="*DeployRole"))["role"].tolist() == [hop.role_arn]
    assert list_seeds(store, "roles", Window(like="deployrole"))["role"].tolist() == [hop.role_arn]
    top = list_seeds(store, "principals", Window(limit=3))
    assert len(top) == 3 and top["calls"].is_monotonic_decreasing
    early = list_seeds(store, "keys", Window(sort="first_seen"))["first_seen"].dropna()
    assert early.is_monotonic_increasing
    late = list_seeds(store, "keys", Window(sort="last_seen"))["last_seen"].dropna()
    assert late.is_monotonic_decreasing


@pytest.mark.parametrize("what", sorted(LISTINGS))
def test_nothing_in_the_window_is_an_empty_listing(scenario, what):
    store, _ = scenario
    empty = list_seeds(store, what, Window(since=parse_time_bound("2031-01-01")))
    assert empty.empty and len(empty.columns) > 4


def test_the_investigation_api(scenario):
    import graphtrail

    store, truth = scenario
    inv = graphtrail.open_case(store.case.path)
    df = inv.seeds("keys", like=truth.leaked_key)
    assert df["owner"].tolist() == [truth.leaked_user]
    assert isinstance(df["first_seen"].dtype, pd.DatetimeTZDtype)
    with pytest.raises(ValueError, match="unknown listing"):
        inv.seeds("users")


def test_every_dataset_lists(datasets_case):
    """The public datasets: every listing answers, and calls add up to the events."""
    store = datasets_case
    n = store.case.event_count()
    for what in LISTINGS:
        df = list_seeds(store, what)
        assert not df.empty, what
        assert df["calls"].ge(0).all() and (df["errors"] <= df["calls"]).all()
    assert list_seeds(store, "accounts")["calls"].sum() == n - store.case.events_df(
        ["recipient_account_id"])["recipient_account_id"].isna().sum()
