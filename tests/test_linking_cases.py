"""The rarer linking cases, each a small hand-written trail with its expected answer.

Every test builds its own trail (no shared fixture), so a mutation of the linker is tested
by the test that states the rule it breaks (see README, "Mutation testing").
"""

from __future__ import annotations

import json

from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.seeds import parse_time_bound as at
from tests.trails import (
    ACCT,
    OTHER,
    USER_ARN,
    actor_of,
    assume_role,
    assumed,
    call,
    console_user,
    creds,
    ingest,
    owner_copy,
    principal_id,
    rec,
    role_arn,
    session_of,
    user,
)

DEV_KEY = "AKIAEXAMPLEDEV00001"
OPS_KEY = "AKIAEXAMPLEOPS00001"
GITHUB = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
D = "2024-05-01T"


def _github(t: str, role: str, key: str, exp: str, event_id: str) -> dict:
    sub = "repo:corp/app:ref:refs/heads/main"
    return rec("AssumeRoleWithWebIdentity", "sts.amazonaws.com", t,
               {"type": "WebIdentityUser", "principalId": f"{GITHUB}:sts.amazonaws.com:{sub}",
                "userName": sub, "identityProvider": GITHUB},
               params={"roleArn": role_arn(role), "roleSessionName": "GitHubActions"},
               response={"credentials": creds(key, exp), "subjectFromWebIdentityToken": sub,
                         "provider": GITHUB, "audience": "sts.amazonaws.com",
                         "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/GitHubActions"}},
               ip="20.1.2.3", event_id=event_id)


def test_web_identity_github_oidc_chain(tmp_path):
    """AssumeRoleWithWebIdentity issues a session; the chain starts at the identity provider."""
    deploy = assumed("deploy", "GitHubActions", "ASIAEXAMPLEGHA00001", f"{D}10:00:00Z")
    records = [
        _github(f"{D}09:00:00Z", "deploy", "ASIAEXAMPLEGHA00000", f"{D}10:00:00Z", "gh-1"),
        call("ListBuckets", f"{D}09:01:00Z",
             assumed("deploy", "GitHubActions", "ASIAEXAMPLEGHA00000", f"{D}09:00:00Z"),
             event_id="gh-1-call"),
        _github(f"{D}10:00:00Z", "deploy", "ASIAEXAMPLEGHA00001", f"{D}11:00:00Z", "gh-2"),
        assume_role(f"{D}10:02:00Z", deploy, "prod-admin", "deploy-prod", "ASIAEXAMPLEPRD00001",
                    f"{D}11:02:00Z", account=OTHER, event_id="gh-2-hop"),
        call("DescribeInstances", f"{D}10:03:00Z",
             assumed("prod-admin", "deploy-prod", "ASIAEXAMPLEPRD00001", f"{D}10:02:00Z", OTHER),
             account=OTHER, event_id="gh-2-prod-call"),
    ]
    store = ingest(tmp_path, records)
    s = session_of(store, "ASIAEXAMPLEGHA00001")
    assert s["via"] == "AssumeRoleWithWebIdentity" and s["issuer"].startswith("idp:")
    assert "token.actions.githubusercontent.com" in s["issuer"]
    assert s["principal"] == role_arn("deploy") and s["event_ids"] == ["gh-2"]
    assert actor_of(store, "gh-1-call") == session_of(store, "ASIAEXAMPLEGHA00000")["session"]

    got = chains(store)
    assert [c.path[1:] for c in got] == [[role_arn("deploy"), role_arn("prod-admin", OTHER)],
                                         [role_arn("deploy")]]
    long, short = got
    # the origin names the workload behind the token: provider and subject (repository, ref)
    assert long.path[0] == short.path[0] == (s["issuer"].removeprefix("idp:")
                                              + "/repo:corp/app:ref:refs/heads/main")
    assert long.origin["repository"] == "corp/app" and long.origin["ref"] == "refs/heads/main"
    assert "token.actions.githubusercontent.com" in long.path[0]
    assert long.hops[0]["from_account"] is None
    assert [h["event_id"] for h in long.hops] == ["gh-2", "gh-2-hop"]
    assert [h["via"] for h in long.hops] == ["AssumeRoleWithWebIdentity", "AssumeRole"]
    # the provider has no account: only the deploy -> prod-admin hop crosses accounts
    assert long.cross_account and not short.cross_account
    assert [c.sessions for c in chains(store, cross_account=True)] == [long.sessions]


def test_issuer_is_the_callers_copy_not_the_role_owners_account(tmp_path):
    """Both copies of a cross-account AssumeRole: the caller's key issued it, not the account."""
    mine = assume_role(f"{D}10:00:00Z", user(DEV_KEY), "audit", "dev", "ASIAEXAMPLEAUD00001",
                       f"{D}11:00:00Z", account=OTHER, event_id="b-caller")
    theirs = owner_copy(mine, "AIDAEXAMPLEDEV000000", ACCT, "a-owner")  # sorts first
    used = assumed("audit", "dev", "ASIAEXAMPLEAUD00001", f"{D}10:00:00Z", OTHER)
    records = [theirs, mine] + [call("ListUsers", f"{D}10:0{i}:00Z", used, account=OTHER,
                                     event_id=f"c-audit-{i}") for i in range(1, 4)]
    store = ingest(tmp_path, records)
    s = session_of(store, "ASIAEXAMPLEAUD00001")
    assert s["issuer"] == f"key:{DEV_KEY}"
    assert sorted(s["event_ids"]) == ["a-owner", "b-caller"]
    br = blast_radius(store, DEV_KEY)
    assert br.sessions == [s["session"]]
    assert br.event_ids == ["a-owner", "b-caller", "c-audit-1", "c-audit-2", "c-audit-3"]
    assert br.accounts == [ACCT, OTHER] and br.roles == [role_arn("audit", OTHER)]
    assert br.calls == 4


def _two_hops() -> list[dict]:
    """dev -> role A at 10:00 (3 h) -> role B at 12:00; calls by each session."""
    a = assumed("alpha", "dev", "ASIAEXAMPLEALP00001", f"{D}10:00:00Z")
    b = assumed("beta", "dev", "ASIAEXAMPLEBET00001", f"{D}12:00:00Z")
    return [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "alpha", "dev", "ASIAEXAMPLEALP00001",
                    f"{D}13:00:00Z", duration=10800, event_id="w-1-assume-alpha"),
        call("ListBuckets", f"{D}10:05:00Z", a, event_id="w-2-alpha-call"),
        call("ListUsers", f"{D}10:20:00Z", a, event_id="w-3-alpha-call"),
        assume_role(f"{D}12:00:00Z", a, "beta", "dev", "ASIAEXAMPLEBET00001", f"{D}13:00:00Z",
                    event_id="w-4-assume-beta"),
        call("ListBuckets", f"{D}12:05:00Z", b, event_id="w-5-beta-call"),
    ]


def test_until_cuts_credentials_derived_after_it(tmp_path):
    store = ingest(tmp_path, _two_hops())
    alpha = session_of(store, "ASIAEXAMPLEALP00001")["session"]
    br = blast_radius(store, DEV_KEY, until=at(f"{D}11:00:00Z"))
    assert br.sessions == [alpha]
    assert br.access_keys == [DEV_KEY, "ASIAEXAMPLEALP00001"]
    assert [link["to"] for link in br.lineage] == [alpha]
    assert br.event_ids == ["w-1-assume-alpha", "w-2-alpha-call", "w-3-alpha-call"]
    full = blast_radius(store, DEV_KEY)
    assert len(full.sessions) == 2 and len(full.lineage) == 2


def test_session_issued_before_since_but_active_in_window_counts(tmp_path):
    store = ingest(tmp_path, _two_hops())
    alpha = session_of(store, "ASIAEXAMPLEALP00001")["session"]
    br = blast_radius(store, DEV_KEY, since=at(f"{D}10:10:00Z"), until=at(f"{D}11:00:00Z"))
    assert br.sessions == [alpha]
    assert br.event_ids == ["w-1-assume-alpha", "w-3-alpha-call"]
    assert br.first_seen == br.last_seen == f"{D}10:20:00Z" and br.calls == 1
    # beta issued in the window without acting in it: still a session of the answer
    # (alpha is too: the AssumeRole that issued beta is alpha's call)
    br = blast_radius(store, DEV_KEY, since=at(f"{D}11:59:00Z"), until=at(f"{D}12:01:00Z"))
    assert br.sessions == [alpha, session_of(store, "ASIAEXAMPLEBET00001")["session"]]
    assert br.event_ids == ["w-1-assume-alpha", "w-4-assume-beta"]  # + how alpha was issued
    # neither: not in the answer
    assert blast_radius(store, DEV_KEY, since=at(f"{D}10:30:00Z"), until=at(f"{D}11:00:00Z")).sessions == []


def test_seed_sessions_own_sts_call_is_not_its_doing(tmp_path):
    """A session's blast radius counts what it did; the AssumeRole that created it is cited as
    ``issued_by`` (and among the eventIDs, as the README says), not counted as its call."""
    store = ingest(tmp_path, _two_hops())
    br = blast_radius(store, "ASIAEXAMPLEALP00001")
    assert br.event_ids == ["w-1-assume-alpha", "w-2-alpha-call", "w-3-alpha-call",
                            "w-4-assume-beta", "w-5-beta-call"]
    assert [i["event_ids"] for i in br.issued_by] == [["w-1-assume-alpha"]]
    assert br.issued_by[0]["issuer"] == "key:AKIAEXAMPLEDEV00001"
    assert br.calls == 4  # its own calls only
    assert br.access_keys == ["ASIAEXAMPLEALP00001", "ASIAEXAMPLEBET00001"]


def test_recipient_account_counts_among_accounts(tmp_path):
    """A call into another account's resource (recipientAccountId) reaches that account."""
    records = [call("GetObject", f"{D}10:00:00Z", user(DEV_KEY), account=OTHER,
                    params={"bucketName": "shared-with-dev", "key": "a.csv"})]
    store = ingest(tmp_path, records)
    assert blast_radius(store, DEV_KEY).accounts == [ACCT, OTHER]


def _login(t: str, name: str, event_id: str) -> dict:
    return rec("ConsoleLogin", "signin.amazonaws.com", t, user(None, name),
               response={"ConsoleLogin": "Success"}, event_id=event_id,
               extra={"eventType": "AwsConsoleSignIn", "additionalEventData": {"MFAUsed": "No"}})


def _console_call(t: str, name: str, key: str, created: str, event_id: str) -> dict:
    return call("ListUsers", t, console_user(key, created, name), event_id=event_id,
                extra={"sessionCredentialFromConsole": "true"})


def _login_profile_trail() -> list[dict]:
    """bob: password reset by dev; carol: login profile created by dev; console on both sides."""
    return [
        _login(f"{D}08:00:00Z", "bob", "lp-01-bob-login-before"),
        _console_call(f"{D}08:01:00Z", "bob", "ASIAEXAMPLEBOB00001", f"{D}08:00:00Z", "lp-02-bob-before"),
        _login(f"{D}08:10:00Z", "carol", "lp-03-carol-login-before"),
        _console_call(f"{D}08:11:00Z", "carol", "ASIAEXAMPLECAR00001", f"{D}08:10:00Z", "lp-04-carol-before"),
        rec("UpdateLoginProfile", "iam.amazonaws.com", f"{D}09:00:00Z", user(DEV_KEY),
            params={"userName": "bob", "passwordResetRequired": False}, event_id="lp-05-update"),
        rec("CreateLoginProfile", "iam.amazonaws.com", f"{D}09:01:00Z", user(DEV_KEY),
            params={"userName": "carol", "passwordResetRequired": False},
            response={"loginProfile": {"userName": "carol"}}, event_id="lp-06-create"),
        _login(f"{D}09:30:00Z", "bob", "lp-07-bob-login-after"),
        _console_call(f"{D}09:31:00Z", "bob", "ASIAEXAMPLEBOB00002", f"{D}09:30:00Z", "lp-08-bob-after"),
        _login(f"{D}09:40:00Z", "carol", "lp-09-carol-login-after"),
        _console_call(f"{D}09:41:00Z", "carol", "ASIAEXAMPLECAR00002", f"{D}09:40:00Z", "lp-10-carol-after"),
    ]


def test_login_profile_changes_reach_only_later_console_sessions(tmp_path):
    store = ingest(tmp_path, _login_profile_trail())
    after = [session_of(store, "ASIAEXAMPLEBOB00002")["session"],
             session_of(store, "ASIAEXAMPLECAR00002")["session"]]
    br = blast_radius(store, DEV_KEY)
    assert br.sessions == sorted(after)
    assert br.event_ids == ["lp-05-update", "lp-06-create", "lp-07-bob-login-after",
                            "lp-08-bob-after", "lp-09-carol-login-after", "lp-10-carol-after"]
    assert {link["via"] for link in br.lineage} == {"CONSOLE_AFTER_CHANGE"}


def test_console_session_is_tied_to_the_latest_sign_in_before_it(tmp_path):
    store = ingest(tmp_path, _login_profile_trail())
    s = session_of(store, "ASIAEXAMPLEBOB00002")
    assert s["console"] and s["via"] == "ConsoleLogin"
    assert s["event_ids"] == ["lp-07-bob-login-after"]  # not the 08:00 sign-in
    assert session_of(store, "ASIAEXAMPLEBOB00001")["event_ids"] == ["lp-01-bob-login-before"]


def test_two_sign_ins_within_two_minutes_each_open_their_own_console_session(tmp_path):
    """Two ConsoleLogins 90 s apart, both inside the 120 s creation-date slack of each console
    session: each session is opened by the sign-in closest to its creation date."""
    records = [
        _login(f"{D}09:00:00Z", "bob", "t-1-login-first"),
        _login(f"{D}09:01:30Z", "bob", "t-2-login-second"),
        _console_call(f"{D}09:02:00Z", "bob", "ASIAEXAMPLEBOB00011", f"{D}09:00:00Z", "t-3-first"),
        _console_call(f"{D}09:03:00Z", "bob", "ASIAEXAMPLEBOB00012", f"{D}09:01:30Z", "t-4-second"),
    ]
    store = ingest(tmp_path, records)
    first = session_of(store, "ASIAEXAMPLEBOB00011")
    second = session_of(store, "ASIAEXAMPLEBOB00012")
    assert first["session"] != second["session"]
    assert first["via"] == second["via"] == "ConsoleLogin"
    assert first["event_ids"] == ["t-1-login-first"]
    assert second["event_ids"] == ["t-2-login-second"]


def _issued_then_recycled(job: str, tag: str) -> list[dict]:
    """``job`` issued at 10:00 for an hour and used at 10:05; used again at 14:05 with a
    14:00 creation date (an issue the logs lack)."""
    return [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "batch", "job", job, f"{D}11:00:00Z",
                    event_id=f"{tag}-1-assume"),
        call("ListBuckets", f"{D}10:05:00Z", assumed("batch", "job", job, f"{D}10:00:00Z"),
             event_id=f"{tag}-2-first"),
        call("ListBuckets", f"{D}14:05:00Z", assumed("batch", "job", job, f"{D}14:00:00Z"),
             event_id=f"{tag}-3-second"),
    ]


def test_recycled_key_whose_second_issue_is_missing(tmp_path):
    """A creation date with no issue at that time is a session the logs do not hold."""
    job = "ASIAEXAMPLEJOB00001"
    store = ingest(tmp_path, _issued_then_recycled(job, "r"))
    first = session_of(store, job, via="AssumeRole")["session"]
    assert actor_of(store, "r-2-first") == first
    second = actor_of(store, "r-3-second")
    assert second != first and store.session_info[second]["via"] == "unknown"
    assert blast_radius(store, DEV_KEY).event_ids == ["r-1-assume", "r-2-first"]


def test_creation_date_must_be_the_issue_time_even_inside_its_validity(tmp_path):
    """A key id issued twice; a use whose creationDate is half an hour after the first issue
    (a third issue the logs lack) is inside the first issue's validity, yet not that session."""
    job = "ASIAEXAMPLEJOB00003"
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "batch", "job", job, f"{D}12:00:00Z",
                    event_id="c-1-assume"),
        call("ListBuckets", f"{D}10:05:00Z", assumed("batch", "job", job, f"{D}10:00:00Z"),
             event_id="c-2-first"),
        assume_role(f"{D}13:00:00Z", user(DEV_KEY), "batch", "job", job, f"{D}14:00:00Z",
                    event_id="c-3-assume-again"),
        call("ListBuckets", f"{D}13:05:00Z", assumed("batch", "job", job, f"{D}13:00:00Z"),
             event_id="c-4-second"),
        call("GetObject", f"{D}10:40:00Z", assumed("batch", "job", job, f"{D}10:30:00Z"),
             event_id="c-5-unexplained"),
    ]
    store = ingest(tmp_path, records)
    first = actor_of(store, "c-2-first")
    assert first != actor_of(store, "c-4-second")
    odd = actor_of(store, "c-5-unexplained")
    assert odd not in (first, actor_of(store, "c-4-second"))
    assert store.session_info[odd]["via"] == "unknown"
    assert "c-5-unexplained" not in blast_radius(store, DEV_KEY).event_ids


def test_recycled_key_used_after_its_second_issue_expired(tmp_path):
    """A key id issued for 12 h, then again an hour later for 1 h. Calls carrying the second
    issue's creationDate are its own while it is valid; the one after it expired belongs to
    no issue in the logs, although the first issue of that key id is still valid then."""
    job = "ASIAEXAMPLEJOB00004"
    again = assumed("batch", "job", job, f"{D}11:00:00Z")
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "batch", "job", job, f"{D}22:00:00Z",
                    duration=43200, event_id="k-1-assume"),
        assume_role(f"{D}11:00:00Z", user(OPS_KEY, "ops"), "batch", "job", job, f"{D}12:00:00Z",
                    event_id="k-2-assume-again"),
        call("ListBuckets", f"{D}11:10:00Z", again, event_id="k-3-in"),
        call("GetObject", f"{D}13:00:00Z", again, event_id="k-4-after-expiry"),
    ]
    store = ingest(tmp_path, records)
    by_dev = session_of(store, job, issuer=f"key:{DEV_KEY}")["session"]
    by_ops = session_of(store, job, issuer=f"key:{OPS_KEY}")["session"]
    assert actor_of(store, "k-3-in") == by_ops
    late = actor_of(store, "k-4-after-expiry")
    assert late not in (by_dev, by_ops) and store.session_info[late]["via"] == "unknown"
    assert blast_radius(store, DEV_KEY).event_ids == ["k-1-assume"]
    assert blast_radius(store, OPS_KEY).event_ids == ["k-2-assume-again", "k-3-in"]


def test_recycled_key_without_creation_date(tmp_path):
    """No creationDate (stripped by an export): the validity window picks the issue."""
    job = "ASIAEXAMPLEJOB00002"
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "batch", "job", job, f"{D}11:00:00Z",
                    event_id="n-1-assume-dev"),
        call("ListBuckets", f"{D}10:10:00Z", assumed("batch", "job", job, None), event_id="n-2-dev"),
        assume_role(f"{D}14:00:00Z", user(OPS_KEY, "ops"), "batch", "job", job, f"{D}15:00:00Z",
                    event_id="n-3-assume-ops"),
        call("ListBuckets", f"{D}14:10:00Z", assumed("batch", "job", job, None), event_id="n-4-ops"),
        call("ListBuckets", f"{D}18:00:00Z", assumed("batch", "job", job, None), event_id="n-5-nobody"),
    ]
    store = ingest(tmp_path, records)
    by_dev = session_of(store, job, issuer=f"key:{DEV_KEY}")["session"]
    by_ops = session_of(store, job, issuer=f"key:{OPS_KEY}")["session"]
    assert actor_of(store, "n-2-dev") == by_dev
    assert actor_of(store, "n-4-ops") == by_ops
    assert actor_of(store, "n-5-nobody") not in (by_dev, by_ops)
    assert blast_radius(store, DEV_KEY).event_ids == ["n-1-assume-dev", "n-2-dev"]
    assert blast_radius(store, OPS_KEY).event_ids == ["n-3-assume-ops", "n-4-ops"]


def test_recycled_key_without_creation_date_outlives_its_first_issue(tmp_path):
    """Calls past the only issue's validity are not that session's."""
    job = "ASIAEXAMPLEJOB00003"
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "batch", "job", job, f"{D}11:00:00Z",
                    event_id="x-1-assume"),
        call("ListBuckets", f"{D}10:10:00Z", assumed("batch", "job", job, None), event_id="x-2-in"),
        call("ListBuckets", f"{D}14:10:00Z", assumed("batch", "job", job, None), event_id="x-3-out"),
    ]
    store = ingest(tmp_path, records)
    first = session_of(store, job, via="AssumeRole")["session"]
    assert actor_of(store, "x-2-in") == first
    assert actor_of(store, "x-3-out") != first
    assert blast_radius(store, DEV_KEY).event_ids == ["x-1-assume", "x-2-in"]


def test_clock_skew_at_the_validity_edges(tmp_path):
    """300 s of clock skew is allowed before the issue and after the expiry, not more."""
    k = "ASIAEXAMPLESKW00001"
    who = assumed("edge", "skew", k, None)
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "edge", "skew", k, f"{D}11:00:00Z",
                    event_id="s-0-assume"),
        call("ListBuckets", f"{D}09:54:59Z", who, event_id="s-1-early-out"),
        call("ListBuckets", f"{D}09:55:01Z", who, event_id="s-2-early-in"),
        call("ListBuckets", f"{D}11:04:59Z", who, event_id="s-3-late-in"),
        call("ListBuckets", f"{D}11:05:01Z", who, event_id="s-4-late-out"),
    ]
    store = ingest(tmp_path, records)
    sid = session_of(store, k, via="AssumeRole")["session"]
    assert [actor_of(store, e) == sid for e in ("s-1-early-out", "s-2-early-in", "s-3-late-in",
                                                "s-4-late-out")] == [False, True, True, False]
    assert blast_radius(store, DEV_KEY).event_ids == ["s-0-assume", "s-2-early-in", "s-3-late-in"]


def test_clock_skew_inside_the_slack_covers_every_call(tmp_path):
    """All calls of one identity inside the skewed validity: one session, no splitting."""
    k = "ASIAEXAMPLESKW00002"
    who = assumed("edge", "skew", k, None)
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "edge", "skew", k, f"{D}11:00:00Z",
                    event_id="i-0-assume"),
        call("ListBuckets", f"{D}09:55:01Z", who, event_id="i-1-early"),
        call("ListBuckets", f"{D}11:04:59Z", who, event_id="i-2-late"),
    ]
    store = ingest(tmp_path, records)
    sid = session_of(store, k, via="AssumeRole")["session"]
    assert actor_of(store, "i-1-early") == sid and actor_of(store, "i-2-late") == sid
    assert len(store.session_info) == 1


def test_response_expiration_longer_than_the_default(tmp_path):
    """The expiration STS returned (6 h) bounds the session, not the default hour."""
    k = "ASIAEXAMPLELNG00001"
    who = assumed("long", "dev", k, None)
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "long", "dev", k, f"{D}16:00:00Z",
                    event_id="e-1-assume"),
        call("ListBuckets", f"{D}10:10:00Z", who, event_id="e-2-early"),
        call("ListBuckets", f"{D}15:00:00Z", who, event_id="e-3-late"),
    ]
    store = ingest(tmp_path, records)
    s = session_of(store, k, via="AssumeRole")
    assert s["expires"] == at(f"{D}16:00:00Z")
    assert actor_of(store, "e-3-late") == s["session"]
    assert blast_radius(store, DEV_KEY).event_ids == ["e-1-assume", "e-2-early", "e-3-late"]


def test_requested_duration_without_expiration(tmp_path):
    """No expiration in the response: durationSeconds, else the call's default lifetime."""
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "dur", "dev", "ASIAEXAMPLEDUR00001",
                    f"{D}11:00:00Z", duration=7200, event_id="d-1"),
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "dflt", "dev", "ASIAEXAMPLEDUR00002",
                    f"{D}11:00:00Z", event_id="d-2"),
    ]
    for r in records:
        del r["responseElements"]["credentials"]["expiration"]
    store = ingest(tmp_path, records)
    assert session_of(store, "ASIAEXAMPLEDUR00001")["expires"] == at(f"{D}12:00:00Z")
    assert session_of(store, "ASIAEXAMPLEDUR00002")["expires"] == at(f"{D}11:00:00Z")


def _principal_id_trail(*, second_live: bool) -> list[dict]:
    """Sessions of role ops/shared; then only the role owner's copy of their cross-account hop."""
    k1, k2 = "ASIAEXAMPLESHR00001", "ASIAEXAMPLESHR00002"
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "ops", "shared", k1, f"{D}11:00:00Z",
                    event_id="p-1-dev"),
        call("ListBuckets", f"{D}10:05:00Z", assumed("ops", "shared", k1, f"{D}10:00:00Z"),
             event_id="p-2-dev-call"),
    ]
    if second_live:
        records += [
            assume_role(f"{D}10:10:00Z", user(OPS_KEY, "ops"), "ops", "shared", k2,
                        f"{D}11:10:00Z", event_id="p-3-ops"),
            call("ListBuckets", f"{D}10:15:00Z", assumed("ops", "shared", k2, f"{D}10:10:00Z"),
                 event_id="p-4-ops-call"),
        ]
    hop = assume_role(f"{D}10:30:00Z", assumed("ops", "shared", k1, f"{D}10:00:00Z"), "target",
                      "shared", "ASIAEXAMPLETGT00001", f"{D}11:30:00Z", account=OTHER,
                      event_id="p-5-caller-copy-missing")
    records.append(owner_copy(hop, principal_id("ops", "shared"), ACCT, "p-6-owner-copy"))
    return records


def test_one_live_session_with_the_principal_id_is_the_issuer(tmp_path):
    store = ingest(tmp_path, _principal_id_trail(second_live=False))
    s = session_of(store, "ASIAEXAMPLETGT00001")
    assert s["event_ids"] == ["p-6-owner-copy"]
    assert s["issuer"] == session_of(store, "ASIAEXAMPLESHR00001")["session"]
    (c,) = chains(store)
    assert c.path == [f"arn:aws:iam::{ACCT}:user/dev", role_arn("ops"), role_arn("target", OTHER)]
    assert c.hops[1]["linked_by"] == "caller principalId and time (the caller's copy is missing)"
    assert "linked_by" not in c.hops[0]
    assert s["session"] in blast_radius(store, DEV_KEY).sessions


def test_two_live_sessions_sharing_a_principal_id_are_not_guessed(tmp_path):
    """Ambiguous principalId: the account stands in as the issuer, as logged."""
    store = ingest(tmp_path, _principal_id_trail(second_live=True))
    s = session_of(store, "ASIAEXAMPLETGT00001")
    assert s["issuer"] == f"account:{ACCT}"
    assert s["session"] not in blast_radius(store, DEV_KEY).sessions
    assert s["session"] not in blast_radius(store, OPS_KEY).sessions


def test_user_created_by_the_seed_brings_its_keys_and_console_sessions(tmp_path):
    """CreateUser: the new user's keys and its console sessions after creation are the seed's."""
    mallory = f"arn:aws:iam::{ACCT}:user/mallory"
    records = [
        _login(f"{D}09:00:00Z", "mallory", "u-0-login-before"),  # an older user of that name
        _console_call(f"{D}09:01:00Z", "mallory", "ASIAEXAMPLEMAL00000", f"{D}09:00:00Z", "u-0-before"),
        rec("CreateUser", "iam.amazonaws.com", f"{D}10:00:00Z", user(DEV_KEY),
            params={"userName": "mallory"},
            response={"user": {"arn": mallory, "userName": "mallory"}}, event_id="u-1-create-user"),
        rec("CreateAccessKey", "iam.amazonaws.com", f"{D}10:01:00Z", user(OPS_KEY, "ops"),
            params={"userName": "mallory"},
            response={"accessKey": {"accessKeyId": "AKIAEXAMPLEMAL00001", "userName": "mallory"}},
            event_id="u-2-key-by-ops"),
        _login(f"{D}10:10:00Z", "mallory", "u-3-login"),
        _console_call(f"{D}10:11:00Z", "mallory", "ASIAEXAMPLEMAL00001", f"{D}10:10:00Z", "u-4-console"),
        call("ListBuckets", f"{D}10:20:00Z", user("AKIAEXAMPLEMAL00001", "mallory"), event_id="u-5-key"),
    ]
    store = ingest(tmp_path, records)
    console = session_of(store, "ASIAEXAMPLEMAL00001")["session"]
    br = blast_radius(store, DEV_KEY)
    assert br.sessions == [console]
    assert br.access_keys == [DEV_KEY, "AKIAEXAMPLEMAL00001", "ASIAEXAMPLEMAL00001"]
    assert br.event_ids == ["u-1-create-user", "u-3-login", "u-4-console", "u-5-key"]
    assert sorted(br.lineage, key=lambda link: link["to"]) == [
        {"from": f"key:{DEV_KEY}", "to": "key:AKIAEXAMPLEMAL00001", "via": "CREATED_USER_KEY",
         "time": f"{D}10:00:00Z", "event_ids": ["u-1-create-user"]},
        {"from": f"key:{DEV_KEY}", "to": console, "via": "CONSOLE_AFTER_CHANGE",
         "time": f"{D}10:10:00Z", "event_ids": ["u-1-create-user", "u-3-login"]}]
    assert [(c["type"], c["id"], c["used_later"]) for c in br.created] == [("User", mallory, True)]
    assert br.principals == [f"arn:aws:iam::{ACCT}:user/dev", mallory]
    d = br.to_dict()
    assert d["sessions"] == br.sessions and d["lineage"] == br.lineage and d["calls"] == 3


def test_principal_id_session_live_at_its_edges(tmp_path):
    """The role owner's copy right after the caller's session began and just before it ends;
    exactly 300 s (the clock-skew slack) before and after it, but not a second further
    (the account stands in)."""
    k1 = "ASIAEXAMPLESHR00001"
    who = assumed("ops", "shared", k1, f"{D}10:00:00Z")
    records = [
        assume_role(f"{D}10:00:00Z", user(DEV_KEY), "ops", "shared", k1, f"{D}11:00:00Z",
                    event_id="q-1-dev"),
        call("ListBuckets", f"{D}10:00:30Z", who, event_id="q-2-call"),
    ]
    edges = ("09:54:59", "09:55:00", "10:01:00", "10:59:00", "11:05:00", "11:05:01")
    for i, t in enumerate(edges):
        hop = assume_role(f"{D}{t}Z", who, "target", "shared", f"ASIAEXAMPLETGT0000{i}",
                          f"{D}12:30:00Z", account=OTHER, event_id=f"q-3-missing-{i}")
        records.append(owner_copy(hop, principal_id("ops", "shared"), ACCT, f"q-4-owner-{i}"))
    store = ingest(tmp_path, records)
    mine = session_of(store, k1)["session"]
    assert [session_of(store, f"ASIAEXAMPLETGT0000{i}")["issuer"] for i in range(6)] == [
        f"account:{ACCT}", mine, mine, mine, mine, f"account:{ACCT}"]


def test_every_unexplained_use_says_why(tmp_path):
    """A use no issuance explains is a session of its own whose note says why, word for word:
    the investigator reads it in ``excluded`` when the key id is the seed."""
    job, new = "ASIAEXAMPLEJOB00005", "ASIAEXAMPLENEW00001"
    records = _issued_then_recycled(job, "o") + [
        call("ListBuckets", f"{D}10:06:00Z", assumed("other", "x", job, f"{D}10:00:30Z"),
             event_id="o-4-other-identity"),
        call("ListBuckets", f"{D}14:05:00Z", assumed("batch", "job", job, None), event_id="o-5-late"),
        call("ListBuckets", f"{D}14:05:00Z", assumed("batch", "job", new, f"{D}14:00:00Z"),
             event_id="o-6-never-issued"),
    ]
    store = ingest(tmp_path, records)
    got = {e: store.session_info[actor_of(store, e)] for e in
           ("o-3-second", "o-4-other-identity", "o-5-late", "o-6-never-issued")}
    assert {e: (s["session"], s["via"], s["issued"], s["principal"], s["session_name"], s["account"],
                s["note"]) for e, s in got.items()} == {
        "o-3-second": (
            f"session:{job}@{D}14:00:00Z", "unknown", at(f"{D}14:00:00Z"), role_arn("batch"), "job",
            ACCT, f"the key id was issued at {D}10:00:00Z, not at this session's creation date "
                  f"{D}14:00:00Z (a recycled id)"),
        "o-4-other-identity": (
            f"session:{job}@{D}10:00:30Z", "unknown", at(f"{D}10:00:30Z"), role_arn("other"), "x",
            ACCT, f"the key id was issued to another identity ({role_arn('batch')}/job)"),
        "o-5-late": (
            f"session:{job}@unknown", "unknown", None, role_arn("batch"), "job", ACCT,
            f"used outside the validity of the key id's issue at {D}10:00:00Z (a recycled id)"),
        "o-6-never-issued": (
            f"session:{new}@{D}14:00:00Z", "unknown", at(f"{D}14:00:00Z"), role_arn("batch"), "job",
            ACCT, "no STS response in the logs issued this key id"),
    }
    br = blast_radius(store, job)
    assert br.sessions == [session_of(store, job, via="AssumeRole")["session"]]
    assert br.event_ids == ["o-1-assume", "o-2-first"]
    assert [(x["session"], x["reason"]) for x in br.excluded] == sorted(
        (s["session"], s["note"]) for e, s in got.items() if e != "o-6-never-issued")


def test_failed_assume_role_is_an_attempted_role_inside_the_window(tmp_path):
    """A denied AssumeRole names the role as attempted (never as a role reached), in the
    window that holds the attempt only."""
    denied = assume_role(f"{D}10:30:00Z", user(DEV_KEY), "admin", "dev", "ASIAEXAMPLEADM00001",
                         f"{D}11:30:00Z", event_id="f-2-denied")
    denied["errorCode"], denied["errorMessage"] = "AccessDenied", "not authorized"
    denied["responseElements"] = None
    records = [call("ListBuckets", f"{D}10:00:00Z", user(DEV_KEY), event_id="f-1-call"), denied,
               call("ListUsers", f"{D}11:00:00Z", user(DEV_KEY), event_id="f-3-call")]
    store = ingest(tmp_path, records)
    admin = role_arn("admin")
    assert blast_radius(store, DEV_KEY).attempted_roles == [admin]
    assert blast_radius(store, DEV_KEY).roles == []
    for since, until, want in [("10:30:00", None, [admin]), (None, "10:30:00", [admin]),
                               ("10:30:01", None, []), (None, "10:29:59", []),
                               ("10:00:00", "10:29:59", []), ("10:30:01", "11:00:00", []),
                               ("10:15:00", "10:45:00", [admin])]:
        br = blast_radius(store, DEV_KEY, since=since and at(f"{D}{since}Z"),
                          until=until and at(f"{D}{until}Z"))
        assert br.attempted_roles == want, (since, until)


def test_answers_read_in_a_notebook(tmp_path):
    """The one-line summaries and the frames of a blast radius and of a chain."""
    store = ingest(tmp_path, _two_hops())
    br = blast_radius(store, DEV_KEY)
    assert repr(br) == (f"<BlastRadius of access_key {DEV_KEY}: 5 calls, 2 sessions, 2 roles, "
                        f"1 account, {D}10:00:00Z .. {D}12:05:00Z>")
    one = blast_radius(store, DEV_KEY, until=at(f"{D}10:06:00Z"))
    assert repr(one) == (f"<BlastRadius of access_key {DEV_KEY}: 2 calls, 1 session, 1 role, "
                         f"1 account, {D}10:00:00Z .. {D}10:05:00Z>")
    none = blast_radius(store, DEV_KEY, since=at(f"{D}20:00:00Z"))
    assert repr(none) == f"<BlastRadius of access_key {DEV_KEY}: 0 calls, 0 sessions, 0 roles, 0 accounts>"
    frame = br.to_frame()
    assert list(frame["event_id"]) == br.event_ids and len(frame) == len(br.events)
    (c,) = chains(store)
    assert repr(c) == (f"<Chain arn:aws:iam::{ACCT}:user/dev -> {role_arn('alpha')} -> "
                       f"{role_arn('beta')} (2 hops)>")
    hops = c.to_frame()
    assert list(hops["hop"]) == [1, 2] and list(hops["to"]) == [role_arn("alpha"), role_arn("beta")]
    assert list(hops["event_id"]) == ["w-1-assume-alpha", "w-4-assume-beta"]
    cross = assume_role(f"{D}13:00:00Z", user(DEV_KEY), "audit", "dev", "ASIAEXAMPLEAUD00009",
                        f"{D}14:00:00Z", account=OTHER, event_id="w-6-cross")
    (tmp_path / "cross").mkdir()
    (x,) = chains(ingest(tmp_path / "cross", [cross]))
    assert repr(x) == (f"<Chain arn:aws:iam::{ACCT}:user/dev -> {role_arn('audit', OTHER)} "
                       f"(1 hop, cross-account)>")


def test_from_names_the_workload_behind_a_web_identity_chain(tmp_path):
    """--from takes what an investigator knows of a workload: its subject, repository or
    provider; --to keeps who was behind the chain."""
    records = [_github(f"{D}09:00:00Z", "deploy", "ASIAEXAMPLEGHA00000", f"{D}10:00:00Z", "gh-1")]
    store = ingest(tmp_path, records)
    sub = "repo:corp/app:ref:refs/heads/main"
    for name in (sub, "corp/app", GITHUB):
        (c,) = chains(store, origin=name)
        assert c.origin["repository"] == "corp/app", name
    assert chains(store, origin="corp/other") == []
    (cut,) = chains(store, to=role_arn("deploy"))
    assert cut.origin["repository"] == "corp/app" and cut.origin["subject"] == sub


def test_what_the_seed_created_and_whether_it_was_used(tmp_path):
    """Created keys and login profiles are named as the investigator knows them (the key id,
    the user's ARN), each with whether anyone used it afterwards."""
    bob, carol = "AKIAEXAMPLEBOB00001", "AKIAEXAMPLECAR00001"
    records = _login_profile_trail() + [
        rec("CreateAccessKey", "iam.amazonaws.com", f"{D}09:02:00Z", user(DEV_KEY),
            params={"userName": "bob"}, response={"accessKey": {"accessKeyId": bob, "userName": "bob"}},
            event_id="lp-11-key-used"),
        rec("CreateAccessKey", "iam.amazonaws.com", f"{D}09:03:00Z", user(DEV_KEY),
            params={"userName": "carol"},
            response={"accessKey": {"accessKeyId": carol, "userName": "carol"}},
            event_id="lp-12-key-unused"),
        call("ListBuckets", f"{D}09:50:00Z", user(bob, "bob"), event_id="lp-13-bob-key"),
    ]
    br = blast_radius(ingest(tmp_path, records), DEV_KEY)
    assert [(c["type"], c["id"], c["used_later"], c["event_id"]) for c in br.created] == [
        ("LoginProfile", f"arn:aws:iam::{ACCT}:user/carol", True, "lp-06-create"),
        ("AccessKey", bob, True, "lp-11-key-used"),
        ("AccessKey", carol, False, "lp-12-key-unused")]
    assert [(c["event_name"], c["target"], c["used_later"]) for c in br.policy_changes] == [
        ("UpdateLoginProfile", f"arn:aws:iam::{ACCT}:user/bob", True)]


def _trust(t: str, role: str, *accounts: str, event_id: str) -> dict:
    principals = [f"arn:aws:iam::{a}:root" for a in accounts]
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                   "Principal": {"AWS": principals} if accounts else "*"}]}
    return rec("UpdateAssumeRolePolicy", "iam.amazonaws.com", t, user(DEV_KEY),
               params={"roleName": role, "policyDocument": json.dumps(doc)}, event_id=event_id)


def test_trust_change_is_used_only_by_a_later_session_from_an_account_it_let_in(tmp_path):
    """A trust opened to an outside account counts as used when a session of the role is
    issued after the change to a caller of that account; a session from the role's own
    account, or one issued before the change, does not use it. A trust naming no outside
    account is used by any later session of the role, one opened to everyone (``*``) too."""
    ext = "999988887777"
    outsider = user("AKIAEXAMPLEEXT00001", "partner", account=ext)
    insider = user(OPS_KEY, "ops")
    records = [
        assume_role(f"{D}08:30:00Z", outsider, "build", "early", "ASIAEXAMPLEBLD00000",
                    f"{D}09:30:00Z", event_id="t-0-before-change"),
        _trust(f"{D}09:00:00Z", "build", ACCT, ext, event_id="t-1-build"),
        _trust(f"{D}09:00:01Z", "ops", ext, event_id="t-2-ops"),
        _trust(f"{D}09:00:02Z", "own", ACCT, event_id="t-3-own"),
        _trust(f"{D}09:00:03Z", "idle", ACCT, event_id="t-4-idle"),
        assume_role(f"{D}09:30:00Z", insider, "build", "inside", "ASIAEXAMPLEBLD00001",
                    f"{D}10:30:00Z", event_id="t-5-build-from-inside"),
        assume_role(f"{D}09:40:00Z", outsider, "ops", "partner", "ASIAEXAMPLEOPS00002",
                    f"{D}10:40:00Z", event_id="t-6-ops-from-outside"),
        assume_role(f"{D}09:50:00Z", insider, "own", "inside", "ASIAEXAMPLEOWN00001",
                    f"{D}10:50:00Z", event_id="t-7-own-from-inside"),
        _trust(f"{D}09:00:04Z", "anyone", event_id="t-8-anyone"),  # Principal "*"
        assume_role(f"{D}09:55:00Z", insider, "anyone", "inside", "ASIAEXAMPLEANY00001",
                    f"{D}10:55:00Z", event_id="t-9-anyone-from-inside"),
    ]
    br = blast_radius(ingest(tmp_path, records), DEV_KEY)
    got = [(c["event_name"], c["target"], c.get("external_accounts"), c["used_later"],
            c["event_id"]) for c in br.policy_changes]
    assert got == [
        ("UpdateAssumeRolePolicy", role_arn("build"), [ext], False, "t-1-build"),
        ("UpdateAssumeRolePolicy", role_arn("ops"), [ext], True, "t-2-ops"),
        ("UpdateAssumeRolePolicy", role_arn("own"), [], True, "t-3-own"),
        ("UpdateAssumeRolePolicy", role_arn("idle"), [], False, "t-4-idle"),
        ("UpdateAssumeRolePolicy", role_arn("anyone"), ["*"], True, "t-8-anyone"),
    ]


def _create_user(t: str, name: str, event_id: str) -> dict:
    arn = f"arn:aws:iam::{ACCT}:user/{name}"
    return rec("CreateUser", "iam.amazonaws.com", t, user(DEV_KEY), params={"userName": name},
               response={"user": {"arn": arn, "userName": name}}, event_id=event_id)


def _create_key(t: str, name: str, key: str, event_id: str) -> dict:
    return rec("CreateAccessKey", "iam.amazonaws.com", t, user(OPS_KEY, "ops"),
               params={"userName": name},
               response={"accessKey": {"accessKeyId": key, "userName": name}}, event_id=event_id)


def test_a_created_user_is_used_by_a_key_call_or_a_later_console_session_only(tmp_path):
    """kim is used through a key (no console), lee through a console session after its
    creation (no key), max by neither: its key made no call and its only console session is
    an older user's of the same name, before the creation."""
    kim_key, max_key = "AKIAEXAMPLEKIM00001", "AKIAEXAMPLEMAX00001"
    records = [
        _login(f"{D}09:00:00Z", "max", "c-00-max-login-before"),
        _console_call(f"{D}09:01:00Z", "max", "ASIAEXAMPLEMAX00000", f"{D}09:00:00Z", "c-01-max-before"),
        _create_user(f"{D}10:00:00Z", "kim", "c-02-kim"),
        _create_user(f"{D}10:00:01Z", "lee", "c-03-lee"),
        _create_user(f"{D}10:00:02Z", "max", "c-04-max"),
        _create_key(f"{D}10:01:00Z", "kim", kim_key, "c-05-kim-key"),
        _create_key(f"{D}10:01:01Z", "max", max_key, "c-06-max-key"),
        call("ListBuckets", f"{D}10:20:00Z", user(kim_key, "kim"), event_id="c-07-kim-call"),
        _login(f"{D}10:30:00Z", "lee", "c-08-lee-login"),
        _console_call(f"{D}10:31:00Z", "lee", "ASIAEXAMPLELEE00001", f"{D}10:30:00Z", "c-09-lee-console"),
    ]
    br = blast_radius(ingest(tmp_path, records), DEV_KEY)
    assert [(c["type"], c["id"].rsplit("/", 1)[-1], c["used_later"], c["event_id"])
            for c in br.created] == [("User", "kim", True, "c-02-kim"),
                                     ("User", "lee", True, "c-03-lee"),
                                     ("User", "max", False, "c-04-max")]


def test_who_acts_when_a_call_carries_no_usable_key(tmp_path):
    """Without a key the caller itself acts: a service (by invokedBy), an account (from its
    principalId when accountId is missing), an identity provider (the provider, else the
    principalId, else the user name), a principal by its ARN, the root by the account, an
    Identity Center user of a portal call, a service that invoked an unnamed identity."""
    saml = f"arn:aws:iam::{ACCT}:saml-provider/Okta"
    records = [
        call("ListBuckets", f"{D}09:00:00Z", {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
             event_id="k-01-service"),
        call("ListBuckets", f"{D}09:00:01Z", {"type": "AWSService"}, event_id="k-02-service-unnamed"),
        call("ListBuckets", f"{D}09:00:02Z", {"type": "AWSAccount", "principalId": f"{OTHER}:x"},
             event_id="k-03-account-by-principal-id"),
        call("ListBuckets", f"{D}09:00:03Z", {"type": "AWSAccount", "principalId": "AIDAEXAMPLE",
                                              "accountId": OTHER}, event_id="k-04-account"),
        call("ListBuckets", f"{D}09:00:04Z", {"type": "SAMLUser", "principalId": "Okta:ana",
                                              "userName": "ana", "identityProvider": saml},
             event_id="k-05-saml"),
        call("ListBuckets", f"{D}09:00:05Z", {"type": "WebIdentityUser", "principalId": "gh:sub"},
             event_id="k-06-web-identity-by-principal-id"),
        call("ListBuckets", f"{D}09:00:06Z", {"type": "WebIdentityUser", "userName": "sub-only"},
             event_id="k-07-web-identity-by-user-name"),
        call("ListBuckets", f"{D}09:00:07Z", user(None, "dev"), event_id="k-08-user-by-arn"),
        call("ListBuckets", f"{D}09:00:08Z", {"type": "Root", "accountId": ACCT}, event_id="k-09-root"),
        call("ListBuckets", f"{D}09:00:09Z",
             {"type": "Unknown", "onBehalfOf": {"userId": "9067-user-1",
                                                "identityStoreArn": "arn:aws:identitystore::1:identitystore/d-1"}},
             event_id="k-10-portal"),
        call("ListBuckets", f"{D}09:00:10Z", {"type": "Unknown", "invokedBy": "lambda.amazonaws.com"},
             event_id="k-11-invoked-by"),
        call("ListBuckets", f"{D}09:00:11Z", {"type": "Unknown"}, event_id="k-12-nobody"),
    ]
    store = ingest(tmp_path, records)
    got = {r["eventID"]: actor_of(store, r["eventID"]) for r in records}
    assert got == {
        "k-01-service": "service:ec2.amazonaws.com",
        "k-02-service-unnamed": "service:aws-service",
        "k-03-account-by-principal-id": f"account:{OTHER}",
        "k-04-account": f"account:{OTHER}",
        "k-05-saml": f"idp:{saml}",
        "k-06-web-identity-by-principal-id": "idp:gh:sub",
        "k-07-web-identity-by-user-name": "idp:sub-only",
        "k-08-user-by-arn": USER_ARN,
        "k-09-root": f"arn:aws:iam::{ACCT}:root",
        "k-10-portal": "idc-user:9067-user-1",
        "k-11-invoked-by": "service:lambda.amazonaws.com",
        "k-12-nobody": None,
    }


def test_console_sign_ins_with_and_without_mfa_are_separate_sessions(tmp_path):
    """The console session of an MFA sign-in is named and flagged as such; one without MFA at
    the same instant is another session."""
    with_mfa = user("ASIAEXAMPLECON00001", "dev", sessionContext={
        "attributes": {"creationDate": f"{D}09:00:00Z", "mfaAuthenticated": "true"}})
    without = user("ASIAEXAMPLECON00002", "dev", sessionContext={
        "attributes": {"creationDate": f"{D}09:00:00Z", "mfaAuthenticated": "false"}})
    records = [call("ListUsers", f"{D}09:01:00Z", with_mfa, event_id="m-1-mfa",
                    extra={"sessionCredentialFromConsole": "true"}),
               call("ListUsers", f"{D}09:01:00Z", without, event_id="m-2-no-mfa",
                    extra={"sessionCredentialFromConsole": "true"})]
    store = ingest(tmp_path, records)
    a, b = actor_of(store, "m-1-mfa"), actor_of(store, "m-2-no-mfa")
    assert a == f"session:console:{USER_ARN}@{D}09:00:00Z+mfa"
    assert b == f"session:console:{USER_ARN}@{D}09:00:00Z"
    assert (store.session_info[a]["mfa"], store.session_info[b]["mfa"]) == (True, False)


def _keyless(role: str, session: str, created: str, **more) -> dict:
    d = assumed(role, session, "unused", created, **more)
    del d["accessKeyId"]
    return d


def test_session_named_by_its_arn_and_creation_date(tmp_path):
    """A call without a key (a federated sign-in), or with a key no STS response held, names
    its session by the session ARN and the creation date, to 2 s, while the session is
    valid; two sessions of one name issued in one instant are not guessed between."""
    issuer = user(DEV_KEY)
    k_ana, k_bea = "ASIAEXAMPLEANA00001", "ASIAEXAMPLEBEA00001"
    records = [
        assume_role(f"{D}09:00:00Z", issuer, "admin", "ana", k_ana, f"{D}10:00:00Z", event_id="n-01-ana"),
        call("ListBuckets", f"{D}09:00:30Z", _keyless("admin", "ana", f"{D}09:00:02Z"),
             event_id="n-02-keyless-2s-later"),
        call("ListBuckets", f"{D}09:00:31Z", _keyless("admin", "ana", f"{D}09:00:03Z"),
             event_id="n-03-keyless-3s-later"),
        call("ListBuckets", f"{D}09:00:32Z", user(None, "dev", sessionContext={
            "attributes": {"creationDate": f"{D}09:00:00Z"}}), event_id="n-04-user-keyless"),
        assume_role(f"{D}10:00:00Z", issuer, "admin", "twin", "ASIAEXAMPLETWN00001",
                    f"{D}11:00:00Z", event_id="n-05-twin-a"),
        assume_role(f"{D}10:00:00Z", user(OPS_KEY, "ops"), "admin", "twin", "ASIAEXAMPLETWN00002",
                    f"{D}11:00:00Z", event_id="n-06-twin-b"),
        call("ListBuckets", f"{D}10:01:00Z", _keyless("admin", "twin", f"{D}10:00:00Z"),
             event_id="n-07-twin-keyless"),
        assume_role(f"{D}11:00:00Z", issuer, "admin", "bea", k_bea, f"{D}12:00:00Z", event_id="n-08-bea"),
        call("ListBuckets", f"{D}11:05:00Z", assumed("admin", "bea", "ASIAEXAMPLEBEA00777", f"{D}11:00:00Z"),
             event_id="n-09-other-key-same-arn"),
        call("ListBuckets", f"{D}12:10:00Z", assumed("admin", "bea", "ASIAEXAMPLEBEA00778", f"{D}11:00:00Z"),
             event_id="n-10-other-key-after-expiry"),
    ]
    store = ingest(tmp_path, records)
    ana, bea = session_of(store, k_ana)["session"], session_of(store, k_bea)["session"]
    admin = role_arn("admin")
    assert actor_of(store, "n-02-keyless-2s-later") == ana
    assert actor_of(store, "n-03-keyless-3s-later") == admin
    assert actor_of(store, "n-04-user-keyless") == USER_ARN
    assert actor_of(store, "n-07-twin-keyless") == admin
    assert actor_of(store, "n-09-other-key-same-arn") == bea
    assert "not in its STS response" in store.session_info[bea]["note"]
    after = actor_of(store, "n-10-other-key-after-expiry")
    assert after not in (bea, admin) and store.session_info[after]["access_key_id"] == "ASIAEXAMPLEBEA00778"


def test_sessions_issued_exactly_at_the_window_edges_count(tmp_path):
    """--since and --until are inclusive: a session issued at either edge belongs to the
    answer even when it made no call; one issued a second outside does not."""
    keys = ["ASIAEXAMPLEEDG00001", "ASIAEXAMPLEEDG00002", "ASIAEXAMPLEEDG00003", "ASIAEXAMPLEEDG00004"]
    times = [f"{D}09:59:59Z", f"{D}10:00:00Z", f"{D}11:00:00Z", f"{D}11:00:01Z"]
    records = [assume_role(t, user(DEV_KEY), "ops", f"s{i}", k, f"{D}13:00:00Z", event_id=f"e-{i}")
               for i, (t, k) in enumerate(zip(times, keys, strict=True))]
    store = ingest(tmp_path, records)
    got = blast_radius(store, DEV_KEY, since=at(f"{D}10:00:00Z"), until=at(f"{D}11:00:00Z"))
    assert got.sessions == sorted(session_of(store, k)["session"] for k in keys[1:3])
    assert got.event_ids == ["e-1", "e-2"]


def _sts(name: str, t: str, key: str, *, params=None, response=None, event_id: str,
         caller: dict | None = None, account: str = ACCT) -> dict:
    resp = {"credentials": creds(key, f"{D}23:00:00Z"), **(response or {})}
    return rec(name, "sts.amazonaws.com", t, caller or user(DEV_KEY), params=params,
               response=resp, event_id=event_id, account=account)


def test_who_each_sts_call_makes_the_new_session_act_as(tmp_path):
    """The principal, session name and account of a new session, for each issuing call and
    for requests whose parameters were left out of the log."""
    redacted_arn = f"arn:aws:sts::{OTHER}:assumed-role/audit/from-arn"
    records = [
        _sts("AssumeRole", f"{D}09:00:00Z", "ASIAEXAMPLETGT00001", event_id="g-1-role-from-arn",
             params={"roleSessionName": "from-arn"},
             response={"assumedRoleUser": {"arn": redacted_arn}}),
        _sts("AssumeRole", f"{D}09:01:00Z", "ASIAEXAMPLETGT00002", event_id="g-2-name-from-arn",
             params={"roleArn": role_arn("ops")},
             response={"assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/ops/named-in-arn"}}),
        _sts("AssumeRole", f"{D}09:02:00Z", "ASIAEXAMPLETGT00003", event_id="g-3-no-role-at-all",
             params={"roleSessionName": "lost"}),
        _sts("GetFederationToken", f"{D}09:03:00Z", "ASIAEXAMPLETGT00004", event_id="g-4-federated",
             params={"name": "contractor"},
             response={"federatedUser": {"arn": f"arn:aws:sts::{ACCT}:federated-user/contractor"}}),
        _sts("GetFederationToken", f"{D}09:04:00Z", "ASIAEXAMPLETGT00005", event_id="g-5-federated-no-arn",
             params={"name": "temp"}, account=OTHER),
        _sts("AssumeRoot", f"{D}09:05:00Z", "ASIAEXAMPLETGT00006", event_id="g-6-root",
             params={"targetPrincipal": OTHER, "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"}}),
        _sts("GetSessionToken", f"{D}09:06:00Z", "ASIAEXAMPLETGT00007", event_id="g-7-session-token"),
    ]
    store = ingest(tmp_path, records)
    got = {}
    for i in range(1, 8):
        found = [s for s in store.session_info.values()
                 if s["access_key_id"] == f"ASIAEXAMPLETGT0000{i}"]
        got[i] = tuple((s["via"], s["principal_kind"], s["principal"], s["session_name"], s["account"])
                       for s in found)
    assert got == {
        1: (("AssumeRole", "Role", role_arn("audit", OTHER), "from-arn", OTHER),),
        2: (("AssumeRole", "Role", role_arn("ops"), "named-in-arn", ACCT),),
        3: (),  # no role in the request nor the response: no session can be named
        4: (("GetFederationToken", "FederatedUser", f"arn:aws:sts::{ACCT}:federated-user/contractor", None, ACCT),),
        5: (("GetFederationToken", "FederatedUser", f"arn:aws:sts::{OTHER}:federated-user/temp", None, OTHER),),
        6: (("AssumeRoot", "Root", f"arn:aws:iam::{OTHER}:root", None, OTHER),),
        7: (("GetSessionToken", "User", USER_ARN, None, ACCT),),
    }


def test_a_policy_created_then_given_an_admin_version_reads_as_admin(tmp_path):
    """The seed creates a read-only policy, then a version of it granting everything, set as
    default: the relation key -> policy holds both calls, and it is admin (the first call's
    document must not hide the second's)."""
    admin_doc = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    read_doc = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    pol = f"arn:aws:iam::{ACCT}:policy/ops-extra"
    records = [
        rec("CreatePolicy", "iam.amazonaws.com", f"{D}09:00:00Z", user(DEV_KEY),
            params={"policyName": "ops-extra", "policyDocument": read_doc},
            response={"policy": {"arn": pol, "policyName": "ops-extra"}}, event_id="p-1-policy"),
        rec("CreatePolicyVersion", "iam.amazonaws.com", f"{D}09:10:00Z", user(DEV_KEY),
            params={"policyArn": pol, "policyDocument": admin_doc, "setAsDefault": True},
            response={"policyVersion": {"versionId": "v2", "isDefaultVersion": True}},
            event_id="p-2-version"),
    ]
    br = blast_radius(ingest(tmp_path, records), DEV_KEY)
    ((created,),) = [br.created]
    assert (created["node"], created["admin"], created["event_id"]) == (pol, True, "p-1-policy")
    ((change,),) = [br.policy_changes]
    assert (change["target"], change["admin"], change["event_ids"]) == (
        pol, True, ["p-1-policy", "p-2-version"])


def test_another_identity_at_the_issue_instant_is_not_that_session(tmp_path):
    """A use of an issued key id by another identity whose creation date is the issue's own
    second is unexplained, and stays apart: the issued session keeps its principal, its
    issuer and its calls (the two used to share one session id, the later one winning)."""
    job = "ASIAEXAMPLEJOB00006"
    records = _issued_then_recycled(job, "i") + [
        call("GetObject", f"{D}10:07:00Z", assumed("other", "x", job, f"{D}10:00:00Z"),
             event_id="i-4-other-identity"),
    ]
    store = ingest(tmp_path, records)
    issued = session_of(store, job, via="AssumeRole")
    assert issued["principal"] == role_arn("batch") and issued["issuer"] == f"key:{DEV_KEY}"
    assert actor_of(store, "i-2-first") == issued["session"]
    odd = store.session_info[actor_of(store, "i-4-other-identity")]
    assert odd["session"] != issued["session"] and odd["session"].startswith(f"session:{job}@{D}10:00:00Z")
    assert (odd["via"], odd["principal"], odd["session_name"]) == ("unknown", role_arn("other"), "x")
    assert odd["note"] == f"the key id was issued to another identity ({role_arn('batch')}/job)"
    assert blast_radius(store, DEV_KEY).event_ids == ["i-1-assume", "i-2-first"]


def test_two_identities_with_one_unexplained_key_are_two_sessions(tmp_path):
    """One key id no STS response in the logs issued, used by two identities with one
    creation date, and by two identities with none: four sessions, each identity its own."""
    k = "ASIAEXAMPLETWO00001"
    records = [
        call("ListBuckets", f"{D}10:01:00Z", assumed("batch", "job", k, f"{D}10:00:00Z"),
             event_id="w-1-batch"),
        call("ListBuckets", f"{D}10:02:00Z", assumed("other", "x", k, f"{D}10:00:00Z"),
             event_id="w-2-other"),
        call("ListBuckets", f"{D}10:03:00Z", assumed("batch", "job", k, None), event_id="w-3-batch"),
        call("ListBuckets", f"{D}10:04:00Z", assumed("other", "x", k, None), event_id="w-4-other"),
    ]
    store = ingest(tmp_path, records)
    got = [store.session_info[actor_of(store, e)] for e in ("w-1-batch", "w-2-other", "w-3-batch", "w-4-other")]
    assert len({s["session"] for s in got}) == 4
    assert [(s["principal"], s["session_name"]) for s in got] == [
        (role_arn("batch"), "job"), (role_arn("other"), "x")] * 2
    assert got[0]["session"] == f"session:{k}@{D}10:00:00Z"  # the first keeps the plain id


def test_a_trust_changed_twice_shows_every_account_it_let_in(tmp_path):
    """The seed sets a role's trust to its own account, then opens it to an outside account:
    the two calls are one relation (key -> role), and the change names the outside account
    and both calls (the first call's document must not hide the second's backdoor)."""
    ext = "999988887777"
    records = [
        _trust(f"{D}09:00:00Z", "build", ACCT, event_id="u-1-own"),
        _trust(f"{D}09:05:00Z", "build", ACCT, ext, event_id="u-2-outside"),
        assume_role(f"{D}09:30:00Z", user("AKIAEXAMPLEEXT00001", "partner", account=ext), "build",
                    "partner", "ASIAEXAMPLEBLD00009", f"{D}10:30:00Z", event_id="u-3-outsider"),
    ]
    br = blast_radius(ingest(tmp_path, records), DEV_KEY)
    ((change,),) = [br.policy_changes]
    assert (change["target"], change["event_ids"]) == (role_arn("build"), ["u-1-own", "u-2-outside"])
    assert (change["trusted_accounts"], change["external_accounts"]) == ([ACCT, ext], [ext])
    assert change["used_later"] is True


def test_a_read_only_then_an_admin_attachment_shows_the_admin_policy(tmp_path):
    """The seed attaches a read-only policy to a user, then AdministratorAccess: one relation
    (key -> user), shown with the policy that grants everything, and both calls."""
    def attach(t: str, policy: str, event_id: str) -> dict:
        return rec("AttachUserPolicy", "iam.amazonaws.com", t, user(DEV_KEY),
                   params={"userName": "kim", "policyArn": policy}, event_id=event_id)

    records = [attach(f"{D}09:00:00Z", "arn:aws:iam::aws:policy/ReadOnlyAccess", "a-1-read"),
               attach(f"{D}09:01:00Z", "arn:aws:iam::aws:policy/AdministratorAccess", "a-2-admin")]
    br = blast_radius(ingest(tmp_path, records), DEV_KEY)
    ((change,),) = [br.policy_changes]
    assert (change["target"], change["admin"], change["policy_arn"], change["event_ids"]) == (
        f"arn:aws:iam::{ACCT}:user/kim", True, "arn:aws:iam::aws:policy/AdministratorAccess",
        ["a-1-read", "a-2-admin"])
