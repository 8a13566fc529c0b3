"""The spec's production entry point: `gunicorn headroom.proxy.server:app -k uvicorn.workers.UvicornWorker`."""

from __future__ import annotations

from headroom.asgi import app

__all__ = ["app"]
