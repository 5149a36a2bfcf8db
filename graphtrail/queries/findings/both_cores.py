"""The catalogue's rules shared between this process and a forked one.

At a million calls the catalogue costs seconds of one core, most of it a handful of rules
each reading and grouping every call. When the store is an embedded case of at least
``min_events`` events and the platform can ``fork``, :func:`run_on_both_cores` forks one
worker once the shared work is done (the case opened, the organization's accounts found,
the columns they read converted): the worker inherits all of it, and the two processes take
the rules one at a time from a shared counter, the expensive ones first. Each finding is
made by the process that ran its rule; the parent puts them back in catalogue order, so the
answer is the one the serial loop gives, finding for finding.

A rule that raises in the worker raises here, as it would have in the loop. A worker that
dies (killed, out of memory) costs only time: the rules it had not handed back run here.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from graphtrail.queries.findings.base import Finding, Rule, finding_of

__all__ = ["run_on_both_cores", "can_share", "can_fork", "room_to_fork", "SHARE_MIN_EVENTS", "FIRST",
           "FORK_BYTES_PER_EVENT"]

SHARE_MIN_EVENTS = 100_000  # below this the whole catalogue takes well under a second
# the rules that read and group every call, measured at 1M generated events: taken first,
# so that neither process is left with one of them when the other has finished
FIRST = ("GT-DISC-001", "GT-EXF-001", "GT-DISC-002", "GT-CRED-003", "GT-CRED-001",
         "GT-DISC-003", "GT-INIT-001")

LOCK_SECONDS = 30.0  # the longest wait for the shared counter (see _lock)
_JOB: tuple | None = None  # what the forked worker inherits: set only around the fork


def can_share(store, min_events: int | None = None) -> bool:
    """Whether the rules over ``store`` are worth, and safe, sharing with a forked worker
    (:func:`can_fork`, from :data:`SHARE_MIN_EVENTS` events unless ``min_events``)."""
    return can_fork(store, SHARE_MIN_EVENTS if min_events is None else min_events)


def can_fork(store, min_events: int) -> bool:
    """Whether forking a copy of this process to run findings over ``store`` is safe and
    worth it: an embedded case (a server's driver is not to be shared across a fork) of at
    least ``min_events`` events, on a platform with ``fork``, in a process allowed children,
    with the memory free for the run with a fork (:func:`room_to_fork`)."""
    case = getattr(store, "case", None)
    if (getattr(store, "backend", None) != "memory" or case is None
            or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):
        return False
    events = case.event_count()
    return events >= min_events and room_to_fork(events)


# What a findings run over a case of N events may still need, with a fork, beyond what the
# process holds when it forks: measured on generated trails (2026-12-03, PSS of all the
# processes), the serial run grows by about 0.64 kB an event and the fork adds 0.37-0.42;
# twice that, for trails with heavier columns than the generator's.
FORK_BYTES_PER_EVENT = 2048


def room_to_fork(events: int = 0, meminfo: str = "/proc/meminfo",
                 status: str = "/proc/self/status") -> bool:
    r"""Whether the memory the kernel says is available holds twice what this process has
    resident (a forked worker shares the parent's pages only until either writes to them)
    and what a run over ``events`` events may still need with a fork
    (:data:`FORK_BYTES_PER_EVENT`). A machine that could run the findings in one process
    but not in two is left with one. Where the kernel does not say (not Linux), yes.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "m").write_text("MemTotal: 8000 kB\nMemAvailable:  3000 kB\n")
    >>> _ = (d / "s").write_text("Name: x\nVmRSS:  1000 kB\n")
    >>> room_to_fork(0, d / "m", d / "s"), room_to_fork(0, d / "m", d / "nothing")
    (True, True)
    >>> room_to_fork(1000, d / "m", d / "s"), room_to_fork(2000, d / "m", d / "s")
    (True, False)
    >>> _ = (d / "s").write_text("VmRSS:  2000 kB\n")
    >>> room_to_fork(0, d / "m", d / "s")
    False
    """
    try:
        available = _kb(meminfo, "MemAvailable:")
        resident = _kb(status, "VmRSS:")
    except (OSError, ValueError):
        return True
    return available >= 2 * resident and available * 1024 >= events * FORK_BYTES_PER_EVENT


def _kb(path, field: str) -> int:
    with open(path, encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    raise ValueError(f"{path}: no {field}")


def run_on_both_cores(store, chosen: list[tuple[Rule, Callable]], config,
                      progress: Callable[[int, int], None] | None) -> list[Finding]:
    """The findings of ``chosen`` (rule, what gives its hits), in their order, the rules run
    by this process and one forked worker."""
    global _JOB
    n = len(chosen)
    order = sorted(range(n), key=lambda i: (chosen[i][0].id not in FIRST,
                                            FIRST.index(chosen[i][0].id)
                                            if chosen[i][0].id in FIRST else i))
    mp = multiprocessing.get_context("fork")
    claimed = mp.Value("i", 0, lock=True)  # the next position of ``order`` to run
    finished = mp.RawValue("i", 0)  # rules run by either process (written under the same lock)
    _JOB = (store, chosen, config, order, claimed, finished)
    out: dict[int, list[Finding]] = {}
    if progress is not None:
        progress(0, n)
    try:
        with ProcessPoolExecutor(1, mp_context=mp) as pool:
            theirs = pool.submit(_claim_rules)  # forks now: the worker holds _JOB
            try:
                out.update(_claim_rules(progress))
            finally:
                if _lock(claimed):  # a rule failed here: the worker stops claiming
                    claimed.value = n
                    claimed.get_lock().release()
            try:
                out.update(theirs.result())
            except BrokenProcessPool:
                pass  # what it had not handed back runs below
    finally:
        _JOB = None
    for i in range(n):
        if i not in out:
            out[i] = _run_rule(store, chosen[i], config)
    if progress is not None:
        progress(n, n)
    return [f for i in range(n) for f in out[i]]


def _claim_rules(progress: Callable[[int, int], None] | None = None) -> dict[int, list[Finding]]:
    """Run rules of the job until none is left unclaimed: {position in chosen: findings}."""
    store, chosen, config, order, claimed, finished = _JOB
    mine: dict[int, list[Finding]] = {}
    while True:
        if not _lock(claimed):
            return mine  # the other process died holding the counter: the rest run after
        at = claimed.value
        claimed.value = at + 1
        claimed.get_lock().release()
        if at >= len(order):
            return mine
        i = order[at]
        mine[i] = _run_rule(store, chosen[i], config)
        if _lock(claimed):
            finished.value += 1
            done = finished.value
            claimed.get_lock().release()
            if progress is not None and done < len(order):
                progress(done, len(order))


def _lock(counter) -> bool:
    """Take the counter's lock; False if it is not free within :data:`LOCK_SECONDS` (it is
    held for an increment: only a process killed while holding it keeps it that long)."""
    return counter.get_lock().acquire(timeout=LOCK_SECONDS)


def _run_rule(store, pair: tuple[Rule, Callable], config) -> list[Finding]:
    r, hits = pair
    return [f for f in (finding_of(store, r, hit, config) for hit in hits()) if f is not None]
