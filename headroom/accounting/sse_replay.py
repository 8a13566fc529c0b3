"""Renders a cached canonical response back as the SSE stream its provider would have sent (Anthropic Messages,
OpenAI Chat Completions, OpenAI Responses): the same event types and order the official SDKs and agent CLIs
parse, with each text or argument string in a single delta."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

JSONObject = dict[str, Any]
TOOL_USE_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _event(name: str | None, payload: JSONObject | str) -> bytes:
    data = payload if isinstance(payload, str) else _compact(payload)
    prefix = f"event: {name}\n" if name else ""
    return f"{prefix}data: {data}\n\n".encode()


def _anthropic(message: JSONObject, include_usage: bool) -> list[bytes]:
    usage = dict(message.get("usage") or {})
    opening = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    opening["usage"] = {**usage, "output_tokens": min(1, int(usage.get("output_tokens") or 0))}
    events = [_event("message_start", {"type": "message_start", "message": opening})]
    for index, block in enumerate(message.get("content") or []):
        events.extend(_anthropic_block(index, block))
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events.append(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(_event("message_stop", {"type": "message_stop"}))
    return events


def _anthropic_block(index: int, block: JSONObject) -> list[bytes]:
    kind = block.get("type")
    deltas: list[JSONObject] = []
    start = dict(block)
    if kind == "text":
        start["text"] = ""
        if block.get("text"):
            deltas.append({"type": "text_delta", "text": block["text"]})
        if block.get("citations"):
            start["citations"] = []
            deltas.extend({"type": "citations_delta", "citation": c} for c in block["citations"])
    elif kind == "thinking":
        start.update(thinking="", signature="")
        if block.get("thinking"):
            deltas.append({"type": "thinking_delta", "thinking": block["thinking"]})
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind in TOOL_USE_TYPES:
        start["input"] = {}
        deltas.append({"type": "input_json_delta", "partial_json": _compact(block.get("input") or {})})
    events = [_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    events.extend(
        _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        for delta in deltas
    )
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def _chat(completion: JSONObject, include_usage: bool) -> list[bytes]:
    head = {k: v for k, v in completion.items() if k not in ("choices", "usage", "object")}
    head["object"] = "chat.completion.chunk"
    if include_usage:
        head["usage"] = None

    def chunk(choice: JSONObject) -> bytes:
        return _event(None, {**head, "choices": [{"logprobs": None, "finish_reason": None, **choice}]})

    events: list[bytes] = []
    for choice in completion.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        content = message.get("content")
        role: JSONObject = {"role": message.get("role", "assistant"), "content": "" if content else content}
        events.append(chunk({"index": index, "delta": {**role, "refusal": None}}))
        if content:
            events.append(chunk({"index": index, "delta": {"content": content}}))
        if message.get("refusal"):
            events.append(chunk({"index": index, "delta": {"refusal": message["refusal"]}}))
        for position, call in enumerate(message.get("tool_calls") or []):
            events.append(chunk({"index": index, "delta": {"tool_calls": [{"index": position, **call}]}}))
        events.append(chunk({"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}))
    if include_usage and completion.get("usage") is not None:
        events.append(_event(None, {**head, "choices": [], "usage": completion["usage"]}))
    events.append(_event(None, "[DONE]"))
    return events


class _Sequenced:
    """Responses events carry a running `sequence_number`."""

    def __init__(self) -> None:
        self.events: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        self.events.append(_event(kind, {"type": kind, "sequence_number": len(self.events), **fields}))


def _responses(response: JSONObject, include_usage: bool) -> list[bytes]:
    out = _Sequenced()
    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    out.add("response.created", response=pending)
    out.add("response.in_progress", response=pending)
    for index, item in enumerate(response.get("output") or []):
        _responses_item(out, index, item)
    out.add("response.completed", response=response)
    return out.events


def _responses_item(out: _Sequenced, index: int, item: JSONObject) -> None:
    kind = item.get("type")
    item_id = item.get("id")
    where = {"item_id": item_id, "output_index": index}
    if kind == "message":
        out.add("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
        for position, part in enumerate(item.get("content") or []):
            _responses_part(out, where, position, part)
    elif kind == "function_call":
        out.add(
            "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "arguments": ""}
        )
        arguments = item.get("arguments") or ""
        out.add("response.function_call_arguments.delta", **where, delta=arguments)
        out.add("response.function_call_arguments.done", **where, arguments=arguments)
    elif kind == "reasoning":
        out.add("response.output_item.added", output_index=index, item={**item, "summary": []})
        for position, part in enumerate(item.get("summary") or []):
            at = {**where, "summary_index": position}
            out.add("response.reasoning_summary_part.added", **at, part={**part, "text": ""})
            out.add("response.reasoning_summary_text.delta", **at, delta=part.get("text", ""))
            out.add("response.reasoning_summary_text.done", **at, text=part.get("text", ""))
            out.add("response.reasoning_summary_part.done", **at, part=part)
    else:
        out.add("response.output_item.added", output_index=index, item=item)
    out.add("response.output_item.done", output_index=index, item=item)


def _responses_part(out: _Sequenced, where: JSONObject, position: int, part: JSONObject) -> None:
    at = {**where, "content_index": position}
    kind = part.get("type")
    if kind == "output_text":
        text = part.get("text", "")
        out.add("response.content_part.added", **at, part={**part, "text": "", "annotations": []})
        out.add("response.output_text.delta", **at, delta=text, logprobs=[])
        for number, annotation in enumerate(part.get("annotations") or []):
            out.add("response.output_text.annotation.added", **at, annotation_index=number, annotation=annotation)
        out.add("response.output_text.done", **at, text=text, logprobs=[])
    elif kind == "refusal":
        refusal = part.get("refusal", "")
        out.add("response.content_part.added", **at, part={**part, "refusal": ""})
        out.add("response.refusal.delta", **at, delta=refusal)
        out.add("response.refusal.done", **at, refusal=refusal)
    else:
        out.add("response.content_part.added", **at, part=part)
    out.add("response.content_part.done", **at, part=part)


RENDERERS: dict[str, Callable[[JSONObject, bool], list[bytes]]] = {
    "anthropic": _anthropic,
    "openai": _chat,
    "openai_responses": _responses,
}


def render_sse(provider: str, response: JSONObject, *, include_usage: bool = True) -> list[bytes]:
    """The SSE events (one bytes object each, ready to send) that stream `response` in `provider`'s format.
    `include_usage` matters only for OpenAI chat, which sends a usage chunk only when the request set
    `stream_options.include_usage`."""
    renderer = RENDERERS.get(provider)
    if renderer is None:
        raise ValueError(f"unknown provider format {provider!r}")
    return renderer(response, include_usage)
