"""The anonymous telemetry beacon: coarse aggregates of this process (version, sdk label, OS, Python, uptime,
request and tokens-saved buckets, which features are on), posted at most once per interval and once at shutdown
to HEADROOM_TELEMETRY_URL. Nothing is sent when telemetry is off or no URL is set. docs/telemetry.md lists every
field; nothing else (no keys, prompts, models, tenants, hostnames or addresses) is ever part of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from headroom import __version__
from headroom.accounting.session_stats import SessionStats
from headroom.config import Settings

log = logging.getLogger("headroom.telemetry")

INTERVAL_S = 3600.0
SEND_TIMEOUT_S = 5.0
SCHEMA = 1
SDK_LABEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
UPTIME_BUCKETS = ((3600, "<1h"), (6 * 3600, "1h-6h"), (24 * 3600, "6h-24h"), (7 * 86400, "1d-7d"))
KNOWN_OS = {"linux", "darwin", "windows"}


def count_bucket(value: int) -> str:
    """Order of magnitude only: `0`, `1-9`, `10-99`, ..., capped at `1e9+`."""
    if value <= 0:
        return "0"
    low = 1
    while low < 10**9:
        if value < low * 10:
            return f"{low}-{low * 10 - 1}"
        low *= 10
    return "1e9+"


def uptime_bucket(seconds: float) -> str:
    for limit, label in UPTIME_BUCKETS:
        if seconds < limit:
            return label
    return ">7d"


def sdk_label(value: str) -> str:
    """The HEADROOM_SDK label if it looks like a short product name, else `other` (it must not carry data)."""
    label = value.strip().lower()
    return label if SDK_LABEL.fullmatch(label) else "other"


def features(settings: Settings) -> dict[str, Any]:
    """Which features are configured, as booleans and fixed enum values; never the values of settings."""
    return {
        "mode": settings.mode,
        "store": settings.store,
        "optimize": settings.optimize,
        "response_cache": settings.cache_enabled,
        "rate_limit": settings.rate_limit_enabled,
        "budget": settings.budget is not None or settings.budget_per_key is not None,
        "code_aware": settings.code_aware,
        "intelligent_context": settings.intelligent_context,
        "proxy_keys": bool(settings.proxy_keys),
        "multi_worker": settings.workers > 1,
        "otel_metrics": settings.otel_metrics_enabled,
        "langfuse": settings.langfuse_enabled,
    }


def beacon_payload(settings: Settings, stats: SessionStats, now: float, reason: str) -> dict[str, Any]:
    system = platform.system().lower()
    return {
        "schema": SCHEMA,
        "reason": reason,
        "version": __version__,
        "sdk": sdk_label(settings.telemetry_sdk),
        "os": system if system in KNOWN_OS else "other",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "uptime": uptime_bucket(now - stats.started_at),
        "requests": count_bucket(stats.requests),
        "tokens_saved": count_bucket(stats.tokens_before - stats.tokens_after),
        "features": features(settings),
    }


class TelemetryBeacon:
    """Posts `beacon_payload` every `interval` seconds while the app runs and once at shutdown. A failed post
    is dropped (logged at debug level): telemetry never affects the proxy."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        stats: SessionStats,
        interval: float = INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._url = url
        self._stats = stats
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, stats: SessionStats) -> TelemetryBeacon | None:
        """None (nothing will ever be sent) when telemetry is off or HEADROOM_TELEMETRY_URL is unset."""
        if not settings.telemetry or not settings.telemetry_url:
            return None
        return cls(settings, settings.telemetry_url, stats)

    def payload(self, reason: str) -> dict[str, Any]:
        return beacon_payload(self._settings, self._stats, self._clock(), reason)

    async def send(self, reason: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=SEND_TIMEOUT_S) as client:
                response = await client.post(self._url, json=self.payload(reason))
            return response.is_success
        except httpx.HTTPError as exc:
            log.debug("telemetry beacon not sent: %s", type(exc).__name__)
            return False

    def start(self) -> None:
        """Start the periodic send on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._periodic(), name="headroom-telemetry")

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.send("periodic")

    async def aclose(self) -> None:
        """Stop the periodic send and post the final beacon."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.send("shutdown")
