"""Anthropic Messages wire format for the fake upstream: read a request, write a JSON or SSE reply, errors."""

from __future__ import annotations

import json
from typing import Any

from headroom.accounting.tokens import count_tokens
from tests.fakes.prompt_cache import CacheUsage, prefix_segments
from tests.fakes.replies import Reply, json_reply, sse_event, stream_reply
from tests.fakes.scenario import RETRIEVE_TOOL, Conversation, Scenario, Text, Thinking, ToolCall, Turn, text_chunks

MODELS = [
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
]
_ERRORS = {
    "error_429": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    "error_529": (529, "overloaded_error", "Overloaded"),
    "error_500": (500, "api_error", "Internal server error"),
}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(block.get("text", "")) for block in content if block.get("type") == "text")
    return ""


def read_conversation(body: dict[str, Any]) -> Conversation:
    messages = body.get("messages") or []
    user_texts = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    calls = {
        block.get("id"): block.get("name")
        for message in messages
        if message.get("role") == "assistant" and isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_use"
    }
    retrieved = None
    if messages and messages[-1].get("role") == "user" and isinstance(messages[-1].get("content"), list):
        for block in messages[-1]["content"]:
            if block.get("type") == "tool_result" and calls.get(block.get("tool_use_id")) == RETRIEVE_TOOL:
                content = block.get("content")
                retrieved = content if isinstance(content, str) else _text_of(content)
    return Conversation(
        model=str(body.get("model", "")),
        message_count=len(messages),
        last_user_text=next((text for text in reversed(user_texts) if text), ""),
        retrieved=retrieved,
        stream=bool(body.get("stream")),
    )


def _block(block: Text | Thinking | ToolCall) -> dict[str, Any]:
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    if isinstance(block, ToolCall):
        return {"type": "tool_use", "id": f"toolu_{block.id}", "name": block.name, "input": block.input}
    return {"type": "text", "text": block.text}


def _output_tokens(turn: Turn) -> int:
    return max(1, sum(count_tokens(json.dumps(_block(block))) for block in turn.blocks))


def _usage(usage: CacheUsage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": output_tokens,
    }


def _headers(message_id: str) -> list[tuple[str, str]]:
    return [("request-id", f"req_{message_id.removeprefix('msg_')}")]


def message_reply(conversation: Conversation, turn: Turn, usage: CacheUsage, message_id: str) -> Reply:
    body = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": conversation.model,
        "content": [_block(block) for block in turn.blocks],
        "stop_reason": "tool_use" if turn.calls_tool else "end_turn",
        "stop_sequence": None,
        "usage": {**_usage(usage, _output_tokens(turn)), "service_tier": "standard"},
    }
    return json_reply(200, body, _headers(message_id))


def _block_events(index: int, block: Text | Thinking | ToolCall) -> list[bytes]:
    def delta(payload: dict[str, Any]) -> bytes:
        return sse_event({"type": "content_block_delta", "index": index, "delta": payload}, "content_block_delta")

    if isinstance(block, Thinking):
        start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [delta({"type": "thinking_delta", "thinking": piece}) for piece in text_chunks(block.text)]
        deltas.append(delta({"type": "signature_delta", "signature": block.signature}))
    elif isinstance(block, ToolCall):
        start = {"type": "tool_use", "id": f"toolu_{block.id}", "name": block.name, "input": {}}
        arguments = json.dumps(block.input)
        pieces = ["", *text_chunks(arguments, 3)]
        deltas = [delta({"type": "input_json_delta", "partial_json": piece}) for piece in pieces]
    else:
        start = {"type": "text", "text": ""}
        deltas = [delta({"type": "text_delta", "text": piece}) for piece in text_chunks(block.text)]
    opening = sse_event({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
    closing = sse_event({"type": "content_block_stop", "index": index}, "content_block_stop")
    return [opening, *deltas, closing]


def stream(conversation: Conversation, turn: Turn, usage: CacheUsage, message_id: str, scenario: Scenario) -> Reply:
    start_message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": conversation.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**_usage(usage, 1), "service_tier": "standard"},
    }
    events = [
        sse_event({"type": "message_start", "message": start_message}, "message_start"),
        sse_event({"type": "ping"}, "ping"),
    ]
    for index, block in enumerate(turn.blocks):
        block_events = _block_events(index, block)
        if turn.midstream_error:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            events.extend([*block_events[:2], sse_event(error, "error")])
            return stream_reply(events, scenario, _headers(message_id))
        events.extend(block_events)
    delta = {"stop_reason": "tool_use" if turn.calls_tool else "end_turn", "stop_sequence": None}
    events.append(
        sse_event(
            {"type": "message_delta", "delta": delta, "usage": _usage(usage, _output_tokens(turn))}, "message_delta"
        )
    )
    events.append(sse_event({"type": "message_stop"}, "message_stop"))
    return stream_reply(events, scenario, _headers(message_id))


def error_reply(scenario: Scenario) -> Reply:
    status, error_type, message = _ERRORS[scenario.name]
    headers = [("request-id", "req_fake_error"), ("x-should-retry", "true")]
    if status == 429:
        headers.append(("retry-after", scenario.retry_after))
    return json_reply(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)


def invalid_request(status: int, message: str) -> Reply:
    error_type = "not_found_error" if status == 404 else "invalid_request_error"
    return json_reply(status, {"type": "error", "error": {"type": error_type, "message": message}})


def count_tokens_reply(body: dict[str, Any]) -> Reply:
    return json_reply(200, {"input_tokens": sum(segment.tokens for segment in prefix_segments(body))})


def models_reply(model_id: str | None = None) -> Reply:
    models = [
        {"type": "model", "id": mid, "display_name": name, "created_at": created} for mid, name, created in MODELS
    ]
    if model_id is not None:
        found = [model for model in models if model["id"] == model_id]
        return json_reply(200, found[0]) if found else invalid_request(404, f"model: {model_id}")
    return json_reply(200, {"data": models, "has_more": False, "first_id": MODELS[0][0], "last_id": MODELS[-1][0]})
