"""Shared state through real proxy processes on SQLite: budgets and rate limits under concurrency across two
workers, savings history that survives a restart and a `kill -9` mid-traffic, CSV history and summed metrics."""

from __future__ import annotations

import csv
import io
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from headroom.accounting.budget import BudgetGuard
from headroom.accounting.savings_file import load_savings_file
from headroom.accounting.tenant import tenant_id
from headroom.config import Settings
from headroom.store.factory import build_stores
from tests.fakes.processes import FakeUpstream, ProxyProcess
from tests.integration.traffic import (
    Call,
    anthropic_call,
    assert_anthropic_429,
    assert_openai_429,
    chat_call,
    eventually,
    recorded_requests,
    refused_unless_refilled,
    send,
    send_concurrently,
    settled_stats,
)

pytestmark = pytest.mark.slow
BUDGET_USD = 0.005
PER_KEY_BUDGET_USD = 0.003
DEFAULT_SALT = "headroom"


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.clear()
    return fake_upstream


def _split(responses: list[httpx.Response]) -> tuple[list[httpx.Response], list[httpx.Response]]:
    admitted = [response for response in responses if response.status_code == 200]
    rejected = [response for response in responses if response.status_code != 200]
    return admitted, rejected


def test_global_budget_holds_across_two_workers(
    start_proxy: Callable[..., ProxyProcess], upstream: FakeUpstream
) -> None:
    proxy = start_proxy("--workers", "2", "--budget", str(BUDGET_USD))
    calls = [anthropic_call(number, "sk-ant-budget") for number in range(50)]
    admitted, rejected = _split(send_concurrently([(proxy.url, call) for call in calls]))
    assert admitted and rejected
    for response in rejected:
        assert_anthropic_429(response, "global daily budget exceeded")
    assert len(upstream.requests("/v1/messages")) == len(admitted)

    stats = settled_stats(proxy.url, len(admitted))
    spent = stats["budget"]["spent_usd"]
    assert 0 < spent <= BUDGET_USD + max(call.estimate_usd for call in calls)
    assert spent == pytest.approx(stats["persistent_savings"]["lifetime"]["cost_usd"], abs=1e-6)
    assert stats["budget"]["limit_usd"] == BUDGET_USD


def test_per_key_budget_holds_for_each_key_across_two_workers(
    start_proxy: Callable[..., ProxyProcess], upstream: FakeUpstream, tmp_path: Path
) -> None:
    workspace = tmp_path / "per-key"
    env = {"HEADROOM_BUDGET_PER_KEY": str(PER_KEY_BUDGET_USD), "HEADROOM_WORKSPACE_DIR": str(workspace)}
    proxy = start_proxy("--workers", "2", env=env)
    keys = ("sk-ant-first-tenant", "sk-ant-second-tenant")
    calls = [anthropic_call(number, keys[number % 2]) for number in range(50)]
    responses = send_concurrently([(proxy.url, call) for call in calls])
    admitted, rejected = _split(responses)
    for response in rejected:
        assert_anthropic_429(response, "per-key daily budget exceeded")
    assert len(upstream.requests("/v1/messages")) == len(admitted)
    forwarded_keys = [request.header("x-api-key") for request in upstream.requests("/v1/messages")]
    stats = settled_stats(proxy.url, len(admitted))

    stores = build_stores(Settings(_env_file=None, store="sqlite", workspace_dir=workspace))
    try:
        guard = BudgetGuard(stores.counters, per_tenant_limit=PER_KEY_BUDGET_USD)
        spent = {key: guard.status(tenant_id(key, DEFAULT_SALT)).spent for key in keys}
    finally:
        stores.close()
    worst_estimate = max(call.estimate_usd for call in calls)
    for index, key in enumerate(keys):
        statuses = [
            response.status_code
            for response, call in zip(responses, calls, strict=True)
            if key in call.headers.values()
        ]
        assert 200 in statuses and 429 in statuses, (key, statuses)
        assert forwarded_keys.count(key) == statuses.count(200)
        assert 0 < spent[key] <= PER_KEY_BUDGET_USD + worst_estimate, (index, spent)
    # The global counter (no limit) still adds up both tenants' spend.
    assert stats["budget"]["spent_usd"] == pytest.approx(sum(spent.values()), abs=1e-6)


def test_rpm_limit_per_key_in_both_provider_shapes(
    start_proxy: Callable[..., ProxyProcess], upstream: FakeUpstream
) -> None:
    proxy = start_proxy("--workers", "2", "--rpm", "10")
    drained_at = time.monotonic()
    first = send_concurrently([(proxy.url, anthropic_call(number, "sk-ant-limited")) for number in range(10)])
    assert [response.status_code for response in first] == [200] * 10
    eleventh = send(proxy.url, anthropic_call(10, "sk-ant-limited"))
    as_openai = send(proxy.url, chat_call(11, "sk-ant-limited"))
    assert as_openai.status_code == 200 or as_openai.json()["error"]["code"] == "rate_limit_exceeded"
    forwarded = 10 + refused_unless_refilled(
        eleventh, drained_at, lambda response: assert_anthropic_429(response, "10 requests per minute")
    )
    forwarded += refused_unless_refilled(
        as_openai,
        drained_at,
        lambda response: assert_openai_429(response, "10 requests per minute", "rate_limit_exceeded"),
    )
    assert len(upstream.requests()) == forwarded

    assert send(proxy.url, anthropic_call(12, "sk-ant-other-key")).status_code == 200
    assert send(proxy.url, chat_call(13, "sk-ant-other-key")).status_code == 200
    assert len(upstream.requests()) == forwarded + 2


def test_rpm_limit_is_shared_by_concurrent_requests_on_two_workers(
    start_proxy: Callable[..., ProxyProcess], upstream: FakeUpstream
) -> None:
    proxy = start_proxy("--workers", "2", "--rpm", "10")
    started = time.monotonic()
    responses = send_concurrently([(proxy.url, anthropic_call(number, "sk-ant-burst")) for number in range(24)])
    elapsed = time.monotonic() - started
    admitted, rejected = _split(responses)
    # The bucket holds 10 and refills one request every 6 s.
    assert 10 <= len(admitted) <= 10 + elapsed / 6
    for response in rejected:
        assert_anthropic_429(response, "10 requests per minute")
    assert len(upstream.requests("/v1/messages")) == len(admitted)
    limited = eventually(
        lambda: _rate_limited_total(proxy.url), lambda total: total == len(rejected), "rate-limited counter"
    )
    assert limited == len(rejected)


def _metric_total(url: str, family: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for metric in text_string_to_metric_families(text)
        if metric.name == family
        for sample in metric.samples
        if sample.name == f"{family}_total"
    )


def _rate_limited_total(url: str) -> float:
    return _metric_total(url, "headroom_rate_limited")


def test_metrics_sum_request_counts_across_two_workers(
    start_proxy: Callable[..., ProxyProcess], upstream: FakeUpstream
) -> None:
    proxy = start_proxy("--workers", "2")
    calls = [anthropic_call(number, "sk-ant-metrics") for number in range(12)]
    calls += [chat_call(number, "sk-openai-metrics") for number in range(8)]
    assert all(response.status_code == 200 for response in send_concurrently([(proxy.url, c) for c in calls]))
    eventually(lambda: _metric_total(proxy.url, "headroom_requests"), lambda total: total == 20, "requests counter")
    # Several scrapes on fresh connections reach either worker; each must report the sum over both.
    assert [_metric_total(proxy.url, "headroom_requests") for _ in range(6)] == [20.0] * 6


def _history(url: str, **params: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{url}/stats-history", params=params, timeout=30).json()
    return document


def test_savings_history_survives_a_restart_and_exports_daily_csv(
    start_proxy: Callable[..., ProxyProcess], upstream: FakeUpstream, tmp_path: Path
) -> None:
    workspace = tmp_path / "kept"
    env = {"HEADROOM_WORKSPACE_DIR": str(workspace)}
    proxy = start_proxy(env=env)
    for number in range(5):
        assert send(proxy.url, anthropic_call(number, "sk-ant-durable")).status_code == 200
    assert send(proxy.url, chat_call(5, "sk-openai-durable")).status_code == 200
    eventually(lambda: recorded_requests(proxy.url), lambda count: count == 6, "history before restart")
    before = _history(proxy.url)["lifetime"]
    proxy.server.process.terminate()  # a graceful stop; the fixture still owns the process and its log
    proxy.server.process.wait(timeout=30)
    snapshot = load_savings_file(workspace / "proxy_savings.json")  # written at shutdown
    assert snapshot is not None and snapshot.totals.requests == 6

    restarted = start_proxy(env=env)
    after = _history(restarted.url)["lifetime"]
    assert after == before
    assert after["requests"] == 6 and after["cost_usd"] > 0
    assert send(restarted.url, anthropic_call(6, "sk-ant-durable")).status_code == 200
    eventually(lambda: recorded_requests(restarted.url), lambda count: count == 7, "history after restart")

    response = httpx.get(f"{restarted.url}/stats-history", params={"format": "csv", "series": "daily"}, timeout=30)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and all(row["period"] and row["start"] for row in rows)
    assert sum(int(row["requests"]) for row in rows) == 7
    assert sum(float(row["cost_usd"]) for row in rows) == pytest.approx(_history(restarted.url)["lifetime"]["cost_usd"])
    assert "claude-sonnet-4-6" in rows[-1]["top_models"] and "gpt-4o" in rows[-1]["top_models"]


def _slow_stream(number: int) -> Call:
    return anthropic_call(
        number, "sk-ant-killed", stream=True, **{"x-fake-scenario": "slow", "x-fake-delay-ms": "1000"}
    )


class Traffic:
    """Slow streams held open and a loop of quick requests, both running until the proxy dies under them."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.streams_completed: list[int] = []
        self.quick_completed: list[int] = []
        self.errors: list[str] = []
        self._streams_open = threading.Semaphore(0)
        self._threads = [threading.Thread(target=self._stream, args=(number,)) for number in range(100, 108)]
        self._threads.append(threading.Thread(target=self._quick))

    def start(self) -> None:
        for thread in self._threads[:-1]:
            thread.start()
        for _ in self._threads[:-1]:
            assert self._streams_open.acquire(timeout=30)
        self._threads[-1].start()

    def _stream(self, number: int) -> None:
        call = _slow_stream(number)
        try:
            with httpx.stream(
                "POST", f"{self._url}{call.path}", content=call.body, headers=call.headers, timeout=30
            ) as response:
                self._streams_open.release()
                response.read()
                self.streams_completed.append(number)
        except httpx.HTTPError as error:
            self.errors.append(type(error).__name__)

    def _quick(self) -> None:
        for number in range(1000, 3000):
            try:
                response = send(self._url, anthropic_call(number, "sk-ant-killed"))
            except httpx.HTTPError as error:
                self.errors.append(type(error).__name__)
                return
            assert response.status_code == 200
            self.quick_completed.append(number)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self._threads)

    @property
    def completed(self) -> int:
        return len(self.streams_completed) + len(self.quick_completed)


def test_savings_history_survives_kill_9_mid_traffic(
    start_proxy: Callable[..., ProxyProcess], upstream: FakeUpstream, tmp_path: Path
) -> None:
    workspace = tmp_path / "killed"
    env = {"HEADROOM_WORKSPACE_DIR": str(workspace), "HEADROOM_SAVINGS_EXPORT_INTERVAL": "0.1"}
    proxy = start_proxy(env=env)
    for number in range(6):
        assert send(proxy.url, anthropic_call(number, "sk-ant-killed")).status_code == 200
    traffic = Traffic(proxy.url)
    traffic.start()
    seen = eventually(lambda: recorded_requests(proxy.url), lambda count: count >= 12, "recorded under traffic")
    proxy.server.process.send_signal(signal.SIGKILL)
    proxy.server.process.wait(timeout=10)
    traffic.join()
    assert len(traffic.errors) >= 2, "the kill should cut the open streams and the request loop"
    finished = 6 + traffic.completed

    with sqlite3.connect(workspace / "headroom.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    snapshot = load_savings_file(workspace / "proxy_savings.json")
    assert snapshot is not None and snapshot.totals.requests <= finished

    restarted = start_proxy(env=env)
    document = _history(restarted.url, history_mode="full")
    recorded = document["lifetime"]["requests"]
    assert seen <= recorded <= finished
    summary = document["history_summary"]
    assert summary["stored_checkpoints"] == recorded and summary["pruned_requests"] == 0
    points = document["checkpoints"]
    assert [point["requests"] for point in points] == list(range(1, recorded + 1))
    assert points[-1]["tokens_before"] == document["lifetime"]["tokens_before"]
    assert send(restarted.url, anthropic_call(5000, "sk-ant-killed")).status_code == 200
    eventually(lambda: recorded_requests(restarted.url), lambda count: count == recorded + 1, "recording resumes")
