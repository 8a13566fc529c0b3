"""An identical request sent right after the response it repeats is answered from the response cache, even though
the cache write of that response is still queued for the store thread."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fakes.processes import FakeUpstream, ProxyProcess

HEADERS = {"x-api-key": "sk-ant-repeat-test", "anthropic-version": "2023-06-01"}


@pytest.mark.parametrize("stream", [False, True])
def test_back_to_back_repeats_hit(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream, stream: bool
) -> None:
    proxy = start_proxy()
    upstream_before = len(fake_upstream.requests("/v1/messages"))
    answers = []
    with httpx.Client(base_url=proxy.url, headers=HEADERS, timeout=30) as client:
        for number in range(10):
            body = {
                "model": "claude-sonnet-4-6",
                "max_tokens": 20,
                "stream": stream,
                "messages": [{"role": "user", "content": f"question {number}"}],
            }
            first, repeat = (client.post("/v1/messages", json=body) for _ in range(2))
            assert first.status_code == repeat.status_code == 200
            assert first.headers.get("x-headroom-cache") is None
            answers.append(repeat.headers.get("x-headroom-cache"))
    assert answers == ["hit"] * 10
    assert len(fake_upstream.requests("/v1/messages")) - upstream_before == 10
