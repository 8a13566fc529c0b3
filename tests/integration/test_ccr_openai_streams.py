"""CCR in OpenAI streams, through the official SDK: the proxy answers `headroom_retrieve` itself and splices the
follow-up round into the same Chat Completions or Responses stream, without holding back the first text."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from headroom.accounting.tokens import count_tokens
from headroom.ccr.markers import RETRIEVE_TOOL
from tests.fakes.processes import FakeUpstream, ProxyProcess, RecordedRequest

QUESTION = "Which DataNodes logged 'Got exception while serving' warnings most often?"
LEAD_IN = "Let me look at the original first."


@pytest.fixture
def proxy(start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream) -> ProxyProcess:
    fake_upstream.clear()
    return start_proxy()


@pytest.fixture
def original(corpus_dir: Path) -> str:
    return (corpus_dir / "logs" / "loghub_hdfs_2k.log").read_text()


def _chat_messages(tool_output: str) -> list[Any]:
    call = {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    return [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": tool_output},
    ]


@pytest.fixture
def client_for(proxy: ProxyProcess) -> Iterator[Callable[[str], openai.OpenAI]]:
    """SDK clients whose fake upstream answers with a retrieval of the given hash; closed after the test."""
    opened: list[openai.OpenAI] = []

    def open_client(ccr_hash: str) -> openai.OpenAI:
        headers = {"x-fake-scenario": "retrieve", "x-fake-hash": ccr_hash, "x-fake-delay-ms": "150"}
        client = openai.OpenAI(
            base_url=f"{proxy.url}/v1", api_key="sk-tenant-a", max_retries=0, default_headers=headers
        )
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def _ccr_hash(proxy: ProxyProcess, original: str) -> str:
    body = {"messages": _chat_messages(original)}
    report = httpx.post(f"{proxy.url}/v1/compress", json=body, headers={"x-api-key": "sk-tenant-a"}, timeout=30)
    return str(report.json()["ccr_hashes"][0])


def _two_rounds(fake_upstream: FakeUpstream, path: str) -> list[RecordedRequest]:
    sent = fake_upstream.requests(path)
    assert len(sent) == 2
    assert any(RETRIEVE_TOOL in str(tool) for tool in sent[0].json()["tools"])
    return sent


def _prompt_tokens(sent: list[RecordedRequest]) -> int:
    return sum(count_tokens(request.body.decode()) for request in sent)


def _assert_quotes(text: str, original: str) -> None:
    assert text.startswith(LEAD_IN + "Retrieved content: "), text[:200]
    assert original.splitlines()[0].strip() in text


def test_chat_stream_with_usage_is_spliced_into_one_message(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, original: str, client_for: Callable[[str], openai.OpenAI]
) -> None:
    client = client_for(_ccr_hash(proxy, original))
    fake_upstream.clear()
    first_text_at = None
    chunk_ids = set()
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=_chat_messages(original),
        stream_options={"include_usage": True},
    ) as stream:
        for event in stream:
            if event.type == "chunk":
                chunk_ids.add((event.chunk.id, event.chunk.created))
            if event.type == "content.delta" and event.delta and first_text_at is None:
                first_text_at = time.time()
        final = stream.get_final_completion()
    sent = _two_rounds(fake_upstream, "/v1/chat/completions")
    assert len(chunk_ids) == 1
    message = final.choices[0].message
    _assert_quotes(message.content or "", original)
    assert message.tool_calls is None or message.tool_calls == []
    assert final.choices[0].finish_reason == "stop"
    assert first_text_at is not None and first_text_at < sent[1].time
    assert final.usage is not None
    assert final.usage.prompt_tokens == _prompt_tokens(sent)
    assert final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens


def test_chat_stream_without_usage_never_shows_the_retrieval_call(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, original: str, client_for: Callable[[str], openai.OpenAI]
) -> None:
    client = client_for(_ccr_hash(proxy, original))
    fake_upstream.clear()
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=_chat_messages(original), stream=True))
    _two_rounds(fake_upstream, "/v1/chat/completions")
    assert all(chunk.usage is None for chunk in chunks)
    assert all(not choice.delta.tool_calls for chunk in chunks for choice in chunk.choices)
    roles = [choice.delta.role for chunk in chunks for choice in chunk.choices if choice.delta.role]
    assert roles == ["assistant"]
    finishes = [choice.finish_reason for chunk in chunks for choice in chunk.choices if choice.finish_reason]
    assert finishes == ["stop"]
    text = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    _assert_quotes(text, original)


def test_responses_stream_is_spliced_into_one_response(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, original: str, client_for: Callable[[str], openai.OpenAI]
) -> None:
    client = client_for(_ccr_hash(proxy, original))
    items: list[Any] = [
        {"role": "user", "content": QUESTION},
        {"type": "function_call", "call_id": "c1", "name": "Bash", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": original},
    ]
    fake_upstream.clear()
    first_text_at = None
    sequence: list[int] = []
    indices: list[int] = []
    with client.responses.stream(model="gpt-5", input=items) as stream:
        for event in stream:
            sequence.append(event.sequence_number)
            if event.type == "response.output_item.added":
                indices.append(event.output_index)
                assert getattr(event.item, "name", None) != RETRIEVE_TOOL
            if event.type == "response.output_text.delta" and first_text_at is None:
                first_text_at = time.time()
            assert event.type != "response.function_call_arguments.delta"
        final = stream.get_final_response()
    sent = _two_rounds(fake_upstream, "/v1/responses")
    assert sequence == list(range(len(sequence)))
    assert indices == [0, 1]
    assert [item.type for item in final.output] == ["message", "message"]
    _assert_quotes(final.output_text, original)
    assert first_text_at is not None and first_text_at < sent[1].time
    follow_up = sent[1].json()["input"]
    assert follow_up[-1] == {"type": "function_call_output", "call_id": follow_up[-2]["call_id"], "output": original}
    assert final.usage is not None
    assert final.usage.input_tokens == _prompt_tokens(sent)
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
