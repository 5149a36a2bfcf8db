"""The catalogue on both cores: shared with a forked worker (``both_cores``), or run ahead
by a report (``ahead``). Real forks over the demo case; the answer must be the serial one."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time

import pytest

from graphtrail.queries.findings import _everything, _run, both_cores, findings, kept_as
from graphtrail.queries.findings import rules as _catalogue  # noqa: F401  (registers the rules)
from graphtrail.queries.findings.ahead import findings_ahead
from graphtrail.queries.findings.base import RULES, Context, Rule
from graphtrail.queries.findings.cache import FOLDER, is_kept
from graphtrail.queries.findings.config import Config
from graphtrail.queries.findings.organization import organization_accounts
from graphtrail.queries.seeds import SeedError
from graphtrail.store.memory import MemoryStore
from graphtrail.views.report import build_report
from graphtrail.views.report import data as report_data


@pytest.fixture
def case(demo_case_copy):
    return demo_case_copy


def _dicts(found) -> list[dict]:
    return [f.to_dict() for f in found]


def _chosen(store):
    """The catalogue's (rule, hits) over ``store``, as ``findings`` makes them."""
    ctx = Context(store, config=Config())
    ctx.org_accounts |= organization_accounts(ctx)
    chosen = _everything(ctx, None, None)
    assert len(chosen) > 20
    return chosen


def _until(path, seconds: float = 60.0) -> None:
    """Wait for the worker to have reached ``path`` (it takes a rule as soon as it is
    forked; without the wait a fast parent could run them all first)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"the worker never took a rule ({path.name})"
        time.sleep(0.01)


def _serial(store):
    return _dicts(_run(store, None, None, None, Config(), None, None, None, None))


def test_rules_shared_with_a_worker_give_the_serial_answer(case, monkeypatch):
    serial = _serial(MemoryStore.open(case))
    assert serial, "the demo incident raises findings"
    monkeypatch.setattr(both_cores, "SHARE_MIN_EVENTS", 0)
    store = MemoryStore.open(case)
    assert both_cores.can_share(store)
    ticks: list[tuple[int, int]] = []
    shared = findings(store, progress=lambda done, total: ticks.append((done, total)))
    assert _dicts(shared) == _dicts(findings(MemoryStore.open(case)))  # kept, read back
    # the engine's answer before triage, finding for finding, in catalogue order
    assert _dicts(_run(MemoryStore.open(case), None, None, None, Config(), None, None, None,
                       None)) == serial
    n = ticks[0][1]
    assert ticks[0] == (0, n) and ticks[-1] == (n, n)
    assert all(a[0] < b[0] for a, b in zip(ticks, ticks[1:], strict=False))


def test_both_processes_run_rules(case, tmp_path):
    store = MemoryStore.open(case)
    chosen = _chosen(store)
    marks = tmp_path / "pids"
    marks.mkdir()

    me, started = os.getpid(), tmp_path / "worker started"

    def slow(i, hits):
        def run():
            if os.getpid() == me:
                _until(started)  # the worker takes one before this process goes on
            else:
                started.touch()
            (marks / f"{i}-{os.getpid()}").touch()
            return hits()
        return run

    shared = both_cores.run_on_both_cores(
        store, [(r, slow(i, h)) for i, (r, h) in enumerate(chosen)], Config(), None)
    ran = [p.name.split("-") for p in marks.iterdir()]
    assert sorted(int(i) for i, _ in ran) == list(range(len(chosen)))  # each rule once
    assert {pid for _, pid in ran} - {str(os.getpid())}, "the worker ran none of the rules"
    assert _dicts(shared) == _serial(MemoryStore.open(case))


def test_a_worker_that_dies_costs_only_time(case, tmp_path):
    store = MemoryStore.open(case)
    me = os.getpid()
    died = tmp_path / "died"

    def fragile(hits):
        def run():
            if os.getpid() != me:  # in the worker: killed at its first rule
                died.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            _until(died)
            return hits()
        return run

    shared = both_cores.run_on_both_cores(
        store, [(r, fragile(h)) for r, h in _chosen(store)], Config(), None)
    assert died.exists(), "the worker never took a rule"
    assert _dicts(shared) == _serial(MemoryStore.open(case))


def test_a_worker_killed_holding_the_counter_costs_only_time(case, monkeypatch, tmp_path):
    monkeypatch.setattr(both_cores, "LOCK_SECONDS", 0.5)
    store = MemoryStore.open(case)
    me, died = os.getpid(), tmp_path / "died"

    def grabbing(hits):
        def run():
            if os.getpid() != me:  # the worker takes the counter's lock and dies with it
                both_cores._JOB[4].get_lock().acquire()
                died.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            _until(died)
            return hits()
        return run

    started = time.monotonic()
    shared = both_cores.run_on_both_cores(
        store, [(r, grabbing(h)) for r, h in _chosen(store)], Config(), None)
    assert time.monotonic() - started < 20
    assert _dicts(shared) == _serial(MemoryStore.open(case))


def test_a_rule_that_fails_in_the_worker_fails_the_run(case, tmp_path):
    store = MemoryStore.open(case)
    me, failed = os.getpid(), tmp_path / "failed"

    def failing(hits):
        def run():
            if os.getpid() != me:
                failed.touch()
                raise ValueError("a rule's own error")
            _until(failed)
            return hits()
        return run

    with pytest.raises(ValueError, match="a rule's own error"):
        both_cores.run_on_both_cores(store, [(r, failing(h)) for r, h in _chosen(store)],
                                     Config(), None)


def test_a_report_has_the_findings_kept_in_a_process_ahead(case, scenario):
    _, truth = scenario
    store = MemoryStore.open(case)
    ahead = findings_ahead(store, min_events=0)
    assert ahead.child is not None
    ahead.wait()
    assert ahead.child.exitcode == 0
    assert is_kept(store, kept_as())  # kept by the process ahead: nothing else ran them
    assert _dicts(findings(store)) == _dicts(findings(MemoryStore.open(case)))
    assert findings_ahead(store, min_events=0).child is None  # kept already: nothing to fork
    assert findings_ahead(MemoryStore.open(case), min_events=0, sigma=[]).child is None


def test_the_report_is_the_same_with_the_findings_run_ahead(case, scenario, tmp_path, monkeypatch):
    _, truth = scenario
    alone = build_report(MemoryStore.open(case), truth.leaked_key)
    shutil.rmtree(MemoryStore.open(case).case.graph_dir() / FOLDER)
    monkeypatch.setattr("graphtrail.queries.findings.ahead.AHEAD_MIN_EVENTS", 0)
    forks = []
    real = report_data.findings_ahead

    def watched(store, **kw):
        forks.append(real(store, **kw))
        return forks[-1]

    monkeypatch.setattr(report_data, "findings_ahead", watched)
    ahead = build_report(MemoryStore.open(case), truth.leaked_key)
    assert forks and forks[0].child is not None and forks[0].child.exitcode == 0
    assert _dicts(ahead.findings) == _dicts(alone.findings) and ahead.findings
    assert ahead.severity == alone.severity
    assert list(ahead.timeline["event_id"]) == list(alone.timeline["event_id"])
    assert ahead.evidence == alone.evidence and ahead.files == alone.files
    assert ahead.missing == alone.missing
    assert list(ahead.timeline["request"]) == list(alone.timeline["request"])


def test_ctrl_c_ends_the_run_ahead_quietly(case, monkeypatch, capfd):
    """Ctrl-C reaches the whole process group: the process ahead ends with 130 and prints
    nothing (the caller reports the interruption), not a traceback of its own."""
    def interrupted(ctx):
        raise KeyboardInterrupt

    monkeypatch.setitem(RULES, "GT-TEST-INT", Rule("GT-TEST-INT", "interrupted", "low", "Test",
                                                   "T0000", "", interrupted))
    ahead = findings_ahead(MemoryStore.open(case), min_events=0)
    ahead.wait()
    assert ahead.child.exitcode == 130
    assert capfd.readouterr().err == ""


def test_a_cancelled_run_ahead_leaves_nothing(case, scenario, monkeypatch):
    store = MemoryStore.open(case)
    ahead = findings_ahead(store, min_events=0)
    ahead.cancel()
    assert ahead.child.exitcode is not None
    folder = store.case.graph_dir() / FOLDER
    assert not folder.is_dir() or not list(folder.glob(".*.tmp"))
    monkeypatch.setattr("graphtrail.queries.findings.ahead.AHEAD_MIN_EVENTS", 0)
    with pytest.raises(SeedError):
        build_report(MemoryStore.open(case), "AKIAIOSFODNN7NOTHERE")
    assert not multiprocessing.active_children()
