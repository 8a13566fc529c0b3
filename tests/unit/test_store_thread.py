"""The store thread: queued writes run in order on its own thread, a failing write does not stop it, awaited calls
return their result (or raise) ahead of queued writes, and close() runs everything still queued."""

from __future__ import annotations

import asyncio
import threading

import pytest

from headroom.accounting.store_thread import StoreThread


def test_writes_run_in_order_on_the_store_thread_and_close_flushes() -> None:
    thread = StoreThread("test-store", interval=0.5, batch=1000)
    seen: list[tuple[int, str]] = []
    for index in range(200):
        thread.submit(lambda i: seen.append((i, threading.current_thread().name)), index)
    thread.close()
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"test-store"}


def test_a_full_batch_runs_without_waiting_for_the_interval() -> None:
    thread = StoreThread("test-store", interval=60.0, batch=3)
    done = threading.Event()
    thread.submit(lambda: None)
    thread.submit(lambda: None)
    thread.submit(done.set)
    assert done.wait(10), "a full batch waited for the 60 s interval"
    thread.close()


def test_a_failing_write_does_not_stop_the_thread() -> None:
    thread = StoreThread("test-store")
    seen: list[int] = []

    def fail() -> None:
        raise OSError("disk full")

    thread.submit(fail)
    thread.submit(seen.append, 1)
    thread.close()
    assert seen == [1]


def test_a_call_returns_its_result_or_raises_without_waiting_for_the_interval() -> None:
    thread = StoreThread("test-store", interval=60.0)

    def refuse() -> None:
        raise LookupError("over the limit")

    async def main() -> None:
        thread.submit(lambda: None)  # a queued write must not hold a call back for the 60 s interval
        name = await asyncio.wait_for(thread.call(lambda: threading.current_thread().name), 10)
        assert name == "test-store"
        assert await thread.call(lambda a, *, b: a + b, 2, b=3) == 5
        with pytest.raises(LookupError, match="over the limit"):
            await thread.call(refuse)

    asyncio.run(main())
    thread.close()


def test_work_after_close_runs_inline() -> None:
    thread = StoreThread("test-store")
    thread.close()
    seen: list[str] = []
    thread.submit(lambda: seen.append(threading.current_thread().name))
    assert seen == [threading.current_thread().name]
    assert asyncio.run(thread.call(lambda: threading.current_thread().name)) == threading.current_thread().name


def test_a_full_queue_makes_the_submitter_write_itself() -> None:
    thread = StoreThread("test-store", interval=0.0, batch=1000, max_pending=8)
    release = threading.Event()
    ran: list[tuple[int, str]] = []

    def slow_write(index: int) -> None:
        if threading.current_thread().name == "test-store":
            release.wait(10)
        ran.append((index, threading.current_thread().name))

    for index in range(100):
        thread.submit(slow_write, index)
    inline = [i for i, name in ran if name != "test-store"]
    release.set()
    thread.close()
    assert sorted(i for i, _ in ran) == list(range(100)), "every write ran exactly once"
    assert len(inline) >= 100 - 2 * 8, "at most max_pending writes queued, and one batch of them taken by the thread"
