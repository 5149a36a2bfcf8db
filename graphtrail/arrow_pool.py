"""Arrow's allocator for the ``graphtrail`` command: jemalloc, where the wheel has it.

pyarrow's default pool is mimalloc. The bulk stages allocate and free hundreds of MB of
buffers a second (Parquet pages read and written, ``take`` and ``group_by`` results), and
under mimalloc the kernel spends seconds faulting those pages in again. Measured on this
2-core machine, 1M generated events, the two pools alternated in one run (2026-12-03,
numbers in the README):

- ``graphtrail case rebuild``: 6.4-7.3 s wall with jemalloc against 7.2-8.3 s with
  mimalloc; system CPU 1.5-1.9 s against 2.4-2.9 s; peak 748-774 MB against 819-848 MB;
- ``graphtrail ingest --workers 2``: graph 5.4-5.6 s against 6.5 s, peak 722-754 MB against
  843-864 MB;
- ``graphtrail report --access-key``: 4.0-4.2 s against 4.9-5.4 s, peak 967-976 MB
  against 1,173-1,196 MB.

The choice is made when a command is loaded (:class:`graphtrail.cli.lazy.LazyCommands`),
before any of its Arrow memory exists, and holds for the worker processes forked from it.
Library callers keep whatever pool they chose. An ``ARROW_DEFAULT_MEMORY_POOL`` set by the
user wins: pyarrow has read it already, and nothing here overrides it.
"""

from __future__ import annotations

import os

__all__ = ["prefer_jemalloc"]


def prefer_jemalloc() -> str:
    """Make jemalloc Arrow's default pool, unless the user chose one or the wheel lacks it
    (Windows wheels are built without it); the name of the pool in use after."""
    import pyarrow as pa

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:
            pass
    return pa.default_memory_pool().backend_name
