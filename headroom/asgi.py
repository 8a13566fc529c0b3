"""The ASGI entry point for uvicorn and gunicorn: builds the app from the environment on first use."""

from __future__ import annotations

from typing import Any

from headroom.proxy.disconnect import DisconnectWatch


class LazyApp:
    """An ASGI callable that builds `create_app(Settings())` when the server first calls it (lifespan startup),
    so importing this module stays cheap and each worker process builds its own app."""

    def __init__(self) -> None:
        self._app: DisconnectWatch | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._app is None:
            from headroom.app import create_app
            from headroom.config import Settings

            self._app = DisconnectWatch(create_app(Settings()))
        await self._app(scope, receive, send)


app = LazyApp()
