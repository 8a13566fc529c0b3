"""Rebuilds the final non-streaming response from a complete SSE stream (Anthropic Messages, OpenAI Chat
Completions, OpenAI Responses), so the response cache keeps one canonical form per request. A stream that
carried an error, was cut short, or holds something the canonical form cannot keep yields None."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from headroom.accounting.usage import merge_anthropic_usage
from headroom.proxy.sse import SseReader

JSONObject = dict[str, Any]
Event = tuple[str, bytes]
TOOL_USE_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
CHAT_DONE = b"[DONE]"


class Incomplete(Exception):
    """The stream cannot be turned into a cacheable response."""


def sse_events(stream: bytes) -> list[Event]:
    """(event name, data) pairs of a whole SSE body."""
    events: list[Event] = []
    reader = SseReader(lambda name, data: events.append((name, data)))
    reader.feed(stream)
    reader.close()
    return events


def _json(data: bytes) -> JSONObject:
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise Incomplete("undecodable event") from exc
    if not isinstance(parsed, dict):
        raise Incomplete("event is not an object")
    return parsed


def _anthropic(events: list[Event]) -> JSONObject:
    message: JSONObject | None = None
    partial_json: dict[int, str] = {}
    for _, data in events:
        event = _json(data)
        kind = event.get("type")
        if kind == "error":
            raise Incomplete("error event")
        if kind == "message_start":
            message = dict(event["message"])
            message["content"] = []
            continue
        if message is None or kind == "ping":
            continue
        content: list[JSONObject] = message["content"]
        if kind == "content_block_start":
            index = int(event["index"])
            while len(content) <= index:
                content.append({})
            content[index] = dict(event["content_block"])
        elif kind == "content_block_delta":
            index = int(event["index"])
            _apply_anthropic_delta(content[index], event["delta"], partial_json, index)
        elif kind == "content_block_stop":
            index = int(event["index"])
            if content[index].get("type") in TOOL_USE_TYPES and index in partial_json:
                content[index]["input"] = json.loads(partial_json.pop(index) or "{}")
        elif kind == "message_delta":
            message.update(event.get("delta") or {})
            message["usage"] = merge_anthropic_usage(message.get("usage") or {}, event.get("usage") or {})
        elif kind == "message_stop":
            return message
    raise Incomplete("no message_stop")


def _apply_anthropic_delta(block: JSONObject, delta: JSONObject, partial_json: dict[int, str], index: int) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta["text"]
    elif kind == "input_json_delta":
        partial_json[index] = partial_json.get(index, "") + delta["partial_json"]
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta["citation"])
    else:
        raise Incomplete(f"unknown delta {kind!r}")


def _chat(events: list[Event]) -> JSONObject:
    head: JSONObject | None = None
    choices: dict[int, JSONObject] = {}
    tool_calls: dict[int, dict[int, JSONObject]] = {}
    for _, data in events:
        if data.strip() == CHAT_DONE:
            if head is None or not choices or any(c.get("finish_reason") is None for c in choices.values()):
                raise Incomplete("stream ended without a finish_reason")
            return _chat_completion(head, choices, tool_calls)
        chunk = _json(data)
        if "error" in chunk:
            raise Incomplete("error chunk")
        head = head or {k: v for k, v in chunk.items() if k not in ("choices", "usage", "object", "obfuscation")}
        if chunk.get("usage"):
            head["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or []:
            _apply_chat_choice(choice, choices, tool_calls)
    raise Incomplete("no [DONE]")


def _apply_chat_choice(
    choice: JSONObject, choices: dict[int, JSONObject], tool_calls: dict[int, dict[int, JSONObject]]
) -> None:
    if choice.get("logprobs") is not None:
        raise Incomplete("logprobs are not kept")
    index = int(choice.get("index", 0))
    state = choices.setdefault(index, {"role": "assistant", "content": None, "refusal": None, "finish_reason": None})
    delta = choice.get("delta") or {}
    for text_field in ("content", "refusal"):
        piece = delta.get(text_field)
        if isinstance(piece, str):
            state[text_field] = (state[text_field] or "") + piece
    if delta.get("role"):
        state["role"] = delta["role"]
    for call in delta.get("tool_calls") or []:
        entry = tool_calls.setdefault(index, {}).setdefault(
            int(call.get("index", 0)), {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.get("id"):
            entry["id"] = call["id"]
        if call.get("type"):
            entry["type"] = call["type"]
        function = call.get("function") or {}
        entry["function"]["name"] += function.get("name") or ""
        entry["function"]["arguments"] += function.get("arguments") or ""
    if choice.get("finish_reason") is not None:
        state["finish_reason"] = choice["finish_reason"]


def _chat_completion(
    head: JSONObject, choices: dict[int, JSONObject], tool_calls: dict[int, dict[int, JSONObject]]
) -> JSONObject:
    built = []
    for index in sorted(choices):
        state = choices[index]
        message: JSONObject = {"role": state["role"], "content": state["content"], "refusal": state["refusal"]}
        calls = tool_calls.get(index)
        if calls:
            message["tool_calls"] = [calls[position] for position in sorted(calls)]
        built.append({"index": index, "message": message, "logprobs": None, "finish_reason": state["finish_reason"]})
    completion: JSONObject = {"id": head.get("id"), "object": "chat.completion"}
    completion.update({k: v for k, v in head.items() if k not in ("id", "usage")})
    completion["choices"] = built
    if "usage" in head:
        completion["usage"] = head["usage"]
    return completion


def _responses(events: list[Event]) -> JSONObject:
    for _, data in events:
        event = _json(data)
        kind = event.get("type")
        if kind in ("error", "response.failed", "response.incomplete"):
            raise Incomplete(f"{kind} event")
        if kind == "response.completed":
            response = event.get("response")
            if not isinstance(response, dict):
                raise Incomplete("response.completed without a response")
            return response
    raise Incomplete("no response.completed")


ASSEMBLERS: dict[str, Callable[[list[Event]], JSONObject]] = {
    "anthropic": _anthropic,
    "openai": _chat,
    "openai_responses": _responses,
}


def assemble(provider: str, stream: bytes) -> JSONObject | None:
    """The final response a non-streaming call would have returned, or None if the stream is not cacheable."""
    assembler = ASSEMBLERS.get(provider)
    if assembler is None:
        return None
    try:
        return assembler(sse_events(stream))
    except (Incomplete, KeyError, IndexError, TypeError, ValueError):
        return None
