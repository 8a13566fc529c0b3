"""The storage contract: every sentence of `headroom/store/interfaces.py`, checked against every backend
(memory, SQLite, DynamoDB + S3 on a moto server)."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from headroom.store.interfaces import CachedResponse, SavingsEvent, SavingsHour, SavingsStore, Stores
from headroom.store.memory import MemorySavingsStore
from headroom.store.sqlite_db import SqliteDatabase
from headroom.store.sqlite_history import SqliteSavingsStore

T = TypeVar("T")
LATER = time.time() + 3600
EARLIER = time.time() - 1


def now() -> float:
    return time.time()


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Runs `work(i)` on `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# BlobStore


def test_blob_round_trips_byte_identical_binary_and_large(stores: Stores) -> None:
    binary = bytes(range(256)) * 4 + b"\x00\r\n\xff"
    large = os.urandom(3 * 1024 * 1024 + 17)
    stores.blobs.put_blob("t1", "bin", binary, LATER)
    stores.blobs.put_blob("t1", "large", large, LATER)
    stores.blobs.put_blob("t1", "empty", b"", LATER)
    assert stores.blobs.get_blob("t1", "bin", now()) == binary
    assert stores.blobs.get_blob("t1", "large", now()) == large
    assert stores.blobs.get_blob("t1", "empty", now()) == b""


def test_blob_overwrite_is_idempotent(stores: Stores) -> None:
    stores.blobs.put_blob("t1", "k", b"one", LATER)
    stores.blobs.put_blob("t1", "k", b"two", LATER)
    stores.blobs.put_blob("t1", "k", b"two", LATER)
    assert stores.blobs.get_blob("t1", "k", now()) == b"two"


def test_blob_absent_expired_or_other_tenant_is_none(stores: Stores) -> None:
    stores.blobs.put_blob("t1", "k", b"secret", LATER)
    stores.blobs.put_blob("t1", "old", b"stale", EARLIER)
    stores.blobs.put_blob("a/b", "c", b"slash-tenant", LATER)
    assert stores.blobs.get_blob("t1", "missing", now()) is None
    assert stores.blobs.get_blob("t2", "k", now()) is None
    assert stores.blobs.get_blob("t1", "old", now()) is None
    assert stores.blobs.get_blob("t1", "k", LATER + 1) is None
    assert stores.blobs.get_blob("a", "b/c", now()) is None
    assert stores.blobs.get_blob("a/b", "c", now()) == b"slash-tenant"


# CounterStore


def test_reserve_adds_only_within_limit(stores: Stores) -> None:
    c = stores.counters
    assert c.reserve("budget", 6.0, 10.0, LATER) is True
    assert c.reserve("budget", 5.0, 10.0, LATER) is False
    assert c.value("budget", now()) == pytest.approx(6.0)
    assert c.reserve("budget", 4.0, 10.0, LATER) is True
    assert c.value("budget", now()) == pytest.approx(10.0)
    assert c.reserve("fresh", 11.0, 10.0, LATER) is False
    assert c.value("fresh", now()) == 0.0


def test_reserve_on_expired_counter_starts_from_zero(stores: Stores) -> None:
    c = stores.counters
    assert c.reserve("period", 9.0, 10.0, EARLIER) is True
    assert c.value("period", now()) == 0.0
    assert c.reserve("period", 8.0, 10.0, LATER) is True
    assert c.value("period", now()) == pytest.approx(8.0)


def test_reserve_never_exceeds_limit_under_50_threads(stores: Stores) -> None:
    results = in_threads(50, lambda _: [stores.counters.reserve("shared", 1.0, 30.0, LATER) for _ in range(2)])
    granted = sum(sum(bool(r) for r in batch) for batch in results)
    assert granted == 30
    assert stores.counters.value("shared", now()) == pytest.approx(30.0)


def test_add_is_unconditional_and_returns_new_value(stores: Stores) -> None:
    c = stores.counters
    assert c.add("n", 2.5, LATER) == pytest.approx(2.5)
    assert c.add("n", -4.0, LATER) == pytest.approx(-1.5)
    assert c.value("n", now()) == pytest.approx(-1.5)
    assert c.reserve("n", 11.0, 10.0, LATER) is True
    assert c.add("gone", 5.0, EARLIER) == pytest.approx(5.0)
    assert c.add("gone", 1.0, LATER) == pytest.approx(1.0)


def test_add_is_atomic_under_threads(stores: Stores) -> None:
    in_threads(20, lambda _: [stores.counters.add("hits", 1.0, LATER) for _ in range(5)])
    assert stores.counters.value("hits", now()) == pytest.approx(100.0)


def test_value_absent_or_expired_is_zero(stores: Stores) -> None:
    stores.counters.add("k", 3.0, LATER)
    assert stores.counters.value("absent", now()) == 0.0
    assert stores.counters.value("k", LATER + 1) == 0.0


def test_take_tokens_starts_full_refills_and_reports_retry_after(stores: Stores) -> None:
    c, t0 = stores.counters, 1_000_000.0
    assert c.take_tokens("rl", 6.0, 10.0, 2.0, t0) == 0.0
    assert c.take_tokens("rl", 4.0, 10.0, 2.0, t0) == 0.0
    assert c.take_tokens("rl", 3.0, 10.0, 2.0, t0) == pytest.approx(1.5)
    assert c.take_tokens("rl", 3.0, 10.0, 2.0, t0 + 1.0) == pytest.approx(0.5)
    assert c.take_tokens("rl", 3.0, 10.0, 2.0, t0 + 1.5) == 0.0
    assert c.take_tokens("rl", 1.0, 10.0, 2.0, t0 + 1.5) == pytest.approx(0.5)
    assert c.take_tokens("rl", 10.0, 10.0, 2.0, t0 + 100.0) == 0.0


def test_take_tokens_impossible_cost_waits_forever(stores: Stores) -> None:
    c, t0 = stores.counters, 1_000_000.0
    assert c.take_tokens("big", 11.0, 10.0, 1.0, t0) == math.inf
    assert c.take_tokens("big", 10.0, 10.0, 0.0, t0) == 0.0
    assert c.take_tokens("big", 1.0, 10.0, 0.0, t0 + 1e6) == math.inf


def test_take_tokens_never_overdraws_under_threads(stores: Stores) -> None:
    t0 = 1_000_000.0
    results = in_threads(20, lambda _: [stores.counters.take_tokens("burst", 1.0, 25.0, 0.0, t0) for _ in range(3)])
    taken = sum(sum(wait == 0.0 for wait in batch) for batch in results)
    assert taken == 25


# SavingsStore


def event(ts: float, before: int = 100, after: int = 40, **extra: Any) -> SavingsEvent:
    return SavingsEvent(
        ts=ts, provider="anthropic", model="claude", tenant="t1", tokens_before=before, tokens_after=after, **extra
    )


def test_savings_totals_include_every_recorded_event(stores: Stores) -> None:
    stores.savings.record(event(20.0, input_tokens=40, output_tokens=7, cost_usd=0.25, cost_without_usd=0.5))
    stores.savings.record(
        event(
            10.0,
            50,
            50,
            response_cached=True,
            cache_read_tokens=3,
            cache_write_5m_tokens=2,
            cache_write_1h_tokens=1,
            status=429,
        )
    )
    totals = stores.savings.totals()
    assert (totals.requests, totals.tokens_before, totals.tokens_after, totals.tokens_saved) == (2, 150, 90, 60)
    assert (totals.input_tokens, totals.output_tokens, totals.response_cache_hits) == (40, 7, 1)
    assert (totals.cache_read_tokens, totals.cache_write_5m_tokens, totals.cache_write_1h_tokens) == (3, 2, 1)
    assert totals.cost_usd == pytest.approx(0.25)
    assert totals.cost_without_usd == pytest.approx(0.5)
    assert (totals.first_ts, totals.last_ts) == (10.0, 20.0)


def test_savings_empty_totals(stores: Stores) -> None:
    totals = stores.savings.totals()
    assert (totals.requests, totals.tokens_saved, totals.first_ts) == (0, 0, None)
    assert stores.savings.events() == []


def test_savings_totals_survive_restart(open_stores: Callable[[], Stores], backend: str) -> None:
    if backend == "memory":
        pytest.skip("memory stores do not outlive the process")
    first = open_stores()
    for i in range(5):
        first.savings.record(event(float(i)))
    first.close()
    again = open_stores()
    assert again.savings.totals().requests == 5
    assert len(again.savings.events()) == 5


def test_savings_events_oldest_first_since_and_newest_limit(stores: Stores) -> None:
    recorded = [event(float(ts), before=ts) for ts in (5, 1, 4, 2, 3)]
    for e in recorded:
        stores.savings.record(e)
    assert [e.ts for e in stores.savings.events()] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [e.ts for e in stores.savings.events(since=3.0)] == [3.0, 4.0, 5.0]
    assert [e.ts for e in stores.savings.events(limit=2)] == [4.0, 5.0]
    assert [e.ts for e in stores.savings.events(since=2.0, limit=10)] == [2.0, 3.0, 4.0, 5.0]
    assert stores.savings.events(limit=0) == []
    assert stores.savings.events(since=1.0)[0] == recorded[1]


def test_savings_records_are_atomic_under_threads(stores: Stores) -> None:

    def record_five(i: int) -> None:
        for j in range(5):
            stores.savings.record(event(float(i * 10 + j), 10, 4))

    in_threads(10, record_five)
    totals = stores.savings.totals()
    assert (totals.requests, totals.tokens_saved) == (50, 300)
    assert len(stores.savings.events()) == 50


HOUR = 3600.0 * 500_000  # a UTC hour's first second


def model_event(ts: float, model: str, provider: str, before: int, after: int, **extra: Any) -> SavingsEvent:
    return SavingsEvent(
        ts=ts, provider=provider, model=model, tenant="t1", tokens_before=before, tokens_after=after, **extra
    )


def test_savings_hours_sum_every_event_per_hour_and_model(stores: Stores) -> None:
    for recorded in (
        model_event(HOUR + 3600, "claude", "anthropic", 7, 1),
        model_event(HOUR + 10, "claude", "anthropic", 100, 40, input_tokens=5, cost_usd=0.25, cost_without_usd=0.5),
        model_event(HOUR + 20, "gpt", "openai", 10, 5, output_tokens=3, cost_usd=0.125),
        model_event(HOUR + 4 * 3600 + 5, "gpt", "openai", 4, 4),
        model_event(
            HOUR + 3599.5,
            "claude",
            "bedrock",
            50,
            50,
            response_cached=True,
            cache_read_tokens=3,
            cache_write_5m_tokens=2,
            cache_write_1h_tokens=1,
            cost_without_usd=0.25,
        ),
    ):
        stores.savings.record(recorded)
    start = int(HOUR)
    assert stores.savings.hours() == [
        SavingsHour(2, 150, 90, 5, 0, 3, 2, 1, 0.25, 0.75, 1, start=start, model="claude", provider="anthropic"),
        SavingsHour(1, 10, 5, 0, 3, 0, 0, 0, 0.125, 0.0, 0, start=start, model="gpt", provider="openai"),
        SavingsHour(1, 7, 1, start=start + 3600, model="claude", provider="anthropic"),
        SavingsHour(1, 4, 4, start=start + 4 * 3600, model="gpt", provider="openai"),
    ]
    assert [(h.start, h.model) for h in stores.savings.hours(since=HOUR + 5400)] == [
        (start + 3600, "claude"),
        (start + 4 * 3600, "gpt"),
    ]
    assert [h.start for h in stores.savings.hours(since=HOUR + 5 * 3600 - 1)] == [start + 4 * 3600]
    assert stores.savings.hours(since=HOUR + 5 * 3600) == []


def test_savings_hours_are_empty_before_any_event(stores: Stores) -> None:
    assert stores.savings.hours() == []


def test_savings_hours_survive_restart(open_stores: Callable[[], Stores], backend: str) -> None:
    if backend == "memory":
        pytest.skip("memory stores do not outlive the process")
    first = open_stores()
    for i in range(5):
        first.savings.record(event(HOUR + i * 1000.0))
    first.close()
    assert [(h.start, h.requests) for h in open_stores().savings.hours()] == [(int(HOUR), 4), (int(HOUR) + 3600, 1)]


def test_savings_hours_count_every_event_under_threads(stores: Stores) -> None:
    in_threads(10, lambda i: [stores.savings.record(event(HOUR + (i % 2) * 3600 + j, 10, 4)) for j in range(5)])
    assert [(h.start, h.requests, h.tokens_before - h.tokens_after) for h in stores.savings.hours()] == [
        (int(HOUR), 25, 150),
        (int(HOUR) + 3600, 25, 150),
    ]


def test_savings_hours_keep_the_events_a_backend_prunes(backend: str, tmp_path: Path) -> None:
    if backend == "aws":
        pytest.skip("the aws backend keeps every event")
    db = SqliteDatabase(tmp_path / "state.db") if backend == "sqlite" else None
    savings: SavingsStore = MemorySavingsStore(events_kept=3) if db is None else SqliteSavingsStore(db, events_kept=3)
    try:
        for i in range(10):
            savings.record(event(HOUR + i * 600.0))
        if isinstance(savings, SqliteSavingsStore):
            savings.prune()
        assert len(savings.events()) == 3
        assert [(h.start, h.requests) for h in savings.hours()] == [(int(HOUR), 6), (int(HOUR) + 3600, 4)]
    finally:
        if db is not None:
            db.close()


# ResponseCacheStore


def response(body: bytes) -> CachedResponse:
    return CachedResponse(200, (("content-type", "application/json"), ("x-a", "1"), ("x-a", "2")), body, True)


def test_response_round_trip_and_tenant_isolation(stores: Stores) -> None:
    cached = response(bytes(range(256)) + "é".encode())
    stores.responses.put_response("t1", "k", cached, LATER, 10)
    assert stores.responses.get_response("t1", "k", now()) == cached
    assert stores.responses.get_response("t2", "k", now()) is None
    assert stores.responses.get_response("t1", "other", now()) is None
    assert stores.responses.get_response("t1", "k", LATER + 1) is None


def test_response_large_body_round_trips(stores: Stores) -> None:
    cached = response(os.urandom(1024 * 1024))
    stores.responses.put_response("t1", "big", cached, LATER, 10)
    assert stores.responses.get_response("t1", "big", now()) == cached


def test_response_expired_is_none(stores: Stores) -> None:
    stores.responses.put_response("t1", "k", response(b"x"), EARLIER, 10)
    assert stores.responses.get_response("t1", "k", now()) is None


def test_response_lru_evicts_least_recently_used_per_tenant(stores: Stores) -> None:
    r = stores.responses
    for key in ("a", "b", "c"):
        r.put_response("t1", key, response(key.encode()), LATER, 3)
    r.put_response("t2", "z", response(b"z"), LATER, 3)
    assert r.get_response("t1", "a", now()) is not None
    r.put_response("t1", "d", response(b"d"), LATER, 3)
    assert r.get_response("t1", "b", now()) is None
    assert [r.get_response("t1", k, now()) is not None for k in ("a", "c", "d")] == [True, True, True]
    r.put_response("t1", "a", response(b"a2"), LATER, 2)
    assert r.get_response("t1", "c", now()) is None
    assert r.get_response("t1", "a", now()) == response(b"a2")
    assert r.get_response("t1", "d", now()) is not None
    assert r.get_response("t2", "z", now()) is not None


# ConversationStore


def test_forms_first_write_wins_and_missing_are_absent(stores: Stores) -> None:
    conv = stores.conversations
    conv.put_forms("c1", {"h1": "short one", "h2": "short two"}, LATER)
    conv.put_forms("c1", {"h1": "DIFFERENT", "h3": "three"}, LATER)
    assert conv.get_forms("c1", ["h1", "h2", "h3", "h4"], now()) == {
        "h1": "short one",
        "h2": "short two",
        "h3": "three",
    }
    assert conv.get_forms("c2", ["h1"], now()) == {}
    assert conv.get_forms("c1", [], now()) == {}


def test_forms_expire_and_expired_ones_may_be_rewritten(stores: Stores) -> None:
    conv = stores.conversations
    conv.put_forms("c1", {"h1": "old"}, EARLIER)
    assert conv.get_forms("c1", ["h1"], now()) == {}
    conv.put_forms("c1", {"h1": "new"}, LATER)
    assert conv.get_forms("c1", ["h1"], now()) == {"h1": "new"}
    assert conv.get_forms("c1", ["h1"], LATER + 1) == {}


def test_forms_many_hashes(stores: Stores) -> None:
    forms = {f"h{i:04d}": f"form {i} ✓" for i in range(1200)}
    stores.conversations.put_forms("c1", forms, LATER)
    assert stores.conversations.get_forms("c1", list(forms), now()) == forms


def test_forms_first_write_wins_under_threads(stores: Stores) -> None:
    in_threads(10, lambda i: stores.conversations.put_forms("c1", {"h": f"writer {i}"}, LATER))
    winner = stores.conversations.get_forms("c1", ["h"], now())["h"]
    stores.conversations.put_forms("c1", {"h": "late"}, LATER)
    assert stores.conversations.get_forms("c1", ["h"], now()) == {"h": winner}


def test_flags_set_get_overwrite_and_expire(stores: Stores) -> None:
    conv = stores.conversations
    assert conv.get_flag("c1", "retrieval_tool", now()) is None
    conv.set_flag("c1", "retrieval_tool", "added", LATER)
    conv.set_flag("c1", "retrieval_tool", "added-v2", LATER)
    conv.set_flag("c1", "gone", "x", EARLIER)
    assert conv.get_flag("c1", "retrieval_tool", now()) == "added-v2"
    assert conv.get_flag("c2", "retrieval_tool", now()) is None
    assert conv.get_flag("c1", "gone", now()) is None


# ToinStore


def test_toin_counters_and_fields(stores: Stores) -> None:
    toin = stores.toin
    assert toin.get("tool:grep|list") is None
    toin.record("tool:grep|list", compressions=2)
    toin.record("tool:grep|list", retrievals=1, fields=("path", "line"))
    toin.record("tool:grep|list", retrievals=1, fields=("path",))
    toin.record("tool:ls|table", compressions=1)
    pattern = toin.get("tool:grep|list")
    assert pattern is not None
    assert (pattern.compressions, pattern.retrievals, pattern.fields) == (2, 2, {"path": 2, "line": 1})
    assert {p.pattern: p.compressions for p in toin.all()} == {"tool:grep|list": 2, "tool:ls|table": 1}


def test_toin_records_are_atomic_under_threads(stores: Stores) -> None:

    def record_three(_: int) -> None:
        for _ in range(3):
            stores.toin.record("p", compressions=1, retrievals=1, fields=("f",))

    in_threads(10, record_three)
    pattern = stores.toin.get("p")
    assert pattern is not None
    assert (pattern.compressions, pattern.retrievals, pattern.fields) == (30, 30, {"f": 30})
