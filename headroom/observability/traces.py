"""Langfuse traces of the compression pipeline: one OTLP span per optimized request, carrying counts and names
only (provider, model, tokens, transforms, CCR hash count, duration; never message content, never keys),
batched and exported on the SDK's own thread to Langfuse's OTLP endpoint with Basic auth."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headroom.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

LANGFUSE_OTLP_PATH = "/api/public/otel/v1/traces"
SPAN_NAME = "headroom.optimize"
SCOPE = "headroom.pipeline"
EXPORT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """What a span says about one optimized request."""

    provider: str
    model: str
    tokens_before: int
    tokens_after: int
    transforms: tuple[str, ...]
    ccr_hash_count: int
    started_at: float
    """Epoch seconds when the request arrived."""
    duration_s: float
    """Time Headroom spent before forwarding upstream (parsing, guards, the pipeline)."""


def langfuse_endpoint(base_url: str) -> str:
    return base_url.rstrip("/") + LANGFUSE_OTLP_PATH


def langfuse_headers(public_key: str, secret_key: str) -> dict[str, str]:
    """Basic auth with the public key as user and the secret key as password; the ingestion-version header
    asks Langfuse for its real-time OTLP path."""
    token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}", "x-langfuse-ingestion-version": "4"}


def tracer_provider(settings: Settings, endpoint: str, headers: dict[str, str]) -> TracerProvider:
    """A provider of our own (never the process-global one) with a batching processor: spans queue in memory
    and an SDK thread posts them, so nothing blocks the event loop."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=EXPORT_TIMEOUT_S)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class PipelineTraces:
    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer: Tracer = provider.get_tracer(SCOPE)

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineTraces | None:
        """Built only when Langfuse is enabled and both keys are set."""
        public, secret = settings.langfuse_public_key, settings.langfuse_secret_key
        if not (settings.langfuse_enabled and public and secret):
            return None
        endpoint = langfuse_endpoint(settings.langfuse_base_url)
        return cls(tracer_provider(settings, endpoint, langfuse_headers(public, secret)))

    def record(self, run: PipelineRun) -> None:
        """Queue one finished span; cheap and non-blocking (the batch processor drops spans past its queue)."""
        start_ns = int(run.started_at * 1e9)
        span = self._tracer.start_span(
            SPAN_NAME,
            start_time=start_ns,
            attributes={
                "gen_ai.system": run.provider,
                "gen_ai.request.model": run.model,
                "headroom.provider": run.provider,
                "headroom.model": run.model,
                "headroom.tokens_before": run.tokens_before,
                "headroom.tokens_after": run.tokens_after,
                "headroom.tokens_saved": max(0, run.tokens_before - run.tokens_after),
                "headroom.transforms": list(run.transforms),
                "headroom.ccr_hash_count": run.ccr_hash_count,
                "headroom.duration_ms": round(run.duration_s * 1000, 3),
            },
        )
        span.end(end_time=start_ns + int(max(0.0, run.duration_s) * 1e9))

    def shutdown(self) -> None:
        """Export the queued spans and stop the export thread (blocking: call it off the event loop)."""
        self._provider.shutdown()


def run_started_at(received_perf: float) -> float:
    """Epoch seconds of a `time.perf_counter()` reading taken earlier in this process."""
    return time.time() - (time.perf_counter() - received_perf)
