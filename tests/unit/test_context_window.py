"""The context manager on parsed requests: fits the budget, never splits tool pairs, keeps the system prompt and
the last user turn, stays a valid request, is deterministic, remembers its drops, and stores them in CCR."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from headroom.ccr import markers
from headroom.ccr.retrieval import lookup_original
from headroom.config import Settings
from headroom.context.optimizer import RequestOptimizer
from headroom.pipeline.pipeline import OptimizeResult, Pipeline
from headroom.providers.anthropic import AnthropicProvider
from headroom.providers.base import JSONObject, Provider
from headroom.providers.openai_chat import OpenAIChatProvider
from headroom.providers.openai_responses import OpenAIResponsesProvider
from headroom.store.memory import memory_stores

TENANT = "tenant-a"


def _filler(step: int, words: int = 220) -> str:
    return " ".join(f"observation{step}_{i % 37} value {i}" for i in range(words))


def anthropic_body(steps: int, question: str = "Why does the build of parser.c fail?") -> JSONObject:
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for step in range(steps):
        call = {"type": "tool_use", "id": f"call_{step}", "name": "Bash", "input": {"cmd": f"step {step}"}}
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"Step {step}."}, call]})
        result = {"type": "tool_result", "tool_use_id": f"call_{step}", "content": _filler(step)}
        messages.append({"role": "user", "content": [result]})
    return {"model": "claude-sonnet-4-6", "max_tokens": 100, "system": "You are a build agent.", "messages": messages}


def chat_body(steps: int) -> JSONObject:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a build agent."},
        {"role": "user", "content": "Why does the build fail?"},
    ]
    for step in range(steps):
        call = {"id": f"c{step}", "type": "function", "function": {"name": "sh", "arguments": "{}"}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{step}", "content": _filler(step)})
    return {"model": "gpt-4o", "messages": messages}


def responses_body(steps: int) -> JSONObject:
    items: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "input_text", "text": "Fix the build."}]}]
    for step in range(steps):
        items.append({"type": "reasoning", "id": f"r{step}", "encrypted_content": "opaque", "summary": []})
        items.append({"type": "function_call", "call_id": f"f{step}", "name": "sh", "arguments": "{}"})
        items.append({"type": "function_call_output", "call_id": f"f{step}", "output": _filler(step)})
    return {"model": "gpt-5", "input": items}


@pytest.fixture
def make_optimizer() -> Iterator[Any]:
    pipelines: list[Pipeline] = []

    def make(**overrides: Any) -> RequestOptimizer:
        options: dict[str, Any] = {"context_limit": 4000, "min_compress_tokens": 100_000, "compress_first": False}
        settings = Settings(**{**options, **overrides})
        pipeline = Pipeline(settings, memory_stores())
        pipelines.append(pipeline)
        return RequestOptimizer(settings, pipeline)

    yield make
    for pipeline in pipelines:
        pipeline.close()


def run(optimizer: RequestOptimizer, provider: Provider, body: JSONObject, conversation: str = "c1") -> OptimizeResult:
    raw = json.dumps(body).encode()
    return optimizer.run(provider, body, tenant=TENANT, conversation=conversation, raw=raw)


def assert_pairs_intact(provider: Provider, body: JSONObject) -> None:
    calls: set[str] = set()
    results: set[str] = set()
    for message in provider.messages(body):
        calls.update(message.tool_call_ids)
        results.update(message.tool_result_ids)
    assert calls == results


def assert_alternates(body: JSONObject) -> None:
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    for before, message in zip(body["messages"], body["messages"][1:], strict=False):
        content = message["content"]
        results = (
            [b["tool_use_id"] for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []
        )
        if results:
            prior = [b["id"] for b in before["content"] if isinstance(b, dict) and b.get("type") == "tool_use"]
            assert sorted(results) == sorted(prior)


@pytest.mark.parametrize(
    ("provider", "build"),
    [
        (AnthropicProvider(), anthropic_body),
        (OpenAIChatProvider(), chat_body),
        (OpenAIResponsesProvider(), responses_body),
    ],
)
def test_over_limit_is_trimmed_with_pairs_intact(make_optimizer: Any, provider: Provider, build: Any) -> None:
    optimizer = make_optimizer()
    body = build(12)
    before = optimizer.context.request_tokens(provider, body)
    result = run(optimizer, provider, body)
    decision = result.context
    assert before > 4000
    assert decision.dropped_messages > 0
    assert decision.tokens_after <= 4000 - 100
    assert not decision.over_limit
    assert_pairs_intact(provider, body)
    assert result.retrieval_enabled and markers.has_tool(body["tools"])


def test_system_and_last_user_turn_are_kept(make_optimizer: Any) -> None:
    body = chat_body(12)
    body["messages"].append({"role": "user", "content": "And what about the linker?"})
    run(make_optimizer(), OpenAIChatProvider(), body)
    assert body["messages"][0] == {"role": "system", "content": "You are a build agent."}
    assert body["messages"][-1] == {"role": "user", "content": "And what about the linker?"}


def test_anthropic_result_alternates_and_keeps_the_latest_exchange(make_optimizer: Any) -> None:
    body = anthropic_body(12)
    last_two = copy.deepcopy(body["messages"][-2:])
    run(make_optimizer(), AnthropicProvider(), body)
    assert_alternates(body)
    assert body["messages"][-2:] == last_two
    assert body["system"] == "You are a build agent."


def test_dropped_messages_are_retrievable_from_ccr(make_optimizer: Any) -> None:
    optimizer = make_optimizer()
    body = anthropic_body(12)
    original = copy.deepcopy(body["messages"])
    result = run(optimizer, AnthropicProvider(), body)
    stores = optimizer.toin._stores
    recovered: list[Any] = []
    for ccr_hash in result.context.ccr_hashes:
        text = lookup_original(stores.blobs, TENANT, ccr_hash)
        assert text is not None
        recovered.extend(json.loads(text))
        assert lookup_original(stores.blobs, "tenant-b", ccr_hash) is None
    assert recovered and all(message in original for message in recovered)
    assert len(recovered) == result.context.dropped_messages
    sent = json.dumps(body)
    assert all(f"hash={h}" in sent for h in result.context.ccr_hashes)


def test_drops_are_deterministic(make_optimizer: Any) -> None:
    first, second = anthropic_body(12), anthropic_body(12)
    run(make_optimizer(), AnthropicProvider(), first)
    run(make_optimizer(), AnthropicProvider(), second)
    assert json.dumps(first) == json.dumps(second)


def test_next_turn_drops_the_same_messages_and_keeps_the_prefix(make_optimizer: Any) -> None:
    optimizer = make_optimizer()
    turn = anthropic_body(12)
    run(optimizer, AnthropicProvider(), turn)
    sent_first = json.dumps(turn["messages"][:-2])
    following = anthropic_body(13)
    result = run(optimizer, AnthropicProvider(), following)
    assert result.context.remembered_drops > 0
    assert json.dumps(following["messages"]).startswith(sent_first[:-1])


def test_rolling_window_drops_oldest_first(make_optimizer: Any) -> None:
    body = chat_body(12)
    body["messages"][3]["content"] += "\nTraceback: fatal error in parser.c"
    run(make_optimizer(intelligent_context=False, context_limit=11000), OpenAIChatProvider(), body)
    kept_ids = {m.get("tool_call_id") for m in body["messages"] if m["role"] == "tool"}
    assert kept_ids == {"c8", "c9", "c10", "c11"}


def test_intelligent_scoring_keeps_an_old_relevant_error(make_optimizer: Any) -> None:
    body = chat_body(12)
    body["messages"][1]["content"] = "Why does the parser fail with a segfault?"
    body["messages"][3]["content"] += "\nparser segfault: fatal error in parser.c"
    run(make_optimizer(context_limit=9000), OpenAIChatProvider(), body)
    kept_ids = {m.get("tool_call_id") for m in body["messages"] if m["role"] == "tool"}
    assert "c0" in kept_ids
    assert "c1" not in kept_ids
    assert "c11" in kept_ids


def test_small_request_is_not_counted(make_optimizer: Any) -> None:
    optimizer = make_optimizer()
    result = run(optimizer, AnthropicProvider(), anthropic_body(0))
    assert result.context.tokens_before == 0
    assert result.context.dropped_messages == 0
