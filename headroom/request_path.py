"""What serves the proxy's routes: the upstream clients, the pipeline and context manager, CCR, admission,
accounting and metrics, and the Falcon resources over them, wired together by `RequestPath.build`. `create_app`
builds it at startup, or (Lambda) at the first request that needs it: importing this module is most of what
building the app costs."""

from __future__ import annotations

from dataclasses import dataclass

from headroom.accounting.budget import BudgetGuard
from headroom.accounting.rate_limit import RateLimiter
from headroom.accounting.recorder import Recorder
from headroom.accounting.response_cache import ResponseCache
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
from headroom.proxy.compress_resources import CompressResource, RetrieveResource
from headroom.proxy.guard import RequestGuard
from headroom.proxy.resources import LlmResource, PassthroughSink
from headroom.proxy.service import ProxyService
from headroom.proxy.stats_resources import MetricsResource, StatsResource
from headroom.proxy.toin_resource import ToinStatsResource
from headroom.proxy.upstream import Upstreams
from headroom.store.interfaces import Stores


@dataclass(frozen=True, slots=True)
class RequestPath:
    """The resources of every route but the probes and the dashboard, and what must be closed at shutdown."""

    upstreams: Upstreams
    pipeline: Pipeline
    recorder: Recorder
    stats: StatsResource
    metrics: MetricsResource
    compress: CompressResource
    retrieve: RetrieveResource
    toin: ToinStatsResource
    messages: LlmResource
    chat_completions: LlmResource
    responses: LlmResource
    passthrough: PassthroughSink

    @classmethod
    def build(cls, settings: Settings, stores: Stores, stats: SessionStats, exporters: Exporters) -> RequestPath:
        upstreams = Upstreams(settings)
        pipeline = Pipeline(settings, stores)
        metrics = Metrics.from_settings(settings, exporters.metrics)
        budget = BudgetGuard.from_settings(settings, stores.counters)
        limiter = RateLimiter.from_settings(settings, stores.counters)
        store_thread = StoreThread(group=stores.group)
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
        return cls(
            upstreams=upstreams,
            pipeline=pipeline,
            recorder=recorder,
            stats=StatsResource(stats, stores.savings, guard),
            metrics=MetricsResource(metrics),
            compress=CompressResource(settings, pipeline),
            retrieve=RetrieveResource(settings, stores.blobs),
            toin=ToinStatsResource(Toin(stores, settings.ccr_ttl)),
            messages=LlmResource(settings, service, AnthropicProvider()),
            chat_completions=LlmResource(settings, service, OpenAIChatProvider()),
            responses=LlmResource(settings, service, OpenAIResponsesProvider()),
            passthrough=PassthroughSink(settings, service),
        )

    async def aclose(self) -> None:
        """Close the upstream clients and the pipeline's workers, then run the queued accounting writes."""
        await self.upstreams.aclose()
        self.pipeline.close()
        await self.recorder.aclose()
