"""Liveness, readiness and aggregate health, in the exact shapes of the spec."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import falcon
import falcon.asgi

from headroom import __version__
from headroom.config import Settings
from headroom.store.interfaces import Stores

SERVICE = "headroom-proxy"
STORE_CHECK_TIMEOUT = 2.0


@dataclass(slots=True)
class Lifecycle:
    """Startup state shared by the health resources and the app's startup/shutdown hooks."""

    started_monotonic: float = field(default_factory=time.monotonic)
    startup_complete: bool = False
    http_client_open: bool = False

    def uptime(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 3)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check(enabled: bool, ready: bool) -> dict[str, Any]:
    if not enabled:
        return {"enabled": False, "ready": True, "status": "disabled"}
    return {"enabled": True, "ready": ready, "status": "healthy" if ready else "unhealthy"}


async def _store_ok(stores: Stores) -> bool:
    try:
        await asyncio.wait_for(
            asyncio.to_thread(stores.counters.value, "headroom:health", time.time()), STORE_CHECK_TIMEOUT
        )
    except Exception:  # any failure of the store means "not ready", never a crash of the probe
        return False
    return True


class HealthResources:
    def __init__(self, settings: Settings, stores: Stores, lifecycle: Lifecycle) -> None:
        self._settings = settings
        self._stores = stores
        self._lifecycle = lifecycle

    async def checks(self) -> dict[str, dict[str, Any]]:
        store_ok = await _store_ok(self._stores) if self._lifecycle.startup_complete else False
        return {
            "startup": _check(True, self._lifecycle.startup_complete),
            "http_client": _check(True, self._lifecycle.http_client_open),
            "cache": _check(self._settings.cache_enabled, store_ok),
            "rate_limiter": _check(self._settings.rate_limit_enabled, store_ok),
            "memory": _check(False, True),
        }

    async def on_get_livez(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {
            "service": SERVICE,
            "status": "healthy",
            "alive": True,
            "version": __version__,
            "timestamp": _now(),
            "uptime_seconds": self._lifecycle.uptime(),
        }

    async def on_get_readyz(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        checks = await self.checks()
        ready = all(check["ready"] for check in checks.values())
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        resp.media = {
            "service": SERVICE,
            "status": "healthy" if ready else "unhealthy",
            "ready": ready,
            "version": __version__,
            "timestamp": _now(),
            "uptime_seconds": self._lifecycle.uptime(),
            "checks": checks,
        }

    async def on_get_health(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        checks = await self.checks()
        ready = all(check["ready"] for check in checks.values())
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        resp.media = {
            "status": "healthy" if ready else "unhealthy",
            "ready": ready,
            "version": __version__,
            "config": {
                "backend": "anthropic",
                "optimize": self._settings.optimize,
                "cache": self._settings.cache_enabled,
                "rate_limit": self._settings.rate_limit_enabled,
                "mode": self._settings.mode,
                "store": self._settings.store,
            },
            "checks": checks,
        }
