"""Work that runs beside the caller in a thread: a file written while the next part is
made (:class:`WriteBehind`), the next part made while this one is used (:func:`prefetch`).

The graph build is one Python thread that mostly waits on Arrow and Parquet, which release
the GIL while they decode, encode and compress; handing the reads and writes to a second
thread lets the second core do them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["WriteBehind", "prefetch"]

T = TypeVar("T")
_CLOSE = object()


class WriteBehind(Generic[T]):
    """Call ``write(item)`` for every item :meth:`put`, in order, in one thread of its own.

    At most ``depth`` items wait to be written (:meth:`put` blocks beyond): what it holds is
    bounded whatever the producer's pace. An error raised by ``write`` is raised again by
    the next :meth:`put` or by :meth:`close`; the items after it are dropped unwritten.

    Examples
    --------
    >>> out = []
    >>> with WriteBehind(out.append) as behind:
    ...     for i in range(3):
    ...         behind.put(i)
    >>> out
    [0, 1, 2]
    """

    def __init__(self, write: Callable[[T], object], depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        self._dropping = False  # the caller failed: what is queued is not written
        self._thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _CLOSE:
                return
            if self._error is None and not self._dropping:
                try:
                    self._write(item)
                except BaseException as exc:  # raised again in the caller's thread
                    self._error = exc
            del item  # not held while waiting for the next one

    def put(self, item: T) -> None:
        """Queue ``item`` to be written (waits while ``depth`` items are queued)."""
        if self._closed:
            raise RuntimeError("put after close")
        self._raise()
        self._queue.put(item)

    def close(self) -> None:
        """Wait until every item is written; raise the error of a write that failed."""
        if not self._closed:
            self._closed = True
            self._queue.put(_CLOSE)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        self._dropping = True
        try:  # the caller's own error wins; still wait, so nothing writes after we return
            self.close()
        except BaseException:  # noqa: S110 - the caller's error is the one raised
            pass


def prefetch(batches: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Read the next batch in a thread while this one is processed (Parquet decoding and
    Arrow compute release the GIL); ``depth`` batches ahead at most, so memory stays bounded.

    The reader starts a batch only once the one ``depth`` ahead of it has been taken: it
    never holds one more, finished, while waiting to hand it over.
    """
    q: queue.Queue = queue.Queue()
    ahead = threading.Semaphore(depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            it = iter(batches)
            while True:
                while not ahead.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                b = next(it, done)
                q.put(b)
                if b is done:
                    return
                del b
        except BaseException as exc:  # surfaced in the consumer
            q.put(exc)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            ahead.release()  # the reader may start the next one while this is processed
            yield item
            del item
    finally:
        stop.set()
