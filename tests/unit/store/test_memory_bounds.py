"""The memory store's own bounds: it prunes its oldest savings events (the totals keep them) and drops expired
entries as it is written, so a long-running proxy on it does not grow with the requests it served."""

from __future__ import annotations

import time

from headroom.store.interfaces import CachedResponse, SavingsEvent
from headroom.store.memory import (
    EVENTS_KEPT,
    SWEEP_EVERY,
    MemoryBlobStore,
    MemoryConversationStore,
    MemoryCounterStore,
    MemoryResponseCacheStore,
    MemorySavingsStore,
)


def test_the_oldest_savings_events_are_pruned_and_stay_in_the_totals() -> None:
    savings = MemorySavingsStore()
    for ts in range(EVENTS_KEPT + 5):
        savings.record(SavingsEvent(float(ts), "anthropic", "claude", "t", 10, 4))
    events = savings.events()
    assert len(events) == EVENTS_KEPT
    assert (events[0].ts, events[-1].ts) == (5.0, float(EVENTS_KEPT + 4))
    assert savings.totals().requests == EVENTS_KEPT + 5


def test_expired_entries_are_dropped_as_the_stores_are_written() -> None:
    past, future = time.time() - 1, time.time() + 3600
    blobs, counters, conversations = MemoryBlobStore(), MemoryCounterStore(), MemoryConversationStore()
    responses = MemoryResponseCacheStore()
    for n in range(SWEEP_EVERY):
        responses.put_response(f"t{n % 3}", f"old{n}", CachedResponse(200, (), b"{}", False), past, 1000)
        blobs.put_blob("t", f"old{n}", b"x" * 100, past)
        counters.take_tokens(f"bucket{n}", 1.0, 10.0, 1.0, past - 3600)
        conversations.put_forms(f"c{n}", {"h": "form"}, past)
        conversations.set_flag(f"c{n}", "flag", "1", past)
    for n in range(SWEEP_EVERY):
        counters.add(f"old{n}", 1.0, past)
    blobs.put_blob("t", "kept", b"y", future)
    assert blobs.get_blob("t", "kept", time.time()) == b"y"
    assert list(blobs._blobs) == [("t", "kept")]
    assert (len(counters._values), len(counters._buckets)) == (0, 0)
    assert (len(conversations._forms), len(conversations._flags)) == (0, 0)
    assert [len(entries) for entries in responses._tenants.values()] == [0, 0, 0]
