"""OpenAI Responses API wire format for the fake upstream: a Response object, or typed SSE events ending with
`response.completed`; tool calls are `function_call` items, reasoning items carry `encrypted_content`."""

from __future__ import annotations

import base64
import json
from typing import Any

from headroom.accounting.tokens import count_tokens
from tests.fakes.openai_wire import CREATED, text_of
from tests.fakes.replies import Reply, json_reply, sse_event, stream_reply
from tests.fakes.scenario import RETRIEVE_TOOL, Conversation, Scenario, Text, Thinking, ToolCall, Turn, text_chunks


def read_conversation(body: dict[str, Any]) -> Conversation:
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    items = items or []
    user_texts = [text_of(item.get("content")) for item in items if item.get("role") == "user"]
    calls = {item.get("call_id"): item.get("name") for item in items if item.get("type") == "function_call"}
    retrieved = None
    for item in reversed(items):
        if item.get("type") != "function_call_output":
            break
        if calls.get(item.get("call_id")) == RETRIEVE_TOOL:
            output = item.get("output")
            retrieved = output if isinstance(output, str) else text_of(output)
    return Conversation(
        model=str(body.get("model", "")),
        message_count=len(items),
        last_user_text=next((text for text in reversed(user_texts) if text), ""),
        retrieved=retrieved,
        stream=bool(body.get("stream")),
    )


def _item(block: Text | Thinking | ToolCall, item_id: str) -> dict[str, Any]:
    if isinstance(block, Thinking):
        encrypted = base64.b64encode(f"{block.signature}:{block.text}".encode()).decode()
        summary = [{"type": "summary_text", "text": block.text}]
        return {"id": item_id, "type": "reasoning", "summary": summary, "encrypted_content": encrypted}
    if isinstance(block, ToolCall):
        return {
            "id": item_id,
            "type": "function_call",
            "status": "completed",
            "call_id": f"call_{block.id}",
            "name": block.name,
            "arguments": json.dumps(block.input),
        }
    content = [{"type": "output_text", "text": block.text, "annotations": [], "logprobs": []}]
    return {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": content}


def _item_id(block: Text | Thinking | ToolCall, response_id: str, index: int) -> str:
    prefix = "rs" if isinstance(block, Thinking) else "fc" if isinstance(block, ToolCall) else "msg"
    return f"{prefix}_{response_id.removeprefix('resp_')}{index}"


def _usage(body_bytes: bytes, turn: Turn) -> dict[str, Any]:
    prompt = count_tokens(body_bytes.decode("utf-8", "replace"))
    reasoning = sum(count_tokens(block.text) for block in turn.blocks if isinstance(block, Thinking))
    visible = sum(
        count_tokens(block.text if isinstance(block, Text) else json.dumps(block.input))
        for block in turn.blocks
        if not isinstance(block, Thinking)
    )
    output = max(1, reasoning + visible)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


def _response(
    request: dict[str, Any], response_id: str, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": str(request.get("model", "")),
        "output": output,
        "parallel_tool_calls": bool(request.get("parallel_tool_calls", True)),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "store": bool(request.get("store", False)),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def response_reply(request: dict[str, Any], body_bytes: bytes, turn: Turn, response_id: str) -> Reply:
    output = [_item(block, _item_id(block, response_id, i)) for i, block in enumerate(turn.blocks)]
    body = _response(request, response_id, "completed", output, _usage(body_bytes, turn))
    return json_reply(200, body, [("x-request-id", f"req_{response_id}")])


class _Events:
    """Typed events with their running sequence_number."""

    def __init__(self) -> None:
        self.encoded: list[bytes] = []

    def add(self, event_type: str, **fields: Any) -> None:
        payload = {"type": event_type, **fields, "sequence_number": len(self.encoded)}
        self.encoded.append(sse_event(payload, event_type))


def _item_events(events: _Events, block: Text | Thinking | ToolCall, item: dict[str, Any], index: int) -> None:
    at = {"item_id": item["id"], "output_index": index}
    if isinstance(block, Thinking):
        events.add("response.output_item.added", output_index=index, item={**item, "summary": []})
        part = {"type": "summary_text", "text": ""}
        events.add("response.reasoning_summary_part.added", **at, summary_index=0, part=part)
        for piece in text_chunks(block.text):
            events.add("response.reasoning_summary_text.delta", **at, summary_index=0, delta=piece)
        events.add("response.reasoning_summary_text.done", **at, summary_index=0, text=block.text)
        part = {"type": "summary_text", "text": block.text}
        events.add("response.reasoning_summary_part.done", **at, summary_index=0, part=part)
    elif isinstance(block, ToolCall):
        events.add(
            "response.output_item.added", output_index=index, item={**item, "arguments": "", "status": "in_progress"}
        )
        for piece in text_chunks(item["arguments"], 3):
            events.add("response.function_call_arguments.delta", **at, delta=piece)
        events.add("response.function_call_arguments.done", **at, name=block.name, arguments=item["arguments"])
    else:
        events.add(
            "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []}
        )
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        events.add("response.content_part.added", **at, content_index=0, part=empty)
        for piece in text_chunks(block.text):
            events.add("response.output_text.delta", **at, content_index=0, delta=piece, logprobs=[])
        events.add("response.output_text.done", **at, content_index=0, text=block.text, logprobs=[])
        events.add("response.content_part.done", **at, content_index=0, part=item["content"][0])
    events.add("response.output_item.done", output_index=index, item=item)


def stream(request: dict[str, Any], body_bytes: bytes, turn: Turn, response_id: str, scenario: Scenario) -> Reply:
    events = _Events()
    events.add("response.created", response=_response(request, response_id, "in_progress", [], None))
    events.add("response.in_progress", response=_response(request, response_id, "in_progress", [], None))
    output: list[dict[str, Any]] = []
    headers = [("x-request-id", f"req_{response_id}")]
    for index, block in enumerate(turn.blocks):
        item = _item(block, _item_id(block, response_id, index))
        if turn.midstream_error and isinstance(block, Text):
            at = {"item_id": item["id"], "output_index": index}
            events.add(
                "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []}
            )
            events.add(
                "response.output_text.delta", **at, content_index=0, delta=text_chunks(block.text)[0], logprobs=[]
            )
            events.add(
                "error",
                code="server_error",
                message="The server had an error while processing your request",
                param=None,
            )
            return stream_reply(events.encoded, scenario, headers)
        _item_events(events, block, item, index)
        output.append(item)
    completed = _response(request, response_id, "completed", output, _usage(body_bytes, turn))
    events.add("response.completed", response=completed)
    return stream_reply(events.encoded, scenario, headers)
