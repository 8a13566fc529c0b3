"""Budgets: UTC windows, global and per-tenant limits, reserve/settle/release, and a bounded overshoot under
concurrent reservations on the memory and SQLite counter stores (threads, and two processes sharing SQLite)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from headroom.accounting.budget import BudgetGuard, counter_key, window_bounds
from headroom.config import Settings
from headroom.errors import BudgetExceeded
from headroom.store.interfaces import CounterStore, Stores
from headroom.store.memory import memory_stores
from headroom.store.sqlite import sqlite_stores

ESTIMATE = 0.125


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    bundle = memory_stores() if request.param == "memory" else sqlite_stores(tmp_path / "state.db")
    try:
        yield bundle
    finally:
        bundle.close()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("hourly", "2025-03-04T05:59:59", "2025-03-04T05:00:00", "2025-03-04T06:00:00"),
        ("daily", "2025-03-04T23:30:00", "2025-03-04T00:00:00", "2025-03-05T00:00:00"),
        ("monthly", "2025-02-14T12:00:00", "2025-02-01T00:00:00", "2025-03-01T00:00:00"),
        ("monthly", "2025-12-31T23:59:59", "2025-12-01T00:00:00", "2026-01-01T00:00:00"),
    ],
)
def test_utc_windows(period: str, now: str, start: str, end: str) -> None:
    assert window_bounds(period, _ts(now)) == (_ts(start), _ts(end))  # type: ignore[arg-type]


def test_counter_key_changes_with_window() -> None:
    first = counter_key("global", "hourly", _ts("2025-03-04T05:00:00"))
    assert first != counter_key("global", "hourly", _ts("2025-03-04T06:00:00"))
    assert "2025-03-04T05" in first


def test_disabled_guard_never_touches_the_store(stores: Stores) -> None:
    guard = BudgetGuard(stores.counters)
    assert not guard.enabled
    reservation = guard.reserve("t", 1e9)
    guard.settle(reservation, 1e9)
    assert reservation.keys == ()
    assert guard.status().spent == 0.0


def test_settle_replaces_the_estimate_and_release_returns_it(stores: Stores) -> None:
    guard = BudgetGuard(stores.counters, period="daily", limit=10.0)
    held = guard.reserve("t", 0.5)
    assert guard.status().spent == pytest.approx(0.5)
    guard.settle(held, 0.2)
    assert guard.status().spent == pytest.approx(0.2)
    other = guard.reserve("t", 0.3)
    guard.release(other)
    status = guard.status()
    assert status.spent == pytest.approx(0.2)
    assert status.remaining == pytest.approx(9.8)
    assert status.as_dict()["limit_usd"] == 10.0


def test_rejection_has_retry_after_to_window_end_and_a_clear_message(stores: Stores) -> None:
    now = time.time()
    guard = BudgetGuard(stores.counters, period="hourly", limit=1.0, clock=lambda: now)
    guard.settle(guard.reserve("t", 0.0), 1.5)
    with pytest.raises(BudgetExceeded) as caught:
        guard.reserve("t", 0.01)
    _, end = window_bounds("hourly", now)
    assert caught.value.retry_after == pytest.approx(max(1.0, end - now))
    assert "$1.5000 spent of $1.00" in caught.value.message
    assert "hourly" in caught.value.message
    assert guard.rejected == 1


def test_per_tenant_limit_is_separate_and_rolls_back_the_global_hold(stores: Stores) -> None:
    guard = BudgetGuard(stores.counters, limit=100.0, per_tenant_limit=1.0)
    guard.settle(guard.reserve("alice", 0.0), 1.0)
    with pytest.raises(BudgetExceeded, match="per-key"):
        guard.reserve("alice", 0.5)
    assert guard.status().spent == pytest.approx(1.0)
    assert guard.status("alice").spent == pytest.approx(1.0)
    bob = guard.reserve("bob", 0.5)
    assert len(bob.keys) == 2
    assert guard.status("bob").spent == pytest.approx(0.5)
    assert guard.status().spent == pytest.approx(1.5)


def test_per_tenant_only_still_tracks_global_spend(stores: Stores) -> None:
    guard = BudgetGuard(stores.counters, per_tenant_limit=1.0)
    guard.settle(guard.reserve("alice", 0.25), 0.75)
    assert guard.status().spent == pytest.approx(0.75)
    assert guard.status().limit is None and guard.status().remaining is None


def test_from_settings() -> None:
    settings = Settings(budget=5.0, budget_period="monthly", budget_per_key=1.0)
    guard = BudgetGuard.from_settings(settings, memory_stores().counters)
    status = guard.status()
    assert (status.limit, status.period) == (5.0, "monthly")
    assert guard.status("x").limit == 1.0


def _race(counters: CounterStore, limit: float, threads: int) -> int:
    """`threads` reservations of ESTIMATE released at once; returns how many were admitted."""
    guard = BudgetGuard(counters, period="daily", limit=limit)
    barrier = threading.Barrier(threads)

    def attempt(_: int) -> bool:
        barrier.wait()
        try:
            guard.reserve("tenant", ESTIMATE)
        except BudgetExceeded:
            return False
        return True

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(attempt, range(threads)))


@pytest.mark.parametrize(("limit", "admitted"), [(1.0, 8), (1.05, 9)])
def test_fifty_concurrent_reservations_overshoot_at_most_one_estimate(
    stores: Stores, limit: float, admitted: int
) -> None:
    assert _race(stores.counters, limit, 50) == admitted
    spent = BudgetGuard(stores.counters, period="daily", limit=limit).status().spent
    assert spent == pytest.approx(admitted * ESTIMATE)
    assert spent <= limit + ESTIMATE


def _race_in_process(path: str, limit: float, threads: int, start: Any, results: Any) -> None:
    stores = sqlite_stores(Path(path))
    try:
        start.wait()
        results.put(_race(stores.counters, limit, threads))
    finally:
        stores.close()


def test_two_processes_share_one_sqlite_budget(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    sqlite_stores(path).close()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=_race_in_process, args=(str(path), 1.05, 25, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    admitted = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(admitted) == 9
    stores = sqlite_stores(path)
    try:
        assert BudgetGuard(stores.counters, limit=1.05).status().spent == pytest.approx(9 * ESTIMATE)
    finally:
        stores.close()
