"""SQLite shared by worker processes: no overshoot under cross-process contention, and state that survives a
`kill -9` of a writer mid-traffic."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headroom.store.sqlite import sqlite_stores

WORKER = Path(__file__).with_name("sqlite_worker.py")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def run_together(db: Path, mode: str, count: int, limit: int) -> list[int]:
    """Two processes, released together once both have opened the database; their success counts."""
    sqlite_stores(db).close()
    workers = [start(str(db), mode, str(count), str(limit)) for _ in range(2)]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [int(worker.communicate(timeout=120)[0].strip()) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [worker.returncode for worker in workers] == [0, 0]
    return results


def test_reserve_across_two_processes_never_overshoots(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    granted = run_together(db, "reserve", 1500, 2000)
    assert sum(granted) == 2000
    assert min(granted) > 0
    stores = sqlite_stores(db)
    try:
        assert stores.counters.value("budget", time.time()) == 2000.0
    finally:
        stores.close()


def test_take_tokens_across_two_processes_never_overdraws(tmp_path: Path) -> None:
    granted = run_together(tmp_path / "state.db", "take", 1500, 2000)
    assert sum(granted) == 2000
    assert min(granted) > 0


def test_hourly_sums_count_every_event_recorded_by_two_processes(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    assert run_together(db, "record", 600, 3600 * 400_000) == [600, 600]
    stores = sqlite_stores(db)
    try:
        hours = stores.savings.hours()
        assert [(h.start, h.model) for h in hours] == [(3600 * 400_000, f"m{i}") for i in range(3)]
        assert [(h.requests, h.tokens_before, h.tokens_after) for h in hours] == [(400, 4000, 1600)] * 3
    finally:
        stores.close()


def test_state_survives_kill_9_of_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    writer = start(str(db), "write")
    assert writer.stdout is not None
    reported = 0
    while reported < 200:
        reported = int(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    assert writer.stdin is not None
    writer.stdin.close()
    assert writer.returncode == -signal.SIGKILL

    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    stores = sqlite_stores(db)
    try:
        totals = stores.savings.totals()
        events = stores.savings.events()
        assert totals.requests >= reported
        assert totals.requests == len(events)
        assert (totals.tokens_before, totals.tokens_after) == (10 * totals.requests, 4 * totals.requests)
        assert totals.cost_usd == pytest.approx(0.5 * totals.requests)
        assert [e.ts for e in events] == [float(i) for i in range(1, totals.requests + 1)]
        assert [(h.start, h.requests) for h in stores.savings.hours()] == [(0, totals.requests)]
        assert totals.requests - 1 <= stores.counters.value("writes", time.time()) <= totals.requests
        assert stores.blobs.get_blob("t", "k1", time.time()) == bytes(range(256)) * 64
        stores.savings.record(events[-1])
        assert stores.savings.totals().requests == totals.requests + 1
    finally:
        stores.close()
