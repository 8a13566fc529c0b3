"""The accounting's background writer: queued work runs in order on its own thread, a failure does not stop it,
and close() runs everything still queued."""

from __future__ import annotations

import threading

from headroom.accounting.write_behind import WriteBehind


def test_work_runs_in_order_on_the_writer_thread_and_close_flushes() -> None:
    writer = WriteBehind("test-writer", interval=0.5, batch=1000)
    seen: list[tuple[int, str]] = []
    for index in range(200):
        writer.submit(lambda i: seen.append((i, threading.current_thread().name)), index)
    writer.close()
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"test-writer"}


def test_a_full_batch_runs_without_waiting_for_the_interval() -> None:
    writer = WriteBehind("test-writer", interval=60.0, batch=3)
    done = threading.Event()
    writer.submit(lambda: None)
    writer.submit(lambda: None)
    writer.submit(done.set)
    assert done.wait(10), "a full batch waited for the 60 s interval"
    writer.close()


def test_a_failing_write_does_not_stop_the_writer() -> None:
    writer = WriteBehind("test-writer")
    seen: list[int] = []

    def fail() -> None:
        raise OSError("disk full")

    writer.submit(fail)
    writer.submit(seen.append, 1)
    writer.close()
    assert seen == [1]


def test_work_after_close_runs_inline() -> None:
    writer = WriteBehind("test-writer")
    writer.close()
    seen: list[str] = []
    writer.submit(lambda: seen.append(threading.current_thread().name))
    assert seen == [threading.current_thread().name]
