"""One background thread that runs the accounting's store writes in batches, so a request hands its writes over
with a list append instead of a thread wake-up per write."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("headroom.accounting")

Work = tuple[Callable[..., None], tuple[Any, ...]]


class WriteBehind:
    """Queued work runs in submission order on one thread, started at the first submit. The thread wakes when
    the queue stops being empty, gathers for `interval` seconds (less once `batch` items wait) and runs the lot.
    `close` runs whatever is still queued before it returns; work submitted after `close` runs inline."""

    def __init__(self, name: str, *, interval: float = 0.005, batch: int = 64) -> None:
        self._name = name
        self._interval = interval
        self._batch = batch
        self._pending: list[Work] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._full = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._closed:
                queued = False
            else:
                queued = True
                self._pending.append((work, args))
                waiting = len(self._pending)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
        if not queued:
            _run_one(work, args)
            return
        if waiting == 1:
            self._wake.set()
        if waiting == self._batch:
            self._full.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._full.wait(self._interval)
            with self._lock:
                batch, self._pending = self._pending, []
                self._wake.clear()
                self._full.clear()
                closing = self._closed
            for work, args in batch:
                _run_one(work, args)
            if closing:
                return

    def close(self) -> None:
        """Run everything queued, then stop the thread (blocks until it has)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        self._full.set()
        if thread is not None:
            thread.join()


def _run_one(work: Callable[..., None], args: tuple[Any, ...]) -> None:
    try:
        work(*args)
    except Exception as exc:  # one failed write must not stop the writer thread and every write after it
        log.warning("background accounting write failed: %s", type(exc).__name__)
