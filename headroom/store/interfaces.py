"""Storage interfaces. Every guarantee stated in a docstring here is checked by the contract suite
(`tests/unit/store/test_store_contract.py`) against every backend.

All methods are synchronous; the request path calls them through a worker thread.
Times are Unix seconds (float); `expires_at` is an absolute time. Expired entries behave as absent
even where a backend deletes them lazily (DynamoDB TTL and SQLite alike).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class BlobStore(Protocol):
    """Originals kept by CCR, scoped by tenant."""

    def put_blob(self, tenant: str, key: str, data: bytes, expires_at: float) -> None:
        """Store `data` under (tenant, key); overwriting the same key is allowed and idempotent."""
        ...

    def get_blob(self, tenant: str, key: str, now: float) -> bytes | None:
        """The bytes stored under (tenant, key), byte-identical; None if absent, expired, or stored by
        another tenant."""
        ...


class CounterStore(Protocol):
    """Numeric counters with atomic conditional updates (budgets, rate limits)."""

    def reserve(self, key: str, amount: float, limit: float, expires_at: float) -> bool:
        """Atomically add `amount` to counter `key` only if the new value stays <= `limit`; True if added.
        Under any concurrency the counter never exceeds `limit` through this method."""
        ...

    def add(self, key: str, delta: float, expires_at: float) -> float:
        """Atomically add `delta` (may be negative) unconditionally; returns the new value."""
        ...

    def value(self, key: str, now: float) -> float:
        """The counter's value; 0.0 if absent or expired."""
        ...

    def take_tokens(self, key: str, cost: float, capacity: float, refill_per_second: float, now: float) -> float:
        """Token bucket that starts full at `capacity` and refills continuously. If `cost` tokens are
        available, take them atomically and return 0.0; otherwise take nothing and return the seconds
        until `cost` tokens will be available (> 0; `math.inf` if `cost` exceeds `capacity` or nothing
        refills)."""
        ...


@dataclass(frozen=True, slots=True)
class SavingsEvent:
    """One proxied request's accounting. `tenant` is a salted hash, never a key."""

    ts: float
    provider: str
    model: str
    tenant: str
    tokens_before: int
    tokens_after: int
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cost_usd: float = 0.0
    cost_without_usd: float = 0.0
    latency_ms: float = 0.0
    overhead_ms: float = 0.0
    response_cached: bool = False
    status: int = 200


@dataclass(slots=True)
class SavingsSums:
    """What savings events add up to: lifetime totals and the hourly sums share these fields."""

    requests: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cost_usd: float = 0.0
    cost_without_usd: float = 0.0
    response_cache_hits: int = 0

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after


@dataclass(slots=True)
class SavingsTotals(SavingsSums):
    first_ts: float | None = None
    last_ts: float | None = None


@dataclass(slots=True)
class SavingsHour(SavingsSums):
    """One model's events of one UTC hour, summed. `start` is the hour's first second (a multiple of 3600);
    `provider` is that of the first event recorded for the model in the hour."""

    start: int = field(kw_only=True)
    model: str = field(kw_only=True)
    provider: str = field(kw_only=True)


class SavingsStore(Protocol):
    """Durable savings history. A backend may prune its oldest events; the totals and the hours never forget
    them."""

    def record(self, event: SavingsEvent) -> None:
        """Append one event; lifetime totals include it once recorded, across restarts."""
        ...

    def totals(self) -> SavingsTotals:
        """Lifetime totals over every event ever recorded."""
        ...

    def events(self, since: float | None = None, limit: int | None = None) -> list[SavingsEvent]:
        """Events with ts >= since, oldest first; with `limit`, the newest `limit` of them."""
        ...

    def hours(self, since: float | None = None) -> list[SavingsHour]:
        """Every recorded event summed per UTC hour and model, pruned events included, oldest hour first and
        models by name within an hour; an event is in its hour once recorded, across restarts and under any
        concurrency. With `since`, only the hour holding `since` and later ones."""
        ...


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    streamed: bool = False


class ResponseCacheStore(Protocol):
    """Exact-match response cache, per tenant, LRU with TTL."""

    def get_response(self, tenant: str, key: str, now: float) -> CachedResponse | None:
        """The cached response; None if absent, expired or another tenant's. A hit counts as a use for LRU."""
        ...

    def put_response(
        self, tenant: str, key: str, response: CachedResponse, expires_at: float, max_entries: int
    ) -> None:
        """Store the response; afterwards at most `max_entries` entries remain per tenant, least recently
        used evicted first."""
        ...


@runtime_checkable
class InlineResponseReads(Protocol):
    """A ResponseCacheStore whose reads never wait for a writer (SQLite in WAL mode): a lookup may read on the
    event loop and leave the LRU use to a queued write."""

    def peek_response(self, tenant: str, key: str, now: float) -> CachedResponse | None:
        """As get_response, without counting a use."""
        ...

    def touch_response(self, tenant: str, key: str) -> None:
        """Count a use of the entry for LRU, if it is still there."""
        ...


class ConversationStore(Protocol):
    """Per-conversation memory: the exact compressed form sent upstream for each block (by content hash)
    and small flags such as "the retrieval tool was added"."""

    def get_forms(self, conversation: str, content_hashes: list[str], now: float) -> dict[str, str]:
        """The remembered forms for those hashes that exist (missing hashes are absent from the result)."""
        ...

    def put_forms(self, conversation: str, forms: dict[str, str], expires_at: float) -> None:
        """Remember forms; an existing form for a hash is never replaced (first write wins)."""
        ...

    def get_flag(self, conversation: str, name: str, now: float) -> str | None: ...

    def set_flag(self, conversation: str, name: str, value: str, expires_at: float) -> None: ...


@dataclass(frozen=True, slots=True)
class ToinPattern:
    """Aggregated observations for one (tool, output shape) pattern. Never holds content."""

    pattern: str
    compressions: int = 0
    retrievals: int = 0
    fields: dict[str, int] = field(default_factory=dict)


class ToinStore(Protocol):
    """Tool-output intelligence: counters per pattern, aggregated across tenants."""

    def record(self, pattern: str, compressions: int = 0, retrievals: int = 0, fields: tuple[str, ...] = ()) -> None:
        """Atomically add to the pattern's counters and add one to each named field's retrieval count."""
        ...

    def get(self, pattern: str) -> ToinPattern | None: ...

    def all(self) -> list[ToinPattern]: ...


@dataclass(slots=True)
class Stores:
    """Everything the app remembers, bundled for `create_app`."""

    blobs: BlobStore
    counters: CounterStore
    savings: SavingsStore
    responses: ResponseCacheStore
    conversations: ConversationStore
    toin: ToinStore
    backend: str = "memory"
    closer: Callable[[], None] | None = None
    group: Callable[[], AbstractContextManager[object]] | None = None
    """Where the backend can: a block in which one thread's store calls share one commit (SQLite's `batch`)."""

    def close(self) -> None:
        """Release the backend's connections and clients; the stores must not be used afterwards."""
        if self.closer is not None:
            self.closer()
