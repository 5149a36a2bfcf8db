"""Findings computed on the second core while the caller does something else.

A report needs the catalogue's findings (a few seconds at a million calls) and, beside them,
the seed's blast radius, chains, timeline and graph, which do not depend on them. With the
findings not yet kept (:mod:`graphtrail.queries.findings.cache`), :func:`findings_ahead`
forks a process that runs :func:`~graphtrail.queries.findings.findings` with the same
arguments, which keeps them; the caller goes on, then waits, and its own ``findings`` call
reads them back. The kept file is the only channel: if the process fails in any way (killed,
out of memory, the folder not writable after all) the caller's call computes them itself, so
the answer is the one a single process gives.

Nothing is forked when it cannot help: findings already kept, a run that is not kept (Sigma
rules, a Neo4j store), a folder that cannot be written, or what ``both_cores.can_fork``
refuses: no ``fork`` on the platform, a caller that may not have children (a daemon
process), a case smaller than ``min_events`` (the fork would cost more than it saves), too
little memory free for a run with a fork.
"""

from __future__ import annotations

import multiprocessing
import signal

from graphtrail.queries.findings import findings, kept_as
from graphtrail.queries.findings.both_cores import can_fork
from graphtrail.queries.findings.cache import can_keep, is_kept

__all__ = ["findings_ahead", "Ahead", "AHEAD_MIN_EVENTS"]

AHEAD_MIN_EVENTS = 100_000  # below this the catalogue runs in well under a second


class Ahead:
    """The forked process keeping the findings, or none."""

    def __init__(self, child=None) -> None:
        self.child = child

    def wait(self) -> None:
        """Return once the process has ended (kept them, or failed: the caller computes)."""
        if self.child is not None:
            self.child.join()

    def cancel(self) -> None:
        """End the process: its findings are not wanted (it leaves no partial file)."""
        if self.child is not None:
            self.child.terminate()
            self.child.join()


def findings_ahead(store, *, min_events: int | None = None, **kwargs) -> Ahead:
    """Start keeping ``findings(store, **kwargs)`` in a forked process, to be waited for
    before asking ``findings`` with the same arguments. Nothing is started when forking
    cannot help (module docstring)."""
    key = kept_as(**kwargs)
    if (key is None or not can_keep(store) or is_kept(store, key)
            or not can_fork(store, AHEAD_MIN_EVENTS if min_events is None else min_events)):
        return Ahead()
    kwargs.pop("progress", None)  # the caller's progress is not the child's to report
    child = multiprocessing.get_context("fork").Process(
        target=_keep, args=(store, kwargs), name="graphtrail-findings")
    # not a daemon: it may share the rules with a worker of its own (both_cores.py); the
    # caller always waits for it or cancels it
    child.start()
    return Ahead(child)


def _keep(store, kwargs: dict) -> None:
    from graphtrail.bulk import collector_resumed

    # terminate() (a cancel, or the caller's exit) ends it through its finally blocks: the
    # temporary file of a half-written keep is removed
    signal.signal(signal.SIGTERM, _exit)
    try:
        with collector_resumed():  # as the caller would run them (graphtrail.bulk)
            findings(store, **kwargs)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the caller says so, not here
        raise SystemExit(128 + signal.SIGINT) from None


def _exit(signum, frame) -> None:
    raise SystemExit(128 + signum)
