"""OpenAI Chat Completions wire format for the fake upstream: JSON and SSE chunks ending with `data: [DONE]`."""

from __future__ import annotations

import json
from typing import Any

from headroom.accounting.tokens import count_tokens
from tests.fakes.openai_wire import CREATED, error_body, text_of
from tests.fakes.replies import Reply, json_reply, sse_event, stream_reply
from tests.fakes.scenario import RETRIEVE_TOOL, Conversation, Scenario, Text, Thinking, ToolCall, Turn, text_chunks


def read_conversation(body: dict[str, Any]) -> Conversation:
    messages = body.get("messages") or []
    user_texts = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    calls = {
        call.get("id"): (call.get("function") or {}).get("name")
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
    }
    retrieved = None
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        if calls.get(message.get("tool_call_id")) == RETRIEVE_TOOL:
            retrieved = text_of(message.get("content"))
    return Conversation(
        model=str(body.get("model", "")),
        message_count=len(messages),
        last_user_text=next((text for text in reversed(user_texts) if text), ""),
        retrieved=retrieved,
        stream=bool(body.get("stream")),
    )


def _usage(body_bytes: bytes, turn: Turn) -> dict[str, Any]:
    prompt = count_tokens(body_bytes.decode("utf-8", "replace"))
    reasoning = sum(count_tokens(block.text) for block in turn.blocks if isinstance(block, Thinking))
    visible = [block for block in turn.blocks if not isinstance(block, Thinking)]
    completion = reasoning + sum(count_tokens(_visible_text(block)) for block in visible) or 1
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def _visible_text(block: Text | ToolCall) -> str:
    return block.text if isinstance(block, Text) else block.name + json.dumps(block.input)


def _tool_call(block: ToolCall) -> dict[str, Any]:
    function = {"name": block.name, "arguments": json.dumps(block.input)}
    return {"id": f"call_{block.id}", "type": "function", "function": function}


def completion_reply(body_bytes: bytes, conversation: Conversation, turn: Turn, completion_id: str) -> Reply:
    texts = [block.text for block in turn.blocks if isinstance(block, Text)]
    calls = [_tool_call(block) for block in turn.blocks if isinstance(block, ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": conversation.model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": _usage(body_bytes, turn),
    }
    return json_reply(200, body, [("x-request-id", f"req_{completion_id}")])


def stream(
    request: dict[str, Any],
    body_bytes: bytes,
    conversation: Conversation,
    turn: Turn,
    completion_id: str,
    scenario: Scenario,
) -> Reply:
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": conversation.model,
            "system_fingerprint": "fp_fake",
            "choices": [choice],
        }
        if include_usage:
            payload["usage"] = None
        return sse_event(payload)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    call_index = 0
    for block in turn.blocks:
        if isinstance(block, Text):
            pieces = [chunk({"content": piece}) for piece in text_chunks(block.text)]
            if turn.midstream_error:
                error = error_body("The server had an error while processing your request", "server_error")
                events.extend([pieces[0], sse_event(error)])
                return stream_reply(events, scenario, [("x-request-id", f"req_{completion_id}")])
            events.extend(pieces)
        elif isinstance(block, ToolCall):
            opening = {"index": call_index, "id": f"call_{block.id}", "type": "function"}
            opening["function"] = {"name": block.name, "arguments": ""}
            events.append(chunk({"tool_calls": [opening]}))
            for piece in text_chunks(json.dumps(block.input), 3):
                events.append(chunk({"tool_calls": [{"index": call_index, "function": {"arguments": piece}}]}))
            call_index += 1
    events.append(chunk({}, "tool_calls" if turn.calls_tool else "stop"))
    if include_usage:
        usage_chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": conversation.model,
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": _usage(body_bytes, turn),
        }
        events.append(sse_event(usage_chunk))
    events.append(sse_event("[DONE]"))
    return stream_reply(events, scenario, [("x-request-id", f"req_{completion_id}")])
