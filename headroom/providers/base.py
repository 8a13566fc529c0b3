"""What every provider format offers the proxy: validation, compressible blocks, errors and usage taps."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from headroom.errors import HeadroomError, InvalidRequest

JSONObject = dict[str, Any]


@dataclass(slots=True)
class Block:
    """One compressible text inside a parsed request body, with a setter that patches it in place.

    `message_index` is the position of the message (or input item) that holds the block; `frozen` is true
    when the block lies at or before the request's last cache_control breakpoint.
    """

    text: str
    message_index: int
    tool_name: str
    role: str
    set_text: Callable[[str], None]
    frozen: bool = False


@dataclass(slots=True)
class Message:
    """A provider-neutral view of one message or input item, for the context manager and identity."""

    index: int
    role: str
    text: str
    tool_call_ids: tuple[str, ...] = ()
    tool_result_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class UsageTap:
    """Reads a copy of a response (stream or JSON) and keeps the usage and model it reports."""

    usage: JSONObject = field(default_factory=dict)
    model: str = ""
    saw_error: bool = False


class Provider(Protocol):
    name: str
    upstream: str

    def validate(self, body: Any) -> JSONObject: ...

    def model(self, body: JSONObject) -> str: ...

    def is_stream(self, body: JSONObject) -> bool: ...

    def blocks(self, body: JSONObject) -> list[Block]: ...

    def messages(self, body: JSONObject) -> list[Message]: ...

    def latest_user_text(self, body: JSONObject) -> str: ...

    def error_body(self, error: HeadroomError) -> JSONObject: ...

    def read_event(self, tap: UsageTap, event: str, data: bytes) -> None: ...

    def read_json(self, tap: UsageTap, body: bytes) -> None: ...


class ProviderBase:
    """What the three formats share: the request envelope and its model and stream flags."""

    def model(self, body: JSONObject) -> str:
        return str(body.get("model", ""))

    def is_stream(self, body: JSONObject) -> bool:
        return body.get("stream") is True


def require_envelope(body: Any) -> None:
    """A JSON object with a string `model`."""
    require(isinstance(body, dict), "request body must be a JSON object")
    require(isinstance(body.get("model"), str), "model: expected a string")


def require_messages(body: JSONObject, path: Callable[[int], str]) -> list[JSONObject]:
    """`messages` is an array of objects with a string role; `path(i)` names message i in errors."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: expected an array")
    for index, message in enumerate(messages):  # messages formatted only on failure: this runs per message
        if not isinstance(message, dict):
            raise InvalidRequest(f"{path(index)}: expected an object")
        if not isinstance(message.get("role"), str):
            raise InvalidRequest(f"{path(index)}.role: expected a string")
    return cast(list[JSONObject], messages)


def parse_json_body(raw: bytes) -> Any:
    """Decode a request body as UTF-8 JSON, naming the problem on failure."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InvalidRequest(f"request body is not valid JSON: {exc.msg} at {where}") from exc


def require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidRequest(message)


def text_of_content(content: Any) -> str:
    """The plain text of a content field that is a string or a list of text-bearing parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    parts.append(value)
                elif isinstance(part.get("content"), str | list):
                    parts.append(text_of_content(part.get("content")))
        return "\n".join(parts)
    return ""


def is_text_part(part: Any, kind: str = "text") -> bool:
    """True for a content part of the given type whose `text` is a string."""
    return isinstance(part, dict) and part.get("type") == kind and isinstance(part.get("text"), str)


def setter(container: Any, key: Any) -> Callable[[str], None]:
    def set_text(value: str) -> None:
        container[key] = value

    return set_text


def load_event_json(data: bytes) -> JSONObject | None:
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
