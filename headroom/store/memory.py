"""In-process stores for unit tests: plain dicts behind one lock per store, same guarantees as the durable backends
within a single process. Memory is bounded as the durable backends bound their disk: the oldest savings events
are pruned and, every SWEEP_EVERY writes to a store, its expired entries are dropped."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from typing import Any

from headroom.store.bucket import Bucket, full_at, take_from
from headroom.store.interfaces import (
    CachedResponse,
    SavingsEvent,
    SavingsHour,
    SavingsTotals,
    Stores,
    ToinPattern,
)
from headroom.store.totals import add_event, add_to_hours, hour_start

# Savings events kept in memory (SQLite keeps 500,000 on disk), ~40 MB at most: the savings file and compact
# /stats-history read the newest 201, the full mode all of them; the totals and the hourly sums count every event (an
# hour's sums are one entry per model, ~0.3 KB). A proxy on the memory store grew ~0.4 KB per request without end
# before.
EVENTS_KEPT = 100_000
SWEEP_EVERY = 512


def drop_expired(entries: dict[Any, tuple[Any, float]], now: float) -> None:
    """Delete the entries whose expiry (the second item of the value) has passed."""
    for key in [key for key, (_, expires_at) in entries.items() if expires_at <= now]:
        del entries[key]


Table = dict[Any, tuple[Any, float]]


class ExpirySweep:
    """One store's write count: every SWEEP_EVERY-th write drops the expired entries of the store's tables (given,
    or listed by `tables` when a store has one per tenant). Called with the store's lock held."""

    def __init__(self, *fixed: Table, tables: Callable[[], Iterable[Table]] | None = None) -> None:
        self._tables = tables or (lambda: fixed)
        self._writes = 0

    def wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            for table in self._tables():
                drop_expired(table, now)


class MemoryBlobStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._sweep = ExpirySweep(self._blobs)

    def put_blob(self, tenant: str, key: str, data: bytes, expires_at: float) -> None:
        with self._lock:
            self._blobs[(tenant, key)] = (bytes(data), expires_at)
            self._sweep.wrote(time.time())

    def get_blob(self, tenant: str, key: str, now: float) -> bytes | None:
        with self._lock:
            entry = self._blobs.get((tenant, key))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]


class MemoryCounterStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, float]] = {}
        self._buckets: dict[str, tuple[Bucket, float]] = {}
        # A bucket past its full time is the same as no bucket, so buckets expire at it.
        self._sweep = ExpirySweep(self._values, self._buckets)

    def _live(self, key: str, now: float) -> float:
        entry = self._values.get(key)
        return entry[0] if entry is not None and entry[1] > now else 0.0

    def reserve(self, key: str, amount: float, limit: float, expires_at: float) -> bool:
        with self._lock:
            now = time.time()
            new = self._live(key, now) + amount
            if new > limit:
                return False
            self._values[key] = (new, expires_at)
            self._sweep.wrote(now)
            return True

    def add(self, key: str, delta: float, expires_at: float) -> float:
        with self._lock:
            now = time.time()
            new = self._live(key, now) + delta
            self._values[key] = (new, expires_at)
            self._sweep.wrote(now)
            return new

    def value(self, key: str, now: float) -> float:
        with self._lock:
            return self._live(key, now)

    def take_tokens(self, key: str, cost: float, capacity: float, refill_per_second: float, now: float) -> float:
        with self._lock:
            entry = self._buckets.get(key)
            stored = entry[0] if entry is not None and entry[1] > now else None
            bucket, wait = take_from(stored, cost, capacity, refill_per_second, now)
            if bucket is not None:
                self._buckets[key] = (bucket, full_at(bucket, capacity, refill_per_second))
                self._sweep.wrote(now)
            return wait


class MemorySavingsStore:
    def __init__(self, events_kept: int = EVENTS_KEPT) -> None:
        self._lock = threading.Lock()
        self._events: deque[SavingsEvent] = deque(maxlen=events_kept)
        self._totals = SavingsTotals()
        self._hours: dict[tuple[int, str], SavingsHour] = {}

    def record(self, event: SavingsEvent) -> None:
        with self._lock:
            self._events.append(event)
            add_event(self._totals, event)
            add_to_hours(self._hours, event)

    def totals(self) -> SavingsTotals:
        with self._lock:
            return SavingsTotals(**{f.name: getattr(self._totals, f.name) for f in fields(SavingsTotals)})

    def events(self, since: float | None = None, limit: int | None = None) -> list[SavingsEvent]:
        with self._lock:
            chosen = sorted((e for e in self._events if since is None or e.ts >= since), key=lambda e: e.ts)
        return chosen if limit is None else chosen[max(0, len(chosen) - limit) :]

    def hours(self, since: float | None = None) -> list[SavingsHour]:
        first = None if since is None else hour_start(since)
        with self._lock:
            chosen = [replace(hour) for key, hour in self._hours.items() if first is None or key[0] >= first]
        return sorted(chosen, key=lambda hour: (hour.start, hour.model))


class MemoryResponseCacheStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, OrderedDict[str, tuple[CachedResponse, float]]] = {}
        self._sweep = ExpirySweep(tables=self._tenants.values)

    def get_response(self, tenant: str, key: str, now: float) -> CachedResponse | None:
        with self._lock:
            entries = self._tenants.get(tenant)
            entry = entries.get(key) if entries is not None else None
            if entries is None or entry is None or entry[1] <= now:
                return None
            entries.move_to_end(key)
            return entry[0]

    def put_response(
        self, tenant: str, key: str, response: CachedResponse, expires_at: float, max_entries: int
    ) -> None:
        now = time.time()
        with self._lock:
            entries = self._tenants.setdefault(tenant, OrderedDict())
            entries[key] = (response, expires_at)
            entries.move_to_end(key)
            while len(entries) > max(0, max_entries):
                entries.popitem(last=False)
            self._sweep.wrote(now)


class MemoryConversationStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: dict[tuple[str, str], tuple[str, float]] = {}
        self._flags: dict[tuple[str, str], tuple[str, float]] = {}
        self._sweep = ExpirySweep(self._forms, self._flags)

    def get_forms(self, conversation: str, content_hashes: list[str], now: float) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lock:
            for content_hash in content_hashes:
                entry = self._forms.get((conversation, content_hash))
                if entry is not None and entry[1] > now:
                    found[content_hash] = entry[0]
        return found

    def put_forms(self, conversation: str, forms: dict[str, str], expires_at: float) -> None:
        now = time.time()
        with self._lock:
            for content_hash, form in forms.items():
                entry = self._forms.get((conversation, content_hash))
                if entry is None or entry[1] <= now:
                    self._forms[(conversation, content_hash)] = (form, expires_at)
                else:
                    self._forms[(conversation, content_hash)] = (entry[0], max(entry[1], expires_at))
            self._sweep.wrote(now)

    def get_flag(self, conversation: str, name: str, now: float) -> str | None:
        with self._lock:
            entry = self._flags.get((conversation, name))
        return entry[0] if entry is not None and entry[1] > now else None

    def set_flag(self, conversation: str, name: str, value: str, expires_at: float) -> None:
        with self._lock:
            self._flags[(conversation, name)] = (value, expires_at)
            self._sweep.wrote(time.time())


class MemoryToinStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patterns: dict[str, ToinPattern] = {}

    def record(self, pattern: str, compressions: int = 0, retrievals: int = 0, fields: tuple[str, ...] = ()) -> None:
        with self._lock:
            old = self._patterns.get(pattern, ToinPattern(pattern))
            counts = dict(old.fields)
            for name in fields:
                counts[name] = counts.get(name, 0) + 1
            self._patterns[pattern] = ToinPattern(
                pattern, old.compressions + compressions, old.retrievals + retrievals, counts
            )

    def get(self, pattern: str) -> ToinPattern | None:
        with self._lock:
            found = self._patterns.get(pattern)
        return (
            None
            if found is None
            else ToinPattern(found.pattern, found.compressions, found.retrievals, dict(found.fields))
        )

    def all(self) -> list[ToinPattern]:
        with self._lock:
            names = sorted(self._patterns)
        return [p for p in (self.get(name) for name in names) if p is not None]


def memory_stores() -> Stores:
    """A fresh, empty, thread-safe bundle that lives as long as the process."""
    return Stores(
        blobs=MemoryBlobStore(),
        counters=MemoryCounterStore(),
        savings=MemorySavingsStore(),
        responses=MemoryResponseCacheStore(),
        conversations=MemoryConversationStore(),
        toin=MemoryToinStore(),
        backend="memory",
    )
