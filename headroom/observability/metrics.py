"""Prometheus metrics of the proxy: one registry per `Metrics` object, labels limited to provider, endpoint,
status class and similar bounded names (never API keys or tenants), and prometheus-client's multiprocess mode
when several workers share a metrics directory. prometheus-client is imported when the first `Metrics` is built
(the label rules here are shared with the OTEL facade, which must not pay for it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from headroom.accounting.prices import price_of
from headroom.config import Settings

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
OVERHEAD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ENDPOINTS = {
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
    "/v1/chat/completions": "chat_completions",
    "/v1/responses": "responses",
    "/v1/compress": "compress",
    "/v1/retrieve": "retrieve",
}
UNKNOWN_MODEL = "other"


def endpoint_label(path: str) -> str:
    """A bounded label for a request path: the known API routes by name, every other path `passthrough`."""
    return ENDPOINTS.get(path.split("?", 1)[0].rstrip("/") or "/", "passthrough")


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def model_label(model: str) -> str:
    """The price-table family of a model (dated snapshots folded together), `other` for unknown models, so
    client-chosen strings cannot blow up the label set."""
    price = price_of(model)
    return price.model if price.known else UNKNOWN_MODEL


def multiprocess_values_active() -> bool:
    """Whether prometheus-client was imported in multiprocess mode (it reads PROMETHEUS_MULTIPROC_DIR once,
    at import, so the launcher must export it before a worker starts)."""
    from prometheus_client import values

    return bool(values.ValueClass.__name__ == "MmapedValue")


@dataclass(frozen=True, slots=True)
class Exposition:
    body: bytes
    content_type: str


class MetricsMirror(Protocol):
    """Another backend that receives every event `Metrics` records, with the same arguments (the OTEL facade)."""

    def observe_request(self, provider: str, path: str, status: int, latency_s: float, overhead_s: float) -> None: ...
    def record_tokens(self, provider: str, tokens_before: int, tokens_after: int) -> None: ...
    def record_cost(self, provider: str, model: str, cost_usd: float, cost_without_usd: float) -> None: ...
    def record_cache(self, provider: str, *, hit: bool) -> None: ...
    def record_rate_limited(self, provider: str, limit: str) -> None: ...
    def record_budget_rejected(self, provider: str) -> None: ...
    def record_compression_failure(self, provider: str, stage: str) -> None: ...
    def record_upstream_error(self, provider: str, kind: str) -> None: ...


class Metrics:
    """Every Prometheus series the proxy exports, on a registry owned by this object; each event is also passed
    to the `mirror`, when there is one (the one place operational events fan out)."""

    def __init__(self, multiprocess_dir: Path | None = None, mirror: MetricsMirror | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.mirror = mirror
        if multiprocess_dir is not None and not multiprocess_values_active():
            raise RuntimeError(
                "prometheus multiprocess directory is set but prometheus-client was imported without "
                "PROMETHEUS_MULTIPROC_DIR in the environment; export it before the workers start"
            )
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        http = ["provider", "endpoint", "status_class"]
        self.request_latency = Histogram(
            "headroom_request_latency_seconds",
            "Time from request received to response finished.",
            http,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.proxy_overhead = Histogram(
            "headroom_proxy_overhead_seconds",
            "Time Headroom spent before forwarding upstream (parsing, guards, compression).",
            http,
            buckets=OVERHEAD_BUCKETS,
            registry=registry,
        )
        self.requests = Counter("headroom_requests", "Requests answered.", http, registry=registry)
        self.tokens_before = Counter(
            "headroom_tokens_before", "Input tokens before optimization.", ["provider"], registry=registry
        )
        self.tokens_after = Counter(
            "headroom_tokens_after", "Input tokens sent upstream after optimization.", ["provider"], registry=registry
        )
        self.tokens_saved = Counter(
            "headroom_tokens_saved", "Input tokens removed by optimization.", ["provider"], registry=registry
        )
        self.cost = Counter(
            "headroom_cost_usd", "Provider cost of proxied requests.", ["provider", "model"], registry=registry
        )
        self.cost_without = Counter(
            "headroom_cost_without_headroom_usd",
            "What the same requests would have cost uncompressed.",
            ["provider", "model"],
            registry=registry,
        )
        self.unknown_models = Counter(
            "headroom_unknown_model_requests", "Requests priced at the fallback price.", ["provider"], registry=registry
        )
        self.cache_hits = Counter(
            "headroom_response_cache_hits", "Response cache hits.", ["provider"], registry=registry
        )
        self.cache_misses = Counter(
            "headroom_response_cache_misses", "Response cache misses.", ["provider"], registry=registry
        )
        self.rate_limited = Counter(
            "headroom_rate_limited", "Requests refused by the rate limiter.", ["provider", "limit"], registry=registry
        )
        self.budget_rejected = Counter(
            "headroom_budget_rejected", "Requests refused by a budget.", ["provider"], registry=registry
        )
        self.compression_failures = Counter(
            "headroom_compression_failures",
            "Optimizations that failed open (the original request was sent).",
            ["provider", "stage"],
            registry=registry,
        )
        self.upstream_errors = Counter(
            "headroom_upstream_errors",
            "Upstream failures: HTTP error statuses, timeouts, unreachable upstreams.",
            ["provider", "kind"],
            registry=registry,
        )

        # Labelled children of the per-request series, looked up once: the label sets are small and bounded.
        self._request_children: dict[tuple[str, str, str], tuple[Counter, Histogram, Histogram]] = {}
        self._token_children: dict[str, tuple[Counter, Counter, Counter]] = {}
        self._cost_children: dict[tuple[str, str], tuple[Counter, Counter]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, mirror: MetricsMirror | None = None) -> Metrics:
        return cls(settings.prometheus_multiproc_dir, mirror)

    def observe_request(self, provider: str, path: str, status: int, latency_s: float, overhead_s: float) -> None:
        labels = (provider, endpoint_label(path), status_class(status))
        children = self._request_children.get(labels)
        if children is None:
            children = (
                self.requests.labels(*labels),
                self.request_latency.labels(*labels),
                self.proxy_overhead.labels(*labels),
            )
            self._request_children[labels] = children
        requests, latency, overhead = children
        requests.inc()
        latency.observe(max(0.0, latency_s))
        overhead.observe(max(0.0, overhead_s))
        if self.mirror is not None:
            self.mirror.observe_request(provider, path, status, latency_s, overhead_s)

    def record_tokens(self, provider: str, tokens_before: int, tokens_after: int) -> None:
        children = self._token_children.get(provider)
        if children is None:
            children = self._token_children[provider] = (
                self.tokens_before.labels(provider),
                self.tokens_after.labels(provider),
                self.tokens_saved.labels(provider),
            )
        before, after, saved = children
        before.inc(max(0, tokens_before))
        after.inc(max(0, tokens_after))
        saved.inc(max(0, tokens_before - tokens_after))
        if self.mirror is not None:
            self.mirror.record_tokens(provider, tokens_before, tokens_after)

    def record_cost(self, provider: str, model: str, cost_usd: float, cost_without_usd: float) -> None:
        label = model_label(model)
        if label == UNKNOWN_MODEL:
            self.unknown_models.labels(provider).inc()
        children = self._cost_children.get((provider, label))
        if children is None:
            children = self._cost_children[(provider, label)] = (
                self.cost.labels(provider, label),
                self.cost_without.labels(provider, label),
            )
        cost, cost_without = children
        cost.inc(max(0.0, cost_usd))
        cost_without.inc(max(0.0, cost_without_usd))
        if self.mirror is not None:
            self.mirror.record_cost(provider, model, cost_usd, cost_without_usd)

    def record_cache(self, provider: str, *, hit: bool) -> None:
        (self.cache_hits if hit else self.cache_misses).labels(provider).inc()
        if self.mirror is not None:
            self.mirror.record_cache(provider, hit=hit)

    def record_rate_limited(self, provider: str, limit: str) -> None:
        """`limit` is `requests` or `tokens`."""
        self.rate_limited.labels(provider, limit).inc()
        if self.mirror is not None:
            self.mirror.record_rate_limited(provider, limit)

    def record_budget_rejected(self, provider: str) -> None:
        self.budget_rejected.labels(provider).inc()
        if self.mirror is not None:
            self.mirror.record_budget_rejected(provider)

    def record_compression_failure(self, provider: str, stage: str) -> None:
        """`stage` names the compressor or pipeline step that failed (a fixed set chosen by the pipeline)."""
        self.compression_failures.labels(provider, stage).inc()
        if self.mirror is not None:
            self.mirror.record_compression_failure(provider, stage)

    def record_upstream_error(self, provider: str, kind: str) -> None:
        """`kind` is an HTTP status class such as `5xx`, or `timeout` / `unreachable`."""
        self.upstream_errors.labels(provider, kind).inc()
        if self.mirror is not None:
            self.mirror.record_upstream_error(provider, kind)

    def render(self) -> Exposition:
        """The /metrics body and its content type; in multiprocess mode, aggregated over every worker."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if self.multiprocess_dir is None:
            return Exposition(generate_latest(self.registry), CONTENT_TYPE_LATEST)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return Exposition(generate_latest(merged), CONTENT_TYPE_LATEST)
