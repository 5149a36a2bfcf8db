"""WriteBehind (graphtrail/background.py): writes in order in its own thread, holds at most
``depth`` items waiting, and raises a failed write's error in the caller."""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graphtrail.background import WriteBehind


def test_items_are_written_in_order_in_another_thread():
    written, threads = [], set()

    def write(i):
        threads.add(threading.get_ident())
        written.append(i)

    with WriteBehind(write, depth=3) as behind:
        for i in range(500):
            behind.put(i)
    assert written == list(range(500))
    assert threads and threading.get_ident() not in threads


def test_a_parquet_file_written_behind_is_the_one_written_in_line(tmp_path):
    parts = [pa.table({"n": list(range(i * 100, i * 100 + 100)), "s": [f"x{i}"] * 100})
             for i in range(20)]
    with pq.ParquetWriter(tmp_path / "inline.parquet", parts[0].schema) as w:
        for p in parts:
            w.write_table(p)
    with pq.ParquetWriter(tmp_path / "behind.parquet", parts[0].schema) as w, \
            WriteBehind(w.write_table) as behind:
        for p in parts:
            behind.put(p)
    assert (tmp_path / "behind.parquet").read_bytes() == (tmp_path / "inline.parquet").read_bytes()


def test_at_most_depth_items_wait():
    release = threading.Event()
    started = threading.Event()

    def write(_):
        started.set()
        release.wait(10)

    behind = WriteBehind(write, depth=2)
    behind.put(0)  # taken by the writer, which then blocks
    assert started.wait(10)
    behind.put(1)
    behind.put(2)  # two waiting: the queue is full
    third = threading.Thread(target=behind.put, args=(3,), daemon=True)
    third.start()
    third.join(0.3)
    assert third.is_alive()  # blocked until the writer takes one
    release.set()
    third.join(10)
    assert not third.is_alive()
    behind.close()


def test_a_failed_write_is_raised_in_the_caller_and_what_follows_is_dropped():
    written = []

    def write(i):
        if i == 3:
            raise OSError(f"disk full at {i}")
        written.append(i)

    with pytest.raises(OSError, match="disk full at 3"):
        with WriteBehind(write) as behind:
            for i in range(100):
                behind.put(i)
    assert written == [0, 1, 2]


def test_an_error_only_seen_at_close_is_raised_by_close():
    def write(_):
        raise ValueError("bad slice")

    behind = WriteBehind(write)
    behind.put("only")
    with pytest.raises(ValueError, match="bad slice"):
        behind.close()


def test_the_callers_error_wins_and_nothing_queued_is_written_after():
    written, release, holding = [], threading.Event(), threading.Event()

    def write(i):
        holding.set()
        release.wait(10)
        written.append(i)

    with pytest.raises(KeyError):
        with WriteBehind(write, depth=2) as behind:
            behind.put(0)
            behind.put(1)
            assert holding.wait(10)  # the writer holds 0 (not yet taken: it would be dropped)
            threading.Timer(0.3, release.set).start()  # once the error has left the block
            raise KeyError("the producer failed")
    assert written == [0]  # what the writer held finishes; what was queued is dropped


def test_depth_must_be_positive():
    with pytest.raises(ValueError):
        WriteBehind(print, depth=0)
