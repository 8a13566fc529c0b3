"""The spec's production command: gunicorn with uvicorn workers serving `headroom.proxy.server:app`."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.fakes.processes import FakeUpstream, ServerProcess, reserved_port, wait_until
from tests.integration.traffic import eventually, get_json


@pytest.fixture
def gunicorn_url(fake_upstream: FakeUpstream, tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "HEADROOM_ANTHROPIC_API_URL": fake_upstream.url,
        "HEADROOM_OPENAI_API_URL": fake_upstream.url,
        "HEADROOM_WORKSPACE_DIR": str(tmp_path),
        "HEADROOM_TELEMETRY": "off",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    (tmp_path / "prom").mkdir()
    with reserved_port() as port:
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
        server = ServerProcess(argv, env)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_until(ready, 60, "gunicorn", server.process)
        except BaseException:
            server.stop()
            raise
    try:
        yield url
    finally:
        server.stop()


def _cached_responses(workspace: Path) -> int:
    with closing(sqlite3.connect(workspace / "headroom.db")) as db:
        count: int = db.execute("SELECT count(*) FROM responses").fetchone()[0]
        return count


def _cache_hits(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("headroom_response_cache_hits")
    )


def test_gunicorn_workers_serve_the_proxy(gunicorn_url: str, fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    fake_upstream.clear()
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}

    def ask() -> None:
        response = httpx.post(f"{gunicorn_url}/v1/messages", json=body, headers={"x-api-key": "k"}, timeout=30)
        assert response.status_code == 200
        assert "You said: hi" in response.json()["content"][0]["text"]

    ask()
    # A worker stores a response once it has been sent, on its store thread: repeats sent at once may miss it.
    eventually(lambda: _cached_responses(tmp_path), lambda count: count == 1, "the first response cached")
    for _ in range(5):
        ask()
    assert len(fake_upstream.requests("/v1/messages")) == 1, "the response cache is shared by both workers"
    eventually(lambda: _cache_hits(gunicorn_url), lambda hits: hits == 5, "cache hits summed across workers")
    lifetime = eventually(
        lambda: get_json(f"{gunicorn_url}/stats-history")["lifetime"],
        lambda totals: totals["requests"] == 6,
        "six requests recorded",
    )
    assert lifetime["response_cache_hits"] == 5
