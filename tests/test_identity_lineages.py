"""Every identity type's lineage, exactly, on a generated trail with known truth and traps.

Console sessions, IAM Identity Center (two users, one permission set, one second), Lambda
and EKS sessions given one recycled key id, an instance profile key reused by a session
nothing issued, GitHub OIDC, Okta SAML and a GetFederationToken session outliving its key.
"""

from __future__ import annotations

import pytest

from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.seeds import SeedError, parse_time_bound
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.identities import build_identities
from tests.conftest import ingest_paths

LINEAGES = ["console", "identity_center", "identity_center_ben", "identity_center_console",
            "lambda", "eks", "ec2", "github", "saml", "federation"]


@pytest.fixture(scope="module")
def trail(tmp_path_factory):
    root = tmp_path_factory.mktemp("identities")
    truth = build_identities(root / "logs", seed=3)
    return MemoryStore(ingest_paths([str(root / "logs")], root / "case")), truth


def _answer(store, lin):
    return blast_radius(store, lin.seed, since=parse_time_bound(lin.since),
                        until=parse_time_bound(lin.until))


@pytest.mark.parametrize("name", LINEAGES)
def test_recall_is_complete_and_no_decoy_gets_in(trail, name):
    store, truth = trail
    lin = truth.lineages[name]
    br = _answer(store, lin)
    got = set(br.event_ids)
    missing = lin.event_ids - got
    assert not missing, f"{name}: recall {1 - len(missing) / len(lin.event_ids):.2f}"
    assert not got & lin.decoy_event_ids, f"{name}: {len(got & lin.decoy_event_ids)} decoys"
    assert got == lin.event_ids
    assert {e["event_id"] for e in br.events} == got
    for row in br.events:  # every event says when, what, where, from where, with what
        assert row["time"] and row["event_name"] and row["account"] and row["credential"]


@pytest.mark.parametrize("name", LINEAGES)
def test_the_opening_call_is_issued_by(trail, name):
    store, truth = trail
    lin = truth.lineages[name]
    br = _answer(store, lin)
    opened = {e for item in br.issued_by for e in item["event_ids"]}
    assert lin.opening_event_ids <= opened


@pytest.mark.parametrize("name", [n for n in LINEAGES if n != "federation"])
def test_chains_start_at_the_named_origin(trail, name):
    store, truth = trail
    lin = truth.lineages[name]
    br = _answer(store, lin)
    found = [c for c in chains(store) if set(c.sessions) <= set(br.sessions)]
    assert found, name
    longest = max(found, key=lambda c: len(c.hops))
    assert longest.path[0] == lin.origin
    assert longest.path[1:] == lin.roles


def test_console_session_is_one_credential_with_its_sign_in(trail):
    store, truth = trail
    lin = truth.lineages["console"]
    br = _answer(store, lin)
    (console,) = br.console_sessions
    assert len(console["access_key_ids"]) == 8 and lin.seed in console["access_key_ids"]
    assert console["mfa"] is True and console["opened_by"]
    assert console["opened_by"][0] in lin.opening_event_ids
    assert set(console["access_key_ids"]) <= set(br.access_keys)
    assert console["replayed"] and [s["source_ip"] for s in console["sides"]] == lin.replayed_from
    # the console's own calls (AWS Internal) from the first address are that browser's side
    assert sum(s["calls"] for s in console["sides"]) == 6 * 6 + 1 + 2 * 5  # + the role switch
    # the later reuse of the key id by someone else is left out, and said so
    assert br.excluded and "Ops" in br.excluded[0]["principal"] and br.excluded[0]["reason"]


def test_identity_center_users_of_one_permission_set_in_one_second_stay_apart(trail):
    store, truth = trail
    a, b = truth.lineages["identity_center"], truth.lineages["identity_center_ben"]
    ra, rb = _answer(store, a), _answer(store, b)
    assert not set(ra.sessions) & set(rb.sessions)
    assert {c.path[0] for c in chains(store) if c.origin and c.origin.get("kind") == "identity_center"} \
        >= {a.origin, b.origin}
    origin = next(c.origin for c in chains(store) if c.path[0] == a.origin)
    assert origin["user_name"] == "ana@acme.example" and origin["permission_set"] == "AdministratorAccess"


def test_web_identity_origins_name_the_workload(trail):
    store, _ = trail
    gh = next(c for c in chains(store) if c.origin and c.origin.get("repository"))
    assert (gh.origin["repository"], gh.origin["ref"]) == ("acme/infra", "refs/heads/main")
    eks = next(c for c in chains(store) if c.origin and c.origin.get("service_account"))
    assert (eks.origin["namespace"], eks.origin["service_account"]) == ("payments", "api")
    saml = next(c for c in chains(store) if c.origin and c.origin.get("kind") == "saml")
    assert saml.origin["source_identity"] == "dana" and saml.origin["subject"] == "dana@acme.example"
    assert chains(store, origin="acme/infra") == [gh]


def test_a_recycled_key_id_alone_is_not_trusted(trail):
    store, truth = trail
    with pytest.raises(SeedError, match="recycled key id"):
        blast_radius(store, truth.lineages["lambda"].seed)


def test_federation_session_outlives_its_deleted_parent(trail):
    store, truth = trail
    lin = truth.lineages["federation"]
    br = _answer(store, lin)
    (change,) = br.key_changes
    assert change["status"] == "Deleted" and change["time"] == lin.key_deleted_at
    assert change["sessions_outliving_it"] and set(change["sessions_outliving_it"]) <= set(br.sessions)


def test_window_applies_to_attempted_roles(scenario):
    store, truth = scenario
    assert blast_radius(store, truth.leaked_key).attempted_roles
    br = blast_radius(store, truth.leaked_key, until=parse_time_bound("2000-01-01"))
    assert br.attempted_roles == [] and br.calls == 0


def test_a_use_after_the_session_expired_is_not_that_session(tmp_path):
    from tests.test_identity_kinds import ACCT, assumed, creds, rec, user

    key = "ASIAEXAMPLEEXPIRED01"
    records = [
        rec("AssumeRole", "sts.amazonaws.com", "2024-05-01T10:00:00Z", user("AKIAEXAMPLEDEV000001"),
            params={"roleArn": f"arn:aws:iam::{ACCT}:role/Batch", "roleSessionName": "job"},
            response={"credentials": creds(key, "2024-05-01T11:00:00Z"),
                      "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/Batch/job"}}),
        rec("ListBuckets", "s3.amazonaws.com", "2024-05-01T10:30:00Z",
            assumed("Batch", "job", key, "2024-05-01T10:00:00Z")),
        rec("ListBuckets", "s3.amazonaws.com", "2024-05-01T16:00:00Z",
            assumed("Batch", "job", key, "2024-05-01T10:00:00Z"), ip="192.0.2.66"),
    ]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "t.json").write_text(__import__("json").dumps(records))
    store = MemoryStore(ingest_paths([str(tmp_path / "logs")], tmp_path / "case"))
    act = dict(zip(*store.activity(["event_id", "actor"]).to_pydict().values(), strict=True))
    issued, late = act[records[1]["eventID"]], act[records[2]["eventID"]]
    assert store.session_info[issued]["via"] == "AssumeRole"
    assert late != issued and "validity" in store.session_info[late]["note"]
    br = blast_radius(store, issued)
    assert records[2]["eventID"] not in br.event_ids and records[0]["eventID"] in br.event_ids


@pytest.mark.neo4j
def test_both_stores_give_the_same_answers(trail, bolt_server):
    from graphtrail.store.cypher_store import CypherStore
    from graphtrail.store.neo4j import Neo4jStore
    from graphtrail.store.neo4j_case import push_case

    store, truth = trail
    server = Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, bolt_server.database)
    try:
        server.write("MATCH (n) DETACH DELETE n")
        push_case(store.case, server)
        neo = CypherStore(server)
        for name, lin in truth.lineages.items():
            assert _answer(store, lin).to_dict() == _answer(neo, lin).to_dict(), name
        assert [c.to_dict() for c in chains(store)] == [c.to_dict() for c in chains(neo)]
    finally:
        server.close()


def test_a_key_no_response_held_never_picks_between_two_sessions_of_one_name(tmp_path):
    from tests.test_identity_kinds import ACCT, assumed, creds, rec, user

    def issue(key):
        return rec("AssumeRole", "sts.amazonaws.com", "2024-05-01T10:00:00Z", user("AKIAEXAMPLEDEV000001"),
                   params={"roleArn": f"arn:aws:iam::{ACCT}:role/Batch", "roleSessionName": "job"},
                   response={"credentials": creds(key, "2024-05-01T11:00:00Z"),
                             "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/Batch/job"}})

    records = [issue("ASIAEXAMPLETWINS0001"), issue("ASIAEXAMPLETWINS0002"),
               rec("ListBuckets", "s3.amazonaws.com", "2024-05-01T10:10:00Z",
                   assumed("Batch", "job", "ASIAEXAMPLETWINS0003", "2024-05-01T10:00:00Z"))]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "t.json").write_text(__import__("json").dumps(records))
    store = MemoryStore(ingest_paths([str(tmp_path / "logs")], tmp_path / "case"))
    (s,) = [s for s in store.session_info.values() if s["access_key_id"] == "ASIAEXAMPLETWINS0003"]
    assert s["via"] == "unknown" and s["note"] == "no STS response in the logs issued this key id"
