"""The case on disk: dedup, incremental ingest, the manifest, ``info``, commits and the lock."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time

import pytest

from graphtrail.store.case import Case, CaseError
from loaders import pipeline
from loaders.events import parse_time
from loaders.pipeline import run_pipeline
from loaders.sources.files import list_files
from tests import shapes as S

STORY = S.story()


def _ids(case) -> list[str]:
    return sorted(r["event_id"] for r in case.events(["event_id"]).to_pylist())


def _manifest(case) -> dict[str, dict]:
    return {m["uri"]: m for m in case.manifest()}


# -- dedup -------------------------------------------------------------------------------


def test_same_file_twice_is_one_copy(tmp_path):
    a = S.write(tmp_path / "in" / "a.json", S.s3_delivery(STORY))
    b = S.write(tmp_path / "in" / "b.json", S.s3_delivery(STORY))
    summary, case = S.ingest_into(tmp_path / "case", a, b)
    assert (summary.events_added, summary.duplicates) == (len(STORY), len(STORY))
    assert _ids(case) == sorted(r["eventID"] for r in STORY)
    man = _manifest(case)
    assert (man[str(a)]["events_added"], man[str(a)]["duplicates"]) == (len(STORY), 0)
    assert (man[str(b)]["events_added"], man[str(b)]["duplicates"]) == (0, len(STORY))


def test_a_record_repeated_inside_one_file(tmp_path):
    f = S.write(tmp_path / "a.jsonl", S.json_lines(STORY + STORY[:2]))
    summary, case = S.ingest_into(tmp_path / "case", f)
    assert (summary.records_read, summary.events_added, summary.duplicates) == (9, 7, 2)
    assert case.event_count() == 7


def test_organization_trail_and_account_trail_copies(tmp_path):
    """An organization trail and the member's own trail deliver the same events, in other
    files under other prefixes, the org trail mixing in events of another account."""
    other = S.iam_user_call("DescribeInstances", "ec2.amazonaws.com", n=70)
    other["recipientAccountId"] = S.OTHER_ACCOUNT
    other["userIdentity"]["accountId"] = S.OTHER_ACCOUNT
    root = tmp_path / "logs"
    S.write(root / S.s3_key(stamp="20240801T1345Z", tag="acct1"), S.gz(S.s3_delivery(STORY[:4])))
    S.write(root / S.s3_key(stamp="20240801T1350Z", tag="acct2"), S.gz(S.s3_delivery(STORY[4:])))
    S.write(
        root / S.s3_key(org=S.ORG_ID, stamp="20240801T1345Z", tag="org1"),
        S.gz(S.s3_delivery(list(reversed(STORY)))),
    )
    S.write(
        root / S.s3_key(S.OTHER_ACCOUNT, org=S.ORG_ID, tag="org2"), S.gz(S.s3_delivery([other]))
    )
    summary, case = S.ingest_into(tmp_path / "case", root)
    assert summary.files_failed == []
    assert summary.events_added == len(STORY) + 1 == case.event_count()
    assert summary.duplicates == len(STORY)
    assert _ids(case) == sorted([r["eventID"] for r in STORY] + [other["eventID"]])
    assert case.info()["accounts"] == sorted([S.ACCOUNT, S.OTHER_ACCOUNT])


def test_reused_ids_with_different_times_are_different_events(tmp_path):
    recs = []
    for i, name in enumerate(["ConsoleLogin", "CreateUser", "CreateUser"]):
        r = S.iam_user_call(name, "iam.amazonaws.com", n=100 + i)
        r["eventID"] = "1"
        recs.append(r)
    summary, case = S.ingest_into(
        tmp_path / "case", S.write(tmp_path / "p.jsonl", S.json_lines(recs))
    )
    assert (summary.events_added, summary.duplicates) == (3, 0)


def test_panther_style_reused_event_id_for_different_events_is_not_merged(tmp_path):
    """Rule-test fixtures copy one record and edit the caller or the parameters, keeping
    eventID "1" and the time: these are different events and all must be kept."""
    base = S.iam_user_call("UpdateFunctionConfiguration20150331v2", "lambda.amazonaws.com", n=0)
    base["eventID"] = "1"
    variants = []
    for user in ("alice", "bob", "carol"):
        v = copy.deepcopy(base)
        v["userIdentity"] = S.iam_user_identity(user, key=f"AKIA{user.upper():0<16}")
        variants.append(v)
    with_layers = copy.deepcopy(base)
    with_layers["requestParameters"] = {
        "layers": ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]
    }
    variants.append(with_layers)
    f = S.write(
        tmp_path / "rule_tests.jsonl", S.json_lines(variants + [copy.deepcopy(variants[0])])
    )
    summary, case = S.ingest_into(tmp_path / "case", f)
    assert (summary.events_added, summary.duplicates) == (4, 1)
    users = sorted(r["user_name"] for r in case.events(["user_name"]).to_pylist())
    assert users == ["alice", "alice", "bob", "carol"]


def test_the_copy_kept_does_not_depend_on_worker_timing(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "TASK_OBJECTS", 1)  # one file per task
    read_task, here = pipeline.read_task, os.getpid()

    def slow_first_file(task, *args):  # the workers are forked: they inherit this patch
        if os.getpid() != here and any(obj.uri.endswith("a-first.json") for obj, _ in task):
            time.sleep(1.5)  # in a worker only: the first file's task finishes last
        return read_task(task, *args)

    monkeypatch.setattr(pipeline, "read_task", slow_first_file)
    logs = tmp_path / "logs"
    S.write(logs / "a-first.json", S.s3_delivery(STORY))
    S.write(logs / "b-copy.json", S.s3_delivery(STORY))
    _, serial = S.ingest_into(tmp_path / "w0", logs, workers=0)
    _, parallel = S.ingest_into(tmp_path / "w2", logs, workers=2)

    def kept(case):
        return sorted((r["event_id"], r["source_file"]) for r in case.events().to_pylist())

    assert {f for _, f in kept(serial)} == {str(logs / "a-first.json")}
    assert kept(parallel) == kept(serial)


# -- incremental -------------------------------------------------------------------------


def test_incremental_ingest(tmp_path):
    logs = tmp_path / "logs"
    first = S.write(logs / "1.json.gz", S.gz(S.s3_delivery(STORY[:4])))
    second = S.write(logs / "2.json.gz", S.gz(S.s3_delivery(STORY[4:])))
    s1, case = S.ingest_into(tmp_path / "case", logs)
    assert (s1.files_read, s1.events_added) == (2, len(STORY))
    before = (case.manifest(), _ids(case), case.event_parts())

    s2, case = S.ingest_into(tmp_path / "case", logs)
    assert (s2.files_read, s2.files_unchanged, s2.records_read) == (0, 2, 0)
    assert (s2.events_added, s2.duplicates) == (0, 0)
    assert (case.manifest(), _ids(case), case.event_parts()) == before

    # A new file with two new events and one already held; the old files stay skipped.
    new = [
        S.iam_user_call("DeleteTrail", "cloudtrail.amazonaws.com", n=90),
        S.iam_user_call("StopLogging", "cloudtrail.amazonaws.com", n=91),
        STORY[0],
    ]
    third = S.write(logs / "3.json.gz", S.gz(S.s3_delivery(new)))
    s3, case = S.ingest_into(tmp_path / "case", logs)
    assert (s3.files_read, s3.files_unchanged) == (1, 2)
    assert (s3.events_added, s3.duplicates) == (2, 1)
    assert case.event_count() == len(STORY) + 2
    man = _manifest(case)
    assert set(man) == {str(first), str(second), str(third)}
    assert (man[str(third)]["events_added"], man[str(third)]["duplicates"]) == (2, 1)


def test_an_ingest_that_adds_no_event_keeps_the_graph(tmp_path):
    """Files already held, a damaged one, nothing new: the graph built before is still the
    graph of the case's events, and is not built again (at 1M events: 7.8 s for nothing).
    A new event, or a new Insights event, is built."""
    from tests.conftest import ingest_paths

    logs = tmp_path / "logs"
    S.write(logs / "1.json.gz", S.gz(S.s3_delivery(STORY)))
    case = ingest_paths([str(logs)], tmp_path / "case")
    built = os.path.realpath(case.path / "graph")
    gen = case.generation
    S.write(logs / "damaged.json", b"{not json")
    case = ingest_paths([str(logs)], tmp_path / "case")
    assert case.generation == gen + 1  # the manifest learnt of the damaged file
    assert "damaged.json" in json.dumps(case.manifest())
    assert case.graph_is_current() and os.path.realpath(case.path / "graph") == built
    S.write(logs / "2.json.gz", S.gz(S.s3_delivery([S.insight_event(n=3)])))
    case = ingest_paths([str(logs)], tmp_path / "case")
    assert case.insights().num_rows == 1 and case.graph_is_current()
    assert os.path.realpath(case.path / "graph") != built
    built = os.path.realpath(case.path / "graph")
    new = S.iam_user_call("DeleteTrail", "cloudtrail.amazonaws.com", n=90)
    S.write(logs / "3.json.gz", S.gz(S.s3_delivery([new])))
    case = ingest_paths([str(logs)], tmp_path / "case")
    assert os.path.realpath(case.path / "graph") != built
    assert new["eventID"] in case.graph_table("activity", ["event_id"]).column("event_id").to_pylist()


def test_a_file_that_grew_is_read_again_and_adds_only_its_new_events(tmp_path):
    f = S.write(tmp_path / "live.jsonl", S.json_lines(STORY[:3]))
    S.ingest_into(tmp_path / "case", f)
    S.write(f, S.json_lines(STORY))
    summary, case = S.ingest_into(tmp_path / "case", f)
    assert (summary.files_read, summary.events_added, summary.duplicates) == (1, 4, 3)
    m = _manifest(case)[str(f)]
    assert m["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert m["records"] == len(STORY)


def test_a_failed_file_is_read_again_next_time(tmp_path):
    f = S.write(tmp_path / "cut.json", S.s3_delivery(STORY)[:-40])
    s1, _ = S.ingest_into(tmp_path / "case", f)
    assert len(s1.files_failed) == 1
    s2, case = S.ingest_into(tmp_path / "case", f)
    assert (s2.files_read, s2.files_unchanged, s2.events_added) == (1, 0, 0)
    assert s2.duplicates == s1.events_added > 0
    S.write(f, S.s3_delivery(STORY))  # the full file arrives
    s3, case = S.ingest_into(tmp_path / "case", f)
    assert s3.files_failed == [] and case.event_count() == len(STORY)
    assert _manifest(case)[str(f)]["error"] is None


# -- manifest and info -------------------------------------------------------------------


def test_manifest_fields(tmp_path):
    logs = tmp_path / "logs"
    good = S.write(logs / "good.json.gz", S.gz(S.s3_delivery(STORY + STORY[:1])))
    bad = S.write(logs / "bad.json", b'{"Records": [' + json.dumps(STORY[0]).encode() + b", {nope")
    digest = S.write(logs / S.s3_key(digest=True), S.gz(json.dumps(S.digest_document()).encode()))
    _, case = S.ingest_into(tmp_path / "case", logs)
    man = _manifest(case)
    assert set(man) == {str(good), str(bad), str(digest)}
    g = man[str(good)]
    assert g["size"] == good.stat().st_size
    assert g["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()
    # bad.json is read first and holds STORY[0]: here it is a second duplicate.
    assert (g["records"], g["events_added"], g["duplicates"]) == (len(STORY) + 1, len(STORY) - 1, 2)
    assert [parse_time(g[k]) for k in ("first_time", "last_time")] == [
        parse_time(S.at(1)),
        parse_time(S.at(41)),
    ]
    assert g["error"] is None and g["kind"] == "trail"
    b = man[str(bad)]
    assert b["error"].startswith("invalid JSON at byte")
    assert (b["records"], b["events_added"], b["duplicates"]) == (1, 1, 0)
    assert b["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    d = man[str(digest)]
    assert (d["kind"], d["records"], d["events_added"], d["error"]) == ("digest", 0, 0, None)


def test_manifest_times_are_written_as_cloudtrail_writes_them(tmp_path):
    _, case = S.ingest_into(tmp_path / "case", S.write(tmp_path / "a.json", S.s3_delivery(STORY)))
    m = case.manifest()[0]
    assert (m["first_time"], m["last_time"]) == (S.at(1), S.at(41))


def test_case_info_numbers(tmp_path):
    logs = tmp_path / "logs"
    other = S.iam_user_call("DescribeInstances", "ec2.amazonaws.com", n=3600, region="eu-west-1")
    other["recipientAccountId"] = S.OTHER_ACCOUNT
    S.write(logs / "a.json.gz", S.gz(S.s3_delivery(STORY)))
    S.write(logs / "b.jsonl", S.json_lines([other, S.insight_event()]))
    S.write(logs / "broken.json", b"[{")
    S.write(logs / S.s3_key(digest=True), S.gz(json.dumps(S.digest_document()).encode()))
    _, case = S.ingest_into(tmp_path / "case", logs)
    info = case.info()
    assert info["events"] == len(STORY) + 1
    assert info["insights"] == 1
    assert info["first_event"] == "2024-08-01T13:40:01Z"
    assert info["last_event"] == "2024-08-01T14:40:00Z"
    assert info["accounts"] == [S.ACCOUNT, S.OTHER_ACCOUNT]
    assert info["regions"] == ["eu-west-1", "us-east-1"]
    assert info["event_sources"] == 4  # iam, sts, s3, ec2
    assert (info["files"], info["files_failed"], info["digest_files"]) == (4, 1, 1)
    assert info["bytes"] == sum(p.stat().st_size for p in logs.rglob("*") if p.is_file())
    assert info["generation"] == 1


def test_case_info_read_in_batches_is_the_whole_tables(tmp_path):
    """``info`` reads the events a batch at a time, their text as dictionaries: the same
    answer as the whole table, with calls missing their source, region and accounts."""
    import pyarrow.compute as pc

    logs = tmp_path / "logs"
    lost = S.iam_user_call("DescribeInstances", "ec2.amazonaws.com", n=3601, region="eu-west-1")
    for field in ("eventSource", "awsRegion", "recipientAccountId"):
        lost.pop(field, None)
    lost["userIdentity"].pop("accountId", None)
    S.write(logs / "a.json.gz", S.gz(S.s3_delivery(STORY)))
    S.write(tmp_path / "later" / "b.jsonl", S.json_lines([lost]))
    S.ingest_into(tmp_path / "case", logs)
    _, case = S.ingest_into(tmp_path / "case", tmp_path / "later")  # a second part
    assert len(case.event_parts()) == 2
    t = case.events(["time", "account_id", "recipient_account_id", "region", "event_source"])
    info = case.info()
    assert info["events"] == t.num_rows == len(STORY) + 1
    accounts = set(pc.unique(t.column("recipient_account_id")).to_pylist())
    accounts |= set(pc.unique(t.column("account_id")).to_pylist())
    assert info["accounts"] == sorted(a for a in accounts if a)
    assert info["regions"] == sorted(r for r in pc.unique(t.column("region")).to_pylist() if r)
    assert None in pc.unique(t.column("event_source")).to_pylist()  # a missing source counts
    assert info["event_sources"] == len(pc.unique(t.column("event_source")))
    lo, hi = pc.min_max(t.column("time")).values()
    assert (info["first_event"], info["last_event"]) == tuple(
        v.as_py().strftime("%Y-%m-%dT%H:%M:%SZ") for v in (lo, hi))


def test_events_read_back_with_pandas(tmp_path):
    _, case = S.ingest_into(tmp_path / "case", S.write(tmp_path / "a.json", S.s3_delivery(STORY)))
    df = case.events_df(["event_name", "issued_key"])
    assert sorted(df["issued_key"].dropna()) == sorted(
        ["ASIADEPLOY000EXAMPLE", "ASIALAMBDA000EXAMPLE", S.NEW_USER_KEY]
    )


# -- commits, interruption, lock ---------------------------------------------------------


def _parts(case_dir) -> set[str]:
    return {p.name for p in (case_dir / "events").glob("*.parquet")}


def test_interrupted_ingest_leaves_the_case_as_at_the_last_commit(tmp_path):
    case_dir = tmp_path / "case"
    S.ingest_into(case_dir, S.write(tmp_path / "a.json", S.s3_delivery(STORY[:3])))
    case = Case.open(case_dir)
    state, parts, manifest = dict(case.state), _parts(case_dir), case.manifest()
    newer = S.write(tmp_path / "b.json", S.s3_delivery(STORY[3:]))
    with pytest.raises(RuntimeError, match="power cut"):
        with case.ingest() as session:
            for part in run_pipeline(
                list_files([str(newer)]),
                session.staging,
                workers=0,
                known_sha256=case.known_sha256(),
            ):
                session.add(part)
            assert len(_parts(case_dir)) == len(parts) + 1  # the part was adopted...
            raise RuntimeError("power cut")  # ...but never committed
    again = Case.open(case_dir)
    assert again.state == state
    assert again.event_count() == 3 and again.manifest() == manifest
    assert _parts(case_dir) == parts
    assert not (case_dir / ".staging").exists()
    # The next ingest sees none of the lost attempt: the events are new, not duplicates.
    summary, case = S.ingest_into(case_dir, newer)
    assert (summary.events_added, summary.duplicates) == (len(STORY) - 3, 0)


def test_what_a_killed_ingest_left_is_removed_on_the_next_write(tmp_path):
    case_dir = tmp_path / "case"
    S.ingest_into(case_dir, S.write(tmp_path / "a.json", S.s3_delivery(STORY)))
    committed = _parts(case_dir)
    stray = next(iter(committed)).replace("events-", "events-stray")
    (case_dir / "events" / stray).write_bytes(
        (case_dir / "events" / next(iter(committed))).read_bytes()
    )
    S.write(case_dir / ".staging" / "events-x.parquet", b"half written")
    S.write(case_dir / "manifest-99.jsonl", b"{}\n")
    assert Case.open(case_dir).event_count() == len(STORY)  # readers see only committed parts
    S.ingest_into(case_dir, tmp_path / "a.json")
    assert _parts(case_dir) == committed
    assert not (case_dir / ".staging" / "events-x.parquet").exists()
    assert not (case_dir / "manifest-99.jsonl").exists()


def test_the_lock_keeps_a_second_writer_out(tmp_path):
    case_dir = tmp_path / "case"
    S.ingest_into(case_dir, S.write(tmp_path / "a.json", S.s3_delivery(STORY[:2])))
    with Case.open(case_dir).ingest():
        with pytest.raises(CaseError, match="another graphtrail process"):
            with Case.open(case_dir).ingest():
                pass
        with pytest.raises(CaseError):
            S.ingest_into(case_dir, tmp_path / "a.json")
        assert Case.open(case_dir).event_count() == 2  # reading is fine meanwhile
    summary, _ = S.ingest_into(case_dir, S.write(tmp_path / "b.json", S.s3_delivery(STORY[2:])))
    assert summary.events_added == len(STORY) - 2


def test_open_refuses_what_is_not_a_case(tmp_path):
    with pytest.raises(CaseError, match="not a graphtrail case"):
        Case.open(tmp_path)
    (tmp_path / "case.json").write_text("{not json")
    with pytest.raises(CaseError, match="unreadable"):
        Case.open(tmp_path)
