"""Spend limits per UTC period (hourly, daily, monthly), global and per tenant, enforced over a CounterStore:
reserve a request's estimated maximum cost before forwarding it, then settle to the actual cost (or release)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from headroom.config import Settings
from headroom.errors import BudgetExceeded
from headroom.store.interfaces import CounterStore

Period = Literal["hourly", "daily", "monthly"]
GLOBAL_SCOPE = "global"
EXPIRY_GRACE_S = 3600.0
# Admission means "spent < limit"; reserve() compares with <=, so the bound is lowered by a negligible amount.
ADMISSION_EPSILON_USD = 1e-9


def window_bounds(period: Period, now: float) -> tuple[float, float]:
    """Start and end (Unix seconds) of the UTC window of `period` containing `now`."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "hourly":
        start = moment.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
    elif period == "daily":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
    else:
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start.timestamp(), end.timestamp()


def counter_key(scope: str, period: Period, window_start: float) -> str:
    """The counter for one scope (`global` or `tenant:<hash>`) in one window; a new window is a new key."""
    stamp = datetime.fromtimestamp(window_start, UTC).strftime("%Y-%m-%dT%H")
    return f"budget:{period}:{scope}:{stamp}"


@dataclass(frozen=True, slots=True)
class Reservation:
    """An estimate held against the counters in `keys` until it is settled or released (exactly once)."""

    tenant: str
    amount: float
    keys: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One scope's standing in the current window, for /stats."""

    scope: str
    period: Period
    limit: float | None
    spent: float
    window_start: float
    window_end: float

    @property
    def remaining(self) -> float | None:
        return None if self.limit is None else max(0.0, self.limit - self.spent)

    def as_dict(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "period": self.period,
            "limit_usd": self.limit,
            "spent_usd": round(self.spent, 6),
            "remaining_usd": None if self.remaining is None else round(self.remaining, 6),
            "window_start": self.window_start,
            "window_end": self.window_end,
        }


class BudgetGuard:
    """Admits a request while its scope's spend in the window is under the limit, holding its estimate.

    Each scope's admission is one atomic `CounterStore.reserve` with the limit raised by the request's own
    estimate: admitted iff spent < limit at that instant, so however many requests race, the reserved total
    passes the limit by at most one request's estimate (settling may move it further by actual - estimate).
    With no limit set the guard touches no store. Store calls block: run them off the event loop.
    """

    def __init__(
        self,
        counters: CounterStore,
        *,
        period: Period = "daily",
        limit: float | None = None,
        per_tenant_limit: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._counters = counters
        self._period: Period = period
        self._limit = limit
        self._per_tenant_limit = per_tenant_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._rejected = 0

    @classmethod
    def from_settings(cls, settings: Settings, counters: CounterStore) -> BudgetGuard:
        return cls(
            counters, period=settings.budget_period, limit=settings.budget, per_tenant_limit=settings.budget_per_key
        )

    @property
    def enabled(self) -> bool:
        return self._limit is not None or self._per_tenant_limit is not None

    @property
    def rejected(self) -> int:
        """Requests this guard refused since it was built (this process only)."""
        return self._rejected

    def _scopes(self, tenant: str) -> list[tuple[str, float | None]]:
        scopes: list[tuple[str, float | None]] = [(GLOBAL_SCOPE, self._limit)]
        if self._per_tenant_limit is not None:
            scopes.append((f"tenant:{tenant}", self._per_tenant_limit))
        return scopes

    def reserve(self, tenant: str, estimate: float) -> Reservation:
        """Hold `estimate` USD for `tenant`'s request; raises BudgetExceeded (retry_after: seconds to the
        window's end) if the global or the tenant's spend already reached its limit."""
        if not self.enabled:
            return Reservation(tenant, 0.0, (), 0.0)
        amount = max(0.0, estimate)
        now = self._clock()
        start, end = window_bounds(self._period, now)
        expires_at = end + EXPIRY_GRACE_S
        held: list[str] = []
        for scope, limit in self._scopes(tenant):
            key = counter_key(scope, self._period, start)
            if limit is None:
                self._counters.add(key, amount, expires_at)
            elif not self._counters.reserve(key, amount, limit + amount - ADMISSION_EPSILON_USD, expires_at):
                for taken in held:
                    self._counters.add(taken, -amount, expires_at)
                with self._lock:
                    self._rejected += 1
                raise self._exceeded(scope, limit, self._counters.value(key, now), end - now)
            held.append(key)
        return Reservation(tenant, amount, tuple(held), expires_at)

    def _exceeded(self, scope: str, limit: float, spent: float, retry_after: float) -> BudgetExceeded:
        which = "per-key" if scope != GLOBAL_SCOPE else "global"
        return BudgetExceeded(
            f"Headroom {which} {self._period} budget exceeded: ${spent:.4f} spent of ${limit:.2f}; "
            f"the budget resets in {int(retry_after)} s",
            retry_after=max(1.0, retry_after),
        )

    def settle(self, reservation: Reservation, actual_cost: float) -> None:
        """Replace the held estimate with the request's actual cost (in the window it was reserved in)."""
        delta = max(0.0, actual_cost) - reservation.amount
        if delta:
            for key in reservation.keys:
                self._counters.add(key, delta, reservation.expires_at)

    def release(self, reservation: Reservation) -> None:
        """Give the held estimate back: the request was never billed (rejected upstream before any work,
        served from the response cache, or failed before forwarding)."""
        self.settle(reservation, 0.0)

    def status(self, tenant: str | None = None) -> BudgetStatus:
        """The global scope's standing, or the tenant's when `tenant` is given."""
        now = self._clock()
        start, end = window_bounds(self._period, now)
        scope, limit = (GLOBAL_SCOPE, self._limit) if tenant is None else (f"tenant:{tenant}", self._per_tenant_limit)
        spent = self._counters.value(counter_key(scope, self._period, start), now) if self.enabled else 0.0
        return BudgetStatus(scope, self._period, limit, spent, start, end)
