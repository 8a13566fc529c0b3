"""The one thread that makes this process's state-store calls on the request path: the guard's rate-limit and
budget calls and the response-cache lookups are awaited (except what needs no store call: a rate-limit lease, a
lookup on SQLite, which reads on the event loop), the accounting's writes are queued and run in batches.

One thread, because SQLite lets one writer in at a time: from a pool of threads, concurrent write transactions
queue in SQLite's busy handler, which sleeps for milliseconds at a time. Batching, because a request that hands
over its writes with a list append costs far less than a thread wake-up per write; and where the backend can
(`Stores.group`, SQLite), the calls waiting together and a batch of writes each share one commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger("headroom.accounting")

T = TypeVar("T")
Work = tuple[Callable[..., None], tuple[Any, ...]]
Call = tuple[Callable[..., Any], tuple[Any, ...], "concurrent.futures.Future[Any]"]
Group = Callable[[], contextlib.AbstractContextManager[object]]
Outcome = tuple[Any, BaseException | None]


class StoreThread:
    """`call` runs its work next (ahead of queued writes) and returns the result; `submit` queues a write, run in
    submission order. The thread starts at the first use. It wakes when there is work, gathers queued writes for
    `interval` seconds (less once `batch` wait, none when a call waits) and runs them. At most `max_pending`
    writes wait: past that the submitter runs its write itself (back-pressure on a load the thread cannot keep up
    with, instead of a queue that grows for as long as the load lasts). `close` runs everything still queued
    before it returns; work that arrives after `close` runs inline.

    With `group` (a backend's `Stores.group`), the calls waiting at one time run in one group and get their results
    once it has committed, and queued writes run in groups that end as soon as a call waits. A group that fails to
    commit is run again call by call; its writes are lost, as a failed write is."""

    def __init__(
        self,
        name: str = "headroom-store",
        *,
        interval: float = 0.005,
        batch: int = 64,
        max_pending: int = 256,
        group: Group | None = None,
    ) -> None:
        self._name = name
        self._group: Group = group or contextlib.nullcontext
        self._interval = interval
        self._batch = batch
        self._max_pending = max_pending
        self._calls: list[Call] = []
        self._pending: list[Work] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._now = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._in_group = False
        self._after: list[Work] = []

    def _start(self) -> None:
        """With the lock held."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    async def call(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        bound = functools.partial(work, *args, **kwargs)
        with self._lock:
            closed = self._closed
            if not closed:
                self._calls.append((bound, (), future))
                self._start()
        if closed:
            return bound()
        self._wake.set()
        self._now.set()
        return await asyncio.wrap_future(future)

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        with self._lock:
            inline = self._closed or len(self._pending) >= self._max_pending
            if not inline:
                self._pending.append((work, args))
                waiting = len(self._pending)
                self._start()
        if inline:
            _write(work, args)
            return
        if waiting == 1:
            self._wake.set()
        if waiting == self._batch:
            self._now.set()

    def after_commit(self, done: Callable[..., None], *args: Any) -> None:
        """From a write: call `done(*args)` once the write is durable and visible to other connections, i.e. after
        its group has committed (or failed); at once for a write that is not part of a group."""
        if self._in_group and threading.current_thread() is self._thread:
            self._after.append((done, args))
        else:
            done(*args)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._now.wait(self._interval)
            with self._lock:
                batch, self._pending = self._pending, []
                self._wake.clear()
                self._now.clear()
                closing = self._closed
            self._answer_calls()
            while batch:
                batch = self._write_group(batch)
                self._answer_calls()
            if closing:
                return

    def _write_group(self, batch: list[Work]) -> list[Work]:
        """Run writes in one group until a call is waiting; return the writes still to run."""
        done = 0
        try:
            with self._grouped(), self._group():
                for work, args in batch:
                    done += 1
                    _write(work, args)
                    if self._calls:
                        break
        except Exception as exc:  # the group did not commit: its writes are lost, the rest run on their own
            log.warning("background accounting writes failed: %s", type(exc).__name__)
            for work, args in batch[done:]:
                _write(work, args)
            return []
        return batch[done:]

    @contextlib.contextmanager
    def _grouped(self) -> Iterator[None]:
        """Around a group of writes: then the `after_commit` callbacks its writes left."""
        self._in_group = True
        try:
            yield
        finally:
            self._in_group = False
            after, self._after = self._after, []
            for done, args in after:
                _write(done, args)

    def _answer_calls(self) -> None:
        if not self._calls:
            return
        with self._lock:
            calls, self._calls = self._calls, []
        calls = [call for call in calls if call[2].set_running_or_notify_cancel()]
        try:
            with self._group():
                outcomes = [_outcome(work, args) for work, args, _ in calls]
        except Exception:  # the group did not commit, so none of it took effect: each call again on its own
            outcomes = [_outcome(work, args) for work, args, _ in calls]
        for (_, _, future), (result, error) in zip(calls, outcomes, strict=True):
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def close(self) -> None:
        """Run everything queued, then stop the thread (blocks until it has)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        self._now.set()
        if thread is not None:
            thread.join()


def _outcome(work: Callable[..., Any], args: tuple[Any, ...]) -> Outcome:
    try:
        return work(*args), None
    except BaseException as exc:  # handed to the awaiting coroutine, which raises it
        return None, exc


def _write(work: Callable[..., None], args: tuple[Any, ...]) -> None:
    try:
        work(*args)
    except Exception as exc:  # one failed write must not stop the thread and every write after it
        log.warning("background accounting write failed: %s", type(exc).__name__)
