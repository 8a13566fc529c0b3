"""The composition root: `create_app(settings, stores)` wires every part of Headroom into one Falcon ASGI app.
Routes are declared here and nowhere else; what serves the proxy's routes is wired in `headroom.request_path`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import falcon
import falcon.asgi

from headroom.accounting.session_stats import SessionStats
from headroom.config import Settings
from headroom.deferred import Deferred, OnFirstRequest, Responder, forward_to
from headroom.observability.exporters import Exporters
from headroom.proxy import error_handler
from headroom.proxy.access import ProxyKeyMiddleware
from headroom.proxy.dashboard_resources import add_dashboard_routes
from headroom.proxy.health import HealthResources, Lifecycle
from headroom.store.factory import build_stores
from headroom.store.interfaces import Stores

if TYPE_CHECKING:
    from headroom.accounting.savings_file import SavingsFileExporter
    from headroom.request_path import RequestPath

HeadroomApp = falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]


class _LifespanHooks:
    """Marks startup complete and closes the upstream clients and background work at shutdown."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        request_path: Deferred[RequestPath],
        stores: Stores,
        exporter: SavingsFileExporter | None,
        exporters: Exporters,
    ) -> None:
        self._exporters = exporters
        self._stores = stores
        self._exporter = exporter
        self._lifecycle = lifecycle
        self._request_path = request_path

    async def process_startup(self, scope: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        if self._exporter is not None:
            self._exporter.start()
        self._exporters.start()
        self._lifecycle.http_client_open = True
        self._lifecycle.startup_complete = True

    async def process_shutdown(self, scope: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        self._lifecycle.startup_complete = False
        if self._request_path.value is not None:
            await self._request_path.value.aclose()
        self._lifecycle.http_client_open = False
        await self._exporters.aclose()
        if self._exporter is not None:
            await self._exporter.aclose()
        self._stores.close()


def savings_exporter(settings: Settings, stores: Stores) -> SavingsFileExporter | None:
    """The spec's durable savings file (HEADROOM_SAVINGS_PATH or <workspace>/proxy_savings.json), local only."""
    if settings.store == "aws":
        return None
    from headroom.accounting.savings_file import SavingsFileExporter

    return SavingsFileExporter(settings.savings_file, stores.savings, settings.savings_export_interval)


def create_app(
    settings: Settings, stores: Stores | None = None, *, lifespan: bool = True, lazy: bool = False
) -> HeadroomApp:
    """Build the app. With `lifespan=False` (Lambda under Mangum, where lifespan runs per invocation) the app
    is ready at once and its clients live as long as the execution environment. With `lazy=True` (Lambda) what
    serves the proxy's routes is built and imported at the first request that needs it instead of here, so a
    cold start's first event waits only for what it uses."""
    stores = stores or build_stores(settings)
    lifecycle = Lifecycle(startup_complete=not lifespan, http_client_open=not lifespan)
    stats = SessionStats(started_at=time.time())
    exporters = Exporters.from_settings(settings, stats)

    def build_request_path() -> RequestPath:
        from headroom.request_path import RequestPath

        return RequestPath.build(settings, stores, stats, exporters)

    request_path = Deferred(build_request_path)
    if not lazy:
        request_path.get()

    def resource(pick: Callable[[RequestPath], object], *responders: str) -> object:
        """The resource `pick` chooses, or while the request path is not built, a stand-in with its responders."""
        if request_path.value is not None:
            return pick(request_path.value)
        return OnFirstRequest(lambda: pick(request_path.get()), *responders)

    def sink(pick: Callable[[RequestPath], Responder]) -> Responder:
        if request_path.value is not None:
            return pick(request_path.value)
        return forward_to(lambda: pick(request_path.get()), "__call__")

    app: HeadroomApp = falcon.asgi.App()
    if settings.proxy_keys:
        app.add_middleware(ProxyKeyMiddleware(settings))
    if lifespan:
        app.add_middleware(
            _LifespanHooks(lifecycle, request_path, stores, savings_exporter(settings, stores), exporters)
        )
    app.req_options.auto_parse_form_urlencoded = False
    app.resp_options.secure_cookies_by_default = False
    error_handler.register(app)

    health = HealthResources(settings, stores, lifecycle)
    app.add_route("/livez", health, suffix="livez")
    app.add_route("/readyz", health, suffix="readyz")
    app.add_route("/health", health, suffix="health")

    app.add_route("/stats", resource(lambda path: path.stats, "on_get"))
    app.add_route("/metrics", resource(lambda path: path.metrics, "on_get"))
    add_dashboard_routes(app, stores)
    app.add_route("/v1/compress", resource(lambda path: path.compress, "on_post"))
    app.add_route("/v1/retrieve", resource(lambda path: path.retrieve, "on_post"))
    app.add_route("/v1/toin/stats", resource(lambda path: path.toin, "on_get"))
    app.add_route("/v1/messages", resource(lambda path: path.messages, "on_post"))
    app.add_route("/v1/chat/completions", resource(lambda path: path.chat_completions, "on_post"))
    app.add_route("/v1/responses", resource(lambda path: path.responses, "on_post"))
    app.add_sink(sink(lambda path: path.passthrough), prefix="/")
    return app
