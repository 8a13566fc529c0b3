"""The official SDKs through the proxy to the fake upstream: every wire format, streaming and not, with tool
calls, thinking blocks, usage and upstream errors passed through unmodified."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import httpx
import openai
import pytest

from tests.fakes.processes import FakeUpstream, ProxyProcess


@pytest.fixture
def proxy(start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream) -> ProxyProcess:
    fake_upstream.clear()
    return start_proxy()


def _anthropic(proxy: ProxyProcess, scenario: str = "text", **headers: str) -> anthropic.Anthropic:
    extra = {"x-fake-scenario": scenario, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return anthropic.Anthropic(base_url=proxy.url, api_key="sk-ant-test", default_headers=extra, max_retries=0)


def _openai(proxy: ProxyProcess, scenario: str = "text") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/v1", api_key="sk-test", default_headers={"x-fake-scenario": scenario}, max_retries=0
    )


MESSAGES = [{"role": "user", "content": "Say hello"}]


def test_anthropic_text_non_streaming(proxy: ProxyProcess, fake_upstream: FakeUpstream) -> None:
    message = _anthropic(proxy).messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=MESSAGES)
    assert message.content[0].type == "text"
    assert "Say hello" in message.content[0].text
    assert message.usage.input_tokens > 0
    sent = fake_upstream.requests("/v1/messages")[-1]
    assert "sk-ant-test" in (sent.header("x-api-key") or sent.header("authorization") or "")


def test_anthropic_streaming_text_and_usage(proxy: ProxyProcess) -> None:
    client = _anthropic(proxy)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "Say hello" in text
    assert final.usage.output_tokens > 0
    assert final.stop_reason == "end_turn"


def test_anthropic_streaming_tool_use(proxy: ProxyProcess) -> None:
    client = _anthropic(proxy, "tool_use")
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    tool_uses = [block for block in final.content if block.type == "tool_use"]
    assert tool_uses and tool_uses[0].name == "Bash"
    assert tool_uses[0].input == {"command": "echo hello-from-tool", "description": "Print a greeting"}
    assert final.stop_reason == "tool_use"


def test_anthropic_thinking_signature_round_trip(proxy: ProxyProcess, fake_upstream: FakeUpstream) -> None:
    client = _anthropic(proxy, "thinking")
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=2000, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    thinking = [block for block in final.content if block.type == "thinking"]
    assert thinking and thinking[0].signature
    follow = [
        *MESSAGES,
        {"role": "assistant", "content": [block.model_dump() for block in final.content]},
        {"role": "user", "content": "continue"},
    ]
    _anthropic(proxy).messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=follow)
    sent = fake_upstream.requests("/v1/messages")[-1].json()
    assert sent["messages"][1]["content"][0]["signature"] == thinking[0].signature
    assert sent["messages"][1]["content"][0]["thinking"] == thinking[0].thinking


def test_anthropic_midstream_error_reaches_client(proxy: ProxyProcess) -> None:
    client = _anthropic(proxy, "error_midstream")
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(model="claude-sonnet-4-6", max_tokens=100, messages=MESSAGES) as stream,
    ):
        stream.get_final_message()


@pytest.mark.parametrize(
    ("scenario", "status", "error_type"),
    [("error_429", 429, "rate_limit_error"), ("error_529", 529, "overloaded_error"), ("error_500", 500, "api_error")],
)
def test_upstream_errors_pass_through_unmodified(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, scenario: str, status: int, error_type: str
) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": MESSAGES}
    headers = {"x-fake-scenario": scenario, "x-api-key": "k", "anthropic-version": "2023-06-01"}
    direct = httpx.post(f"{fake_upstream.url}/v1/messages", json=body, headers=headers, timeout=30)
    proxied = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=30)
    assert proxied.status_code == direct.status_code == status
    assert proxied.content == direct.content
    assert proxied.json()["error"]["type"] == error_type
    if status == 429:
        assert proxied.headers["retry-after"] == direct.headers["retry-after"]


def test_openai_chat_non_streaming_and_streaming(proxy: ProxyProcess) -> None:
    client = _openai(proxy)
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert "Say hello" in (completion.choices[0].message.content or "")
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Say hello" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_openai_chat_tool_call_stream(proxy: ProxyProcess) -> None:
    client = _openai(proxy, "tool_use")
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    names = [
        call.function.name
        for chunk in chunks
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
        if call.function and call.function.name
    ]
    assert names == ["Bash"]


def test_openai_responses_stream_with_reasoning(proxy: ProxyProcess, fake_upstream: FakeUpstream) -> None:
    client = _openai(proxy, "thinking")
    with client.responses.stream(model="gpt-5", input="Say hello") as stream:
        final = stream.get_final_response()
    reasoning = [item for item in final.output if item.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content
    assert final.usage is not None and final.usage.output_tokens > 0
    follow = [{"role": "user", "content": "Say hello"}, reasoning[0].model_dump(exclude_none=True)]
    _openai(proxy).responses.create(model="gpt-5", input=follow)  # type: ignore[arg-type]
    sent = fake_upstream.requests("/v1/responses")[-1].json()
    assert sent["input"][1]["encrypted_content"] == reasoning[0].encrypted_content


def test_openai_error_passes_through(proxy: ProxyProcess) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        _openai(proxy, "error_429").chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.status_code == 429
