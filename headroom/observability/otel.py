"""The OTEL metrics facade: the operational events `Metrics` records for Prometheus, mirrored as OTEL instruments
with the same names and the same bounded labels, exported over OTLP/HTTP or to the console. Built only when
HEADROOM_OTEL_METRICS_ENABLED is set; opentelemetry is imported then and not before."""

from __future__ import annotations

import sys
import uuid
from typing import TYPE_CHECKING

from headroom.config import Settings
from headroom.observability.metrics import (
    LATENCY_BUCKETS,
    OVERHEAD_BUCKETS,
    UNKNOWN_MODEL,
    endpoint_label,
    model_label,
    status_class,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter

EXPORT_INTERVAL_MS = 60_000
EXPORT_TIMEOUT_MS = 10_000
SCOPE = "headroom.proxy"


def metric_exporter(settings: Settings) -> MetricExporter:
    if settings.otel_metrics_exporter == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter(out=sys.stdout)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=settings.otel_metrics_endpoint, timeout=EXPORT_TIMEOUT_MS / 1000)


def meter_provider(settings: Settings, interval_ms: int = EXPORT_INTERVAL_MS) -> MeterProvider:
    """A provider of our own (never the process-global one), so several apps in one process stay apart. The
    instance id keeps the cumulative series of several workers distinct."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(
        metric_exporter(settings), export_interval_millis=interval_ms, export_timeout_millis=EXPORT_TIMEOUT_MS
    )
    resource = Resource.create({"service.name": settings.otel_service_name, "service.instance.id": uuid.uuid4().hex})
    return MeterProvider(metric_readers=[reader], resource=resource)


class OtelMetrics:
    """Implements `MetricsMirror`: one method per `Metrics` event, same signature, same label rules. The SDK's
    periodic reader exports on its own thread; recording only updates in-memory aggregations."""

    def __init__(self, provider: MeterProvider) -> None:
        self._provider = provider
        meter: Meter = provider.get_meter(SCOPE)
        self._requests = meter.create_counter("headroom_requests", "1", "Requests answered.")
        self._latency = meter.create_histogram(
            "headroom_request_latency_seconds",
            "s",
            "Time from request received to response finished.",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self._overhead = meter.create_histogram(
            "headroom_proxy_overhead_seconds",
            "s",
            "Time Headroom spent before forwarding upstream.",
            explicit_bucket_boundaries_advisory=OVERHEAD_BUCKETS,
        )
        counter = meter.create_counter
        self._tokens_before = counter("headroom_tokens_before", "{token}", "Input tokens before optimization.")
        self._tokens_after = counter("headroom_tokens_after", "{token}", "Input tokens sent upstream.")
        self._tokens_saved = counter("headroom_tokens_saved", "{token}", "Input tokens removed by optimization.")
        self._cost = counter("headroom_cost_usd", "USD", "Provider cost of proxied requests.")
        self._cost_without = counter("headroom_cost_without_headroom_usd", "USD", "Cost without Headroom.")
        self._unknown_models = counter("headroom_unknown_model_requests", "1", "Requests at the fallback price.")
        self._cache_hits = counter("headroom_response_cache_hits", "1", "Response cache hits.")
        self._cache_misses = counter("headroom_response_cache_misses", "1", "Response cache misses.")
        self._rate_limited = counter("headroom_rate_limited", "1", "Requests refused by the rate limiter.")
        self._budget_rejected = counter("headroom_budget_rejected", "1", "Requests refused by a budget.")
        self._compression_failures = counter("headroom_compression_failures", "1", "Optimizations that failed open.")
        self._upstream_errors = counter("headroom_upstream_errors", "1", "Upstream failures.")

    @classmethod
    def from_settings(cls, settings: Settings) -> OtelMetrics | None:
        return cls(meter_provider(settings)) if settings.otel_metrics_enabled else None

    def observe_request(self, provider: str, path: str, status: int, latency_s: float, overhead_s: float) -> None:
        labels = {"provider": provider, "endpoint": endpoint_label(path), "status_class": status_class(status)}
        self._requests.add(1, labels)
        self._latency.record(max(0.0, latency_s), labels)
        self._overhead.record(max(0.0, overhead_s), labels)

    def record_tokens(self, provider: str, tokens_before: int, tokens_after: int) -> None:
        labels = {"provider": provider}
        self._tokens_before.add(max(0, tokens_before), labels)
        self._tokens_after.add(max(0, tokens_after), labels)
        self._tokens_saved.add(max(0, tokens_before - tokens_after), labels)

    def record_cost(self, provider: str, model: str, cost_usd: float, cost_without_usd: float) -> None:
        label = model_label(model)
        if label == UNKNOWN_MODEL:
            self._unknown_models.add(1, {"provider": provider})
        labels = {"provider": provider, "model": label}
        self._cost.add(max(0.0, cost_usd), labels)
        self._cost_without.add(max(0.0, cost_without_usd), labels)

    def record_cache(self, provider: str, *, hit: bool) -> None:
        (self._cache_hits if hit else self._cache_misses).add(1, {"provider": provider})

    def record_rate_limited(self, provider: str, limit: str) -> None:
        self._rate_limited.add(1, {"provider": provider, "limit": limit})

    def record_budget_rejected(self, provider: str) -> None:
        self._budget_rejected.add(1, {"provider": provider})

    def record_compression_failure(self, provider: str, stage: str) -> None:
        self._compression_failures.add(1, {"provider": provider, "stage": stage})

    def record_upstream_error(self, provider: str, kind: str) -> None:
        self._upstream_errors.add(1, {"provider": provider, "kind": kind})

    def shutdown(self) -> None:
        """Export what is pending and stop the reader thread (blocking: call it off the event loop)."""
        self._provider.shutdown()
