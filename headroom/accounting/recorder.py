"""Turns each finished exchange into accounting: cost from the usage upstream reported, the "without Headroom"
counterfactual, the budget settled, a savings event in the store, metrics, the live session counters and the
JSONL request log. Store writes are queued to the store thread (headroom/accounting/store_thread.py) and run there
in batches, never on the event loop."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headroom.accounting.budget import BudgetGuard, Reservation
from headroom.accounting.cost import cost_usd, cost_without_headroom
from headroom.accounting.response_cache import ResponseCache, ResponseWrite
from headroom.accounting.session_stats import SessionStats
from headroom.accounting.store_thread import StoreThread
from headroom.accounting.usage import Usage, usage_from
from headroom.config import Settings
from headroom.observability.metrics import Metrics, endpoint_label
from headroom.observability.traces import PipelineRun, PipelineTraces, run_started_at
from headroom.proxy.service import Exchange
from headroom.store.interfaces import SavingsEvent, Stores

log = logging.getLogger("headroom.accounting")


def exchange_usage(exchange: Exchange) -> Usage:
    return usage_from(exchange.provider.name, exchange.outcome.tap.usage)


def savings_event(exchange: Exchange, usage: Usage, now: float) -> SavingsEvent:
    """Tokens before = what upstream billed as input + what compression removed (counted exactly, per block)."""
    outcome = exchange.outcome
    model = exchange.reported_model()
    saved = exchange.optimized.tokens_saved
    after = usage.prompt_tokens
    cost = cost_usd(model, usage)
    finished = outcome.finished_at or time.perf_counter()
    return SavingsEvent(
        ts=now,
        provider=exchange.provider.name,
        model=model,
        tenant=exchange.incoming.tenant,
        tokens_before=after + saved,
        tokens_after=after,
        input_tokens=usage.input,
        output_tokens=usage.output,
        cache_read_tokens=usage.cache_read,
        cache_write_5m_tokens=usage.cache_write_5m,
        cache_write_1h_tokens=usage.cache_write_1h,
        cost_usd=cost,
        cost_without_usd=cost_without_headroom(model, usage, after + saved, after) if saved else cost,
        latency_ms=round((finished - exchange.incoming.received_at) * 1000, 3),
        overhead_ms=round((exchange.forwarded_at - exchange.incoming.received_at) * 1000, 3),
        status=outcome.status,
    )


def pipeline_run(exchange: Exchange, event: SavingsEvent) -> PipelineRun:
    optimized = exchange.optimized
    return PipelineRun(
        provider=event.provider,
        model=event.model,
        tokens_before=event.tokens_before,
        tokens_after=event.tokens_after,
        transforms=tuple(optimized.transforms),
        ccr_hash_count=len(optimized.ccr_hashes),
        started_at=run_started_at(exchange.incoming.received_at),
        duration_s=event.overhead_ms / 1000,
    )


def cacheable(exchange: Exchange) -> bool:
    """Only complete, successful responses: no error event, no disconnect, nothing truncated."""
    outcome = exchange.outcome
    return (
        exchange.cache_key is not None
        and outcome.status == 200
        and not outcome.tap.saw_error
        and not outcome.client_disconnected
        and not outcome.body_truncated
        and outcome.upstream_error is None
    )


class Recorder:
    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        budget: BudgetGuard,
        cache: ResponseCache,
        metrics: Metrics,
        stats: SessionStats,
        traces: PipelineTraces | None = None,
        store_thread: StoreThread | None = None,
    ) -> None:
        self._traces = traces
        self._stores = stores
        self._cache = cache
        self._budget = budget
        self._metrics = metrics
        self.stats = stats
        self._store_thread = store_thread or StoreThread()
        self._log_lock = threading.Lock()
        self._log_path: Path | None = settings.log_file
        self._inline = settings.record_inline

    def record_cache_lookup(self, provider: str, model: str, tenant: str, hit: bool) -> None:
        """Every lookup is counted; a hit is also a request in the savings history, answered at no upstream cost."""
        self.stats.count_cache(hit=hit)
        self._metrics.record_cache(provider, hit=hit)
        if hit:
            event = SavingsEvent(
                ts=time.time(),
                provider=provider,
                model=model,
                tenant=tenant,
                tokens_before=0,
                tokens_after=0,
                response_cached=True,
            )
            self._run(self._store_event, event)

    def _store_event(self, event: SavingsEvent) -> None:
        try:
            self._stores.savings.record(event)
        except Exception as exc:  # accounting must never break the proxy; the failure is logged
            log.warning("accounting write failed: %s", type(exc).__name__)

    def record_exchange(self, exchange: Exchange) -> None:
        """Called by the relay when a response has finished (or the client left); never raises."""
        try:
            usage = exchange_usage(exchange)
            event = savings_event(exchange, usage, time.time())
        except Exception as exc:  # a malformed usage object must not break the stream's teardown
            log.warning("accounting skipped: %s", type(exc).__name__)
            return
        provider = exchange.provider.name
        self._metrics.observe_request(
            provider, exchange.incoming.path, event.status, event.latency_ms / 1000, event.overhead_ms / 1000
        )
        self._metrics.record_tokens(provider, event.tokens_before, event.tokens_after)
        self._metrics.record_cost(provider, event.model, event.cost_usd, event.cost_without_usd)
        if exchange.optimized.failures:
            self._metrics.record_compression_failure(provider, "pipeline")
        if exchange.outcome.upstream_error or event.status >= 500:
            self._metrics.record_upstream_error(provider, f"{event.status // 100}xx")
        if self._traces is not None and endpoint_label(exchange.incoming.path) != "passthrough":
            self._traces.record(pipeline_run(exchange, event))
        self.stats.add(event, usage, exchange.optimized.failures)
        decision = exchange.optimized.context
        self.stats.add_context(
            bust=decision.proxy_cache_bust, volatile=decision.cache_volatile, dropped=decision.dropped_messages
        )
        log_line = self._log_line(event, exchange) if self._log_path is not None else None
        self._run(self._write, event, exchange.reservation, log_line)
        outcome = exchange.outcome
        if cacheable(exchange) and exchange.cache_key is not None and outcome.body is not None:
            response = ResponseWrite(
                exchange.incoming.tenant,
                exchange.cache_key,
                exchange.provider.name,
                exchange.streaming,
                outcome.status,
                bytes(outcome.body),
            )
            self._cache.expect(response)
            self._run(self._cache_response, response)

    def _run(self, work: Callable[..., None], *args: Any) -> None:
        """Background and batched by default; inline where the platform freezes the process after the response
        (Lambda, HEADROOM_RECORD_INLINE). The queued work holds only what the write needs, not the exchange."""
        if self._inline:
            work(*args)
        else:
            self._store_thread.submit(work, *args)

    def _cache_response(self, response: ResponseWrite) -> None:
        try:
            self._cache.store(response, None if self._inline else self._store_thread.after_commit)
        except Exception as exc:  # a cache write failure only costs a future miss
            log.warning("response cache write failed: %s", type(exc).__name__)

    def _write(self, event: SavingsEvent, reservation: Reservation | None, log_line: str | None) -> None:
        try:
            if reservation is not None:
                self._budget.settle(reservation, event.cost_usd)
            self._stores.savings.record(event)
        except Exception as exc:  # accounting must never break the proxy; the failure is logged
            log.warning("accounting write failed: %s", type(exc).__name__)
        if log_line is not None:
            with self._log_lock, self._log_path.open("a", encoding="utf-8") as handle:  # type: ignore[union-attr]
                handle.write(log_line + "\n")

    @staticmethod
    def _log_line(event: SavingsEvent, exchange: Exchange) -> str:
        decision = exchange.optimized.context
        return json.dumps(
            {
                "ts": event.ts,
                "provider": event.provider,
                "model": event.model,
                "status": event.status,
                "tokens_before": event.tokens_before,
                "tokens_after": event.tokens_after,
                "output_tokens": event.output_tokens,
                "cost_usd": round(event.cost_usd, 6),
                "latency_ms": event.latency_ms,
                "overhead_ms": event.overhead_ms,
                "client_disconnected": exchange.outcome.client_disconnected,
                "transforms": exchange.optimized.transforms,
                "context_dropped_messages": decision.dropped_messages,
                "proxy_cache_bust": decision.proxy_cache_bust,
            }
        )

    async def aclose(self) -> None:
        """Flush the queued writes (at shutdown)."""
        self._store_thread.close()
