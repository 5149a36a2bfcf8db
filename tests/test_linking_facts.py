"""The first pass's facts kept beside each events part (``linking/``): the graph they give
is the graph the events give, whatever made them, and a case without them (older, or a
part whose duplicates were dropped, or a damaged file) is read as before."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graphtrail.store.case import LINKING, Case
from graphtrail.synth.identities import build_identities
from graphtrail.synth.trails import write_trail
from graphtrail.wiring import build_case_graph
from loaders import pipeline
from loaders.facts.aggregate import rebatch
from loaders.facts.credentials import Linker
from loaders.facts.observed import FIRST_PASS_COLUMNS, first_pass_facts, rows_of
from tests import shapes as S

_TABLES = ("nodes", "edges", "sessions", "lineage", "activity", "activity_by_actor")


def _graph(case: Case) -> dict[str, pa.Table]:
    return {n: pq.read_table(case.path / "graph" / f"{n}.parquet") for n in _TABLES}


def _same_graph(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> None:
    for name in _TABLES:
        assert a[name].equals(b[name]), f"{name} differs"


@pytest.fixture(scope="module")
def identities_case(tmp_path_factory):
    """Every identity kind (console sign-ins, Identity Center portal calls, role chains,
    workloads, SAML), in several parts (two workers, two files a task)."""
    root = tmp_path_factory.mktemp("linking")
    build_identities(root / "whole", seed=3, noise_sessions=40)
    records = [r for f in sorted((root / "whole").glob("*.json"))
               for r in json.loads(f.read_text())["Records"]]
    for i in range(0, len(records), 60):  # a file each 60 records: parts to absorb in order
        S.write(root / "trail" / f"t-{i:05d}.json", S.s3_delivery(records[i:i + 60]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "TASK_OBJECTS", 2)
        summary, case = S.ingest_into(root / "case", root / "trail", workers=2)
    assert summary.events_added > 0
    build_case_graph(case)
    return Case.open(case.path)


def test_the_ingest_keeps_the_facts_of_every_part_and_the_graph_is_the_same_without_them(
        identities_case, tmp_path):
    case = identities_case
    parts = case.event_parts()
    assert len(parts) >= 2
    kept = sorted(p.name for p in (case.path / LINKING).glob("*.parquet"))
    assert kept == sorted(p.name for p in parts)
    assert sum(rows_of(case.linking_facts(p)) for p in parts) == case.event_count()
    with_facts = _graph(case)
    # the same case with its facts gone, then with one damaged: the parts are read instead
    copy = tmp_path / "copy"
    shutil.copytree(case.path, copy, symlinks=True)
    shutil.rmtree(copy / LINKING)
    build_case_graph(Case.open(copy))
    _same_graph(with_facts, _graph(Case.open(copy)))
    shutil.copytree(case.path / LINKING, copy / LINKING)
    (copy / LINKING / parts[0].name).write_bytes(b"PAR1 not a table")
    assert Case.open(copy).linking_facts(parts[0]) is None
    build_case_graph(Case.open(copy))
    _same_graph(with_facts, _graph(Case.open(copy)))


def test_facts_of_a_part_and_of_its_batches_leave_the_same_linker(identities_case):
    """Pass one absorbs whole parts (made by the ingest workers) or batches (made by the
    build): every span, STS call, console sign-in and portal call the same, in order."""
    case = identities_case
    whole, batched = Linker(), Linker()
    for part in case.event_parts():
        whole.absorb(case.linking_facts(part))
        for batch in rebatch(case.event_batches(FIRST_PASS_COLUMNS, parts=[part]), rows=7):
            batched.absorb(first_pass_facts(batch))
    assert whole.spans == batched.spans
    assert whole.sts_rows == batched.sts_rows and whole.sts_rows
    assert whole.console_rows == batched.console_rows and whole.console_rows
    assert whole.portal_rows == batched.portal_rows and whole.portal_rows
    whole.resolve()
    batched.resolve()
    assert whole.actor_of == batched.actor_of
    assert {s: vars(i) for s, i in whole.sessions.items()} == \
        {s: vars(i) for s, i in batched.sessions.items()}


def test_a_part_with_duplicates_dropped_has_no_facts_and_is_read(tmp_path):
    """An organization trail and an account trail deliver the same events: the part whose
    rows are dropped as duplicates is written again without them, and its facts (made from
    every row) are not kept."""
    first = S.write(tmp_path / "a" / "a.json", S.s3_delivery(S.story()))
    again = S.write(tmp_path / "b" / "b.json", S.s3_delivery(S.story() + [
        S.iam_user_call("ListBuckets", "s3.amazonaws.com", n=3)]))
    summary, case = S.ingest_into(tmp_path / "case", first)
    summary, case = S.ingest_into(tmp_path / "case", again)
    assert summary.duplicates == len(S.story()) and summary.events_added == 1
    parts = case.event_parts()
    assert len(parts) == 2
    assert [case.linking_facts(p) is not None for p in parts] == [True, False]
    build_case_graph(case)
    built = _graph(case)
    shutil.rmtree(case.path / LINKING)
    build_case_graph(case)
    _same_graph(built, _graph(case))


def test_facts_of_parts_no_longer_in_the_case_are_removed(tmp_path):
    trail = tmp_path / "trail"
    write_trail(trail, 600, seed=2, records_per_file=200, workers=1)
    _, case = S.ingest_into(tmp_path / "case", trail)
    stray = case.path / LINKING / "events-stray.parquet"
    shutil.copy(next((case.path / LINKING).glob("*.parquet")), stray)
    S.ingest_into(tmp_path / "case", trail)  # a write: what no commit lists goes
    assert not stray.exists()
    assert sorted(p.name for p in (case.path / LINKING).glob("*.parquet")) == \
        sorted(p.name for p in Case.open(case.path).event_parts())


def test_a_failed_console_sign_in_is_named_by_its_response_alone(tmp_path):
    """A failed ConsoleLogin logs no errorCode, only ``ConsoleLogin: Failure`` in its
    response; another call whose response says "Failure" is not a failed sign-in, and a
    sign-in that failed with an errorCode keeps it."""
    def login(n, outcome, **extra):
        return S.iam_user_call("ConsoleLogin", "signin.amazonaws.com", n=n,
                               responseElements={"ConsoleLogin": outcome}, **extra)
    records = [login(1, "Failure"), login(2, "Success"),
               S.iam_user_call("GetObject", n=3, responseElements={"Status": "Failure"}),
               login(4, "Failure", errorCode="AccessDenied")]
    _, case = S.ingest_into(tmp_path / "case", S.write(tmp_path / "a.json", S.s3_delivery(records)))
    build_case_graph(case)
    calls = pq.read_table(case.path / "graph" / "activity.parquet",
                          columns=["event_id", "error_code"]).to_pylist()
    assert {c["event_id"]: c["error_code"] for c in calls} == {
        S.event_id(1): "ConsoleLoginFailure", S.event_id(2): None, S.event_id(3): None,
        S.event_id(4): "AccessDenied"}
