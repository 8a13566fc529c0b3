"""The spec's production command: gunicorn with uvicorn workers serving `headroom.proxy.server:app`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.processes import FakeUpstream, ServerProcess, free_port, wait_until


@pytest.fixture
def gunicorn_url(fake_upstream: FakeUpstream, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "headroom.proxy.server:app",
        "--workers",
        "2",
        "--worker-class",
        "uvicorn.workers.UvicornWorker",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    env = {
        **os.environ,
        "HEADROOM_ANTHROPIC_API_URL": fake_upstream.url,
        "HEADROOM_OPENAI_API_URL": fake_upstream.url,
        "HEADROOM_WORKSPACE_DIR": str(tmp_path),
        "HEADROOM_TELEMETRY": "off",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    (tmp_path / "prom").mkdir()
    server = ServerProcess(argv, env)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, 60, "gunicorn", server.process)
        yield url
    finally:
        server.stop()


def test_gunicorn_workers_serve_the_proxy(gunicorn_url: str, fake_upstream: FakeUpstream) -> None:
    fake_upstream.clear()
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(6):
        response = httpx.post(f"{gunicorn_url}/v1/messages", json=body, headers={"x-api-key": "k"})
        assert response.status_code == 200
        assert "You said: hi" in response.json()["content"][0]["text"]
    assert len(fake_upstream.requests("/v1/messages")) == 1, "the response cache is shared by both workers"
    metrics = httpx.get(f"{gunicorn_url}/metrics").text
    hits = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("headroom_response_cache_hits")
    )
    assert hits == 5, "cache hits are summed across workers"
    lifetime: dict[str, int] = {}
    for _ in range(200):
        lifetime = httpx.get(f"{gunicorn_url}/stats-history").json()["lifetime"]
        if lifetime["requests"] == 6:
            break
    assert (lifetime["requests"], lifetime["response_cache_hits"]) == (6, 5)
