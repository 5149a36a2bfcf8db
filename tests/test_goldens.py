"""Golden answers: a changed answer fails here, with its diff, until a person reviews it.

Cases: the demo incident (seed 0), two more generated scenarios, and each folder of
../shared/datasets (skipped when absent). Seeds: every access key that issued a session,
plus the scenario's leaked key. See tests/goldens.py and README, "Golden answers".
"""

from __future__ import annotations

import pytest

from graphtrail.store.memory import MemoryStore
from graphtrail.synth.scenarios import build_scenario
from tests.conftest import DATASETS, ingest_paths
from tests.goldens import QUESTIONS, answer, check, seeds_of

SCENARIOS = {"scenario-seed1": 1, "scenario-seed2": 2}
FOLDERS = sorted(p.name for p in DATASETS.iterdir() if p.is_dir()) if DATASETS.is_dir() else []
CASES = ["demo", *SCENARIOS, *(f"datasets-{f}" for f in FOLDERS)]
# A known bug: a record without a source IP crashes the GT-DISC-001 rule (ids.is_ip(NaN)).
# (case, question) -> "bug: ..." for an answer known to be wrong: marked xfail(strict), so the
# fix shows up as a failure until its golden is written. None open.
KNOWN_BUGS: dict[tuple[str, str], str] = {}
_CASES: dict[str, tuple] = {}


def _case(case: str, request, factory) -> tuple:
    """(store, seeds, logs folder) of a golden case, built once a session."""
    if case in _CASES:
        return _CASES[case]
    if case == "demo":
        store, truth = request.getfixturevalue("scenario")
        found = store, seeds_of(store, truth.leaked_key), store.case.path.parent / "logs"
    elif case in SCENARIOS:
        root = factory.mktemp(case)
        truth = build_scenario(root / "logs", seed=SCENARIOS[case], noise_events=300)
        store = MemoryStore(ingest_paths([str(root / "logs")], root / "case"))
        found = store, seeds_of(store, truth.leaked_key), root / "logs"
    else:
        folder = DATASETS / case.removeprefix("datasets-")
        store = MemoryStore(ingest_paths([str(folder)], factory.mktemp(case) / "case"))
        found = store, seeds_of(store), folder
    _CASES[case] = found
    return found


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("case", CASES)
def test_golden_answer(case, question, request, tmp_path_factory, update_goldens):
    if (case, question) in KNOWN_BUGS:
        request.applymarker(pytest.mark.xfail(strict=True, raises=TypeError,
                                              reason=KNOWN_BUGS[case, question]))
    store, seeds, logs = _case(case, request, tmp_path_factory)
    check(case, question, answer(store, question, seeds, logs), update_goldens)


def test_datasets_are_covered():
    """Every dataset folder has its goldens (the folder list is read, not typed)."""
    if not FOLDERS:
        pytest.skip(f"{DATASETS} is absent")
    assert {f"datasets-{f}" for f in FOLDERS} <= set(CASES)
