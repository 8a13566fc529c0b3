"""OpenAI Responses API (Codex CLI speaks only this): function_call_output items are the compressible blocks;
reasoning items and their encrypted_content pass through untouched."""

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
    setter,
    text_of_content,
)
from headroom.providers.openai_chat import openai_error_body


def _items(body: JSONObject) -> list[Any]:
    value = body.get("input")
    return value if isinstance(value, list) else []


class OpenAIResponsesProvider(ProviderBase):
    name = "openai_responses"
    upstream = "openai"

    def validate(self, body: Any) -> JSONObject:
        require_envelope(body)
        value = body.get("input")
        require(value is None or isinstance(value, str | list), "input: expected a string or an array")
        for index, item in enumerate(_items(body)):
            if not isinstance(item, dict):
                raise InvalidRequest(f"input[{index}]: expected an object")
        return cast(JSONObject, body)

    def blocks(self, body: JSONObject) -> list[Block]:
        names: dict[str, str] = {}
        found: list[Block] = []
        for index, item in enumerate(_items(body)):
            kind = item.get("type")
            if kind == "function_call":
                names[str(item.get("call_id", ""))] = str(item.get("name", ""))
            elif kind in ("function_call_output", "custom_tool_call_output"):
                name = names.get(str(item.get("call_id", "")), "")
                output = item.get("output")
                if isinstance(output, str):
                    found.append(Block(output, index, name, "tool", setter(item, "output")))
                elif isinstance(output, list):
                    for part in output:
                        if isinstance(part, dict) and isinstance(part.get("text"), str):
                            found.append(Block(part["text"], index, name, "tool", setter(part, "text")))
            elif item.get("role") == "user" and isinstance(item.get("content"), list):
                for part in item["content"]:
                    if is_text_part(part, "input_text"):
                        found.append(Block(part["text"], index, "", "user", setter(part, "text")))
        return found

    def messages(self, body: JSONObject) -> list[Message]:
        out: list[Message] = []
        for index, item in enumerate(_items(body)):
            kind = item.get("type")
            call_id = str(item.get("call_id", ""))
            if kind in ("function_call", "custom_tool_call"):
                out.append(Message(index, "assistant", str(item.get("arguments", "")), (call_id,), ()))
            elif kind in ("function_call_output", "custom_tool_call_output"):
                out.append(Message(index, "tool", text_of_content(item.get("output")), (), (call_id,)))
            else:
                role = str(item.get("role", kind or ""))
                out.append(Message(index, role, text_of_content(item.get("content"))))
        return out

    def latest_user_text(self, body: JSONObject) -> str:
        if isinstance(body.get("input"), str):
            return str(body["input"])
        for item in reversed(_items(body)):
            if item.get("role") == "user":
                return text_of_content(item.get("content"))
        return ""

    def error_body(self, error: HeadroomError) -> JSONObject:
        return openai_error_body(error)

    def read_event(self, tap: UsageTap, event: str, data: bytes) -> None:
        if event in ("response.completed", "response.incomplete", "response.failed"):
            parsed = load_event_json(data)
            response = parsed.get("response") if parsed else None
            if isinstance(response, dict):
                tap.model = str(response.get("model", tap.model))
                if isinstance(response.get("usage"), dict):
                    tap.usage = dict(response["usage"])
            tap.saw_error = tap.saw_error or event == "response.failed"
        elif event == "error":
            tap.saw_error = True

    def read_json(self, tap: UsageTap, body: bytes) -> None:
        parsed = load_event_json(body)
        if parsed:
            tap.model = str(parsed.get("model", ""))
            if isinstance(parsed.get("usage"), dict):
                tap.usage = dict(parsed["usage"])
            tap.saw_error = parsed.get("error") is not None
