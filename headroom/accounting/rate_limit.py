"""Per-tenant token buckets for requests per minute and input tokens per minute, over the shared
CounterStore so every worker (and every Lambda instance) draws from the same buckets."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from headroom.config import Settings
from headroom.errors import RateLimited
from headroom.store.interfaces import CounterStore

SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class RateLimitStats:
    """This process's decisions since the limiter was built, for /stats."""

    enabled: bool
    rpm: int
    tpm: int
    allowed: int
    limited_requests: int
    limited_tokens: int

    def as_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "requests_per_minute": self.rpm,
            "tokens_per_minute": self.tpm,
            "allowed": self.allowed,
            "limited_requests": self.limited_requests,
            "limited_tokens": self.limited_tokens,
        }


class RateLimiter:
    """Two buckets per tenant (a salted key hash): `rpm` requests and `tpm` input tokens, each refilling
    continuously to its per-minute capacity. A limit of 0 (or `enabled=False`) turns that check off.
    Store calls block (SQLite, DynamoDB): run `check` off the event loop, unless `in_process` says the buckets
    live in this process's memory (the memory store)."""

    def __init__(
        self,
        counters: CounterStore,
        *,
        rpm: int,
        tpm: int,
        enabled: bool = True,
        in_process: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.in_process = in_process
        self._counters = counters
        self._rpm = max(0, rpm) if enabled else 0
        self._tpm = max(0, tpm) if enabled else 0
        self._clock = clock
        self._lock = threading.Lock()
        self._allowed = 0
        self._limited_requests = 0
        self._limited_tokens = 0

    @classmethod
    def from_settings(cls, settings: Settings, counters: CounterStore) -> RateLimiter:
        return cls(
            counters,
            rpm=settings.rpm,
            tpm=settings.tpm,
            enabled=settings.rate_limit_enabled,
            in_process=settings.store == "memory",
        )

    @property
    def enabled(self) -> bool:
        return self._rpm > 0 or self._tpm > 0

    def check(self, tenant: str, input_tokens: int) -> None:
        """Take one request and `input_tokens` tokens from the tenant's buckets, or raise RateLimited with the
        seconds until they will be available. A request larger than the whole per-minute token allowance
        waits for a full bucket and then empties it, so it is slowed, never refused forever."""
        if not self.enabled:
            return
        now = self._clock()
        if self._rpm > 0:
            wait = self._take(f"ratelimit:requests:{tenant}", 1.0, self._rpm, now)
            if wait > 0:
                self._count_limited(tokens=False)
                raise RateLimited(f"Headroom rate limit of {self._rpm} requests per minute exceeded", wait)
        if self._tpm > 0 and input_tokens > 0:
            cost = float(min(input_tokens, self._tpm))
            wait = self._take(f"ratelimit:tokens:{tenant}", cost, self._tpm, now)
            if wait > 0:
                self._count_limited(tokens=True)
                raise RateLimited(f"Headroom rate limit of {self._tpm} input tokens per minute exceeded", wait)
        with self._lock:
            self._allowed += 1

    def _take(self, key: str, cost: float, per_minute: int, now: float) -> float:
        wait = self._counters.take_tokens(key, cost, float(per_minute), per_minute / SECONDS_PER_MINUTE, now)
        return SECONDS_PER_MINUTE if math.isinf(wait) else wait

    def _count_limited(self, *, tokens: bool) -> None:
        with self._lock:
            if tokens:
                self._limited_tokens += 1
            else:
                self._limited_requests += 1

    def stats(self) -> RateLimitStats:
        with self._lock:
            return RateLimitStats(
                self.enabled, self._rpm, self._tpm, self._allowed, self._limited_requests, self._limited_tokens
            )
