"""Per-tenant token buckets for requests per minute and input tokens per minute, over the shared
CounterStore so every worker (and every Lambda instance) draws from the same buckets.

With a lease share (the SQLite store), a process takes a share of a limit from the shared bucket along with the
request that needed it, keeps it as a lease, and spends the lease on later requests without a store call. Tokens
leave the shared bucket only once, so one process is limited exactly as without leases; across processes, each
holds at most one lease per bucket unspent. A lease is taken only when the bucket can spare it: near the limit
requests are taken one by one again."""

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
class Draw:
    """What one request takes from one bucket: `cost` from the bucket at `key`, which holds `per_minute`."""

    key: str
    cost: float
    per_minute: int
    tokens: bool


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
    live in this process's memory (the memory store); `check_leased` never calls the store."""

    def __init__(
        self,
        counters: CounterStore,
        *,
        rpm: int,
        tpm: int,
        enabled: bool = True,
        in_process: bool = False,
        lease_share: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.in_process = in_process
        self._lease_share = lease_share
        self._leased: dict[str, float] = {}
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
            lease_share=settings.rate_limit_lease_share if settings.store == "sqlite" else 0.0,
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
        for bucket in self._costs(tenant, input_tokens):
            wait = self._take(bucket.key, bucket.cost, bucket.per_minute, now)
            if wait > 0:
                self._count_limited(tokens=bucket.tokens)
                unit = "input tokens" if bucket.tokens else "requests"
                raise RateLimited(f"Headroom rate limit of {bucket.per_minute} {unit} per minute exceeded", wait)
        with self._lock:
            self._allowed += 1

    def check_leased(self, tenant: str, input_tokens: int) -> bool:
        """Take the request from this process's leases alone: True if they covered every bucket, False (and
        nothing taken) when `check` must go to the store."""
        if not self.enabled:
            return True
        costs = self._costs(tenant, input_tokens)
        with self._lock:
            if any(self._leased.get(bucket.key, 0.0) < bucket.cost for bucket in costs):
                return False
            for bucket in costs:
                left = self._leased.pop(bucket.key) - bucket.cost
                if left > 0:
                    self._leased[bucket.key] = left
            self._allowed += 1
        return True

    def _costs(self, tenant: str, input_tokens: int) -> list[Draw]:
        """What the request takes from each of the tenant's buckets."""
        costs = []
        if self._rpm > 0:
            costs.append(Draw(f"ratelimit:requests:{tenant}", 1.0, self._rpm, tokens=False))
        if self._tpm > 0 and input_tokens > 0:
            costs.append(
                Draw(f"ratelimit:tokens:{tenant}", float(min(input_tokens, self._tpm)), self._tpm, tokens=True)
            )
        return costs

    def _take(self, key: str, cost: float, per_minute: int, now: float) -> float:
        """Spend this process's lease first, then take the rest from the store, with a new lease when the bucket
        can spare it; 0, or the seconds to wait (the lease is kept then)."""
        with self._lock:
            held = self._leased.pop(key, 0.0)
        if held >= cost:
            self._put_lease(key, held - cost)
            return 0.0
        short = cost - held
        lease = math.floor(per_minute * self._lease_share)
        if (
            lease >= 1
            and short + lease <= per_minute
            and self._take_from_store(key, short + lease, per_minute, now) == 0
        ):
            self._put_lease(key, lease)
            return 0.0
        wait = self._take_from_store(key, short, per_minute, now)
        if wait > 0:
            self._put_lease(key, held)
        return wait

    def _put_lease(self, key: str, tokens: float) -> None:
        if tokens > 0:
            with self._lock:
                self._leased[key] = self._leased.get(key, 0.0) + tokens

    def _take_from_store(self, key: str, cost: float, per_minute: int, now: float) -> float:
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
