"""The proxy's contract on the wire: byte-exact passthrough, unknown paths forwarded, bad input rejected in
the provider's shape, upstream faults mapped to 502/504, pings on silent streams, disconnects propagated."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fakes.processes import FakeUpstream, ProxyProcess
from tests.integration.traffic import eventually

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
    "metadata": {"user_id": "u-1"},
    "unknown_future_field": {"nested": [1, 2, 3]},
}
RAW = json.dumps(BODY, indent=1).encode()  # deliberately not compact: bytes must survive as sent
HEADERS = {
    "x-api-key": "sk-ant-test",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
    "content-type": "application/json",
}


@pytest.fixture
def proxy(start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream) -> ProxyProcess:
    fake_upstream.clear()
    return start_proxy()


def test_bypass_header_is_byte_exact_both_ways(proxy: ProxyProcess, fake_upstream: FakeUpstream) -> None:
    direct = httpx.post(f"{fake_upstream.url}/v1/messages?beta=true", content=RAW, headers=HEADERS, timeout=30)
    fake_upstream.clear()
    proxied = httpx.post(
        f"{proxy.url}/v1/messages?beta=true", content=RAW, headers={**HEADERS, "x-headroom-bypass": "true"}, timeout=30
    )
    sent = fake_upstream.requests("/v1/messages")[-1]
    assert sent.body == RAW
    assert sent.query == "beta=true"
    assert sent.header("anthropic-beta") == HEADERS["anthropic-beta"]
    assert sent.header("x-headroom-bypass") is None
    assert proxied.content == direct.content


def test_no_optimize_is_byte_exact(start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream) -> None:
    proxy = start_proxy("--no-optimize")
    fake_upstream.clear()
    body = {**BODY, "stream": True}
    raw = json.dumps(body).encode()
    direct = httpx.post(f"{fake_upstream.url}/v1/messages", content=raw, headers=HEADERS, timeout=30)
    fake_upstream.clear()
    proxied = httpx.post(f"{proxy.url}/v1/messages", content=raw, headers=HEADERS, timeout=30)
    assert fake_upstream.requests("/v1/messages")[-1].body == raw
    assert proxied.content == direct.content
    assert proxied.headers["content-type"].startswith("text/event-stream")


def test_nothing_to_compress_forwards_original_bytes(proxy: ProxyProcess, fake_upstream: FakeUpstream) -> None:
    response = httpx.post(f"{proxy.url}/v1/messages", content=RAW, headers=HEADERS, timeout=30)
    assert response.status_code == 200
    assert fake_upstream.requests("/v1/messages")[-1].body == RAW


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/models"), ("HEAD", "/"), ("POST", "/v1/messages/count_tokens?beta=true")],
)
def test_unknown_paths_are_forwarded(proxy: ProxyProcess, fake_upstream: FakeUpstream, method: str, path: str) -> None:
    content = RAW if method == "POST" else None
    direct = httpx.request(method, f"{fake_upstream.url}{path}", content=content, headers=HEADERS, timeout=30)
    fake_upstream.clear()
    proxied = httpx.request(method, f"{proxy.url}{path}", content=content, headers=HEADERS, timeout=30)
    assert proxied.status_code == direct.status_code
    assert proxied.content == direct.content
    recorded = fake_upstream.requests()[-1]
    assert (recorded.method, recorded.path) == (method, path.split("?")[0])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"model": "x", "messages": [', "not valid JSON"),
        (b'{"model": 5, "messages": []}', "model"),
        (b'{"model": "x", "messages": "hi"}', "messages"),
        (b'{"model": "x", "messages": [{"role": "user", "content": 7}]}', "messages.0.content"),
        (b'{"model": "x", "max_tokens": "ten", "messages": []}', "max_tokens"),
        (b'\xff\xfe{"model"', "UTF-8"),
        (b"[1, 2]", "JSON object"),
    ],
)
def test_bad_input_gets_clear_400_in_anthropic_shape(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, content: bytes, expected: str
) -> None:
    response = httpx.post(f"{proxy.url}/v1/messages", content=content, headers=HEADERS, timeout=30)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert expected in error["error"]["message"]
    assert fake_upstream.requests("/v1/messages") == []
    assert httpx.get(f"{proxy.url}/livez", timeout=30).status_code == 200


def test_bad_input_gets_openai_shape_on_openai_paths(proxy: ProxyProcess) -> None:
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions", content=b"{nope", headers={"authorization": "Bearer k"}, timeout=30
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in response.json()["error"]["message"]


def test_oversized_body_gets_413(start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream) -> None:
    proxy = start_proxy(env={"HEADROOM_MAX_BODY_BYTES": "100000"})
    fake_upstream.clear()
    big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 200_000}]}).encode()
    response = httpx.post(f"{proxy.url}/v1/messages", content=big, headers=HEADERS, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"

    def chunked() -> object:
        yield big[:50_000]
        yield big[50_000:]

    streamed = httpx.post(f"{proxy.url}/v1/messages", content=chunked(), headers=HEADERS, timeout=30)  # type: ignore[arg-type]
    assert streamed.status_code == 413
    assert fake_upstream.requests("/v1/messages") == []
    assert httpx.get(f"{proxy.url}/readyz", timeout=30).status_code == 200


def test_upstream_unreachable_is_502(start_proxy: Callable[..., ProxyProcess]) -> None:
    proxy = start_proxy("--anthropic-api-url", "http://127.0.0.1:9")
    response = httpx.post(f"{proxy.url}/v1/messages", content=RAW, headers=HEADERS, timeout=30)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"
    assert "unreachable" in response.json()["error"]["message"]


def test_upstream_timeout_is_504(start_proxy: Callable[..., ProxyProcess]) -> None:
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proxy = start_proxy("--anthropic-api-url", url, env={"HEADROOM_READ_TIMEOUT": "0.5"})
        response = httpx.post(f"{proxy.url}/v1/messages", content=RAW, headers=HEADERS, timeout=20)
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"


def test_reset_before_headers_is_502(proxy: ProxyProcess) -> None:
    headers = {**HEADERS, "x-fake-scenario": "reset_before_headers"}
    response = httpx.post(f"{proxy.url}/v1/messages", content=RAW, headers=headers, timeout=30)
    assert response.status_code == 502


def test_reset_mid_stream_ends_with_error_event(proxy: ProxyProcess) -> None:
    body = json.dumps({**BODY, "stream": True}).encode()
    headers = {**HEADERS, "x-fake-scenario": "reset"}
    response = httpx.post(f"{proxy.url}/v1/messages", content=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert b"event: error" in response.content
    assert b"upstream connection lost" in response.content


def test_ping_injected_during_upstream_silence(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream
) -> None:
    proxy = start_proxy(env={"HEADROOM_PING_INTERVAL": "0.2"})
    body = json.dumps({**BODY, "stream": True}).encode()
    # 2 s of silence holds ten 0.2 s intervals: two pings even if the proxy reads message_start late.
    headers = {**HEADERS, "x-fake-scenario": "silent", "x-fake-delay-ms": "2000"}
    direct = httpx.post(f"{fake_upstream.url}/v1/messages", content=body, headers=headers, timeout=30)
    proxied = httpx.post(f"{proxy.url}/v1/messages", content=body, headers=headers, timeout=30)
    pings = b'event: ping\ndata: {"type": "ping"}\n\n'
    assert proxied.content.count(pings) >= direct.content.count(pings) + 2
    assert proxied.content.replace(pings, b"") == direct.content.replace(pings, b"")


def test_client_disconnect_cancels_upstream(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    log_file = tmp_path / "requests.jsonl"
    proxy = start_proxy("--log-file", str(log_file))
    body = json.dumps({**BODY, "stream": True}).encode()
    headers = {**HEADERS, "x-fake-scenario": "slow", "x-fake-delay-ms": "400"}
    with httpx.stream("POST", f"{proxy.url}/v1/messages", content=body, headers=headers, timeout=30) as response:
        first = next(response.iter_raw())
        assert first
    logged = eventually(
        lambda: log_file.read_text() if log_file.exists() else "",
        lambda text: text.endswith("\n"),
        "the disconnected request logged",
    )
    [line] = [json.loads(line) for line in logged.splitlines()]
    assert line["client_disconnected"] is True


def test_health_shapes(proxy: ProxyProcess) -> None:
    live = httpx.get(f"{proxy.url}/livez", timeout=30).json()
    assert live["service"] == "headroom-proxy" and live["alive"] is True and live["status"] == "healthy"
    ready = httpx.get(f"{proxy.url}/readyz", timeout=30)
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert set(checks) == {"startup", "http_client", "cache", "rate_limiter", "memory"}
    assert checks["memory"] == {"enabled": False, "ready": True, "status": "disabled"}
    health = httpx.get(f"{proxy.url}/health", timeout=30).json()
    assert health["config"]["backend"] == "anthropic" and health["config"]["optimize"] is True
    assert ready.json()["timestamp"].endswith("Z")
