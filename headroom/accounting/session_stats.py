"""Live, in-process counters for `/stats`: this process's requests, tokens, cost, latency, cache observations.
Durable totals live in the SavingsStore; these reset when the process restarts (the spec's "session" view)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from headroom.accounting.usage import Usage
from headroom.store.interfaces import SavingsEvent

RESERVOIR = 2048
HISTORY = 100


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return round(ordered[index], 3)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_entry(event: SavingsEvent) -> dict[str, Any]:
    """One row of the session's savings history, formatted when /stats asks (not per request)."""
    return {
        "timestamp": iso(event.ts),
        "model": event.model,
        "tokens_before": event.tokens_before,
        "tokens_after": event.tokens_after,
        "tokens_saved": event.tokens_before - event.tokens_after,
        "cost_usd": round(event.cost_usd, 6),
    }


@dataclass(slots=True)
class SessionStats:
    started_at: float
    requests: int = 0
    errors: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_without_usd: float = 0.0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    compression_failures: int = 0
    retrievals: int = 0
    proxy_cache_busts: int = 0
    volatile_prefix_requests: int = 0
    context_dropped_messages: int = 0
    context_trimmed_requests: int = 0
    response_cache_hits: int = 0
    response_cache_misses: int = 0
    by_model: dict[str, int] = field(default_factory=dict)
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=RESERVOIR))
    _overheads: deque[float] = field(default_factory=lambda: deque(maxlen=RESERVOIR))
    _history: deque[SavingsEvent] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: SavingsEvent, usage: Usage, failures: int) -> None:
        with self._lock:
            self.requests += 1
            self.errors += event.status >= 400
            self.tokens_before += event.tokens_before
            self.tokens_after += event.tokens_after
            self.output_tokens += event.output_tokens
            self.cost_usd += event.cost_usd
            self.cost_without_usd += event.cost_without_usd
            self.cache_read_tokens += usage.cache_read
            self.cache_write_5m_tokens += usage.cache_write_5m
            self.cache_write_1h_tokens += usage.cache_write_1h
            self.compression_failures += failures
            self.by_model[event.model] = self.by_model.get(event.model, 0) + 1
            self._latencies.append(event.latency_ms)
            self._overheads.append(event.overhead_ms)
            self._history.append(event)

    def add_context(self, *, bust: bool, volatile: int, dropped: int) -> None:
        with self._lock:
            self.proxy_cache_busts += bust
            self.volatile_prefix_requests += volatile > 0
            self.context_dropped_messages += dropped
            self.context_trimmed_requests += dropped > 0

    def count_cache(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.response_cache_hits += 1
            else:
                self.response_cache_misses += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            latencies, overheads = list(self._latencies), list(self._overheads)
            saved = self.tokens_before - self.tokens_after
            written = self.cache_write_5m_tokens + self.cache_write_1h_tokens
            lookups = self.response_cache_hits + self.response_cache_misses
            return {
                "requests": {"total": self.requests, "errors": self.errors, "by_model": dict(self.by_model)},
                "tokens": {
                    "before": self.tokens_before,
                    "after": self.tokens_after,
                    "saved": saved,
                    "savings_percent": round(100 * saved / self.tokens_before, 2) if self.tokens_before else 0.0,
                    "output": self.output_tokens,
                },
                "cost": {
                    "usd": round(self.cost_usd, 6),
                    "without_headroom_usd": round(self.cost_without_usd, 6),
                    "saved_usd": round(self.cost_without_usd - self.cost_usd, 6),
                },
                "latency_ms": {"p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99)},
                "overhead_ms": {"p50": _percentile(overheads, 0.5), "p99": _percentile(overheads, 0.99)},
                "compression": {"failures": self.compression_failures},
                "cache": {
                    "hits": self.response_cache_hits,
                    "misses": self.response_cache_misses,
                    "hit_rate": round(self.response_cache_hits / lookups, 4) if lookups else 0.0,
                },
                "context": {
                    "trimmed_requests": self.context_trimmed_requests,
                    "dropped_messages": self.context_dropped_messages,
                },
                "prefix_cache": {
                    "proxy_caused_busts": self.proxy_cache_busts,
                    "requests_with_volatile_prefix": self.volatile_prefix_requests,
                    "cache_read_tokens": self.cache_read_tokens,
                    "cache_write_tokens": written,
                    "observed_ttl_buckets": {
                        "5m": {"tokens": self.cache_write_5m_tokens},
                        "1h": {"tokens": self.cache_write_1h_tokens},
                    },
                    "observed_ttl_mix": {
                        "5m": round(self.cache_write_5m_tokens / written, 4) if written else 0.0,
                        "1h": round(self.cache_write_1h_tokens / written, 4) if written else 0.0,
                    },
                },
                "savings_history": [history_entry(event) for event in self._history],
            }
