"""Admission before forwarding: per-tenant rate limits, then a budget reservation for the request's worst-case
cost. Store calls run on the store thread (headroom/accounting/store_thread.py), inline for the in-process memory
store. Rejections are the provider-shaped 429s of errors.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headroom.accounting.budget import BudgetGuard, Reservation
from headroom.accounting.cost import estimate_max_cost, max_output_tokens
from headroom.accounting.rate_limit import RateLimiter
from headroom.accounting.store_thread import StoreThread
from headroom.errors import BudgetExceeded, RateLimited
from headroom.observability.metrics import Metrics

BYTES_PER_TOKEN = 4


class RequestGuard:
    def __init__(self, budget: BudgetGuard, limiter: RateLimiter, metrics: Metrics, store_thread: StoreThread) -> None:
        self.budget = budget
        self.limiter = limiter
        self._metrics = metrics
        self.store_thread = store_thread

    @property
    def needs_body(self) -> bool:
        """Whether `admit` reads the request's model and max_tokens (only a budget prices the request)."""
        return self.budget.enabled

    async def admit(
        self, provider: str, tenant: str, model: str, body: Mapping[str, Any] | None, body_bytes: int
    ) -> Reservation | None:
        """Raise RateLimited/BudgetExceeded, or return the budget reservation to settle after the call."""
        input_estimate = body_bytes // BYTES_PER_TOKEN
        if self.limiter.enabled:
            try:
                if self.limiter.in_process:
                    self.limiter.check(tenant, input_estimate)
                elif not self.limiter.check_leased(tenant, input_estimate):
                    await self.store_thread.call(self.limiter.check, tenant, input_estimate)
            except RateLimited:
                self._metrics.record_rate_limited(provider, "requests_or_tokens")
                raise
        if not self.budget.enabled:
            return None
        estimate = estimate_max_cost(model, input_estimate, max_output_tokens(body or {}))
        try:
            return await self.store_thread.call(self.budget.reserve, tenant, estimate)
        except BudgetExceeded:
            self._metrics.record_budget_rejected(provider)
            raise

    async def release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            await self.store_thread.call(self.budget.release, reservation)
