"""The OTEL metrics facade: every operational event Metrics records reaches the OTLP endpoint (a capture server
on 127.0.0.1) under the Prometheus names with the same bounded label keys, and nothing unbounded leaks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from headroom.config import Settings
from headroom.observability.exporters import Exporters
from headroom.observability.metrics import Metrics
from headroom.observability.otel import OtelMetrics, meter_provider
from tests.fakes.capture import CaptureServer

SECRET = "sk-ant-api03-SECRETSECRET"
PROMPT = "please summarise my confidential quarterly report"
EXPECTED_LABELS = {
    "headroom_requests": {"provider", "endpoint", "status_class"},
    "headroom_request_latency_seconds": {"provider", "endpoint", "status_class"},
    "headroom_proxy_overhead_seconds": {"provider", "endpoint", "status_class"},
    "headroom_tokens_before": {"provider"},
    "headroom_tokens_after": {"provider"},
    "headroom_tokens_saved": {"provider"},
    "headroom_cost_usd": {"provider", "model"},
    "headroom_cost_without_headroom_usd": {"provider", "model"},
    "headroom_unknown_model_requests": {"provider"},
    "headroom_response_cache_hits": {"provider"},
    "headroom_response_cache_misses": {"provider"},
    "headroom_rate_limited": {"provider", "limit"},
    "headroom_budget_rejected": {"provider"},
    "headroom_compression_failures": {"provider", "stage"},
    "headroom_upstream_errors": {"provider", "kind"},
}


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer().start()
    yield server
    server.close()


def otel_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store": "memory",
        "otel_metrics_enabled": True,
        "api_keys": [SECRET],
        "telemetry_url": None,
    }
    return Settings(**(values | overrides))


def record_everything(metrics: Metrics) -> None:
    metrics.observe_request("anthropic", f"/v1/messages?key={SECRET}", 200, 1.5, 0.02)
    metrics.record_tokens("anthropic", 1000, 300)
    metrics.record_cost("anthropic", "claude-sonnet-4-5-20250929", 0.01, 0.03)
    metrics.record_cost("anthropic", PROMPT, 0.01, 0.01)
    metrics.record_cache("anthropic", hit=True)
    metrics.record_cache("anthropic", hit=False)
    metrics.record_rate_limited("openai", "tokens")
    metrics.record_budget_rejected("openai")
    metrics.record_compression_failure("anthropic", "pipeline")
    metrics.record_upstream_error("openai", "5xx")


def decoded(body: bytes) -> dict[str, list[dict[str, str]]]:
    """Metric name → the attribute maps of its data points."""
    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    points: dict[str, list[dict[str, str]]] = {}
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                data = getattr(metric, metric.WhichOneof("data"))
                for point in data.data_points:
                    attrs = {kv.key: kv.value.string_value for kv in point.attributes}
                    points.setdefault(metric.name, []).append(attrs)
    return points


def test_every_metrics_event_is_exported_over_otlp_with_the_same_bounded_labels(capture: CaptureServer) -> None:
    settings = otel_settings(otel_metrics_endpoint=capture.url + "/v1/metrics")
    otel = OtelMetrics(meter_provider(settings))
    metrics = Metrics(mirror=otel)
    record_everything(metrics)
    otel.shutdown()

    requests = capture.wait_for(1)
    assert requests and all(r.path == "/v1/metrics" for r in requests)
    assert requests[0].headers["content-type"] == "application/x-protobuf"
    points: dict[str, list[dict[str, str]]] = {}
    for request in requests:
        for name, attrs in decoded(request.body).items():
            points.setdefault(name, []).extend(attrs)
    assert set(points) == set(EXPECTED_LABELS)
    for name, keys in EXPECTED_LABELS.items():
        assert all(set(attrs) == keys for attrs in points[name]), name
    assert points["headroom_requests"] == [{"provider": "anthropic", "endpoint": "messages", "status_class": "2xx"}]
    assert {attrs["model"] for attrs in points["headroom_cost_usd"]} == {"claude-sonnet-4-5", "other"}
    for request in requests:
        assert SECRET.encode() not in request.body and b"confidential" not in request.body
        assert SECRET not in str(request.headers)


def test_the_resource_names_the_service(capture: CaptureServer) -> None:
    settings = otel_settings(otel_metrics_endpoint=capture.url + "/v1/metrics", otel_service_name="edge-proxy")
    otel = OtelMetrics(meter_provider(settings))
    otel.record_budget_rejected("anthropic")
    otel.shutdown()
    request = ExportMetricsServiceRequest()
    request.ParseFromString(capture.wait_for(1)[0].body)
    attrs = {kv.key: kv.value.string_value for kv in request.resource_metrics[0].resource.attributes}
    assert attrs["service.name"] == "edge-proxy"
    assert attrs["service.instance.id"]


def test_console_exporter_prints_the_instruments(capsys: pytest.CaptureFixture[str]) -> None:
    otel = OtelMetrics.from_settings(otel_settings(otel_metrics_exporter="console"))
    assert otel is not None
    otel.record_tokens("anthropic", 10, 4)
    otel.shutdown()
    out = capsys.readouterr().out
    assert "headroom_tokens_saved" in out and SECRET not in out


def test_off_by_default_and_independent_of_telemetry() -> None:
    assert OtelMetrics.from_settings(Settings(store="memory")) is None
    with_otel = OtelMetrics.from_settings(otel_settings(telemetry=False, otel_metrics_exporter="console"))
    assert with_otel is not None
    with_otel.shutdown()


def test_exporters_flush_metrics_at_shutdown(capture: CaptureServer) -> None:
    settings = otel_settings(otel_metrics_endpoint=capture.url + "/v1/metrics")
    exporters = Exporters(metrics=OtelMetrics(meter_provider(settings)))
    assert exporters.metrics is not None
    exporters.metrics.record_cache("openai", hit=True)
    assert capture.requests == []
    asyncio.run(exporters.aclose())
    assert "headroom_response_cache_hits" in decoded(capture.wait_for(1)[0].body)
