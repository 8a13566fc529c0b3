"""Compression as a service and CCR end to end: /v1/compress, /v1/retrieve (tenant isolation), and the proxy
answering the model's `headroom_retrieve` calls itself, non-streaming and streaming."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.processes import FakeUpstream, ProxyProcess

KEY_A = {"x-api-key": "sk-tenant-a"}
KEY_B = {"x-api-key": "sk-tenant-b"}


def _log_payload(corpus_dir: Path) -> str:
    return (corpus_dir / "logs" / "loghub_hdfs_2k.log").read_text()


def _anthropic_messages(tool_output: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Which DataNodes logged 'Got exception while serving' warnings most often?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"cmd": "cat"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": tool_output}]},
    ]


@pytest.fixture
def proxy(start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream) -> ProxyProcess:
    fake_upstream.clear()
    return start_proxy()


def test_compress_then_retrieve_round_trip(proxy: ProxyProcess, corpus_dir: Path) -> None:
    original = _log_payload(corpus_dir)
    payload = {"model": "claude-sonnet-4-6", "messages": _anthropic_messages(original)}
    response = httpx.post(f"{proxy.url}/v1/compress", json=payload, headers=KEY_A, timeout=30)
    assert response.status_code == 200
    report = response.json()
    assert report["tokens_after"] < report["tokens_before"] * 0.5
    assert report["tokens_saved"] == report["tokens_before"] - report["tokens_after"]
    assert 0 < report["compression_ratio"] < 0.5
    assert report["transforms_applied"] and report["transforms_applied"][0].startswith("router:")
    compressed = report["messages"][2]["content"][0]["content"]
    assert "Got exception while serving" in compressed
    [ccr_hash] = report["ccr_hashes"]
    assert f"hash={ccr_hash}" in compressed

    back = httpx.post(f"{proxy.url}/v1/retrieve", json={"hash": ccr_hash}, headers=KEY_A, timeout=30)
    assert back.status_code == 200
    assert back.json()["content"] == original

    narrowed = httpx.post(
        f"{proxy.url}/v1/retrieve",
        json={"hash": ccr_hash, "query": "blk_4292382298896622412"},
        headers=KEY_A,
        timeout=30,
    )
    assert "blk_4292382298896622412" in narrowed.json()["content"]
    assert len(narrowed.json()["content"]) < len(original)

    other = httpx.post(f"{proxy.url}/v1/retrieve", json={"hash": ccr_hash}, headers=KEY_B, timeout=30)
    assert other.status_code == 404
    assert other.json()["error"]["type"] == "not_found_error"
    unknown = httpx.post(f"{proxy.url}/v1/retrieve", json={"hash": "0" * 16}, headers=KEY_A, timeout=30)
    assert unknown.status_code == 404


def test_compress_accepts_openai_messages(proxy: ProxyProcess, corpus_dir: Path) -> None:
    tool_output = (corpus_dir / "json_api" / "github_actions_workflow_runs.json").read_text()
    messages = [
        {"role": "user", "content": "Which workflow run on this page failed?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "gh_api", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": tool_output},
    ]
    report = httpx.post(f"{proxy.url}/v1/compress", json={"messages": messages}, timeout=30).json()
    assert report["tokens_after"] < report["tokens_before"] * 0.5
    assert '"conclusion":"failure"' in report["messages"][2]["content"]


def test_compress_bypass_and_bad_requests(proxy: ProxyProcess) -> None:
    messages = [{"role": "user", "content": "short"}]
    bypass = httpx.post(
        f"{proxy.url}/v1/compress", json={"messages": messages}, headers={"x-headroom-bypass": "true"}, timeout=30
    )
    assert bypass.json()["messages"] == messages and bypass.json()["tokens_saved"] == 0
    missing = httpx.post(f"{proxy.url}/v1/compress", json={"model": "x"}, timeout=30)
    assert missing.status_code == 400 and "messages" in missing.json()["error"]["message"]
    bad_hash = httpx.post(f"{proxy.url}/v1/retrieve", json={"query": "x"}, timeout=30)
    assert bad_hash.status_code == 400


def test_compress_requires_api_key_when_configured(start_proxy: Callable[..., ProxyProcess]) -> None:
    proxy = start_proxy(env={"HEADROOM_API_KEYS": "hk-one,hk-two"})
    body = {"messages": [{"role": "user", "content": "hello"}]}

    def status(headers: dict[str, str]) -> int:
        return httpx.post(f"{proxy.url}/v1/compress", json=body, headers=headers, timeout=30).status_code

    assert status({}) == 401
    assert status({"x-api-key": "nope"}) == 401
    assert status({"x-api-key": "hk-two"}) == 200


def test_proxy_keys_guard_every_route_but_probes(
    start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream
) -> None:
    proxy = start_proxy(env={"HEADROOM_PROXY_KEYS": "team-key"})
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.get(f"{proxy.url}/readyz", timeout=30).status_code == 200
    denied = httpx.post(f"{proxy.url}/v1/messages", json=body, headers={"x-api-key": "k"}, timeout=30)
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
    fake_upstream.clear()
    allowed = httpx.post(
        f"{proxy.url}/v1/messages", json=body, headers={"x-api-key": "k", "x-headroom-key": "team-key"}, timeout=30
    )
    assert allowed.status_code == 200
    assert fake_upstream.requests("/v1/messages")[-1].header("x-headroom-key") is None


def _compressed_hash(proxy: ProxyProcess, messages: list[dict[str, Any]]) -> str:
    report = httpx.post(f"{proxy.url}/v1/compress", json={"messages": messages}, headers=KEY_A, timeout=30).json()
    return str(report["ccr_hashes"][0])


def test_proxy_answers_retrieval_calls_non_streaming(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    original = _log_payload(corpus_dir)
    messages = _anthropic_messages(original)
    ccr_hash = _compressed_hash(proxy, messages)
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="sk-tenant-a",
        max_retries=0,
        default_headers={"x-fake-scenario": "retrieve", "x-fake-hash": ccr_hash},
    )
    fake_upstream.clear()
    message = client.messages.create(model="claude-sonnet-4-6", max_tokens=200, messages=messages)  # type: ignore[arg-type]
    assert [block.type for block in message.content] == ["text", "text"]
    assert message.content[1].text.startswith("Retrieved content: ")
    assert original.splitlines()[0].strip() in message.content[1].text
    sent = fake_upstream.requests("/v1/messages")
    assert len(sent) == 2
    assert any(tool["name"] == "headroom_retrieve" for tool in sent[0].json()["tools"])
    follow_up = sent[1].json()["messages"][-1]["content"][0]
    assert follow_up["type"] == "tool_result" and follow_up["content"] == original
    assert message.usage.input_tokens > 0


def test_proxy_answers_retrieval_calls_streaming_without_holding_first_byte(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    messages = _anthropic_messages(_log_payload(corpus_dir))
    ccr_hash = _compressed_hash(proxy, messages)
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="sk-tenant-a",
        max_retries=0,
        default_headers={"x-fake-scenario": "retrieve", "x-fake-hash": ccr_hash, "x-fake-delay-ms": "150"},
    )
    fake_upstream.clear()
    first_text_at = None
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=200, messages=messages) as stream:  # type: ignore[arg-type]
        for event in stream:
            if event.type == "text" and first_text_at is None:
                first_text_at = time.time()
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "text"]
    assert "Retrieved content: " in final.content[1].text
    assert final.stop_reason == "end_turn"
    sent = fake_upstream.requests("/v1/messages")
    assert len(sent) == 2
    assert first_text_at is not None and first_text_at < sent[1].time
    assert final.usage.output_tokens > 0


def test_retrieval_call_for_another_tenant_gets_nothing(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, corpus_dir: Path
) -> None:
    messages = _anthropic_messages(_log_payload(corpus_dir))
    ccr_hash = _compressed_hash(proxy, messages)
    client = openai.OpenAI(
        base_url=f"{proxy.url}/v1",
        api_key="sk-tenant-b",
        max_retries=0,
        default_headers={"x-fake-scenario": "retrieve", "x-fake-hash": ccr_hash},
    )
    call = {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[  # type: ignore[list-item]
            {"role": "user", "content": "Which DataNodes logged 'Got exception while serving' warnings most often?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {
                "role": "tool",
                "tool_call_id": "c1",
                "content": (corpus_dir / "logs" / "loghub_linux_2k.log").read_text(),
            },
        ],
    )
    text = completion.choices[0].message.content or ""
    assert text.startswith("Retrieved content: No original is stored for hash"), text[:300]
    assert completion.choices[0].message.tool_calls is None
