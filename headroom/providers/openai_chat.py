"""OpenAI Chat Completions: validation, compressible blocks (tool messages, large user text), errors, usage."""

from __future__ import annotations

from typing import Any, cast

from headroom.errors import HeadroomError
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


def openai_error_body(error: HeadroomError) -> JSONObject:
    return {"error": {"message": error.message, "type": error.openai_type, "param": None, "code": error.openai_code}}


class OpenAIChatProvider(ProviderBase):
    name = "openai"
    upstream = "openai"

    def validate(self, body: Any) -> JSONObject:
        require_envelope(body)
        for index, message in enumerate(require_messages(body, lambda i: f"messages[{i}]")):
            content = message.get("content")
            require(
                content is None or isinstance(content, str | list),
                f"messages[{index}].content: expected a string, an array or null",
            )
        return cast(JSONObject, body)

    def blocks(self, body: JSONObject) -> list[Block]:
        tool_names: dict[str, str] = {}
        found: list[Block] = []
        for index, message in enumerate(body["messages"]):
            role = message["role"]
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    tool_names[str(call.get("id", ""))] = str(call["function"].get("name", ""))
            if role not in ("tool", "user", "function"):
                continue
            name = tool_names.get(str(message.get("tool_call_id", "")), str(message.get("name", "")))
            if role == "user":
                name = ""
            content = message.get("content")
            if isinstance(content, str):
                found.append(Block(content, index, name, role, setter(message, "content")))
            elif isinstance(content, list):
                for part in content:
                    if is_text_part(part):
                        found.append(Block(part["text"], index, name, role, setter(part, "text")))
        return found

    def messages(self, body: JSONObject) -> list[Message]:
        out: list[Message] = []
        for index, message in enumerate(body["messages"]):
            calls = tuple(str(c.get("id", "")) for c in message.get("tool_calls") or [] if isinstance(c, dict))
            results = (str(message.get("tool_call_id", "")),) if message["role"] == "tool" else ()
            out.append(Message(index, message["role"], text_of_content(message.get("content")), calls, results))
        return out

    def latest_user_text(self, body: JSONObject) -> str:
        for message in reversed(body["messages"]):
            if message["role"] == "user":
                return text_of_content(message.get("content"))
        return ""

    def error_body(self, error: HeadroomError) -> JSONObject:
        return openai_error_body(error)

    def read_event(self, tap: UsageTap, event: str, data: bytes) -> None:
        if b'"usage"' not in data and b'"error"' not in data:
            return
        parsed = load_event_json(data)
        if not parsed:
            return
        if isinstance(parsed.get("usage"), dict):
            tap.usage = dict(parsed["usage"])
            tap.model = str(parsed.get("model", tap.model))
        if "error" in parsed:
            tap.saw_error = True

    def read_json(self, tap: UsageTap, body: bytes) -> None:
        parsed = load_event_json(body)
        if parsed:
            tap.model = str(parsed.get("model", ""))
            if isinstance(parsed.get("usage"), dict):
                tap.usage = dict(parsed["usage"])
            tap.saw_error = "error" in parsed
