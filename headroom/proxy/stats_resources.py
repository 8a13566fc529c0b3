"""`GET /stats` (the live session view plus durable totals, budget and rate-limit state) and `GET /metrics`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

import falcon
import falcon.asgi

from headroom.accounting.session_stats import SessionStats, iso
from headroom.observability.metrics import Metrics
from headroom.proxy.guard import RequestGuard
from headroom.store.interfaces import SavingsStore

PREVIEW = 10


def persistent_savings(savings: SavingsStore) -> dict[str, Any]:
    totals = savings.totals()
    recent = savings.events(limit=PREVIEW)
    lifetime = asdict(totals)
    lifetime["tokens_saved"] = totals.tokens_saved
    lifetime["first_ts"] = iso(totals.first_ts) if totals.first_ts else None
    lifetime["last_ts"] = iso(totals.last_ts) if totals.last_ts else None
    return {
        "lifetime": lifetime,
        "recent": [
            {
                "timestamp": iso(e.ts),
                "model": e.model,
                "tokens_before": e.tokens_before,
                "tokens_after": e.tokens_after,
                "cost_usd": round(e.cost_usd, 6),
            }
            for e in recent
        ],
    }


class StatsResource:
    def __init__(self, stats: SessionStats, savings: SavingsStore, guard: RequestGuard) -> None:
        self._stats = stats
        self._savings = savings
        self._guard = guard

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        snapshot = self._stats.snapshot()
        snapshot["uptime_seconds"] = round(time.time() - self._stats.started_at, 3)
        snapshot["persistent_savings"] = await asyncio.to_thread(persistent_savings, self._savings)
        snapshot["budget"] = (await asyncio.to_thread(self._guard.budget.status)).as_dict()
        snapshot["budget"]["rejected"] = self._guard.budget.rejected
        snapshot["rate_limiter"] = {"enabled": self._guard.limiter.enabled, **self._guard.limiter.stats().as_dict()}
        resp.media = snapshot


class MetricsResource:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        exposition = self._metrics.render()
        resp.content_type = exposition.content_type
        resp.data = exposition.body
        resp.status = falcon.HTTP_200
