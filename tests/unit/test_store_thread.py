"""The store thread: queued writes run in order on its own thread, a failing write does not stop it, awaited calls
return their result (or raise) ahead of queued writes, close() runs everything still queued, and with a backend's
group the waiting calls and the queued writes share commits."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

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


class RecordingGroup:
    """A group that records what ran inside it, and can fail its commit once."""

    def __init__(self, fail_once: bool = False) -> None:
        self.inside = False
        self.groups: list[list[str]] = []
        self._fail_once = fail_once

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.inside = True
        self.groups.append([])
        try:
            yield
            if self._fail_once:
                self._fail_once = False
                raise OSError("commit failed")
        finally:
            self.inside = False

    def run(self, name: str) -> str:
        if not self.inside:  # outside any group: a group of its own
            self.groups.append([])
        self.groups[-1].append(name)
        return name


def test_writes_and_waiting_calls_share_groups() -> None:
    group = RecordingGroup()
    thread = StoreThread("test-store", interval=60.0, batch=1000, group=group)

    async def main() -> list[str]:
        for index in range(5):
            thread.submit(group.run, f"write{index}")
        return list(await asyncio.gather(*(thread.call(group.run, f"call{index}") for index in range(3))))

    assert asyncio.run(main()) == ["call0", "call1", "call2"]
    thread.close()
    ran = [name for names in group.groups for name in names]
    assert sorted(ran) == sorted([f"write{i}" for i in range(5)] + [f"call{i}" for i in range(3)])
    assert len(group.groups) < len(ran), "every store call in a group of its own"
    assert group.inside is False


def test_calls_of_a_group_that_fails_to_commit_run_again_on_their_own() -> None:
    group = RecordingGroup(fail_once=True)
    thread = StoreThread("test-store", group=group)

    async def main() -> str:
        return await asyncio.wait_for(thread.call(group.run, "call"), 10)

    assert asyncio.run(main()) == "call"
    thread.close()
    assert group.groups == [["call"], ["call"]], "run in the group that failed, then again outside any group"


def test_after_commit_runs_once_the_group_of_the_write_has_committed() -> None:
    group = RecordingGroup()
    thread = StoreThread("test-store", interval=60.0, batch=1000, group=group)
    seen: list[tuple[str, bool]] = []

    def write(name: str) -> None:
        group.run(name)
        thread.after_commit(lambda: seen.append((name, group.inside)))

    for index in range(3):
        thread.submit(write, f"write{index}")
    thread.close()
    assert [name for names in group.groups for name in names] == ["write0", "write1", "write2"]
    assert seen == [("write0", False), ("write1", False), ("write2", False)], "after the commit, in order"
    outside: list[str] = []
    thread.after_commit(outside.append, "now")
    assert outside == ["now"], "not from a write of a group: at once"
