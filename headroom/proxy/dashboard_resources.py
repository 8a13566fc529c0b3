"""Thin Falcon resources for GET /stats-history (JSON or CSV) and the /dashboard page with its static assets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import falcon
import falcon.asgi

from headroom.errors import NotFound
from headroom.store.interfaces import SavingsStore, Stores

STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


class StatsHistoryResource:
    """GET /stats-history[?format=json|csv&series=…&history_mode=compact|full]."""

    def __init__(self, savings_store: SavingsStore) -> None:
        self._store = savings_store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        # Imported here, not with the module: a Lambda cold start needs none of it.
        from headroom.accounting.history import build_history, history_csv, parse_history_query

        query = parse_history_query(req.params)
        document = await asyncio.to_thread(build_history, self._store, query.history_mode)
        resp.cache_control = ["no-store"]
        if query.format == "json":
            resp.media = document
            return
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = f"headroom-savings-{query.series}.csv"
        resp.text = history_csv(document, query.series)


class DashboardResource:
    """GET /dashboard (the page) and GET /dashboard/static/{name} (its assets), read from the package once."""

    def __init__(self, static_dir: Path = STATIC_DIR) -> None:
        self._files = {
            path.name: (path.read_bytes(), CONTENT_TYPES[path.suffix])
            for path in sorted(static_dir.iterdir())
            if path.is_file() and path.suffix in CONTENT_TYPES
        }

    def _serve(self, resp: falcon.asgi.Response, name: str) -> None:
        found = self._files.get(name)
        if found is None:
            raise NotFound(f"no dashboard asset named {name!r}")
        resp.data, resp.content_type = found
        resp.cache_control = ["no-cache"]

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        self._serve(resp, "index.html")

    async def on_get_asset(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str) -> None:
        self._serve(resp, name)


def add_dashboard_routes(app: falcon.asgi.App[Any, Any], stores: Stores) -> None:
    """Mount /stats-history, /dashboard and /dashboard/static/{name}. These are plain routes, so they win over
    the passthrough sink whatever order the app adds them in."""
    dashboard = DashboardResource()
    app.add_route("/stats-history", StatsHistoryResource(stores.savings))
    app.add_route("/dashboard", dashboard)
    app.add_route("/dashboard/", dashboard)
    app.add_route("/dashboard/static/{name}", dashboard, suffix="asset")
