"""Removes dropped message spans from a request and leaves one marker in each span's place, in a form that
stays a valid request for the provider (Anthropic's user/assistant alternation included)."""

from __future__ import annotations

from typing import Any

from headroom.providers.base import JSONObject

_OTHER_ROLE = {"user": "assistant", "assistant": "user"}


def message_list(provider: str, body: JSONObject) -> list[Any]:
    """The list that holds the conversation: `input` for the Responses API, `messages` otherwise."""
    key = "input" if provider == "openai_responses" else "messages"
    value = body.get(key)
    return value if isinstance(value, list) else []


def splice_out(provider: str, body: JSONObject, spans: list[tuple[int, int, str]]) -> None:
    """Remove each (start, end inclusive, marker_text) span; spans must not overlap."""
    items = message_list(provider, body)
    for start, end, text in sorted(spans, reverse=True):
        if provider == "anthropic":
            _splice_anthropic(items, start, end, text)
        elif provider == "openai_responses":
            items[start : end + 1] = [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
            ]
        else:
            items[start : end + 1] = [{"role": "user", "content": text}]


def _has_tool_result(message: Any) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content if isinstance(b, dict))


def _splice_anthropic(items: list[Any], start: int, end: int, text: str) -> None:
    """One marker message when the neighbours share a role; else the marker becomes a text block on a
    neighbouring user message (appended to the previous one, or placed first in the next one)."""
    prev = items[start - 1] if start > 0 else None
    nxt = items[end + 1] if end + 1 < len(items) else None
    role = _OTHER_ROLE.get(str(prev.get("role")), "user") if prev is not None else "user"
    if nxt is None or nxt.get("role") != role:
        items[start : end + 1] = [{"role": role, "content": text}]
        return
    del items[start : end + 1]
    if prev is not None and prev.get("role") == "user":
        _append_text(prev, text)
    elif nxt.get("role") == "user" and not _has_tool_result(nxt):
        _prepend_text(nxt, text)
    else:
        items.insert(start, {"role": role, "content": text})


def _append_text(message: Any, text: str) -> None:
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = f"{content}\n\n{text}"
    else:
        content.append({"type": "text", "text": text})


def _prepend_text(message: Any, text: str) -> None:
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = f"{text}\n\n{content}"
    else:
        content.insert(0, {"type": "text", "text": text})
