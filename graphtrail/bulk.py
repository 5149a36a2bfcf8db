"""Building many long-lived objects at once: a case graph's adjacency, a drawing's copy.

Python's cyclic garbage collector runs every few hundred new containers and, as they
survive, walks the older generations too: building the 191,794 relation dicts of a
1M-event case graph spent about a third of its time there, for objects that hold no
reference cycles (plain dicts of strings and numbers; reference counting frees them).
:func:`collector_paused` holds it off for the build, as the loaders do for their hot loops,
and for the whole of the commands whose answers are such objects (``view``,
``blast-radius``, ``chains``: the same peak memory at 1M events with it paused, and
0.2-0.9 s less CPU). pandas frames do make cycles: the report runs paused but for its
findings catalogue, under :func:`collector_resumed` (paused throughout, its peak grew by
140 MB; resumed for the catalogue, the peak is as before).

>>> import gc
>>> with collector_paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True

A command whose objects are all acyclic runs under it whole (decorated):

>>> @collector_paused()
... def answer():
...     return gc.isenabled()
>>> answer(), gc.isenabled()
(False, True)
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused", "collector_resumed", "exits_after_command", "is_command_process"]

# Set by the ``graphtrail`` process itself (graphtrail.cli.main), which exits once its one
# command has answered; never by a test runner calling many commands in one process.
_exits_after_command = False


def exits_after_command() -> None:
    """Say that this process ends with the command it runs (see :func:`collector_paused`)."""
    global _exits_after_command
    _exits_after_command = True


def is_command_process() -> bool:
    """Whether :func:`exits_after_command` was called: this is the ``graphtrail`` process."""
    return _exits_after_command


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off inside the block, back as it was after (also on errors)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if _exits_after_command:
                # What the block made lives until the exit: turned back on, the collector's
                # next young collection would walk all of it, and the interpreter's exit
                # once more (0.1-0.2 s of a cold question at 1M events). In the permanent
                # generation neither does; reference counting still frees it.
                gc.freeze()
            gc.enable()


@contextmanager
def collector_resumed() -> Iterator[None]:
    """The cyclic collector on inside the block (for work that makes cycles, inside a
    :func:`collector_paused` one), back as it was after.

    What is alive on entry (an open case's graph: hundreds of thousands of dicts without
    cycles) is set aside for the block (``gc.freeze``), so the block's collections walk only
    what it makes: the report's findings at 1M events spent half their collector time
    walking the graph. Handed back to the collector on exit, unless something was set aside
    before (the ``graphtrail`` process freezes its imports for good: see
    :class:`graphtrail.cli.lazy.LazyCommands`; ``gc.unfreeze`` cannot tell the two apart).

    >>> with collector_paused():
    ...     with collector_resumed():
    ...         inside = gc.isenabled()
    ...     inside, gc.isenabled()
    (True, False)
    """
    was, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.freeze()
    gc.enable()
    try:
        yield
    finally:
        if not was:
            gc.disable()
        if not frozen:
            gc.unfreeze()
