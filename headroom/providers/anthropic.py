"""Anthropic Messages API: validation, compressible blocks (tool results, large text), errors, usage."""

from __future__ import annotations

from typing import Any, cast

from headroom.errors import HeadroomError, InvalidRequest
from headroom.providers.base import (
    Block,
    JSONObject,
    Message,
    ProviderBase,
    UsageTap,
    is_text_part,
    load_event_json,
    require,
    require_envelope,
    require_messages,
    setter,
    text_of_content,
)


def _last_breakpoint(body: JSONObject) -> int:
    """Index of the last message holding a cache_control block; -1 if only tools/system carry one (or none)."""
    last = -1
    for index, message in enumerate(body.get("messages", [])):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(b, dict) and "cache_control" in b for b in content):
            last = index
    return last


class AnthropicProvider(ProviderBase):
    name = "anthropic"
    upstream = "anthropic"

    def validate(self, body: Any) -> JSONObject:
        require_envelope(body)
        for index, message in enumerate(require_messages(body, lambda i: f"messages.{i}")):
            content = message.get("content")
            if isinstance(content, list):
                for b_index, block in enumerate(content):
                    if not isinstance(block, dict):
                        raise InvalidRequest(f"messages.{index}.content.{b_index}: expected an object")
            elif not isinstance(content, str):
                raise InvalidRequest(f"messages.{index}.content: expected a string or an array")
        system = body.get("system")
        require(system is None or isinstance(system, str | list), "system: expected a string or an array")
        tools = body.get("tools")
        require(tools is None or isinstance(tools, list), "tools: expected an array")
        max_tokens = body.get("max_tokens")
        require(
            max_tokens is None or (isinstance(max_tokens, int) and not isinstance(max_tokens, bool)),
            "max_tokens: expected an integer",
        )
        return cast(JSONObject, body)

    def blocks(self, body: JSONObject) -> list[Block]:
        breakpoint_index = _last_breakpoint(body)
        tool_names: dict[str, str] = {}
        found: list[Block] = []
        for index, message in enumerate(body["messages"]):
            content = message["content"]
            role = message["role"]
            frozen = index <= breakpoint_index
            if isinstance(content, str):
                if role == "user":
                    found.append(Block(content, index, "", role, setter(message, "content"), frozen))
                continue
            for block in content:
                kind = block.get("type")
                if kind == "tool_use" and isinstance(block.get("id"), str):
                    tool_names[block["id"]] = str(block.get("name", ""))
                elif kind == "tool_result":
                    name = tool_names.get(str(block.get("tool_use_id", "")), "")
                    inner = block.get("content")
                    if isinstance(inner, str):
                        found.append(Block(inner, index, name, role, setter(block, "content"), frozen))
                    elif isinstance(inner, list):
                        for part in inner:
                            if is_text_part(part):
                                found.append(Block(part["text"], index, name, role, setter(part, "text"), frozen))
                elif kind == "text" and role == "user" and isinstance(block.get("text"), str):
                    found.append(Block(block["text"], index, "", role, setter(block, "text"), frozen))
        return found

    def messages(self, body: JSONObject) -> list[Message]:
        out: list[Message] = []
        for index, message in enumerate(body["messages"]):
            content = message["content"]
            calls: list[str] = []
            results: list[str] = []
            if isinstance(content, list):
                for block in content:
                    if block.get("type") == "tool_use":
                        calls.append(str(block.get("id", "")))
                    elif block.get("type") == "tool_result":
                        results.append(str(block.get("tool_use_id", "")))
            out.append(Message(index, message["role"], text_of_content(content), tuple(calls), tuple(results)))
        return out

    def latest_user_text(self, body: JSONObject) -> str:
        for message in reversed(body["messages"]):
            if message["role"] != "user":
                continue
            content = message["content"]
            if isinstance(content, str):
                return content
            texts = [b["text"] for b in content if b.get("type") == "text" and isinstance(b.get("text"), str)]
            if texts:
                return "\n".join(texts)
        return ""

    def error_body(self, error: HeadroomError) -> JSONObject:
        return {"type": "error", "error": {"type": error.anthropic_type, "message": error.message}}

    def read_event(self, tap: UsageTap, event: str, data: bytes) -> None:
        if event == "message_start":
            parsed = load_event_json(data)
            message = parsed.get("message", {}) if parsed else {}
            if isinstance(message, dict):
                tap.model = str(message.get("model", tap.model))
                tap.usage.update(message.get("usage") or {})
        elif event == "message_delta":
            parsed = load_event_json(data)
            if parsed and isinstance(parsed.get("usage"), dict):
                tap.usage.update({k: v for k, v in parsed["usage"].items() if v is not None})
        elif event == "error":
            tap.saw_error = True

    def read_json(self, tap: UsageTap, body: bytes) -> None:
        parsed = load_event_json(body)
        if parsed:
            tap.model = str(parsed.get("model", ""))
            if isinstance(parsed.get("usage"), dict):
                tap.usage.update(parsed["usage"])
            tap.saw_error = parsed.get("type") == "error"
