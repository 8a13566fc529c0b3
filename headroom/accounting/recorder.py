"""Turns each finished exchange into accounting: a savings event in the store, the JSONL request log line,
and the live session counters. Store writes run on one background thread, never on the event loop."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from pathlib import Path

from headroom.config import Settings
from headroom.proxy.service import Exchange
from headroom.store.interfaces import SavingsEvent, Stores

log = logging.getLogger("headroom.accounting")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def savings_event(exchange: Exchange, now: float) -> SavingsEvent:
    outcome = exchange.outcome
    usage = outcome.tap.usage
    optimized = exchange.optimized
    input_tokens = _int(usage.get("input_tokens", usage.get("prompt_tokens")))
    saved = optimized.tokens_saved
    finished = outcome.finished_at or time.perf_counter()
    first = outcome.first_byte_at or finished
    return SavingsEvent(
        ts=now,
        provider=exchange.provider.name,
        model=outcome.tap.model or exchange.model,
        tenant=exchange.incoming.tenant,
        tokens_before=input_tokens + saved,
        tokens_after=input_tokens,
        input_tokens=input_tokens,
        output_tokens=_int(usage.get("output_tokens", usage.get("completion_tokens"))),
        cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
        cache_write_5m_tokens=_int(usage.get("cache_creation_input_tokens")),
        latency_ms=round((finished - exchange.incoming.received_at) * 1000, 3),
        overhead_ms=round((exchange.forwarded_at - exchange.incoming.received_at) * 1000 + (first - first), 3),
        status=outcome.status,
    )


class Recorder:
    def __init__(self, settings: Settings, stores: Stores) -> None:
        self._settings = settings
        self._stores = stores
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="headroom-record")
        self._log_lock = threading.Lock()
        self._log_path: Path | None = settings.log_file

    def record_exchange(self, exchange: Exchange) -> None:
        event = savings_event(exchange, time.time())
        self._executor.submit(self._write, event, exchange.outcome.client_disconnected)

    def _write(self, event: SavingsEvent, disconnected: bool) -> None:
        try:
            self._stores.savings.record(event)
        except Exception as exc:  # accounting must never break the proxy; the failure is logged
            log.warning("savings record failed: %s", type(exc).__name__)
        if self._log_path is not None:
            line = json.dumps(
                {
                    "ts": event.ts,
                    "provider": event.provider,
                    "model": event.model,
                    "status": event.status,
                    "tokens_before": event.tokens_before,
                    "tokens_after": event.tokens_after,
                    "output_tokens": event.output_tokens,
                    "latency_ms": event.latency_ms,
                    "overhead_ms": event.overhead_ms,
                    "client_disconnected": disconnected,
                }
            )
            with self._log_lock, self._log_path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True)
