"""Building many long-lived objects at once: a case graph's adjacency, a drawing's copy.

Python's cyclic garbage collector runs every few hundred new containers and, as they
survive, walks the older generations too: building the 191,794 relation dicts of a
1M-event case graph spent about a third of its time there, for objects that hold no
reference cycles (plain dicts of strings and numbers; reference counting frees them).
:func:`collector_paused` holds it off for the build, as the loaders do for their hot loops.

>>> import gc
>>> with collector_paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off inside the block, back as it was after (also on errors)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
