"""Prometheus metrics: isolated registries, bounded labels, and aggregation over worker processes in
prometheus-client's multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from headroom.config import Settings
from headroom.observability.metrics import Metrics, endpoint_label, model_label, status_class


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_labels_are_bounded() -> None:
    assert endpoint_label("/v1/messages") == "messages"
    assert endpoint_label("/v1/chat/completions/") == "chat_completions"
    assert endpoint_label("/v1/messages?beta=true") == "messages"
    assert endpoint_label("/v1/models/claude-secret-thing") == "passthrough"
    assert status_class(200) == "2xx" and status_class(529) == "5xx" and status_class(0) == "other"
    assert model_label("claude-sonnet-4-20250514") == "claude-sonnet-4"
    assert model_label("sk-ant-api03-looks-like-a-key") == "other"


def test_request_series_and_exposition() -> None:
    metrics = Metrics()
    metrics.observe_request("anthropic", "/v1/messages", 200, latency_s=1.2, overhead_s=0.004)
    metrics.observe_request("anthropic", "/v1/messages", 429, latency_s=0.01, overhead_s=0.001)
    metrics.record_tokens("anthropic", 10_000, 6000)
    metrics.record_cost("anthropic", "claude-sonnet-4-5-20250929", 0.12, 0.2)
    metrics.record_cost("openai", "my-finetune", 0.01, 0.01)
    metrics.record_cache("openai", hit=True)
    metrics.record_cache("openai", hit=False)
    metrics.record_rate_limited("anthropic", "requests")
    metrics.record_budget_rejected("anthropic")
    metrics.record_compression_failure("anthropic", "json")
    metrics.record_upstream_error("openai", "timeout")
    exposition = metrics.render()
    assert exposition.content_type.startswith("text/plain")
    samples = _samples(exposition.body)
    ok = (("endpoint", "messages"), ("provider", "anthropic"), ("status_class", "2xx"))
    assert samples[("headroom_requests_total", ok)] == 1
    assert samples[("headroom_request_latency_seconds_count", ok)] == 1
    assert samples[("headroom_request_latency_seconds_sum", ok)] == pytest.approx(1.2)
    assert samples[("headroom_proxy_overhead_seconds_bucket", tuple(sorted((*ok, ("le", "0.005")))))] == 1
    assert samples[("headroom_tokens_saved_total", (("provider", "anthropic"),))] == 4000
    assert samples[("headroom_cost_usd_total", (("model", "claude-sonnet-4-5"), ("provider", "anthropic")))] == 0.12
    assert samples[("headroom_unknown_model_requests_total", (("provider", "openai"),))] == 1
    assert samples[("headroom_response_cache_hits_total", (("provider", "openai"),))] == 1
    assert samples[("headroom_response_cache_misses_total", (("provider", "openai"),))] == 1
    assert samples[("headroom_rate_limited_total", (("limit", "requests"), ("provider", "anthropic")))] == 1
    assert samples[("headroom_budget_rejected_total", (("provider", "anthropic"),))] == 1
    assert samples[("headroom_compression_failures_total", (("provider", "anthropic"), ("stage", "json")))] == 1
    assert samples[("headroom_upstream_errors_total", (("kind", "timeout"), ("provider", "openai")))] == 1
    label_names = {name for (_, labels) in samples for name, _ in labels}
    assert not label_names & {"tenant", "api_key", "key", "user"}


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.record_budget_rejected("anthropic")
    assert b"headroom_budget_rejected_total" in first.render().body
    assert b'headroom_budget_rejected_total{provider="anthropic"}' not in second.render().body


def test_multiprocess_dir_requires_the_environment_at_import(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics.from_settings(Settings(prometheus_multiproc_dir=tmp_path))


WORKER = """
import sys
from headroom.config import Settings
from headroom.observability.metrics import Metrics
metrics = Metrics.from_settings(Settings())
for _ in range(int(sys.argv[1])):
    metrics.observe_request("anthropic", "/v1/messages", 200, 0.5, 0.002)
    metrics.record_tokens("anthropic", 100, 60)
"""

RENDER = """
import sys
from headroom.config import Settings
from headroom.observability.metrics import Metrics
sys.stdout.buffer.write(Metrics.from_settings(Settings()).render().body)
"""


def test_two_worker_processes_are_aggregated(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "HEADROOM_TELEMETRY": "off"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env) for n in (3, 4)]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    assert len(list(tmp_path.glob("*.db"))) >= 2
    rendered = subprocess.run([sys.executable, "-c", RENDER], env=env, capture_output=True, check=True, timeout=120)
    samples = _samples(rendered.stdout)
    ok = (("endpoint", "messages"), ("provider", "anthropic"), ("status_class", "2xx"))
    assert samples[("headroom_requests_total", ok)] == 7
    assert samples[("headroom_request_latency_seconds_count", ok)] == 7
    assert samples[("headroom_tokens_saved_total", (("provider", "anthropic"),))] == 7 * 40
