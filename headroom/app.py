"""The composition root: `create_app(settings, stores)` wires every part of Headroom into one Falcon ASGI app.
Routes are declared here and nowhere else."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import falcon
import falcon.asgi

from headroom.accounting.budget import BudgetGuard
from headroom.accounting.rate_limit import RateLimiter
from headroom.accounting.recorder import Recorder
from headroom.accounting.response_cache import ResponseCache
from headroom.accounting.savings_file import SavingsFileExporter
from headroom.accounting.session_stats import SessionStats
from headroom.accounting.store_thread import StoreThread
from headroom.config import Settings
from headroom.learning.toin import Toin
from headroom.observability.exporters import Exporters
from headroom.observability.metrics import Metrics
from headroom.pipeline.pipeline import Pipeline
from headroom.providers.anthropic import AnthropicProvider
from headroom.providers.openai_chat import OpenAIChatProvider
from headroom.providers.openai_responses import OpenAIResponsesProvider
from headroom.proxy import error_handler
from headroom.proxy.access import ProxyKeyMiddleware
from headroom.proxy.compress_resources import CompressResource, RetrieveResource
from headroom.proxy.dashboard_resources import add_dashboard_routes
from headroom.proxy.guard import RequestGuard
from headroom.proxy.health import HealthResources, Lifecycle
from headroom.proxy.resources import LlmResource, PassthroughSink
from headroom.proxy.service import ProxyService
from headroom.proxy.stats_resources import MetricsResource, StatsResource
from headroom.proxy.toin_resource import ToinStatsResource
from headroom.proxy.upstream import Upstreams
from headroom.store.factory import build_stores
from headroom.store.interfaces import Stores

HeadroomApp = falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]


class _LifespanHooks:
    """Marks startup complete and closes the upstream clients and background work at shutdown."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        upstreams: Upstreams,
        pipeline: Pipeline,
        recorder: Recorder,
        stores: Stores,
        exporter: SavingsFileExporter | None,
        exporters: Exporters,
    ) -> None:
        self._exporters = exporters
        self._stores = stores
        self._exporter = exporter
        self._lifecycle = lifecycle
        self._upstreams = upstreams
        self._pipeline = pipeline
        self._recorder = recorder

    async def process_startup(self, scope: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        if self._exporter is not None:
            self._exporter.start()
        self._exporters.start()
        self._lifecycle.http_client_open = True
        self._lifecycle.startup_complete = True

    async def process_shutdown(self, scope: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        self._lifecycle.startup_complete = False
        await self._upstreams.aclose()
        self._lifecycle.http_client_open = False
        self._pipeline.close()
        await self._recorder.aclose()
        await self._exporters.aclose()
        if self._exporter is not None:
            await self._exporter.aclose()
        self._stores.close()


def savings_exporter(settings: Settings, stores: Stores) -> SavingsFileExporter | None:
    """The spec's durable savings file (HEADROOM_SAVINGS_PATH or <workspace>/proxy_savings.json), local only."""
    if settings.store == "aws":
        return None
    return SavingsFileExporter(settings.savings_file, stores.savings, settings.savings_export_interval)


def create_app(settings: Settings, stores: Stores | None = None, *, lifespan: bool = True) -> HeadroomApp:
    """Build the app. With `lifespan=False` (Lambda under Mangum, where lifespan runs per invocation) the app
    is ready at once and its clients live as long as the execution environment."""
    stores = stores or build_stores(settings)
    lifecycle = Lifecycle(startup_complete=not lifespan, http_client_open=not lifespan)
    upstreams = Upstreams(settings)
    pipeline = Pipeline(settings, stores)
    stats = SessionStats(started_at=time.time())
    exporters = Exporters.from_settings(settings, stats)
    metrics = Metrics.from_settings(settings, exporters.metrics)
    budget = BudgetGuard.from_settings(settings, stores.counters)
    limiter = RateLimiter.from_settings(settings, stores.counters)
    store_thread = StoreThread()
    guard = RequestGuard(budget, limiter, metrics, store_thread)
    cache = ResponseCache.from_settings(settings, stores.responses)
    recorder = Recorder(settings, stores, budget, cache, metrics, stats, exporters.traces, store_thread)
    service = ProxyService(
        settings,
        upstreams,
        pipeline,
        stores.blobs,
        guard,
        cache,
        recorder.record_cache_lookup,
        recorder.record_exchange,
    )

    app: HeadroomApp = falcon.asgi.App()
    if settings.proxy_keys:
        app.add_middleware(ProxyKeyMiddleware(settings))
    if lifespan:
        app.add_middleware(
            _LifespanHooks(
                lifecycle,
                upstreams,
                pipeline,
                recorder,
                stores,
                savings_exporter(settings, stores),
                exporters,
            )
        )
    app.req_options.auto_parse_form_urlencoded = False
    app.resp_options.secure_cookies_by_default = False
    error_handler.register(app)

    health = HealthResources(settings, stores, lifecycle)
    app.add_route("/livez", health, suffix="livez")
    app.add_route("/readyz", health, suffix="readyz")
    app.add_route("/health", health, suffix="health")

    app.add_route("/stats", StatsResource(stats, stores.savings, guard))
    app.add_route("/metrics", MetricsResource(metrics))
    add_dashboard_routes(app, stores)
    app.add_route("/v1/compress", CompressResource(settings, pipeline))
    app.add_route("/v1/retrieve", RetrieveResource(settings, stores.blobs))
    app.add_route("/v1/toin/stats", ToinStatsResource(Toin(stores, settings.ccr_ttl)))
    app.add_route("/v1/messages", LlmResource(settings, service, AnthropicProvider()))
    app.add_route("/v1/chat/completions", LlmResource(settings, service, OpenAIChatProvider()))
    app.add_route("/v1/responses", LlmResource(settings, service, OpenAIResponsesProvider()))
    app.add_sink(PassthroughSink(settings, service), prefix="/")
    return app
