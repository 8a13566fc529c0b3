"""The fake upstream is faithful: the official anthropic and openai SDKs parse every scenario it plays,
streaming and not, and its control endpoints (queue, request record) behave as documented."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.processes import FakeUpstream

CLAUDE = "claude-sonnet-4-20250514"


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    fake_upstream.clear()
    yield fake_upstream
    fake_upstream.clear()


@pytest.fixture
def claude(upstream: FakeUpstream) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=upstream.url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


@pytest.fixture
def oai(upstream: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{upstream.url}/v1", api_key="sk-test", max_retries=0) as client:
        yield client


def scenario(name: str, **extra: str) -> dict[str, str]:
    return {"x-fake-scenario": name, **{f"x-fake-{key.replace('_', '-')}": value for key, value in extra.items()}}


def ask(text: str = "hello fake") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# Anthropic Messages


def test_anthropic_text_answer_quotes_the_request(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=CLAUDE, max_tokens=50, messages=ask("what is up"))
    assert message.content[0].type == "text"
    assert message.content[0].text == "Fake answer to 1 message(s). You said: what is up"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_anthropic_text_stream_matches_the_json_answer(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=ask("stream me")) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) > 1
    assert "".join(deltas) == final.content[0].text == "Fake answer to 1 message(s). You said: stream me"
    assert final.usage.output_tokens > 1


def test_anthropic_raw_stream_has_event_lines_and_ping(upstream: FakeUpstream) -> None:
    body = {"model": CLAUDE, "max_tokens": 10, "stream": True, "messages": ask()}
    response = httpx.post(f"{upstream.url}/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    events = [line.removeprefix("event: ") for line in response.text.splitlines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize("streaming", [False, True])
def test_anthropic_tool_use(claude: anthropic.Anthropic, streaming: bool) -> None:
    headers = scenario("tool_use", tool="Read", tool_input=json.dumps({"file_path": "notes/x.txt"}))
    if streaming:
        with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=ask(), extra_headers=headers) as stream:
            message = stream.get_final_message()
    else:
        message = claude.messages.create(model=CLAUDE, max_tokens=50, messages=ask(), extra_headers=headers)
    block = message.content[0]
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert (block.name, block.input) == ("Read", {"file_path": "notes/x.txt"})
    assert message.stop_reason == "tool_use"


def test_anthropic_thinking_before_a_tool_call(claude: anthropic.Anthropic) -> None:
    headers = {**scenario("tool_use"), "x-fake-thinking": "1"}
    with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=ask(), extra_headers=headers) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    assert message.stop_reason == "tool_use"


def test_anthropic_default_tool_is_bash_echo(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=CLAUDE, max_tokens=50, messages=ask(), extra_headers=scenario("tool_use"))
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "Bash"
    assert block.input["command"] == "echo hello-from-tool"  # type: ignore[index]


def test_anthropic_thinking_stream_carries_a_signature(claude: anthropic.Anthropic) -> None:
    headers = scenario("thinking")
    with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=ask(), extra_headers=headers) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature.startswith("sig_")
    assert text.type == "text" and text.text.startswith("Fake answer")
    assert "thinking" in kinds and "signature" in kinds


@pytest.mark.parametrize(
    ("name", "error", "status"),
    [
        ("error_429", anthropic.RateLimitError, 429),
        ("error_529", anthropic.OverloadedError, 529),
        ("error_500", anthropic.InternalServerError, 500),
    ],
)
def test_anthropic_errors(claude: anthropic.Anthropic, name: str, error: type[Exception], status: int) -> None:
    with pytest.raises(error) as raised:
        claude.messages.create(model=CLAUDE, max_tokens=5, messages=ask(), extra_headers=scenario(name))
    assert isinstance(raised.value, anthropic.APIStatusError) and raised.value.status_code == status
    assert raised.value.body["type"] == "error"  # type: ignore[index]
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "1"


def test_anthropic_midstream_error_after_text(claude: anthropic.Anthropic) -> None:
    seen: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        claude.messages.stream(
            model=CLAUDE, max_tokens=5, messages=ask(), extra_headers=scenario("error_midstream")
        ) as stream,
    ):
        seen.extend(stream.text_stream)
    assert seen and seen[0].startswith("Fake")


def test_reset_breaks_the_connection_mid_stream(upstream: FakeUpstream) -> None:
    body = {"model": CLAUDE, "max_tokens": 10, "stream": True, "messages": ask()}
    headers = {"anthropic-version": "2023-06-01", **scenario("reset")}
    received: list[str] = []
    with (
        pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)),
        httpx.stream("POST", f"{upstream.url}/v1/messages", json=body, headers=headers) as response,
    ):
        received.extend(response.iter_lines())
    assert response.status_code == 200
    assert "event: message_start" in received and "event: message_stop" not in received


def test_reset_before_headers_is_a_connection_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(
            model=CLAUDE, max_tokens=5, messages=ask(), extra_headers=scenario("reset_before_headers")
        )


def test_slow_stream_spaces_its_events(upstream: FakeUpstream) -> None:
    body = {"model": CLAUDE, "max_tokens": 10, "stream": True, "messages": ask()}
    arrivals: list[float] = []
    headers = {"anthropic-version": "2023-06-01", **scenario("slow", delay_ms="40")}
    sent = time.monotonic()
    with httpx.stream("POST", f"{upstream.url}/v1/messages", json=body, headers=headers) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals.append(time.monotonic())
    # A busy client may read two events in one go, so single gaps prove nothing; but the fake sleeps before each
    # event after the first, so the last one cannot arrive sooner than that many delays after the request.
    assert len(arrivals) > 6 and arrivals[-1] - sent >= 0.04 * (len(arrivals) - 1)


def test_silent_stream_goes_quiet_after_message_start(upstream: FakeUpstream) -> None:
    body = {"model": CLAUDE, "max_tokens": 10, "stream": True, "messages": ask()}
    arrivals: list[tuple[str, float]] = []
    headers = {"anthropic-version": "2023-06-01", **scenario("silent", delay_ms="1500")}
    sent = time.monotonic()
    with httpx.stream("POST", f"{upstream.url}/v1/messages", json=body, headers=headers) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals.append((line.removeprefix("event: "), time.monotonic()))
    assert arrivals[0][0] == "message_start" and arrivals[-1][0] == "message_stop"
    # The fake sleeps once, after message_start: nothing after it can arrive sooner than that delay. And
    # message_start comes before it, unless this client was itself held up for more than a second.
    assert arrivals[1][1] - sent >= 1.5
    assert arrivals[1][1] - arrivals[0][1] >= 0.25


def test_anthropic_retrieve_calls_the_tool_then_quotes_the_result(claude: anthropic.Anthropic) -> None:
    headers = scenario("retrieve", hash="abc123")
    first = claude.messages.create(model=CLAUDE, max_tokens=50, messages=ask(), extra_headers=headers)
    lead_in, call = first.content
    assert lead_in.type == "text" and lead_in.text
    assert call.type == "tool_use" and call.name == "headroom_retrieve" and call.input == {"hash": "abc123"}
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "the original bytes"}
    assistant = {"role": "assistant", "content": [block.model_dump() for block in first.content]}
    messages = [*ask(), assistant, {"role": "user", "content": [result]}]
    with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=messages, extra_headers=headers) as stream:
        answer = stream.get_final_text()
    assert answer == "Retrieved content: the original bytes"


def test_retrieve_ignores_results_of_other_tools(claude: anthropic.Anthropic) -> None:
    bash = {"type": "tool_use", "id": "toolu_bash1", "name": "Bash", "input": {"command": "ls"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_bash1", "content": "file.txt"}
    messages = [*ask(), {"role": "assistant", "content": [bash]}, {"role": "user", "content": [result]}]
    reply = claude.messages.create(
        model=CLAUDE, max_tokens=50, messages=messages, extra_headers=scenario("retrieve", hash="h9")
    )
    assert [block.type for block in reply.content][-1] == "tool_use"
    assert reply.content[-1].name == "headroom_retrieve"  # type: ignore[union-attr]


def test_anthropic_count_tokens_models_and_head(claude: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    counted = claude.messages.count_tokens(model=CLAUDE, messages=ask("count these words please"))
    assert counted.input_tokens > 0
    models = claude.models.list()
    assert CLAUDE in [model.id for model in models.data]
    assert httpx.head(upstream.url).status_code == 200
    assert [(r.method, r.path) for r in upstream.requests()][-1] == ("HEAD", "/")


def test_anthropic_prompt_cache_reads_a_repeated_prefix(claude: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "You are a careful assistant. " * 400, "cache_control": {"type": "ephemeral"}}]
    first = claude.messages.create(model=CLAUDE, max_tokens=5, system=system, messages=ask("one"))  # type: ignore[arg-type]
    second = claude.messages.create(model=CLAUDE, max_tokens=5, system=system, messages=ask("two"))  # type: ignore[arg-type]
    assert first.usage.cache_creation_input_tokens and first.usage.cache_creation_input_tokens > 1024
    assert first.usage.cache_read_input_tokens in (0, first.usage.cache_creation_input_tokens)
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0


# OpenAI Chat Completions


def test_chat_text(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="gpt-4o", messages=ask("hi chat"))  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "Fake answer to 1 message(s). You said: hi chat"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_usage_only_when_asked(oai: openai.OpenAI, include_usage: bool) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o",
            messages=ask("hi chat"),  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": include_usage},
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Fake answer to 1 message(s). You said: hi chat"
    usages = [chunk.usage for chunk in chunks if chunk.usage is not None]
    assert len(usages) == (1 if include_usage else 0)


@pytest.mark.parametrize("streaming", [False, True])
def test_chat_tool_call(oai: openai.OpenAI, streaming: bool) -> None:
    headers = scenario("tool_use", tool="get_weather", tool_input=json.dumps({"city": "Oslo"}))
    if streaming:
        with oai.chat.completions.stream(model="gpt-4o", messages=ask(), extra_headers=headers) as stream:  # type: ignore[arg-type]
            completion = stream.get_final_completion()
    else:
        completion = oai.chat.completions.create(model="gpt-4o", messages=ask(), extra_headers=headers)  # type: ignore[arg-type]
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.type == "function" and call.id.startswith("call_")
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
    assert completion.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("error_429", openai.RateLimitError),
        ("error_529", openai.APIStatusError),
        ("error_500", openai.InternalServerError),
    ],
)
def test_chat_errors(oai: openai.OpenAI, name: str, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        oai.chat.completions.create(model="gpt-4o", messages=ask(), extra_headers=scenario(name))  # type: ignore[arg-type]
    assert isinstance(raised.value, openai.APIStatusError) and raised.value.body["message"]  # type: ignore[index]


def test_chat_midstream_error(oai: openai.OpenAI) -> None:
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="server had an error"):
        stream = oai.chat.completions.create(
            model="gpt-4o",
            messages=ask(),  # type: ignore[arg-type]
            stream=True,
            extra_headers=scenario("error_midstream"),
        )
        seen.extend(chunk.choices[0].delta.content or "" for chunk in stream)
    assert "".join(seen).startswith("Fake")


def test_chat_reset(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        list(oai.chat.completions.create(model="gpt-4o", messages=ask(), stream=True, extra_headers=scenario("reset")))  # type: ignore[arg-type]


def test_chat_retrieve(oai: openai.OpenAI) -> None:
    headers = scenario("retrieve", hash="h42")
    first = oai.chat.completions.create(model="gpt-4o", messages=ask(), extra_headers=headers)  # type: ignore[arg-type]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "headroom_retrieve" and json.loads(call.function.arguments) == {"hash": "h42"}
    messages = [
        *ask(),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "original text"},
    ]
    second = oai.chat.completions.create(model="gpt-4o", messages=messages, extra_headers=headers)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "Retrieved content: original text"


def test_openai_models(oai: openai.OpenAI) -> None:
    assert "gpt-4o" in [model.id for model in oai.models.list()]
    assert oai.models.retrieve("gpt-5").id == "gpt-5"


# OpenAI Responses


@pytest.mark.parametrize("streaming", [False, True])
def test_responses_text(oai: openai.OpenAI, streaming: bool) -> None:
    if streaming:
        with oai.responses.stream(model="gpt-5", input="hi responses") as stream:
            kinds = [event.type for event in stream]
            response = stream.get_final_response()
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    else:
        response = oai.responses.create(model="gpt-5", input="hi responses")
    assert response.output_text == "Fake answer to 1 message(s). You said: hi responses"
    assert response.usage is not None and response.usage.input_tokens > 0


@pytest.mark.parametrize("streaming", [False, True])
def test_responses_function_call(oai: openai.OpenAI, streaming: bool) -> None:
    headers = scenario("tool_use", tool="shell", tool_input=json.dumps({"command": ["ls"]}))
    if streaming:
        with oai.responses.stream(model="gpt-5", input="list", extra_headers=headers) as stream:
            response = stream.get_final_response()
    else:
        response = oai.responses.create(model="gpt-5", input="list", extra_headers=headers)
    call = response.output[0]
    assert call.type == "function_call" and call.call_id.startswith("call_")
    assert (call.name, json.loads(call.arguments)) == ("shell", {"command": ["ls"]})


def test_responses_reasoning_item_has_encrypted_content(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="gpt-5", input="think", extra_headers=scenario("thinking")) as stream:
        kinds = {event.type for event in stream}
        response = stream.get_final_response()
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content and reasoning.summary[0].text
    assert message.type == "message" and response.output_text.startswith("Fake answer")
    assert "response.reasoning_summary_text.delta" in kinds


def test_responses_midstream_error_event(oai: openai.OpenAI) -> None:
    events = list(
        oai.responses.create(model="gpt-5", input="x", stream=True, extra_headers=scenario("error_midstream"))
    )
    assert events[-1].type == "error" and events[-1].message
    assert "response.output_text.delta" in [event.type for event in events]
    assert "response.completed" not in [event.type for event in events]


def test_responses_errors_and_reset(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        oai.responses.create(model="gpt-5", input="x", extra_headers=scenario("error_429"))
    with pytest.raises(openai.APIConnectionError):
        oai.responses.create(model="gpt-5", input="x", extra_headers=scenario("reset_before_headers"))


def test_responses_retrieve(oai: openai.OpenAI) -> None:
    headers = scenario("retrieve", hash="r1")
    first = oai.responses.create(model="gpt-5", input="need it", extra_headers=headers)
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "headroom_retrieve"
    follow_up: list[Any] = [
        {"role": "user", "content": "need it"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "stored original"},
    ]
    second = oai.responses.create(model="gpt-5", input=follow_up, extra_headers=headers)
    assert second.output_text == "Retrieved content: stored original"


# Control endpoints


def test_queue_scripts_turns_in_order_and_by_match(upstream: FakeUpstream, claude: anthropic.Anthropic) -> None:
    upstream.enqueue(
        {"scenario": "text", "text": "only for marked", "match": "MARKED"},
        {"scenario": "tool_use", "tool": "Bash", "input": {"command": "pwd"}},
        {"scenario": "text", "text": "done"},
    )
    first = claude.messages.create(model=CLAUDE, max_tokens=5, messages=ask())
    second = claude.messages.create(model=CLAUDE, max_tokens=5, messages=ask())
    marked = claude.messages.create(model=CLAUDE, max_tokens=5, messages=ask("MARKED"))
    unscripted = claude.messages.create(model=CLAUDE, max_tokens=5, messages=ask("free"))
    assert first.content[0].type == "tool_use" and first.content[0].input == {"command": "pwd"}
    assert second.content[0].type == "text" and second.content[0].text == "done"
    assert marked.content[0].type == "text" and marked.content[0].text == "only for marked"
    assert unscripted.content[0].type == "text" and unscripted.content[0].text.endswith("free")


def test_enqueue_rejects_unknown_scenarios(upstream: FakeUpstream) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        upstream.enqueue({"scenario": "nonsense"})


def test_requests_are_recorded_byte_exact_and_cleared(upstream: FakeUpstream) -> None:
    body = b'{"model":"m", "messages":[{"role":"user","content":"x"}],   "max_tokens":1}'
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-custom": "kept"}
    httpx.post(f"{upstream.url}/v1/messages?beta=true", content=body, headers=headers).raise_for_status()
    [recorded] = upstream.requests("/v1/messages")
    assert (recorded.method, recorded.query, recorded.body) == ("POST", "beta=true", body)
    assert recorded.header("x-custom") == "kept" and recorded.json()["model"] == "m"
    upstream.clear()
    assert upstream.requests() == []


def test_unknown_path_is_a_404_in_the_provider_shape(upstream: FakeUpstream) -> None:
    response = httpx.get(f"{upstream.url}/v1/nothing", headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 404 and response.json()["type"] == "error"
    bad = httpx.post(f"{upstream.url}/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
