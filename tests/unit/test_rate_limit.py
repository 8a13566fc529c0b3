"""Rate limits: per-tenant request and token buckets with retry_after, shared through the counter store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from headroom.accounting.rate_limit import RateLimiter
from headroom.config import Settings
from headroom.errors import RateLimited
from headroom.store.interfaces import Stores
from headroom.store.memory import memory_stores
from headroom.store.sqlite import sqlite_stores


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    bundle = memory_stores() if request.param == "memory" else sqlite_stores(tmp_path / "state.db")
    try:
        yield bundle
    finally:
        bundle.close()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_with_retry_after(stores: Stores) -> None:
    clock = Clock()
    limiter = RateLimiter(stores.counters, rpm=3, tpm=0, clock=clock)
    for _ in range(3):
        limiter.check("alice", 10)
    with pytest.raises(RateLimited) as caught:
        limiter.check("alice", 10)
    assert caught.value.retry_after == pytest.approx(20.0)
    assert "3 requests per minute" in caught.value.message
    limiter.check("bob", 10)
    clock.now += 20.0
    limiter.check("alice", 10)
    stats = limiter.stats()
    assert (stats.allowed, stats.limited_requests, stats.limited_tokens) == (5, 1, 0)


def test_tokens_per_minute(stores: Stores) -> None:
    clock = Clock()
    limiter = RateLimiter(stores.counters, rpm=0, tpm=6000, clock=clock)
    limiter.check("alice", 5000)
    with pytest.raises(RateLimited, match="6000 input tokens") as caught:
        limiter.check("alice", 2000)
    assert caught.value.retry_after == pytest.approx(10.0)
    clock.now += 10.0
    limiter.check("alice", 2000)
    assert limiter.stats().limited_tokens == 1


def test_a_request_larger_than_the_allowance_waits_for_a_full_bucket(stores: Stores) -> None:
    clock = Clock()
    limiter = RateLimiter(stores.counters, rpm=0, tpm=1000, clock=clock)
    limiter.check("alice", 50_000)
    with pytest.raises(RateLimited) as caught:
        limiter.check("alice", 50_000)
    assert caught.value.retry_after == pytest.approx(60.0)
    clock.now += 60.0
    limiter.check("alice", 50_000)


def test_disabled_is_a_no_op(stores: Stores) -> None:
    limiter = RateLimiter(stores.counters, rpm=1, tpm=1, enabled=False)
    for _ in range(5):
        limiter.check("alice", 10**9)
    assert not limiter.enabled
    assert limiter.stats().as_dict()["allowed"] == 0


def test_limiters_in_two_workers_share_the_bucket(tmp_path: Path) -> None:
    clock = Clock()
    first, second = sqlite_stores(tmp_path / "s.db"), sqlite_stores(tmp_path / "s.db")
    try:
        RateLimiter(first.counters, rpm=2, tpm=0, clock=clock).check("alice", 1)
        RateLimiter(second.counters, rpm=2, tpm=0, clock=clock).check("alice", 1)
        with pytest.raises(RateLimited):
            RateLimiter(first.counters, rpm=2, tpm=0, clock=clock).check("alice", 1)
    finally:
        first.close()
        second.close()


def test_from_settings() -> None:
    limiter = RateLimiter.from_settings(Settings(rpm=7, tpm=0, rate_limit_enabled=True), memory_stores().counters)
    stats = limiter.stats()
    assert (stats.enabled, stats.rpm, stats.tpm) == (True, 7, 0)
    off = RateLimiter.from_settings(Settings(rate_limit_enabled=False), memory_stores().counters)
    assert not off.enabled


def test_only_the_memory_store_is_checked_inline() -> None:
    counters = memory_stores().counters
    assert RateLimiter.from_settings(Settings(store="memory"), counters).in_process
    assert not RateLimiter.from_settings(Settings(store="sqlite"), counters).in_process


class CountingCounters:
    """The SQLite counter store, counting the bucket calls that reach it."""

    def __init__(self, stores: Stores) -> None:
        self._counters = stores.counters
        self.takes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._counters, name)

    def take_tokens(self, key: str, cost: float, capacity: float, refill_per_second: float, now: float) -> float:
        self.takes += 1
        return self._counters.take_tokens(key, cost, capacity, refill_per_second, now)


def test_a_process_with_leases_is_limited_exactly_and_rarely_calls_the_store(tmp_path: Path) -> None:
    clock = Clock()
    with closing(sqlite_stores(tmp_path / "s.db")) as stores:
        counters = CountingCounters(stores)
        limiter = RateLimiter(counters, rpm=100, tpm=0, lease_share=0.1, clock=clock)  # type: ignore[arg-type]
        allowed = 0
        for _ in range(100):
            if not limiter.check_leased("alice", 10):
                limiter.check("alice", 10)
            allowed += 1
        with pytest.raises(RateLimited) as caught:
            if not limiter.check_leased("alice", 10):
                limiter.check("alice", 10)
        assert allowed == 100
        assert caught.value.retry_after == pytest.approx(0.6)
        assert counters.takes <= 13  # 100 one by one without leases
        assert limiter.stats().allowed == 100


def test_leases_in_two_workers_never_give_out_more_than_the_limit(tmp_path: Path) -> None:
    clock = Clock()
    with closing(sqlite_stores(tmp_path / "s.db")) as first, closing(sqlite_stores(tmp_path / "s.db")) as second:
        limiters = [RateLimiter(s.counters, rpm=100, tpm=0, lease_share=0.1, clock=clock) for s in (first, second)]
        allowed = 0
        for n in range(300):
            limiter = limiters[n % 3 % 2]
            try:
                if not limiter.check_leased("alice", 10):
                    limiter.check("alice", 10)
                allowed += 1
            except RateLimited:
                pass
        assert 100 - 10 <= allowed <= 100
        assert all(limiter.stats().allowed > 0 for limiter in limiters)


def test_a_short_lease_takes_nothing_from_the_other_bucket(tmp_path: Path) -> None:
    clock = Clock()
    with closing(sqlite_stores(tmp_path / "s.db")) as stores:
        limiter = RateLimiter(stores.counters, rpm=100, tpm=10_000, lease_share=0.1, clock=clock)
        assert not limiter.check_leased("alice", 10)
        limiter.check("alice", 10)  # leases 10 requests and 1,000 tokens
        assert limiter.check_leased("alice", 995)
        assert not limiter.check_leased("alice", 10)  # 5 tokens left: the request lease is not touched
        assert [limiter.check_leased("alice", 0) for _ in range(10)] == [True] * 9 + [False]
        assert not limiter.check_leased("bob", 1)
        assert limiter.stats().allowed == 11


def test_leases_are_for_the_sqlite_store_only() -> None:
    counters = memory_stores().counters
    for store, leases in (("sqlite", True), ("memory", False), ("aws", False)):
        limiter = RateLimiter.from_settings(Settings(store=store, rpm=100, tpm=0), counters)
        limiter.check("alice", 1)
        assert limiter.check_leased("alice", 1) is leases
