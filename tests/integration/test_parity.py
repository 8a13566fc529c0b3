"""Store parity (issue 6): the same SDK-level scenarios through a proxy on the default SQLite store and through a
proxy with `--store aws` on the moto server give identical results; and budgets and rate limits hold across two
proxy processes sharing one DynamoDB, as two Lambda execution environments would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from headroom.config import Settings
from headroom.store.aws import ensure_aws_resources
from tests.conftest import DUMMY_AWS_ENV
from tests.fakes.processes import FakeUpstream, ProxyProcess
from tests.integration.traffic import (
    CHAT_MODEL,
    MAX_TOKENS,
    MODEL,
    RPM_10_REFILL_S,
    anthropic_call,
    assert_anthropic_429,
    eventually,
    get_json,
    recorded_requests,
    send,
    send_concurrently,
    settled_stats,
)

pytestmark = [pytest.mark.slow, pytest.mark.aws]
BACKENDS = ("sqlite", "aws")
KEY_A = "sk-ant-parity-tenant-a"
KEY_B = "sk-ant-parity-tenant-b"
SEQUENTIAL_BUDGET_USD = 0.002
SHARED_BUDGET_USD = 0.005

StartBoth = Callable[..., dict[str, ProxyProcess]]


def aws_env(endpoint: str) -> dict[str, str]:
    """Tables and a bucket under a prefix no other test uses, created before any proxy starts; the proxy's
    environment names them, with dummy credentials."""
    suffix = uuid.uuid4().hex[:12]
    settings = Settings(
        _env_file=None,
        store="aws",
        aws_endpoint_url=endpoint,
        aws_table_prefix=f"hrparity{suffix}",
        aws_bucket=f"hr-parity-{suffix}",
        aws_region="us-east-1",
    )
    ensure_aws_resources(settings)
    return {
        **DUMMY_AWS_ENV,
        "HEADROOM_STORE": "aws",
        "HEADROOM_AWS_ENDPOINT_URL": endpoint,
        "HEADROOM_AWS_TABLE_PREFIX": settings.aws_table_prefix,
        "HEADROOM_AWS_BUCKET": settings.aws_bucket,
        "HEADROOM_AWS_REGION": settings.aws_region,
    }


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.clear()
    return fake_upstream


@pytest.fixture
def start_both(start_proxy: Callable[..., ProxyProcess], moto_endpoint: str) -> StartBoth:
    """`start_both(*args)`: one proxy per backend, started with the same arguments."""

    def start(*args: str) -> dict[str, ProxyProcess]:
        return {"sqlite": start_proxy(*args), "aws": start_proxy(*args, env=aws_env(moto_endpoint))}

    return start


def _lifetime(proxy: ProxyProcess, requests: int) -> dict[str, Any]:
    """The durable totals once `requests` are recorded, without the timestamps."""
    eventually(lambda: recorded_requests(proxy.url), lambda count: count == requests, f"{requests} recorded")
    lifetime: dict[str, Any] = get_json(f"{proxy.url}/stats-history")["lifetime"]
    return {name: value for name, value in lifetime.items() if not name.endswith("_at")}


def _ask(text: str) -> Any:
    """One user message; distinct texts keep each call out of the response cache."""
    return [{"role": "user", "content": text}]


def sdk_transcript(proxy: ProxyProcess, upstream: FakeUpstream) -> dict[str, Any]:
    """Both SDKs, non-streaming and streaming, and the accounting the proxy kept for them."""
    upstream.clear()
    with anthropic.Anthropic(base_url=proxy.url, api_key=KEY_A, max_retries=0) as claude:
        message = claude.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=_ask("Say hello to parity"))
        with claude.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=_ask("Say hello to streams")) as s:
            streamed_text = "".join(s.text_stream)
            final = s.get_final_message()
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=KEY_B, max_retries=0) as gpt:
        completion = gpt.chat.completions.create(model=CHAT_MODEL, messages=_ask("Say hello to chat"))
        stream = gpt.chat.completions.create(
            model=CHAT_MODEL, messages=_ask("Say hello to chunks"), stream=True, stream_options={"include_usage": True}
        )
        with stream:
            chunks = list(stream)
    assert completion.usage is not None and chunks[-1].usage is not None
    return {
        "anthropic": [message.content[0].model_dump(), message.stop_reason, message.usage.model_dump()],
        "anthropic_stream": [streamed_text, final.stop_reason, final.usage.model_dump()],
        "openai": [completion.choices[0].message.content, completion.usage.model_dump()],
        "openai_stream": [
            "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices),
            chunks[-1].usage.model_dump(),
        ],
        "forwarded": [request.path for request in upstream.requests()],
        "lifetime": _lifetime(proxy, 4),
    }


def test_sdk_calls_give_identical_results_on_both_stores(start_both: StartBoth, upstream: FakeUpstream) -> None:
    proxies = start_both()
    results = {name: sdk_transcript(proxy, upstream) for name, proxy in proxies.items()}
    assert results["sqlite"] == results["aws"]
    result = results["aws"]
    assert "Say hello to parity" in result["anthropic"][0]["text"]
    assert "Say hello to streams" in result["anthropic_stream"][0]
    assert "Say hello to chat" in (result["openai"][0] or "")
    assert "Say hello to chunks" in result["openai_stream"][0]
    assert result["openai_stream"][1]["completion_tokens"] > 0
    assert result["forwarded"] == ["/v1/messages"] * 2 + ["/v1/chat/completions"] * 2
    assert result["lifetime"]["requests"] == 4 and result["lifetime"]["cost_usd"] > 0


def compress_transcript(proxy: ProxyProcess, original: str) -> dict[str, Any]:
    """Compress a tool output as tenant A; retrieve it as A, as B, and by an unknown hash."""
    messages = [
        {"role": "user", "content": "Which DataNodes logged 'Got exception while serving' most often?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"cmd": "cat"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": original}]},
    ]
    compressed = httpx.post(
        f"{proxy.url}/v1/compress",
        json={"model": MODEL, "messages": messages},
        headers={"x-api-key": KEY_A},
        timeout=60,
    )
    assert compressed.status_code == 200, compressed.text
    report = compressed.json()
    [ccr_hash] = report["ccr_hashes"]

    def retrieve(key: str, wanted: str) -> httpx.Response:
        return httpx.post(f"{proxy.url}/v1/retrieve", json={"hash": wanted}, headers={"x-api-key": key}, timeout=30)

    owner, other, unknown = retrieve(KEY_A, ccr_hash), retrieve(KEY_B, ccr_hash), retrieve(KEY_A, "0" * 16)
    return {
        "tokens": [report["tokens_before"], report["tokens_after"]],
        "compressed_text": report["messages"][2]["content"][0]["content"],
        "hash": ccr_hash,
        "owner": [owner.status_code, owner.json().get("content") == original],
        "other_tenant": [other.status_code, other.json()["error"]["type"]],
        "unknown_hash": unknown.status_code,
    }


def test_compress_and_retrieve_isolate_tenants_on_both_stores(start_both: StartBoth, corpus_dir: Path) -> None:
    original = (corpus_dir / "logs" / "loghub_hdfs_2k.log").read_text()
    results = {name: compress_transcript(proxy, original) for name, proxy in start_both().items()}
    assert results["sqlite"] == results["aws"]
    result = results["aws"]
    assert result["tokens"][1] < result["tokens"][0] / 2
    assert f"hash={result['hash']}" in result["compressed_text"]
    assert result["owner"] == [200, True]
    assert result["other_tenant"] == [404, "not_found_error"]
    assert result["unknown_hash"] == 404


def budget_transcript(proxy: ProxyProcess, upstream: FakeUpstream) -> dict[str, Any]:
    """Sequential SDK calls, each settled before the next, until the budget refuses one."""
    upstream.clear()
    spent: list[float] = []
    with anthropic.Anthropic(base_url=proxy.url, api_key=KEY_A, max_retries=0) as claude:
        for number in range(40):
            try:
                claude.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=_ask(f"Say hello number {number}"))
            except anthropic.RateLimitError as refused:
                return {
                    "spent": spent,
                    "error": [refused.status_code, refused.body],
                    "retry_after_set": int(refused.response.headers["retry-after"]) >= 1,
                    "forwarded": len(upstream.requests("/v1/messages")),
                }
            spent.append(settled_stats(proxy.url, len(spent) + 1)["budget"]["spent_usd"])
    raise AssertionError(f"the budget never refused a request: {spent}")


def test_budget_gives_identical_results_on_both_stores(start_both: StartBoth, upstream: FakeUpstream) -> None:
    proxies = start_both("--budget", str(SEQUENTIAL_BUDGET_USD))
    results = {name: budget_transcript(proxy, upstream) for name, proxy in proxies.items()}
    for result in results.values():  # the message names the spend, which may differ in its last digit
        result["error"][1]["error"]["message"] = result["error"][1]["error"]["message"].split(":")[0]
    assert results["sqlite"] == results["aws"]
    result = results["aws"]
    spent = result["spent"]
    assert len(spent) >= 2 and spent[-2] < SEQUENTIAL_BUDGET_USD <= spent[-1]
    assert result["forwarded"] == len(spent)
    assert result["error"][0] == 429
    assert result["error"][1]["error"] == {
        "type": "rate_limit_error",
        "message": "Headroom global daily budget exceeded",
    }
    assert result["retry_after_set"]


@pytest.fixture
def two_lambdas(start_proxy: Callable[..., ProxyProcess], moto_endpoint: str) -> Callable[..., list[ProxyProcess]]:
    """`two_lambdas(*args)`: two proxy processes on one set of DynamoDB tables and one bucket."""

    def start(*args: str) -> list[ProxyProcess]:
        env = aws_env(moto_endpoint)
        return [start_proxy(*args, env=env), start_proxy(*args, env=env)]

    return start


def test_budget_holds_across_two_proxies_sharing_dynamodb(
    two_lambdas: Callable[..., list[ProxyProcess]], upstream: FakeUpstream
) -> None:
    proxies = two_lambdas("--budget", str(SHARED_BUDGET_USD))
    calls = [anthropic_call(number, "sk-ant-shared-budget") for number in range(40)]
    responses = send_concurrently([(proxies[index % 2].url, call) for index, call in enumerate(calls)])
    admitted = [response for response in responses if response.status_code == 200]
    rejected = [response for response in responses if response.status_code != 200]
    assert admitted and rejected
    for response in rejected:
        assert_anthropic_429(response, "global daily budget exceeded")
    assert len(upstream.requests("/v1/messages")) == len(admitted)

    first, second = (settled_stats(proxy.url, len(admitted)) for proxy in proxies)
    spent = first["budget"]["spent_usd"]
    assert second["budget"]["spent_usd"] == spent
    assert 0 < spent <= SHARED_BUDGET_USD + max(call.estimate_usd for call in calls)
    assert spent == pytest.approx(first["persistent_savings"]["lifetime"]["cost_usd"], abs=1e-6)


def test_rate_limit_holds_across_two_proxies_sharing_dynamodb(
    two_lambdas: Callable[..., list[ProxyProcess]], upstream: FakeUpstream
) -> None:
    proxies = two_lambdas("--rpm", "10")
    started = time.monotonic()
    calls = [anthropic_call(number, "sk-ant-shared-limit") for number in range(24)]
    responses = send_concurrently([(proxies[index % 2].url, call) for index, call in enumerate(calls)])
    elapsed = time.monotonic() - started
    admitted = [response for response in responses if response.status_code == 200]
    assert 10 <= len(admitted) <= 10 + elapsed / 6  # one bucket of 10, refilled one request every 6 s
    for response in responses:
        if response.status_code != 200:
            assert_anthropic_429(response, "10 requests per minute")
    assert len(upstream.requests("/v1/messages")) == len(admitted)

    with openai.OpenAI(base_url=f"{proxies[1].url}/v1", api_key="sk-ant-shared-limit", max_retries=0) as gpt:
        try:
            gpt.chat.completions.create(model=CHAT_MODEL, messages=_ask("one more"))
        except openai.RateLimitError as limited:
            assert limited.code == "rate_limit_exceeded"
            assert int(limited.response.headers["retry-after"]) >= 1
        else:  # only a slow machine, past the 6 s refill, may see it admitted
            assert time.monotonic() - started >= RPM_10_REFILL_S
    assert send(proxies[1].url, anthropic_call(99, "sk-ant-another-key")).status_code == 200
