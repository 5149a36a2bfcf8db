"""``ingest --follow``: only the lineage is fetched, and it answers as the whole trail does.

On the generated incident (three accounts, a missing caller copy, a recycled key id, a
benign twin) and on the identity trail (console, Identity Center, workloads, SAML, OIDC,
federation), a case filled by following a seed through DuckDB gives the same blast radius
and the same chains for that seed as a case of every record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from graphtrail.cli.main import app
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.seeds import SeedError, parse_time_bound
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.identities import build_identities
from graphtrail.wiring import link_case, run_ingest
from loaders.engines.duckdb import DuckDBEngine
from loaders.follow.lineage import FollowSet
from loaders.follow.rounds import FollowStats, follow_objects
from tests.clirunner import cli_runner
from tests.conftest import ingest_paths
from tests.test_identity_lineages import LINEAGES


def follow_case(engine, seeds: FollowSet, case_dir, since=None, until=None):
    """A case of only what following ``seeds`` fetched; (store, stats). The engine stays
    open (one load of the trail serves every seed)."""
    stats = FollowStats(engine.name)
    case = Case.open(case_dir, create=True)
    summary = run_ingest(follow_objects(engine, seeds, stats, since=since, until=until,
                                        close=False), case, workers=0)
    link_case(case, summary)
    return MemoryStore(case), stats


def answer(store, seed: str, since=None, until=None):
    """Blast radius and chains of ``seed`` as JSON-able data (or the refusal's text)."""
    lo, hi = parse_time_bound(since), parse_time_bound(until)
    try:
        br = blast_radius(store, seed, since=lo, until=hi).to_dict()
    except SeedError as exc:
        return {"refused": str(exc)}
    found = [c.to_dict() for c in chains(store, since=lo, until=hi)
             if set(c.sessions) & set(br["sessions"])]
    return {"blast_radius": br, "chains": found}


@pytest.fixture(scope="module")
def incident(scenario):
    store, truth = scenario
    return store, truth, store.case.path.parent / "logs"


def _seeds_of_incident(truth) -> list[tuple[str, FollowSet, str]]:
    return [
        ("leaked key", FollowSet.of(keys=[truth.leaked_key]), truth.leaked_key),
        ("second hop", FollowSet.of(keys=[truth.session_keys[1]["key"]]),
         truth.session_keys[1]["key"]),
        ("third hop (caller copy missing)", FollowSet.of(keys=[truth.session_keys[2]["key"]]),
         truth.session_keys[2]["key"]),
        ("backdoor key", FollowSet.of(keys=[truth.created[1]["id"]]), truth.created[1]["id"]),
        ("recycled key id", FollowSet.of(keys=[truth.recycled_key["key"]]),
         truth.recycled_key["key"]),
        ("leaked user", FollowSet.of(principals=[truth.leaked_user]), truth.leaked_user),
        ("attacker address", FollowSet.of(ips=[truth.attacker_ips[0]]), truth.attacker_ips[0]),
    ]


@pytest.fixture(scope="module")
def followed_incident(incident, tmp_path_factory):
    store, truth, logs = incident
    out = {}
    engine = DuckDBEngine([str(logs)])
    try:
        for i, (name, seeds, seed) in enumerate(_seeds_of_incident(truth)):
            root = tmp_path_factory.mktemp(f"follow{i}")
            out[name] = (seed, *follow_case(engine, seeds, root / "case"))
    finally:
        engine.close()
    return out


@pytest.mark.parametrize("name", ["leaked key", "second hop", "third hop (caller copy missing)",
                                  "backdoor key", "recycled key id", "leaked user",
                                  "attacker address"])
def test_following_a_seed_answers_as_the_whole_trail(incident, followed_incident, name):
    store, truth, _ = incident
    seed, followed, stats = followed_incident[name]
    assert stats.complete and stats.rounds >= 2
    assert answer(followed, seed) == answer(store, seed)


def test_following_fetches_the_lineage_and_little_else(incident, followed_incident):
    store, truth, _ = incident
    _, followed, stats = followed_incident["leaked key"]
    kept = set(followed.case.events(["event_id"]).column("event_id").to_pylist())
    assert truth.attacker_event_ids <= kept
    assert not kept & set(truth.benign_event_ids)  # the benign twin's sessions stay out
    assert len(kept) < store.case.event_count() / 5
    assert stats.rows_scanned == stats.rounds * truth.record_count  # each round, the table


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    root = tmp_path_factory.mktemp("follow-identities")
    truth = build_identities(root / "logs", seed=3)
    engine = DuckDBEngine([str(root / "logs")])
    yield MemoryStore(ingest_paths([str(root / "logs")], root / "case")), truth, root, engine
    engine.close()


def _moment(text: str | None) -> datetime | None:
    t = parse_time_bound(text)
    return None if t is None else datetime.fromtimestamp(t / 1e6, UTC)


@pytest.mark.parametrize("name", LINEAGES)
def test_every_identity_kind_followed_answers_as_the_whole_trail(identities, name):
    store, truth, root, engine = identities
    lin = truth.lineages[name]
    followed, _ = follow_case(engine, FollowSet.of(keys=[lin.seed]), root / f"case-{name}",
                              _moment(lin.since), _moment(lin.until))
    assert answer(followed, lin.seed, lin.since, lin.until) == answer(store, lin.seed, lin.since,
                                                                      lin.until)


def test_cli_follow_summary_and_evidence(incident, tmp_path):
    _, truth, logs = incident
    result = cli_runner().invoke(app, ["ingest", str(logs), "--follow", truth.leaked_key,
                                      "--case", str(tmp_path / "case"), "--format", "json",
                                      "--workers", "0"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    follow = summary["follow"]
    assert follow["engine"] == "duckdb" and follow["rounds"] >= 2
    assert follow["records_fetched"] >= summary["events_added"] > 0
    assert follow["rows_scanned"] > follow["records_fetched"] and follow["bytes_scanned"] > 0
    queries = [m["query"] for m in Case.open(tmp_path / "case").manifest() if m.get("query")]
    assert queries and all(q["engine"] == "duckdb" and q["query_id"] and q["rows"] > 0
                           for q in queries)
    assert truth.leaked_key in queries[0]["sql"] and "FROM cloudtrail" in queries[0]["sql"]


@pytest.mark.parametrize("args, message", [
    (["--follow", "x' OR 1=1 --"], "is not an access key id"),
    (["--follow-principal", "alice"], "is not an IAM or STS ARN"),
    (["--follow-ip", "300.1.1.1"], "is not an IP address"),
])
def test_cli_follow_refuses_what_is_not_a_seed(incident, tmp_path, args, message):
    _, _, logs = incident
    result = cli_runner().invoke(app, ["ingest", str(logs), *args, "--case", str(tmp_path / "c")])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "c").exists()


def test_cli_follow_refuses_s3_without_an_engine_next_to_it(tmp_path):
    result = cli_runner().invoke(app, ["ingest", "s3://trail-bucket/AWSLogs/", "--follow",
                                      "AKIAEXAMPLEKEY000001", "--case", str(tmp_path / "c")])
    assert result.exit_code == 2 and "athena://" in result.stderr
