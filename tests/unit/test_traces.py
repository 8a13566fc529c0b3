"""Langfuse traces: one span per optimized request, posted in a batch to <base>/api/public/otel/v1/traces with
Basic auth (public:secret), carrying counts and names only; checked against a capture server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from headroom.accounting.budget import BudgetGuard
from headroom.accounting.recorder import Recorder
from headroom.accounting.response_cache import ResponseCache
from headroom.accounting.session_stats import SessionStats
from headroom.config import Settings
from headroom.observability.metrics import Metrics
from headroom.observability.traces import PipelineRun, PipelineTraces, langfuse_endpoint
from headroom.pipeline.pipeline import OptimizeResult
from headroom.providers.anthropic import AnthropicProvider
from headroom.providers.base import UsageTap
from headroom.proxy.relay import RelayOutcome
from headroom.proxy.service import Exchange, Incoming
from headroom.store.factory import build_stores
from tests.fakes.capture import CaptureServer

PUBLIC = "pk-lf-public"
SECRET = "sk-lf-secret-value"
API_KEY = "sk-ant-api03-CLIENTKEY"
PROMPT = "the launch codes are in the blue binder"
SPAN_KEYS = {
    "gen_ai.system",
    "gen_ai.request.model",
    "headroom.provider",
    "headroom.model",
    "headroom.tokens_before",
    "headroom.tokens_after",
    "headroom.tokens_saved",
    "headroom.transforms",
    "headroom.ccr_hash_count",
    "headroom.duration_ms",
}


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer().start()
    yield server
    server.close()


def langfuse_settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store": "memory",
        "record_inline": True,
        "telemetry_url": None,
        "langfuse_enabled": True,
        "langfuse_public_key": PUBLIC,
        "langfuse_secret_key": SECRET,
        "langfuse_base_url": base_url,
        "api_keys": [API_KEY],
    }
    return Settings(**(values | overrides))


def spans(body: bytes) -> list[tuple[str, dict[str, object]]]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    found = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                attrs: dict[str, object] = {}
                for kv in span.attributes:
                    kind = kv.value.WhichOneof("value")
                    value = getattr(kv.value, kind)
                    attrs[kv.key] = [v.string_value for v in value.values] if kind == "array_value" else value
                found.append((span.name, attrs))
    return found


def anthropic_exchange() -> Exchange:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": PROMPT}]}
    received = time.perf_counter() - 0.5
    incoming = Incoming(
        "POST", "/v1/messages", "", [("x-api-key", API_KEY)], json.dumps(body).encode(), "tenant-1", None, received
    )
    optimized = OptimizeResult(
        changed=True, tokens_before=900, tokens_after=200, transforms=["json", "logs"], ccr_hashes=["a1", "b2"]
    )
    tap = UsageTap(usage={"input_tokens": 300, "output_tokens": 20}, model="claude-sonnet-4-5-20250929")
    outcome = RelayOutcome(status=200, started=received + 0.05, finished_at=received + 0.4, tap=tap)
    return Exchange(AnthropicProvider(), incoming, "claude-sonnet-4-5", False, optimized, received + 0.05, outcome)


def test_the_endpoint_and_auth_follow_langfuse_otlp(capture: CaptureServer) -> None:
    traces = PipelineTraces.from_settings(langfuse_settings(capture.url + "/"))
    assert traces is not None
    traces.record(PipelineRun("openai", "gpt-4o", 500, 100, ("json",), 1, time.time(), 0.012))
    traces.shutdown()
    [request] = capture.wait_for(1)
    assert request.path == "/api/public/otel/v1/traces"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
    assert request.headers["x-langfuse-ingestion-version"] == "4"
    assert request.headers["content-type"] == "application/x-protobuf"
    [(name, attrs)] = spans(request.body)
    assert name == "headroom.optimize"
    assert set(attrs) == SPAN_KEYS
    assert attrs["headroom.tokens_saved"] == 400 and attrs["headroom.transforms"] == ["json"]
    assert SECRET.encode() not in request.body


def test_the_recorder_emits_one_span_per_request_without_content_or_keys(capture: CaptureServer) -> None:
    settings = langfuse_settings(capture.url)
    traces = PipelineTraces.from_settings(settings)
    stores = build_stores(settings)
    budget = BudgetGuard.from_settings(settings, stores.counters)
    cache = ResponseCache.from_settings(settings, stores.responses)
    recorder = Recorder(settings, stores, budget, cache, Metrics(), SessionStats(time.time()), traces)
    recorder.record_exchange(anthropic_exchange())
    assert traces is not None
    traces.shutdown()
    stores.close()

    [request] = capture.wait_for(1)
    [(name, attrs)] = spans(request.body)
    assert name == "headroom.optimize"
    assert attrs["headroom.provider"] == "anthropic"
    assert attrs["headroom.model"] == "claude-sonnet-4-5-20250929"
    assert attrs["headroom.tokens_before"] == 300 + 700 and attrs["headroom.tokens_after"] == 300
    assert attrs["headroom.transforms"] == ["json", "logs"]
    assert attrs["headroom.ccr_hash_count"] == 2
    assert 40 <= float(attrs["headroom.duration_ms"]) <= 60  # type: ignore[arg-type]
    for secret in (API_KEY, SECRET, PROMPT, "tenant-1", "launch codes"):
        assert secret.encode() not in request.body
    assert API_KEY not in str(request.headers)


@pytest.mark.parametrize(
    "overrides",
    [{"langfuse_enabled": False}, {"langfuse_public_key": None}, {"langfuse_secret_key": None}],
)
def test_traces_need_the_flag_and_both_keys(overrides: dict[str, object]) -> None:
    assert PipelineTraces.from_settings(langfuse_settings("http://127.0.0.1:9", **overrides)) is None


def test_endpoint_joins_the_base_url() -> None:
    assert langfuse_endpoint("https://cloud.langfuse.com/") == "https://cloud.langfuse.com/api/public/otel/v1/traces"
